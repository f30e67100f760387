"""
redshift_front.py - a stand-in for Amazon Redshift in front of a real
PostgreSQL, for the Redshift sink's tests (no Redshift can run here).
Standard library plus boto3 only; it speaks the PostgreSQL v3 wire protocol
itself (no psycopg2).

    front = RedshiftFront(pg, s3.endpoint)      # pg: a PgServer (or its port)
    ... front.port ... front.conninfo() ... front.copies ...
    front.stop()

or, for `make bench` and trying sluice by hand:

    python3 tests/integration/redshift_front.py --pg-port 5432 \\
        --s3-endpoint http://127.0.0.1:4568 --port 5439

What it is (../../../shared/reference/sinks-contract.md B3-B5): a proxy on
127.0.0.1. Each client connection gets its own connection to the real
PostgreSQL; SSLRequest and GSSENCRequest are answered 'N' (plain text), the
startup message and the authentication exchange are relayed byte for byte
(trust, password, md5 and SCRAM all work), then every message is relayed
both ways, except:

  - A simple query ('Q') that is `COPY tbl [(cols)] FROM 's3://...' ...`
    is carried out by the front, as Redshift does:
      grammar   B3: auth (IAM_ROLE | ACCESS_KEY_ID/SECRET_ACCESS_KEY
                [/SESSION_TOKEN] | CREDENTIALS '...'; exactly one; recorded,
                not checked unless check_credentials=True), MANIFEST,
                JSON 'auto' | 'auto ignorecase' | 's3://jsonpaths', CSV
                [QUOTE 'q'], DELIMITER 'x' (default '|'), GZIP | ZSTD | BZIP2,
                REGION, MAXERROR n, IGNOREHEADER n, TRUNCATECOLUMNS,
                BLANKSASNULL, EMPTYASNULL, ACCEPTINVCHARS; STATUPDATE,
                COMPUPDATE, TIMEFORMAT, DATEFORMAT are accepted and ignored.
                FIXEDWIDTH, AVRO, PARQUET, ORC, SHAPEFILE, LZOP: SQLSTATE
                0A000. Any other word: 42601 `syntax error at or near "W"`.
      source    MANIFEST: the manifest object lists complete object URLs
                (any bucket); a missing `mandatory` one is an XX000 error
                naming it, no file found at all is an error. Otherwise the
                URL is a key prefix and every object under it is loaded.
                Objects are read with boto3 from <s3_endpoint> (path style).
      data      gunzip / zstd (the zstd tool) / bunzip2; then concatenated
                JSON objects (`{..}{..}`, any whitespace between, as Firehose
                writes them); 'auto' matches top-level keys to the column
                list, or to the table's columns; keys with no column are
                ignored, nested values become JSON text, a missing key NULL.
      load      in ONE transaction on the client's own backend session: in
                the client's open transaction block (under a savepoint), or
                in the front's own BEGIN/COMMIT. Rows go in with
                `COPY t (cols) FROM STDIN` over the wire; a failing row is
                found from the error's CONTEXT line number (each row is
                sent at most twice), and skipped while MAXERROR allows.
      errors    bad rows go to the table stl_load_errors (made at start, the
                columns of B4) on the front's own autocommit connection, so
                they stay when the load's transaction is rolled back; then the
                backend itself raises XX000 "Load into table 'T' failed.
                Check 'stl_load_errors' system table for details." with a
                Redshift-style DETAIL block, so the client's transaction
                really is aborted. Every other COPY error is raised by the
                backend the same way (DO ... RAISE), its CONTEXT field
                removed.
      success   NoticeResponse INFO "Load into table 'T' completed, N
                record(s) loaded successfully.", CommandComplete "COPY N",
                ReadyForQuery with the backend's real transaction status.
    A query string holding a COPY FROM S3 and other statements is refused
    (0A000): libpq clients send one statement per PQexec, psql scripts too.
  - A Parse ('P') of a COPY FROM S3 is refused with 0A000 ("the Redshift
    front handles COPY FROM S3 in simple queries only"), answered at the
    next Sync; in a transaction block the backend raises it, so the block
    is aborted as it would be.
  - pg_last_copy_count() and pg_last_copy_id() are SQL functions the
    front makes in <db> (public schema), reading what the session's last
    successful COPY loaded (as Redshift's do).
  - CREATE TABLE (simple or Parse) loses its PRIMARY KEY and UNIQUE
    constraints (column- and table-level) and Redshift's DISTSTYLE,
    DISTKEY, SORTKEY, ENCODE and BACKUP clauses: Redshift does not enforce
    unique or primary keys (B4), so only the sink's own check-under-LOCK
    keeps a load single, as on Redshift. A regex does it, on the whole
    statement text: the words inside a string literal of a CREATE TABLE
    would be cut too.

Test controls (Python API, thread-safe):
  front.copies                a list of dicts, one per COPY FROM S3 received:
                              sql (verbatim), session, txn ('I'/'T' before),
                              outcome (loaded, failed, fault:load,
                              fault:internal, fault:connection, client-gone,
                              aborted-txn), sqlstate, message, rows, errors,
                              files, auth, commit (set by drop_after_commit)
  front.fail_copies(n, kind)  the next n COPYs fail: "load" (XX000 load
                              failed, one synthetic stl_load_errors row),
                              "internal" (XX000 internal error), "connection"
                              (rows loaded, then both sockets closed without
                              an answer: the backend rolls back)
  front.hold_copies(seconds)  every COPY, once its rows are in (uncommitted),
                              waits up to <seconds> before answering; the
                              client hanging up meanwhile closes the backend
                              (rollback). front.wait_held(timeout) waits for
                              one to be held; front.release() ends all holds.
  front.drop_after_commit(n, hold=0)  the next n COMMITs sent after a successful COPY
                              in a transaction block are relayed, their result
                              awaited, then the client is cut off unanswered
                              (after holding up to <hold> seconds: wait_held,
                              release, as for hold_copies).
  front.stats()               connections, active, statements, copies
  front.load_errors()         stl_load_errors rows as dicts of texts (trimmed)
Every wait is bounded (io_timeout for the backend's answers).

Where it differs from Redshift (known gaps):
  - No TLS (SSLRequest gets 'N'): use sslmode=disable or prefer.
  - Other Redshift SQL (SUPER, IDENTITY, GETDATE(), stv_/svv_ tables, ...)
    reaches PostgreSQL unchanged; types behave as PostgreSQL's (varchar(n)
    counts characters, Redshift counts bytes).
  - Error texts and stl err_codes are the nearest Redshift ones (B4 and
    the load error reference), not byte-exact; a JSON record that does not
    parse costs the rest of its line; stl position is always 0.
  - drop_after_commit sees COMMIT / END sent as a simple query only.
  - Relaying is one thread per connection doing blocking sends: a client
    that pipelines many queries with large results without reading them
    can stall its session (until io_timeout). libpq clients in the usual
    one-query-at-a-time mode cannot.
  - Rows that fail at the end of the statement (a deferred foreign key)
    have no line number in their error: the rest of the file then goes
    row by row under savepoints (slow, but correct).

Threads: one accept thread; one thread per client connection, which owns
both of its sockets (the client's and its backend's) and does all of its
I/O; the front's own connection (stl_load_errors) is shared under
_sys_lock. _lock guards the copies list, the counters and the faults.
"""
import argparse
import base64
import bz2
import csv
import gzip
import hashlib
import hmac
import io
import json
import os
import re
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
import zlib

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

PROTOCOL_3 = 196608
SSL_REQUEST, GSSENC_REQUEST, CANCEL_REQUEST = 80877103, 80877104, 80877102
MAX_MESSAGE = 1 << 30

STL_DDL = """CREATE TABLE IF NOT EXISTS stl_load_errors (
    userid integer, slice integer, tbl integer, starttime timestamp,
    session integer, query integer, filename char(256), line_number bigint,
    colname char(127), type char(10), col_length char(10), position integer,
    raw_line char(1024), raw_field_value char(1024), err_code integer,
    err_reason char(100))"""
# Redshift's pg_last_copy_count() / pg_last_copy_id(): what the session's
# last successful COPY loaded, kept in custom settings the front sets
LAST_COPY_DDL = """
CREATE OR REPLACE FUNCTION pg_last_copy_count() RETURNS integer LANGUAGE sql STABLE AS
  $$ SELECT coalesce(nullif(current_setting('sl_front.last_copy_count', true), ''), '-1')::int $$;
CREATE OR REPLACE FUNCTION pg_last_copy_id() RETURNS integer LANGUAGE sql STABLE AS
  $$ SELECT coalesce(nullif(current_setting('sl_front.last_copy_id', true), ''), '-1')::int $$"""
STL_COLUMNS = ("userid", "slice", "tbl", "starttime", "session", "query", "filename",
               "line_number", "colname", "type", "col_length", "position", "raw_line",
               "raw_field_value", "err_code", "err_reason")

