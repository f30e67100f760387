/*
 * test_transform.c - running a chain (transform.c): each step sees only
 * what the ones before left Ok, with their data; results, errors, keys,
 * whole-batch failures and counters.
 */
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "sluice/err.h"
#include "suites.h"
#include "transform.h"

/* Step A: drops "drop", fails "bad", turns "x" into "xx", keys "k" = data. */
static int a_process(void *state, const struct sl_tf_batch *b, struct sl_tf_error *err)
{
    (void)state, (void)err;
    for (size_t i = 0; i < b->nrecords; i++) {
        const struct sl_record *r = &b->records[i];
        if (r->len == 4 && memcmp(r->data, "drop", 4) == 0)
            b->host->set_dropped(b->out, i);
        else if (r->len == 3 && memcmp(r->data, "bad", 3) == 0)
            b->host->set_failed(b->out, i, "A.Bad", "it said bad"),
                b->host->attempts(b->out, i, 3);
        else if (r->len == 1 && r->data[0] == 'x')
            b->host->set_data(b->out, i, "xx", 2);
        b->host->set_key(b->out, i, "k", "v");
    }
    return 0;
}

/* Step B: records what it saw, appends "!" to each. */
static char seen_b[256];
static int b_process(void *state, const struct sl_tf_batch *b, struct sl_tf_error *err)
{
    (void)state, (void)err;
    seen_b[0] = '\0';
    for (size_t i = 0; i < b->nrecords; i++) {
        const struct sl_record *r = &b->records[i];
        size_t n = strlen(seen_b);
        snprintf(seen_b + n, sizeof(seen_b) - n, "%.*s,", (int)r->len, (const char *)r->data);
        char *buf = malloc(r->len + 1);
        ck_assert_ptr_nonnull(buf);
        memcpy(buf, r->data, r->len);
        buf[r->len] = '!';
        b->host->set_data(b->out, i, buf, r->len + 1);
        free(buf);
    }
    b->host->invocation(b->out, 0);   /* a retried call out, then a good one */
    b->host->invocation(b->out, 1);
    return 0;
}

/* Step C: the whole batch fails. */
static int c_process(void *state, const struct sl_tf_batch *b, struct sl_tf_error *err)
{
    (void)state, (void)b;
    snprintf(err->code, sizeof(err->code), "C.Down");
    snprintf(err->message, sizeof(err->message), "the service is down");
    return -1;
}

/* Step D: asks to be tried again when sluice is stopping, else drops all. */
static int d_process(void *state, const struct sl_tf_batch *b, struct sl_tf_error *err)
{
    (void)state, (void)err;
    ck_assert_uint_ge(b->host->size, offsetof(struct sl_tf_host, stopping) +
                                         sizeof(b->host->stopping));
    if (b->host->stopping(b->out))
        return SL_TF_RETRY;
    for (size_t i = 0; i < b->nrecords; i++)
        b->host->set_dropped(b->out, i);
    return SL_TF_DONE;
}

static int nop_create(const struct sl_tf_kv *kv, size_t n, void **st, char *e, size_t el)
{
    (void)kv, (void)n, (void)e, (void)el;
    *st = NULL;
    return 0;
}
static void nop_destroy(void *st) { (void)st; }

#define OPS(n, process) { SL_TRANSFORM_ABI, sizeof(struct sl_transform_ops), n, nop_create, \
                          process, nop_destroy }
static const struct sl_transform_ops a_ops = OPS("a", a_process);
static const struct sl_transform_ops b_ops = OPS("b", b_process);
static const struct sl_transform_ops c_ops = OPS("c", c_process);
static const struct sl_transform_ops d_ops = OPS("d", d_process);

static void records(struct sl_record *r, const char *const *texts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        r[i] = (struct sl_record){ (const uint8_t *)texts[i], (uint32_t)strlen(texts[i]),
                                   1000 + (int64_t)i };
}

START_TEST(test_transform_chain_sees_what_is_left)
{
    static const char *const texts[] = { "x", "drop", "bad", "y" };
    struct sl_tf a = { .ops = &a_ops }, b = { .ops = &b_ops };
    struct sl_tf *chain[] = { &a, &b };
    struct sl_tf_stats stats[2];
    struct sl_tf_stats *sp[] = { &stats[0], &stats[1] };
    struct sl_record in[4];
    struct sl_tf_run *r = sl_transform_run_new();
    const struct sl_tf_rec *out;

    memset(stats, 0, sizeof(stats));
    records(in, texts, 4);
    ck_assert_int_eq(sl_transform_run_chain(r, chain, 2, sp, "s", in, 4), SL_OK);
    out = sl_transform_run_recs(r);
    ck_assert_str_eq(seen_b, "xx,y,");               /* B saw A's output, Ok only */
    ck_assert_int_eq(out[0].status, SL_TF_OK);
    ck_assert_int_eq(out[0].len, 3);
    ck_assert_int_eq(memcmp(out[0].data, "xx!", 3), 0);
    ck_assert_int_eq(out[1].status, SL_TF_DROPPED);
    ck_assert_int_eq(out[1].by, 0);
    ck_assert_int_eq(out[2].status, SL_TF_FAILED);
    ck_assert_str_eq(out[2].code, "A.Bad");
    ck_assert_str_eq(out[2].message, "it said bad");
    ck_assert_int_eq(out[2].attempts, 3);       /* as the transform said */
    ck_assert_int_eq(out[3].status, SL_TF_OK);
    ck_assert_ptr_nonnull(out[3].keys);
    ck_assert_str_eq(out[3].keys->key, "k");
    ck_assert_str_eq(out[3].keys->value, "v");
    ck_assert_uint_eq(atomic_load(&stats[0].records[SL_TF_OK]), 2);
    ck_assert_uint_eq(atomic_load(&stats[0].records[SL_TF_DROPPED]), 1);
    ck_assert_uint_eq(atomic_load(&stats[0].records[SL_TF_FAILED]), 1);
    ck_assert_uint_eq(atomic_load(&stats[1].records[SL_TF_OK]), 2);
    ck_assert_uint_eq(atomic_load(&stats[1].invocations[0]), 1);
    ck_assert_uint_eq(atomic_load(&stats[1].invocations[1]), 1);
    ck_assert_uint_eq(atomic_load(&stats[0].invocations[0]), 1);   /* counted for it */
    /* a second run starts clean: nothing of the first one leaks */
    ck_assert_int_eq(sl_transform_run_chain(r, chain, 1, NULL, "s", in + 3, 1), SL_OK);
    out = sl_transform_run_recs(r);
    ck_assert_int_eq(out[0].status, SL_TF_OK);
    ck_assert_int_eq(out[0].changed, 0);
    ck_assert_int_eq(out[0].len, 1);
    sl_transform_run_free(r);
}
END_TEST

