/*
 * http_client.h - sluice's one HTTP client, over libcurl: what the S3
 * client, the lambda transform and `sluice replay` send, and what the
 * Elasticsearch sink will.
 *
 * A client is made once for one origin (scheme://host[:port], and a path
 * and query its requests use unless they name their own). It owns:
 *  - a bounded pool of libcurl easy handles, kept alive between requests
 *    so their connections are reused; a request finding every handle out
 *    waits for one;
 *  - the connect and total timeouts;
 *  - the headers every request needs: no "Expect: 100-continue" (one
 *    round trip saved, and no stall against servers that ignore it);
 *  - optional AWS SigV4 signing, for any service and region, with
 *    sluice's own signer (aws_sigv4.h: libcurl 7.88's CURLOPT_AWS_SIGV4
 *    signed a header it did not send, "Expect:");
 *  - the answer: its body into the caller's struct sl_buf, whose max is
 *    the cap on bytes kept (past it the request fails as too big, or the
 *    body is cut, as the caller asks), one response header if asked for;
 *  - one classification of what came back: OK, RETRY or FAIL with a cause.
 *
 * The Elasticsearch shape, for instance:
 *
 *     struct sl_http_header h[] = { { "Content-Type", "application/x-ndjson" },
 *                                   { "Content-Encoding", "gzip" } };
 *     struct sl_http_request rq = { .method = "POST", .path = "/_bulk",
 *         .headers = h, .nheaders = 2, .body = gz.data, .body_len = gz.len,
 *         .answer = &json };            (json: sl_buf_init(&json, 16 << 20))
 *     if (sl_http_client_request(c, &rq, &r) != SL_OK) ... r.verdict, r.cause
 *
 * Threads: after sl_http_client_new() a client is read-only but for its
 * pool, which has its own mutex (never held during a request); any number
 * of threads may call sl_http_client_request() at once. new() and free()
 * run on one thread with no request in flight.
 */
#ifndef SL_HTTP_CLIENT_H
#define SL_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "aws_creds.h"
#include "buf.h"

#define SL_HTTP_MAX_HEADERS 16        /* a request's own headers */
#define SL_HTTP_ERROR_LEN   256       /* = libcurl's CURL_ERROR_SIZE */

/* What to do about an answer. */
enum sl_http_verdict { SL_HTTP_OK, SL_HTTP_RETRY, SL_HTTP_FAIL };

/*
 * Why: the cause of a verdict. The verdict each gets by default is in
 * brackets; a caller may refine it with what its service says (S3's
 * SlowDown, NoSuchBucket, BadDigest; 403 retried while an operator fixes
 * a policy).
 */
enum sl_http_cause {
    SL_HTTP_CAUSE_NONE,           /* [OK] a 2xx, read whole */
    SL_HTTP_CAUSE_CONNECTION,     /* [RETRY] no answer: refused, reset, DNS, cut short */
    SL_HTTP_CAUSE_TIMEOUT,        /* [RETRY] no (whole) answer within the timeout */
    SL_HTTP_CAUSE_SERVER,         /* [RETRY] 5xx */
    SL_HTTP_CAUSE_THROTTLED,      /* [RETRY] 429 */
    SL_HTTP_CAUSE_TOO_BIG,        /* [RETRY] the answer's body passed the cap */
    SL_HTTP_CAUSE_NOMEM,          /* [RETRY] out of memory here, or no libcurl handle */
    SL_HTTP_CAUSE_ABORTED,        /* [RETRY] the caller's <abort> said stop */
    SL_HTTP_CAUSE_FORBIDDEN,      /* [FAIL] 401, 403 */
    SL_HTTP_CAUSE_NOT_FOUND,      /* [FAIL] 404 */
    SL_HTTP_CAUSE_CLIENT,         /* [FAIL] any other 4xx (408 too: a service that
                                   * means "try again" by it says so) */
    SL_HTTP_CAUSE_UNEXPECTED,     /* [FAIL] 1xx or 3xx as the final answer */
    SL_HTTP_CAUSE_SETUP,          /* [FAIL] will not get better: bad URL, protocol,
                                   * TLS certificate or CA file, cannot sign */
    SL_HTTP_NCAUSES
};

/* "connection", "timeout", "5xx", ...: for logs and messages. */
const char *sl_http_client_cause_name(int cause);

struct sl_http_header {
    const char *name;
    const char *value;                /* "" sends "Name:" */
};

