/* test_source_http.c - the HTTP source's own metrics (sluice_http_*), and
 * request bodies on one keep-alive connection: whatever their sizes and
 * framing, every record arrives whole and the body memory is given back
 * after each request. */
#include <check.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "base64.h"
#include "chunk.h"
#include "ring.h"
#include "source_http.h"
#include "sluice/err.h"
#include "suites.h"

#define HAS(page, line) ck_assert_msg(strstr(page, line "\n") != NULL, "missing: %s", line)

START_TEST(test_source_http_auth_refusals_by_reason_and_401_as_its_own_status)
{
    static struct sl_http_stats hs;
    struct sl_buf out;

    memset(&hs, 0, sizeof(hs));
    sl_source_http_count(&hs, SL_HOP_NDJSON, 401, 0.001);
    sl_source_http_count(&hs, SL_HOP_PUT_RECORD, 403, 0.001);
    sl_stat_add(&hs.auth_failures[SL_AUTH_R_BAD_SIGNATURE], 3);
    sl_buf_init(&out, 1 << 20);
    sl_source_http_render(&out, &hs);
    sl_buf_append(&out, "", 1);
    HAS((char *)out.data, "sluice_http_requests_total{operation=\"ndjson\",status=\"401\"} 1");
    HAS((char *)out.data, "sluice_http_requests_total{operation=\"PutRecord\",status=\"403\"} 1");
    HAS((char *)out.data, "sluice_http_auth_failures_total{reason=\"bad_signature\"} 3");
    for (int k = 0; k < SL_AUTH_R_N; k++)
        ck_assert_ptr_nonnull(strstr((char *)out.data, sl_auth_reason_names[k]));
    ck_assert_ptr_null(strstr((char *)out.data, "status=\"other\""));
    sl_buf_destroy(&out);
}
END_TEST

/* Record <i> of request <k>: <len> bytes of a pattern of both. */
static void record(uint8_t *p, size_t len, unsigned k, unsigned i)
{
    for (size_t j = 0; j < len; j++)
        p[j] = (uint8_t)(k * 31 + i * 7 + j);
}

/* A PutRecordBatch body of <n> records of <len> bytes (request <k>). */
static char *batch_body(unsigned k, unsigned n, size_t len, size_t *blen)
{
    size_t cap = 128 + n * (sl_base64_encoded_len(len) + 16), o = 0;
    char *b = malloc(cap);
    uint8_t *rec = malloc(len + 1);

    ck_assert(b && rec);
    o += (size_t)snprintf(b, cap, "{\"DeliveryStreamName\":\"s\",\"Records\":[");
    for (unsigned i = 0; i < n; i++) {
        record(rec, len, k, i);
        o += (size_t)snprintf(b + o, cap - o, "%s{\"Data\":\"", i ? "," : "");
        o += sl_base64_encode(rec, len, b + o);
        o += (size_t)snprintf(b + o, cap - o, "\"}");
    }
    o += (size_t)snprintf(b + o, cap - o, "]}");
    free(rec);
    *blen = o;
    return b;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        ck_assert_int_gt(w, 0);
        p += w, n -= (size_t)w;
    }
}

/* Reads one response from <fd>: its status, its body in <body> (NUL-ended). */
static int read_response(int fd, char *body, size_t cap)
{
    static char buf[1 << 17];
    size_t got = 0, need = 0, head = 0;
    int status = 0;

    for (;;) {
        ssize_t r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        ck_assert_int_gt(r, 0);
        got += (size_t)r;
        buf[got] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (!end)
            continue;
        head = (size_t)(end + 4 - buf);
        char *cl = strcasestr(buf, "Content-Length:");
        ck_assert_ptr_nonnull(cl);
        need = head + strtoul(cl + 15, NULL, 10);
        if (got >= need)
            break;
    }
    ck_assert_int_eq(sscanf(buf, "HTTP/1.1 %d", &status), 1);
    ck_assert_uint_lt(need - head, cap);
    memcpy(body, buf + head, need - head);
    body[need - head] = '\0';
    ck_assert_uint_eq(got, need);            /* one answer per request */
    return status;
}

/* Takes the ring's chunks and checks they hold request <k>'s <n> records
 * of <len> bytes, in order. */
static void expect_records(struct sl_ring *ring, unsigned k, unsigned n, size_t len)
{
    uint8_t *want = malloc(len + 1);
    unsigned i = 0;
    void *v;

    ck_assert_ptr_nonnull(want);
    while (i < n && sl_ring_pop_sc(ring, &v) == 0) {
        struct sl_chunk *c = v;
        uint32_t off = 0, rlen;
        const uint8_t *p;
        for (uint32_t j = 0; j < c->nrecords; j++, i++) {
            off = sl_chunk_at(c, off, &p, &rlen);
            record(want, len, k, i);
            ck_assert_uint_eq(rlen, len);
            ck_assert_msg(memcmp(p, want, len) == 0, "request %u record %u", k, i);
        }
        sl_chunk_unref(c);
    }
    ck_assert_uint_eq(i, n);
    ck_assert_int_ne(sl_ring_pop_sc(ring, &v), 0);
    free(want);
}

