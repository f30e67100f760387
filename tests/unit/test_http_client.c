/*
 * test_http_client.c - the HTTP client against a real local server
 * (libmicrohttpd on 127.0.0.1, a thread per connection), scripted per
 * test: the status, body and header it answers, how long it waits first.
 * It records what came: method, path, body and a few headers.
 *
 * Threads: the server's threads write <got> under <mu>; the test reads it
 * under <mu> after its request returned. The script is set before any
 * request and only read by the server.
 */
#include <check.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include "aws_sigv4.h"
#include "buf.h"
#include "clock.h"
#include "http_client.h"
#include "metrics.h"
#include "sluice/err.h"
#include "suites.h"

#define MAX_HDRS 32

static struct server {
    struct MHD_Daemon *d;
    unsigned port;
    char url[64];                     /* http://127.0.0.1:PORT */
    /* the script */
    unsigned status;
    size_t answer_len;                /* bytes of 'x' answered (or <answer> if set) */
    const char *answer;
    const char *hdr_name, *hdr_value; /* one more answer header, or NULL */
    int delay_ms;                     /* before answering */
    /* what came, under <mu> */
    pthread_mutex_t mu;
    unsigned requests;
    char method[16], path[256];
    struct sl_buf body;               /* the last request's body */
    size_t nh;
    char hname[MAX_HDRS][64], hvalue[MAX_HDRS][2200];
} srv;

/* One request's body, gathered across the handler's calls. */
struct upload {
    struct sl_buf body;
};

static enum MHD_Result keep_header(void *cls, enum MHD_ValueKind kind, const char *k,
                                   const char *v)
{
    (void)cls, (void)kind;
    if (srv.nh < MAX_HDRS) {
        snprintf(srv.hname[srv.nh], sizeof(srv.hname[0]), "%s", k);
        snprintf(srv.hvalue[srv.nh], sizeof(srv.hvalue[0]), "%s", v ? v : "");
        srv.nh++;
    }
    return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *data_len, void **con_cls)
{
    struct upload *u = *con_cls;
    struct MHD_Response *resp;
    enum MHD_Result rc;

    (void)cls, (void)version;
    if (!u) {
        u = calloc(1, sizeof(*u));
        sl_buf_init(&u->body, 8 << 20);
        *con_cls = u;
        return MHD_YES;
    }
    if (*data_len) {
        sl_buf_append(&u->body, data, *data_len);
        *data_len = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&srv.mu);
    srv.requests++;
    snprintf(srv.method, sizeof(srv.method), "%s", method);
    snprintf(srv.path, sizeof(srv.path), "%s", url);
    sl_buf_reset(&srv.body);
    if (u->body.len)
        sl_buf_append(&srv.body, u->body.data, u->body.len);
    srv.nh = 0;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, keep_header, NULL);
    pthread_mutex_unlock(&srv.mu);
    if (srv.delay_ms)
        usleep((useconds_t)srv.delay_ms * 1000);
    if (srv.answer) {
        resp = MHD_create_response_from_buffer(strlen(srv.answer), (void *)srv.answer,
                                               MHD_RESPMEM_PERSISTENT);
    } else {
        char *x = malloc(srv.answer_len + 1);
        memset(x, 'x', srv.answer_len);
        resp = MHD_create_response_from_buffer(srv.answer_len, x, MHD_RESPMEM_MUST_FREE);
    }
    if (srv.hdr_name)
        MHD_add_response_header(resp, srv.hdr_name, srv.hdr_value);
    rc = MHD_queue_response(conn, srv.status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct upload *u = *con_cls;

    (void)cls, (void)conn, (void)toe;
    if (u) {
        sl_buf_destroy(&u->body);
        free(u);
        *con_cls = NULL;
    }
}

static void server_start(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

    memset(&srv, 0, sizeof(srv));
    pthread_mutex_init(&srv.mu, NULL);
    sl_buf_init(&srv.body, 8 << 20);
    srv.status = 200;
    srv.answer = "{\"ok\":true}";
    srv.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                             0, NULL, NULL, handle, NULL,
                             MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
                             MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    ck_assert_ptr_nonnull(srv.d);
    srv.port = MHD_get_daemon_info(srv.d, MHD_DAEMON_INFO_BIND_PORT)->port;
    snprintf(srv.url, sizeof(srv.url), "http://127.0.0.1:%u", srv.port);
    ck_assert_int_eq(sl_http_client_global_init(), SL_OK);
}

