#!/usr/bin/env python3
"""OSS-protocol test gateway: Aliyun OSS native API in front of an S3 test store.

TEST TOOL ONLY. No OSS server can be installed from a package registry, so the
end-to-end tests of zip-oss's OSS native path (DESIGN.md §4) talk to this
gateway on loopback. It:

* accepts path-style (`/bucket/key`) and virtual-hosted (`Host: bucket.name`)
  requests; a Host that is an IP literal, `localhost` or has no dot is path-style;
* verifies every request's OSS V4 signature (header-signed `OSS4-HMAC-SHA256`
  or presigned query) by re-signing it with the official Aliyun SDK's own
  signer (`alibabacloud_oss_v2.signer.SignerV4`, pip `alibabacloud-oss-v2==1.4.1`)
  and comparing; the algorithm is not reimplemented here. The received query is
  canonicalised first (percent-decoded, `+` kept literal, re-encoded RFC 3986
  as the SDK does), the key is the percent-decoded path. Header-signed requests
  need `x-oss-content-sha256: UNSIGNED-PAYLOAD` and a clock within 15 minutes;
  presigned URLs expire after `x-oss-expires` (≤ 7 days) seconds;
* forwards valid requests as path-style S3 to the backend (moto:
  `python3 -m moto.server -H 127.0.0.1 -p PORT`; it checks no signature but
  refuses anonymous reads, so a dummy SigV4 Authorization is sent). Start moto
  with `S3_UPLOAD_PART_MIN_SIZE=102400` for OSS's 100 KB minimum part size;
* answers in OSS's shapes: no S3 XML namespace, upper-case hex ETags,
  `x-oss-request-id` on every answer, errors as OSS error XML with `<EC>`.
  EC values other than SignatureDoesNotMatch's, NoSuchKey's and FileAlreadyExists's
  are placeholders;
* implements `x-oss-forbid-overwrite: true` on PutObject and CompleteMultipartUpload as
  OSS does: the write is made conditional on the backend (`If-None-Match: *`) and an
  existing key is answered `409 FileAlreadyExists` with nothing changed (EC
  0026-00000002 for PutObject, 0042-00000214 for CompleteMultipartUpload). On
  InitiateMultipartUpload the header is accepted (and signed) but checks nothing: an
  initiated upload does not touch the existing object;
* pages ListObjectsV2 as OSS does: `max-keys` must be 1..1000 (else 400
  InvalidArgument) and defaults to OSS's 100, or to `--page-size`; `--max-page`
  caps every page (as a store may answer fewer keys than asked). Its
  continuation tokens are opaque base64 holding `+`, `/` and `=` (the backend's
  own tokens are kept behind them), URL-encoded in the XML under
  `encoding-type=url` (`<NextContinuationToken>` and `<ContinuationToken>`, as
  OSS encodes them and its SDK unquotes them). A `continuation-token` is taken
  only as handed out, encoded once in the query: one encoded twice (sent back as
  the XML held it), or unknown, is answered 400 InvalidArgument;
* answers `x-oss-hash-crc64ecma` (the decimal CRC-64 OSS keeps per object: ECMA-182 with
  the CRC-64/XZ parameters, computed by the SDK's own `alibabacloud_oss_v2.crc.Crc64`) as
  OSS does: on GetObject (the WHOLE object's value, even for a Range answer), HeadObject,
  PutObject, UploadPart (that part's; UploadPartCopy's answer has none) and
  CompleteMultipartUpload (the whole object's, only when every part's is known, uploaded
  or copied, combined with the SDK's `Crc64.combine`). Objects put
  straight into the backend get theirs computed from their data, on first need, kept by
  ETag;
* verifies `Content-MD5` on PutObject and UploadPart before forwarding: malformed or not
  the body's is `400 InvalidDigest` (EC 0017-00000502 / 0017-00000503), nothing stored;
* implements UploadPartCopy (`x-oss-copy-source: /bucket/key`, `x-oss-copy-source-range:
  bytes=first-last`, `x-oss-copy-source-if-match`) over the backend's S3 UploadPartCopy,
  checking itself what moto does not (see `copy_part`): the upload (404 NoSuchUpload), the
  source (404 NoSuchKey), its ETag (412 PreconditionFailed, nothing stored), the range
  within it (400 InvalidArgument; one not of that form copies the whole object, as OSS
  documents). The copied bytes' CRC-64 is kept as an uploaded part's, so Complete's
  `x-oss-hash-crc64ecma` covers copied parts. The answer is OSS's `<CopyPartResult>`
  (LastModified, ETag) with no CRC header: OSS documents none there, and its SDK's
  `UploadPartCopyResult` reads none (its UploadPart result reads `x-oss-hash-crc64ecma`);
* answers ListParts as OSS does: `<ListPartsResult>` (moto says `ListPartsResponse`) with
  each part's `<HashCrc64ecma>` after its ETag, uploaded or copied, where the gateway
  knows it (parts uploaded before it started are listed without).

Usage (prints `ready <port>` once listening, then a line `ListObjectsV2 <status>
<first|continued>` per listing request, before its answer; IPv4 only):
  python3 tests/tools/oss_gateway.py --listen 127.0.0.1:0 --backend http://127.0.0.1:MOTOPORT \
      --access-key-id AK --access-key-secret SK [--security-token TOKEN] --region cn-shanghai \
      [--page-size N] [--max-page N]
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import http.client
import re
import secrets
import sys
import threading
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, urlsplit
from xml.sax.saxutils import escape, unescape

from alibabacloud_oss_v2.crc import Crc64
from alibabacloud_oss_v2.signer import SignerV4
from alibabacloud_oss_v2.types import Credentials, HttpRequest, SigningContext

ALGORITHM = 'OSS4-HMAC-SHA256'
MAX_SKEW = datetime.timedelta(minutes=15)
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600
PRESIGN_PARAMS = {'x-oss-signature-version', 'x-oss-date', 'x-oss-expires', 'x-oss-credential',
                  'x-oss-security-token', 'x-oss-additional-headers', 'x-oss-signature'}
# The backend reads an empty `continuation-token=` (sent on a first page) as a bad token.
DROP_IF_EMPTY = {'continuation-token', 'start-after', 'delimiter', 'marker', 'key-marker',
                 'upload-id-marker', 'part-number-marker'}
EC_CODES = {'SignatureDoesNotMatch': '0002-00000040', 'NoSuchKey': '0026-00000001'}
# Content-MD5 malformed, and not the body's (both InvalidDigest).
EC_BAD_CONTENT_MD5, EC_CONTENT_MD5_MISMATCH = '0017-00000502', '0017-00000503'
# ListObjectsV2's bad max-keys and bad continuation-token (both InvalidArgument).
EC_BAD_MAX_KEYS, EC_BAD_CONTINUATION_TOKEN = '0015-00000402', '0015-00000404'
OSS_DEFAULT_MAX_KEYS, OSS_MAX_KEYS = 100, 1000
REQUEST_HEADERS = {'content-type', 'content-md5', 'range', 'if-match', 'if-none-match',
                   'if-modified-since', 'if-unmodified-since', 'cache-control',
                   'content-disposition', 'content-encoding', 'expires'}
RESPONSE_HEADERS = {'content-type', 'content-length', 'content-range', 'etag', 'last-modified',
                    'accept-ranges', 'cache-control', 'content-disposition', 'content-encoding',
                    'expires'}
# moto accepts any SigV4-looking credentials but denies anonymous reads of private buckets.
BACKEND_AUTH = ('AWS4-HMAC-SHA256 Credential=test/20000101/us-east-1/s3/aws4_request, '
                'SignedHeaders=host, Signature=0')
S3_NAMESPACE = re.compile(rb'\s+xmlns="http://s3\.amazonaws\.com/doc/2006-03-01/"')
ETAG_ELEMENT = re.compile(rb'<ETag>(.*?)</ETag>', re.S)


class OssError(Exception):
    """An error to answer with OSS's error XML."""

    def __init__(self, status, code, message, extra=None, ec=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.extra = extra or {}
        self.ec = ec or EC_CODES.get(code, '0000-00000000')


def denied(code, message, **extra):
    """A 403 authentication failure (SignatureDoesNotMatch, InvalidAccessKeyId, AccessDenied…)."""
    return OssError(403, code, message, extra)


# ---------------------------------------------------------------- OSS answers

def error_xml(err, request_id, host_id):
    """OSS's error body: Code, Message, RequestId, HostId, extras, EC."""
    root = ET.Element('Error')
    fields = [('Code', err.code), ('Message', err.message), ('RequestId', request_id),
              ('HostId', host_id)] + list(err.extra.items())
    fields.append(('EC', err.ec))
    for name, value in fields:
        ET.SubElement(root, name).text = str(value)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding='utf-8')


