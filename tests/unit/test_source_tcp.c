/*
 * test_source_tcp.c - the TCP source: its framing (sl__source_tcp_scan and
 * sl__source_tcp_lines: one memchr per line, the chunk's size, '\r\n',
 * empty and oversize lines, the partial line) and, through real sockets
 * on loopback, the chunks it hands to the ring and how it spreads
 * connections over its I/O threads (run it under `make tsan` too).
 */
#include <check.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "chunk.h"
#include "metrics.h"
#include "ring.h"
#include "source_tcp.h"
#include "sluice/err.h"
#include "suites.h"

#define STR(s) (const uint8_t *)(s), sizeof(s) - 1

START_TEST(test_source_tcp_scan_finds_lines_and_sizes_the_chunk)
{
    /* "a\r\n": '\r' dropped; "\n" and "\r\n": empty, skipped; "toolong" over
     * max 4: found, not in need; "xy": the partial line */
    static const char in[] = "a\r\n\nbcd\n\r\ntoolong\nefgh\r\nxy";
    struct sl__tcp_line ln[8];
    uint64_t nrec = 100;           /* added to */
    size_t next, k;

    k = sl__source_tcp_scan(STR(in), 4, ln, 8, &next, &nrec);
    ck_assert_uint_eq(k, 4);
    ck_assert_uint_eq(ln[0].off, 0);
    ck_assert_uint_eq(ln[0].len, 1);
    ck_assert_uint_eq(ln[1].off, 4);
    ck_assert_uint_eq(ln[1].len, 3);
    ck_assert_uint_eq(ln[2].off, 10);
    ck_assert_uint_eq(ln[2].len, 7);
    ck_assert_uint_eq(ln[3].off, 18);
    ck_assert_uint_eq(ln[3].len, 4);
    ck_assert_uint_eq(next, sizeof(in) - 1 - 2);
    ck_assert_uint_eq(nrec, 100 + 3);           /* "toolong" is no record */
}
END_TEST

START_TEST(test_source_tcp_scan_stops_at_cap_and_resumes_where_it_stopped)
{
    static const char in[] = "a\nb\n\nc\nd";
    struct sl__tcp_line ln[2];
    uint64_t nrec = 0;
    size_t next, k;

    k = sl__source_tcp_scan(STR(in), 10, ln, 2, &next, &nrec);
    ck_assert_uint_eq(k, 2);
    ck_assert_uint_eq(next, 4);                     /* after "b\n" */
    k = sl__source_tcp_scan((const uint8_t *)in + 4, sizeof(in) - 1 - 4, 10, ln, 2, &next,
                            &nrec);
    ck_assert_uint_eq(k, 1);                        /* "c"; "d" is partial */
    ck_assert_uint_eq(ln[0].off, 1);
    ck_assert_uint_eq(next, 3);                     /* "\nc\n" */
    ck_assert_uint_eq(nrec, 3);
}
END_TEST

START_TEST(test_source_tcp_scan_without_newline_finds_nothing)
{
    struct sl__tcp_line ln[1];
    uint64_t need = 0;
    size_t next = 99;

    ck_assert_uint_eq(sl__source_tcp_scan(STR("abc\r"), 10, ln, 1, &next, &need), 0);
    ck_assert_uint_eq(next, 0);
    ck_assert_uint_eq(need, 0);
    ck_assert_uint_eq(sl__source_tcp_scan((const uint8_t *)"", 0, 10, ln, 1, &next, &need), 0);
}
END_TEST

struct seen {
    char text[256];
    size_t len;
};

static void collect(void *arg, const uint8_t *rec, uint32_t len, int oversize)
{
    struct seen *s = arg;

    s->len += (size_t)snprintf(s->text + s->len, sizeof(s->text) - s->len, "%s%.*s|",
                               oversize ? "!" : "", (int)len, (const char *)rec);
}

START_TEST(test_source_tcp_lines_over_many_scans_and_the_last_line_at_eof)
{
    /* more lines than one scan of sl__source_tcp_lines takes (7) */
    static const char in[] = "1\n2\n3\n\n4\r\n5\n6\n7\n8\n9\n10\n123456\n11\r";
    struct seen s = { "", 0 };
    size_t off;

    off = sl__source_tcp_lines(STR(in), 5, 0, collect, &s);
    ck_assert_str_eq(s.text, "1|2|3|4|5|6|7|8|9|10|!123456|");
    ck_assert_uint_eq(off, sizeof(in) - 1 - 3);
    s.len = 0;
    s.text[0] = 0;
    off = sl__source_tcp_lines(STR(in), 5, 1, collect, &s);
    ck_assert_str_eq(s.text, "1|2|3|4|5|6|7|8|9|10|!123456|11|");
    ck_assert_uint_eq(off, sizeof(in) - 1 - 3);
    s.len = 0;
    s.text[0] = 0;
    sl__source_tcp_lines(STR("x\n\r"), 5, 1, collect, &s);   /* "\r" alone: empty */
    ck_assert_str_eq(s.text, "x|");
}
END_TEST

