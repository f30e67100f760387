#!/usr/bin/env python3
"""
bench.py - make bench: every scenario against a freshly started sluice,
one table at the end.

  BUILD=build RECORDS=2000000 CONNS=8 SCENARIOS="tcp-none ..." bench/bench.py

Each scenario starts sluice with a file sink, pushes RECORDS records with
build/loadgen, waits until sluice has delivered them all, and ends with
`loadgen verify` over the objects: a scenario that lost, duplicated or
corrupted a record reports FAIL and makes the run exit 1. Measured:

  records/s, MiB/s  end to end: first byte sent until the last record is
                    in an fsynced object (the delivered counter)
  CPU s/GiB         the daemon's user+system CPU over the run, per GiB of
                    records received (/proc/PID/stat: the daemon only)
  peak RSS          the daemon's VmHWM
  p50, p99          data freshness, sent to object visible (loadgen -w),
                    in the latency scenario
  vs baseline       sluice's records/s as a share of a baseline measured in
                    the same run on the same bytes: loadgen into a TCP
                    receiver that discards (tcp-none), `zstd -1 -T2` or
                    `gzip -1` over the records (compressing scenarios)

With PERF=DIR (`make profile`), each scenario's daemon runs under
`perf record --call-graph dwarf` (PERF_CALLGRAPH, PERF_FREQ change it),
attached to the daemon's process only; the profile lands in
DIR/SCENARIO.perf (DIR/SCENARIO.2.perf for a scenario named twice), and
bench/perf_top.py's summary of it is printed and kept in DIR/SCENARIO.txt.

transform-zstd is tcp-zstd with every record rewritten by the example
plugin (examples/transform_upper.c): the transform stage's cost;
json-zstd has every record parsed (and passed unchanged) by json_validate.

pg-copy loads a quarter of RECORDS into PostgreSQL (jsonb), beside psql's
\\copy of the same rows; redshift stages them in s3rver and COPYs them
through the tests' Redshift front (its time is s3rver's and the front's);
tcp-kafka produces them through the Kafka sink to librdkafka's mock cluster,
counted by the topic's end offsets; kafka-zstd reads a topic of the mock
into zstd objects through the Kafka source, beside kcat -C on the same
topic.

The latency scenario runs at half the rate tcp-zstd reached, with
buffer_interval 1s; the overload scenario at twice that rate with a small
max_buffered, and checks the daemon's memory stays bounded.

ROUNDS=N runs the baselines and every scenario N times, one round after
the other (so a slow minute of the machine hits every scenario alike),
prints each round's table, then a summary: the median and range of
records/s, CPU s/GiB and the baseline ratio per scenario, and for each
X-disk scenario beside an X scenario, its records/s as a share of X's in
the same round (durability's cost). On a shared VM one run says little:
figures for the docs come from ROUNDS=3 or more.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
SLUICE, LOADGEN = os.path.join(BUILD, "sluice"), os.path.join(BUILD, "loadgen")
RECORDS = int(os.environ.get("RECORDS", "2000000"))
CONNS = int(os.environ.get("CONNS", "8"))
# Objects go to tmpfs unless told otherwise: the figures are sluice's, not
# the disk's (this VM's disk takes ~280 MB/s of fsynced writes).
WORKDIR = os.environ.get("BENCH_DIR", "/dev/shm" if os.path.isdir("/dev/shm") else "/tmp")
SCENARIOS = os.environ.get("SCENARIOS", "tcp-none tcp-zstd tcp-gzip firehose-zstd "
                           "ndjson-zstd transform-zstd json-zstd tcp-zstd-disk "
                           "firehose-zstd-disk ndjson-zstd-disk recovery-disk latency overload "
                           "s3-zstd es-bulk pg-copy redshift tcp-kafka kafka-zstd").split()
# The write-ahead log of the *-disk scenarios goes to a real disk (not
# tmpfs, whose fdatasync costs nothing): that is what they measure.
WALDIR = os.environ.get("BENCH_WAL_DIR", "/var/tmp")
# [sluice] workers for every scenario's daemon ("": the daemon's default)
WORKERS = os.environ.get("WORKERS", "")
ROUNDS = int(os.environ.get("ROUNDS", "1"))
PERF = os.environ.get("PERF", "")
PERF_CALLGRAPH = os.environ.get("PERF_CALLGRAPH", "dwarf,16384")
PERF_FREQ = os.environ.get("PERF_FREQ", "999")
TICK = os.sysconf("SC_CLK_TCK")
MiB, GiB = 1 << 20, 1 << 30


def free_ports(n):
    """<n> distinct free ports: all held bound until each is chosen, so the
    kernel cannot hand the same one out twice."""
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def free_port():
    return free_ports(1)[0]


def wait_for(cond, timeout, what, interval=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(interval)
    raise RuntimeError("timed out waiting for " + what)


def kv(line):
    return dict(f.split("=", 1) for f in line.split() if "=" in f)


def loadgen(*args):
    """Runs loadgen; returns (start epoch, results dict, output lines)."""
    out = subprocess.run([LOADGEN, *map(str, args)], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("loadgen %s failed: %s%s" % (args[0], out.stdout, out.stderr))
    lines = out.stdout.splitlines()
    start = next((float(l.split()[2]) for l in lines if l.startswith("loadgen: start")), None)
    res = {}
    for l in lines:
        res.update(kv(l))
    return start, res, lines


class Daemon:
    def __init__(self, stream, process=None, sections=()):
        self.dir = tempfile.mkdtemp(prefix="sluice-bench-", dir=WORKDIR)
        self.mport, self.hport, self.tport = free_ports(3)
        self.out = os.path.join(self.dir, "out")
        conf = ["[sluice]", "metrics_listen = 127.0.0.1:%d" % self.mport,
                "http_listen = 127.0.0.1:%d" % self.hport, "log_level = warn"]
        base = {"data_dir": self.dir, **({"workers": WORKERS} if WORKERS else {})}
        conf += ["%s = %s" % kv for kv in dict(base, **(process or {})).items()]
        conf += ["[stream bench]", "tcp_listen = 127.0.0.1:%d" % self.tport]
        if stream.get("sink", "file") == "file":
            conf += ["file.path = " + self.out]
        conf += ["%s = %s" % kv for kv in stream.items()]
        conf += list(sections)
        self.conf = os.path.join(self.dir, "sluice.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(conf) + "\n")
        self.spawn(10)

    def spawn(self, timeout):
        self.log = open(os.path.join(self.dir, "log"), "a")
        self.proc = subprocess.Popen([SLUICE, "-c", self.conf], stderr=self.log)
        wait_for(self.ready, timeout, "sluice to be ready")
        self.cpu0, self.minflt0 = self.cpu(), self.minflt()

    def crash_and_restart(self, timeout):
        """kill -9, then start again on the same config and data_dir; ready
        comes after the log's recovery."""
        self.proc.kill()
        self.proc.wait(60)
        self.log.close()
        self.spawn(timeout)

    def ready(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % self.mport, timeout=1):
                return True
        except OSError:
            return False

    def metric(self, name):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.mport, timeout=5) as r:
            total = 0
            for line in r.read().decode().splitlines():
                if line.startswith(name + "{") or line.startswith(name + " "):
                    total += float(line.rsplit(" ", 1)[1])
            return total

    def histogram_quantile(self, name, q):
        """The upper bound of the bucket holding quantile <q> of histogram <name>."""
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.mport, timeout=5) as r:
            buckets = []
            for line in r.read().decode().splitlines():
                if line.startswith(name + "_bucket{"):
                    le = line.split('le="', 1)[1].split('"', 1)[0]
                    buckets.append((float("inf") if le == "+Inf" else float(le),
                                    float(line.rsplit(" ", 1)[1])))
        total = buckets[-1][1] if buckets else 0
        for le, cum in buckets:
            if total and cum >= q * total:
                return le
        return float("nan")

    def stat(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            return f.read().rsplit(")", 1)[1].split()

    def cpu(self):
        fields = self.stat()
        return (int(fields[11]) + int(fields[12])) / TICK

    def minflt(self):
        """Minor page faults so far: fresh memory the kernel had to zero."""
        return int(self.stat()[7])

    def peak_rss(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self):
        self.proc.terminate()
        self.proc.wait(60)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def baselines(n):
    """Records/s of the discard receiver, zstd -1 -T2 and gzip -1 on the same records."""
    port = free_port()
    sink = subprocess.Popen([LOADGEN, "discard", "-p", str(port), "-c", str(CONNS)],
                            stdout=subprocess.PIPE, text=True)
    sink.stdout.readline()                     # "listening"
    _, res, _ = loadgen("tcp", "-p", port, "-c", CONNS, "-n", n)
    sink.wait(60)
    out = {"discard": float(res["records_per_s"])}
    with tempfile.NamedTemporaryFile(dir="/tmp", prefix="sluice-bench-") as data:
        subprocess.run([LOADGEN, "dump", "-n", str(n)], stdout=data, check=True)
        for name, cmd in (("zstd", ["zstd", "-q", "-1", "-T2", "-c"]), ("gzip", ["gzip", "-1", "-c"])):
            data.seek(0)
            t0 = time.monotonic()
            subprocess.run(cmd, stdin=data, stdout=subprocess.DEVNULL, check=True)
            out[name] = n / (time.monotonic() - t0)
    return out


def perf_file(name):
    """DIR/NAME.perf, or DIR/NAME.2.perf... when this run already made one."""
    n = sum(1 for f in PERF_MADE if f == name) + 1
    PERF_MADE.append(name)
    return os.path.join(PERF, name + (".perf" if n == 1 else ".%d.perf" % n))


PERF_MADE = []


def scenario(name, mode, n, stream, process=None, rate=0, watch=False, baseline=None,
             extra=(), fetch=None, sections=(), verify=(), wal=False, check=None, poll=0.02):
    """Runs one scenario; returns a row for the table. <fetch>(dir), if
    given, brings the objects into dir for verify (an S3 bucket's);
    <sections> are more config lines; <verify> more loadgen verify flags;
    <check>(), if given, replaces loadgen verify (a record sink has no
    objects) and returns the same fields. <poll>: seconds between the
    scrapes that wait for the end (each costs the daemon a /metrics page)."""
    waldir = tempfile.mkdtemp(prefix="sluice-bench-wal-", dir=WALDIR) if wal else None
    if waldir:
        process = dict(process or {}, data_dir=waldir)
    d, perf = Daemon(stream, process, sections), None
    try:
        args = [mode, "-p", d.tport if mode == "tcp" else d.hport, "-c", CONNS, "-n", n]
        if mode != "tcp":
            args += ["-t", "bench"]
        if rate:
            args += ["-r", int(rate)]
        if watch:
            os.makedirs(d.out, exist_ok=True)
            args += ["-w", d.out]
        args += list(extra)
        if PERF:
            os.makedirs(PERF, exist_ok=True)
            data = perf_file(name)
            perf = subprocess.Popen(["perf", "record", "-q", "--call-graph", PERF_CALLGRAPH,
                                     "-F", PERF_FREQ, "-p", str(d.proc.pid), "-o", data],
                                    stderr=subprocess.DEVNULL)
            time.sleep(0.5)                     # perf attaches; nothing to poll
        peak_buffered = [0]
        result = []
        def send():
            try:
                result.append(loadgen(*args))
            except RuntimeError as e:
                result.append(e)
        sender = threading.Thread(target=send)
        sender.start()

        def delivered():
            peak_buffered[0] = max(peak_buffered[0], d.metric("sluice_bytes_buffered"))
            if result and isinstance(result[0], RuntimeError):
                raise result[0]
            return not sender.is_alive() and d.metric("sluice_records_delivered_total") >= n
        wait_for(delivered, 600, "every record delivered", poll)
        sender.join()
        if perf:
            perf.send_signal(2)
            perf.wait(60)
            perf = None
            top = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "perf_top.py"),
                                  data], capture_output=True, text=True).stdout
            with open(data[:-len(".perf")] + ".txt", "w") as f:
                f.write(top)
            print("== profile of %s\n%s" % (name, top), file=sys.stderr, flush=True)
        if isinstance(result[0], RuntimeError):
            raise result[0]
        start, res, _ = result[0]
        seconds = time.time() - start
        cpu = d.cpu() - d.cpu0
        faults = d.minflt() - d.minflt0
        rss = d.peak_rss()
        if fetch:
            fetch(d.out)
        if check:
            ver = check()
        else:
            _, ver, _ = loadgen("verify", "-d", d.out, "-n", n, *verify)
        bytes_ = int(res["bytes"])
        row = {
            "scenario": name, "records_s": n / seconds, "mib_s": bytes_ / MiB / seconds,
            "cpu_s_gib": cpu / (bytes_ / GiB), "rss_mib": rss / MiB,
            "p50": float(res["p50_s"]) if "p50_s" in res else None,
            "p99": float(res["p99_s"]) if "p99_s" in res else None,
            "vs": (baseline[0], n / seconds / baseline[1]) if baseline else None,
            "verify": ver, "retried": int(res.get("retried", 0)),
            "peak_buffered_mib": peak_buffered[0] / MiB,
            "faults_per_mib": faults / (bytes_ / MiB),
        }
        if wal:
            syncs = d.metric("sluice_wal_sync_duration_seconds_count")
            row["syncs"] = syncs
            row["sync_ms"] = 1000 * d.metric("sluice_wal_sync_duration_seconds_sum") / max(syncs, 1)
            row["sync_p99_ms"] = 1000 * d.histogram_quantile(
                "sluice_wal_sync_duration_seconds", 0.99)
        return row
    except RuntimeError as e:
        log = open(os.path.join(d.dir, "log")).read()[-2000:]
        return {"scenario": name, "error": str(e) + "\n" + log}
    finally:
        if perf:                                # a failed run: stop recording
            perf.send_signal(2)
            perf.wait(60)
        d.stop()
        if waldir:
            shutil.rmtree(waldir, ignore_errors=True)


