/*
 * cmd_replay.c - `sluice replay`: sends the records of backup envelopes to a
 * stream again (see cmd_replay.h and `sluice replay --help`).
 *
 * Design:
 * - Input. Each PATH is a file, a directory (walked recursively, names in
 *   byte order; hidden names skipped: the file sink writes ".NAME.tmp" and
 *   renames it into place, so a dot-file is an object being written) or
 *   "-" for stdin. A file is read 64 KiB at a time through a streaming
 *   decoder chosen by its first bytes (1f 8b gzip, 28 b5 2f fd zstd, else
 *   plain; compress.h's streaming decoder); concatenated gzip members and
 *   zstd frames are all read, as `cat a.gz b.gz | sluice replay -` would
 *   give. sl_compress_decode() is not used because it needs the whole object
 *   in memory.
 * - Lines. Each '\n'-terminated line (the last may lack it) is one
 *   envelope: a JSON object (jansson) with a rawData string holding strict
 *   base64 (base64.h). Anything else is a bad line, reported as FILE:LINE.
 *   Empty lines are not envelopes and are passed over without a count.
 * - Output. tcp://: the records go out newline-delimited on one connection,
 *   flushed 256 KiB at a time; sluice's EOF after our shutdown(SHUT_WR)
 *   says it read them all. http(s)://: PutRecordBatch calls of at most 500
 *   records and 4 MiB decoded; the entries an answer marks with an
 *   ErrorCode, and whole calls that fail with 429, 5xx or a transport
 *   error, are sent again after a backoff (100 ms doubling to 5 s, equal
 *   jitter) until accepted, 10 attempts, or --timeout since the call's
 *   first attempt. Requests go through http_client.h (one kept-alive
 *   connection), signed with SigV4 when aws_creds.h finds credentials. A
 *   call that fails for good, or a TCP connection that breaks, stops the
 *   run: whatever comes next would meet the same fate.
 * - Delivery is at least once: a retried call whose answer was lost, or a
 *   second run over the same files, sends records again.
 *
 * Memory is bounded whatever the input size: one read and one decode
 * buffer (64 KiB each), one partial line (LINE_MAX_LEN), one decoded
 * record, one pending PutRecordBatch (4 MiB) with its body (~5.6 MB) and
 * answer (ANSWER_MAX), or the TCP write buffer (TCP_FLUSH).
 *
 * Threads: one, the main thread of the `sluice replay` process. Ownership:
 * struct replay owns every buffer, handle and descriptor; rp_destroy()
 * frees them all. No global state; SIGPIPE is ignored for the process.
 */
#include "cmd_replay.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "addr.h"
#include "aws_creds.h"
#include "backoff.h"
#include "base64.h"
#include "buf.h"
#include "clock.h"
#include "compress.h"
#include "config.h"
#include "firehose_api.h"
#include "http_client.h"
#include "units.h"
#include "sluice/err.h"

#define READ_SZ       65536                  /* bytes read, and decoded, at a time */
#define LINE_MAX_LEN  (8u << 20)             /* an envelope of a 1,024,000-byte record: ~1.4 MB */
#define SHOWN_MAX     10                     /* per-line complaints printed per file */
#define TCP_FLUSH     (256u << 10)           /* TCP write buffer */
#define ATTEMPTS      10                     /* per PutRecordBatch call */
#define ANSWER_MAX    (4u << 20)             /* PutRecordBatch answer kept */
#define BODY_MAX      (8u << 20)             /* 4 MiB as base64 + JSON: ~5.6 MB */
#define WHERE_LEN     (PATH_MAX + 32)        /* "FILE:LINE" */

static const struct sl_backoff retry_backoff = { .base_ms = 100, .cap_ms = 5000 };

enum rp_target { RP_TCP, RP_HTTP };

struct rp_opts {
    const char *to;                 /* --to, as given (argv) */
    const char *stream;             /* --stream, NULL with tcp */
    const char *region;             /* --region or the environment's */
    const char *error_code;         /* --error-code, NULL: every envelope */
    const char *cacert;             /* --cacert, NULL: the system's */
    int64_t timeout_ms;             /* --timeout */
    int dry_run;
    int target;                     /* enum rp_target */
};

struct rp_counts {
    uint64_t replayed;              /* accepted by the target (dry run: would be sent) */
    uint64_t files;                 /* files opened and read */
    uint64_t bad;                   /* lines that are not envelopes */
    uint64_t unsendable;            /* records the target cannot carry */
    uint64_t skipped;               /* envelopes --error-code left out */
    uint64_t failed;                /* selected, sent or tried, not accepted */
    uint64_t file_errors;           /* unreadable files, corrupt compression */
};

/* One input file, decoded as a stream. */
struct rp_reader {
    int fd;                         /* borrowed from the caller */
    int kind;                       /* enum sl_compression, by the first bytes */
    struct sl_compress_dec *dec;    /* owned; begun again per compressed file */
    int more;                       /* the decoder filled the output: call again */
    int eof;
    size_t in_pos, in_len;
    uint8_t in[READ_SZ];
    uint8_t out[READ_SZ];
};

