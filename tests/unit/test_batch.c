/*
 * test_batch.c - the chunk/batch record layout: a batch iterates its spans
 * in the order they were added and keeps their chunks alive; its settle
 * actions run once.
 */
#include <check.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "batch.h"
#include "sluice/err.h"
#include "suites.h"

START_TEST(test_batch_iterates_spans_in_order)
{
    struct sl_chunk *c = sl_chunk_new(64, 5, 5);
    struct sl_batch *b = sl_batch_new();
    struct sl_batch_iter it;
    struct sl_record r;
    const char *want[] = { "b", "c", "a" };
    int i = 0;

    sl_chunk_add(c, "a", 1);
    sl_chunk_add(c, "b", 1);
    sl_chunk_add(c, "c", 1);
    sl_batch_add_span(b, c, 1, 3, 2);
    sl_batch_add_span(b, c, 0, 1, 1);
    sl_chunk_unref(c);                      /* the spans keep it alive */
    ck_assert_uint_eq(atomic_load(&c->refs), 2);
    sl_batch_iter_init(&it, b);
    while (sl_batch_next(&it, &r)) {
        ck_assert_int_lt(i, 3);
        ck_assert_uint_eq(r.len, 1);
        ck_assert_int_eq(r.data[0], want[i][0]);
        ck_assert_int_eq(r.arrival_ms, 5);
        i++;
    }
    ck_assert_int_eq(i, 3);
    ck_assert_uint_eq(b->nrecords, 3);
    sl_batch_free(b);
}
END_TEST

/* A record's identity as text: its base uuid and its number, "UUID-N". */
static void record_id(const struct sl_batch_iter *it, char out[48])
{
    char uuid[37];
    struct sl_batch base = { .root = NULL };

    memcpy(base.uuid, sl_batch_id_base(it->b), 16);
    sl_batch_uuid_str(&base, uuid);
    snprintf(out, 48, "%s-%u", uuid, it->ord);
}

/* The ids of <b>'s records, by their first byte ('a' + k), into ids[k]. */
static void ids_by_record(const struct sl_batch *b, char ids[][48])
{
    struct sl_batch_iter it;
    struct sl_record r;

    sl_batch_iter_init(&it, b);
    while (sl_batch_next(&it, &r))
        record_id(&it, ids[r.data[0] - 'a']);
}

/* A record keeps its identity in every part cut from its batch (retries,
 * failures, partitions, copies); records made by the stage are numbered
 * anew under their part's uuid. */
START_TEST(test_batch_record_ids_survive_splits)
{
    struct sl_chunk *c1 = sl_chunk_new(64, 5, 5), *c2 = sl_chunk_new(64, 6, 6);
    struct sl_batch *b = sl_batch_new();
    char root[8][48], got[8][48] = { { 0 } };
    const uint8_t odd[8] = { 0, 1, 0, 1, 0, 1, 0, 1 }, low[4] = { 1, 1, 0, 1 };

    for (int k = 0; k < 8; k++)
        sl_chunk_add(k < 5 ? c1 : c2, &"abcdefgh"[k], 1);
    sl_batch_add_span(b, c1, 0, c1->nrecords, 5);
    sl_batch_add_span(b, c2, 0, c2->nrecords, 3);
    ck_assert_int_eq(sl_batch_new_uuid(b), SL_OK);
    ids_by_record(b, root);
    for (int k = 0; k < 8; k++)
        for (int j = 0; j < k; j++)
            ck_assert_str_ne(root[k], root[j]);
    struct sl_batch *p = sl_batch_pick(b, odd, 1);         /* b d f h */
    ids_by_record(p, got);
    for (int k = 1; k < 8; k += 2)
        ck_assert_str_eq(got[k], root[k]);
    memset(got, 0, sizeof(got));
    struct sl_batch *q = sl_batch_pick(p, low, 1);          /* b d h: a part of a part */
    ck_assert_uint_eq(q->nrecords, 3);
    ids_by_record(q, got);
    ck_assert_str_eq(got[1], root[1]);
    ck_assert_str_eq(got[3], root[3]);
    ck_assert_str_eq(got[7], root[7]);
    struct sl_batch *cp = sl_batch_copy(b);
    ids_by_record(cp, got);
    for (int k = 0; k < 8; k++)
        ck_assert_str_eq(got[k], root[k]);
    struct sl_chunk *t = sl_chunk_new(64, 7, 7);
    sl_chunk_add(t, "a", 1);
    struct sl_batch *tp = sl_batch_part_of(b, t);           /* "a" made anew */
    sl_chunk_unref(t);
    ids_by_record(tp, got);
    ck_assert_str_ne(got[0], root[0]);
    char uuid[37];
    sl_batch_uuid_str(tp, uuid);
    ck_assert_int_eq(strncmp(got[0], uuid, 36), 0);
    ck_assert_str_eq(got[0] + 36, "-0");
    sl_chunk_unref(c1);
    sl_chunk_unref(c2);
    sl_batch_release(q, SL_OUTCOME_DELIVERED);
    sl_batch_release(p, SL_OUTCOME_DELIVERED);
    sl_batch_release(cp, SL_OUTCOME_DELIVERED);
    sl_batch_release(tp, SL_OUTCOME_DELIVERED);
    sl_batch_release(b, SL_OUTCOME_DELIVERED);
}
END_TEST