def upper_hex(data):
    """Upper-case the hex digits of an ETag (quotes and `-N` suffix kept)."""
    return re.sub(rb'[0-9a-f]{8,}', lambda m: m.group(0).upper(), data)


def to_oss_xml(body):
    """Strip the S3 namespace and upper-case every <ETag>."""
    body = S3_NAMESPACE.sub(b'', body)
    return ETAG_ELEMENT.sub(lambda m: b'<ETag>' + upper_hex(m.group(1)) + b'</ETag>', body)


def backend_error(status, body, key):
    """Turn a backend (S3) error answer into an OssError with the same status."""
    try:
        root = ET.fromstring(S3_NAMESPACE.sub(b'', body))
    except ET.ParseError:
        root = None
    if root is None or root.tag != 'Error':
        code = {404: 'NoSuchKey' if key is not None else 'NoSuchBucket', 403: 'AccessDenied',
                412: 'PreconditionFailed', 416: 'InvalidRange'}.get(status, 'InternalError')
        return OssError(status, code, http.client.responses.get(status, 'error'))
    extra = {c.tag: c.text or '' for c in root
             if c.tag not in ('Code', 'Message', 'RequestID', 'RequestId', 'HostId')}
    return OssError(status, root.findtext('Code', 'InternalError'),
                    root.findtext('Message', ''), extra)


# ---------------------------------------------------------------- request parsing

def split_host(host):
    """Host header → host name without port."""
    if host.startswith('['):
        return host[1:host.find(']')]
    return host.rsplit(':', 1)[0] if host.count(':') == 1 else host


def bucket_from_host(host):
    """Virtual-hosted bucket name, or None for path-style hosts (IP, localhost, no dot)."""
    name = split_host(host)
    if '.' not in name or ':' in name or re.fullmatch(r'[0-9.]+', name):
        return None
    return name.split('.', 1)[0]


def split_target(host, path):
    """(bucket, key) from Host and the raw path; key None for bucket-level requests."""
    bucket = bucket_from_host(host)
    if bucket is None:
        first, _, rest = path[1:].partition('/')
        bucket, path = unquote(first) or None, '/' + rest
    key = unquote(path[1:], errors='strict')
    return bucket, (key if key else None)


