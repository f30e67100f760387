/*
 * test_sink_es.c - the Elasticsearch sink's pure parts: index names per
 * rotation (Firehose's documented example, a day boundary), stable ids
 * (the same on a retry, for a part cut from the batch, and from the log's
 * sequence numbers after a replay; distinct across records), the _bulk
 * body byte for byte, the reading of _bulk answers, and the key checks.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "chunk.h"
#include "sink.h"
#include "sink_es.h"
#include "sluice/err.h"
#include "suites.h"

/* 2016-02-25T13:00:00Z, Firehose's example. */
#define T_EXAMPLE 1456405200000LL

START_TEST(test_sink_es_index_names_match_firehose_example)
{
    char out[SL_ES_INDEX_MAX];

    sl__sink_es_index_name("myindex", SL_ES_ROT_NONE, 0, T_EXAMPLE, out);
    ck_assert_str_eq(out, "myindex");
    sl__sink_es_index_name("myindex", SL_ES_ROT_HOUR, 0, T_EXAMPLE, out);
    ck_assert_str_eq(out, "myindex-2016-02-25-13");
    sl__sink_es_index_name("myindex", SL_ES_ROT_DAY, 0, T_EXAMPLE, out);
    ck_assert_str_eq(out, "myindex-2016-02-25");
    sl__sink_es_index_name("myindex", SL_ES_ROT_WEEK, SL_ES_WEEK_ISO, T_EXAMPLE, out);
    ck_assert_str_eq(out, "myindex-2016-w08");
    sl__sink_es_index_name("myindex", SL_ES_ROT_WEEK, SL_ES_WEEK_SUNDAY, T_EXAMPLE, out);
    ck_assert_str_eq(out, "myindex-2016-w08");
    sl__sink_es_index_name("myindex", SL_ES_ROT_MONTH, 0, T_EXAMPLE, out);
    ck_assert_str_eq(out, "myindex-2016-02");
}
END_TEST

/* The last millisecond of a day and the first of the next; the two week
 * rules part at a year's start (2016-01-01 is a Friday). */
START_TEST(test_sink_es_index_names_at_boundaries)
{
    char out[SL_ES_INDEX_MAX];
    int64_t midnight = 1456444800000LL;        /* 2016-02-26T00:00:00Z */

    sl__sink_es_index_name("i", SL_ES_ROT_DAY, 0, midnight - 1, out);
    ck_assert_str_eq(out, "i-2016-02-25");
    sl__sink_es_index_name("i", SL_ES_ROT_DAY, 0, midnight, out);
    ck_assert_str_eq(out, "i-2016-02-26");
    sl__sink_es_index_name("i", SL_ES_ROT_HOUR, 0, midnight - 1, out);
    ck_assert_str_eq(out, "i-2016-02-25-23");
    sl__sink_es_index_name("i", SL_ES_ROT_WEEK, SL_ES_WEEK_ISO, 1451606400000LL, out);
    ck_assert_str_eq(out, "i-2015-w53");
    sl__sink_es_index_name("i", SL_ES_ROT_WEEK, SL_ES_WEEK_SUNDAY, 1451606400000LL, out);
    ck_assert_str_eq(out, "i-2016-w00");
}
END_TEST

/* A batch of the records in <recs> (one chunk numbered <seq>). */
static struct sl_batch *batch_of(const char *const *recs, int n, uint64_t seq, uint8_t uuid)
{
    struct sl_chunk *c = sl_chunk_new(4096, T_EXAMPLE, 1);
    struct sl_batch *b = sl_batch_new();
    uint64_t bytes = 0;

    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < n; i++) {
        sl_chunk_add(c, recs[i], (uint32_t)strlen(recs[i]));
        bytes += strlen(recs[i]);
    }
    c->seq = seq;
    ck_assert_int_eq(sl_batch_add_span(b, c, 0, c->nrecords, bytes), SL_OK);
    sl_chunk_unref(c);
    memset(b->uuid, uuid, sizeof(b->uuid));
    return b;
}

static const char *const RECS[] = { "{\"a\":1}", "{\"a\":2}", "{\"a\":3}", "{\"a\":4}" };