/* --- Through sockets: a listener with two I/O threads and a stream of its own. --- */

struct rig {
    struct sl_stream_stats st;
    struct sl_intake in;
    struct sl_tcp *t;
    int port;
};

static void rig_start(struct rig *r, uint64_t max_record_size)
{
    struct sl_addr addr;
    const char *why;
    char text[64], err[128];

    memset(r, 0, sizeof(*r));
    r->in.name = "t";
    r->in.ring = sl_ring_new(1024);
    r->in.stats = &r->st;
    atomic_init(&r->in.max_buffered, 1ull << 40);
    atomic_init(&r->in.low_water, 1ull << 39);
    atomic_init(&r->in.max_record_size, max_record_size);
    atomic_init(&r->in.max_connections, 100);
    atomic_init(&r->in.idle_timeout_ms, 0);
    ck_assert_ptr_nonnull(r->in.ring);
    r->t = sl_source_tcp_new(2);
    ck_assert_ptr_nonnull(r->t);
    for (int tries = 0;; tries++) {
        r->port = ut_free_port();
        snprintf(text, sizeof(text), "127.0.0.1:%d", r->port);
        ck_assert_int_eq(sl_addr_parse(text, &addr, &why), SL_OK);
        if (sl_source_tcp_listen(r->t, &addr, &r->in, err, sizeof(err)) == SL_OK)
            break;
        ck_assert_msg(tries < 10, "listen: %s", err);
    }
    ck_assert_int_eq(sl_source_tcp_start(r->t), SL_OK);
}

static void rig_stop(struct rig *r)
{
    void *p;

    sl_source_tcp_free(r->t);
    while (sl_ring_pop_sc(r->in.ring, &p) == SL_OK)
        sl_chunk_unref(p);
    sl_ring_free(r->in.ring);
}

static int dial(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static void nap_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

    nanosleep(&ts, NULL);
}

/* Waits (up to 10 s) until <c> reaches <want>. */
static void wait_count(_Atomic uint64_t *c, uint64_t want)
{
    for (int i = 0; i < 10000 && atomic_load(c) < want; i++)
        nap_ms(1);
    ck_assert_uint_eq(atomic_load(c), want);
}

START_TEST(test_source_tcp_chunks_hold_each_record_once_in_chunk_format)
{
    static const char *want[] = { "rec-1", "rec-2", "", "rec-3", "last" };
    char big[300];
    struct rig r;
    void *p;
    int fd, i = 0;

    rig_start(&r, 256);
    memset(big, 'B', sizeof(big));
    fd = dial(r.port);
    ck_assert_int_eq(write(fd, "rec-1\r\nrec-2\n\n\r\n", 16), 16);
    ck_assert_int_eq(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));  /* oversize */
    ck_assert_int_eq(write(fd, "\nrec-", 5), 5);
    nap_ms(50);                                     /* a record cut over two reads */
    ck_assert_int_eq(write(fd, "3\nlast", 6), 6);
    shutdown(fd, SHUT_WR);                          /* "last": a record at EOF */
    wait_count(&r.st.received_records[SL_SRC_TCP], 4);
    ck_assert_uint_eq(atomic_load(&r.st.received_bytes[SL_SRC_TCP]), 5 + 5 + 5 + 4);
    ck_assert_uint_eq(atomic_load(&r.st.rejected[SL_SRC_TCP][SL_REJ_OVERSIZE]), 1);
    /* counted at parse, pushed just after: poll the ring (up to 10 s) */
    for (int tries = 0; i < 5 && tries < 10000; tries++) {
        if (sl_ring_pop_sc(r.in.ring, &p) != SL_OK) {
            nap_ms(1);
            continue;
        }
        struct sl_chunk *c = p;
        uint32_t n = 0, len;
        uint64_t bytes = 0;
        const uint8_t *rec;
        for (; n < c->nrecords; n++) {
            sl_chunk_at(c, n, &rec, &len);
            if (!*want[i])
                i++;                                /* the empty line: never a record */
            ck_assert_int_eq(len, (int)strlen(want[i]));
            ck_assert(memcmp(rec, want[i], len) == 0);
            ck_assert_uint_le(rec + len - c->data, c->len);   /* in the data, */
            i++, bytes += len;
        }
        /* below the index; each record followed by one '\n' and the next
         * record, but where "rec-1\r\n" is */
        ck_assert_uint_le(c->len + (uint64_t)c->nrecords * SL_CHUNK_HDR, c->cap);
        ck_assert_uint_eq(bytes, c->bytes);
        sl_chunk_at(c, 0, &rec, &len);
        ck_assert_uint_eq(c->flags & SL_CHUNK_NL, memcmp(rec, "rec-1", 5) ? SL_CHUNK_NL : 0);
        if (c->flags & SL_CHUNK_NL) {              /* "rec-3\n", "last" + a '\n' made at EOF */
            const uint8_t *blk;
            size_t blen;
            ck_assert_int_eq(sl_chunk_block(c, 0, c->nrecords, &blk, &blen), 1);
            ck_assert_uint_eq(blen, len + 1);
            ck_assert_int_eq(memcmp(blk, rec, len), 0);
            ck_assert_int_eq(blk[len], '\n');
        }
        sl_chunk_unref(c);
    }
    ck_assert_int_eq(i, 5);
    close(fd);
    rig_stop(&r);
}
END_TEST

