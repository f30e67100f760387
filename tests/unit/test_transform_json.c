/*
 * test_transform_json.c - the built-in JSON transforms (transform_json.c), run through
 * the real chain runner (transform.c): each one on crafted records
 * (malformed JSON, non-objects, missing fields, nested paths, seconds and
 * milliseconds, strftime formats, each kind of filter), a chain of two,
 * every create() error, and one instance shared by several threads.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/err.h"
#include "suites.h"
#include "transform_json.h"
#include "transform.h"

#define ARRIVAL 1715089329123LL     /* 2024-05-07T13:42:09.123Z */

/* "key", "value", ..., NULL */
#define KV(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Makes an instance of <ops> with keys <kv>; the test fails if create()
 * refuses them. */
static struct sl_tf make(const struct sl_transform_ops *ops, const char *const *kv)
{
    struct sl_tf_kv pairs[16];
    struct sl_tf t = { .ops = ops };
    char err[512] = "";
    size_t n = 0;

    for (; kv[2 * n]; n++)
        pairs[n] = (struct sl_tf_kv){ kv[2 * n], kv[2 * n + 1] };
    ck_assert_msg(ops->create(pairs, n, &t.state, err, sizeof(err)) == 0, "create: %s", err);
    ck_assert_ptr_nonnull(t.state);
    return t;
}

/* create()'s error for keys <kv> into <err>; the test fails if create()
 * accepts them. */
static const char *refused(const struct sl_transform_ops *ops, const char *const *kv, char *err,
                           size_t errlen)
{
    struct sl_tf_kv pairs[16];
    void *state = (void *)1;
    size_t n = 0;

    for (; kv[2 * n]; n++)
        pairs[n] = (struct sl_tf_kv){ kv[2 * n], kv[2 * n + 1] };
    err[0] = '\0';
    ck_assert_int_eq(ops->create(pairs, n, &state, err, errlen), -1);
    ck_assert_ptr_null(state);
    return err;
}

/* Runs <chain> over records <texts> (NULL-terminated, all arrived at
 * ARRIVAL) and writes record <i>'s fate into <out>: its data if a step
 * changed it, "unchanged", "dropped by N", or "CODE: MESSAGE". */
static void fates(struct sl_tf *const *chain, size_t n, const char *const *texts,
                  char out[][512])
{
    struct sl_record recs[16];
    struct sl_tf_run *r = sl_transform_run_new();
    const struct sl_tf_rec *res;
    size_t m = 0;

    ck_assert_ptr_nonnull(r);
    for (; texts[m]; m++)
        recs[m] = (struct sl_record){ (const uint8_t *)texts[m], (uint32_t)strlen(texts[m]),
                                      ARRIVAL };
    ck_assert_int_eq(sl_transform_run_chain(r, chain, n, NULL, "s", recs, m), SL_OK);
    res = sl_transform_run_recs(r);
    for (size_t i = 0; i < m; i++) {
        if (res[i].status == SL_TF_DROPPED)
            snprintf(out[i], 512, "dropped by %u", res[i].by);
        else if (res[i].status == SL_TF_FAILED)
            snprintf(out[i], 512, "%s: %s", res[i].code, res[i].message);
        else if (!res[i].changed)
            snprintf(out[i], 512, "unchanged");
        else
            snprintf(out[i], 512, "%.*s", (int)res[i].len, (const char *)res[i].data);
        if (res[i].status == SL_TF_OK && !res[i].changed) {
            ck_assert_uint_eq(res[i].len, recs[i].len);           /* the very bytes */
            ck_assert_int_eq(memcmp(res[i].data, recs[i].data, recs[i].len), 0);
        }
    }
    sl_transform_run_free(r);
}

/* The fate of record <text> through one instance of <ops> with keys <kv>,
 * into <out>. */
static const char *one(const struct sl_transform_ops *ops, const char *const *kv,
                       const char *text, char out[][512])
{
    struct sl_tf t = make(ops, kv);
    struct sl_tf *chain[] = { &t };
    const char *texts[] = { text, NULL };

    fates(chain, 1, texts, out);
    ops->destroy(t.state);
    return out[0];
}

/* ---- json_timestamp ---- */

START_TEST(test_transform_json_timestamp_seconds_become_iso8601_in_place)
{
    char out[1][512];

    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts"),
                         "{\"id\":1,\"ts\":1715089329,\"x\":\"y\"}", out),
                     "{\"id\":1,\"ts\":\"2024-05-07T13:42:09Z\",\"x\":\"y\"}");
}
END_TEST

START_TEST(test_transform_json_timestamp_auto_takes_big_values_as_milliseconds)
{
    char out[1][512];

    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", "ts"), "{\"ts\":1715089329123}",
                         out), "{\"ts\":\"2024-05-07T13:42:09.123Z\"}");
    /* just under 1e11: seconds (year 5138) */
    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", "ts"), "{\"ts\":99999999999}",
                         out), "{\"ts\":\"5138-11-16T09:46:39Z\"}");
    /* 1e11 and over: milliseconds */
    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", "ts"), "{\"ts\":100000000000}",
                         out), "{\"ts\":\"1973-03-03T09:46:40.000Z\"}");
}
END_TEST

START_TEST(test_transform_json_timestamp_unit_overrides_auto)
{
    char out[1][512];

    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts", "unit", "ms"),
                         "{\"ts\":1500}", out), "{\"ts\":\"1970-01-01T00:00:01.500Z\"}");
    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts", "unit", "ms"),
                         "{\"ts\":-1}", out), "{\"ts\":\"1969-12-31T23:59:59.999Z\"}");
    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts", "unit", "s"),
                         "{\"ts\":1715089329123}", out),
                     "Json.TimestampInvalid: .ts is 1715089329123 seconds, outside the years "
                     "0000-9999");
}
END_TEST

