/*
 * test_delivery.c - a stream, its batcher and the delivery pool, in
 * process, with an in-memory sink that answers per record: OK records are
 * delivered, RETRY ones tried again alone, FAIL ones backed up; every
 * record is counted once; the batch settles once, when all its parts have.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "delivery.h"
#include "log.h"
#include "sluice/err.h"
#include "stream.h"
#include "suites.h"

#define NREC 100

/* The fake sink: record "r<i>" fails for i % 10 == 3, needs a retry for
 * i % 10 == 7 on its first try, and is OK otherwise. */
struct mem_sink {
    pthread_mutex_t lock;
    int seen[NREC];          /* deliver() calls that carried record i */
    int delivered[NREC];     /* times record i was answered OK */
    int calls;
    int whole_batch_result;  /* -1: per record; else answer the batch with it */
};

static int rec_index(const struct sl_record *r)
{
    char tmp[16];
    size_t n = r->len < sizeof(tmp) - 1 ? r->len : sizeof(tmp) - 1;

    memcpy(tmp, r->data, n);
    tmp[n] = '\0';
    return (int)strtol(tmp + 1, NULL, 10);
}

static void mem_deliver(void *ctx, const struct sl_sink_batch *b, struct sl_sink_outcome *out)
{
    struct mem_sink *m = ctx;
    struct sl_batch_iter it;
    struct sl_record r;
    size_t k = 0;
    int bad = 0;

    pthread_mutex_lock(&m->lock);
    m->calls++;
    if (m->whole_batch_result >= 0) {
        out->result = m->whole_batch_result;
        snprintf(out->error, sizeof(out->error), "told to");
        pthread_mutex_unlock(&m->lock);
        return;
    }
    sl_batch_iter_init(&it, b->batch);
    while (sl_batch_next(&it, &r)) {
        int i = rec_index(&r);
        uint8_t res = SL_SINK_OK;
        if (i % 10 == 3)
            res = SL_SINK_FAIL;
        else if (i % 10 == 7 && m->seen[i] == 0)
            res = SL_SINK_RETRY;
        m->seen[i]++;
        if (res == SL_SINK_OK)
            m->delivered[i]++;
        bad |= res != SL_SINK_OK;
        out->record_results[k++] = res;
    }
    pthread_mutex_unlock(&m->lock);
    out->result = bad ? SL_SINK_RETRY : SL_SINK_OK;
    out->per_record = bad;
    snprintf(out->error, sizeof(out->error), "some records refused");
}

static int mem_create(const char *stream, const void *c, void **ctx, char *e, size_t n)
{
    (void)stream, (void)c, (void)ctx, (void)e, (void)n;
    return SL_EINVAL;   /* never created by name: the test builds the instance */
}

static void mem_destroy(void *ctx) { (void)ctx; }

static const struct sl_sink_ops mem_ops = {
    .name = "mem", .shape = SL_SINK_RECORDS, .create = mem_create,
    .deliver = mem_deliver, .destroy = mem_destroy,
};

static char dir[64];
static struct mem_sink mem;
static struct sl_config *cfg;
static struct sl_delivery *d;
static struct sl_stream *s;

static void start(const char *extra)
{
    char path[128], text[1024];
    struct sl_buf errs;
    FILE *f;

    snprintf(dir, sizeof(dir), "/tmp/sluice-deliv-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/c.conf", dir);
    snprintf(text, sizeof(text), "[stream t]\nbuffer_interval = 0\ncompression = none\n"
             "file.path = %s/out\nbackup.path = %s/backup\n%s", dir, dir, extra);
    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    sl_buf_init(&errs, 4096);
    ck_assert_int_eq(sl_config_load(path, &cfg, &errs), SL_OK);
    sl_buf_destroy(&errs);

    sl_log_set_level(SL_LOG_ERROR);
    memset(&mem, 0, sizeof(mem));
    pthread_mutex_init(&mem.lock, NULL);
    mem.whole_batch_result = -1;
    struct sl_gen *g = calloc(1, sizeof(*g));
    atomic_init(&g->refs, 1);
    g->version = 1;
    g->cfg = sl_config_ref(cfg);
    g->conf = &cfg->streams[0];
    g->sink = (struct sl_sink){ &mem_ops, &mem };
    d = sl_delivery_new(2);
    s = sl_stream_new(g, d);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(sl_stream_start(s), SL_OK);
}

