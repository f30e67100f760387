"""
kafka.py - a Kafka cluster for the integration tests, and an independent
client to check what reached it.

The cluster is librdkafka's mock cluster run by $(BUILD)/kafka-mock
(tests/tools/kafka_mock.c; `make build/kafka-mock`, part of
INTEGRATION_BIN): real Kafka wire protocol on 127.0.0.1 ephemeral ports,
idempotent produce, consumer groups and offset commits, error injection.
The client is kcat (Debian 1.7.1), so nothing here shares code with what
it checks.

    from kafka import KafkaMock, WithKafka
    k = KafkaMock(brokers=1, partitions=4)      # started; k.stop() by PID
    k.topic("clicks", 3)
    k.produce("clicks", [b"a", b"b"], keys=[b"k1", b"k2"], compression="gzip")
    k.consume("clicks")     # [(partition, offset, key or None, value), ...]
    k.offsets("clicks")     # {partition: end offset}
    k.inject(PRODUCE, NOT_LEADER_FOR_PARTITION, 3)
    k.committed("group", "clicks")   # {partition: offset, -1001 when none}

Limits of the mock (librdkafka 2.0.2), which tests must respect:
  - it keeps about 5 MiB per partition and drops the oldest log segments
    past that: compare offsets() (the end offsets, which never go back)
    with the count expected before trusting what consume() read;
  - topics created by auto-creation get 4 partitions (the mock's default),
    whatever the -p of the tool; create them with topic() first;
  - no CreateTopics/DeleteTopics, SASL or TLS; the first group join waits
    3 s and later rebalances session.timeout.ms - 1 s: use a
    session.timeout.ms of about 6000 in consumer tests;
  - `down` makes a broker drop its connections and refuse new ones; the
    data stays (the process does not restart).

API stable for the sink's and the source's tests: KafkaMock(brokers,
partitions), .bootstrap, .command(line), .topic(name, partitions),
.inject(api, code, count), .clear(api), .down(broker), .up(broker),
.topic_error(name, code), .committed(group, topic), .produce(...),
.consume(...), .offsets(...), .partitions(...), .stop(); the module
functions of the same names take the bootstrap list first; WithKafka.
"""
import json
import os
import select
import signal
import subprocess
import tempfile
import time
import unittest

from harness import BIN, KEEP, scaled, wait_for

MOCK_BIN = os.environ.get("SLUICE_KAFKA_MOCK",
                          os.path.join(os.path.dirname(BIN), "kafka-mock"))
KCAT = os.environ.get("KCAT", "kcat")

# Kafka API keys (for inject / clear).
PRODUCE, FETCH, LIST_OFFSETS, METADATA = 0, 1, 2, 3
OFFSET_COMMIT, OFFSET_FETCH, FIND_COORDINATOR, JOIN_GROUP = 8, 9, 10, 11
HEARTBEAT, SYNC_GROUP, INIT_PRODUCER_ID = 12, 14, 22

# Kafka error codes (for inject / topic_error).
UNKNOWN_TOPIC_OR_PART = 3              # permanent for a producer
LEADER_NOT_AVAILABLE = 5               # retriable
NOT_LEADER_FOR_PARTITION = 6           # retriable
REQUEST_TIMED_OUT = 7                  # retriable
MSG_SIZE_TOO_LARGE = 10                # permanent
NOT_COORDINATOR = 16                   # retriable
NOT_ENOUGH_REPLICAS = 19               # retriable
TOPIC_AUTHORIZATION_FAILED = 29        # permanent

# Separators handed to kcat -P: bytes a test record never holds.
KEY_SEP = b"\x1f"
REC_SEP = b"\x1e"


# librdkafka starts its threads with C11 thrd_create, which GCC 12's
# ThreadSanitizer does not intercept: a TSan build of sluice (or of the mock
# tool) crashes inside librdkafka before any sluice code runs. Kafka's tests
# are skipped under `make tsan` (docs/source-kafka.md); they run in the
# plain and the ASan+UBSan builds.
UNDER_TSAN = "thread" in os.environ.get("SANITIZE", "")


class KafkaMockError(Exception):
    """The tool answered "error ..." (the text follows)."""