START_TEST(test_transform_json_timestamp_reals_and_numeric_strings)
{
    char out[1][512];

    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts"), "{\"ts\":1715089329.5}",
                         out), "{\"ts\":\"2024-05-07T13:42:09.500Z\"}");
    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts"), "{\"ts\":1715089329.0}",
                         out), "{\"ts\":\"2024-05-07T13:42:09Z\"}");
    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts"),
                         "{\"ts\":1715089329123.4}", out),
                     "{\"ts\":\"2024-05-07T13:42:09.123Z\"}");
    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts"),
                         "{\"ts\":1715089329.1236}", out),          /* rounded */
                     "{\"ts\":\"2024-05-07T13:42:09.124Z\"}");
    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts"), "{\"ts\":\"1715089329\"}",
                         out), "{\"ts\":\"2024-05-07T13:42:09Z\"}");
    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts"),
                         "{\"ts\":\"1715089329123\"}", out),
                     "{\"ts\":\"2024-05-07T13:42:09.123Z\"}");
    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts"), "{\"ts\":\"-1.25\"}",
                         out), "{\"ts\":\"1969-12-31T23:59:58.750Z\"}");
}
END_TEST

START_TEST(test_transform_json_timestamp_rejects_what_is_not_an_epoch)
{
    static const char *const bad[][2] = {
        { "{\"ts\":\"soon\"}", "a string that is not a number" },
        { "{\"ts\":\"17e9\"}", "a string that is not a number" },
        { "{\"ts\":\" 1715089329\"}", "a string that is not a number" },
        { "{\"ts\":\"\"}", "a string that is not a number" },
        { "{\"ts\":\"1.\"}", "a string that is not a number" },
        { "{\"ts\":true}", "true" },
        { "{\"ts\":null}", "null" },
        { "{\"ts\":{\"s\":1}}", "an object" },
        { "{\"ts\":[1]}", "an array" },
    };
    char out[1][512], want[512];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(want, sizeof(want), "Json.TimestampInvalid: .ts is %s, not an epoch number",
                 bad[i][1]);
        ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts"), bad[i][0], out), want);
    }
    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts"), "{\"ts\":1e300}", out),
                     "Json.TimestampInvalid: .ts is 1e+300 milliseconds, outside the years "
                     "0000-9999");
    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts", "unit", "ms"),
                         "{\"ts\":253402300800000}", out),
                     "Json.TimestampInvalid: .ts is 253402300800000 milliseconds, outside the "
                     "years 0000-9999");
    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts", "unit", "ms"),
                         "{\"ts\":253402300799999}", out),
                     "{\"ts\":\"9999-12-31T23:59:59.999Z\"}");
    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts"), "{\"ts\":-62167219200}",
                         out), "{\"ts\":\"0000-01-01T00:00:00Z\"}");
}
END_TEST

START_TEST(test_transform_json_timestamp_strftime_formats_in_utc)
{
    char out[1][512];

    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts", "format", "%Y/%m/%d %H"),
                         "{\"ts\":1715089329}", out), "{\"ts\":\"2024/05/07 13\"}");
    ck_assert_str_eq(one(&sl_tf_json_timestamp,
                         KV("field", ".ts", "format", "%a %d %b %Y %T %z %%"),
                         "{\"ts\":1715089329999}", out),
                     "{\"ts\":\"Tue 07 May 2024 13:42:09 +0000 %\"}");
    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts", "format", "iso8601"),
                         "{\"ts\":0}", out), "{\"ts\":\"1970-01-01T00:00:00Z\"}");
}
END_TEST

START_TEST(test_transform_json_timestamp_nested_field_and_target)
{
    char out[1][512];

    ck_assert_str_eq(one(&sl_tf_json_timestamp,
                         KV("field", ".a.b.ts", "target", ".meta.time", "format", "%F"),
                         "{\"a\":{\"b\":{\"ts\":1715089329}},\"z\":0}", out),
                     "{\"a\":{\"b\":{\"ts\":1715089329}},\"z\":0,\"meta\":{\"time\":"
                     "\"2024-05-07\"}}");
    /* an existing target is replaced where it is */
    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts", "target", ".t"),
                         "{\"t\":\"old\",\"ts\":1715089329}", out),
                     "{\"t\":\"2024-05-07T13:42:09Z\",\"ts\":1715089329}");
    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts", "target", ".meta.time"),
                         "{\"meta\":[1],\"ts\":1715089329}", out),
                     "Json.PathConflict: cannot write .meta.time: .meta is an array, not an "
                     "object");
}
END_TEST

START_TEST(test_transform_json_timestamp_missing_field_kept_or_failed)
{
    char out[1][512];

    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".a.ts"), "{\"b\":1}", out),
                     "unchanged");
    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".a.ts"), "{\"a\":7}", out),
                     "unchanged");
    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".a.ts", "missing", "keep"),
                         "{\"b\":1}", out), "unchanged");
    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".a.ts", "missing", "fail"),
                         "{\"b\":1}", out), "Json.FieldMissing: the record has no .a.ts");
}
END_TEST

START_TEST(test_transform_json_timestamp_fails_non_json_and_non_objects)
{
    char out[1][512];

    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts"), "hello", out),
                     "Json.Invalid: invalid token near 'hello' (line 1, column 5)");
    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts"), "{\"ts\":1", out),
                     "Json.Invalid: '}' expected near end of file (line 1, column 7)");
    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts"), "", out),
                     "Json.Invalid: unexpected token near end of file (line 1, column 0)");
    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts"), "[1715089329]", out),
                     "Json.NotAnObject: the record is an array, not a JSON object");
    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts"), "1715089329", out),
                     "Json.NotAnObject: the record is a number, not a JSON object");
}
END_TEST

