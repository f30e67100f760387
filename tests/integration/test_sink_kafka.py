"""
test_sink_kafka.py - sink = kafka (issue 17, item 5) against librdkafka's
mock cluster (build/kafka-mock, through kafka.py), read back with kcat:
every record in the topic exactly once, byte for byte, keyed from
partition_keys by kafka_sink.key (one key, one partition); still once
under injected retriable Produce errors (the idempotent producer retries
them itself); a record larger than message.max.bytes to backup with its
error's name while its neighbours are delivered; an unknown topic with
auto-creation off: not ready, records to backup; the cluster down: records
retried, not ready, then up again: delivered, once; bad options refused by
`sluice --check` naming the key. The balance law is checked at each scrape
taken, and end offsets are compared with what consume() read (the mock
keeps ~5 MiB per partition).

Each test starts its own mock cluster (WithKafka) and its own daemon.
"""
import json
import subprocess
import tempfile
import os

from harness import BIN, SluiceTestCase, scaled, wait_for
from kafka import (NOT_ENOUGH_REPLICAS, NOT_LEADER_FOR_PARTITION, PRODUCE,
                   REQUEST_TIMED_OUT, UNKNOWN_TOPIC_OR_PART, WithKafka, wait_offsets)

MSGS = "sluice_kafka_sink_messages_total"


def json_records(n, tag="r", users=10, start=0, pad=0):
    """<n> distinct single-line JSON objects with a "user" field (u0 ..)."""
    return [json.dumps({"n": i, "tag": tag, "user": "u%d" % (i % users),
                        "pad": "p" * ((i * 7) % 40 + pad)},
                       separators=(",", ":")).encode()
            for i in range(start, start + n)]


class KafkaSinkCase(WithKafka, SluiceTestCase):

    def stream(self, topic, **keys):
        conf = {"sink": "kafka", "file.path": None, "kafka_sink.brokers": self.kafka.bootstrap,
                "kafka_sink.topic": topic, "buffer_interval": "100ms",
                "retry_duration": "60s"}
        conf.update(keys)
        return conf

    def scrape(self, d, sname):
        m = d.metrics()
        self.assertBalanced(m, sname)
        return m

    def assertInTopicOnce(self, topic, recs):
        """<topic> holds each of <recs> exactly once and nothing else; the
        end offsets agree (nothing the mock dropped, nothing written twice)."""
        offs = wait_offsets(self.kafka.bootstrap, topic, len(recs))
        self.assertEqual(sum(offs.values()), len(recs), "end offsets %s" % offs)
        got = self.kafka.consume(topic)
        self.assertSameRecords([v for _, _, _, v in got], recs, "messages in %s" % topic)
        return got


class DeliveredOnceTest(KafkaSinkCase):

    def test_every_record_once_keyed_from_partition_keys(self):
        self.kafka.topic("keyed", 4)
        self.kafka.topic("plain", 2)
        d = self.sluice({
            # a record sink's partition keys need not appear in prefix
            "keyed": self.stream("keyed", partition_keys="user=.user",
                                 **{"kafka_sink.key": "!{partitionKeyFromQuery:user}"}),
            "plain": self.stream("plain")})
        recs = json_records(600, "k")
        plain = json_records(300, "p")
        plain[5] += b"\r"                 # "\r\n" is dropped with the "\n"
        d.send(recs, sname="keyed")
        d.send(plain, sname="plain")
        m = self.settle(d, "keyed", 600)
        self.settle(d, "plain", 300)
        got = self.assertInTopicOnce("keyed", recs)
        for p, _, key, v in got:
            self.assertEqual(key, json.loads(v)["user"].encode())
        parts = {}
        for p, _, key, _ in got:
            parts.setdefault(key, set()).add(p)
        self.assertEqual(len(parts), 10)
        self.assertTrue(all(len(s) == 1 for s in parts.values()), parts)
        self.assertGreater(len({min(s) for s in parts.values()}), 1, "one partition for all")
        plain[5] = plain[5][:-1]
        got = self.assertInTopicOnce("plain", plain)
        self.assertTrue(all(k is None for _, _, k, _ in got))
        self.assertEqual(m.get(MSGS, stream="keyed", result="delivered"), 600)
        self.assertEqual(m.get(MSGS, stream="keyed", result="failed"), 0)
        self.assertEqual(m.get("sluice_records_delivered_total", stream="keyed",
                               sink="kafka"), 600)
        self.assertEqual(m.get("sluice_kafka_sink_producer_restarts_total", stream="keyed"), 0)
        self.assertTrue(m.has("sluice_kafka_sink_produce_duration_seconds_bucket"))
        d.stop()

    def test_injected_retriable_produce_errors_still_once(self):
        self.kafka.topic("flaky", 3)
        d = self.sluice({"f": self.stream("flaky")})
        recs = json_records(200, "a")
        d.send(recs[:50], sname="f")
        self.settle(d, "f", 50)
        for code in (NOT_LEADER_FOR_PARTITION, REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS):
            self.kafka.inject(PRODUCE, code, 3)
        d.send(recs[50:], sname="f", conns=4)
        m = self.settle(d, "f", 200)
        self.assertInTopicOnce("flaky", recs)
        self.assertEqual(m.get(MSGS, stream="f", result="delivered"), 200)
        d.stop()


