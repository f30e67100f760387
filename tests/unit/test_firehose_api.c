/* test_firehose_api.c - Firehose's producer API: operations, parsing with
 * its limits and error codes, and the response shapes. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "firehose_api.h"
#include "firehose_scan.h"
#include "sink.h"
#include "sluice/err.h"
#include "suites.h"

START_TEST(test_fh_operation_names)
{
    ck_assert_int_eq(sl_firehose_api_operation("Firehose_20150804.PutRecord"), SL_FH_PUT_RECORD);
    ck_assert_int_eq(sl_firehose_api_operation("Firehose_20150804.PutRecordBatch"),
                     SL_FH_PUT_RECORD_BATCH);
    ck_assert_int_eq(sl_firehose_api_operation("Firehose_20150804.ListDeliveryStreams"),
                     SL_FH_LIST_STREAMS);
    ck_assert_int_eq(sl_firehose_api_operation("Firehose_20150804.DescribeDeliveryStream"),
                     SL_FH_DESCRIBE_STREAM);
    ck_assert_int_eq(sl_firehose_api_operation("Firehose_20150804.CreateDeliveryStream"),
                     SL_FH_UNSUPPORTED);
    ck_assert_int_eq(sl_firehose_api_operation("Firehose_20150804.Nope"), SL_FH_UNKNOWN);
    ck_assert_int_eq(sl_firehose_api_operation("Kinesis_20131202.PutRecord"), SL_FH_UNKNOWN);
    ck_assert_int_eq(sl_firehose_api_operation(NULL), SL_FH_UNKNOWN);
}
END_TEST

START_TEST(test_fh_stream_names)
{
    ck_assert(sl_firehose_api_valid_stream_name("clicks-1_a.b"));
    ck_assert(!sl_firehose_api_valid_stream_name(""));
    ck_assert(!sl_firehose_api_valid_stream_name("a/b"));
    ck_assert(!sl_firehose_api_valid_stream_name("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}
END_TEST

START_TEST(test_fh_parse_put_record_decodes_data)
{
    const char *body = "{\"DeliveryStreamName\":\"s1\",\"Record\":{\"Data\":\"aGVsbG8K\"}}";
    struct sl_chunk *c;
    struct sl_fh_error e;
    char stream[65];
    const uint8_t *p;
    uint32_t len;

    ck_assert_int_eq(sl_firehose_api_parse_put(body, strlen(body), 0, stream, 7, 8, &c, &e), SL_OK);
    ck_assert_str_eq(stream, "s1");
    ck_assert_uint_eq(c->nrecords, 1);
    ck_assert_int_eq(c->arrival_wall_ms, 7);
    sl_chunk_at(c, 0, &p, &len);
    ck_assert_uint_eq(len, 6);
    ck_assert_int_eq(memcmp(p, "hello\n", 6), 0);
    sl_chunk_unref(c);
}
END_TEST

START_TEST(test_fh_parse_batch_keeps_order_and_empty_records)
{
    const char *body = "{\"DeliveryStreamName\":\"s\",\"Records\":[{\"Data\":\"YQ==\"},"
                       "{\"Data\":\"\"},{\"Data\":\"YmM=\"},{\"Data\":\"ZGVm\"}]}";
    const char *want[] = { "a", "", "bc", "def" };
    struct sl_chunk *c;
    struct sl_fh_error e;
    char stream[65];
    const uint8_t *p;
    uint32_t len, off = 0;

    ck_assert_int_eq(sl_firehose_api_parse_put(body, strlen(body), 1, stream, 0, 0, &c, &e), SL_OK);
    ck_assert_uint_eq(c->nrecords, 4);
    ck_assert_uint_eq(c->bytes, 6);
    for (int i = 0; i < 4; i++) {
        off = sl_chunk_at(c, off, &p, &len);
        ck_assert_uint_eq(len, strlen(want[i]));
        ck_assert_int_eq(memcmp(p, want[i], len), 0);
    }
    ck_assert_uint_eq(off, 4);
    ck_assert_uint_eq(c->len, 10);                      /* each with a '\n' after it */
    ck_assert_int_eq(memcmp(c->data, "a\n\nbc\ndef\n", 10), 0);
    ck_assert_uint_eq(c->flags & SL_CHUNK_NL, SL_CHUNK_NL);
    sl_firehose_api_chunk_truncate(c, 2);
    ck_assert_uint_eq(c->nrecords, 2);
    ck_assert_uint_eq(c->bytes, 1);
    ck_assert_uint_eq(c->len, 3);
    sl_chunk_unref(c);
    /* a record that ends with '\n' gets no second one */
    body = "{\"DeliveryStreamName\":\"s\",\"Records\":[{\"Data\":\"eAo=\"},{\"Data\":\"eQ==\"}]}";
    ck_assert_int_eq(sl_firehose_api_parse_put(body, strlen(body), 1, stream, 0, 0, &c, &e), SL_OK);
    ck_assert_uint_eq(c->len, 4);
    ck_assert_int_eq(memcmp(c->data, "x\ny\n", 4), 0);
    ck_assert_uint_eq(c->flags & SL_CHUNK_NL, SL_CHUNK_NL);
    sl_chunk_unref(c);
}
END_TEST

