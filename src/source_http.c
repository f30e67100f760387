/*
 * source_http.c - see source_http.h.
 *
 * A request is checked in two steps. The first call of the access handler
 * comes with the headers and no body: whatever the headers decide is
 * answered there, before a byte of the body is held (framing, size,
 * method, path, stream, encoding, Content-Type, and the memory the body
 * will need). An answer queued then makes libmicrohttpd close the
 * connection instead of reading the body. The rest runs once the body is
 * complete: credentials (SigV4 signs the body) and the records.
 *
 * Memory: each body is bounded by max_body (and max_decompressed once
 * decoded), and all of them together by max_body_memory: a body is
 * charged before it is held (as its buffer grows, at most 2 x what has
 * arrived, or its whole Content-Length once a 16th of it has, in one
 * allocation; a decoded copy up front, at most max_decompressed or what
 * is left), and given back as soon as its records are in a chunk. A body
 * whose Content-Length does not fit at the first call, or that does not
 * fit as it grows, gets 503.
 *
 * Kept buffers: a keep-alive connection keeps its last body's buffer for
 * its next request (freed when it closes), so that a producer sending
 * batches of one size over one connection does not have the kernel fault
 * in fresh pages for each. A kept buffer is not a body: it is charged to
 * max_body_memory again (its whole capacity, at most twice the
 * Content-Length) only when a body takes it, at the moment that body
 * would be reserved whole. Kept buffers are bounded apart: each at most
 * max_body, all of them together at most max_body_memory / 8
 * (SPARE_SHARE); a buffer past that is freed.
 *
 * Connections: at most max_per_ip open from one address (the accept
 * policy refuses the next at once, counted and logged), so one greedy
 * peer cannot take every slot.
 *
 * The module (source.h: its keys, checks and hooks) is at the end of the
 * file.
 */
#include "source_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <search.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "aws_sigv4.h"
#include "buf.h"
#include "chunk.h"
#include "clock.h"
#include "compress.h"
#include "config.h"
#include "deadline.h"
#include "firehose_api.h"
#include "fsio.h"
#include "log.h"
#include "source.h"
#include "sluice/err.h"
#include "units.h"

#define JSON_TYPE "application/x-amz-json-1.1"
#define NDJSON_PREFIX "/v1/streams/"
#define WARN_EVERY_MS 10000      /* the rate of each repeated warning below */
#define TOKEN_CHARS "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz" \
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"   /* RFC 9110 §5.6.2 tchar */

/* The label values of the sluice_http_* families. */
static const char *const op_names[SL_HOP_N] = {
    "PutRecord", "PutRecordBatch", "ListDeliveryStreams", "DescribeDeliveryStream",
    "ndjson", "other",
};
static const int statuses[SL_HTTP_NSTATUS] = {
    200, 400, 401, 403, 404, 405, 413, 415, 500, 501, 503, 0 /* the last slot: any other */
};
static const char *const refusal_names[SL_HREF_N] = { "body_memory", "framing" };

/*
 * Threads: MHD's pool threads run every callback. <peers> is guarded by
 * <peers_lock>; the counters in <stats> and the fields marked atomic are
 * shared lock-free; the rest is fixed after start.
 */
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
    struct sl_ratelimit peer_rl;            /* ... a connection refused per address */
    struct sl_ratelimit framing_rl;         /* ... a request refused for its framing */
    struct sl_ratelimit memory_rl;          /* ... a request refused for body memory */
    struct sl_ratelimit tls_rl;             /* ... a failed TLS handshake */
    _Atomic int suspended;                  /* connections waiting for a log's sync */
    _Atomic int stopping;                   /* sl_source_http_stop: suspend no more */
    struct sl_ratelimit auth_rl[SL_AUTH_R_N];  /* of the refusal lines, per reason */
    _Atomic unsigned tls_pending;           /* handshake failures whose peer is not named yet */
    _Atomic uint64_t spare_bytes;           /* capacity of the conns' kept buffers */
    pthread_mutex_t peers_lock;
    void *peers;                            /* tsearch tree of struct peer */
};

/* Open connections from one address; in <peers> while n > 0. */
struct peer {
    unsigned char addr[16];
    unsigned len;                /* 4 or 16 */
    unsigned n;
};

/* One connection (MHD's socket context), from its opening to its close.
 * Threads: only the MHD thread that runs the connection's callbacks. */
struct conn {
    struct sl_deadline *deadline;   /* NULL: none could be set */
    int counted;                    /* in <peers> */
    int requested;                  /* a request header came: TLS worked */
    struct sl_buf spare;            /* the last body's buffer, kept for the next one (data
                                     * NULL: none); counted in h->spare_bytes */
};

/* An answer prepared before it can be sent. */
struct answer {
    unsigned status;
    const char *type;
    char *body;                  /* owned */
    const char *retry_after;
    uint32_t fh_refuse;          /* no <body>: Firehose's "Slow down." to this many
                                  * records, written only if it is sent (fh_refusal) */
    int fh_batch;                /* ... PutRecordBatch's shape, else PutRecord's */
};

/* Why a body is not being taken in; answered once the client has sent it
 * all (libmicrohttpd cannot answer in the middle of a body). */
enum { REF_NONE, REF_TOO_BIG, REF_MEMORY };

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
    uint64_t charged;            /* bytes of <body> counted in stats->body_bytes */
    int refused;                 /* REF_*: the rest of the body is dropped */
    int sized;                   /* a Content-Length set body.max (body_in) */
    int close;                   /* answer with Connection: close */
    int firehose;                /* POST /, else NDJSON */
    struct sl_intake *in;        /* NDJSON: the stream (first call) */
    int kind;                    /* NDJSON: its Content-Encoding (first call) */
    int op;                      /* enum sl_http_op, for the metrics */
    int status;                  /* what was answered */
    int64_t t0_ns;               /* monotonic: the first callback */
    int waiting;                 /* suspended for the log: answer on the next call */
    _Atomic int synced;          /* sync thread -> handler: 1 on disk, -1 not known */
    struct answer ok, fail;      /* while waiting */
    struct MHD_Connection *conn; /* while waiting */
    struct sl_http *h;           /* while waiting */
};

static struct conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

/* The header deadline of connection <c>: set when it opens and after each
 * response, cleared when a request's header is complete. */
static struct sl_deadline *header_deadline(struct MHD_Connection *c)
{
    struct conn *k = conn_of(c);

    return k ? k->deadline : NULL;
}

/* "ADDR:PORT" ("[ADDR]:PORT" for IPv6) of <sa> into <buf>, "?" if unknown. */
static const char *peer_name(const struct sockaddr *sa, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        port = ntohs(a->sin_port);
        snprintf(buf, len, "%s:%u", ip, port);
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
        snprintf(buf, len, "[%s]:%u", ip, port);
    } else {
        snprintf(buf, len, "?");
    }
    return buf;
}

/* peer_name() of connection <c>'s client. */
static const char *conn_peer(struct MHD_Connection *c, char *buf, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    return peer_name(ci ? ci->client_addr : NULL, buf, len);
}

/*
 * Body memory: stats->body_bytes is what all bodies hold, never above
 * lim.max_body_memory. Charges min(<want>, what is left), if that is at
 * least <least>; returns what was charged (0: nothing).
 */
