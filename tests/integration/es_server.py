"""
es_server.py - a stand-in for Elasticsearch 8.x / OpenSearch 2.x that
speaks the `_bulk` API faithfully, for the Elasticsearch sink's tests (no
Elasticsearch can be installed here). Standard library only.

    srv = EsServer(flavor="elasticsearch")      # or "opensearch"; version=...
    ... srv.endpoint ... srv.store() ... srv.count_items("create", 409) ...
    srv.stop()

or, for `make bench` and trying sluice by hand:

    python3 tests/integration/es_server.py --port 9200 [--flavor opensearch]

It serves, on 127.0.0.1:
  GET|HEAD /                   the flavor's banner (X-Elastic-Product for ES)
  POST|PUT /_bulk, /INDEX/_bulk   index, create and delete actions
  GET /INDEX/_count, GET|POST /INDEX/_search (match_all, size, from),
  GET|HEAD /INDEX/_doc/ID, GET /INDEX/_mapping, GET /_cat/indices,
  GET /_cluster/health         read-back; INDEX may be a,b or a pattern with *
  /_test/...                   the control endpoint (below; never authenticated,
                               never counted, never faulted)

What the bulk endpoint checks, as ES 8 / OpenSearch 2 do
(../../../shared/reference/sinks-contract.md A1-A3):
  - Content-Type application/x-ndjson or application/json (ES 8 also takes
    its vnd.elasticsearch+x-ndjson form); anything else or none: 406 with
    ES's plain-string error ({"error":"Content-Type header [..] is not
    supported","status":406}).
  - Content-Encoding gzip or deflate is decoded; a body that does not decode
    is a 400.
  - The body must end with "\\n" (400 illegal_argument_exception "The bulk
    request must be terminated by a newline [\\n]"); "\\r\\n" is allowed.
  - Each action line is one JSON object with one key (index, create, update,
    delete) whose value is an object of known metadata; `_type` is refused
    (400 "Action/metadata line [N] contains an unknown parameter [_type]")
    except on ES 7.x and OpenSearch 1.x, where items then carry
    "_type":"_doc". Malformed JSON: 400 x_content_parse_exception; a wrong
    shape or unknown action: 400 illegal_argument_exception "Malformed
    action/metadata line [N] ...". No index in the line nor the URL: 400
    action_request_validation_exception "index is missing". An empty `_id`
    or one over 512 bytes: 400 action_request_validation_exception.
    These are whole-request errors: nothing in the request is indexed.
  - Items: `create` of a new id 201 "created", of an existing id 409
    version_conflict_engine_exception; `index` 201 "created" or 200
    "updated"; `delete` 200 "deleted" or 404 "not_found" (not an error);
    no `_id`: the server assigns a 20-character one as ES does. An invalid
    index name (upper case, a character ES forbids, a leading - _ +):
    item 400 invalid_index_name_exception.
  - A source that is not one JSON object (not JSON, an array, a string,
    trailing bytes, a duplicate key): item 400 "failed to parse", typed
    document_parsing_exception on Elasticsearch >= 8 and
    mapper_parsing_exception on ES 7 and OpenSearch (what each names it).
  - Dynamic mapping: the first value seen for each field (nested objects'
    fields too, as dotted paths) fixes its type in that index: a string
    maps to text, an integer to long, a fraction to float, true/false to
    boolean, an object to object; an array maps to its elements' type;
    null and [] map nothing. A later value is checked as ES coerces it:
    text takes any scalar; long/float take numbers and numeric strings;
    boolean takes true/false and "true"/"false"; object takes only objects;
    a scalar field given an object fails too. A failure is an item 400
    (the parsing exception above, "failed to parse field [f] of type [t]
    ..." or "object mapping for [f] tried to parse field [f] as object, but
    found a concrete value"). mapping="strict" makes any change of JSON kind
    (string / number / boolean / object) a conflict instead.
  - The response: {"took","errors","items":[{ACTION:{"_index","_id",
    "_version","result","_shards","_seq_no","_primary_term","status"}} or
    {ACTION:{"_index","_id","status","error":{"type","reason",...}}}]} in
    request order, HTTP 200 even when items fail; `filter_path` (includes,
    * and ** wildcards, -excludes) is applied to every JSON answer as ES
    does: an object or array left empty is dropped, so
    filter_path=items.*.error loses the successful items and
    filter_path=errors,items.*.status,items.*.error keeps them aligned.

Faults (Python API below, or POST /_test/faults with the same names as
JSON; all thread-safe, all undone by clear_faults()):
  fail_items(status, count=None, marker=None, type=None, reason=None)
      items (index/create/delete that would otherwise be tried) fail with
      <status>: 429 es_rejected_execution_exception, 503
      unavailable_shards_exception, 500 exception, 400 the parsing
      exception, 403 cluster_block_exception, 404 index_not_found_exception
      (or <type>/<reason>). With <marker> (bytes or str) only items whose
      source line contains it; <count> such items, then the rule is spent
      (None: forever). A failed item is not indexed.
  fail_requests(status, count=1, path="_bulk", body=None)
      the next <count> requests whose path contains <path> get <status>
      (429, 500, 502, 503, 504, 413 ...) before anything is indexed, with
      the error body ES gives for it (or <body>).
  max_content_length = N
      a request body (on the wire, before gzip is undone, as Amazon
      OpenSearch Service measures it) over N bytes gets 413 and no items.
      Elasticsearch flavor: an empty 413 as ES's HTTP layer sends; opensearch
      flavor: Amazon's {"Message":"Request size exceeded N bytes"}. An
      `Expect: 100-continue` request whose Content-Length is over the limit
      is answered 413 at once and the connection closed, as ES's Netty does.
  slow(seconds, count=None, path="_bulk")
      the next <count> matching requests are answered <seconds> late. The
      bulk is processed first, as a real cluster goes on indexing after a
      client gives up: a client that times out and retries then meets 409s.

Authentication (auth= in the constructor, or set_auth(...); POST
/_test/auth {"mode": ..., ...}): every path but /_test/ is checked.
  ("basic", user, password)    Authorization: Basic base64(user:password)
  ("apikey", id, key)          Authorization: ApiKey base64(id:key) (the
                               `encoded` form Elasticsearch hands out)
  ("sigv4", access_key, secret, region, service)   service "es" or "aoss";
                               AWS SigV4 header form, verified here in Python
                               (see sigv4_refusal)
Refusals: Elasticsearch 401 {"error":{"root_cause":[...],"type":
"security_exception","reason":...,"header":{"WWW-Authenticate":[...]}},
"status":401} with WWW-Authenticate; OpenSearch's security plugin 401 with
the text body "Unauthorized"; SigV4 403 {"message": ...} as Amazon
OpenSearch Service answers (a signature that does not match, a key it does
not know, a date more than 5 minutes off, the wrong region or service, an
x-amz-content-sha256 that is not the body's hash, or missing for aoss).
ApiKey is Elastic's: with flavor opensearch it is never accepted.

Why SigV4 is checked in Python and not by tests/tools/sigv4_proxy.c (the
project's C verifier) in front: that proxy is S3's front, with service "s3"
and S3's URI rules fixed in its code, S3's XML errors and S3's Content-MD5
and conditional-write handling; it refuses a request signed for "es". The
checks here follow AWS's rules for every service but S3 (path normalised and
encoded twice, query names and values re-encoded and sorted), the same as
aws_sigv4.c with s3_uri = 0, and test_es_server.py checks them against
requests signed by botocore, so the sink's C signer is verified by an
implementation independent of it.

Read-back, counters (all return copies, thread-safe):
  store()                 {index: {id: source bytes exactly as received}}
  docs(index), doc(index, id), indices(), mappings(index)
  stats()                 {"requests": {(path, status): n}, "items":
                          {(action, status): n}, "bytes_received": n,
                          "bytes_decoded": n}; path is the route's shape,
                          "/", "/_bulk", "/{index}/_bulk", "/{index}/_count"...
  count_requests(path=None, status=None), count_items(action=None, status=None)
  requests()              every request seen: method, path, query, headers,
                          status, body (decoded, if keep_bodies) ...
  reset()                 empties the store, counters and log, clears faults

Control endpoint (for a server in another process, e.g. under make bench):
  POST /_test/faults  {"items":[{"status":429,"count":3,"marker":"X"}],
                       "requests":[{"status":503,"count":2}],
                       "max_content_length":1048576,
                       "slow":{"seconds":0.5,"count":1}, "clear":true}
  POST /_test/auth    {"mode":"basic","user":..,"password":..} | {"mode":"none"}
  GET  /_test/stats   counters as JSON ("PATH STATUS" / "ACTION STATUS" keys)
  GET  /_test/store   {index: {id: source as a string}}
  POST /_test/reset

Simplified on purpose (so a test that needs one of these knows):
  - One node, one shard, no replicas (health "yellow" like a real one-node
    cluster with replicas configured); documents are visible at once, as if
    every bulk had refresh=true (real _search/_count lag up to 1 s behind
    indexing unless refresh is asked for; GET _doc is real-time anyway).
  - `update` actions are refused (400 for the request: not implemented);
    routing, pipeline, if_seq_no/if_primary_term, version, require_alias
    and dynamic_templates are accepted and ignored; URL parameters other
    than filter_path are ignored (refresh, timeout, wait_for_active_shards).
  - _search knows match_all only, with size and from; no sorting or
    aggregations; hits come in indexing order with _score 1.0.
  - Dynamic mapping is per the rules above, without date detection,
    numeric detection, ignore_malformed or the 1000-field limit.
  - ES 6.x (`_type` required) is not modelled.
  - Errors carry type, reason, and index/shard/index_uuid where ES puts
    them; stack traces, caused_by chains and root_cause detail are partial.
  - The 413 limit applies to the wire size; Elasticsearch's
    http.max_content_length counts the decoded body.
"""
import argparse
import ssl
import base64
import calendar
import fnmatch
import gzip
import hashlib
import hmac
import json
import math
import os
import posixpath
import re
import sys
import threading
import time
import urllib.parse
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ES_VERSION = "8.15.0"
OS_VERSION = "2.15.0"
MAX_ID_BYTES = 512
SIGV4_MAX_SKEW_S = 300