/* The lines of the file being read. */
struct rp_lines {
    const char *name;               /* borrowed: the file, for messages */
    uint64_t lineno;                /* 1-based number of the current line */
    struct sl_buf part;             /* a line begun in an earlier buffer */
    int overlong;                   /* the current line passed LINE_MAX_LEN */
    unsigned shown;                 /* complaints printed for this file */
    uint64_t hidden;                /* ... and held back */
};

struct rp_tcp {
    struct sl_addr addr;
    int fd;                         /* -1 until the first record */
    struct sl_buf w;                /* unsent bytes */
    uint64_t inflight;              /* records written, not yet confirmed by EOF */
};

/* The PutRecordBatch being filled. */
struct rp_batch {
    struct sl_buf data;             /* decoded records back to back, max 4 MiB */
    size_t off[SL_FH_MAX_BATCH];
    size_t len[SL_FH_MAX_BATCH];
    unsigned n;
    char first[WHERE_LEN];          /* FILE:LINE of its first record */
};

struct rp_http {
    struct sl_http_client *client;  /* owned; signs when credentials were found */
    struct rp_batch b;
    struct sl_buf body;             /* request body */
    struct sl_buf answer;           /* response body */
    uint16_t idx[SL_FH_MAX_BATCH];  /* entries of b still to be accepted */
};

struct replay {
    struct rp_opts o;
    struct rp_counts c;
    struct rp_reader *rd;           /* owned */
    struct rp_lines ln;
    struct sl_buf rec;              /* the decoded record of the current line */
    struct rp_tcp tcp;
    struct rp_http http;
    uint64_t rnd;                   /* backoff jitter */
    int stopped;                    /* the target failed for good: read no more */
};

static void usage(FILE *f)
{
    fprintf(f,
"usage: sluice replay --to URL [--stream NAME] [--region R] [--dry-run]\n"
"                     [--error-code CODE] [--timeout DURATION] [--cacert FILE] PATH...\n"
"\n"
"Reads backup envelopes (Firehose's format: one JSON object per line with the\n"
"original record in base64 under \"rawData\"; plain, gzip or zstd, told apart\n"
"by their first bytes) and sends each record to a stream again.\n"
"\n"
"PATH is a file, a directory (read recursively, names in byte order, hidden\n"
"names skipped) or - for standard input.\n"
"\n"
"  --to tcp://HOST:PORT     a stream's tcp_listen: one record per line. A record\n"
"                           holding a newline (other than a last one), or an\n"
"                           empty one, cannot be framed: it is reported as\n"
"                           unsendable; use http for those.\n"
"  --to http://HOST:PORT    sluice's http_listen (https:// too, or Firehose\n"
"                           itself): PutRecordBatch, 500 records or 4 MiB a call\n"
"  --stream NAME            the delivery stream (required with http)\n"
"  --region R               SigV4 region (default $AWS_REGION, else\n"
"                           $AWS_DEFAULT_REGION, else us-east-1)\n"
"  --error-code CODE        only the envelopes whose errorCode is CODE\n"
"  --dry-run                read, decode and count; send nothing\n"
"  --timeout DURATION       give up on a call, a connection attempt or a stalled\n"
"                           connection after this long (default 60s)\n"
"  --cacert FILE            CA certificates for https (default: the system's)\n"
"  -h, --help\n"
"\n"
"HTTP requests are signed with AWS SigV4 (service firehose) when credentials\n"
"are found: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN),\n"
"else the shared credentials file. Failed entries, 429, 5xx and connection\n"
"errors are retried (100ms doubling to 5s, at most 10 attempts or --timeout);\n"
"a call that still fails, or a broken TCP connection, stops the run.\n"
"Delivery is at least once: running again over the same files sends again.\n"
"\n"
"Prints one line on stdout:\n"
"  replayed N records from F files (B bad lines, U unsendable, S skipped by filter)\n"
"and names FILE:LINE on stderr for each problem. Exit status: 0 if every line\n"
"was an envelope and every selected record was accepted, 1 otherwise, 2 for a\n"
"usage error.\n");
}

/* ---- small helpers ------------------------------------------------------ */