/* Bad requests: the __type and a piece of the message. */
static const struct { int batch; const char *body; const char *type; const char *msg; } bad[] = {
    { 0, "not json", "SerializationException", "not a JSON object" },
    { 0, "", "SerializationException", "it is empty" },
    { 0, "[1]", "SerializationException", "not a JSON object" },
    { 0, "{\"Record\":{\"Data\":\"YQ==\"}}", "ValidationException", "'deliveryStreamName'" },
    { 0, "{\"DeliveryStreamName\":\"a/b\",\"Record\":{\"Data\":\"YQ==\"}}",
      "ValidationException", "regular expression pattern" },
    { 0, "{\"DeliveryStreamName\":\"s\"}", "ValidationException", "at 'record'" },
    { 0, "{\"DeliveryStreamName\":\"s\",\"Record\":{}}", "ValidationException",
      "'record.data'" },
    { 0, "{\"DeliveryStreamName\":\"s\",\"Record\":{\"Data\":\"YQ\"}}",
      "SerializationException", "not valid base64" },
    { 0, "{\"DeliveryStreamName\":\"s\",\"Record\":{\"Data\":\"Y!==\"}}",
      "SerializationException", "not valid base64" },
    { 0, "{\"DeliveryStreamName\":\"s\",\"Record\":{\"Data\":\"QUB=\"}}",
      "SerializationException", "not valid base64" },          /* non-canonical */
    { 1, "{\"DeliveryStreamName\":\"s\",\"Records\":[{\"Data\":\"QR==\"}]}",
      "SerializationException", "not valid base64" },
    { 0, "{\"DeliveryStreamName\":\"s\",\"Record\":{\"Data\":5}}",
      "SerializationException", "not a base64 string" },
    { 1, "{\"DeliveryStreamName\":\"s\",\"Records\":[]}", "ValidationException",
      "between 1 and 500" },
    { 1, "{\"DeliveryStreamName\":\"s\",\"Records\":{}}", "SerializationException",
      "not an array" },
    { 1, "{\"DeliveryStreamName\":\"s\",\"Records\":[{\"Data\":\"YQ==\"},7]}",
      "SerializationException", "Record 2 is not an object" },
};

START_TEST(test_fh_parse_rejects_with_firehose_errors)
{
    struct sl_chunk *c = (void *)1;
    struct sl_fh_error e;
    char stream[65];

    ck_assert_int_eq(sl_firehose_api_parse_put(bad[_i].body, strlen(bad[_i].body), bad[_i].batch,
                                     stream, 0, 0, &c, &e), SL_EINVAL);
    ck_assert_ptr_null(c);
    ck_assert_str_eq(e.type, bad[_i].type);
    ck_assert_int_eq(e.status, 400);
    ck_assert_msg(strstr(e.message, bad[_i].msg), "case %d: '%s' lacks '%s'", _i, e.message,
                  bad[_i].msg);
}
END_TEST

