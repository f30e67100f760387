/*
 * sink_es.c - sink = elasticsearch: records to Elasticsearch (6.x-9.x) or
 * OpenSearch (1.x-3.x) through the _bulk API, one answer per record.
 *
 * A batch (or a part the engine retries) becomes one or more _bulk
 * requests, each under es.max_bulk_size before compression: per record an
 * action line naming its index (es.index plus Firehose's rotation suffix
 * for the record's UTC arrival) and, with es.document_id = sluice, its
 * stable _id; then the record as the source line. A record that is not a
 * single-line JSON object (a trailing newline is dropped) is not sent: it
 * is answered FAIL, and goes to backup.
 *
 * What an answer means to the engine (sinks-contract.md A4):
 *   - item 200/201: OK ("created"); item 409 version_conflict on create:
 *     OK, it is there from an earlier attempt ("exists");
 *   - item 429, 5xx and 403 (a read-only index an operator may release):
 *     RETRY, those records alone ("retried");
 *   - any other item status (400 mapper_parsing_exception, 404 ...): FAIL,
 *     to backup ("failed");
 *   - the whole request: no answer, a timeout, 429, 5xx: RETRY of every
 *     record not yet answered, with the client's cause; 413: the request is
 *     cut in halves, down to one document (still 413: FAIL);
 *     400, 401, 403 and other 4xx: a configuration problem: RETRY (cause
 *     forbidden) so the engine backs off until retry_duration, logged at
 *     error level once per status until a request succeeds, and ready()
 *     says not ready meanwhile.
 *
 * Document ids (es.document_id = sluice): 20 characters, base64url of the
 * first 120 bits of SHA-256 over the stream's name and the record's
 * identity, which is, first that applies:
 *   - "seq", the log's sequence number of the record (durability = disk:
 *     its chunk is numbered): the same on every retry and after a crash
 *     and replay, whatever batches the replay forms;
 *   - "rec", the record's identity in the batch that numbered it
 *     (sl_batch_id_base: the sealed batch, or the stage's output for
 *     records a transform made) and its number there: the same on every
 *     retry, of the batch or of any part cut from it.
 * Sent with "create", a record indexed by an earlier attempt answers 409
 * and is counted as there, never indexed twice.
 *
 * Endpoints (es.endpoint, comma-separated) are used in turn; one that gave
 * no answer or a 5xx is skipped for ES_DOWN_MS unless all are.
 *
 * ready() answers from the outcome of the last request (a bulk or GET /);
 * it sends GET / itself only when nothing is known yet, or the last answer
 * was bad and ES_PROBE_MS have passed. GET / says flavor and version; one
 * that does not match es.flavor is logged at error level.
 *
 * Threads: deliver() on several workers at once, ready() on the metrics
 * thread: the clients are thread-safe; endpoint rotation, the ready state
 * and the once-per-status flags are atomics; <why> is under <mu>.
 */
#include "sink_es.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "aws_creds.h"
#include "base64.h"
#include "chunk.h"
#include "clock.h"
#include "compress.h"
#include "config.h"
#include "http_client.h"
#include "json_check.h"
#include "log.h"
#include "metrics.h"
#include "sink.h"
#include "sluice/err.h"

#define ES_ENDPOINTS_MAX 8
#define ES_DOWN_MS 10000           /* an endpoint that failed is skipped this long */
#define ES_PROBE_MS 5000           /* ready(): GET / at most this often while down */
#define ES_ANSWER_MAX (64u << 20)  /* a _bulk answer, filtered */
#define BODY_MAX (1u << 30)        /* a body's ceiling: max_bulk, or one large doc */

/* ---- keys ---- */

struct es_conf {
    char     endpoint[1024];
    char     index[81];
    int      rotation;                    /* enum sl_es_rotation */
    int      week;                        /* enum sl_es_week */
    int      document_id;                 /* 0 sluice, 1 none */
    int      flavor;                      /* 0 elasticsearch, 1 opensearch */
    char     type_name[101];
    int      auth;                        /* enum es_auth */
    char     username[256];
    char     password_file[PATH_MAX];
    char     api_key_file[PATH_MAX];
    char     region[32];
    int      service;                     /* 0 es, 1 aoss */
    char     credentials_file[PATH_MAX];
    char     tls_ca_file[PATH_MAX];
    int      compression;                 /* 0 none, 1 gzip */
    uint64_t max_bulk_size, max_connections;
    int64_t  timeout_ms;
};

enum es_auth { ES_AUTH_NONE, ES_AUTH_BASIC, ES_AUTH_APIKEY, ES_AUTH_SIGV4 };

static const char *const rotation_enum[] = { "none", "hour", "day", "week", "month", NULL };
static const char *const week_enum[]     = { "iso", "sunday", NULL };
static const char *const docid_enum[]    = { "sluice", "none", NULL };
static const char *const flavor_enum[]   = { "elasticsearch", "opensearch", NULL };
static const char *const auth_enum[]     = { "none", "basic", "apikey", "sigv4", NULL };
static const char *const service_enum[]  = { "es", "aoss", NULL };
static const char *const comp_enum[]     = { "none", "gzip", NULL };

#define C(f) offsetof(struct es_conf, f)
#define S(f) SL_KSTR(struct es_conf, f)

