"""The PostgreSQL test server itself: a throwaway cluster that starts as a
non-root user, answers psql, keeps its data across a stop and a crash, and
checks passwords when asked to."""
import os
import subprocess
import unittest

from pg_server import PgServer


class PgServerTest(unittest.TestCase):
    def test_start_query_stop_restart(self):
        pg = PgServer()
        try:
            pid = pg.pid()
            self.assertIsNotNone(pid)
            with open("/proc/%d/status" % pid) as f:
                uid = [l for l in f if l.startswith("Uid:")][0].split()[1]
            self.assertNotEqual(uid, "0", "the server must not run as root")
            pg.psql("CREATE TABLE t (data jsonb)")
            pg.psql("""INSERT INTO t VALUES ('{"a":1}'), ('{"a":2}')""")
            self.assertEqual(pg.rows("SELECT data->>'a' FROM t ORDER BY 1"), [["1"], ["2"]])
            pg.stop()
            self.assertIsNone(pg.pid())
            r = pg.psql("SELECT 1", check=False)
            self.assertEqual(r, "")
            pg.start()
            self.assertEqual(pg.scalar("SELECT count(*) FROM t"), "2")
            pg.kill()
            self.assertIsNone(pg.pid())
            pg.start()
            self.assertEqual(pg.scalar("SELECT count(*) FROM t"), "2")
        finally:
            pg.cleanup()
        self.assertFalse(os.path.exists(pg.dir))

    def test_password(self):
        pg = PgServer(password="s3cret-pw")
        try:
            self.assertEqual(pg.scalar("SELECT current_user"), "sluice")
            r = subprocess.run(["psql", "-X", "-w", "-h", "127.0.0.1", "-p", str(pg.port),
                                "-U", "sluice", "-d", "events", "-c", "SELECT 1"],
                               capture_output=True, env={"PATH": os.environ["PATH"]})
            self.assertNotEqual(r.returncode, 0, "a connection without the password")
            self.assertIn(b"password", r.stderr)
        finally:
            pg.cleanup()


if __name__ == "__main__":
    unittest.main()