/* Builds {"DeliveryStreamName":"s","Records":[<n> records of <b64len> 'A's]}. */
static char *batch_body(int n, size_t b64len)
{
    size_t cap = (size_t)n * (b64len + 16) + 64, len;
    char *s = malloc(cap);

    len = (size_t)snprintf(s, cap, "{\"DeliveryStreamName\":\"s\",\"Records\":[");
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(s + len, cap - len, "%s{\"Data\":\"", i ? "," : "");
        memset(s + len, 'A', b64len);
        len += b64len;
        len += (size_t)snprintf(s + len, cap - len, "\"}");
    }
    snprintf(s + len, cap - len, "]}");
    return s;
}

START_TEST(test_fh_limits)
{
    struct sl_chunk *c;
    struct sl_fh_error e;
    char stream[65], *body;

    body = batch_body(501, 4);                      /* 501 records */
    ck_assert_int_eq(sl_firehose_api_parse_put(body, strlen(body), 1, stream, 0, 0, &c, &e), SL_EINVAL);
    ck_assert_str_eq(e.type, "ValidationException");
    free(body);
    body = batch_body(500, 4);                      /* 500 records: fine */
    ck_assert_int_eq(sl_firehose_api_parse_put(body, strlen(body), 1, stream, 0, 0, &c, &e), SL_OK);
    ck_assert_uint_eq(c->nrecords, 500);
    sl_chunk_unref(c);
    free(body);
    body = batch_body(1, 1365336);                  /* 1,024,002 bytes: one too big */
    ck_assert_int_eq(sl_firehose_api_parse_put(body, strlen(body), 1, stream, 0, 0, &c, &e), SL_EINVAL);
    ck_assert_str_eq(e.type, "ValidationException");
    ck_assert_ptr_nonnull(strstr(e.message, "less than or equal to 1024000"));
    free(body);
    body = batch_body(1, 1365332);                  /* 1,023,999 bytes: fine */
    ck_assert_int_eq(sl_firehose_api_parse_put(body, strlen(body), 1, stream, 0, 0, &c, &e), SL_OK);
    sl_chunk_unref(c);
    free(body);
    body = batch_body(5, 1365332);                  /* 5 x ~1 MB: over 4 MiB */
    ck_assert_int_eq(sl_firehose_api_parse_put(body, strlen(body), 1, stream, 0, 0, &c, &e), SL_EINVAL);
    ck_assert_str_eq(e.type, "InvalidArgumentException");
    free(body);
}
END_TEST

/* A batch of records of <q>[i] quanta of 'A' then <tail>[i] (""/"AA=="/"AAA="). */
static char *padded_body(int n, const size_t *q, const char *const *tail)
{
    size_t cap = 64, len;
    char *s;

    for (int i = 0; i < n; i++)
        cap += 4 * q[i] + 20;
    s = malloc(cap);
    len = (size_t)snprintf(s, cap, "{\"DeliveryStreamName\":\"s\",\"Records\":[");
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(s + len, cap - len, "%s{\"Data\":\"", i ? "," : "");
        memset(s + len, 'A', 4 * q[i]);
        len += 4 * q[i];
        len += (size_t)snprintf(s + len, cap - len, "%s\"}", tail[i]);
    }
    snprintf(s + len, cap - len, "]}");
    return s;
}

/* The limits count decoded bytes exactly, padding included, at the edge:
 * a record of 1,024,000 bytes (its encoding is 1,024,002 bytes' worth of
 * quanta) and a batch of 4 MiB exactly pass, one byte more does not, and
 * the refusal names the exact total. */