ACTIONS = ("create", "delete", "index", "update")
# Action metadata ES 8 knows (BulkRequestParser); anything else is refused.
KNOWN_META = {"_index", "_id", "routing", "version", "version_type", "if_seq_no",
              "if_primary_term", "pipeline", "require_alias", "require_data_stream",
              "dynamic_templates", "retry_on_conflict", "_source", "list_executed_pipelines"}
BAD_INDEX_CHARS = set('\\/*?"<>| ,#:')

# status -> (error type, reason) for injected item failures
ITEM_FAULTS = {
    429: ("es_rejected_execution_exception",
          "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, "
          "replica_bytes=0, all_bytes=0, coordinating_operation_bytes=0, "
          "max_coordinating_and_primary_bytes=0]"),
    503: ("unavailable_shards_exception",
          "[{index}][0] primary shard is not active Timeout: [1m]"),
    500: ("exception", "injected failure"),
    403: ("cluster_block_exception",
          "index [{index}] blocked by: [FORBIDDEN/8/index write (api)];"),
    404: ("index_not_found_exception", "no such index [{index}]"),
}
REQUEST_FAULTS = {
    429: ("es_rejected_execution_exception",
          "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, "
          "replica_bytes=0, all_bytes=0, coordinating_operation_bytes=0, "
          "max_coordinating_and_primary_bytes=0]"),
    500: ("exception", "injected failure"),
    503: ("master_not_discovered_exception", None),
    504: ("process_cluster_event_timeout_exception",
          "failed to process cluster event (put-mapping) within 30s"),
}


class BadRequest(Exception):
    """A whole-request error: status, the error object (or a string)."""

    def __init__(self, status, etype, reason=None, extra=None):
        super().__init__(reason)
        self.status, self.etype, self.reason, self.extra = status, etype, reason, extra or {}


def es_error(status, etype, reason, **extra):
    """ES's whole-request error body."""
    cause = {"type": etype, "reason": reason}
    cause.update(extra)
    err = {"root_cause": [dict(cause)]}
    err.update(cause)
    return {"error": err, "status": status}


# -- filter_path ----------------------------------------------------------------

_MISSING = object()


def _split_paths(spec):
    inc, exc = [], []
    for p in spec.split(","):
        p = p.strip()
        if not p:
            continue
        (exc if p.startswith("-") else inc).append(p.lstrip("-").split("."))
    return inc, exc


def _expand(patterns):
    """"**" matches zero levels too: add each pattern without its leading **."""
    out, todo = [], list(patterns)
    while todo:
        p = todo.pop()
        out.append(p)
        if p and p[0] == "**":
            todo.append(p[1:])
    return out


def _below(pats, key):
    """The patterns that apply below member <key>: a "**" stays, a
    matching first step is taken off."""
    sub = []
    for p in pats:
        if not p:
            continue
        if p[0] == "**":
            sub.append(p)
        elif fnmatch.fnmatchcase(key, p[0]):
            sub.append(p[1:])
    return sub


def _include(value, patterns):
    if any(len(p) == 0 for p in patterns):
        return value
    if isinstance(value, list):
        kept = [v for v in (_include(x, patterns) for x in value) if v is not _MISSING]
        return kept if kept else _MISSING
    if not isinstance(value, dict):
        return _MISSING
    pats = _expand(patterns)
    out = {}
    for k, v in value.items():
        sub = _below(pats, k)
        if sub:
            r = _include(v, sub)
            if r is not _MISSING:
                out[k] = r
    return out if out else _MISSING


def _exclude(value, patterns):
    if any(len(p) == 0 for p in patterns):
        return _MISSING
    if isinstance(value, list):
        return [v for v in (_exclude(x, patterns) for x in value) if v is not _MISSING]
    if not isinstance(value, dict):
        return value
    pats = _expand(patterns)
    out = {}
    for k, v in value.items():
        sub = _below(pats, k)
        r = _exclude(v, sub) if sub else v
        if r is not _MISSING:
            out[k] = r
    return out


