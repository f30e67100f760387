/*
 * listener_http.c - see listener_http.h.
 *
 * Each request collects its body in a struct sl_buf bounded by max_body
 * (a Content-Length over it is refused before the body is read); the
 * handler runs once the body is complete.
 */
#include "listener_http.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <microhttpd.h>

#include "aws_sigv4.h"
#include "buf.h"
#include "chunk.h"
#include "clock.h"
#include "compress.h"
#include "config.h"
#include "deadline.h"
#include "firehose_api.h"
#include "log.h"
#include "sluice/err.h"
#include "units.h"

#define JSON_TYPE "application/x-amz-json-1.1"
#define NDJSON_PREFIX "/v1/streams/"

struct sl_http {
    struct MHD_Daemon *mhd;
    struct sl_http_limits lim;
    const struct sl_http_stream *streams;   /* borrowed, fixed */
    size_t nstreams;
    const struct sl_http_ops *ops;
    void *arg;
    struct sl_http_stats *stats;            /* borrowed, see metrics.h */
    struct sl_deadlines *headers;           /* cuts clients slow to send a header */
    struct sl_ratelimit rl;                 /* of the warning when that fails */
    _Atomic int suspended;                  /* connections waiting for a log's sync */
    _Atomic int stopping;                   /* sl_http_stop: suspend no more */
    struct sl_ratelimit auth_rl[SL_AUTH_R_N];  /* of the refusal lines, per reason */
};

/* An answer prepared before it can be sent. */
struct answer {
    unsigned status;
    const char *type;
    char *body;                  /* owned */
    const char *retry_after;
};

/*
 * One request's state, from its first callback to its completion.
 * durability = disk: once its records are logged, the connection is
 * suspended until the log's sync thread says they are on disk (<synced>,
 * then MHD_resume_connection); MHD then calls the handler again, which
 * sends <ok> or <fail>. Meanwhile no HTTP thread waits: every request
 * waiting shares the same fdatasync.
 */
struct req {
    struct sl_buf body;
    int too_big;
    int op;                      /* enum sl_http_op, for the metrics */
    int status;                  /* what was answered */
    int64_t t0_ns;               /* monotonic: the first callback */
    int waiting;                 /* suspended for the log: answer on the next call */
    _Atomic int synced;          /* sync thread -> handler: 1 on disk, -1 not known */
    struct answer ok, fail;      /* while waiting */
    struct MHD_Connection *conn; /* while waiting */
    struct sl_http *h;           /* while waiting */
};

/* The header deadline of connection <c>: set when it opens and after each
 * response, cleared when a request's header is complete. */
