/*
 * test_ring.c - the MPSC ring: empty, full, wrap-around, and a stress test
 * (run it under `make tsan`): K producers push N tagged items each, one
 * consumer checks every item arrives exactly once and in per-producer order.
 */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "ring.h"
#include "sluice/err.h"
#include "suites.h"

START_TEST(test_ring_pop_when_empty_returns_eagain)
{
    struct sl_ring *r = sl_ring_new(4);
    void *p;

    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(sl_ring_pop_sc(r, &p), SL_EAGAIN);
    sl_ring_free(r);
}
END_TEST

START_TEST(test_ring_push_when_full_returns_eagain)
{
    struct sl_ring *r = sl_ring_new(3);   /* rounds up to 4 */
    void *p;

    for (uintptr_t i = 1; i <= 4; i++)
        ck_assert_int_eq(sl_ring_push_mp(r, (void *)i), SL_OK);
    ck_assert_int_eq(sl_ring_push_mp(r, (void *)5), SL_EAGAIN);
    ck_assert_uint_eq(sl_ring_count(r), 4);
    ck_assert_int_eq(sl_ring_pop_sc(r, &p), SL_OK);
    ck_assert_ptr_eq(p, (void *)1);
    ck_assert_int_eq(sl_ring_push_mp(r, (void *)5), SL_OK);
    for (uintptr_t i = 2; i <= 5; i++) {
        ck_assert_int_eq(sl_ring_pop_sc(r, &p), SL_OK);
        ck_assert_ptr_eq(p, (void *)i);
    }
    ck_assert_int_eq(sl_ring_pop_sc(r, &p), SL_EAGAIN);
    sl_ring_free(r);
}
END_TEST

START_TEST(test_ring_keeps_fifo_order_across_many_laps)
{
    struct sl_ring *r = sl_ring_new(8);
    void *p;

    for (uintptr_t i = 1; i < 10000; i++) {
        ck_assert_int_eq(sl_ring_push_mp(r, (void *)i), SL_OK);
        if (i % 3 == 0) {
            ck_assert_int_eq(sl_ring_push_mp(r, (void *)(i + 1000000)), SL_OK);
            ck_assert_int_eq(sl_ring_pop_sc(r, &p), SL_OK);
        }
        ck_assert_int_eq(sl_ring_pop_sc(r, &p), SL_OK);
    }
    sl_ring_free(r);
}
END_TEST

START_TEST(test_ring_wait_returns_when_woken)
{
    struct sl_ring *r = sl_ring_new(4);

    sl_ring_wake(r);
    sl_ring_wait_sc(r, 10000);     /* returns at once: a wake is pending */
    sl_ring_free(r);
}
END_TEST

#define PRODUCERS 4
#define ITEMS 200000

struct prod { struct sl_ring *r; uintptr_t id; };

static void *producer(void *arg)
{
    struct prod *p = arg;

    for (uintptr_t seq = 1; seq <= ITEMS; seq++) {
        void *item = (void *)((p->id << 32) | seq);
        while (sl_ring_push_mp(p->r, item) != SL_OK)
            sched_yield();
    }
    return NULL;
}

START_TEST(test_ring_mpsc_stress_every_item_once_in_producer_order)
{
    struct sl_ring *r = sl_ring_new(64);
    pthread_t th[PRODUCERS];
    struct prod pr[PRODUCERS];
    uintptr_t last[PRODUCERS] = { 0 };
    size_t got = 0;
    void *p;

    for (int i = 0; i < PRODUCERS; i++) {
        pr[i] = (struct prod){ r, (uintptr_t)i };
        ck_assert_int_eq(pthread_create(&th[i], NULL, producer, &pr[i]), 0);
    }
    while (got < (size_t)PRODUCERS * ITEMS) {
        if (sl_ring_pop_sc(r, &p) != SL_OK) {
            sl_ring_wait_sc(r, 10);
            continue;
        }
        uintptr_t v = (uintptr_t)p, id = v >> 32, seq = v & 0xffffffffu;
        ck_assert_uint_lt(id, PRODUCERS);
        ck_assert_msg(seq == last[id] + 1, "producer %lu: got %lu after %lu",
                      (unsigned long)id, (unsigned long)seq, (unsigned long)last[id]);
        last[id] = seq;
        got++;
    }
    for (int i = 0; i < PRODUCERS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_uint_eq(last[i], ITEMS);
    }
    ck_assert_int_eq(sl_ring_pop_sc(r, &p), SL_EAGAIN);
    sl_ring_free(r);
}
END_TEST

Suite *sl_ring_suite(void)
{
    Suite *s = suite_create("ring");
    TCase *tc = tcase_create("ring");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_ring_pop_when_empty_returns_eagain);
    tcase_add_test(tc, test_ring_push_when_full_returns_eagain);
    tcase_add_test(tc, test_ring_keeps_fifo_order_across_many_laps);
    tcase_add_test(tc, test_ring_wait_returns_when_woken);
    tcase_add_test(tc, test_ring_mpsc_stress_every_item_once_in_producer_order);
    suite_add_tcase(s, tc);
    return s;
}
