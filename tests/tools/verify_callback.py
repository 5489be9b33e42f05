"""Verifies a zip-oss callback as a receiver would (the README's example, run by
tests/tests/async_packs.rs): HMAC-SHA256 over "<timestamp>.<body>" with the shared key,
compared in constant time, and a timestamp within 5 minutes of now.

usage: verify_callback.py <key> <x-zip-oss-timestamp> <x-zip-oss-signature>  < body
exit 0 and prints the body's state when it verifies, 1 otherwise."""
import hashlib
import hmac
import json
import sys
import time


def verify(key: bytes, timestamp: str, signature: str, body: bytes, tolerance=300) -> bool:
    if not timestamp.isascii() or not timestamp.isdigit():
        return False
    if abs(time.time() - int(timestamp)) > tolerance:
        return False  # too old (or from the future): a replay
    expected = hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest("sha256=" + expected, signature)


if __name__ == "__main__":
    key, timestamp, signature = sys.argv[1], sys.argv[2], sys.argv[3]
    body = sys.stdin.buffer.read()
    if not verify(key.encode(), timestamp, signature, body):
        print("signature or timestamp rejected", file=sys.stderr)
        sys.exit(1)
    print(json.loads(body)["state"])
