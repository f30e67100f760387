/*
 * test_sink_pg.c - the PostgreSQL sink's pure parts and pg_conn's, with
 * no server: COPY text escaping, a record's fields in columns mode, the
 * JSON check, load ids (stable for the same records, a part's the same
 * from its own records, distinct for another subset or stream), the
 * detail of refused rows (round trip, and its cap), the key checks,
 * SQLSTATE classes, quoting, and the pool's refusals of a bad string or
 * an open password file.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "chunk.h"
#include "metrics.h"
#include "pg_conn.h"
#include "sink.h"
#include "sink_pg.h"
#include "sluice/err.h"
#include "suites.h"

/* <out> as a C string (owned by the buffer). */
static const char *str(struct sl_buf *out)
{
    ck_assert_int_eq(sl_buf_append(out, "", 1), SL_OK);
    out->len--;
    return (const char *)out->data;
}

START_TEST(test_sink_pg_copy_escape_backslash_tab_newline_cr_nul)
{
    struct sl_buf o;
    const char in[] = "a\\b\tc\nd\re\0f|\x01\"'";

    sl_buf_init(&o, 1 << 16);
    ck_assert_int_eq(sl__sink_pg_copy_escape(&o, in, sizeof(in) - 1), SL_OK);
    ck_assert_str_eq(str(&o), "a\\\\b\\tc\\nd\\re\\000f|\x01\"'");
    sl_buf_reset(&o);
    ck_assert_int_eq(sl__sink_pg_copy_escape(&o, "", 0), SL_OK);
    ck_assert_uint_eq(o.len, 0);
    /* "\." alone on a line ends COPY's data: escaped, it cannot appear */
    ck_assert_int_eq(sl__sink_pg_copy_escape(&o, "\\.", 2), SL_OK);
    ck_assert_str_eq(str(&o), "\\\\.");
    sl_buf_destroy(&o);
}
END_TEST

/* The COPY fields of <json> for <cols>. */
static const char *row(struct sl_buf *o, const char *json, const char *const *cols, size_t n)
{
    char why[200];

    sl_buf_reset(o);
    ck_assert_msg(sl__sink_pg_json_ok((const uint8_t *)json, strlen(json), 1, why, sizeof(why)),
                  "%s: %s", json, why);
    ck_assert_int_eq(sl__sink_pg_columns_row((const uint8_t *)json, strlen(json), cols, n, o),
                     SL_OK);
    return str(o);
}

START_TEST(test_sink_pg_columns_fields_as_written_missing_and_null_are_null)
{
    static const char *const cols[] = { "a", "b", "c", "d", "e", "missing", "f", "big", "s" };
    struct sl_buf o;

    sl_buf_init(&o, 1 << 16);
    ck_assert_str_eq(row(&o, "{\"a\":1,\"b\":\"x\\ty\",\"c\":{\"n\":[1, 2],\"s\":\"}\"},"
                             "\"d\":null,\"e\":true,\"f\":1.10,"
                             "\"big\":123456789012345678901234567890,\"s\":\"q\\\"\\\\\\u00e9\"}",
                         cols, 9),
                     "1\tx\\ty\t{\"n\":[1, 2],\"s\":\"}\"}\t\\N\ttrue\t\\N\t1.10\t"
                     "123456789012345678901234567890\tq\"\\\\\xc3\xa9");
    /* whitespace around, a key written with an escape, the last of a repeated key */
    ck_assert_str_eq(row(&o, " { \"\\u0061\" : -2e3 , \"b\":[] ,\"b\" : \"two\" } ", cols, 2),
                     "-2e3\ttwo");
    /* an empty object: every column NULL; an empty string is not NULL */
    ck_assert_str_eq(row(&o, "{}", cols, 2), "\\N\t\\N");
    ck_assert_str_eq(row(&o, "{\"a\":\"\",\"b\":false}", cols, 2), "\tfalse");
    /* a nested value keeps its newline, escaped for COPY */
    ck_assert_str_eq(row(&o, "{\"a\":{\n\"k\":\"v\\\\w\"\n}}", cols, 1),
                     "{\\n\"k\":\"v\\\\\\\\w\"\\n}");
    sl_buf_destroy(&o);
}
END_TEST

