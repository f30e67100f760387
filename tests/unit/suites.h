/* suites.h - one suite per module; each test_<module>.c defines one. */
#ifndef SL_TEST_SUITES_H
#define SL_TEST_SUITES_H

#include <check.h>
#include <stddef.h>

/* helpers.c: the whole content of <path>, NUL-terminated, in <out> (its
 * length, or -1); rm -rf <dir>, asserting it worked. */
long ut_slurp(const char *path, char *out, size_t cap);
void ut_rm_rf(const char *dir);
/* The reports of sink <sink>'s check() over its defaults and the keys
 * "KEY=VALUE" given (NULL-ended), one "KEY: MESSAGE\n" each; "" if none.
 * A static buffer, good until the next call. */
const char *ut_check_sink_keys(const char *sink, const char *first, ...);
/* The same for source <source>'s check_stream over its stream keys. */
const char *ut_check_source_keys(const char *source, const char *first, ...);
/* A loopback port nobody listens on now. */
int ut_free_port(void);

Suite *sl_units_suite(void);
Suite *sl_config_suite(void);
Suite *sl_ring_suite(void);
Suite *sl_batcher_suite(void);
Suite *sl_objkey_suite(void);
Suite *sl_compress_suite(void);
Suite *sl_metrics_suite(void);
Suite *sl_source_http_suite(void);
Suite *sl_source_kafka_suite(void);
Suite *sl_source_tcp_suite(void);
Suite *sl_buf_suite(void);
Suite *sl_backoff_suite(void);
Suite *sl_fsio_suite(void);
Suite *sl_sink_file_suite(void);
Suite *sl_batch_suite(void);
Suite *sl_deadline_suite(void);
Suite *sl_base64_suite(void);
Suite *sl_aws_creds_suite(void);
Suite *sl_delivery_suite(void);
Suite *sl_firehose_api_suite(void);
Suite *sl_aws_sigv4_suite(void);
Suite *sl_partition_suite(void);
Suite *sl_transform_suite(void);
Suite *sl_backup_suite(void);
Suite *sl_json_check_suite(void);
Suite *sl_transform_json_suite(void);
Suite *sl_crc32c_suite(void);
Suite *sl_http_client_suite(void);
Suite *sl_sink_es_suite(void);
Suite *sl_sink_pg_suite(void);
Suite *sl_sink_redshift_suite(void);
Suite *sl_sink_kafka_suite(void);

Suite *sl_wal_suite(void);

#endif
