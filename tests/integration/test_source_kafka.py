"""
test_source_kafka.py - the Kafka source (kafka.* keys) against the mock
cluster (kafka.py), records produced with kcat, the file sink as output.

  - every record of a 4-partition topic lands once, and the group's
    committed offsets reach the end offsets;
  - kill -9 mid-stream, restart: every record is there; the only
    duplicates are of offsets at or past what was committed at the kill;
  - the sink blocked: the partitions are paused (metric), the stream stays
    under max_buffered, nothing is lost; unblocked, everything arrives;
  - two daemons in one group: each record at least once, and a SIGTERM'd
    daemon's partitions are taken over by the other;
  - injected Fetch and OffsetCommit errors: retried, each record once,
    offsets committed to the end;
  - exactly-once objects: commits refused, kill -9 mid-stream, restart
    with the same output: everything is read again, every object already
    written is found there (exclusive writes of names made from offsets),
    every record once; the same with durability = disk, where the Kafka
    records never enter the write-ahead log;
  - two daemons in one group, one stopped with SIGTERM, the other killed
    with kill -9 (its commits refused) and restarted: every record once;
  - kafka.start = latest skips what was there; earliest reads it again
    even past the group's commits.
"""
import os
import shutil
import signal
import tempfile
import time
import unittest

from harness import SluiceTestCase, scaled, wait_for
from kafka import (FETCH, NOT_COORDINATOR, NOT_LEADER_FOR_PARTITION, OFFSET_COMMIT,
                   REQUEST_TIMED_OUT, WithKafka)

TOPIC = "clicks"
PARTS = 4


def records(n, start=0, size=120):
    """<n> unique records, each <size> bytes."""
    return [(b"kafka-%07d-" % i).ljust(size, b"x") for i in range(start, start + n)]


