/* test_units.c - sizes, durations and plain numbers. */
#include <check.h>

#include "sluice/err.h"
#include "suites.h"
#include "units.h"

static const struct { const char *in; int rc; uint64_t bytes; } sizes[] = {
    { "0", SL_OK, 0 },           { "1B", SL_OK, 1 },
    { "512KiB", SL_OK, 524288 }, { "5MiB", SL_OK, 5242880 },
    { "1GiB", SL_OK, 1073741824ULL }, { "1.5KiB", SL_OK, 1536 },
    { "1000KiB", SL_OK, 1024000 },
    { "5", SL_EINVAL, 0 },       { "5mb", SL_EINVAL, 0 },    { "MiB", SL_EINVAL, 0 },
    { "-1KiB", SL_EINVAL, 0 },   { "", SL_EINVAL, 0 },       { "5 MiB", SL_EINVAL, 0 },
    { "99999999999TiB", SL_ERANGE, 0 },
};

START_TEST(test_units_size_table)
{
    uint64_t v = 12345;
    int rc = sl_units_size(sizes[_i].in, &v);

    ck_assert_msg(rc == sizes[_i].rc, "'%s': rc %d, want %d", sizes[_i].in, rc, sizes[_i].rc);
    if (rc == SL_OK)
        ck_assert_uint_eq(v, sizes[_i].bytes);
}
END_TEST

static const struct { const char *in; int rc; int64_t ms; } durations[] = {
    { "0", SL_OK, 0 },       { "250ms", SL_OK, 250 }, { "60s", SL_OK, 60000 },
    { "15m", SL_OK, 900000 }, { "2h", SL_OK, 7200000 }, { "1.5s", SL_OK, 1500 },
    { "60", SL_EINVAL, 0 },  { "1d", SL_EINVAL, 0 },  { "s", SL_EINVAL, 0 },
    { "-5s", SL_EINVAL, 0 },
};

START_TEST(test_units_duration_table)
{
    int64_t v = 12345;
    int rc = sl_units_duration(durations[_i].in, &v);

    ck_assert_msg(rc == durations[_i].rc, "'%s': rc %d", durations[_i].in, rc);
    if (rc == SL_OK)
        ck_assert_int_eq(v, durations[_i].ms);
}
END_TEST

START_TEST(test_units_uint_rejects_signs_and_junk)
{
    uint64_t v;

    ck_assert_int_eq(sl_units_uint("42", &v), SL_OK);
    ck_assert_uint_eq(v, 42);
    ck_assert_int_eq(sl_units_uint("-1", &v), SL_EINVAL);
    ck_assert_int_eq(sl_units_uint("4x", &v), SL_EINVAL);
    ck_assert_int_eq(sl_units_uint("99999999999999999999999", &v), SL_ERANGE);
}
END_TEST

Suite *sl_units_suite(void)
{
    Suite *s = suite_create("units");
    TCase *tc = tcase_create("parse");

    tcase_add_loop_test(tc, test_units_size_table, 0, sizeof(sizes) / sizeof(sizes[0]));
    tcase_add_loop_test(tc, test_units_duration_table, 0,
                        sizeof(durations) / sizeof(durations[0]));
    tcase_add_test(tc, test_units_uint_rejects_signs_and_junk);
    suite_add_tcase(s, tc);
    return s;
}
