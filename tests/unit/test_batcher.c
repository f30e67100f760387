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

/* Lanes (chunks with an origin). */

/* Pushes records [from, from + n) of lane <name>: record i at position
 * 100 + 2i (gaps, as compacted offsets), own time T0 + tstep * i, and
 * 10 + (7i % 25) bytes long. */
#define T0 1600000000000
static void push_lane(const char *name, int from, int n, int64_t tstep)
{
    struct sl_chunk *c = sl_chunk_new((uint32_t)n * (40 + SL_CHUNK_HDR), fake_wall(&clk), fk.now);
    char rec[64];

    memset(rec, 'y', sizeof(rec));
    c->origin = sl_chunk_origin_new(name, (uint32_t)n, 2000);
    ck_assert_ptr_nonnull(c->origin);
    for (int k = 0; k < n; k++) {
        int i = from + k;
        c->origin->pos[k] = 100 + 2 * i;
        c->origin->time_ms[k] = T0 + tstep * i;
        sl_chunk_add(c, rec, (uint32_t)(10 + (7 * i) % 25));
    }
    ck_assert_int_eq(sl_ring_push_mp(ring, c), SL_OK);
}

static void push_seal(const char *name)
{
    struct sl_chunk *c = sl_chunk_new(0, fake_wall(&clk), fk.now);

    c->origin = sl_chunk_origin_new(name, 0, 0);
    ck_assert_ptr_nonnull(c->origin);
    c->origin->flags = SL_ORIGIN_SEAL;
    ck_assert_int_eq(sl_ring_push_mp(ring, c), SL_OK);
}

/* The lane of every record of <b>: 1 if all come from chunks of <name>. */
static int all_of_lane(const struct sl_batch *b, const char *name)
{
    for (size_t i = 0; i < b->nspans; i++) {
        const struct sl_origin *o = b->spans[i].chunk->origin;
        if (!o || strcmp(o->name, name) != 0)
            return 0;
    }
    return 1;
}

START_TEST(test_batcher_lanes_are_batched_apart)
{
    bt.buffer_size = 1000;
    push_lane("t/0", 0, 3, 0);
    push(2, 10);
    push_lane("t/1", 0, 2, 0);
    push_lane("t/0", 3, 2, 0);
    push(1, 10);
    sl_batcher_step(&bt, SL_SEAL_SHUTDOWN);
    ck_assert_int_eq(out.n, 3);
    for (int i = 0; i < out.n; i++) {
        struct sl_batch *b = out.b[i];
        if (!b->lane) {
            ck_assert_uint_eq(b->nrecords, 3);
            for (size_t k = 0; k < b->nspans; k++)
                ck_assert_ptr_null(b->spans[k].chunk->origin);
        } else if (b->nrecords == 5) {
            ck_assert(all_of_lane(b, "t/0"));
            ck_assert_int_eq(b->pos_first, 100);
            ck_assert_int_eq(b->pos_last, 108);
            ck_assert_uint_eq(b->spans[1].off, 0);
            ck_assert_int_eq(b->oldest_wall_ms, T0);    /* its first record's own time */
        } else {
            ck_assert(all_of_lane(b, "t/1"));
            ck_assert_uint_eq(b->nrecords, 2);
        }
    }
    ck_assert_uint_eq(bt.nlanes, 0);
}
END_TEST

/* A record whose own time is interval_ms past the batch's first starts
 * the next batch, whatever the clock says. */
START_TEST(test_batcher_lane_seals_by_record_time)
{
    bt.buffer_size = 10000;
    push_lane("t/0", 0, 12, 1000);      /* times T0 .. T0 + 11 s, interval 5 s */
    sl_batcher_step(&bt, -1);
    ck_assert_int_eq(out.n, 2);
    ck_assert_int_eq(out.b[0]->seal_reason, SL_SEAL_INTERVAL);
    ck_assert_int_eq(out.b[0]->pos_first, 100);
    ck_assert_int_eq(out.b[0]->pos_last, 108);  /* records 0-4 */
    ck_assert_int_eq(out.b[1]->pos_first, 110);
    ck_assert_int_eq(out.b[1]->pos_last, 118);  /* 5-9 */
    ck_assert_int_eq(out.b[1]->oldest_wall_ms, T0 + 5000);
    ck_assert_ptr_nonnull(bt.lanes[0].open);    /* 10, 11 */
    ck_assert_uint_eq(bt.lanes[0].open->nrecords, 2);
}
END_TEST