FAULT_KINDS = ("load", "internal", "connection")


class _Closed(Exception):
    """A peer hung up (or spoke garbage): the session ends."""


class _Timeout(Exception):
    """A bounded wait ran out: the session ends."""


class CopyError(Exception):
    """A COPY that fails: raised by the backend with <sqlstate> <message>
    <detail>. <stl>: stl_load_errors rows to write first (dicts)."""

    def __init__(self, sqlstate, message, detail=None, stl=()):
        super().__init__(message)
        self.sqlstate, self.message, self.detail, self.stl = sqlstate, message, detail, list(stl)


# -- wire protocol -------------------------------------------------------------

def _msg(t, body):
    """One protocol message: type byte, length, body."""
    return t.encode() + struct.pack("!I", len(body) + 4) + body


def _cstr(s):
    return s.encode() + b"\0"


def _fields(body):
    """An ErrorResponse / NoticeResponse body as {code letter: text}, in order."""
    out, i = {}, 0
    while i < len(body) and body[i] != 0:
        j = body.index(b"\0", i + 1)
        out[chr(body[i])] = body[i + 1:j].decode("utf-8", "replace")
        i = j + 1
    return out


def _fields_body(fields):
    return b"".join(k.encode() + _cstr(v) for k, v in fields.items()) + b"\0"


def _clean(fields):
    """An ErrorResponse raised by the front through the backend, without what
    shows it came from PL/pgSQL (context, source file, line, routine)."""
    return {k: v for k, v in fields.items() if k not in "WFLR"}


def _error(sqlstate, message, severity="ERROR", detail=None):
    f = {"S": severity, "V": severity, "C": sqlstate, "M": message}
    if detail:
        f["D"] = detail
    return _msg("E", _fields_body(f))


def _notice(message, severity="INFO"):
    return _msg("N", _fields_body({"S": severity, "V": severity, "C": "00000", "M": message}))


def _datarow(body):
    n = struct.unpack_from("!H", body)[0]
    pos, row = 2, []
    for _ in range(n):
        ln = struct.unpack_from("!i", body, pos)[0]
        pos += 4
        if ln < 0:
            row.append(None)
        else:
            row.append(body[pos:pos + ln].decode("utf-8", "replace"))
            pos += ln
    return row


class _Wire:
    """A socket with a receive buffer, cut into protocol messages. Blocking
    sends bounded by the socket's timeout; reads bounded by a deadline."""

    def __init__(self, sock, timeout):
        sock.settimeout(timeout)
        self.sock, self.timeout = sock, timeout
        self.buf, self.pos = bytearray(), 0

    def fill(self, deadline=None):
        """Reads what has arrived (waiting until <deadline> for something)."""
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                raise _Timeout()
        data = self.sock.recv(262144)
        if not data:
            raise _Closed()
        if self.pos == len(self.buf):
            self.buf, self.pos = bytearray(), 0
        elif self.pos > 65536 and self.pos * 2 > len(self.buf):
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += data

    def next_msg(self):
        """(type, body) of the next complete message in the buffer, or None."""
        if len(self.buf) - self.pos < 5:
            return None
        n = struct.unpack_from("!I", self.buf, self.pos + 1)[0]
        if n < 4 or n > MAX_MESSAGE:
            raise _Closed("bad message length %d" % n)
        if len(self.buf) - self.pos < n + 1:
            return None
        t = chr(self.buf[self.pos])
        body = bytes(self.buf[self.pos + 5:self.pos + 1 + n])
        self.pos += n + 1
        return t, body

    def read_msg(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            m = self.next_msg()
            if m is not None:
                return m
            self.fill(deadline)

    def read_startup(self, timeout=None):
        """A startup-phase packet (no type byte): length + payload."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) - self.pos < 4:
            self.fill(deadline)
        n = struct.unpack_from("!I", self.buf, self.pos)[0]
        if n < 8 or n > 65536:
            raise _Closed("bad startup packet length %d" % n)
        while len(self.buf) - self.pos < n:
            self.fill(deadline)
        pkt = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return pkt

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class _Result:
    """What one simple query returned."""

    def __init__(self):
        self.rows = []          # DataRows as lists of text / None
        self.tag = None         # the last CommandComplete tag
        self.error = None       # the ErrorResponse's fields, or None
        self.status = None      # ReadyForQuery: 'I', 'T' or 'E'


def _read_result(wire, timeout, on_async=None, on_copy_in=None):
    """Reads a simple query's answer up to ReadyForQuery. <on_async>(t, body)
    gets ParameterStatus and NotificationResponse; notices are dropped.
    <on_copy_in>() runs at CopyInResponse and must send the data and
    CopyDone (without it, CopyFail is sent)."""
    res = _Result()
    while True:
        t, body = wire.read_msg(timeout)
        if t == "D":
            res.rows.append(_datarow(body))
        elif t == "C":
            res.tag = body.rstrip(b"\0").decode()
        elif t == "E":
            if res.error is None:
                res.error = _fields(body)
        elif t == "G":
            if on_copy_in:
                on_copy_in()
            else:
                wire.send(_msg("f", _cstr("no data")))
        elif t == "Z":
            res.status = chr(body[0])
            return res
        elif t in "SA" and on_async:
            on_async(t, body)


def _startup_packet(params):
    body = struct.pack("!I", PROTOCOL_3) + b"".join(
        _cstr(k) + _cstr(v) for k, v in params.items()) + b"\0"
    return struct.pack("!I", len(body) + 4) + body


def _scram(wire, password, timeout):
    """The SCRAM-SHA-256 exchange of RFC 5802/7677 (no channel binding)."""
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = "n=,r=" + nonce
    first = ("n,," + first_bare).encode()
    wire.send(_msg("p", _cstr("SCRAM-SHA-256") + struct.pack("!I", len(first)) + first))
    t, body = wire.read_msg(timeout)
    if t != "R" or struct.unpack_from("!I", body)[0] != 11:
        raise _Closed("SCRAM: unexpected answer %r" % t)
    server_first = body[4:].decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored = hashlib.sha256(client_key).digest()
    final_bare = "c=biws,r=" + attrs["r"]
    auth_msg = ",".join((first_bare, server_first, final_bare)).encode()
    sig = hmac.new(stored, auth_msg, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    wire.send(_msg("p", (final_bare + ",p=" + base64.b64encode(proof).decode()).encode()))


class PgClient:
    """A minimal PostgreSQL client: the front's own autocommit connection
    (stl_load_errors) and a test helper. Trust, cleartext, md5 and
    SCRAM-SHA-256 authentication."""

    def __init__(self, host, port, user, db, password=None, timeout=30):
        self.timeout = timeout
        self.wire = _Wire(socket.create_connection((host, port), timeout=timeout), timeout)
        self.wire.send(_startup_packet({"user": user, "database": db,
                                        "application_name": "redshift_front"}))
        while True:
            t, body = self.wire.read_msg()
            if t == "R":
                code = struct.unpack_from("!I", body)[0]
                if code == 3:
                    self.wire.send(_msg("p", _cstr(password or "")))
                elif code == 5:
                    inner = hashlib.md5(((password or "") + user).encode()).hexdigest()
                    outer = hashlib.md5(inner.encode() + body[4:8]).hexdigest()
                    self.wire.send(_msg("p", _cstr("md5" + outer)))
                elif code == 10:
                    _scram(self.wire, password or "", timeout)
            elif t == "E":
                self.wire.close()
                raise ConnectionError("PostgreSQL refused: %s" % _fields(body).get("M"))
            elif t == "Z":
                return

    def query(self, sql):
        """A _Result (rows, tag, error, status)."""
        self.wire.send(_msg("Q", _cstr(sql)))
        return _read_result(self.wire, self.timeout)

    def close(self):
        try:
            self.wire.send(_msg("X", b""))
        except OSError:
            pass
        self.wire.close()


# -- SQL text ------------------------------------------------------------------

def lit(s):
    """A SQL string literal (standard_conforming_strings), NULs dropped."""
    if s is None:
        return "NULL"
    return "'" + str(s).replace("\0", "").replace("'", "''") + "'"


def ident(s):
    return '"' + s.replace('"', '""') + '"'


_LEADING = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.S)


def _head(sql):
    """<sql> without leading whitespace and comments."""
    return sql[_LEADING.match(sql).end():]


def is_s3_copy(sql):
    """A statement that starts with COPY and reads FROM 's3://...'."""
    h = _head(sql)
    return bool(re.match(r"copy\b", h, re.I) and re.search(r"\bfrom\s+'s3://", h, re.I))


def mentions_s3_copy(sql):
    """A COPY FROM S3 anywhere (after other statements of a query string)."""
    return bool(re.search(r"\bcopy\b.*?\bfrom\s+'s3://", sql, re.I | re.S))


_COMMIT = re.compile(r"(?:commit|end)(?:\s+(?:work|transaction))?\s*;?\s*$", re.I)
_CREATE_TABLE = re.compile(r"create\s+(?:(?:global|local)\s+)?(?:(?:temp|temporary|unlogged)\s+)?"
                           r"table\b", re.I)
_NAME = r'(?:"(?:[^"]|"")+"|\w+)'
_DDL_STRIP = [
    # table-level keys, with the comma before them
    re.compile(r",\s*(?:constraint\s+%s\s+)?(?:primary\s+key|unique)\s*\([^)]*\)" % _NAME, re.I),
    # column-level keys
    re.compile(r"(?:\bconstraint\s+%s\s+)?\b(?:primary\s+key|unique)\b(?!\s*\()" % _NAME, re.I),
    # Redshift's physical design clauses, which PostgreSQL does not know
    re.compile(r"\bdiststyle\s+(?:even|key|all|auto)\b", re.I),
    re.compile(r"\bdistkey\s*\([^)]*\)", re.I),
    re.compile(r"\b(?:compound\s+|interleaved\s+)?sortkey\s*(?:\([^)]*\)|auto\b)", re.I),
    re.compile(r"\bencode\s+\w+", re.I),
    re.compile(r"\bbackup\s+(?:yes|no)\b", re.I),
    re.compile(r"\b(?:distkey|sortkey)\b", re.I),
]


def is_create_table(sql):
    return bool(_CREATE_TABLE.match(_head(sql)))


def strip_keys(sql):
    """A CREATE TABLE without PRIMARY KEY / UNIQUE constraints and without
    Redshift's DISTSTYLE / DISTKEY / SORTKEY / ENCODE / BACKUP clauses."""
    for rx in _DDL_STRIP:
        sql = rx.sub("", sql)
    return sql


# -- the COPY grammar (B3) -----------------------------------------------------

_TOKEN = re.compile(r"""(?P<ws>\s+|--[^\n]*|/\*.*?\*/)|(?P<str>'(?:[^']|'')*')|"""
                    r"""(?P<qid>"(?:[^"]|"")*")|(?P<num>\d+)|"""
                    r"""(?P<word>[A-Za-z_][A-Za-z0-9_$]*)|(?P<punct>[(),.;=])""", re.S)


def _tokens(sql):
    """[(kind, value, text)]: kind str (value unquoted), qid (value
    unquoted), word (value upper-cased), num, punct."""
    out, pos = [], 0
    while pos < len(sql):
        m = _TOKEN.match(sql, pos)
        if not m:
            ch = sql[pos]
            if ch in "'\"":
                raise CopyError("42601", "unterminated quoted %s at or near \"%s\""
                                % ("string" if ch == "'" else "identifier", sql[pos:pos + 20]))
            raise CopyError("42601", 'syntax error at or near "%s"' % ch)
        kind, text = m.lastgroup, m.group()
        pos = m.end()
        if kind == "ws":
            continue
        if kind == "str":
            value = text[1:-1].replace("''", "'")
        elif kind == "qid":
            value = text[1:-1].replace('""', '"')
        elif kind == "word":
            value = text.upper()
        else:
            value = text
        out.append((kind, value, text))
    return out


class CopySpec:
    """A parsed COPY FROM S3."""

    def __init__(self):
        self.table_text = None      # the table as written (quotes kept)
        self.table = None           # its last name part, as Redshift names it
        self.columns = None         # [name] (folded / unquoted) or None
        self.source = None          # 's3://bucket/key-or-prefix'
        self.auth = {}              # {"kind": iam_role|keys|credentials, ...}
        self.manifest = False
        self.format = "delimited"   # json | csv | delimited
        self.json = None            # 'auto' | 'auto ignorecase' | 's3://jsonpaths'
        self.delimiter = None
        self.quote = '"'
        self.compression = None     # gzip | zstd | bzip2
        self.region = None
        self.maxerror = 0
        self.ignoreheader = 0
        self.truncatecolumns = self.blanksasnull = self.emptyasnull = False
        self.acceptinvchars = None  # the replacement character, or None
        self.ignored = []           # options accepted and ignored


class _Parser:
    def __init__(self, sql):
        self.toks = _tokens(sql)
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None, None)

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    def error_here(self):
        kind, _, text = self.peek()
        if kind is None:
            return CopyError("42601", "syntax error at end of input")
        return CopyError("42601", 'syntax error at or near "%s"' % text)

    def word(self, *words):
        """Takes the next token if it is one of <words>; returns it or None."""
        kind, value, _ = self.peek()
        if kind == "word" and value in words:
            self.i += 1
            return value
        return None

    def expect_word(self, w):
        if not self.word(w):
            raise self.error_here()

    def string(self, optional_as=True):
        if optional_as:
            self.word("AS")
        kind, value, _ = self.peek()
        if kind != "str":
            raise self.error_here()
        self.i += 1
        return value

    def number(self):
        self.word("AS")
        kind, value, _ = self.peek()
        if kind != "num":
            raise self.error_here()
        self.i += 1
        return int(value)

    def name(self):
        """An identifier: (folded value, text as written)."""
        kind, value, text = self.peek()
        if kind == "word":
            self.i += 1
            return text.lower(), text
        if kind == "qid":
            self.i += 1
            return value, text
        raise self.error_here()