static uint64_t mem_take(struct sl_http *h, uint64_t want, uint64_t least)
{
    _Atomic uint64_t *held = &h->stats->body_bytes;
    uint64_t cur = atomic_load_explicit(held, memory_order_relaxed), n;

    do {
        n = h->lim.max_body_memory - cur;
        if (n > want)
            n = want;
        if (n < least || n == 0)
            return 0;
    } while (!atomic_compare_exchange_weak_explicit(held, &cur, cur + n, memory_order_relaxed,
                                                    memory_order_relaxed));
    return n;
}

static void mem_give(struct sl_http *h, uint64_t n)
{
    if (n)
        atomic_fetch_sub_explicit(&h->stats->body_bytes, n, memory_order_relaxed);
}

/* Frees <r>'s body and gives its memory back. */
static void drop_body(struct sl_http *h, struct req *r)
{
    sl_buf_destroy(&r->body);
    mem_give(h, r->charged);
    r->charged = 0;
}

/* Kept buffers, all connections together, may hold max_body_memory / this. */
#define SPARE_SHARE 8

/* Frees connection <k>'s kept buffer, if any. */
static void spare_free(struct sl_http *h, struct conn *k)
{
    if (k->spare.data)
        atomic_fetch_sub_explicit(&h->spare_bytes, k->spare.cap, memory_order_relaxed);
    sl_buf_destroy(&k->spare);
}

/*
 * Done with <r>'s body, as drop_body, except that its buffer stays with
 * connection <c> for the next request, in place of the one kept there
 * (the latest size is the likeliest next), if it may: at most max_body,
 * and room among the kept buffers.
 */
static void keep_body(struct sl_http *h, struct MHD_Connection *c, struct req *r)
{
    struct conn *k = r->body.data ? conn_of(c) : NULL;
    uint64_t cap = r->body.cap, cur, max = h->lim.max_body_memory / SPARE_SHARE;

    if (k)
        spare_free(h, k);
    if (!k || cap > h->lim.max_body) {
        drop_body(h, r);
        return;
    }
    cur = atomic_load_explicit(&h->spare_bytes, memory_order_relaxed);
    do {
        if (cur > max || cap > max - cur) {
            drop_body(h, r);
            return;
        }
    } while (!atomic_compare_exchange_weak_explicit(&h->spare_bytes, &cur, cur + cap,
                                                    memory_order_relaxed,
                                                    memory_order_relaxed));
    k->spare = r->body;
    sl_buf_init(&r->body, r->body.max);
    mem_give(h, r->charged);
    r->charged = 0;
}

/*
 * <r>'s body about to be reserved whole, <want> bytes (its Content-Length):
 * takes connection <c>'s kept buffer instead if it is large enough and at
 * most twice that, and its whole capacity can be charged; what the body
 * held so far moves into it. A kept buffer that does not fit is freed.
 * Returns 1 if <r> has it (charged, and nothing else).
 */
static int take_spare(struct sl_http *h, struct MHD_Connection *c, struct req *r,
                      uint64_t want)
{
    struct conn *k = conn_of(c);
    uint64_t cap;

    if (!k || !k->spare.data)
        return 0;
    cap = k->spare.cap;
    if (cap < want || cap > 2 * want || !mem_take(h, cap, cap)) {
        spare_free(h, k);
        return 0;
    }
    atomic_fetch_sub_explicit(&h->spare_bytes, cap, memory_order_relaxed);
    if (r->body.len)
        memcpy(k->spare.data, r->body.data, r->body.len);
    free(r->body.data);
    mem_give(h, r->charged);
    r->body.data = k->spare.data;
    r->body.cap = cap;
    r->charged = cap;
    sl_buf_init(&k->spare, 0);
    return 1;
}

/* A body with a Content-Length is reserved whole, in one allocation (no
 * realloc copying it over and over), once this fraction of it has come:
 * a client that stops sending holds at most this many times what it
 * sent, as a chunked body holds at most twice. */
#define SIZED_RESERVE 16

/*
 * Takes <n> more bytes of <r>'s body in, or marks it refused (and drops
 * what it held). A body is charged as it arrives, before its buffer grows:
 * to its whole Content-Length (body.max, r->sized) once 1/SIZED_RESERVE
 * of it is here; else sl_buf doubles from 256 bytes, so the new capacity
 * is below 2 x the bytes needed (and at most body.max), and the surplus
 * is given back. Either way the buffer never holds more than is charged.
 * The whole body may come in the connection's kept buffer (take_spare).
 */
static void body_in(struct sl_http *h, struct MHD_Connection *c, struct req *r,
                    const char *p, size_t n)
{
    uint64_t need = (uint64_t)r->body.len + n, want;

    if (r->refused)
        return;
    if (need > r->body.max) {
        r->refused = REF_TOO_BIG;
        drop_body(h, r);
        return;
    }
    if (need > r->body.cap) {
        int whole = r->sized && need >= r->body.max / SIZED_RESERVE;
        want = whole ? r->body.max : need < 128 ? 256 : 2 * need;
        if (want > r->body.max)
            want = r->body.max;
        if (whole && take_spare(h, c, r, want))
            whole = 0;                   /* room for all of it, charged */
        else if (want > r->charged) {
            if (!mem_take(h, want - r->charged, want - r->charged))
                goto nomem;
            r->charged = want;
        }
        /* whole: room up to body.max, which sl_buf allocates exactly */
        if (whole && sl_buf_reserve(&r->body, r->body.max - r->body.len) != SL_OK)
            goto nomem;
    }
    if (sl_buf_append(&r->body, p, n) != SL_OK)
        goto nomem;
    if (r->charged > r->body.cap) {
        mem_give(h, r->charged - r->body.cap);
        r->charged = r->body.cap;
    }
    return;
nomem:
    r->refused = REF_MEMORY;
    drop_body(h, r);
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
    if (q->close)                 /* libmicrohttpd then closes after the answer */
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
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
    return reply(q, c, (unsigned)status, JSON_TYPE, sl_firehose_api_error_body(&e), NULL);
}