/* Written back: compact, members in order, reals as they were, UTF-8 and
 * "\u0000" kept, and the newline the record ended in. */
START_TEST(test_transform_json_rewrite_keeps_order_reals_and_newline)
{
    char out[1][512];

    ck_assert_str_eq(one(&sl_tf_json_timestamp, KV("field", ".ts"),
                         "{ \"z\" : 1, \"price\": 0.1, \"big\": 1e300, \"r\": [1.5, -0.0, 2.0],"
                         " \"s\": \"\xc3\xa9\\u0000/\", \"ts\": 0 }\n", out),
                     "{\"z\":1,\"price\":0.1,\"big\":1e300,\"r\":[1.5,-0.0,2.0],"
                     "\"s\":\"\xc3\xa9\\u0000/\",\"ts\":\"1970-01-01T00:00:00Z\"}\n");
    /* a real that needs 17 digits keeps them all */
    ck_assert_str_eq(one(&sl_tf_json_drop, KV("fields", "x"),
                         "{\"a\":0.30000000000000004,\"b\":0.5,\"x\":1}", out),
                     "{\"a\":0.30000000000000004,\"b\":0.5}");
}
END_TEST

/* A record over the 16 KiB stack buffer is written through the heap. */
START_TEST(test_transform_json_rewrite_of_a_big_record)
{
    static char rec[100000], want[100000];
    struct sl_tf t = make(&sl_tf_json_set, KV("set.n", "1"));
    struct sl_tf *chain[] = { &t };
    struct sl_record in;
    struct sl_tf_run *r = sl_transform_run_new();
    const struct sl_tf_rec *res;
    int n;

    n = snprintf(rec, sizeof(rec), "{\"pad\":\"%060000d\"}", 7);
    snprintf(want, sizeof(want), "{\"pad\":\"%060000d\",\"n\":1}", 7);
    in = (struct sl_record){ (const uint8_t *)rec, (uint32_t)n, ARRIVAL };
    ck_assert_int_eq(sl_transform_run_chain(r, chain, 1, NULL, "s", &in, 1), SL_OK);
    res = sl_transform_run_recs(r);
    ck_assert_int_eq(res[0].status, SL_TF_OK);
    ck_assert_uint_eq(res[0].len, strlen(want));
    ck_assert_int_eq(memcmp(res[0].data, want, res[0].len), 0);
    sl_transform_run_free(r);
    sl_tf_json_set.destroy(t.state);
}
END_TEST

START_TEST(test_transform_json_timestamp_create_errors)
{
    static const char long_format[] = "%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c";
    char e[512];

    ck_assert_str_eq(refused(&sl_tf_json_timestamp, KV("unit", "s"), e, sizeof(e)),
                     "field: required");
    ck_assert_str_eq(refused(&sl_tf_json_timestamp, KV("field", ".ts", "unit", "x"), e,
                             sizeof(e)), "unit: 'x' is not one of: auto s ms");
    ck_assert_str_eq(refused(&sl_tf_json_timestamp, KV("field", ".ts", "missing", "drop"), e,
                             sizeof(e)), "missing: 'drop' is not one of: keep fail");
    ck_assert_str_eq(refused(&sl_tf_json_timestamp, KV("field", "a..b"), e, sizeof(e)),
                     "field: 'a..b' is not a path like .a or .a.b (members of printable ASCII "
                     "but space, dot and comma; at most 192 characters)");
    ck_assert_str_eq(refused(&sl_tf_json_timestamp, KV("field", "."), e, sizeof(e)),
                     "field: '.' is not a path like .a or .a.b (members of printable ASCII "
                     "but space, dot and comma; at most 192 characters)");
    ck_assert_str_eq(refused(&sl_tf_json_timestamp, KV("field", ".ts", "target", ".a b"), e,
                             sizeof(e)),
                     "target: '.a b' is not a path like .a or .a.b (members of printable "
                     "ASCII but space, dot and comma; at most 192 characters)");
    ck_assert_str_eq(refused(&sl_tf_json_timestamp, KV("field", ".ts", "format", ""), e,
                             sizeof(e)),
                     "format: iso8601, or a strftime pattern of 1-100 characters");
    ck_assert_str_eq(refused(&sl_tf_json_timestamp, KV("field", ".ts", "format", "%s"), e,
                             sizeof(e)), "format: %s reads the date as local time; not "
                     "supported");
    ck_assert_str_eq(refused(&sl_tf_json_timestamp, KV("field", ".ts", "format", "%Y %-5s"), e,
                             sizeof(e)), "format: %s reads the date as local time; not "
                     "supported");
    ck_assert_str_eq(refused(&sl_tf_json_timestamp, KV("field", ".ts", "format", "%Y%"), e,
                             sizeof(e)), "format: '%Y%' ends in a lone %");
    /* 25 dates and times, 24 bytes each */
    ck_assert_str_eq(refused(&sl_tf_json_timestamp, KV("field", ".ts", "format", long_format),
                             e, sizeof(e)),
                     "format: '%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c%c' writes "
                     "nothing, or over 511 bytes");
    ck_assert_str_eq(refused(&sl_tf_json_timestamp, KV("field", ".ts", "format", "%Y\xff"), e,
                             sizeof(e)), "format: '%Y\xff' is not UTF-8");
    ck_assert_str_eq(refused(&sl_tf_json_timestamp, KV("field", ".ts", "fromat", "%Y"), e,
                             sizeof(e)), "fromat: unknown key for json_timestamp");
}
END_TEST

/* ---- json_set ---- */

