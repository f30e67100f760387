"""
lambda_server.py - a stand-in for a Firehose data-transformation function,
behind the URL the AWS Lambda runtime interface emulator serves
(http://127.0.0.1:PORT/2015-03-31/functions/function/invocations).
Standard library only.

    srv = LambdaServer(by_marker(upper=True))   # or any handler
    ... srv.url ... srv.events() ... srv.invocations() ...
    srv.stop()

A handler takes the parsed event (a dict; None if the body was not JSON)
and returns (status, headers, body): body is bytes, str, or anything
json.dumps takes. Every request is recorded (LambdaServer.requests) before
the handler runs, so a test can count attempts even when the answer is
slow or broken.

The helpers below make handlers for the behaviours the tests need. Record
data is matched by markers (byte strings) it contains:
  echo(upper)                    Ok, the data unchanged or upper-cased
  by_marker(drop, fail, upper)   Dropped / ProcessingFailed / Ok
  per_record(fn)                 fn(record, data) -> list of answer entries
  partition_from_json(*fields)   Ok + metadata.partitionKeys from the JSON data
  ids(omit, dup, unknown)        a recordId left out, sent twice, or made up
  bad_result(marker, value)      "result": value instead of Ok
  bad_base64(marker)             "data" that is not base64, or no data at all
  not_json(body)                 a 200 whose body is not JSON
  status_then(n, status, then)   the first n invocations get <status>
  slow(seconds, then)            answers after <seconds>
  function_error(kind)           200 + X-Amz-Function-Error, Lambda's error body
  big_answer(nbytes)             a valid-looking answer of nbytes
Run it alone to try sluice by hand: python3 lambda_server.py [PORT] [--upper]
"""
import base64
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH = "/2015-03-31/functions/function/invocations"


def b64(data):
    return base64.b64encode(data).decode("ascii")


def unb64(s):
    return base64.b64decode(s.encode("ascii"), validate=True)


def answer(records):
    """A 200 with {"records": records}."""
    return 200, {}, {"records": records}


def ok(rec, data, keys=None):
    e = {"recordId": rec["recordId"], "result": "Ok", "data": b64(data)}
    if keys is not None:
        e["metadata"] = {"partitionKeys": keys}
    return e


def dropped(rec):
    return {"recordId": rec["recordId"], "result": "Dropped"}


def failed(rec):
    return {"recordId": rec["recordId"], "result": "ProcessingFailed",
            "data": rec["data"]}


# -- handlers -------------------------------------------------------------------

def per_record(fn):
    """fn(record, data) -> a list of answer entries (0, 1 or more) for that
    record; the answer is their concatenation."""
    def handler(event):
        out = []
        for rec in event["records"]:
            out.extend(fn(rec, unb64(rec["data"])))
        return answer(out)
    return handler


def echo(upper=False):
    return per_record(lambda rec, data: [ok(rec, data.upper() if upper else data)])


def by_marker(drop=b"DROP", fail=b"FAIL", upper=False):
    def fn(rec, data):
        if drop and drop in data:
            return [dropped(rec)]
        if fail and fail in data:
            return [failed(rec)]
        return [ok(rec, data.upper() if upper else data)]
    return per_record(fn)


def partition_from_json(*fields, upper=False):
    """Ok, with partitionKeys {field: value} taken from the record's JSON data
    (values passed as they are: a number stays a number)."""
    def fn(rec, data):
        doc = json.loads(data)
        keys = {f: doc[f] for f in fields if f in doc}
        return [ok(rec, data.upper() if upper else data, keys)]
    return per_record(fn)


def ids(omit=b"OMIT", dup=b"DUP", unknown=0, upper=False):
    """Records with <omit> are left out of the answer, those with <dup> are
    answered twice; <unknown> made-up recordIds are added."""
    def handler(event):
        out = []
        for rec in event["records"]:
            data = unb64(rec["data"])
            if omit and omit in data:
                continue
            e = ok(rec, data.upper() if upper else data)
            out.append(e)
            if dup and dup in data:
                out.append(dict(e))
        for i in range(unknown):
            out.append({"recordId": "no-such-record-%d" % i, "result": "Ok", "data": b64(b"x")})
        return answer(out)
    return handler