static void server_stop(void)
{
    MHD_stop_daemon(srv.d);
    sl_buf_destroy(&srv.body);
    pthread_mutex_destroy(&srv.mu);
    sl_http_client_global_cleanup();
}

/* The value of request header <name> as the server got it, or NULL. */
static const char *got_header(const char *name)
{
    for (size_t i = 0; i < srv.nh; i++)
        if (strcasecmp(srv.hname[i], name) == 0)
            return srv.hvalue[i];
    return NULL;
}

static struct sl_http_client *client(const char *url, int64_t timeout_ms, unsigned conns)
{
    struct sl_http_client_options o = { .url = url, .timeout_ms = timeout_ms,
                                        .max_connections = conns };
    struct sl_http_client *c;
    char err[200];

    ck_assert_int_eq(sl_http_client_new(&o, &c, err, sizeof(err)), SL_OK);
    return c;
}

/* ---- the Elasticsearch shape: a POST, no 100-continue ----------------- */

START_TEST(test_http_client_post_sends_body_and_headers_without_expect)
{
    struct sl_http_client *c = client(srv.url, 10000, 1);
    struct sl_http_header h[] = { { "Content-Type", "application/x-ndjson" },
                                  { "Content-Encoding", "gzip" } };
    size_t n = 3u << 19;                               /* 1.5 MiB: libcurl would Expect */
    char *body = malloc(n);
    struct sl_buf answer;
    struct sl_http_result r;

    for (size_t i = 0; i < n; i++)
        body[i] = (char)('a' + i % 26);
    sl_buf_init(&answer, 1024);
    struct sl_http_request rq = { .method = "POST", .path = "/idx/_bulk", .query = "refresh=false",
                                  .headers = h, .nheaders = 2, .body = body, .body_len = n,
                                  .answer = &answer };
    ck_assert_int_eq(sl_http_client_request(c, &rq, &r), SL_OK);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(r.verdict, SL_HTTP_OK);
    ck_assert_int_eq(r.cause, SL_HTTP_CAUSE_NONE);
    ck_assert_uint_eq(answer.len, strlen(srv.answer));
    ck_assert_mem_eq(answer.data, srv.answer, answer.len);
    pthread_mutex_lock(&srv.mu);
    ck_assert_str_eq(srv.method, "POST");
    ck_assert_str_eq(srv.path, "/idx/_bulk");
    ck_assert_uint_eq(srv.body.len, n);
    ck_assert_mem_eq(srv.body.data, body, n);
    ck_assert_ptr_null(got_header("Expect"));
    ck_assert_str_eq(got_header("Content-Type"), "application/x-ndjson");
    ck_assert_str_eq(got_header("Content-Encoding"), "gzip");
    ck_assert_ptr_null(got_header("Authorization"));   /* no credentials: unsigned */
    pthread_mutex_unlock(&srv.mu);
    sl_buf_destroy(&answer);
    free(body);
    sl_http_client_free(c);
}
END_TEST

/* Without a path of its own a request goes to the client's URL, query too. */
START_TEST(test_http_client_request_without_path_uses_the_url)
{
    char url[128];
    struct sl_http_result r;

    snprintf(url, sizeof(url), "%s/2015-03-31/functions/f/invocations?q=1", srv.url);
    struct sl_http_client *c = client(url, 10000, 1);
    struct sl_http_request rq = { .method = "GET" };
    ck_assert_int_eq(sl_http_client_request(c, &rq, &r), SL_OK);
    pthread_mutex_lock(&srv.mu);
    ck_assert_str_eq(srv.method, "GET");
    ck_assert_str_eq(srv.path, "/2015-03-31/functions/f/invocations");
    pthread_mutex_unlock(&srv.mu);
    sl_http_client_free(c);
}
END_TEST