/*
 * One connection, one request after another: the same size twice (the
 * connection's kept buffer taken again), much smaller, much larger, a
 * chunked body, and a body whose first bytes come alone (grown, then
 * reserved whole). Each is answered 200 with no record failed, its
 * records arrive whole, and no body memory stays charged.
 */
START_TEST(test_source_http_keep_alive_bodies_arrive_whole_and_give_memory_back)
{
    static struct sl_http_stats hs;
    static struct sl_stream_stats ss;
    static const struct { unsigned n; size_t len; int how; } reqs[] = {
        { 500, 300, 0 }, { 500, 300, 0 }, { 500, 290, 0 }, { 10, 50, 0 }, { 500, 2000, 0 },
        { 500, 2000, 0 }, { 300, 1000, 1 /* chunked */ }, { 400, 1000, 0 },
        { 400, 1000, 2 /* 100 bytes first */ }, { 1, 0, 0 }, { 500, 300, 0 },
    };
    struct sl_ring *ring = sl_ring_new(1024);
    struct sl_intake in = { .name = "s", .ring = ring, .stats = &ss };
    struct sl_http_stream st = { "s", &in };
    struct sl_http_limits lim = {
        .max_body = 8 << 20, .max_decompressed = 8 << 20, .max_header = 32 << 10,
        .max_body_memory = 64 << 20, .max_connections = 16, .timeout_s = 30,
        .header_timeout_ms = 30000, .threads = 1,
    };
    struct sl_http_ops ops = { 0 };
    struct sl_addr addr;
    char err[256], where[64], head[512], *answer = malloc(1 << 17);
    const char *why;
    int port = ut_free_port();

    memset(&hs, 0, sizeof(hs));
    memset(&ss, 0, sizeof(ss));
    atomic_store(&in.max_buffered, (uint64_t)1 << 30);
    atomic_store(&in.max_record_size, (uint64_t)1 << 20);
    snprintf(where, sizeof(where), "127.0.0.1:%d", port);
    ck_assert_int_eq(sl_addr_parse(where, &addr, &why), SL_OK);
    struct sl_http *h = sl_source_http_start(&addr, &lim, &st, 1, &ops, NULL, &hs, err,
                                             sizeof(err));
    ck_assert_msg(h != NULL, "%s", err);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    for (unsigned k = 0; k < sizeof(reqs) / sizeof(reqs[0]); k++) {
        size_t blen;
        char *b = batch_body(k, reqs[k].n, reqs[k].len, &blen);
        char framing[64];
        if (reqs[k].how == 1)
            snprintf(framing, sizeof(framing), "Transfer-Encoding: chunked");
        else
            snprintf(framing, sizeof(framing), "Content-Length: %zu", blen);
        int hl = snprintf(head, sizeof(head), "POST / HTTP/1.1\r\nHost: x\r\n"
                          "Content-Type: application/x-amz-json-1.1\r\n"
                          "X-Amz-Target: Firehose_20150804.PutRecordBatch\r\n%s\r\n\r\n",
                          framing);
        send_all(fd, head, (size_t)hl);
        if (reqs[k].how == 1) {                    /* chunks of 10000 bytes */
            for (size_t o = 0; o < blen; o += 10000) {
                size_t m = blen - o < 10000 ? blen - o : 10000;
                int cl = snprintf(head, sizeof(head), "%zx\r\n", m);
                send_all(fd, head, (size_t)cl);
                send_all(fd, b + o, m);
                send_all(fd, "\r\n", 2);
            }
            send_all(fd, "0\r\n\r\n", 5);
        } else if (reqs[k].how == 2) {             /* a little first, alone */
            const struct timespec ms50 = { 0, 50000000 };
            send_all(fd, b, 100);
            nanosleep(&ms50, NULL);
            send_all(fd, b + 100, blen - 100);
        } else {
            send_all(fd, b, blen);
        }
        ck_assert_int_eq(read_response(fd, answer, 1 << 17), 200);
        ck_assert_msg(strncmp(answer, "{\"FailedPutCount\":0,", 20) == 0, "request %u: %.200s",
                      k, answer);
        ck_assert_uint_eq(atomic_load(&hs.body_bytes), 0);
        expect_records(ring, k, reqs[k].n, reqs[k].len);
        free(b);
    }
    close(fd);
    sl_source_http_stop(h);
    ck_assert_uint_eq(atomic_load(&hs.body_bytes), 0);
    sl_ring_free(ring);
    free(answer);
}
END_TEST

Suite *sl_source_http_suite(void)
{
    Suite *s = suite_create("source_http");
    TCase *tc = tcase_create("metrics");

    tcase_add_test(tc, test_source_http_auth_refusals_by_reason_and_401_as_its_own_status);
    suite_add_tcase(s, tc);
    tc = tcase_create("bodies");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_source_http_keep_alive_bodies_arrive_whole_and_give_memory_back);
    suite_add_tcase(s, tc);
    return s;
}