static char *plain_body(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Firehose's answer when none of <n> records could be taken: PutRecordBatch
 * refuses each one (200), PutRecord answers 503. A new string (NULL: out of
 * memory). */
static char *fh_refusal(uint32_t n, int batch)
{
    struct sl_fh_error slow = { .type = "ServiceUnavailableException", .status = 503 };

    if (batch)
        return sl_firehose_api_put_batch_response(n, 0);
    snprintf(slow.message, sizeof(slow.message), "Slow down.");
    return sl_firehose_api_error_body(&slow);
}

static enum MHD_Result send_answer(struct req *r, struct MHD_Connection *c,
                                   struct answer *a, struct answer *other)
{
    char *body;

    if (!a->body && a->fh_refuse)  /* the refusal, written now that it is needed */
        a->body = fh_refusal(a->fh_refuse, a->fh_batch);
    body = a->body;               /* reply() takes it */
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
    /* Counted, then the stop checked (both seq_cst, against sl_source_http_stop's
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
    uint32_t n, ok = 0, len;
    uint64_t room, used = 0;
    const uint8_t *p;

    int rc = sl_firehose_api_parse_put((const char *)r->body.data, r->body.len, batch, stream,
                             sl_clock_wall_ms(), sl_clock_mono_ms(), &ch, &e);

    keep_body(h, c, r);                    /* the records are in <ch> now */
    if (rc != SL_OK)
        return reply(r, c, (unsigned)e.status, JSON_TYPE, sl_firehose_api_error_body(&e), NULL);
    if (!(in = find(h, stream, strlen(stream)))) {
        sl_chunk_unref(ch);
        return fh_error(r, c, "ResourceNotFoundException", 400,
                        "Firehose %s under account 000000000000 not found.", stream);
    }
    room = sl_intake_room(in);
    n = ch->nrecords;
    if (ch->bytes <= room)                 /* all fit: no walk */
        ok = n;
    for (; ok < n; ok++) {                 /* the records that fit, in order */
        sl_chunk_at(ch, ok, &p, &len);
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
        return reply(r, c, 200, JSON_TYPE, sl_firehose_api_put_batch_response(n, 0), NULL);
    }
    sl_firehose_api_chunk_truncate(ch, ok);
    char *done = batch ? sl_firehose_api_put_batch_response(n, ok)
                       : sl_firehose_api_put_record_response();
    /* The refusal is rare (the log full or failing): written only if sent. */
    return take(h, c, r, in, ch,
                (struct answer){ .status = 200, .type = JSON_TYPE, .body = done },
                (struct answer){ .status = batch ? 200 : 503, .type = JSON_TYPE,
                                 .fh_refuse = n, .fh_batch = batch });
}

/* ListDeliveryStreams: names in order, Limit and ExclusiveStartDeliveryStreamName. */
static enum MHD_Result fh_list(struct sl_http *h, struct MHD_Connection *c, struct req *r)
{
    json_t *req = json_loadb((const char *)r->body.data, r->body.len, JSON_REJECT_DUPLICATES,
                             NULL);
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
    json_t *req = json_loadb((const char *)r->body.data, r->body.len, JSON_REJECT_DUPLICATES,
                             NULL);
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
    if (sl_aws_sigv4_query_add(&a->q, key, key_size, value, value_size) != SL_OK) {
        a->over = 1;
        return MHD_NO;
    }
    return MHD_YES;
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
    char peer[64], key[129];
    uint64_t suppressed;
    size_t i;

    sl_stat_add(&h->stats->auth_failures[reason], 1);
    if (!sl_log_ratelimit_ok(&h->auth_rl[reason], 5000, &suppressed))
        return;
    for (i = 0; who[i] && i < sizeof(key) - 1; i++)
        key[i] = (who[i] >= 'a' && who[i] <= 'z') || (who[i] >= 'A' && who[i] <= 'Z') ||
                 (who[i] >= '0' && who[i] <= '9') || strchr("._+=@:/- ", who[i]) ? who[i] : '?';
    key[i] = '\0';
    conn_peer(c, peer, sizeof(peer));
    sl_warn("msg=\"HTTP request refused\" peer=%s key=\"%s\" operation=%s reason=%s status=%d "
            "suppressed=%llu", peer, key, op_names[r->op], sl_auth_reason_names[reason],
            r->status, (unsigned long long)suppressed);
}

/* The operation of a Firehose API request, from X-Amz-Target. */
static int fh_op(struct MHD_Connection *c)
{
    const char *target = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Amz-Target");

    switch (sl_firehose_api_operation(target)) {
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
 * decide (sl_aws_sigv4_precheck), after it the whole signature over the path,
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
        ok = (body_read ? sl_aws_sigv4_verify(&v, &q, sl_clock_wall_ms() / 1000, &e)
                        : sl_aws_sigv4_precheck(&v, &q, sl_clock_wall_ms() / 1000, &e)) == SL_OK;
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

/* Firehose's API, first call: the Content-Type. Returns 1 if the request
 * may go on; else queues the refusal with *<rc> set. */
static int firehose_headers(struct MHD_Connection *c, struct req *r, enum MHD_Result *rc)
{
    const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");

    if (type && strncasecmp(type, JSON_TYPE, strlen(JSON_TYPE)) == 0)
        return 1;
    *rc = fh_error(r, c, "SerializationException", 400, "Content-Type must be %s, not %s",
                   JSON_TYPE, type ? type : "missing");
    return 0;
}

/* Firehose's API, the body complete (its Content-Type checked already). */
static enum MHD_Result firehose(struct sl_http *h, struct MHD_Connection *c, struct req *r)
{
    const char *target = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Amz-Target");

    switch (sl_firehose_api_operation(target)) {
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
    s->need += SL_CHUNK_HDR + len + 1;
    s->bytes += len;
    return SL_OK;
}

static int ndj_add(void *arg, const uint8_t *p, uint32_t len)
{
    sl_chunk_add_nl(((struct ndj *)arg)->ch, p, len);   /* no '\n' in a line */
    return SL_OK;
}

/* 503 with Retry-After: the bodies being read hold max_body_memory. */
static enum MHD_Result busy(struct sl_http *h, struct MHD_Connection *c, struct req *r)
{
    struct sl_fh_error e = { .type = "ServiceUnavailableException", .status = 503 };
    uint64_t suppressed;

    sl_stat_add(&h->stats->refused[SL_HREF_BODY_MEMORY], 1);
    if (sl_log_ratelimit_ok(&h->memory_rl, WARN_EVERY_MS, &suppressed))
        sl_warn("msg=\"HTTP request refused with 503: the request bodies being read hold "
                "http_max_body_memory\" limit=%llu suppressed=%llu",
                (unsigned long long)h->lim.max_body_memory, (unsigned long long)suppressed);
    if (!r->firehose)
        return plain(r, c, 503, "1", "too many request bodies are being read: retry later");
    snprintf(e.message, sizeof(e.message), "Too many request bodies are being read: retry "
             "later.");
    return reply(r, c, 503, JSON_TYPE, sl_firehose_api_error_body(&e), "1");
}

/*
 * NDJSON, first call: the stream (404) and the Content-Encoding (415) are
 * known from the URL and headers. Returns 1 if the request may go on
 * (r->in and r->kind set); else queues the refusal with *<rc> set.
 */
static int ndjson_headers(struct sl_http *h, struct MHD_Connection *c, struct req *r,
                          const char *url, enum MHD_Result *rc)
{
    const char *name = url + strlen(NDJSON_PREFIX), *slash = strchr(name, '/');
    const char *enc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Encoding");

    if (!slash || strcmp(slash, "/records") != 0 ||
        !(r->in = find(h, name, (size_t)(slash - name)))) {
        *rc = plain(r, c, 404, NULL, "no such stream: %.*s",
                    slash ? (int)(slash - name) : 64, name);
        return 0;
    }
    r->kind = SL_COMP_NONE;
    if (enc && strcasecmp(enc, "gzip") == 0)
        r->kind = SL_COMP_GZIP;
    else if (enc && strcasecmp(enc, "zstd") == 0)
        r->kind = SL_COMP_ZSTD;
    else if (enc && strcasecmp(enc, "identity") != 0) {
        *rc = plain(r, c, 415, NULL, "Content-Encoding %.40s: use gzip, zstd or identity", enc);
        return 0;
    }
    return 1;
}

/*
 * Replaces <r>'s compressed body by its decoding, bounded by
 * max_decompressed (a bomb gets 413) and by the body memory left, charged
 * up front and the unused part given back (short of it: 503). Returns
 * SL_OK, or an error with the refusal queued and *<rc> set.
 */
static int decode(struct sl_http *h, struct MHD_Connection *c, struct req *r,
                  enum MHD_Result *rc)
{
    uint64_t got = mem_take(h, h->lim.max_decompressed, 1);
    struct sl_buf out;
    int e;

    if (!got) {
        *rc = busy(h, c, r);
        return SL_EAGAIN;
    }
    sl_buf_init(&out, got);
    e = sl_compress_decode(r->kind, r->body.data, r->body.len, &out);
    if (e == SL_OK) {
        mem_give(h, got - out.cap);
        drop_body(h, r);
        r->body = out;
        r->charged = out.cap;
        return SL_OK;
    }
    sl_buf_destroy(&out);
    mem_give(h, got);
    if (e == SL_ENOMEM || (e == SL_ETOOBIG && got < h->lim.max_decompressed))
        *rc = busy(h, c, r);
    else if (e == SL_ETOOBIG)
        *rc = plain(r, c, 413, NULL, "body over %llu bytes once decompressed",
                    (unsigned long long)h->lim.max_decompressed);
    else
        *rc = plain(r, c, 400, NULL, "body is not valid %s: a stream cut short, corrupt, or "
                    "with bytes after its end", r->kind == SL_COMP_GZIP ? "gzip" : "zstd");
    return e;
}

/* NDJSON, the body complete: its lines become one chunk. */
static enum MHD_Result ndjson(struct sl_http *h, struct MHD_Connection *c, struct req *r,
                              const char *url)
{
    struct sl_intake *in = r->in;
    struct ndj s = { 0 };
    enum MHD_Result rc;

    (void)url;
    if (r->kind != SL_COMP_NONE && decode(h, c, r, &rc) != SL_OK)
        return rc;
    s.max = SL_LD(in->max_record_size);
    if (each_line(r->body.data, r->body.len, ndj_size, &s) != SL_OK) {
        sl_stat_add(&in->stats->rejected[SL_SRC_HTTP][SL_REJ_OVERSIZE], 1);
        return plain(r, c, 413, NULL, "record %u is longer than max_record_size (%llu bytes)",
                     s.too_long_at, (unsigned long long)s.max);
    }
    if (s.n == 0)
        return reply(r, c, 200, "application/json", strdup("{\"accepted\":0}"), NULL);
    if (s.need > UINT32_MAX - 7) {         /* a chunk's size; only a body inflated to GiBs */
        sl_stat_add(&in->stats->rejected[SL_SRC_HTTP][SL_REJ_OVERSIZE], s.n);
        return plain(r, c, 413, NULL, "body holds too many records for one request: "
                     "split it");
    }
    if (s.bytes > sl_intake_room(in)) {
        sl_stat_add(&in->stats->rejected[SL_SRC_HTTP][SL_REJ_THROTTLED], s.n);
        return plain(r, c, 503, "1", "stream %s is full: retry later", in->name);
    }
    if (!(s.ch = sl_chunk_new((uint32_t)s.need, sl_clock_wall_ms(), sl_clock_mono_ms())))
        return plain(r, c, 503, "1", "out of memory");
    s.ch->flags = SL_CHUNK_NL;
    each_line(r->body.data, r->body.len, ndj_add, &s);
    keep_body(h, c, r);                    /* the records are in the chunk now */
    json_t *j = json_pack("{s:I}", "accepted", (json_int_t)s.n);
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return take(h, c, r, in, s.ch,
                (struct answer){ .status = 200, .type = "application/json", .body = body },
                (struct answer){ .status = 503, .type = "application/json",
                                 .body = plain_body("stream %s cannot take records now: "
                                                    "retry later", in->name),
                                 .retry_after = "1" });
}

/* What the headers say of the body's length (RFC 9112 §6). */
struct framing {
    unsigned ncl, nte, nhost;    /* Content-Length, Transfer-Encoding and Host headers */
    int bad_cl, differ;          /* one not a plain decimal; two different */
    int bad_name;                /* a header name that is not an RFC 9110 token */
    uint64_t cl;                 /* the (last) Content-Length */
    const char *te;              /* the (last) Transfer-Encoding */
};

/* 1 if <s> is 1 to 19 decimal digits and nothing else, its value in *<v>. */
static int plain_decimal(const char *s, uint64_t *v)
{
    size_t n = 0;

    *v = 0;
    for (; s[n] >= '0' && s[n] <= '9'; n++)
        *v = *v * 10 + (uint64_t)(s[n] - '0');
    return n > 0 && n <= 19 && s[n] == '\0';
}

static enum MHD_Result framing_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    struct framing *f = cls;
    uint64_t v;

    (void)kind;
    /* libmicrohttpd 0.9.75 keeps "Transfer-Encoding :" (a space before the
     * colon) as "Transfer-Encoding ", and "Transfer-Encoding:" folded onto
     * " chunked" as "Transfer-Encodingchunked", which a proxy may read as
     * the real header: RFC 9112 §5.1, §5.2 want both refused. */
    if (!key[0] || strspn(key, TOKEN_CHARS) != strlen(key) ||
        (strncasecmp(key, "content-length", 14) == 0 && key[14]) ||
        (strncasecmp(key, "transfer-encoding", 17) == 0 && key[17]))
        f->bad_name = 1;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        if (!value || !plain_decimal(value, &v))
            f->bad_cl = 1;
        else if (f->ncl && v != f->cl)
            f->differ = 1;
        else
            f->cl = v;
        f->ncl++;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        f->nte++;
        f->te = value ? value : "";
    } else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0) {
        f->nhost++;
    }
    return MHD_YES;
}

/*
 * Request smuggling (RFC 9112 §6.1, §6.3): a body whose length two parties
 * could read differently is refused, 400 (an unknown transfer coding 501),
 * and the connection closed. libmicrohttpd 0.9.75 would take
 * Transfer-Encoding over Content-Length, the first of two Content-Lengths,
 * and any other coding as "read until close". So is a request whose Host
 * a proxy and sluice could read differently (RFC 9112 §3.2: none in
 * HTTP/1.1, or several). Fills <f>; returns 1 with the refusal queued and
 * *<rc> set, else 0.
 */
static int framing_refused(struct sl_http *h, struct MHD_Connection *c, struct req *r,
                           const char *version, struct framing *f, enum MHD_Result *rc)
{
    const char *why = NULL;
    unsigned status = 400;
    uint64_t suppressed;
    char peer[64];

    MHD_get_connection_values(c, MHD_HEADER_KIND, framing_header, f);
    if (f->bad_name)
        why = "a header name that is not a token (a space before its colon, or a folded line)";
    else if (f->nte && f->ncl)
        why = "Content-Length and Transfer-Encoding together";
    else if (f->bad_cl)
        why = "a Content-Length that is not a plain decimal number";
    else if (f->differ)
        why = "Content-Length headers that differ";
    else if (f->nte > 1)
        why = "more than one Transfer-Encoding header";
    else if (f->nte && strcmp(version, MHD_HTTP_VERSION_1_0) == 0)
        why = "Transfer-Encoding in an HTTP/1.0 request";
    else if (f->nte && strcasecmp(f->te, "chunked") != 0)
        why = "a Transfer-Encoding other than chunked", status = 501;
    else if (f->nhost > 1 || (!f->nhost && strcmp(version, MHD_HTTP_VERSION_1_1) == 0))
        why = f->nhost ? "more than one Host header" : "an HTTP/1.1 request without Host";
    if (!why)
        return 0;
    sl_stat_add(&h->stats->refused[SL_HREF_FRAMING], 1);
    if (sl_log_ratelimit_ok(&h->framing_rl, WARN_EVERY_MS, &suppressed)) {
        sl_warn("msg=\"HTTP request refused: ambiguous body length (request smuggling?)\" "
                "peer=%s status=%u reason=\"%s\" suppressed=%llu",
                conn_peer(c, peer, sizeof(peer)), status, why,
                (unsigned long long)suppressed);
    }
    r->close = 1;
    *rc = plain(r, c, status, NULL, "refused: %s", why);
    return 1;
}

/*
 * The first call: the headers are complete, no byte of the body is held.
 * Refuses what they decide, in the order the answers had when they came
 * after the body (framing first: nothing else can be trusted without it),
 * then charges the body's Content-Length to max_body_memory.
 */
static enum MHD_Result first_call(struct sl_http *h, struct MHD_Connection *c, struct req *r,
                                  const char *url, const char *method, const char *version)
{
    struct framing f = { 0 };
    enum MHD_Result rc;

    r->firehose = strcmp(url, "/") == 0;
    if (framing_refused(h, c, r, version, &f, &rc))
        return rc;
    if (f.ncl && f.cl > h->lim.max_body)
        return plain(r, c, 413, NULL, "body over %llu bytes",
                     (unsigned long long)h->lim.max_body);
    if (strcmp(method, "POST") != 0)
        return plain(r, c, 405, NULL, "use POST");
    if (!r->firehose && strncmp(url, NDJSON_PREFIX, strlen(NDJSON_PREFIX)) != 0)
        return plain(r, c, 404, NULL, "try POST / (Firehose API) or POST /v1/streams/NAME/records");
    if (!r->firehose)
        r->op = SL_HOP_NDJSON;
    if (!authorized(h, c, r, url, method, 0, &rc))   /* credentials before any body */
        return rc;
    if (r->firehose ? !firehose_headers(c, r, &rc) : !ndjson_headers(h, c, r, url, &rc))
        return rc;
    if (f.ncl && f.cl) {
        /* Refused now if it could not fit now; charged as it arrives
         * (body_in), so headers that announce a body and send none hold
         * nothing. */
        if (f.cl > h->lim.max_body_memory -
                   atomic_load_explicit(&h->stats->body_bytes, memory_order_relaxed))
            return busy(h, c, r);
        r->body.max = (size_t)f.cl;        /* libmicrohttpd reads no more than that */
        r->sized = 1;
    }
    return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    struct sl_http *h = cls;
    struct req *r = *state;

    if (!r) {
        if (!(r = calloc(1, sizeof(*r))))
            return MHD_NO;
        sl_buf_init(&r->body, h->lim.max_body);
        r->op = SL_HOP_OTHER;
        r->t0_ns = sl_clock_mono_ns();
        *state = r;
        struct conn *k = conn_of(c);
        if (k)
            k->requested = 1;
        if (k && k->deadline)
            sl_deadline_set(k->deadline, 0);
        return first_call(h, c, r, url, method, version);
    }
    if (r->waiting) {                 /* resumed: the log has answered */
        r->waiting = 0;
        return atomic_load_explicit(&r->synced, memory_order_acquire) > 0
            ? send_answer(r, c, &r->ok, &r->fail) : send_answer(r, c, &r->fail, &r->ok);
    }
    if (*upload_size) {
        body_in(h, c, r, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->refused == REF_TOO_BIG)
        return plain(r, c, 413, NULL, "body over %llu bytes", (unsigned long long)h->lim.max_body);
    if (r->refused == REF_MEMORY)
        return busy(h, c, r);
    enum MHD_Result rc;
    if (r->firehose)
        return authorized(h, c, r, url, method, 1, &rc) ? firehose(h, c, r) : rc;
    return authorized(h, c, r, url, method, 1, &rc) ? ndjson(h, c, r, url) : rc;
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
        sl_source_http_count(h->stats, r->op, r->status,
                              (double)(sl_clock_mono_ns() - r->t0_ns) / 1e9);
    keep_body(h, c, r);
    free(r->ok.body);              /* set only if the connection died while waiting */
    free(r->fail.body);
    free(r);
    *state = NULL;
}

/* The key of <sa> in <peers> (its address, without the port). 0 if it
 * has none to count by (not IP). */
static int peer_key(const struct sockaddr *sa, struct peer *k)
{
    memset(k, 0, sizeof(*k));
    if (sa && sa->sa_family == AF_INET) {
        memcpy(k->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        k->len = 4;
    } else if (sa && sa->sa_family == AF_INET6) {
        memcpy(k->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        k->len = 16;
    }
    return k->len != 0;
}

static int peer_cmp(const void *a, const void *b)
{
    const struct peer *x = a, *y = b;

    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->addr, y->addr, x->len);
}

/* Open connections from the address of <sa>, plus <delta> (+1 opened,
 * -1 closed, 0 just asks). A peer whose count falls to 0 leaves the tree,
 * so the tree holds at most one node per open connection. */
static unsigned peer_count(struct sl_http *h, const struct sockaddr *sa, int delta)
{
    struct peer key, **found, *p;
    unsigned n = 0;

    if (!peer_key(sa, &key))
        return 0;
    pthread_mutex_lock(&h->peers_lock);
    found = tfind(&key, &h->peers, peer_cmp);
    if (!found && delta > 0 && (p = malloc(sizeof(*p)))) {
        *p = key;
        found = tsearch(p, &h->peers, peer_cmp);
        if (!found || *found != p) {       /* out of memory in tsearch */
            free(p);
            found = NULL;
        }
    }
    if (found) {
        p = *found;
        p->n = (unsigned)((int)p->n + delta);
        n = p->n;
        if (n == 0) {
            tdelete(p, &h->peers, peer_cmp);
            free(p);
        }
    }
    pthread_mutex_unlock(&h->peers_lock);
    return n;
}

/*
 * libmicrohttpd's accept policy: refuses a connection from an address that
 * has max_per_ip open. The count goes up when the connection starts
 * (on_connection), so threads accepting at the same moment can pass the
 * limit by at most one each: never by a flood.
 */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *sa, socklen_t len)
{
    struct sl_http *h = cls;
    uint64_t suppressed;
    char peer[64];

    (void)len;
    if (!h->lim.max_per_ip || peer_count(h, sa, 0) < h->lim.max_per_ip)
        return MHD_YES;
    sl_stat_add(&h->stats->rejected_per_ip, 1);
    if (sl_log_ratelimit_ok(&h->peer_rl, WARN_EVERY_MS, &suppressed))
        sl_warn("msg=\"HTTP connection refused: too many open from one address\" peer=%s "
                "limit=%u suppressed=%llu", peer_name(sa, peer, sizeof(peer)),
                h->lim.max_per_ip, (unsigned long long)suppressed);
    return MHD_NO;
}

/* A connection closes: one whose TLS handshake failed (libmicrohttpd said
 * so in its log, without the peer) and that sent no request is named. */
static void note_tls_failure(struct sl_http *h, struct MHD_Connection *c, struct conn *k)
{
    unsigned pending = atomic_load_explicit(&h->tls_pending, memory_order_relaxed);
    uint64_t suppressed;
    char peer[64];

    if (!h->lim.tls_cert_pem || !k || k->requested)
        return;
    do {
        if (pending == 0)
            return;
    } while (!atomic_compare_exchange_weak_explicit(&h->tls_pending, &pending, pending - 1,
                                                    memory_order_relaxed,
                                                    memory_order_relaxed));
    if (!sl_log_ratelimit_ok(&h->tls_rl, WARN_EVERY_MS, &suppressed))
        return;
    sl_warn("msg=\"TLS handshake failed on the HTTPS listener: plain HTTP sent to it, a "
            "client that refused its certificate, or one that closed before its "
            "handshake\" peer=%s suppressed=%llu",
            conn_peer(c, peer, sizeof(peer)),
            (unsigned long long)suppressed);
}

/* Keeps sluice_http_connections, the per-address counts and each
 * connection's header deadline. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_state,
                          enum MHD_ConnectionNotificationCode code)
{
    struct sl_http *h = cls;
    const union MHD_ConnectionInfo *ci;
    struct conn *k = *socket_state;
    uint64_t suppressed;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add_explicit(&h->stats->connections, 1, memory_order_relaxed);
        if (!(k = calloc(1, sizeof(*k))))
            return;                    /* neither counted nor cut: no worse than before */
        *socket_state = k;
        ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        k->counted = ci && peer_count(h, ci->client_addr, 1) > 0;
        ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        k->deadline = ci ? sl_deadline_add(h->headers, ci->connect_fd,
                                           sl_clock_mono_ms() + h->lim.header_timeout_ms)
                         : NULL;
        if (!k->deadline && sl_log_ratelimit_ok(&h->rl, 5000, &suppressed))
            sl_warn("msg=\"HTTP connection left without a header deadline\" err=\"%s\" "
                    "suppressed=%llu", strerror(errno), (unsigned long long)suppressed);
        return;
    }
    atomic_fetch_add_explicit(&h->stats->connections, -1, memory_order_relaxed);
    if (!k)
        return;
    note_tls_failure(h, c, k);
    ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (k->counted && ci)
        peer_count(h, ci->client_addr, -1);
    sl_deadline_remove(k->deadline);
    spare_free(h, k);
    free(k);
    *socket_state = NULL;
}