START_TEST(test_sink_es_ids_stable_across_retries_and_parts_distinct_across_records)
{
    struct sl_batch *b = batch_of(RECS, 4, 0, 7);
    char ids[4][SL_ES_ID_LEN + 1], again[4][SL_ES_ID_LEN + 1], part[2][SL_ES_ID_LEN + 1];
    uint8_t marks[4] = { 0, 1, 0, 1 };

    ck_assert_int_eq(sl__sink_es_ids("clicks", b, ids), SL_OK);
    ck_assert_int_eq(sl__sink_es_ids("clicks", b, again), SL_OK);
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_eq(strlen(ids[i]), SL_ES_ID_LEN);
        ck_assert_uint_eq(strspn(ids[i], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                         "0123456789-_"), SL_ES_ID_LEN);
        ck_assert_str_eq(ids[i], again[i]);
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(ids[i], ids[j]);
    }
    /* records 1 and 3 retried alone keep their ids */
    struct sl_batch *p = sl_batch_pick(b, marks, 1);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(sl__sink_es_ids("clicks", p, part), SL_OK);
    ck_assert_str_eq(part[0], ids[1]);
    ck_assert_str_eq(part[1], ids[3]);
    /* another stream: other ids */
    ck_assert_int_eq(sl__sink_es_ids("views", b, again), SL_OK);
    ck_assert_str_ne(again[0], ids[0]);
    sl_batch_release(p, SL_OUTCOME_DELIVERED);
    sl_batch_release(b, SL_OUTCOME_DELIVERED);
}
END_TEST

/* durability = disk: a replay forms other batches (another uuid, records
 * cut elsewhere), but each record keeps its sequence number, so its id. */
START_TEST(test_sink_es_ids_from_sequence_numbers_survive_a_replay)
{
    struct sl_batch *b = batch_of(RECS, 4, 100, 1);
    struct sl_batch *replay = batch_of(RECS + 2, 2, 102, 9);
    char ids[4][SL_ES_ID_LEN + 1], r[2][SL_ES_ID_LEN + 1], mem[4][SL_ES_ID_LEN + 1];

    ck_assert_int_eq(sl__sink_es_ids("clicks", b, ids), SL_OK);
    ck_assert_int_eq(sl__sink_es_ids("clicks", replay, r), SL_OK);
    ck_assert_str_eq(r[0], ids[2]);
    ck_assert_str_eq(r[1], ids[3]);
    sl_batch_free(replay);
    sl_batch_free(b);
    b = batch_of(RECS, 4, 0, 1);                /* not logged: another identity */
    ck_assert_int_eq(sl__sink_es_ids("clicks", b, mem), SL_OK);
    ck_assert_str_ne(mem[2], ids[2]);
    sl_batch_free(b);
}
END_TEST

static struct sl_es_doc doc(const char *s, int64_t ms, const char *id)
{
    return (struct sl_es_doc){ .data = (const uint8_t *)s, .len = (uint32_t)strlen(s),
                               .arrival_ms = ms, .id = id };
}

START_TEST(test_sink_es_body_is_exact_create_with_ids_across_a_day)
{
    struct sl_es_layout l = { .index = "clicks", .rotation = SL_ES_ROT_DAY, .create = 1 };
    struct sl_es_doc d[2] = { doc("{\"a\":1}", 1456444800000LL - 1, "AAAA"),
                              doc("{\"b\":\"x\"}", 1456444800000LL, "BBBB") };
    struct sl_buf o;

    sl_buf_init(&o, 1 << 16);
    ck_assert_int_eq(sl__sink_es_body(&l, d, 2, &o), SL_OK);
    ck_assert_int_eq(sl_buf_append(&o, "", 1), SL_OK);
    ck_assert_str_eq((char *)o.data,
                     "{\"create\":{\"_index\":\"clicks-2016-02-25\",\"_id\":\"AAAA\"}}\n"
                     "{\"a\":1}\n"
                     "{\"create\":{\"_index\":\"clicks-2016-02-26\",\"_id\":\"BBBB\"}}\n"
                     "{\"b\":\"x\"}\n");
    sl_buf_destroy(&o);
}
END_TEST

START_TEST(test_sink_es_body_with_document_id_none_uses_index_and_no_id)
{
    struct sl_es_layout l = { .index = "logs", .rotation = SL_ES_ROT_NONE, .create = 0,
                              .type_name = "_doc" };
    struct sl_es_doc d[1] = { doc("{}", T_EXAMPLE, NULL) };
    struct sl_buf o;

    sl_buf_init(&o, 1 << 16);
    ck_assert_int_eq(sl__sink_es_body(&l, d, 1, &o), SL_OK);
    ck_assert_int_eq(sl_buf_append(&o, "", 1), SL_OK);
    ck_assert_str_eq((char *)o.data,
                     "{\"index\":{\"_index\":\"logs\",\"_type\":\"_doc\"}}\n{}\n");
    sl_buf_destroy(&o);
}
END_TEST