START_TEST(test_fh_limits_count_padding_at_the_edges)
{
    static const size_t q1[] = { 341333 }, q5[] = { 341333, 341333, 341333, 341333, 32768 };
    static const char *const t_1024000[] = { "AA==" }, *const t_1024001[] = { "AAA=" };
    static const char *const t_4mib[] = { "AA==", "AA==", "AA==", "AA==", "" };
    static const char *const t_4mib1[] = { "AA==", "AA==", "AA==", "AA==", "AA==" };
    struct sl_chunk *c;
    struct sl_fh_error e;
    char stream[65], *body;

    body = padded_body(1, q1, t_1024000);
    ck_assert_int_eq(sl_firehose_api_parse_put(body, strlen(body), 1, stream, 0, 0, &c, &e), SL_OK);
    ck_assert_uint_eq(c->bytes, 1024000);
    ck_assert_uint_le(c->len, c->cap);
    sl_chunk_unref(c);
    free(body);
    body = padded_body(1, q1, t_1024001);
    ck_assert_int_eq(sl_firehose_api_parse_put(body, strlen(body), 1, stream, 0, 0, &c, &e),
                     SL_EINVAL);
    ck_assert_str_eq(e.type, "ValidationException");
    ck_assert_ptr_nonnull(strstr(e.message, "less than or equal to 1024000"));
    free(body);
    body = padded_body(5, q5, t_4mib);
    ck_assert_int_eq(sl_firehose_api_parse_put(body, strlen(body), 1, stream, 0, 0, &c, &e), SL_OK);
    ck_assert_uint_eq(c->nrecords, 5);
    ck_assert_uint_eq(c->bytes, 4194304);
    ck_assert_uint_eq(c->len, 4194304 + 5);
    sl_chunk_unref(c);
    free(body);
    body = padded_body(5, q5, t_4mib1);
    ck_assert_int_eq(sl_firehose_api_parse_put(body, strlen(body), 1, stream, 0, 0, &c, &e),
                     SL_EINVAL);
    ck_assert_str_eq(e.type, "InvalidArgumentException");
    ck_assert_ptr_nonnull(strstr(e.message, "Records total 4194305 bytes decoded"));
    free(body);
}
END_TEST

START_TEST(test_fh_scan_reads_plain_bodies_in_place)
{
    static const char *const plain[] = {
        "{\"DeliveryStreamName\":\"s\",\"Records\":[{\"Data\":\"YQ==\"},{\"Data\":\"\"}]}",
        " {\n \"Records\" : [ { \"Data\" : \"YQ==\" } ,\t{\"Data\":\"\"} ] ,"
        "\r\n\"DeliveryStreamName\" : \"s\" } \n",
    };
    struct sl_fh_span name, recs[4];
    size_t n;

    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        ck_assert_int_eq(sl_firehose_scan_put(plain[i], strlen(plain[i]), 1, &name, recs, 4, &n), 1);
        ck_assert_uint_eq(n, 2);
        ck_assert(name.len == 1 && name.p[0] == 's');
        ck_assert(recs[0].len == 4 && memcmp(recs[0].p, "YQ==", 4) == 0);
        ck_assert_uint_eq(recs[1].len, 0);
    }
    const char *one = "{\"Record\":{\"Data\":\"YQ==\"},\"DeliveryStreamName\":\"x\"}";
    ck_assert_int_eq(sl_firehose_scan_put(one, strlen(one), 0, &name, recs, 4, &n), 1);
    ck_assert_uint_eq(n, 1);
}
END_TEST

/* Bodies the scanner leaves to jansson. */
static const char *const unusual[] = {
    "{\"DeliveryStreamName\":\"s\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"k\"}]}",
    "{\"DeliveryStreamName\":\"s\",\"Extra\":1,\"Records\":[{\"Data\":\"YQ==\"}]}",
    "{\"DeliveryStreamName\":\"s\",\"DeliveryStreamName\":\"t\",\"Records\":[{\"Data\":\"\"}]}",
    "{\"DeliveryStreamName\":\"s\",\"Records\":[]}",
    "{\"DeliveryStreamName\":\"s\",\"Records\":[{\"Data\":\"YQ==\"}]} x",
    "{\"DeliveryStreamName\":\"s\",\"Records\":[{\"Data\":\"YQ==\"}]",
    "{\"DeliveryStreamName\":\"s\",\"Records\":[{\"Data\":\"YQ==\"},]}",
    "{\"DeliveryStreamName\":\"s\",\"Records\":{\"Data\":\"YQ==\"}}",
    "{\"DeliveryStreamName\":\"s\"}",
    "{\"Records\":[{\"Data\":\"YQ==\"}]}",
    "{\"DeliveryStreamName\":\"s\",\"Records\":[{\"Data\":\"\"},{\"Data\":\"\"},{\"Data\":\"\"}]}",
    "[]", "", "{",
};

