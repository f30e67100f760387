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