def parse_query(raw):
    """Raw query string → list of (name, value), percent-decoded, `+` kept literal."""
    return [(unquote(p.partition('=')[0]), unquote(p.partition('=')[2]))
            for p in raw.split('&') if p]


def encode_query(pairs):
    """(name, value) list → RFC 3986 query, empty values as bare names (as the SDK signs)."""
    return '&'.join(quote(n, safe='') + ('=' + quote(v, safe='') if v else '') for n, v in pairs)


def parse_oss_date(value):
    try:
        return datetime.datetime.strptime(value or '', '%Y%m%dT%H%M%SZ').replace(
            tzinfo=datetime.timezone.utc)
    except ValueError:
        raise denied('AccessDenied', f'Invalid x-oss-date {value!r}.') from None


# ---------------------------------------------------------------- signature check

def check_credential(cfg, credential, date):
    """`AK/yyyymmdd/region/oss/aliyun_v4_request` must match ours and the request date."""
    parts = credential.split('/')
    if len(parts) != 5:
        raise denied('AccessDenied', f'Malformed credential {credential!r}.')
    if parts[0] != cfg.access_key_id:
        raise denied('InvalidAccessKeyId',
                     'The OSS Access Key Id you provided does not exist in our records.',
                     OSSAccessKeyId=parts[0])
    want = [date.strftime('%Y%m%d'), cfg.region, 'oss', 'aliyun_v4_request']
    if parts[1:] != want:
        raise denied('SignatureDoesNotMatch',
                     f'Invalid credential scope {"/".join(parts[1:])!r}, want {"/".join(want)!r}.')


def check_token(cfg, header_token, query_token):
    """The STS token must be present (header or query, not both) iff we were given one."""
    if header_token is not None and query_token is not None:
        raise denied('AccessDenied', 'Security token given both as header and query.')
    token = header_token if header_token is not None else query_token
    if cfg.security_token is None and token is not None:
        raise denied('InvalidAccessKeyId', 'The security token you provided is not expected.')
    if cfg.security_token is not None and token != cfg.security_token:
        raise denied('InvalidAccessKeyId' if token else 'AccessDenied',
                     'The security token you provided is invalid or missing.')
    return token


def sdk_sign(cfg, req, query, signing_time, token, additional, expires=None):
    """Re-sign the request with the SDK's SignerV4; returns (signature, SigningContext)."""
    url = 'http://gateway/' + ('?' + encode_query(query) if query else '')
    request = HttpRequest(method=req.method, url=url, headers=dict(req.headers))
    request.headers.pop('Authorization', None)
    ctx = SigningContext(product='oss', region=cfg.region, bucket=req.bucket, key=req.key,
                         request=request, signing_time=signing_time,
                         credentials=Credentials(cfg.access_key_id, cfg.access_key_secret, token),
                         additional_headers=set(additional))
    if expires is not None:
        ctx.auth_method_query = True
        ctx.expiration_time = signing_time + datetime.timedelta(seconds=expires)
    SignerV4().sign(ctx)
    if expires is not None:  # keep the URL as signed, for compare()'s diagnostics
        request.url, signature = request.url.rsplit('&x-oss-signature=', 1)
        return signature, ctx
    return request.headers['Authorization'].rsplit('Signature=', 1)[1], ctx


def compare(cfg, got, want, ctx):
    """Raise SignatureDoesNotMatch (with the SDK's canonical request) unless equal."""
    if hmac.compare_digest(got.encode(), want.encode()):
        return
    signer = SignerV4()  # private helpers, used for the error's diagnostics only
    signed = signer._common_additional_headers(ctx.request, ctx.additional_headers)
    canonical = signer._calc_canonical_request(ctx, signed)
    raise denied('SignatureDoesNotMatch',
                 'The request signature we calculated does not match the signature you provided.'
                 ' Check your key and signing method.',
                 CanonicalRequest=canonical, StringToSign=ctx.string_to_sign,
                 OSSAccessKeyId=cfg.access_key_id)


def parse_authorization(value):
    """`OSS4-HMAC-SHA256 Credential=…[,AdditionalHeaders=…],Signature=…` → dict."""
    if not value.startswith(ALGORITHM + ' '):
        raise denied('AccessDenied', f'Authorization must use {ALGORITHM}.')
    fields = dict(p.strip().partition('=')[::2] for p in value[len(ALGORITHM):].split(','))
    if not fields.get('Credential') or not fields.get('Signature'):
        raise denied('AccessDenied', 'Authorization lacks Credential or Signature.')
    return fields


def verify_header_signed(cfg, req, query):
    fields = parse_authorization(req.headers['Authorization'])
    date = parse_oss_date(req.headers.get('x-oss-date'))
    check_credential(cfg, fields['Credential'], date)
    if abs(datetime.datetime.now(datetime.timezone.utc) - date) > MAX_SKEW:
        raise denied('RequestTimeTooSkewed', 'The difference between the request time and the'
                     ' current time is too large.')
    if req.headers.get('x-oss-content-sha256') != 'UNSIGNED-PAYLOAD':
        raise denied('SignatureDoesNotMatch', 'x-oss-content-sha256 must be UNSIGNED-PAYLOAD.')
    token = check_token(cfg, req.headers.get('x-oss-security-token'), None)
    additional = [h for h in fields.get('AdditionalHeaders', '').lower().split(';') if h]
    want, ctx = sdk_sign(cfg, req, query, date, token, additional)
    compare(cfg, fields['Signature'], want, ctx)