static void stop(void)
{
    char cmd[128];

    sl_stream_stop(s);
    sl_delivery_drain(d, 5000);
    sl_delivery_free(d);
    sl_stream_free(s);
    sl_config_unref(cfg);
    pthread_mutex_destroy(&mem.lock);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Pushes records r0..r<NREC-1> as one chunk, as a listener would. */
static void push_records(void)
{
    struct sl_chunk *c = sl_chunk_new(NREC * 16, sl_clock_wall_ms(), sl_clock_mono_ms());
    char rec[16];

    for (int i = 0; i < NREC; i++) {
        int n = snprintf(rec, sizeof(rec), "r%d", i);
        sl_chunk_add(c, rec, (uint32_t)n);
    }
    sl_stat_add(&s->stats.received_records[SL_SRC_TCP], c->nrecords);
    sl_stat_add(&s->stats.received_bytes[SL_SRC_TCP], c->bytes);
    ck_assert_int_eq(sl_ring_push_mp(s->ring, c), SL_OK);
}

/* Waits (up to 20 s) until every received record has settled. */
static void wait_settled(void)
{
    struct sl_metrics_snapshot ss;
    const struct timespec ms = { 0, 1000000 };

    for (int i = 0; i < 20000; i++) {
        sl_metrics_snapshot(&s->stats, &ss);
        if (ss.settled_records == ss.received_total_records && sl_stream_unsettled(s) == 0)
            return;
        nanosleep(&ms, NULL);
    }
    ck_abort_msg("records did not settle: %llu of %llu",
                 (unsigned long long)ss.settled_records,
                 (unsigned long long)ss.received_total_records);
}

START_TEST(test_delivery_per_record_results_split_the_batch)
{
    start("retry_duration = 60s\n");
    push_records();
    wait_settled();
    ck_assert_uint_eq(atomic_load(&s->stats.delivered_records), 90);
    ck_assert_uint_eq(atomic_load(&s->stats.backed_up_records[SL_BK_SINK_FAILED]), 10);
    ck_assert_uint_eq(atomic_load(&s->stats.backed_up_records[SL_BK_RETRIES_EXHAUSTED]), 0);
    ck_assert_uint_ge(atomic_load(&s->stats.retries[SL_RETRY_SINK]), 1);
    for (int i = 0; i < NREC; i++) {
        ck_assert_int_eq(mem.delivered[i], i % 10 == 3 ? 0 : 1);
        /* the retried part carried only the RETRY records */
        ck_assert_int_eq(mem.seen[i], i % 10 == 7 ? 2 : 1);
    }
    ck_assert_uint_eq(sl_stream_unsettled(s), 0);
    /* the FAIL part is in the backup path: one envelope per record */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "test $(find %s/backup -type f | wc -l) -eq 1 && "
             "test $(grep -c '\"errorCode\":\"Mem.Refused\"' $(find %s/backup -type f)) "
             "-eq 10 && grep -q '\"rawData\":\"cjEz\"' $(find %s/backup -type f)",
             dir, dir, dir);   /* cjEz: r13 */
    ck_assert_int_eq(system(cmd), 0);
    stop();
}
END_TEST

/* A transform for the stage: r<i> is dropped for i % 10 == 1, fails for
 * i % 10 == 2, comes out upper-cased ("R<i>") for i % 10 == 5. */
static int tf_create(const struct sl_tf_kv *kv, size_t n, void **state, char *e, size_t el)
{
    (void)kv, (void)n, (void)e, (void)el;
    *state = NULL;
    return 0;
}

static int tf_process(void *state, const struct sl_tf_batch *b, struct sl_tf_error *err)
{
    (void)state, (void)err;
    for (size_t i = 0; i < b->nrecords; i++) {
        int k = rec_index(&b->records[i]);
        char up[16];
        if (k % 10 == 1)
            b->host->set_dropped(b->out, i);
        else if (k % 10 == 2)
            b->host->set_failed(b->out, i, "Test.Refused", "ends in 2");
        else if (k % 10 == 5)
            b->host->set_data(b->out, i, up, (size_t)snprintf(up, sizeof(up), "R%d", k));
    }
    return 0;
}

static void tf_destroy(void *state) { (void)state; }