START_TEST(test_sink_pg_json_check_says_why)
{
    char why[200];
    const char *big = "[123456789012345678901234567890]";

    ck_assert(!sl__sink_pg_json_ok((const uint8_t *)"notjson", 7, 0, why, sizeof(why)));
    ck_assert_ptr_nonnull(strstr(why, "not valid JSON"));
    ck_assert(!sl__sink_pg_json_ok((const uint8_t *)"{\"a\":", 5, 0, why, sizeof(why)));
    ck_assert(sl__sink_pg_json_ok((const uint8_t *)"42", 2, 0, why, sizeof(why)));
    ck_assert(!sl__sink_pg_json_ok((const uint8_t *)"42", 2, 1, why, sizeof(why)));
    ck_assert_ptr_nonnull(strstr(why, "not a JSON object"));
    ck_assert(sl__sink_pg_json_ok((const uint8_t *)big, strlen(big), 0, why, sizeof(why)));
    ck_assert(!sl__sink_pg_json_ok((const uint8_t *)"", 0, 0, why, sizeof(why)));
}
END_TEST

/* A batch of <n> records "r0".."r<n-1>", its uuid all <uuid>. */
static struct sl_batch *batch_of(int n, uint8_t uuid)
{
    struct sl_chunk *c = sl_chunk_new(4096, 1000, 1);
    struct sl_batch *b = sl_batch_new();
    char rec[16];
    uint64_t bytes = 0;

    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < n; i++) {
        int len = snprintf(rec, sizeof(rec), "r%d", i);
        sl_chunk_add(c, rec, (uint32_t)len);
        bytes += (uint64_t)len;
    }
    ck_assert_int_eq(sl_batch_add_span(b, c, 0, c->nrecords, bytes), SL_OK);
    sl_chunk_unref(c);
    memset(b->uuid, uuid, sizeof(b->uuid));
    return b;
}

/* The ords of <b>'s records, as the sink reads them; how many. */
static size_t ords_of(const struct sl_batch *b, uint32_t *ords)
{
    struct sl_batch_iter it;
    struct sl_record r;
    size_t n = 0;

    sl_batch_iter_init(&it, b);
    while (sl_batch_next(&it, &r))
        ords[n++] = it.ord;
    return n;
}

START_TEST(test_sink_pg_load_id_stable_per_records_distinct_otherwise)
{
    struct sl_batch *b = batch_of(6, 7), *again = batch_of(6, 7), *other = batch_of(6, 8);
    uint8_t marks[6] = { 0, 1, 1, 0, 1, 0 };
    uint32_t ords[6], ords2[6], sub[3] = { 1, 2, 4 };
    char id[SL_PG_LOAD_ID_MAX + 1], id2[SL_PG_LOAD_ID_MAX + 1], id3[SL_PG_LOAD_ID_MAX + 1];

    size_t n = ords_of(b, ords);
    ck_assert_uint_eq(n, 6);
    sl__sink_pg_load_id("clicks", sl_batch_id_base(b), ords, n, id);
    ck_assert_uint_eq(strlen(id), 68);
    ck_assert(strncmp(id, "pg1-", 4) == 0);
    ck_assert_uint_eq(strspn(id + 4, "0123456789abcdef"), 64);
    /* the same batch again (a retry, a replay with its uuid): the same id */
    ck_assert_uint_eq(ords_of(again, ords2), 6);
    sl__sink_pg_load_id("clicks", sl_batch_id_base(again), ords2, 6, id2);
    ck_assert_str_eq(id, id2);
    /* a part of records 1, 2, 4 has their numbers, so the id of that subset */
    struct sl_batch *p = sl_batch_pick(b, marks, 1);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(ords_of(p, ords2), 3);
    ck_assert_mem_eq(ords2, sub, sizeof(sub));
    sl__sink_pg_load_id("clicks", sl_batch_id_base(p), ords2, 3, id2);
    sl__sink_pg_load_id("clicks", sl_batch_id_base(b), sub, 3, id3);
    ck_assert_str_eq(id2, id3);
    ck_assert_str_ne(id2, id);
    /* another subset, stream or batch: another id */
    sl__sink_pg_load_id("clicks", sl_batch_id_base(b), ords, 5, id3);
    ck_assert_str_ne(id3, id);
    sl__sink_pg_load_id("views", sl_batch_id_base(b), ords, 6, id3);
    ck_assert_str_ne(id3, id);
    sl__sink_pg_load_id("clicks", sl_batch_id_base(other), ords, 6, id3);
    ck_assert_str_ne(id3, id);
    sl_batch_release(p, SL_OUTCOME_DELIVERED);
    sl_batch_release(b, SL_OUTCOME_DELIVERED);
    sl_batch_free(again);
    sl_batch_free(other);
}
END_TEST