UNSUPPORTED_FORMATS = ("FIXEDWIDTH", "AVRO", "PARQUET", "ORC", "SHAPEFILE")
IGNORED_FLAGS = ("STATUPDATE", "COMPUPDATE")


def parse_copy(sql):
    """CopySpec of `COPY tbl [(col,...)] FROM 's3://...' options` (B3), or
    CopyError: 42601 for the grammar, 0A000 for what the front does not do.
    Long because it is the grammar: one branch per option word."""
    p, s = _Parser(sql), CopySpec()
    p.expect_word("COPY")
    name, text = p.name()
    s.table, s.table_text = name, text
    if p.peek()[2] == ".":
        p.take()
        name, text = p.name()
        s.table, s.table_text = name, s.table_text + "." + text
    if p.peek()[2] == "(":
        p.take()
        s.columns = []
        while True:
            s.columns.append(p.name()[0])
            if p.peek()[2] == ",":
                p.take()
                continue
            if p.peek()[2] == ")":
                p.take()
                break
            raise p.error_here()
    p.expect_word("FROM")
    s.source = p.string(optional_as=False)
    if not s.source.lower().startswith("s3://"):
        raise CopyError("0A000", "the Redshift front loads only from s3:// sources")
    seen = set()
    formats = []
    auths = []

    def once(option):
        if option in seen:
            raise CopyError("42601", "conflicting or redundant options: %s" % option)
        seen.add(option)

    while True:
        kind, value, text = p.peek()
        if kind is None:
            break
        if kind == "punct" and text == ";":
            p.take()
            if p.peek()[0] is not None:
                raise CopyError("0A000", "the Redshift front needs a COPY FROM S3 alone in "
                                "its query string")
            break
        if kind != "word":
            raise p.error_here()
        p.take()
        w = value
        if w == "IAM_ROLE":
            role = "default" if p.word("DEFAULT") else p.string(optional_as=False)
            auths.append(("iam_role", {"iam_role": role}))
        elif w in ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN"):
            once(w)
            if not any(a[0] == "keys" for a in auths):
                auths.append(("keys", {}))
            [a for a in auths if a[0] == "keys"][0][1][w.lower()] = p.string(optional_as=False)
        elif w == "CREDENTIALS":
            auths.append(("credentials", _parse_credentials(p.string())))
        elif w == "MANIFEST":
            once(w)
            s.manifest = True
        elif w == "FORMAT":
            p.word("AS")
            if not p.peek()[0] == "word":
                raise p.error_here()
            continue            # the format word itself comes next
        elif w == "JSON":
            formats.append(w)
            s.format = "json"
            s.json = p.string()
            if not (s.json.lower() in ("auto", "auto ignorecase")
                    or s.json.lower().startswith("s3://")):
                raise CopyError("0A000", "JSON '%s': the Redshift front does 'auto', "
                                "'auto ignorecase' and s3:// jsonpaths files" % s.json)
        elif w == "CSV":
            formats.append(w)
            s.format = "csv"
            if p.word("QUOTE"):
                s.quote = p.string()
        elif w == "DELIMITER":
            once(w)
            s.delimiter = p.string()
            if len(s.delimiter) != 1:
                raise CopyError("XX000", "COPY delimiter must be a single character")
        elif w in UNSUPPORTED_FORMATS:
            raise CopyError("0A000", "the Redshift front does not load %s data" % w)
        elif w in ("GZIP", "ZSTD", "BZIP2", "LZOP"):
            once("compression")
            if w == "LZOP":
                raise CopyError("0A000", "the Redshift front does not decompress LZOP")
            s.compression = w.lower()
        elif w == "REGION":
            once(w)
            s.region = p.string()
        elif w == "MAXERROR":
            once(w)
            s.maxerror = p.number()
        elif w == "IGNOREHEADER":
            once(w)
            s.ignoreheader = p.number()
        elif w in IGNORED_FLAGS:
            once(w)
            p.word("ON", "OFF", "TRUE", "FALSE", "PRESET")
            s.ignored.append(w)
        elif w in ("TIMEFORMAT", "DATEFORMAT"):
            once(w)
            s.ignored.append("%s %s" % (w, p.string()))
        elif w in ("TRUNCATECOLUMNS", "BLANKSASNULL", "EMPTYASNULL"):
            once(w)
            setattr(s, w.lower(), True)
        elif w == "ACCEPTINVCHARS":
            once(w)
            s.acceptinvchars = "?"
            if p.word("AS") or p.peek()[0] == "str":
                s.acceptinvchars = p.string(optional_as=False)[:1] or "?"
        else:
            p.i -= 1
            raise p.error_here()
    if len(formats) > 1:
        raise CopyError("42601", "conflicting or redundant options: %s" % " and ".join(formats))
    if s.format == "json" and s.delimiter:
        raise CopyError("42601", "conflicting or redundant options: JSON and DELIMITER")
    if len(auths) > 1:
        raise CopyError("42601", "conflicting or redundant options: only one of IAM_ROLE, "
                        "ACCESS_KEY_ID/SECRET_ACCESS_KEY and CREDENTIALS may be given")
    if not auths:
        raise CopyError("XX000", "Missing credentials: give IAM_ROLE, ACCESS_KEY_ID and "
                        "SECRET_ACCESS_KEY, or CREDENTIALS")
    kind, auth = auths[0]
    if kind == "keys" and not ("access_key_id" in auth and "secret_access_key" in auth):
        raise CopyError("XX000", "ACCESS_KEY_ID and SECRET_ACCESS_KEY go together")
    s.auth = dict(auth, kind=kind)
    if s.delimiter is None:
        s.delimiter = "," if s.format == "csv" else "|"
    return s