/* ---- classification ------------------------------------------------------ */

static const struct {
    unsigned status;
    int verdict, cause;
} statuses[] = {
    { 200, SL_HTTP_OK, SL_HTTP_CAUSE_NONE },           { 204, SL_HTTP_OK, SL_HTTP_CAUSE_NONE },
    { 429, SL_HTTP_RETRY, SL_HTTP_CAUSE_THROTTLED },   { 500, SL_HTTP_RETRY, SL_HTTP_CAUSE_SERVER },
    { 503, SL_HTTP_RETRY, SL_HTTP_CAUSE_SERVER },      { 599, SL_HTTP_RETRY, SL_HTTP_CAUSE_SERVER },
    { 401, SL_HTTP_FAIL, SL_HTTP_CAUSE_FORBIDDEN },    { 403, SL_HTTP_FAIL, SL_HTTP_CAUSE_FORBIDDEN },
    { 404, SL_HTTP_FAIL, SL_HTTP_CAUSE_NOT_FOUND },    { 400, SL_HTTP_FAIL, SL_HTTP_CAUSE_CLIENT },
    { 408, SL_HTTP_FAIL, SL_HTTP_CAUSE_CLIENT },       { 413, SL_HTTP_FAIL, SL_HTTP_CAUSE_CLIENT },
    { 302, SL_HTTP_FAIL, SL_HTTP_CAUSE_UNEXPECTED },
};

START_TEST(test_http_client_status_classified)
{
    struct sl_http_client *c = client(srv.url, 10000, 1);
    struct sl_buf answer;
    struct sl_http_result r;

    srv.status = statuses[_i].status;
    srv.answer = "{\"error\":\"e\"}";
    sl_buf_init(&answer, 1024);
    struct sl_http_request rq = { .method = "PUT", .path = "/k", .body = "x", .body_len = 1,
                                  .answer = &answer };
    int rc = sl_http_client_request(c, &rq, &r);
    ck_assert_int_eq(rc, statuses[_i].verdict == SL_HTTP_OK ? SL_OK : SL_ERR);
    ck_assert_int_eq(r.status, statuses[_i].status);
    ck_assert_int_eq(r.verdict, statuses[_i].verdict);
    ck_assert_int_eq(r.cause, statuses[_i].cause);
    ck_assert_int_eq(r.curl_code, 0);
    /* an error answer's body is there to read (a 204 has none) */
    ck_assert_uint_eq(answer.len, statuses[_i].status == 204 ? 0 : strlen(srv.answer));
    sl_buf_destroy(&answer);
    sl_http_client_free(c);
}
END_TEST

START_TEST(test_http_client_no_answer_classified_by_libcurl_code)
{
    struct sl_http_result r;

    sl_http_client_classify(0, CURLE_OPERATION_TIMEDOUT, &r);
    ck_assert_int_eq(r.cause, SL_HTTP_CAUSE_TIMEOUT);
    ck_assert_int_eq(r.verdict, SL_HTTP_RETRY);
    sl_http_client_classify(0, CURLE_COULDNT_CONNECT, &r);
    ck_assert_int_eq(r.cause, SL_HTTP_CAUSE_CONNECTION);
    ck_assert_int_eq(r.verdict, SL_HTTP_RETRY);
    sl_http_client_classify(0, CURLE_RECV_ERROR, &r);
    ck_assert_int_eq(r.cause, SL_HTTP_CAUSE_CONNECTION);
    sl_http_client_classify(0, CURLE_PEER_FAILED_VERIFICATION, &r);
    ck_assert_int_eq(r.cause, SL_HTTP_CAUSE_SETUP);
    ck_assert_int_eq(r.verdict, SL_HTTP_FAIL);
    sl_http_client_classify(0, CURLE_ABORTED_BY_CALLBACK, &r);
    ck_assert_int_eq(r.cause, SL_HTTP_CAUSE_ABORTED);
    ck_assert_int_eq(sl_http_client_retry_cause(SL_HTTP_CAUSE_THROTTLED), SL_RETRY_THROTTLED);
    ck_assert_int_eq(sl_http_client_retry_cause(SL_HTTP_CAUSE_TIMEOUT), SL_RETRY_TIMEOUT);
    ck_assert_int_eq(sl_http_client_retry_cause(SL_HTTP_CAUSE_TOO_BIG), SL_RETRY_SINK);
}
END_TEST