START_TEST(test_sink_pg_detail_round_trip_and_cap)
{
    struct sl_pg_reject r[2] = { { 7, "22001", "value too long for type character varying(5)" },
                                 { 3, "23502", "null value in column \"b\" \"q\"" } };
    struct sl_pg_reject *got = NULL;
    int truncated = -1;
    char *d = sl__sink_pg_detail(r, 2);

    ck_assert_ptr_nonnull(d);
    ck_assert_str_eq(d, "{\"rejected\":[[7,\"22001\",\"value too long for type character "
                        "varying(5)\"],[3,\"23502\",\"null value in column \\\"b\\\" "
                        "\\\"q\\\"\"]]}");
    ck_assert_int_eq(sl__sink_pg_detail_read(d, &got, &truncated), 2);
    ck_assert_int_eq(truncated, 0);
    ck_assert_uint_eq(got[0].ord, 3);              /* sorted by ord */
    ck_assert_str_eq(got[0].code, "23502");
    ck_assert_str_eq(got[1].msg, r[0].msg);
    free(got);
    free(d);
    /* a message cut inside a character keeps its whole characters */
    struct sl_pg_reject cutmsg = { 1, "22001", "" };
    memset(cutmsg.msg, 'a', 252);
    memcpy(cutmsg.msg + 252, "\xc3\xa9\xc3", 3);          /* é, then half of one */
    d = sl__sink_pg_detail(&cutmsg, 1);
    ck_assert_int_eq(sl__sink_pg_detail_read(d, &got, &truncated), 1);
    ck_assert_uint_eq(strlen(got[0].msg), 254);          /* 252 a's and the whole é */
    free(got);
    free(d);
    ck_assert_int_eq(sl__sink_pg_detail_read(NULL, &got, &truncated), 0);
    ck_assert_int_eq(sl__sink_pg_detail_read("{\"x\":1}", &got, &truncated), -1);
    ck_assert_int_eq(sl__sink_pg_detail_read("not json", &got, &truncated), -1);

    /* many refused rows with long messages: shortened, then bare, then cut */
    size_t n = 20000;
    struct sl_pg_reject *many = calloc(n, sizeof(*many));
    ck_assert_ptr_nonnull(many);
    for (size_t i = 0; i < n; i++) {
        many[i].ord = (uint32_t)(i * 3);
        memcpy(many[i].code, "22P02", 6);
        memset(many[i].msg, 'm', 200);
    }
    d = sl__sink_pg_detail(many, 400);
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_le(strlen(d), SL_PG_DETAIL_MAX);
    ck_assert_int_eq(sl__sink_pg_detail_read(d, &got, &truncated), 400);
    ck_assert_int_eq(truncated, 0);
    ck_assert_uint_lt(strlen(got[0].msg), 200);   /* shortened to fit */
    ck_assert_uint_gt(strlen(got[0].msg), 0);
    free(got);
    free(d);
    d = sl__sink_pg_detail(many, n);
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_le(strlen(d), SL_PG_DETAIL_MAX);
    long k = sl__sink_pg_detail_read(d, &got, &truncated);
    ck_assert_int_eq(truncated, 1);
    ck_assert_int_gt(k, 1000);
    ck_assert_int_lt(k, (long)n);
    ck_assert_uint_eq(got[k - 1].ord, (uint32_t)(k - 1) * 3);
    free(got);
    free(d);
    free(many);
}
END_TEST

