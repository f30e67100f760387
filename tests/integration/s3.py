"""
s3.py - the S3 server the S3 sink's tests use: the s3rver npm package
(installed into var/npm by scripts/deps.sh), on a loopback port, with its
data in a temp directory, stopped by its PID. Objects are read back with
boto3.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile

import boto3
from botocore.config import Config

from harness import ROOT, free_port, scaled, wait_for

S3RVER = os.path.join(ROOT, "var", "npm", "node_modules", ".bin", "s3rver")
KEY, SECRET = "S3RVER", "S3RVER"          # what s3rver expects


class S3rver:
    def __init__(self, buckets=("logs",)):
        self.dir = tempfile.mkdtemp(prefix="sluice-s3-", dir="/tmp")
        self.port = free_port()
        self.buckets = buckets
        self.proc = None
        self.log = open(os.path.join(self.dir, "s3rver.log"), "ab")
        self.start()

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        args = [S3RVER, "-d", os.path.join(self.dir, "data"), "-a", "127.0.0.1",
                "-p", str(self.port), "--silent"]
        for b in self.buckets:
            args += ["--configure-bucket", b]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("s3rver exited with %s" % self.proc.returncode)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_for(up, 30, msg="s3rver listening")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def cleanup(self):
        self.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                            config=Config(retries={"max_attempts": 1},
                                          s3={"addressing_style": "path"}))

    def keys(self, bucket="logs", prefix=""):
        c, out, token = self.client(), [], None
        while True:
            kw = {"Bucket": bucket, "Prefix": prefix}
            if token:
                kw["ContinuationToken"] = token
            r = c.list_objects_v2(**kw)
            out += [o["Key"] for o in r.get("Contents", [])]
            if not r.get("IsTruncated"):
                return sorted(out)
            token = r["NextContinuationToken"]

    def get(self, key, bucket="logs"):
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def creds_file(self, secret=SECRET):
        path = os.path.join(self.dir, "credentials" if secret == SECRET else "credentials-other")
        with open(path, "w") as f:
            f.write("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                    % (KEY, secret))
        return path

    def stream(self, bucket="logs", **keys):
        """Stream keys for an s3 sink pointed at this server."""
        conf = {"sink": "s3", "file.path": None, "s3.bucket": bucket,
                "s3.endpoint": self.endpoint, "s3.path_style": "true",
                "s3.credentials_file": self.creds_file()}
        conf.update(keys)
        return conf


PROXY = os.path.join(os.path.dirname(os.environ.get("SLUICE_BIN", os.path.join(
    ROOT, "build", "sluice"))), "sigv4-proxy")


class WithS3rver:
    """A test case mixin (before the TestCase class): self.s3, an s3rver
    started for each test and cleaned up after it."""

    def setUp(self):
        super().setUp()
        self.s3 = S3rver()

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            self.s3.cleanup()


class SigV4Proxy:
    """tests/tools/sigv4_proxy.c in front of <s3>: checks each request's
    signature with sluice's verifier, and its body's SHA-256 and MD5, before
    passing it on. corrupt=N flips a byte in the first N bodies;
    fail_part2=N answers 500 to the first N uploads of a part 2. It answers
    AbortMultipartUpload itself and prints "aborted ID" (see aborted()), and
    a conditional write of a key that exists with 412 (see existed())."""

    def __init__(self, s3, corrupt=0, fail_part2=0):
        self.port = free_port()
        self.proc = subprocess.Popen([PROXY, str(self.port), s3.endpoint, KEY, SECRET,
                                      str(corrupt), str(fail_part2)], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        if "listening" not in line:
            raise AssertionError("sigv4-proxy did not start: %s" % line)

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def output(self):
        """What the proxy printed, once it has stopped."""
        if not hasattr(self, "_out"):
            self.stop()
            self._out = self.proc.stdout.read().splitlines()
        return self._out

    def aborted(self):
        """Upload ids aborted."""
        return [l.split()[1] for l in self.output() if l.startswith("aborted ")]

    def existed(self):
        """Paths of conditional writes (If-None-Match: *) refused with 412."""
        return [l.split()[1] for l in self.output() if l.startswith("exists ")]

    def sse(self):
        """(method, query, value, kms key) of requests that asked for encryption."""
        return [tuple(l.split()[1:]) for l in self.output() if l.startswith("sse ")]

    def connections(self):
        return sum(1 for l in self.output() if l == "connection")