START_TEST(test_http_client_refused_connection_is_retry_connection)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char url[64], line[300];
    struct sl_http_result r;

    /* a port just free: nothing listens there */
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", ntohs(a.sin_port));
    struct sl_http_client *c = client(url, 5000, 1);
    struct sl_http_request rq = { .method = "POST", .path = "/", .body = "x", .body_len = 1 };
    ck_assert_int_eq(sl_http_client_request(c, &rq, &r), SL_ERR);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_ne(r.curl_code, 0);
    ck_assert_int_eq(r.cause, SL_HTTP_CAUSE_CONNECTION);
    ck_assert_int_eq(r.verdict, SL_HTTP_RETRY);
    ck_assert_str_ne(r.error, "");
    sl_http_client_describe(&r, line, sizeof(line));
    ck_assert_msg(strncmp(line, "no answer: ", 11) == 0, "%s", line);
    sl_http_client_free(c);
}
END_TEST

START_TEST(test_http_client_slow_server_times_out)
{
    struct sl_http_client *c = client(srv.url, 10000, 1);
    struct sl_http_result r;

    srv.delay_ms = 1500;
    struct sl_http_request rq = { .method = "POST", .path = "/", .timeout_ms = 200 };
    int64_t t0 = sl_clock_mono_ms();
    ck_assert_int_eq(sl_http_client_request(c, &rq, &r), SL_ERR);
    ck_assert_int_lt(sl_clock_mono_ms() - t0, 1200);   /* the request's own timeout */
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_eq(r.cause, SL_HTTP_CAUSE_TIMEOUT);
    ck_assert_int_eq(r.verdict, SL_HTTP_RETRY);
    sl_http_client_free(c);
}
END_TEST

static int stop_now(void *arg)
{
    return *(int *)arg;
}

START_TEST(test_http_client_abort_stops_the_transfer)
{
    struct sl_http_client *c = client(srv.url, 10000, 1);
    struct sl_http_result r;
    int stop = 1;

    srv.delay_ms = 1500;
    struct sl_http_request rq = { .method = "POST", .path = "/", .abort = stop_now,
                                  .abort_arg = &stop };
    int64_t t0 = sl_clock_mono_ms();
    ck_assert_int_eq(sl_http_client_request(c, &rq, &r), SL_ERR);
    ck_assert_int_lt(sl_clock_mono_ms() - t0, 1200);
    ck_assert_int_eq(r.cause, SL_HTTP_CAUSE_ABORTED);
    sl_http_client_free(c);
}
END_TEST

/* ---- the answer's cap ------------------------------------------------------ */

START_TEST(test_http_client_answer_over_cap_is_refused)
{
    struct sl_http_client *c = client(srv.url, 10000, 1);
    struct sl_buf answer;
    struct sl_http_result r;

    srv.answer = NULL;
    srv.answer_len = 300 * 1024;
    sl_buf_init(&answer, 64 * 1024);
    struct sl_http_request rq = { .method = "GET", .path = "/", .answer = &answer };
    ck_assert_int_eq(sl_http_client_request(c, &rq, &r), SL_ERR);
    ck_assert_int_eq(r.cause, SL_HTTP_CAUSE_TOO_BIG);
    ck_assert_int_eq(r.verdict, SL_HTTP_RETRY);
    ck_assert_int_eq(r.status, 200);                  /* it came; its body did not fit */
    ck_assert_uint_le(answer.len, 64 * 1024);
    ck_assert_uint_le(answer.cap, 64 * 1024);         /* never grown past the cap */
    ck_assert_msg(strstr(r.error, "65536") != NULL, "%s", r.error);
    /* exactly the cap fits */
    srv.answer_len = 64 * 1024;
    ck_assert_int_eq(sl_http_client_request(c, &rq, &r), SL_OK);
    ck_assert_uint_eq(answer.len, 64 * 1024);
    ck_assert_int_eq(r.cut, 0);
    sl_buf_destroy(&answer);
    sl_http_client_free(c);
}
END_TEST

