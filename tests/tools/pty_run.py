"""Runs a command with its stderr on a pseudo-terminal (stdin empty, stdout inherited),
copies everything drawn on that terminal to a file, and exits with the command's status:
how a test sees what a user at a terminal would, while stdout stays a pipe.

    python3 pty_run.py TRANSCRIPT COMMAND [ARG...]
"""
import fcntl
import os
import struct
import subprocess
import sys
import termios

transcript, command = sys.argv[1], sys.argv[2:]
master, slave = os.openpty()
# 40 rows, 160 columns: wide enough that the bar's text is not cut.
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=slave)
os.close(slave)
with open(transcript, "wb") as out:
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not data:
            break
        out.write(data)
sys.exit(child.wait())