static const struct sl_conf_key es_keys[] = {
    { "es.endpoint", SL_K_STRING, S(endpoint), 0, 0, "", NULL,
      "elasticsearch sink: http(s)://HOST[:PORT] of the cluster (required); several, "
      "comma-separated, are used in turn" },
    { "es.index", SL_K_STRING, S(index), 0, 0, "", NULL,
      "elasticsearch sink: the index name before its rotation suffix (required; 1-80 "
      "characters, Elasticsearch's rules)" },
    { "es.index_rotation", SL_K_ENUM, C(rotation), 0, 0, 4, "day", rotation_enum,
      "elasticsearch sink: suffix by each record's UTC arrival: none, hour (-YYYY-MM-DD-HH), "
      "day (-YYYY-MM-DD), week (-YYYY-wWW), month (-YYYY-MM)" },
    { "es.week_rule", SL_K_ENUM, C(week), 0, 0, 1, "iso", week_enum,
      "elasticsearch sink: weeks of es.index_rotation = week: iso (ISO-8601 week-year and "
      "week) or sunday (weeks from the first Sunday of the year, strftime %U)" },
    { "es.document_id", SL_K_ENUM, C(document_id), 0, 0, 1, "sluice", docid_enum,
      "elasticsearch sink: sluice (a stable _id per record, sent with create: exactly once) "
      "or none (the cluster assigns ids, sent with index: a retry can duplicate)" },
    { "es.flavor", SL_K_ENUM, C(flavor), 0, 0, 1, "elasticsearch", flavor_enum,
      "elasticsearch sink: elasticsearch (6.x-9.x) or opensearch (1.x-3.x); checked "
      "against GET /" },
    { "es.type_name", SL_K_STRING, S(type_name), 0, 0, "", NULL,
      "elasticsearch sink: _type of every document, for Elasticsearch 6.x only (7.x "
      "deprecates it, 8.x and OpenSearch refuse it); empty: none" },
    { "es.auth", SL_K_ENUM, C(auth), 0, 0, 3, "none", auth_enum,
      "elasticsearch sink: none, basic (es.username, es.password_file), apikey "
      "(es.api_key_file) or sigv4 (es.region, es.service, AWS credentials)" },
    { "es.username", SL_K_STRING, S(username), 0, 0, "", NULL,
      "elasticsearch sink: the user of es.auth = basic" },
    { "es.password_file", SL_K_STRING, S(password_file), 0, 0, "", NULL,
      "elasticsearch sink: a file holding the password of es.auth = basic (one line)" },
    { "es.api_key_file", SL_K_STRING, S(api_key_file), 0, 0, "", NULL,
      "elasticsearch sink: a file holding the encoded API key of es.auth = apikey "
      "(base64 of ID:KEY, the 'encoded' field Elasticsearch returns)" },
    { "es.region", SL_K_STRING, S(region), 0, 0, "", NULL,
      "elasticsearch sink: the AWS region signed into requests (es.auth = sigv4)" },
    { "es.service", SL_K_ENUM, C(service), 0, 0, 1, "es", service_enum,
      "elasticsearch sink: the SigV4 service: es (Amazon OpenSearch Service) or aoss "
      "(OpenSearch Serverless)" },
    { "es.credentials_file", SL_K_STRING, S(credentials_file), 0, 0, "", NULL,
      "elasticsearch sink: AWS credentials for sigv4, as s3.credentials_file (else "
      "environment, ~/.aws)" },
    { "es.tls_ca_file", SL_K_STRING, S(tls_ca_file), 0, 0, "", NULL,
      "elasticsearch sink: CA certificates for https endpoints (default: the system's); "
      "verification is always on" },
    { "es.compression", SL_K_ENUM, C(compression), 0, 0, 1, "none", comp_enum,
      "elasticsearch sink: request bodies: none or gzip (Content-Encoding: gzip)" },
    { "es.max_bulk_size", SL_K_SIZE, C(max_bulk_size), 0, 1 * SL_MB, 100 * SL_MB, "10MiB",
      NULL, "elasticsearch sink: a _bulk body at most this large before compression; a "
      "batch is split into several requests under it" },
    { "es.timeout", SL_K_DURATION, C(timeout_ms), 0, SL_SEC, 3600 * SL_SEC, "60s", NULL,
      "elasticsearch sink: one request's time limit" },
    { "es.max_connections", SL_K_UINT, C(max_connections), 0, 1, 256, "8", NULL,
      "elasticsearch sink: connections to each endpoint, kept alive and reused" },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

int sl__sink_es_index_ok(const char *name, char *why, size_t whylen)
{
    size_t n = strlen(name);
    const char *bad = "\\/*?\"<>| ,#:";

    if (n < 1 || n > 80)
        snprintf(why, whylen, "'%s' is not an index name: 1-80 characters", name);
    else if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        snprintf(why, whylen, "'%s' is not an index name", name);
    else if (strchr("-_+", name[0]))
        snprintf(why, whylen, "'%s' is not an index name: it must not start with - _ or +",
                 name);
    else if (strcspn(name, bad) != n)
        snprintf(why, whylen, "'%s' is not an index name: '%c' is not allowed (none of "
                 "\\ / * ? \" < > | space , # :)", name, name[strcspn(name, bad)]);
    else if (strcspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != n)
        snprintf(why, whylen, "'%s' is not an index name: it must be lowercase", name);
    else
        return 1;
    return 0;
}

/* Splits <list> at commas into <out> (each trimmed, NUL-ended, in <store>).
 * Returns how many, or -1 with <why>. */
static int split_endpoints(const char *list, char *store, size_t storelen,
                           const char *out[ES_ENDPOINTS_MAX], char *why, size_t whylen)
{
    int n = 0;

    snprintf(store, storelen, "%s", list);
    for (char *p = store, *next; p; p = next) {
        next = strchr(p, ',');
        if (next)
            *next++ = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        char *e = p + strlen(p);
        while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '/'))
            *--e = '\0';
        const char *host = strncmp(p, "http://", 7) == 0 ? p + 7
                           : strncmp(p, "https://", 8) == 0 ? p + 8 : NULL;
        if (!host || !*host) {
            snprintf(why, whylen, "'%s' must be http://HOST[:PORT] or https://HOST[:PORT]", p);
            return -1;
        }
        if (strchr(host, '/') || strchr(host, '?')) {
            snprintf(why, whylen, "'%s': a path after the host is not supported", p);
            return -1;
        }
        if (n == ES_ENDPOINTS_MAX) {
            snprintf(why, whylen, "at most %d endpoints", ES_ENDPOINTS_MAX);
            return -1;
        }
        out[n++] = p;
    }
    return n;
}

