/*
 * test_backoff.c - exponential backoff: doubles up to its cap, with
 * jitter in the upper half of each step.
 */
#include <check.h>
#include <stdint.h>

#include "backoff.h"
#include "suites.h"

START_TEST(test_backoff_grows_to_cap_with_jitter_in_upper_half)
{
    struct sl_backoff bo = { .base_ms = 100, .cap_ms = 10000 };

    for (uint64_t r = 0; r < 1000; r += 7) {
        int64_t d1 = sl_backoff_delay(&bo, 1, r), d4 = sl_backoff_delay(&bo, 4, r);
        int64_t d50 = sl_backoff_delay(&bo, 50, r);
        ck_assert(d1 >= 50 && d1 <= 100);
        ck_assert(d4 >= 400 && d4 <= 800);
        ck_assert(d50 >= 5000 && d50 <= 10000);
    }
}
END_TEST

Suite *sl_backoff_suite(void)
{
    Suite *s = suite_create("backoff");
    TCase *tc = tcase_create("backoff");

    tcase_add_test(tc, test_backoff_grows_to_cap_with_jitter_in_upper_half);
    suite_add_tcase(s, tc);
    return s;
}
