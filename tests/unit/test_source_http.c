/* test_source_http.c - the HTTP source's own metrics (sluice_http_*). */
#include <check.h>
#include <string.h>

#include "auth.h"
#include "source_http.h"
#include "sluice/err.h"
#include "suites.h"

#define HAS(page, line) ck_assert_msg(strstr(page, line "\n") != NULL, "missing: %s", line)

START_TEST(test_source_http_auth_refusals_by_reason_and_401_as_its_own_status)
{
    static struct sl_http_stats hs;
    struct sl_buf out;

    memset(&hs, 0, sizeof(hs));
    sl_source_http_count(&hs, SL_HOP_NDJSON, 401, 0.001);
    sl_source_http_count(&hs, SL_HOP_PUT_RECORD, 403, 0.001);
    sl_stat_add(&hs.auth_failures[SL_AUTH_R_BAD_SIGNATURE], 3);
    sl_buf_init(&out, 1 << 20);
    sl_source_http_render(&out, &hs);
    sl_buf_append(&out, "", 1);
    HAS((char *)out.data, "sluice_http_requests_total{operation=\"ndjson\",status=\"401\"} 1");
    HAS((char *)out.data, "sluice_http_requests_total{operation=\"PutRecord\",status=\"403\"} 1");
    HAS((char *)out.data, "sluice_http_auth_failures_total{reason=\"bad_signature\"} 3");
    for (int k = 0; k < SL_AUTH_R_N; k++)
        ck_assert_ptr_nonnull(strstr((char *)out.data, sl_auth_reason_names[k]));
    ck_assert_ptr_null(strstr((char *)out.data, "status=\"other\""));
    sl_buf_destroy(&out);
}
END_TEST

Suite *sl_source_http_suite(void)
{
    Suite *s = suite_create("source_http");
    TCase *tc = tcase_create("metrics");

    tcase_add_test(tc, test_source_http_auth_refusals_by_reason_and_401_as_its_own_status);
    suite_add_tcase(s, tc);
    return s;
}
