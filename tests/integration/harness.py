"""
harness.py - runs a real sluice daemon for the integration tests.

A Sluice object owns one temp directory (under /tmp), one config file, one
daemon process and its log. Ports are picked free on 127.0.0.1. Every wait is
a poll against a deadline; deadlines scale with $SLUICE_SLOW (a multiplier,
e.g. 5 under sanitizers).

Environment:
  SLUICE_BIN      the daemon binary (default build/sluice); loadgen beside it
  SLUICE_SLOW     deadline multiplier (default 1)
  SLUICE_RECORDS  record count of the big tests (default 1000000)
  SLUICE_KEEP     set to 1 to keep temp directories (for debugging)
"""
import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("SLUICE_BIN", os.path.join(ROOT, "build", "sluice"))
LOADGEN = os.path.join(os.path.dirname(BIN), "loadgen")
SLOW = float(os.environ.get("SLUICE_SLOW", "1") or "1")
RECORDS = int(os.environ.get("SLUICE_RECORDS", "1000000") or "1000000")
KEEP = os.environ.get("SLUICE_KEEP", "") not in ("", "0")

# An object key below file.path: PREFIX YYYY/MM/DD/HH/STREAM-VERSION-YYYY-MM-DD-HH-MM-SS-UUID EXT
# The UUID is random (version 4); a part of a batch (a partition, its
# transformed records) has one derived from its batch's (version 8).
KEY_RE = re.compile(
    r"^(?P<prefix>.*?)(?P<y>\d{4})/(?P<mo>\d{2})/(?P<d>\d{2})/(?P<h>\d{2})/"
    r"(?P<stream>[A-Za-z0-9_.-]+)-(?P<version>\d+)-"
    r"(?P=y)-(?P=mo)-(?P=d)-(?P=h)-(?P<mi>\d{2})-(?P<s>\d{2})-"
    r"(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[48][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})"
    r"(?P<ext>\.gz|\.zst|)$")


SANITIZER_RE = re.compile(r"(ERROR: AddressSanitizer|ERROR: LeakSanitizer|"
                          r"WARNING: ThreadSanitizer|runtime error: )")


def scaled(seconds):
    """A deadline in seconds, scaled by SLUICE_SLOW."""
    return seconds * SLOW


def memory_bound(nbytes, margin=64 << 20):
    """What a bounded daemon may grow by while handling <nbytes> at a time:
    the bytes, a margin, and the sanitizers' shadow memory and quarantine."""
    return (nbytes + margin) * (1 if SLOW <= 1 else 6)


def proc_status(pid, field):
    """A /proc/PID/status field in bytes (VmRSS, VmHWM)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


_given_ports = set()


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago. Taken below the
    kernel's ephemeral range (ip_local_port_range starts at 32768), so that
    no client connection of another test can be handed the same port as its
    source port between this check and the daemon's bind."""
    import random
    for _ in range(1000):
        port = random.randint(20000, 32000)
        if port in _given_ports:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        _given_ports.add(port)
        return port
    raise AssertionError("no free port below 32000")


def wait_for(cond, timeout, interval=0.02, msg=None):
    """Polls cond() until it returns something truthy, which is returned.
    Raises AssertionError after timeout (scaled by SLUICE_SLOW) seconds."""
    deadline = time.monotonic() + scaled(timeout)
    last_exc = None
    while True:
        try:
            v = cond()
            if v:
                return v
            last_exc = None
        except (OSError, ValueError, KeyError) as e:   # daemon not up yet, etc.
            last_exc = e
        if time.monotonic() >= deadline:
            why = msg() if callable(msg) else (msg or getattr(cond, "__name__", "condition"))
            if last_exc is not None:
                why += " (last error: %r)" % (last_exc,)
            raise AssertionError("timed out after %.1fs waiting for: %s"
                                 % (scaled(timeout), why))
        time.sleep(interval)