def _parse_credentials(text):
    kv = {}
    for part in text.split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            kv[k.strip().lower()] = v.strip()
    if "aws_iam_role" in kv or ("aws_access_key_id" in kv and "aws_secret_access_key" in kv):
        return kv
    raise CopyError("XX000", "Invalid credentials. Must be of the format: credentials "
                    "'aws_iam_role=...' or "
                    "'aws_access_key_id=...;aws_secret_access_key=...[;token=...]'")


# -- reading the data ----------------------------------------------------------

class Column:
    """A target column: name, pg_type typname, length (char types), NOT NULL,
    string category."""

    def __init__(self, name, typname, typmod, notnull, category):
        self.name, self.typname, self.notnull = name, typname, notnull
        self.length = typmod - 4 if typname in ("varchar", "bpchar") and typmod >= 4 else None
        self.is_string = category == "S"


class Row:
    """One record to load: where it came from, its text, its column values."""
    __slots__ = ("url", "line", "raw", "values")

    def __init__(self, url, line, raw, values):
        self.url, self.line, self.raw, self.values = url, line, raw, values


class BadRow:
    """A record that did not load, as one stl_load_errors row."""

    def __init__(self, url, line, raw, code, reason, column=None, value=None):
        self.url, self.line, self.raw = url, line, raw
        self.code, self.reason, self.column, self.value = code, reason, column, value


_SURROGATE = re.compile("[\udc80-\udcff]")
_WS = re.compile(r"[ \t\r\n]*")
_JSONPATH_STEP = re.compile(r"""\.([A-Za-z_$][\w$]*)|\[\s*'((?:[^'\\]|\\.)*)'\s*\]|"""
                            r"""\[\s*"((?:[^"\\]|\\.)*)"\s*\]|\[\s*(\d+)\s*\]""")


def _text(v):
    """A JSON value as the column text COPY gets (None: NULL)."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def parse_jsonpaths(doc, ncols):
    """A jsonpaths file's paths, each a list of keys / indexes."""
    try:
        paths = json.loads(doc)["jsonpaths"]
        assert isinstance(paths, list)
    except (ValueError, KeyError, TypeError, AssertionError):
        raise CopyError("XX000", "Invalid JSONPath format: the file must be "
                        '{"jsonpaths": ["$.a", ...]}')
    if len(paths) != ncols:
        raise CopyError("XX000", "Number of jsonpaths and the number of columns should match. "
                        "JSONPath size: %d, Number of columns in table or column list: %d"
                        % (len(paths), ncols))
    out = []
    for path in paths:
        if not isinstance(path, str) or not path.startswith("$"):
            raise CopyError("XX000", "Invalid JSONPath format: %r" % (path,))
        steps, pos = [], 1
        while pos < len(path):
            m = _JSONPATH_STEP.match(path, pos)
            if not m:
                raise CopyError("XX000", "Invalid JSONPath format: %s" % path)
            a, b, c, d = m.groups()
            steps.append(int(d) if d is not None else (a if a is not None else
                                                        (b if b is not None else c)))
            pos = m.end()
        out.append(steps)
    return out


def _follow(obj, steps):
    for st in steps:
        if isinstance(st, int) and isinstance(obj, list) and st < len(obj):
            obj = obj[st]
        elif isinstance(st, str) and isinstance(obj, dict) and st in obj:
            obj = obj[st]
        else:
            return None
    return obj


def parse_json_records(url, text, spec, cols, paths):
    """Rows and BadRows of one file of concatenated JSON objects. A record
    that does not parse costs the rest of its line (the reader resumes at
    the next line)."""
    rows, bad = [], []
    dec = json.JSONDecoder()
    ignorecase = spec.json.lower() == "auto ignorecase"
    if paths is None:
        index = {(c.name.lower() if ignorecase else c.name): i for i, c in enumerate(cols)}
    pos, line, n = 0, 1, len(text)
    while True:
        start = _WS.match(text, pos).end()
        line += text.count("\n", pos, start)
        if start >= n:
            break
        try:
            obj, end = dec.raw_decode(text, start)
        except json.JSONDecodeError as e:
            nl = text.find("\n", e.pos)
            end = n if nl < 0 else nl
            bad.append(BadRow(url, line + text.count("\n", start, end), text[start:end], 1216,
                              "Invalid JSON: %s" % e.msg))
            line += text.count("\n", start, end)
            pos = end
            continue
        last_line = line + text.count("\n", start, end)
        raw = text[start:end]
        pos, line = end, last_line
        if not isinstance(obj, dict):
            bad.append(BadRow(url, last_line, raw, 1216, "Invalid JSONPath format: Member is "
                              "not an object."))
            continue
        if paths is not None:
            values = [_text(_follow(obj, steps)) for steps in paths]
        else:
            values = [None] * len(cols)
            for k, v in obj.items():
                i = index.get(k.lower() if ignorecase else k)
                if i is not None:
                    values[i] = _text(v)
        rows.append(Row(url, last_line, raw, values))
    return rows, bad


def parse_delimited_records(url, text, spec, cols):
    """Rows and BadRows of one CSV or character-delimited file."""
    rows, bad = [], []
    if spec.format == "csv":
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=spec.delimiter,
                            quotechar=spec.quote)
        lines = [(reader.line_num, spec.delimiter.join(fields), fields) for fields in reader]
    else:
        lines = []
        for i, ln in enumerate(text.split("\n")):
            ln = ln[:-1] if ln.endswith("\r") else ln
            lines.append((i + 1, ln, ln.split(spec.delimiter)))
    for lineno, raw, fields in lines:
        if lineno <= spec.ignoreheader:
            continue
        if raw == "" and (fields == [""] or fields == []):
            continue                                   # blank lines (the last newline)
        if len(fields) > len(cols):
            bad.append(BadRow(url, lineno, raw, 1202, "Extra column(s) found"))
            continue
        if len(fields) < len(cols):
            bad.append(BadRow(url, lineno, raw, 1214, "Delimiter not found"))
            continue
        values = []
        for f, c in zip(fields, cols):
            if spec.format != "csv" and f == "\\N":
                values.append(None)
            elif f == "" and not c.is_string:
                values.append(None)
            else:
                values.append(f)
        rows.append(Row(url, lineno, raw, values))
    return rows, bad


def finish_values(rows, bad, spec, cols):
    """Applies EMPTYASNULL, BLANKSASNULL, TRUNCATECOLUMNS and ACCEPTINVCHARS;
    a record with bytes that are not UTF-8 is bad without ACCEPTINVCHARS."""
    out = []
    for r in rows:
        if _SURROGATE.search(r.raw):
            if spec.acceptinvchars is None:
                bad.append(BadRow(r.url, r.line, r.raw, 1220, "String contains invalid or "
                                  "unsupported UTF8 codepoints"))
                continue
            r.values = [None if v is None else _SURROGATE.sub(spec.acceptinvchars, v)
                        for v in r.values]
        for i, c in enumerate(cols):
            v = r.values[i]
            if v is None or not c.is_string:
                continue
            if (spec.emptyasnull and v == "") or (spec.blanksasnull and v != "" and
                                                  v.strip() == ""):
                r.values[i] = None
            elif spec.truncatecolumns and c.length is not None and len(v) > c.length:
                r.values[i] = v[:c.length]
        out.append(r)
    return out


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def copy_line(values):
    """One line of COPY's text format."""
    return ("\t".join("\\N" if v is None else v.translate(_COPY_ESCAPES) for v in values)
            + "\n").encode("utf-8", "surrogateescape")