class KafkaSourceTest(WithKafka, SluiceTestCase):

    def setUp(self):
        super().setUp()
        self.kafka.topic(TOPIC, PARTS)

    def produce(self, recs):
        """Spreads <recs> over the partitions, contiguous slices each."""
        per = (len(recs) + PARTS - 1) // PARTS
        for p in range(PARTS):
            if recs[p * per:(p + 1) * per]:
                self.kafka.produce(TOPIC, recs[p * per:(p + 1) * per], partition=p)

    def stream_keys(self, **extra):
        keys = {"kafka.brokers": self.kafka.bootstrap, "kafka.topics": TOPIC,
                "kafka.group_id": "g1",
                "kafka.option.session.timeout.ms": "6000",
                "kafka.option.heartbeat.interval.ms": "500",
                "buffer_interval": "500ms", "buffer_size": "256KiB"}
        keys.update(extra)
        return keys

    def wait_committed(self, group="g1", timeout=30):
        """Until <group>'s committed offsets are the topic's end offsets."""
        ends = self.kafka.offsets(TOPIC)
        last = {}

        def done():
            last.update(self.kafka.committed(group, TOPIC))
            return last == ends
        wait_for(done, scaled(timeout), interval=0.5,
                 msg=lambda: "committed %s, ends %s" % (last, ends))

    def delivered(self, *daemons):
        return sum(d.metrics().sum("sluice_records_delivered_total", stream="k")
                   for d in daemons if d.alive())

    def test_every_record_once_and_offsets_committed_to_the_end(self):
        recs = records(8000)
        self.produce(recs)
        d = self.sluice({"k": self.stream_keys()})
        m = d.wait_records("k", settled=len(recs), source="kafka", timeout=scaled(40))
        self.assertEqual(m.sum("sluice_records_received_total", stream="k", source="kafka"),
                         len(recs))
        self.wait_committed()
        m = d.metrics()
        for p in range(PARTS):
            self.assertEqual(m.get("sluice_kafka_committed_offset", stream="k", topic=TOPIC,
                                   partition=str(p)), len(recs) // PARTS)
            self.assertEqual(m.get("sluice_kafka_consumer_lag", stream="k", topic=TOPIC,
                                   partition=str(p)), 0)
        self.assertGreaterEqual(m.get("sluice_kafka_rebalances_total", stream="k",
                                      kind="assign"), 1)
        self.assertEqual(m.get("sluice_kafka_commit_errors_total", stream="k"), 0)
        d.stop()
        self.assertSameRecords(d.read_records("k"), recs)
        self.assertIn("left the group", d.log())

    def test_injected_fetch_and_commit_errors_retried_every_record_once(self):
        recs = records(6000)
        self.produce(recs[:3000])
        d = self.sluice({"k": self.stream_keys()})
        d.wait_records("k", settled=3000, source="kafka", timeout=scaled(40))
        # the broker now refuses fetches and commits a few times each
        self.kafka.inject(FETCH, NOT_LEADER_FOR_PARTITION, 5)
        self.kafka.inject(FETCH, REQUEST_TIMED_OUT, 3)
        self.kafka.inject(OFFSET_COMMIT, NOT_COORDINATOR, 3)
        self.kafka.inject(OFFSET_COMMIT, REQUEST_TIMED_OUT, 3)
        self.produce(recs[3000:])
        d.wait_records("k", settled=len(recs), source="kafka", timeout=scaled(60))
        self.wait_committed(timeout=60)
        m = d.metrics()
        self.assertEqual(m.sum("sluice_records_received_total", stream="k", source="kafka"),
                         len(recs), "a record read twice")
        # the refused commits were seen, counted and retried
        self.assertGreaterEqual(m.get("sluice_kafka_commit_errors_total", stream="k"), 1)
        d.stop()
        self.assertSameRecords(d.read_records("k"), recs)

    def test_kill9_mid_stream_then_restart_loses_nothing(self):
        recs = records(30000)
        self.produce(recs)
        keys = self.stream_keys(buffer_size="32KiB", buffer_interval="200ms")
        d = self.sluice({"k": keys})
        wait_for(lambda: self.delivered(d) >= 3000, scaled(40), msg="some delivered")
        d.kill()
        at_kill = self.kafka.committed("g1", TOPIC)
        got_first = d.read_records("k")
        more = records(4000, start=len(recs))
        self.produce(more)
        recs += more
        d2 = self.sluice({"k": dict(keys, **{"file.path": d.file_path("k") + "-2"})})
        d2.wait_records("k", settled=True, timeout=scaled(40),
                        until=lambda m: self.delivered(d2) > 0 and
                        self.kafka.committed("g1", TOPIC) == self.kafka.offsets(TOPIC))
        d2.stop()
        got = got_first + d2.read_records("k")
        self.assertEqual(set(got), set(recs), "a record is missing")
        # what was committed at the kill is never read again
        index = {v: (p, o) for p, o, _, v in self.kafka.consume(TOPIC)}
        seen = set()
        for r in got:
            if r in seen:
                p, o = index[r]
                self.assertGreaterEqual(o, at_kill[p],
                                        "offset %d of partition %d read twice, below the "
                                        "commit at the kill (%d)" % (o, p, at_kill[p]))
            seen.add(r)

    def test_blocked_sink_pauses_partitions_then_resumes(self):
        max_buffered = 256 * 1024
        recs = records(20000)               # ~2.4 MB
        d = self.sluice({"k": self.stream_keys(max_buffered="256KiB", buffer_size="64KiB",
                                               max_record_size="1KiB",
                                               retry_duration="600s")}, start=False)
        blocker = d.block("k")
        d.start(wait="listening")
        self.produce(recs)
        wait_for(lambda: d.metrics().get("sluice_kafka_paused_partitions", stream="k") == PARTS,
                 scaled(30), msg="partitions paused")
        rss0 = rss(d)
        t_end = time.monotonic() + 3
        while time.monotonic() < t_end:
            m = d.metrics()
            self.assertLessEqual(m.get("sluice_bytes_buffered", stream="k"),
                                 max_buffered + 512 * 1024, "over max_buffered")
            self.assertLess(m.sum("sluice_records_received_total", stream="k"), len(recs))
            self.assertEqual(m.sum("sluice_records_backed_up_total", stream="k"), 0)
            self.assertEqual(m.get("sluice_kafka_paused_partitions", stream="k"), PARTS)
            time.sleep(0.2)                 # sampling, not synchronisation
        self.assertLess(rss(d) - rss0, 32 << 20, "memory grew while paused")
        os.remove(blocker)
        d.wait_records("k", settled=len(recs), source="kafka", timeout=scaled(60))
        self.assertEqual(d.metrics().get("sluice_kafka_paused_partitions", stream="k"), 0)
        self.wait_committed()
        d.stop()
        self.assertSameRecords(d.read_records("k"), recs)

    def two_then_one(self, keys_a, keys_b, first):
        """Daemons a and b in one group read <first>; a is stopped with
        SIGTERM (seal, deliver, commit, leave) and b takes its partitions."""
        a = self.sluice({"k": keys_a}, name="a")
        b = self.sluice({"k": keys_b}, name="b")

        def assigns(d):
            return d.metrics().get("sluice_kafka_rebalances_total", stream="k",
                                   kind="assign") or 0

        wait_for(lambda: assigns(a) >= 1 and assigns(b) >= 1, scaled(40), msg="both assigned")
        self.produce(first)
        wait_for(lambda: self.delivered(a, b) >= len(first), scaled(40),
                 msg="first records delivered")
        before = assigns(b)
        a.stop()
        wait_for(lambda: assigns(b) > before, scaled(40), msg="b takes a's partitions over")
        return a, b

    def test_two_daemons_share_a_group_and_take_over_on_sigterm(self):
        first = records(4000)
        a, b = self.two_then_one(self.stream_keys(), self.stream_keys(), first)
        more = records(4000, start=len(first))
        self.produce(more)
        b.wait_records("k", settled=True, timeout=scaled(60),
                       until=lambda m: self.kafka.committed("g1", TOPIC) ==
                       self.kafka.offsets(TOPIC))
        b.stop()
        got_a, got_b = a.read_records("k"), b.read_records("k")
        got = got_a + got_b
        self.assertEqual(set(got), set(first + more), "a record is missing")
        self.assertGreater(len(got_a), 0, "a read nothing")
        self.assertGreater(len(set(got_b) & set(more)), 0, "b read nothing of the new records")
        # a's partitions after its clean leave: committed, so b never re-read them
        self.assertEqual(len(got), len(set(got)), "duplicates after a clean SIGTERM")


    def exact_keys(self, **extra):
        """Batches sealed by size and record time; a quiet partition's last
        batch a second after buffer_interval."""
        return self.stream_keys(buffer_size="32KiB", buffer_interval="500ms",
                                **{"kafka.seal_grace": "1s"}, **extra)

    def kill9_rereads_find_their_objects(self, **extra):
        recs = records(24000)
        self.produce(recs)
        # no commit succeeds: after the kill everything is read again
        self.kafka.inject(OFFSET_COMMIT, NOT_COORDINATOR, 100000)
        d = self.sluice({"k": self.exact_keys(**extra)})
        wait_for(lambda: self.delivered(d) >= 6000, scaled(40), msg="some delivered")
        d.kill()
        written = len(d.object_files("k"))
        self.assertTrue(all(o < 0 for o in self.kafka.committed("g1", TOPIC).values()),
                        "a commit got through")
        self.kafka.clear(OFFSET_COMMIT)
        more = records(4000, start=len(recs))
        d.start()
        self.produce(more)
        recs += more
        self.wait_committed(timeout=60)
        m = d.metrics()
        # the objects written before the kill were found, not written again
        self.assertGreaterEqual(m.sum("sluice_objects_existing_total", stream="k"), written)
        self.assertGreater(written, 0)
        d.stop()
        self.assertSameRecords(d.read_records("k"), recs)
        return d, m

    def test_kill9_restart_finds_written_objects_every_record_once(self):
        self.kill9_rereads_find_their_objects()

    def test_durability_disk_kill9_every_record_once_none_through_the_log(self):
        d, m = self.kill9_rereads_find_their_objects(durability="disk")
        self.assertEqual(m.get("sluice_wal_records_recovered_total", stream="k"), 0)

    def test_two_daemons_sigterm_one_kill9_the_other_every_record_once(self):
        keys, first = self.exact_keys(), records(6000)
        out = os.path.join(tempfile.mkdtemp(prefix="sluice-it-kafka-out-", dir="/tmp"), "out")
        self.addCleanup(shutil.rmtree, os.path.dirname(out), True)
        shared = dict(keys, **{"file.path": out})      # both write one set of objects
        a, b = self.two_then_one(shared, shared, first)
        self.wait_committed(timeout=40)
        # b's commits are refused from here: its kill leaves all it wrote to re-read
        self.kafka.inject(OFFSET_COMMIT, NOT_COORDINATOR, 100000)
        delivered_before = self.delivered(b)
        more = records(12000, start=len(first))
        self.produce(more)
        wait_for(lambda: self.delivered(b) - delivered_before >= 4000, scaled(40),
                 msg="b delivered some of the new records")
        b.kill()
        self.kafka.clear(OFFSET_COMMIT)
        b.start()
        last = records(2000, start=len(first) + len(more))
        self.produce(last)
        self.wait_committed(timeout=60)
        self.assertGreater(b.metrics().sum("sluice_objects_existing_total", stream="k"), 0)
        b.stop()
        self.assertSameRecords(a.read_records("k"), first + more + last)

    def test_start_latest_skips_what_was_there_earliest_reads_past_commits(self):
        old = records(2000)
        self.produce(old)
        d = self.sluice({"k": self.stream_keys(**{"kafka.start": "latest"})})
        # Where "latest" is is resolved some time after the assignment: one
        # marker per partition until each partition has read one.
        markers = []

        def every_partition_reads():
            m = records(PARTS, start=900000 + len(markers))
            markers.extend(m)
            for p in range(PARTS):
                self.kafka.produce(TOPIC, [m[p]], partition=p)
            try:
                wait_for(lambda: len([1 for p in range(PARTS) if d.metrics().get(
                    "sluice_kafka_consumer_lag", stream="k", topic=TOPIC,
                    partition=str(p)) is not None]) == PARTS, 2, interval=0.2)
                return True
            except AssertionError:
                return False
        wait_for(every_partition_reads, scaled(40), interval=0, msg="every partition reads")
        new = records(2000, start=len(old))
        self.produce(new)
        self.wait_committed()
        d.stop()
        got = d.read_records("k")
        self.assertEqual(len(got), len(set(got)), "a record twice")
        self.assertFalse(set(got) & set(old), "latest read what was there before")
        self.assertTrue(set(new) <= set(got), "a new record is missing")
        self.assertTrue(set(got) <= set(new) | set(markers))
        # the group has committed the end; earliest reads from the start anyway
        e = self.sluice({"k": self.stream_keys(**{"kafka.start": "earliest"})}, name="e")
        total = len(old) + len(markers) + len(new)
        e.wait_records("k", settled=total, source="kafka", timeout=scaled(40))
        e.stop()
        self.assertSameRecords(e.read_records("k"), old + markers + new)

def rss(d):
    with open("/proc/%d/status" % d.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


if __name__ == "__main__":
    unittest.main()