/* libmicrohttpd's error log (MHD_USE_ERROR_LOG). A failed TLS handshake
 * is counted, and named when its connection closes; the rest is debug. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct sl_http *h = cls;
    char msg[256];
    size_t n;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strcspn(msg, "\r\n\"");
    msg[n] = '\0';
    if (strstr(msg, "handshake")) {
        sl_stat_add(&h->stats->tls_failures, 1);
        atomic_fetch_add_explicit(&h->tls_pending, 1, memory_order_relaxed);
    }
    sl_debug("msg=\"libmicrohttpd: %s\"", msg);
}

struct sl_http *sl_source_http_start(const struct sl_addr *addr,
                                     const struct sl_http_limits *lim,
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
    pthread_mutex_init(&h->peers_lock, NULL);
    /* A tick of a quarter of the timeout, at most a second: a cut comes at
     * most that late. */
    int64_t tick = lim->header_timeout_ms / 4;
    h->headers = sl_deadline_list_new(tick < 1000 ? tick : 1000, &stats->header_timeouts);
    if (!h->headers) {
        snprintf(err, errlen, "cannot start the header deadline thread");
        pthread_mutex_destroy(&h->peers_lock);
        free(h);
        return NULL;
    }
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG |
                     (addr->ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0) |
                     (lim->tls_cert_pem ? MHD_USE_TLS : 0);
    /* Without TLS the two HTTPS options are skipped: MHD_OPTION_END ends
     * the list where they would start. */
    h->mhd = MHD_start_daemon(flags, 0, accept_policy, h, handle, h,
                              MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,   /* first: all */
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
        sl_deadline_list_free(h->headers);
        pthread_mutex_destroy(&h->peers_lock);
        free(h);
        return NULL;
    }
    return h;
}