def load_error(err, col, value):
    """(stl err_code, err_reason) of a PostgreSQL error on one row: the
    Redshift code (r_Load_Error_Reference) nearest to it."""
    code, msg = err.get("C", ""), err.get("M", "")
    typ = col.typname if col else ""
    shown = (value or "")[:40]
    if code == "22001":
        return 1204, "String length exceeds DDL length"
    if code == "23502":
        return 1213, "Missing data for not-null field"
    if code in ("22P02", "22003", "22007", "22008", "22009"):
        if typ in ("int2", "int4", "int8"):
            if code == "22003":
                return 1222, "Overflow, Value '%s', Type: Integer" % shown
            return 1207, "Invalid digit, Value '%s', Type: Integer" % shown
        if typ in ("float4", "float8"):
            return 1208, "Invalid float format, Value '%s'" % shown
        if typ == "numeric":
            return 1209, "Invalid decimal format, Value '%s'" % shown
        if typ == "bool":
            return 1210, "Invalid boolean format, Value '%s'" % shown
        if typ == "date":
            return 1205, "Invalid Date Format, Value '%s'" % shown
        if typ in ("timestamp", "timestamptz", "time", "timetz"):
            return 1206, "Invalid timestamp format or value, Value '%s'" % shown
        if typ in ("json", "jsonb"):
            return 1224, "Invalid JSON, Value '%s'" % shown
        return 1223, "Invalid data type: %s" % msg
    if code in ("22021", "22P05"):
        return 1220, "String contains invalid or unsupported UTF8 codepoints"
    return 1200, "Unknown parse error: %s (%s)" % (msg, code)


def _url_parts(url):
    rest = url[len("s3://"):]
    bucket, _, key = rest.partition("/")
    return bucket, key


def _detail(error, code, context, query, location):
    """The DETAIL block Redshift gives a failed COPY (B4)."""
    return ("\n  -----------------------------------------------\n"
            "  error:  %s\n  code:      %d\n  context:   %s\n  query:     %d\n"
            "  location:  %s\n  process:   redshift_front\n"
            "  -----------------------------------------------\n"
            % (error, code, context, query, location))


# -- the front -----------------------------------------------------------------

class RedshiftFront:
    """The proxy (module docstring). <pg>: a PgServer (its port and password
    are used) or a port number. <user>/<db>: for the front's own connection,
    which makes stl_load_errors in <db>; clients connect as they like.
    check_credentials: an ACCESS_KEY_ID (or aws_access_key_id) other than
    <s3_key> fails the COPY as S3 would (403 InvalidAccessKeyId)."""

    def __init__(self, pg, s3_endpoint, s3_key="S3RVER", s3_secret="S3RVER",
                 region="us-east-1", port=0, host="127.0.0.1", user="sluice", db="events",
                 password=None, pg_host="127.0.0.1", check_credentials=False, io_timeout=60):
        self.pg_host = pg_host
        self.pg_port = pg if isinstance(pg, int) else pg.port
        self.password = password if password is not None else getattr(pg, "password", None)
        self.user, self.db = user, db
        self.s3_endpoint, self.s3_key, self.region = s3_endpoint, s3_key, region
        self.check_credentials = check_credentials
        self.io_timeout = io_timeout
        self._s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name=region,
                                aws_access_key_id=s3_key, aws_secret_access_key=s3_secret,
                                config=Config(retries={"max_attempts": 2},
                                              connect_timeout=10, read_timeout=60,
                                              s3={"addressing_style": "path"}))
        self._lock = threading.Lock()          # copies, counters, faults, sessions
        self._copies = []
        self._counts = {"connections": 0, "statements": 0, "copies": 0}
        self._faults = []                      # kinds, first first
        self._drops = 0                        # COMMIT answers still to lose
        self._hold = 0.0
        self._drop_hold = 0.0
        self._held = threading.Event()         # a COPY is being held
        self._release = threading.Event()
        self._sessions = set()
        self._query_id = 1000
        self._stopping = False
        self._sys_lock = threading.Lock()      # the front's own connection
        self._sys = None
        self._sys_query(STL_DDL)
        self._sys_query(LAST_COPY_DDL)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(64)
        self.host, self.port = host, self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True,
                                        name="redshift-front-accept")
        self._thread.start()

    # -- life ----------------------------------------------------------------

    def conninfo(self, **extra):
        """A libpq connection string for the front, as the pg's user and db."""
        kv = {"host": self.host, "port": str(self.port), "dbname": self.db, "user": self.user,
              "connect_timeout": "5"}
        kv.update({k: str(v) for k, v in extra.items()})
        return " ".join("%s=%s" % (k, v) for k, v in kv.items())

    def stop(self):
        """Closes the listener, every session (their backends roll back) and
        the front's own connection."""
        self._stopping = True
        self._release.set()
        try:
            self._listener.close()
        except OSError:
            pass
        self._thread.join(5)
        with self._lock:
            sessions = list(self._sessions)
        for s in sessions:
            s.close()
        for s in sessions:
            s.thread.join(5)
        with self._sys_lock:
            if self._sys:
                self._sys.close()
                self._sys = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _accept_loop(self):
        while not self._stopping:
            try:
                if not select.select([self._listener], [], [], 0.2)[0]:
                    continue
                sock, _ = self._listener.accept()
            except (OSError, ValueError):
                if self._stopping:
                    return
                continue
            with self._lock:
                self._counts["connections"] += 1
                sid = self._counts["connections"]
            s = _Session(self, sock, sid)
            with self._lock:
                self._sessions.add(s)
            s.thread.start()

    def _forget(self, session):
        with self._lock:
            self._sessions.discard(session)

    # -- test controls -------------------------------------------------------

    @property
    def copies(self):
        """Every COPY FROM S3 received, oldest first (copies of the dicts)."""
        with self._lock:
            return [dict(c) for c in self._copies]

    def fail_copies(self, n=1, kind="load"):
        if kind not in FAULT_KINDS:
            raise ValueError("kind: one of %s" % ", ".join(FAULT_KINDS))
        with self._lock:
            self._faults += [kind] * n

    def drop_after_commit(self, n=1, hold=0.0):
        """The next <n> COMMITs after a COPY are carried out and their answer
        lost: the connection is closed instead, at once, or after holding it
        up to <hold> seconds (release() ends the hold; wait_held() tells it
        began): a client killed meanwhile never learns that it committed."""
        with self._lock:
            self._drops += n
            self._drop_hold = float(hold)
            if hold:
                self._held.clear()
                self._release.clear()

    def hold_copies(self, seconds):
        """Holds every following COPY up to <seconds> (0: no more holds)."""
        with self._lock:
            self._hold = float(seconds)
            self._held.clear()
            self._release.clear()

    def release(self):
        with self._lock:
            self._hold = 0.0
        self._release.set()

    def wait_held(self, timeout=30):
        """True once a COPY is being held (within <timeout> seconds)."""
        return self._held.wait(timeout)

    def clear_faults(self):
        with self._lock:
            self._faults, self._drops = [], 0
        self.release()

    def stats(self):
        with self._lock:
            d = dict(self._counts)
            d["active"] = len(self._sessions)
            return d

    def wait_copies(self, n, timeout=30):
        """The copies list once it has <n> entries with an outcome."""
        deadline = time.monotonic() + timeout
        while True:
            c = self.copies
            if len(c) >= n and all(x.get("outcome") for x in c[:n]):
                return c
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for %d COPYs: %r" % (n, c))
            time.sleep(0.02)

    def load_errors(self):
        """stl_load_errors rows as dicts, oldest first, char columns trimmed."""
        res = self._sys_query("SELECT %s FROM stl_load_errors ORDER BY starttime, query, "
                              "filename, line_number" % ", ".join(STL_COLUMNS))
        return [{k: (v.rstrip() if isinstance(v, str) else v) for k, v in zip(STL_COLUMNS, r)}
                for r in res.rows]

    # -- internals shared by the sessions -----------------------------------

    def _take_fault(self):
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def _take_drop(self):
        """0 (no drop), or the drop's hold in seconds, at least a tiny one."""
        with self._lock:
            if self._drops > 0:
                self._drops -= 1
                return max(self._drop_hold, 1e-9)
            return 0

    def _hold_seconds(self):
        with self._lock:
            return self._hold

    def _new_copy(self, sql, session):
        with self._lock:
            self._counts["copies"] += 1
            self._query_id += 1
            rec = {"sql": sql, "session": session.id, "txn": session.txn, "outcome": None,
                   "sqlstate": None, "message": None, "rows": 0, "errors": 0, "files": [],
                   "auth": None, "query": self._query_id, "time": time.time()}
            self._copies.append(rec)
            return rec

    def _update_copy(self, rec, **kw):
        with self._lock:
            rec.update(kw)

    def _count_statement(self):
        with self._lock:
            self._counts["statements"] += 1

    def _sys_query(self, sql):
        """Runs <sql> on the front's own autocommit connection (reconnecting
        once, e.g. after a PostgreSQL restart)."""
        with self._sys_lock:
            for attempt in (0, 1):
                try:
                    if self._sys is None:
                        self._sys = PgClient(self.pg_host, self.pg_port, self.user, self.db,
                                             self.password, timeout=self.io_timeout)
                    res = self._sys.query(sql)
                    if res.error:
                        raise RuntimeError("redshift_front: %s: %s"
                                           % (res.error.get("M"), sql[:200]))
                    return res
                except (OSError, _Closed, _Timeout, ConnectionError):
                    if self._sys:
                        self._sys.wire.close()
                    self._sys = None
                    if attempt:
                        raise

    def _write_stl(self, rows):
        if not rows:
            return
        values = []
        for r in rows:
            values.append("(" + ", ".join(
                "now()" if k == "starttime" else
                (lit(r.get(k)) if isinstance(r.get(k), str) else
                 ("NULL" if r.get(k) is None else str(int(r.get(k)))))
                for k in STL_COLUMNS) + ")")
        self._sys_query("INSERT INTO stl_load_errors (%s) VALUES %s"
                        % (", ".join(STL_COLUMNS), ", ".join(values)))

    def _s3_get(self, url):
        """The object's bytes, or None when it does not exist."""
        bucket, key = _url_parts(url)
        try:
            return self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                return None
            if code == "NoSuchBucket":
                raise CopyError("XX000", "S3ServiceException:The specified bucket does not "
                                "exist,Status 404,Error NoSuchBucket,Rid front: %s" % url)
            raise CopyError("XX000", "S3ServiceException:%s,Status %s,Error %s: %s" % (
                e.response.get("Error", {}).get("Message", ""),
                e.response.get("ResponseMetadata", {}).get("HTTPStatusCode"), code, url))
        except BotoCoreError as e:
            raise CopyError("XX000", "S3 error reading %s: %s" % (url, e))

    def _s3_list(self, url):
        bucket, prefix = _url_parts(url)
        out, token = [], None
        try:
            while True:
                kw = {"Bucket": bucket, "Prefix": prefix}
                if token:
                    kw["ContinuationToken"] = token
                r = self._s3.list_objects_v2(**kw)
                out += ["s3://%s/%s" % (bucket, o["Key"]) for o in r.get("Contents", [])
                        if not o["Key"].endswith("/")]
                if not r.get("IsTruncated"):
                    return sorted(out)
                token = r["NextContinuationToken"]
        except ClientError as e:
            raise CopyError("XX000", "S3ServiceException:%s,Error %s: %s" % (
                e.response.get("Error", {}).get("Message", ""),
                e.response.get("Error", {}).get("Code", ""), url))
        except BotoCoreError as e:
            raise CopyError("XX000", "S3 error listing %s: %s" % (url, e))

    def fetch(self, spec):
        """[(url, decompressed bytes)] that the COPY loads (B2)."""
        if self.check_credentials:
            key = spec.auth.get("access_key_id") or spec.auth.get("aws_access_key_id")
            if key is not None and key != self.s3_key:
                raise CopyError("XX000", "S3ServiceException:The AWS Access Key Id you "
                                "provided does not exist in our records.,Status 403,"
                                "Error InvalidAccessKeyId")
        if spec.manifest:
            doc = self._s3_get(spec.source)
            if doc is None:
                raise CopyError("XX000", "Problem reading manifest file - S3ServiceException:"
                                "The specified key does not exist.,Status 404,Error NoSuchKey",
                                _detail("Problem reading manifest file", 8001,
                                        "S3 key being read : %s" % spec.source, 0,
                                        "s3_utility.cpp"))
            try:
                entries = json.loads(doc)["entries"]
                urls = [(e["url"], bool(e.get("mandatory", False))) for e in entries]
            except (ValueError, KeyError, TypeError):
                raise CopyError("XX000", "Manifest file is not in correct json format: %s"
                                % spec.source)
            files = []
            for url, mandatory in urls:
                if not url.startswith("s3://") or url.endswith("/"):
                    raise CopyError("XX000", "COPY with MANIFEST parameter requires full "
                                    "path of an S3 object: %s" % url)
                data = self._s3_get(url)
                if data is None:
                    if mandatory:
                        raise CopyError("XX000", "Manifest file is missing mandatory file: %s"
                                        % url, _detail("Missing mandatory file %s" % url, 8001,
                                                       "S3 key being read : %s" % url, 0,
                                                       "s3_utility.cpp"))
                    continue
                files.append((url, data))
            if not files:
                raise CopyError("XX000", "No files found to load: manifest %s" % spec.source)
        else:
            urls = self._s3_list(spec.source)
            if not urls:
                raise CopyError("XX000", "The specified S3 prefix '%s' does not exist"
                                % spec.source[len("s3://"):].split("/", 1)[-1])
            files = []
            for url in urls:
                data = self._s3_get(url)
                if data is not None:
                    files.append((url, data))
        return [(url, self._decompress(spec, url, data)) for url, data in files]

    def _decompress(self, spec, url, data):
        try:
            if spec.compression == "gzip":
                return gzip.decompress(data)
            if spec.compression == "bzip2":
                return bz2.decompress(data)
            if spec.compression == "zstd":
                r = subprocess.run(["zstd", "-dcq"], input=data, capture_output=True,
                                   timeout=self.io_timeout)
                if r.returncode != 0:
                    raise OSError(r.stderr.decode(errors="replace").strip())
                return r.stdout
            return data
        except (OSError, EOFError, ValueError, zlib.error, subprocess.TimeoutExpired) as e:
            raise CopyError("XX000", "%s: invalid compressed data in %s: %s"
                            % (spec.compression, url, e))


