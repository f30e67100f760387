"""
test_fuzz_findings.py - what trying sluice as users and attackers do found
(issue 13), each seen from the outside: a key template that cannot fit is
refused by --check with FILE:LINE, a crafted envelope file is replayed with
no undefined behaviour and each skipped envelope named, non-canonical
base64 is refused by the Firehose API. The sanitizer builds (make asan) are
where the second one bites: there a report in stderr fails the test.
"""
import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import urllib.error
import urllib.request

from harness import BIN, SANITIZER_RE, SluiceTestCase, scaled

LONG_YEAR = "s/!{timestamp:" + "y" * 40 + "}/"
FITS = "s/!{timestamp:" + "y" * 19 + "}/!{firehose:random-string}/"

CONF = """\
[sluice]
metrics_listen = 127.0.0.1:19440
data_dir = {dir}/data

[stream x]
tcp_listen = 127.0.0.1:19441
prefix = {prefix}
error_prefix = e/!{{firehose:error-output-type}}/!{{timestamp:yyyy}}/
file.path = {dir}/out
"""


class FuzzFindingsTest(SluiceTestCase):

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="sluice-it-findings-", dir="/tmp")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        super().tearDown()

    def run_bin(self, args, stdin=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        return subprocess.run([BIN] + args, input=stdin, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env, timeout=scaled(30))

    def check(self, prefix):
        path = os.path.join(self.dir, "sluice.conf")
        with open(path, "w") as f:
            f.write(CONF.format(dir=self.dir, prefix=prefix))
        p = self.run_bin(["--check", "-c", path])
        return path, p.returncode, p.stdout.decode() + p.stderr.decode()

    def test_check_refuses_a_template_that_cannot_fit(self):
        # Item 8: 40 y's passed --check, then overflowed a stack buffer at
        # delivery. Java's formatter (so Firehose) takes at most 19.
        path, rc, out = self.check(LONG_YEAR)
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"(?m)^%s:7: \[stream x\] prefix: .*a year is at most 19 "
                         r"letters$" % re.escape(path))
        self.assertIsNone(SANITIZER_RE.search(out), out)
        path, rc, out = self.check(FITS)
        self.assertEqual(rc, 0, out)

    def test_long_year_template_delivers_within_bounds(self):
        d = self.sluice({"x": {"prefix": FITS,
                               "error_prefix": "e/!{firehose:error-output-type}/"}})
        d.send([b"one", b"two"], conns=1, sname="x")
        d.stop()
        objs = d.object_files("x")
        self.assertEqual(len(objs), 1, objs)
        self.assertRegex(objs[0], r"^s/0{15}\d{4}/[0-9a-z]{11}/x-1-")
        self.assertEqual(sorted(d.read_records("x")), [b"one", b"two"])

    def test_replay_of_an_empty_record_names_it_without_undefined_behaviour(self):
        # Item 9: rawData "" reached memchr(NULL, ...) (UBSan: nonnull-attribute).
        env = os.path.join(self.dir, "env.json")
        with open(env, "wb") as f:
            f.write(b'{"rawData":""}\n{"rawData":"YQ=="}\n{"rawData":"QUB="}\n')
        p = self.run_bin(["replay", "--dry-run", "--to", "tcp://127.0.0.1:9", env])
        err = p.stderr.decode()
        self.assertIsNone(SANITIZER_RE.search(err), err)
        self.assertNotIn("runtime error", err)
        self.assertEqual(p.returncode, 1, err)
        self.assertIn("%s:1: empty record, which TCP cannot carry" % env, err)
        self.assertIn("%s:3: not an envelope: rawData is not base64" % env, err)
        self.assertIn("replayed 1 records from 1 files (1 bad lines, 1 unsendable",
                      p.stdout.decode())

    def test_non_canonical_base64_is_a_serialization_exception(self):
        # Item 15: "QUB=" decoded as "A@" before; now refused, as bad base64 is.
        d = self.sluice({"b64": {}})
        for op, body in (("PutRecord", {"DeliveryStreamName": "b64",
                                        "Record": {"Data": "QUB="}}),
                         ("PutRecordBatch", {"DeliveryStreamName": "b64",
                                             "Records": [{"Data": "QUA="}, {"Data": "QR=="}]})):
            req = urllib.request.Request(
                "http://127.0.0.1:%d/" % d.http_port, data=json.dumps(body).encode(),
                method="POST", headers={"Content-Type": "application/x-amz-json-1.1",
                                        "X-Amz-Target": "Firehose_20150804." + op})
            with self.assertRaises(urllib.error.HTTPError) as cm:
                urllib.request.urlopen(req, timeout=scaled(10))
            self.assertEqual(cm.exception.code, 400)
            answer = json.loads(cm.exception.read())
            self.assertEqual(answer["__type"], "SerializationException", answer)
            self.assertIn("base64", answer["message"])
        body = {"DeliveryStreamName": "b64", "Record": {"Data": base64.b64encode(b"A@").decode()}}
        req = urllib.request.Request(
            "http://127.0.0.1:%d/" % d.http_port, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/x-amz-json-1.1",
                     "X-Amz-Target": "Firehose_20150804.PutRecord"})
        with urllib.request.urlopen(req, timeout=scaled(10)) as r:
            self.assertEqual(r.status, 200)
        rec, settled = d.metrics().balance("b64")
        self.assertEqual((rec, settled), (1, 1))
        d.stop()
        self.assertEqual(d.read_records("b64"), [b"A@"])


if __name__ == "__main__":
    unittest.main()