void sl_source_http_stop(struct sl_http *h)
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
    MHD_stop_daemon(h->mhd);          /* every connection closed: <peers> is empty */
    tdestroy(h->peers, free);
    pthread_mutex_destroy(&h->peers_lock);
    sl_deadline_list_free(h->headers);
    free(h);
}

/* --- The module (source.h): its keys, and the listener driven by them. --- */

/* [sluice] keys, and what the checks load from them. */
struct http_conf {
    char     listen[256];                 /* http_listen; "" when there is no HTTP source */
    struct sl_addr addr;                  /* ... resolved by the check */
    uint64_t max_body;                    /* bytes of one request body */
    uint64_t max_decompressed;            /* ... once gzip/zstd is undone */
    uint64_t max_header;                  /* request line + headers, per connection */
    uint64_t max_connections;
    uint64_t max_connections_per_ip;      /* 0: no limit */
    uint64_t max_body_memory;             /* all bodies being read or decoded */
    int64_t  timeout_ms;                  /* idle HTTP connections are closed */
    int64_t  header_timeout_ms;           /* ... and those slow to send a header */
    uint64_t threads;
    int      auth_mode;                   /* enum sl_auth_mode */
    char     auth_file[PATH_MAX];
    int      auth_unsigned_payload;       /* sigv4: accept UNSIGNED-PAYLOAD */
    char     tls_cert[PATH_MAX];          /* "" : plain HTTP */
    char     tls_key[PATH_MAX];
    struct sl_auth *auth;                 /* loaded from auth_file; owned */
    char    *tls_cert_pem, *tls_key_pem;  /* their contents, checked; owned */
};

