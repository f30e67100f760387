/* test_objkey.c - Firehose's object key layout. */
#include <check.h>
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

Suite *sl_objkey_suite(void)
{
    Suite *s = suite_create("objkey");
    TCase *tc = tcase_create("format");

    tcase_add_test(tc, test_objkey_matches_firehose_layout);
    tcase_add_test(tc, test_objkey_prefix_is_plain_concatenation);
    tcase_add_test(tc, test_objkey_too_long_is_refused);
    suite_add_tcase(s, tc);
    return s;
}
