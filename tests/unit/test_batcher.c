/*
 * test_batcher.c - seal rules with an injected clock: size, interval,
 * forced reasons, chunks split between batches but records never split.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "batcher.h"
#include "sluice/err.h"
#include "suites.h"

struct fake { int64_t now; };

static int64_t fake_mono(const struct sl_clock *c) { return ((struct fake *)c->ctx)->now; }
static int64_t fake_wall(const struct sl_clock *c) { return 1700000000000 + fake_mono(c); }

#define MAXOUT 64
struct out { struct sl_batch *b[MAXOUT]; int n; };

static void collect(void *arg, struct sl_batch *b)
{
    struct out *o = arg;

    ck_assert_int_lt(o->n, MAXOUT);
    o->b[o->n++] = b;
}

static struct fake fk;
static struct sl_clock clk = { fake_mono, fake_wall, &fk };
static struct sl_ring *ring;
static struct out out;
static struct sl_batcher bt;

static void setup(void)
{
    fk.now = 1000;
    memset(&out, 0, sizeof(out));
    ring = sl_ring_new(64);
    sl_batcher_init(&bt, ring, &clk, collect, &out);
    bt.buffer_size = 100;
    bt.interval_ms = 5000;
}

static void teardown(void)
{
    sl_batcher_destroy(&bt);
    for (int i = 0; i < out.n; i++)
        sl_batch_free(out.b[i]);
    sl_ring_free(ring);
}

/* Pushes a chunk of <n> records of <len> bytes, arriving now. */
static void push(int n, uint32_t len)
{
    struct sl_chunk *c = sl_chunk_new((uint32_t)n * (len + SL_CHUNK_HDR),
                                      fake_wall(&clk), fk.now);
    char rec[256];

    memset(rec, 'x', sizeof(rec));
    for (int i = 0; i < n; i++)
        sl_chunk_add(c, rec, len);
    ck_assert_int_eq(sl_ring_push_mp(ring, c), SL_OK);
}

static uint64_t count_records(const struct sl_batch *b)
{
    struct sl_batch_iter it;
    struct sl_record r;
    uint64_t n = 0, bytes = 0;

    sl_batch_iter_init(&it, b);
    while (sl_batch_next(&it, &r))
        n++, bytes += r.len;
    ck_assert_uint_eq(bytes, b->bytes);
    return n;
}

START_TEST(test_batcher_seals_by_size_without_splitting_records)
{
    push(7, 30);             /* 210 bytes: 90 + 90 + 30 with a limit of 100 */
    ck_assert_int_eq(sl_batcher_step(&bt, -1), 5000);
    ck_assert_int_eq(out.n, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(out.b[i]->seal_reason, SL_SEAL_SIZE);
        ck_assert_uint_eq(out.b[i]->bytes, 90);
        ck_assert_uint_eq(count_records(out.b[i]), 3);
    }
    ck_assert_ptr_nonnull(bt.open);
    ck_assert_uint_eq(bt.open->bytes, 30);
}
END_TEST

START_TEST(test_batcher_seals_exactly_full_batch_at_once)
{
    push(4, 25);
    sl_batcher_step(&bt, -1);
    ck_assert_int_eq(out.n, 1);
    ck_assert_uint_eq(out.b[0]->bytes, 100);
    ck_assert_ptr_null(bt.open);
}
END_TEST

START_TEST(test_batcher_oversized_record_gets_a_batch_of_its_own)
{
    push(1, 10);
    push(1, 200);
    push(1, 10);
    sl_batcher_step(&bt, -1);
    ck_assert_int_eq(out.n, 2);
    ck_assert_uint_eq(out.b[0]->bytes, 10);
    ck_assert_uint_eq(out.b[1]->bytes, 200);
    ck_assert_uint_eq(bt.open->bytes, 10);
}
END_TEST

START_TEST(test_batcher_seals_by_interval_of_oldest_record)
{
    push(1, 10);
    ck_assert_int_eq(sl_batcher_step(&bt, -1), 5000);
    fk.now += 3000;
    push(1, 10);
    ck_assert_int_eq(sl_batcher_step(&bt, -1), 2000);   /* the oldest counts */
    ck_assert_int_eq(out.n, 0);
    fk.now += 2000;
    ck_assert_int_eq(sl_batcher_step(&bt, -1), -1);
    ck_assert_int_eq(out.n, 1);
    ck_assert_int_eq(out.b[0]->seal_reason, SL_SEAL_INTERVAL);
    ck_assert_uint_eq(out.b[0]->nrecords, 2);
    ck_assert_int_eq(out.b[0]->oldest_mono_ms, 1000);
    ck_assert_int_eq(out.b[0]->oldest_wall_ms, 1700000000000 + 1000);
}
END_TEST

START_TEST(test_batcher_zero_interval_seals_when_ring_drained)
{
    bt.interval_ms = 0;
    push(2, 10);
    sl_batcher_step(&bt, -1);
    ck_assert_int_eq(out.n, 1);
    ck_assert_int_eq(out.b[0]->seal_reason, SL_SEAL_INTERVAL);
}
END_TEST

START_TEST(test_batcher_forced_reason_seals_open_batch)
{
    push(2, 10);
    sl_batcher_step(&bt, SL_SEAL_RELOAD);
    ck_assert_int_eq(out.n, 1);
    ck_assert_int_eq(out.b[0]->seal_reason, SL_SEAL_RELOAD);
    push(1, 10);
    sl_batcher_step(&bt, SL_SEAL_SHUTDOWN);   /* drains the ring first */
    ck_assert_int_eq(out.n, 2);
    ck_assert_int_eq(out.b[1]->seal_reason, SL_SEAL_SHUTDOWN);
    sl_batcher_step(&bt, SL_SEAL_SHUTDOWN);   /* nothing open: nothing sealed */
    ck_assert_int_eq(out.n, 2);
}
END_TEST

START_TEST(test_batcher_empty_never_seals)
{
    fk.now += 1000000;
    ck_assert_int_eq(sl_batcher_step(&bt, -1), -1);
    ck_assert_int_eq(out.n, 0);
}
END_TEST

Suite *sl_batcher_suite(void)
{
    Suite *s = suite_create("batcher");
    TCase *tc = tcase_create("seal");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_batcher_seals_by_size_without_splitting_records);
    tcase_add_test(tc, test_batcher_seals_exactly_full_batch_at_once);
    tcase_add_test(tc, test_batcher_oversized_record_gets_a_batch_of_its_own);
    tcase_add_test(tc, test_batcher_seals_by_interval_of_oldest_record);
    tcase_add_test(tc, test_batcher_zero_interval_seals_when_ring_drained);
    tcase_add_test(tc, test_batcher_forced_reason_seals_open_batch);
    tcase_add_test(tc, test_batcher_empty_never_seals);
    suite_add_tcase(s, tc);
    return s;
}