def apply_filter_path(value, spec):
    """ES's filter_path: includes first, then excludes; what matches nothing is
    dropped, an answer left empty is {}."""
    inc, exc = _split_paths(spec)
    if inc:
        value = _include(value, inc)
    if exc and value is not _MISSING:
        value = _exclude(value, exc)
    return {} if value is _MISSING else value


# -- dynamic mapping ------------------------------------------------------------

def _kind(v):
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "long"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "text"
    if isinstance(v, dict):
        return "object"
    return None                                 # None: maps nothing


def _coerces(ftype, v):
    """Whether a field mapped as <ftype> takes the scalar <v> (ES's coercion)."""
    if ftype == "text":
        return True
    if ftype in ("long", "float"):
        if isinstance(v, bool):
            return False
        if isinstance(v, (int, float)):
            return True
        try:                                    # coerce: "12", "1.5" (truncated for long)
            return math.isfinite(float(v))
        except (TypeError, ValueError):
            return False
    if ftype == "boolean":
        return isinstance(v, bool) or v in ("true", "false", "")
    return False


class MappingError(Exception):
    pass


def _map_fields(doc, mapping, new, strict, prefix=""):
    """Checks <doc>'s fields against <mapping> (path -> type), adding new
    fields to <new>. Raises MappingError with ES's reason."""
    for k, v in doc.items():
        path = prefix + k
        values = list(v) if isinstance(v, list) else [v]
        for x in values:
            if isinstance(x, list):                  # arrays of arrays flatten in ES
                values.extend(x)
                continue
            kind = _kind(x)
            if kind is None:
                continue
            have = mapping.get(path) or new.get(path)
            if have is None:
                new[path] = kind
                have = kind
            elif have == "object" and kind != "object":
                raise MappingError("object mapping for [%s] tried to parse field [%s] as object, "
                                   "but found a concrete value" % (path, k))
            elif kind == "object" and have != "object":
                raise MappingError("failed to parse field [%s] of type [%s] in document. "
                                   "Preview of field's value: '%s'"
                                   % (path, have, json.dumps(x)[:40]))
            elif kind != "object":
                ok = (kind == have or (kind in ("long", "float") and have in ("long", "float"))) \
                    if strict else _coerces(have, x)
                if not ok:
                    raise MappingError("failed to parse field [%s] of type [%s] in document. "
                                       "Preview of field's value: '%s'" % (path, have, x))
            if kind == "object":
                _map_fields(x, mapping, new, strict, path + ".")


def _token(v):
    """The Jackson token ES names for a JSON value."""
    if isinstance(v, dict):
        return "FIELD_NAME" if len(v) > 1 else "START_OBJECT"
    if isinstance(v, list):
        return "START_ARRAY"
    if isinstance(v, bool):
        return "VALUE_BOOLEAN"
    if isinstance(v, (int, float)):
        return "VALUE_NUMBER"
    return "VALUE_STRING" if isinstance(v, str) else "VALUE_NULL"


