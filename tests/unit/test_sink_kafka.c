/*
 * test_sink_kafka.c - the Kafka sink: its key checks (brokers and topic
 * required, the key expression's syntax, librdkafka's verdict on each
 * kafka_sink.option.*, properties sluice sets itself refused), what each
 * librdkafka error code means (OK / RETRY / FAIL, and the retry cause),
 * and, against a mock cluster made in the test (rdkafka_mock.h), a
 * deliver() whose records all come back OK, one too large answered FAIL
 * alone with its error's name as its note, and a fatal producer error
 * that restarts the producer and is counted.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "batch.h"
#include "chunk.h"
#include "metrics.h"
#include "sink.h"
#include "sink_kafka.h"
#include "sluice/err.h"
#include "suites.h"

/* ---- key checks ---- */

/* check()'s reports over the keys given, one "KEY: MESSAGE" a line. */
#define check_keys(...) ut_check_sink_keys("kafka", __VA_ARGS__)

/* Not under ThreadSanitizer: librdkafka starts its threads with C11
 * thrd_create, which GCC 12's TSan does not intercept, and crashes there
 * before any sluice code runs (docs/source-kafka.md). */
#ifndef __SANITIZE_THREAD__
/* The kafka sink's parsed keys from "k=v" strings (NULL-ended). Returns
 * new: free(). */
static void *conf_of(const char *first, va_list ap)
{
    const struct sl_sink_ops *o = sl_sink_find("kafka");
    char why[200], kv[1100];

    ck_assert_ptr_nonnull(o);
    void *conf = calloc(1, o->conf_size);
    ck_assert_ptr_nonnull(conf);
    sl_conf_key_defaults(o->keys, conf);
    for (const char *s = first; s; s = va_arg(ap, const char *)) {
        snprintf(kv, sizeof(kv), "%s", s);
        char *eq = strchr(kv, '=');
        ck_assert_ptr_nonnull(eq);
        *eq = '\0';
        int i = sl_conf_key_index(o->keys, kv);
        ck_assert_msg(i >= 0, "%s is no key", kv);
        ck_assert_int_eq(sl_conf_key_set_named(&o->keys[i], conf, kv, eq + 1, why,
                                               sizeof(why)), SL_OK);
    }
    return conf;
}

static void *conf_make(const char *first, ...)
{
    va_list ap;

    va_start(ap, first);
    void *c = conf_of(first, ap);
    va_end(ap);
    return c;
}

#endif

#define BR "kafka_sink.brokers=127.0.0.1:9092"
#define TP "kafka_sink.topic=clicks"

START_TEST(test_sink_kafka_key_checks_say_what_is_wrong)
{
    ck_assert_str_eq(check_keys(BR, TP, NULL), "");
    ck_assert_str_eq(check_keys(TP, NULL), "kafka_sink.brokers: required when sink = kafka\n");
    ck_assert_str_eq(check_keys(BR, NULL), "kafka_sink.topic: required when sink = kafka\n");
    ck_assert_ptr_nonnull(strstr(check_keys(BR, "kafka_sink.topic=a/b", NULL),
                                 "kafka_sink.topic: 'a/b' is not a topic name"));
    ck_assert_str_eq(check_keys(BR, TP, "kafka_sink.option.acks=all",
                                "kafka_sink.option.linger.ms=20",
                                "kafka_sink.option.compression.codec=zstd", NULL), "");
    ck_assert_ptr_nonnull(strstr(check_keys(BR, TP, "kafka_sink.option.no.such=1", NULL),
                                 "kafka_sink.option.no.such: "));
    ck_assert_ptr_nonnull(strstr(check_keys(BR, TP, "kafka_sink.option.linger.ms=soon", NULL),
                                 "kafka_sink.option.linger.ms: "));
    ck_assert_ptr_nonnull(strstr(check_keys(BR, TP, "kafka_sink.option.acks=most", NULL),
                                 "kafka_sink.option.acks: "));
    ck_assert_ptr_nonnull(strstr(check_keys(BR, TP, "kafka_sink.option.bootstrap.servers=x:1",
                                            NULL),
                                 "kafka_sink.option.bootstrap.servers: set kafka_sink.brokers"));
    ck_assert_ptr_nonnull(strstr(check_keys(BR, TP, "kafka_sink.option.transactional.id=x",
                                            NULL),
                                 "kafka_sink.option.transactional.id: transactions are not"));
    ck_assert_str_eq(check_keys(BR, TP, "kafka_sink.key=!{partitionKeyFromQuery:user}", NULL),
                     "");
    ck_assert_str_eq(check_keys(BR, TP, "kafka_sink.key=!{partitionKeyFromLambda:a-b_1}",
                                NULL), "");
    ck_assert_ptr_nonnull(strstr(check_keys(BR, TP, "kafka_sink.key=user", NULL),
                                 "kafka_sink.key: 'user' is not a key expression"));
}
END_TEST

