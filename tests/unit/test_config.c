/* test_config.c - loading, defaults, and every kind of error message. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "sink.h"
#include "source.h"
#include "sluice/err.h"
#include "suites.h"

static char path[64];

/* Writes <text> to a temp file and loads it; errors go to <errs>. */
static int load_text(const char *text, struct sl_config **c, struct sl_buf *errs)
{
    int fd;

    snprintf(path, sizeof(path), "/tmp/sluice-conf-XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    sl_buf_init(errs, 1 << 16);
    int rc = sl_config_load(path, c, errs);
    sl_buf_append(errs, "", 1);   /* NUL-terminate for strstr */
    unlink(path);
    return rc;
}

#define GOOD_STREAM "[stream s1]\ntcp_listen = 127.0.0.1:0\nfile.path = /tmp/x\n"

START_TEST(test_config_defaults_apply)
{
    struct sl_config *c;
    struct sl_buf e;

    ck_assert_int_eq(load_text(GOOD_STREAM, &c, &e), SL_OK);
    ck_assert_uint_eq(c->nstreams, 1);
    const struct sl_stream_conf *s = sl_config_stream(c, "s1");
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(s->buffer_size, 5 << 20);
    ck_assert_int_eq(s->buffer_interval_ms, 60000);
    ck_assert_uint_eq(s->max_buffered, 256 << 20);
    ck_assert_uint_eq(s->max_record_size, 1000 * 1024);
    ck_assert_int_eq(s->compression, SL_COMP_GZIP);
    ck_assert_uint_eq(s->compression_level, 6);
    ck_assert_int_eq(s->retry_duration_ms, 300000);
    ck_assert_str_eq(s->sink, "file");
    ck_assert_str_eq(s->backup_path, "/var/lib/sluice/backup");
    ck_assert_str_eq(c->metrics_listen, "127.0.0.1:9440");
    ck_assert_int_eq(c->shutdown_timeout_ms, 30000);
    ck_assert_uint_gt(c->workers, 0);
    sl_config_unref(c);
    sl_buf_destroy(&e);
}
END_TEST

START_TEST(test_config_zstd_level_defaults_to_3)
{
    struct sl_config *c;
    struct sl_buf e;

    ck_assert_int_eq(load_text(GOOD_STREAM "compression = zstd\n", &c, &e), SL_OK);
    ck_assert_uint_eq(c->streams[0].compression_level, 3);
    sl_config_unref(c);
    sl_buf_destroy(&e);
}
END_TEST

/* Each bad input and a piece of the message it must produce. */
static const struct { const char *text; const char *want; } bad[] = {
    { GOOD_STREAM "bogus = 1\n", ":4: [stream s1] bogus: unknown key" },
    { GOOD_STREAM "buffer_size = banana\n", ":4: [stream s1] buffer_size: 'banana' is not a size" },
    { GOOD_STREAM "buffer_size = 512B\n", "buffer_size: 512B is out of range" },
    { GOOD_STREAM "buffer_size = 129MiB\n", "buffer_size: 129MiB is out of range" },
    { GOOD_STREAM "buffer_interval = 901s\n", "buffer_interval: 901s is out of range" },
    { GOOD_STREAM "buffer_interval = 60\n", "'60' is not a duration" },
    { GOOD_STREAM "compression = lz4\n", "'lz4' is not one of: none gzip zstd" },
    { GOOD_STREAM "compression_level = 12\n", "compression_level: gzip takes 1..9" },
    { GOOD_STREAM "compression = zstd\ncompression_level = 20\n", "compression_level: 20 is out of range" },
    { GOOD_STREAM "compression = none\ncompression_level = 2\n", "set, but compression is none" },
    { GOOD_STREAM "max_buffered = 1MiB\n", "max_buffered: must be at least 4/3 of buffer_size" },
    { GOOD_STREAM "buffer_size = 3MiB\nmax_buffered = 4MiB - 1B\n", "max_buffered: '4MiB - 1B'" },
    { GOOD_STREAM "buffer_size = 3MiB\nmax_buffered = 3.99MiB\n", "max_buffered: must be at least 4/3" },
    { GOOD_STREAM "max_record_size = 2000KiB\n", "max_record_size: 2000KiB is out of range" },
    { GOOD_STREAM "record_delimiter = tab\n", "'tab' is not one of: newline none" },
    { GOOD_STREAM "prefix = !{foo:bar}/\n", ":4: [stream s1] prefix: unknown expression !{foo:bar}" },
    { GOOD_STREAM "prefix = d=!{timestamp:yyyy}/\nerror_prefix =\n",
      ":5: [stream s1] error_prefix: required when prefix holds expressions" },
    { GOOD_STREAM "error_prefix = e/!{timestamp:yyyy}/\n",
      "error_prefix: an error_prefix with expressions must hold !{firehose:error-output-type}" },
    { GOOD_STREAM "partition_keys = c=.customer\n",
      "partition_keys: key c is not used in prefix (write !{partitionKeyFromQuery:c} there)" },
    { GOOD_STREAM "prefix = !{partitionKeyFromQuery:c}/\n",
      "prefix: !{partitionKeyFromQuery:c}: no such key in partition_keys" },
    { GOOD_STREAM "partition_keys = c=customer\n", "partition_keys: 'customer': a path is" },
    { GOOD_STREAM "sink = kinesis\n", "sink: 'kinesis' is not one of: file s3" },
    { GOOD_STREAM "sink = s3\ns3.bucket = logs\n", ":3: [stream s1] file.path: set, but sink = s3" },
    { GOOD_STREAM "s3.bucket = logs\n", ":4: [stream s1] s3.bucket: set, but sink = file" },
    { "[stream s1]\nsink = s3\n", ":1: [stream s1] s3.bucket: required: the bucket objects go to" },
    { "[stream s1]\nsink = s3\ns3.bucket = Bad_Bucket\n", "'Bad_Bucket' is not a bucket name" },
    { "[stream s1]\nsink = s3\ns3.bucket = ab\n", "'ab' is not a bucket name" },
    { "[stream s1]\nsink = s3\ns3.bucket = logs\ns3.endpoint = ftp://x\n",
      ":4: [stream s1] s3.endpoint: 'ftp://x' must start with http:// or https://" },
    { "[stream s1]\nsink = s3\ns3.bucket = logs\ns3.sse_kms_key_id = k\n",
      "s3.sse_kms_key_id: set, but s3.sse is not aws:kms" },
    { "[stream s1]\nsink = s3\ns3.bucket = logs\ns3.part_size = 1MiB\n",
      "s3.part_size: 1MiB is out of range" },
    { "[stream s1]\nsink = s3\ns3.bucket = logs\ns3.sse = des\n",
      "s3.sse: 'des' is not one of: none AES256 aws:kms" },
    { GOOD_STREAM "tcp_listen = 127.0.0.1\n", "set twice in one section" },
    { "[stream s1]\ntcp_listen = nohost:99999\nfile.path = /x\n", "tcp_listen: 'nohost:99999': port must be" },
    { "[stream s1]\ntcp_listen = 127.0.0.1:1\n", ":1: [stream s1] file.path: required when sink = file" },
    { "[stream bad/name]\nfile.path = /x\n", ":1: [stream bad/name]: stream name must be" },
    { GOOD_STREAM "[stream s1]\nfile.path = /y\n", ":4: [stream s1]: stream defined twice (first at line 1)" },
    { "[sluice]\nworkers = 0\n" GOOD_STREAM, ":2: [sluice] workers: 0 is out of range 1..256" },
    { "[sluice]\nlog_level = loud\n" GOOD_STREAM, "log_level: 'loud' is not one of" },
    { "[sluice]\nshutdown_timeout = 2h\n" GOOD_STREAM, "shutdown_timeout: 2h is out of range" },
    { "[sluice]\nmetrics_listen = 9440\n" GOOD_STREAM, "metrics_listen: '9440': expected HOST:PORT" },
    { "[sluice]\n", "no [stream NAME] section" },
    { "[other]\nx = 1\n" GOOD_STREAM, ":1: [other]: unknown section" },
    { "key = 1\n" GOOD_STREAM, ":1: [-] key: key outside of any section" },
    { GOOD_STREAM "this line is not ini\n", ":4: [-]: syntax error" },
    { GOOD_STREAM "[stream s2]\ntcp_listen = 127.0.0.1:0\nfile.path = /x\n"
      "[stream s3]\ntcp_listen = 127.0.0.1:7\nfile.path = /x\n"
      "[stream s4]\ntcp_listen = 127.0.0.1:7\nfile.path = /x\n",
      "tcp_listen: 127.0.0.1:7 is already used by stream s3" },
    /* the sources' keys, at the level each belongs to */
    { "[sluice]\ntcp_listen = 127.0.0.1:1\n" GOOD_STREAM, ":2: [sluice] tcp_listen: unknown key" },
    { GOOD_STREAM "io_threads = 2\n", ":4: [stream s1] io_threads: unknown key" },
    { GOOD_STREAM "http_listen = 127.0.0.1:1\n", ":4: [stream s1] http_listen: unknown key" },
    { "[sluice]\nio_threads = 0\n" GOOD_STREAM, ":2: [sluice] io_threads: 0 is out of range 1..64" },
    { "[sluice]\nhttp_listen = 127.0.0.1:1\nhttp_listen = 127.0.0.1:2\n" GOOD_STREAM,
      ":3: [sluice] http_listen: set twice in one section (first at line 2)" },
    { GOOD_STREAM "max_connections = 0\n", ":4: [stream s1] max_connections: 0 is out of range" },
    { "[sluice]\nhttp_tls_cert = /x.pem\n" GOOD_STREAM,
      ":2: [sluice] http_tls_key: http_tls_cert and http_tls_key go together" },
    { "[sluice]\nhttp_max_decompressed = 300MiB\n" GOOD_STREAM,
      ":2: [sluice] http_max_body_memory: 268435456 bytes is less than http_max_body + "
      "http_max_decompressed (322961408)" },
    { "[sluice]\nhttp_auth = token\n" GOOD_STREAM, ":2: [sluice] http_auth_file: " },
    /* a sink with a stage (redshift: s3's keys, for its staging bucket) */
    { "[stream s1]\nsink = redshift\ns3.bucket = logs\nredshift.table = t\n",
      ":1: [stream s1] redshift.conninfo: required when sink = redshift" },
    { "[stream s1]\nsink = redshift\nredshift.conninfo = host=h\nredshift.table = t\n",
      ":1: [stream s1] s3.bucket: required: the bucket objects go to" },
    { "[stream s1]\nsink = redshift\nredshift.conninfo = host=h\nredshift.table = t\n"
      "s3.bucket = ab\n", ":5: [stream s1] s3.bucket: 'ab' is not a bucket name" },
    { "[stream s1]\nsink = redshift\nredshift.conninfo = host=h\nredshift.table = t\n"
      "s3.bucket = logs\ns3.bucket = logs\n", ":6: [stream s1] s3.bucket: set twice" },
    { "[stream s1]\nsink = redshift\nredshift.conninfo = host=h\nredshift.table = t\n"
      "s3.bucket = logs\nredshift.copy_options = JSON 'auto'; DROP TABLE t\n",
      ":6: [stream s1] redshift.copy_options: ';' would end the COPY statement" },
    { "[stream s1]\nsink = redshift\nredshift.conninfo = host=h\nredshift.table = t\n"
      "s3.bucket = logs\nredshift.copy_options = JSON 'auto' SECRET_ACCESS_KEY 'k'\n",
      ":6: [stream s1] redshift.copy_options: SECRET_ACCESS_KEY: credentials belong in" },
    { "[stream s1]\nsink = redshift\nredshift.conninfo = host=h\nredshift.table = t\n"
      "s3.bucket = logs\nredshift.credentials = aws_iam_role=a\\b\n",
      ":6: [stream s1] redshift.credentials: must not hold a quote or a backslash" },
    { "[stream s1]\nsink = redshift\nredshift.conninfo = host=h password=pw x\n"
      "redshift.table = t\ns3.bucket = logs\n",
      ":3: [stream s1] redshift.conninfo: libpq cannot parse it" },
    { GOOD_STREAM "redshift.table = t\n", ":4: [stream s1] redshift.table: set, but sink = file" },
    { "[stream s1]\nsink = s3\ns3.bucket = logs\nredshift.table = t\n",
      ":4: [stream s1] redshift.table: set, but sink = s3" },
};

START_TEST(test_config_bad_input_names_file_line_and_key)
{
    struct sl_config *c = (void *)1;
    struct sl_buf e;
    int rc = load_text(bad[_i].text, &c, &e);

    ck_assert_int_eq(rc, SL_EINVAL);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr((char *)e.data, bad[_i].want) != NULL,
                  "case %d: want '%s' in:\n%s", _i, bad[_i].want, (char *)e.data);
    ck_assert_msg(strncmp((char *)e.data, path, strlen(path)) == 0,
                  "message does not start with the file name: %s", (char *)e.data);
    sl_buf_destroy(&e);
}
END_TEST