START_TEST(test_transform_json_set_makes_objects_on_the_way)
{
    char out[1][512];

    ck_assert_str_eq(one(&sl_tf_json_set, KV("set.meta.source", "web"), "{\"a\":1}", out),
                     "{\"a\":1,\"meta\":{\"source\":\"web\"}}");
    ck_assert_str_eq(one(&sl_tf_json_set, KV("set.meta.source", "web"),
                         "{\"meta\":{\"x\":1,\"source\":\"app\"}}", out),
                     "{\"meta\":{\"x\":1,\"source\":\"web\"}}");
}
END_TEST

START_TEST(test_transform_json_set_values_are_json_else_strings)
{
    char out[1][512];

    ck_assert_str_eq(one(&sl_tf_json_set,
                         KV("set.n", "42", "set.t", "true", "set.z", "null", "set.q",
                            "\"quoted\"", "set.o", "{\"a\":1}", "set.r", "0.1", "set.w",
                            "42 apples", "set.e", "", "set.@timestamp", "\"@arrival\""),
                         "{}", out),
                     "{\"n\":42,\"t\":true,\"z\":null,\"q\":\"quoted\",\"o\":{\"a\":1},"
                     "\"r\":0.1,\"w\":\"42 apples\",\"e\":\"\",\"@timestamp\":\"@arrival\"}");
}
END_TEST

START_TEST(test_transform_json_set_arrival_time)
{
    char out[1][512];

    ck_assert_str_eq(one(&sl_tf_json_set, KV("set.at", "@arrival", "set.x.ms", "@arrival_ms"),
                         "{\"a\":1}", out),
                     "{\"a\":1,\"at\":\"2024-05-07T13:42:09.123Z\",\"x\":{\"ms\":"
                     "1715089329123}}");
}
END_TEST

START_TEST(test_transform_json_set_conflicts_and_no_change)
{
    char out[1][512];

    ck_assert_str_eq(one(&sl_tf_json_set, KV("set.meta.source", "web"), "{\"meta\":\"m\"}",
                         out),
                     "Json.PathConflict: cannot write .meta.source: .meta is a string, not an "
                     "object");
    ck_assert_str_eq(one(&sl_tf_json_set, KV("set.a.b.c", "1"), "{\"a\":{\"b\":false}}", out),
                     "Json.PathConflict: cannot write .a.b.c: .a.b is false, not an object");
    ck_assert_str_eq(one(&sl_tf_json_set, KV("set.a", "1"), "[]", out),
                     "Json.NotAnObject: the record is an array, not a JSON object");
    ck_assert_str_eq(one(&sl_tf_json_set, KV("set.a", "1"), "{\"a\":", out),
                     "Json.Invalid: unexpected token near end of file (line 1, column 5)");
    /* already so: the record is left as it came, spaces and all */
    ck_assert_str_eq(one(&sl_tf_json_set, KV("set.a.b", "{\"c\":[1]}"),
                         "{ \"a\": {\"b\": {\"c\": [1]}} }", out), "unchanged");
}
END_TEST

/* One constant goes whole into every record of several batches (each gets
 * a copy; freeing a record leaves the constant be). */
START_TEST(test_transform_json_set_constant_outlives_the_records)
{
    static const char *const texts[] = { "{}", "{\"o\":1}", "{}", NULL };
    struct sl_tf t = make(&sl_tf_json_set, KV("set.o", "{\"k\":[1,2]}"));
    struct sl_tf *chain[] = { &t };
    char out[3][512];

    for (int round = 0; round < 3; round++) {
        fates(chain, 1, texts, out);
        ck_assert_str_eq(out[0], "{\"o\":{\"k\":[1,2]}}");
        ck_assert_str_eq(out[1], "{\"o\":{\"k\":[1,2]}}");
        ck_assert_str_eq(out[2], "{\"o\":{\"k\":[1,2]}}");
    }
    sl_tf_json_set.destroy(t.state);
}
END_TEST

START_TEST(test_transform_json_set_create_errors)
{
    char e[512];

    ck_assert_str_eq(refused(&sl_tf_json_set, KV("source", "web"), e, sizeof(e)),
                     "source: unknown key for json_set");
    ck_assert_str_eq(refused(&sl_tf_json_set, KV(NULL), e, sizeof(e)),
                     "set.PATH: required (at least one set.PATH = VALUE)");
    ck_assert_str_eq(refused(&sl_tf_json_set, KV("set.", "1"), e, sizeof(e)),
                     "set.: an empty path");
    ck_assert_str_eq(refused(&sl_tf_json_set, KV("set.a.", "1"), e, sizeof(e)),
                     "set.a.: 'a.' is not a path like .a or .a.b (members of printable ASCII "
                     "but space, dot and comma; at most 192 characters)");
    ck_assert_str_eq(refused(&sl_tf_json_set, KV("set.a", "1", "set.a.b", "2"), e, sizeof(e)),
                     "set.a.b: overlaps set.a");
    ck_assert_str_eq(refused(&sl_tf_json_set, KV("set.a.b", "1", "set.a", "2"), e, sizeof(e)),
                     "set.a: overlaps set.a.b");
    ck_assert_str_eq(refused(&sl_tf_json_set, KV("set.a", "\xc3"), e, sizeof(e)),
                     "set.a: '\xc3' is not UTF-8");
}
END_TEST

/* ---- json_rename ---- */