START_TEST(test_sink_kafka_key_expressions_parsed_strictly)
{
    static const struct { const char *text; int ok, lambda; const char *name; } t[] = {
        { "", 1, 0, "" },
        { "!{partitionKeyFromQuery:user}", 1, 0, "user" },
        { "!{partitionKeyFromLambda:tenant_id}", 1, 1, "tenant_id" },
        { "!{partitionKeyFromQuery:}", 0, 0, "" },
        { "!{partitionKeyFromQuery:user", 0, 0, "" },
        { "!{partitionKeyFromQuery:a.b}", 0, 0, "" },
        { "x!{partitionKeyFromQuery:user}", 0, 0, "" },
        { "!{partitionKeyFromQuery:user}x", 0, 0, "" },
        { "!{timestamp:yyyy}", 0, 0, "" },
        { "!{partitionKeyFromQuery:a}!{partitionKeyFromQuery:b}", 0, 0, "" },
    };
    char name[64], why[300];
    int lambda;

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        ck_assert_msg(sl__sink_kafka_key_parse(t[i].text, name, &lambda, why, sizeof(why)) ==
                      t[i].ok, "%s", t[i].text);
        ck_assert_str_eq(name, t[i].name);
        ck_assert_int_eq(lambda, t[i].lambda);
    }
}
END_TEST

/* ---- what each error means ---- */

static const struct { int err, res, cause; } classes[] = {
    { RD_KAFKA_RESP_ERR_NO_ERROR, SL_SINK_OK, -1 },
    { RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, SL_SINK_FAIL, -1 },
    { RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE, SL_SINK_FAIL, -1 },
    { RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, SL_SINK_FAIL, -1 },
    { RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, SL_SINK_FAIL, -1 },
    { RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, SL_SINK_FAIL, -1 },
    { RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, SL_SINK_FAIL, -1 },
    { RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION, SL_SINK_FAIL, -1 },
    { RD_KAFKA_RESP_ERR_INVALID_RECORD, SL_SINK_FAIL, -1 },
    { RD_KAFKA_RESP_ERR_POLICY_VIOLATION, SL_SINK_FAIL, -1 },
    { RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, SL_SINK_RETRY, SL_RETRY_TIMEOUT },
    { RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, SL_SINK_RETRY, SL_RETRY_TIMEOUT },
    { RD_KAFKA_RESP_ERR__TIMED_OUT, SL_SINK_RETRY, SL_RETRY_TIMEOUT },
    { RD_KAFKA_RESP_ERR__TRANSPORT, SL_SINK_RETRY, SL_RETRY_CONNECTION },
    { RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, SL_SINK_RETRY, SL_RETRY_CONNECTION },
    { RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION, SL_SINK_RETRY, SL_RETRY_CONNECTION },
    { RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, SL_SINK_RETRY, SL_RETRY_SERVER },
    { RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, SL_SINK_RETRY, SL_RETRY_SERVER },
    { RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, SL_SINK_RETRY, SL_RETRY_SERVER },
    { RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, SL_SINK_RETRY, SL_RETRY_SERVER },
    { RD_KAFKA_RESP_ERR__QUEUE_FULL, SL_SINK_RETRY, SL_RETRY_THROTTLED },
    { RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED, SL_SINK_RETRY, SL_RETRY_THROTTLED },
    { RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, SL_SINK_RETRY, SL_RETRY_FORBIDDEN },
    { RD_KAFKA_RESP_ERR__PURGE_QUEUE, SL_SINK_RETRY, SL_RETRY_SINK },
    { RD_KAFKA_RESP_ERR__PURGE_INFLIGHT, SL_SINK_RETRY, SL_RETRY_SINK },
    { RD_KAFKA_RESP_ERR__FATAL, SL_SINK_RETRY, SL_RETRY_SINK },
    { RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, SL_SINK_RETRY, SL_RETRY_SINK },
    { 12345, SL_SINK_RETRY, SL_RETRY_SINK },            /* a code not known yet */
};