static const struct sl_transform_ops tf_ops = {
    .abi = SL_TRANSFORM_ABI, .size = sizeof(struct sl_transform_ops), .name = "test",
    .create = tf_create, .process = tf_process,
    .destroy = tf_destroy,
};

START_TEST(test_delivery_transform_results_split_the_batch)
{
    start("retry_duration = 60s\n");
    /* the stage's chain, as sl_stream_gen_new would build it, before any batch */
    pthread_mutex_lock(&s->lock);
    struct sl_gen *g = s->gen;
    g->chain[0] = (struct sl_tf){ .ops = &tf_ops, .name = "t1" };
    g->chain_of[0] = &g->chain[0];
    g->nchain = 1;
    g->tf_stats[0] = sl_metrics_tf(&s->stats, "t1");
    pthread_mutex_unlock(&s->lock);
    push_records();
    wait_settled();
    /* 10 dropped, 10 failed in the transform, 10 refused by the sink */
    ck_assert_uint_eq(atomic_load(&s->stats.dropped_records), 10);
    ck_assert_uint_eq(atomic_load(&s->stats.backed_up_records[SL_BK_PROCESSING_FAILED]), 10);
    ck_assert_uint_eq(atomic_load(&s->stats.backed_up_records[SL_BK_SINK_FAILED]), 10);
    ck_assert_uint_eq(atomic_load(&s->stats.delivered_records), 70);
    ck_assert_uint_eq(atomic_load(&g->tf_stats[0]->records[SL_TF_OK]), 80);
    ck_assert_uint_eq(atomic_load(&g->tf_stats[0]->records[SL_TF_DROPPED]), 10);
    ck_assert_uint_eq(atomic_load(&g->tf_stats[0]->records[SL_TF_FAILED]), 10);
    for (int i = 0; i < NREC; i++) {
        int want = i % 10 == 1 || i % 10 == 2 || i % 10 == 3 ? 0 : 1;
        ck_assert_msg(mem.delivered[i] == want, "r%d delivered %d times", i, mem.delivered[i]);
    }
    /* bytes balance at the source lengths, though r<i>5 became R<i>5 */
    struct sl_metrics_snapshot ss;
    sl_metrics_snapshot(&s->stats, &ss);
    ck_assert_uint_eq(ss.settled_bytes, ss.received_total_bytes);
    /* the failed records' envelopes carry the transform's error and the source */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "f=$(grep -l Test.Refused $(find %s/backup -type f)) && "
             "test $(grep -c '\"transform\":\"t1\"' $f) -eq 10 && "
             "grep -q '\"errorMessage\":\"ends in 2\"' $f && grep -q '\"rawData\":\"cjQy\"' $f",
             dir);   /* cjQy: r42 */
    ck_assert_int_eq(system(cmd), 0);
    stop();
}
END_TEST

START_TEST(test_delivery_retry_duration_zero_sends_failures_to_backup)
{
    start("retry_duration = 0\n");
    mem.whole_batch_result = SL_SINK_RETRY;
    push_records();
    wait_settled();
    ck_assert_uint_eq(atomic_load(&s->stats.delivered_records), 0);
    ck_assert_uint_eq(atomic_load(&s->stats.backed_up_records[SL_BK_RETRIES_EXHAUSTED]), NREC);
    ck_assert_int_eq(mem.calls, 1);
    stop();
}
END_TEST

START_TEST(test_delivery_whole_batch_fail_backs_up_at_once)
{
    start("retry_duration = 60s\n");
    mem.whole_batch_result = SL_SINK_FAIL;
    push_records();
    wait_settled();
    ck_assert_uint_eq(atomic_load(&s->stats.backed_up_records[SL_BK_SINK_FAILED]), NREC);
    ck_assert_uint_eq(atomic_load(&s->stats.retries[SL_RETRY_SINK]), 0);
    stop();
}
END_TEST

Suite *sl_delivery_suite(void)
{
    Suite *su = suite_create("delivery");
    TCase *tc = tcase_create("per_record");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_delivery_per_record_results_split_the_batch);
    tcase_add_test(tc, test_delivery_retry_duration_zero_sends_failures_to_backup);
    tcase_add_test(tc, test_delivery_transform_results_split_the_batch);
    tcase_add_test(tc, test_delivery_whole_batch_fail_backs_up_at_once);
    suite_add_tcase(su, tc);
    return su;
}