def make_records(n, start=0, tag=b"r", min_len=100, max_len=300):
    """n unique records of min_len..max_len bytes, in id order (so a sorted
    copy of what comes back compares equal). Each begins with TAG + a 10-digit
    id and contains no newline."""
    pad = (b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_" * 8)
    span = max_len - min_len + 1
    head = len(tag) + 11          # tag + 10 digits + ':'
    base = min_len - head
    fmt = tag + b"%010d:"
    # (i * 7919) % span spreads the lengths over the whole range
    return [fmt % i + pad[: base + (i * 7919) % span] for i in range(start, start + n)]


def split_records(data):
    """Records of a newline-delimited object (each record ends with '\\n')."""
    if not data:
        return []
    if not data.endswith(b"\n"):
        raise AssertionError("object does not end with a newline: ...%r" % data[-40:])
    return data[:-1].split(b"\n")


def frame_model(data, max_len, at_eof=True):
    """What sluice's TCP framing must make of <data>: (records, rejected).
    Lines end at '\\n'; one '\\r' before it is dropped; empty lines are
    skipped; lines longer than max_len are rejected; the last line without
    '\\n' counts at EOF."""
    out, rejected = [], 0
    parts = data.split(b"\n")
    last = parts.pop()
    if at_eof and last:
        parts.append(last)
    for line in parts:
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            continue
        if len(line) > max_len:
            rejected += 1
        else:
            out.append(line)
    return out, rejected


class SendResult:
    def __init__(self):
        self.sent = 0
        self.eof = False
        self.error = None
        self.elapsed = None


def send_payload(port, payload, chunk=1 << 20, sndbuf=None, timeout=None):
    """Connects, sends <payload>, shutdown(SHUT_WR), reads until EOF.
    Returns a SendResult (eof True when sluice closed the connection after
    taking everything in)."""
    r = SendResult()
    t0 = time.monotonic()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if sndbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        s.settimeout(scaled(timeout or 120))
        s.connect(("127.0.0.1", port))
        mv = memoryview(payload)
        for off in range(0, len(payload), chunk):
            s.sendall(mv[off: off + chunk])
            r.sent = min(len(payload), off + chunk)
        s.shutdown(socket.SHUT_WR)
        while True:
            b = s.recv(65536)
            if not b:
                r.eof = True
                break
    except OSError as e:
        r.error = e
    finally:
        s.close()
        r.elapsed = time.monotonic() - t0
    return r


def send_concurrently(port, payloads, **kw):
    """One connection per payload, all at once, each in its own thread.
    Returns the SendResults in payload order."""
    results = [None] * len(payloads)

    def run(i, p):
        results[i] = send_payload(port, p, **kw)

    threads = [threading.Thread(target=run, args=(i, p), daemon=True)
               for i, p in enumerate(payloads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def join_records(records):
    return b"\n".join(records) + b"\n" if records else b""


def parse_metrics(text):
    """Prometheus text -> {(name, frozenset(labels.items())): float}."""
    out = {}
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$')
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = line_re.match(line)
        if not m:
            raise ValueError("unparsable metrics line: %r" % line)
        labels = frozenset(label_re.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


class Metrics(dict):
    """A parsed /metrics page with helpers."""

    def get(self, name, default=None, **labels):
        """The sample with exactly these labels."""
        return dict.get(self, (name, frozenset(labels.items())), default)

    def sum(self, name, **labels):
        """Sum of the samples of <name> whose labels include <labels>."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.items() if n == name and want <= ls)

    def has(self, name):
        return any(n == name for (n, _) in self.keys())

    def balance(self, stream):
        """(received, delivered + backed_up + dropped + buffered) in records."""
        rec = self.sum("sluice_records_received_total", stream=stream)
        settled = (self.sum("sluice_records_delivered_total", stream=stream)
                   + self.sum("sluice_records_backed_up_total", stream=stream)
                   + self.sum("sluice_records_dropped_total", stream=stream)
                   + self.sum("sluice_records_buffered", stream=stream))
        return rec, settled


DEFAULT_STREAM = {
    "buffer_size": "5MiB",
    "buffer_interval": "60s",
    "compression": "none",
    "retry_duration": "300s",
}


class Sluice:
    """One daemon: temp dir, config, process, log."""

    def __init__(self, streams=None, process=None, name="s"):
        self.dir = tempfile.mkdtemp(prefix="sluice-it-", dir="/tmp")
        self.conf_path = os.path.join(self.dir, "sluice.conf")
        self.log_path = os.path.join(self.dir, "sluice.log")
        self.metrics_port = free_port()
        self.http_port = free_port()
        self.process = {
            "metrics_listen": "127.0.0.1:%d" % self.metrics_port,
            "http_listen": "127.0.0.1:%d" % self.http_port,
            "data_dir": os.path.join(self.dir, "data"),
            "log_level": "info",
            "workers": "2",
            "io_threads": "2",
            "shutdown_timeout": "30s",
        }
        self.process.update(process or {})
        self.streams = {}
        self.transforms = {}      # NAME -> {key: value}: [transform NAME] sections
        self.ports = {}
        for sname, keys in (streams if streams is not None else {name: {}}).items():
            self.add_stream(sname, keys)
        self.proc = None
        self.logf = None
        self.rc = None

    # -- config ---------------------------------------------------------
    def add_stream(self, sname, keys=None):
        port = free_port()
        self.ports[sname] = port
        conf = dict(DEFAULT_STREAM)
        conf["tcp_listen"] = "127.0.0.1:%d" % port
        conf["file.path"] = os.path.join(self.dir, "out", sname)
        conf["backup.path"] = os.path.join(self.dir, "backup", sname)
        conf.update(keys or {})
        self.streams[sname] = conf

    def block(self, sname, name="blocked", sub="out", key="file.path"):
        """Makes <key> of stream <sname> unusable the way tests can as root:
        a regular file <name> where a directory should be, with <key> set
        to <name>/<sub>. Returns the file's path; removing it heals the path."""
        blocker = os.path.join(self.dir, name)
        with open(blocker, "w") as f:
            f.write("a regular file where a directory should be\n")
        self.streams[sname][key] = os.path.join(blocker, sub)
        return blocker

    def use_token(self, token="0123456789abcdef0123"):
        """http_auth = token, with <token> in a file of the daemon's dir."""
        path = os.path.join(self.dir, "token")
        with open(path, "w") as f:
            f.write(token + "\n")
        self.process.update({"http_auth": "token", "http_auth_file": path})
        return token

    def port(self, sname=None):
        return self.ports[sname or next(iter(self.ports))]

    def config_text(self):
        lines = ["; written by tests/integration/harness.py", "[sluice]"]
        lines += ["%s = %s" % kv for kv in self.process.items() if kv[1] is not None]
        for sname, keys in self.streams.items():
            lines += ["", "[stream %s]" % sname]
            lines += ["%s = %s" % kv for kv in keys.items() if kv[1] is not None]
        for tname, keys in self.transforms.items():
            lines += ["", "[transform %s]" % tname]
            lines += ["%s = %s" % kv for kv in keys.items() if kv[1] is not None]
        return "\n".join(lines) + "\n"

    def write_config(self, text=None):
        with open(self.conf_path, "w") as f:
            f.write(text if text is not None else self.config_text())

    def file_path(self, sname=None):
        return self.streams[sname or next(iter(self.streams))]["file.path"]

    def backup_path(self, sname=None):
        return self.streams[sname or next(iter(self.streams))]["backup.path"]

    # -- process --------------------------------------------------------
    def start(self, wait="ready", timeout=10):
        """Starts the daemon. wait="ready": until /readyz is 200;
        "listening": until /readyz answers and no longer says the listeners
        are down (a stream whose sink is broken keeps /readyz at 503)."""
        self.write_config()
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BIN, "-c", self.conf_path], stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=subprocess.STDOUT)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("sluice exited with %s during start-up:\n%s"
                                     % (self.proc.returncode, self.log_tail()))
            status, body = self.http_get("/readyz")
            if wait == "ready":
                return status == 200
            return status in (200, 503) and "listeners not started" not in body

        wait_for(up, timeout, msg=lambda: "sluice ready (%s)\n%s" % (wait, self.log_tail()))
        return self

    def state(self):
        """'running', or how the process ended (a crash names its signal)."""
        if self.proc is None:
            return "not started"
        rc = self.proc.poll()
        if rc is None:
            return "sluice running"
        if rc < 0:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = "signal %d" % -rc
            return "sluice died of %s" % name
        return "sluice exited with %d" % rc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def reload(self, text=None):
        """Rewrites the config (from self.streams or <text>) and sends SIGHUP."""
        self.write_config(text)
        self.signal(signal.SIGHUP)

    def stop(self, timeout=60, expect=0):
        """SIGTERM, wait, assert exit code <expect> (3: records of a memory
        stream lost at shutdown_timeout). Returns the exit code."""
        assert self.alive(), "sluice is not running:\n" + self.log_tail()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.rc = self.proc.wait(scaled(timeout))
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("sluice did not exit within %.0fs of SIGTERM:\n%s"
                                 % (scaled(timeout), self.log_tail()))
        self._close_log()
        if self.rc != expect:
            raise AssertionError("sluice exited with %d after SIGTERM, not %d:\n%s"
                                 % (self.rc, expect, self.log_tail()))
        return self.rc

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self._close_log()

    def _close_log(self):
        if self.logf:
            self.logf.close()
            self.logf = None

    def cleanup(self):
        self.kill()
        if not KEEP:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=60):
        return "\n".join(self.log().splitlines()[-n:])

    def dump_log(self, out=None, n=200):
        out = out or sys.stderr
        out.write("---- sluice log (%s), last %d lines ----\n%s\n---- end of log ----\n"
                  % (self.log_path, n, self.log_tail(n)))

    # -- HTTP -----------------------------------------------------------
    def http_get(self, path, timeout=5):
        url = "http://127.0.0.1:%d%s" % (self.metrics_port, path)
        try:
            with urllib.request.urlopen(url, timeout=scaled(timeout)) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")

    def metrics_text(self):
        status, body = self.http_get("/metrics")
        if status != 200:
            raise AssertionError("GET /metrics answered %d: %s" % (status, body[:200]))
        return body

    def metrics(self):
        return Metrics(parse_metrics(self.metrics_text()))

    def healthy(self):
        return self.alive() and self.http_get("/healthz")[0] == 200

    # -- waiting for records --------------------------------------------
    def wait_records(self, stream, delivered=None, backed_up=None, settled=None, *, sink=None,
                     reason=None, source=None, at_least=False, until=None, timeout=20,
                     interval=0.02):
        """Polls /metrics until the records of <stream> are where the test
        wants them, and returns that scrape's Metrics. Every condition given
        must hold in one scrape:
          delivered=N  sluice_records_delivered_total (of <sink>) == N
          backed_up=N  sluice_records_backed_up_total (of <reason>) == N
                       (both >= N with <at_least>)
          settled=N    N records received (from <source>), none buffered, and
                       each delivered, backed up or dropped: received ==
                       delivered + backed_up + dropped, buffered 0
          settled=True the same for whatever was received
          until(m)     also true; called on every scrape (it may keep a peak)
        Fails after <timeout> seconds (scaled by SLUICE_SLOW), saying what the
        last scrape showed."""
        want, last = [], {}
        if delivered is not None:
            want.append(("delivered", "sluice_records_delivered_total",
                         {"sink": sink} if sink else {}, delivered))
        if backed_up is not None:
            want.append(("backed up", "sluice_records_backed_up_total",
                         {"reason": reason} if reason else {}, backed_up))

        def done():
            m = self.metrics()
            ok = until(m) if until is not None else True
            for what, name, labels, n in want:
                got = last[what] = m.sum(name, stream=stream, **labels)
                ok = ok and (got >= n if at_least else got == n)
            if settled is not None:
                received = m.sum("sluice_records_received_total", stream=stream,
                                 **({"source": source} if source else {}))
                rec, right = m.balance(stream)
                last["received"], last["balance"] = received, (rec, right)
                last["buffered"] = m.get("sluice_records_buffered", stream=stream)
                ok = (ok and (settled is True or received == settled)
                      and last["buffered"] == 0 and rec == right)
            return m if ok else None

        def msg():
            asked = ["%s %s%d%s" % (what, ">= " if at_least else "", n,
                                    " (%s)" % labels if labels else "")
                     for what, _, labels, n in want]
            if settled is not None:
                asked.append("settled %s%s" % ("all" if settled is True else settled,
                                                " (from %s)" % source if source else ""))
            return "%s on stream %s; last scrape %s; %s\n%s" % (
                ", ".join(asked) or "until()", stream, last, self.state(), self.log_tail(20))
        return wait_for(done, timeout, interval=interval, msg=msg)

    # -- producing ------------------------------------------------------
    def send(self, records, conns=8, sname=None, **kw):
        """Sends <records> (a list of bytes) over <conns> concurrent
        connections (contiguous slices), each ending with shutdown(SHUT_WR)
        and a read until EOF. Asserts every connection got its EOF."""
        n = len(records)
        conns = max(1, min(conns, n)) if n else 1
        step = (n + conns - 1) // conns if n else 0
        payloads = [join_records(records[i * step:(i + 1) * step]) for i in range(conns)]
        results = send_concurrently(self.port(sname), payloads, **kw)
        for i, r in enumerate(results):
            if r.error is not None or not r.eof:
                raise AssertionError("connection %d: error=%r eof=%s after %d bytes (%s)"
                                     % (i, r.error, r.eof, r.sent, self.state()))
        return results

    def connect(self, sname=None, timeout=10):
        s = socket.create_connection(("127.0.0.1", self.port(sname)), timeout=scaled(timeout))
        return s

    # -- objects --------------------------------------------------------
    def object_files(self, sname=None, root=None):
        """Objects (not dot-files) below file.path, as paths relative to it, sorted."""
        root = root or self.file_path(sname)
        found = []
        for d, dirs, files in os.walk(root):
            dirs[:] = [x for x in dirs if not x.startswith(".")]
            for f in files:
                if not f.startswith("."):
                    found.append(os.path.relpath(os.path.join(d, f), root))
        return sorted(found)

    def read_object(self, path):
        """Bytes of one object, decompressed by its extension."""
        if path.endswith(".gz"):
            with open(path, "rb") as f:
                return gzip.decompress(f.read())
        if path.endswith(".zst"):
            return subprocess.run(["zstd", "-dcq", path], check=True,
                                  stdout=subprocess.PIPE).stdout
        with open(path, "rb") as f:
            return f.read()

    def read_records(self, sname=None, root=None, with_objects=False):
        """Every record in every object of the stream (in object order)."""
        root = root or self.file_path(sname)
        records, per_object = [], []
        for rel in self.object_files(sname, root=root):
            recs = split_records(self.read_object(os.path.join(root, rel)))
            per_object.append((rel, recs))
            records.extend(recs)
        return (records, per_object) if with_objects else records

    def read_envelopes(self, root=None, sname=None):
        """Backup envelopes below <root> (default the stream's backup.path):
        (relative path, [envelope dict, ...]) per object, in path order. Each
        dict gets "raw": its rawData decoded."""
        import base64
        root = root or self.backup_path(sname)
        out = []
        for rel in self.object_files(root=root):
            lines = self.read_object(os.path.join(root, rel)).split(b"\n")
            assert lines[-1] == b"", "%s: the last envelope line lacks its newline" % rel
            envs = [json.loads(l) for l in lines[:-1]]
            for e in envs:
                e["raw"] = base64.b64decode(e["rawData"], validate=True)
            out.append((rel, envs))
        return out

    def test_compressed(self, sname=None, root=None):
        """Runs `gzip -t` / `zstd -t` over the objects; asserts they pass.
        Returns the number of objects tested."""
        root = root or self.file_path(sname)
        files = [os.path.join(root, f) for f in self.object_files(sname, root=root)]
        n = 0
        for ext, cmd in ((".gz", ["gzip", "-t"]), (".zst", ["zstd", "-tq"])):
            group = [f for f in files if f.endswith(ext)]
            for i in range(0, len(group), 200):
                p = subprocess.run(cmd + group[i:i + 200], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT)
                if p.returncode != 0:
                    raise AssertionError("%s failed (%d): %s" % (" ".join(cmd), p.returncode,
                                                                p.stdout.decode()[-2000:]))
            n += len(group)
        return n


class SluiceTestCase(unittest.TestCase):
    """Base class: daemons made with self.sluice() are killed and their temp
    directories removed in tearDown; their logs are dumped if the test failed."""

    def setUp(self):
        self._daemons = []

    def sluice(self, streams=None, process=None, start=True, wait="ready", transforms=None,
               **kw):
        d = Sluice(streams=streams, process=process, **kw)
        d.transforms.update(transforms or {})
        self._daemons.append(d)
        if start:
            d.start(wait=wait)
        return d

    def _failed(self):
        """True if this test has already failed (tearDown runs after the
        failure was reported to the result)."""
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        if result is None:
            return False
        bad = list(getattr(result, "failures", [])) + list(getattr(result, "errors", []))
        return any(t is self for t, _ in bad)

    def tearDown(self):
        failed = self._failed()
        # A sanitizer's report fails the test even when the daemon was killed
        # rather than stopped (a stop would already have seen its exit code).
        for d in self._daemons:
            d.kill()
        reports = [(d.log_path, SANITIZER_RE.search(d.log())) for d in self._daemons]
        reports = [(path, d) for (path, m), d in zip(reports, self._daemons) if m]
        for d in self._daemons:
            if failed:
                result = getattr(getattr(self, "_outcome", None), "result", None)
                if hasattr(result, "attach_log"):
                    result.attach_log(self, "%s, %s" % (d.log_path, d.state()), d.log_tail(200))
                else:
                    d.dump_log()
            if not reports:
                d.cleanup()
        if reports:
            path, d = reports[0]
            raise AssertionError("sanitizer report in %s:\n%s" % (path, d.log_tail(80)))

    # -- assertions shared by the test modules ---------------------------
    def assertSameRecords(self, got, expected, what="records"):
        """Same multiset of records: each expected record exactly once."""
        if len(got) != len(expected):
            g, e = set(got), set(expected)
            self.fail("%s: got %d records, expected %d (%d distinct missing, %d unexpected, "
                      "%d duplicates); e.g. missing %r unexpected %r"
                      % (what, len(got), len(expected), len(e - g), len(g - e),
                         len(got) - len(g), list(e - g)[:2], list(g - e)[:2]))
        gs, es = sorted(got), sorted(expected)
        if gs != es:
            for a, b in zip(gs, es):
                if a != b:
                    self.fail("%s differ: first difference got %r expected %r"
                              % (what, a[:80], b[:80]))
            self.fail("%s differ" % what)

    def assertBalanced(self, m, stream):
        rec, settled = m.balance(stream)
        self.assertEqual(rec, settled,
                         "balance broken for stream %s: received %d != delivered + backed_up "
                         "+ dropped + buffered %d" % (stream, rec, settled))

    def balanced(self, sname):
        """An until= for wait_records: the balance law holds at every scrape."""
        def check(m):
            self.assertBalanced(m, sname)
            return True
        return check

    def settle(self, d, sname, n, **kw):
        """Waits until <n> records of <sname> are settled, the balance law
        holding at every scrape on the way."""
        return d.wait_records(sname, settled=n, until=self.balanced(sname), **kw)

    def assertKeyLayout(self, rel, stream, version=None, ext=None, prefix=""):
        m = KEY_RE.match(rel)
        self.assertIsNotNone(m, "object key %r does not follow the Firehose layout" % rel)
        self.assertEqual(m.group("prefix"), prefix, rel)
        self.assertEqual(m.group("stream"), stream, rel)
        if version is not None:
            self.assertEqual(int(m.group("version")), version, "version of %s" % rel)
        if ext is not None:
            self.assertEqual(m.group("ext"), ext, rel)
        return m


def load_json(path):
    with open(path) as f:
        return json.load(f)


# -- a producer in its own process --------------------------------------------
# Load for scrape-during-load tests comes from another process, so that the
# test's own scraping loop does not share the GIL with the senders.

def producer_records(conn, count):
    """The records connection <conn> of a timed producer sent: a function of
    (conn, count) only, so the test can rebuild them from the report."""
    return make_records(count, start=conn * 100000000, tag=b"p%d-" % conn,
                        min_len=40, max_len=120)


def _produce(port, conn, seconds, piece, batch, pause, out):
    """Sends <batch> records at a time in <piece>-byte writes over fresh
    connections (<pause> seconds apart) until <seconds> pass;
    out[conn] = records sent."""
    sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        recs = make_records(batch, start=conn * 100000000 + sent, tag=b"p%d-" % conn,
                            min_len=40, max_len=120)
        data = join_records(recs)
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        mv = memoryview(data)
        for off in range(0, len(data), piece):
            s.sendall(mv[off:off + piece])
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
        s.close()
        sent += batch
        if pause:
            time.sleep(pause)      # pacing of the load, not synchronisation
    out[conn] = sent


def produce_main(argv):
    """harness.py produce PORT CONNS SECONDS PIECE BATCH PAUSE: prints a JSON
    list of the record counts each connection sent (see producer_records)."""
    port, conns, seconds, piece = int(argv[0]), int(argv[1]), float(argv[2]), int(argv[3])
    batch, pause = int(argv[4]), float(argv[5])
    out = [0] * conns
    threads = [threading.Thread(target=_produce,
                                args=(port, i, seconds, piece, batch, pause, out))
               for i in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(out))
    return 0


def start_producer(port, conns, seconds, piece=2048, batch=2000, pause=0.0):
    """Starts `harness.py produce` in a child process; returns the Popen
    (stdout: the JSON report)."""
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), "produce", str(port),
                             str(conns), str(seconds), str(piece), str(batch), str(pause)],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "produce":
        sys.exit(produce_main(sys.argv[2:]))
    sys.exit("usage: harness.py produce PORT CONNS SECONDS PIECE BATCH PAUSE")
