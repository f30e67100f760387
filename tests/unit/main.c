/*
 * main.c - runs every unit suite. CK_RUN_SUITE=ring runs one suite;
 * CK_FORK=no runs in one process (for gdb). Ends with "unit: N passed,
 * N failed" and exits non-zero if any test failed.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "suites.h"

int main(void)
{
    SRunner *sr = srunner_create(sl_units_suite());
    int run, failed;

    srunner_add_suite(sr, sl_config_suite());
    srunner_add_suite(sr, sl_ring_suite());
    srunner_add_suite(sr, sl_batcher_suite());
    srunner_add_suite(sr, sl_objkey_suite());
    srunner_add_suite(sr, sl_compress_suite());
    srunner_add_suite(sr, sl_metrics_suite());
    srunner_add_suite(sr, sl_source_http_suite());
    srunner_add_suite(sr, sl_source_kafka_suite());
    srunner_add_suite(sr, sl_source_tcp_suite());
    srunner_add_suite(sr, sl_buf_suite());
    srunner_add_suite(sr, sl_backoff_suite());
    srunner_add_suite(sr, sl_fsio_suite());
    srunner_add_suite(sr, sl_sink_file_suite());
    srunner_add_suite(sr, sl_batch_suite());
    srunner_add_suite(sr, sl_deadline_suite());
    srunner_add_suite(sr, sl_base64_suite());
    srunner_add_suite(sr, sl_aws_creds_suite());
    srunner_add_suite(sr, sl_wal_suite());
    srunner_add_suite(sr, sl_delivery_suite());
    srunner_add_suite(sr, sl_firehose_api_suite());
    srunner_add_suite(sr, sl_aws_sigv4_suite());
    srunner_add_suite(sr, sl_partition_suite());
    srunner_add_suite(sr, sl_transform_suite());
    srunner_add_suite(sr, sl_backup_suite());
    srunner_add_suite(sr, sl_json_check_suite());
    srunner_add_suite(sr, sl_transform_json_suite());
    srunner_add_suite(sr, sl_crc32c_suite());
    srunner_add_suite(sr, sl_http_client_suite());
    srunner_add_suite(sr, sl_sink_es_suite());
    srunner_add_suite(sr, sl_sink_pg_suite());
    srunner_add_suite(sr, sl_sink_redshift_suite());
    srunner_add_suite(sr, sl_sink_kafka_suite());
    srunner_run_all(sr, CK_NORMAL);
    run = srunner_ntests_run(sr);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    printf("unit: %d passed, %d failed\n", run - failed, failed);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