def verify_presigned(cfg, req, query):
    params = dict(query)
    if params.get('x-oss-signature-version') != ALGORITHM:
        raise denied('AccessDenied', f'x-oss-signature-version must be {ALGORITHM}.')
    date = parse_oss_date(params.get('x-oss-date'))
    check_credential(cfg, params.get('x-oss-credential', ''), date)
    try:
        expires = int(params.get('x-oss-expires', ''))
    except ValueError:
        raise denied('AccessDenied', 'Invalid x-oss-expires.') from None
    if not 0 < expires <= MAX_PRESIGN_EXPIRES:
        raise denied('AccessDenied', f'x-oss-expires must be in 1..{MAX_PRESIGN_EXPIRES}.')
    if datetime.datetime.now(datetime.timezone.utc) > date + datetime.timedelta(seconds=expires):
        raise denied('AccessDenied', 'Request has expired.')
    token = check_token(cfg, req.headers.get('x-oss-security-token'),
                        params.get('x-oss-security-token'))
    additional = [h for h in params.get('x-oss-additional-headers', '').lower().split(';') if h]
    unsigned = [(n, v) for n, v in query if n != 'x-oss-signature']
    want, ctx = sdk_sign(cfg, req, unsigned, date, token, additional, expires)
    compare(cfg, params.get('x-oss-signature', ''), want, ctx)


def verify(cfg, req, query):
    if 'Authorization' in req.headers:
        return verify_header_signed(cfg, req, query)
    if any(n == 'x-oss-signature' for n, _ in query):
        return verify_presigned(cfg, req, query)
    raise denied('AccessDenied', 'Anonymous access is forbidden for this operation.')


# ---------------------------------------------------------------- ListObjectsV2 paging

NEXT_TOKEN = re.compile(rb'<NextContinuationToken>(.*?)</NextContinuationToken>', re.S)
IS_TRUNCATED = re.compile(rb'<IsTruncated>.*?</IsTruncated>', re.S)


class ContinuationTokens:
    """OSS-shaped continuation tokens standing for the backend's (moto's are hex digests,
    which no encoding changes, so a client sending a token back wrongly encoded would
    pass unnoticed)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.backend = {}  # our token -> the backend's

    def mint(self, backend_token):
        """A fresh opaque token: base64 of random bytes around `+/+/`, ending in `==`."""
        token = base64.b64encode(secrets.token_bytes(9) + b'\xfb\xff\xbf'
                                 + secrets.token_bytes(4)).decode()
        with self.lock:
            self.backend[token] = backend_token
        return token

    def resolve(self, token):
        """The backend's token behind ours; 400 InvalidArgument for any other value."""
        with self.lock:
            backend_token = self.backend.get(token)
        if backend_token is None:
            raise OssError(400, 'InvalidArgument', 'The continuation-token is not valid.',
                           ec=EC_BAD_CONTINUATION_TOKEN)
        return backend_token


def is_list_objects_v2(req, query):
    return (req.method == 'GET' and req.bucket is not None and req.key is None
            and ('list-type', '2') in query)


def list_v2_backend_query(cfg, tokens, query):
    """The query to forward: max-keys checked (or OSS's default), our token → the backend's."""
    out, max_keys = [], None
    for name, value in query:
        if name == 'max-keys':
            if not (value.isdigit() and 1 <= int(value) <= OSS_MAX_KEYS):
                raise OssError(400, 'InvalidArgument',
                               f'Argument max-keys must be between 1 and {OSS_MAX_KEYS}.',
                               ec=EC_BAD_MAX_KEYS)
            max_keys = value
            if cfg.max_page:
                # A store may return fewer keys than asked for; tests page small folders so.
                value = str(min(int(value), cfg.max_page))
        elif name == 'continuation-token' and value:
            value = tokens.resolve(value)
        out.append((name, value))
    if max_keys is None:
        out.append(('max-keys', str(min(cfg.page_size, cfg.max_page or cfg.page_size))))
    return out


def list_v2_answer(tokens, query, body):
    """Hand out our token for the backend's, and echo the request's, encoded as OSS does."""
    params = dict(query)
    encoded = params.get('encoding-type') == 'url'

    def element(name, token):
        text = quote(token, safe='') if encoded else escape(token)
        return f'<{name}>{text}</{name}>'.encode()

    body = NEXT_TOKEN.sub(lambda m: element(
        'NextContinuationToken', tokens.mint(unescape(m.group(1).decode()))), body)
    if params.get('continuation-token'):
        echo = element('ContinuationToken', params['continuation-token'])
        body = IS_TRUNCATED.sub(lambda m: m.group(0) + echo, body, count=1)
    return body


# ---------------------------------------------------------------- CRC-64 and Content-MD5

CRC64_HEADER = 'x-oss-hash-crc64ecma'


def crc64(data):
    """OSS's CRC-64 of `data`, by the SDK's own implementation."""
    digest = Crc64(0)
    digest.update(data)
    return digest.sum64()


# The SDK's CRC-64 must be OSS's: CRC-64/XZ's check value.
assert crc64(b'123456789') == 0x995DC9BBDF1939FA, 'alibabacloud_oss_v2.crc.Crc64 is not CRC-64/XZ'