START_TEST(test_sink_kafka_errors_classified)
{
    ck_assert_msg(sl__sink_kafka_classify(classes[_i].err) == classes[_i].res, "%s",
                  rd_kafka_err2name(classes[_i].err));
    if (classes[_i].cause >= 0)
        ck_assert_msg(sl__sink_kafka_cause(classes[_i].err) == classes[_i].cause, "%s",
                      rd_kafka_err2name(classes[_i].err));
}
END_TEST

/* ---- deliver() against a mock cluster (not under TSan: above) ---- */

#ifndef __SANITIZE_THREAD__

struct mock {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
};

static void mock_start(struct mock *m)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    ck_assert_ptr_nonnull(m->rk);
    m->mc = rd_kafka_mock_cluster_new(m->rk, 1);
    ck_assert_ptr_nonnull(m->mc);
    ck_assert_int_eq(rd_kafka_mock_topic_create(m->mc, "t", 2, 1), 0);
}

static void mock_stop(struct mock *m)
{
    rd_kafka_mock_cluster_destroy(m->mc);
    rd_kafka_destroy(m->rk);
}

/* A batch of <n> records "record I\n", record <big> (if < n) of 3000 bytes. */
static struct sl_batch *records(int n, int big)
{
    struct sl_chunk *c = sl_chunk_new(64 << 10, 0, 1);
    struct sl_batch *b = sl_batch_new();
    char rec[3100];
    uint64_t bytes = 0;

    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < n; i++) {
        int len = snprintf(rec, sizeof(rec), "record %d\n", i);
        if (i == big) {
            memset(rec, 'x', 3000);
            rec[2999] = '\n';
            len = 3000;
        }
        sl_chunk_add(c, rec, (uint32_t)len);
        bytes += (uint64_t)len;
    }
    ck_assert_int_eq(sl_batch_add_span(b, c, 0, c->nrecords, bytes), SL_OK);
    sl_chunk_unref(c);
    return b;
}

/* One deliver() of <b>; the answers in <res> (n slots). */
static int deliver(void *ctx, struct sl_batch *b, struct sl_sink_stats *st, uint8_t *res,
                   struct sl_sink_outcome *out)
{
    const struct sl_sink_ops *o = sl_sink_find("kafka");
    struct sl_sink_batch v = { .stream = "u", .batch = b, .stats = st };

    memset(out, 0, sizeof(*out));
    memset(res, 0xff, b->nrecords);
    out->record_results = res;
    o->deliver(ctx, &v, out);
    sl_batch_notes_free(out->record_notes);
    out->record_notes = NULL;
    return out->result;
}

