"""
test_http.py - the HTTP source with real Firehose clients: the AWS CLI and
boto3 against http_listen; error types and statuses; partial failure under
backpressure and the client's retry of the failed records; the NDJSON
endpoint. Every record is read back from the objects exactly once.
"""
import base64
import gzip
import json
import os
import socket
import subprocess
import threading
import unittest
import urllib.error
import urllib.request

import boto3
from botocore.config import Config

from harness import BIN, SluiceTestCase, make_records, scaled, wait_for

CREDS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "not-checked",
         "AWS_DEFAULT_REGION": "us-east-1"}


def client(d):
    return boto3.client("firehose", endpoint_url="http://127.0.0.1:%d" % d.http_port,
                        region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
                        aws_secret_access_key="not-checked",
                        config=Config(retries={"max_attempts": 1}))


def post(d, path, body, headers=None):
    """Raw POST; returns (status, headers, body bytes)."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (d.http_port, path), data=body,
                                 headers=headers or {}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=scaled(10)) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def fh(d, op, payload, ctype="application/x-amz-json-1.1"):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    status, headers, out = post(d, "/", body, {"Content-Type": ctype,
                                               "X-Amz-Target": "Firehose_20150804." + op})
    return status, json.loads(out or b"{}")


class HttpApiTest(SluiceTestCase):

    def test_aws_cli_and_boto3_records_arrive_once(self):
        d = self.sluice({"web": {"buffer_interval": "200ms"}, "other": {}},
                        process={"region": "eu-west-3"})
        env = dict(os.environ, **CREDS)
        url = "http://127.0.0.1:%d" % d.http_port
        out = subprocess.run(["aws", "--endpoint-url", url, "firehose", "put-record",
                              "--delivery-stream-name", "web", "--record",
                              "Data=from-cli"],         # CLI v1 sends blob text as is
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=scaled(60))
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        self.assertTrue(json.loads(out.stdout)["RecordId"])
        out = subprocess.run(["aws", "--endpoint-url", url, "firehose",
                              "list-delivery-streams"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=scaled(60))
        self.assertEqual(json.loads(out.stdout)["DeliveryStreamNames"], ["other", "web"])
        c = client(d)
        recs = make_records(1500, tag=b"b3-")
        for i in range(0, 1500, 500):
            r = c.put_record_batch(DeliveryStreamName="web",
                                   Records=[{"Data": x} for x in recs[i:i + 500]])
            self.assertEqual(r["FailedPutCount"], 0)
            self.assertEqual(len(r["RequestResponses"]), 500)
            self.assertTrue(all("RecordId" in e for e in r["RequestResponses"]))
        c.put_record(DeliveryStreamName="web", Record={"Data": b"single"})
        desc = c.describe_delivery_stream(DeliveryStreamName="web")["DeliveryStreamDescription"]
        self.assertEqual(desc["DeliveryStreamName"], "web")
        self.assertEqual(desc["DeliveryStreamStatus"], "ACTIVE")
        self.assertEqual(desc["VersionId"], "1")
        self.assertEqual(desc["DeliveryStreamARN"],
                         "arn:aws:firehose:eu-west-3:000000000000:deliverystream/web")
        self.assertIn("ExtendedS3DestinationDescription", desc["Destinations"][0])
        page = c.list_delivery_streams(Limit=1)
        self.assertEqual(page["DeliveryStreamNames"], ["other"])
        self.assertTrue(page["HasMoreDeliveryStreams"])
        page = c.list_delivery_streams(ExclusiveStartDeliveryStreamName="other")
        self.assertEqual(page["DeliveryStreamNames"], ["web"])
        d.wait_records("web", delivered=1502, sink="file", at_least=True)
        m = d.metrics()
        self.assertEqual(m.get("sluice_records_received_total", stream="web", source="http"), 1502)
        self.assertEqual(m.get("sluice_http_requests_total", operation="PutRecordBatch",
                               status="200"), 3)
        self.assertEqual(m.get("sluice_http_requests_total", operation="PutRecord",
                               status="200"), 2)
        self.assertEqual(m.get("sluice_http_request_duration_seconds_count",
                               operation="PutRecordBatch"), 3)
        self.assertGreaterEqual(m.get("sluice_http_connections"), 0)
        d.stop()
        self.assertSameRecords(d.read_records("web"), [b"from-cli"] + recs + [b"single"])

    def test_errors_have_firehose_types_and_statuses(self):
        d = self.sluice({"e": {}})
        ok = {"DeliveryStreamName": "e", "Record": {"Data": "YQ=="}}
        cases = [
            ("PutRecord", {"DeliveryStreamName": "nope", "Record": {"Data": "YQ=="}},
             400, "ResourceNotFoundException", "nope"),
            ("PutRecord", b"{not json", 400, "SerializationException", "JSON"),
            ("PutRecord", {"DeliveryStreamName": "e", "Record": {"Data": "!!"}},
             400, "SerializationException", "base64"),
            ("PutRecord", {"Record": {"Data": "YQ=="}}, 400, "ValidationException",
             "deliveryStreamName"),
            ("PutRecordBatch", {"DeliveryStreamName": "e",
                                "Records": [{"Data": "YQ=="}] * 501},
             400, "ValidationException", "500"),
            ("PutRecord", {"DeliveryStreamName": "e", "Record": {
                "Data": base64.b64encode(b"x" * 1024001).decode()}},
             400, "ValidationException", "1024000"),
            ("PutRecordBatch", {"DeliveryStreamName": "e", "Records": [
                {"Data": base64.b64encode(b"x" * 1000000).decode()}] * 5},
             400, "InvalidArgumentException", "limit"),
            ("Frobnicate", ok, 400, "UnknownOperationException", "Frobnicate"),
            ("CreateDeliveryStream", ok, 400, "InvalidArgumentException", "config"),
        ]
        for op, payload, status, typ, word in cases:
            st, body = fh(d, op, payload)
            self.assertEqual((st, body.get("__type")), (status, typ), (op, body))
            self.assertIn(word, body["message"])
        st, body = fh(d, "PutRecord", ok, ctype="application/json")
        self.assertEqual((st, body["__type"]), (400, "SerializationException"))
        # nothing from the rejected requests entered; each was counted
        m = d.metrics()
        self.assertEqual(m.get("sluice_records_received_total", stream="e", source="http"), 0)
        # unknown op, unsupported op, wrong content type
        self.assertEqual(m.get("sluice_http_requests_total", operation="other",
                               status="400"), 3)
        # a body over http_max_body (8MiB) is refused before it is read
        s = socket.create_connection(("127.0.0.1", d.http_port), timeout=scaled(10))
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
                  b"Content-Length: 9437184\r\n\r\n")
        self.assertTrue(s.recv(64).startswith(b"HTTP/1.1 413"))
        s.close()
        # headers over http_max_header (32KiB) are refused, not buffered
        s = socket.create_connection(("127.0.0.1", d.http_port), timeout=scaled(10))
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"h" * 65536 + b"\r\n\r\n")
        status = s.recv(64)
        s.close()
        self.assertRegex(status, rb"^HTTP/1.1 4(13|31)")
        self.assertTrue(d.healthy())
        d.stop()

    def test_partial_failure_under_backpressure_then_retry_completes(self):
        d = self.sluice({"bp": {"max_buffered": "64KiB", "buffer_size": "16KiB",
                                "buffer_interval": "100ms", "retry_duration": "600s",
                                "max_record_size": "1KiB"}}, start=False)
        blocker = d.block("bp", "out", "sub")
        d.start(wait="listening")
        c = client(d)
        recs = [b"pf-%05d-" % i + b"x" * 300 for i in range(400)]   # ~125 KB > 64 KiB
        r = c.put_record_batch(DeliveryStreamName="bp", Records=[{"Data": x} for x in recs])
        failed = [recs[i] for i, e in enumerate(r["RequestResponses"]) if "ErrorCode" in e]
        self.assertGreater(r["FailedPutCount"], 0)
        self.assertEqual(r["FailedPutCount"], len(failed))
        self.assertTrue(all(e.get("ErrorCode") == "ServiceUnavailableException"
                            for e in r["RequestResponses"] if "ErrorCode" in e))
        # the accepted ones are a prefix, in request order
        self.assertEqual(failed, recs[len(recs) - len(failed):])
        # what is left of max_buffered is less than one of these records
        with self.assertRaises(Exception) as cm:                # PutRecord: 503
            c.put_record(DeliveryStreamName="bp", Record={"Data": b"z" * 1000})
        self.assertIn("ServiceUnavailableException", str(cm.exception))
        st, hdrs, _ = post(d, "/v1/streams/bp/records", (b"n" * 500 + b"\n") * 2)
        self.assertEqual(st, 503)
        self.assertEqual(hdrs.get("Retry-After"), "1")
        self.assertGreater(d.metrics().get("sluice_records_rejected_total", stream="bp",
                                           source="http", reason="throttled"), 0)
        os.unlink(blocker)                                     # the sink recovers
        def retry_failed():
            nonlocal failed
            if failed:
                r = c.put_record_batch(DeliveryStreamName="bp",
                                       Records=[{"Data": x} for x in failed])
                failed = [failed[i] for i, e in enumerate(r["RequestResponses"])
                          if "ErrorCode" in e]
            return not failed
        wait_for(retry_failed, 30, interval=0.2, msg="the client's retries accepted")
        d.wait_records("bp", delivered=len(recs), sink="file", at_least=True)
        d.stop()
        self.assertSameRecords(d.read_records("bp"), recs)

    def test_ndjson_endpoint(self):
        d = self.sluice({"nd": {"buffer_interval": "100ms", "max_record_size": "16B"}})
        st, _, body = post(d, "/v1/streams/nd/records", b"one\r\ntwo\n\nthree")
        self.assertEqual((st, json.loads(body)["accepted"]), (200, 3))
        st, _, body = post(d, "/v1/streams/nd/records", b"ok\n" + b"y" * 17 + b"\n")
        self.assertEqual(st, 413, body)
        st, _, _ = post(d, "/v1/streams/missing/records", b"a\n")
        self.assertEqual(st, 404)
        st, _, body = post(d, "/v1/streams/nd/records", b"\n\r\n")
        self.assertEqual((st, json.loads(body)["accepted"]), (200, 0))
        st, _, _ = post(d, "/v1/streams/nd/records", b"a\n", {"Content-Encoding": "br"})
        self.assertEqual(st, 415)
        # compressed bodies
        st, _, body = post(d, "/v1/streams/nd/records", gzip.compress(b"gz-1\ngz-2\n"),
                           {"Content-Encoding": "gzip"})
        self.assertEqual((st, json.loads(body)["accepted"]), (200, 2))
        zst = subprocess.run(["zstd", "-q", "-c"], input=b"zs-1\nzs-2\nzs-3",
                             stdout=subprocess.PIPE, check=True).stdout
        st, _, body = post(d, "/v1/streams/nd/records", zst, {"Content-Encoding": "zstd"})
        self.assertEqual((st, json.loads(body)["accepted"]), (200, 3))
        st, _, _ = post(d, "/v1/streams/nd/records", b"not gzip at all",
                        {"Content-Encoding": "gzip"})
        self.assertEqual(st, 400)
        st, _, _ = post(d, "/v1/streams/nd/records", gzip.compress(b"cut-1\n")[:-6],
                        {"Content-Encoding": "gzip"})
        self.assertEqual(st, 400)
        # a decompression bomb: 200 MB of newlines in ~200 KB stops at the limit
        bomb = gzip.compress(b"\n" * (200 << 20), compresslevel=9)
        self.assertLess(len(bomb), 1 << 20)
        st, _, body = post(d, "/v1/streams/nd/records", bomb, {"Content-Encoding": "gzip"})
        self.assertEqual(st, 413, body)
        self.assertTrue(d.healthy())
        d.wait_records("nd", delivered=8, sink="file", at_least=True)
        d.stop()
        self.assertSameRecords(d.read_records("nd"), [b"one", b"two", b"three", b"gz-1",
                                                      b"gz-2", b"zs-1", b"zs-2", b"zs-3"])

    def test_concurrent_keepalive_clients(self):
        # 200 keep-alive connections open at once, each sending two batches
        # over the same connection (raw HTTP: 200 boto3 clients would cost
        # the test more than the daemon).
        import http.client
        d = self.sluice({"cc": {"buffer_interval": "200ms"}},     # all from one address:
                        process={"http_threads": "4", "http_max_connections_per_ip": "0"})
        errors, conns = [], []
        barrier = threading.Barrier(201)

        def worker(k):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=scaled(30))
                conn.connect()
                conns.append(conn)
                barrier.wait(scaled(30))          # all 200 open before any sends
                for j in range(2):
                    body = json.dumps({"DeliveryStreamName": "cc", "Records": [
                        {"Data": base64.b64encode(b"cc-%d-%d-%d" % (k, j, i)).decode()}
                        for i in range(20)]})
                    conn.request("POST", "/", body, {
                        "Content-Type": "application/x-amz-json-1.1",
                        "X-Amz-Target": "Firehose_20150804.PutRecordBatch"})
                    r = conn.getresponse()
                    out = json.loads(r.read())
                    if r.status != 200 or out["FailedPutCount"]:
                        errors.append(out)
            except Exception as e:                 # reported below
                errors.append(repr(e))
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(200)]
        [t.start() for t in threads]
        barrier.wait(scaled(30))
        wait_for(lambda: d.metrics().get("sluice_http_connections") == 200, 10,
                 msg="200 HTTP connections open at once")
        [t.join(scaled(60)) for t in threads]
        self.assertEqual(errors, [])
        for conn in conns:
            conn.close()
        d.wait_records("cc", delivered=200 * 2 * 20, sink="file", at_least=True)
        d.stop()
        self.assertEqual(len(set(d.read_records("cc"))), 8000)

    def test_header_trickling_client_is_cut_but_busy_keepalive_is_not(self):
        # http_timeout only measures silence; a client sending its header a
        # byte every 200 ms is never silent, yet is cut at http_header_timeout.
        import http.client
        d = self.sluice({"sl": {}}, process={"http_header_timeout": "2s",
                                             "http_timeout": "60s"})
        slow = socket.create_connection(("127.0.0.1", d.http_port), timeout=scaled(30))
        slow.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        stop = threading.Event()

        def trickle():
            while not stop.wait(0.2):
                try:
                    slow.send(b"a")
                except OSError:
                    return
        t = threading.Thread(target=trickle)
        t.start()
        # Meanwhile a keep-alive client busy for longer than the timeout
        # keeps its connection: each response starts its clock anew.
        conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=scaled(10))
        sent = 0
        for _ in range(12):
            conn.request("POST", "/v1/streams/sl/records", b"ka-%d\n" % sent)
            r = conn.getresponse()
            self.assertEqual((r.status, json.loads(r.read())), (200, {"accepted": 1}))
            sent += 1
            stop.wait(0.3)
        try:
            cut = slow.recv(1024) == b""
        except ConnectionResetError:
            cut = True
        stop.set()
        t.join()
        slow.close()
        self.assertTrue(cut, "the trickling connection was answered instead of cut")
        m = d.metrics()
        self.assertEqual(m.get("sluice_http_header_timeouts_total"), 1)
        conn.close()
        d.stop()
        self.assertEqual(len(d.read_records("sl")), 12)


class HttpAuthTest(SluiceTestCase):

    def test_sigv4_accepts_the_right_secret_and_refuses_others(self):
        d = self.sluice({"sa": {"buffer_interval": "100ms"}}, start=False)
        keys = os.path.join(d.dir, "keys")
        with open(keys, "w") as f:
            f.write("# access key id, secret\nAKIDGOOD the-real-secret\n")
        d.process.update({"http_auth": "sigv4", "http_auth_file": keys})
        d.start()

        def cl(akid, secret):
            return boto3.client("firehose", endpoint_url="http://127.0.0.1:%d" % d.http_port,
                                region_name="eu-west-1", aws_access_key_id=akid,
                                aws_secret_access_key=secret,
                                config=Config(retries={"max_attempts": 1}))
        r = cl("AKIDGOOD", "the-real-secret").put_record_batch(
            DeliveryStreamName="sa", Records=[{"Data": b"signed-%d" % i} for i in range(10)])
        self.assertEqual(r["FailedPutCount"], 0)
        for akid, secret, code in (("AKIDGOOD", "wrong", "InvalidSignatureException"),
                                   ("AKIDNOPE", "x", "UnrecognizedClientException")):
            with self.assertRaises(Exception) as cm:
                cl(akid, secret).put_record(DeliveryStreamName="sa", Record={"Data": b"no"})
            self.assertIn(code, str(cm.exception))
        st, _, body = post(d, "/", b"{}", {"Content-Type": "application/x-amz-json-1.1",
                                           "X-Amz-Target": "Firehose_20150804.PutRecord"})
        self.assertEqual(json.loads(body)["__type"], "MissingAuthenticationTokenException")
        st, _, _ = post(d, "/v1/streams/sa/records", b"unsigned\n")
        self.assertNotEqual(st, 200)
        self.assertNotIn(b"the-real-secret", open(d.log_path, "rb").read())
        d.wait_records("sa", delivered=10, sink="file", at_least=True)
        d.stop()
        self.assertSameRecords(d.read_records("sa"), [b"signed-%d" % i for i in range(10)])

    def test_token_guards_the_ndjson_endpoint(self):
        d = self.sluice({"tk": {"buffer_interval": "100ms"}}, start=False)
        d.use_token()
        d.start()
        st, _, _ = post(d, "/v1/streams/tk/records", b"a\n")
        self.assertEqual(st, 401)
        st, _, _ = post(d, "/v1/streams/tk/records", b"a\n",
                        {"Authorization": "Bearer 0123456789abcdef0124"})
        self.assertEqual(st, 401)
        st, _, body = post(d, "/v1/streams/tk/records", b"a\nb\n",
                           {"Authorization": "Bearer 0123456789abcdef0123"})
        self.assertEqual((st, json.loads(body)["accepted"]), (200, 2))
        st, body = fh(d, "PutRecord", {"DeliveryStreamName": "tk", "Record": {"Data": "YQ=="}})
        self.assertEqual((st, body["__type"]), (403, "AccessDeniedException"))
        d.wait_records("tk", delivered=2, sink="file", at_least=True)
        d.stop()

    def test_auth_file_problems_are_config_errors(self):
        d = self.sluice({"x": {}}, start=False)
        d.process.update({"http_auth": "sigv4", "http_auth_file": os.path.join(d.dir, "none")})
        d.write_config()
        p = subprocess.run([BIN, "--check", "-c", d.conf_path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=scaled(30))
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"http_auth_file", p.stderr)
        bad = os.path.join(d.dir, "bad")
        with open(bad, "w") as f:
            f.write("only-one-word\n")
        d.process["http_auth_file"] = bad
        d.write_config()
        p = subprocess.run([BIN, "--check", "-c", d.conf_path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=scaled(30))
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"bad:1: expected ACCESS_KEY_ID SECRET", p.stderr)


def make_cert(directory, name):
    """A self-signed certificate for 127.0.0.1, made with the openssl CLI."""
    crt, key = os.path.join(directory, name + ".crt"), os.path.join(directory, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", crt], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=scaled(60))
    return crt, key


class HttpTlsTest(SluiceTestCase):

    def test_boto3_over_https_with_the_tests_certificate(self):
        d = self.sluice({"tls": {"buffer_interval": "100ms"}}, start=False)
        crt, key = make_cert(d.dir, "a")
        d.process.update({"http_tls_cert": crt, "http_tls_key": key})
        d.start()
        c = boto3.client("firehose", endpoint_url="https://127.0.0.1:%d" % d.http_port,
                         region_name="us-east-1", aws_access_key_id="x",
                         aws_secret_access_key="x", verify=crt,
                         config=Config(retries={"max_attempts": 1}))
        r = c.put_record_batch(DeliveryStreamName="tls",
                               Records=[{"Data": b"tls-%d" % i} for i in range(50)])
        self.assertEqual(r["FailedPutCount"], 0)
        with self.assertRaises(Exception):      # plain HTTP on the TLS port
            post(d, "/v1/streams/tls/records", b"plain\n")
        d.wait_records("tls", delivered=50, sink="file", at_least=True)
        d.stop()
        self.assertSameRecords(d.read_records("tls"), [b"tls-%d" % i for i in range(50)])

    def test_bad_certificate_or_key_is_a_config_error(self):
        d = self.sluice({"x": {}}, start=False)
        crt, key = make_cert(d.dir, "a")
        _, other_key = make_cert(d.dir, "b")
        junk = os.path.join(d.dir, "junk.pem")
        with open(junk, "w") as f:
            f.write("not a certificate\n")
        for tls, word in (({"http_tls_cert": crt}, b"go together"),
                          ({"http_tls_cert": junk, "http_tls_key": key}, b"not a PEM certificate"),
                          ({"http_tls_cert": crt, "http_tls_key": junk}, b"not a PEM private key"),
                          ({"http_tls_cert": crt, "http_tls_key": other_key}, b"does not match")):
            d.process.pop("http_tls_cert", None)
            d.process.pop("http_tls_key", None)
            d.process.update(tls)
            d.write_config()
            p = subprocess.run([BIN, "--check", "-c", d.conf_path], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=scaled(30))
            self.assertEqual(p.returncode, 1, tls)
            self.assertIn(word, p.stderr)


if __name__ == "__main__":
    unittest.main()