static struct sl_deadline *header_deadline(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

static struct sl_intake *find(struct sl_http *h, const char *name, size_t len)
{
    for (size_t i = 0; i < h->nstreams; i++)
        if (strlen(h->streams[i].name) == len && memcmp(h->streams[i].name, name, len) == 0)
            return h->streams[i].in;
    return NULL;
}

/* Queues <body> (taken; NULL: out of memory) with <status> and <type>. */
static enum MHD_Result reply(struct req *q, struct MHD_Connection *c, unsigned status,
                             const char *type, char *body, const char *retry_after)
{
    struct MHD_Response *r;
    enum MHD_Result rc;
    uint8_t id[16];
    char rid[40];

    if (!body) {
        status = 500;
        body = strdup("{\"__type\":\"InternalFailure\",\"message\":\"Out of memory.\"}");
        if (!body)
            return MHD_NO;
    }
    r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    if (getrandom(id, sizeof(id), 0) == sizeof(id)) {
        for (int i = 0; i < 16; i++)
            snprintf(rid + 2 * i, 3, "%02x", id[i]);
        MHD_add_response_header(r, "x-amzn-RequestId", rid);
    }
    MHD_add_response_header(r, "Content-Type", type);
    if (retry_after)
        MHD_add_response_header(r, "Retry-After", retry_after);
    rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    q->status = (int)status;
    return rc;
}

static enum MHD_Result fh_error(struct req *q, struct MHD_Connection *c, const char *type,
                                int status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static enum MHD_Result fh_error(struct req *q, struct MHD_Connection *c, const char *type,
                                int status, const char *fmt, ...)
{
    struct sl_fh_error e = { .type = type, .status = status };
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(e.message, sizeof(e.message), fmt, ap);
    va_end(ap);
    return reply(q, c, (unsigned)status, JSON_TYPE, sl_fh_error_body(&e), NULL);
}

static char *plain_body(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static enum MHD_Result send_answer(struct req *r, struct MHD_Connection *c,
                                   struct answer *a, struct answer *other)
{
    char *body = a->body;         /* reply() takes it */

    free(other->body);
    other->body = a->body = NULL;
    return reply(r, c, a->status, a->type, body, a->retry_after);
}

/* The log's sync thread: the records of <arg>'s request are on disk (or
 * not known to be). Wakes the connection; the handler answers. */
static void on_synced(void *arg, int ok)
{
    struct req *r = arg;
    struct sl_http *h = r->h;

    atomic_store_explicit(&r->synced, ok ? 1 : -1, memory_order_release);
    MHD_resume_connection(r->conn);   /* from here on <r> is the handler's again */
    atomic_fetch_sub_explicit(&h->suspended, 1, memory_order_release);
}

/*
 * Takes <ch> into the stream and answers <ok>, or <fail> if it must be
 * refused: the log is full or failing (then <ch> was not taken and its
 * records are counted as rejected). With durability = disk, <ok> waits
 * until the log has the records on disk, the connection suspended; if
 * that sync fails, <fail> goes out although the records are in the stream
 * (the producer retries: a possible duplicate, never a loss).
 */
static enum MHD_Result take(struct sl_http *h, struct MHD_Connection *c, struct req *r,
                            struct sl_intake *in, struct sl_chunk *ch, struct answer ok,
                            struct answer fail)
{
    uint64_t pos;
    uint32_t n = ch->nrecords;
    int rc = sl_intake_put(in, SL_SRC_HTTP, ch, &pos);

    if (rc != SL_OK) {
        sl_stat_add(&in->stats->rejected[SL_SRC_HTTP][sl_intake_reject_reason(rc)], n);
        sl_chunk_unref(ch);
        return send_answer(r, c, &fail, &ok);
    }
    if (pos == 0)
        return send_answer(r, c, &ok, &fail);
    /* Counted, then the stop checked (both seq_cst, against sl_http_stop's
     * store then load): a connection is never suspended once the stop has
     * seen none suspended. Stopping, this one waits here instead. */
    atomic_fetch_add(&h->suspended, 1);
    if (atomic_load(&h->stopping)) {
        atomic_fetch_sub(&h->suspended, 1);
        sl_wal_flush(in->wal);
        return sl_wal_notify(in->wal, pos, NULL, NULL) == SL_OK
            ? send_answer(r, c, &ok, &fail) : send_answer(r, c, &fail, &ok);
    }
    r->ok = ok, r->fail = fail, r->conn = c, r->h = h;
    r->waiting = 1;
    MHD_suspend_connection(c);           /* before the sync thread may resume it */
    rc = sl_wal_notify(in->wal, pos, on_synced, r);
    if (rc != SL_EAGAIN)               /* known already, or not to be waited for */
        on_synced(r, rc == SL_OK);
    return MHD_YES;
}

/* PutRecord and PutRecordBatch. */
static enum MHD_Result fh_put(struct sl_http *h, struct MHD_Connection *c, struct req *r,
                              int batch)
{
    struct sl_fh_error e;
    struct sl_chunk *ch;
    struct sl_intake *in;
    char stream[65];
    uint32_t n, ok = 0, off = 0, len;
    uint64_t room, used = 0;
    const uint8_t *p;

    if (sl_fh_parse_put((const char *)r->body.data, r->body.len, batch, stream,
                        sl_clock_wall_ms(), sl_clock_mono_ms(), &ch, &e) != SL_OK)
        return reply(r, c, (unsigned)e.status, JSON_TYPE, sl_fh_error_body(&e), NULL);
    if (!(in = find(h, stream, strlen(stream)))) {
        sl_chunk_unref(ch);
        return fh_error(r, c, "ResourceNotFoundException", 400,
                        "Firehose %s under account 000000000000 not found.", stream);
    }
    room = sl_intake_room(in);
    n = ch->nrecords;
    for (; ok < n; ok++) {                 /* the records that fit, in order */
        off = sl_chunk_at(ch, off, &p, &len);
        if (used + len > room)
            break;
        used += len;
    }
    if (ok < n)
        sl_stat_add(&in->stats->rejected[SL_SRC_HTTP][SL_REJ_THROTTLED], n - ok);
    if (ok == 0) {
        sl_chunk_unref(ch);
        if (!batch)
            return fh_error(r, c, "ServiceUnavailableException", 503, "Slow down.");
        return reply(r, c, 200, JSON_TYPE, sl_fh_put_batch_response(n, 0), NULL);
    }
    sl_fh_chunk_truncate(ch, ok);
    struct sl_fh_error slow = { .type = "ServiceUnavailableException", .status = 503 };
    snprintf(slow.message, sizeof(slow.message), "Slow down.");
    return take(h, c, r, in, ch,
                (struct answer){ 200, JSON_TYPE, batch ? sl_fh_put_batch_response(n, ok)
                                                       : sl_fh_put_record_response(), NULL },
                batch ? (struct answer){ 200, JSON_TYPE, sl_fh_put_batch_response(n, 0), NULL }
                      : (struct answer){ 503, JSON_TYPE, sl_fh_error_body(&slow), NULL });
}

/* ListDeliveryStreams: names in order, Limit and ExclusiveStartDeliveryStreamName. */
static enum MHD_Result fh_list(struct sl_http *h, struct MHD_Connection *c, struct req *r)
{
    json_t *req = json_loadb((const char *)r->body.data, r->body.len, 0, NULL);
    json_t *lim = req ? json_object_get(req, "Limit") : NULL;
    json_t *start = req ? json_object_get(req, "ExclusiveStartDeliveryStreamName") : NULL;
    json_t *names = json_array(), *out;
    json_int_t limit = json_is_integer(lim) ? json_integer_value(lim) : 10;
    const char *after = json_is_string(start) ? json_string_value(start) : "";
    const char *prev = after;
    int more = 0;

    if (!req || !json_is_object(req) || limit < 1 || limit > 10000) {
        json_decref(req);
        json_decref(names);
        return fh_error(r, c, req ? "ValidationException" : "SerializationException", 400,
                        req ? "Limit must be between 1 and 10000" : "Request body is not JSON");
    }
    for (;;) {                             /* next name after <prev>, in order */
        const char *next = NULL;
        for (size_t i = 0; i < h->nstreams; i++)
            if (strcmp(h->streams[i].name, prev) > 0 &&
                (!next || strcmp(h->streams[i].name, next) < 0))
                next = h->streams[i].name;
        if (!next)
            break;
        if ((json_int_t)json_array_size(names) == limit) {
            more = 1;
            break;
        }
        json_array_append_new(names, json_string(next));
        prev = next;
    }
    out = json_pack("{s:o, s:b}", "DeliveryStreamNames", names, "HasMoreDeliveryStreams", more);
    json_decref(req);
    char *body = out ? json_dumps(out, JSON_COMPACT) : NULL;
    json_decref(out);
    return reply(r, c, 200, JSON_TYPE, body, NULL);
}

static enum MHD_Result fh_describe(struct sl_http *h, struct MHD_Connection *c, struct req *r)
{
    json_t *req = json_loadb((const char *)r->body.data, r->body.len, 0, NULL);
    json_t *name = req ? json_object_get(req, "DeliveryStreamName") : NULL, *desc, *out;
    enum MHD_Result rc;

    if (!json_is_string(name)) {
        json_decref(req);
        return fh_error(r, c, req ? "ValidationException" : "SerializationException", 400,
                        "1 validation error detected: Value null at 'deliveryStreamName' "
                        "failed to satisfy constraint: Member must not be null");
    }
    if (!find(h, json_string_value(name), json_string_length(name)) ||
        !(desc = h->ops->describe(h->arg, json_string_value(name)))) {
        rc = fh_error(r, c, "ResourceNotFoundException", 400,
                      "Firehose %.64s under account 000000000000 not found.",
                      json_string_value(name));
        json_decref(req);
        return rc;
    }
    json_decref(req);
    out = json_pack("{s:o}", "DeliveryStreamDescription", desc);
    char *body = out ? json_dumps(out, JSON_COMPACT) : NULL;
    json_decref(out);
    return reply(r, c, 200, JSON_TYPE, body, NULL);
}

static enum MHD_Result plain(struct req *q, struct MHD_Connection *c, unsigned status,
                             const char *retry, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

struct hdrs { struct sl_sigv4_header h[SL_SIGV4_MAX_HEADERS]; size_t n; int over; };

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    struct hdrs *hs = cls;

    (void)kind;
    if (hs->n == SL_SIGV4_MAX_HEADERS) {
        hs->over = 1;
        return MHD_NO;
    }
    hs->h[hs->n++] = (struct sl_sigv4_header){ key, value ? value : "" };
    return MHD_YES;
}

/* The wire-form query rebuilt from libmicrohttpd's decoded arguments. */
struct args { struct sl_buf q; int over; };

/* Adds one query parameter as libmicrohttpd hands it over (decoded; a
 * NULL value: no '='). */
static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   size_t key_size, const char *value, size_t value_size)
{
    struct args *a = cls;

    (void)kind;
    if (sl_sigv4_query_add(&a->q, key, key_size, value, value_size) != SL_OK) {
        a->over = 1;
        return MHD_NO;
    }
    return MHD_YES;
}

/* "ADDR:PORT" of <c>'s peer ("[ADDR]:PORT" for IPv6), or "unknown". */
static void peer_of(struct MHD_Connection *c, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char host[NI_MAXHOST], port[NI_MAXSERV];
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    socklen_t salen = sa && sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                     : sizeof(struct sockaddr_in);

    if (!sa || getnameinfo(sa, salen, host, sizeof(host), port, sizeof(port),
                           NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        snprintf(out, len, "unknown");
    else
        snprintf(out, len, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

/*
 * Counts a refusal by <reason> and logs it, at most one line per reason
 * every 5 s (the next one says how many were held back). <who> is the
 * access key id the request names, or what stands for it; never a secret,
 * a signature or a token. Only [A-Za-z0-9._+=@:/-] and spaces of it are
 * printed as they are, anything else as '?' (the line stays one line of
 * key=value fields whatever a client sends).
 */
static void refused(struct sl_http *h, struct MHD_Connection *c, const struct req *r,
                    int reason, const char *who)
{
    char peer[NI_MAXHOST + NI_MAXSERV + 4], key[129];
    uint64_t suppressed;
    size_t i;

    sl_stat_add(&h->stats->auth_failures[reason], 1);
    if (!sl_ratelimit_ok(&h->auth_rl[reason], 5000, &suppressed))
        return;
    for (i = 0; who[i] && i < sizeof(key) - 1; i++)
        key[i] = (who[i] >= 'a' && who[i] <= 'z') || (who[i] >= 'A' && who[i] <= 'Z') ||
                 (who[i] >= '0' && who[i] <= '9') || strchr("._+=@:/- ", who[i]) ? who[i] : '?';
    key[i] = '\0';
    peer_of(c, peer, sizeof(peer));
    sl_warn("msg=\"HTTP request refused\" peer=%s key=\"%s\" operation=%s reason=%s status=%d "
            "suppressed=%llu", peer, key, sl_http_op_names[r->op], sl_auth_reason_names[reason],
            r->status, (unsigned long long)suppressed);
}

/* The operation of a Firehose API request, from X-Amz-Target. */
static int fh_op(struct MHD_Connection *c)
{
    switch (sl_fh_operation(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Amz-Target"))) {
    case SL_FH_PUT_RECORD:       return SL_HOP_PUT_RECORD;
    case SL_FH_PUT_RECORD_BATCH: return SL_HOP_PUT_RECORD_BATCH;
    case SL_FH_LIST_STREAMS:     return SL_HOP_LIST;
    case SL_FH_DESCRIBE_STREAM:  return SL_HOP_DESCRIBE;
    default:                     return SL_HOP_OTHER;
    }
}

/* http_auth = token: the NDJSON endpoint with the bearer token. */
static int token_ok(struct sl_http *h, struct MHD_Connection *c, struct req *r, int firehose_api,
                    enum MHD_Result *rc)
{
    const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");

    if (!firehose_api && sl_auth_token_ok(h->lim.auth, authz))
        return 1;
    *rc = firehose_api
        ? fh_error(r, c, "AccessDeniedException", 403, "http_auth = token covers only "
                   "the NDJSON endpoint; the Firehose API needs http_auth = sigv4")
        : plain(r, c, 401, NULL, "a valid Authorization: Bearer token is required");
    refused(h, c, r, firehose_api ? SL_AUTH_R_SIGV4_REQUIRED
                     : authz ? SL_AUTH_R_BAD_TOKEN : SL_AUTH_R_MISSING,
            authz ? "bearer token" : "no credentials");
    return 0;
}

/*
 * http_auth = sigv4: before the body (<body_read> 0) what the headers
 * decide (sl_sigv4_precheck), after it the whole signature over the path,
 * the query (rebuilt from libmicrohttpd's decoded arguments) and the body.
 */
static int sigv4_ok(struct sl_http *h, struct MHD_Connection *c, struct req *r, const char *url,
                    int body_read, enum MHD_Result *rc)
{
    struct sl_sigv4_verifier v = { .secret = sl_auth_secret, .arg = (void *)h->lim.auth,
                                   .service = "firehose",
                                   .unsigned_payload = sl_auth_unsigned_payload(h->lim.auth) };
    struct sl_sigv4_error e = { .code = "IncompleteSignatureException", .http_status = 400,
                                .reason = SL_AUTH_R_MALFORMED };
    struct hdrs *hs = calloc(1, sizeof(*hs));
    struct args args = { .over = 0 };
    int ok = 0;

    sl_buf_init(&args.q, SL_SIGV4_CREQ_MAX);
    if (!hs) {
        *rc = MHD_NO;
        return 0;
    }
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect, hs);
    if (body_read)
        MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, collect_arg, &args);
    struct sl_sigv4_request q = { .method = "POST", .path = url, .query = "", .headers = hs->h,
                                  .nheaders = hs->n, .body = r->body.data,
                                  .body_len = r->body.len };
    if (hs->over)
        snprintf(e.message, sizeof(e.message), "too many headers");
    else if (args.over || (args.q.len && sl_buf_append(&args.q, "", 1) != SL_OK))
        snprintf(e.message, sizeof(e.message), "query string too large");
    else {
        if (args.q.len)
            q.query = (const char *)args.q.data;
        ok = (body_read ? sl_sigv4_verify(&v, &q, sl_clock_wall_ms() / 1000, &e)
                        : sl_sigv4_precheck(&v, &q, sl_clock_wall_ms() / 1000, &e)) == SL_OK;
    }
    free(hs);
    sl_buf_destroy(&args.q);
    if (ok)
        return 1;
    *rc = fh_error(r, c, e.code, e.http_status, "%s", e.message);
    refused(h, c, r, e.reason, e.access_key_id[0] ? e.access_key_id
                               : e.reason == SL_AUTH_R_MISSING ? "no credentials" : "unreadable");
    return 0;
}

/*
 * Checks the caller per http_auth (auth.h), for a POST to the Firehose API
 * or the NDJSON endpoint; other requests pass (they are answered 404 or
 * 405). Called before the body is read (<body_read> 0: only what the
 * headers decide, so an unauthenticated client makes sluice hold no body)
 * and once it is complete (1: everything). Returns 1 if the request may
 * go on; else queues the refusal, counts it, logs it (rate-limited) and
 * returns 0 with *<rc> set.
 */
static int authorized(struct sl_http *h, struct MHD_Connection *c, struct req *r,
                      const char *url, const char *method, int body_read, enum MHD_Result *rc)
{
    int mode = sl_auth_mode(h->lim.auth), firehose_api = strcmp(url, "/") == 0;

    if (mode == SL_AUTH_NONE || strcmp(method, "POST") != 0 ||
        (!firehose_api && strncmp(url, NDJSON_PREFIX, strlen(NDJSON_PREFIX)) != 0))
        return 1;
    r->op = firehose_api ? fh_op(c) : SL_HOP_NDJSON;
    if (mode == SL_AUTH_TOKEN)
        return token_ok(h, c, r, firehose_api, rc);
    return sigv4_ok(h, c, r, url, body_read, rc);
}

static enum MHD_Result firehose(struct sl_http *h, struct MHD_Connection *c, struct req *r)
{
    const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    const char *target = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Amz-Target");

    if (!type || strncasecmp(type, JSON_TYPE, strlen(JSON_TYPE)) != 0)
        return fh_error(r, c, "SerializationException", 400, "Content-Type must be %s, not %s",
                        JSON_TYPE, type ? type : "missing");
    switch (sl_fh_operation(target)) {
    case SL_FH_PUT_RECORD:       r->op = SL_HOP_PUT_RECORD; return fh_put(h, c, r, 0);
    case SL_FH_PUT_RECORD_BATCH: r->op = SL_HOP_PUT_RECORD_BATCH; return fh_put(h, c, r, 1);
    case SL_FH_LIST_STREAMS:     r->op = SL_HOP_LIST; return fh_list(h, c, r);
    case SL_FH_DESCRIBE_STREAM:  r->op = SL_HOP_DESCRIBE; return fh_describe(h, c, r);
    case SL_FH_UNSUPPORTED:
        return fh_error(r, c, "InvalidArgumentException", 400, "%s is not supported by sluice: "
                        "delivery streams are defined in its config file",
                        target + strlen(SL_FH_TARGET_PREFIX));
    default:
        return fh_error(r, c, "UnknownOperationException", 400, "Unknown operation %.100s",
                        target ? target : "(no X-Amz-Target header)");
    }
}

/* A short JSON message for the NDJSON endpoint. */

static char *vplain_body(const char *fmt, va_list ap)
{
    char msg[512];
    json_t *j;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    j = json_pack("{s:s}", "error", msg);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

/* {"error": MESSAGE}, or NULL when out of memory. */
static char *plain_body(const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    s = vplain_body(fmt, ap);
    va_end(ap);
    return s;
}

static enum MHD_Result plain(struct req *q, struct MHD_Connection *c, unsigned status,
                             const char *retry, const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    s = vplain_body(fmt, ap);
    va_end(ap);
    return reply(q, c, status, "application/json", s, retry);
}

/* Lines of <b>: '\n'-terminated, '\r' dropped, empty skipped, a last line
 * without '\n' kept (the body is complete). Calls <fn> for each. */
static int each_line(const uint8_t *b, size_t n, int (*fn)(void *, const uint8_t *, uint32_t),
                     void *arg)
{
    const uint8_t *end = b + n, *nl;
    size_t len;
    int rc;

    while (b < end) {
        nl = memchr(b, '\n', (size_t)(end - b));
        len = (size_t)((nl ? nl : end) - b);
        if (len && b[len - 1] == '\r')
            len--;
        if (len && (rc = fn(arg, b, (uint32_t)len)) != SL_OK)
            return rc;
        b = nl ? nl + 1 : end;
    }
    return SL_OK;
}

struct ndj { uint64_t max, need, bytes; uint32_t n, too_long_at; struct sl_chunk *ch; };

static int ndj_size(void *arg, const uint8_t *p, uint32_t len)
{
    struct ndj *s = arg;

    (void)p;
    s->n++;
    if (len > s->max) {
        s->too_long_at = s->n;
        return SL_ETOOBIG;
    }
    s->need += SL_CHUNK_HDR + len;
    s->bytes += len;
    return SL_OK;
}

static int ndj_add(void *arg, const uint8_t *p, uint32_t len)
{
    sl_chunk_add(((struct ndj *)arg)->ch, p, len);
    return SL_OK;
}

static enum MHD_Result ndjson(struct sl_http *h, struct MHD_Connection *c, struct req *r,
                              const char *url)
{
    const char *name = url + strlen(NDJSON_PREFIX), *slash = strchr(name, '/');
    const char *enc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Encoding");
    struct sl_intake *in;
    struct ndj s = { 0 };
    int kind = SL_COMP_NONE, rc;

    if (!slash || strcmp(slash, "/records") != 0 || !(in = find(h, name, (size_t)(slash - name))))
        return plain(r, c, 404, NULL, "no such stream: %.*s", slash ? (int)(slash - name) : 64, name);
    if (enc && strcasecmp(enc, "gzip") == 0)
        kind = SL_COMP_GZIP;
    else if (enc && strcasecmp(enc, "zstd") == 0)
        kind = SL_COMP_ZSTD;
    else if (enc && strcasecmp(enc, "identity") != 0)
        return plain(r, c, 415, NULL, "Content-Encoding %.40s: use gzip, zstd or identity", enc);
    if (kind != SL_COMP_NONE) {           /* undo it, bounded: a bomb stops at the limit */
        struct sl_buf plainbuf;
        sl_buf_init(&plainbuf, h->lim.max_decompressed);
        rc = sl_decompress(kind, r->body.data, r->body.len, &plainbuf);
        if (rc != SL_OK) {
            sl_buf_destroy(&plainbuf);
            return rc == SL_ETOOBIG
                ? plain(r, c, 413, NULL, "body over %llu bytes once decompressed",
                        (unsigned long long)h->lim.max_decompressed)
                : plain(r, c, 400, NULL, "body is not valid %s", enc);
        }
        sl_buf_destroy(&r->body);
        r->body = plainbuf;
    }
    s.max = SL_LD(in->max_record_size);
    if (each_line(r->body.data, r->body.len, ndj_size, &s) != SL_OK) {
        sl_stat_add(&in->stats->rejected[SL_SRC_HTTP][SL_REJ_OVERSIZE], 1);
        return plain(r, c, 413, NULL, "record %u is longer than max_record_size (%llu bytes)",
                     s.too_long_at, (unsigned long long)s.max);
    }
    if (s.n == 0)
        return reply(r, c, 200, "application/json", strdup("{\"accepted\":0}"), NULL);
    if (s.bytes > sl_intake_room(in)) {
        sl_stat_add(&in->stats->rejected[SL_SRC_HTTP][SL_REJ_THROTTLED], s.n);
        return plain(r, c, 503, "1", "stream %s is full: retry later", in->name);
    }
    if (!(s.ch = sl_chunk_new((uint32_t)s.need, sl_clock_wall_ms(), sl_clock_mono_ms())))
        return plain(r, c, 503, "1", "out of memory");
    each_line(r->body.data, r->body.len, ndj_add, &s);
    json_t *j = json_pack("{s:I}", "accepted", (json_int_t)s.n);
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return take(h, c, r, in, s.ch, (struct answer){ 200, "application/json", body, NULL },
                (struct answer){ 503, "application/json",
                                 plain_body("stream %s cannot take records now: retry later",
                                            in->name), "1" });
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    struct sl_http *h = cls;
    struct req *r = *state;
    const char *cl;
    uint64_t clen;

    (void)version;
    if (!r) {
        if (!(r = calloc(1, sizeof(*r))))
            return MHD_NO;
        sl_buf_init(&r->body, h->lim.max_body);
        r->op = SL_HOP_OTHER;
        r->t0_ns = sl_clock_mono_ns();
        *state = r;
        struct sl_deadline *d = header_deadline(c);
        if (d)
            sl_deadline_set(d, 0);
        cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && sl_units_uint(cl, &clen) == SL_OK && clen > h->lim.max_body)
            return plain(r, c, 413, NULL, "body over %llu bytes",
                         (unsigned long long)h->lim.max_body);
        enum MHD_Result arc;          /* credentials before any body byte is held */
        return authorized(h, c, r, url, method, 0, &arc) ? MHD_YES : arc;
    }
    if (r->waiting) {                 /* resumed: the log has answered */
        r->waiting = 0;
        return atomic_load_explicit(&r->synced, memory_order_acquire) > 0
            ? send_answer(r, c, &r->ok, &r->fail) : send_answer(r, c, &r->fail, &r->ok);
    }
    if (*upload_size) {
        if (!r->too_big && sl_buf_append(&r->body, upload, *upload_size) != SL_OK)
            r->too_big = 1;
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->too_big)
        return plain(r, c, 413, NULL, "body over %llu bytes", (unsigned long long)h->lim.max_body);
    if (strcmp(method, "POST") != 0)
        return plain(r, c, 405, NULL, "use POST");
    enum MHD_Result rc;
    if (strcmp(url, "/") == 0)
        return authorized(h, c, r, url, method, 1, &rc) ? firehose(h, c, r) : rc;
    if (strncmp(url, NDJSON_PREFIX, strlen(NDJSON_PREFIX)) == 0) {
        r->op = SL_HOP_NDJSON;
        return authorized(h, c, r, url, method, 1, &rc) ? ndjson(h, c, r, url) : rc;
    }
    return plain(r, c, 404, NULL, "try POST / (Firehose API) or POST /v1/streams/NAME/records");
}

static void completed(void *cls, struct MHD_Connection *c, void **state,
                      enum MHD_RequestTerminationCode toe)
{
    struct sl_http *h = cls;
    struct req *r = *state;

    (void)toe;
    if (!r)
        return;
    struct sl_deadline *d = header_deadline(c);
    if (d)
        sl_deadline_set(d, sl_clock_mono_ms() + h->lim.header_timeout_ms);
    if (r->status)
        sl_http_stats_request(h->stats, r->op, r->status,
                              (double)(sl_clock_mono_ns() - r->t0_ns) / 1e9);
    sl_buf_destroy(&r->body);
    free(r->ok.body);              /* set only if the connection died while waiting */
    free(r->fail.body);
    free(r);
    *state = NULL;
}

/* Keeps sluice_http_connections and each connection's header deadline. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_state,
                          enum MHD_ConnectionNotificationCode code)
{
    struct sl_http *h = cls;
    const union MHD_ConnectionInfo *ci;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add_explicit(&h->stats->connections, 1, memory_order_relaxed);
        ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_state = ci ? sl_deadline_add(h->headers, ci->connect_fd,
                                             sl_clock_mono_ms() + h->lim.header_timeout_ms)
                           : NULL;
        uint64_t suppressed;
        if (!*socket_state && sl_ratelimit_ok(&h->rl, 5000, &suppressed))
            sl_warn("msg=\"HTTP connection left without a header deadline\" err=\"%s\" "
                    "suppressed=%llu", strerror(errno), (unsigned long long)suppressed);
        return;
    }
    atomic_fetch_add_explicit(&h->stats->connections, -1, memory_order_relaxed);
    sl_deadline_remove(*socket_state);
    *socket_state = NULL;
}

struct sl_http *sl_http_start(const struct sl_addr *addr, const struct sl_http_limits *lim,
                              const struct sl_http_stream *streams, size_t n,
                              const struct sl_http_ops *ops, void *arg,
                              struct sl_http_stats *stats, char *err, size_t errlen)
{
    struct sl_http *h = calloc(1, sizeof(*h));

    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    *h = (struct sl_http){ .lim = *lim, .streams = streams, .nstreams = n, .ops = ops,
                           .arg = arg, .stats = stats };
    /* A tick of a quarter of the timeout, at most a second: a cut comes at
     * most that late. */
    int64_t tick = lim->header_timeout_ms / 4;
    h->headers = sl_deadlines_new(tick < 1000 ? tick : 1000, &stats->header_timeouts);
    if (!h->headers) {
        snprintf(err, errlen, "cannot start the header deadline thread");
        free(h);
        return NULL;
    }
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                     (addr->ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0) |
                     (lim->tls_cert_pem ? MHD_USE_TLS : 0);
    /* Without TLS the two HTTPS options are skipped: MHD_OPTION_END ends
     * the list where they would start. */
    h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle, h,
                              MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&addr->ss,
                              MHD_OPTION_THREAD_POOL_SIZE, lim->threads,
                              MHD_OPTION_CONNECTION_LIMIT, lim->max_connections,
                              MHD_OPTION_CONNECTION_TIMEOUT, lim->timeout_s,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)lim->max_header,
                              MHD_OPTION_NOTIFY_COMPLETED, completed, h,
                              MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
                              lim->tls_cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END,
                              lim->tls_cert_pem,
                              MHD_OPTION_HTTPS_MEM_KEY, lim->tls_key_pem,
                              MHD_OPTION_END);
    if (!h->mhd) {
        snprintf(err, errlen, "%s", strerror(errno));
        sl_deadlines_free(h->headers);
        free(h);
        return NULL;
    }
    return h;
}

void sl_http_stop(struct sl_http *h)
{
    if (!h)
        return;
    /* A suspended connection must be resumed before MHD lets it go; the
     * logs' sync threads (still running) do that within a sync. */
    atomic_store(&h->stopping, 1);
    for (int i = 0; i < 30000 && atomic_load(&h->suspended) > 0; i++) {
        const struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    MHD_stop_daemon(h->mhd);
    sl_deadlines_free(h->headers);
    free(h);
}