def etag_key(value):
    """An ETag as a cache key: unquoted, lower-case, XML entities undone."""
    return unescape(value.decode() if isinstance(value, bytes) else value).strip('"').lower()


class Crc64Table:
    """What OSS keeps: each uploaded part's CRC and length, each object version's CRC."""

    def __init__(self):
        self.lock = threading.Lock()
        self.parts = {}    # (upload id, part number) -> (crc, length)
        self.objects = {}  # (bucket, key, etag) -> crc

    def part(self, upload_id, number, crc, length):
        with self.lock:
            self.parts[(upload_id, number)] = (crc, length)

    def combined(self, upload_id, numbers):
        """The whole object's CRC from its parts', or None if one is unknown."""
        with self.lock:
            parts = [self.parts.get((upload_id, n)) for n in numbers]
        if not parts or None in parts:
            return None
        crc = parts[0][0]
        for part_crc, length in parts[1:]:
            crc = Crc64.combine(crc, part_crc, length)
        return crc

    def part_crc(self, upload_id, number):
        """A part's CRC, or None if unknown."""
        with self.lock:
            part = self.parts.get((upload_id, number))
        return part[0] if part else None

    def forget_upload(self, upload_id):
        with self.lock:
            for k in [k for k in self.parts if k[0] == upload_id]:
                del self.parts[k]

    def object(self, bucket, key, etag, crc=None):
        """Record `crc` for this version, or look it up (None if unknown)."""
        with self.lock:
            if crc is not None:
                self.objects[(bucket, key, etag_key(etag))] = crc
            return self.objects.get((bucket, key, etag_key(etag)))


def check_content_md5(req, body):
    """OSS verifies a Content-MD5 on an upload before storing anything."""
    value = req.headers.get('Content-MD5')
    if value is None:
        return
    try:
        want = base64.b64decode(value, validate=True)
    except ValueError:
        want = b''
    if len(want) != 16:
        raise OssError(400, 'InvalidDigest', 'The Content-MD5 you specified is not valid.',
                       ec=EC_BAD_CONTENT_MD5)
    if hashlib.md5(body).digest() != want:
        raise OssError(400, 'InvalidDigest',
                       'The Content-MD5 you specified did not match what we received.',
                       ec=EC_CONTENT_MD5_MISMATCH)


def is_upload(req, query):
    """PutObject or UploadPart: a PUT of object data (not a copy)."""
    return (req.method == 'PUT' and req.key is not None
            and 'x-oss-copy-source' not in {h.lower() for h in req.headers.keys()})


PART_NUMBERS = re.compile(rb'<PartNumber>\s*(\d+)\s*</PartNumber>')


def crc64_of_answer(cfg, table, req, query, body, headers, answer):
    """The `x-oss-hash-crc64ecma` value a successful answer carries, or None."""
    params = dict(query)
    if req.key is None:
        return None
    if is_upload(req, query):
        crc = crc64(body)
        if 'uploadId' in params:
            table.part(params['uploadId'], params.get('partNumber'), crc, len(body))
        else:
            etag = dict((k.lower(), v) for k, v in headers).get('etag')
            if etag:
                table.object(req.bucket, req.key, etag, crc)
        return crc
    if req.method == 'POST' and 'uploadId' in params:  # CompleteMultipartUpload
        numbers = [m.decode() for m in PART_NUMBERS.findall(body)]
        crc = table.combined(params['uploadId'], numbers)
        table.forget_upload(params['uploadId'])
        etag = ETAG_ELEMENT.search(answer)
        if crc is not None and etag:
            table.object(req.bucket, req.key, etag.group(1), crc)
        return crc
    if req.method == 'DELETE' and 'uploadId' in params:  # AbortMultipartUpload
        table.forget_upload(params['uploadId'])
        return None
    if req.method in ('GET', 'HEAD') and not (set(params) & {'uploadId', 'uploads'}):
        etag = dict((k.lower(), v) for k, v in headers).get('etag')
        if etag is None:
            return None
        crc = table.object(req.bucket, req.key, etag)
        if crc is None:
            whole = answer if req.method == 'GET' and 'Range' not in req.headers else (
                read_whole(cfg, req, etag))
            if whole is not None:
                crc = table.object(req.bucket, req.key, etag, crc64(whole))
        return crc
    return None


def read_whole(cfg, req, etag):
    """The object's data, as of `etag` (None if it has changed since)."""
    status, _, data = backend_request(cfg, 'GET', req.bucket, req.key, {'If-Match': etag})
    return data if status == 200 else None


def backend_request(cfg, method, bucket, key, headers, query=()):
    """A bodiless request to the backend for `bucket/key`: (status, [(header, value)], body)."""
    path = '/' + quote(bucket, safe='') + '/' + quote(key, safe='/')
    path += '?' + encode_query(query) if query else ''
    conn = http.client.HTTPConnection(cfg.backend_host, cfg.backend_port, timeout=120)
    try:
        conn.request(method, path, headers={'Authorization': BACKEND_AUTH, 'Content-Length': '0',
                                            **headers})
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    finally:
        conn.close()


# ---------------------------------------------------------------- ListParts and UploadPartCopy

PART_ELEMENT = re.compile(rb'<Part>(.*?)</Part>', re.S)
LAST_MODIFIED = re.compile(rb'<LastModified>(.*?)</LastModified>', re.S)
COPY_RANGE = re.compile(r'bytes=(\d+)-(\d+)')
# x-oss-copy-source not `/bucket/key` (documented); a range past the source (a placeholder:
# OSS documents 0042-00000306 for the S3-compatible header only).
EC_BAD_COPY_SOURCE, EC_BAD_COPY_RANGE = '0042-00000301', '0042-00000306'