START_TEST(test_source_tcp_connections_that_open_together_spread_over_the_threads)
{
    int fds[8];
    unsigned a, b;
    struct rig r;

    rig_start(&r, 1024);
    for (int i = 0; i < 8; i++)
        fds[i] = dial(r.port);
    for (int i = 0; i < 10000 && atomic_load(&r.st.connections[SL_SRC_TCP]) < 8; i++)
        nap_ms(1);
    ck_assert_int_eq(atomic_load(&r.st.connections[SL_SRC_TCP]), 8);
    a = sl__source_tcp_conns(r.t, 0);
    b = sl__source_tcp_conns(r.t, 1);
    ck_assert_uint_eq(a + b, 8);
    ck_assert_msg(a >= 3 && b >= 3, "threads own %u and %u of 8 connections", a, b);
    for (int i = 0; i < 8; i++) {              /* each one read by its thread */
        ck_assert_int_eq(write(fds[i], "x\n", 2), 2);
        close(fds[i]);
    }
    wait_count(&r.st.received_records[SL_SRC_TCP], 8);
    for (int i = 0; i < 10000 && atomic_load(&r.st.connections[SL_SRC_TCP]) > 0; i++)
        nap_ms(1);
    ck_assert_int_eq(atomic_load(&r.st.connections[SL_SRC_TCP]), 0);
    ck_assert_uint_eq(sl__source_tcp_conns(r.t, 0) + sl__source_tcp_conns(r.t, 1), 0);
    rig_stop(&r);
}
END_TEST

START_TEST(test_source_tcp_stop_takes_in_what_open_connections_sent)
{
    int fds[6];
    struct rig r;

    rig_start(&r, 1024);
    for (int i = 0; i < 6; i++) {
        fds[i] = dial(r.port);
        ck_assert_int_eq(write(fds[i], "one\ntwo\n", 8), 8);
    }
    wait_count(&r.st.received_records[SL_SRC_TCP], 12);
    sl_source_tcp_stop(r.t, 2000);              /* the connections stay open */
    ck_assert_int_eq(atomic_load(&r.st.connections[SL_SRC_TCP]), 0);
    for (int i = 0; i < 6; i++)
        close(fds[i]);
    rig_stop(&r);
}
END_TEST

/* A read that is mostly not records (empty lines, an oversize line) is
 * not kept as it came: its records move together, each with its '\n', so
 * that a chunk holds little more than max_buffered counts. */
START_TEST(test_source_tcp_records_move_together_out_of_empty_lines)
{
    static char buf[2 + 20000 + 3000 + 2 + 2];
    struct rig r;
    void *p;
    int fd, got = 0;

    rig_start(&r, 256);
    memcpy(buf, "x\n", 2);
    memset(buf + 2, '\n', 20000);
    memset(buf + 20002, 'B', 3000);                      /* oversize: discarded */
    memcpy(buf + 23002, "\ny\n", 3);
    fd = dial(r.port);
    ck_assert_int_eq(write(fd, buf, sizeof(buf) - 1), (ssize_t)sizeof(buf) - 1);
    close(fd);
    wait_count(&r.st.received_records[SL_SRC_TCP], 2);
    for (int tries = 0; got < 2 && tries < 10000; tries++) {
        if (sl_ring_pop_sc(r.in.ring, &p) != SL_OK) {
            nap_ms(1);
            continue;
        }
        struct sl_chunk *c = p;
        const uint8_t *rec;
        uint32_t len;
        ck_assert_uint_le(c->len, c->bytes + c->nrecords + 4096 + c->bytes / 16);
        for (uint32_t i = 0; i < c->nrecords; i++, got++) {
            sl_chunk_at(c, i, &rec, &len);
            ck_assert_uint_eq(len, 1);
            ck_assert_int_eq(rec[0], got ? 'y' : 'x');
        }
        if (c->nrecords == 2) {                          /* one read held both */
            const uint8_t *blk;
            size_t blen;
            ck_assert_int_eq(sl_chunk_block(c, 0, 2, &blk, &blen), 1);
            ck_assert_uint_eq(blen, 4);
            ck_assert_int_eq(memcmp(blk, "x\ny\n", 4), 0);
        }
        sl_chunk_unref(c);
    }
    ck_assert_int_eq(got, 2);
    rig_stop(&r);
}
END_TEST

