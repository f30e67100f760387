"""
(d) SIGHUP: a new buffer_interval takes effect (version 2 in the keys); a
config that fails validation, or changes tcp_listen or the set of streams,
is refused and counted while the daemon keeps serving the old one.
"""
import json
import os
import socket
import time
import unittest

from harness import (SluiceTestCase, free_port, producer_records, scaled, start_producer,
                     wait_for)


def reloads(d, result):
    return d.metrics().get("sluice_config_reloads_total", result=result)


class ReloadTest(SluiceTestCase):

    def versions(self, d, stream):
        out = {}
        for rel in d.object_files(stream):
            m = self.assertKeyLayout(rel, stream)
            out[rel] = int(m.group("version"))
        return out

    def test_reload_new_interval_applies(self):
        d = self.sluice({"rl": {"buffer_interval": "60s", "compression": "gzip"}})
        self.assertEqual(reloads(d, "success"), 0)
        d.send([b"before-reload"], conns=1)
        wait_for(lambda: d.metrics().get("sluice_records_received_total", stream="rl",
                                         source="tcp") == 1, 5)
        d.streams["rl"]["buffer_interval"] = "1s"
        d.reload()
        wait_for(lambda: reloads(d, "success") == 1, 5, msg="reload counted as success")
        # the open batch is sealed under the old config (version 1), reason reload
        wait_for(lambda: d.metrics().get("sluice_batches_sealed_total", stream="rl",
                                         reason="reload") == 1, 5, msg="reload seal")
        first = wait_for(lambda: d.object_files("rl"), 5, msg="the reload-sealed object")
        self.assertEqual(list(self.versions(d, "rl").values()), [1])
        self.assertEqual(d.read_records("rl"), [b"before-reload"])

        t0 = time.monotonic()
        d.send([b"after-reload-1", b"after-reload-2"], conns=1)
        files = wait_for(lambda: len(d.object_files("rl")) == 2 and d.object_files("rl"), 4,
                         msg="object sealed by the new 1s interval")
        elapsed = time.monotonic() - t0
        self.assertLess(elapsed, scaled(4))
        self.assertGreaterEqual(elapsed, 0.8, "sealed before the 1s interval")
        new = [f for f in files if f not in first]
        self.assertEqual(len(new), 1)
        self.assertKeyLayout(new[0], "rl", version=2, ext=".gz")
        self.assertEqual(sorted(d.read_records("rl")),
                         sorted([b"before-reload", b"after-reload-1", b"after-reload-2"]))
        m = d.metrics()
        self.assertEqual(m.get("sluice_config_reloads_total", result="success"), 1)
        self.assertEqual(m.get("sluice_config_reloads_total", result="failure"), 0)
        self.assertEqual(m.get("sluice_batches_sealed_total", stream="rl", reason="interval"), 1)
        self.assertIn("reloaded", d.log())
        d.stop()

    def test_reload_broken_config_refused(self):
        d = self.sluice({"rb": {"buffer_interval": "1s"}})
        good = d.config_text()
        # broken: a bad size; it also sets a 900s interval, which must not apply
        broken = good.replace("buffer_interval = 1s", "buffer_interval = 900s") \
                     .replace("buffer_size = 5MiB", "buffer_size = banana")
        self.assertNotEqual(broken, good)
        self.assertIn("banana", broken)
        d.reload(broken)
        wait_for(lambda: reloads(d, "failure") == 1, 5, msg="reload counted as failure")
        self.assertEqual(reloads(d, "success"), 0)
        self.assertTrue(d.healthy())
        self.assertEqual(d.http_get("/readyz")[0], 200)
        self.assertIn("reload refused", d.log())
        self.assertIn("buffer_size", d.log())      # the validation error is logged

        # still serving and delivering with the old config (1s interval, version 1)
        d.send([b"after-broken-reload"], conns=1)
        files = wait_for(lambda: d.object_files("rb"), 4, msg="delivery with the old config")
        self.assertKeyLayout(files[0], "rb", version=1)
        self.assertEqual(d.read_records("rb"), [b"after-broken-reload"])

        # a good reload afterwards is version 2: the refused one did not count
        d.reload(good)
        wait_for(lambda: reloads(d, "success") == 1, 5)
        self.assertEqual(reloads(d, "failure"), 1)
        d.send([b"after-good-reload"], conns=1)
        files = wait_for(lambda: len(d.object_files("rb")) == 2 and d.object_files("rb"), 4)
        versions = sorted(int(self.assertKeyLayout(f, "rb").group("version")) for f in files)
        self.assertEqual(versions, [1, 2])
        d.stop()

    def test_reload_refuses_listener_and_stream_changes(self):
        d = self.sluice({"rc": {"buffer_interval": "1s"}})
        old_port = d.port("rc")
        new_port = free_port()
        d.streams["rc"]["tcp_listen"] = "127.0.0.1:%d" % new_port
        d.reload()
        wait_for(lambda: reloads(d, "failure") == 1, 5, msg="tcp_listen change refused")
        self.assertIn("tcp_listen", d.log())
        d.streams["rc"]["tcp_listen"] = "127.0.0.1:%d" % old_port
        d.add_stream("extra", {"buffer_interval": "1s"})
        d.reload()
        wait_for(lambda: reloads(d, "failure") == 2, 5, msg="new stream refused")
        self.assertEqual(reloads(d, "success"), 0)
        m = d.metrics()
        self.assertFalse(any(ls and ("stream", "extra") in ls for (_, ls) in m),
                         "a refused stream shows up in /metrics")
        # the old listener still works, the new port was never opened
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", new_port), timeout=2).close()
        d.send([b"still-here"], conns=1)
        files = wait_for(lambda: d.object_files("rc"), 4)
        self.assertKeyLayout(files[0], "rc", version=1)
        self.assertEqual(d.read_records("rc"), [b"still-here"])
        self.assertFalse(os.path.exists(d.file_path("extra")))
        d.stop()

    def test_reload_changes_compression_and_prefix(self):
        d = self.sluice({"rp": {"buffer_interval": "200ms", "compression": "gzip",
                                "prefix": "one/"}})
        d.send([b"rp-1"], conns=1)
        first = wait_for(lambda: d.object_files("rp"), 4)
        self.assertKeyLayout(first[0], "rp", version=1, ext=".gz", prefix="one/")
        d.streams["rp"].update({"compression": "zstd", "prefix": "two/"})
        d.reload()
        wait_for(lambda: reloads(d, "success") == 1, 5)
        d.send([b"rp-2"], conns=1)
        files = wait_for(lambda: len(d.object_files("rp")) == 2 and d.object_files("rp"), 4)
        new = [f for f in files if f not in first]
        self.assertKeyLayout(new[0], "rp", version=2, ext=".zst", prefix="two/")
        self.assertEqual(d.test_compressed("rp"), 2)
        self.assertEqual(sorted(d.read_records("rp")), [b"rp-1", b"rp-2"])
        d.stop()

    def test_reloads_under_load_lose_nothing(self):
        d = self.sluice({"ru": {"buffer_size": "256KiB", "buffer_interval": "300ms",
                                "compression": "gzip"}})
        producer = start_producer(d.port("ru"), conns=3, seconds=2.5, piece=4096, batch=500,
                                  pause=0.01)
        sent_hups = 0
        try:
            # reload repeatedly while records stream in, alternating two configs
            wait_for(lambda: d.metrics().get("sluice_records_received_total", stream="ru",
                                             source="tcp") > 0, 10, msg="load started")
            while producer.poll() is None and sent_hups < 6:
                d.streams["ru"]["buffer_size"] = "128KiB" if sent_hups % 2 == 0 else "256KiB"
                d.reload()
                sent_hups += 1
                wait_for(lambda: reloads(d, "success") == sent_hups, 5,
                         msg="reload %d applied" % sent_hups)
        finally:
            out, _ = producer.communicate(timeout=60)
        self.assertEqual(producer.returncode, 0)
        self.assertGreaterEqual(sent_hups, 2, "the load ended before the reloads")
        counts = json.loads(out)
        expected = [r for i, n in enumerate(counts) for r in producer_records(i, n)]

        m = d.wait_records("ru", settled=len(expected), source="tcp", timeout=15)
        self.assertEqual(m.get("sluice_records_delivered_total", stream="ru", sink="file"),
                         len(expected))
        self.assertEqual(m.get("sluice_config_reloads_total", result="failure"), 0)
        self.assertGreaterEqual(m.get("sluice_batches_sealed_total", stream="ru",
                                      reason="reload"), 1)
        d.stop()
        versions = set(int(self.assertKeyLayout(f, "ru").group("version"))
                       for f in d.object_files("ru"))
        self.assertIn(1, versions)
        self.assertIn(sent_hups + 1, versions)
        self.assertLessEqual(max(versions), sent_hups + 1)
        self.assertSameRecords(d.read_records("ru"), expected, "records across reloads")


if __name__ == "__main__":
    unittest.main()
