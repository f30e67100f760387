"""
test_wal.py - durability = disk (issue 7): the write-ahead log.

A 200 over HTTP means the records are on disk; a daemon killed with SIGKILL
at random moments and started again on the same data_dir delivers every
acknowledged record exactly once (file sink and S3), with the object names
derived from the log so a re-delivered batch makes no second object. A log
cut short at its tail loses at most its last entry; a flipped byte loses
exactly the request it was in. A full disk and wal.max_size push back on
producers (503) and recover once the sink drains the log. TCP records go
through the log too. Config: the wal.* keys and a refused reload.

SLUICE_WAL_SEED=N repeats the random kill moments and cut points of a run
(each test prints the seed it used).
"""
import base64
import collections
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from harness import (BIN, KEY_RE, SluiceTestCase, make_records, scaled, split_records,
                     wait_for)
from s3 import WithS3rver

WAL_RE = re.compile(r"^wal-(\d{20})\.log$")
MIB = 1024 * 1024
TRANSPORT = (OSError, http.client.HTTPException)


def seeded(test):
    """A random generator for <test>, its seed printed (SLUICE_WAL_SEED repeats it)."""
    env = os.environ.get("SLUICE_WAL_SEED", "")
    seed = int(env) if env else random.SystemRandom().randrange(1 << 32)
    sys.stderr.write("%s: seed %d (SLUICE_WAL_SEED=%d repeats it)\n" % (test.id(), seed, seed))
    sys.stderr.flush()
    return random.Random(seed)


def disk_stream(**keys):
    """Stream keys of a durability = disk stream with small batches and segments."""
    conf = {"durability": "disk", "buffer_size": "64KiB", "buffer_interval": "200ms",
            "compression": "gzip", "max_buffered": "64MiB",
            "wal.segment_size": "1MiB", "wal.max_size": "256MiB"}
    conf.update(keys)
    return conf


# -- the daemon's HTTP API ------------------------------------------------------