class KafkaMock:
    """One mock cluster process. Its stderr goes to a file in a temp dir
    (removed by stop() unless SLUICE_KEEP is set)."""

    def __init__(self, brokers=1, partitions=None, timeout=10):
        if UNDER_TSAN:
            raise unittest.SkipTest("librdkafka under ThreadSanitizer (see kafka.py)")
        if not os.access(MOCK_BIN, os.X_OK):
            raise AssertionError("%s is missing: make %s" % (MOCK_BIN, MOCK_BIN))
        self.dir = tempfile.mkdtemp(prefix="sluice-kafka-", dir="/tmp")
        self.log_path = os.path.join(self.dir, "kafka-mock.log")
        args = [MOCK_BIN, "-b", str(brokers)]
        if partitions:
            args += ["-p", str(partitions)]
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log)
        self._buf = b""
        self.brokers = brokers
        self.bootstrap = self._line(timeout)
        if not self.bootstrap.startswith("127.0.0.1:"):
            raise AssertionError("kafka-mock printed %r, not a bootstrap list"
                                 % self.bootstrap)

    # -- the tool's commands ---------------------------------------------
    def _line(self, timeout):
        """The next line the tool prints, within <timeout> s (scaled)."""
        deadline = time.monotonic() + scaled(timeout)
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("kafka-mock: no answer in %ss" % timeout)
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise AssertionError("kafka-mock exited (%s): %s"
                                         % (self.proc.poll(), self.log_tail()))
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def command(self, line, timeout=10):
        """Sends one command line; returns the answer after "ok" (stripped;
        "" for most), raises KafkaMockError on "error ..."."""
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        ans = self._line(timeout)
        if ans == "ok" or ans.startswith("ok "):
            return ans[3:]
        raise KafkaMockError("%s: %s" % (line, ans[6:] if ans.startswith("error ") else ans))

    def topic(self, name, partitions=None):
        """Creates topic <name> (partitions: the tool's -p, else 4)."""
        self.command("topic %s%s" % (name, " %d" % partitions if partitions else ""))

    def inject(self, api, code, count):
        """The next <count> requests of API key <api> answer error <code>."""
        self.command("error %d %d %d" % (api, code, count))

    def clear(self, api=None):
        """Drops pushed errors (of <api>, or all)."""
        self.command("clear" if api is None else "clear %d" % api)

    def topic_error(self, name, code):
        """Every request on topic <name> answers <code> (0: none again)."""
        self.command("topic_error %s %d" % (name, code))

    def down(self, broker=1):
        self.command("down %d" % broker)

    def up(self, broker=1):
        self.command("up %d" % broker)

    def committed(self, group, topic):
        """{partition: committed offset} of <group> on <topic>; -1001
        (RD_KAFKA_OFFSET_INVALID) for a partition with none."""
        ans = self.command("committed %s %s" % (group, topic), timeout=30)
        return {int(p): int(o) for p, o in (kv.split("=") for kv in ans.split())}

    # -- kcat against this cluster ----------------------------------------
    def produce(self, topic, records, **kw):
        return produce(self.bootstrap, topic, records, **kw)

    def consume(self, topic, **kw):
        return consume(self.bootstrap, topic, **kw)

    def offsets(self, topic, **kw):
        return offsets(self.bootstrap, topic, **kw)

    def partitions(self, topic, **kw):
        return partitions(self.bootstrap, topic, **kw)

    def values(self, topic, **kw):
        """The values of consume(), in no particular order."""
        return [v for _, _, _, v in consume(self.bootstrap, topic, **kw)]

    # -- process ------------------------------------------------------------
    def alive(self):
        return self.proc.poll() is None

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout=10):
        """SIGTERM by PID, wait, then SIGKILL if it did not go. Idempotent."""
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=scaled(timeout))
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        self._log.close()
        if not KEEP:
            for name in os.listdir(self.dir):
                os.unlink(os.path.join(self.dir, name))
            os.rmdir(self.dir)


# -- kcat: an independent client ---------------------------------------------

def _kcat(args, data=None, timeout=30):
    r = subprocess.run([KCAT] + args, input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=scaled(timeout))
    if r.returncode != 0:
        raise AssertionError("kcat %s: exit %d: %s" % (" ".join(args), r.returncode,
                                                        r.stderr.decode(errors="replace")))
    return r.stdout