static void sleep_ms(int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* A complaint about the current line: printed for the first SHOWN_MAX of
 * a file, counted for the rest (see lines_end). */
static void complain(struct replay *rp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void complain(struct replay *rp, const char *fmt, ...)
{
    va_list ap;

    if (rp->ln.shown >= SHOWN_MAX) {
        rp->ln.hidden++;
        return;
    }
    rp->ln.shown++;
    fprintf(stderr, "sluice replay: %s:%llu: ", rp->ln.name, (unsigned long long)rp->ln.lineno);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- TCP ---------------------------------------------------------------- */

/* One non-blocking connect, waiting at most <wait_ms>. Returns the fd or
 * -1 with errno set. */
static int tcp_try_connect(const struct sl_addr *a, int64_t wait_ms)
{
    struct pollfd p;
    socklen_t sl = sizeof(int);
    int fd, err = 0, n;

    fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
        return fd;
    if (errno != EINPROGRESS)
        goto fail;
    p = (struct pollfd){ .fd = fd, .events = POLLOUT };
    while ((n = poll(&p, 1, (int)wait_ms)) < 0 && errno == EINTR)
        ;
    if (n == 0) {
        errno = ETIMEDOUT;
        goto fail;
    }
    if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0)
        goto fail;
    if (err == 0)
        return fd;
    errno = err;
fail:
    err = errno;
    close(fd);
    errno = err;
    return -1;
}

/* Connects, retrying with backoff for up to ATTEMPTS or the timeout. */
static int tcp_connect(struct replay *rp)
{
    int64_t start = sl_clock_mono_ms(), now, delay;
    unsigned attempt = 0;
    int err;

    for (;;) {
        now = sl_clock_mono_ms();
        int64_t left = rp->o.timeout_ms - (now - start);
        if ((rp->tcp.fd = tcp_try_connect(&rp->tcp.addr, left > 0 ? left : 1)) >= 0)
            return SL_OK;
        err = errno;
        attempt++;
        delay = sl_backoff_delay(&retry_backoff, attempt, sl_backoff_rand(&rp->rnd));
        if (attempt >= ATTEMPTS || sl_clock_mono_ms() + delay - start >= rp->o.timeout_ms) {
            fprintf(stderr, "sluice replay: %s: cannot connect: %s (%u attempts in %.1fs)\n",
                    rp->o.to, strerror(err), attempt,
                    (double)(sl_clock_mono_ms() - start) / 1000.0);
            return SL_ERR;
        }
        sleep_ms(delay);
    }
}

/* Waits up to the timeout for <events> on the connection. 1: ready, 0:
 * timed out, -1: error (errno). */
static int tcp_wait(struct replay *rp, short events)
{
    struct pollfd p = { .fd = rp->tcp.fd, .events = events };
    int n;

    while ((n = poll(&p, 1, (int)rp->o.timeout_ms)) < 0 && errno == EINTR)
        ;
    return n;
}

/* Says the connection broke; everything on it is unconfirmed. */
static int tcp_broken(struct replay *rp, const char *what, int err)
{
    fprintf(stderr, "sluice replay: %s: %s: %s; %llu records written on this connection may "
            "or may not have reached sluice\n", rp->o.to, what,
            err ? strerror(err) : "no progress within --timeout",
            (unsigned long long)rp->tcp.inflight);
    rp->c.failed += rp->tcp.inflight;
    rp->tcp.inflight = 0;
    return SL_ERR;
}

/* Writes out the whole buffer, blocking on backpressure for at most the
 * timeout without progress. */
static int tcp_flush(struct replay *rp)
{
    struct rp_tcp *t = &rp->tcp;
    size_t done = 0;
    ssize_t n;
    int w;

    while (done < t->w.len) {
        n = send(t->fd, t->w.data + done, t->w.len - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return tcp_broken(rp, "send", errno);
        if ((w = tcp_wait(rp, POLLOUT)) <= 0)
            return tcp_broken(rp, "send", w < 0 ? errno : 0);
    }
    sl_buf_reset(&t->w);
    return SL_OK;
}

/* Sends <rec>: its line is the record without one final '\n'; a line that
 * ends in '\r' gets "\r\n", since sluice drops one '\r' before the '\n'. */
static int tcp_record(struct replay *rp, const uint8_t *rec, size_t len)
{
    struct rp_tcp *t = &rp->tcp;
    size_t line = len && rec[len - 1] == '\n' ? len - 1 : len;
    int cr = line && rec[line - 1] == '\r';

    if (t->fd < 0 && tcp_connect(rp) != SL_OK) {
        rp->c.failed++;
        return SL_ERR;
    }
    if (sl_buf_append(&t->w, rec, line) != SL_OK ||
        sl_buf_append(&t->w, cr ? "\r\n" : "\n", cr ? 2 : 1) != SL_OK) {
        fprintf(stderr, "sluice replay: out of memory\n");
        rp->c.failed++;
        return SL_ERR;
    }
    t->inflight++;
    return t->w.len >= TCP_FLUSH ? tcp_flush(rp) : SL_OK;
}

/* Flushes, half-closes and waits for sluice's EOF: it has read every byte. */
static int tcp_finish(struct replay *rp)
{
    struct rp_tcp *t = &rp->tcp;
    uint8_t junk[512];
    ssize_t n;
    int w;

    if (t->fd < 0)
        return SL_OK;
    if (tcp_flush(rp) != SL_OK)
        return SL_ERR;
    if (shutdown(t->fd, SHUT_WR) != 0)
        return tcp_broken(rp, "shutdown", errno);
    for (;;) {
        n = recv(t->fd, junk, sizeof(junk), 0);
        if (n == 0)
            break;
        if (n > 0 || errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return tcp_broken(rp, "waiting for sluice to close", errno);
        if ((w = tcp_wait(rp, POLLIN)) <= 0)
            return tcp_broken(rp, "waiting for sluice to close", w < 0 ? errno : 0);
    }
    rp->c.replayed += t->inflight;
    t->inflight = 0;
    close(t->fd);
    t->fd = -1;
    return SL_OK;
}

/* ---- HTTP: PutRecordBatch ------------------------------------------------ */

/* Makes the client for the --to URL. SL_EINVAL (a usage error) or
 * SL_ENOMEM, said on stderr. */
static int http_setup(struct replay *rp)
{
    struct sl_aws_creds creds;
    char err[256];
    int sign = sl_aws_creds_load(NULL, &creds, err, sizeof(err)) == SL_OK, rc;
    struct sl_http_client_options o = {
        .url = rp->o.to, .max_connections = 1, .timeout_ms = rp->o.timeout_ms,
        .cacert = rp->o.cacert,
        .sigv4 = { .creds = sign ? &creds : NULL, .service = "firehose",
                   .region = rp->o.region },
    };

    rc = sl_http_client_new(&o, &rp->http.client, err, sizeof(err));
    OPENSSL_cleanse(&creds, sizeof(creds));
    if (rc != SL_OK)
        fprintf(stderr, "sluice replay: --to %s: %s\n", rp->o.to, err);
    return rc;
}

/* The body of a PutRecordBatch of the <n> entries <idx> of the batch. */
static int http_body(struct replay *rp, const uint16_t *idx, unsigned n)
{
    struct rp_http *h = &rp->http;
    struct sl_buf *b = &h->body;
    int rc;

    sl_buf_reset(b);
    rc = sl_buf_printf(b, "{\"DeliveryStreamName\":\"%s\",\"Records\":[", rp->o.stream);
    for (unsigned i = 0; i < n && rc == SL_OK; i++) {
        size_t len = h->b.len[idx[i]], enc = sl_base64_encoded_len(len);
        if ((rc = sl_buf_reserve(b, enc + 16)) != SL_OK)
            break;
        sl_buf_append(b, i ? ",{\"Data\":\"" : "{\"Data\":\"", i ? 10 : 9);
        b->len += sl_base64_encode(h->b.data.data + h->b.off[idx[i]], len,
                                   (char *)b->data + b->len);
        sl_buf_append(b, "\"}", 2);
    }
    return rc == SL_OK ? sl_buf_append(b, "]}", 2) : rc;
}

/* Sends the body, waiting at most <wait_ms>; the answer lands in
 * h->answer, what came of it in <r>. */
static void http_post(struct replay *rp, int64_t wait_ms, struct sl_http_result *r)
{
    static const struct sl_http_header hs[] = {
        { "Content-Type", "application/x-amz-json-1.1" },
        { "X-Amz-Target", SL_FH_TARGET_PREFIX "PutRecordBatch" },
    };
    struct rp_http *h = &rp->http;
    struct sl_http_request rq = {
        .method = "POST", .headers = hs, .nheaders = 2, .body = h->body.data,
        .body_len = h->body.len, .timeout_ms = wait_ms, .answer = &h->answer,
    };

    sl_http_client_request(h->client, &rq, r);
}

enum rp_verdict { RP_DONE, RP_RETRY, RP_FATAL };

/* Reads a 200 answer: drops the accepted entries from idx[0..*n), keeps
 * those with an ErrorCode for the next attempt. */
static int http_entries(struct replay *rp, unsigned *n, char *err, size_t errlen)
{
    struct rp_http *h = &rp->http;
    json_t *j = json_loadb((const char *)h->answer.data, h->answer.len, 0, NULL);
    json_t *rr = j ? json_object_get(j, "RequestResponses") : NULL, *code = NULL, *msg = NULL;
    unsigned keep = 0;

    if (!json_is_array(rr) || json_array_size(rr) != *n) {
        json_decref(j);
        snprintf(err, errlen, "an answer without one RequestResponses entry per record: "
                 "%u records may or may not have been accepted", *n);
        return RP_FATAL;
    }
    for (unsigned i = 0; i < *n; i++) {
        json_t *e = json_array_get(rr, i), *c = json_object_get(e, "ErrorCode");
        if (!json_is_string(c))
            continue;
        if (!keep) {
            code = c;
            msg = json_object_get(e, "ErrorMessage");
        }
        h->idx[keep++] = h->idx[i];
    }
    if (keep)
        snprintf(err, errlen, "%u of %u entries refused, e.g. %s: %s", keep, *n,
                 json_string_value(code), json_is_string(msg) ? json_string_value(msg) : "");
    json_decref(j);
    rp->c.replayed += *n - keep;
    *n = keep;
    return keep ? RP_RETRY : RP_DONE;
}

/* What a non-200 answer says: {"__type": ..., "message": ...}. */
static void http_error_text(struct rp_http *h, long status, char *err, size_t errlen)
{
    json_t *j = json_loadb((const char *)h->answer.data, h->answer.len, 0, NULL);
    json_t *t = j ? json_object_get(j, "__type") : NULL;
    json_t *m = j ? json_object_get(j, "message") : NULL;

    if (j && !m)
        m = json_object_get(j, "Message");
    snprintf(err, errlen, "HTTP %ld %s%s%s", status, json_is_string(t) ? json_string_value(t) : "",
             json_is_string(m) ? ": " : "", json_is_string(m) ? json_string_value(m) : "");
    json_decref(j);
}

/* Sends the pending batch until every entry is accepted or the call fails
 * for good (then the run stops). */
static int http_flush(struct replay *rp)
{
    struct rp_http *h = &rp->http;
    int64_t start = sl_clock_mono_ms(), delay;
    unsigned n = h->b.n, attempt = 0;
    char err[600] = "";
    int v;

    if (n == 0)
        return SL_OK;
    for (unsigned i = 0; i < n; i++)
        h->idx[i] = (uint16_t)i;
    for (;;) {
        int64_t left = rp->o.timeout_ms - (sl_clock_mono_ms() - start);
        if (http_body(rp, h->idx, n) != SL_OK) {
            snprintf(err, sizeof(err), "cannot build the request: out of memory");
            v = RP_FATAL;
        } else {
            struct sl_http_result r;
            http_post(rp, left > 500 ? left : 500, &r);
            if (r.status == 200 && r.verdict == SL_HTTP_OK) {
                v = http_entries(rp, &n, err, sizeof(err));
            } else {
                if (r.status && r.cause != SL_HTTP_CAUSE_TOO_BIG)
                    http_error_text(h, r.status, err, sizeof(err));
                else
                    snprintf(err, sizeof(err), "%s", r.error);
                /* as the client says, but any 2xx other than 200 is not
                 * PutRecordBatch's answer: final */
                v = r.verdict == SL_HTTP_RETRY ? RP_RETRY : RP_FATAL;
            }
        }
        attempt++;
        if (v == RP_DONE)
            break;
        delay = sl_backoff_delay(&retry_backoff, attempt, sl_backoff_rand(&rp->rnd));
        if (v == RP_RETRY && attempt < ATTEMPTS &&
            sl_clock_mono_ms() + delay - start < rp->o.timeout_ms) {
            sleep_ms(delay);
            continue;
        }
        fprintf(stderr, "sluice replay: %s: %u records of the batch that starts at %s not "
                "accepted after %u attempt%s in %.1fs: %s\n", rp->o.to, n, h->b.first, attempt,
                attempt == 1 ? "" : "s", (double)(sl_clock_mono_ms() - start) / 1000.0, err);
        rp->c.failed += n;
        h->b.n = 0;
        sl_buf_reset(&h->b.data);
        return SL_ERR;
    }
    h->b.n = 0;
    sl_buf_reset(&h->b.data);
    return SL_OK;
}

/* Adds a record to the pending batch, sending it first if it is full. */
static int http_record(struct replay *rp, const uint8_t *rec, size_t len)
{
    struct rp_batch *b = &rp->http.b;

    if ((b->n == SL_FH_MAX_BATCH || b->data.len + len > SL_FH_MAX_BATCH_BYTES) &&
        http_flush(rp) != SL_OK)
        return SL_ERR;
    if (b->n == 0)
        snprintf(b->first, sizeof(b->first), "%s:%llu", rp->ln.name,
                 (unsigned long long)rp->ln.lineno);
    b->off[b->n] = b->data.len;
    b->len[b->n] = len;
    if (sl_buf_append(&b->data, rec, len) != SL_OK) {     /* max is 4 MiB: memory */
        fprintf(stderr, "sluice replay: out of memory\n");
        rp->c.failed++;
        return SL_ERR;
    }
    b->n++;
    return SL_OK;
}

/* ---- one envelope --------------------------------------------------------- */

/* 1 if the target can carry <rec> unchanged; else complains and counts. */
static int sendable(struct replay *rp, const uint8_t *rec, size_t len)
{
    size_t line = len && rec[len - 1] == '\n' ? len - 1 : len;

    if (len > SL_FH_MAX_RECORD)
        complain(rp, "record of %zu bytes is over the limit of %u: not sent", len,
                 SL_FH_MAX_RECORD);
    else if (rp->o.target == RP_TCP && line > 0 && memchr(rec, '\n', line))
        complain(rp, "record holds a newline, which TCP cannot frame: not sent "
                 "(replay it with --to http://)");
    else if (rp->o.target == RP_TCP && line == 0)
        complain(rp, "empty record, which TCP cannot carry: not sent (replay it with "
                 "--to http://)");
    else
        return 1;
    rp->c.unsendable++;
    return 0;
}

/* Handles one line of the current file. */
static void envelope(struct replay *rp, const uint8_t *p, size_t n)
{
    json_error_t jerr;
    json_t *j, *raw, *code;
    long len;

    if (n == 0 || (n == 1 && p[0] == '\r'))
        return;                                       /* not an envelope, nor a problem */
    j = json_loadb((const char *)p, n, 0, &jerr);
    if (!j || !json_is_object(j)) {
        complain(rp, "not an envelope: %s", j ? "not a JSON object" : jerr.text);
        rp->c.bad++;
        goto out;
    }
    raw = json_object_get(j, "rawData");
    if (!json_is_string(raw)) {
        complain(rp, "not an envelope: no rawData string");
        rp->c.bad++;
        goto out;
    }
    code = json_object_get(j, "errorCode");
    if (rp->o.error_code &&
        (!json_is_string(code) || strcmp(json_string_value(code), rp->o.error_code) != 0)) {
        rp->c.skipped++;                      /* not decoded: filtered out first */
        goto out;
    }
    len = sl_base64_decoded_len(json_string_value(raw), json_string_length(raw));
    sl_buf_reset(&rp->rec);
    /* +1: rec.data is never NULL, even for an empty record (memchr, memcpy) */
    if (len < 0 || sl_buf_reserve(&rp->rec, (size_t)len + 1) != SL_OK ||
        sl_base64_decode(json_string_value(raw), json_string_length(raw), rp->rec.data) != len) {
        complain(rp, "not an envelope: rawData is not base64");
        rp->c.bad++;
        goto out;
    }
    if (!sendable(rp, rp->rec.data, (size_t)len))
        goto out;
    if (rp->o.dry_run)
        rp->c.replayed++;
    else if ((rp->o.target == RP_TCP ? tcp_record : http_record)(rp, rp->rec.data,
                                                                (size_t)len) != SL_OK)
        rp->stopped = 1;
out:
    json_decref(j);
}

/* ---- lines ---------------------------------------------------------------- */

/* Splits decoded bytes into lines; a line that spans buffers is gathered
 * in ln.part, one past LINE_MAX_LEN is skipped to its end. */
/* A whole line is in ln->part (or was too long): read it, start afresh. */
static void line_done(struct replay *rp)
{
    struct rp_lines *ln = &rp->ln;

    if (ln->overlong) {
        complain(rp, "not an envelope: line longer than %u bytes", LINE_MAX_LEN);
        rp->c.bad++;
    } else {
        envelope(rp, ln->part.data, ln->part.len);    /* an empty line is nothing */
    }
    sl_buf_reset(&ln->part);
    ln->overlong = 0;
}

static void lines_feed(struct replay *rp, const uint8_t *p, size_t n)
{
    struct rp_lines *ln = &rp->ln;

    while (n > 0 && !rp->stopped) {
        const uint8_t *nl = memchr(p, '\n', n);
        size_t seg = nl ? (size_t)(nl - p) : n;

        if (!ln->overlong && nl && ln->part.len == 0) {
            envelope(rp, p, seg);                      /* in place, no copy */
        } else {
            if (!ln->overlong && sl_buf_append(&ln->part, p, seg) != SL_OK) {
                sl_buf_reset(&ln->part);
                ln->overlong = 1;
            }
            if (nl)
                line_done(rp);
        }
        if (!nl)
            break;
        ln->lineno++;
        p = nl + 1;
        n -= seg + 1;
    }
}

/* The end of a file: a last line without '\n' is a line, unless <cut>
 * (the data ended early). Reports the complaints held back. */
static void lines_end(struct replay *rp, int cut)
{
    struct rp_lines *ln = &rp->ln;

    if (!cut && !rp->stopped && (ln->overlong || ln->part.len))
        line_done(rp);
    if (ln->hidden)
        fprintf(stderr, "sluice replay: %s: %llu more problems not shown\n", ln->name,
                (unsigned long long)ln->hidden);
    sl_buf_reset(&ln->part);
    ln->overlong = 0;
}

/* ---- decoding ------------------------------------------------------------- */

/* Reads more input after what is there. SL_EIO with errno on failure. */
static int rd_fill(struct rp_reader *r)
{
    ssize_t n;

    if (r->in_pos == r->in_len)
        r->in_pos = r->in_len = 0;
    while ((n = read(r->fd, r->in + r->in_len, READ_SZ - r->in_len)) < 0 && errno == EINTR)
        ;
    if (n < 0)
        return SL_EIO;
    if (n == 0)
        r->eof = 1;
    r->in_len += (size_t)n;
    return SL_OK;
}

/* Starts reading <fd>: picks the codec by its first bytes. */
static int rd_begin(struct rp_reader *r, int fd)
{
    int rc;

    r->fd = fd;
    r->in_pos = r->in_len = 0;
    r->eof = r->more = 0;
    while (r->in_len < 4 && !r->eof)
        if ((rc = rd_fill(r)) != SL_OK)
            return rc;
    r->kind = sl_compress_sniff(r->in, r->in_len);
    return r->kind == SL_COMP_NONE ? SL_OK : sl_compress_dec_begin(r->dec, r->kind, 0);
}

/* The next decoded bytes: *<p>, *<n> of them (a plain file's straight from
 * the read buffer). *<n> == 0 at the end. SL_EIO (errno set), SL_EINVAL
 * (corrupt or cut), SL_ETOOBIG (a zstd window over 128 MiB), SL_ENOMEM. */
static int rd_next(struct rp_reader *r, const uint8_t **p, size_t *n)
{
    size_t used;
    int rc;

    *n = 0;
    *p = r->out;
    for (;;) {
        if (r->in_pos == r->in_len && !r->eof && (rc = rd_fill(r)) != SL_OK)
            return rc;
        if (r->kind == SL_COMP_NONE) {
            *p = r->in + r->in_pos;
            *n = r->in_len - r->in_pos;
            r->in_pos = r->in_len;
            return SL_OK;
        }
        if (r->in_pos == r->in_len && r->eof && !r->more)
            return sl_compress_dec_end(r->dec);       /* the end, or a cut member/frame */
        rc = sl_compress_dec_run(r->dec, r->in + r->in_pos, r->in_len - r->in_pos, &used,
                                 r->out, READ_SZ, n);
        r->in_pos += used;
        if (rc != SL_OK)
            return rc;
        r->more = *n == READ_SZ;
        if (*n)
            return SL_OK;
    }
}

/* Reads every envelope of the open file <fd>, called <name>. */
static void read_fd(struct replay *rp, int fd, const char *name)
{
    static const char *const kinds[] = { "plain", "gzip", "zstd" };
    struct rp_reader *r = rp->rd;
    const uint8_t *p;
    size_t n = 0;
    int rc;

    rp->c.files++;
    rp->ln.name = name;
    rp->ln.lineno = 1;
    rp->ln.shown = 0;
    rp->ln.hidden = 0;
    rc = rd_begin(r, fd);
    while (rc == SL_OK && (rc = rd_next(r, &p, &n)) == SL_OK && n > 0 && !rp->stopped)
        lines_feed(rp, p, n);
    if (rc != SL_OK) {
        int err = errno;
        rp->c.file_errors++;
        if (rc == SL_EIO)
            fprintf(stderr, "sluice replay: %s: read error after line %llu: %s\n", name,
                    (unsigned long long)rp->ln.lineno - 1, strerror(err));
        else
            fprintf(stderr, "sluice replay: %s:%llu: %s data %s; the rest of the file is "
                    "not read\n", name, (unsigned long long)rp->ln.lineno, kinds[r->kind],
                    rc == SL_EINVAL ? "corrupt or cut short" : "cannot be decoded (memory)");
    }
    lines_end(rp, rc != SL_OK);
}

/* ---- paths ---------------------------------------------------------------- */

static int visible(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static void walk(struct replay *rp, const char *path, int top);

static void walk_dir(struct replay *rp, const char *path)
{
    struct dirent **list = NULL;
    char sub[PATH_MAX];
    int n = scandir(path, &list, visible, by_name);

    if (n < 0) {
        fprintf(stderr, "sluice replay: %s: cannot list: %s\n", path, strerror(errno));
        rp->c.file_errors++;
        return;
    }
    for (int i = 0; i < n; i++) {
        if (!rp->stopped) {
            size_t pl = strlen(path);
            int slash = pl && path[pl - 1] == '/';
            if ((size_t)snprintf(sub, sizeof(sub), "%s%s%s", path, slash ? "" : "/",
                                 list[i]->d_name) >= sizeof(sub)) {
                fprintf(stderr, "sluice replay: %s/%s: path too long\n", path, list[i]->d_name);
                rp->c.file_errors++;
            } else {
                walk(rp, sub, 0);
            }
        }
        free(list[i]);
    }
    free(list);
}

/* Reads <path>: a file, a directory, or (as an argument) "-". Symbolic
 * links are followed when named as arguments, and to files inside a
 * directory, never to directories inside one (no cycles). */
static void walk(struct replay *rp, const char *path, int top)
{
    struct stat st;
    int fd;

    if (top && strcmp(path, "-") == 0) {
        read_fd(rp, STDIN_FILENO, "(stdin)");
        return;
    }
    if ((top ? stat(path, &st) : lstat(path, &st)) != 0) {
        fprintf(stderr, "sluice replay: %s: %s\n", path, strerror(errno));
        rp->c.file_errors++;
        return;
    }
    if (S_ISLNK(st.st_mode) && (stat(path, &st) != 0 || S_ISDIR(st.st_mode))) {
        fprintf(stderr, "sluice replay: %s: skipped: a link to a directory or to nothing\n",
                path);
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        walk_dir(rp, path);
        return;
    }
    if (!S_ISREG(st.st_mode) && !top) {
        fprintf(stderr, "sluice replay: %s: skipped: not a regular file\n", path);
        return;
    }
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        fprintf(stderr, "sluice replay: %s: cannot open: %s\n", path, strerror(errno));
        rp->c.file_errors++;
        return;
    }
    read_fd(rp, fd, path);
    close(fd);
}

/* ---- set-up and main ------------------------------------------------------ */

/* Checks --to (and what goes with it) and fills in the target. SL_OK, or
 * SL_EINVAL after saying why. */
static int parse_target(struct replay *rp)
{
    struct rp_opts *o = &rp->o;
    const char *why;

    if (strncmp(o->to, "tcp://", 6) == 0) {
        o->target = RP_TCP;
        if (sl_addr_parse(o->to + 6, &rp->tcp.addr, &why) != SL_OK) {
            fprintf(stderr, "sluice replay: --to %s: %s\n", o->to, why);
            return SL_EINVAL;
        }
        if (o->stream) {
            fprintf(stderr, "sluice replay: --stream is for http: a TCP port is one stream\n");
            return SL_EINVAL;
        }
        return SL_OK;
    }
    if (strncmp(o->to, "http://", 7) != 0 && strncmp(o->to, "https://", 8) != 0) {
        fprintf(stderr, "sluice replay: --to %s: expected tcp://HOST:PORT or "
                "http[s]://HOST:PORT\n", o->to);
        return SL_EINVAL;
    }
    o->target = RP_HTTP;
    if (!o->stream || !sl_firehose_api_valid_stream_name(o->stream)) {
        fprintf(stderr, "sluice replay: --to %s needs --stream NAME (1-64 characters of "
                "A-Z a-z 0-9 _ . -)\n", o->to);
        return SL_EINVAL;
    }
    if (!o->region || !o->region[0])
        o->region = getenv("AWS_REGION");
    if (!o->region || !o->region[0])
        o->region = getenv("AWS_DEFAULT_REGION");
    if (!o->region || !o->region[0])
        o->region = "us-east-1";
    return SL_OK;
}

/* Parses the command line into rp->o. Returns the index of the first
 * PATH, 0 after --help, or -1 (usage error, already reported). */
static int parse_args(struct replay *rp, int argc, char **argv)
{
    static const struct option opts[] = {
        { "to", required_argument, NULL, 't' },         { "stream", required_argument, NULL, 's' },
        { "region", required_argument, NULL, 'r' },     { "dry-run", no_argument, NULL, 'n' },
        { "error-code", required_argument, NULL, 'e' }, { "timeout", required_argument, NULL, 'T' },
        { "cacert", required_argument, NULL, 'C' },     { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct rp_opts *o = &rp->o;
    const char *timeout = "60s";
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 't': o->to = optarg; break;
        case 's': o->stream = optarg; break;
        case 'r': o->region = optarg; break;
        case 'n': o->dry_run = 1; break;
        case 'e': o->error_code = optarg; break;
        case 'T': timeout = optarg; break;
        case 'C': o->cacert = optarg; break;
        case 'h': usage(stdout); return 0;
        default: goto bad;
        }
    }
    if (!o->to) {
        fprintf(stderr, "sluice replay: --to URL is required\n");
        goto bad;
    }
    if (optind >= argc) {
        fprintf(stderr, "sluice replay: no PATH to read (use - for standard input)\n");
        goto bad;
    }
    if (sl_units_duration(timeout, &o->timeout_ms) != SL_OK || o->timeout_ms <= 0 ||
        o->timeout_ms > INT32_MAX) {
        fprintf(stderr, "sluice replay: --timeout %s: not a duration such as 500ms, 30s, 2m\n",
                timeout);
        goto bad;
    }
    if (parse_target(rp) != SL_OK)
        goto bad;
    return optind;
bad:
    fprintf(stderr, "try 'sluice replay --help'\n");
    return -1;
}

static int rp_init(struct replay *rp)
{
    rp->tcp.fd = -1;
    rp->rnd = sl_backoff_seed();
    sl_buf_init(&rp->tcp.w, TCP_FLUSH + SL_FH_MAX_RECORD + 2);
    sl_buf_init(&rp->ln.part, LINE_MAX_LEN);
    sl_buf_init(&rp->rec, LINE_MAX_LEN);
    sl_buf_init(&rp->http.b.data, SL_FH_MAX_BATCH_BYTES);
    sl_buf_init(&rp->http.body, BODY_MAX);
    sl_buf_init(&rp->http.answer, ANSWER_MAX);
    rp->rd = calloc(1, sizeof(*rp->rd));
    if (!rp->rd || !(rp->rd->dec = sl_compress_dec_new()))
        return SL_ENOMEM;
    return SL_OK;
}

static void rp_destroy(struct replay *rp)
{
    if (rp->tcp.fd >= 0)
        close(rp->tcp.fd);
    rp->tcp.fd = -1;
    sl_buf_destroy(&rp->tcp.w);
    sl_buf_destroy(&rp->ln.part);
    sl_buf_destroy(&rp->rec);
    sl_buf_destroy(&rp->http.b.data);
    sl_buf_destroy(&rp->http.body);
    sl_buf_destroy(&rp->http.answer);
    sl_http_client_free(rp->http.client);
    rp->http.client = NULL;
    if (rp->rd)
        sl_compress_dec_free(rp->rd->dec);
    free(rp->rd);
    rp->rd = NULL;
}

int sl_cmd_replay_main(int argc, char **argv)
{
    struct replay *rp = calloc(1, sizeof(*rp));     /* ~30 KiB: not on the stack */
    int first, rc = 1, curl_up = 0;

    if (!rp) {
        fprintf(stderr, "sluice replay: out of memory\n");
        return 1;
    }
    if (rp_init(rp) != SL_OK) {
        fprintf(stderr, "sluice replay: out of memory\n");
        goto out;
    }
    if ((first = parse_args(rp, argc, argv)) <= 0) {
        rc = first < 0 ? 2 : 0;
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    if (rp->o.target == RP_HTTP) {           /* a dry run checks the URL too */
        if (sl_http_client_global_init() != SL_OK) {
            fprintf(stderr, "sluice replay: cannot set up libcurl\n");
            goto out;
        }
        curl_up = 1;
        int hrc = http_setup(rp);
        if (hrc != SL_OK) {
            rc = hrc == SL_EINVAL ? 2 : 1;   /* a bad URL is a usage error */
            goto out;
        }
    }
    for (int i = first; i < argc && !rp->stopped; i++)
        walk(rp, argv[i], 1);
    if (!rp->stopped && !rp->o.dry_run &&
        (rp->o.target == RP_TCP ? tcp_finish(rp) : http_flush(rp)) != SL_OK)
        rp->stopped = 1;
    if (rp->stopped)
        fprintf(stderr, "sluice replay: stopped; the records after those reported were not "
                "sent\n");
    if (rp->o.dry_run)
        fprintf(stderr, "sluice replay: dry run: nothing was sent\n");
    printf("replayed %llu records from %llu files (%llu bad lines, %llu unsendable, "
           "%llu skipped by filter)\n", (unsigned long long)rp->c.replayed,
           (unsigned long long)rp->c.files, (unsigned long long)rp->c.bad,
           (unsigned long long)rp->c.unsendable, (unsigned long long)rp->c.skipped);
    rc = rp->stopped || rp->c.bad || rp->c.unsendable || rp->c.failed || rp->c.file_errors;
    if (fflush(stdout) != 0 || ferror(stdout))
        rc = 1;                               /* the summary line was lost */
out:
    rp_destroy(rp);
    free(rp);
    if (curl_up)
        sl_http_client_global_cleanup();
    return rc;
}