static int settled_outcome = -1;
static void note(void *arg, struct sl_batch *b, enum sl_outcome o)
{
    (void)b;
    *(int *)arg = (int)o;
}

/* A new chunk is not the log's: a seq left in reused memory would make a
 * memory stream's batch look logged (exclusive writes, a sequence range). */
START_TEST(test_chunk_new_is_not_logged)
{
    for (int i = 0; i < 8; i++) {
        struct sl_chunk *c = sl_chunk_new(256, 1, 1);
        ck_assert_ptr_nonnull(c);
        ck_assert_uint_eq(c->seq, 0);
        c->seq = 0xdeadbeef;    /* what the next allocation may find */
        sl_chunk_unref(c);
    }
}
END_TEST

START_TEST(test_batch_settle_runs_actions_once)
{
    struct sl_batch *b = sl_batch_new();

    settled_outcome = -1;
    ck_assert_int_eq(sl_batch_on_settle(b, note, &settled_outcome), SL_OK);
    sl_batch_settle(b, SL_OUTCOME_BACKED_UP);
    ck_assert_int_eq(settled_outcome, SL_OUTCOME_BACKED_UP);
}
END_TEST

/* What a chunk's source hears: records settled, per chunk, and which
 * (a bit per record index, never told twice). */
struct heard { uint32_t records[2]; uint32_t told[2]; int calls; };

static void heard(void *arg, const struct sl_chunk *c, uint32_t first, uint32_t n)
{
    struct heard *h = arg;
    uint32_t bits = ((1u << n) - 1) << first;

    h->records[c->seq] += n;     /* seq: which chunk, in this test */
    ck_assert_uint_eq(h->told[c->seq] & bits, 0);
    h->told[c->seq] |= bits;
    h->calls++;
}

static struct sl_chunk *chunk_of(uint32_t n, uint64_t which, struct heard *h)
{
    struct sl_chunk *c = sl_chunk_new(64 * n, 0, 0);

    for (uint32_t i = 0; i < n; i++)
        sl_chunk_add(c, "abcd", 4);
    c->seq = which;
    c->settled = heard;
    c->settled_arg = h;
    return c;
}

/* A chunk split over two batches is told twice, once per batch, with the
 * records each held; parts tell nothing until their root settles; an
 * abandoned batch tells nothing. */
START_TEST(test_batch_settle_tells_each_chunks_source)
{
    struct heard h = { { 0, 0 }, { 0, 0 }, 0 };
    struct sl_chunk *a = chunk_of(10, 0, &h), *b = chunk_of(4, 1, &h);
    struct sl_batch *one = sl_batch_new(), *two = sl_batch_new(), *gone = sl_batch_new();
    uint8_t marks[10] = { 1, 1, 1, 0, 0, 0, 0, 0, 0, 0 };

    /* records 0-5 of a in one, 6-9 of a and all of b in two */
    ck_assert_int_eq(sl_batch_add_span(one, a, 0, 6, 24), SL_OK);
    ck_assert_int_eq(sl_batch_add_span(two, a, 6, 10, 16), SL_OK);
    ck_assert_int_eq(sl_batch_add_span(two, b, 0, 4, 16), SL_OK);
    ck_assert_int_eq(sl_batch_add_span(gone, b, 0, 4, 16), SL_OK);
    sl_chunk_unref(a);
    sl_chunk_unref(b);
    struct sl_batch *part = sl_batch_pick(one, marks, 1);
    sl_batch_release(part, SL_OUTCOME_DELIVERED);     /* the root still holds the rest */
    ck_assert_int_eq(h.calls, 0);
    sl_batch_release(one, SL_OUTCOME_BACKED_UP);
    ck_assert_uint_eq(h.records[0], 6);
    ck_assert_uint_eq(h.told[0], 0x3f);                  /* records 0-5 */
    sl_batch_settle(gone, SL_OUTCOME_ABANDONED);
    ck_assert_uint_eq(h.records[1], 0);
    sl_batch_settle(two, SL_OUTCOME_DELIVERED);
    ck_assert_uint_eq(h.records[0], 10);
    ck_assert_uint_eq(h.records[1], 4);
    ck_assert_uint_eq(h.told[0], 0x3ff);
    ck_assert_uint_eq(h.told[1], 0xf);
    ck_assert_int_eq(h.calls, 3);
}
END_TEST

Suite *sl_batch_suite(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("batch");

    tcase_add_test(tc, test_batch_iterates_spans_in_order);
    tcase_add_test(tc, test_batch_settle_runs_actions_once);
    tcase_add_test(tc, test_batch_settle_tells_each_chunks_source);
    tcase_add_test(tc, test_chunk_new_is_not_logged);
    tcase_add_test(tc, test_batch_record_ids_survive_splits);
    suite_add_tcase(s, tc);
    return s;
}
