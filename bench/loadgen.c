/*
 * loadgen.c - pushes synthetic clickstream records at sluice, and checks
 * what came out.
 *
 *   loadgen tcp      -p PORT [-c CONNS] [-n RECORDS] [-r RATE] [common]
 *   loadgen firehose -p PORT -t STREAM [-b PER_REQUEST] [...as tcp]
 *   loadgen ndjson   -p PORT -t STREAM [-b PER_REQUEST] [...as tcp]
 *   loadgen verify   -d DIR [-n RECORDS] [-U: records upper-cased] [common]
 *   loadgen dump     [-n RECORDS] [common]          the records, to stdout
 *   loadgen discard  -p PORT [-c CONNS]             a TCP sink that drops all
 *   common: [-H HOST] [-S SEED] [-f FIRST] [-w DIR]
 *
 * Records are those of gen.h, sequence numbers FIRST .. FIRST+RECORDS-1,
 * split into one contiguous range per connection. Every byte to send is
 * made before the clock starts. `tcp` writes newline-delimited records
 * and, at the end, shuts its write side and waits for sluice to close:
 * at that point sluice has read and handed on every record. `firehose`
 * posts PutRecordBatch requests (default 500 records) and `ndjson` posts
 * to /v1/streams/STREAM/records (default 1000), over keep-alive
 * connections; records refused under backpressure are sent again after a
 * backoff, as a Firehose client does. -r paces all connections together
 * to RATE records/s (default: as fast as possible).
 *
 * -w DIR (with a sending mode) watches DIR while sending and measures each
 * record's freshness: from when it was sent to when the object holding it
 * appeared. `verify` reports records missing, duplicated or corrupted in
 * DIR and exits 1 if there are any. `dump` and `discard` make the
 * baselines of `make bench`: the same bytes for a compressor, and the
 * fastest possible receiver (it accepts CONNS connections, reads each to
 * its end, closes it, and exits).
 *
 * Output: "loadgen: start EPOCH" when the first byte leaves, then one line
 * of key=value results.
 */
#include "loadgen.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "gen.h"

enum mode { M_TCP, M_FIREHOSE, M_NDJSON, M_VERIFY, M_DUMP, M_DISCARD };

struct opts {
    enum mode mode;
    const char *host, *port, *stream, *dir, *watch;
    int conns;
    uint64_t n, first, seed;
    double rate;                 /* records/s over all connections; 0: no limit */
    unsigned per_req;
    int upper;                   /* verify: records were upper-cased (-U) */
};

/* One request's records: <list> if set, else first .. first+n-1. */
struct req {
    char *body;
    size_t len;
    uint64_t first;
    uint64_t *list;
    unsigned n;
};

/* One connection's work and results; owned by its thread while it runs. */
struct job {
    const struct opts *o;
    struct lg_watch *watch;      /* NULL: no latency measurement */
    uint64_t first, n;           /* its records */
    char *data;                  /* tcp: all its records */
    size_t len;
    uint32_t *ends;              /* tcp: end offset of each record */
    struct req *reqs;            /* http: its requests */
    size_t nreq;
    uint64_t bytes;              /* record bytes to send, known once made */
    uint64_t retried;            /* records sent again after a refusal */
    int failed;
    struct timespec t0;
};

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Waits until <done> records of a connection paced at <rate>/s are due. */
static void pace(const struct job *j, uint64_t done)
{
    double r = j->o->rate / j->o->conns;
    if (r <= 0)
        return;
    double at = (double)done / r;
    struct timespec t = j->t0;
    t.tv_sec += (time_t)at;
    t.tv_nsec += (long)((at - (double)(time_t)at) * 1e9);
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
        ;
}

static void backoff(unsigned *ms)
{
    struct timespec t = { .tv_sec = *ms / 1000, .tv_nsec = (long)(*ms % 1000) * 1000000L };
    nanosleep(&t, NULL);
    *ms = *ms * 2 > 1000 ? 1000 : *ms * 2;
}