class Http:
    """One keep-alive connection to http_listen, made again after an error."""

    def __init__(self, d, timeout=10):
        self.d = d
        self.timeout = timeout
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def post(self, path, body, headers):
        """(status, headers, body). A transport error closes the connection
        and is raised (OSError or http.client.HTTPException)."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.d.http_port,
                                                   timeout=scaled(self.timeout))
        try:
            self.conn.request("POST", path, body=body, headers=headers)
            r = self.conn.getresponse()
            data = r.read()
            return r.status, r.headers, data
        except TRANSPORT:
            self.close()
            raise

    def send(self, stream, recs, kind):
        """Sends <recs> as one NDJSON request or one PutRecordBatch
        (kind "ndjson" / "batch"). Returns (acked, refused, problem): the
        records acknowledged (a 200 without an ErrorCode for them), those
        refused with ServiceUnavailableException / 503, and a description
        of anything else (None if the answer was one of those)."""
        if kind == "ndjson":
            st, hd, body = self.post("/v1/streams/%s/records" % stream,
                                     b"".join(r + b"\n" for r in recs),
                                     {"Content-Type": "application/x-ndjson"})
            if st == 200:
                try:
                    n = json.loads(body)["accepted"]
                except (ValueError, KeyError, TypeError):
                    n = None
                if n != len(recs):
                    return [], [], "NDJSON 200 accepted %r of %d: %r" % (n, len(recs), body[:200])
                return list(recs), [], None
            if st == 503:
                if not hd.get("Retry-After"):
                    return [], list(recs), "NDJSON 503 without Retry-After: %r" % body[:200]
                return [], list(recs), None
            return [], [], "NDJSON answered %d: %r" % (st, body[:200])
        payload = json.dumps({"DeliveryStreamName": stream,
                              "Records": [{"Data": base64.b64encode(r).decode()}
                                          for r in recs]}).encode()
        st, hd, body = self.post("/", payload,
                                 {"Content-Type": "application/x-amz-json-1.1",
                                  "X-Amz-Target": "Firehose_20150804.PutRecordBatch"})
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            return [], [], "PutRecordBatch %d, body not JSON: %r" % (st, body[:200])
        if st == 503:
            if doc.get("__type") != "ServiceUnavailableException":
                return [], list(recs), "PutRecordBatch 503 of type %r" % doc.get("__type")
            return [], list(recs), None
        if st != 200:
            return [], [], "PutRecordBatch answered %d: %r" % (st, body[:200])
        rr = doc.get("RequestResponses")
        if not isinstance(rr, list) or len(rr) != len(recs):
            return [], [], "PutRecordBatch 200 without %d RequestResponses: %r" % (
                len(recs), body[:200])
        acked, refused, problem = [], [], None
        for rec, e in zip(recs, rr):
            if "ErrorCode" in e:
                refused.append(rec)
                if e["ErrorCode"] != "ServiceUnavailableException":
                    problem = "PutRecordBatch ErrorCode %r" % e["ErrorCode"]
            elif e.get("RecordId"):
                acked.append(rec)
            else:
                problem = "PutRecordBatch entry without RecordId or ErrorCode: %r" % e
        if doc.get("FailedPutCount") != len(refused):
            problem = "FailedPutCount %r but %d entries with an ErrorCode" % (
                doc.get("FailedPutCount"), len(refused))
        return acked, refused, problem


class Producers:
    """Threads that send unique records over HTTP, 20 per request, alternating
    NDJSON and PutRecordBatch, never retrying: a record counts as acknowledged
    only if its request was answered 200 (without an ErrorCode for it). A
    connection error leaves the request's records unacknowledged, and the
    thread goes on (the daemon may be down for a moment)."""

    def __init__(self, d, stream, threads=3, per_request=20, records=None, pause=0,
                 limit=None):
        """<records>(thread, seq, n), if given, makes a request's records
        (else unique lines of make_records); <pause> seconds between a
        thread's requests; at most <limit> records a thread."""
        self.d, self.stream, self.per = d, stream, per_request
        self.records, self.pause, self.limit = records, pause, limit
        self.lock = threading.Lock()
        self.sent, self.acked = set(), set()
        self.problems, self.errors = [], 0
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(t,), daemon=True)
                        for t in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(scaled(60))
        assert not any(t.is_alive() for t in self.threads), "a producer thread hangs"

    def acked_count(self):
        with self.lock:
            return len(self.acked)

    def run(self, t):
        conn = Http(self.d, timeout=20)
        seq = 0
        while not self.stopping.is_set() and (self.limit is None or seq < self.limit):
            recs = (self.records(t, seq, self.per) if self.records else
                    make_records(self.per, start=t * 100000000 + seq, tag=b"w%d-" % t,
                                 min_len=60, max_len=260))
            kind = ("ndjson", "batch")[(seq // self.per) % 2]
            seq += self.per
            with self.lock:
                self.sent.update(recs)
            try:
                acked, refused, problem = conn.send(self.stream, recs, kind)
            except TRANSPORT:
                with self.lock:
                    self.errors += 1
                time.sleep(0.01)       # the daemon is down: do not spin on connect()
                continue
            with self.lock:
                self.acked.update(acked)
                if problem:
                    self.problems.append(problem)
            if self.pause:
                time.sleep(self.pause)     # pacing of the load, not synchronisation


# -- the log on disk ------------------------------------------------------------

def wal_dir(d, stream):
    return os.path.join(d.process["data_dir"], stream)


def wal_files(d, stream):
    """Segment files of <stream>'s log, oldest first (by their first sequence number)."""
    try:
        names = os.listdir(wal_dir(d, stream))
    except FileNotFoundError:
        return []
    return [os.path.join(wal_dir(d, stream), n) for n in sorted(names) if WAL_RE.match(n)]


def wal_listing(d, stream):
    """The names in <stream>'s log directory, for messages."""
    try:
        return sorted(os.listdir(wal_dir(d, stream)))
    except OSError as e:
        return "(%s)" % e


def wal_bytes(d, stream):
    out = b""
    for p in wal_files(d, stream):
        with open(p, "rb") as f:
            out += f.read()
    return out


def wal_metric(d, name, stream, **labels):
    return d.metrics().get(name, stream=stream, **labels)


def recovered_lines(d):
    """The fields of each msg="wal recovered" log line, as dicts."""
    out = []
    for line in d.log().splitlines():
        if 'msg="wal recovered"' in line:
            out.append(dict((k, v.strip('"')) for k, v in
                            re.findall(r'(\w+)=("[^"]*"|\S+)', line)))
    return out


class WalTestCase(SluiceTestCase):

    def setUp(self):
        super().setUp()
        self.mounts = []

    def tearDown(self):
        try:
            for d in self._daemons:
                d.kill()
            for mp in reversed(self.mounts):
                if subprocess.run(["umount", mp], stderr=subprocess.DEVNULL).returncode != 0:
                    subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)
        finally:
            super().tearDown()

    def sluice(self, streams=None, process=None, start=True, wait="ready", **kw):
        """As SluiceTestCase's, but a start that waits for "ready" also waits
        for the log's recovery to finish (it runs alongside new traffic, and
        its counters and log line come at its end)."""
        d = super().sluice(streams, process, start=False, **kw)
        plain_start = d.start

        def start_recovered(wait="ready", **skw):
            before = len(recovered_lines(d))
            plain_start(wait=wait, **skw)
            if wait == "ready" and any(c.get("durability") == "disk"
                                       for c in d.streams.values()):
                wait_for(lambda: len(recovered_lines(d)) > before, scaled(30),
                         msg=lambda: "the log's recovery finished\n" + d.log_tail(20))
        d.start = start_recovered
        if start:
            d.start(wait=wait)
        return d

    # -- helpers ------------------------------------------------------------------
    def send_all(self, d, stream, requests, kinds=("ndjson", "batch")):
        """Sends each request (a list of records) in turn; each must be acknowledged
        in full."""
        conn = Http(d)
        try:
            for i, recs in enumerate(requests):
                kind = kinds[i % len(kinds)]
                acked, refused, problem = conn.send(stream, recs, kind)
                self.assertIsNone(problem, "request %d (%s)" % (i, kind))
                self.assertEqual(len(acked), len(recs),
                                 "request %d (%s): %d of %d records acknowledged"
                                 % (i, kind, len(acked), len(recs)))
        finally:
            conn.close()

    def file_objects(self, d, stream):
        """[(key, records)] of the file sink."""
        return d.read_records(stream, with_objects=True)[1]

    def assertObjectKeys(self, objects, stream):
        """Every key has the Firehose layout, each UUID once (a batch's name is
        random, kept in its seal: a batch re-delivered after a crash keeps it)."""
        uuids = collections.Counter()
        for key, _ in objects:
            m = KEY_RE.match(key)
            self.assertIsNotNone(m, "object key %r does not follow the layout" % key)
            self.assertEqual(m.group("stream"), stream, key)
            uuids[m.group("uuid")] += 1
        twice = [u for u, c in uuids.items() if c > 1]
        self.assertEqual(twice, [], "objects share a UUID: %s" % [
            k for k, _ in objects if KEY_RE.match(k).group("uuid") in twice][:6])

    def assertOnce(self, found, must, may=(), what="records"):
        """Each record of <must> in <found> exactly once; each of <may> at most
        once; nothing else."""
        c = collections.Counter(found)
        dups = [r for r, n in c.items() if n > 1]
        must, may = set(must), set(may)
        missing = [r for r in must if r not in c]
        unknown = [r for r in c if r not in must and r not in may]
        problems = []
        if missing:
            problems.append("%d of %d missing, e.g. %r" % (len(missing), len(must),
                                                           sorted(missing)[:3]))
        if dups:
            problems.append("%d found more than once (%d extra copies), e.g. %r"
                            % (len(dups), sum(c[r] - 1 for r in dups), sorted(dups)[:3]))
        if unknown:
            problems.append("%d found that were never sent, e.g. %r"
                            % (len(unknown), [r[:60] for r in unknown[:3]]))
        if problems:
            self.fail("%s: %s" % (what, "; ".join(problems)))


# -- 1. the basics --------------------------------------------------------------

class WalBasicsTest(WalTestCase):

    def test_disk_stream_delivers_once_and_retires_segments(self):
        d = self.sluice({"wb": disk_stream(), "mem": {"buffer_interval": "200ms"}},
                        start=False)
        blocker = d.block("wb")
        d.start(wait="listening")
        # while the sink fails, the log keeps everything: more than one segment
        requests = [make_records(100, start=i * 100, tag=b"wb-", min_len=100, max_len=500)
                    for i in range(48)]                     # ~1.4 MiB
        self.send_all(d, "wb", requests)
        conn = Http(d)
        st, _, body = conn.post("/", json.dumps({"DeliveryStreamName": "wb", "Record": {
            "Data": base64.b64encode(b"wb-single").decode()}}).encode(),
            {"Content-Type": "application/x-amz-json-1.1",
             "X-Amz-Target": "Firehose_20150804.PutRecord"})
        self.assertEqual(st, 200, body)
        conn.close()
        sent = [r for rs in requests for r in rs] + [b"wb-single"]
        nbytes = sum(map(len, sent))
        files = wal_files(d, "wb")
        self.assertGreaterEqual(len(files), 2, "1 MiB segments, ~1.4 MiB logged: %s"
                                % wal_listing(d, "wb"))
        on_disk = wal_bytes(d, "wb")
        for i in (0, 47):                   # acknowledged: the records are in the files
            self.assertIn(requests[i][-1], on_disk)
        self.assertIn(b"wb-single", on_disk)
        m = d.metrics()
        self.assertEqual(m.get("sluice_wal_segments", stream="wb"), len(files))
        self.assertGreaterEqual(m.get("sluice_wal_bytes", stream="wb"), nbytes)
        self.assertGreater(m.get("sluice_wal_sync_duration_seconds_count", stream="wb"), 0)
        self.assertEqual(m.get("sluice_records_delivered_total", stream="wb", sink="file"), 0)
        self.assertEqual(m.get("sluice_records_received_total", stream="wb", source="http"),
                         len(sent))
        self.assertBalanced(m, "wb")

        # the memory stream beside it keeps no log
        d.send([b"mem-1", b"mem-2"], sname="mem")
        d.wait_records("mem", delivered=2, sink="file", at_least=True, timeout=60)

        os.remove(blocker)
        d.wait_records("wb", delivered=len(sent), sink="file", at_least=True, timeout=60)
        wait_for(lambda: wal_metric(d, "sluice_wal_segments", "wb") == 1, 30,
                 msg=lambda: "sluice_wal_segments back to 1 (is %s; files %s)" % (
                     wal_metric(d, "sluice_wal_segments", "wb"),
                     wal_listing(d, "wb")))
        wait_for(lambda: len(wal_files(d, "wb")) == 1, 10,
                 msg=lambda: "one segment file left: %s" % wal_listing(d, "wb"))
        kept = os.path.basename(wal_files(d, "wb")[0])
        self.assertGreaterEqual(kept, os.path.basename(files[-1]),
                                "an old segment was kept, the newest deleted")
        text = d.metrics_text()
        if shutil.which("promtool"):
            p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            self.assertEqual(p.returncode, 0, "promtool check metrics:\n" + p.stdout.decode())
        for name, typ in (("sluice_wal_bytes", "gauge"), ("sluice_wal_segments", "gauge"),
                          ("sluice_wal_sync_duration_seconds", "histogram"),
                          ("sluice_wal_records_recovered_total", "counter"),
                          ("sluice_wal_corrupt_entries_total", "counter"),
                          ("sluice_wal_truncated_bytes_total", "counter"),
                          ("sluice_wal_recovery_duration_seconds", "gauge"),
                          ("sluice_wal_errors_total", "counter")):
            self.assertRegex(text, r"(?m)^# TYPE %s %s$" % (name, typ))
        m = d.metrics()
        for name in ("sluice_wal_records_recovered_total", "sluice_wal_corrupt_entries_total",
                     "sluice_wal_truncated_bytes_total"):
            self.assertEqual(m.get(name, stream="wb"), 0, name)
        self.assertIsNotNone(m.get("sluice_wal_recovery_duration_seconds", stream="wb"))
        for reason in ("enospc", "eio", "other"):
            self.assertEqual(m.get("sluice_wal_errors_total", stream="wb", reason=reason), 0,
                             reason)
        self.assertEqual(m.get("sluice_records_received_total", 0, stream="wb", source="wal"), 0)
        self.assertEqual(m.get("sluice_records_buffered", stream="wb"), 0)
        self.assertBalanced(m, "wb")
        d.stop()
        objects = self.file_objects(d, "wb")
        self.assertObjectKeys(objects, "wb")
        self.assertOnce([r for _, rs in objects for r in rs], sent)
        self.assertSameRecords([r for _, rs in objects for r in rs], sent)
        mem = self.file_objects(d, "mem")
        self.assertEqual(sorted(r for _, rs in mem for r in rs), [b"mem-1", b"mem-2"])
        self.assertEqual(wal_files(d, "mem"), [])


# -- 2, 3. kill -9 at random moments ----------------------------------------------

class CrashMixin:

    def crash_rounds(self, d, stream, rounds, read_back, sink):
        """Producers send while the daemon is killed (SIGKILL) <rounds> times at
        random moments and started again; then every acknowledged record must be
        in exactly one object, nothing twice, nothing unsent."""
        rng = seeded(self)
        prod = Producers(d, stream, threads=3)
        prod.start()
        recovered_total = existing = 0
        try:
            for rnd in range(rounds):
                base = prod.acked_count()
                wait_for(lambda: prod.acked_count() >= base + 200, 30,
                         msg=lambda: "round %d: producers acknowledged (%d -> %d; %s)\n%s"
                         % (rnd, base, prod.acked_count(), d.state(), d.log_tail(20)))
                time.sleep(rng.uniform(0.05, 1.0))   # the random moment of the crash
                self.assertTrue(d.alive(), "round %d: %s\n%s" % (rnd, d.state(),
                                                                   d.log_tail(30)))
                existing += d.metrics().sum("sluice_objects_existing_total", stream=stream)
                d.kill()
                lines_before = len(recovered_lines(d))
                d.start()
                m = d.metrics()
                rec = m.get("sluice_wal_records_recovered_total", stream=stream)
                self.assertIsNotNone(rec, "round %d: no sluice_wal_records_recovered_total"
                                     % rnd)
                self.assertEqual(m.get("sluice_records_received_total", 0, stream=stream,
                                       source="wal"), rec,
                                 "round %d: recovered records counted as received "
                                 "(source=wal)" % rnd)
                self.assertBalanced(m, stream)
                self.assertTrue(any(n == "sluice_objects_existing_total"
                                    and ("stream", stream) in ls and ("sink", sink) in ls
                                    for (n, ls) in m),
                                "sluice_objects_existing_total{stream,sink} missing")
                lines = recovered_lines(d)
                self.assertEqual(len(lines), lines_before + 1,
                                 "round %d: one msg=\"wal recovered\" line per start" % rnd)
                self.assertEqual(int(lines[-1].get("records", -1)), rec,
                                 "round %d: records= of %r" % (rnd, lines[-1]))
                for k in ("batches", "corrupt", "truncated_bytes", "seconds"):
                    self.assertIn(k, lines[-1], "wal recovered line %r" % lines[-1])
                recovered_total += rec
            base = prod.acked_count()
            wait_for(lambda: prod.acked_count() >= base + 200, 30,
                     msg="producers acknowledged after the last restart")
        finally:
            prod.stop()
        existing += d.metrics().sum("sluice_objects_existing_total", stream=stream)
        self.assertEqual(prod.problems, [], "unexpected answers")
        self.assertGreater(recovered_total, 0, "no restart recovered a record")
        d.stop()
        objects = read_back()
        found = [r for _, rs in objects for r in rs]
        sys.stderr.write("%s: %d rounds, %d records sent, %d acknowledged, %d found in %d "
                         "objects, %d recovered, %d re-deliveries found their object, "
                         "%d transport errors\n"
                         % (self.id(), rounds, len(prod.sent), len(prod.acked), len(found),
                            len(objects), recovered_total, existing, prod.errors))
        self.assertGreater(len(prod.acked), 0)
        self.assertObjectKeys(objects, stream)
        self.assertOnce(found, prod.acked, may=prod.sent - prod.acked)


class CrashFileTest(WalTestCase, CrashMixin):

    def test_kill_9_at_random_moments_file_sink(self):
        d = self.sluice({"cf": disk_stream()})
        self.crash_rounds(d, "cf", 5, lambda: self.file_objects(d, "cf"), "file")


class CrashS3Test(WithS3rver, WalTestCase, CrashMixin):

    def read_back(self):
        import gzip
        out = []
        for key in self.s3.keys():
            data = self.s3.get(key)
            if key.endswith(".gz"):
                data = gzip.decompress(data)
            out.append((key, split_records(data)))
        return out

    def test_kill_9_at_random_moments_s3(self):
        d = self.sluice({"cs": self.s3.stream(**disk_stream())})
        self.crash_rounds(d, "cs", 3, self.read_back, "s3")


# -- 4, 5. a damaged log ----------------------------------------------------------

class DamagedLogTest(WalTestCase):
    NREQ, PER = 40, 100                    # ~1.2 MiB: two 1 MiB segments

    def fill_and_kill(self, stream, mark=None):
        """A blocked sink, NREQ acknowledged requests of PER records, SIGKILL.
        <mark>: (request, record) to replace by a record holding a unique marker.
        Returns (daemon, blocker, requests, marked record or None)."""
        d = self.sluice({stream: disk_stream()}, start=False)
        blocker = d.block(stream)
        d.start(wait="listening")
        requests = [make_records(self.PER, start=i * self.PER, tag=stream.encode() + b"-",
                                 min_len=100, max_len=500) for i in range(self.NREQ)]
        marked = None
        if mark:
            marked = (b"mark-%s-" % os.urandom(8).hex().encode()) + b"m" * 200
            requests[mark[0]][mark[1]] = marked
        self.send_all(d, stream, requests)
        self.assertGreaterEqual(len(wal_files(d, stream)), 2, wal_listing(d, stream))
        self.assertEqual(d.metrics().get("sluice_records_delivered_total", stream=stream,
                                         sink="file"), 0)
        d.kill()
        return d, blocker, requests, marked

    def restart_and_settle(self, d, blocker, stream, expect):
        os.remove(blocker)
        junk = os.path.join(wal_dir(d, stream), "wal-leftover.tmp")
        with open(junk, "wb") as f:
            f.write(b"half a segment from a crash")
        d.start()
        self.assertFalse(os.path.exists(junk), "a leftover *.tmp survived the start")
        d.wait_records(stream, delivered=expect, sink="file", at_least=True, timeout=60)
        d.wait_records(stream, settled=True, timeout=30)
        m = d.metrics()
        self.assertTrue(d.healthy())
        self.assertBalanced(m, stream)
        return m

    def test_torn_tail_loses_at_most_the_last_request(self):
        rng = seeded(self)
        d, blocker, requests, _ = self.fill_and_kill("tt")
        last = wal_files(d, "tt")[-1]
        with open(last, "rb") as f:
            data = f.read()
        first_at = data.find(requests[-1][0])
        last_at = data.find(requests[-1][-1])
        self.assertGreaterEqual(first_at, 0, "the last request's first record is not in %s"
                                % last)
        self.assertGreater(last_at, first_at)
        cut = rng.randint(first_at + 1, last_at + len(requests[-1][-1]) - 1)
        prev_at = data.find(requests[-2][-1])       # the entry before: must stay whole
        bound = cut - (prev_at + len(requests[-2][-1])) if prev_at >= 0 else cut
        sys.stderr.write("%s: %s cut from %d to %d bytes\n" % (self.id(), last, len(data), cut))
        os.truncate(last, cut)
        kept = [r for rs in requests[:-1] for r in rs]
        m = self.restart_and_settle(d, blocker, "tt", len(kept))
        self.assertGreater(m.get("sluice_wal_truncated_bytes_total", stream="tt"), 0)
        self.assertLessEqual(m.get("sluice_wal_truncated_bytes_total", stream="tt"), bound,
                             "truncated into the entry before the torn one")
        self.assertEqual(m.get("sluice_wal_corrupt_entries_total", stream="tt"), 0)
        rec = m.get("sluice_wal_records_recovered_total", stream="tt")
        self.assertIn(rec, (len(kept), len(kept) + len(requests[-1])),
                      "recovered: the intact entries, whole")
        self.assertEqual(m.get("sluice_records_received_total", 0, stream="tt", source="wal"),
                         rec)
        self.assertEqual(m.get("sluice_records_delivered_total", stream="tt", sink="file"), rec)
        line = recovered_lines(d)[-1]
        self.assertEqual(int(line["records"]), rec, line)
        self.assertGreater(int(line["truncated_bytes"]), 0, line)
        d.stop()
        objects = self.file_objects(d, "tt")
        self.assertObjectKeys(objects, "tt")
        self.assertOnce([r for _, rs in objects for r in rs], kept, may=requests[-1])

    def test_flipped_byte_loses_exactly_its_request(self):
        mid = self.NREQ // 2
        d, blocker, requests, marked = self.fill_and_kill("fb", mark=(mid, self.PER // 2))
        hits = []
        for p in wal_files(d, "fb"):
            with open(p, "rb") as f:
                data = f.read()
            if data.count(marked):
                hits.append((p, data.find(marked), data.count(marked)))
        self.assertEqual(len(hits), 1, "the marked record once in the log: %r" % hits)
        path, at, count = hits[0]
        self.assertEqual(count, 1)
        with open(path, "r+b") as f:
            f.seek(at + len(marked) // 2)
            b = f.read(1)
            f.seek(at + len(marked) // 2)
            f.write(bytes([b[0] ^ 0x5a]))
        kept = [r for i, rs in enumerate(requests) if i != mid for r in rs]
        m = self.restart_and_settle(d, blocker, "fb", len(kept))
        self.assertEqual(m.get("sluice_wal_corrupt_entries_total", stream="fb"), 1)
        self.assertEqual(m.get("sluice_wal_truncated_bytes_total", stream="fb"), 0)
        self.assertEqual(m.get("sluice_wal_records_recovered_total", stream="fb"), len(kept))
        self.assertEqual(m.get("sluice_records_received_total", 0, stream="fb", source="wal"),
                         len(kept))
        line = recovered_lines(d)[-1]
        self.assertEqual(int(line["corrupt"]), 1, line)
        self.assertEqual(int(line["records"]), len(kept), line)
        d.stop()
        objects = self.file_objects(d, "fb")
        self.assertObjectKeys(objects, "fb")
        found = [r for _, rs in objects for r in rs]
        self.assertOnce(found, kept)
        lost = set(requests[mid]) & set(found)
        self.assertEqual(lost, set(), "records of the corrupt entry were delivered")

    def test_replayed_batches_find_their_objects(self):
        # A crash after an object is written and before its batch's "done" is
        # on disk, made certain: keep a copy of the log while every batch is
        # sealed and undelivered, deliver, then put the copy back and start
        # again. Each batch must come out under the same name, find its
        # object there (counted), and make no second one.
        d = self.sluice({"rp": disk_stream()}, process={"shutdown_timeout": "1s"},
                        start=False)
        blocker = d.block("rp")
        d.start(wait="listening")
        requests = [make_records(100, start=i * 100, tag=b"rp-") for i in range(10)]
        sent = [r for rs in requests for r in rs]
        self.send_all(d, "rp", requests)
        d.stop()                          # seals every batch; none can be delivered
        copy = os.path.join(d.dir, "wal-copy")
        shutil.copytree(wal_dir(d, "rp"), copy)
        os.remove(blocker)
        d.start()
        d.wait_records("rp", delivered=len(sent), sink="file", at_least=True, timeout=60)
        m = d.metrics()
        self.assertEqual(m.sum("sluice_batches_sealed_total", stream="rp"), 0,
                         "precondition: every record was sealed before the stop (the "
                         "restart re-formed no batch)")
        self.assertEqual(m.get("sluice_wal_records_recovered_total", stream="rp"), len(sent))
        batches = int(recovered_lines(d)[-1]["batches"])
        d.stop()
        first = self.file_objects(d, "rp")
        self.assertEqual(len(first), batches, "one object per recovered batch")
        self.assertOnce([r for _, rs in first for r in rs], sent)

        shutil.rmtree(wal_dir(d, "rp"))
        shutil.copytree(copy, wal_dir(d, "rp"))
        d.start()
        wait_for(lambda: d.metrics().get("sluice_objects_existing_total", stream="rp",
                                         sink="file") == batches, 30,
                 msg=lambda: "%d replayed batches found their objects (%s)\n%s" % (
                     batches, d.metrics().get("sluice_objects_existing_total", stream="rp",
                                              sink="file"), d.log_tail(20)))
        d.wait_records("rp", settled=True, timeout=30)
        m = d.metrics()
        self.assertEqual(m.get("sluice_wal_records_recovered_total", stream="rp"), len(sent))
        self.assertEqual(m.sum("sluice_records_backed_up_total", stream="rp"), 0)
        self.assertBalanced(m, "rp")
        d.stop()
        again = self.file_objects(d, "rp")
        self.assertEqual([k for k, _ in again], [k for k, _ in first],
                         "a replayed batch made an object of another name")
        self.assertEqual(again, first, "a replayed batch replaced its object")
        self.assertObjectKeys(again, "rp")


# -- 6, 7. pushback: a full disk, wal.max_size -----------------------------------------

class PushbackTest(WalTestCase):

    def fill_until_refused(self, d, stream):
        """Sends requests of 100 records (alternating NDJSON and PutRecordBatch) until
        each kind has been refused at least once. Returns (acked, refused requests),
        refused requests as lists of records."""
        conn = Http(d)
        acked, refused, kinds_refused = [], [], set()
        seq = 0
        deadline = time.monotonic() + scaled(60)
        try:
            while kinds_refused != {"ndjson", "batch"}:
                self.assertLess(time.monotonic(), deadline,
                                "no refusal after %d records acknowledged" % len(acked))
                kind = ("ndjson", "batch")[(seq // 100) % 2]
                recs = make_records(100, start=seq, tag=stream.encode() + b"-",
                                    min_len=100, max_len=500)
                seq += 100
                ok, no, problem = conn.send(stream, recs, kind)
                self.assertIsNone(problem, "%s after %d acknowledged" % (kind, len(acked)))
                acked += ok
                if no:
                    refused.append(no)
                    kinds_refused.add(kind)
        finally:
            conn.close()
        return acked, refused

    def retry_until_acked(self, d, stream, refused):
        """Sends the refused records again, as NDJSON, until all are acknowledged."""
        conn = Http(d)
        pending = list(refused)
        done = []
        deadline = time.monotonic() + scaled(60)
        try:
            while pending:
                self.assertLess(time.monotonic(), deadline,
                                "%d requests still refused; %s\n%s" % (
                                    len(pending), d.state(), d.log_tail(20)))
                recs = pending.pop(0)
                ok, no, problem = conn.send(stream, recs, "ndjson")
                self.assertIsNone(problem)
                done += ok
                if no:
                    pending.append(no)
                    time.sleep(0.1)      # pacing while the sink drains the log
        finally:
            conn.close()
        return done

    def test_full_disk_refuses_then_recovers(self):
        d = self.sluice({"fd": disk_stream(**{"wal.max_size": "64MiB"})}, start=False)
        data_dir = d.process["data_dir"]
        os.makedirs(data_dir)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", data_dir],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.assertEqual(p.returncode, 0, "mount a 4 MiB tmpfs: " + p.stdout.decode())
        self.mounts.append(data_dir)
        blocker = d.block("fd")
        d.start(wait="listening")
        acked, refused = self.fill_until_refused(d, "fd")
        nrefused = sum(map(len, refused))
        self.assertGreater(len(acked), 0)
        m = d.metrics()
        self.assertGreater(m.get("sluice_wal_errors_total", stream="fd", reason="enospc"), 0)
        self.assertEqual(m.get("sluice_records_rejected_total", stream="fd", source="http",
                               reason="wal_error"), nrefused)
        self.assertEqual(m.get("sluice_records_rejected_total", 0, stream="fd", source="http",
                               reason="wal_full"), 0)
        self.assertEqual(m.get("sluice_records_received_total", stream="fd", source="http"),
                         len(acked))
        self.assertBalanced(m, "fd")
        self.assertTrue(d.healthy(), d.state())
        os.remove(blocker)
        acked += self.retry_until_acked(d, "fd", refused)
        d.wait_records("fd", delivered=len(acked), sink="file", at_least=True, timeout=60)
        d.stop()
        objects = self.file_objects(d, "fd")
        self.assertObjectKeys(objects, "fd")
        self.assertOnce([r for _, rs in objects for r in rs], acked)
        self.assertEqual(len(acked), len(set(acked)))

    def test_max_size_pushes_back(self):
        d = self.sluice({"ms": disk_stream(**{"wal.max_size": "4MiB"})}, start=False)
        blocker = d.block("ms")
        d.start(wait="listening")
        acked, refused = self.fill_until_refused(d, "ms")
        nrefused = sum(map(len, refused))
        m = d.metrics()
        self.assertEqual(m.get("sluice_records_rejected_total", stream="ms", source="http",
                               reason="wal_full"), nrefused)
        self.assertEqual(m.get("sluice_records_rejected_total", 0, stream="ms", source="http",
                               reason="wal_error"), 0)
        for reason in ("enospc", "eio", "other"):
            self.assertEqual(m.get("sluice_wal_errors_total", stream="ms", reason=reason), 0)
        logged = m.get("sluice_wal_bytes", stream="ms")
        on_disk = sum(os.path.getsize(p) for p in wal_files(d, "ms"))
        self.assertLessEqual(logged, 4 * MIB + 256 * 1024, "sluice_wal_bytes over max_size")
        self.assertLessEqual(on_disk, 4 * MIB + 256 * 1024, "segment files over max_size")
        self.assertGreaterEqual(logged, 2 * MIB, "refused long before wal.max_size")
        self.assertGreaterEqual(sum(map(len, acked)), 2 * MIB)
        self.assertBalanced(m, "ms")
        self.assertTrue(d.healthy())
        os.remove(blocker)
        acked += self.retry_until_acked(d, "ms", refused)
        d.wait_records("ms", delivered=len(acked), sink="file", at_least=True, timeout=60)
        d.stop()
        objects = self.file_objects(d, "ms")
        self.assertObjectKeys(objects, "ms")
        self.assertOnce([r for _, rs in objects for r in rs], acked)
        self.assertEqual(len(acked), len(set(acked)))


# -- 8. config ----------------------------------------------------------------

CONF = """\
[sluice]
metrics_listen = 127.0.0.1:19440
data_dir = {dir}/data

[stream x]
tcp_listen = 127.0.0.1:19441
file.path = {dir}/out
durability = {durability}
wal.segment_size = {segment}
wal.max_size = {max}
"""


class WalConfigTest(WalTestCase):

    def check(self, **kw):
        tmp = tempfile.mkdtemp(prefix="sluice-it-walconf-", dir="/tmp")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "sluice.conf")
        vals = {"durability": "disk", "segment": "4MiB", "max": "8MiB"}
        vals.update(kw)
        with open(path, "w") as f:
            f.write(CONF.format(dir=tmp, **vals))
        p = subprocess.run([BIN, "--check", "-c", path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=scaled(30))
        return path, p.returncode, p.stdout.decode()

    def assertCheckError(self, line, key, word, **kw):
        path, rc, out = self.check(**kw)
        self.assertEqual(rc, 1, "--check must fail (%r):\n%s" % (kw, out))
        pat = r"(?m)^%s:%d: \[stream x\] %s: .*%s" % (re.escape(path), line, re.escape(key),
                                                      re.escape(word))
        self.assertRegex(out, pat)

    def test_check_wal_keys(self):
        path, rc, out = self.check()                      # max = 2 * segment: fine
        self.assertEqual(rc, 0, out)
        path, rc, out = self.check(durability="memory")
        self.assertEqual(rc, 0, out)
        self.assertCheckError(10, "wal.max_size", "segment_size", max="7MiB")
        self.assertCheckError(10, "wal.max_size", "segment_size", segment="64MiB", max="100MiB")
        self.assertCheckError(9, "wal.segment_size", "", segment="512KiB")
        self.assertCheckError(10, "wal.max_size", "", segment="1MiB", max="3MiB")
        self.assertCheckError(8, "durability", "ssd", durability="ssd")

    def test_reload_cannot_change_durability(self):
        for old, new in (("disk", "memory"), ("memory", "disk")):
            d = self.sluice({"rd": {"durability": old, "buffer_interval": "200ms",
                                    "wal.segment_size": "1MiB", "wal.max_size": "4MiB"}})
            d.streams["rd"]["durability"] = new
            d.reload()
            wait_for(lambda: d.metrics().get("sluice_config_reloads_total",
                                             result="failure") == 1, 10,
                     msg="%s -> %s: reload counted as a failure" % (old, new))
            self.assertEqual(d.metrics().get("sluice_config_reloads_total", result="success"), 0)
            refused = [l for l in d.log().splitlines() if "reload refused" in l]
            self.assertTrue(refused, d.log_tail())
            self.assertIn("durability", refused[-1])
            self.assertTrue(d.healthy())
            recs = make_records(50, tag=b"rd-")
            self.send_all(d, "rd", [recs], kinds=("ndjson",))
            d.wait_records("rd", delivered=50, sink="file", at_least=True, timeout=60)
            d.stop()
            objects = self.file_objects(d, "rd")
            self.assertOnce([r for _, rs in objects for r in rs], recs)
            for key, _ in objects:
                self.assertEqual(KEY_RE.match(key).group("version"), "1", key)
            self.assertEqual(bool(wal_files(d, "rd")), old == "disk",
                             "log files with durability = %s" % old)


# -- 9. TCP ------------------------------------------------------------------

class WalTcpTest(WalTestCase):

    def test_tcp_records_survive_kill_9(self):
        d = self.sluice({"tc": disk_stream()}, start=False)
        blocker = d.block("tc")
        d.start(wait="listening")
        recs = make_records(3000, tag=b"tc-")
        d.send(recs, conns=4)
        ids = set(r[:13] for r in recs)           # tag + 10 digits

        def all_logged():
            return set(re.findall(rb"tc-\d{10}", wal_bytes(d, "tc"))) >= ids

        wait_for(all_logged, 20, msg="every TCP record in the log")
        m = d.metrics()
        self.assertGreaterEqual(m.get("sluice_wal_bytes", stream="tc"), sum(map(len, recs)))
        self.assertEqual(m.get("sluice_records_received_total", stream="tc", source="tcp"),
                         3000)
        self.assertEqual(m.get("sluice_records_delivered_total", stream="tc", sink="file"), 0)
        d.kill()
        os.remove(blocker)
        d.start()
        d.wait_records("tc", delivered=3000, sink="file", at_least=True, timeout=60)
        m = d.metrics()
        self.assertEqual(m.get("sluice_wal_records_recovered_total", stream="tc"), 3000)
        self.assertEqual(m.get("sluice_records_received_total", stream="tc", source="wal"), 3000)
        self.assertBalanced(m, "tc")
        # and after the restart, TCP records go on being delivered
        more = make_records(500, start=3000, tag=b"tc-")
        d.send(more, conns=2)
        d.wait_records("tc", delivered=3500, sink="file", at_least=True, timeout=60)
        d.stop()
        objects = self.file_objects(d, "tc")
        self.assertObjectKeys(objects, "tc")
        self.assertOnce([r for _, rs in objects for r in rs], recs + more)


class RecoveryAlongsideTest(WalTestCase):

    def test_recovery_waits_for_room_and_stops_on_sigterm(self):
        """A log larger than max_buffered, its sink still down after the crash:
        the daemon comes up and answers, recovery holds at max_buffered instead
        of loading the log, SIGTERM stops it cleanly, and the next start (sink
        back) delivers every record exactly once."""
        d = self.sluice({"ra": disk_stream(max_record_size="1KiB")},
                        process={"shutdown_timeout": "1s"}, start=False)
        blocker = d.block("ra")
        d.start(wait="listening")
        recs = make_records(8000, tag=b"ra-")
        self.send_all(d, "ra", [recs[i:i + 100] for i in range(0, len(recs), 100)])
        d.kill()

        d.streams["ra"]["max_buffered"] = "256KiB"   # the log holds ~1.6 MB
        d.write_config()
        lines = len(recovered_lines(d))             # the log file spans the runs
        d.start(wait="listening")
        budget = 256 * 1024
        wait_for(lambda: d.metrics().get("sluice_bytes_buffered", stream="ra") >= budget // 2,
                 20, msg=lambda: "recovery handing records on\n" + d.log_tail(20))
        m = d.metrics()
        got = m.get("sluice_records_received_total", stream="ra", source="wal")
        self.assertGreater(got, 0)
        self.assertLess(got, 8000, "recovery paced by max_buffered, not the whole log")
        self.assertLessEqual(m.get("sluice_bytes_buffered", stream="ra"), budget + 96 * 1024)
        self.assertEqual(recovered_lines(d)[lines:], [],
                         "recovery cannot finish: the sink is down")
        self.assertTrue(d.healthy())
        conn = Http(d)
        try:       # sources are open: a new request is answered (here: pushed back)
            acked, refused, problem = conn.send("ra", [b"new-0"], "ndjson")
            self.assertIsNone(problem)
            self.assertEqual(len(acked) + len(refused), 1)
        finally:
            conn.close()
        d.stop()                                      # exit 0: recovery stopped
        self.assertEqual(len(recovered_lines(d)), lines + 1)
        self.assertIn("stopped", recovered_lines(d)[-1])

        os.remove(blocker)
        d.streams["ra"]["max_buffered"] = "64MiB"
        d.write_config()
        d.start()
        expect = recs + ([b"new-0"] if acked else [])
        d.wait_records("ra", delivered=len(expect), sink="file", at_least=True, timeout=60)
        wait_for(lambda: len(recovered_lines(d)) == lines + 2, 20, msg="recovery finished")
        self.assertNotIn("stopped", recovered_lines(d)[-1])
        m = d.metrics()
        self.assertBalanced(m, "ra")
        wait_for(lambda: d.metrics().get("sluice_wal_segments", stream="ra") == 1, 20,
                 msg="settled segments deleted once recovery finished")
        d.stop()
        objects = self.file_objects(d, "ra")
        self.assertObjectKeys(objects, "ra")
        self.assertOnce([r for _, rs in objects for r in rs], expect)


if __name__ == "__main__":
    unittest.main()