START_TEST(test_transform_json_rename_in_its_object_keeps_its_place)
{
    char out[1][512];

    ck_assert_str_eq(one(&sl_tf_json_rename, KV("rename.b", "x"),
                         "{\"a\":1,\"b\":{\"c\":2},\"c\":3}", out),
                     "{\"a\":1,\"x\":{\"c\":2},\"c\":3}");
    /* a member of the new name is replaced; the renamed one keeps its place */
    ck_assert_str_eq(one(&sl_tf_json_rename, KV("rename.b", "a"), "{\"a\":1,\"b\":2,\"c\":3}",
                         out), "{\"a\":2,\"c\":3}");
    ck_assert_str_eq(one(&sl_tf_json_rename, KV("rename.u.id", ".u.uid"),
                         "{\"u\":{\"id\":7,\"n\":1}}", out), "{\"u\":{\"uid\":7,\"n\":1}}");
}
END_TEST

START_TEST(test_transform_json_rename_moves_across_objects)
{
    char out[1][512];

    ck_assert_str_eq(one(&sl_tf_json_rename, KV("rename.a.b", "c.d"),
                         "{\"a\":{\"b\":[1],\"k\":0},\"z\":1}", out),
                     "{\"a\":{\"k\":0},\"z\":1,\"c\":{\"d\":[1]}}");
    /* into itself, and out of itself */
    ck_assert_str_eq(one(&sl_tf_json_rename, KV("rename.a", "a.b"), "{\"a\":{\"x\":1}}", out),
                     "{\"a\":{\"b\":{\"x\":1}}}");
    ck_assert_str_eq(one(&sl_tf_json_rename, KV("rename.a.b", "a"), "{\"a\":{\"b\":{\"x\":1}}}",
                         out), "{\"a\":{\"x\":1}}");
    ck_assert_str_eq(one(&sl_tf_json_rename, KV("rename.a", "s.t"), "{\"a\":1,\"s\":\"str\"}",
                         out),
                     "Json.PathConflict: cannot write .s.t: .s is a string, not an object");
}
END_TEST

START_TEST(test_transform_json_rename_missing_from_is_fine)
{
    char out[1][512];

    ck_assert_str_eq(one(&sl_tf_json_rename, KV("rename.a.b", "c"), "{\"a\":1}", out),
                     "unchanged");
    ck_assert_str_eq(one(&sl_tf_json_rename, KV("rename.q", "c", "rename.a", "b"),
                         "{\"a\":1}", out), "{\"b\":1}");
    /* in order: the second sees what the first did */
    ck_assert_str_eq(one(&sl_tf_json_rename, KV("rename.a", "b", "rename.b", "c"),
                         "{\"a\":1}", out), "{\"c\":1}");
    ck_assert_str_eq(one(&sl_tf_json_rename, KV("rename.a", "b"), "\"a\"", out),
                     "Json.NotAnObject: the record is a string, not a JSON object");
}
END_TEST

START_TEST(test_transform_json_rename_create_errors)
{
    char e[512];

    ck_assert_str_eq(refused(&sl_tf_json_rename, KV(NULL), e, sizeof(e)),
                     "rename.FROM: required (at least one rename.FROM = TO)");
    ck_assert_str_eq(refused(&sl_tf_json_rename, KV("from", "a"), e, sizeof(e)),
                     "from: unknown key for json_rename");
    ck_assert_str_eq(refused(&sl_tf_json_rename, KV("rename.a", ""), e, sizeof(e)),
                     "rename.a: an empty path");
    ck_assert_str_eq(refused(&sl_tf_json_rename, KV("rename.a", "b,c"), e, sizeof(e)),
                     "rename.a: 'b,c' is not a path like .a or .a.b (members of printable "
                     "ASCII but space, dot and comma; at most 192 characters)");
    ck_assert_str_eq(refused(&sl_tf_json_rename, KV("rename.a..b", "c"), e, sizeof(e)),
                     "rename.a..b: 'a..b' is not a path like .a or .a.b (members of printable "
                     "ASCII but space, dot and comma; at most 192 characters)");
    ck_assert_str_eq(refused(&sl_tf_json_rename, KV("rename.a.b", ".a.b"), e, sizeof(e)),
                     "rename.a.b: renamed to itself");
}
END_TEST

/* ---- json_drop ---- */

START_TEST(test_transform_json_drop_removes_fields_missing_ones_are_fine)
{
    char out[1][512];

    ck_assert_str_eq(one(&sl_tf_json_drop, KV("fields", ".debug, session.cookie ,nope,x.y.z"),
                         "{\"debug\":1,\"a\":2,\"session\":{\"id\":3,\"cookie\":\"c\"},"
                         "\"x\":5}", out),
                     "{\"a\":2,\"session\":{\"id\":3},\"x\":5}");
    ck_assert_str_eq(one(&sl_tf_json_drop, KV("fields", "debug,x.y"), "{\"a\":1,\"x\":[1]}",
                         out), "unchanged");
    ck_assert_str_eq(one(&sl_tf_json_drop, KV("fields", "debug"), "{\"debug\"", out),
                     "Json.Invalid: ':' expected near end of file (line 1, column 8)");
}
END_TEST

START_TEST(test_transform_json_drop_create_errors)
{
    char e[512];

    ck_assert_str_eq(refused(&sl_tf_json_drop, KV(NULL), e, sizeof(e)),
                     "fields: required (a, b.c, ...)");
    ck_assert_str_eq(refused(&sl_tf_json_drop, KV("fields", ""), e, sizeof(e)),
                     "fields: required (a, b.c, ...)");
    ck_assert_str_eq(refused(&sl_tf_json_drop, KV("fields", "a, ,b"), e, sizeof(e)),
                     "fields: an empty path");
    ck_assert_str_eq(refused(&sl_tf_json_drop, KV("fields", "a,"), e, sizeof(e)),
                     "fields: an empty path");
    ck_assert_str_eq(refused(&sl_tf_json_drop, KV("fields", "a, b..c"), e, sizeof(e)),
                     "fields: 'b..c' is not a path like .a or .a.b (members of printable ASCII "
                     "but space, dot and comma; at most 192 characters)");
    ck_assert_str_eq(refused(&sl_tf_json_drop, KV("fields", "a", "field", "b"), e, sizeof(e)),
                     "field: unknown key for json_drop");
}
END_TEST

