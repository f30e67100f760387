"""The Redshift front (redshift_front.py) itself: psql, an independent
client, talks to it; the data is put into s3rver with boto3 the way
Firehose writes it (gzipped concatenated JSON, a manifest listing the
objects) and read back from PostgreSQL directly."""
import bz2
import gzip
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import unittest

from harness import HERE, free_port, scaled, wait_for
from pg_server import DB, USER, WithPg
from redshift_front import PgClient, RedshiftFront, _fields, _msg, strip_keys
from s3 import WithS3rver

BUCKET = "logs"


def concat(records, sep=""):
    """Records as Firehose concatenates them: JSON objects, no separator."""
    return sep.join(json.dumps(r) for r in records).encode()


class FrontCase(WithS3rver, WithPg, unittest.TestCase):
    """A PostgreSQL cluster, an s3rver and a front for each test."""

    def setUp(self):
        super().setUp()
        self.front = RedshiftFront(self.pg, self.s3.endpoint)
        self.s3c = self.s3.client()

    def tearDown(self):
        try:
            self.front.stop()
        finally:
            super().tearDown()

    # -- helpers -------------------------------------------------------------

    def psql(self, sql, check=None, stop=True, timeout=60, one_query=False):
        """Runs the script <sql> through the front (psql sends each statement
        as its own query; one_query: all of <sql> as one query string); the
        CompletedProcess. check=True: must succeed; False: must fail; None:
        either."""
        env = dict(os.environ)
        if self.pg.password:
            env["PGPASSWORD"] = self.pg.password
        how = ["-c", sql] if one_query else ["-f", "-"]
        r = subprocess.run(["psql", "-X", "-h", "127.0.0.1", "-p", str(self.front.port),
                            "-U", USER, "-d", DB, "-v", "ON_ERROR_STOP=%d" % stop,
                            "-v", "VERBOSITY=verbose"] + how,
                           input=None if one_query else sql, capture_output=True, text=True,
                           env=env, timeout=scaled(timeout))
        if check is True and r.returncode != 0:
            self.fail("psql failed (%d): %s" % (r.returncode, r.stderr))
        if check is False and r.returncode == 0:
            self.fail("psql succeeded: %s %s" % (r.stdout, r.stderr))
        return r

    def put(self, key, body, bucket=BUCKET):
        self.s3c.put_object(Bucket=bucket, Key=key, Body=body)
        return "s3://%s/%s" % (bucket, key)

    def manifest(self, key, urls, mandatory=True):
        entries = [{"url": u, "mandatory": mandatory} for u in urls]
        return self.put(key, json.dumps({"entries": entries}).encode())

    def copy_sql(self, table, url, options="MANIFEST JSON 'auto' GZIP", cols=""):
        return ("COPY %s%s FROM '%s'\n  CREDENTIALS 'aws_iam_role=arn:aws:iam::1:role/r'\n"
                "  %s;\n" % (table, cols, url, options))

    def count(self, table):
        return int(self.pg.scalar("SELECT count(*) FROM %s" % table))

    def stl(self):
        return self.pg.rows("SELECT trim(filename), line_number, trim(colname), err_code, "
                            "trim(err_reason), trim(raw_line), trim(raw_field_value) "
                            "FROM stl_load_errors ORDER BY line_number")

    def firehose_batch(self, name, n, start=0, extra=None):
        """Two gzipped objects of concatenated records (ids start..start+n-1)
        and a manifest listing them: its URL."""
        recs = [dict({"id": i, "name": "n%d" % i}, **(extra or {})) for i in range(start,
                                                                               start + n)]
        half = n // 2
        a = self.put("%s/part-1.gz" % name, gzip.compress(concat(recs[:half])))
        b = self.put("%s/part-2.gz" % name, gzip.compress(concat(recs[half:], "\n")))
        return self.manifest("%s/manifest" % name, [a, b])


