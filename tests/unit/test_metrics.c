/* test_metrics.c - the Prometheus text page and the balance it promises. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "sluice/err.h"
#include "suites.h"

static struct sl_stream_stats st;

static char *render(void)
{
    struct sl_metrics_stream ms = { .name = "clicks", .sink = "file", .st = &st,
                                    .freshness_s = 1.5 };
    struct sl_metrics_process p = { .version = "9.9.9", .reloads_ok = 2,
                                    .reloads_failed = 1, .start_time_s = 100 };
    struct sl_buf out;

    sl_buf_init(&out, 1 << 20);
    ck_assert_int_eq(sl_metrics_render(&out, &ms, 1, &p), SL_OK);
    sl_buf_append(&out, "", 1);
    return (char *)out.data;
}

#define HAS(page, line) ck_assert_msg(strstr(page, line "\n") != NULL, "missing: %s", line)

START_TEST(test_metrics_page_has_fixed_names_and_labels)
{
    memset(&st, 0, sizeof(st));
    sl_stat_add(&st.received_records[SL_SRC_TCP], 10);
    sl_stat_add(&st.received_bytes[SL_SRC_TCP], 100);
    sl_stat_add(&st.rejected[SL_SRC_TCP][SL_REJ_OVERSIZE], 3);
    sl_stat_add(&st.sealed[SL_SEAL_SIZE], 4);
    sl_stat_add(&st.retries[SL_RETRY_SINK], 5);
    sl_metrics_settle(&st, SL_OUTCOME_DELIVERED, 0, 6, 60);
    sl_metrics_settle(&st, SL_OUTCOME_BACKED_UP, SL_BK_RETRIES_EXHAUSTED, 1, 10);
    sl_metrics_observe(&st.delivery, 0.02);
    sl_metrics_observe(&st.delivery, 1000);
    sl_stat_add(&st.sink.existing, 7);
    char *page = render();

    HAS(page, "sluice_records_received_total{stream=\"clicks\",source=\"tcp\"} 10");
    HAS(page, "sluice_bytes_received_total{stream=\"clicks\",source=\"tcp\"} 100");
    HAS(page, "sluice_records_rejected_total{stream=\"clicks\",source=\"tcp\",reason=\"oversize\"} 3");
    HAS(page, "sluice_records_buffered{stream=\"clicks\"} 3");
    HAS(page, "sluice_bytes_buffered{stream=\"clicks\"} 30");
    HAS(page, "sluice_batches_sealed_total{stream=\"clicks\",reason=\"size\"} 4");
    HAS(page, "sluice_records_delivered_total{stream=\"clicks\",sink=\"file\"} 6");
    HAS(page, "sluice_bytes_delivered_total{stream=\"clicks\",sink=\"file\"} 60");
    HAS(page, "sluice_objects_existing_total{stream=\"clicks\",sink=\"file\"} 7");
    HAS(page, "# TYPE sluice_objects_existing_total counter");
    HAS(page, "sluice_records_backed_up_total{stream=\"clicks\",reason=\"retries_exhausted\"} 1");
    HAS(page, "sluice_records_dropped_total{stream=\"clicks\",reason=\"transform_dropped\"} 0");
    HAS(page, "sluice_delivery_retries_total{stream=\"clicks\",sink=\"file\",cause=\"sink\"} 5");
    HAS(page, "sluice_delivery_duration_seconds_bucket{stream=\"clicks\",sink=\"file\",le=\"0.025\"} 1");
    HAS(page, "sluice_delivery_duration_seconds_bucket{stream=\"clicks\",sink=\"file\",le=\"+Inf\"} 2");
    HAS(page, "sluice_delivery_duration_seconds_count{stream=\"clicks\",sink=\"file\"} 2");
    HAS(page, "sluice_data_freshness_seconds{stream=\"clicks\"} 1.500");
    HAS(page, "sluice_connections{stream=\"clicks\",source=\"tcp\"} 0");
    HAS(page, "sluice_connections_rejected_total{stream=\"clicks\",source=\"tcp\"} 0");
    HAS(page, "sluice_config_reloads_total{result=\"success\"} 2");
    HAS(page, "sluice_config_reloads_total{result=\"failure\"} 1");
    HAS(page, "sluice_build_info{version=\"9.9.9\"} 1");
    HAS(page, "# TYPE sluice_delivery_duration_seconds histogram");
    HAS(page, "# TYPE sluice_records_buffered gauge");
    HAS(page, "process_start_time_seconds 100.000");
    ck_assert_ptr_nonnull(strstr(page, "process_resident_memory_bytes "));
    free(page);
}
END_TEST

START_TEST(test_metrics_each_family_declared_once)
{
    memset(&st, 0, sizeof(st));
    char *page = render();
    const char *p = page;
    int n = 0;

    while ((p = strstr(p, "# TYPE sluice_records_received_total ")))
        n++, p++;
    ck_assert_int_eq(n, 1);
    free(page);
}
END_TEST

START_TEST(test_metrics_held_bytes_are_received_minus_settled)
{
    memset(&st, 0, sizeof(st));
    sl_stat_add(&st.received_bytes[SL_SRC_TCP], 1000);
    ck_assert_uint_eq(sl_metrics_bytes_held(&st), 1000);
    sl_metrics_settle(&st, SL_OUTCOME_DELIVERED, 0, 1, 400);
    sl_metrics_settle(&st, SL_OUTCOME_DROPPED, 0, 1, 100);
    ck_assert_uint_eq(sl_metrics_bytes_held(&st), 500);
    sl_metrics_settle(&st, SL_OUTCOME_ABANDONED, 0, 1, 500);   /* still held */
    ck_assert_uint_eq(sl_metrics_bytes_held(&st), 500);
}
END_TEST