def recovery_scenario(name, n):
    """n records over TCP into a disk stream whose sink is blocked, kill -9,
    unblock, restart: how long recovery takes to deliver a full log."""
    waldir = tempfile.mkdtemp(prefix="sluice-bench-wal-", dir=WALDIR)
    stream = {"buffer_size": "8MiB", "buffer_interval": "200ms", "max_buffered": "4GiB",
              "compression": "zstd", "compression_level": "1", "durability": "disk",
              "wal.max_size": "64GiB", "retry_duration": "1h"}   # all of it held: no pushback
    d = Daemon(stream, {"data_dir": waldir})
    try:
        shutil.rmtree(d.out, ignore_errors=True)  # a file where the sink wants a directory
        open(d.out, "w").close()
        loadgen("tcp", "-p", d.tport, "-c", CONNS, "-n", n)
        wait_for(lambda: d.metric("sluice_records_received_total") >= n, 300, "records in")
        last = [-1, 0]

        def settled():     # the log stopped growing: written, and synced (the sync
            size = d.metric("sluice_wal_bytes")   # thread runs whenever it grew)
            last[1] = last[1] + 1 if size == last[0] else 0
            last[0] = size
            time.sleep(0.2)
            return last[1] >= 5
        wait_for(settled, 60, "the log to stop growing")
        log_bytes = d.metric("sluice_wal_bytes")
        os.remove(d.out)
        with open(d.conf) as f:                  # recovery paced by the usual 256 MiB
            text = f.read().replace("max_buffered = 4GiB", "max_buffered = 256MiB")
        with open(d.conf, "w") as f:
            f.write(text)
        t0 = time.time()
        d.crash_and_restart(900)
        wait_for(lambda: d.metric("sluice_records_delivered_total") >= n, 900,
                 "every recovered record delivered")
        seconds = time.time() - t0
        _, ver, _ = loadgen("verify", "-d", d.out, "-n", n)
        return {"scenario": name, "records_s": n / seconds, "mib_s": log_bytes / MiB / seconds,
                "cpu_s_gib": (d.cpu() - d.cpu0) / (log_bytes / GiB),
                "rss_mib": d.peak_rss() / MiB, "p50": None, "p99": None,
                "vs": None, "verify": ver, "retried": 0, "peak_buffered_mib": 0,
                "recovery": (log_bytes / MiB, d.metric("sluice_wal_recovery_duration_seconds"),
                             d.metric("sluice_wal_records_recovered_total"))}
    except RuntimeError as e:
        log = open(os.path.join(d.dir, "log")).read()[-2000:]
        return {"scenario": name, "error": str(e) + "\n" + log}
    finally:
        d.stop()
        shutil.rmtree(waldir, ignore_errors=True)


