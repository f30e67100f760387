"""
test_auth.py - http_auth with real clients (curl --aws-sigv4, botocore's
signer, boto3): a signed NDJSON request with a query string; each refusal
logged once per interval (peer, key id, operation, reason; never a secret)
and counted by reason; the credential scope's service; UNSIGNED-PAYLOAD;
the auth file's problems as config errors; credentials checked before a
body is read, so that unauthenticated clients cannot make sluice hold
memory.
"""
import datetime
import json
import os
import re
import socket
import stat
import subprocess
import threading
import time
import unittest
import unittest.mock
import urllib.error
import urllib.request

import boto3
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from harness import BIN, SluiceTestCase, scaled, wait_for

AKID, SECRET = "AKIDGOOD", "the-real-secret-0123456789"
REFUSED_RE = re.compile(r'msg="HTTP request refused" peer=(\S+) key="([^"]*)" '
                        r'operation=(\S+) reason=(\S+) status=(\d+) suppressed=(\d+)')


class UnsignedPayloadAuth(SigV4Auth):
    """botocore's signer, signing X-Amz-Content-Sha256: UNSIGNED-PAYLOAD as
    S3 clients may (the body is then not covered by the signature)."""

    def _should_sha256_sign_payload(self, request):
        return False


def http(url, body, headers):
    """POST; returns (status, body bytes)."""
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=scaled(10)) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def signed(d, path, body, akid=AKID, secret=SECRET, service="firehose", headers=None,
           unsigned=False, age_s=0):
    """POST <path> signed by botocore's SigV4 signer (as the AWS CLI and boto3
    sign); <age_s> seconds in the past. Returns (status, body bytes)."""
    url = "http://127.0.0.1:%d%s" % (d.http_port, path)
    req = AWSRequest(method="POST", url=url, data=body, headers=dict(headers or {}))
    if unsigned:
        req.headers["X-Amz-Content-Sha256"] = "UNSIGNED-PAYLOAD"
    signer = (UnsignedPayloadAuth if unsigned else SigV4Auth)(Credentials(akid, secret),
                                                              service, "eu-west-1")
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=age_s)
    with unittest.mock.patch.object(botocore.auth, "get_current_datetime", lambda: when):
        signer.add_auth(req)
    p = req.prepare()
    return http(p.url, p.body, dict(p.headers))


FH_HEADERS = {"Content-Type": "application/x-amz-json-1.1",
              "X-Amz-Target": "Firehose_20150804.PutRecord"}


def put_record(d, data, **kw):
    """A signed PutRecord of <data> to stream "a"; (status, parsed body)."""
    body = json.dumps({"DeliveryStreamName": "a",
                       "Record": {"Data": __import__("base64").b64encode(data).decode()}})
    st, out = signed(d, "/", body.encode(), headers=FH_HEADERS, **kw)
    return st, json.loads(out or b"{}")


def curl_sigv4(d, path, body_file, user="%s:%s" % (AKID, SECRET),
               scope="aws:amz:us-east-1:firehose"):
    """curl --aws-sigv4 (its own SigV4 implementation); (status, body)."""
    p = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", "--aws-sigv4", scope, "--user",
                        user, "--data-binary", "@" + body_file,
                        "http://127.0.0.1:%d%s" % (d.http_port, path)],
                       stdout=subprocess.PIPE, timeout=scaled(30), check=True)
    out, _, code = p.stdout.rpartition(b"\n")
    return int(code), out


def refusals(d, reason=None):
    """The refusal log lines so far, as (peer, key, operation, reason, status,
    suppressed) tuples, of <reason> if given."""
    found = [m.groups() for m in REFUSED_RE.finditer(d.log())]
    return [f for f in found if reason is None or f[3] == reason]


def failures(d, reason):
    return d.metrics().get("sluice_http_auth_failures_total", 0, reason=reason)


