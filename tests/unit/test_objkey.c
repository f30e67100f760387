/* test_objkey.c - Firehose's object key layout and prefix expressions. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "objkey.h"
#include "sluice/err.h"
#include "suites.h"

START_TEST(test_objkey_matches_firehose_layout)
{
    char key[SL_KEY_MAX];
    struct sl_objkey k = {
        .prefix = "", .stream = "my-stream", .version = 1,
        .wall_ms = 1715089329000LL,    /* 2024-05-07T13:42:09Z */
        .uuid = "a9fa96af-e4e4-409f-bac3-1f804714faaa", .ext = ".gz",
    };

    ck_assert_int_eq(sl_objkey_format(&k, key, sizeof(key)), SL_OK);
    ck_assert_str_eq(key, "2024/05/07/13/my-stream-1-2024-05-07-13-42-09-"
                          "a9fa96af-e4e4-409f-bac3-1f804714faaa.gz");
}
END_TEST

START_TEST(test_objkey_prefix_is_plain_concatenation)
{
    char key[SL_KEY_MAX];
    struct sl_objkey k = {
        .prefix = "logs", .stream = "s", .version = 12, .wall_ms = 0,
        .uuid = "00000000-0000-4000-8000-000000000000", .ext = "",
    };

    ck_assert_int_eq(sl_objkey_format(&k, key, sizeof(key)), SL_OK);
    ck_assert_str_eq(key, "logs1970/01/01/00/s-12-1970-01-01-00-00-00-"
                          "00000000-0000-4000-8000-000000000000");
}
END_TEST

START_TEST(test_objkey_too_long_is_refused)
{
    char key[32];
    struct sl_objkey k = { .prefix = "p/", .stream = "s", .version = 1, .wall_ms = 0,
                           .uuid = "00000000-0000-4000-8000-000000000000", .ext = "" };

    ck_assert_int_eq(sl_objkey_format(&k, key, sizeof(key)), SL_ETOOBIG);
}
END_TEST

#define UUID "a9fa96af-e4e4-409f-bac3-1f804714faaa"
#define WHEN 1715089329123LL             /* 2024-05-07T13:42:09.123Z */

/* The key of template <prefix> (an error prefix if <type>), up to the stream name. */
static const char *prefix_of(const char *prefix, const char *type, char *key)
{
    struct sl_objkey k = { .prefix = prefix, .stream = "S", .version = 1, .wall_ms = WHEN,
                           .uuid = UUID, .ext = "", .error_type = type };

    ck_assert_int_eq(sl_objkey_format(&k, key, SL_KEY_MAX), SL_OK);
    *strstr(key, "S-1-") = '\0';
    return key;
}

START_TEST(test_objkey_expressions)
{
    char key[SL_KEY_MAX], again[SL_KEY_MAX];

    ck_assert_str_eq(prefix_of("year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
                               "h=!{timestamp:HH}/", NULL, key),
                     "year=2024/month=05/day=07/h=13/");
    ck_assert_str_eq(prefix_of("!{timestamp:yyyy-MM-dd'T'HH:mm:ss.SSS} !{timestamp:''yy M d}/",
                               NULL, key), "2024-05-07T13:42:09.123 '24 5 7/");
    ck_assert_str_eq(prefix_of("logs/", NULL, key), "logs/2024/05/07/13/");
    ck_assert_str_eq(prefix_of("err/!{firehose:error-output-type}/!{timestamp:yyyy}/",
                               "s3-failed", key), "err/s3-failed/2024/");
    ck_assert_str_eq(prefix_of("errors/", "s3-failed", key), "errors/2024/05/07/13/");
    /* random-string: 11 of [0-9a-z], new at each use, the same for the same batch;
     * no timestamp expression, so the hour folders are appended */
    prefix_of("r/!{firehose:random-string}/!{firehose:random-string}/", NULL, key);
    prefix_of("r/!{firehose:random-string}/!{firehose:random-string}/", NULL, again);
    ck_assert_str_eq(key, again);
    ck_assert_uint_eq(strlen(key), strlen("r/") + 12 + 12 + strlen("2024/05/07/13/"));
    ck_assert_int_ne(memcmp(key + 2, key + 14, 11), 0);
    ck_assert_uint_eq(strspn(key + 2, "0123456789abcdefghijklmnopqrstuvwxyz"), 11);
    ck_assert_str_eq(key + 26, "2024/05/07/13/");
}
END_TEST

static const char *values(void *arg, int lambda, const char *name, size_t len)
{
    (void)arg;
    if (lambda)
        return len == 3 && memcmp(name, "day", 3) == 0 ? "mon" : NULL;
    return len == 8 && memcmp(name, "customer", 8) == 0 ? "acme" : NULL;
}