static void es_check(void *conf, struct sl_conf_check *chk)
{
    struct es_conf *c = conf;
    char why[300], store[sizeof(c->endpoint)];
    const char *eps[ES_ENDPOINTS_MAX];

    if (!c->endpoint[0])
        sl_conf_key_check_err(chk, "es.endpoint", "required when sink = elasticsearch");
    else if (split_endpoints(c->endpoint, store, sizeof(store), eps, why, sizeof(why)) < 0)
        sl_conf_key_check_err(chk, "es.endpoint", "%s", why);
    if (!c->index[0])
        sl_conf_key_check_err(chk, "es.index", "required when sink = elasticsearch");
    else if (!sl__sink_es_index_ok(c->index, why, sizeof(why)))
        sl_conf_key_check_err(chk, "es.index", "%s", why);
    if (c->type_name[0] && c->flavor == 1)
        sl_conf_key_check_err(chk, "es.type_name", "set, but OpenSearch refuses _type "
                              "(es.type_name is for Elasticsearch 6.x)");
    if (c->auth == ES_AUTH_BASIC && !c->username[0])
        sl_conf_key_check_err(chk, "es.username", "required when es.auth = basic");
    if (c->auth == ES_AUTH_BASIC && !c->password_file[0])
        sl_conf_key_check_err(chk, "es.password_file", "required when es.auth = basic");
    if (c->auth != ES_AUTH_BASIC && c->username[0])
        sl_conf_key_check_err(chk, "es.username", "set, but es.auth is not basic");
    if (c->auth != ES_AUTH_BASIC && c->password_file[0])
        sl_conf_key_check_err(chk, "es.password_file", "set, but es.auth is not basic");
    if (c->auth == ES_AUTH_APIKEY && !c->api_key_file[0])
        sl_conf_key_check_err(chk, "es.api_key_file", "required when es.auth = apikey");
    if (c->auth != ES_AUTH_APIKEY && c->api_key_file[0])
        sl_conf_key_check_err(chk, "es.api_key_file", "set, but es.auth is not apikey");
    if (c->auth == ES_AUTH_APIKEY && c->flavor == 1)
        sl_conf_key_check_err(chk, "es.auth", "apikey is Elasticsearch's; OpenSearch has "
                              "no API keys (use basic or sigv4)");
    if (c->auth == ES_AUTH_SIGV4 && !c->region[0])
        sl_conf_key_check_err(chk, "es.region", "required when es.auth = sigv4");
    if (c->auth != ES_AUTH_SIGV4 && c->region[0])
        sl_conf_key_check_err(chk, "es.region", "set, but es.auth is not sigv4");
    if (c->auth != ES_AUTH_SIGV4 && c->credentials_file[0])
        sl_conf_key_check_err(chk, "es.credentials_file", "set, but es.auth is not sigv4");
    if (c->auth != ES_AUTH_SIGV4 && c->service == 1)
        sl_conf_key_check_err(chk, "es.service", "aoss is signed: es.auth must be sigv4");
}

static void es_dest(const void *conf, struct sl_sink_dest *d)
{
    const struct es_conf *c = conf;
    char store[sizeof(c->endpoint)], why[300];
    const char *eps[ES_ENDPOINTS_MAX];
    int n = split_endpoints(c->endpoint, store, sizeof(store), eps, why, sizeof(why));

    d->connections = (unsigned)c->max_connections * (unsigned)(n > 0 ? n : 1);
    snprintf(d->failed_name, sizeof(d->failed_name), "%s", flavor_enum[c->flavor]);
}

/* ---- index names, ids, bodies, answers: the pure parts ---- */

void sl__sink_es_index_name(const char *index, int rotation, int week, int64_t ms,
                            char out[SL_ES_INDEX_MAX])
{
    static const char *const fmt[] = { "", "-%Y-%m-%d-%H", "-%Y-%m-%d", NULL, "-%Y-%m" };
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    char suffix[32] = "";

    gmtime_r(&t, &tm);
    if (rotation == SL_ES_ROT_WEEK)
        strftime(suffix, sizeof(suffix), week == SL_ES_WEEK_SUNDAY ? "-%Y-w%U" : "-%G-w%V",
                 &tm);
    else if (rotation > SL_ES_ROT_NONE && rotation <= SL_ES_ROT_MONTH)
        strftime(suffix, sizeof(suffix), fmt[rotation], &tm);
    snprintf(out, SL_ES_INDEX_MAX, "%.80s%s", index, suffix);
}

/* The id of identity <what> (<n> bytes) in <stream>. */
static void make_id(const char *stream, const char *kind, const void *what, size_t n,
                    char out[SL_ES_ID_LEN + 1])
{
    uint8_t in[160], d[SHA256_DIGEST_LENGTH];
    size_t sl = strnlen(stream, 64), kl = strlen(kind), m = 0;
    char b64[32];

    memcpy(in, stream, sl), m += sl, in[m++] = '\0';   /* stream names are <= 64 */
    memcpy(in + m, kind, kl), m += kl, in[m++] = '\0';
    memcpy(in + m, what, n < 32 ? n : 32), m += n < 32 ? n : 32;
    SHA256(in, m, d);
    sl_base64_encode(d, 15, b64);          /* 15 bytes: 20 characters, no padding */
    for (int i = 0; i < SL_ES_ID_LEN; i++)
        out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    out[SL_ES_ID_LEN] = '\0';
}

/* The id of the record at <at> of span <s> of <b>, numbered <ord>: its
 * sequence number when the log numbered its chunk, else its identity in
 * the batch that numbered it (sl_batch_id_base). */
static void doc_id(const char *stream, const struct sl_batch *b, const struct sl_span *s,
                   uint64_t seq, uint32_t ord, char out[SL_ES_ID_LEN + 1])
{
    uint8_t what[24];
    uint64_t n = ord;

    if (s->chunk->seq) {
        make_id(stream, "seq", &seq, 8, out);
        return;
    }
    memcpy(what, sl_batch_id_base(b), 16);
    memcpy(what + 16, &n, 8);
    make_id(stream, "rec", what, 24, out);
}

int sl__sink_es_ids(const char *stream, const struct sl_batch *b,
                    char (*ids)[SL_ES_ID_LEN + 1])
{
    uint64_t place = 0;

    for (size_t i = 0; i < b->nspans; i++) {
        const struct sl_span *s = &b->spans[i];
        uint64_t first = s->chunk->seq ? s->chunk->seq + s->off : 0;

        for (uint32_t k = 0; k < s->nrecords; k++, place++)
            doc_id(stream, b, s, first + k, s->ord + k, ids[place]);
    }
    return SL_OK;
}

int sl__sink_es_body(const struct sl_es_layout *l, const struct sl_es_doc *d, size_t n,
                     struct sl_buf *out)
{
    const char *action = l->create ? "create" : "index";
    int64_t cached_hour = INT64_MIN;
    char index[SL_ES_INDEX_MAX];