class _Session:
    """One client connection and its backend connection, owned by one thread.
    syncs: one entry per message sent to the backend that it will answer
    with ReadyForQuery (Q, Sync, FunctionCall), None or the error to give
    the client instead (a refused Parse)."""

    def __init__(self, front, sock, sid):
        self.front, self.id = front, sid
        self.c = _Wire(sock, front.io_timeout)
        self.b = None
        self.txn = "I"              # the backend's last transaction status
        self.syncs = []
        self.refused = None         # error for the next Sync (a refused Parse)
        self.copied = False         # a COPY succeeded in the open transaction block
        self.pid = 0                # the backend's process id (stl session)
        self.closed = False
        self.thread = threading.Thread(target=self.run, daemon=True,
                                       name="redshift-front-%d" % sid)

    def close(self):
        if self.closed:
            return
        self.closed = True
        for w in (self.c, self.b):
            if w is not None:
                w.close()

    def run(self):
        try:
            if self._startup():
                self._relay()
        except (_Closed, _Timeout, OSError, ValueError):
            pass
        except Exception:
            if not self.closed:
                traceback.print_exc()
        finally:
            self.close()
            self.front._forget(self)

    # -- startup -------------------------------------------------------------

    def _startup(self):
        """Relays the startup and authentication; True once the backend is
        ready for queries."""
        while True:
            pkt = self.c.read_startup()
            code = struct.unpack_from("!I", pkt, 4)[0]
            if code in (SSL_REQUEST, GSSENC_REQUEST):
                self.c.send(b"N")                      # plain text only
                continue
            break
        if code == CANCEL_REQUEST:                      # the key is the real backend's
            s = socket.create_connection((self.front.pg_host, self.front.pg_port), timeout=10)
            s.sendall(pkt)
            s.close()
            return False
        if code != PROTOCOL_3:
            self.c.send(_error("0A000", "unsupported frontend protocol", severity="FATAL"))
            return False
        self.b = _Wire(socket.create_connection((self.front.pg_host, self.front.pg_port),
                                                timeout=10), self.front.io_timeout)
        self.b.send(pkt)
        while True:
            t, body = self.b.read_msg()
            self.c.send(_msg(t, body))
            if t == "R" and struct.unpack_from("!I", body)[0] in (3, 5, 10, 11):
                ct, cbody = self.c.read_msg()              # the client's answer
                self.b.send(_msg(ct, cbody))
            elif t == "K":
                self.pid = struct.unpack_from("!I", body)[0]
            elif t == "E":
                return False
            elif t == "Z":
                self.txn = chr(body[0])
                return True

    # -- relaying ------------------------------------------------------------

    def _relay(self):
        cs, bs = self.c.sock, self.b.sock
        while not self.front._stopping and not self.closed:
            m = self.c.next_msg()
            if m is not None:
                self._from_client(*m)
                continue
            self._pump()
            r = select.select([cs, bs], [], [], 0.25)[0]
            if bs in r:
                self.b.fill()
            if cs in r:
                self.c.fill()

    def _pump(self):
        """Forwards every complete backend message buffered to the client."""
        out = bytearray()
        while True:
            m = self.b.next_msg()
            if m is None:
                break
            t, body = m
            if t == "Z":
                refused = self.syncs.pop(0) if self.syncs else None
                self.txn = chr(body[0])
                if self.txn == "I":
                    self.copied = False
                if refused is not None:
                    self.c.send(bytes(out))
                    out = bytearray()
                    self._answer_refused(refused)
                    continue
            out += _msg(t, body)
        if out:
            self.c.send(bytes(out))

    def _drain(self):
        """Relays backend answers until every query sent has been answered."""
        deadline = time.monotonic() + self.front.io_timeout
        while self.syncs:
            self._pump()
            if self.syncs:
                self.b.fill(deadline)

    def _send_backend(self, t, body, answered=False, refused=None):
        self.b.send(_msg(t, body))
        if answered:
            self.syncs.append(refused)

    def _from_client(self, t, body):
        if self.refused is not None and t not in "SX":
            return                               # skipped up to Sync, as the backend would
        if t == "Q":
            self.front._count_statement()
            sql = body[:-1].decode("utf-8", "replace")
            if is_s3_copy(sql):
                self._drain()
                self._copy(sql)
                return
            if mentions_s3_copy(sql):
                self._drain()
                self._raise(CopyError("0A000", "the Redshift front needs a COPY FROM S3 alone "
                                      "in its query string"))
                return
            drop = self.copied and _COMMIT.match(_head(sql)) and self.front._take_drop()
            if drop:
                self._drain()
                self._lose_commit(body, drop)
                return
            if is_create_table(sql):
                body = _cstr(strip_keys(sql))
            self._send_backend("Q", body, answered=True)
        elif t == "P":
            self.front._count_statement()
            name_end = body.index(b"\0")
            q_end = body.index(b"\0", name_end + 1)
            sql = body[name_end + 1:q_end].decode("utf-8", "replace")
            if is_s3_copy(sql):
                self.refused = {"S": "ERROR", "V": "ERROR", "C": "0A000",
                                "M": "the Redshift front handles COPY FROM S3 in simple "
                                     "queries only"}
                return
            if is_create_table(sql):
                body = body[:name_end + 1] + _cstr(strip_keys(sql)) + body[q_end + 1:]
            self._send_backend("P", body)
        elif t == "S":
            refused, self.refused = self.refused, None
            self._send_backend("S", body, answered=True, refused=refused)
        elif t == "F":
            self._send_backend("F", body, answered=True)
        elif t == "X":
            self._send_backend("X", body)
            raise _Closed()
        else:
            self._send_backend(t, body)

    def _answer_refused(self, fields):
        """The answer to a Sync after a refused Parse: the error, and in a
        transaction block the backend made to raise it (so the block is
        aborted, as a real error would)."""
        if self.txn == "T" and not self.syncs:
            res = self._q(self._raise_sql(fields["C"], fields["M"], None))
            fields = _clean(res.error or fields)
        self.c.send(_msg("E", _fields_body(fields)) + _msg("Z", self.txn.encode()))

    def _q(self, sql):
        """Runs <sql> on the backend for the front (the client sees only
        ParameterStatus and notifications)."""
        self.b.send(_msg("Q", _cstr(sql)))
        res = _read_result(self.b, self.front.io_timeout, on_async=self._async)
        self.txn = res.status
        return res

    def _async(self, t, body):
        self.c.send(_msg(t, body))

    @staticmethod
    def _raise_sql(sqlstate, message, detail):
        tag = "$sl_%s$" % os.urandom(6).hex()
        using = "ERRCODE = %s, MESSAGE = %s" % (lit(sqlstate), lit(message))
        if detail:
            using += ", DETAIL = %s" % lit(detail)
        return "DO %s BEGIN RAISE EXCEPTION USING %s; END %s" % (tag, using, tag)

    def _raise(self, err):
        """Has the backend raise <err> (aborting an open transaction block)
        and relays its ErrorResponse, without the PL/pgSQL context, and its
        ReadyForQuery."""
        res = self._q(self._raise_sql(err.sqlstate, err.message, err.detail))
        fields = _clean(res.error or {"S": "ERROR", "V": "ERROR", "C": err.sqlstate,
                                      "M": err.message})
        self.c.send(_msg("E", _fields_body(fields)) + _msg("Z", res.status.encode()))

    def _lose_commit(self, body, hold):
        """drop_after_commit: the COMMIT is carried out, its answer lost
        (after holding it up to <hold> seconds)."""
        res = self._q(body[:-1].decode("utf-8", "replace"))
        with self.front._lock:
            mine = [c for c in self.front._copies if c["session"] == self.id]
            if mine:
                mine[-1]["commit"] = "dropped (%s)" % (res.error.get("M") if res.error
                                                       else res.tag)
        if hold >= 1e-3:
            self._wait_held(hold)
        raise _Closed()

    def _wait_held(self, secs, rec=None):
        """Waits up to <secs>, until release() or the client hangs up (then
        _Closed, the copy <rec> marked client-gone)."""
        front = self.front
        deadline = time.monotonic() + secs
        front._held.set()
        while (time.monotonic() < deadline and not front._release.is_set()
               and not front._stopping):
            if select.select([self.c.sock], [], [], 0.05)[0]:
                try:
                    gone = self.c.sock.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    gone = True
                if gone:
                    if rec is not None:
                        front._update_copy(rec, outcome="client-gone")
                    raise _Closed()
                time.sleep(0.05)       # the client sent more already: keep waiting

    # -- COPY FROM S3 (B5) ---------------------------------------------------

    def _copy(self, sql):
        front = self.front
        rec = front._new_copy(sql, self)
        if self.txn == "E":
            # the backend refuses any statement now (25P02); PostgreSQL would
            # parse the COPY first and fail on its grammar instead
            front._update_copy(rec, outcome="aborted-txn", sqlstate="25P02")
            self._raise(CopyError("25P02", "current transaction is aborted, commands ignored "
                                  "until end of transaction block"))
            return
        try:
            spec = parse_copy(sql)
        except CopyError as e:
            front._update_copy(rec, outcome="failed", sqlstate=e.sqlstate, message=e.message)
            self._raise(e)
            return
        front._update_copy(rec, auth=dict(spec.auth))
        outer = self.txn
        self._q("BEGIN" if outer == "I" else "SAVEPOINT sl_front_copy")
        try:
            loaded, bad, tbl = self._load(spec, rec)
        except CopyError as e:
            self._q("ROLLBACK" if outer == "I" else "ROLLBACK TO SAVEPOINT sl_front_copy")
            front._write_stl(e.stl)
            if rec["outcome"] is None:
                front._update_copy(rec, outcome="failed")
            front._update_copy(rec, sqlstate=e.sqlstate, message=e.message)
            self._raise(e)
            return
        front._write_stl([self._stl(rec, tbl, b) for b in bad])
        self._q("SELECT set_config('sl_front.last_copy_count', '%d', false), "
                "set_config('sl_front.last_copy_id', '%d', false)" % (loaded, rec["query"]))
        res = self._q("COMMIT" if outer == "I" else "RELEASE SAVEPOINT sl_front_copy")
        if res.error:                 # a deferred constraint, say
            front._update_copy(rec, outcome="failed", sqlstate=res.error.get("C"),
                               message=res.error.get("M"))
            res.error.pop("W", None)
            self.c.send(_msg("E", _fields_body(res.error)) + _msg("Z", res.status.encode()))
            return
        out = _notice("Load into table '%s' completed, %d record(s) loaded successfully."
                      % (spec.table, loaded))
        if bad:
            out += _notice("Load into table '%s' completed, %d record(s) could not be loaded."
                           "  Check 'stl_load_errors' system table for details."
                           % (spec.table, len(bad)))
        out += _msg("C", _cstr("COPY %d" % loaded)) + _msg("Z", self.txn.encode())
        front._update_copy(rec, outcome="loaded", rows=loaded, errors=len(bad))
        if self.txn == "T":
            self.copied = True
        self.c.send(out)

    def _load(self, spec, rec):
        """Loads the COPY's rows in the open transaction: (rows loaded,
        [BadRow] skipped, table oid), or CopyError."""
        front = self.front
        cols, tbl = self._columns(spec)
        fault = front._take_fault()
        if fault == "load":
            front._update_copy(rec, outcome="fault:load")
            bad = BadRow(spec.source, 0, "", 1200, "Injected failure (fail_copies)")
            raise self._load_failed(spec, rec, tbl, [bad])
        if fault == "internal":
            front._update_copy(rec, outcome="fault:internal")
            raise CopyError("XX000", "Internal error: injected by the Redshift front "
                            "(fail_copies); the COPY may be retried",
                            _detail("InternalError", 9999, "injected", rec["query"],
                                    "redshift_front.py"))
        paths = None
        if spec.format == "json" and spec.json.lower().startswith("s3://"):
            doc = front._s3_get(spec.json)
            if doc is None:
                raise CopyError("XX000", "Problem reading jsonpaths file - S3ServiceException:"
                                "The specified key does not exist.,Status 404: %s" % spec.json)
            paths = parse_jsonpaths(doc, len(cols))
        files = front.fetch(spec)
        front._update_copy(rec, files=[u for u, _ in files])
        rows, bad = [], []
        for url, data in files:
            text = data.decode("utf-8", "surrogateescape")
            if spec.format == "json":
                r, b = parse_json_records(url, text, spec, cols, paths)
            else:
                r, b = parse_delimited_records(url, text, spec, cols)
            rows += r
            bad += b
        rows = finish_values(rows, bad, spec, cols)
        loaded = 0
        if len(bad) <= spec.maxerror:
            loaded = self._insert(spec, cols, rows, bad)
        if len(bad) > spec.maxerror:
            raise self._load_failed(spec, rec, tbl, bad)
        self._hold_point(rec)
        if fault == "connection":
            front._update_copy(rec, outcome="fault:connection", rows=loaded)
            raise _Closed()
        return loaded, bad, tbl

    def _columns(self, spec):
        """The target columns (the column list's, or the table's) and the
        table's oid, read in the client's session (so a table made in the
        same transaction is seen)."""
        res = self._q("SELECT a.attname, t.typname, a.atttypmod, a.attnotnull, t.typcategory, "
                      "a.attrelid::oid::int8 FROM pg_attribute a JOIN pg_type t ON "
                      "t.oid = a.atttypid WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 "
                      "AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum"
                      % lit(spec.table_text))
        if res.error:
            raise CopyError(res.error.get("C", "XX000"), res.error.get("M", "?"))
        if not res.rows:
            raise CopyError("42P01", 'relation "%s" does not exist' % spec.table)
        table = [Column(r[0], r[1], int(r[2]), r[3] == "t", r[4]) for r in res.rows]
        tbl = int(res.rows[0][5])
        if spec.columns is None:
            return table, tbl
        by_name = {c.name: c for c in table}
        out = []
        for name in spec.columns:
            if name not in by_name:
                raise CopyError("42703", 'column "%s" of relation "%s" does not exist'
                                % (name, spec.table))
            if by_name[name] in out:
                raise CopyError("42701", 'column "%s" specified more than once' % name)
            out.append(by_name[name])
        return out, tbl

    def _copy_in(self, copy_sql, lines):
        """One `COPY ... FROM STDIN` of <lines>: None, or the error's fields."""
        def send_data():
            data = b"".join(lines)
            for i in range(0, len(data), 1 << 20):
                self.b.send(_msg("d", data[i:i + (1 << 20)]))
            self.b.send(_msg("c", b""))
        self.b.send(_msg("Q", _cstr(copy_sql)))
        res = _read_result(self.b, self.front.io_timeout, on_async=self._async,
                           on_copy_in=send_data)
        self.txn = res.status
        return res.error

    def _insert(self, spec, cols, rows, bad):
        """Inserts <rows>; a failing row goes to <bad> and the rest is tried
        again, while len(bad) <= MAXERROR. Returns the rows inserted.

        The error's CONTEXT ("COPY t, line N, ...") names the failing row;
        the N-1 rows before it are sent again alone (they went in once), so
        each row crosses the wire at most twice. Without a line number, the
        rest goes row by row under savepoints."""
        copy_sql = "COPY %s (%s) FROM STDIN" % (spec.table_text,
                                               ", ".join(ident(c.name) for c in cols))
        lines = [copy_line(r.values) for r in rows]
        start, loaded = 0, 0
        while start < len(rows) and len(bad) <= spec.maxerror:
            self._q("SAVEPOINT sl_front_rows")
            err = self._copy_in(copy_sql, lines[start:])
            if err is None:
                self._q("RELEASE SAVEPOINT sl_front_rows")
                return loaded + len(rows) - start
            self._q("ROLLBACK TO SAVEPOINT sl_front_rows")
            m = re.search(r"\bline (\d+)", err.get("W", ""))
            k = int(m.group(1)) if m else 0
            if not 1 <= k <= len(rows) - start:
                return loaded + self._insert_one_by_one(copy_sql, cols, rows[start:],
                                                        lines[start:], bad, spec.maxerror)
            if k > 1:
                again = self._copy_in(copy_sql, lines[start:start + k - 1])
                if again is not None:          # not expected: the same rows went in once
                    self._q("ROLLBACK TO SAVEPOINT sl_front_rows")
                    return loaded + self._insert_one_by_one(copy_sql, cols, rows[start:],
                                                            lines[start:], bad, spec.maxerror)
                loaded += k - 1
            self._q("RELEASE SAVEPOINT sl_front_rows")
            bad.append(self._bad(rows[start + k - 1], err, cols))
            start += k
        return loaded

    def _insert_one_by_one(self, copy_sql, cols, rows, lines, bad, maxerror):
        loaded = 0
        for row, line in zip(rows, lines):
            if len(bad) > maxerror:
                break
            self._q("SAVEPOINT sl_front_row")
            err = self._copy_in(copy_sql, [line])
            if err is None:
                self._q("RELEASE SAVEPOINT sl_front_row")
                loaded += 1
            else:
                self._q("ROLLBACK TO SAVEPOINT sl_front_row")
                bad.append(self._bad(row, err, cols))
        return loaded

    @staticmethod
    def _bad(row, err, cols):
        """The BadRow of <row>, which failed with <err> (fields)."""
        name = err.get("c")
        if not name:
            m = re.search(r", column ([^:]+):", err.get("W", ""))
            name = m.group(1) if m else None
        col = next((c for c in cols if c.name == name), None)
        value = row.values[cols.index(col)] if col else None
        code, reason = load_error(err, col, value)
        b = BadRow(row.url, row.line, row.raw, code, reason, col, value)
        return b

    def _stl(self, rec, tbl, b):
        """The stl_load_errors row (dict) of BadRow <b>."""
        def ascii_only(s, n):
            return "".join(ch if " " <= ch < "\x7f" else "." for ch in (s or "")[:n])
        col = b.column
        return {"userid": 100, "slice": 0, "tbl": tbl, "session": self.pid,
                "query": rec["query"], "filename": (b.url or "")[:256],
                "line_number": b.line, "colname": (col.name if col else "")[:127],
                "type": (col.typname if col else "")[:10],
                "col_length": (str(col.length) if col and col.length is not None else "0")[:10],
                "position": 0, "raw_line": ascii_only(b.raw, 1024),
                "raw_field_value": ascii_only(b.value, 1024), "err_code": b.code,
                "err_reason": (b.reason or "")[:100]}

    def _load_failed(self, spec, rec, tbl, bad):
        """The CopyError of a load with too many bad rows (B4)."""
        first = bad[0]
        msg = ("Load into table '%s' failed.  Check 'stl_load_errors' system table for "
               "details." % spec.table)
        detail = _detail(first.reason, first.code, "S3 key being read : %s, line %d"
                         % (first.url, first.line), rec["query"], "redshift_front.py")
        self.front._update_copy(rec, errors=len(bad))
        return CopyError("XX000", msg, detail, [self._stl(rec, tbl, b) for b in bad])

    def _hold_point(self, rec):
        """hold_copies: waits (bounded) with the rows in, uncommitted; the
        client hanging up ends the session (the backend rolls back)."""
        secs = self.front._hold_seconds()
        if secs > 0:
            self._wait_held(secs, rec)


def main(argv):
    ap = argparse.ArgumentParser(description="Redshift front (COPY FROM S3 on PostgreSQL) "
                                 "test double")
    ap.add_argument("--port", type=int, default=5439)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--pg-host", default="127.0.0.1")
    ap.add_argument("--pg-port", type=int, required=True)
    ap.add_argument("--pg-user", default="sluice")
    ap.add_argument("--pg-db", default="events")
    ap.add_argument("--pg-password", default=None)
    ap.add_argument("--s3-endpoint", required=True)
    ap.add_argument("--s3-key", default="S3RVER")
    ap.add_argument("--s3-secret", default="S3RVER")
    ap.add_argument("--region", default="us-east-1")
    a = ap.parse_args(argv)
    front = RedshiftFront(a.pg_port, a.s3_endpoint, s3_key=a.s3_key, s3_secret=a.s3_secret,
                          region=a.region, port=a.port, host=a.host, user=a.pg_user,
                          db=a.pg_db, password=a.pg_password, pg_host=a.pg_host)
    print("listening %s:%d" % (front.host, front.port), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        front.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
