/* test_sink_redshift.c - the redshift sink's manifests: where they go. */
#include <check.h>
#include <string.h>

#include "sink_redshift.h"
#include "sluice/err.h"
#include "suites.h"

/* 2024-05-07 13:45:00 UTC */
#define WALL 1715089500000LL

static const struct {
    const char *key;
    int errors;
    const char *want;
} cases[] = {
    /* the default prefix: time folders, then the name */
    { "2024/05/07/13/s-1-2024-05-07-13-45-00-0b7e.gz", 0,
      "manifests/2024/05/07/13/s-1-2024-05-07-13-45-00-0b7e" },
    { "2024/05/07/13/s-1-2024-05-07-13-45-00-0b7e.gz", 1,
      "errors/manifests/2024/05/07/13/s-1-2024-05-07-13-45-00-0b7e" },
    /* a plain prefix: manifests/ goes after it */
    { "logs/2024/05/07/13/s-1-2024-05-07-13-45-00-0b7e.zst", 0,
      "logs/manifests/2024/05/07/13/s-1-2024-05-07-13-45-00-0b7e" },
    { "logs2024/05/07/13/s-1-2024-05-07-13-45-00-0b7e", 0,
      "logsmanifests/2024/05/07/13/s-1-2024-05-07-13-45-00-0b7e" },
    /* a prefix with expressions (no time folders appended): all of it kept */
    { "year=2024/cust=a/s-1-2024-05-07-13-45-00-0b7e.gz", 0,
      "year=2024/cust=a/manifests/2024/05/07/13/s-1-2024-05-07-13-45-00-0b7e" },
    { "s-1-2024-05-07-13-45-00-0b7e.gz", 1,
      "errors/manifests/2024/05/07/13/s-1-2024-05-07-13-45-00-0b7e" },
};

START_TEST(test_sink_redshift_manifest_keys_follow_the_object)
{
    char out[512];

    ck_assert_int_eq(sl_sink_redshift_manifest_key(cases[_i].key, WALL, cases[_i].errors, out,
                                                   sizeof(out)), SL_OK);
    ck_assert_str_eq(out, cases[_i].want);
}
END_TEST

START_TEST(test_sink_redshift_manifest_key_too_long_is_refused)
{
    char out[40];

    ck_assert_int_eq(sl_sink_redshift_manifest_key("logs/2024/05/07/13/s-1-2024-05-07-13-45-"
                                                   "00-0b7e.gz", WALL, 0, out, sizeof(out)),
                     SL_ETOOBIG);
}
END_TEST

Suite *sl_sink_redshift_suite(void)
{
    Suite *s = suite_create("sink_redshift");
    TCase *tc = tcase_create("core");

    tcase_add_loop_test(tc, test_sink_redshift_manifest_keys_follow_the_object, 0,
                        (int)(sizeof(cases) / sizeof(cases[0])));
    tcase_add_test(tc, test_sink_redshift_manifest_key_too_long_is_refused);
    suite_add_tcase(s, tc);
    return s;
}
