#!/usr/bin/env python3
"""gcs_xml_shim.py LISTEN_PORT UPSTREAM_PORT -- GCS XML-API adapter in front of fake-gcs-server.

Stdlib only; listens on 127.0.0.1:LISTEN_PORT, talks to fake-gcs-server on 127.0.0.1:UPSTREAM_PORT.

object_store's GCS backend speaks only the XML API. fake-gcs-server (<= 1.55) serves XML
GET/HEAD/list/DELETE but not XML PUT, copy or multipart uploads, and its simple uploads ignore
ifGenerationMatch. This shim turns
  * PUT /BUCKET/OBJECT                         (optionally x-goog-if-generation-match)
  * PUT /BUCKET/OBJECT + x-goog-copy-source    (server-side copy)
  * POST ?uploads / PUT ?uploadId&partNumber / POST ?uploadId / DELETE ?uploadId  (XML multipart)
into JSON-API `uploadType=multipart` uploads, which do honour ifGenerationMatch (412 when it fails).
Everything else is passed through unchanged. Multipart parts are held in memory (test use only).

Run fake-gcs-server with `-public-host 127.0.0.1` (no port) so that requests arriving with
`Host: 127.0.0.1:LISTEN_PORT` still match its XML routes.
"""
import hashlib
import http.client
import json
import re
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

LISTEN, UPSTREAM = int(sys.argv[1]), int(sys.argv[2])
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}
RESERVED = ("/storage/", "/upload/", "/download/", "/_internal", "/batch/")
UPLOADS = {}
UPLOADS_LOCK = threading.Lock()


def upstream(method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.reason, resp.getheaders(), resp.read()
    finally:
        conn.close()


def upload(bucket, obj, data, ctype, generation):
    """JSON-API multipart upload (metadata + media); honours ifGenerationMatch."""
    boundary = "shim" + uuid.uuid4().hex
    meta = json.dumps({"name": obj, "contentType": ctype}).encode()
    body = (
        f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode()
        + meta
        + f"\r\n--{boundary}\r\nContent-Type: {ctype}\r\n\r\n".encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    query = "uploadType=multipart"
    if generation is not None:
        query += f"&ifGenerationMatch={generation}"
    return upstream(
        "POST",
        f"/upload/storage/v1/b/{quote(bucket, safe='')}/o?{query}",
        body,
        {"Content-Type": f"multipart/related; boundary={boundary}", "Content-Length": str(len(body))},
    )


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, headers=(), body=b"", reason=None):
        self.send_response(status, reason)
        for k, v in headers:
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def upload_reply(self, status, reason, headers, data, complete=False, bucket="", obj=""):
        if status >= 300:
            return self.reply(status, headers, data, reason)
        meta = json.loads(data or b"{}")
        etag = '"%s"' % meta.get("md5Hash", meta.get("etag", ""))
        out = [("ETag", etag), ("x-goog-generation", str(meta.get("generation", "")))]
        if complete:
            xml = (
                f"<CompleteMultipartUploadResult><Bucket>{bucket}</Bucket><Key>{obj}</Key>"
                f"<ETag>{etag}</ETag></CompleteMultipartUploadResult>"
            )
            return self.reply(200, out + [("Content-Type", "application/xml")], xml.encode())
        return self.reply(200, out)

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def handle_any(self):
        url = urlsplit(self.path)
        q = parse_qs(url.query, keep_blank_values=True)
        body = self.read_body()
        segs = url.path.lstrip("/").split("/", 1)
        if len(segs) == 2 and segs[1] and not url.path.startswith(RESERVED):
            bucket, obj = unquote(segs[0]), unquote(segs[1])
            gen = self.headers.get("x-goog-if-generation-match")
            ctype = self.headers.get("Content-Type") or "application/octet-stream"
            if self.command == "PUT" and "uploadId" in q:
                with UPLOADS_LOCK:
                    up = UPLOADS.get(q["uploadId"][0])
                    if up is not None:
                        up["parts"][int(q["partNumber"][0])] = body
                if up is None:
                    return self.reply(404, body=b"NoSuchUpload")
                return self.reply(200, [("ETag", '"%s"' % hashlib.md5(body).hexdigest())])
            if self.command == "PUT" and self.headers.get("x-goog-copy-source"):
                src_bucket, src_obj = unquote(self.headers["x-goog-copy-source"]).lstrip("/").split("/", 1)
                status, reason, headers, data = upstream(
                    "GET", f"/storage/v1/b/{quote(src_bucket, safe='')}/o/{quote(src_obj, safe='')}?alt=media"
                )
                if status != 200:
                    return self.reply(status, headers, data, reason)
                return self.upload_reply(*upload(bucket, obj, data, "application/octet-stream", gen))
            if self.command == "PUT" and "uploadType" not in q:
                return self.upload_reply(*upload(bucket, obj, body, ctype, gen))
            if self.command == "POST" and "uploads" in q:
                uid = uuid.uuid4().hex
                with UPLOADS_LOCK:
                    UPLOADS[uid] = {"parts": {}, "ct": ctype}
                xml = (
                    f"<InitiateMultipartUploadResult><Bucket>{bucket}</Bucket><Key>{obj}</Key>"
                    f"<UploadId>{uid}</UploadId></InitiateMultipartUploadResult>"
                )
                return self.reply(200, [("Content-Type", "application/xml")], xml.encode())
            if self.command == "POST" and "uploadId" in q:
                with UPLOADS_LOCK:
                    up = UPLOADS.pop(q["uploadId"][0], None)
                if up is None:
                    return self.reply(404, body=b"NoSuchUpload")
                numbers = re.findall(rb"<PartNumber>(\d+)</PartNumber>", body)
                try:
                    data = b"".join(up["parts"][int(i)] for i in numbers)
                except KeyError:
                    return self.reply(400, body=b"InvalidPart")
                return self.upload_reply(
                    *upload(bucket, obj, data, up["ct"], gen), complete=True, bucket=bucket, obj=obj
                )
            if self.command == "DELETE" and "uploadId" in q:
                with UPLOADS_LOCK:
                    UPLOADS.pop(q["uploadId"][0], None)
                return self.reply(204)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        if body:
            headers["Content-Length"] = str(len(body))
        status, reason, resp_headers, data = upstream(self.command, self.path, body or None, headers)
        if self.command == "HEAD":  # keep upstream Content-Length for HEAD
            self.send_response(status, reason)
            for k, v in resp_headers:
                if k.lower() not in HOP or k.lower() == "content-length":
                    self.send_header(k, v)
            return self.end_headers()
        self.reply(status, resp_headers, data, reason)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = handle_any

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", LISTEN), Handler)
    server.daemon_threads = True
    print(f"gcs_xml_shim: 127.0.0.1:{LISTEN} -> fake-gcs-server 127.0.0.1:{UPSTREAM}", flush=True)
    server.serve_forever()
