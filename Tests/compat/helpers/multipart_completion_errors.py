"""A minimal S3 multipart endpoint whose CompleteMultipartUpload answers 200 with an error in the
body, as S3 may (it starts its answer before the parts are joined). With `transient` the first
completion says InternalError and the next succeeds; with `fatal` every completion says
AccessDenied. GET /calls tells what it was asked, as `name=count` words plus `etags=` with the
ETags the last completion listed and `most=` with the most parts it held at once: each part is
answered only once two are in flight (or after 5 s), so a client that sends parts concurrently
shows `most=2` or more. Usage: python3 multipart_completion_errors.py PORT MODE"""
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MODE = sys.argv[2]
calls = {"create": 0, "part": 0, "complete": 0, "abort": 0}
listed = []
parts = threading.Condition()
in_flight = 0
most_in_flight = 0


class Handler(BaseHTTPRequestHandler):
    def answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query, keep_blank_values=True)

    def do_POST(self) -> None:
        query, body = self.query(), self.body()
        if "uploads" in query:
            calls["create"] += 1
            self.answer(200, b"<InitiateMultipartUploadResult><UploadId>upload-1</UploadId></InitiateMultipartUploadResult>")
        elif "uploadId" in query:
            calls["complete"] += 1
            listed[:] = re.findall(rb"<ETag>([^<]*)</ETag>", body)
            if MODE == "fatal" or calls["complete"] == 1:
                code = b"AccessDenied" if MODE == "fatal" else b"InternalError"
                self.answer(200, b"<Error><Code>" + code + b"</Code><Message>said in a 200</Message></Error>")
            else:
                self.answer(200, b"<CompleteMultipartUploadResult><ETag>\"joined-2\"</ETag></CompleteMultipartUploadResult>")
        else:
            self.answer(400)

    def do_PUT(self) -> None:
        global in_flight, most_in_flight
        query = self.query()
        self.body()
        with parts:
            calls["part"] += 1
            in_flight += 1
            most_in_flight = max(most_in_flight, in_flight)
            parts.notify_all()
            parts.wait_for(lambda: most_in_flight >= 2, timeout=5)
            in_flight -= 1
        self.answer(200, headers={"ETag": f'"part-{query["partNumber"][0]}"'})

    def do_DELETE(self) -> None:
        calls["abort"] += 1
        self.answer(204)

    def do_GET(self) -> None:
        words = [f"{name}={count}" for name, count in calls.items()] + ["etags=" + ",".join(e.decode() for e in listed), f"most={most_in_flight}"]
        self.answer(200, " ".join(words).encode())

    def log_message(self, *args) -> None:
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
