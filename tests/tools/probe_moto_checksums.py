"""What a moto S3 server does with each item of the checksum contract (TEST TOOL ONLY).

Prints every request's status, checksum headers and body head, for a report rather than a
verdict: raw HTTP with a dummy SigV4 Authorization (moto checks no signature).
  python3 -m moto.server -H 127.0.0.1 -p 0      # prints its port
  python3 tests/tools/probe_moto_checksums.py 127.0.0.1:PORT
"""
import base64, hashlib, http.client, sys, re

POLY_NVME = 0x9A6C9329AC4BC9B5  # CRC-64/NVME, reflected
def crc64nvme(data, crc=0):
    crc ^= 0xFFFFFFFFFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (POLY_NVME if crc & 1 else 0)
    return crc ^ 0xFFFFFFFFFFFFFFFF
assert crc64nvme(b"123456789") == 0xAE8B14860A799888
def b64(n): return base64.b64encode(n.to_bytes(8, "big")).decode()

host, port = sys.argv[1].split(":")
AUTH = 'AWS4-HMAC-SHA256 Credential=test/20000101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0'
def req(method, path, body=b"", headers=None, show=True):
    c = http.client.HTTPConnection(host, int(port), timeout=60)
    h = {"Authorization": AUTH, "Content-Length": str(len(body))}
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse(); data = r.read()
    hs = {k.lower(): v for k, v in r.getheaders()}
    if show:
        ck = {k: v for k, v in hs.items() if "checksum" in k}
        print(f"  -> {r.status} checksum headers={ck} body={data[:600]!r}")
    return r.status, hs, data

MIB = 1024 * 1024
p1 = bytes((i * 7) % 251 for i in range(5 * MIB)); p2 = b"tail part" * 1000
whole = p1 + p2
print("CreateBucket"); req("PUT", "/probe")
print("PutObject without checksum"); req("PUT", "/probe/plain", b"123456789")
print("HEAD plain, checksum mode"); req("HEAD", "/probe/plain", headers={"x-amz-checksum-mode": "ENABLED"})
print("GET plain, checksum mode"); req("GET", "/probe/plain", headers={"x-amz-checksum-mode": "ENABLED"})
print("PutObject with wrong x-amz-checksum-crc64nvme"); req("PUT", "/probe/badput", b"123456789", {"x-amz-checksum-crc64nvme": b64(1)})
print("PutObject with right x-amz-checksum-crc64nvme"); req("PUT", "/probe/goodput", b"123456789", {"x-amz-checksum-crc64nvme": b64(crc64nvme(b"123456789"))})
print("GET goodput, checksum mode"); req("GET", "/probe/goodput", headers={"x-amz-checksum-mode": "ENABLED"})
print("GET goodput, no checksum mode"); req("GET", "/probe/goodput")
print("GET goodput, checksum mode, range 0-3"); req("GET", "/probe/goodput", headers={"x-amz-checksum-mode": "ENABLED", "Range": "bytes=0-3"})
print("PutObject with wrong Content-MD5"); req("PUT", "/probe/badmd5", b"123456789", {"Content-MD5": base64.b64encode(hashlib.md5(b"x").digest()).decode()})

print("CreateMultipartUpload CRC64NVME/FULL_OBJECT")
s, h, d = req("POST", "/probe/mp?uploads", headers={"x-amz-checksum-algorithm": "CRC64NVME", "x-amz-checksum-type": "FULL_OBJECT"})
uid = re.search(rb"<UploadId>(.*?)</UploadId>", d).group(1).decode()
print("UploadPart 1 with WRONG crc64nvme")
req("PUT", f"/probe/mp?partNumber=1&uploadId={uid}", p1, {"x-amz-checksum-crc64nvme": b64(crc64nvme(b"nope"))})
print("UploadPart 1 with right crc64nvme")
s, h1, _ = req("PUT", f"/probe/mp?partNumber=1&uploadId={uid}", p1, {"x-amz-checksum-crc64nvme": b64(crc64nvme(p1))})
print("UploadPart 2 with right crc64nvme")
s, h2, _ = req("PUT", f"/probe/mp?partNumber=2&uploadId={uid}", p2, {"x-amz-checksum-crc64nvme": b64(crc64nvme(p2))})
print("UploadPart 2 with wrong Content-MD5")
req("PUT", f"/probe/mp?partNumber=3&uploadId={uid}", p2, {"Content-MD5": base64.b64encode(hashlib.md5(b"x").digest()).decode()})
def xml(parts):
    return ("<CompleteMultipartUpload>" + "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag><ChecksumCRC64NVME>{c}</ChecksumCRC64NVME></Part>" for n, e, c in parts)
        + "</CompleteMultipartUpload>").encode()
parts = [(1, h1["etag"], b64(crc64nvme(p1))), (2, h2["etag"], b64(crc64nvme(p2)))]
print("ListParts"); req("GET", f"/probe/mp?uploadId={uid}")
print("Complete with WRONG whole-object crc64nvme")
req("POST", f"/probe/mp?uploadId={uid}", xml(parts), {"x-amz-checksum-crc64nvme": b64(crc64nvme(b"wrong")), "x-amz-checksum-type": "FULL_OBJECT"})
print("ListMultipartUploads after the refused Complete"); req("GET", "/probe?uploads")
print("Complete with right whole-object crc64nvme")
req("POST", f"/probe/mp?uploadId={uid}", xml(parts), {"x-amz-checksum-crc64nvme": b64(crc64nvme(whole)), "x-amz-checksum-type": "FULL_OBJECT"})
print("  (expected whole-object value:", b64(crc64nvme(whole)), ")")
print("HEAD mp, checksum mode"); req("HEAD", "/probe/mp", headers={"x-amz-checksum-mode": "ENABLED"})
print("GET mp, checksum mode"); s, h, d = req("GET", "/probe/mp", headers={"x-amz-checksum-mode": "ENABLED"}, show=False); print("  ->", s, {k: v for k, v in h.items() if "checksum" in k})
print("GET mp, no checksum mode"); s, h, d = req("GET", "/probe/mp", show=False); print("  ->", s, {k: v for k, v in h.items() if "checksum" in k})
print("GET mp, checksum mode, range"); s, h, d = req("GET", "/probe/mp", headers={"x-amz-checksum-mode": "ENABLED", "Range": "bytes=0-9"}, show=False); print("  ->", s, {k: v for k, v in h.items() if "checksum" in k})
print("DeleteObject mp"); req("DELETE", "/probe/mp")
