/* test_partition.c - dynamic partitioning: partition_keys parsing, and a
 * batch split by key values with the records that have none set apart. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "chunk.h"
#include "partition.h"
#include "sluice/err.h"
#include "suites.h"

static struct sl_batch *batch_of(const char *const *recs, size_t n)
{
    uint32_t need = 0;
    for (size_t i = 0; i < n; i++)
        need += SL_CHUNK_HDR + (uint32_t)strlen(recs[i]);
    struct sl_chunk *c = sl_chunk_new(need, 1000, 1000);
    struct sl_batch *b = sl_batch_new();
    uint64_t bytes = 0;

    for (size_t i = 0; i < n; i++) {
        sl_chunk_add(c, recs[i], (uint32_t)strlen(recs[i]));
        bytes += strlen(recs[i]);
    }
    sl_batch_add_span(b, c, 0, c->nrecords, bytes);
    sl_chunk_unref(c);
    return b;
}

/* The records of <b> joined with '|'. */
static void records_of(const struct sl_batch *b, char *out, size_t cap)
{
    struct sl_batch_iter it;
    struct sl_record r;
    size_t len = 0;

    out[0] = '\0';
    sl_batch_iter_init(&it, b);
    while (sl_batch_next(&it, &r)) {
        snprintf(out + len, cap - len, "%s%.*s", len ? "|" : "", (int)r.len, r.data);
        len = strlen(out);
    }
}

START_TEST(test_partition_splits_by_key_values)
{
    static const char *const recs[] = {
        "{\"c\":\"acme\",\"geo\":{\"r\":\"eu\"},\"n\":1}",
        "{\"c\":\"zeta\",\"geo\":{\"r\":\"eu\"},\"n\":2}",
        "not json",
        "{\"c\":\"acme\",\"geo\":{\"r\":\"eu\"},\"n\":3}",
        "{\"c\":\"acme\",\"geo\":{}}",
        "{\"c\":7,\"geo\":{\"r\":true}}",
    };
    struct sl_partition_spec spec;
    struct sl_partitioned p;
    char why[200], got[512];
    struct sl_batch *b = batch_of(recs, 6);

    ck_assert_int_eq(sl_partition_parse("customer=.c, region = .geo.r", &spec, why,
                                        sizeof(why)), SL_OK);
    ck_assert_uint_eq(spec.n, 2);
    ck_assert_int_eq(sl_partition_batch(&spec, 100, b, &p), SL_OK);
    ck_assert_uint_eq(p.nparts, 3);
    records_of(p.parts[0], got, sizeof(got));
    ck_assert_str_eq(got, "{\"c\":\"acme\",\"geo\":{\"r\":\"eu\"},\"n\":1}|"
                          "{\"c\":\"acme\",\"geo\":{\"r\":\"eu\"},\"n\":3}");
    ck_assert_str_eq(sl_partition_value(&spec, p.parts[0], 0, "customer", 8), "acme");
    ck_assert_str_eq(sl_partition_value(&spec, p.parts[0], 0, "region", 6), "eu");
    ck_assert_str_eq(sl_partition_value(&spec, p.parts[1], 0, "customer", 8), "zeta");
    ck_assert_str_eq(sl_partition_value(&spec, p.parts[2], 0, "customer", 8), "7");
    ck_assert_str_eq(sl_partition_value(&spec, p.parts[2], 0, "region", 6), "true");
    ck_assert_ptr_null(sl_partition_value(&spec, p.parts[2], 0, "other", 5));
    /* a part picked from a partition (a sink's per-record retry) keeps its values */
    uint8_t first_only[2] = { 1, 0 };
    struct sl_batch *again = sl_batch_pick(p.parts[0], first_only, 1);
    ck_assert_int_eq(again->partitioned, 1);
    ck_assert_uint_eq(again->nrecords, 1);
    ck_assert_str_eq(sl_partition_value(&spec, again, 0, "region", 6), "eu");
    sl_batch_release(again, SL_OUTCOME_DELIVERED);
    ck_assert_ptr_nonnull(p.failed);
    records_of(p.failed, got, sizeof(got));
    ck_assert_str_eq(got, "not json|{\"c\":\"acme\",\"geo\":{}}");
    ck_assert_ptr_nonnull(strstr(p.failed_why, "not a JSON object"));
    ck_assert_ptr_null(p.over);
    for (size_t i = 0; i < p.nparts; i++)
        sl_batch_release(p.parts[i], SL_OUTCOME_DELIVERED);
    sl_batch_release(p.failed, SL_OUTCOME_BACKED_UP);
    free(p.parts);
    sl_batch_release(b, SL_OUTCOME_DELIVERED);
}
END_TEST