def is_list_parts(req, query):
    return (req.method == 'GET' and req.key is not None
            and any(n == 'uploadId' for n, _ in query))


def list_parts_answer(table, upload_id, body):
    """S3's root (moto says `ListPartsResponse`) and each part's `HashCrc64ecma`, as OSS
    lists them (after the ETag), for the parts whose CRC the gateway knows."""
    body = re.sub(rb'<(/?)ListPartsResponse\b', rb'<\1ListPartsResult', body)

    def part(m):
        inner = m.group(1)
        number = PART_NUMBERS.search(inner)
        crc = table.part_crc(upload_id, number.group(1).decode()) if number else None
        if crc is None or b'<HashCrc64ecma>' in inner:
            return m.group(0)
        inner = inner.replace(b'</ETag>', b'</ETag><HashCrc64ecma>%d</HashCrc64ecma>' % crc, 1)
        return b'<Part>' + inner + b'</Part>'

    return PART_ELEMENT.sub(part, body)


def is_copy_part(req, query):
    """UploadPartCopy: a part upload naming `x-oss-copy-source`."""
    names = {n for n, _ in query}
    return (req.method == 'PUT' and req.key is not None and {'uploadId', 'partNumber'} <= names
            and req.headers.get('x-oss-copy-source') is not None)


def copy_part(cfg, table, req, query):
    """UploadPartCopy as OSS does it, over the backend's S3 UploadPartCopy: the upload must
    exist (404 NoSuchUpload); `x-oss-copy-source` is `/bucket/key` URL-encoded (else 400
    InvalidArgument); the source must exist (404 NoSuchKey) and, given
    `x-oss-copy-source-if-match`, have that ETag (412 PreconditionFailed; the backend, moto,
    ignores the header, so it is checked here); `x-oss-copy-source-range: bytes=first-last`
    must lie within the source (400 InvalidArgument), and one that is not of that form
    copies the whole object (as documented for OSS's API). The range's bytes are read (pinned
    to the source's ETag) for the part's CRC-64, kept as UploadPart's are, and checked
    against the copied part's ETag (their MD5). The answer is OSS's `<CopyPartResult>`
    (LastModified, ETag), with no CRC header: OSS documents none on this answer and its SDK
    reads none."""
    params = dict(query)
    upload_id, number = params['uploadId'], params['partNumber']
    if not (number.isdigit() and 1 <= int(number) <= 10000):
        raise OssError(400, 'InvalidArgument', 'Part number must be an integer between 1 and'
                       ' 10000, inclusive.')
    status, _, answer = backend_request(cfg, 'GET', req.bucket, req.key, {},
                                        [('uploadId', upload_id), ('max-parts', '1')])
    if status == 404:
        raise OssError(404, 'NoSuchUpload', 'The specified upload does not exist. The upload ID'
                       ' may be invalid, or the upload may have been aborted or completed.',
                       {'UploadId': upload_id})
    if status >= 300:
        raise backend_error(status, answer, req.key)

    source = req.headers.get('x-oss-copy-source')
    path = source.partition('?')[0]
    src_bucket, _, src_key = unquote(path[1:]).partition('/')
    if not path.startswith('/') or not src_bucket or not src_key:
        raise OssError(400, 'InvalidArgument', 'Copy Source must mention the source bucket and'
                       ' key: /sourcebucket/sourcekey.', {'ArgumentName': 'x-oss-copy-source',
                                                          'ArgumentValue': source},
                       ec=EC_BAD_COPY_SOURCE)
    status, headers, _ = backend_request(cfg, 'HEAD', src_bucket, src_key, {})
    if status == 404:
        raise OssError(404, 'NoSuchKey', 'The specified key does not exist.', {'Key': src_key})
    if status >= 300:
        raise backend_error(status, b'', src_key)
    headers = {k.lower(): v for k, v in headers}
    etag, size = headers['etag'], int(headers['content-length'])
    wanted = req.headers.get('x-oss-copy-source-if-match')
    if wanted is not None and etag_key(wanted) != etag_key(etag):
        raise OssError(412, 'PreconditionFailed', 'At least one of the pre-conditions you'
                       ' specified did not hold.', {'Condition': 'x-oss-copy-source-if-match'})
    match = COPY_RANGE.fullmatch(req.headers.get('x-oss-copy-source-range', '').strip())
    first, last = (int(match.group(1)), int(match.group(2))) if match else (0, size - 1)
    if first > last and match:
        first, last = 0, size - 1  # not a range: the whole object, as for a malformed one
    if last >= size:
        raise OssError(400, 'InvalidArgument', 'The specified copy range exceeds the size of'
                       f' the source object ({size} bytes).',
                       {'ArgumentName': 'x-oss-copy-source-range'}, ec=EC_BAD_COPY_RANGE)

    data, ranged = b'', {}
    if size:
        ranged = {'x-amz-copy-source-range': f'bytes={first}-{last}'}
        status, _, data = backend_request(cfg, 'GET', src_bucket, src_key,
                                          {'Range': ranged['x-amz-copy-source-range'],
                                           'If-Match': etag})
        if status == 412:  # changed since the HEAD
            raise OssError(412, 'PreconditionFailed', 'At least one of the pre-conditions you'
                           ' specified did not hold.', {'Condition': 'x-oss-copy-source-if-match'})
        if status not in (200, 206) or len(data) != last - first + 1:
            raise OssError(500, 'InternalError', f'Reading the copy source failed ({status}).')
    copy_source = quote('/' + src_bucket + '/' + src_key, safe='/')
    status, _, answer = backend_request(cfg, 'PUT', req.bucket, req.key,
                                        {'x-amz-copy-source': copy_source, **ranged},
                                        [('partNumber', number), ('uploadId', upload_id)])
    if status >= 300:
        raise backend_error(status, answer, req.key)
    part_etag = ETAG_ELEMENT.search(answer)
    if part_etag is None or etag_key(part_etag.group(1)) != hashlib.md5(data).hexdigest():
        raise OssError(500, 'InternalError', 'The copy source changed during the copy.')
    table.part(upload_id, number, crc64(data), len(data))
    modified = LAST_MODIFIED.search(answer)
    body = (b'<?xml version="1.0" encoding="UTF-8"?>\n<CopyPartResult><LastModified>'
            + (modified.group(1) if modified else b'') + b'</LastModified><ETag>'
            + upper_hex(part_etag.group(1)) + b'</ETag></CopyPartResult>')
    return 200, [('Content-Type', 'application/xml')], body