/* A redshift stream takes every s3.* key, into the s3 part of its keys:
 * the staging bucket is what dest() reports (backups go there). */
START_TEST(test_config_stage_sink_keys_reach_the_stage)
{
    struct sl_config *c;
    struct sl_buf e;
    struct sl_sink_dest d = { 0 };

    ck_assert_int_eq(load_text("[stream s1]\nsink = redshift\nredshift.conninfo = host=h\n"
                               "redshift.table = t\ns3.bucket = stage-bucket\n"
                               "s3.sse = aws:kms\ns3.sse_kms_key_id = k1\n", &c, &e), SL_OK);
    ck_assert_str_eq(c->streams[0].sink_ops->name, "redshift");
    ck_assert_ptr_eq(sl_sink_stage(c->streams[0].sink_ops), sl_sink_find("s3"));
    c->streams[0].sink_ops->dest(c->streams[0].sink_conf, &d);
    ck_assert_str_eq(d.bucket, "stage-bucket");
    ck_assert_str_eq(d.location, "s3://stage-bucket");
    ck_assert_str_eq(d.kms_key_arn, "arn:aws:kms:us-east-1:000000000000:key/k1");
    ck_assert_int_eq(c->streams[0].backup_in_sink, 1);
    ck_assert_ptr_null(sl_sink_stage(sl_sink_find("s3")));
    ck_assert_int_eq(c->streams[0].retry_duration_ms, 3600 * 1000);   /* Firehose's */
    sl_config_unref(c);
    sl_buf_destroy(&e);
    ck_assert_int_eq(load_text("[stream s1]\nsink = redshift\nredshift.conninfo = host=h\n"
                               "redshift.table = t\ns3.bucket = b-b\nretry_duration = 5s\n",
                               &c, &e), SL_OK);
    ck_assert_int_eq(c->streams[0].retry_duration_ms, 5000);             /* set: kept */
    sl_config_unref(c);
    sl_buf_destroy(&e);
}
END_TEST

