//! `zip-oss serve` as a child process, on a port the kernel picks.
//!
//! It is started on port 0 and the port is read from its "listening on" log line. Picking a
//! free port first and handing it over races with every other test doing the same: two
//! servers get the same port, one exits, and a connect reaches the other's.

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

pub struct Served {
    child: Child,
    pub port: u16,
    /// Reads the log as it comes (a full pipe would block the server); joined, the whole log.
    log: Option<JoinHandle<String>>,
}

impl Served {
    /// Spawns `cmd` (set to listen on port 0), taking over its stderr, and waits until it
    /// listens. If it exits first: its exit status and log.
    pub fn start(mut cmd: Command) -> Result<Served, (ExitStatus, String)> {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (listening, port) = mpsc::channel();
        let log = std::thread::spawn(move || {
            let mut log = String::new();
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = listening_on(&line) {
                    let _ = listening.send(addr.port());
                }
                log.push_str(&line);
                log.push('\n');
            }
            log
        });
        let mut served = Served {
            child,
            port: 0,
            log: Some(log),
        };
        // The sender drops when the log ends, that is when the server has exited.
        match port.recv_timeout(Duration::from_secs(60)) {
            Ok(port) => {
                served.port = port;
                Ok(served)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(served.stop()),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let (_, log) = served.stop();
                panic!("zip-oss serve neither listened nor exited within 60 s:\n{log}")
            }
        }
    }

    /// `http://127.0.0.1:<port>/`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Sends SIGTERM, as containers and Function Compute stop it.
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
    }

    /// Waits for it to exit.
    pub fn wait(&mut self) -> ExitStatus {
        self.child.wait().unwrap()
    }

    /// Stops it (SIGTERM, unless it has exited) and returns its exit status and log.
    pub fn stop(mut self) -> (ExitStatus, String) {
        if self.child.try_wait().unwrap().is_none() {
            self.terminate();
        }
        let status = self.wait();
        let log = self.log.take().unwrap().join().unwrap_or_default();
        (status, log)
    }
}

impl Drop for Served {
    /// A test that failed midway leaves no server behind.
    fn drop(&mut self) {
        if self.log.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The port in the first "zip-oss listening on http://…" line of `log`.
pub fn listening_port(log: &str) -> Option<u16> {
    log.lines().find_map(listening_on).map(|a| a.port())
}

/// The address in a "zip-oss listening on http://…" line, in either log format.
fn listening_on(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on http://")? + "listening on http://".len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_hexdigit() || ".:[]".contains(c)))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::listening_on;

    #[test]
    fn reads_the_address_from_either_log_format() {
        let text =
            "2026-12-04T15:00:00Z  INFO zip_oss::serve: zip-oss listening on http://0.0.0.0:4321";
        assert_eq!(listening_on(text).unwrap().port(), 4321);
        let json = r#"{"message":"zip-oss listening on http://127.0.0.1:80","target":"x"}"#;
        assert_eq!(listening_on(json).unwrap().to_string(), "127.0.0.1:80");
        assert_eq!(listening_on("the page: http://127.0.0.1:80/"), None);
    }
}