/* A sink's own families come through its hook, once for all the streams
 * using it; the generic sink families come for every stream. */
static int hook_calls;
static size_t hook_n;

static void own_hook(struct sl_buf *o, const struct sl_metrics_sink *s, size_t n)
{
    hook_calls++;
    hook_n = n;
    sl_metrics_family(o, "sluice_test_own_total", "counter", "A sink's own family.");
    for (size_t i = 0; i < n; i++)
        sl_buf_printf(o, "sluice_test_own_total{stream=\"%s\"} %llu\n", s[i].stream,
                      (unsigned long long)atomic_load(&s[i].st->own[0]));
}

START_TEST(test_metrics_sink_hook_runs_once_for_its_streams)
{
    static struct sl_stream_stats a, b, c;
    struct sl_metrics_stream ms[3] = {
        { .name = "a", .sink = "x", .sink_metrics = own_hook, .st = &a },
        { .name = "b", .sink = "file", .st = &b },
        { .name = "c", .sink = "x", .sink_metrics = own_hook, .st = &c },
    };
    struct sl_metrics_process p = { .version = "9.9.9" };
    struct sl_buf out;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&c, 0, sizeof(c));
    sl_stat_add(&c.sink.own[0], 4);
    sl_stat_add(&b.sink.writes[0], 2);
    sl_stat_add(&b.sink.errors[SL_SINK_ERR_REFUSED], 1);
    hook_calls = 0;
    sl_buf_init(&out, 1 << 20);
    ck_assert_int_eq(sl_metrics_render(&out, ms, 3, &p), SL_OK);
    sl_buf_append(&out, "", 1);
    ck_assert_int_eq(hook_calls, 1);
    ck_assert_uint_eq(hook_n, 2);
    HAS((char *)out.data, "sluice_test_own_total{stream=\"c\"} 4");
    HAS((char *)out.data, "sluice_sink_writes_total{stream=\"b\",sink=\"file\",result=\"ok\"} 2");
    HAS((char *)out.data, "sluice_sink_errors_total{stream=\"b\",sink=\"file\",class=\"refused\"} 1");
    ck_assert_ptr_null(strstr((char *)out.data, "class=\"backup\""));
    ck_assert_ptr_null(strstr((char *)out.data, "sluice_test_own_total{stream=\"b\"}"));
    sl_buf_destroy(&out);
}
END_TEST

Suite *sl_metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("render");

    tcase_add_test(tc, test_metrics_page_has_fixed_names_and_labels);
    tcase_add_test(tc, test_metrics_each_family_declared_once);
    tcase_add_test(tc, test_metrics_held_bytes_are_received_minus_settled);
    tcase_add_test(tc, test_metrics_sink_hook_runs_once_for_its_streams);
    suite_add_tcase(s, tc);
    return s;
}
