/*
 * test_source_kafka.c - the Kafka source without a broker: the
 * per-partition commit tracker (only the settled prefix commits, whatever
 * order batches settle in, records split over batches, revoked partitions
 * commit nothing), and the checks of its keys.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source.h"
#include "source_kafka.h"
#include "sluice/err.h"
#include "suites.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

static struct sl_kafka_span *span(struct sl_kafka_part *p, int64_t first, int64_t last,
                                  uint32_t n)
{
    int oom = 1;
    struct sl_kafka_span *s = sl__source_kafka_span_add(p, first, last, n, &oom);

    ck_assert_int_eq(oom, 0);
    return s;
}

static int64_t committable(struct sl_kafka_part *p)
{
    int64_t off;

    pthread_mutex_lock(&lock);
    off = sl__source_kafka_committable(p);
    pthread_mutex_unlock(&lock);
    return off;
}

START_TEST(test_source_kafka_commits_only_the_settled_prefix)
{
    struct sl_kafka_part *p = sl__source_kafka_part_new(&lock, &cond, "clicks", 3);
    struct sl_kafka_span *a, *b, *c;

    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(committable(p), -1);
    a = span(p, 100, 109, 10);
    b = span(p, 110, 119, 10);
    c = span(p, 120, 129, 10);
    ck_assert_uint_eq(sl__source_kafka_inflight(p), 3);
    sl__source_kafka_settled(c, NULL, 0, 10);            /* the last first: nothing yet */
    ck_assert_int_eq(committable(p), -1);
    sl__source_kafka_settled(a, NULL, 0, 4);          /* part of the first */
    ck_assert_int_eq(committable(p), -1);
    sl__source_kafka_settled(a, NULL, 4, 6);          /* the first: up to b */
    ck_assert_int_eq(committable(p), 110);
    ck_assert_uint_eq(sl__source_kafka_inflight(p), 1);
    sl__source_kafka_settled(b, NULL, 0, 10);         /* b, and c already done */
    ck_assert_int_eq(committable(p), 130);
    ck_assert_uint_eq(sl__source_kafka_inflight(p), 0);
    ck_assert_ptr_null(p->head);
    ck_assert_int_eq(p->next, 130);
    sl__source_kafka_part_free(p);
}
END_TEST

/* A chunk's records split over several batches settle a few at a time;
 * the chunk is done when its counts reach its records. */
START_TEST(test_source_kafka_a_split_chunk_is_done_when_all_its_parts_settle)
{
    struct sl_kafka_part *p = sl__source_kafka_part_new(&lock, &cond, "t", 0);
    struct sl_kafka_span *a = span(p, 0, 99, 100);

    sl__source_kafka_settled(a, NULL, 60, 40);
    sl__source_kafka_settled(a, NULL, 30, 30);
    ck_assert_int_eq(committable(p), -1);
    sl__source_kafka_settled(a, NULL, 0, 30);
    ck_assert_int_eq(committable(p), 100);
    sl__source_kafka_part_free(p);
}
END_TEST

/* Records of a chunk settled from its start move the commit to its first
 * unsettled record (where the next batch begins), by the chunk's offsets;
 * a run settled ahead of an earlier one does not move it. */
START_TEST(test_source_kafka_a_settled_front_of_a_chunk_commits_up_to_the_next_batch)
{
    struct sl_kafka_part *p = sl__source_kafka_part_new(&lock, &cond, "t", 0);
    struct sl_chunk *c = sl_chunk_new(256, 0, 0);
    struct sl_kafka_span *a;

    ck_assert_ptr_nonnull(c);
    c->origin = sl_chunk_origin_new("t/0", 10, 0);
    ck_assert_ptr_nonnull(c->origin);
    for (int i = 0; i < 10; i++) {
        c->origin->pos[i] = 100 + 2 * i;              /* 100, 102, ... 118 */
        sl_chunk_add(c, "x", 1);
    }
    a = span(p, 100, 119, 10);
    sl__source_kafka_settled(a, c, 4, 3);             /* a later batch first */
    ck_assert_int_eq(committable(p), -1);
    sl__source_kafka_settled(a, c, 0, 4);             /* the front: up to record 4 */
    ck_assert_int_eq(committable(p), 108);
    ck_assert_uint_eq(sl__source_kafka_inflight(p), 1);
    sl__source_kafka_settled(a, c, 7, 3);             /* the rest: past its last */
    ck_assert_int_eq(committable(p), 120);
    ck_assert_ptr_null(p->head);
    sl_chunk_unref(c);
    sl__source_kafka_part_free(p);
}
END_TEST