def _no_dup_keys(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError("Duplicate field '%s'" % k)
        d[k] = v
    return d


def _valid_index(name):
    if not name or name != name.lower():
        return "must be lowercase"
    if name in (".", ".."):
        return "must not be '.' or '..'"
    if name[0] in "-_+":
        return "must not start with '_', '-', or '+'"
    if any(c in BAD_INDEX_CHARS for c in name):
        return "must not contain the following characters [ , \", *, \\, <, |, ?, /, >, #, :]"
    if len(name.encode()) > 255:
        return "index name is too long, (%d > 255)" % len(name.encode())
    return None


def new_id():
    """A 20-character id like ES's auto-generated ones (URL-safe base64)."""
    return base64.urlsafe_b64encode(os.urandom(15)).decode("ascii")


# -- SigV4 ----------------------------------------------------------------------

def _uri_encode(s, safe="-_.~"):
    return urllib.parse.quote(s, safe=safe)


def _canonical_uri(path):
    """Every service but S3: the wire path normalised, then encoded again."""
    if not path:
        return "/"
    norm = posixpath.normpath(path)
    norm = re.sub("/+", "/", norm)
    if path.endswith("/") and norm != "/":
        norm += "/"
    if not norm.startswith("/"):
        norm = "/" + norm
    return _uri_encode(norm, safe="/-_.~")


def _canonical_query(query):
    if not query:
        return ""
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        k, _, v = part.partition("=")
        pairs.append((_uri_encode(urllib.parse.unquote(k)), _uri_encode(urllib.parse.unquote(v))))
    pairs.sort()
    return "&".join("%s=%s" % kv for kv in pairs)


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


AUTHZ_RE = re.compile(r"^AWS4-HMAC-SHA256 +Credential=([^,]+), *SignedHeaders=([^,]+), "
                      r"*Signature=([0-9a-f]{64})$")


def sigv4_refusal(cfg, method, path, query, headers, body, now=None):
    """None if the request is signed for <cfg> (access_key, secret, region,
    service); else the message Amazon OpenSearch Service answers with.
    <headers>: list of (name, value) as received; <body>: the wire body."""
    now = time.time() if now is None else now
    values = {}
    for n, v in headers:
        values.setdefault(n.lower(), []).append(v)
    authz = values.get("authorization")
    if not authz:
        return ("User: anonymous is not authorized to perform: es:ESHttp%s"
                % method.capitalize())
    m = AUTHZ_RE.match(authz[0].strip())
    if len(authz) != 1 or not m:
        return ("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
                "parameters. Authorization=%s" % authz[0][:80])
    cred, signed, sig = m.groups()
    parts = cred.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        return "Credential should be scoped to a valid region."
    key, day, region, service = parts[:4]
    if key != cfg["access_key"]:
        return "The security token included in the request is invalid."
    if region != cfg["region"]:
        return "Credential should be scoped to a valid region. "
    if service != cfg["service"]:
        return "Credential should be scoped to correct service: '%s'. " % cfg["service"]
    amzdate = (values.get("x-amz-date") or [""])[0]
    try:
        t = calendar.timegm(time.strptime(amzdate, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        return ("Authorization header requires existence of either a 'X-Amz-Date' or a "
                "'Date' header.")
    if amzdate[:8] != day:
        return ("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                "date from HTTP")
    if abs(now - t) > SIGV4_MAX_SKEW_S:
        return ("Signature expired: %s is now earlier than %s (%s - 5 min.)" % (
            amzdate, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now - SIGV4_MAX_SKEW_S)),
            time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))))
    names = signed.split(";")
    if "host" not in names or "x-amz-date" not in names:
        return "Signed headers must include host and x-amz-date"
    body_hash = hashlib.sha256(body).hexdigest()
    claimed = values.get("x-amz-content-sha256")
    if claimed:
        if claimed[0] != body_hash:
            return ("The provided 'x-amz-content-sha256' header does not match what was "
                    "computed.")
    elif service == "aoss":
        return "Request must include the x-amz-content-sha256 header (OpenSearch Serverless)"
    canon_headers = ""
    for n in names:
        if n not in values:
            return "Signed header %s is missing" % n
        canon_headers += "%s:%s\n" % (n, ",".join(" ".join(v.split()) for v in values[n]))
    creq = "\n".join([method, _canonical_uri(path), _canonical_query(query), canon_headers,
                      signed, claimed[0] if claimed else body_hash])
    scope = "/".join(parts[1:])
    sts = "\n".join(["AWS4-HMAC-SHA256", amzdate, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    k = _hmac(("AWS4" + cfg["secret"]).encode(), day)
    for p in (region, service, "aws4_request"):
        k = _hmac(k, p)
    want = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, sig):
        return ("The request signature we calculated does not match the signature you "
                "provided. Check your AWS Secret Access Key and signing method. Consult the "
                "service documentation for details.")
    return None


# -- the server's state ---------------------------------------------------------

class _Index:
    def __init__(self, name):
        self.name = name
        self.uuid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()[:22]
        self.docs = {}          # id -> [source bytes or None, version, seq_no]
        self.order = []         # ids in first-indexed order (for _search)
        self.mapping = {}       # dotted field path -> type
        self.seq_no = 0


class EsServer:
    """A ThreadingHTTPServer on 127.0.0.1 (a free port unless <port>), in a
    daemon thread. <auth>: None or a tuple (see set_auth). keep_log: keep
    every request in requests(); keep_bodies: with each one's decoded body;
    keep_sources: keep documents' bytes (False: only ids, for benchmarks).
    compress_responses: gzip answers to clients that accept it, as
    http.compression does. Locking: one lock guards the store, the faults,
    the counters and the log; a bulk request holds it while its items run,
    so items of concurrent requests never interleave within one request."""

    def __init__(self, flavor="elasticsearch", version=None, port=0, auth=None,
                 max_content_length=None, mapping="es", keep_bodies=True, keep_sources=True,
                 keep_log=True, compress_responses=False, host="127.0.0.1", tls=None):
        if flavor not in ("elasticsearch", "opensearch"):
            raise ValueError("flavor: elasticsearch or opensearch")
        if mapping not in ("es", "strict"):
            raise ValueError("mapping: es or strict")
        self.flavor = flavor
        self.version = version or (ES_VERSION if flavor == "elasticsearch" else OS_VERSION)
        self.major = int(self.version.split(".")[0])
        self.mapping_mode = mapping
        self.keep_bodies, self.keep_sources, self.keep_log = keep_bodies, keep_sources, keep_log
        self.compress_responses = compress_responses
        self._lock = threading.Lock()
        self._indices = {}
        self._log = []
        self._req_counts = {}
        self._item_counts = {}
        self._bytes = [0, 0]
        self._auth = None
        self._item_rules = []
        self._req_rules = []
        self._slow_rules = []
        self.max_content_length = max_content_length
        if auth:
            self.set_auth(*auth)
        self.cluster_uuid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()[:22]
        self.httpd = _Server((host, port), _Handler)
        self.httpd.owner = self
        if tls:                      # (certificate file, key file): HTTPS
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.endpoint = "%s://%s:%d" % ("https" if tls else "http", host, self.port)
        self.url = self.endpoint
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    # -- life ----------------------------------------------------------------

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- configuration -------------------------------------------------------

    def set_auth(self, mode=None, *args, **kw):
        """set_auth() or set_auth("none"): no checks; set_auth("basic", user,
        password); set_auth("apikey", id, key); set_auth("sigv4",
        access_key, secret, region="us-east-1", service="es")."""
        names = {"basic": ("user", "password"), "apikey": ("id", "key"),
                 "sigv4": ("access_key", "secret", "region", "service")}
        if mode in (None, "none"):
            cfg = None
        elif mode in names:
            cfg = dict(zip(names[mode], args))
            cfg.update(kw)
            if mode == "sigv4":
                cfg.setdefault("region", "us-east-1")
                cfg.setdefault("service", "es")
                if cfg["service"] not in ("es", "aoss"):
                    raise ValueError("sigv4 service: es or aoss")
            missing = [n for n in names[mode] if n not in cfg]
            if missing:
                raise ValueError("set_auth(%s): missing %s" % (mode, ", ".join(missing)))
            cfg["mode"] = mode
        else:
            raise ValueError("auth mode: none, basic, apikey or sigv4")
        with self._lock:
            self._auth = cfg

    def fail_items(self, status, count=None, marker=None, type=None, reason=None):
        if isinstance(marker, str):
            marker = marker.encode()
        with self._lock:
            self._item_rules.append({"status": int(status), "count": count, "marker": marker,
                                     "type": type, "reason": reason})

    def fail_requests(self, status, count=1, path="_bulk", body=None):
        with self._lock:
            self._req_rules.append({"status": int(status), "count": count, "path": path,
                                    "body": body})

    def slow(self, seconds, count=None, path="_bulk"):
        with self._lock:
            self._slow_rules.append({"seconds": float(seconds), "count": count, "path": path})

    def clear_faults(self):
        with self._lock:
            self._item_rules, self._req_rules, self._slow_rules = [], [], []
            self.max_content_length = None

    def reset(self):
        """Empties the store, the counters and the request log; clears faults."""
        self.clear_faults()
        with self._lock:
            self._indices, self._log = {}, []
            self._req_counts, self._item_counts, self._bytes = {}, {}, [0, 0]

    # -- read-back -----------------------------------------------------------

    def store(self):
        """{index: {id: source bytes}} (bytes None when keep_sources=False)."""
        with self._lock:
            return {n: {i: d[0] for i, d in ix.docs.items()} for n, ix in self._indices.items()}

    def docs(self, index):
        with self._lock:
            ix = self._indices.get(index)
            return {} if ix is None else {i: d[0] for i, d in ix.docs.items()}

    def doc(self, index, doc_id):
        with self._lock:
            ix = self._indices.get(index)
            d = ix.docs.get(doc_id) if ix else None
            return None if d is None else d[0]

    def indices(self):
        with self._lock:
            return sorted(self._indices)

    def mappings(self, index):
        with self._lock:
            ix = self._indices.get(index)
            return {} if ix is None else dict(ix.mapping)

    def stats(self):
        with self._lock:
            return {"requests": dict(self._req_counts), "items": dict(self._item_counts),
                    "bytes_received": self._bytes[0], "bytes_decoded": self._bytes[1]}

    def count_requests(self, path=None, status=None):
        """Requests answered, by route shape (a suffix matches: "_bulk" counts
        /_bulk and /{index}/_bulk) and status."""
        with self._lock:
            return sum(n for (p, s), n in self._req_counts.items()
                       if (path is None or p == path or p.endswith("/" + path.lstrip("/")))
                       and (status is None or s == status))

    def count_items(self, action=None, status=None):
        with self._lock:
            return sum(n for (a, s), n in self._item_counts.items()
                       if (action is None or a == action) and (status is None or s == status))

    def requests(self):
        with self._lock:
            return list(self._log)

    # -- internals -----------------------------------------------------------

    def _take_rule(self, rules, pred):
        """The first rule <pred> accepts, its count used once (lock held)."""
        for r in rules:
            if r["count"] is not None and r["count"] <= 0:
                continue
            if pred(r):
                if r["count"] is not None:
                    r["count"] -= 1
                return r
        return None

    def _record(self, entry, route, status):
        with self._lock:
            if self.keep_log:
                self._log.append(entry)
            k = (route, status)
            self._req_counts[k] = self._req_counts.get(k, 0) + 1

    def _banner(self):
        if self.flavor == "elasticsearch":
            return {"name": "es-double", "cluster_name": "sluice-test",
                    "cluster_uuid": self.cluster_uuid,
                    "version": {"number": self.version, "build_flavor": "default",
                                "build_type": "tar", "build_hash": "0" * 40,
                                "build_date": "2024-08-05T10:05:34.233336849Z",
                                "build_snapshot": False, "lucene_version": "9.11.1",
                                "minimum_wire_compatibility_version": "7.17.0",
                                "minimum_index_compatibility_version": "7.0.0"},
                    "tagline": "You Know, for Search"}
        return {"name": "os-double", "cluster_name": "sluice-test",
                "cluster_uuid": self.cluster_uuid,
                "version": {"distribution": "opensearch", "number": self.version,
                            "build_type": "tar", "build_hash": "0" * 40,
                            "build_date": "2024-07-02T08:53:29.244049454Z",
                            "build_snapshot": False, "lucene_version": "9.10.0",
                            "minimum_wire_compatibility_version": "7.10.0",
                            "minimum_index_compatibility_version": "7.0.0"},
                "tagline": "The OpenSearch Project: https://opensearch.org/"}

    def _types_allowed(self):
        return (self.flavor == "elasticsearch" and self.major < 8) or \
            (self.flavor == "opensearch" and self.major < 2)

    def _parse_error_type(self):
        return "document_parsing_exception" if (self.flavor == "elasticsearch"
                                                and self.major >= 8) else \
            "mapper_parsing_exception"

    def _check_auth(self, req):
        """None if allowed, else (status, headers, body)."""
        with self._lock:
            cfg = self._auth
        if cfg is None:
            return None
        authz = req.header("authorization") or ""
        mode = cfg["mode"]
        if mode == "sigv4":
            why = sigv4_refusal(cfg, req.method, req.path, req.query, req.header_list,
                                req.raw_body)
            return None if why is None else (403, {}, {"message": why})
        ok, who = False, None
        scheme, _, cred = authz.partition(" ")
        if scheme.lower() == "basic" and mode == "basic":
            try:
                user, _, pw = base64.b64decode(cred.strip(), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user, pw = None, None
            who = user
            ok = user == cfg["user"] and pw == cfg["password"]
        elif scheme.lower() == "apikey" and mode == "apikey" and self.flavor == "elasticsearch":
            try:
                kid, _, key = base64.b64decode(cred.strip(), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                kid, key = None, None
            ok = kid == cfg["id"] and key == cfg["key"]
        if ok:
            return None
        if self.flavor == "opensearch":
            return (401, {"WWW-Authenticate": 'Basic realm="OpenSearch Security"',
                          "Content-Type": "text/plain; charset=UTF-8"}, b"Unauthorized")
        challenge = ['Basic realm="security", charset="UTF-8"', 'Bearer realm="security"',
                     "ApiKey"]
        if not authz:
            reason = "missing authentication credentials for REST request [%s]" % req.target
        elif who is not None:
            reason = "unable to authenticate user [%s] for REST request [%s]" % (who, req.target)
        else:
            reason = ("unable to authenticate with provided credentials and anonymous access is "
                      "not allowed for this request")
        return (401, {"WWW-Authenticate": ", ".join(challenge)},
                es_error(401, "security_exception", reason,
                         header={"WWW-Authenticate": challenge}))

    # -- _bulk ---------------------------------------------------------------

    def _bulk(self, req, url_index):
        t0 = time.monotonic()
        ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
        if ctype not in ("application/x-ndjson", "application/json",
                         "application/vnd.elasticsearch+x-ndjson",
                         "application/vnd.elasticsearch+json"):
            raise BadRequest(406, "Content-Type header [%s] is not supported"
                             % (req.header("content-type") or ""))
        body = req.body
        if not body:
            raise BadRequest(400, "parse_exception", "request body is required")
        if not body.endswith(b"\n"):
            raise BadRequest(400, "illegal_argument_exception",
                             "The bulk request must be terminated by a newline [\\n]")
        lines = body.split(b"\n")[:-1]
        ops, i = [], 0
        while i < len(lines):
            line = lines[i].rstrip(b"\r")
            lineno = i + 1
            i += 1
            if not line.strip():
                continue
            try:
                act = json.loads(line, object_pairs_hook=_no_dup_keys)
            except ValueError as e:
                # ES parses each line on its own: positions are [1:column]
                raise BadRequest(400, "x_content_parse_exception", "[1:%d] %s (line [%d])"
                                 % (getattr(e, "colno", 1), getattr(e, "msg", e), lineno))
            if not isinstance(act, dict) or len(act) != 1:
                raise BadRequest(400, "illegal_argument_exception",
                                 "Malformed action/metadata line [%d], expected START_OBJECT or "
                                 "END_OBJECT but found [%s]" % (lineno, _token(act)))
            (action, meta), = act.items()
            if action not in ACTIONS:
                raise BadRequest(400, "illegal_argument_exception",
                                 "Malformed action/metadata line [%d], expected one of [create, "
                                 "delete, index, update] but found [%s]" % (lineno, action))
            if not isinstance(meta, dict):
                raise BadRequest(400, "illegal_argument_exception",
                                 "Malformed action/metadata line [%d], expected START_OBJECT but "
                                 "found [%s]" % (lineno, _token(meta)))
            for k in meta:
                if k == "_type" and self._types_allowed():
                    continue
                if k not in KNOWN_META:
                    raise BadRequest(400, "illegal_argument_exception",
                                     "Action/metadata line [%d] contains an unknown parameter "
                                     "[%s]" % (lineno, k))
            if action == "update":
                raise BadRequest(400, "illegal_argument_exception",
                                 "es_server.py: the update action is not implemented (line [%d])"
                                 % lineno)
            index = meta.get("_index", url_index)
            if not index:
                raise BadRequest(400, "action_request_validation_exception",
                                 "Validation Failed: 1: index is missing;")
            doc_id = meta.get("_id")
            if doc_id is not None:
                if isinstance(doc_id, (int, float)) and not isinstance(doc_id, bool):
                    doc_id = json.dumps(doc_id)
                if not isinstance(doc_id, str):
                    raise BadRequest(400, "illegal_argument_exception",
                                     "Malformed action/metadata line [%d], _id must be a string"
                                     % lineno)
                if doc_id == "":
                    raise BadRequest(400, "action_request_validation_exception",
                                     "Validation Failed: 1: if _id is specified it must not be "
                                     "empty;")
                if len(doc_id.encode()) > MAX_ID_BYTES:
                    raise BadRequest(400, "action_request_validation_exception",
                                     "Validation Failed: 1: id [%s] is too long, must be no longer "
                                     "than 512 bytes but was: %d;"
                                     % (doc_id, len(doc_id.encode())))
            elif action == "delete":
                raise BadRequest(400, "action_request_validation_exception",
                                 "Validation Failed: 1: id is missing;")
            source = None
            if action != "delete":
                if i >= len(lines):
                    raise BadRequest(400, "action_request_validation_exception",
                                     "Validation Failed: 1: source is missing;")
                source = lines[i]
                if source.endswith(b"\r"):
                    source = source[:-1]
                i += 1
            ops.append((action, str(index), doc_id, source, "_type" in meta))
        if not ops:
            raise BadRequest(400, "action_request_validation_exception",
                             "Validation Failed: 1: no requests added;")
        items = []
        with self._lock:
            for op in ops:
                items.append(self._item(*op))
        errors = any("error" in next(iter(it.values())) for it in items)
        return {"took": int((time.monotonic() - t0) * 1000), "errors": errors, "items": items}

    def _item(self, action, index, doc_id, source, typed):
        """One bulk item (lock held): its answer object."""
        head = {"_index": index, "_id": doc_id}
        if typed or self._types_allowed():
            head["_type"] = "_doc"

        def fail(status, etype, reason, **extra):
            ix = self._indices.get(index)
            r = dict(head)
            if r["_id"] is None:
                r["_id"] = new_id()
            r["status"] = status
            err = {"type": etype, "reason": reason}
            if ix is not None:
                err.update({"index_uuid": ix.uuid, "shard": "0", "index": index})
            err.update(extra)
            r["error"] = err
            self._count_item(action, status)
            return {action: r}

        bad = _valid_index(index)
        if bad:
            return fail(400, "invalid_index_name_exception",
                        "Invalid index name [%s], %s" % (index, bad), index=index)
        ix = self._indices.get(index)
        if ix is None:
            ix = self._indices[index] = _Index(index)
        rule = self._take_rule(self._item_rules,
                               lambda r: r["marker"] is None or
                               (source is not None and r["marker"] in source))
        if rule:
            st = rule["status"]
            etype, reason = ITEM_FAULTS.get(st, (None, None))
            if st == 400:
                etype, reason = self._parse_error_type(), "failed to parse (injected)"
            etype = rule["type"] or etype or "exception"
            reason = rule["reason"] or (reason or "injected failure").format(index=index)
            return fail(st, etype, reason)
        if action == "delete":
            d = ix.docs.pop(doc_id, None)
            ix.seq_no += 1
            r = dict(head, _version=(d[1] + 1) if d else 1,
                     result="deleted" if d else "not_found",
                     _shards={"total": 2, "successful": 1, "failed": 0},
                     _seq_no=ix.seq_no - 1, _primary_term=1, status=200 if d else 404)
            if d:
                ix.order.remove(doc_id)
            self._count_item(action, r["status"])
            return {action: r}
        ptype = self._parse_error_type()
        try:
            doc = json.loads(source, object_pairs_hook=_no_dup_keys)
        except (ValueError, UnicodeDecodeError) as e:
            return fail(400, ptype, "[1:1] failed to parse: %s" % e,
                        caused_by={"type": "x_content_parse_exception", "reason": str(e)})
        if not isinstance(doc, dict):
            return fail(400, ptype, "failed to parse",
                        caused_by={"type": "not_x_content_exception",
                                   "reason": "Compressor detection can only be called on some "
                                             "xcontent bytes or compressed xcontent bytes"})
        if doc_id is not None and doc_id in ix.docs and action == "create":
            cur = ix.docs[doc_id][1]
            return fail(409, "version_conflict_engine_exception",
                        "[%s]: version conflict, document already exists (current version [%d])"
                        % (doc_id, cur))
        new = {}
        try:
            _map_fields(doc, ix.mapping, new, self.mapping_mode == "strict")
        except MappingError as e:
            return fail(400, ptype, str(e))
        ix.mapping.update(new)
        if doc_id is None:
            doc_id = new_id()
            head["_id"] = doc_id
        old = ix.docs.get(doc_id)
        version = old[1] + 1 if old else 1
        ix.docs[doc_id] = [bytes(source) if self.keep_sources else None, version, ix.seq_no]
        if not old:
            ix.order.append(doc_id)
        status = 200 if old else 201
        r = dict(head, _version=version, result="updated" if old else "created",
                 _shards={"total": 2, "successful": 1, "failed": 0},
                 _seq_no=ix.seq_no, _primary_term=1, status=status)
        ix.seq_no += 1
        self._count_item(action, status)
        return {action: r}

    def _count_item(self, action, status):
        k = (action, status)
        self._item_counts[k] = self._item_counts.get(k, 0) + 1

    # -- read-back endpoints -------------------------------------------------

    def _resolve(self, expr):
        """Index names for <expr> (a,b, patterns, _all); raises 404 for a
        concrete name that does not exist."""
        out = []
        for part in expr.split(","):
            if part in ("_all", "*"):
                out.extend(sorted(self._indices))
            elif "*" in part:
                out.extend(n for n in sorted(self._indices) if fnmatch.fnmatchcase(n, part))
            elif part in self._indices:
                out.append(part)
            else:
                raise BadRequest(404, "index_not_found_exception", "no such index [%s]" % part,
                                 {"resource.type": "index_or_alias", "resource.id": part,
                                  "index_uuid": "_na_", "index": part})
        return list(dict.fromkeys(out))

    def _search(self, expr, req):
        params = req.params
        size, start = 10, 0
        if req.body:
            try:
                q = json.loads(req.body)
            except ValueError as e:
                raise BadRequest(400, "x_content_parse_exception", str(e))
            query = q.get("query", {"match_all": {}})
            if list(query) != ["match_all"]:
                raise BadRequest(400, "parsing_exception",
                                 "es_server.py knows only match_all, not %s" % list(query))
            size, start = int(q.get("size", size)), int(q.get("from", start))
        size = int(params.get("size", size))
        start = int(params.get("from", start))
        with self._lock:
            names = self._resolve(expr)
            hits = [(n, i, self._indices[n].docs[i][0]) for n in names
                    for i in self._indices[n].order]
        parts = []
        for n, i, src in hits[start:start + size]:
            parts.append(b'{"_index":' + json.dumps(n).encode() + b',"_id":' +
                         json.dumps(i).encode() + b',"_score":1.0,"_source":' +
                         (src if src is not None else b"{}") + b"}")
        head = json.dumps({"took": 1, "timed_out": False,
                           "_shards": {"total": len(names), "successful": len(names),
                                       "skipped": 0, "failed": 0}}, separators=(",", ":"))
        # raw sources spliced in: _source comes back byte for byte, as ES does
        return RawJson(head[:-1].encode() + b',"hits":{"total":{"value":' +
                str(len(hits)).encode() + b',"relation":"eq"},"max_score":' +
                (b"1.0" if hits else b"null") + b',"hits":[' + b",".join(parts) + b"]}}")

    def _get_doc(self, index, doc_id):
        with self._lock:
            ix = self._indices.get(index)
            if ix is None:
                raise BadRequest(404, "index_not_found_exception", "no such index [%s]" % index,
                                 {"index": index, "index_uuid": "_na_"})
            d = ix.docs.get(doc_id)
        head = {"_index": index, "_id": doc_id}
        if d is None:
            return 404, dict(head, found=False)
        meta = dict(head, _version=d[1], _seq_no=d[2], _primary_term=1, found=True)
        return 200, RawJson(json.dumps(meta, separators=(",", ":"))[:-1].encode() + b',"_source":' +
                            (d[0] if d[0] is not None else b"{}") + b"}")

    def _cat_indices(self, req):
        with self._lock:
            rows = [{"health": "yellow", "status": "open", "index": n, "uuid": ix.uuid,
                     "pri": "1", "rep": "1", "docs.count": str(len(ix.docs)),
                     "docs.deleted": "0",
                     "store.size": "%db" % sum(len(d[0] or b"") for d in ix.docs.values()),
                     "pri.store.size": "%db" % sum(len(d[0] or b"") for d in ix.docs.values())}
                    for n, ix in sorted(self._indices.items())]
        if req.params.get("format") == "json":
            return rows
        return "".join(" ".join(r[k] for k in ("health", "status", "index", "uuid", "pri", "rep",
                                               "docs.count", "docs.deleted", "store.size",
                                               "pri.store.size")) + "\n" for r in rows)

    # -- control endpoint ----------------------------------------------------

    def _control(self, req):
        what = req.path[len("/_test/"):]
        if what == "stats":
            s = self.stats()
            return 200, {"requests": {"%s %d" % k: n for k, n in s["requests"].items()},
                         "items": {"%s %d" % k: n for k, n in s["items"].items()},
                         "bytes_received": s["bytes_received"],
                         "bytes_decoded": s["bytes_decoded"]}
        if what == "store":
            return 200, {n: {i: (v.decode("utf-8", "replace") if v is not None else None)
                             for i, v in docs.items()} for n, docs in self.store().items()}
        if what == "reset" and req.method == "POST":
            self.reset()
            return 200, {"acknowledged": True}
        try:
            spec = json.loads(req.body or b"{}")
        except ValueError as e:
            return 400, {"error": "not JSON: %s" % e}
        try:
            if what == "faults" and req.method == "POST":
                if spec.get("clear"):
                    self.clear_faults()
                for r in spec.get("items", []):
                    self.fail_items(**r)
                for r in spec.get("requests", []):
                    self.fail_requests(**r)
                if "max_content_length" in spec:
                    self.max_content_length = spec["max_content_length"]
                if spec.get("slow"):
                    self.slow(**spec["slow"])
                return 200, {"acknowledged": True}
            if what == "auth" and req.method == "POST":
                mode = spec.pop("mode", None)
                self.set_auth(mode, **spec)
                return 200, {"acknowledged": True}
        except (TypeError, ValueError) as e:
            return 400, {"error": str(e)}
        return 404, {"error": "unknown control request %s %s" % (req.method, req.path)}

    # -- dispatch ------------------------------------------------------------

    def _route(self, req):
        """(status, headers, body) for an authenticated request."""
        segs = [urllib.parse.unquote(s) for s in req.path.split("/")[1:]]
        if segs and segs[-1] == "":
            segs = segs[:-1]
        m = req.method
        if not segs:
            if m in ("GET", "HEAD"):
                return 200, {}, self._banner()
        elif segs == ["_bulk"] and m in ("POST", "PUT"):
            return 200, {}, self._bulk(req, None)
        elif len(segs) == 2 and segs[1] == "_bulk" and m in ("POST", "PUT"):
            return 200, {}, self._bulk(req, segs[0])
        elif len(segs) == 2 and segs[1] == "_count" and m in ("GET", "POST"):
            with self._lock:
                names = self._resolve(segs[0])
                n = sum(len(self._indices[x].docs) for x in names)
            return 200, {}, {
                "count": n, "_shards": {"total": len(names), "successful": len(names),
                                        "skipped": 0, "failed": 0}}
        elif segs in (["_count"],) and m in ("GET", "POST"):
            with self._lock:
                n = sum(len(ix.docs) for ix in self._indices.values())
            return 200, {}, {"count": n}
        elif len(segs) <= 2 and segs[-1] == "_search" and m in ("GET", "POST"):
            expr = segs[0] if len(segs) == 2 else "_all"
            return 200, {}, self._search(expr, req)
        elif len(segs) == 3 and segs[1] == "_doc" and m in ("GET", "HEAD"):
            st, body = self._get_doc(segs[0], segs[2])
            return st, {}, body
        elif len(segs) == 2 and segs[1] == "_mapping" and m == "GET":
            with self._lock:
                names = self._resolve(segs[0])
                out = {n: {"mappings": {"properties": _properties(self._indices[n].mapping)}}
                       for n in names}
            return 200, {}, out
        elif segs == ["_cat", "indices"] and m == "GET":
            return 200, {}, self._cat_indices(req)
        elif segs == ["_cluster", "health"] and m == "GET":
            with self._lock:
                n = len(self._indices)
            return 200, {}, {
                "cluster_name": "sluice-test", "status": "yellow" if n else "green",
                "timed_out": False, "number_of_nodes": 1, "number_of_data_nodes": 1,
                "active_primary_shards": n, "active_shards": n, "unassigned_shards": n}
        if segs and segs[-1] in ("_bulk", "_count", "_search", "_mapping", "_doc"):
            return 405, {"Allow": "GET,POST"}, {
                "error": "Incorrect HTTP method for uri [%s] and method [%s], allowed: [GET, POST]"
                % (req.target, m), "status": 405}
        return 400, {}, {"error": "no handler found for uri [%s] and method [%s]"
                                % (req.target, m)}


def route_shape(path):
    """The route a path takes, for the counters: "/", "/_bulk", "/{index}/_bulk",
    "/{index}/_doc/{id}", "/_cat/indices" ..."""
    segs = [x for x in path.split("/")[1:] if x]
    out = []
    for i, x in enumerate(segs):
        if x.startswith("_") or (i and segs[i - 1] in ("_cat", "_cluster", "_test")):
            out.append(x)
        else:
            out.append("{id}" if i and segs[i - 1] == "_doc" else "{index}")
    return "/" + "/".join(out)


def _properties(mapping):
    """ES's nested "properties" form of a dotted path -> type mapping."""
    out = {}
    for path in sorted(mapping):
        node, parts = out, path.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {"properties": {}})["properties"]
        t = mapping[path]
        if t == "object":
            node.setdefault(parts[-1], {"properties": {}})
        elif t == "text":
            node[parts[-1]] = {"type": "text",
                               "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}
        else:
            node[parts[-1]] = {"type": t}
    return out


# -- HTTP -----------------------------------------------------------------------

class _Request:
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"     # keep-alive: the sink reuses its connections
    server_version = "es-double"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    def send_response(self, code, message=None):
        self.send_response_only(code, message)      # ES sends no Server or Date header

    def handle_expect_100(self):
        srv = self.server.owner
        limit = srv.max_content_length
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = 0
        if limit is not None and n > limit and not self.path.startswith("/_test/"):
            self._answer413(srv, n)
            self.close_connection = True
            return False
        return super().handle_expect_100()

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(out)
                out.append(self.rfile.read(size))
                self.rfile.readline(3)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _answer413(self, srv, n):
        if srv.flavor == "opensearch":
            body = json.dumps({"Message": "Request size exceeded %d bytes"
                               % srv.max_content_length}).encode()
            headers = {"Content-Type": "application/json"}
        else:
            body, headers = b"", {}
        path = self.path.split("?")[0]
        srv._record({"method": self.command, "path": path, "status": 413, "body_len": n},
                    route_shape(path), 413)
        self._send(413, headers, body)

    def _send(self, status, headers, body):
        try:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:
            pass                                        # the client gave up (timeout)

    def _dispatch(self):
        srv = self.server.owner
        req = _Request()
        req.method = self.command
        req.target = self.path
        req.path, _, req.query = self.path.partition("?")
        req.params = dict(urllib.parse.parse_qsl(req.query, keep_blank_values=True))
        req.header_list = list(self.headers.items())
        req.header = lambda n: self.headers.get(n)
        try:
            req.raw_body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        if req.path.startswith("/_test/"):
            req.body = req.raw_body
            status, body = srv._control(req)
            self._send(status, {"Content-Type": "application/json"}, json.dumps(body).encode())
            return
        with srv._lock:
            srv._bytes[0] += len(req.raw_body)
            limit = srv.max_content_length
        if limit is not None and len(req.raw_body) > limit:
            self._answer413(srv, len(req.raw_body))
            return
        entry = {"method": req.method, "path": req.path, "query": req.query,
                 "headers": dict(req.header_list), "body_len": len(req.raw_body),
                 "time": time.monotonic()}
        headers = {}
        front = False                 # an answer from a front (AWS): no filter_path
        if srv.flavor == "elasticsearch" and srv.major >= 7:
            headers["X-Elastic-Product"] = "Elasticsearch"
        try:
            refused = srv._check_auth(req)
            if refused:
                status, h, body = refused
                front = status == 403
                headers.update(h)
                raise _Done(status, body)
            enc = (req.header("content-encoding") or "").strip().lower()
            try:
                if enc == "gzip":
                    req.body = gzip.decompress(req.raw_body)
                elif enc == "deflate":
                    req.body = zlib.decompress(req.raw_body)
                elif enc in ("", "identity"):
                    req.body = req.raw_body
                else:
                    raise BadRequest(400, "illegal_argument_exception",
                                     "unsupported Content-Encoding [%s]" % enc)
            except (OSError, EOFError, zlib.error) as e:
                raise BadRequest(400, "illegal_argument_exception",
                                 "failed to decompress the request body: %s" % e)
            with srv._lock:
                srv._bytes[1] += len(req.body)
                rule = srv._take_rule(srv._req_rules, lambda r: r["path"] in req.path)
                slow = srv._take_rule(srv._slow_rules, lambda r: r["path"] in req.path)
            if srv.keep_bodies:
                entry["body"] = req.body
            if rule:
                st = rule["status"]
                if rule["body"] is not None:
                    raise _Done(st, rule["body"])
                if st == 413:
                    raise _Done(st, b"" if srv.flavor == "elasticsearch" else {
                        "Message": "Request size exceeded %d bytes"
                        % (srv.max_content_length or 10485760)})
                if st == 502:                       # what a proxy in front answers
                    raise _Done(st, b"<html><body><h1>502 Bad Gateway</h1></body></html>")
                etype, reason = REQUEST_FAULTS.get(st, ("exception", "injected failure"))
                raise _Done(st, es_error(st, etype, reason))
            status, h, body = srv._route(req)
            headers.update(h)
            if slow:
                time.sleep(slow["seconds"])         # the behaviour under test
        except BadRequest as e:
            status = e.status
            if e.status == 406:
                body = {"error": e.etype, "status": 406}
            else:
                body = es_error(e.status, e.etype, e.reason, **e.extra)
        except _Done as d:
            status, body = d.status, d.body
        if isinstance(body, (dict, list)):
            if "filter_path" in req.params and not front:
                body = apply_filter_path(body, req.params["filter_path"])
            body = json.dumps(body, separators=(",", ":")).encode()
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
            headers.setdefault("Content-Type", "text/plain; charset=UTF-8")
        elif isinstance(body, RawJson) and "filter_path" in req.params:
            # raw spliced JSON (_search, _doc): filtered through a parse
            body = json.dumps(apply_filter_path(json.loads(body), req.params["filter_path"]),
                              separators=(",", ":")).encode()
            headers.setdefault("Content-Type", "application/json")
        else:
            headers.setdefault("Content-Type", "application/json")
        if srv.compress_responses and "gzip" in (self.headers.get("Accept-Encoding") or "") \
                and body:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        entry["status"] = status
        srv._record(entry, route_shape(req.path), status)
        self._send(status, headers, body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch


class RawJson(bytes):
    """A JSON answer built from raw bytes (document sources spliced in)."""


class _Done(Exception):
    def __init__(self, status, body):
        super().__init__(status)
        self.status, self.body = status, body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # a client hanging up (a timeout) is expected here
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def main(argv):
    ap = argparse.ArgumentParser(description="Elasticsearch/OpenSearch _bulk test double")
    ap.add_argument("--port", type=int, default=9200)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--flavor", choices=("elasticsearch", "opensearch"), default="elasticsearch")
    ap.add_argument("--version", help="version number to claim (default %s / %s)"
                    % (ES_VERSION, OS_VERSION))
    ap.add_argument("--basic", metavar="USER:PASSWORD")
    ap.add_argument("--api-key", metavar="ID:KEY")
    ap.add_argument("--sigv4", metavar="ACCESS_KEY:SECRET:REGION:SERVICE")
    ap.add_argument("--max-content-length", type=int)
    ap.add_argument("--mapping", choices=("es", "strict"), default="es")
    ap.add_argument("--no-sources", action="store_true",
                    help="keep only document ids, not their bytes (benchmarks)")
    a = ap.parse_args(argv)
    auth = None
    if a.basic:
        auth = ("basic",) + tuple(a.basic.split(":", 1))
    elif a.api_key:
        auth = ("apikey",) + tuple(a.api_key.split(":", 1))
    elif a.sigv4:
        auth = ("sigv4",) + tuple(a.sigv4.split(":", 3))
    srv = EsServer(flavor=a.flavor, version=a.version, port=a.port, auth=auth,
                   max_content_length=a.max_content_length, mapping=a.mapping,
                   keep_bodies=False, keep_log=False, keep_sources=not a.no_sources,
                   host=a.host)
    print("listening %s" % srv.endpoint, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