/* ---- json_filter ---- */

START_TEST(test_transform_json_filter_drop_if_equals)
{
    static const char *const texts[] = {
        "{\"env\":\"test\"}", "{\"env\":\"prod\"}", "{\"x\":1}", "{\"env\":{\"a\":1}}",
        "nope", "[]", NULL,
    };
    struct sl_tf t = make(&sl_tf_json_filter, KV("field", ".env", "drop_if_equals", "test"));
    struct sl_tf *chain[] = { &t };
    char out[6][512];

    fates(chain, 1, texts, out);
    ck_assert_str_eq(out[0], "dropped by 0");
    ck_assert_str_eq(out[1], "unchanged");
    ck_assert_str_eq(out[2], "unchanged");
    ck_assert_str_eq(out[3], "unchanged");
    ck_assert_str_eq(out[4], "Json.Invalid: invalid token near 'nope' (line 1, column 4)");
    ck_assert_str_eq(out[5], "Json.NotAnObject: the record is an array, not a JSON object");
    sl_tf_json_filter.destroy(t.state);
}
END_TEST

START_TEST(test_transform_json_filter_values_compare_as_json)
{
    char out[1][512];

    ck_assert_str_eq(one(&sl_tf_json_filter, KV("field", "a.b", "drop_if_equals", "1"),
                         "{\"a\":{\"b\":1.0}}", out), "dropped by 0");
    ck_assert_str_eq(one(&sl_tf_json_filter, KV("field", "a.b", "drop_if_equals", "1"),
                         "{\"a\":{\"b\":\"1\"}}", out), "unchanged");
    /* integers compare exactly: 2^53 + 1 is not 2^53, as doubles would say */
    ck_assert_str_eq(one(&sl_tf_json_filter, KV("field", "id", "drop_if_equals",
                                                "9007199254740992"),
                         "{\"id\":9007199254740993}", out), "unchanged");
    ck_assert_str_eq(one(&sl_tf_json_filter, KV("field", "id", "drop_if_equals",
                                                "9007199254740993"),
                         "{\"id\":9007199254740993}", out), "dropped by 0");
    ck_assert_str_eq(one(&sl_tf_json_filter, KV("field", "a", "drop_if_equals", "\"1\""),
                         "{\"a\":\"1\"}", out), "dropped by 0");
    ck_assert_str_eq(one(&sl_tf_json_filter, KV("field", "a", "drop_if_equals", "null"),
                         "{\"a\":null}", out), "dropped by 0");
    ck_assert_str_eq(one(&sl_tf_json_filter, KV("field", "a", "drop_if_equals", "null"),
                         "{\"b\":null}", out), "unchanged");
    ck_assert_str_eq(one(&sl_tf_json_filter, KV("field", "a", "drop_if_equals", "{\"x\":[1]}"),
                         "{\"a\":{\"x\":[1]}}", out), "dropped by 0");
}
END_TEST

START_TEST(test_transform_json_filter_drop_if_not_equals)
{
    static const char *const texts[] = {
        "{\"env\":\"prod\"}", "{\"env\":\"test\"}", "{\"x\":1}", "{\"env\":true}", NULL,
    };
    struct sl_tf t = make(&sl_tf_json_filter,
                          KV("field", "env", "drop_if_not_equals", "prod"));
    struct sl_tf *chain[] = { &t };
    char out[4][512];

    fates(chain, 1, texts, out);
    ck_assert_str_eq(out[0], "unchanged");
    ck_assert_str_eq(out[1], "dropped by 0");
    ck_assert_str_eq(out[2], "dropped by 0");        /* missing is not equal */
    ck_assert_str_eq(out[3], "dropped by 0");
    sl_tf_json_filter.destroy(t.state);
}
END_TEST

START_TEST(test_transform_json_filter_drop_if_missing)
{
    static const char *const texts[] = {
        "{\"a\":{\"b\":null}}", "{\"a\":{}}", "{\"a\":3}", "{}", NULL,
    };
    struct sl_tf t = make(&sl_tf_json_filter, KV("field", ".a.b", "drop_if_missing", "true"));
    struct sl_tf *chain[] = { &t };
    char out[4][512];

    fates(chain, 1, texts, out);
    ck_assert_str_eq(out[0], "unchanged");           /* null is there */
    ck_assert_str_eq(out[1], "dropped by 0");
    ck_assert_str_eq(out[2], "dropped by 0");
    ck_assert_str_eq(out[3], "dropped by 0");
    sl_tf_json_filter.destroy(t.state);
}
END_TEST

START_TEST(test_transform_json_filter_create_errors)
{
    char e[512];

    ck_assert_str_eq(refused(&sl_tf_json_filter, KV("drop_if_missing", "true"), e, sizeof(e)),
                     "field: required");
    ck_assert_str_eq(refused(&sl_tf_json_filter, KV("field", ".a"), e, sizeof(e)),
                     "drop_if_equals: required (or drop_if_not_equals, or drop_if_missing = "
                     "true)");
    ck_assert_str_eq(refused(&sl_tf_json_filter,
                             KV("field", ".a", "drop_if_equals", "1", "drop_if_missing", "true"),
                             e, sizeof(e)),
                     "drop_if_missing: only one of drop_if_equals, drop_if_not_equals and "
                     "drop_if_missing");
    ck_assert_str_eq(refused(&sl_tf_json_filter, KV("field", ".a", "drop_if_missing", "false"),
                             e, sizeof(e)),
                     "drop_if_missing: 'false' is not true (leave the key out otherwise)");
    ck_assert_str_eq(refused(&sl_tf_json_filter, KV("field", ".a", "drop_if_equals", "\xe2\x82"),
                             e, sizeof(e)), "drop_if_equals: '\xe2\x82' is not UTF-8");
    ck_assert_str_eq(refused(&sl_tf_json_filter, KV("field", "", "drop_if_equals", "1"), e,
                             sizeof(e)), "field: an empty path");
    ck_assert_str_eq(refused(&sl_tf_json_filter, KV("field", ".a", "drop_if", "1"), e,
                             sizeof(e)), "drop_if: unknown key for json_filter");
}
END_TEST