def produce(bootstrap, topic, records, partition=None, keys=None, compression=None,
            options=None, timeout=30):
    """Produces <records> (bytes, none holding KEY_SEP or REC_SEP) to
    <topic> with kcat -P: to <partition> (else kcat's partitioner), with
    <keys> (a list as long as records, an entry None for no key),
    compressed as <compression> (gzip, snappy, lz4, zstd: kcat -z, so the
    broker stores compressed batches), <options> {name: value} as -X.
    Waits for every delivery (kcat exits non-zero if one failed)."""
    args = ["-b", bootstrap, "-t", topic, "-P", "-D", "\\x1e"]
    if partition is not None:
        args += ["-p", str(partition)]
    if compression:
        args += ["-z", compression]
    for k, v in (options or {}).items():
        args += ["-X", "%s=%s" % (k, v)]
    parts = []
    for i, r in enumerate(records):
        if KEY_SEP in r or REC_SEP in r:
            raise ValueError("record %d holds a separator byte" % i)
        if keys is not None and keys[i] is not None:
            parts.append(keys[i] + KEY_SEP + r)
        elif keys is not None:
            parts.append(KEY_SEP + r)   # kcat: an empty key is no key (-1)
        else:
            parts.append(r)
    if keys is not None:
        args += ["-K", "\\x1f"]
    _kcat(args, b"".join(p + REC_SEP for p in parts), timeout)


def consume(bootstrap, topic, options=None, timeout=30):
    """Every message of <topic> from the start to the end offsets at the
    time of the call (kcat -C -e), as (partition, offset, key, value)
    tuples sorted by (partition, offset); key is None for no key. Read
    with length prefixes (%K %S), so any bytes come back exactly."""
    args = ["-b", bootstrap, "-t", topic, "-C", "-e", "-q", "-o", "beginning",
            "-f", "%p %o %K %S\\n%k%s"]
    for k, v in (options or {}).items():
        args += ["-X", "%s=%s" % (k, v)]
    out = _kcat(args, timeout=timeout)
    msgs, at = [], 0
    while at < len(out):
        nl = out.index(b"\n", at)
        p, o, klen, vlen = (int(x) for x in out[at:nl].split())
        at = nl + 1
        key = None if klen < 0 else out[at:at + klen]
        at += max(klen, 0)
        val = None if vlen < 0 else out[at:at + vlen]
        at += max(vlen, 0)
        msgs.append((p, o, key, val))
    return sorted(msgs, key=lambda m: (m[0], m[1]))


def partitions(bootstrap, topic, timeout=30):
    """The partition ids of <topic> (kcat -L -J); [] when it does not exist
    (the metadata of all topics is asked: asking for one by name would
    create it, the mock auto-creating on a client's request)."""
    md = json.loads(_kcat(["-b", bootstrap, "-L", "-J"], timeout=timeout))
    for t in md.get("topics", []):
        if t.get("topic") == topic and not t.get("error"):
            return sorted(p["partition"] for p in t.get("partitions", []))
    return []


def offsets(bootstrap, topic, timeout=30):
    """{partition: end offset (the next offset to be written)} of <topic>
    (kcat -Q, timestamp -1: the latest). The count produced to a partition
    since the topic was made, whatever the mock dropped since."""
    parts = partitions(bootstrap, topic, timeout)
    if not parts:
        return {}
    args = ["-b", bootstrap, "-Q"]
    for p in parts:
        args += ["-t", "%s:%d:-1" % (topic, p)]
    out = {}
    for line in _kcat(args, timeout=timeout).decode().splitlines():
        # "TOPIC [P] offset N"
        f = line.split()
        if len(f) == 4 and f[0] == topic and f[2] == "offset":
            out[int(f[1].strip("[]"))] = int(f[3])
    return out


def wait_offsets(bootstrap, topic, total, timeout=20):
    """Polls until the end offsets of <topic> sum to <total> at least;
    returns them."""
    def enough():
        o = offsets(bootstrap, topic)
        return o if sum(o.values()) >= total else None
    return wait_for(enough, timeout, interval=0.1,
                    msg=lambda: "offsets of %s: %s, want %d in all"
                    % (topic, offsets(bootstrap, topic), total))


class WithKafka:
    """A test case mixin (before the TestCase class): self.kafka, a mock
    cluster started for each test (kafka_brokers, kafka_partitions) and
    stopped after it."""
    kafka_brokers = 1
    kafka_partitions = None

    def setUp(self):
        super().setUp()
        self.kafka = KafkaMock(brokers=self.kafka_brokers, partitions=self.kafka_partitions)

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            self.kafka.stop()