START_TEST(test_sink_es_answer_without_errors_is_all_created)
{
    uint8_t res[3] = { 9, 9, 9 }, kind[3] = { 9, 9, 9 };
    char why[256];
    const char *a = "{\"errors\":false}";     /* no items: errors false needs no walk */

    ck_assert_int_eq(sl__sink_es_items(a, strlen(a), 1, 3, res, kind, why, sizeof(why), NULL, NULL), SL_OK);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(res[i], SL_SINK_OK);
        ck_assert_int_eq(kind[i], SL_ES_CREATED);
    }
}
END_TEST

/* A filtered answer (SL_ES_FILTER_PATH's shape) with one item of each kind. */
START_TEST(test_sink_es_answer_mixed_items_classified_per_a4)
{
    const char *a =
        "{\"errors\":true,\"items\":["
        "{\"create\":{\"status\":201}},"
        "{\"create\":{\"status\":409,\"error\":{\"type\":\"version_conflict_engine_exception\","
        "\"reason\":\"[x]: version conflict, document already exists\"}}},"
        "{\"create\":{\"status\":429,\"error\":{\"type\":\"es_rejected_execution_exception\","
        "\"reason\":\"rejected\"}}},"
        "{\"create\":{\"status\":400,\"error\":{\"type\":\"mapper_parsing_exception\","
        "\"reason\":\"failed to parse field [a]\"}}},"
        "{\"create\":{\"status\":503,\"error\":{\"type\":\"unavailable_shards_exception\","
        "\"reason\":\"primary shard is not active\"}}},"
        "{\"create\":{\"status\":404,\"error\":{\"type\":\"index_not_found_exception\","
        "\"reason\":\"no such index\"}}}]}";
    uint8_t res[6], kind[6];
    const uint8_t want_res[6] = { SL_SINK_OK, SL_SINK_OK, SL_SINK_RETRY, SL_SINK_FAIL,
                                  SL_SINK_RETRY, SL_SINK_FAIL };
    const uint8_t want_kind[6] = { SL_ES_CREATED, SL_ES_EXISTS, SL_ES_RETRIED, SL_ES_FAILED,
                                   SL_ES_RETRIED, SL_ES_FAILED };
    char why[256];

    ck_assert_int_eq(sl__sink_es_items(a, strlen(a), 1, 6, res, kind, why, sizeof(why), NULL, NULL), SL_OK);
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(res[i], want_res[i]);
        ck_assert_int_eq(kind[i], want_kind[i]);
    }
    ck_assert_str_eq(why, "400 mapper_parsing_exception: failed to parse field [a]");
    /* the same 409 to an index action is a failure, not a document there */
    ck_assert_int_eq(sl__sink_es_items(a, strlen(a), 0, 6, res, kind, why, sizeof(why), NULL, NULL), SL_OK);
    ck_assert_int_eq(res[1], SL_SINK_FAIL);
}
END_TEST

START_TEST(test_sink_es_answer_not_lining_up_is_refused)
{
    uint8_t res[3], kind[3];
    char why[256];
    const char *few = "{\"errors\":true,\"items\":[{\"create\":{\"status\":201}}]}";
    const char *cut = "{\"errors\":true,\"items\":[";

    ck_assert_int_eq(sl__sink_es_items(few, strlen(few), 1, 3, res, kind, why, sizeof(why), NULL, NULL),
                     SL_EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "1 items for 3 documents"));
    ck_assert_int_eq(sl__sink_es_items(cut, strlen(cut), 1, 3, res, kind, why, sizeof(why), NULL, NULL),
                     SL_EINVAL);
    ck_assert_str_eq(SL_ES_FILTER_PATH,
                     "filter_path=errors,items.*.status,items.*.error.type,items.*.error.reason");
}
END_TEST