    for (size_t i = 0; i < n; i++) {
        int64_t hour = d[i].arrival_ms >= 0 ? d[i].arrival_ms / 3600000
                                            : (d[i].arrival_ms - 3599999) / 3600000;
        if (hour != cached_hour) {             /* every suffix is a function of the hour */
            sl__sink_es_index_name(l->index, l->rotation, l->week, d[i].arrival_ms, index);
            cached_hour = hour;
        }
        /* index names and ids need no escaping: checked names, base64url ids */
        int rc = sl_buf_printf(out, "{\"%s\":{\"_index\":\"%s\"", action, index);
        if (rc == SL_OK && l->type_name && l->type_name[0]) {
            rc = sl_buf_append(out, ",\"_type\":\"", 10);
            if (rc == SL_OK)
                rc = sl_json_check_append_str(out, l->type_name, strlen(l->type_name));
            if (rc == SL_OK)
                rc = sl_buf_append(out, "\"", 1);
        }
        if (rc == SL_OK && d[i].id)
            rc = sl_buf_printf(out, ",\"_id\":\"%s\"", d[i].id);
        if (rc == SL_OK)
            rc = sl_buf_append(out, "}}\n", 3);
        if (rc == SL_OK)
            rc = sl_buf_append(out, d[i].data, d[i].len);
        if (rc == SL_OK)
            rc = sl_buf_append(out, "\n", 1);
        if (rc != SL_OK)
            return rc;
    }
    return SL_OK;
}

/* One item of an answer: its verdict and kind; when it is not OK and
 * <errs> is given, its error as "TYPE\0STATUS: REASON\0" at *<erroff> in
 * <errs> (else *<erroff> is NO_ERROR). */
static void item(json_t *it, int create, uint8_t *res, uint8_t *kind, char *why, size_t whylen,
                 struct sl_buf *errs, uint32_t *erroff)
{
    json_t *body = json_is_object(it) && json_object_size(it) == 1
                   ? json_object_iter_value(json_object_iter(it)) : NULL;
    json_t *err = json_object_get(body, "error");
    const char *type = json_string_value(json_object_get(err, "type"));
    const char *reason = json_string_value(json_object_get(err, "reason"));
    json_int_t st = json_integer_value(json_object_get(body, "status"));

    if (st >= 200 && st < 300) {
        *res = SL_SINK_OK, *kind = SL_ES_CREATED;
        return;
    }
    if (st == 409 && create && (!type || strcmp(type, "version_conflict_engine_exception") == 0)) {
        *res = SL_SINK_OK, *kind = SL_ES_EXISTS;
        return;
    }
    if (st == 429 || st >= 500 || st == 403)
        *res = SL_SINK_RETRY, *kind = SL_ES_RETRIED;
    else
        *res = SL_SINK_FAIL, *kind = SL_ES_FAILED;
    if (errs && errs->len < UINT32_MAX) {
        size_t at = errs->len;
        char code[24];
        snprintf(code, sizeof(code), "%lld", (long long)st);
        if (sl_buf_append(errs, type ? type : code, strlen(type ? type : code) + 1) == SL_OK &&
            sl_buf_printf(errs, "%lld: %.300s", (long long)st, reason ? reason : "") == SL_OK &&
            sl_buf_append(errs, "", 1) == SL_OK)
            *erroff = (uint32_t)at;
        else
            errs->len = at;
    }
    if (*res == SL_SINK_FAIL && !why[0])
        snprintf(why, whylen, "%lld %s: %.160s", (long long)st, type ? type : "error",
                 reason ? reason : "");
}

int sl__sink_es_items(const char *json, size_t len, int create, size_t n, uint8_t *res,
                      uint8_t *kind, char *why, size_t whylen, struct sl_buf *errs,
                      uint32_t *erroff)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    json_t *errors = json_object_get(root, "errors");
    json_t *items = json_object_get(root, "items");
    int rc = SL_OK;

    why[0] = '\0';
    if (!root || !json_is_boolean(errors)) {
        snprintf(why, whylen, "the _bulk answer is not what was asked for: %s",
                 root ? "no \"errors\"" : jerr.text);
        rc = SL_EINVAL;
    } else if (json_is_false(errors)) {
        memset(res, SL_SINK_OK, n);
        memset(kind, SL_ES_CREATED, n);
    } else if (!json_is_array(items) || json_array_size(items) != n) {
        snprintf(why, whylen, "the _bulk answer has %zu items for %zu documents",
                 json_is_array(items) ? json_array_size(items) : 0, n);
        rc = SL_EINVAL;
    } else {
        for (size_t i = 0; i < n; i++)
            item(json_array_get(items, i), create, &res[i], &kind[i], why, whylen, errs,
                 erroff ? &erroff[i] : NULL);
    }
    json_decref(root);
    return rc;
}

/* ---- metrics ---- */

/* own[] by enum sl_es_item; own_hist: one _bulk request. */
static void es_metrics(struct sl_buf *o, const struct sl_metrics_sink *s, size_t n)
{
    static const char *const result[] = { "created", "exists", "retried", "failed" };
    char labels[96];

    sl_metrics_family(o, "sluice_es_items_total", "counter",
                      "Documents by what _bulk answered: created, exists (there from an "
                      "earlier attempt), retried, failed (to backup; records that are not "
                      "JSON objects included).");
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < SL_ES_NITEMS; k++)
            sl_buf_printf(o, "sluice_es_items_total{stream=\"%s\",result=\"%s\"} %llu\n",
                          s[i].stream, result[k],
                          (unsigned long long)atomic_load(&s[i].st->own[k]));
    sl_metrics_family(o, "sluice_es_bulk_duration_seconds", "histogram",
                      "Time of one _bulk request, answer read.");
    for (size_t i = 0; i < n; i++) {
        snprintf(labels, sizeof(labels), "stream=\"%s\"", s[i].stream);
        sl_metrics_histogram(o, "sluice_es_bulk_duration_seconds", labels,
                             &s[i].st->own_hist);
    }
}

/* ---- the instance ---- */

/* ES_REFUSED: a _bulk was refused as a configuration problem; only a
 * _bulk that goes through clears it (GET / may work when _bulk does not). */
enum { ES_UNKNOWN, ES_UP, ES_DOWN, ES_REFUSED };

struct es_endpoint {
    struct sl_http_client *http;
    char url[256];
    _Atomic int64_t down_until;           /* mono ms */
};

struct es_sink {
    char stream[80];
    struct es_endpoint ep[ES_ENDPOINTS_MAX];
    int nep;
    _Atomic unsigned next;                /* endpoint rotation */
    struct sl_es_layout layout;
    char index[81], type_name[101];
    int flavor, gzip;
    int serverless;                       /* es.service = aoss: os* envelope fields */
    uint64_t max_bulk;
    char auth[600];                       /* Authorization value; "" none; a secret */
    _Atomic int state;                    /* ES_UNKNOWN, ES_UP, ES_DOWN */
    _Atomic int64_t probed_ms;            /* last GET / (mono) */
    _Atomic int loud[600];                /* by HTTP status: logged since the last success */
    pthread_mutex_t mu;                   /* guards <why> */
    char why[256];                        /* why not ready */
};