START_TEST(test_objkey_partition_keys)
{
    char why[256], key[SL_KEY_MAX];
    struct sl_objkey k = { .prefix = "c=!{partitionKeyFromQuery:customer}/", .stream = "S",
                           .version = 1, .wall_ms = WHEN, .uuid = UUID, .ext = "",
                           .partition = values };

    ck_assert_int_eq(sl_objkey_check(k.prefix, 0, "region,customer", 0, why, sizeof(why)), SL_OK);
    ck_assert_int_eq(sl_objkey_format(&k, key, sizeof(key)), SL_OK);
    ck_assert_str_eq(key, "c=acme/S-1-2024-05-07-13-42-09-" UUID);     /* no hour folders */
    k.prefix = "r=!{partitionKeyFromQuery:region}/";
    ck_assert_int_eq(sl_objkey_format(&k, key, sizeof(key)), SL_EINVAL);  /* no value */
    /* keys a transform set, beside a query's: the two namespaces stay apart */
    k.prefix = "c=!{partitionKeyFromQuery:customer}/d=!{partitionKeyFromLambda:day}/";
    ck_assert_int_eq(sl_objkey_check(k.prefix, 0, "customer", 1, why, sizeof(why)), SL_OK);
    ck_assert_int_eq(sl_objkey_format(&k, key, sizeof(key)), SL_OK);
    ck_assert_str_eq(key, "c=acme/d=mon/S-1-2024-05-07-13-42-09-" UUID);
    k.prefix = "d=!{partitionKeyFromLambda:customer}/";
    ck_assert_int_eq(sl_objkey_format(&k, key, sizeof(key)), SL_EINVAL);
    /* a key that would leave its root is refused, whatever made it */
    k.prefix = "../";
    ck_assert_int_eq(sl_objkey_format(&k, key, sizeof(key)), SL_EINVAL);
    k.prefix = "a/./";
    ck_assert_int_eq(sl_objkey_format(&k, key, sizeof(key)), SL_EINVAL);
    k.prefix = "/abs/";
    ck_assert_int_eq(sl_objkey_format(&k, key, sizeof(key)), SL_EINVAL);
    k.prefix = "a..b/";
    ck_assert_int_eq(sl_objkey_format(&k, key, sizeof(key)), SL_OK);
}
END_TEST

/* Templates Firehose refuses, and a piece of the reason. */
static const struct { const char *tpl; int is_error; const char *want; } refused[] = {
    { "!{firehose:error-output-type}/", 0, "belongs in error_prefix" },
    { "!{foo:bar}/", 0, "unknown expression !{foo:bar}" },
    { "!{timestamp}/", 0, "unknown expression !{timestamp}" },
    { "a/!{timestamp:yyyy", 0, "is not closed" },
    { "!{timestamp:MMM}/", 0, "'MMM' in a timestamp pattern" },
    { "!{timestamp:yyyy Q}/", 0, "'Q' in a timestamp pattern" },
    { "!{timestamp:yyyy'T}/", 0, "unclosed quote" },
    { "!{timestamp:}/", 0, "needs a pattern" },
    { "e/!{timestamp:yyyy}/", 1, "must hold !{firehose:error-output-type}" },
    { "!{partitionKeyFromQuery:cust}/", 0, "no such key in partition_keys" },
    { "!{firehose:error-output-type}/!{partitionKeyFromQuery:x}/", 1, "cannot be in error_prefix" },
    { "!{partitionKeyFromLambda:x}/", 0, "no lambda or plugin transform" },
    { "!{partitionKeyFromLambda:x}/", 1, "cannot be in error_prefix" },
    { "../up/", 0, "would leave the sink's root" },
    { "/abs/", 0, "would leave the sink's root" },
};

START_TEST(test_objkey_check_refuses)
{
    char why[256] = "";

    ck_assert_int_eq(sl_objkey_check(refused[_i].tpl, refused[_i].is_error, NULL, 0, why,
                                     sizeof(why)), SL_EINVAL);
    ck_assert_msg(strstr(why, refused[_i].want), "%s: want '%s' in '%s'", refused[_i].tpl,
                  refused[_i].want, why);
}
END_TEST

START_TEST(test_objkey_evaluated_prefix_is_bounded)
{
    char tpl[700], key[SL_KEY_MAX];
    struct sl_objkey k = { .prefix = tpl, .stream = "S", .version = 1, .wall_ms = 0,
                           .uuid = UUID, .ext = "" };

    memset(tpl, 'p', 600);
    tpl[600] = '\0';
    ck_assert_int_eq(sl_objkey_format(&k, key, sizeof(key)), SL_ETOOBIG);
}
END_TEST

/* Issue 13 item 8: a long year pattern went through a 24-byte buffer.
 * Java (so Firehose) takes at most 19 letters of y and 9 of S. */