START_TEST(test_sink_es_index_names_checked)
{
    static const char *const bad[] = { "Clicks", "-x", "_x", "+x", ".", "..", "a b", "a,b",
                                       "a#b", "a*b", "a\\b", "a/b", "a?b", "a\"b", "a<b",
                                       "a|b", "", NULL };
    char why[200], long81[82];

    for (int i = 0; bad[i]; i++)
        ck_assert_msg(!sl__sink_es_index_ok(bad[i], why, sizeof(why)), "%s passed", bad[i]);
    memset(long81, 'a', 81);
    long81[81] = '\0';
    ck_assert(!sl__sink_es_index_ok(long81, why, sizeof(why)));
    ck_assert(sl__sink_es_index_ok(long81 + 1, why, sizeof(why)));
    ck_assert(sl__sink_es_index_ok("clicks.v2-x_y+z", why, sizeof(why)));
}
END_TEST

/* The sink's check() reports over the keys "k=v" given (NULL-ended). */
#define check_keys(...) ut_check_sink_keys("elasticsearch", __VA_ARGS__)

START_TEST(test_sink_es_key_checks_say_what_is_wrong)
{
    const char *ep = "es.endpoint=http://127.0.0.1:9200", *ix = "es.index=clicks";

    ck_assert_str_eq(check_keys(ep, ix, NULL), "");
    ck_assert_str_eq(check_keys(ix, NULL), "es.endpoint: required when sink = elasticsearch\n");
    ck_assert_ptr_nonnull(strstr(check_keys(ep, "es.index=Clicks", NULL),
                                 "es.index: 'Clicks' is not an index name: it must be lowercase"));
    ck_assert_ptr_nonnull(strstr(check_keys("es.endpoint=http://a:1, ftp://b", ix, NULL),
                                 "es.endpoint: 'ftp://b' must be http://HOST[:PORT]"));
    ck_assert_str_eq(check_keys("es.endpoint=http://a:1,https://b:2/", ix, NULL), "");
    ck_assert_str_eq(check_keys(ep, ix, "es.auth=basic", "es.password_file=/p", NULL),
                     "es.username: required when es.auth = basic\n");
    ck_assert_str_eq(check_keys(ep, ix, "es.auth=basic", NULL),
                     "es.username: required when es.auth = basic\n"
                     "es.password_file: required when es.auth = basic\n");
    ck_assert_str_eq(check_keys(ep, ix, "es.username=u", NULL),
                     "es.username: set, but es.auth is not basic\n");
    ck_assert_str_eq(check_keys(ep, ix, "es.auth=sigv4", NULL),
                     "es.region: required when es.auth = sigv4\n");
    ck_assert_ptr_nonnull(strstr(check_keys(ep, ix, "es.flavor=opensearch",
                                            "es.type_name=_doc", NULL), "es.type_name: set"));
}
END_TEST

START_TEST(test_sink_es_dest_counts_connections_per_endpoint)
{
    const struct sl_sink_ops *es = sl_sink_find("elasticsearch");
    struct sl_sink_dest d = { 0 };
    void *conf = calloc(1, es->conf_size);
    char why[100];

    ck_assert_ptr_nonnull(conf);
    sl_conf_key_defaults(es->keys, conf);
    sl_conf_key_set(&es->keys[sl_conf_key_index(es->keys, "es.endpoint")], conf,
                    "http://a:1,http://b:2", why, sizeof(why));
    sl_conf_key_set(&es->keys[sl_conf_key_index(es->keys, "es.max_connections")], conf, "3",
                    why, sizeof(why));
    es->dest(conf, &d);
    ck_assert_uint_eq(d.connections, 6);
    free(conf);
}
END_TEST

Suite *sl_sink_es_suite(void)
{
    Suite *s = suite_create("sink_es");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_sink_es_index_names_match_firehose_example);
    tcase_add_test(tc, test_sink_es_index_names_at_boundaries);
    tcase_add_test(tc, test_sink_es_ids_stable_across_retries_and_parts_distinct_across_records);
    tcase_add_test(tc, test_sink_es_ids_from_sequence_numbers_survive_a_replay);
    tcase_add_test(tc, test_sink_es_body_is_exact_create_with_ids_across_a_day);
    tcase_add_test(tc, test_sink_es_body_with_document_id_none_uses_index_and_no_id);
    tcase_add_test(tc, test_sink_es_answer_without_errors_is_all_created);
    tcase_add_test(tc, test_sink_es_answer_mixed_items_classified_per_a4);
    tcase_add_test(tc, test_sink_es_answer_not_lining_up_is_refused);
    tcase_add_test(tc, test_sink_es_index_names_checked);
    tcase_add_test(tc, test_sink_es_key_checks_say_what_is_wrong);
    tcase_add_test(tc, test_sink_es_dest_counts_connections_per_endpoint);
    suite_add_tcase(s, tc);
    return s;
}
