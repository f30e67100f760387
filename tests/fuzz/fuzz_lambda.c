/*
 * fuzz_lambda.c - the Lambda transform's reading of a function's answer
 * (transform_lambda.c: parse_answer, apply and their checks of recordIds,
 * results, base64 data and partition keys), through its one entry point,
 * process(), against a function served from this process: a thread
 * answers each invocation with the input as the body. Nothing in sluice
 * is exposed for this.
 *   data[0]: bits 0-2 the status (200 mostly, 429, 500, 403, 302), bit 3
 *   an X-Amz-Function-Error header, bits 4-5 how many records (1-4).
 * The transform runs with retries = 0, so nothing sleeps; every record
 * gets at most one verdict per call and process() answers DONE, FAIL or
 * RETRY.
 */
#include "fuzz.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transform_lambda.h"

static struct {
    pthread_mutex_t lock;
    int lfd;
    uint8_t body[60000];                      /* the answer: a copy of the current input */
    size_t len;
    const char *status;
    int function_error;
    void *state;                              /* the transform's */
} srv = { .lock = PTHREAD_MUTEX_INITIALIZER, .lfd = -1 };

struct sl_tf_out {
    size_t n;
    unsigned verdicts[4];
};

static int set_data(struct sl_tf_out *o, size_t i, const void *d, size_t len)
{
    (void)d, (void)len;
    FUZZ_ASSERT(i < o->n, "record %zu of %zu", i, o->n);
    o->verdicts[i]++;
    return 0;
}
static int set_dropped(struct sl_tf_out *o, size_t i)
{
    return set_data(o, i, NULL, 0);
}
static int set_failed(struct sl_tf_out *o, size_t i, const char *code, const char *msg)
{
    FUZZ_ASSERT(code && msg && strlen(code) < 64, "code");
    return set_data(o, i, NULL, 0);
}
static int set_key(struct sl_tf_out *o, size_t i, const char *k, const char *v)
{
    FUZZ_ASSERT(i < o->n && k && v && strlen(k) <= 255 && strlen(v) <= 1023, "key");
    return 0;
}
static int invocation(struct sl_tf_out *o, int ok)
{
    (void)o, (void)ok;
    return 0;
}
static int attempts(struct sl_tf_out *o, size_t i, unsigned n)
{
    (void)n;
    FUZZ_ASSERT(i < o->n, "attempts of %zu", i);
    return 0;
}
static int stopping(struct sl_tf_out *o)
{
    (void)o;
    return 0;
}

static const struct sl_tf_host host = { sizeof(struct sl_tf_host), set_data, set_dropped,
                                        set_failed, set_key, invocation, attempts, stopping };

/* Reads one request (headers and a Content-Length body) and answers it. */
static void serve(int fd)
{
    char req[1 << 16], head[256];
    size_t got = 0;
    ssize_t n;
    char *end = NULL;

    while (got < sizeof(req) - 1 && (n = read(fd, req + got, sizeof(req) - 1 - got)) > 0) {
        got += (size_t)n;
        req[got] = '\0';
        if (!end && (end = strstr(req, "\r\n\r\n"))) {
            const char *cl = strcasestr(req, "content-length:");
            size_t want = (size_t)(end + 4 - req) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
            if (got >= want)
                break;
        } else if (end) {
            const char *cl = strcasestr(req, "content-length:");
            if (got >= (size_t)(end + 4 - req) + (cl ? strtoul(cl + 15, NULL, 10) : 0))
                break;
        }
    }
    static uint8_t body[sizeof(srv.body)];   /* the server thread's copy: the input
                                              * may change once the client gave up */
    pthread_mutex_lock(&srv.lock);
    size_t len = srv.len;
    memcpy(body, srv.body, len);
    int hn = snprintf(head, sizeof(head), "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
                      "%sContent-Length: %zu\r\nConnection: close\r\n\r\n", srv.status,
                      srv.function_error ? "X-Amz-Function-Error: Unhandled\r\n" : "", len);
    pthread_mutex_unlock(&srv.lock);
    (void)!send(fd, head, (size_t)hn, MSG_NOSIGNAL);
    for (size_t off = 0; off < len && (n = send(fd, body + off, len - off, MSG_NOSIGNAL)) > 0;)
        off += (size_t)n;
    shutdown(fd, SHUT_WR);
    while (read(fd, req, sizeof(req)) > 0)
        ;
}

static void *server(void *arg)
{
    int fd;

    (void)arg;
    while ((fd = accept(srv.lfd, NULL, NULL)) >= 0) {
        serve(fd);
        close(fd);
    }
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof(a);
    pthread_t th;
    char url[64], err[256];

    (void)argc, (void)argv;
    srv.lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (srv.lfd < 0 || bind(srv.lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(srv.lfd, 64) != 0 || getsockname(srv.lfd, (struct sockaddr *)&a, &al) != 0 ||
        pthread_create(&th, NULL, server, NULL) != 0)
        abort();
    pthread_detach(th);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", ntohs(a.sin_port));
    struct sl_tf_kv kv[] = { { "url", url }, { "retries", "0" }, { "timeout", "5s" },
                             { "max_response_size", "64KiB" }, { "max_connections", "1" } };
    if (sl_tf_lambda.create(kv, sizeof(kv) / sizeof(kv[0]), &srv.state, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_lambda: %s\n", err);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const status[8] = { "200 OK", "200 OK", "200 OK", "200 OK",
                                           "429 Too Many Requests", "500 Oops",
                                           "403 Forbidden", "302 Found" };
    static const struct sl_record recs[4] = {
        { (const uint8_t *)"a", 1, 1700000000000LL },
        { (const uint8_t *)"{\"x\":1}", 7, 1700000000001LL },
        { (const uint8_t *)"", 0, 1700000000002LL },
        { (const uint8_t *)"\xff\n", 2, 1700000000003LL },
    };
    struct sl_tf_out out = { 0 };
    struct sl_tf_error err;
    int rc;

    if (size < 1 || size > sizeof(srv.body))
        return 0;
    pthread_mutex_lock(&srv.lock);
    memcpy(srv.body, data + 1, size - 1);
    srv.len = size - 1;
    srv.status = status[data[0] & 7];
    srv.function_error = (data[0] >> 3) & 1;
    pthread_mutex_unlock(&srv.lock);
    out.n = (size_t)((data[0] >> 4) & 3) + 1;
    struct sl_tf_batch b = { recs, out.n, "s", &host, &out };
    rc = sl_tf_lambda.process(srv.state, &b, &err);
    FUZZ_ASSERT(rc == SL_TF_DONE || rc == SL_TF_FAIL_BATCH || rc == SL_TF_RETRY, "rc %d", rc);
    for (size_t i = 0; i < out.n; i++)
        FUZZ_ASSERT(out.verdicts[i] <= 1, "record %zu got %u verdicts", i, out.verdicts[i]);
    return 0;
}
