/*
 * test_batch.c - the chunk/batch record layout: a batch iterates its spans
 * in the order they were added and keeps their chunks alive; its settle
 * actions run once.
 */
#include <check.h>
#include <stdint.h>

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
    uint32_t mid = c->len;
    sl_chunk_add(c, "b", 1);
    sl_chunk_add(c, "c", 1);
    sl_batch_add_span(b, c, mid, c->len, 2, 2);
    sl_batch_add_span(b, c, 0, mid, 1, 1);
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

Suite *sl_batch_suite(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("batch");

    tcase_add_test(tc, test_batch_iterates_spans_in_order);
    tcase_add_test(tc, test_batch_settle_runs_actions_once);
    tcase_add_test(tc, test_chunk_new_is_not_logged);
    suite_add_tcase(s, tc);
    return s;
}
