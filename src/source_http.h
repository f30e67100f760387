/*
 * source_http.h - the HTTP source: Firehose's producer API on POST /
 * (firehose_api.h does the protocol) and newline-delimited records on
 * POST /v1/streams/NAME/records.
 *
 * libmicrohttpd runs it on its own thread pool (epoll). A request's
 * records become one chunk, pushed into the stream's ring like a TCP read.
 * A 200 means the records are in sluice's buffer. Under backpressure
 * (the stream holds max_buffered) PutRecord answers 503
 * ServiceUnavailableException, PutRecordBatch accepts the records that fit
 * and marks the rest ServiceUnavailableException, and the NDJSON endpoint
 * answers 503 with Retry-After. A rejected request enqueues nothing.
 * What the headers decide (framing, size, method, path, stream, encoding,
 * Content-Type) is answered before the body is read; all bodies together
 * hold at most max_body_memory (past it: 503); one address holds at most
 * max_per_ip connections.
 *
 * The module (source.h) is sl_source_http, in source_http.c: its keys are
 * http_listen and the other http_* of [sluice]; its checks load the
 * auth file and the TLS PEMs into its conf, which owns them. It serves
 * every stream, or is not opened when http_listen is empty.
 *
 * Threads: libmicrohttpd's pool threads run every callback; they read the
 * stream table (fixed after start) and call the daemon's ops, which must
 * be thread-safe.
 */
#ifndef SL_SOURCE_HTTP_H
#define SL_SOURCE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "addr.h"
#include "auth.h"
#include "intake.h"
#include "metrics.h"

/* The HTTP API's requests, by operation and status, and their latency.
 * Threads: libmicrohttpd's threads write (relaxed), the metrics thread reads. */
enum sl_http_op { SL_HOP_PUT_RECORD, SL_HOP_PUT_RECORD_BATCH, SL_HOP_LIST, SL_HOP_DESCRIBE,
                  SL_HOP_NDJSON, SL_HOP_OTHER, SL_HOP_N };
#define SL_HTTP_NSTATUS 12

/* Why a request was refused before its body was taken in (besides the
 * status it got): the bodies being read hold http_max_body_memory, or its
 * framing is ambiguous (Content-Length with Transfer-Encoding, ...). */
enum sl_http_refusal { SL_HREF_BODY_MEMORY, SL_HREF_FRAMING, SL_HREF_N };

struct sl_http_stats {
    _Atomic uint64_t requests[SL_HOP_N][SL_HTTP_NSTATUS];
    struct sl_histogram duration[SL_HOP_N];
    _Atomic int64_t connections;
    _Atomic uint64_t header_timeouts;   /* connections cut: header too slow */
    _Atomic uint64_t auth_failures[SL_AUTH_R_N];  /* refused by http_auth, by reason */
    _Atomic uint64_t refused[SL_HREF_N];
    _Atomic uint64_t body_bytes;        /* held by request bodies now: the listener
                                         * charges and releases it (CAS, bounded) */
    _Atomic uint64_t rejected_per_ip;   /* connections closed at once: their address
                                         * had http_max_connections_per_ip open */
    _Atomic uint64_t tls_failures;      /* TLS handshakes that failed */
};

/* Counts one finished request. */
void sl_source_http_count(struct sl_http_stats *h, int op, int status, double seconds);
/* Appends the sluice_http_* families (the source's metrics hook). */
void sl_source_http_render(struct sl_buf *out, const struct sl_http_stats *h);

struct sl_http_stream {
    const char *name;            /* borrowed */
    struct sl_intake *in;        /* borrowed */
};

/* How the listener runs, and who may call it. */
struct sl_http_limits {
    uint64_t max_body;           /* bytes of a request body */
    uint64_t max_decompressed;   /* ... once gzip/zstd is undone (NDJSON) */
    uint64_t max_header;         /* request line and headers */
    uint64_t max_body_memory;    /* bytes all bodies being read or decoded may hold */
    unsigned max_connections;
    unsigned max_per_ip;         /* open connections from one address; 0: no limit */
    unsigned timeout_s;          /* idle connection timeout */
    int64_t header_timeout_ms;   /* open or previous response to a whole header */
    unsigned threads;
    const struct sl_auth *auth;  /* NULL: none; borrowed until sl_source_http_stop */
    const char *tls_cert_pem;    /* NULL: plain HTTP; else HTTPS (borrowed, as auth) */
    const char *tls_key_pem;
};

/* What the listener asks of the daemon for the control-plane reads. */
struct sl_http_ops {
    /* Returns the DeliveryStreamDescription of <name> (new reference), or NULL. */
    json_t *(*describe)(void *arg, const char *name);
};

struct sl_http;

/* Starts serving <streams> (borrowed, n entries, until sl_source_http_stop) on
 * <addr>, counting into <stats> (borrowed as long). Returns NULL with <err>
 * set on failure. */
struct sl_http *sl_source_http_start(const struct sl_addr *addr,
                                     const struct sl_http_limits *lim,
                                     const struct sl_http_stream *streams, size_t n,
                                     const struct sl_http_ops *ops, void *arg,
                                     struct sl_http_stats *stats, char *err, size_t errlen);
/* Stops accepting and finishes requests in progress. */
void sl_source_http_stop(struct sl_http *h);

#endif