# ---------------------------------------------------------------- backend (S3)

def forbids_overwrite(req, query):
    """`x-oss-forbid-overwrite: true` on a write that creates the object: PutObject (not a
    part upload) or CompleteMultipartUpload; OSS ignores it elsewhere."""
    if req.headers.get('x-oss-forbid-overwrite', '').strip().lower() != 'true' or req.key is None:
        return None
    names = {n for n, _ in query}
    if req.method == 'PUT' and not names & {'uploadId', 'partNumber'}:
        return '0026-00000002'
    if req.method == 'POST' and 'uploadId' in names:
        return '0042-00000214'
    return None


def backend_headers(req, body, query):
    """The headers the S3 backend needs (dummy auth; ETags lower-cased, metadata renamed;
    OSS's forbid-overwrite as S3's conditional write)."""
    out = {'Content-Length': str(len(body)), 'Authorization': BACKEND_AUTH}
    if forbids_overwrite(req, query):
        out['If-None-Match'] = '*'

    for name, value in req.headers.items():
        low = name.lower()
        if low in REQUEST_HEADERS:
            out[name] = value.lower() if low.startswith('if-') and 'match' in low else value
        elif low.startswith('x-oss-meta-'):
            out['x-amz-meta-' + low[len('x-oss-meta-'):]] = value
    return out


def backend_body(req, query, body):
    """CompleteMultipartUpload: the backend compares part ETags case-sensitively."""
    if req.method == 'POST' and any(n == 'uploadId' for n, _ in query):
        return ETAG_ELEMENT.sub(lambda m: b'<ETag>' + m.group(1).lower() + b'</ETag>', body)
    if req.method == 'PUT' and req.key is None:
        return b''  # CreateBucket: OSS's configuration XML means nothing to S3
    return body


def forward(cfg, req, query, body):
    """Send the request to the backend; returns (status, [(header, value)], body)."""
    path = '/' + quote(req.bucket or '', safe='')
    if req.bucket is not None and req.key is not None:
        path += '/' + quote(req.key, safe='/')
    s3_query = [(n, v) for n, v in query
                if n not in PRESIGN_PARAMS and (v or n not in DROP_IF_EMPTY)]
    path += '?' + encode_query(s3_query) if s3_query else ''
    body = backend_body(req, query, body)
    conn = http.client.HTTPConnection(cfg.backend_host, cfg.backend_port, timeout=120)
    try:
        conn.request(req.method, path, body=body, headers=backend_headers(req, body, query))
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    finally:
        conn.close()


def oss_headers(s3_headers):
    """Backend response headers → OSS ones (ETag upper-cased, metadata renamed)."""
    out = []
    for name, value in s3_headers:
        low = name.lower()
        if low == 'etag':
            out.append(('ETag', upper_hex(value.encode()).decode()))
        elif low in RESPONSE_HEADERS:
            out.append((name, value))
        elif low.startswith('x-amz-meta-'):
            out.append(('x-oss-meta-' + low[len('x-amz-meta-'):], value))
    return out


def is_xml_answer(req, query):
    """Bucket-level and multipart answers are XML; object data is passed through."""
    names = {n for n, _ in query}
    return req.key is None or req.method == 'POST' or bool(names & {'uploads', 'uploadId'})


# ---------------------------------------------------------------- HTTP server