/* SL_K_MAP: a row "PREFIX*" takes every key under PREFIX, each NAME once,
 * within its field's size. */
struct map_conf { char brokers[64]; char opt[48]; };
static const struct sl_conf_key map_keys[] = {
    { "k.brokers", SL_K_STRING, SL_KSTR(struct map_conf, brokers), 0, 0, "", NULL, "b" },
    { "k.option.*", SL_K_MAP, SL_KSTR(struct map_conf, opt), 0, 0, NULL, NULL, "o" },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

START_TEST(test_config_map_keys_take_any_name_under_their_prefix)
{
    struct map_conf c = { "", "" };
    char why[128], n[32], v[32];
    size_t pos = 0;
    int i = sl_conf_key_index(map_keys, "k.option.acks");

    ck_assert_int_eq(i, 1);
    ck_assert_int_eq(sl_conf_key_index(map_keys, "k.brokers"), 0);
    ck_assert_int_eq(sl_conf_key_index(map_keys, "k.option."), -1);   /* no NAME */
    ck_assert_int_eq(sl_conf_key_index(map_keys, "k.optionx"), -1);
    ck_assert_int_eq(sl_conf_key_set_named(&map_keys[i], &c, "k.option.acks", "all", why,
                                           sizeof(why)), SL_OK);
    ck_assert_int_eq(sl_conf_key_set_named(&map_keys[i], &c, "k.option.linger.ms", "5", why,
                                           sizeof(why)), SL_OK);
    ck_assert_str_eq(c.opt, "acks=all\nlinger.ms=5\n");
    ck_assert_int_eq(sl_conf_key_set_named(&map_keys[i], &c, "k.option.acks", "1", why,
                                           sizeof(why)), SL_EINVAL);
    ck_assert_str_eq(why, "set twice in one section");
    ck_assert_int_eq(sl_conf_key_set_named(&map_keys[i], &c, "k.option.a=b", "1", why,
                                           sizeof(why)), SL_EINVAL);
    ck_assert_int_eq(sl_conf_key_set_named(&map_keys[i], &c, "k.option.big",
                                           "0123456789012345678901234567890", why,
                                           sizeof(why)), SL_ETOOBIG);
    ck_assert_str_eq(c.opt, "acks=all\nlinger.ms=5\n");          /* unchanged by refusals */
    ck_assert_int_eq(sl_conf_key_map_next(c.opt, &pos, n, sizeof(n), v, sizeof(v)), 1);
    ck_assert_str_eq(n, "acks");
    ck_assert_str_eq(v, "all");
    ck_assert_int_eq(sl_conf_key_map_next(c.opt, &pos, n, sizeof(n), v, sizeof(v)), 1);
    ck_assert_str_eq(n, "linger.ms");
    ck_assert_str_eq(v, "5");
    ck_assert_int_eq(sl_conf_key_map_next(c.opt, &pos, n, sizeof(n), v, sizeof(v)), 0);
}
END_TEST

START_TEST(test_config_reports_every_error_not_just_the_first)
{
    struct sl_config *c;
    struct sl_buf e;

    ck_assert_int_eq(load_text(GOOD_STREAM "buffer_size = x\nidle_timeout = y\nfoo = 1\n",
                               &c, &e), SL_EINVAL);
    ck_assert_ptr_nonnull(strstr((char *)e.data, "buffer_size"));
    ck_assert_ptr_nonnull(strstr((char *)e.data, "idle_timeout"));
    ck_assert_ptr_nonnull(strstr((char *)e.data, "foo: unknown key"));
    sl_buf_destroy(&e);
}
END_TEST

START_TEST(test_config_overlong_line_is_refused_whole)
{
    char text[1024];
    struct sl_config *c;
    struct sl_buf e;

    snprintf(text, sizeof(text), GOOD_STREAM "prefix = %0300d\nbuffer_size = x\n", 7);
    ck_assert_int_eq(load_text(text, &c, &e), SL_EINVAL);
    ck_assert_msg(strstr((char *)e.data, ":4: [-]: line longer than") != NULL, "%s", e.data);
    ck_assert_ptr_nonnull(strstr((char *)e.data, "(key 'prefix')"));
    /* the next line keeps its own number: the long one was not split */
    ck_assert_ptr_nonnull(strstr((char *)e.data, ":5: [stream s1] buffer_size:"));
    ck_assert_ptr_null(strstr((char *)e.data, "syntax error"));
    sl_buf_destroy(&e);
}
END_TEST

START_TEST(test_config_missing_file_is_an_error)
{
    struct sl_config *c;
    struct sl_buf e;

    sl_buf_init(&e, 4096);
    ck_assert_int_eq(sl_config_load("/nonexistent/sluice.conf", &c, &e), SL_EINVAL);
    sl_buf_append(&e, "", 1);
    ck_assert_ptr_nonnull(strstr((char *)e.data, "/nonexistent/sluice.conf: cannot open"));
    sl_buf_destroy(&e);
}
END_TEST

START_TEST(test_config_example_file_is_valid)
{
    struct sl_config *c;
    struct sl_buf e;

    sl_buf_init(&e, 1 << 16);
    ck_assert_int_eq(sl_config_load("conf/sluice.conf", &c, &e), SL_OK);
    ck_assert_ptr_nonnull(sl_config_stream(c, "clicks"));
    sl_config_unref(c);
    sl_buf_destroy(&e);
}
END_TEST

/* Every key is one source's, one sink's or sluice's own: --help lists
 * each name once, and no source key falls under a sink's prefix. */
START_TEST(test_config_every_key_has_one_owner)
{
    const struct sl_source_ops *o;
    struct sl_buf help;
    char name[128];

    sl_buf_init(&help, 1 << 20);
    sl_config_describe(&help);
    sl_buf_append(&help, "", 1);
    for (const char *l = (const char *)help.data; l && *l; l = strchr(l, '\n') + 1) {
        if (strncmp(l, "  ", 2) == 0 && sscanf(l, "%127s default ", name) == 1) {
            char row[160];
            snprintf(row, sizeof(row), "\n  %s ", name);
            const char *first = strstr((const char *)help.data, row);
            ck_assert_msg(first && !strstr(first + 1, row), "%s is listed twice", name);
        }
        if (!strchr(l, '\n'))
            break;
    }
    for (size_t i = 0; (o = sl_source_at(i)); i++)
        for (const struct sl_conf_key *k = o->stream_keys; k && k->name; k++)
            ck_assert_msg(!sl_sink_by_key(k->name), "%s: under a sink's prefix", k->name);
    sl_buf_destroy(&help);
}
END_TEST

/* A registered source has the hooks main.c calls, and its restart tables
 * name rows of its key tables. */
START_TEST(test_config_sources_are_complete)
{
    const struct sl_source_ops *o;
    size_t n = 0;

    for (size_t i = 0; (o = sl_source_at(i)); i++, n++) {
        ck_assert_ptr_nonnull(o->name);
        ck_assert_ptr_eq(sl_source_find(o->name), o);
        ck_assert(o->open && o->start && o->stop && o->free);
        const struct sl_conf_key *pairs[2][2] = { { o->process_restart, o->process_keys },
                                                  { o->stream_restart, o->stream_keys } };
        for (int t = 0; t < 2; t++)
            for (const struct sl_conf_key *r = pairs[t][0]; r && r->name; r++) {
                int k = pairs[t][1] ? sl_conf_key_index(pairs[t][1], r->name) : -1;
                ck_assert_msg(k >= 0, "%s: restart key %s is not a key", o->name, r->name);
                ck_assert_uint_eq(pairs[t][1][k].off, r->off);
                ck_assert_int_eq(pairs[t][1][k].type, r->type);
            }
    }
    ck_assert_uint_ge(n, 2);
    ck_assert_uint_le(n, SL_SOURCES_MAX);
    ck_assert_ptr_null(sl_source_find("nope"));
}
END_TEST

/* A registered sink has the hooks the engine calls, keys under its own
 * prefix only, and `sink =` takes exactly the registry's names. */
START_TEST(test_config_sinks_are_complete)
{
    const struct sl_sink_ops *o;
    size_t n = 0;

    for (size_t i = 0; (o = sl_sink_at(i)); i++, n++) {
        ck_assert_ptr_nonnull(sl_sink_enum[i]);
        ck_assert_str_eq(sl_sink_enum[i], o->name);
        ck_assert_ptr_eq(sl_sink_find(o->name), o);
        ck_assert(o->create && o->deliver && o->destroy && o->prefix && o->keys);
        ck_assert(o->shape == SL_SINK_OBJECTS || o->shape == SL_SINK_RECORDS);
        for (const struct sl_conf_key *k = o->keys; k->name; k++) {
            ck_assert_msg(strncmp(k->name, o->prefix, strlen(o->prefix)) == 0,
                          "%s: not under %s", k->name, o->prefix);
            ck_assert_ptr_eq(sl_sink_by_key(k->name), o);
            ck_assert_uint_le(k->off + (k->size ? k->size : sizeof(uint64_t)), o->conf_size);
        }
    }
    ck_assert_ptr_null(sl_sink_enum[n]);
    ck_assert_uint_ge(n, 3);
    ck_assert_uint_le(n, SL_SINK_MAX);
    ck_assert_ptr_null(sl_sink_find("nope"));
}
END_TEST

/* The slot of source <name> in the registry. */
static size_t source_slot(const char *name)
{
    size_t i = 0;

    while (sl_source_at(i) && strcmp(sl_source_at(i)->name, name) != 0)
        i++;
    ck_assert_ptr_nonnull(sl_source_at(i));
    return i;
}

/* What a reload compares: tcp_listen and the http_* keys need a restart,
 * max_connections and idle_timeout do not. */
START_TEST(test_config_source_restart_keys_tell_a_reload_apart)
{
    size_t tcp = source_slot("tcp"), http = source_slot("http");
    const struct sl_source_ops *t = sl_source_at(tcp), *h = sl_source_at(http);
    struct sl_config *a, *b;
    struct sl_buf e;
    const char *which = NULL;

    ck_assert_int_eq(load_text(GOOD_STREAM "[stream s2]\nfile.path = /x\n", &a, &e), SL_OK);
    sl_buf_destroy(&e);
    ck_assert_int_eq(load_text("[sluice]\nhttp_threads = 3\n" GOOD_STREAM "max_connections = 9\n"
                               "idle_timeout = 0\n[stream s2]\nfile.path = /x\n", &b, &e), SL_OK);
    sl_buf_destroy(&e);
    ck_assert(sl_source_same(t->stream_restart, a->streams[0].source_conf[tcp],
                             b->streams[0].source_conf[tcp], &which));
    ck_assert(!sl_source_same(t->stream_restart, a->streams[0].source_conf[tcp],
                              a->streams[1].source_conf[tcp], &which));
    ck_assert_str_eq(which, "tcp_listen");
    ck_assert(sl_source_same(t->process_restart, a->source_conf[tcp], b->source_conf[tcp],
                             &which));
    ck_assert(!sl_source_same(h->process_restart, a->source_conf[http], b->source_conf[http],
                              &which));
    ck_assert_str_eq(which, "http_threads");
    sl_config_unref(a);
    sl_config_unref(b);
}
END_TEST

Suite *sl_config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("load");

    tcase_add_test(tc, test_config_defaults_apply);
    tcase_add_test(tc, test_config_zstd_level_defaults_to_3);
    tcase_add_loop_test(tc, test_config_bad_input_names_file_line_and_key, 0,
                        sizeof(bad) / sizeof(bad[0]));
    tcase_add_test(tc, test_config_reports_every_error_not_just_the_first);
    tcase_add_test(tc, test_config_stage_sink_keys_reach_the_stage);
    tcase_add_test(tc, test_config_map_keys_take_any_name_under_their_prefix);
    tcase_add_test(tc, test_config_overlong_line_is_refused_whole);
    tcase_add_test(tc, test_config_missing_file_is_an_error);
    tcase_add_test(tc, test_config_example_file_is_valid);
    tcase_add_test(tc, test_config_every_key_has_one_owner);
    tcase_add_test(tc, test_config_sources_are_complete);
    tcase_add_test(tc, test_config_sinks_are_complete);
    tcase_add_test(tc, test_config_source_restart_keys_tell_a_reload_apart);
    suite_add_tcase(s, tc);
    return s;
}