def bad_result(marker=b"BADRESULT", value="Maybe", then=None):
    then = then or (lambda rec, data: [ok(rec, data)])

    def fn(rec, data):
        if marker in data:
            return [{"recordId": rec["recordId"], "result": value, "data": rec["data"]}]
        return then(rec, data)
    return per_record(fn)


def bad_base64(marker=b"BADB64", nodata=b"NODATA", then=None):
    """Records with <marker> come back Ok with data that is not base64; with
    <nodata>, Ok without data."""
    then = then or (lambda rec, data: [ok(rec, data)])

    def fn(rec, data):
        if marker and marker in data:
            return [{"recordId": rec["recordId"], "result": "Ok", "data": "not base64!"}]
        if nodata and nodata in data:
            return [{"recordId": rec["recordId"], "result": "Ok"}]
        return then(rec, data)
    return per_record(fn)


def not_json(body=b"<html><body>502 Bad Gateway</body></html>", status=200):
    return lambda event: (status, {"Content-Type": "text/html"}, body)


def status_then(n, status=500, then=None, body=b'{"message":"Internal Server Error"}'):
    """The first <n> invocations (of this handler, across threads) get
    <status>; the rest go to <then> (default: echo). handler.failed lists
    the invocationIds that got <status>."""
    then = then or echo()
    lock = threading.Lock()
    seen = [0]

    def handler(event):
        with lock:
            seen[0] += 1
            mine = seen[0]
            if mine <= n:
                handler.failed.append(event["invocationId"] if event else None)
        if mine <= n:
            return status, {"Content-Type": "application/json"}, body
        return then(event)
    handler.failed = []
    return handler


def slow(seconds, then=None):
    then = then or echo()

    def handler(event):
        time.sleep(seconds)          # the behaviour under test, not synchronisation
        return then(event)
    return handler


def function_error(kind="Unhandled", message="something broke in the function"):
    """What the Lambda API answers when the function threw."""
    return lambda event: (200, {"X-Amz-Function-Error": kind},
                          {"errorMessage": message, "errorType": "RuntimeError"})


def big_answer(nbytes):
    """An answer of about <nbytes>: records echoed plus padding."""
    def handler(event):
        out = [ok(rec, unb64(rec["data"])) for rec in event["records"]]
        return 200, {}, {"records": out, "padding": "x" * nbytes}
    return handler


# -- the server -----------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"     # keep-alive: sluice reuses its connections

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        srv = self.server.owner
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        try:
            event = json.loads(raw)
        except ValueError:
            event = None
        srv._record({"path": self.path, "headers": dict(self.headers.items()),
                     "raw": raw, "event": event, "time": time.monotonic()})
        try:
            status, headers, body = srv.handler(event)
        except Exception as e:                          # a broken handler: a 500
            status, headers, body = 500, {}, ("handler raised %r" % e).encode()
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            headers = dict(headers)
            headers.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        try:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass                                        # the client gave up (timeout)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # sluice hanging up (a timeout, max_response_size) is expected here
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class LambdaServer:
    """A ThreadingHTTPServer on 127.0.0.1, a free port, in a daemon thread."""

    def __init__(self, handler=None, port=0):
        self.handler = handler or echo()
        self.requests = []
        self._lock = threading.Lock()
        self.httpd = _Server(("127.0.0.1", port), _Handler)
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d%s" % (self.port, PATH)
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def _record(self, req):
        with self._lock:
            self.requests.append(req)

    def invocations(self):
        """A copy of the requests seen so far."""
        with self._lock:
            return list(self.requests)

    def events(self):
        return [r["event"] for r in self.invocations()]

    def count(self):
        with self._lock:
            return len(self.requests)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def main(argv):
    port = int(argv[0]) if argv and argv[0].isdigit() else 0
    srv = LambdaServer(echo(upper="--upper" in argv), port=port)
    print(srv.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
