"""
test_s3.py - the S3 sink against a real S3 server (s3rver on loopback):
records sent over TCP are read back from the bucket with boto3, one by
one; gzip and zstd; multipart above a small threshold; a bucket that does
not exist goes to backup after retry_duration; the server killed
mid-stream and started again loses nothing, and the retries are counted.
s3rver checks no signature, so a front (tests/tools/sigv4_proxy.c, with
sluice's SigV4 verifier) shows that the right secret is accepted, PUT and
multipart alike, that a wrong one is refused, and that a body corrupted on
the way is refused and sent again; it also shows a multipart upload whose
part failed being aborted, and uploads reusing one kept-alive connection.
"""
import gzip
import base64
import json
import os
import shutil
import subprocess

from harness import SluiceTestCase, make_records, scaled, split_records, wait_for
from s3 import SigV4Proxy, S3rver, WithS3rver


def unpack(key, data):
    if key.endswith(".gz"):
        return gzip.decompress(data)
    if key.endswith(".zst"):
        return subprocess.run(["zstd", "-dcq"], input=data, check=True,
                              stdout=subprocess.PIPE).stdout
    return data


class S3Test(WithS3rver, SluiceTestCase):

    def read_back(self, prefix=""):
        recs = []
        for key in self.s3.keys(prefix=prefix):
            recs += split_records(unpack(key, self.s3.get(key)))
        return recs

    def test_records_arrive_once_gzip_and_zstd(self):
        d = self.sluice(start=False, streams={})
        for name, comp in (("gz", "gzip"), ("zs", "zstd")):
            d.add_stream(name, self.s3.stream(compression=comp, prefix=name + "/",
                                              buffer_size="256KiB", buffer_interval="200ms",
                                              **{"s3.storage_class": "STANDARD_IA"}))
        d.start()
        recs = {n: make_records(3000, tag=n.encode()) for n in ("gz", "zs")}
        for n in recs:
            d.send(recs[n], sname=n, conns=4)
        for n in recs:
            d.wait_records(n, delivered=3000, sink="s3", at_least=True, timeout=30)
        for n, ext in (("gz", ".gz"), ("zs", ".zst")):
            keys = self.s3.keys(prefix=n + "/")
            self.assertTrue(keys)
            for k in keys:
                self.assertTrue(k.endswith(ext), k)
                self.assertRegex(k[len(n) + 1:], r"^\d{4}/\d{2}/\d{2}/\d{2}/%s-1-" % n)
            self.assertSameRecords(self.read_back(n + "/"), recs[n])
        m = d.metrics()
        self.assertEqual(m.get("sluice_s3_uploads_total", stream="gz", result="ok"),
                         len(self.s3.keys(prefix="gz/")))
        self.assertGreater(m.get("sluice_s3_upload_bytes_total", stream="zs"), 0)
        self.assertEqual(m.get("sluice_s3_parts_total", stream="zs"), 0)
        self.assertEqual(m.get("sluice_s3_upload_duration_seconds_count", stream="zs"),
                         len(self.s3.keys(prefix="zs/")))
        self.assertEqual(d.http_get("/readyz")[0], 200)
        head = self.s3.client().head_object(Bucket="logs", Key=self.s3.keys(prefix="zs/")[0])
        self.assertEqual(head.get("StorageClass"), "STANDARD_IA")
        d.stop()

    def test_multipart_above_the_threshold(self):
        # Objects of 6 MiB (uncompressed) are over the 5 MiB threshold: each
        # goes up as a multipart upload of a 5 MiB part and a 1 MiB one.
        d = self.sluice({"mp": self.s3.stream(
            compression="none", buffer_size="6MiB", buffer_interval="60s",
            max_buffered="64MiB", **{"s3.multipart_threshold": "5MiB",
                                     "s3.part_size": "5MiB"})})
        recs = make_records(65000, min_len=180, max_len=220)    # ~13 MiB: two seal by size
        d.send(recs, conns=4)
        wait_for(lambda: d.metrics().get("sluice_s3_parts_total", stream="mp") >= 4,
                 scaled(30), msg="two objects in two parts each")
        self.assertEqual(d.metrics().get("sluice_s3_uploads_total", stream="mp",
                                         result="error"), 0)
        d.stop()                                                # seals the rest
        self.assertSameRecords(self.read_back(), recs)
        self.assertNotIn("will retry", d.log())

    def test_prefix_expressions_make_the_keys(self):
        d = self.sluice({"ex": self.s3.stream(
            prefix="dt=!{timestamp:yyyy-MM-dd}/h=!{timestamp:HH}/!{firehose:random-string}/",
            error_prefix="e/!{firehose:error-output-type}/", buffer_interval="100ms")})
        recs = make_records(500)
        d.send(recs)
        d.wait_records("ex", delivered=500, sink="s3", at_least=True, timeout=30)
        keys = self.s3.keys()
        self.assertTrue(keys)
        for k in keys:
            self.assertRegex(k, r"^dt=\d{4}-\d{2}-\d{2}/h=\d{2}/[0-9a-z]{11}/ex-1-\d{4}-")
        self.assertSameRecords(self.read_back(), recs)
        d.stop()

    def test_dynamic_partitioning_by_json_keys(self):
        d = self.sluice({"dp": self.s3.stream(
            prefix="cust=!{partitionKeyFromQuery:customer}/!{timestamp:yyyy}/",
            partition_keys="customer=.who.id", buffer_interval="200ms",
            error_prefix="e/!{firehose:error-output-type}/", compression="none")})
        recs = {c: [b'{"who":{"id":"%s"},"n":%d}' % (c.encode(), i) for i in range(300)]
                for c in ("acme", "zeta", "kilo")}
        junk = [b"not json %d" % i for i in range(7)] + [b'{"who":{}}']
        mixed = [r for trio in zip(*recs.values()) for r in trio] + junk
        d.send(mixed, conns=2)
        d.wait_records("dp", delivered=900, sink="s3", backed_up=8, reason="partitioning_failed",
                       timeout=scaled(30))
        for c, want in recs.items():
            keys = self.s3.keys(prefix="cust=%s/" % c)
            self.assertTrue(keys, c)
            for k in keys:
                self.assertRegex(k, r"^cust=%s/\d{4}/dp-1-" % c)
            self.assertSameRecords([r for k in keys for r in split_records(self.s3.get(k))],
                                   want, "customer " + c)
        self.assertEqual(len(self.s3.keys()), sum(len(self.s3.keys(prefix="cust=%s/" % c))
                                                  for c in recs))
        m = d.metrics()
        self.assertEqual(m.balance("dp"), (908, 908))
        self.assertEqual(m.get("sluice_records_buffered", stream="dp"), 0)
        d.stop()
        envs = [e for rel, es in d.read_envelopes(root=d.backup_path("dp")) for e in es]
        self.assertSameRecords([e["raw"] for e in envs], junk)
        for e in envs:
            self.assertEqual(e["errorCode"], "DynamicPartitioning.MetadataExtractionFailed")
            self.assertIn("partitioning:", e["errorMessage"])
            self.assertEqual(e["stage"], "partitioning")

    def test_backup_goes_into_the_bucket_without_backup_path(self):
        d = self.sluice({"bb": self.s3.stream(
            prefix="ok/!{partitionKeyFromQuery:k}/", partition_keys="k=.k",
            error_prefix="failed/!{firehose:error-output-type}/", buffer_interval="100ms",
            compression="none", **{"backup.path": None})})
        good = [b'{"k":"a","n":%d}' % i for i in range(50)]
        junk = [b"junk %d" % i for i in range(5)]
        d.send(good + junk)
        d.wait_records("bb", backed_up=5, reason="partitioning_failed", timeout=scaled(30))
        failed = self.s3.keys(prefix="failed/partitioning-failed/")
        self.assertEqual(len(failed), 1, failed)
        envs = [json.loads(l) for l in self.s3.get(failed[0]).splitlines()]
        self.assertSameRecords([base64.b64decode(e["rawData"]) for e in envs], junk)
        self.assertEqual({e["errorCode"] for e in envs},
                         {"DynamicPartitioning.MetadataExtractionFailed"})
        self.assertIn("s3://logs/failed/partitioning-failed/", d.log())
        d.wait_records("bb", delivered=50, sink="s3", at_least=True, timeout=30)
        d.stop()
        self.assertFalse(os.path.exists(os.path.join(d.dir, "data", "backup")))

    def test_missing_bucket_goes_to_backup_after_retry_duration(self):
        d = self.sluice({"nb": self.s3.stream(
            bucket="no-such-bucket", retry_duration="1s", buffer_interval="100ms",
            error_prefix="failed/!{firehose:error-output-type}/!{timestamp:yyyy}/")},
            wait="listening")
        self.assertEqual(d.http_get("/readyz")[0], 503)
        recs = make_records(200)
        d.send(recs)
        d.wait_records("nb", backed_up=200, reason="retries_exhausted", timeout=scaled(30))
        m = d.metrics()
        self.assertGreater(m.get("sluice_delivery_retries_total", stream="nb", sink="s3",
                                 cause="no_such_bucket"), 0)
        self.assertGreater(m.get("sluice_s3_uploads_total", stream="nb", result="error"), 0)
        self.assertEqual(d.log().count("the bucket refuses uploads"), 1)
        d.stop()
        objects = d.read_envelopes(root=d.backup_path("nb"))
        self.assertEqual(len(objects), 1, objects)
        rel, envs = objects[0]
        self.assertRegex(rel, r"^failed/s3-failed/\d{4}/nb-1-")
        self.assertSameRecords([e["raw"] for e in envs], recs)
        for e in envs:
            self.assertEqual((e["errorCode"], e["sink"]), ("S3.RetriesExhausted", "s3"))
            self.assertIn("NoSuchBucket", e["errorMessage"])

    def test_server_killed_mid_stream_loses_nothing(self):
        d = self.sluice({"k": self.s3.stream(buffer_interval="100ms", compression="zstd")})
        first, second = make_records(2000, tag=b"a"), make_records(2000, tag=b"b")
        d.send(first)
        d.wait_records("k", delivered=2000, sink="s3", at_least=True, timeout=30)
        self.s3.kill()
        d.send(second)
        wait_for(lambda: d.metrics().get("sluice_delivery_retries_total", stream="k",
                                         sink="s3", cause="connection") > 0, scaled(20),
                 msg="retries while the server is down")
        self.s3.start()
        d.wait_records("k", delivered=4000, sink="s3", at_least=True, timeout=scaled(60))
        d.stop()
        self.assertSameRecords(self.read_back(), first + second)