def vmrss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class AuthTest(SluiceTestCase):

    def sigv4_daemon(self, process=None):
        d = self.sluice({"a": {"buffer_interval": "100ms"}}, start=False)
        keys = os.path.join(d.dir, "keys")
        with open(keys, "w") as f:
            f.write("# access key id, secret\n%s %s\nAKIDOTHER other-secret-0123\n"
                    % (AKID, SECRET))
        d.process.update({"http_auth": "sigv4", "http_auth_file": keys})
        d.process.update(process or {})
        return d.start()

    def test_sigv4_ndjson_request_with_a_query_string_is_accepted(self):
        d = self.sigv4_daemon()
        body = os.path.join(d.dir, "body")
        with open(body, "wb") as f:
            f.write(b"q1\nq2\n")
        # curl 7.88 signs the query as it is written (unsorted, "a" not "a="),
        # so it is given one in canonical order; botocore sorts any.
        for path in ("/v1/streams/a/records?source=x",
                     "/v1/streams/a/records?a=1&b=x%20y%2Fz&c=&c=%E2%82%AC"):
            self.assertEqual(curl_sigv4(d, path, body), (200, b'{"accepted":2}'), path)
        for query in ("source=x", "z=1&b=2&a=1&a=0&flag&e=%2B&x=a%26b%3Dc"):
            st, out = signed(d, "/v1/streams/a/records?" + query, b"q3\n")
            self.assertEqual((st, out), (200, b'{"accepted":1}'), query)
        st, out = signed(d, "/?Action=x&b=1", json.dumps(
            {"DeliveryStreamName": "a", "Record": {"Data": "cTQ="}}).encode(), headers=FH_HEADERS)
        self.assertEqual(st, 200, out)
        # The query is signed: another one under the same signature is refused.
        url = "/v1/streams/a/records?source=x"
        req = AWSRequest(method="POST", url="http://127.0.0.1:%d%s" % (d.http_port, url),
                         data=b"q5\n")
        SigV4Auth(Credentials(AKID, SECRET), "firehose", "us-east-1").add_auth(req)
        p = req.prepare()
        st, out = http(p.url.replace("source=x", "source=y"), p.body, dict(p.headers))
        self.assertEqual(st, 400)
        self.assertEqual(json.loads(out)["__type"], "InvalidSignatureException")
        d.wait_records("a", delivered=7, sink="file", at_least=True, timeout=20)
        d.stop()
        self.assertSameRecords(d.read_records("a"),
                               [b"q1", b"q2", b"q1", b"q2", b"q3", b"q3", b"q4"])

    def test_each_refusal_is_logged_with_peer_key_and_reason_and_counted(self):
        d = self.sigv4_daemon()
        cases = [  # (how, expected status, __type, reason, key in the log)
            (lambda: put_record(d, b"x", secret="wrong-secret"), 400,
             "InvalidSignatureException", "bad_signature", AKID),
            (lambda: put_record(d, b"x", akid="AKIDNOPE"), 400,
             "UnrecognizedClientException", "unknown_key", "AKIDNOPE"),
            (lambda: put_record(d, b"x", age_s=900), 400,
             "InvalidSignatureException", "stale_date", AKID),
            (lambda: put_record(d, b"x", service="kinesis"), 400,
             "InvalidSignatureException", "wrong_scope", AKID),
            (lambda: (lambda r: (r[0], json.loads(r[1])))(
                http("http://127.0.0.1:%d/" % d.http_port, b"{}", FH_HEADERS)), 403,
             "MissingAuthenticationTokenException", "missing", "no credentials"),
            (lambda: (lambda r: (r[0], json.loads(r[1])))(http(
                "http://127.0.0.1:%d/" % d.http_port, b"{}",
                dict(FH_HEADERS, Authorization="AWS4-HMAC-SHA256 Credential=garbage"))), 400,
             "IncompleteSignatureException", "malformed", "unreadable"),
        ]
        for how, status, typ, reason, key in cases:
            st, out = how()
            self.assertEqual((st, out.get("__type")), (status, typ), reason)
            lines = wait_for(lambda: refusals(d, reason), 5, msg="a %s line" % reason)
            self.assertEqual(len(lines), 1, lines)
            peer, k, op, _, logged_status, suppressed = lines[0]
            self.assertRegex(peer, r"^127\.0\.0\.1:\d+$")
            self.assertEqual((k, op, int(logged_status), suppressed),
                             (key, "PutRecord", status, "0"))
            self.assertEqual(failures(d, reason), 1, reason)
        log = d.log()
        self.assertNotIn(SECRET, log)
        self.assertNotIn("wrong-secret", log)
        self.assertNotIn("Signature=", log)
        m = d.metrics()
        self.assertEqual(m.get("sluice_http_requests_total", operation="PutRecord", status="403"), 1)
        self.assertEqual(m.get("sluice_http_requests_total", operation="PutRecord", status="400"), 5)

        # Repeats within the interval (5 s): counted, not logged; the next
        # line after it says how many were held back.
        for _ in range(5):
            self.assertEqual(put_record(d, b"x", secret="wrong-secret")[0], 400)
        self.assertEqual(failures(d, "bad_signature"), 6)
        self.assertEqual(len(refusals(d, "bad_signature")), 1)

        def next_line():
            put_record(d, b"x", secret="wrong-secret")
            return len(refusals(d, "bad_signature")) == 2
        wait_for(next_line, 15, interval=0.5, msg="a second bad_signature line")
        first, second = refusals(d, "bad_signature")
        self.assertGreaterEqual(int(second[5]), 5)
        self.assertEqual(failures(d, "bad_signature"), 1 + int(second[5]) + 1)
        d.stop()

    def test_token_refusals_are_logged_and_401_is_its_own_status(self):
        d = self.sluice({"a": {}}, start=False)
        d.use_token()
        d.start()
        url = "http://127.0.0.1:%d/v1/streams/a/records" % d.http_port
        self.assertEqual(http(url, b"a\n", {})[0], 401)
        self.assertEqual(http(url, b"a\n", {"Authorization": "Bearer 0123456789abcdef0124"})[0],
                         401)
        self.assertEqual(http("http://127.0.0.1:%d/" % d.http_port, b"{}", FH_HEADERS)[0], 403)
        for reason, key, op, status in (("missing", "no credentials", "ndjson", "401"),
                                        ("bad_token", "bearer token", "ndjson", "401"),
                                        ("sigv4_required", "no credentials", "PutRecord", "403")):
            lines = wait_for(lambda: refusals(d, reason), 5, msg="a %s line" % reason)
            self.assertEqual([l[1:5] for l in lines], [(key, op, reason, status)])
            self.assertEqual(failures(d, reason), 1)
        self.assertNotIn("0123456789abcdef012", d.log())
        m = d.metrics()
        self.assertEqual(m.get("sluice_http_requests_total", operation="ndjson", status="401"), 2)
        self.assertIsNone(m.get("sluice_http_requests_total", operation="ndjson", status="other"))
        d.stop()

    def test_scope_must_name_the_firehose_service_on_both_endpoints(self):
        d = self.sigv4_daemon()
        body = os.path.join(d.dir, "body")
        with open(body, "wb") as f:
            f.write(b"s3-scoped\n")
        st, out = curl_sigv4(d, "/v1/streams/a/records", body, scope="aws:amz:us-east-1:s3")
        self.assertEqual(st, 400)
        self.assertEqual(json.loads(out)["message"],
                         "Credential should be scoped to correct service: 'firehose'.")
        st, out = put_record(d, b"s3-scoped", service="s3")
        self.assertEqual((st, out["__type"]), (400, "InvalidSignatureException"))
        self.assertEqual(failures(d, "wrong_scope"), 2)
        # The region stays free.
        self.assertEqual(curl_sigv4(d, "/v1/streams/a/records", body,
                                    scope="aws:amz:ap-south-2:firehose")[0], 200)
        d.stop()
        self.assertEqual(d.read_records("a"), [b"s3-scoped"])

    def test_unsigned_payload_is_refused_unless_allowed(self):
        d = self.sigv4_daemon()
        st, out = signed(d, "/v1/streams/a/records", b"u1\n", unsigned=True)
        self.assertEqual(st, 400, out)
        self.assertIn(b"UNSIGNED-PAYLOAD", out)
        self.assertEqual(failures(d, "unsigned_payload"), 1)
        self.assertEqual(refusals(d, "unsigned_payload")[0][1], AKID)
        self.assertEqual(signed(d, "/v1/streams/a/records", b"u2\n")[0], 200)
        d.stop()
        d2 = self.sigv4_daemon({"http_auth_unsigned_payload": "true"})
        st, out = signed(d2, "/v1/streams/a/records", b"u3\n", unsigned=True)
        self.assertEqual((st, out), (200, b'{"accepted":1}'))
        d2.stop()
        self.assertEqual(d.read_records("a"), [b"u2"])
        self.assertEqual(d2.read_records("a"), [b"u3"])

    def check_auth_file(self, write, want, mode="sigv4"):
        """--check with http_auth_file made by write(path) exits 1 within the
        deadline, naming http_auth_file and <want>."""
        d = self.sluice({"x": {}}, start=False)
        path = os.path.join(d.dir, "auth")
        path = write(path) or path
        d.process.update({"http_auth": mode, "http_auth_file": path})
        d.write_config()
        p = subprocess.run([BIN, "--check", "-c", d.conf_path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=scaled(10))
        err = p.stderr.decode()
        self.assertEqual(p.returncode, 1, err)
        self.assertIn("[sluice] http_auth_file: ", err)
        self.assertIn(want.replace("PATH", path), err)
        return err

    def test_auth_file_problems_are_refused_with_file_and_line(self):
        def text(content):
            def write(path):
                with open(path, "wb") as f:
                    f.write(content)
            return write
        err = self.check_auth_file(text(b"# keys\nAKIDGOOD secret-with\0-a-nul\n"),
                                   "PATH:2: a NUL byte")
        self.assertNotIn("secret-with", err)
        self.check_auth_file(text(b"AKIDX\0 secret\n"), "PATH:1: a NUL byte")
        self.check_auth_file(text(b"0123456789abcdef\0trailing\n"), "PATH:1: a NUL byte",
                             mode="token")
        self.check_auth_file(text(b"AKIDA one-secret\nAKIDB two\n\nAKIDA other-secret\n"),
                             "PATH:4: access key id AKIDA is listed twice (first on line 1)")
        self.check_auth_file(lambda p: "/dev/zero", "/dev/zero: not a regular file")
        self.check_auth_file(lambda p: "/dev/zero", "/dev/zero: not a regular file",
                             mode="token")

        def fifo(path):
            os.mkfifo(path)
        self.check_auth_file(fifo, "PATH: not a regular file")
        self.check_auth_file(lambda p: os.path.dirname(p), "not a regular file")
        self.check_auth_file(text(b"# padding\n" * 110000), "PATH: larger than 1048576 bytes")

    def test_credentials_are_checked_before_the_body_is_read(self):
        d = self.sigv4_daemon({"http_threads": "4"})
        mb8 = 8 * 1000 * 1000
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        unknown = ("AWS4-HMAC-SHA256 Credential=AKIDNOPE/%s/us-east-1/firehose/aws4_request, "
                   "SignedHeaders=host;x-amz-date, Signature=%s" % (now[:8], "0" * 64))
        heads = []
        for i in range(40):
            h = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n"
                 % ("/" if i % 2 else "/v1/streams/a/records", mb8))
            if i % 4 >= 2:
                h += "X-Amz-Date: %s\r\nAuthorization: %s\r\n" % (now, unknown)
            if i % 2:
                h += "Content-Type: application/x-amz-json-1.1\r\n"
                h += "X-Amz-Target: Firehose_20150804.PutRecordBatch\r\n"
            heads.append(h.encode() + b"\r\n")
        idle = vmrss_kib(d.proc.pid)
        peak = [idle]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], vmrss_kib(d.proc.pid))
                time.sleep(0.01)
        answers = [None] * len(heads)
        go = threading.Barrier(len(heads))

        def client(i):
            s = socket.create_connection(("127.0.0.1", d.http_port), timeout=scaled(10))
            try:
                go.wait()
                s.sendall(heads[i])
                answers[i] = s.recv(4096)       # before a byte of the body is sent
                try:                           # a careless client sends it anyway
                    chunk = b"x" * (1 << 20)
                    for _ in range(mb8 >> 20):
                        s.sendall(chunk)
                except OSError:
                    pass
            except OSError as e:
                answers[i] = repr(e).encode()
            finally:
                s.close()
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        threads = [threading.Thread(target=client, args=(i,), daemon=True)
                   for i in range(len(heads))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(scaled(60))
        stop.set()
        sampler.join()
        for i, a in enumerate(answers):
            want = b"HTTP/1.1 400 " if i % 4 >= 2 else b"HTTP/1.1 403 "
            self.assertTrue(a and a.startswith(want), "client %d: %r" % (i, a))
            self.assertIn(b"UnrecognizedClientException" if i % 4 >= 2 else
                          b"MissingAuthenticationTokenException", a)
        self.assertLess(peak[0] - idle, 64 * 1024,
                        "VmRSS grew from %d to %d KiB" % (idle, peak[0]))
        self.assertEqual(failures(d, "missing"), 20)
        self.assertEqual(failures(d, "unknown_key"), 20)
        self.assertEqual(put_record(d, b"after")[0], 200)
        d.stop()


if __name__ == "__main__":
    unittest.main()