class GatewayHandler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def version_string(self):
        return 'AliyunOSS'

    def do_ANY(self):
        request_id = secrets.token_hex(12).upper()
        cfg, query, listing = self.server.cfg, [], False
        try:
            body, query = self.read_request()
            listing = is_list_objects_v2(self, query)
            verify(cfg, self, query)
            if is_copy_part(self, query):
                reply = copy_part(cfg, self.server.crc64, self, query)
            else:
                reply = self.pass_through(cfg, body, query, listing)
        except OssError as err:
            reply = err
        except (OSError, http.client.HTTPException) as exc:  # backend unreachable or broken
            reply = OssError(500, 'InternalError', f'Backend failed: {exc!r}')
        if listing:  # before the answer, so whoever got it can count it
            status = reply.status if isinstance(reply, OssError) else reply[0]
            continued = any(n == 'continuation-token' and v for n, v in query)
            self.server.event(f'ListObjectsV2 {status} {"continued" if continued else "first"}')
        if isinstance(reply, OssError):
            self.answer_error(reply, request_id)
        else:
            self.answer(*reply, request_id)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_ANY

    def pass_through(self, cfg, body, query, listing):
        """Any request but UploadPartCopy: forwarded, its answer put in OSS's shape."""
        if is_upload(self, query):
            check_content_md5(self, body)
        backend_query = query
        if listing:
            backend_query = list_v2_backend_query(cfg, self.server.tokens, query)
        status, headers, answer = forward(cfg, self, backend_query, body)
        ec = forbids_overwrite(self, query)
        if status == 412 and ec:
            raise OssError(409, 'FileAlreadyExists', 'The object you specified already exists'
                           ' and can not be overwritten.', ec=ec)
        if status >= 400:
            raise backend_error(status, answer, self.key)
        if status < 300 and is_xml_answer(self, query):
            answer = to_oss_xml(answer)
            if listing:
                answer = list_v2_answer(self.server.tokens, query, answer)
            if is_list_parts(self, query):
                answer = list_parts_answer(self.server.crc64, dict(query)['uploadId'], answer)
        crc = (crc64_of_answer(cfg, self.server.crc64, self, query, body, headers, answer)
               if 200 <= status < 300 else None)
        return (status, oss_headers(headers) + ([(CRC64_HEADER, str(crc))] if crc is not None
                                               else []), answer)

    def read_request(self):
        """Read the body, split bucket/key, and parse the query; sets self.bucket/key."""
        if 'Transfer-Encoding' in self.headers:
            self.close_connection = True
            raise OssError(411, 'MissingContentLength', 'Chunked request bodies are unsupported.')
        length = self.headers.get('Content-Length') or '0'
        if not length.isdigit():
            self.close_connection = True
            raise OssError(400, 'InvalidArgument', f'Bad Content-Length {length!r}.')
        body = self.rfile.read(int(length))
        target, self.method = urlsplit(self.path), self.command
        try:
            self.bucket, self.key = split_target(self.headers.get('Host', ''), target.path)
        except UnicodeDecodeError:
            self.bucket, self.key = None, None
            raise OssError(400, 'InvalidObjectName', 'The key is not valid UTF-8.') from None
        return body, parse_query(target.query)

    def answer_error(self, err, request_id):
        """OSS error XML; HEAD answers carry it base64-encoded in `x-oss-err` instead."""
        body = error_xml(err, request_id, split_host(self.headers.get('Host', '')))
        headers = [('Content-Type', 'application/xml'), ('x-oss-ec', err.ec)]
        if self.command == 'HEAD':
            headers.append(('x-oss-err', base64.b64encode(body).decode()))
        self.answer(err.status, headers, body, request_id)

    def answer(self, status, headers, body, request_id):
        """Send status, headers, body; Content-Length exact (HEAD: the GET's, no body)."""
        self.send_response(status)
        self.send_header('x-oss-request-id', request_id)
        for name, value in headers:
            if name.lower() not in ('content-length', 'transfer-encoding', 'connection'):
                self.send_header(name, value)
        if self.command == 'HEAD':
            length = dict((k.lower(), v) for k, v in headers).get('content-length', '0')
            self.send_header('Content-Length', length if status < 300 else '0')
            self.end_headers()
            return
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        if self.server.cfg.verbose:
            super().log_message(fmt, *args)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--listen', default='127.0.0.1:0', help='HOST:PORT (port 0: any free)')
    parser.add_argument('--backend', required=True, help='S3 test store, e.g. http://127.0.0.1:5000')
    parser.add_argument('--access-key-id', required=True)
    parser.add_argument('--access-key-secret', required=True)
    parser.add_argument('--security-token', default=None)
    parser.add_argument('--region', default='cn-shanghai', help='e.g. cn-shanghai (no oss- prefix)')
    parser.add_argument('--page-size', type=int, default=OSS_DEFAULT_MAX_KEYS,
                        help='ListObjectsV2 page size when a request gives no max-keys '
                             f'(OSS: {OSS_DEFAULT_MAX_KEYS})')
    parser.add_argument('--max-page', type=int, default=0,
                        help='at most this many keys a page whatever max-keys asks (a test knob: '
                             'stores may answer fewer keys than asked)')
    parser.add_argument('--verbose', action='store_true', help='log every request to stderr')
    cfg = parser.parse_args(argv)
    if not 1 <= cfg.page_size <= OSS_MAX_KEYS:
        parser.error(f'--page-size must be 1..{OSS_MAX_KEYS}')
    backend = urlsplit(cfg.backend)
    cfg.backend_host, cfg.backend_port = backend.hostname, backend.port or 80
    return cfg


def main(argv=None):
    cfg = parse_args(argv)
    host, _, port = cfg.listen.rpartition(':')
    server = ThreadingHTTPServer((host.strip('[]') or '127.0.0.1', int(port)), GatewayHandler)
    server.cfg, server.tokens, server.crc64 = cfg, ContinuationTokens(), Crc64Table()
    stdout_lock = threading.Lock()

    def event(line):
        """One line on stdout per listing request, for tests to count."""
        with stdout_lock:
            try:
                print(line, flush=True)
            except OSError:  # nobody reads stdout any more
                pass

    server.event = event
    print(f'ready {server.server_address[1]}', flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()


if __name__ == '__main__':
    sys.exit(main())