static const char *const auth_enum[] = { "none", "token", "sigv4", NULL };

#define H(f) offsetof(struct http_conf, f)
#define KIB SL_KB
#define MIB SL_MB
#define GIB SL_GB
#define SEC SL_SEC

static const struct sl_conf_key http_keys[] = {
    { "http_listen", SL_K_ADDR, SL_KSTR(struct http_conf, listen), 0, 0,
      "127.0.0.1:8440", NULL, "HOST:PORT of the HTTP API (Firehose's and NDJSON); empty: off" },
    { "http_max_body", SL_K_SIZE, H(max_body), 0, KIB, 64 * MIB, "8MiB", NULL,
      "largest HTTP request body" },
    { "http_max_decompressed", SL_K_SIZE, H(max_decompressed), 0, KIB, GIB, "32MiB", NULL,
      "largest NDJSON body once its Content-Encoding is undone (bombs get 413)" },
    { "http_max_header", SL_K_SIZE, H(max_header), 0, 4 * KIB, MIB, "32KiB", NULL,
      "request line and headers of one request (libmicrohttpd's connection memory)" },
    { "http_max_connections", SL_K_UINT, H(max_connections), 0, 1, 100000, "1024", NULL,
      "open HTTP connections" },
    { "http_max_connections_per_ip", SL_K_UINT, H(max_connections_per_ip), 0, 0, 100000,
      "128", NULL, "open HTTP connections from one client address; 0: no limit" },
    { "http_max_body_memory", SL_K_SIZE, H(max_body_memory), 0, MIB, 64 * GIB, "256MiB",
      NULL, "bytes all HTTP request bodies being read or decoded may hold at once (past "
      "it: 503); at least http_max_body" },
    { "http_timeout", SL_K_DURATION, H(timeout_ms), 0, SEC, 3600 * SEC, "60s", NULL,
      "close an HTTP connection idle this long" },
    { "http_header_timeout", SL_K_DURATION, H(header_timeout_ms), 0, SEC, 3600 * SEC, "30s",
      NULL, "a request header must be complete this long after the connection opens or "
      "the previous response" },
    { "http_threads", SL_K_UINT, H(threads), 0, 1, 64, "2", NULL,
      "HTTP threads (libmicrohttpd's pool)" },
    { "http_auth", SL_K_ENUM, H(auth_mode), 0, 0, 2, "none", auth_enum,
      "none, token (NDJSON endpoint) or sigv4 (every request)" },
    { "http_auth_file", SL_K_STRING, SL_KSTR(struct http_conf, auth_file), 0, 0, "", NULL,
      "token: a file holding the token; sigv4: ACCESS_KEY_ID SECRET lines" },
    { "http_auth_unsigned_payload", SL_K_ENUM, H(auth_unsigned_payload), 0, 0, 1, "false",
      sl_conf_bool, "sigv4: accept X-Amz-Content-Sha256: UNSIGNED-PAYLOAD (the body is then "
      "not signed)" },
    { "http_tls_cert", SL_K_STRING, SL_KSTR(struct http_conf, tls_cert), 0, 0, "", NULL,
      "PEM certificate (chain) for HTTPS on http_listen; with http_tls_key" },
    { "http_tls_key", SL_K_STRING, SL_KSTR(struct http_conf, tls_key), 0, 0, "", NULL,
      "PEM private key of http_tls_cert" },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

/* A report about <key> on the line of <at> (its own when set, else the
 * line of <alt>): the line a message names is the one to edit. */
static void report_at(struct sl_conf_check *chk, const char *key, const char *at,
                      const char *alt, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void report_at(struct sl_conf_check *chk, const char *key, const char *at,
                      const char *alt, const char *fmt, ...)
{
    int line = sl_conf_key_line(chk->keys, chk->marks, at, 0);
    char msg[512];
    va_list ap;

    if (!line && alt)
        line = sl_conf_key_line(chk->keys, chk->marks, alt, 0);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    chk->errors++;
    chk->report(chk->arg, line, key, msg);
}

/* Reads a whole PEM file (at most 1 MiB) into a new string, or NULL. */
static char *slurp(const char *path, char *why, size_t whylen)
{
    char *s;
    size_t n;

    return sl_fsio_read_small(path, 1 << 20, &s, &n, why, whylen) == SL_OK ? s : NULL;
}

/* http_tls_cert and http_tls_key: both or neither, each a PEM that
 * libcrypto can read, and the key must match the certificate. */
static void check_tls(struct http_conf *c, struct sl_conf_check *chk)
{
    char why[512];
    X509 *x = NULL;
    EVP_PKEY *k = NULL;
    BIO *b;

    if (!c->tls_cert[0] && !c->tls_key[0])
        return;
    if (!c->tls_cert[0] || !c->tls_key[0]) {
        report_at(chk, c->tls_cert[0] ? "http_tls_key" : "http_tls_cert", "http_tls_cert",
                  "http_tls_key", "http_tls_cert and http_tls_key go together");
        return;
    }
    if (!(c->tls_cert_pem = slurp(c->tls_cert, why, sizeof(why)))) {
        sl_conf_key_check_err(chk, "http_tls_cert", "%s", why);
        return;
    }
    if (!(c->tls_key_pem = slurp(c->tls_key, why, sizeof(why)))) {
        sl_conf_key_check_err(chk, "http_tls_key", "%s", why);
        return;
    }
    if ((b = BIO_new_mem_buf(c->tls_cert_pem, -1))) {
        x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        BIO_free(b);
    }
    if ((b = BIO_new_mem_buf(c->tls_key_pem, -1))) {
        k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
        BIO_free(b);
    }
    if (!x)
        sl_conf_key_check_err(chk, "http_tls_cert", "%s: not a PEM certificate", c->tls_cert);
    else if (!k)
        sl_conf_key_check_err(chk, "http_tls_key", "%s: not a PEM private key (or it is encrypted)",
                          c->tls_key);
    else if (X509_check_private_key(x, k) != 1)
        sl_conf_key_check_err(chk, "http_tls_key", "%s does not match %s", c->tls_key,
                          c->tls_cert);
    X509_free(x);
    EVP_PKEY_free(k);
}

/* Loads http_auth_file and the TLS files, and checks what goes together. */
static void http_check(void *conf, struct sl_conf_check *chk)
{
    struct http_conf *c = conf;
    char why[512];
    const char *reason;

    if (!sl_conf_key_check_bad(chk, "http_auth") && !sl_conf_key_check_bad(chk, "http_auth_file") &&
        sl_auth_load(c->auth_mode, c->auth_file,
                     c->auth_unsigned_payload ? SL_AUTH_UNSIGNED_PAYLOAD : 0, &c->auth, why,
                     sizeof(why)) != SL_OK)
        report_at(chk, "http_auth_file", "http_auth_file", "http_auth", "%s", why);
    check_tls(c, chk);
    /* A compressed body and its decoded copy are held together: one of
     * each must fit, or such a request would get 503 for ever. */
    uint64_t need = c->max_body + c->max_decompressed;
    if (!sl_conf_key_check_bad(chk, "http_max_body_memory") &&
        !sl_conf_key_check_bad(chk, "http_max_body") &&
        !sl_conf_key_check_bad(chk, "http_max_decompressed") && c->max_body_memory < need) {
        int mem = sl_conf_key_line(chk->keys, chk->marks, "http_max_body_memory", 0) != 0;
        report_at(chk, "http_max_body_memory", mem ? "http_max_body_memory" : "http_max_body",
                  "http_max_decompressed", "%llu bytes is less than http_max_body + "
                  "http_max_decompressed (%llu): a compressed body and its decoded copy must "
                  "fit", (unsigned long long)c->max_body_memory, (unsigned long long)need);
    }
    if (!sl_conf_key_check_bad(chk, "http_listen") && c->listen[0] &&
        sl_addr_parse(c->listen, &c->addr, &reason) != SL_OK)
        sl_conf_key_check_err(chk, "http_listen", "%s", reason);
}

static void http_free_conf(void *conf)
{
    struct http_conf *c = conf;

    sl_auth_free(c->auth);
    c->auth = NULL;
    free(c->tls_cert_pem);
    if (c->tls_key_pem)
        OPENSSL_cleanse(c->tls_key_pem, strlen(c->tls_key_pem));
    free(c->tls_key_pem);
    c->tls_cert_pem = c->tls_key_pem = NULL;
}

/* Each connection holds two (its socket and the header deadline's
 * duplicate); each pool thread a few of its own. */
static uint64_t http_fds(const void *pconf, const void *sconf)
{
    const struct http_conf *c = pconf;

    return !sconf && c->listen[0] ? 2 * c->max_connections + 4 * c->threads : 0;
}

static void http_log_process(const void *pconf, struct sl_buf *out)
{
    const struct http_conf *c = pconf;

    sl_buf_printf(out, " http=%s", c->listen[0] ? c->listen : "-");
}

/* An instance: what the listener borrows lives here, with its counters. */
struct http_source {
    const struct http_conf *conf;         /* borrowed from the host */
    struct sl_http_stream *streams;       /* owned; what the listener sees */
    size_t nstreams;
    struct sl_http_ops ops;
    void *arg;                            /* the host's, for ops */
    struct sl_http_stats stats;           /* written by the HTTP threads (atomics) */
    struct sl_http *http;                 /* NULL until started, and once stopped */
};

static int http_open(const struct sl_source_host *h, void **ctx)
{
    const struct http_conf *c = h->conf;
    struct http_source *hs;

    *ctx = NULL;
    if (!c->listen[0])
        return SL_OK;
    if (!(hs = calloc(1, sizeof(*hs))) ||
        !(hs->streams = calloc(h->nstreams ? h->nstreams : 1, sizeof(*hs->streams)))) {
        free(hs);
        sl_error("msg=\"cannot start: out of memory or threads\"");
        return SL_ENOMEM;
    }
    hs->conf = c;
    hs->nstreams = h->nstreams;
    for (size_t i = 0; i < h->nstreams; i++)
        hs->streams[i] = (struct sl_http_stream){ h->streams[i].name, h->streams[i].in };
    hs->ops.describe = h->describe;
    hs->arg = h->arg;
    *ctx = hs;
    return SL_OK;
}


static int http_start(void *ctx)
{
    struct http_source *hs = ctx;
    const struct http_conf *c = hs->conf;
    struct sl_http_limits lim = {
        .max_body = c->max_body, .max_decompressed = c->max_decompressed,
        .max_header = c->max_header,
        .max_connections = (unsigned)c->max_connections,
        .max_per_ip = (unsigned)c->max_connections_per_ip,
        .max_body_memory = c->max_body_memory,
        .timeout_s = (unsigned)((c->timeout_ms + 999) / 1000),
        .header_timeout_ms = c->header_timeout_ms,
        .threads = (unsigned)c->threads, .auth = c->auth,
        .tls_cert_pem = c->tls_cert_pem, .tls_key_pem = c->tls_key_pem,
    };
    char err[256];

    hs->http = sl_source_http_start(&c->addr, &lim, hs->streams, hs->nstreams, &hs->ops,
                                    hs->arg, &hs->stats, err, sizeof(err));
    if (!hs->http) {
        sl_error("msg=\"cannot start the HTTP listener\" addr=%s error=\"%s\"", c->listen, err);
        return SL_ERR;
    }
    sl_info("msg=\"http listening\" addr=%s tls=%s auth=%s max_connections=%llu "
            "max_connections_per_ip=%llu max_body_memory=%llu", c->listen,
            c->tls_cert_pem ? "on" : "off", auth_enum[c->auth_mode % 3],
            (unsigned long long)c->max_connections,
            (unsigned long long)c->max_connections_per_ip,
            (unsigned long long)c->max_body_memory);
    return SL_OK;
}

/* Finishes the requests in progress; <grace_ms> does not apply. */
static void http_stop(void *ctx, int64_t grace_ms)
{
    struct http_source *hs = ctx;

    (void)grace_ms;
    sl_source_http_stop(hs->http);
    hs->http = NULL;
}

static void http_free(void *ctx)
{
    struct http_source *hs = ctx;

    if (!hs)
        return;
    sl_source_http_stop(hs->http);
    free(hs->streams);
    free(hs);
}

/* The source's metrics: the sluice_http_* families. */
#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

void sl_source_http_count(struct sl_http_stats *h, int op, int status, double seconds)
{
    int k = 0;

    while (k < SL_HTTP_NSTATUS - 1 && statuses[k] != status)
        k++;
    sl_stat_add(&h->requests[op][k], 1);
    sl_metrics_observe(&h->duration[op], seconds);
}

void sl_source_http_render(struct sl_buf *o, const struct sl_http_stats *h)
{
    char labels[96];

    sl_metrics_family(o, "sluice_http_requests_total", "counter",
                      "HTTP API requests by operation and status (samples appear once seen).");
    for (int op = 0; op < SL_HOP_N; op++)
        for (int k = 0; k < SL_HTTP_NSTATUS; k++) {
            uint64_t v = LOAD(h->requests[op][k]);
            if (!v)
                continue;
            if (statuses[k])
                snprintf(labels, sizeof(labels), "%d", statuses[k]);
            else
                snprintf(labels, sizeof(labels), "other");
            sl_buf_printf(o, "sluice_http_requests_total{operation=\"%s\",status=\"%s\"} "
                          "%llu\n", op_names[op], labels, (unsigned long long)v);
        }
    sl_metrics_family(o, "sluice_http_request_duration_seconds", "histogram",
                      "Time from a request's first byte of headers to its answer.");
    for (int op = 0; op < SL_HOP_N; op++) {
        snprintf(labels, sizeof(labels), "operation=\"%s\"", op_names[op]);
        sl_metrics_histogram(o, "sluice_http_request_duration_seconds", labels, &h->duration[op]);
    }
    sl_metrics_family(o, "sluice_http_connections", "gauge", "Open HTTP API connections.");
    sl_buf_printf(o, "sluice_http_connections %lld\n",
                  (long long)atomic_load_explicit(&h->connections, memory_order_relaxed));
    sl_metrics_family(o, "sluice_http_header_timeouts_total", "counter",
                      "HTTP connections cut for not sending a whole request header within "
                      "http_header_timeout.");
    sl_buf_printf(o, "sluice_http_header_timeouts_total %llu\n",
                  (unsigned long long)LOAD(h->header_timeouts));
    sl_metrics_family(o, "sluice_http_auth_failures_total", "counter",
                      "HTTP API requests refused by http_auth, by reason.");
    for (int k = 0; k < SL_AUTH_R_N; k++)
        sl_buf_printf(o, "sluice_http_auth_failures_total{reason=\"%s\"} %llu\n",
                      sl_auth_reason_names[k], (unsigned long long)LOAD(h->auth_failures[k]));
    sl_metrics_family(o, "sluice_http_requests_refused_total", "counter",
                      "HTTP requests refused before their body was read, by reason: "
                      "body_memory (503, http_max_body_memory reached), framing (400/501, "
                      "ambiguous or unsupported Content-Length / Transfer-Encoding).");
    for (int k = 0; k < SL_HREF_N; k++)
        sl_buf_printf(o, "sluice_http_requests_refused_total{reason=\"%s\"} %llu\n",
                      refusal_names[k], (unsigned long long)LOAD(h->refused[k]));
    sl_metrics_family(o, "sluice_http_body_bytes", "gauge",
                      "Bytes held by HTTP request bodies being read or decoded (at most "
                      "http_max_body_memory).");
    sl_buf_printf(o, "sluice_http_body_bytes %llu\n", (unsigned long long)LOAD(h->body_bytes));
    sl_metrics_family(o, "sluice_http_connections_rejected_total", "counter",
                      "HTTP API connections closed as they opened, by reason: per_ip "
                      "(their address had http_max_connections_per_ip open).");
    sl_buf_printf(o, "sluice_http_connections_rejected_total{reason=\"per_ip\"} %llu\n",
                  (unsigned long long)LOAD(h->rejected_per_ip));
    sl_metrics_family(o, "sluice_http_tls_handshake_failures_total", "counter",
                      "TLS handshakes on an HTTPS http_listen that failed (plain HTTP "
                      "sent to it, ...).");
    sl_buf_printf(o, "sluice_http_tls_handshake_failures_total %llu\n",
                  (unsigned long long)LOAD(h->tls_failures));
}

static void http_metrics(void *ctx, struct sl_buf *out)
{
    sl_source_http_render(out, &((struct http_source *)ctx)->stats);
}

const struct sl_source_ops sl_source_http = {
    .name = "http",
    .process_keys = http_keys,
    .process_size = sizeof(struct http_conf),
    .process_restart = http_keys,         /* the listener is started once */
    .check_process = http_check,
    .free_process = http_free_conf,
    .fds = http_fds,
    .log_process = http_log_process,
    .open = http_open,
    .start = http_start,
    .stop = http_stop,
    .free = http_free,
    .metrics = http_metrics,
};