class RefusedTest(KafkaSinkCase):

    def test_a_record_over_message_max_bytes_to_backup_neighbours_delivered(self):
        self.kafka.topic("small", 1)
        d = self.sluice({"s": self.stream("small", **{
            "kafka_sink.option.message.max.bytes": "2000",
            "kafka_sink.option.batch.size": "2000"})})
        recs = json_records(60, "s")
        huge = json.dumps({"n": -1, "tag": "huge", "pad": "h" * 5000}).encode()
        d.send(recs[:30] + [huge] + recs[30:], sname="s", conns=1)
        m = self.settle(d, "s", 61)
        self.assertInTopicOnce("small", recs)
        self.assertEqual(m.get("sluice_records_backed_up_total", stream="s",
                               reason="sink_failed"), 1)
        self.assertEqual(m.get(MSGS, stream="s", result="failed"), 1)
        self.assertEqual(m.get(MSGS, stream="s", result="delivered"), 60)
        rels_envs = d.read_envelopes(sname="s")
        envs = [e for _, es in rels_envs for e in es]
        self.assertEqual([e["raw"].rstrip(b"\n") for e in envs], [huge])
        self.assertEqual(envs[0]["errorCode"], "MSG_SIZE_TOO_LARGE", envs[0])
        self.assertIn("too large", envs[0]["errorMessage"].lower())
        self.assertEqual(envs[0].get("kafkaTopic"), "small")
        self.assertTrue(all("kafka-failed" in rel for rel, _ in rels_envs), rels_envs)
        d.stop()

    def test_unknown_topic_without_auto_create_not_ready_then_backup(self):
        # The 2.0.2 mock creates a topic on any client's metadata request
        # for it, whatever allow.auto.create.topics says (seen here): the
        # brokers' "no such topic" is its topic error instead, which every
        # metadata answer then carries.
        self.kafka.topic_error("no-such-topic", UNKNOWN_TOPIC_OR_PART)
        d = self.sluice({"u": self.stream("no-such-topic", **{
            "kafka_sink.option.allow.auto.create.topics": "false",
            "kafka_sink.option.topic.metadata.propagation.max.ms": "1000",
            "retry_duration": "5s"})}, wait="listening")

        def not_ready():
            st, body = d.http_get("/readyz")
            return body if st == 503 and "no-such-topic" in body else None
        wait_for(not_ready, 15, msg=lambda: "readyz: %r" % (d.http_get("/readyz"),))
        recs = json_records(20, "u")
        d.send(recs, sname="u")
        m = self.settle(d, "u", 20, timeout=40)
        self.assertEqual(m.sum("sluice_records_backed_up_total", stream="u"), 20)
        self.assertEqual(m.get(MSGS, stream="u", result="delivered"), 0)
        envs = [e for _, es in d.read_envelopes(sname="u") for e in es]
        self.assertEqual(sorted(e["raw"].rstrip(b"\n") for e in envs), sorted(recs))
        self.assertIn(envs[0]["errorCode"], ("UNKNOWN_TOPIC_OR_PART", "_UNKNOWN_TOPIC"),
                      envs[0])
        d.stop()