class S3FrontTest(SluiceTestCase):

    def setUp(self):
        super().setUp()
        self.s3 = S3rver()
        self.proxies = []

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            for p in self.proxies:
                p.stop()
            self.s3.cleanup()

    def proxy(self, **kw):
        p = SigV4Proxy(self.s3, **kw)
        self.proxies.append(p)
        return p

    def test_replayed_batches_meet_if_none_match(self):
        """durability = disk: a batch delivered again after a crash (here for
        sure: the log copied while every batch was sealed and undelivered, put
        back after delivery) is written with If-None-Match: *; the proxy, like
        S3, answers 412 for a key that exists; the batch counts as delivered,
        no object is added or replaced."""
        p = self.proxy()
        d = self.sluice({"w": self.s3.stream(durability="disk", buffer_size="64KiB",
                                             buffer_interval="200ms", prefix="w/",
                                             **{"s3.endpoint": p.endpoint})},
                        process={"shutdown_timeout": "1s"}, wait="listening")
        self.s3.kill()                    # nothing can be delivered
        recs = make_records(1000, tag=b"w-")
        d.send(recs, sname="w")
        wait_for(lambda: d.metrics().get("sluice_records_received_total", stream="w",
                                         source="tcp") == 1000, scaled(20),
                 msg="records in")
        wait_for(lambda: d.metrics().sum("sluice_batches_sealed_total", stream="w") >= 1,
                 scaled(20), msg="batches sealed")
        d.stop()                          # the batches stay in the log
        wal = os.path.join(d.process["data_dir"], "w")
        copy = os.path.join(d.dir, "wal-copy")
        shutil.copytree(wal, copy)
        self.s3.start()
        d.start(wait="listening")
        d.wait_records("w", delivered=1000, sink="s3", at_least=True, timeout=30)
        d.stop()
        first = {k: self.s3.get(k) for k in self.s3.keys(prefix="w/")}
        self.assertSameRecords([r for k, v in sorted(first.items())
                                for r in split_records(unpack(k, v))], recs)

        shutil.rmtree(wal)
        shutil.copytree(copy, wal)
        d.start(wait="listening")
        wait_for(lambda: d.metrics().get("sluice_objects_existing_total", stream="w",
                                         sink="s3") == len(first), scaled(30),
                 msg=lambda: "%d replayed batches met their objects\n%s" % (len(first),
                                                                          d.log_tail()))
        m = d.metrics()
        self.assertEqual(m.get("sluice_records_delivered_total", stream="w", sink="s3"), 1000)
        self.assertEqual(m.sum("sluice_records_backed_up_total", stream="w"), 0)
        d.stop()
        self.assertEqual(sorted(p.existed()), sorted("/logs/" + k for k in first))
        again = {k: self.s3.get(k) for k in self.s3.keys(prefix="w/")}
        self.assertEqual(again, first, "a replayed batch added or replaced an object")

    def test_right_secret_accepted_wrong_refused(self):
        p = self.proxy()
        good = self.s3.stream(compression="none", buffer_size="6MiB", buffer_interval="200ms",
                              max_buffered="64MiB", prefix="good/",
                              **{"s3.endpoint": p.endpoint, "s3.multipart_threshold": "5MiB",
                                 "s3.part_size": "5MiB"})
        bad = self.s3.stream(prefix="bad/", retry_duration="1s", buffer_interval="100ms",
                             **{"s3.endpoint": p.endpoint,
                                "s3.credentials_file": self.s3.creds_file("not-the-secret")})
        d = self.sluice({"good": good, "bad": bad}, wait="listening")
        big = make_records(33000, min_len=180, max_len=220)      # one multipart object
        small = make_records(300, tag=b"s")
        d.send(big, sname="good", conns=4)
        d.send(small, sname="bad")
        d.wait_records("good", delivered=len(big), sink="s3", timeout=scaled(30))
        self.assertGreaterEqual(d.metrics().get("sluice_s3_parts_total", stream="good"), 2)
        self.assertSameRecords(
            [r for k in self.s3.keys(prefix="good/") for r in split_records(self.s3.get(k))],
            big)
        d.wait_records("bad", backed_up=300, reason="retries_exhausted", timeout=scaled(30))
        m = d.metrics()
        self.assertGreater(m.get("sluice_delivery_retries_total", stream="bad", sink="s3",
                                 cause="forbidden"), 0)
        self.assertEqual(m.get("sluice_records_delivered_total", stream="bad", sink="s3"), 0)
        self.assertEqual(self.s3.keys(prefix="bad/"), [])
        self.assertIn("SignatureDoesNotMatch", d.log())
        self.assertNotIn("not-the-secret", d.log())
        d.stop()

    def test_failed_part_aborts_the_upload_then_retries(self):
        p = self.proxy(fail_part2=1)
        d = self.sluice({"mp": self.s3.stream(
            compression="none", buffer_size="6MiB", buffer_interval="60s",
            max_buffered="64MiB", **{"s3.endpoint": p.endpoint, "s3.multipart_threshold": "5MiB",
                                     "s3.part_size": "5MiB", "s3.sse": "aws:kms",
                                     "s3.sse_kms_key_id": "key-1"})})
        recs = make_records(33000, min_len=180, max_len=220)     # sealed by size: 6 MiB
        d.send(recs, conns=4)
        wait_for(lambda: d.metrics().get("sluice_s3_uploads_total", stream="mp",
                                         result="ok") >= 1, scaled(30), msg="uploaded")
        m = d.metrics()
        self.assertEqual(m.get("sluice_delivery_retries_total", stream="mp", sink="s3",
                               cause="server_error"), 1)
        self.assertEqual(m.get("sluice_s3_uploads_total", stream="mp", result="error"), 1)
        d.stop()
        self.assertEqual(len(p.aborted()), 1, "the failed upload was aborted")
        # encryption is asked for when an object or an upload is created,
        # never with a part (the rest of the records, sealed at the stop,
        # went up in one PUT)
        sse = p.sse()
        self.assertEqual(sse.count(("POST", "uploads=", "aws:kms", "key-1")), 2, sse)
        self.assertEqual([x for x in sse if x[0] != "POST"], [("PUT", "-", "aws:kms", "key-1")])
        self.assertSameRecords([r for k in self.s3.keys() for r in
                                split_records(self.s3.get(k))], recs)

    def test_connections_are_kept_and_reused(self):
        p = self.proxy()
        d = self.sluice({"r": self.s3.stream(buffer_interval="50ms",
                                             **{"s3.endpoint": p.endpoint,
                                                "s3.max_connections": "1"})})
        for i in range(5):                       # five batches, one after another
            d.send(make_records(100, start=i * 100))
            d.wait_records("r", delivered=(i + 1) * 100, sink="s3", at_least=True, timeout=30)
        uploads = d.metrics().get("sluice_s3_uploads_total", stream="r", result="ok")
        d.stop()
        self.assertGreaterEqual(uploads, 5)
        self.assertEqual(p.connections(), 1)

    def test_corrupted_body_is_refused_and_sent_again(self):
        p = self.proxy(corrupt=2)
        d = self.sluice({"c": self.s3.stream(buffer_interval="100ms", compression="zstd",
                                             **{"s3.endpoint": p.endpoint})})
        recs = make_records(1000)
        d.send(recs)
        d.wait_records("c", delivered=1000, sink="s3", timeout=scaled(30))
        self.assertEqual(d.metrics().get("sluice_delivery_retries_total", stream="c", sink="s3",
                                         cause="bad_digest"), 2)
        self.assertIn("XAmzContentSHA256Mismatch", d.log())
        d.stop()
        self.assertSameRecords([r for k in self.s3.keys() for r in
                                split_records(unpack(k, self.s3.get(k)))], recs)