/* Offsets need not be contiguous (compaction, transaction markers, records
 * refused as too large): a span covers its first to last offset, and a
 * span of refused records only is done as soon as it is first. */
START_TEST(test_source_kafka_refused_records_do_not_hold_the_commit_back)
{
    struct sl_kafka_part *p = sl__source_kafka_part_new(&lock, &cond, "t", 1);
    struct sl_kafka_span *a;

    ck_assert_ptr_null(span(p, 0, 4, 0));             /* all five refused */
    ck_assert_int_eq(committable(p), 5);
    a = span(p, 7, 20, 3);                            /* 5, 6 compacted away */
    ck_assert_ptr_null(span(p, 21, 21, 0));           /* refused, after a */
    ck_assert_int_eq(committable(p), 5);
    sl__source_kafka_settled(a, NULL, 0, 3);
    ck_assert_int_eq(committable(p), 22);
    sl__source_kafka_part_free(p);
}
END_TEST

/* A revoked partition commits nothing more; its chunks still settle (the
 * spans leave), so the tracker can be freed once idle. */
START_TEST(test_source_kafka_a_revoked_partition_does_not_commit)
{
    struct sl_kafka_part *p = sl__source_kafka_part_new(&lock, &cond, "t", 2);
    struct sl_kafka_span *a = span(p, 0, 9, 10), *b = span(p, 10, 19, 10);

    sl__source_kafka_settled(a, NULL, 0, 10);
    ck_assert_int_eq(committable(p), 10);
    pthread_mutex_lock(&lock);
    p->revoked = 1;
    pthread_mutex_unlock(&lock);
    ck_assert_int_eq(committable(p), -1);
    sl__source_kafka_settled(b, NULL, 0, 10);
    ck_assert_int_eq(committable(p), -1);
    ck_assert_ptr_null(p->head);                      /* idle: may be freed */
    sl__source_kafka_part_free(p);
}
END_TEST

/* Spans never settled (a shutdown abandoned them) are freed with the part. */
START_TEST(test_source_kafka_unsettled_spans_are_freed_with_their_part)
{
    struct sl_kafka_part *p = sl__source_kafka_part_new(&lock, &cond, "t", 0);

    span(p, 0, 0, 1);
    span(p, 1, 5, 5);
    ck_assert_uint_eq(sl__source_kafka_inflight(p), 2);
    sl__source_kafka_part_free(p);                    /* ASan: nothing leaks */
}
END_TEST

/* Many workers settling one partition's chunks at once. */
struct settler {
    struct sl_kafka_span **s;
    size_t n, from, step;
};

static void *settle_some(void *arg)
{
    struct settler *t = arg;

    for (size_t i = t->from; i < t->n; i += t->step) {
        sl__source_kafka_settled(t->s[i], NULL, 1, 1);
        sl__source_kafka_settled(t->s[i], NULL, 0, 1);
    }
    return NULL;
}

START_TEST(test_source_kafka_concurrent_settles_end_at_the_last_offset)
{
    enum { N = 2000, T = 4 };
    struct sl_kafka_part *p = sl__source_kafka_part_new(&lock, &cond, "t", 0);
    struct sl_kafka_span **s = calloc(N, sizeof(*s));
    pthread_t th[T];
    struct settler st[T];

    for (size_t i = 0; i < N; i++)
        s[i] = span(p, (int64_t)i * 2, (int64_t)i * 2 + 1, 2);
    for (size_t k = 0; k < T; k++) {
        st[k] = (struct settler){ s, N, k, T };
        ck_assert_int_eq(pthread_create(&th[k], NULL, settle_some, &st[k]), 0);
    }
    for (size_t k = 0; k < T; k++)
        pthread_join(th[k], NULL);
    ck_assert_int_eq(committable(p), 2 * N);
    ck_assert_ptr_null(p->head);
    free(s);
    sl__source_kafka_part_free(p);
}
END_TEST

/* --- The keys --- */

/* The reports of the Kafka source's check over its defaults and the keys
 * "KEY=VALUE" given (NULL-ended), one "KEY: MESSAGE\n" each; "" if none. */