START_TEST(test_transform_whole_batch_failure)
{
    static const char *const texts[] = { "drop", "p", "q" };
    struct sl_tf a = { .ops = &a_ops }, c = { .ops = &c_ops };
    struct sl_tf *chain[] = { &a, &c };
    struct sl_tf_stats stats[2];
    struct sl_tf_stats *sp[] = { &stats[0], &stats[1] };
    struct sl_record in[3];
    struct sl_tf_run *r = sl_transform_run_new();
    const struct sl_tf_rec *out;

    memset(stats, 0, sizeof(stats));
    records(in, texts, 3);
    ck_assert_int_eq(sl_transform_run_chain(r, chain, 2, sp, "s", in, 3), SL_OK);
    out = sl_transform_run_recs(r);
    ck_assert_int_eq(out[0].status, SL_TF_DROPPED);      /* gone before C */
    for (int i = 1; i < 3; i++) {
        ck_assert_int_eq(out[i].status, SL_TF_FAILED);
        ck_assert_str_eq(out[i].code, "C.Down");
        ck_assert_str_eq(out[i].message, "the service is down");
        ck_assert_int_eq(out[i].by, 1);
        ck_assert_int_eq(out[i].attempts, 1);    /* the batch's one invocation */
    }
    ck_assert_uint_eq(atomic_load(&stats[1].records[SL_TF_FAILED]), 2);
    ck_assert_uint_eq(atomic_load(&stats[1].invocations[1]), 1);
    sl_transform_run_free(r);
}
END_TEST

/* Many big records: the arena grows past a block and keeps every one. */
START_TEST(test_transform_arena_holds_big_outputs)
{
    static char big[300000];
    const char *texts[8];
    struct sl_tf b = { .ops = &b_ops };
    struct sl_tf *chain[] = { &b };
    struct sl_record in[8];
    struct sl_tf_run *r = sl_transform_run_new();

    memset(big, 'z', sizeof(big) - 1);
    for (int i = 0; i < 8; i++)
        texts[i] = i % 2 ? "small" : big;
    records(in, texts, 8);
    for (int round = 0; round < 3; round++) {
        ck_assert_int_eq(sl_transform_run_chain(r, chain, 1, NULL, "s", in, 8), SL_OK);
        const struct sl_tf_rec *out = sl_transform_run_recs(r);
        for (int i = 0; i < 8; i++) {
            ck_assert_int_eq(out[i].len, in[i].len + 1);
            ck_assert_int_eq(memcmp(out[i].data, in[i].data, in[i].len), 0);
            ck_assert_int_eq(out[i].data[in[i].len], '!');
        }
    }
    sl_transform_run_free(r);
}
END_TEST

START_TEST(test_transform_retry_when_stopping)
{
    static const char *const texts[] = { "p", "q" };
    struct sl_tf d = { .ops = &d_ops };
    struct sl_tf *chain[] = { &d };
    struct sl_record in[2];
    struct sl_tf_run *r = sl_transform_run_new();
    _Atomic int stop = 0;

    records(in, texts, 2);
    sl_transform_run_set_stop(r, &stop);
    ck_assert_int_eq(sl_transform_run_chain(r, chain, 1, NULL, "s", in, 2), SL_OK);
    ck_assert_int_eq(sl_transform_run_recs(r)[1].status, SL_TF_DROPPED);
    atomic_store(&stop, 1);
    ck_assert_int_eq(sl_transform_run_chain(r, chain, 1, NULL, "s", in, 2), SL_EAGAIN);
    sl_transform_run_free(r);
}
END_TEST

Suite *sl_transform_suite(void)
{
    Suite *s = suite_create("transform");
    TCase *tc = tcase_create("chain");

    tcase_add_test(tc, test_transform_chain_sees_what_is_left);
    tcase_add_test(tc, test_transform_whole_batch_failure);
    tcase_add_test(tc, test_transform_arena_holds_big_outputs);
    tcase_add_test(tc, test_transform_retry_when_stopping);
    suite_add_tcase(s, tc);
    return s;
}
