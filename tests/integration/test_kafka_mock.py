"""
test_kafka_mock.py - the Kafka tests' own tools work (issue 17, "Tests"):
build/kafka-mock (librdkafka's mock cluster) and kafka.py's kcat helpers.
Records produced with kcat come back byte for byte with their keys and
partitions; a topic has the partitions asked; compressed batches read
back; end offsets count what was produced; an injected Produce error is
seen by a client (kcat without retries fails); `committed` answers for a
group that committed nothing; `down` makes the cluster unreachable and
`up` brings it back; SIGTERM stops the tool.
"""
import subprocess
import unittest

from harness import scaled
from kafka import (PRODUCE, TOPIC_AUTHORIZATION_FAILED, KafkaMock, KafkaMockError,
                   WithKafka, wait_offsets)


class KafkaMockTest(WithKafka, unittest.TestCase):
    kafka_partitions = 3

    def test_produced_records_read_back_with_keys_and_partitions(self):
        k = self.kafka
        k.topic("t")
        recs = [b"plain %d with spaces\nand a newline" % i for i in range(20)]
        k.produce("t", recs[:10], partition=1)
        k.produce("t", recs[10:], keys=[b"key%d" % (i % 3) for i in range(10)])
        got = k.consume("t")
        self.assertEqual(sorted(v for _, _, _, v in got), sorted(recs))
        self.assertEqual([v for p, _, _, v in got if p == 1][:10], recs[:10])
        keyed = {v: key for _, _, key, v in got if key is not None}
        self.assertEqual(len(keyed), 10)
        self.assertEqual(keyed[recs[10]], b"key0")
        # one key, one partition
        by_key = {}
        for p, _, key, _ in got:
            if key is not None:
                by_key.setdefault(key, set()).add(p)
        self.assertTrue(all(len(ps) == 1 for ps in by_key.values()), by_key)

    def test_topic_has_the_partitions_asked_and_the_default(self):
        self.kafka.topic("five", 5)
        self.kafka.topic("dflt")
        self.assertEqual(self.kafka.partitions("five"), [0, 1, 2, 3, 4])
        self.assertEqual(self.kafka.partitions("dflt"), [0, 1, 2])
        self.assertEqual(self.kafka.partitions("none-such"), [])

    def test_compressed_batches_read_back_and_offsets_count_them(self):
        self.kafka.topic("z", 2)
        recs = [b"compressed record %d " % i + b"x" * (i % 50) for i in range(300)]
        for codec in ("gzip", "zstd", "lz4", "snappy"):
            self.kafka.produce("z", recs, partition=0, compression=codec)
        self.assertEqual(wait_offsets(self.kafka.bootstrap, "z", 1200), {0: 1200, 1: 0})
        got = self.kafka.values("z")
        self.assertEqual(sorted(got), sorted(recs * 4))

    def test_an_injected_produce_error_is_seen_by_a_client(self):
        self.kafka.topic("e", 1)
        self.kafka.inject(PRODUCE, TOPIC_AUTHORIZATION_FAILED, 1)
        with self.assertRaises(AssertionError) as cm:
            self.kafka.produce("e", [b"refused"], options={"retries": "0"})
        self.assertIn("uthoriz", str(cm.exception))
        self.kafka.produce("e", [b"taken"])
        self.assertEqual(self.kafka.values("e"), [b"taken"])
        self.kafka.inject(PRODUCE, TOPIC_AUTHORIZATION_FAILED, 5)
        self.kafka.clear()
        self.kafka.produce("e", [b"after clear"], options={"retries": "0"})
        self.assertEqual(len(self.kafka.values("e")), 2)

    def test_committed_answers_none_for_a_new_group(self):
        self.kafka.topic("c", 2)
        self.assertEqual(self.kafka.committed("g1", "c"), {0: -1001, 1: -1001})

    def test_down_refuses_clients_and_up_takes_them_again(self):
        self.kafka.topic("d", 1)
        self.kafka.down(1)
        with self.assertRaises(AssertionError):
            self.kafka.produce("d", [b"while down"],
                               options={"message.timeout.ms": "1500"}, timeout=20)
        self.kafka.up(1)
        self.kafka.produce("d", [b"after up"])
        self.assertIn(b"after up", self.kafka.values("d"))

    def test_bad_commands_answer_error_and_the_tool_goes_on(self):
        for bad in ("nonsense", "topic", "error 0 x 1", "down y", "committed g"):
            with self.assertRaises(KafkaMockError):
                self.kafka.command(bad)
        self.assertEqual(self.kafka.command("ping"), "")


class KafkaMockProcessTest(unittest.TestCase):

    def test_sigterm_stops_it_with_exit_0_and_brokers_can_be_several(self):
        k = KafkaMock(brokers=3)
        try:
            self.assertEqual(len(k.bootstrap.split(",")), 3)
            k.topic("three", 6)
            k.produce("three", [b"r%d" % i for i in range(30)])
            self.assertEqual(len(k.values("three")), 30)
        finally:
            k.stop()
        self.assertEqual(k.proc.returncode, 0)

    def test_eof_on_stdin_stops_it(self):
        k = KafkaMock()
        k.proc.stdin.close()
        try:
            self.assertEqual(k.proc.wait(timeout=scaled(10)), 0)
        except subprocess.TimeoutExpired:
            self.fail("kafka-mock still running after EOF on stdin")
        finally:
            k.stop()


if __name__ == "__main__":
    unittest.main()