/* Reads the first line of <path> into <out>. SL_OK, or an error with <err>. */
static int read_secret(const char *path, const char *what, char *out, size_t len, char *err,
                       size_t errlen)
{
    FILE *f = fopen(path, "r");

    if (!f) {
        snprintf(err, errlen, "cannot open %s %s", what, path);
        return SL_EINVAL;
    }
    if (!fgets(out, (int)len, f))
        out[0] = '\0';
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    if (!out[0]) {
        snprintf(err, errlen, "%s %s is empty", what, path);
        return SL_EINVAL;
    }
    return SL_OK;
}

/* The Authorization header's value for <c>, into k->auth. */
static int make_auth(struct es_sink *k, const struct es_conf *c, char *err, size_t errlen)
{
    char secret[256], both[520];
    int rc = SL_OK;

    if (c->auth == ES_AUTH_BASIC) {
        rc = read_secret(c->password_file, "es.password_file", secret, sizeof(secret), err,
                         errlen);
        if (rc == SL_OK) {
            int n = snprintf(both, sizeof(both), "%s:%s", c->username, secret);
            memcpy(k->auth, "Basic ", 6);
            k->auth[6 + sl_base64_encode((const uint8_t *)both, (size_t)n, k->auth + 6)] = '\0';
        }
    } else if (c->auth == ES_AUTH_APIKEY) {
        rc = read_secret(c->api_key_file, "es.api_key_file", secret, sizeof(secret), err,
                         errlen);
        if (rc == SL_OK)
            snprintf(k->auth, sizeof(k->auth), "ApiKey %s", secret);
    }
    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(both, sizeof(both));
    return rc;
}

static void es_destroy(void *ctx)
{
    struct es_sink *k = ctx;

    if (!k)
        return;
    for (int i = 0; i < k->nep; i++)
        sl_http_client_free(k->ep[i].http);
    pthread_mutex_destroy(&k->mu);
    OPENSSL_cleanse(k->auth, sizeof(k->auth));
    free(k);
}

static int es_create(const char *stream, const void *conf, void **ctx, char *err,
                     size_t errlen)
{
    const struct es_conf *c = conf;
    struct es_sink *k = calloc(1, sizeof(*k));
    struct sl_aws_creds creds;
    char store[sizeof(c->endpoint)];
    const char *eps[ES_ENDPOINTS_MAX];
    int rc = SL_OK;

    if (!k) {
        snprintf(err, errlen, "out of memory");
        return SL_ENOMEM;
    }
    pthread_mutex_init(&k->mu, NULL);
    memset(&creds, 0, sizeof(creds));
    snprintf(k->stream, sizeof(k->stream), "%s", stream);
    snprintf(k->index, sizeof(k->index), "%s", c->index);
    snprintf(k->type_name, sizeof(k->type_name), "%s", c->type_name);
    k->layout = (struct sl_es_layout){ .index = k->index, .rotation = c->rotation,
                                       .week = c->week, .create = c->document_id == 0,
                                       .type_name = k->type_name };
    k->flavor = c->flavor;
    k->serverless = c->auth == ES_AUTH_SIGV4 && c->service == 1;
    k->gzip = c->compression == 1;
    k->max_bulk = c->max_bulk_size;
    k->nep = split_endpoints(c->endpoint, store, sizeof(store), eps, err, errlen);
    if (k->nep <= 0) {
        k->nep = 0;
        rc = SL_EINVAL;
    }
    if (rc == SL_OK)
        rc = make_auth(k, c, err, errlen);
    if (rc == SL_OK && c->auth == ES_AUTH_SIGV4 &&
        sl_aws_creds_load(c->credentials_file, &creds, err, errlen) != SL_OK)
        rc = SL_EINVAL;
    for (int i = 0; rc == SL_OK && i < k->nep; i++) {
        struct sl_http_client_options o = {
            .url = eps[i], .max_connections = (unsigned)c->max_connections,
            .timeout_ms = c->timeout_ms, .cacert = c->tls_ca_file[0] ? c->tls_ca_file : NULL,
            .sigv4 = { .creds = c->auth == ES_AUTH_SIGV4 ? &creds : NULL,
                       .service = c->service == 1 ? "aoss" : "es", .region = c->region,
                       .s3 = c->service == 1 },  /* aoss wants X-Amz-Content-Sha256 */
        };
        snprintf(k->ep[i].url, sizeof(k->ep[i].url), "%s", eps[i]);
        rc = sl_http_client_new(&o, &k->ep[i].http, err, errlen);
        if (rc != SL_OK)
            k->nep = i;
    }
    OPENSSL_cleanse(&creds, sizeof(creds));
    if (rc != SL_OK) {
        es_destroy(k);
        return rc;
    }
    sl_info("stream=%s msg=\"elasticsearch sink\" endpoint=\"%s\" index=%s flavor=%s auth=%s",
            stream, c->endpoint, c->index, flavor_enum[c->flavor], auth_enum[c->auth]);
    *ctx = k;
    return SL_OK;
}

/* The endpoint to use: the next in turn that is not skipped. */
static struct es_endpoint *pick(struct es_sink *k)
{
    unsigned start = atomic_fetch_add_explicit(&k->next, 1, memory_order_relaxed);
    int64_t now = sl_clock_mono_ms();

    for (int i = 0; i < k->nep; i++) {
        struct es_endpoint *e = &k->ep[(start + (unsigned)i) % (unsigned)k->nep];
        if (atomic_load_explicit(&e->down_until, memory_order_relaxed) <= now)
            return e;
    }
    return &k->ep[start % (unsigned)k->nep];
}

/* Records what the last request came to (<st>: ES_UP, ES_DOWN or
 * ES_REFUSED), for ready(); <bulk>: it was a _bulk. */
static void set_state(struct es_sink *k, int st, int bulk, const char *why)
{
    int was = atomic_load(&k->state);

    if (st == ES_UP) {
        if (was == ES_REFUSED && !bulk)
            return;
        if (atomic_exchange(&k->state, ES_UP) != ES_UP)
            for (size_t i = 0; i < sizeof(k->loud) / sizeof(k->loud[0]); i++)
                atomic_store_explicit(&k->loud[i], 0, memory_order_relaxed);
        return;
    }
    pthread_mutex_lock(&k->mu);
    snprintf(k->why, sizeof(k->why), "%s", why);
    pthread_mutex_unlock(&k->mu);
    if (st == ES_DOWN && was == ES_REFUSED)
        return;
    atomic_store(&k->state, st);
}