START_TEST(test_partition_bounds_key_sets)
{
    static const char *const recs[] = { "{\"k\":1}", "{\"k\":2}", "{\"k\":3}", "{\"k\":1}" };
    struct sl_partition_spec spec;
    struct sl_partitioned p;
    char why[200], got[128];
    struct sl_batch *b = batch_of(recs, 4);

    ck_assert_int_eq(sl_partition_parse("k=.k", &spec, why, sizeof(why)), SL_OK);
    ck_assert_int_eq(sl_partition_batch(&spec, 2, b, &p), SL_OK);
    ck_assert_uint_eq(p.nparts, 2);
    records_of(p.over, got, sizeof(got));
    ck_assert_str_eq(got, "{\"k\":3}");
    ck_assert_ptr_nonnull(strstr(p.over_why, "max_partitions"));
    for (size_t i = 0; i < p.nparts; i++)
        sl_batch_release(p.parts[i], SL_OUTCOME_DELIVERED);
    sl_batch_release(p.over, SL_OUTCOME_BACKED_UP);
    free(p.parts);
    sl_batch_release(b, SL_OUTCOME_DELIVERED);
}
END_TEST

static const struct { const char *text, *want; } bad_keys[] = {
    { "customer", "write NAME=.json.path" },
    { "c=customer", "a path is .member" },
    { "c=.a..b", "a path is .member" },
    { "c=.a.", "a path is .member" },
    { "c d=.a", "a key name is" },
    { "c=.a, c=.b", "named twice" },
    { "a=.a,b=.b,c=.c,d=.d,e=.e,f=.f,g=.g,h=.h,i=.i", "more than 8 keys" },
};

START_TEST(test_partition_keys_refused)
{
    struct sl_partition_spec spec;
    char why[200] = "";

    ck_assert_int_eq(sl_partition_parse(bad_keys[_i].text, &spec, why, sizeof(why)), SL_EINVAL);
    ck_assert_msg(strstr(why, bad_keys[_i].want), "%s: want '%s' in '%s'", bad_keys[_i].text,
                  bad_keys[_i].want, why);
}
END_TEST

/* A value becomes a folder: one that could climb out of the sink's root,
 * or hide in it, is no key value (the record goes to backup). */
START_TEST(test_partition_refuses_values_that_escape)
{
    static const char *const recs[] = {
        "{\"c\":\"../../etc\"}", "{\"c\":\"..\"}", "{\"c\":\".\"}", "{\"c\":\"\"}",
        "{\"c\":\"a/b\"}", "{\"c\":\"tab\\there\"}", "{\"c\":\"nul\\u0000x\"}",
        "{\"c\":\"fine..name\"}",
    };
    struct sl_partition_spec spec;
    struct sl_partitioned p;
    char why[200], got[512];
    struct sl_batch *b = batch_of(recs, 8);

    ck_assert_int_eq(sl_partition_parse("c=.c", &spec, why, sizeof(why)), SL_OK);
    ck_assert_int_eq(sl_partition_batch(&spec, 100, b, &p), SL_OK);
    ck_assert_uint_eq(p.nparts, 1);
    ck_assert_str_eq(sl_partition_value(&spec, p.parts[0], 0, "c", 1), "fine..name");
    ck_assert_ptr_nonnull(p.failed);
    ck_assert_uint_eq(p.failed->nrecords, 7);
    records_of(p.failed, got, sizeof(got));
    ck_assert_ptr_nonnull(strstr(got, "../../etc"));
    sl_batch_release(p.parts[0], SL_OUTCOME_DELIVERED);
    sl_batch_release(p.failed, SL_OUTCOME_DELIVERED);
    free(p.parts);
    sl_batch_release(b, SL_OUTCOME_DELIVERED);
}
END_TEST

Suite *sl_partition_suite(void)
{
    Suite *s = suite_create("partition");
    TCase *tc = tcase_create("split");

    tcase_add_test(tc, test_partition_splits_by_key_values);
    tcase_add_test(tc, test_partition_bounds_key_sets);
    tcase_add_test(tc, test_partition_refuses_values_that_escape);
    tcase_add_loop_test(tc, test_partition_keys_refused, 0,
                        sizeof(bad_keys) / sizeof(bad_keys[0]));
    suite_add_tcase(s, tc);
    return s;
}