/* ---- json_validate ---- */

START_TEST(test_transform_json_validate_passes_valid_records_unchanged)
{
    static const char *const texts[] = {
        "{ \"a\" : 0.10 }", "[1, 2]", "42", "\"s\"", "{\"a\":1}\n",
        "{\"a\":1} x", "{\"a\":\"\xff\"}", "", NULL,
    };
    struct sl_tf t = make(&sl_tf_json_validate, KV(NULL));
    struct sl_tf *chain[] = { &t };
    char out[8][512];

    fates(chain, 1, texts, out);
    for (int i = 0; i < 5; i++)
        ck_assert_str_eq(out[i], "unchanged");
    ck_assert_str_eq(out[5], "Json.Invalid: end of file expected near 'x' (line 1, column 9)");
    ck_assert_str_eq(out[6], "Json.Invalid: unable to decode byte 0xff near '\"' (line 1, "
                             "column 6)");
    ck_assert_str_eq(out[7], "Json.Invalid: unexpected token near end of file (line 1, "
                             "column 0)");
    sl_tf_json_validate.destroy(t.state);
}
END_TEST

START_TEST(test_transform_json_validate_require_object)
{
    static const char *const texts[] = { "{}", "[1]", "null", "{", NULL };
    struct sl_tf t = make(&sl_tf_json_validate, KV("require_object", "true"));
    struct sl_tf *chain[] = { &t };
    char out[4][512];

    fates(chain, 1, texts, out);
    ck_assert_str_eq(out[0], "unchanged");
    ck_assert_str_eq(out[1], "Json.NotAnObject: the record is an array, not a JSON object");
    ck_assert_str_eq(out[2], "Json.NotAnObject: the record is null, not a JSON object");
    ck_assert_str_eq(out[3], "Json.Invalid: string or '}' expected near end of file (line 1, "
                             "column 1)");
    sl_tf_json_validate.destroy(t.state);
    ck_assert_str_eq(one(&sl_tf_json_validate, KV("require_object", "false"), "[1]", out),
                     "unchanged");
}
END_TEST

START_TEST(test_transform_json_validate_create_errors)
{
    char e[512];

    ck_assert_str_eq(refused(&sl_tf_json_validate, KV("require_object", "yes"), e, sizeof(e)),
                     "require_object: 'yes' is not one of: false true");
    ck_assert_str_eq(refused(&sl_tf_json_validate, KV("strict", "true"), e, sizeof(e)),
                     "strict: unknown key for json_validate");
}
END_TEST

/* ---- chains ---- */

/* validate, then date, then filter on the date: each step sees what the
 * one before left. */
START_TEST(test_transform_json_chain_steps_see_each_others_output)
{
    static const char *const texts[] = {
        "{\"ts\":1715089329,\"id\":1}\n", "{\"ts\":1715000000,\"id\":2}", "not json",
        "{\"id\":4}", "{\"ts\":\"x\",\"id\":5}", NULL,
    };
    struct sl_tf v = make(&sl_tf_json_validate, KV(NULL));
    struct sl_tf ts = make(&sl_tf_json_timestamp,
                           KV("field", ".ts", "target", ".day", "format", "%Y-%m-%d"));
    struct sl_tf f = make(&sl_tf_json_filter,
                          KV("field", ".day", "drop_if_not_equals", "2024-05-07"));
    struct sl_tf *chain[] = { &v, &ts, &f };
    char out[5][512];

    fates(chain, 3, texts, out);
    ck_assert_str_eq(out[0], "{\"ts\":1715089329,\"id\":1,\"day\":\"2024-05-07\"}\n");
    ck_assert_str_eq(out[1], "dropped by 2");        /* 2024-05-06 */
    ck_assert_str_eq(out[2], "Json.Invalid: invalid token near 'not' (line 1, column 3)");
    ck_assert_str_eq(out[3], "dropped by 2");        /* kept by ts, no .day */
    ck_assert_str_eq(out[4], "Json.TimestampInvalid: .ts is a string that is not a number, "
                             "not an epoch number");
    sl_tf_json_validate.destroy(v.state);
    sl_tf_json_timestamp.destroy(ts.state);
    sl_tf_json_filter.destroy(f.state);
}
END_TEST

START_TEST(test_transform_json_chain_set_rename_drop)
{
    static const char *const texts[] = { "{\"user\":{\"id\":7,\"pw\":\"x\"},\"v\":1}", NULL };
    struct sl_tf s = make(&sl_tf_json_set, KV("set.meta.src", "web"));
    struct sl_tf r = make(&sl_tf_json_rename, KV("rename.user.id", "uid"));
    struct sl_tf d = make(&sl_tf_json_drop, KV("fields", "user"));
    struct sl_tf *chain[] = { &s, &r, &d };
    char out[1][512];

    fates(chain, 3, texts, out);
    ck_assert_str_eq(out[0], "{\"v\":1,\"meta\":{\"src\":\"web\"},\"uid\":7}");
    sl_tf_json_set.destroy(s.state);
    sl_tf_json_rename.destroy(r.state);
    sl_tf_json_drop.destroy(d.state);
}
END_TEST