def s3_scenario(name, base):
    """TCP into an S3 bucket of s3rver (installed by scripts/deps.sh test),
    zstd level 1; the objects are fetched with boto3 for verify."""
    s3rver = os.path.join(ROOT, "var", "npm", "node_modules", ".bin", "s3rver")
    if not os.path.exists(s3rver):
        return {"scenario": name, "error": "s3rver missing: run scripts/deps.sh test"}
    import boto3
    work = tempfile.mkdtemp(prefix="sluice-bench-s3-", dir=WORKDIR)
    port = free_port()
    proc = subprocess.Popen([s3rver, "-d", os.path.join(work, "data"), "-a", "127.0.0.1",
                             "-p", str(port), "--silent", "--configure-bucket", "bench"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    creds = os.path.join(work, "credentials")
    with open(creds, "w") as f:
        f.write("[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n")
    endpoint = "http://127.0.0.1:%d" % port
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="S3RVER", aws_secret_access_key="S3RVER")

    def up():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    def fetch(out):
        os.makedirs(out, exist_ok=True)
        pages = client.get_paginator("list_objects_v2").paginate(Bucket="bench")
        for i, obj in enumerate(o for p in pages for o in p.get("Contents", [])):
            client.download_file("bench", obj["Key"], os.path.join(out, "%06d.zst" % i))
    try:
        wait_for(up, 30, "s3rver listening")
        stream = {"buffer_size": "8MiB", "buffer_interval": "200ms", "max_buffered": "256MiB",
                  "compression": "zstd", "compression_level": "1", "sink": "s3",
                  "s3.bucket": "bench", "s3.endpoint": endpoint, "s3.path_style": "true",
                  "s3.credentials_file": creds}
        return scenario(name, "tcp", RECORDS, stream, baseline=("zstd -1", base["zstd"]),
                        fetch=fetch)
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def es_scenario(name, base):
    """TCP into sink = elasticsearch, against the tests' _bulk double
    (tests/integration/es_server.py, without keeping sources): a quarter of
    RECORDS, since the double is Python and slower than sluice. What counts
    is sluice's CPU per GiB beside tcp-zstd's; records/s is the double's."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "integration",
                                                          "es_server.py"),
                             "--port", str(port), "--no-sources"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    n = max(RECORDS // 4, 1000)
    endpoint = "http://127.0.0.1:%d" % port

    def check():
        """Each record indexed once: the double's count, and no 409 (a
        second send of a record) nor a failed item."""
        with urllib.request.urlopen(endpoint + "/bench/_count", timeout=30) as r:
            count = json.load(r)["count"]
        with urllib.request.urlopen(endpoint + "/_test/stats", timeout=30) as r:
            stats = json.load(r)
        items = stats.get("items", {})
        again = sum(v for k, v in items.items() if k.endswith(" 409"))
        bad = sum(v for k, v in items.items() if not k.endswith((" 200", " 201", " 409")))
        return {"records": str(count), "expected": str(n), "missing": str(max(n - count, 0)),
                "duplicated": str(max(count - n, 0) + again), "corrupted": str(bad),
                "unreadable": "0"}
    try:
        proc.stdout.readline()                  # "listening URL"
        stream = {"buffer_size": "8MiB", "buffer_interval": "200ms", "max_buffered": "256MiB",
                  "sink": "elasticsearch", "es.endpoint": endpoint, "es.index": "bench",
                  "es.index_rotation": "none", "compression": "none"}
        # a slow run: scrape twice a second, or /metrics outweighs the sink
        return scenario(name, "tcp", n, stream, check=check, poll=0.5)
    finally:
        proc.kill()
        proc.wait()


def _pg():
    """A throwaway PostgreSQL cluster of the tests' (tests/integration/pg_server.py)."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    from pg_server import PgServer
    return PgServer()