START_TEST(test_fh_scan_declines_unusual_bodies)
{
    struct sl_fh_span name, recs[2];
    size_t n;

    ck_assert_int_eq(sl_firehose_scan_put(unusual[_i], strlen(unusual[_i]), 1, &name, recs, 2, &n),
                     0);
}
END_TEST

START_TEST(test_fh_parse_reads_declined_bodies_through_jansson)
{
    /* The scanner hands out raw spans; an escape or a control character
     * fails the base64 check, and jansson reads the body instead. */
    const char *escaped = "{\"DeliveryStreamName\":\"s\",\"Records\":[{\"Data\":\"\\/\\/8=\"}]}";
    const char *control = "{\"DeliveryStreamName\":\"s\",\"Records\":[{\"Data\":\"a\tbc\"}]}";
    const char *quote = "{\"DeliveryStreamName\":\"s\",\"Records\":[{\"Data\":\"YQ\\\"==\"}]}";
    const char *extra = unusual[0];
    struct sl_chunk *c;
    struct sl_fh_error e;
    char stream[65];
    const uint8_t *p;
    uint32_t len;

    ck_assert_int_eq(sl_firehose_api_parse_put(escaped, strlen(escaped), 1, stream, 0, 0, &c, &e), SL_OK);
    sl_chunk_at(c, 0, &p, &len);
    ck_assert(len == 2 && p[0] == 0xff && p[1] == 0xff);
    sl_chunk_unref(c);
    ck_assert_int_eq(sl_firehose_api_parse_put(extra, strlen(extra), 1, stream, 0, 0, &c, &e), SL_OK);
    ck_assert_uint_eq(c->nrecords, 1);
    sl_chunk_unref(c);
    ck_assert_int_eq(sl_firehose_api_parse_put(control, strlen(control), 1, stream, 0, 0, &c, &e),
                     SL_EINVAL);
    ck_assert_str_eq(e.type, "SerializationException");
    ck_assert_ptr_nonnull(strstr(e.message, "not a JSON object"));    /* jansson's words */
    ck_assert_int_eq(sl_firehose_api_parse_put(quote, strlen(quote), 1, stream, 0, 0, &c, &e),
                     SL_EINVAL);
    ck_assert_str_eq(e.type, "SerializationException");
    ck_assert_ptr_nonnull(strstr(e.message, "not valid base64"));
}
END_TEST

START_TEST(test_fh_responses_are_compact_and_ordered)
{
    char *s = sl_firehose_api_put_batch_response(3, 2);
    struct sl_fh_error e = { "ResourceNotFoundException", 400, "Firehose x not found." };

    ck_assert_ptr_nonnull(strstr(s, "\"FailedPutCount\":1"));
    ck_assert_ptr_nonnull(strstr(s, "\"Encrypted\":false"));
    const char *first = strstr(s, "RecordId"), *err = strstr(s, "ErrorCode");
    ck_assert(first && err && first < err);
    ck_assert_ptr_nonnull(strstr(s, "{\"ErrorCode\":\"ServiceUnavailableException\","
                                    "\"ErrorMessage\":\"Slow down.\"}]"));
    free(s);
    s = sl_firehose_api_put_batch_response(2, 2);
    ck_assert_ptr_nonnull(strstr(s, "\"FailedPutCount\":0"));
    json_t *j = json_loads(s, 0, NULL);             /* valid JSON, ids unique */
    json_t *rr = json_object_get(j, "RequestResponses");
    ck_assert_uint_eq(json_array_size(rr), 2);
    ck_assert_str_ne(json_string_value(json_object_get(json_array_get(rr, 0), "RecordId")),
                     json_string_value(json_object_get(json_array_get(rr, 1), "RecordId")));
    json_decref(j);
    free(s);
    s = sl_firehose_api_put_record_response();
    ck_assert_ptr_nonnull(strstr(s, "{\"RecordId\":\""));
    free(s);
    s = sl_firehose_api_error_body(&e);
    ck_assert_str_eq(s, "{\"__type\":\"ResourceNotFoundException\","
                        "\"message\":\"Firehose x not found.\"}");
    free(s);
}
END_TEST