START_TEST(test_objkey_long_timestamp_is_safe)
{
    char key[SL_KEY_MAX], why[256] = "", want[64];
    struct sl_objkey k = { .prefix = "s/!{timestamp:yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy}/",
                           .stream = "S", .version = 1, .wall_ms = WHEN, .uuid = UUID,
                           .ext = "" };

    ck_assert_int_eq(sl_objkey_check(k.prefix, 0, NULL, 0, why, sizeof(why)), SL_EINVAL);
    ck_assert_msg(strstr(why, "a year is at most 19 letters"), "%s", why);
    ck_assert_int_eq(sl_objkey_format(&k, key, sizeof(key)), SL_EINVAL);
    ck_assert_int_eq(sl_objkey_check("!{timestamp:SSSSSSSSSS}/", 0, NULL, 0, why, sizeof(why)),
                     SL_EINVAL);
    ck_assert_msg(strstr(why, "at most 9 letters"), "%s", why);
    k.prefix = "s/!{timestamp:yyyyyyyyyyyyyyyyyyy.SSSSSSSSS}/";
    ck_assert_int_eq(sl_objkey_check(k.prefix, 0, NULL, 0, why, sizeof(why)), SL_OK);
    ck_assert_int_eq(sl_objkey_format(&k, key, sizeof(key)), SL_OK);
    snprintf(want, sizeof(want), "s/%019d.123000000/S-1-", 2024);
    ck_assert_msg(strncmp(key, want, strlen(want)) == 0, "%s", key);
}
END_TEST

/* A template that may evaluate past SL_EVAL_PREFIX_MAX is refused at load. */
START_TEST(test_objkey_check_bounds_evaluation)
{
    char tpl[1100] = "", why[256] = "";
    size_t n = 0;

    for (int i = 0; i < 27; i++)                  /* 27 x 19 = 513 characters */
        n += (size_t)snprintf(tpl + n, sizeof(tpl) - n, "!{timestamp:yyyyyyyyyyyyyyyyyyy}");
    ck_assert_int_eq(sl_objkey_check(tpl, 0, NULL, 0, why, sizeof(why)), SL_EINVAL);
    ck_assert_msg(strstr(why, "evaluates to up to 513 characters"), "%s", why);
    memset(tpl, 'p', 500);                     /* 500 + the default folders */
    tpl[500] = '\0';
    ck_assert_int_eq(sl_objkey_check(tpl, 0, NULL, 0, why, sizeof(why)), SL_EINVAL);
    ck_assert_msg(strstr(why, "514"), "%s", why);
    tpl[498] = '\0';
    ck_assert_int_eq(sl_objkey_check(tpl, 0, NULL, 0, why, sizeof(why)), SL_OK);
    ck_assert_int_eq(sl_objkey_check("e/!{firehose:error-output-type}/", 1, NULL, 0, why,
                                     sizeof(why)), SL_OK);
}
END_TEST

/* sl_objkey_format never writes past <len>, whatever it is given. */
START_TEST(test_objkey_format_stays_in_bounds)
{
    char key[40];
    struct sl_objkey k = { .prefix = "!{timestamp:yyyyyyyyyyyyyyyyyyy}/", .wall_ms = WHEN };

    memset(key, 'x', sizeof(key));
    ck_assert_int_eq(sl_objkey_format(&k, key, 8), SL_ETOOBIG);
    ck_assert_int_eq(key[8], 'x');
    k.prefix = "a/";
    ck_assert_int_eq(sl_objkey_format(&k, key, sizeof(key)), SL_OK);   /* NULL stream etc. */
    ck_assert_int_eq(sl_objkey_format(&k, key, 0), SL_ETOOBIG);
}
END_TEST

Suite *sl_objkey_suite(void)
{
    Suite *s = suite_create("objkey");
    TCase *tc = tcase_create("format");

    tcase_add_test(tc, test_objkey_matches_firehose_layout);
    tcase_add_test(tc, test_objkey_prefix_is_plain_concatenation);
    tcase_add_test(tc, test_objkey_too_long_is_refused);
    tcase_add_test(tc, test_objkey_expressions);
    tcase_add_test(tc, test_objkey_partition_keys);
    tcase_add_loop_test(tc, test_objkey_check_refuses, 0, sizeof(refused) / sizeof(refused[0]));
    tcase_add_test(tc, test_objkey_evaluated_prefix_is_bounded);
    tcase_add_test(tc, test_objkey_long_timestamp_is_safe);
    tcase_add_test(tc, test_objkey_check_bounds_evaluation);
    tcase_add_test(tc, test_objkey_format_stays_in_bounds);
    suite_add_tcase(s, tc);
    return s;
}