struct sender { int fd, n; };

/* Sends lines "0".."n-1", every 1000th padded to 3000 bytes, in writes
 * of odd sizes, then closes. */
static void *send_lines(void *arg)
{
    struct sender *sn = arg;
    static char buf[1 << 16];
    size_t len = 0;

    for (int i = 0; i < sn->n; i++) {
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%d", i);
        if (i % 1000 == 999) {
            memset(buf + len, '.', 2990);
            len += 2990;
        }
        buf[len++] = '\n';
        if (len > sizeof(buf) - 4000 || i == sn->n - 1) {
            for (size_t off = 0, step = 7001; off < len; off += step)
                ck_assert_int_eq(write(sn->fd, buf + off, off + step < len ? step : len - off),
                                 (ssize_t)(off + step < len ? step : len - off));
            len = 0;
        }
    }
    close(sn->fd);
    return NULL;
}

/* Many reads of short lines: more lines a read than the chunk has room
 * for in its index at first (it grows), lines cut between reads. Every
 * record comes once, in order, below its chunk's index, and a chunk's
 * block is its records each with its '\n'. */
START_TEST(test_source_tcp_short_lines_over_many_reads)
{
    struct sender sn = { 0, 300000 };
    struct rig r;
    pthread_t th;
    void *p;
    char want[4096];
    int next = 0;

    rig_start(&r, 4096);
    sn.fd = dial(r.port);
    ck_assert_int_eq(pthread_create(&th, NULL, send_lines, &sn), 0);
    for (int tries = 0; next < sn.n && tries < 20000; tries++) {
        if (sl_ring_pop_sc(r.in.ring, &p) != SL_OK) {
            nap_ms(1);
            continue;
        }
        struct sl_chunk *c = p;
        const uint8_t *rec, *blk;
        uint32_t len;
        size_t blen, total = 0;
        ck_assert_uint_le(c->len + (uint64_t)c->nrecords * SL_CHUNK_HDR, c->cap);
        ck_assert_uint_eq(c->flags & SL_CHUNK_NL, SL_CHUNK_NL);
        for (uint32_t i = 0; i < c->nrecords; i++, next++) {
            int n = snprintf(want, sizeof(want), "%d", next);
            if (next % 1000 == 999) {
                memset(want + n, '.', 2990);
                n += 2990;
            }
            sl_chunk_at(c, i, &rec, &len);
            ck_assert_uint_eq(len, (uint32_t)n);
            ck_assert_int_eq(memcmp(rec, want, len), 0);
            total += len + 1;
        }
        ck_assert_int_eq(sl_chunk_block(c, 0, c->nrecords, &blk, &blen), 1);
        ck_assert_uint_eq(blen, total);
        sl_chunk_unref(c);
    }
    ck_assert_int_eq(next, sn.n);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    rig_stop(&r);
}
END_TEST

Suite *sl_source_tcp_suite(void)
{
    Suite *s = suite_create("source_tcp");
    TCase *tc = tcase_create("framing");
    TCase *io = tcase_create("sockets");

    tcase_add_test(tc, test_source_tcp_scan_finds_lines_and_sizes_the_chunk);
    tcase_add_test(tc, test_source_tcp_scan_stops_at_cap_and_resumes_where_it_stopped);
    tcase_add_test(tc, test_source_tcp_scan_without_newline_finds_nothing);
    tcase_add_test(tc, test_source_tcp_lines_over_many_scans_and_the_last_line_at_eof);
    suite_add_tcase(s, tc);
    tcase_add_test(io, test_source_tcp_chunks_hold_each_record_once_in_chunk_format);
    tcase_add_test(io, test_source_tcp_connections_that_open_together_spread_over_the_threads);
    tcase_add_test(io, test_source_tcp_stop_takes_in_what_open_connections_sent);
    tcase_add_test(io, test_source_tcp_short_lines_over_many_reads);
    tcase_add_test(io, test_source_tcp_records_move_together_out_of_empty_lines);
    tcase_set_timeout(io, 30);
    suite_add_tcase(s, io);
    return s;
}
