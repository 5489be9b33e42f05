"""Checks one zip-oss callback as a receiver would, with the README's verifier itself (its
`# zip-oss callback verifier` snippet, read from README.md, so the two cannot drift); run by
tests/tests/async_packs.rs.

usage: verify_callback.py <key> <x-zip-oss-timestamp> <x-zip-oss-signature>  < body
exit 0 and prints the body's state when it verifies, 1 otherwise."""
import json
import pathlib
import sys

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"
FENCE = "```python\n# zip-oss callback verifier"


def readme_verifier():
    text = README.read_text(encoding="utf-8")
    start = text.index(FENCE) + len("```python\n")
    code = text[start:text.index("```", start)]
    assert len(code.splitlines()) <= 16, "the README's verifier grew"
    namespace = {}
    exec(compile(code, f"{README}:verifier", "exec"), namespace)
    return namespace["verify"]


if __name__ == "__main__":
    key, timestamp, signature = sys.argv[1], sys.argv[2], sys.argv[3]
    body = sys.stdin.buffer.read()
    if not readme_verifier()(key.encode(), timestamp, signature, body):
        print("signature or timestamp rejected", file=sys.stderr)
        sys.exit(1)
    print(json.loads(body)["state"])
