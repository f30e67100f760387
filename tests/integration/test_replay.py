"""
test_replay.py - `sluice replay`: backup envelopes (plain, gzip, zstd, a
directory tree, stdin) are read, their rawData records sent to a real daemon
over TCP or PutRecordBatch, and what the daemon delivers is compared byte for
byte with what was replayed. Also: bad lines and unsendable records (named
FILE:LINE, exit 1, the good ones still sent), --error-code, --dry-run,
retries of refused entries only, a daemon that is down (bounded retries),
SigV4 with credentials from the environment, HTTPS, usage errors.
"""
import base64
import gzip
import json
import os
import re
import subprocess
import time
import unittest

from harness import BIN, SluiceTestCase, free_port, scaled, wait_for

SUMMARY_RE = re.compile(r"^replayed (\d+) records from (\d+) files \((\d+) bad lines, "
                        r"(\d+) unsendable, (\d+) skipped by filter\)\n\Z")

# Big enough that every test's records end up in one object, sealed by stop().
STREAM = {"buffer_size": "32MiB", "max_buffered": "64MiB"}


def envelope(rec, code="Json.Invalid", **extra):
    """One backup envelope line, as sluice (and Firehose) writes them."""
    e = {"attemptsMade": 1, "arrivalTimestamp": 1594265943615, "errorCode": code,
         "errorMessage": "not JSON", "attemptEndingTimestamp": 1594266081318,
         "rawData": base64.b64encode(rec).decode(), "stream": "s1", "transform": "check"}
    e.update(extra)
    return json.dumps(e).encode() + b"\n"


def envelopes(records, **kw):
    return b"".join(envelope(r, **kw) for r in records)