#define check_keys(...) ut_check_source_keys("kafka", __VA_ARGS__)

#define B "kafka.brokers=127.0.0.1:9092"
#define T "kafka.topics=clicks, views"

START_TEST(test_source_kafka_keys_are_checked_at_load)
{
    ck_assert_str_eq(check_keys(NULL), "");                              /* no source */
    ck_assert_str_eq(check_keys(B, T, NULL), "");
    ck_assert_str_eq(check_keys(B, T, "kafka.group_id=g", "kafka.start=latest",
                                "kafka.option.security.protocol=plaintext",
                                "kafka.option.session.timeout.ms=6000",
                                "kafka.drain_timeout=5s", NULL), "");
    ck_assert_str_eq(check_keys(B, NULL), "kafka.topics: needed with kafka.brokers\n");
    ck_assert_str_eq(check_keys(T, NULL), "kafka.brokers: needed by the other kafka.* keys\n");
    ck_assert_str_eq(check_keys(B, "kafka.topics=a,,b", NULL),
                     "kafka.topics: an empty topic name in \"a,,b\"\n");
    ck_assert_ptr_nonnull(strstr(check_keys(B, T, "kafka.option.no.such.property=1", NULL),
                                 "kafka.option.no.such.property: "));
    ck_assert_ptr_nonnull(strstr(check_keys(B, T, "kafka.option.session.timeout.ms=abc", NULL),
                                 "kafka.option.session.timeout.ms: "));
    ck_assert_ptr_nonnull(strstr(check_keys(B, T, "kafka.option.enable.auto.commit=true", NULL),
                                 "kafka.option.enable.auto.commit: set by sluice"));
    ck_assert_ptr_nonnull(strstr(check_keys(B, T, "kafka.option.group.id=x", NULL),
                                 "use kafka.group_id"));
    /* drain_timeout below the session timeout: the default's (45 s) or the option's */
    ck_assert_str_eq(check_keys(B, T, "kafka.drain_timeout=44s", NULL), "");
    ck_assert_ptr_nonnull(strstr(check_keys(B, T, "kafka.drain_timeout=45s", NULL),
                                 "kafka.drain_timeout: must be below session.timeout.ms"));
    ck_assert_ptr_nonnull(strstr(check_keys(B, T, "kafka.drain_timeout=6s",
                                            "kafka.option.session.timeout.ms=6000", NULL),
                                 "kafka.drain_timeout: must be below"));
}
END_TEST

/* Every key a reload cannot change: the consumer is made once. */
START_TEST(test_source_kafka_keys_need_a_restart)
{
    const struct sl_source_ops *o = sl_source_find("kafka");

    ck_assert_str_eq(o->prefix, "kafka.");
    for (const struct sl_conf_key *k = o->stream_keys; k->name; k++) {
        ck_assert_msg(strncmp(k->name, "kafka.", 6) == 0, "%s", k->name);
        ck_assert_int_ge(sl_conf_key_index(o->stream_restart, k->name), 0);
    }
    ck_assert_int_ge(sl_conf_key_index(o->stream_keys, "kafka.option.ssl.ca.location"), 0);
}
END_TEST

Suite *sl_source_kafka_suite(void)
{
    Suite *s = suite_create("source_kafka");
    TCase *tc = tcase_create("tracker");

    tcase_add_test(tc, test_source_kafka_commits_only_the_settled_prefix);
    tcase_add_test(tc, test_source_kafka_a_split_chunk_is_done_when_all_its_parts_settle);
    tcase_add_test(tc, test_source_kafka_a_settled_front_of_a_chunk_commits_up_to_the_next_batch);
    tcase_add_test(tc, test_source_kafka_refused_records_do_not_hold_the_commit_back);
    tcase_add_test(tc, test_source_kafka_a_revoked_partition_does_not_commit);
    tcase_add_test(tc, test_source_kafka_unsettled_spans_are_freed_with_their_part);
    tcase_add_test(tc, test_source_kafka_concurrent_settles_end_at_the_last_offset);
    suite_add_tcase(s, tc);
    tc = tcase_create("keys");
    tcase_add_test(tc, test_source_kafka_keys_are_checked_at_load);
    tcase_add_test(tc, test_source_kafka_keys_need_a_restart);
    suite_add_tcase(s, tc);
    return s;
}