/* A quiet lane is sealed interval_ms + its grace after its first record
 * came (the daemon's clock), the rest after interval_ms. */
START_TEST(test_batcher_quiet_lane_waits_its_grace)
{
    push_lane("t/0", 0, 1, 0);
    push(1, 10);
    ck_assert_int_eq(sl_batcher_step(&bt, -1), 5000);
    fk.now += 5000;
    ck_assert_int_eq(sl_batcher_step(&bt, -1), 2000);
    ck_assert_int_eq(out.n, 1);
    ck_assert(!out.b[0]->lane);
    fk.now += 2000;
    ck_assert_int_eq(sl_batcher_step(&bt, -1), -1);
    ck_assert_int_eq(out.n, 2);
    ck_assert(out.b[1]->lane);
    ck_assert_int_eq(out.b[1]->seal_reason, SL_SEAL_INTERVAL);
    ck_assert_int_eq(atomic_load(&bt.open_oldest_mono_ms), 0);
}
END_TEST

/* A reload seals the rest, not the lanes; shutdown seals them; a source's
 * request seals its lane alone. */
START_TEST(test_batcher_reload_leaves_lanes_open_and_a_source_may_seal_its_own)
{
    push_lane("t/0", 0, 2, 0);
    push_lane("t/1", 0, 2, 0);
    push(1, 10);
    sl_batcher_step(&bt, SL_SEAL_RELOAD);
    ck_assert_int_eq(out.n, 1);
    ck_assert(!out.b[0]->lane);
    ck_assert_uint_eq(bt.nlanes, 2);
    push_seal("t/1");
    push_seal("t/9");                   /* nothing open there: nothing sealed */
    sl_batcher_step(&bt, -1);
    ck_assert_int_eq(out.n, 2);
    ck_assert(all_of_lane(out.b[1], "t/1"));
    ck_assert_int_eq(out.b[1]->seal_reason, SL_SEAL_SOURCE);
    ck_assert_uint_eq(bt.nlanes, 1);
    sl_batcher_step(&bt, SL_SEAL_SHUTDOWN);
    ck_assert_int_eq(out.n, 3);
    ck_assert(all_of_lane(out.b[2], "t/0"));
    ck_assert_int_eq(out.b[2]->seal_reason, SL_SEAL_SHUTDOWN);
}
END_TEST

/* The point of lanes: the same records, read again in other chunks (a
 * re-read after a crash), make the same batches. */
START_TEST(test_batcher_lane_batches_do_not_depend_on_chunking)
{
    int64_t first[MAXOUT], last[MAXOUT];
    int n, cuts[] = { 1, 6, 2, 9, 3, 3, 7, 1, 5, 4 }, at = 0;

    push_lane("t/0", 0, 60, 400);       /* 24 s of records, 100-byte batches */
    sl_batcher_step(&bt, SL_SEAL_SHUTDOWN);
    n = out.n;
    ck_assert_int_gt(n, 8);
    for (int i = 0; i < n; i++) {
        first[i] = out.b[i]->pos_first;
        last[i] = out.b[i]->pos_last;
        sl_batch_free(out.b[i]);
    }
    out.n = 0;
    for (int k = 0; at < 60; k++) {
        int len = cuts[k % 10] < 60 - at ? cuts[k % 10] : 60 - at;
        push_lane("t/0", at, len, 400);
        at += len;
        sl_batcher_step(&bt, -1);
    }
    sl_batcher_step(&bt, SL_SEAL_SHUTDOWN);
    ck_assert_int_eq(out.n, n);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(out.b[i]->pos_first, first[i]);
        ck_assert_int_eq(out.b[i]->pos_last, last[i]);
    }
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
    tcase_add_test(tc, test_batcher_lanes_are_batched_apart);
    tcase_add_test(tc, test_batcher_lane_seals_by_record_time);
    tcase_add_test(tc, test_batcher_quiet_lane_waits_its_grace);
    tcase_add_test(tc, test_batcher_reload_leaves_lanes_open_and_a_source_may_seal_its_own);
    tcase_add_test(tc, test_batcher_lane_batches_do_not_depend_on_chunking);
    suite_add_tcase(s, tc);
    return s;
}