/* One request to <e>: <path>, <body>, answer into <ans>. */
static int send_one(struct es_sink *k, struct es_endpoint *e, const char *method,
                    const char *path, const char *query, const struct sl_buf *body,
                    struct sl_buf *ans, const char *capture, struct sl_http_result *r)
{
    struct sl_http_header h[4];
    size_t nh = 0;

    if (body) {
        h[nh++] = (struct sl_http_header){ "Content-Type", "application/x-ndjson" };
        if (k->gzip)
            h[nh++] = (struct sl_http_header){ "Content-Encoding", "gzip" };
    }
    if (k->auth[0])
        h[nh++] = (struct sl_http_header){ "Authorization", k->auth };
    struct sl_http_request rq = {
        .method = method, .path = path, .query = query, .headers = h, .nheaders = nh,
        .body = body ? body->data : NULL, .body_len = body ? body->len : 0,
        .answer = ans, .capture = capture,
    };
    int rc = sl_http_client_request(e->http, &rq, r);
    if (r->cause == SL_HTTP_CAUSE_CONNECTION || r->cause == SL_HTTP_CAUSE_TIMEOUT ||
        r->cause == SL_HTTP_CAUSE_SERVER)
        atomic_store_explicit(&e->down_until, sl_clock_mono_ms() + ES_DOWN_MS,
                              memory_order_relaxed);
    return rc;
}

/* What one deliver() call carries along. */
#define NO_ERROR UINT32_MAX

struct job {
    struct es_sink *k;
    const struct sl_sink_batch *b;
    struct sl_sink_outcome *out;
    struct sl_es_doc *docs;
    uint8_t *res, *kind;                  /* per doc, in the order of <docs> */
    uint32_t *erroff;                     /* per doc: its error in <errs>, or NO_ERROR */
    struct sl_compressor *z;              /* es.compression = gzip: made at first need */
    struct sl_buf body, gz, ans, errs;
    int stop;                             /* a whole request failed: send no more */
    char why[256];                        /* the first failed item's error */
};

/* Marks docs [from, to) with <res>/<kind>. */
static void mark(struct job *j, size_t from, size_t to, uint8_t res, uint8_t kind)
{
    memset(j->res + from, res, to - from);
    memset(j->kind + from, kind, to - from);
}

/* A whole request failed with <r>: every doc left is retried, and a
 * configuration problem is logged once and makes the sink not ready. */
static void whole_failed(struct job *j, size_t from, size_t n, const struct sl_http_result *r,
                         const char *url)
{
    struct es_sink *k = j->k;
    char d[200], msg[256];
    long st = r->status;
    int config = st >= 400 && st < 500 && st != 429 && st != 408;

    sl_http_client_describe(r, d, sizeof(d));
    if (config && j->ans.len && j->ans.data)
        snprintf(msg, sizeof(msg), "_bulk to %s: %s: %.*s", url, d,
                 (int)(j->ans.len < 120 ? j->ans.len : 120), (const char *)j->ans.data);
    else
        snprintf(msg, sizeof(msg), "_bulk to %s: %s", url, d);
    mark(j, from, n, SL_SINK_RETRY, SL_ES_RETRIED);
    j->stop = 1;
    j->out->cause = config ? SL_RETRY_FORBIDDEN : sl_http_client_retry_cause(r->cause);
    snprintf(j->out->error, sizeof(j->out->error), "%s", msg);
    if (config) {
        set_state(k, ES_REFUSED, 1, msg);
        if (!atomic_exchange(&k->loud[st], 1))
            sl_error("stream=%s sink=elasticsearch msg=\"the cluster refuses _bulk requests "
                     "(a configuration problem); retrying until retry_duration, then "
                     "backup\" error=\"%s\"", k->stream, msg);
    } else if (r->status == 0) {
        set_state(k, ES_DOWN, 1, msg);
    }
}

static void bulk(struct job *j, size_t from, size_t to);

/* One _bulk request of docs [from, to) (their body is in j->body). */
static void bulk_send(struct job *j, size_t from, size_t to)
{
    struct es_sink *k = j->k;
    struct es_endpoint *e = pick(k);
    struct sl_http_result r;
    const struct sl_buf *send = &j->body;
    char why[256];

    if (k->gzip) {                        /* one compressor for the write's requests */
        sl_buf_reset(&j->gz);
        if ((!j->z && !(j->z = sl_compress_new())) ||
            sl_compress_begin(j->z, SL_COMP_GZIP, 1, &j->gz) != SL_OK ||
            sl_compress_write(j->z, j->body.data, j->body.len) != SL_OK ||
            sl_compress_end(j->z) != SL_OK) {
            mark(j, from, to, SL_SINK_RETRY, SL_ES_RETRIED);
            snprintf(j->out->error, sizeof(j->out->error), "cannot gzip a _bulk body");
            return;
        }
        send = &j->gz;
    }
    int64_t t0 = sl_clock_mono_ns();
    int rc = send_one(k, e, "POST", "/_bulk", SL_ES_FILTER_PATH, send, &j->ans, NULL, &r);
    sl_metrics_observe(&j->b->stats->own_hist, (double)(sl_clock_mono_ns() - t0) / 1e9);
    if (rc != SL_OK && r.status == 413) {
        if (to - from == 1) {
            size_t at = j->errs.len;
            mark(j, from, to, SL_SINK_FAIL, SL_ES_FAILED);
            if (sl_buf_printf(&j->errs, "413%c413: a document of %u bytes is larger than "
                              "the cluster takes", '\0', j->docs[from].len) == SL_OK &&
                sl_buf_append(&j->errs, "", 1) == SL_OK)
                j->erroff[from] = (uint32_t)at;
            if (!j->why[0])
                snprintf(j->why, sizeof(j->why), "413: a document of %u bytes is larger "
                         "than the cluster takes", j->docs[from].len);
            return;
        }
        size_t mid = from + (to - from) / 2;
        bulk(j, from, mid);
        if (!j->stop)
            bulk(j, mid, to);
        else
            mark(j, mid, to, SL_SINK_RETRY, SL_ES_RETRIED);
        return;
    }
    if (rc != SL_OK) {
        whole_failed(j, from, to, &r, e->url);
        return;
    }
    set_state(k, ES_UP, 1, NULL);
    if (sl__sink_es_items((const char *)j->ans.data, j->ans.len, k->layout.create, to - from,
                          j->res + from, j->kind + from, why, sizeof(why), &j->errs,
                          j->erroff + from) != SL_OK) {
        mark(j, from, to, SL_SINK_RETRY, SL_ES_RETRIED);
        snprintf(j->out->error, sizeof(j->out->error), "%s: %s", e->url, why);
        return;
    }
    if (why[0] && !j->why[0])
        snprintf(j->why, sizeof(j->why), "%s", why);
}