/* A batch's RecordIds: one 32-hex-digit prefix per response, then the
 * record's index in 8 hex digits (past 9, f, ff); the refused ones follow
 * with no id; exactly the bytes of the documented shape. */
START_TEST(test_fh_batch_response_ids_are_prefix_and_index)
{
    char *s = sl_firehose_api_put_batch_response(500, 300), want[64];
    json_t *j = json_loads(s, 0, NULL);
    json_t *rr = json_object_get(j, "RequestResponses");
    const char *id0;

    ck_assert_ptr_nonnull(j);
    ck_assert_uint_eq(json_array_size(rr), 500);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "FailedPutCount")), 200);
    id0 = json_string_value(json_object_get(json_array_get(rr, 0), "RecordId"));
    ck_assert_uint_eq(strlen(id0), 40);
    ck_assert_uint_eq(strspn(id0, "0123456789abcdef"), 40);
    for (size_t i = 0; i < 500; i++) {
        json_t *e = json_array_get(rr, i);
        if (i < 300) {
            const char *id = json_string_value(json_object_get(e, "RecordId"));
            snprintf(want, sizeof(want), "%.32s%08zx", id0, i);
            ck_assert_str_eq(id, want);
            ck_assert_uint_eq(json_object_size(e), 1);
        } else {
            ck_assert_str_eq(json_string_value(json_object_get(e, "ErrorCode")),
                             "ServiceUnavailableException");
            ck_assert_uint_eq(json_object_size(e), 2);
        }
    }
    ck_assert_ptr_nonnull(strstr(s, "{\"FailedPutCount\":200,\"Encrypted\":false,"
                                    "\"RequestResponses\":[{\"RecordId\":\""));
    ck_assert_ptr_nonnull(strstr(s, "0000012b\"},{\"ErrorCode\":\"ServiceUnavailableException\","
                                    "\"ErrorMessage\":\"Slow down.\"},"));
    ck_assert_ptr_nonnull(strstr(s, "\"ErrorMessage\":\"Slow down.\"}]}"));
    ck_assert_int_eq(s[strlen(s) - 1], '}');
    json_decref(j);
    free(s);
}
END_TEST

/* The destination of stream <c> (its sink's keys in <conf>) described in
 * <region>: its BucketARN and its encryption's KMS key ARN ("" if none),
 * copied to <bucket>, <kms>. */
static void describe_s3(const struct sl_stream_conf *c, const void *conf, const char *region,
                        char *arn, char *bucket, char *kms)
{
    const struct sl_sink_ops *ops = sl_sink_find(c->sink);
    struct sl_sink_dest dest;
    json_t *d, *dst, *enc, *k;

    memset(&dest, 0, sizeof(dest));
    if (ops->dest)
        ops->dest(conf, &dest);
    d = sl_firehose_api_describe(c, &dest, region, 3, 1700000000);
    ck_assert_ptr_nonnull(d);
    snprintf(arn, 160, "%s", json_string_value(json_object_get(d, "DeliveryStreamARN")));
    dst = json_object_get(json_array_get(json_object_get(d, "Destinations"), 0),
                          "ExtendedS3DestinationDescription");
    snprintf(bucket, 160, "%s", json_string_value(json_object_get(dst, "BucketARN")));
    enc = json_object_get(dst, "EncryptionConfiguration");
    k = json_object_get(json_object_get(enc, "KMSEncryptionConfig"), "AWSKMSKeyARN");
    if (k)
        snprintf(kms, 400, "%s", json_string_value(k));
    else {
        ck_assert_str_eq(json_string_value(json_object_get(enc, "NoEncryptionConfig")),
                         "NoEncryption");
        kms[0] = '\0';
    }
    json_decref(d);
}

/* Sets key <name> of the s3 sink in <conf>, as the config loader does. */
static void s3_set(void *conf, const char *name, const char *value)
{
    const struct sl_sink_ops *s3 = sl_sink_find("s3");
    char why[256];
    int i = sl_conf_key_index(s3->keys, name);

    ck_assert_int_ge(i, 0);
    ck_assert_int_eq(sl_conf_key_set(&s3->keys[i], conf, value, why, sizeof(why)), SL_OK);
}