class CopyLoadTest(FrontCase):
    def test_manifest_json_auto_gzip_loads_every_row_and_says_so(self):
        self.pg.psql("CREATE TABLE ev (id int, name varchar(20), note text)")
        url = self.firehose_batch("b1", 50, extra={"unknown_key": [1, 2]})
        r = self.psql(self.copy_sql("ev", url) + "SELECT pg_last_copy_count() AS n;\n",
                      check=True)
        self.assertIn("COPY 50", r.stdout)
        self.assertRegex(r.stdout, r"\bn\s*\n-+\n\s*50\n")
        self.assertRegex(r.stderr, r"INFO:  (00000: )?Load into table 'ev' completed, 50 "
                                   r"record\(s\) loaded successfully\.")
        self.assertEqual(self.pg.rows("SELECT min(id), max(id), count(DISTINCT id), "
                                      "count(note) FROM ev"), [["0", "49", "50", "0"]])
        self.assertEqual(self.pg.scalar("SELECT name FROM ev WHERE id = 7"), "n7")
        c = self.front.copies
        self.assertEqual(len(c), 1)
        self.assertEqual(c[0]["outcome"], "loaded")
        self.assertEqual(c[0]["rows"], 50)
        self.assertEqual(c[0]["sql"], self.copy_sql("ev", url).rstrip("\n"))
        self.assertEqual(c[0]["auth"]["kind"], "credentials")
        self.assertEqual(sorted(c[0]["files"]), ["s3://logs/b1/part-1.gz",
                                                 "s3://logs/b1/part-2.gz"])

    def test_nested_values_load_as_json_text_and_missing_keys_as_null(self):
        self.pg.psql("CREATE TABLE ev (id int, payload jsonb, flag boolean, n float8, "
                     "missing text)")
        body = b'{"id":1,"payload":{"a":[1,2],"b":"x"},"flag":true,"n":1.5}' \
               b'\n\n  {"id":2,"payload":[3],"flag":false,"n":2}'
        url = self.manifest("m", [self.put("f.gz", gzip.compress(body))])
        self.psql(self.copy_sql("ev", url), check=True)
        self.assertEqual(self.pg.rows("SELECT id, payload->>'b', payload->'a'->>1, flag, n, "
                                      "missing IS NULL FROM ev ORDER BY id"),
                         [["1", "x", "2", "t", "1.5", "t"], ["2", "", "", "f", "2", "t"]])

    def test_column_list_loads_only_those_columns(self):
        self.pg.psql("CREATE TABLE ev (id int, name text, other text DEFAULT 'dflt')")
        url = self.manifest("m", [self.put("f.gz", gzip.compress(concat(
            [{"id": 1, "name": "a", "other": "ignored"}, {"id": 2, "name": "b"}])))])
        self.psql(self.copy_sql("ev", url, cols=" (id, name)"), check=True)
        self.assertEqual(self.pg.rows("SELECT id, name, other FROM ev ORDER BY id"),
                         [["1", "a", "dflt"], ["2", "b", "dflt"]])
        r = self.psql(self.copy_sql("ev", url, cols=" (id, nosuch)"), check=False)
        self.assertIn('42703: column "nosuch" of relation "ev" does not exist', r.stderr)

    def test_auto_matches_keys_exactly_and_ignorecase_does_not(self):
        self.pg.psql("CREATE TABLE ev (id int, name text)")
        url = self.manifest("m", [self.put("f.gz", gzip.compress(concat(
            [{"ID": 1, "Name": "a"}])))])
        self.psql(self.copy_sql("ev", url), check=True)
        self.assertEqual(self.pg.rows("SELECT id IS NULL, name IS NULL FROM ev"), [["t", "t"]])
        self.pg.psql("DELETE FROM ev")
        self.psql(self.copy_sql("ev", url, "MANIFEST JSON 'auto ignorecase' GZIP"), check=True)
        self.assertEqual(self.pg.rows("SELECT id, name FROM ev"), [["1", "a"]])

    def test_without_manifest_the_url_is_a_prefix(self):
        self.pg.psql("CREATE TABLE ev (id int)")
        self.put("p/2024/a.json", concat([{"id": 1}, {"id": 2}]))
        self.put("p/2024/b.json", concat([{"id": 3}]))
        self.put("other/c.json", concat([{"id": 99}]))
        self.psql(self.copy_sql("ev", "s3://logs/p/", "JSON 'auto'"), check=True)
        self.assertEqual(self.pg.rows("SELECT id FROM ev ORDER BY id"), [["1"], ["2"], ["3"]])
        r = self.psql(self.copy_sql("ev", "s3://logs/nothing/", "JSON 'auto'"), check=False)
        self.assertIn("XX000: The specified S3 prefix 'nothing/' does not exist", r.stderr)

    def test_zstd_bzip2_csv_and_pipe_delimited(self):
        self.pg.psql("CREATE TABLE ev (id int, name text)")
        zst = subprocess.run(["zstd", "-q", "-c"], input=concat([{"id": 1, "name": "z"}]),
                             capture_output=True, check=True).stdout
        self.psql(self.copy_sql("ev", self.manifest("m1", [self.put("a.zst", zst)]),
                                "MANIFEST JSON 'auto' ZSTD"), check=True)
        bz = bz2.compress(concat([{"id": 2, "name": "b"}]))
        self.psql(self.copy_sql("ev", self.manifest("m2", [self.put("b.bz2", bz)]),
                                "MANIFEST FORMAT AS JSON 'auto' BZIP2"), check=True)
        csv_body = b'id,name\n3,"c, with comma"\n4,"d ""q"""\n'
        self.psql(self.copy_sql("ev", self.manifest("m3", [self.put("c.csv", csv_body)]),
                                "MANIFEST CSV IGNOREHEADER 1"), check=True)
        self.psql(self.copy_sql("ev", self.manifest("m4", [self.put("d.txt", b"5|e\n6|\\N\n")]),
                                "MANIFEST DELIMITER '|'"), check=True)
        self.assertEqual(self.pg.rows("SELECT id, coalesce(name, '<null>') FROM ev ORDER BY id"),
                         [["1", "z"], ["2", "b"], ["3", "c, with comma"], ["4", 'd "q"'],
                          ["5", "e"], ["6", "<null>"]])

    def test_jsonpaths_map_fields_by_position(self):
        self.pg.psql("CREATE TABLE ev (id int, city text)")
        paths = self.put("paths.json", json.dumps({"jsonpaths": ["$.id", "$.where['city']"]})
                         .encode())
        url = self.manifest("m", [self.put("f", concat([{"id": 1, "where": {"city": "Oslo"}}]))])
        self.psql(self.copy_sql("ev", url, "MANIFEST JSON '%s'" % paths), check=True)
        self.assertEqual(self.pg.rows("SELECT id, city FROM ev"), [["1", "Oslo"]])

    def test_ordinary_statements_pass_through(self):
        r = self.psql("CREATE TABLE t (a int);\nINSERT INTO t VALUES (1), (2);\n"
                      "SELECT sum(a) AS total FROM t;\nSHOW server_version_num;\n", check=True)
        self.assertRegex(r.stdout, r"total\s*\n-+\n\s*3\n")
        self.assertRegex(r.stdout, r"\n\s*15\d{4}\n")
        r = self.psql("SELECT * FROM nosuch;\n", check=False)
        self.assertIn('42P01: relation "nosuch" does not exist', r.stderr)
        st = self.front.stats()
        self.assertEqual(st["connections"], 2)
        self.assertGreaterEqual(st["statements"], 5)
        self.assertEqual(self.front.copies, [])

    def test_cancel_request_reaches_the_backend(self):
        p = subprocess.Popen(["psql", "-X", "-h", "127.0.0.1", "-p", str(self.front.port),
                              "-U", USER, "-d", DB, "-c", "SELECT pg_sleep(60)"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: self.pg.scalar("SELECT count(*) FROM pg_stat_activity WHERE "
                                            "query = 'SELECT pg_sleep(60)'") == "1", 20)
            p.send_signal(signal.SIGINT)           # psql sends a CancelRequest
            _, err = p.communicate(timeout=scaled(20))
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertIn("canceling statement due to user request", err)

    def test_extended_protocol_is_relayed_and_an_s3_copy_in_parse_refused(self):
        c = PgClient("127.0.0.1", self.front.port, USER, DB)
        try:
            # Parse, Bind (one text parameter), Execute, Sync
            bind = (b"\0\0" + struct.pack("!HH", 0, 1) + struct.pack("!i", 2) + b"41"
                    + struct.pack("!H", 0))
            c.wire.send(_msg("P", b"\0SELECT $1::int + 1\0\0\0") + _msg("B", bind)
                        + _msg("E", b"\0\0\0\0\0") + _msg("S", b""))
            got = []
            while True:
                t, body = c.wire.read_msg(10)
                got.append((t, body))
                if t == "Z":
                    break
            rows = [b for t, b in got if t == "D"]
            self.assertEqual(len(rows), 1)
            self.assertTrue(rows[0].endswith(b"42"))
            c.query("BEGIN")
            sql = b"COPY t FROM 's3://logs/x' IAM_ROLE default JSON 'auto'\0"
            c.wire.send(_msg("P", b"\0" + sql + b"\0\0") + _msg("B", b"\0\0\0\0\0\0\0\0")
                        + _msg("E", b"\0\0\0\0\0") + _msg("S", b""))
            got = []
            while True:
                t, body = c.wire.read_msg(10)
                got.append((t, body))
                if t == "Z":
                    break
            errors = [_fields(b) for t, b in got if t == "E"]
            self.assertEqual(len(errors), 1)
            self.assertEqual(errors[0]["C"], "0A000")
            self.assertIn("simple queries only", errors[0]["M"])
            self.assertEqual(got[-1], ("Z", b"E"))     # the block is aborted
            self.assertEqual(c.query("ROLLBACK").status, "I")
            self.assertEqual(c.query("SELECT 1").rows, [["1"]])
        finally:
            c.close()

    def test_create_table_keys_are_not_enforced(self):
        self.psql("CREATE TABLE k1 (id int PRIMARY KEY, u text UNIQUE NOT NULL, v int,\n"
                  "  CONSTRAINT k1_v UNIQUE (v));\n"
                  "CREATE TABLE k2 (a int, b int, PRIMARY KEY (a, b)) DISTSTYLE KEY DISTKEY (a)"
                  " COMPOUND SORTKEY (a, b);\n"
                  "INSERT INTO k1 VALUES (1, 'x', 5), (1, 'x', 5);\n"
                  "INSERT INTO k2 VALUES (1, 1), (1, 1);\n", check=True)
        self.assertEqual(self.count("k1"), 2)
        self.assertEqual(self.count("k2"), 2)
        self.assertEqual(self.pg.scalar("SELECT count(*) FROM pg_constraint WHERE "
                                        "conrelid IN ('k1'::regclass, 'k2'::regclass) AND "
                                        "contype IN ('p', 'u')"), "0")
        # NOT NULL stays
        r = self.psql("INSERT INTO k1 VALUES (2, NULL, 1);\n", check=False)
        self.assertIn("23502", r.stderr)
        self.assertEqual(strip_keys("CREATE TABLE t (a int CONSTRAINT pk PRIMARY KEY, b int)"),
                         "CREATE TABLE t (a int , b int)")


class CopyTransactionTest(FrontCase):
    def test_rollback_undoes_the_load(self):
        self.pg.psql("CREATE TABLE ev (id int, name text)")
        url = self.firehose_batch("b", 10)
        r = self.psql("BEGIN;\n" + self.copy_sql("ev", url) + "SELECT count(*) AS inside FROM "
                      "ev;\nROLLBACK;\n", check=True)
        self.assertRegex(r.stdout, r"inside\s*\n-+\n\s*10\n")
        self.assertEqual(self.count("ev"), 0)
        self.assertEqual(self.front.copies[0]["txn"], "T")

    def test_commit_keeps_the_load_and_the_block_is_one_transaction(self):
        self.pg.psql("CREATE TABLE ev (id int, name text); CREATE TABLE loads (id text)")
        url = self.firehose_batch("b", 10)
        self.psql("BEGIN;\nLOCK TABLE loads;\n" + self.copy_sql("ev", url) +
                  "INSERT INTO loads VALUES ('load-1');\nCOMMIT;\n", check=True)
        self.assertEqual(self.count("ev"), 10)
        self.assertEqual(self.pg.rows("SELECT id FROM loads"), [["load-1"]])

    def test_a_failed_copy_aborts_the_block(self):
        self.pg.psql("CREATE TABLE ev (id int, name varchar(3)); CREATE TABLE loads (id text)")
        url = self.manifest("m", [self.put("f.gz", gzip.compress(concat(
            [{"id": 1, "name": "ok"}, {"id": 2, "name": "much too long"}])))])
        r = self.psql("BEGIN;\nINSERT INTO loads VALUES ('x');\n" + self.copy_sql("ev", url) +
                      "SELECT 1;\nCOMMIT;\n", stop=False)
        self.assertIn("XX000: Load into table 'ev' failed.", r.stderr)
        self.assertIn("25P02", r.stderr)            # current transaction is aborted
        self.assertIn("ROLLBACK", r.stdout)         # what COMMIT of a failed block answers
        self.assertEqual(self.count("ev"), 0)
        self.assertEqual(self.count("loads"), 0)
        # stl_load_errors keeps its row: written outside the aborted transaction
        self.assertEqual(len(self.stl()), 1)

    def test_copy_in_an_aborted_block_is_refused_by_the_backend(self):
        self.pg.psql("CREATE TABLE ev (id int)")
        url = self.firehose_batch("b", 2)
        r = self.psql("BEGIN;\nSELECT 1/0;\n" + self.copy_sql("ev", url) + "ROLLBACK;\n",
                      stop=False)
        self.assertIn("25P02", r.stderr)
        self.assertEqual(self.front.copies[0]["outcome"], "aborted-txn")
        self.assertEqual(self.count("ev"), 0)


class CopyErrorTest(FrontCase):
    def load_bad(self, table_ddl, body, line, colname, code, reason):
        self.pg.psql(table_ddl)
        url = self.put("bad/f.gz", gzip.compress(body))
        man = self.manifest("bad/manifest", [url])
        r = self.psql(self.copy_sql("ev", man), check=False)
        self.assertIn("ERROR:  XX000: Load into table 'ev' failed.  Check 'stl_load_errors' "
                      "system table for details.", r.stderr)
        self.assertIn("code:      %d" % code, r.stderr)
        self.assertIn("S3 key being read : %s" % url, r.stderr)
        self.assertNotIn("PL/pgSQL", r.stderr)
        self.assertEqual(self.count("ev"), 0)
        stl = self.stl()
        self.assertEqual(len(stl), 1, stl)
        self.assertEqual(stl[0][:5], [url, str(line), colname, str(code), reason])
        c = self.front.copies[0]
        self.assertEqual((c["outcome"], c["sqlstate"], c["errors"]), ("failed", "XX000", 1))
        return stl[0]

    def test_value_too_long(self):
        row = self.load_bad("CREATE TABLE ev (id int, name varchar(5))",
                            concat([{"id": 1, "name": "ok"}, {"id": 2, "name": "toolong"}],
                                   "\n"), 2, "name", 1204, "String length exceeds DDL length")
        self.assertEqual(row[5], '{"id": 2, "name": "toolong"}')
        self.assertEqual(row[6], "toolong")

    def test_not_null_column_missing(self):
        self.load_bad("CREATE TABLE ev (id int, name text NOT NULL)",
                      concat([{"id": 1, "name": "a"}, {"id": 2}, {"id": 3, "name": "c"}]),
                      1, "name", 1213, "Missing data for not-null field")

    def test_invalid_json(self):
        row = self.load_bad("CREATE TABLE ev (id int)",
                            b'{"id": 1}\n{"id": 2,,}\n{"id": 3}', 2, "", 1216,
                            "Invalid JSON: Expecting property name enclosed in double quotes")
        self.assertEqual(row[5], '{"id": 2,,}')

    def test_invalid_integer(self):
        self.load_bad("CREATE TABLE ev (id int)", concat([{"id": "x1"}]), 1, "id", 1207,
                      "Invalid digit, Value 'x1', Type: Integer")

    def test_maxerror_skips_that_many_bad_rows(self):
        self.pg.psql("CREATE TABLE ev (id int, name varchar(3) NOT NULL)")
        recs = [{"id": 1, "name": "a"}, {"id": 2, "name": "long!"}, {"id": 3},
                {"id": 4, "name": "d"}, {"id": "five", "name": "e"}, {"id": 6, "name": "f"}]
        url = self.manifest("m", [self.put("f.gz", gzip.compress(concat(recs, "\n")))])
        r = self.psql(self.copy_sql("ev", url, "MANIFEST JSON 'auto' GZIP MAXERROR 2"),
                      check=False)
        self.assertIn("Load into table 'ev' failed", r.stderr)
        self.assertEqual(self.count("ev"), 0)
        self.pg.psql("DELETE FROM stl_load_errors")
        r = self.psql(self.copy_sql("ev", url, "MANIFEST JSON 'auto' GZIP MAXERROR AS 3"),
                      check=True)
        self.assertIn("COPY 3", r.stdout)
        self.assertIn("3 record(s) loaded successfully", r.stderr)
        self.assertIn("3 record(s) could not be loaded", r.stderr)
        self.assertEqual(self.pg.rows("SELECT id FROM ev ORDER BY id"), [["1"], ["4"], ["6"]])
        self.assertEqual([(s[1], s[3]) for s in self.stl()],
                         [("2", "1204"), ("3", "1213"), ("5", "1207")])

    def test_a_missing_mandatory_file_fails_the_copy(self):
        self.pg.psql("CREATE TABLE ev (id int)")
        good = self.put("f1.gz", gzip.compress(concat([{"id": 1}])))
        gone = "s3://logs/never-written.gz"
        r = self.psql(self.copy_sql("ev", self.manifest("m1", [good, gone])), check=False)
        self.assertIn("XX000", r.stderr)
        self.assertIn(gone, r.stderr)
        self.assertEqual(self.count("ev"), 0)
        # not mandatory: skipped
        self.psql(self.copy_sql("ev", self.manifest("m2", [good, gone], mandatory=False)),
                  check=True)
        self.assertEqual(self.count("ev"), 1)
        # nothing at all found: an error
        r = self.psql(self.copy_sql("ev", self.manifest("m3", [gone], mandatory=False)),
                      check=False)
        self.assertIn("No files found", r.stderr)
        # no manifest object
        r = self.psql(self.copy_sql("ev", "s3://logs/no-manifest"), check=False)
        self.assertIn("Problem reading manifest file", r.stderr)

    def test_grammar_errors(self):
        self.pg.psql("CREATE TABLE ev (id int)")
        url = self.firehose_batch("b", 2)
        cases = [
            ("MANIFEST JSON 'auto' GZIP BOGUS", '42601: syntax error at or near "BOGUS"'),
            ("MANIFEST JSON 'auto' GZIP MAXERROR", '42601: syntax error at or near ";"'),
            ("MANIFEST JSON 'auto' GZIP IAM_ROLE default", "42601: conflicting or redundant"),
            ("MANIFEST FIXEDWIDTH 'a:1' GZIP", "0A000: the Redshift front does not load "
                                              "FIXEDWIDTH"),
            ("MANIFEST JSON 'auto' GZIP GZIP", "42601: conflicting or redundant options"),
            ("MANIFEST JSON 'auto' CSV GZIP", "42601: conflicting or redundant options"),
        ]
        for options, expect in cases:
            r = self.psql(self.copy_sql("ev", url, options), check=False)
            self.assertIn(expect, r.stderr, options)
        r = self.psql("COPY ev FROM '%s' MANIFEST JSON 'auto' GZIP;\n" % url, check=False)
        self.assertIn("XX000: Missing credentials", r.stderr)
        r = self.psql("COPY nosuch FROM '%s' IAM_ROLE default MANIFEST JSON 'auto' GZIP;\n"
                      % url, check=False)
        self.assertIn('42P01: relation "nosuch" does not exist', r.stderr)
        # the accepted-and-ignored options, and the other auth forms
        r = self.psql("COPY ev FROM '%s'\nACCESS_KEY_ID 'AK' SECRET_ACCESS_KEY 'SK' "
                      "SESSION_TOKEN 'T' MANIFEST\nFORMAT AS JSON 'auto' GZIP REGION AS "
                      "'eu-west-1' STATUPDATE OFF COMPUPDATE OFF TIMEFORMAT 'auto' DATEFORMAT "
                      "'auto' TRUNCATECOLUMNS BLANKSASNULL EMPTYASNULL ACCEPTINVCHARS\n"
                      % url, check=True)
        self.assertEqual(self.front.copies[-1]["auth"], {"kind": "keys", "access_key_id": "AK",
                                                         "secret_access_key": "SK",
                                                         "session_token": "T"})
        self.assertEqual(self.count("ev"), 2)
        self.front.check_credentials = True          # AK is not s3rver's key
        r = self.psql("COPY ev FROM '%s' ACCESS_KEY_ID 'AK' SECRET_ACCESS_KEY 'SK' MANIFEST "
                      "JSON 'auto' GZIP;\n" % url, check=False)
        self.assertIn("XX000: S3ServiceException:The AWS Access Key Id you provided does not "
                      "exist", r.stderr)
        self.psql("COPY ev FROM '%s' ACCESS_KEY_ID 'S3RVER' SECRET_ACCESS_KEY 'S3RVER' "
                  "MANIFEST JSON 'auto' GZIP;\n" % url, check=True)
        self.assertEqual(self.count("ev"), 4)
        r = self.psql("SELECT 1; " + self.copy_sql("ev", url), check=False, one_query=True)
        self.assertIn("0A000: the Redshift front needs a COPY FROM S3 alone", r.stderr)
        self.assertEqual(self.count("ev"), 4)


class CopyFaultTest(FrontCase):
    def setUp(self):
        super().setUp()
        self.pg.psql("CREATE TABLE ev (id int, name text)")
        self.url = self.firehose_batch("b", 10)

    def test_fail_copies_load_and_internal(self):
        self.front.fail_copies(1, "load")
        self.front.fail_copies(1, "internal")
        r = self.psql(self.copy_sql("ev", self.url), check=False)
        self.assertIn("XX000: Load into table 'ev' failed", r.stderr)
        self.assertEqual(len(self.stl()), 1)
        r = self.psql(self.copy_sql("ev", self.url), check=False)
        self.assertIn("XX000: Internal error", r.stderr)
        self.assertEqual(self.count("ev"), 0)
        self.psql(self.copy_sql("ev", self.url), check=True)
        self.assertEqual(self.count("ev"), 10)
        self.assertEqual([c["outcome"] for c in self.front.copies],
                         ["fault:load", "fault:internal", "loaded"])

    def test_fail_copies_connection_closes_without_an_answer(self):
        self.front.fail_copies(1, "connection")
        r = self.psql("BEGIN;\n" + self.copy_sql("ev", self.url) + "COMMIT;\n", check=False)
        self.assertIn("server closed the connection unexpectedly", r.stderr)
        self.assertNotIn("COPY 10", r.stdout)
        # the backend saw its client go: the load was rolled back
        wait_for(lambda: self.front.stats()["active"] == 0, 10)
        self.assertEqual(self.count("ev"), 0)
        self.assertEqual(self.front.copies[0]["outcome"], "fault:connection")
        self.psql(self.copy_sql("ev", self.url), check=True)
        self.assertEqual(self.count("ev"), 10)

    def test_drop_after_commit_commits_but_loses_the_answer(self):
        self.front.drop_after_commit(1)
        self.pg.psql("CREATE TABLE loads (id text)")
        r = self.psql("BEGIN;\n" + self.copy_sql("ev", self.url) +
                      "INSERT INTO loads VALUES ('L1');\nCOMMIT;\n", check=False)
        self.assertIn("server closed the connection unexpectedly", r.stderr)
        self.assertNotIn("COMMIT", r.stdout)
        self.assertEqual(self.count("ev"), 10)
        self.assertEqual(self.pg.rows("SELECT id FROM loads"), [["L1"]])
        self.assertTrue(self.front.copies[0]["commit"].startswith("dropped (COMMIT"))
        # only the next one: a COMMIT without a COPY before it is answered
        self.front.drop_after_commit(1)
        self.psql("BEGIN;\nINSERT INTO loads VALUES ('L2');\nCOMMIT;\n", check=True)

    def test_hold_then_client_killed_rolls_back(self):
        self.front.hold_copies(60)
        p = subprocess.Popen(["psql", "-X", "-h", "127.0.0.1", "-p", str(self.front.port),
                              "-U", USER, "-d", DB, "-c", self.copy_sql("ev", self.url)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self.assertTrue(self.front.wait_held(scaled(30)))
            # the rows are in, uncommitted: invisible from outside
            self.assertEqual(self.count("ev"), 0)
            p.send_signal(signal.SIGKILL)
            p.wait(10)
            self.front.wait_copies(1)
            self.assertEqual(self.front.copies[0]["outcome"], "client-gone")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        wait_for(lambda: self.front.stats()["active"] == 0, 10)
        self.front.release()
        self.assertEqual(self.count("ev"), 0)

    def test_hold_then_release_answers(self):
        self.front.hold_copies(60)
        p = subprocess.Popen(["psql", "-X", "-h", "127.0.0.1", "-p", str(self.front.port),
                              "-U", USER, "-d", DB, "-c", self.copy_sql("ev", self.url)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertTrue(self.front.wait_held(scaled(30)))
            self.assertIsNone(p.poll())
            self.front.release()
            out, _ = p.communicate(timeout=scaled(30))
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0)
        self.assertIn("COPY 10", out)
        self.assertEqual(self.count("ev"), 10)


class PasswordTest(FrontCase):
    """Authentication is relayed (SCRAM between psql and PostgreSQL), and
    the front's own connection logs in with SCRAM."""
    pg_password = "s3cret-pw"

    def test_scram_is_relayed(self):
        self.pg.psql("CREATE TABLE ev (id int, name varchar(2))")
        r = self.psql("SELECT current_user AS who;\n", check=True)
        self.assertIn(USER, r.stdout)
        url = self.manifest("m", [self.put("f.gz", gzip.compress(concat(
            [{"id": 1, "name": "too long"}])))])
        self.psql(self.copy_sql("ev", url), check=False)
        self.assertEqual(len(self.stl()), 1)        # written on the front's SCRAM login
        env = dict(os.environ, PGPASSWORD="wrong")
        r = subprocess.run(["psql", "-X", "-h", "127.0.0.1", "-p", str(self.front.port), "-U",
                            USER, "-d", DB, "-c", "SELECT 1"], capture_output=True, text=True,
                           env=env, timeout=scaled(30))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("password authentication failed", r.stderr)


class CliTest(WithS3rver, WithPg, unittest.TestCase):
    def test_cli_serves_until_interrupted(self):
        port = free_port()
        p = subprocess.Popen([sys.executable, os.path.join(HERE, "redshift_front.py"),
                              "--pg-port", str(self.pg.port), "--s3-endpoint", self.s3.endpoint,
                              "--port", str(port)], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        try:
            line = p.stdout.readline()
            self.assertIn("listening 127.0.0.1:%d" % port, line)
            self.pg.psql("CREATE TABLE ev (id int)")
            self.s3.client().put_object(Bucket=BUCKET, Key="f", Body=concat([{"id": 5}]))
            r = subprocess.run(["psql", "-X", "-h", "127.0.0.1", "-p", str(port), "-U", USER,
                                "-d", DB, "-c", "COPY ev FROM 's3://logs/f' IAM_ROLE default "
                                "JSON 'auto'"], capture_output=True, text=True,
                               timeout=scaled(30))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(self.pg.rows("SELECT id FROM ev"), [["5"]])
            p.send_signal(signal.SIGINT)
            self.assertEqual(p.wait(scaled(15)), 0)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


if __name__ == "__main__":
    unittest.main()