/* Docs [from, to) as one request (the body fits, or a 413 halved it). */
static void bulk(struct job *j, size_t from, size_t to)
{
    sl_buf_reset(&j->body);
    if (sl__sink_es_body(&j->k->layout, j->docs + from, to - from, &j->body) != SL_OK) {
        mark(j, from, to, SL_SINK_RETRY, SL_ES_RETRIED);
        snprintf(j->out->error, sizeof(j->out->error), "out of memory building a _bulk body");
        j->stop = 1;
        return;
    }
    bulk_send(j, from, to);
}

/* Action line's bytes at most, beyond the source line: for splitting. */
#define ACTION_MAX (64 + SL_ES_INDEX_MAX + SL_ES_ID_LEN + 6 * 100)

/* The docs of the batch: the records that are single-line JSON objects
 * (others are answered FAIL in out->record_results). Returns how many. */
static size_t gather(struct job *j, char (*ids)[SL_ES_ID_LEN + 1], size_t *invalid)
{
    struct sl_batch_iter it;
    struct sl_record r;
    size_t n = 0, i = 0;

    sl_batch_iter_init(&it, j->b->batch);
    for (; sl_batch_next(&it, &r); i++) {
        uint32_t len = r.len;
        while (len && (r.data[len - 1] == '\n' || r.data[len - 1] == '\r'))
            len--;
        int ok = len && !memchr(r.data, '\n', len) && !memchr(r.data, '\r', len);
        if (ok && !sl_json_check(r.data, len, 1)) {
            json_t *v = json_loadb((const char *)r.data, len, JSON_DECODE_ANY, NULL);
            ok = json_is_object(v);
            json_decref(v);
        }
        if (!ok) {
            j->out->record_results[i] = SL_SINK_FAIL;
            (*invalid)++;
            continue;
        }
        j->docs[n] = (struct sl_es_doc){ .data = r.data, .len = len, .arrival_ms = r.arrival_ms,
                                         .id = ids ? ids[i] : NULL, .slot = (uint32_t)i };
        n++;
    }
    return n;
}

/* Sends the docs in requests under max_bulk (uncompressed). */
static void send_all(struct job *j, size_t n)
{
    size_t from = 0, bytes = 0;

    for (size_t i = 0; i <= n; i++) {
        size_t need = i < n ? j->docs[i].len + ACTION_MAX : 0;
        if (i > from && (i == n || bytes + need > j->k->max_bulk)) {
            if (j->stop)
                mark(j, from, i, SL_SINK_RETRY, SL_ES_RETRIED);
            else
                bulk(j, from, i);
            from = i, bytes = 0;
        }
        bytes += need;
    }
}

/* Each refused record's own words, for its backup envelope: the item's
 * error type and message, or InvalidJSON for a record never sent. */
static void notes(struct job *j, size_t ndocs)
{
    size_t nrec = j->b->batch->nrecords;
    const char **codes = calloc(nrec ? nrec : 1, sizeof(*codes));
    const char **msgs = calloc(nrec ? nrec : 1, sizeof(*msgs));

    if (codes && msgs) {
        for (size_t i = 0; i < nrec; i++)
            if (j->out->record_results[i] == SL_SINK_FAIL) {
                codes[i] = "InvalidJSON";      /* until a doc says otherwise, below */
                msgs[i] = "not a single-line JSON object: not sent";
            }
        for (size_t d = 0; d < ndocs; d++) {
            uint32_t slot = j->docs[d].slot, off = j->erroff[d];
            codes[slot] = msgs[slot] = NULL;
            if (off != NO_ERROR && j->res[d] != SL_SINK_OK) {
                codes[slot] = (const char *)j->errs.data + off;
                msgs[slot] = codes[slot] + strlen(codes[slot]) + 1;
            }
        }
        j->out->record_notes = sl_batch_notes_errors(nrec, codes, msgs, SL_NOTE_BY_SINK,
                                                     j->b->batch->attempts + 1);
    }
    free(codes);
    free(msgs);
}

/* Fills out->result, per_record and error from the slots. */
static void settle_answer(struct job *j, size_t ndocs, size_t invalid)
{
    struct sl_sink_outcome *out = j->out;
    size_t count[SL_ES_NITEMS] = { 0 }, nrec = j->b->batch->nrecords;

    for (size_t d = 0; d < ndocs; d++) {
        out->record_results[j->docs[d].slot] = j->res[d];
        count[j->kind[d]]++;
    }
    count[SL_ES_FAILED] += invalid;              /* never sent, failed all the same */
    for (int c = 0; c < SL_ES_NITEMS; c++)
        sl_stat_add(&j->b->stats->own[c], count[c]);
    size_t ok = count[SL_ES_CREATED] + count[SL_ES_EXISTS];
    size_t fail = count[SL_ES_FAILED], retry = count[SL_ES_RETRIED];
    if (ok == nrec) {
        out->result = SL_SINK_OK;
        return;
    }
    out->result = fail ? SL_SINK_FAIL : SL_SINK_RETRY;
    out->per_record = !(fail == nrec || retry == nrec);
    notes(j, ndocs);
    if (!out->error[0] || fail) {
        char first[200];
        snprintf(first, sizeof(first), "%s", out->error);
        snprintf(out->error, sizeof(out->error), "elasticsearch: %zu of %zu documents "
                 "failed (%zu not single-line JSON objects: InvalidJSON), %zu to retry%s%s%s%s",
                 fail, nrec, invalid, retry, j->why[0] ? "; first failure: " : "", j->why,
                 first[0] ? "; " : "", first);
    }
}

