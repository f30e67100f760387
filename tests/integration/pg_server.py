"""
pg_server.py - the PostgreSQL server the postgresql and redshift sinks'
tests use: Debian's postgresql 15 (installed by scripts/deps.sh test), a
throwaway cluster made by initdb in a temp directory and run on a free
loopback port. PostgreSQL refuses to run as root, so the cluster
belongs to the unprivileged `postgres` user the package creates, and its
processes run as that user. Stopped by its postmaster's PID. Read back
with psql, an independent client.

    pg = PgServer()                      # started; pg.port, pg.conninfo()
    pg.psql("CREATE TABLE t (data jsonb)")
    pg.rows("SELECT count(*) FROM t")    # [["0"]]
    pg.stop(); pg.start()                # the same cluster again
    pg.cleanup()
"""
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

from harness import free_port, wait_for

USER = "sluice"            # the cluster's superuser, the one sluice connects as
DB = "events"
OS_USER = "postgres"       # who runs the server: anyone but root


def _bindir():
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not dirs:
        raise AssertionError("PostgreSQL is not installed: run scripts/deps.sh test")
    return dirs[-1]


def _zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


class PgServer:
    def __init__(self, password=None, start=True, tls=False):
        """A new cluster. <password>: connections over TCP need it
        (scram-sha-256); None: trusted. <tls>: the server also takes TLS,
        with a self-signed certificate for 127.0.0.1 at self.cert (its own
        CA: a client's sslrootcert)."""
        self.bin = _bindir()
        self.pw = pwd.getpwnam(OS_USER)
        self.dir = tempfile.mkdtemp(prefix="sluice-pg-", dir="/tmp")
        os.chown(self.dir, self.pw.pw_uid, self.pw.pw_gid)
        self.data = os.path.join(self.dir, "data")
        self.logfile = os.path.join(self.dir, "server.log")
        self.port = free_port()
        self.password = password
        self.proc = None
        self.cert = None
        self._initdb()
        if tls:
            from test_http import make_cert
            self.cert, key = make_cert(self.dir, "server")
            for f in (self.cert, key):
                os.chown(f, self.pw.pw_uid, self.pw.pw_gid)
            os.chmod(key, 0o600)
            self.tls = ["-c", "ssl=on", "-c", "ssl_cert_file=" + self.cert,
                        "-c", "ssl_key_file=" + key]
        else:
            self.tls = []
        if start:
            self.start()
            self.psql("CREATE DATABASE %s" % DB, db="postgres")

    def _as_postgres(self, args, **kw):
        return subprocess.run(["runuser", "-u", OS_USER, "--"] + args, cwd=self.dir,
                              capture_output=True, **kw)

    def _initdb(self):
        args = [os.path.join(self.bin, "initdb"), "-D", self.data, "-U", USER,
                "--no-sync", "-E", "UTF8", "--locale=C", "--auth-local=trust"]
        if self.password:
            pwfile = os.path.join(self.dir, "pwfile")
            with open(pwfile, "w") as f:
                f.write(self.password + "\n")
            os.chown(pwfile, self.pw.pw_uid, self.pw.pw_gid)
            args += ["--auth-host=scram-sha-256", "--pwfile=" + pwfile]
        else:
            args += ["--auth-host=trust"]
        r = self._as_postgres(args)
        if r.returncode != 0:
            raise AssertionError("initdb failed: %s" % r.stderr.decode(errors="replace"))

    def start(self, timeout=60):
        """Starts the server as this process's child (not through pg_ctl,
        which detaches it: a postmaster killed with SIGKILL would then stay
        a zombie where PID 1 reaps nothing, and hold its pid file's PID)."""
        args = ["setpriv", "--reuid=%d" % self.pw.pw_uid, "--regid=%d" % self.pw.pw_gid,
                "--init-groups", "--", os.path.join(self.bin, "postgres"), "-D", self.data,
                "-p", str(self.port), "-c", "listen_addresses=127.0.0.1",
                "-c", "unix_socket_directories=" + self.dir, "-c", "fsync=off",
                "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "max_connections=100"] + self.tls
        with open(self.logfile, "ab") as log:
            self.proc = subprocess.Popen(args, cwd=self.dir, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("postgresql exited with %s:\n%s"
                                     % (self.proc.returncode, self.log_tail()))
            r = subprocess.run([os.path.join(self.bin, "pg_isready"), "-q", "-h", "127.0.0.1",
                                "-p", str(self.port)], capture_output=True)
            return r.returncode == 0
        wait_for(up, timeout, interval=0.05, msg="postgresql ready on %d" % self.port)

    def pid(self):
        """The postmaster's PID, or None when it is not running."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        return self.proc.pid

    def _children(self, pid):
        out = []
        for p in glob.glob("/proc/[0-9]*/stat"):
            try:
                with open(p) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(p.split("/")[2]))
            except (OSError, ValueError, IndexError):
                pass
        return out

    def _signal(self, sig, timeout):
        pid = self.pid()
        if pid is None:
            return
        # a crash takes the backends too: they would linger on an orphaned socket
        kids = self._children(pid) if sig == signal.SIGKILL else []
        os.kill(pid, sig)
        for k in kids:
            try:
                os.kill(k, sig)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None and all(not os.path.exists("/proc/%d" % p) or
                                                    _zombie(p) for p in kids):
                return
            time.sleep(0.02)
        raise AssertionError("postgresql %d did not exit after signal %d" % (pid, sig))

    def stop(self, timeout=30):
        """A fast shutdown (SIGINT to the postmaster): sessions are cut."""
        self._signal(signal.SIGINT, timeout)

    def kill(self, timeout=30):
        """The postmaster and its backends killed with SIGKILL: a crash."""
        self._signal(signal.SIGKILL, timeout)

    def cleanup(self):
        try:
            self._signal(signal.SIGKILL, 30)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def conninfo(self, db=DB, **extra):
        """A libpq connection string for sluice's pg.conninfo."""
        kv = {"host": "127.0.0.1", "port": str(self.port), "dbname": db, "user": USER,
              "connect_timeout": "5"}
        kv.update({k: str(v) for k, v in extra.items()})
        return " ".join("%s=%s" % (k, v) for k, v in kv.items())

    def psql(self, sql, db=DB, check=True, timeout=60):
        """Runs <sql> with psql; its output (unaligned, tuples only)."""
        env = dict(os.environ)
        if self.password:
            env["PGPASSWORD"] = self.password
        r = subprocess.run(["psql", "-X", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER,
                            "-d", db, "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                           capture_output=True, env=env, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("psql %r: %s" % (sql, r.stderr.decode(errors="replace")))
        return r.stdout.decode()

    def rows(self, sql, db=DB):
        """The rows of a query, each a list of its columns' texts."""
        out = self.psql(sql, db=db)
        return [line.split("\t") for line in out.splitlines()]

    def scalar(self, sql, db=DB):
        r = self.rows(sql, db=db)
        return r[0][0] if r else None

    def log_tail(self, n=40):
        try:
            with open(self.logfile, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


class WithPg:
    """A test case mixin (before the TestCase class): self.pg, a PostgreSQL
    cluster started for each test and removed after it."""
    pg_password = None

    def setUp(self):
        super().setUp()
        self.pg = PgServer(password=self.pg_password)

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            self.pg.cleanup()