/* The sink's check() reports over the keys "k=v" given (NULL-ended). */
#define check_keys(...) ut_check_sink_keys("postgresql", __VA_ARGS__)

START_TEST(test_sink_pg_key_checks_say_what_is_wrong)
{
    const char *ci = "pg.conninfo=host=127.0.0.1 dbname=events", *tb = "pg.table=clicks";

    ck_assert_str_eq(check_keys(ci, tb, NULL), "");
    ck_assert_str_eq(check_keys(tb, NULL), "pg.conninfo: required when sink = postgresql\n");
    ck_assert_str_eq(check_keys(ci, NULL), "pg.table: required when sink = postgresql\n");
    ck_assert_ptr_nonnull(strstr(check_keys("pg.conninfo=host=a bogus", tb, NULL),
                                 "pg.conninfo: does not parse"));
    /* never libpq's words, which quote the string (a password in it) */
    ck_assert_str_eq(check_keys("pg.conninfo=host=h password=my secret", tb, NULL),
                     "pg.conninfo: does not parse: key=value pairs or a postgresql:// URI\n");
    ck_assert_str_eq(check_keys("pg.conninfo=postgresql://u@h:5433/db?sslmode=require", tb,
                                NULL), "");
    ck_assert_str_eq(check_keys(ci, "pg.table=analytics.clicks", NULL), "");
    ck_assert_ptr_nonnull(strstr(check_keys(ci, "pg.table=a.b.c", NULL),
                                 "pg.table: 'a.b.c' is not TABLE or SCHEMA.TABLE"));
    ck_assert_str_eq(check_keys(ci, tb, "pg.format=columns", NULL),
                     "pg.columns: required when pg.format = columns\n");
    ck_assert_str_eq(check_keys(ci, tb, "pg.format=columns", "pg.columns=a, b ,c", NULL), "");
    ck_assert_str_eq(check_keys(ci, tb, "pg.format=columns", "pg.columns=a,,b", NULL),
                     "pg.columns: an empty column name in 'a,,b'\n");
    ck_assert_str_eq(check_keys(ci, tb, "pg.format=columns", "pg.columns=a,b,a", NULL),
                     "pg.columns: 'a' is named twice\n");
    ck_assert_str_eq(check_keys(ci, tb, "pg.format=columns", "pg.columns=a",
                                "pg.column=x", NULL),
                     "pg.column: set, but pg.format is columns (the columns are pg.columns)\n");
    ck_assert_str_eq(check_keys(ci, tb, "pg.format=columns", "pg.columns=a,t",
                                "pg.arrival_column=t", NULL),
                     "pg.arrival_column: 't' is in pg.columns too\n");
    ck_assert_str_eq(check_keys(ci, tb, "pg.columns=a", NULL),
                     "pg.columns: set, but pg.format is jsonb (each record goes into "
                     "pg.column)\n");
    ck_assert_str_eq(check_keys(ci, tb, "pg.arrival_column=data", NULL),
                     "pg.arrival_column: 'data' is pg.column too\n");
}
END_TEST

START_TEST(test_sink_pg_dest_names_failures_postgresql)
{
    const struct sl_sink_ops *pg = sl_sink_find("postgresql");
    struct sl_sink_dest d = { 0 };
    void *conf = calloc(1, pg->conf_size);

    ck_assert_ptr_nonnull(conf);
    ck_assert_int_eq(pg->shape, SL_SINK_RECORDS);
    ck_assert_ptr_eq(sl_sink_by_key("pg.table"), pg);
    sl_conf_key_defaults(pg->keys, conf);
    pg->dest(conf, &d);
    ck_assert_uint_eq(d.connections, 4);
    ck_assert_str_eq(d.failed_name, "postgresql");
    free(conf);
}
END_TEST