class OutageTest(KafkaSinkCase):

    def test_cluster_down_retried_not_ready_then_up_delivered_once(self):
        self.kafka.topic("out", 2)
        d = self.sluice({"o": self.stream("out", **{
            "kafka_sink.option.message.timeout.ms": "2000",
            "retry_duration": "120s"})})
        recs = json_records(100, "o")
        d.send(recs[:20], sname="o")
        self.settle(d, "o", 20)
        self.kafka.down(1)
        d.send(recs[20:], sname="o")

        def retried_and_not_ready():
            m = self.scrape(d, "o")
            st, _ = d.http_get("/readyz")
            return m if m.get(MSGS, stream="o", result="retried") > 0 and st == 503 else None
        wait_for(retried_and_not_ready, 30,
                 msg=lambda: "retried %s, readyz %s" % (
                     d.metrics().get(MSGS, stream="o", result="retried"),
                     d.http_get("/readyz")))
        self.assertEqual(self.scrape(d, "o").sum("sluice_records_backed_up_total",
                                                 stream="o"), 0)
        self.kafka.up(1)
        m = self.settle(d, "o", 100, timeout=60)
        self.assertEqual(m.sum("sluice_records_delivered_total", stream="o"), 100)
        self.assertInTopicOnce("out", recs)
        wait_for(lambda: d.http_get("/readyz")[0] == 200, 15)
        d.stop()


class ConfigTest(KafkaSinkCase):

    def check(self, keys):
        dirname = tempfile.mkdtemp(prefix="sluice-it-kafka-", dir="/tmp")
        path = os.path.join(dirname, "sluice.conf")
        with open(path, "w") as f:
            f.write("[sluice]\ndata_dir = %s\n\n[stream s]\ntcp_listen = 127.0.0.1:0\n"
                    "sink = kafka\n" % dirname)
            for k, v in keys.items():
                f.write("%s = %s\n" % (k, v))
        p = subprocess.run([BIN, "--check", "-c", path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=scaled(30))
        os.unlink(path)
        os.rmdir(dirname)
        return p.returncode, p.stdout.decode()

    def test_check_refuses_bad_options_naming_the_key(self):
        base = {"kafka_sink.brokers": "127.0.0.1:9", "kafka_sink.topic": "t"}
        rc, out = self.check(base)
        self.assertEqual(rc, 0, out)
        rc, out = self.check(dict(base, **{"kafka_sink.option.no.such.property": "1"}))
        self.assertEqual(rc, 1, out)
        self.assertIn("kafka_sink.option.no.such.property", out)
        rc, out = self.check(dict(base, **{"kafka_sink.option.linger.ms": "soon"}))
        self.assertEqual(rc, 1, out)
        self.assertIn("kafka_sink.option.linger.ms", out)
        rc, out = self.check(dict(base, **{"kafka_sink.key": "user"}))
        self.assertEqual(rc, 1, out)
        self.assertIn("kafka_sink.key", out)
        rc, out = self.check({"kafka_sink.topic": "t"})
        self.assertEqual(rc, 1, out)
        self.assertIn("kafka_sink.brokers", out)
        # a key from partition_keys must be defined there
        keyed = dict(base, **{"kafka_sink.key": "!{partitionKeyFromQuery:user}"})
        rc, out = self.check(dict(keyed, partition_keys="user=.u"))
        self.assertEqual(rc, 0, out)
        rc, out = self.check(dict(keyed, partition_keys="team=.t"))
        self.assertEqual(rc, 1, out)
        self.assertIn("kafka_sink.key: partition key user is not in partition_keys", out)
        rc, out = self.check(keyed)
        self.assertEqual(rc, 1, out)
        self.assertIn("partition key user is not in partition_keys", out)


if __name__ == "__main__":
    import unittest
    unittest.main()