static void es_deliver(void *ctx, const struct sl_sink_batch *b, struct sl_sink_outcome *out)
{
    struct es_sink *k = ctx;
    size_t nrec = b->batch->nrecords, invalid = 0;
    struct job j = { .k = k, .b = b, .out = out };
    char (*ids)[SL_ES_ID_LEN + 1] = NULL;

    out->result = SL_SINK_RETRY;
    j.docs = malloc((nrec ? nrec : 1) * sizeof(*j.docs));
    j.res = malloc(nrec ? nrec : 1);
    j.kind = malloc(nrec ? nrec : 1);
    j.erroff = malloc((nrec ? nrec : 1) * sizeof(*j.erroff));
    if (k->layout.create)
        ids = malloc((nrec ? nrec : 1) * sizeof(*ids));
    if (!j.docs || !j.res || !j.kind || !j.erroff || (k->layout.create && !ids)) {
        snprintf(out->error, sizeof(out->error), "out of memory");
        goto out;
    }
    if (ids)
        sl__sink_es_ids(b->stream, b->batch, ids);
    sl_buf_init(&j.body, BODY_MAX);     /* one doc alone may pass max_bulk */
    sl_buf_init(&j.gz, BODY_MAX);
    sl_buf_init(&j.ans, ES_ANSWER_MAX);
    sl_buf_init(&j.errs, ES_ANSWER_MAX);
    memset(j.erroff, 0xff, (nrec ? nrec : 1) * sizeof(*j.erroff));   /* NO_ERROR */
    size_t ndocs = gather(&j, ids, &invalid);
    send_all(&j, ndocs);
    settle_answer(&j, ndocs, invalid);
    sl_buf_destroy(&j.body);
    sl_buf_destroy(&j.gz);
    sl_buf_destroy(&j.ans);
    sl_buf_destroy(&j.errs);
out:
    sl_compress_free(j.z);
    free(ids);
    free(j.docs);
    free(j.res);
    free(j.kind);
    free(j.erroff);
}

/* ---- readiness ---- */

/* GET /: is it there, and the flavor we were told? */
static void probe(struct es_sink *k)
{
    struct es_endpoint *e = pick(k);
    struct sl_http_result r;
    struct sl_buf ans;
    char d[200], why[256];

    atomic_store(&k->probed_ms, sl_clock_mono_ms());
    sl_buf_init(&ans, 64 << 10);
    if (send_one(k, e, "GET", "/", NULL, NULL, &ans, "X-Elastic-Product", &r) != SL_OK) {
        sl_http_client_describe(&r, d, sizeof(d));
        snprintf(why, sizeof(why), "GET %s/: %s", e->url, d);
        set_state(k, ES_DOWN, 0, why);
        sl_buf_destroy(&ans);
        return;
    }
    json_t *root = json_loadb((const char *)ans.data, ans.len, 0, NULL);
    json_t *ver = json_object_get(root, "version");
    const char *number = json_string_value(json_object_get(ver, "number"));
    const char *dist = json_string_value(json_object_get(ver, "distribution"));
    int os = dist && strcmp(dist, "opensearch") == 0;
    int es = !os && r.captured && strcmp(r.header, "Elasticsearch") == 0;

    if (!number) {
        snprintf(why, sizeof(why), "GET %s/ answered no version.number: not Elasticsearch "
                 "or OpenSearch", e->url);
        sl_error("stream=%s sink=elasticsearch msg=\"%s\"", k->stream, why);
        set_state(k, ES_DOWN, 0, why);
    } else {
        if (os != (k->flavor == 1) || (!os && !es && strtol(number, NULL, 10) >= 8))
            sl_error("stream=%s sink=elasticsearch msg=\"es.flavor = %s, but the cluster "
                     "says it is %s %s\" endpoint=%s", k->stream, flavor_enum[k->flavor],
                     os ? "OpenSearch" : es ? "Elasticsearch" : "neither (no "
                     "X-Elastic-Product header)", number, e->url);
        else
            sl_info("stream=%s sink=elasticsearch msg=\"cluster reached\" flavor=%s "
                    "version=%s endpoint=%s", k->stream, os ? "opensearch" : "elasticsearch",
                    number, e->url);
        if (!os && number[0] == '6' && number[1] == '.' && !k->type_name[0])
            sl_error("stream=%s sink=elasticsearch msg=\"Elasticsearch 6.x needs "
                     "es.type_name\"", k->stream);
        set_state(k, ES_UP, 0, NULL);
    }
    json_decref(root);
    sl_buf_destroy(&ans);
}

static int es_ready(void *ctx, char *why, size_t whylen)
{
    struct es_sink *k = ctx;
    int st = atomic_load(&k->state);

    if (st == ES_UNKNOWN ||
        (st == ES_DOWN && sl_clock_mono_ms() - atomic_load(&k->probed_ms) >= ES_PROBE_MS)) {
        probe(k);
        st = atomic_load(&k->state);
    }
    if (st == ES_UP)
        return 1;
    pthread_mutex_lock(&k->mu);
    snprintf(why, whylen, "%s", k->why);
    pthread_mutex_unlock(&k->mu);
    return 0;
}

/* Firehose's fields of a refused document's backup envelope: its id (""
 * when the cluster assigns them), index and type; Serverless (aoss) names
 * them osDocumentId and osIndexName and has no type. */
static void es_envelope(void *ctx, const struct sl_batch_iter *it, const struct sl_record *r,
                        struct sl_buf *out)
{
    struct es_sink *k = ctx;
    const struct sl_span *s = &it->b->spans[it->span];
    char id[SL_ES_ID_LEN + 1] = "", index[SL_ES_INDEX_MAX];
    const char *pre = k->serverless ? "os" : "es";

    if (k->layout.create)
        doc_id(k->stream, it->b, s,
               s->chunk->seq ? s->chunk->seq + it->at : 0,
               it->ord, id);
    sl__sink_es_index_name(k->index, k->layout.rotation, k->layout.week, r->arrival_ms, index);
    sl_buf_printf(out, ",\"%sDocumentId\":\"%s\",\"%sIndexName\":\"", pre, id, pre);
    sl_json_check_append_str(out, index, strlen(index));
    sl_buf_append(out, "\"", 1);
    if (!k->serverless) {
        sl_buf_printf(out, ",\"esTypeName\":\"");
        sl_json_check_append_str(out, k->type_name, strlen(k->type_name));
        sl_buf_append(out, "\"", 1);
    }
}

const struct sl_sink_ops sl_sink_elasticsearch = {
    .name = "elasticsearch",
    .prefix = "es.",
    .shape = SL_SINK_RECORDS,
    .keys = es_keys,
    .conf_size = sizeof(struct es_conf),
    .check = es_check,
    .create = es_create,
    .deliver = es_deliver,
    .ready = es_ready,
    .destroy = es_destroy,
    .dest = es_dest,
    .metrics = es_metrics,
    .envelope = es_envelope,
};