START_TEST(test_fh_describe_answers_from_the_config)
{
    struct sl_stream_conf *c = calloc(1, sizeof(*c));
    const struct sl_sink_ops *s3 = sl_sink_find("s3");
    void *conf = calloc(1, s3->conf_size);
    char arn[160], bucket[160], kms[400];

    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(conf);
    sl_conf_key_defaults(s3->keys, conf);
    snprintf(c->name, sizeof(c->name), "clicks");
    snprintf(c->sink, sizeof(c->sink), "s3");
    s3_set(conf, "s3.bucket", "my-events");
    s3_set(conf, "s3.region", "eu-west-1");
    describe_s3(c, conf, "eu-central-1", arn, bucket, kms);
    ck_assert_str_eq(arn, "arn:aws:firehose:eu-central-1:000000000000:deliverystream/clicks");
    ck_assert_str_eq(bucket, "arn:aws:s3:::my-events");
    ck_assert_str_eq(kms, "");
    s3_set(conf, "s3.sse", "AES256");          /* the bucket's default: no Firehose setting */
    describe_s3(c, conf, "eu-central-1", arn, bucket, kms);
    ck_assert_str_eq(kms, "");
    s3_set(conf, "s3.sse", "aws:kms");         /* the AWS managed key */
    describe_s3(c, conf, "eu-central-1", arn, bucket, kms);
    ck_assert_str_eq(kms, "arn:aws:kms:eu-west-1:000000000000:alias/aws/s3");
    s3_set(conf, "s3.sse_kms_key_id", "1234abcd-12ab");
    describe_s3(c, conf, "eu-central-1", arn, bucket, kms);
    ck_assert_str_eq(kms, "arn:aws:kms:eu-west-1:000000000000:key/1234abcd-12ab");
    s3_set(conf, "s3.sse_kms_key_id", "alias/events");
    describe_s3(c, conf, "eu-central-1", arn, bucket, kms);
    ck_assert_str_eq(kms, "arn:aws:kms:eu-west-1:000000000000:alias/events");
    s3_set(conf, "s3.sse_kms_key_id", "arn:aws:kms:us-west-2:111122223333:key/k");
    describe_s3(c, conf, "eu-central-1", arn, bucket, kms);
    ck_assert_str_eq(kms, "arn:aws:kms:us-west-2:111122223333:key/k");
    snprintf(c->sink, sizeof(c->sink), "file");   /* no bucket: a name for the stream */
    describe_s3(c, NULL, "us-east-1", arn, bucket, kms);
    ck_assert_str_eq(bucket, "arn:aws:s3:::sluice-file-clicks");
    ck_assert_str_eq(kms, "");
    free(conf);
    free(c);
}
END_TEST

Suite *sl_firehose_api_suite(void)
{
    Suite *s = suite_create("firehose_api");
    TCase *tc = tcase_create("api");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_fh_operation_names);
    tcase_add_test(tc, test_fh_stream_names);
    tcase_add_test(tc, test_fh_parse_put_record_decodes_data);
    tcase_add_test(tc, test_fh_parse_batch_keeps_order_and_empty_records);
    tcase_add_loop_test(tc, test_fh_parse_rejects_with_firehose_errors, 0,
                        sizeof(bad) / sizeof(bad[0]));
    tcase_add_test(tc, test_fh_limits);
    tcase_add_test(tc, test_fh_limits_count_padding_at_the_edges);
    tcase_add_test(tc, test_fh_scan_reads_plain_bodies_in_place);
    tcase_add_loop_test(tc, test_fh_scan_declines_unusual_bodies, 0,
                        sizeof(unusual) / sizeof(unusual[0]));
    tcase_add_test(tc, test_fh_parse_reads_declined_bodies_through_jansson);
    tcase_add_test(tc, test_fh_responses_are_compact_and_ordered);
    tcase_add_test(tc, test_fh_batch_response_ids_are_prefix_and_index);
    tcase_add_test(tc, test_fh_describe_answers_from_the_config);
    suite_add_tcase(s, tc);
    return s;
}