/* ---- threads ---- */

struct worker {
    struct sl_tf *chain[2];
    int bad;                          /* results that were not as expected */
};

static void *work(void *arg)
{
    struct worker *w = arg;
    struct sl_tf_run *r = sl_transform_run_new();
    struct sl_record recs[64];
    char text[64][64];

    for (int i = 0; i < 64; i++) {
        int n = snprintf(text[i], sizeof(text[i]), "{\"i\":%d,\"ts\":%d}", i, 1715089329 + i);
        recs[i] = (struct sl_record){ (const uint8_t *)text[i], (uint32_t)n, ARRIVAL };
    }
    for (int round = 0; round < 200 && r; round++) {
        if (sl_transform_run_chain(r, w->chain, 2, NULL, "s", recs, 64) != SL_OK) {
            w->bad++;
            continue;
        }
        const struct sl_tf_rec *res = sl_transform_run_recs(r);
        for (int i = 0; i < 64; i++) {
            char want[128];
            int n = snprintf(want, sizeof(want), "{\"i\":%d,\"ts\":\"2024-05-07T13:42:%02dZ\","
                             "\"o\":{\"k\":[1]}}", i, 9 + i);
            if (i >= 51)                  /* past the minute */
                n = snprintf(want, sizeof(want), "{\"i\":%d,\"ts\":\"2024-05-07T13:43:%02dZ\","
                             "\"o\":{\"k\":[1]}}", i, i - 51);
            w->bad += res[i].status != SL_TF_OK || res[i].len != (uint32_t)n ||
                      memcmp(res[i].data, want, (size_t)n) != 0;
        }
    }
    w->bad += r == NULL;
    sl_transform_run_free(r);
    return NULL;
}

/* One instance of each, shared by four threads, as by delivery workers. */
START_TEST(test_transform_json_instances_are_shared_by_threads)
{
    struct sl_tf ts = make(&sl_tf_json_timestamp, KV("field", ".ts"));
    struct sl_tf s = make(&sl_tf_json_set, KV("set.o", "{\"k\":[1]}"));
    struct worker w[4];
    pthread_t th[4];

    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){ .chain = { &ts, &s } };
        ck_assert_int_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(w[i].bad, 0);
    }
    sl_tf_json_timestamp.destroy(ts.state);
    sl_tf_json_set.destroy(s.state);
}
END_TEST

Suite *sl_transform_json_suite(void)
{
    Suite *s = suite_create("transform_json");
    TCase *tc = tcase_create("records");
    TCase *cr = tcase_create("create");
    TCase *th = tcase_create("threads");

    tcase_add_test(tc, test_transform_json_timestamp_seconds_become_iso8601_in_place);
    tcase_add_test(tc, test_transform_json_timestamp_auto_takes_big_values_as_milliseconds);
    tcase_add_test(tc, test_transform_json_timestamp_unit_overrides_auto);
    tcase_add_test(tc, test_transform_json_timestamp_reals_and_numeric_strings);
    tcase_add_test(tc, test_transform_json_timestamp_rejects_what_is_not_an_epoch);
    tcase_add_test(tc, test_transform_json_timestamp_strftime_formats_in_utc);
    tcase_add_test(tc, test_transform_json_timestamp_nested_field_and_target);
    tcase_add_test(tc, test_transform_json_timestamp_missing_field_kept_or_failed);
    tcase_add_test(tc, test_transform_json_timestamp_fails_non_json_and_non_objects);
    tcase_add_test(tc, test_transform_json_rewrite_keeps_order_reals_and_newline);
    tcase_add_test(tc, test_transform_json_rewrite_of_a_big_record);
    tcase_add_test(tc, test_transform_json_set_makes_objects_on_the_way);
    tcase_add_test(tc, test_transform_json_set_values_are_json_else_strings);
    tcase_add_test(tc, test_transform_json_set_arrival_time);
    tcase_add_test(tc, test_transform_json_set_conflicts_and_no_change);
    tcase_add_test(tc, test_transform_json_set_constant_outlives_the_records);
    tcase_add_test(tc, test_transform_json_rename_in_its_object_keeps_its_place);
    tcase_add_test(tc, test_transform_json_rename_moves_across_objects);
    tcase_add_test(tc, test_transform_json_rename_missing_from_is_fine);
    tcase_add_test(tc, test_transform_json_drop_removes_fields_missing_ones_are_fine);
    tcase_add_test(tc, test_transform_json_filter_drop_if_equals);
    tcase_add_test(tc, test_transform_json_filter_values_compare_as_json);
    tcase_add_test(tc, test_transform_json_filter_drop_if_not_equals);
    tcase_add_test(tc, test_transform_json_filter_drop_if_missing);
    tcase_add_test(tc, test_transform_json_validate_passes_valid_records_unchanged);
    tcase_add_test(tc, test_transform_json_validate_require_object);
    tcase_add_test(tc, test_transform_json_chain_steps_see_each_others_output);
    tcase_add_test(tc, test_transform_json_chain_set_rename_drop);
    suite_add_tcase(s, tc);

    tcase_add_test(cr, test_transform_json_timestamp_create_errors);
    tcase_add_test(cr, test_transform_json_set_create_errors);
    tcase_add_test(cr, test_transform_json_rename_create_errors);
    tcase_add_test(cr, test_transform_json_drop_create_errors);
    tcase_add_test(cr, test_transform_json_filter_create_errors);
    tcase_add_test(cr, test_transform_json_validate_create_errors);
    suite_add_tcase(s, cr);

    tcase_set_timeout(th, 60);
    tcase_add_test(th, test_transform_json_instances_are_shared_by_threads);
    suite_add_tcase(s, th);
    return s;
}