struct sl_http_sigv4 {
    const struct sl_aws_creds *creds; /* NULL: requests go unsigned; copied */
    const char *service;              /* "s3", "firehose", "es" ...; copied */
    const char *region;               /* copied */
    int s3;                           /* S3's rules: the path is signed as it is, and
                                       * X-Amz-Content-Sha256 is sent and signed */
};

struct sl_http_client_options {
    const char *url;                  /* http[s]://host[:port][/path][?query]; copied */
    unsigned max_connections;         /* handles in the pool; 0 means 1 */
    int64_t timeout_ms;               /* a request's total, connect included; > 0 */
    int64_t connect_timeout_ms;       /* 0: the smaller of timeout_ms and 10 s */
    const char *cacert;               /* CA file for https; NULL: the system's; copied */
    struct sl_http_sigv4 sigv4;       /* creds NULL: no signing */
};

struct sl_http_client;

/* Parses <o->url> and makes a client (no connection yet) into *<out>,
 * which sl_http_client_free() releases. SL_OK; else *<out> is NULL, <err>
 * says why and the result is SL_EINVAL ("not a URL", "host name too
 * long", a SigV4 service or region too long) or SL_ENOMEM. */
int sl_http_client_new(const struct sl_http_client_options *o, struct sl_http_client **out,
                       char *err, size_t errlen);
/* Every request must have returned. The credentials' copy is wiped. */
void sl_http_client_free(struct sl_http_client *c);

/* One request. Every pointer is borrowed for the call. */
struct sl_http_request {
    const char *method;               /* "GET", "HEAD", "POST", "PUT", "DELETE" */
    const char *path;                 /* wire form, from '/'; NULL: the client URL's
                                       * path and query (and <query> is ignored) */
    const char *query;                /* wire form, no '?'; NULL: none */
    const struct sl_http_header *headers;  /* sent, and signed if the client signs */
    size_t nheaders;                  /* at most SL_HTTP_MAX_HEADERS */
    const void *body;                 /* NULL with body_len 0: an empty body */
    size_t body_len;
    int64_t timeout_ms;               /* 0: the client's */
    struct sl_buf *answer;            /* reset, then the answer's body up to its max;
                                       * NULL: the body is read and dropped */
    int cut_answer;                   /* 1: past answer->max the rest is dropped and
                                       * <cut> set; 0: the request fails, TOO_BIG */
    const char *capture;              /* a response header whose value to keep, e.g.
                                       * "ETag"; NULL: none */
    int (*abort)(void *arg);          /* optional, polled during the transfer:
                                       * nonzero stops it (cause ABORTED) */
    void *abort_arg;
};

/* What a request came to. */
struct sl_http_result {
    int verdict;                      /* enum sl_http_verdict */
    int cause;                        /* enum sl_http_cause */
    long status;                      /* the final HTTP status; 0: no answer */
    int curl_code;                    /* CURLcode; 0 when an answer was read */
    int cut;                          /* the answer's body was cut at answer->max */
    int captured;                     /* the <capture> header came */
    char header[256];                 /* its value, trimmed (last answer's only) */
    char error[SL_HTTP_ERROR_LEN];    /* why there was no answer, or "" */
};

/*
 * Sends <rq> and fills <r>. Returns SL_OK when the verdict is OK (a 2xx
 * whose body, if wanted, is in rq->answer), else SL_ERR with <r> saying
 * why; an error answer's body is in rq->answer too.
 */
int sl_http_client_request(struct sl_http_client *c, const struct sl_http_request *rq,
                           struct sl_http_result *r);

/* The verdict and cause of an answer with <status> (libcurl's <curl_code>
 * 0), or of no answer (<curl_code> nonzero): the table above. */
void sl_http_client_classify(long status, int curl_code, struct sl_http_result *r);

/* The engine's enum sl_retry_cause (metrics.h) for <cause>, for a sink
 * answering RETRY; SL_RETRY_SINK for those it has no name for. */
int sl_http_client_retry_cause(int cause);

/* "status 503", "no answer: Connection refused"...: <r> in a line. */
void sl_http_client_describe(const struct sl_http_result *r, char *out, size_t len);

/* libcurl's process-wide set-up and tear-down, for a program (`sluice
 * replay`) that makes clients: call each once, on the main thread, before
 * any other thread runs / after every client is freed. */
int sl_http_client_global_init(void);
void sl_http_client_global_cleanup(void);

#endif