START_TEST(test_http_client_answer_over_cap_is_cut_when_asked)
{
    struct sl_http_client *c = client(srv.url, 10000, 1);
    struct sl_buf answer;
    struct sl_http_result r;

    srv.answer = NULL;
    srv.answer_len = 300 * 1024;
    sl_buf_init(&answer, 1000);
    struct sl_http_request rq = { .method = "GET", .path = "/", .answer = &answer,
                                  .cut_answer = 1 };
    ck_assert_int_eq(sl_http_client_request(c, &rq, &r), SL_OK);
    ck_assert_int_eq(r.cut, 1);
    ck_assert_uint_eq(answer.len, 1000);
    ck_assert_int_eq(answer.data[0], 'x');
    ck_assert_int_eq(answer.data[999], 'x');
    /* the connection is still good for the next request */
    srv.answer_len = 10;
    ck_assert_int_eq(sl_http_client_request(c, &rq, &r), SL_OK);
    ck_assert_int_eq(r.cut, 0);
    ck_assert_uint_eq(answer.len, 10);
    sl_buf_destroy(&answer);
    sl_http_client_free(c);
}
END_TEST

START_TEST(test_http_client_captures_one_answer_header)
{
    struct sl_http_client *c = client(srv.url, 10000, 1);
    struct sl_http_result r;

    srv.hdr_name = "ETag";
    srv.hdr_value = "\"9b2cf535f27731c974343645a3985328\"";
    struct sl_http_request rq = { .method = "PUT", .path = "/o", .body = "abc", .body_len = 3,
                                  .capture = "etag" };     /* any case */
    ck_assert_int_eq(sl_http_client_request(c, &rq, &r), SL_OK);
    ck_assert_int_eq(r.captured, 1);
    ck_assert_str_eq(r.header, srv.hdr_value);
    rq.capture = "X-Amz-Function-Error";
    ck_assert_int_eq(sl_http_client_request(c, &rq, &r), SL_OK);
    ck_assert_int_eq(r.captured, 0);
    ck_assert_str_eq(r.header, "");
    sl_http_client_free(c);
}
END_TEST

/* ---- SigV4 ------------------------------------------------------------------ */

static const char *secret_of(void *arg, const char *id)
{
    (void)arg;
    return strcmp(id, "AKIDEXAMPLE") == 0 ? "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" : NULL;
}

START_TEST(test_http_client_signs_what_it_sends)
{
    struct sl_aws_creds creds = { .access_key = "AKIDEXAMPLE",
                                  .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                  .session_token = "token-1" };
    struct sl_http_client_options o = {
        .url = srv.url, .timeout_ms = 10000,
        .sigv4 = { .creds = &creds, .service = "es", .region = "eu-west-1", .s3 = _i },
    };
    struct sl_http_header h[] = { { "Content-Type", "application/x-ndjson" } };
    struct sl_http_client *c;
    struct sl_http_result r;
    char err[200];
    const char *body = "{\"index\":{}}\n{\"a\":1}\n";

    ck_assert_int_eq(sl_http_client_new(&o, &c, err, sizeof(err)), SL_OK);
    struct sl_http_request rq = { .method = "POST", .path = "/logs/_bulk", .headers = h,
                                  .nheaders = 1, .body = body, .body_len = strlen(body) };
    ck_assert_int_eq(sl_http_client_request(c, &rq, &r), SL_OK);
    pthread_mutex_lock(&srv.mu);
    struct sl_sigv4_header hs[MAX_HDRS];
    for (size_t i = 0; i < srv.nh; i++)
        hs[i] = (struct sl_sigv4_header){ srv.hname[i], srv.hvalue[i] };
    struct sl_sigv4_request sr = { .method = srv.method, .path = srv.path, .headers = hs,
                                   .nheaders = srv.nh, .body = srv.body.data,
                                   .body_len = srv.body.len, .s3_uri = _i };
    struct sl_sigv4_verifier v = { .secret = secret_of, .service = "es", .region = "eu-west-1" };
    struct sl_sigv4_error e;
    int vrc = sl_aws_sigv4_verify(&v, &sr, time(NULL), &e);
    ck_assert_msg(vrc == SL_OK, "%s: %s", e.code, e.message);
    ck_assert_str_eq(got_header("X-Amz-Security-Token"), "token-1");
    ck_assert_msg(strstr(got_header("Authorization"), "x-amz-security-token") != NULL,
                  "the token is signed");
    if (_i)
        ck_assert_ptr_nonnull(got_header("X-Amz-Content-Sha256"));
    else
        ck_assert_ptr_null(got_header("X-Amz-Content-Sha256"));
    ck_assert_ptr_null(got_header("Expect"));
    pthread_mutex_unlock(&srv.mu);
    sl_http_client_free(c);
}
END_TEST