/* SQLSTATEs and what they mean to a load. */
static const struct { const char *state; int cls, cause; } STATES[] = {
    { "22P02", SL_PG_DATA, 0 },                 /* invalid JSON */
    { "22001", SL_PG_DATA, 0 },                 /* value too long */
    { "22P05", SL_PG_DATA, 0 },                 /* \u0000 in jsonb */
    { "23502", SL_PG_DATA, 0 },                 /* NOT NULL */
    { "23505", SL_PG_DATA, 0 },                 /* unique, outside the claim */
    { "23514", SL_PG_DATA, 0 },                 /* CHECK */
    { "54000", SL_PG_DATA, 0 },                 /* a row too large */
    { "XX000", SL_PG_RETRY, SL_RETRY_SERVER },  /* internal; Redshift's failed load */
    { "42P01", SL_PG_CONFIG, SL_RETRY_FORBIDDEN },
    { "42703", SL_PG_CONFIG, SL_RETRY_FORBIDDEN },
    { "42501", SL_PG_CONFIG, SL_RETRY_FORBIDDEN },
    { "42601", SL_PG_CONFIG, SL_RETRY_FORBIDDEN },
    { "28P01", SL_PG_CONFIG, SL_RETRY_FORBIDDEN },
    { "28000", SL_PG_CONFIG, SL_RETRY_FORBIDDEN },
    { "3D000", SL_PG_CONFIG, SL_RETRY_FORBIDDEN },
    { "3F000", SL_PG_CONFIG, SL_RETRY_FORBIDDEN },
    { "0A000", SL_PG_CONFIG, SL_RETRY_FORBIDDEN },
    { "08006", SL_PG_RETRY, SL_RETRY_CONNECTION },
    { "08001", SL_PG_RETRY, SL_RETRY_CONNECTION },
    { "40001", SL_PG_RETRY, SL_RETRY_SERVER },
    { "40P01", SL_PG_RETRY, SL_RETRY_SERVER },
    { "57P01", SL_PG_RETRY, SL_RETRY_SERVER },
    { "57P03", SL_PG_RETRY, SL_RETRY_SERVER },
    { "57014", SL_PG_RETRY, SL_RETRY_TIMEOUT },
    { "53300", SL_PG_RETRY, SL_RETRY_THROTTLED },
    { "53100", SL_PG_RETRY, SL_RETRY_THROTTLED },
    { "55P03", SL_PG_RETRY, SL_RETRY_THROTTLED },
    { "25006", SL_PG_RETRY, SL_RETRY_SERVER },  /* a standby */
    { "99ZZZ", SL_PG_RETRY, SL_RETRY_SERVER },  /* unknown */
    { "", SL_PG_RETRY, SL_RETRY_CONNECTION },   /* none: libpq's own */
};

START_TEST(test_sink_pg_sqlstate_classes)
{
    int cause = -1;

    ck_assert_msg(sl_pg_conn_class_of(STATES[_i].state, &cause) == STATES[_i].cls,
                  "%s: class %d", STATES[_i].state, sl_pg_conn_class_of(STATES[_i].state, NULL));
    ck_assert_msg(cause == STATES[_i].cause, "%s: cause %d", STATES[_i].state, cause);
}
END_TEST

START_TEST(test_sink_pg_classify_without_a_result_is_a_lost_connection)
{
    struct sl_pg_err e;

    sl_pg_conn_classify(NULL, NULL, &e);
    ck_assert_int_eq(e.cls, SL_PG_RETRY);
    ck_assert_int_eq(e.cause, SL_RETRY_CONNECTION);
    ck_assert_str_eq(e.sqlstate, "");
    ck_assert_str_ne(e.message, "");
}
END_TEST

START_TEST(test_sink_pg_quoting_doubles_quotes_and_splits_schema)
{
    char out[32];

    ck_assert_int_eq(sl_pg_conn_quote_ident("clicks", out, sizeof(out)), SL_OK);
    ck_assert_str_eq(out, "\"clicks\"");
    ck_assert_int_eq(sl_pg_conn_quote_ident("s.Cl\"x", out, sizeof(out)), SL_OK);
    ck_assert_str_eq(out, "\"s\".\"Cl\"\"x\"");
    ck_assert_int_eq(sl_pg_conn_quote_literal("it's", out, sizeof(out)), SL_OK);
    ck_assert_str_eq(out, "'it''s'");
    ck_assert_int_eq(sl_pg_conn_quote_literal("", out, sizeof(out)), SL_OK);
    ck_assert_str_eq(out, "''");
    ck_assert_int_eq(sl_pg_conn_quote_ident("abcdefgh", out, 11), SL_OK);   /* just fits */
    ck_assert_int_eq(sl_pg_conn_quote_ident("abcdefghi", out, 11), SL_ETOOBIG);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(sl_pg_conn_quote_literal("''''", out, 8), SL_ETOOBIG);
}
END_TEST