static int dial(const struct opts *o)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
    int fd = -1;

    if (getaddrinfo(o->host, o->port, &hints, &ai) != 0) {
        fprintf(stderr, "loadgen: cannot resolve %s:%s\n", o->host, o->port);
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        fprintf(stderr, "loadgen: connect %s:%s: %s\n", o->host, o->port, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- making the bytes, before the clock starts ---- */

static uint64_t seq_at(const struct req *q, unsigned i)
{
    return q->list ? q->list[i] : q->first + i;
}

static int make_tcp(struct job *j)
{
    char rec[LG_RECORD_MAX];

    j->data = malloc(j->n * LG_RECORD_MAX + 1);
    j->ends = malloc(j->n * sizeof(*j->ends) + 1);
    if (!j->data || !j->ends)
        return -1;
    for (uint64_t i = 0; i < j->n; i++) {
        size_t n = lg_record(j->o->seed, j->first + i, rec);
        memcpy(j->data + j->len, rec, n);
        j->len += n;
        j->ends[i] = (uint32_t)j->len;
    }
    j->bytes = j->len;
    return 0;
}

/* Builds the body of request <q> for the connection's mode; adds the
 * bytes of its records to *<bytes>. */
static int make_body(const struct opts *o, struct req *q, uint64_t *bytes)
{
    char rec[LG_RECORD_MAX];
    size_t cap = (size_t)q->n * (LG_RECORD_MAX * 4 / 3 + 16) + strlen(o->stream) + 64;
    char *b = malloc(cap);
    size_t len = 0;

    if (!b)
        return -1;
    if (o->mode == M_FIREHOSE)
        len += (size_t)snprintf(b, cap, "{\"DeliveryStreamName\":\"%s\",\"Records\":[", o->stream);
    for (unsigned i = 0; i < q->n; i++) {
        size_t n = lg_record(o->seed, seq_at(q, i), rec);
        *bytes += n;
        if (o->mode == M_NDJSON) {
            memcpy(b + len, rec, n);
            len += n;
            continue;
        }
        memcpy(b + len, i ? ",{\"Data\":\"" : "{\"Data\":\"", i ? 10 : 9);
        len += i ? 10 : 9;
        len += (size_t)EVP_EncodeBlock((unsigned char *)b + len, (unsigned char *)rec, (int)n);
        memcpy(b + len, "\"}", 2);
        len += 2;
    }
    if (o->mode == M_FIREHOSE) {
        memcpy(b + len, "]}", 2);
        len += 2;
    }
    q->body = b;
    q->len = len;
    return 0;
}

static int make_http(struct job *j)
{
    unsigned per = j->o->per_req;

    j->nreq = (j->n + per - 1) / per;
    if (!(j->reqs = calloc(j->nreq ? j->nreq : 1, sizeof(*j->reqs))))
        return -1;
    for (size_t k = 0; k < j->nreq; k++) {
        struct req *q = &j->reqs[k];
        q->first = j->first + k * per;
        q->n = (unsigned)(j->first + j->n - q->first < per ? j->first + j->n - q->first : per);
        if (make_body(j->o, q, &j->bytes) != 0)
            return -1;
    }
    return 0;
}

/* ---- HTTP/1.1 over one keep-alive connection ---- */

struct hconn {
    int fd;
    char *buf;                   /* the response */
    size_t cap;
};

/* Sends request <q> and reads the answer into h->buf. Returns the status
 * with *<body> pointing at the response body, or -1. */
static int roundtrip(const struct opts *o, struct hconn *h, const struct req *q,
                     const char **body)
{
    char head[512];
    int hl;

    if (o->mode == M_FIREHOSE)
        hl = snprintf(head, sizeof(head),
                      "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-amz-json-1.1\r\n"
                      "X-Amz-Target: Firehose_20150804.PutRecordBatch\r\n"
                      "Content-Length: %zu\r\n\r\n", o->host, q->len);
    else
        hl = snprintf(head, sizeof(head),
                      "POST /v1/streams/%s/records HTTP/1.1\r\nHost: %s\r\n"
                      "Content-Length: %zu\r\n\r\n", o->stream, o->host, q->len);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (h->fd < 0 && (h->fd = dial(o)) < 0)
            return -1;
        struct iovec iov[2] = { { head, (size_t)hl }, { q->body, q->len } };
        size_t left = (size_t)hl + q->len, have = 0, need = 0, hdr = 0;
        int status = -1, close_after = 0;
        struct iovec *v = iov;
        int nv = 2;
        while (left > 0) {
            ssize_t w = writev(h->fd, v, nv);
            if (w <= 0)
                break;
            left -= (size_t)w;
            while (nv && (size_t)w >= v->iov_len) {
                w -= (ssize_t)v->iov_len;
                v++, nv--;
            }
            if (nv) {
                v->iov_base = (char *)v->iov_base + w;
                v->iov_len -= (size_t)w;
            }
        }
        while (left == 0) {
            if (have == h->cap) {
                h->cap = h->cap ? h->cap * 2 : 1 << 16;
                if (!(h->buf = realloc(h->buf, h->cap)))
                    return -1;
            }
            ssize_t r = read(h->fd, h->buf + have, h->cap - have);
            if (r <= 0)
                break;
            have += (size_t)r;
            if (!hdr) {
                char *end = memmem(h->buf, have, "\r\n\r\n", 4);
                if (!end)
                    continue;
                hdr = (size_t)(end - h->buf) + 4;
                end[2] = '\0';
                status = atoi(h->buf + 9);
                for (char *l = strstr(h->buf, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
                    if (strncasecmp(l + 2, "content-length:", 15) == 0)
                        need = strtoull(l + 17, NULL, 10);
                    else if (strncasecmp(l + 2, "connection: close", 17) == 0)
                        close_after = 1;
                }
            }
            if (hdr && have >= hdr + need) {
                if (h->cap == have && !(h->buf = realloc(h->buf, ++h->cap)))
                    return -1;
                h->buf[hdr + need] = '\0';
                *body = h->buf + hdr;
                if (close_after) {
                    close(h->fd);
                    h->fd = -1;
                }
                return status;
            }
        }
        close(h->fd);                /* the server closed a kept-alive connection */
        h->fd = -1;
    }
    fprintf(stderr, "loadgen: the connection failed twice in a row\n");
    return -1;
}

/* Replaces <q> by the records of <q> that PutRecordBatch answer <body>
 * marks failed. Returns how many, or -1 if the answer makes no sense. */
static int failed_records(const struct opts *o, struct req *q, const char *body)
{
    json_t *j = json_loads(body, 0, NULL);
    json_t *rr = json_object_get(j, "RequestResponses");
    uint64_t *list = NULL;
    unsigned n = 0;

    if (!json_is_array(rr) || json_array_size(rr) != q->n) {
        json_decref(j);
        return -1;
    }
    if (!(list = malloc(q->n * sizeof(*list)))) {
        json_decref(j);
        return -1;
    }
    for (unsigned i = 0; i < q->n; i++)
        if (json_object_get(json_array_get(rr, i), "ErrorCode"))
            list[n++] = seq_at(q, i);
    json_decref(j);
    free(q->body);
    free(q->list);
    *q = (struct req){ .list = list, .n = n };
    uint64_t ignored = 0;
    return make_body(o, q, &ignored) == 0 ? (int)n : -1;
}

/* Sends request <q> until every record of it is accepted. */
static int send_req(struct job *j, struct hconn *h, struct req *q)
{
    unsigned wait_ms = 20;
    const char *body;

    for (;;) {
        int st = roundtrip(j->o, h, q, &body);
        if (st == 200 && j->o->mode == M_NDJSON) {
            unsigned long got = 0;
            if (sscanf(body, "{\"accepted\":%lu}", &got) == 1 && got == q->n)
                return 0;
            fprintf(stderr, "loadgen: sent %u records, sluice answered %s\n", q->n, body);
            return -1;
        }
        if (st == 200 && strstr(body, "\"FailedPutCount\":0,"))
            return 0;
        if (st == 200) {
            int left = failed_records(j->o, q, body);
            if (left < 0) {
                fprintf(stderr, "loadgen: cannot read PutRecordBatch answer %.200s\n", body);
                return -1;
            }
            j->retried += (unsigned)left;
        } else if (st == 503 || st == 500) {
            j->retried += q->n;
        } else {
            fprintf(stderr, "loadgen: HTTP %d: %.300s\n", st, st > 0 ? body : "");
            return -1;
        }
        backoff(&wait_ms);
    }
}

static void *run_http(void *arg)
{
    struct job *j = arg;
    struct hconn h = { .fd = -1 };
    uint64_t done = 0;

    for (size_t k = 0; k < j->nreq && !j->failed; k++) {
        struct req *q = &j->reqs[k];
        unsigned n = q->n;
        pace(j, done);
        if (j->watch)
            lg_watch_sent(j->watch, q->first, n);
        if (send_req(j, &h, q) != 0)
            j->failed = 1;
        done += n;
        free(q->body);
        free(q->list);
        q->body = NULL;
        q->list = NULL;
    }
    if (h.fd >= 0)
        close(h.fd);
    free(h.buf);
    return NULL;
}

static void *run_tcp(void *arg)
{
    struct job *j = arg;
    int fd = dial(j->o);
    char tmp[256];
    uint64_t done = 0;
    size_t off = 0;

    if (fd < 0) {
        j->failed = 1;
        return NULL;
    }
    /* Paced: about a millisecond's records a write; else 1 MiB writes. */
    uint64_t unit = j->o->rate > 0 ? (uint64_t)(j->o->rate / j->o->conns / 1000) + 1 : 0;
    while (off < j->len) {
        size_t end;
        uint64_t n;
        if (unit) {
            n = j->n - done < unit ? j->n - done : unit;
            pace(j, done);
            end = j->ends[done + n - 1];
        } else {
            end = j->len - off < (1 << 20) ? j->len : off + (1 << 20);
            n = 0;
        }
        if (j->watch)
            lg_watch_sent(j->watch, j->first + done, unit ? n : j->n - done);
        if (send_all(fd, j->data + off, end - off) != 0) {
            fprintf(stderr, "loadgen: send: %s\n", strerror(errno));
            j->failed = 1;
            break;
        }
        off = end;
        done += n;
    }
    shutdown(fd, SHUT_WR);
    while (read(fd, tmp, sizeof(tmp)) > 0)
        ;
    close(fd);
    return NULL;
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen tcp      -p PORT [-c CONNS] [-n RECORDS] [-r RATE] [common]\n"
            "       loadgen firehose -p PORT -t STREAM [-b PER_REQUEST] [as tcp]\n"
            "       loadgen ndjson   -p PORT -t STREAM [-b PER_REQUEST] [as tcp]\n"
            "       loadgen verify   -d DIR [-n RECORDS] [-U] [common]\n"
            "       loadgen dump     [-n RECORDS] [common]\n"
            "       loadgen discard  -p PORT [-c CONNS]\n"
            "common: [-H HOST] [-S SEED] [-f FIRST] [-w DIR (freshness, while sending)]\n");
}

static int number(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
    uint64_t v;
    int opt;

    *o = (struct opts){ .host = "127.0.0.1", .conns = 8, .n = 1000000, .seed = 1 };
    if (argc < 2)
        return -1;
    if (strcmp(argv[1], "tcp") == 0)
        o->mode = M_TCP;
    else if (strcmp(argv[1], "firehose") == 0)
        o->mode = M_FIREHOSE, o->per_req = 500;
    else if (strcmp(argv[1], "ndjson") == 0)
        o->mode = M_NDJSON, o->per_req = 1000;
    else if (strcmp(argv[1], "verify") == 0)
        o->mode = M_VERIFY;
    else if (strcmp(argv[1], "dump") == 0)
        o->mode = M_DUMP;
    else if (strcmp(argv[1], "discard") == 0)
        o->mode = M_DISCARD;
    else
        return -1;
    optind = 2;
    while ((opt = getopt(argc, argv, "H:p:t:c:n:f:S:r:b:d:w:U")) != -1) {
        switch (opt) {
        case 'H': o->host = optarg; break;
        case 'p': o->port = optarg; break;
        case 't': o->stream = optarg; break;
        case 'd': o->dir = optarg; break;
        case 'w': o->watch = optarg; break;
        case 'U': o->upper = 1; break;
        case 'c': if (number(optarg, 1, 1024, &v)) return -1; o->conns = (int)v; break;
        case 'n': if (number(optarg, 1, 1ULL << 32, &o->n)) return -1; break;
        case 'f': if (number(optarg, 0, 1ULL << 62, &o->first)) return -1; break;
        case 'S': if (number(optarg, 0, UINT64_MAX, &o->seed)) return -1; break;
        case 'r': if (number(optarg, 0, 1ULL << 32, &v)) return -1; o->rate = (double)v; break;
        case 'b': if (number(optarg, 1, 100000, &v)) return -1; o->per_req = (unsigned)v; break;
        default: return -1;
        }
    }
    if (optind != argc)
        return -1;
    if (o->mode == M_VERIFY)
        return o->dir ? 0 : -1;
    if (o->mode == M_DUMP)
        return 0;
    if (!o->port || ((o->mode == M_FIREHOSE || o->mode == M_NDJSON) && !o->stream))
        return -1;
    return 0;
}

static int verify(const struct opts *o)
{
    struct lg_verify_args a = { .dir = o->dir, .seed = o->seed, .first = o->first, .n = o->n,
                                .upper = o->upper };
    struct lg_verify_result r;

    if (lg_verify(&a, &r) != 0)
        return 2;
    printf("verify: objects=%llu records=%llu expected=%llu missing=%llu duplicated=%llu "
           "corrupted=%llu unreadable=%llu\n", (unsigned long long)r.objects,
           (unsigned long long)r.records, (unsigned long long)o->n,
           (unsigned long long)r.missing, (unsigned long long)r.duplicated,
           (unsigned long long)r.corrupted, (unsigned long long)r.unreadable);
    return r.missing || r.duplicated || r.corrupted || r.unreadable ? 1 : 0;
}

static int dump(const struct opts *o)
{
    static char out[1 << 20];
    size_t len = 0;

    for (uint64_t s = o->first; s < o->first + o->n; s++) {
        if (len + LG_RECORD_MAX > sizeof(out)) {
            if (fwrite(out, 1, len, stdout) != len)
                return 1;
            len = 0;
        }
        len += lg_record(o->seed, s, out + len);
    }
    return fwrite(out, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : 1;
}

static void *drain(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char *buf = malloc(1 << 18);

    while (buf && read(fd, buf, 1 << 18) > 0)
        ;
    free(buf);
    close(fd);
    return NULL;
}

static int discard(const struct opts *o)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai;
    pthread_t *th = calloc((size_t)o->conns, sizeof(*th));
    int one = 1, lfd;

    if (!th || getaddrinfo(o->host, o->port, &hints, &ai) != 0)
        return 1;
    lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (lfd < 0 || bind(lfd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(lfd, 128) != 0) {
        fprintf(stderr, "loadgen: listen %s:%s: %s\n", o->host, o->port, strerror(errno));
        return 1;
    }
    freeaddrinfo(ai);
    printf("loadgen: listening\n");
    fflush(stdout);
    for (int i = 0; i < o->conns; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0 || pthread_create(&th[i], NULL, drain, (void *)(intptr_t)fd) != 0)
            return 1;
    }
    for (int i = 0; i < o->conns; i++)
        pthread_join(th[i], NULL);
    close(lfd);
    free(th);
    return 0;
}

int main(int argc, char **argv)
{
    static const char *const names[] = { "tcp", "firehose", "ndjson" };
    struct opts o;
    struct lg_watch *watch = NULL;
    int failed = 0;

    if (parse(argc, argv, &o) != 0) {
        usage();
        return 2;
    }
    if (o.mode == M_VERIFY)
        return verify(&o);
    if (o.mode == M_DUMP)
        return dump(&o);
    if (o.mode == M_DISCARD)
        return discard(&o);
    if ((uint64_t)o.conns > o.n)
        o.conns = (int)o.n;
    struct job *jobs = calloc((size_t)o.conns, sizeof(*jobs));
    pthread_t *th = calloc((size_t)o.conns, sizeof(*th));
    if (!jobs || !th)
        return 1;
    uint64_t next = o.first, bytes = 0;
    for (int i = 0; i < o.conns; i++) {
        struct job *j = &jobs[i];
        *j = (struct job){ .o = &o, .first = next,
                           .n = o.n / (uint64_t)o.conns + ((uint64_t)i < o.n % (uint64_t)o.conns) };
        next += j->n;
        if ((o.mode == M_TCP ? make_tcp(j) : make_http(j)) != 0) {
            fprintf(stderr, "loadgen: out of memory\n");
            return 1;
        }
        bytes += j->bytes;
    }
    if (o.watch && !(watch = lg_watch_start(o.watch, o.seed, o.first, o.n))) {
        fprintf(stderr, "loadgen: cannot watch %s\n", o.watch);
        return 1;
    }
    struct timespec wall, t0;
    clock_gettime(CLOCK_REALTIME, &wall);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    printf("loadgen: start %ld.%09ld\n", (long)wall.tv_sec, wall.tv_nsec);
    fflush(stdout);
    for (int i = 0; i < o.conns; i++) {
        jobs[i].t0 = t0;
        jobs[i].watch = watch;
        pthread_create(&th[i], NULL, o.mode == M_TCP ? run_tcp : run_http, &jobs[i]);
    }
    uint64_t retried = 0;
    for (int i = 0; i < o.conns; i++) {
        pthread_join(th[i], NULL);
        failed |= jobs[i].failed;
        retried += jobs[i].retried;
        free(jobs[i].data);
        free(jobs[i].ends);
        free(jobs[i].reqs);
    }
    double s = since(&t0);
    printf("loadgen: mode=%s records=%llu bytes=%llu conns=%d seconds=%.3f records_per_s=%.0f "
           "mib_per_s=%.1f retried=%llu failed=%d\n", names[o.mode], (unsigned long long)o.n,
           (unsigned long long)bytes, o.conns, s, (double)o.n / s,
           (double)bytes / 1048576.0 / s, (unsigned long long)retried, failed);
    if (watch) {
        struct lg_latency l;
        int missing = lg_watch_finish(watch, 120, &l) != 0;
        printf("loadgen: freshness records=%llu p50_s=%.3f p99_s=%.3f max_s=%.3f%s\n",
               (unsigned long long)l.records, l.p50_s, l.p99_s, l.max_s,
               missing ? " (some records never appeared)" : "");
        failed |= missing;
    }
    free(jobs);
    free(th);
    return failed;
}