def zstd(data):
    return subprocess.run(["zstd", "-q", "-c"], input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def framed(records):
    """What the file sink makes of delivered records: each ends with one '\\n'."""
    return b"".join(r if r.endswith(b"\n") else r + b"\n" for r in records)


def replay(args, env=None, stdin=None, timeout=60):
    """Runs `sluice replay ARGS`. No AWS credentials reach it but <env>'s."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    e["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/replay-test-credentials"
    e.update(env or {})
    return subprocess.run([BIN, "replay"] + args, input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=e, timeout=scaled(timeout))


def small(n, tag):
    return [b"%s-%05d-" % (tag, i) + b"x" * (i % 50) for i in range(n)]


class ReplayTest(SluiceTestCase):

    def summary(self, p):
        m = SUMMARY_RE.match(p.stdout.decode())
        self.assertIsNotNone(m, "summary line: %r (stderr %r)" % (p.stdout, p.stderr[-2000:]))
        return tuple(int(x) for x in m.groups())

    def delivered(self, d, sname):
        """Every byte of every object of the stream, objects in key order."""
        root = d.file_path(sname)
        return b"".join(d.read_object(os.path.join(root, rel)) for rel in d.object_files(sname))

    def assertDelivered(self, d, sname, records):
        got, want = self.delivered(d, sname), framed(records)
        if got != want:
            self.fail("delivered %d bytes != replayed %d bytes; first difference at %d"
                      % (len(got), len(want),
                         next((i for i, (a, b) in enumerate(zip(got, want)) if a != b),
                              min(len(got), len(want)))))

    def http(self, d, sname):
        return ["--to", "http://127.0.0.1:%d" % d.http_port, "--stream", sname]

    def tcp(self, d, sname):
        return ["--to", "tcp://127.0.0.1:%d" % d.port(sname)]

    def test_http_replays_a_tree_of_plain_gzip_zstd_files_byte_for_byte(self):
        d = self.sluice({"rp": dict(STREAM)})
        root = os.path.join(d.dir, "envelopes")
        binary = [bytes(range(256)), b"\x00\x01\n\x02", b"ends-with-newline\n", b"crlf\r\n",
                  b"cr\r", b"\n", b"a\nb\nc", b"\xff" * 1000, b""]
        first = small(1201, b"a1") + binary
        big = [bytes([65 + i]) * 1000000 for i in range(5)]
        third, fourth = small(20, b"b"), small(20, b"c")
        # the names do not say the compression: the first bytes do
        write(os.path.join(root, "a", "1.json"), envelopes(first))
        write(os.path.join(root, "a", "2.bin"), gzip.compress(envelopes(big, sink="s3")))
        write(os.path.join(root, "b.zst"), envelopes(third, lambdaArn="arn:aws:lambda:x"))
        write(os.path.join(root, "c"), zstd(envelopes(fourth)))
        write(os.path.join(root, "a", ".c.tmp"), envelope(b"hidden: being written"))
        p = replay(self.http(d, "rp") + [root])
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        expected = first + big + third + fourth
        self.assertEqual(self.summary(p), (len(expected), 4, 0, 0, 0))
        # 500 + 500 + (201 small + 9 binary + 4 big: the 5th would pass 4 MiB) + the rest
        m = d.metrics()
        self.assertEqual(m.get("sluice_http_requests_total", operation="PutRecordBatch",
                               status="200"), 4)
        self.assertEqual(m.get("sluice_records_received_total", stream="rp", source="http"),
                         len(expected))
        d.stop()
        self.assertDelivered(d, "rp", expected)

    def test_tcp_frames_records_and_reports_those_it_cannot(self):
        d = self.sluice({"rt": dict(STREAM)})
        ok = [b"plain", b"ends-with-newline\n", b"cr-kept\r", b"crlf-kept\r\n", b"\r",
              b"\x00\xff binary \x01"]
        cannot = [(b"inner\nnewline", "newline"), (b"", "empty"), (b"\n", "empty"),
                  (b"y" * 1024001, "over the limit")]
        lines = [envelope(r) for r in ok[:3]] + [envelope(r) for r, _ in cannot] + \
                [envelope(r) for r in ok[3:]]
        path = write(os.path.join(d.dir, "env", "one"), b"".join(lines))
        p = replay(self.tcp(d, "rt") + [path])
        self.assertEqual(p.returncode, 1, p.stderr.decode())
        self.assertEqual(self.summary(p), (len(ok), 1, 0, len(cannot), 0))
        err = p.stderr.decode()
        for i, (_, word) in enumerate(cannot):
            self.assertRegex(err, r"%s:%d: [^\n]*%s" % (re.escape(path), 4 + i, word))
        self.assertIn("--to http://", err)
        d.stop()
        self.assertDelivered(d, "rt", ok)

    def test_stdin_and_concatenated_gzip_members_and_zstd_frames(self):
        d = self.sluice({"cat": dict(STREAM)})
        parts = [small(300, b"p%d" % i) for i in range(4)]
        both = write(os.path.join(d.dir, "env", "frames"),
                     zstd(envelopes(parts[2])) + zstd(envelopes(parts[3])))
        stdin = gzip.compress(envelopes(parts[0])) + gzip.compress(envelopes(parts[1]))
        p = replay(self.tcp(d, "cat") + ["-", both], stdin=stdin)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(self.summary(p), (1200, 2, 0, 0, 0))
        d.stop()
        self.assertDelivered(d, "cat", parts[0] + parts[1] + parts[2] + parts[3])

    def test_error_code_filter_replays_only_matching_envelopes(self):
        d = self.sluice({"f": dict(STREAM)})
        want = small(30, b"want")
        data = b"".join(envelope(r, code="Json.Invalid") + envelope(b"other-%d" % i,
                        code="Lambda.FunctionError") for i, r in enumerate(want))
        data += json.dumps({"rawData": base64.b64encode(b"no-code").decode()}).encode() + b"\n"
        path = write(os.path.join(d.dir, "env", "mixed.gz"), gzip.compress(data))
        p = replay(self.http(d, "f") + ["--error-code", "Json.Invalid", path])
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(self.summary(p), (30, 1, 0, 0, 31))
        d.stop()
        self.assertDelivered(d, "f", want)

    def test_dry_run_counts_and_sends_nothing(self):
        d = self.sluice({"dry": dict(STREAM)})
        path = write(os.path.join(d.dir, "env", "e"),
                     envelopes(small(10, b"d")) + b"junk\n" + envelope(b"a\nb"))
        for to in (self.tcp(d, "dry"), self.http(d, "dry")):
            p = replay(to + ["--dry-run", path])
            self.assertEqual(p.returncode, 1, p.stderr.decode())     # the junk line
            unsendable = 1 if to[1].startswith("tcp") else 0
            self.assertEqual(self.summary(p), (11 - unsendable, 1, 1, unsendable, 0))
            self.assertIn("dry run", p.stderr.decode())
        # nothing listens here, and a dry run does not notice
        p = replay(["--to", "tcp://127.0.0.1:%d" % free_port(), "--dry-run", path])
        self.assertEqual(self.summary(p), (10, 1, 1, 1, 0))
        # a dry run still checks the URL, and a lost summary line is a failure
        p = replay(["--to", "http://[bad", "--stream", "dry", "--dry-run", path])
        self.assertEqual(p.returncode, 2, p.stderr.decode())
        self.assertIn("not a URL", p.stderr.decode())
        good = write(os.path.join(d.dir, "env", "good"), envelopes(small(3, b"g")))
        with open("/dev/full", "wb") as full:
            q = subprocess.run([BIN, "replay", "--to", "tcp://127.0.0.1:1", "--dry-run", good],
                               stdout=full, stderr=subprocess.PIPE, timeout=scaled(30))
        self.assertEqual(q.returncode, 1, "exit 0 though the summary was not written")
        m = d.metrics()
        self.assertEqual(m.sum("sluice_records_received_total", stream="dry"), 0)
        self.assertEqual(m.sum("sluice_http_requests_total"), 0)
        d.stop()
        self.assertEqual(d.object_files("dry"), [])

    def test_bad_lines_exit_1_with_file_and_line_and_good_lines_still_go(self):
        d = self.sluice({"bad": dict(STREAM)})
        good = small(3, b"good")
        lines = [envelope(good[0]), b"not json at all\n", envelope(good[1]),
                 b'{"errorCode":"x","no":"rawData"}\n', b'{"rawData":"!!!not base64"}\n',
                 b"\n", envelope(good[2]), b'["rawData"]\n', b"x" * (9 << 20) + b"\n"]
        one = write(os.path.join(d.dir, "env", "one"), b"".join(lines))
        junk = write(os.path.join(d.dir, "env", "two"), b"junk\n" * 50)
        cut_recs = small(2000, b"cut")
        whole = gzip.compress(envelopes(cut_recs))
        cut = write(os.path.join(d.dir, "env", "three.gz"), whole[:len(whole) // 2])
        p = replay(self.http(d, "bad") + [one, junk, cut])
        self.assertEqual(p.returncode, 1)
        replayed, files, bad, unsendable, skipped = self.summary(p)
        self.assertEqual((files, bad, unsendable, skipped), (3, 5 + 50, 0, 0))
        err = p.stderr.decode()
        for n in (2, 4, 5, 8, 9):
            self.assertIn("%s:%d: not an envelope" % (one, n), err)
        self.assertIn("longer than", err)
        self.assertNotIn("%s:6:" % one, err)                 # an empty line is no problem
        self.assertEqual(err.count("%s:" % junk), 11)         # 10 lines, then a count
        self.assertIn("%s: 40 more problems not shown" % junk, err)
        self.assertRegex(err, r"%s:\d+: gzip data corrupt or cut short" % re.escape(cut))
        d.stop()
        got = self.delivered(d, "bad")
        # the good lines, then the complete lines of the cut file: a prefix of it
        self.assertTrue(got.startswith(framed(good)), got[:200])
        rest = got[len(framed(good)):]
        ncut = replayed - 3
        self.assertGreater(ncut, 0)
        self.assertLess(ncut, len(cut_recs))
        self.assertEqual(rest, framed(cut_recs[:ncut]))

    def test_daemon_down_exits_1_after_bounded_retries(self):
        d = self.sluice({"x": {}}, start=False)
        path = write(os.path.join(d.dir, "env", "e"), envelopes(small(5, b"down")))
        port = free_port()
        for to, word in ((["--to", "http://127.0.0.1:%d" % port, "--stream", "x"],
                          "not accepted after"),
                         (["--to", "tcp://127.0.0.1:%d" % port], "cannot connect")):
            t0 = time.monotonic()
            p = replay(to + ["--timeout", "1s", path], timeout=30)
            took = time.monotonic() - t0
            self.assertEqual(p.returncode, 1, p.stderr.decode())
            err = p.stderr.decode()
            self.assertIn(word, err)
            attempts = int(re.search(r"(\d+) attempts", err).group(1))
            self.assertGreaterEqual(attempts, 3, err)        # it did retry ...
            self.assertLess(took, scaled(5), err)            # ... within --timeout
            self.assertEqual(self.summary(p)[0], 0)

    def test_refused_entries_are_resent_alone_until_accepted(self):
        d = self.sluice({"bp": {"max_buffered": "64KiB", "buffer_size": "16KiB",
                                "buffer_interval": "100ms", "retry_duration": "600s",
                                "max_record_size": "1KiB"}},
                        start=False)
        blocker = d.block("bp", "out", "sub")
        d.start(wait="listening")
        recs = [b"rs-%05d-" % i + b"x" * 300 for i in range(400)]     # ~125 KB > 64 KiB
        path = write(os.path.join(d.dir, "env", "e"), envelopes(recs))
        e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        e["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent"
        proc = subprocess.Popen([BIN, "replay"] + self.http(d, "bp") + [path],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
        try:
            wait_for(lambda: d.metrics().get("sluice_records_rejected_total", stream="bp",
                                             source="http", reason="throttled"), 20,
                     msg="some entries refused under backpressure")
            os.unlink(blocker)                                   # the sink recovers
            out, err = proc.communicate(timeout=scaled(60))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 0, err.decode())
        self.assertEqual(SUMMARY_RE.match(out.decode()).group(1), "400")
        d.wait_records("bp", delivered=400, sink="file", at_least=True, timeout=20)
        d.stop()
        # each record exactly once: only the refused entries were sent again
        self.assertSameRecords(d.read_records("bp"), recs)

    def test_sigv4_signs_with_credentials_from_the_environment(self):
        d = self.sluice({"sa": dict(STREAM)}, start=False)
        keys = os.path.join(d.dir, "keys")
        with open(keys, "w") as f:
            f.write("AKIDREPLAY the-replay-secret\n")
        d.process.update({"http_auth": "sigv4", "http_auth_file": keys})
        d.start()
        recs = small(700, b"signed")
        path = write(os.path.join(d.dir, "env", "e"), envelopes(recs))
        creds = {"AWS_ACCESS_KEY_ID": "AKIDREPLAY", "AWS_SECRET_ACCESS_KEY": "the-replay-secret",
                 "AWS_SESSION_TOKEN": "a-session-token"}
        p = replay(self.http(d, "sa") + ["--region", "eu-west-1", path], env=creds)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(self.summary(p), (700, 1, 0, 0, 0))
        other = write(os.path.join(d.dir, "env2", "e"), envelopes([b"must-not-arrive"]))
        for env, code in ((dict(creds, AWS_SECRET_ACCESS_KEY="wrong"), "InvalidSignatureException"),
                          ({}, "MissingAuthenticationTokenException")):
            p = replay(self.http(d, "sa") + [other], env=env)
            self.assertEqual(p.returncode, 1)
            self.assertIn(code, p.stderr.decode())
            self.assertIn("after 1 attempt ", p.stderr.decode())    # a 4xx is not retried
        self.assertNotIn(b"the-replay-secret", open(d.log_path, "rb").read())
        d.stop()
        self.assertDelivered(d, "sa", recs)

    def test_https_with_cacert_and_refused_without(self):
        d = self.sluice({"tls": dict(STREAM)}, start=False)
        crt, key = os.path.join(d.dir, "c.crt"), os.path.join(d.dir, "c.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", crt], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=scaled(60))
        d.process.update({"http_tls_cert": crt, "http_tls_key": key})
        d.start()
        recs = small(50, b"tls")
        path = write(os.path.join(d.dir, "env", "e"), envelopes(recs))
        url = "https://127.0.0.1:%d" % d.http_port
        p = replay(["--to", url, "--stream", "tls", path])
        self.assertEqual(p.returncode, 1)
        self.assertIn("after 1 attempt ", p.stderr.decode())        # not retried
        p = replay(["--to", url, "--stream", "tls", "--cacert", crt, path])
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        d.stop()
        self.assertDelivered(d, "tls", recs)

    def test_usage_errors_exit_2(self):
        self.assertEqual(replay(["--help"]).returncode, 0)
        self.assertIn(b"usage: sluice replay", replay(["--help"]).stdout)
        for args, word in (([], "--to"),
                           (["--to", "http://127.0.0.1:1", "-"], "--stream"),
                           (["--to", "http://127.0.0.1:1", "--stream", "bad name!", "-"],
                            "--stream"),
                           (["--to", "ftp://127.0.0.1:1", "-"], "tcp://"),
                           (["--to", "tcp://127.0.0.1", "-"], "--to"),
                           (["--to", "tcp://127.0.0.1:1", "--stream", "s", "-"], "--stream"),
                           (["--to", "tcp://127.0.0.1:1"], "PATH"),
                           (["--to", "tcp://127.0.0.1:1", "--timeout", "5", "-"], "--timeout"),
                           (["--to", "tcp://127.0.0.1:1", "--frobnicate", "-"], "--help")):
            p = replay(args, stdin=b"")
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertIn(word, p.stderr.decode(), args)
            self.assertEqual(p.stdout, b"", args)


if __name__ == "__main__":
    unittest.main()