START_TEST(test_sink_pg_pool_refuses_a_bad_string_and_an_open_password_file)
{
    struct sl_pg_conn_options o = { .conninfo = "host=127.0.0.1 nokey=1", .max_connections = 2,
                                    .connect_timeout_ms = 5000, .what = "postgresql" };
    char err[300], path[] = "/tmp/sluice-pgpass-XXXXXX";
    struct sl_pg_pool *p = sl_pg_conn_pool_new(&o, err, sizeof(err));

    ck_assert_ptr_null(p);
    ck_assert_ptr_nonnull(strstr(err, "the connection string does not parse"));
    ck_assert_ptr_null(strchr(err, '\n'));
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(chmod(path, 0644), 0);
    o.conninfo = "host=127.0.0.1 password=secret";
    o.password_file = path;
    ck_assert_ptr_null(sl_pg_conn_pool_new(&o, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "group or world access"));
    ck_assert_int_eq(chmod(path, 0600), 0);
    p = sl_pg_conn_pool_new(&o, err, sizeof(err));   /* connects nothing */
    ck_assert_msg(p != NULL, "%s", err);
    sl_pg_conn_pool_free(p);
    unlink(path);
    o.password_file = "/nonexistent/pgpass";
    ck_assert_ptr_null(sl_pg_conn_pool_new(&o, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/pgpass"));
}
END_TEST

/* A port nothing listens on: take() fails at once with a retry of cause
 * connection, and gives its slot back (max 1: the second take does not
 * wait for it). */
START_TEST(test_sink_pg_take_with_no_server_is_a_retry_and_frees_its_slot)
{
    struct sl_pg_conn_options o = { .conninfo = "host=127.0.0.1 port=1 dbname=x user=y",
                                    .max_connections = 1, .connect_timeout_ms = 2000 };
    char err[300];
    struct sl_pg_err e;
    struct sl_pg_pool *p = sl_pg_conn_pool_new(&o, err, sizeof(err));

    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < 2; i++) {
        ck_assert_ptr_null(sl_pg_conn_take(p, &e));
        ck_assert_int_eq(e.cls, SL_PG_RETRY);
        ck_assert_int_eq(e.cause, SL_RETRY_CONNECTION);
        ck_assert_ptr_nonnull(strstr(e.message, "127.0.0.1"));
    }
    sl_pg_conn_pool_free(p);
}
END_TEST

Suite *sl_sink_pg_suite(void)
{
    Suite *s = suite_create("sink_pg");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_sink_pg_copy_escape_backslash_tab_newline_cr_nul);
    tcase_add_test(tc, test_sink_pg_columns_fields_as_written_missing_and_null_are_null);
    tcase_add_test(tc, test_sink_pg_json_check_says_why);
    tcase_add_test(tc, test_sink_pg_load_id_stable_per_records_distinct_otherwise);
    tcase_add_test(tc, test_sink_pg_detail_round_trip_and_cap);
    tcase_add_test(tc, test_sink_pg_key_checks_say_what_is_wrong);
    tcase_add_test(tc, test_sink_pg_dest_names_failures_postgresql);
    tcase_add_loop_test(tc, test_sink_pg_sqlstate_classes, 0,
                        (int)(sizeof(STATES) / sizeof(STATES[0])));
    tcase_add_test(tc, test_sink_pg_classify_without_a_result_is_a_lost_connection);
    tcase_add_test(tc, test_sink_pg_quoting_doubles_quotes_and_splits_schema);
    tcase_add_test(tc, test_sink_pg_pool_refuses_a_bad_string_and_an_open_password_file);
    tcase_add_test(tc, test_sink_pg_take_with_no_server_is_a_retry_and_frees_its_slot);
    suite_add_tcase(s, tc);
    return s;
}