def _pg_check(pg, table, n):
    """Each record in <table> once: rows, distinct seq values, and none unparsed."""
    rows, distinct = pg.rows("SELECT count(*), count(DISTINCT data->>'seq') FROM %s" % table)[0]
    rows, distinct = int(rows), int(distinct)
    return {"records": str(rows), "expected": str(n), "missing": str(max(n - distinct, 0)),
            "duplicated": str(rows - distinct), "corrupted": "0", "unreadable": "0"}


def pg_scenario(name):
    """TCP into sink = postgresql (jsonb), a quarter of RECORDS; the
    baseline is psql's \\copy of the same rows into a table of the same
    shape, on the same server."""
    n = max(RECORDS // 4, 1000)
    try:
        pg = _pg()
    except (AssertionError, OSError) as e:
        return {"scenario": name, "error": "no PostgreSQL: %s" % e}
    try:
        pg.psql("CREATE TABLE bench (data jsonb); CREATE TABLE base (data jsonb)")
        with tempfile.NamedTemporaryFile(dir="/tmp", prefix="sluice-bench-pg-") as data:
            subprocess.run([LOADGEN, "dump", "-n", str(n)], stdout=data, check=True)
            data.flush()
            t0 = time.monotonic()
            # CSV with a quote and a delimiter that JSON text never holds
            pg.psql("\\copy base (data) FROM '%s' WITH (FORMAT csv, QUOTE e'\\x01', "
                    "DELIMITER e'\\x02')" % data.name, timeout=600)
            base = n / (time.monotonic() - t0)
        stream = {"buffer_size": "8MiB", "buffer_interval": "200ms", "max_buffered": "256MiB",
                  "sink": "postgresql", "pg.conninfo": pg.conninfo(), "pg.table": "bench",
                  "compression": "none"}
        return scenario(name, "tcp", n, stream, baseline=("psql \\copy", base),
                        check=lambda: _pg_check(pg, "bench", n), poll=0.5)
    finally:
        pg.cleanup()


def redshift_scenario(name):
    """TCP into sink = redshift: objects and manifests into s3rver, COPY
    through the tests' Redshift front into PostgreSQL; a quarter of RECORDS.
    For the record: the time is s3rver's and the front's (Python, one row
    at a time into COPY FROM STDIN), not sluice's; CPU s/GiB is sluice's."""
    s3rver = os.path.join(ROOT, "var", "npm", "node_modules", ".bin", "s3rver")
    if not os.path.exists(s3rver):
        return {"scenario": name, "error": "s3rver missing: run scripts/deps.sh test"}
    n = max(RECORDS // 4, 1000)
    try:
        pg = _pg()
    except (AssertionError, OSError) as e:
        return {"scenario": name, "error": "no PostgreSQL: %s" % e}
    work = tempfile.mkdtemp(prefix="sluice-bench-rs-", dir=WORKDIR)
    s3port, fport = free_ports(2)
    procs = [subprocess.Popen([s3rver, "-d", os.path.join(work, "data"), "-a", "127.0.0.1",
                               "-p", str(s3port), "--silent", "--configure-bucket", "bench"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    endpoint = "http://127.0.0.1:%d" % s3port
    creds = os.path.join(work, "credentials")
    with open(creds, "w") as f:
        f.write("[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n")
    try:
        wait_for(lambda: _listening(s3port), 30, "s3rver listening")
        procs.append(subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "tests", "integration", "redshift_front.py"),
             "--pg-port", str(pg.port), "--s3-endpoint", endpoint, "--port", str(fport)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
        procs[-1].stdout.readline()             # "listening HOST:PORT"
        # the table has the loadgen record's fields sluice can check by
        pg.psql("CREATE TABLE bench (seq bigint, event varchar(32), country varchar(8), "
                "item int, qty int, price float8)")
        stream = {"buffer_size": "8MiB", "buffer_interval": "1s", "max_buffered": "256MiB",
                  "compression": "gzip", "compression_level": "1", "sink": "redshift",
                  "redshift.conninfo": "host=127.0.0.1 port=%d dbname=events user=sluice"
                                       % fport,
                  "redshift.table": "bench", "s3.bucket": "bench", "s3.endpoint": endpoint,
                  "s3.path_style": "true", "s3.credentials_file": creds,
                  "redshift.credentials": "aws_access_key_id=S3RVER;aws_secret_access_key=x"}

        def check():
            rows, distinct = pg.rows("SELECT count(*), count(DISTINCT seq) FROM bench")[0]
            rows, distinct = int(rows), int(distinct)
            return {"records": str(rows), "expected": str(n),
                    "missing": str(max(n - distinct, 0)), "duplicated": str(rows - distinct),
                    "corrupted": "0", "unreadable": "0"}
        return scenario(name, "tcp", n, stream, check=check, poll=0.5)
    finally:
        for p in procs:
            p.kill()
            p.wait()
        pg.cleanup()
        shutil.rmtree(work, ignore_errors=True)


def kafka_scenario(name):
    """TCP into sink = kafka against librdkafka's mock cluster (build/kafka-mock,
    one broker, a 4-partition topic), producer batches compressed with zstd;
    a quarter of RECORDS. The mock keeps about 5 MiB per partition, so each
    record is counted once by the topic's end offsets (kcat -Q), which an
    idempotent producer moves exactly once per record. The mock runs on the
    same two cores: part of the time is its."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    os.environ.setdefault("SLUICE_BIN", SLUICE)
    from kafka import KafkaMock, offsets
    n = max(RECORDS // 4, 1000)
    try:
        k = KafkaMock(brokers=1)
    except Exception as e:                       # noqa: BLE001 (a bench row, not a crash)
        return {"scenario": name, "error": "no Kafka mock: %s" % e}
    try:
        k.topic("bench", 4)
        stream = {"buffer_size": "8MiB", "buffer_interval": "200ms", "max_buffered": "256MiB",
                  "compression": "none", "sink": "kafka", "kafka_sink.brokers": k.bootstrap,
                  "kafka_sink.topic": "bench",
                  "kafka_sink.option.compression.codec": "zstd",
                  "kafka_sink.option.linger.ms": "20"}

        def check():
            got = sum(offsets(k.bootstrap, "bench").values())
            return {"records": str(got), "expected": str(n), "missing": str(max(n - got, 0)),
                    "duplicated": str(max(got - n, 0)), "corrupted": "0", "unreadable": "0"}
        return scenario(name, "tcp", n, stream, check=check, poll=0.5)
    finally:
        k.stop()


def kafka_source_scenario(name):
    """A topic into zstd file objects through the Kafka source: RECORDS / 8
    (at most 200 k: the mock keeps about 5 MiB per partition) produced with
    kcat into a 4-partition topic of the mock cluster (zstd batches), then
    sluice started on it. Measured from the first record received to the
    last delivered (the group join before it is the mock's 3 s); the
    baseline is kcat -C reading the same topic to /dev/null."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    os.environ.setdefault("SLUICE_BIN", SLUICE)
    from kafka import KafkaMock, offsets, produce
    n = max(min(RECORDS // 8, 200000), 1000)
    try:
        k = KafkaMock(brokers=1)
    except Exception as e:                       # noqa: BLE001 (a bench row, not a crash)
        return {"scenario": name, "error": "no Kafka mock: %s" % e}
    d = None
    try:
        k.topic("bench", 4)
        lines = subprocess.run([LOADGEN, "dump", "-n", str(n)], check=True,
                               stdout=subprocess.PIPE).stdout.split(b"\n")[:n]
        per = (n + 3) // 4
        for part in range(4):
            produce(k.bootstrap, "bench", lines[part * per:(part + 1) * per], partition=part,
                    compression="zstd", timeout=300)
        if sum(offsets(k.bootstrap, "bench").values()) != n:
            return {"scenario": name, "error": "the mock did not take every record"}
        t0 = time.monotonic()
        r = subprocess.run(["kcat", "-C", "-b", k.bootstrap, "-t", "bench", "-o", "beginning",
                            "-e", "-q", "-f", "%s\n"], stdout=subprocess.PIPE, timeout=300)
        base = n / (time.monotonic() - t0)
        if r.stdout.count(b"\n") != n:
            return {"scenario": name, "error": "the mock trimmed the topic: %d of %d read "
                    "back" % (r.stdout.count(b"\n"), n)}
        stream = {"buffer_size": "8MiB", "buffer_interval": "200ms", "max_buffered": "256MiB",
                  "compression": "zstd", "compression_level": "1", "kafka.brokers": k.bootstrap,
                  "kafka.topics": "bench", "kafka.start": "earliest",
                  "kafka.option.session.timeout.ms": "6000",
                  # the partitions' last batches would wait kafka.seal_grace
                  # once the topic is read: latency, not throughput
                  "kafka.seal_grace": "0s"}
        d = Daemon(stream)
        wait_for(lambda: d.metric("sluice_records_received_total") > 0, 60, "a first record")
        start, cpu0 = time.monotonic(), d.cpu()
        wait_for(lambda: d.metric("sluice_records_delivered_total") >= n, 600,
                 "every record delivered", 0.05)
        seconds, cpu = time.monotonic() - start, d.cpu() - cpu0
        _, ver, _ = loadgen("verify", "-d", d.out, "-n", n)
        nbytes = sum(len(x) for x in lines)
        return {"scenario": name, "records_s": n / seconds, "mib_s": nbytes / MiB / seconds,
                "cpu_s_gib": cpu / (nbytes / GiB), "rss_mib": d.peak_rss() / MiB,
                "p50": None, "p99": None, "vs": ("kcat -C", n / seconds / base),
                "verify": ver, "retried": 0, "peak_buffered_mib": 0}
    finally:
        if d:
            d.stop()
        k.stop()


def _listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def main():
    for tool in (SLUICE, LOADGEN):
        if not os.path.exists(tool):
            sys.exit("bench: %s missing; run make bench" % tool)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    mem = int(open("/proc/meminfo").readline().split()[1]) / (1 << 20)
    print("machine: %d cores, %.0f GiB, %s" % (os.cpu_count(), mem, cpu))
    print("records: %d per scenario, %d connections, %d round(s)" % (RECORDS, CONNS, ROUNDS))
    failed, rounds = 0, []
    for i in range(ROUNDS):
        if ROUNDS > 1:
            print("\n== round %d of %d" % (i + 1, ROUNDS), flush=True)
        rows = one_round()
        failed |= report(rows)
        rounds.append(rows)
    if ROUNDS > 1:
        summary(rounds)
    sys.exit(1 if failed else 0)


def one_round():
    """Baselines, then every scenario once; returns their rows."""
    base = baselines(RECORDS)
    print("baselines: discard %.0f records/s, zstd -1 -T2 %.0f records/s, gzip -1 %.0f "
          "records/s" % (base["discard"], base["zstd"], base["gzip"]), flush=True)
    fast = {"buffer_size": "8MiB", "buffer_interval": "200ms", "max_buffered": "256MiB"}
    rows, peak = [], None
    for name in SCENARIOS:
        if name == "tcp-kafka":
            row = kafka_scenario(name)
        elif name == "kafka-zstd":
            row = kafka_source_scenario(name)
        elif name.startswith(("tcp-", "firehose-", "ndjson-")):
            mode, comp, *disk = name.split("-")
            stream = dict(fast, compression=comp)
            if comp != "none":
                stream["compression_level"] = "1"
            if disk:        # the same load, every record through the log first
                stream["durability"] = "disk"
            row = scenario(name, mode, RECORDS, stream, wal=bool(disk),
                           baseline=("discard", base["discard"]) if comp == "none" else
                           ("%s -1" % comp, base[comp]))
            if name == "tcp-zstd" and "error" not in row:
                peak = row["records_s"]
        elif name == "s3-zstd":
            row = s3_scenario(name, base)
        elif name == "es-bulk":
            row = es_scenario(name, base)
        elif name == "pg-copy":
            row = pg_scenario(name)
        elif name == "redshift":
            row = redshift_scenario(name)
        elif name == "recovery-disk":
            row = recovery_scenario(name, RECORDS)
        elif name == "transform-zstd":
            # every record rewritten by the example plugin: the stage's full
            # path (arena, one rebuilt chunk per batch); compare with tcp-zstd
            plugin = os.path.join(BUILD, "transform_upper.so")
            stream = dict(fast, compression="zstd", compression_level="1", transforms="up")
            row = scenario(name, "tcp", RECORDS, stream, baseline=("zstd -1", base["zstd"]),
                           sections=["[transform up]", "type = plugin", "path = " + plugin],
                           verify=["-U"])
        elif name == "json-zstd":
            # every record parsed by json_validate, none changed: jansson's cost
            stream = dict(fast, compression="zstd", compression_level="1", transforms="valid")
            row = scenario(name, "tcp", RECORDS, stream, baseline=("zstd -1", base["zstd"]),
                           sections=["[transform valid]", "type = json_validate"])
        elif name in ("latency", "overload"):
            if not peak:
                rows.append({"scenario": name, "error": "needs tcp-zstd's peak rate first"})
                continue
            if name == "latency":
                rate = peak / 2
                n = int(rate * 10)
                stream = dict(fast, buffer_interval="1s", compression="zstd",
                              compression_level="1")
                row = scenario(name, "tcp", n, stream, rate=rate, watch=True)
            else:
                rate = peak * 2
                n = int(peak * 10)
                stream = {"buffer_size": "4MiB", "buffer_interval": "200ms",
                          "max_buffered": "16MiB", "compression": "zstd",
                          "compression_level": "1"}
                row = scenario(name, "tcp", n, stream, rate=rate)
                row["limit_mib"], row["asked"] = 16, rate
        else:
            row = {"scenario": name, "error": "unknown scenario"}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def summary(rounds):
    """Median [min-max] over the rounds, per scenario; durability's cost."""
    def spread(xs, fmt):
        xs = sorted(xs)
        mid = xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2
        return (fmt + " [" + fmt + "-" + fmt + "]") % (mid, xs[0], xs[-1])
    ok = [{r["scenario"]: r for r in rows if "error" not in r} for rows in rounds]
    names = [r["scenario"] for r in rounds[0]]
    print("\n%d rounds: median [min-max]\n" % len(rounds))
    print("| scenario | records/s | CPU s/GiB | vs baseline | disk / memory |")
    print("|---|---|---|---|---|")
    for name in names:
        got = [o[name] for o in ok if name in o]
        if not got:
            print("| %s | FAIL in every round | | | |" % name)
            continue
        vs = [100 * r["vs"][1] for r in got if r["vs"]]
        share = ""
        if name.endswith("-disk"):
            mem = name[:-len("-disk")]
            pairs = [100 * o[name]["records_s"] / o[mem]["records_s"] for o in ok
                     if name in o and mem in o]
            if pairs:
                share = spread(pairs, "%.0f") + "% of " + mem
        print("| %s | %s | %s | %s | %s |" % (
            name + ("" if len(got) == len(rounds) else " (%d of %d rounds)" % (len(got),
                                                                               len(rounds))),
            spread([r["records_s"] for r in got], "%.0f"),
            spread([r["cpu_s_gib"] for r in got], "%.2f"),
            spread(vs, "%.0f") + "% of " + got[0]["vs"][0] if vs else "", share))


def report(rows):
    failed = 0
    print()
    print("| scenario | records/s | MiB/s | CPU s/GiB | peak RSS MiB | freshness p50 / p99 | "
          "vs baseline | verify |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            failed = 1
            print("| %s | FAIL: %s | | | | | | |" % (r["scenario"], r["error"].splitlines()[0]))
            print(r["error"], file=sys.stderr)
            continue
        v = r["verify"]
        bad = sum(int(v[k]) for k in ("missing", "duplicated", "corrupted", "unreadable"))
        failed |= bad > 0
        fresh = "%.3f s / %.3f s" % (r["p50"], r["p99"]) if r["p50"] is not None else ""
        vs = "%.0f%% of %s" % (100 * r["vs"][1], r["vs"][0]) if r["vs"] else ""
        if "recovery" in r:
            vs = "log of %.0f MiB: %d records recovered in %.1f s (start to all delivered: " \
                 "MiB/s column)" % (r["recovery"][0], r["recovery"][2], r["recovery"][1])
        if "syncs" in r:
            vs += "; %d syncs, mean %.2f ms, p99 <= %g ms" % (r["syncs"], r["sync_ms"],
                                                              r["sync_p99_ms"])
        if "limit_mib" in r:
            vs = "asked %.0f records/s; buffered peak %.1f MiB of %d" % (
                r["asked"], r["peak_buffered_mib"], r["limit_mib"])
        print("| %s | %.0f | %.1f | %.2f | %.0f | %s | %s | %s |" % (
            r["scenario"], r["records_s"], r["mib_s"], r["cpu_s_gib"], r["rss_mib"], fresh, vs,
            "ok" if not bad else "FAIL missing=%s duplicated=%s corrupted=%s" % (
                v["missing"], v["duplicated"], v["corrupted"])))
    return failed


if __name__ == "__main__":
    main()
