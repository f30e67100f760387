/*
 * test_buf.c - the bounded growable buffer: an append past its max fails
 * and leaves the contents as they were.
 */
#include <check.h>
#include <string.h>

#include "buf.h"
#include "sluice/err.h"
#include "suites.h"

START_TEST(test_buf_append_past_max_fails_and_keeps_contents)
{
    struct sl_buf b;

    sl_buf_init(&b, 8);
    ck_assert_int_eq(sl_buf_append(&b, "12345", 5), SL_OK);
    ck_assert_int_eq(sl_buf_append(&b, "6789", 4), SL_ETOOBIG);
    ck_assert_uint_eq(b.len, 5);
    ck_assert_int_eq(sl_buf_printf(&b, "%d", 12), SL_OK);
    ck_assert_int_eq(memcmp(b.data, "1234512", 7), 0);
    sl_buf_destroy(&b);
}
END_TEST

Suite *sl_buf_suite(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("buf");

    tcase_add_test(tc, test_buf_append_past_max_fails_and_keeps_contents);
    suite_add_tcase(s, tc);
    return s;
}