START_TEST(test_sink_kafka_delivers_and_refuses_a_too_large_record_alone)
{
    const struct sl_sink_ops *o = sl_sink_find("kafka");
    static struct sl_sink_stats st;
    struct sl_sink_outcome out;
    struct mock m;
    char brokers[600], err[256];
    uint8_t res[20];
    void *ctx = NULL;

    memset(&st, 0, sizeof(st));
    mock_start(&m);
    snprintf(brokers, sizeof(brokers), "kafka_sink.brokers=%s",
             rd_kafka_mock_cluster_bootstraps(m.mc));
    void *conf = conf_make(brokers, "kafka_sink.topic=t",
                           "kafka_sink.option.message.max.bytes=2000",
                           "kafka_sink.option.batch.size=2000", NULL);
    ck_assert_int_eq(o->create("u", conf, &ctx, err, sizeof(err)), SL_OK);
    struct sl_batch *b = records(20, -1);
    ck_assert_int_eq(deliver(ctx, b, &st, res, &out), SL_SINK_OK);
    ck_assert_uint_eq(st.own[0], 20);
    sl_batch_free(b);
    b = records(20, 7);
    ck_assert_int_eq(deliver(ctx, b, &st, res, &out), SL_SINK_FAIL);
    ck_assert_int_eq(out.per_record, 1);
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(res[i], i == 7 ? SL_SINK_FAIL : SL_SINK_OK);
    ck_assert_ptr_nonnull(strstr(out.error, "MSG_SIZE_TOO_LARGE"));
    ck_assert_uint_eq(st.own[0], 39);
    ck_assert_uint_eq(st.own[2], 1);
    sl_batch_free(b);
    o->destroy(ctx);
    free(conf);
    mock_stop(&m);
}
END_TEST

START_TEST(test_sink_kafka_fatal_error_restarts_the_producer_and_counts_it)
{
    const struct sl_sink_ops *o = sl_sink_find("kafka");
    static struct sl_sink_stats st;
    struct sl_sink_outcome out;
    struct mock m;
    char brokers[600], err[256];
    uint8_t res[10];
    void *ctx = NULL;

    memset(&st, 0, sizeof(st));
    mock_start(&m);
    snprintf(brokers, sizeof(brokers), "kafka_sink.brokers=%s",
             rd_kafka_mock_cluster_bootstraps(m.mc));
    void *conf = conf_make(brokers, "kafka_sink.topic=t", NULL);
    ck_assert_int_eq(o->create("u", conf, &ctx, err, sizeof(err)), SL_OK);
    struct sl_batch *b = records(10, -1);
    ck_assert_int_eq(deliver(ctx, b, &st, res, &out), SL_SINK_OK);
    sl__sink_kafka_test_fatal(ctx);
    /* until the new producer delivers: a RETRY or two meanwhile is right */
    int rc = SL_SINK_RETRY;
    time_t end = time(NULL) + 20;
    while (time(NULL) < end && (rc != SL_SINK_OK || st.own[3] == 0))
        rc = deliver(ctx, b, &st, res, &out);
    ck_assert_int_eq(rc, SL_SINK_OK);
    ck_assert_uint_eq(st.own[3], 1);
    ck_assert_uint_eq(st.own[2], 0);
    sl_batch_free(b);
    o->destroy(ctx);
    free(conf);
    mock_stop(&m);
}
END_TEST
#endif

Suite *sl_sink_kafka_suite(void)
{
    Suite *s = suite_create("sink_kafka");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sink_kafka_key_checks_say_what_is_wrong);
    tcase_add_test(tc, test_sink_kafka_key_expressions_parsed_strictly);
    tcase_add_loop_test(tc, test_sink_kafka_errors_classified, 0,
                        (int)(sizeof(classes) / sizeof(classes[0])));
#ifndef __SANITIZE_THREAD__
    tcase_add_test(tc, test_sink_kafka_delivers_and_refuses_a_too_large_record_alone);
    tcase_add_test(tc, test_sink_kafka_fatal_error_restarts_the_producer_and_counts_it);
#endif
    suite_add_tcase(s, tc);
    return s;
}