/* ---- making one, and the pool ---------------------------------------------- */

START_TEST(test_http_client_new_refuses_what_is_not_an_http_url)
{
    static const char *const bad[] = { "http://[bad", "ftp://example.com/", "example.com",
                                       "" };
    struct sl_http_client *c = (struct sl_http_client *)&c;
    char err[200];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sl_http_client_options o = { .url = bad[i], .timeout_ms = 1000 };
        ck_assert_int_eq(sl_http_client_new(&o, &c, err, sizeof(err)), SL_EINVAL);
        ck_assert_ptr_null(c);
        ck_assert_msg(strstr(err, "not a URL") != NULL, "%s: %s", bad[i], err);
    }
}
END_TEST

struct worker {
    struct sl_http_client *c;
    int ok;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    struct sl_http_result r;
    struct sl_buf answer;

    sl_buf_init(&answer, 4096);
    for (int i = 0; i < 10; i++) {
        struct sl_http_request rq = { .method = "POST", .path = "/p", .body = "hello",
                                      .body_len = 5, .answer = &answer };
        if (sl_http_client_request(w->c, &rq, &r) == SL_OK && answer.len == strlen(srv.answer))
            w->ok++;
    }
    sl_buf_destroy(&answer);
    return NULL;
}

/* More threads than connections: they take turns, none is refused. */
START_TEST(test_http_client_pool_shared_by_threads)
{
    struct sl_http_client *c = client(srv.url, 10000, 2);
    struct worker w[6];
    pthread_t t[6];

    for (int i = 0; i < 6; i++) {
        w[i] = (struct worker){ .c = c };
        ck_assert_int_eq(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(w[i].ok, 10);
    }
    pthread_mutex_lock(&srv.mu);
    ck_assert_uint_eq(srv.requests, 60);
    pthread_mutex_unlock(&srv.mu);
    sl_http_client_free(c);
}
END_TEST

Suite *sl_http_client_suite(void)
{
    Suite *s = suite_create("http_client");
    TCase *tc = tcase_create("local_server");

    tcase_add_checked_fixture(tc, server_start, server_stop);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_http_client_post_sends_body_and_headers_without_expect);
    tcase_add_test(tc, test_http_client_request_without_path_uses_the_url);
    tcase_add_loop_test(tc, test_http_client_status_classified, 0,
                        (int)(sizeof(statuses) / sizeof(statuses[0])));
    tcase_add_test(tc, test_http_client_no_answer_classified_by_libcurl_code);
    tcase_add_test(tc, test_http_client_refused_connection_is_retry_connection);
    tcase_add_test(tc, test_http_client_slow_server_times_out);
    tcase_add_test(tc, test_http_client_abort_stops_the_transfer);
    tcase_add_test(tc, test_http_client_answer_over_cap_is_refused);
    tcase_add_test(tc, test_http_client_answer_over_cap_is_cut_when_asked);
    tcase_add_test(tc, test_http_client_captures_one_answer_header);
    tcase_add_loop_test(tc, test_http_client_signs_what_it_sends, 0, 2);
    tcase_add_test(tc, test_http_client_new_refuses_what_is_not_an_http_url);
    tcase_add_test(tc, test_http_client_pool_shared_by_threads);
    suite_add_tcase(s, tc);
    return s;
}
