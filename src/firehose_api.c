/*
 * firehose_api.c - see firehose_api.h.
 *
 * jansson parses the body; Data is checked as strict base64 (the standard
 * alphabet, padded, length a multiple of 4) and decoded with libcrypto's
 * EVP_DecodeBlock straight into the chunk, which is sized in a first pass
 * over the records from their encoded lengths.
 */
#include "firehose_api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "config.h"
#include "sluice/err.h"

static const struct { const char *name; enum sl_fh_op op; } ops[] = {
    { "PutRecord", SL_FH_PUT_RECORD },
    { "PutRecordBatch", SL_FH_PUT_RECORD_BATCH },
    { "ListDeliveryStreams", SL_FH_LIST_STREAMS },
    { "DescribeDeliveryStream", SL_FH_DESCRIBE_STREAM },
    { "CreateDeliveryStream", SL_FH_UNSUPPORTED },
    { "DeleteDeliveryStream", SL_FH_UNSUPPORTED },
    { "UpdateDestination", SL_FH_UNSUPPORTED },
    { "TagDeliveryStream", SL_FH_UNSUPPORTED },
    { "UntagDeliveryStream", SL_FH_UNSUPPORTED },
    { "ListTagsForDeliveryStream", SL_FH_UNSUPPORTED },
    { "StartDeliveryStreamEncryption", SL_FH_UNSUPPORTED },
    { "StopDeliveryStreamEncryption", SL_FH_UNSUPPORTED },
};

enum sl_fh_op sl_fh_operation(const char *target)
{
    size_t plen = strlen(SL_FH_TARGET_PREFIX);

    if (!target || strncmp(target, SL_FH_TARGET_PREFIX, plen) != 0)
        return SL_FH_UNKNOWN;
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strcmp(target + plen, ops[i].name) == 0)
            return ops[i].op;
    return SL_FH_UNKNOWN;
}

int sl_fh_valid_stream_name(const char *name)
{
    size_t n = strlen(name);

    return n >= 1 && n <= 64 &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789_.-") == n;
}

static int fail(struct sl_fh_error *err, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct sl_fh_error *err, const char *type, const char *fmt, ...)
{
    va_list ap;

    err->type = type;
    err->status = 400;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return SL_EINVAL;
}

/* Decoded length of strict, padded standard base64, or -1 if it is not. */
static long b64_decoded_len(const char *s, size_t n)
{
    size_t pad = 0;

    if (n % 4 != 0)
        return -1;
    if (n > 0 && s[n - 1] == '=')
        pad++;
    if (n > 1 && s[n - 2] == '=')
        pad++;
    if (strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") !=
        n - pad)
        return -1;
    return (long)(n / 4 * 3 - pad);
}

/* The Data string of record <r> (index <i>, for messages), checked. */
static int record_data(json_t *r, size_t i, int batch, const char **data, size_t *dlen,
                       long *rlen, struct sl_fh_error *err)
{
    json_t *d = json_is_object(r) ? json_object_get(r, "Data") : NULL;
    const char *where = batch ? "records.%zu.member.data" : "record.data";
    char at[64];

    snprintf(at, sizeof(at), where, i + 1);
    if (!json_is_object(r))
        return fail(err, "SerializationException", "Record %zu is not an object", i + 1);
    if (!d)
        return fail(err, "ValidationException", "1 validation error detected: Value null at "
                    "'%s' failed to satisfy constraint: Member must not be null", at);
    if (!json_is_string(d))
        return fail(err, "SerializationException", "Data of record %zu is not a base64 "
                    "string", i + 1);
    *data = json_string_value(d);
    *dlen = json_string_length(d);
    *rlen = b64_decoded_len(*data, *dlen);
    if (*rlen < 0)
        return fail(err, "SerializationException", "Data of record %zu is not valid "
                    "base64", i + 1);
    if ((unsigned long)*rlen > SL_FH_MAX_RECORD)
        return fail(err, "ValidationException", "1 validation error detected: Value at "
                    "'%s' failed to satisfy constraint: Member must have length less "
                    "than or equal to %u", at, SL_FH_MAX_RECORD);
    return SL_OK;
}

/* The records of the request: an array of 1..500 (batch) or one. */
static int records_of(json_t *root, int batch, json_t **recs, size_t *n,
                      struct sl_fh_error *err)
{
    json_t *r = json_object_get(root, batch ? "Records" : "Record");

    if (!r)
        return fail(err, "ValidationException", "1 validation error detected: Value null "
                    "at '%s' failed to satisfy constraint: Member must not be null",
                    batch ? "records" : "record");
    if (!batch) {
        *recs = r;
        *n = 1;
        return SL_OK;
    }
    if (!json_is_array(r))
        return fail(err, "SerializationException", "Records is not an array");
    *n = json_array_size(r);
    if (*n < 1 || *n > SL_FH_MAX_BATCH)
        return fail(err, "ValidationException", "1 validation error detected: Value at "
                    "'records' failed to satisfy constraint: Member must have length "
                    "between 1 and %u (it has %zu)", SL_FH_MAX_BATCH, *n);
    *recs = r;
    return SL_OK;
}

int sl_fh_parse_put(const char *body, size_t len, int batch, char stream[65],
                    int64_t wall_ms, int64_t mono_ms, struct sl_chunk **out,
                    struct sl_fh_error *err)
{
    json_error_t jerr;
    json_t *root = len ? json_loadb(body, len, 0, &jerr) : NULL, *name, *recs = NULL;
    const char *data;
    size_t n = 0, dlen;
    uint64_t need = 0, total = 0;
    long rlen;
    int rc = SL_EINVAL;

    *out = NULL;
    if (!root || !json_is_object(root)) {
        fail(err, "SerializationException", "Request body is not a JSON object%s%s",
             root ? "" : ": ", root ? "" : len ? jerr.text : "it is empty");
        goto out;
    }
    name = json_object_get(root, "DeliveryStreamName");
    if (!json_is_string(name)) {
        fail(err, "ValidationException", "1 validation error detected: Value null at "
             "'deliveryStreamName' failed to satisfy constraint: Member must not be null");
        goto out;
    }
    if (!sl_fh_valid_stream_name(json_string_value(name))) {
        fail(err, "ValidationException", "1 validation error detected: Value '%.80s' at "
             "'deliveryStreamName' failed to satisfy constraint: Member must satisfy "
             "regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 1 and 64",
             json_string_value(name));
        goto out;
    }
    snprintf(stream, 65, "%s", json_string_value(name));
    if (records_of(root, batch, &recs, &n, err) != SL_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {             /* pass 1: check and size */
        json_t *r = batch ? json_array_get(recs, i) : recs;
        if (record_data(r, i, batch, &data, &dlen, &rlen, err) != SL_OK)
            goto out;
        total += (uint64_t)rlen;
        need += SL_CHUNK_HDR + (uint64_t)rlen + 3;   /* +3: EVP_DecodeBlock writes padding */
    }
    if (total > SL_FH_MAX_BATCH_BYTES) {
        fail(err, "InvalidArgumentException", "Records total %llu bytes decoded; the limit "
             "of a request is %u", (unsigned long long)total, SL_FH_MAX_BATCH_BYTES);
        goto out;
    }
    *out = sl_chunk_new((uint32_t)need, wall_ms, mono_ms);
    if (!*out) {
        fail(err, "ServiceUnavailableException", "Out of memory.");
        err->status = 503;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {             /* pass 2: decode into the chunk */
        json_t *r = batch ? json_array_get(recs, i) : recs;
        record_data(r, i, batch, &data, &dlen, &rlen, err);
        struct sl_chunk *c = *out;
        uint32_t len32 = (uint32_t)rlen;
        memcpy(c->data + c->len, &len32, SL_CHUNK_HDR);
        if (dlen > 0 && EVP_DecodeBlock(c->data + c->len + SL_CHUNK_HDR,
                                        (const unsigned char *)data, (int)dlen) < 0) {
            sl_chunk_unref(c);
            *out = NULL;
            fail(err, "SerializationException", "Data of record %zu is not valid base64",
                 i + 1);
            goto out;
        }
        c->len += SL_CHUNK_HDR + len32;
        c->nrecords++;
        c->bytes += len32;
    }
    rc = SL_OK;
out:
    json_decref(root);
    return rc;
}

void sl_fh_chunk_truncate(struct sl_chunk *c, uint32_t n)
{
    uint32_t off = 0, len;
    uint64_t bytes = 0;
    const uint8_t *p;

    for (uint32_t i = 0; i < n && i < c->nrecords; i++) {
        off = sl_chunk_at(c, off, &p, &len);
        bytes += len;
    }
    if (n < c->nrecords) {
        c->len = off;
        c->nrecords = n;
        c->bytes = bytes;
    }
}

/* A RecordId: opaque, unique; 32 hex characters of randomness suffice. */
static json_t *record_id(void)
{
    uint8_t r[16];
    char hex[33];

    if (getrandom(r, sizeof(r), 0) != sizeof(r))
        return NULL;
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", r[i]);
    return json_string(hex);
}

static char *dump(json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

    json_decref(j);
    return s;
}

char *sl_fh_put_record_response(void)
{
    json_t *j = json_object();

    if (!j || json_object_set_new(j, "RecordId", record_id()) != 0 ||
        json_object_set_new(j, "Encrypted", json_false()) != 0) {
        json_decref(j);
        return NULL;
    }
    return dump(j);
}

char *sl_fh_put_batch_response(uint32_t n, uint32_t accepted)
{
    json_t *j = json_object(), *arr = json_array(), *e;
    int bad = !j || !arr;

    bad |= json_object_set_new(j, "FailedPutCount", json_integer(n - accepted)) != 0;
    bad |= json_object_set_new(j, "Encrypted", json_false()) != 0;
    for (uint32_t i = 0; i < n && !bad; i++) {
        e = json_object();
        if (i < accepted) {
            bad |= json_object_set_new(e, "RecordId", record_id()) != 0;
        } else {
            bad |= json_object_set_new(e, "ErrorCode",
                                       json_string("ServiceUnavailableException")) != 0;
            bad |= json_object_set_new(e, "ErrorMessage", json_string("Slow down.")) != 0;
        }
        bad |= json_array_append_new(arr, e) != 0;
    }
    if (bad || json_object_set(j, "RequestResponses", arr) != 0) {
        json_decref(arr);
        json_decref(j);
        return NULL;
    }
    json_decref(arr);
    return dump(j);
}

char *sl_fh_error_body(const struct sl_fh_error *err)
{
    return dump(json_pack("{s:s, s:s}", "__type", err->type, "message", err->message));
}

#define ACCOUNT "000000000000"
#define REGION  "us-east-1"

json_t *sl_fh_describe(const struct sl_stream_conf *c, unsigned version, int64_t created_s)
{
    static const char *const formats[] = { "UNCOMPRESSED", "GZIP", "ZSTD" };
    char arn[160], bucket[160], ver[16];
    uint64_t mb = c->buffer_size >> 20;
    json_t *s3;

    snprintf(arn, sizeof(arn), "arn:aws:firehose:" REGION ":" ACCOUNT ":deliverystream/%s",
             c->name);
    snprintf(bucket, sizeof(bucket), "arn:aws:s3:::sluice-%s-%s", c->sink, c->name);
    snprintf(ver, sizeof(ver), "%u", version);
    s3 = json_pack("{s:s, s:s, s:s, s:s, s:{s:I, s:I}, s:s, s:{s:s}, s:{s:b}}",
                   "RoleARN", "arn:aws:iam::" ACCOUNT ":role/sluice",
                   "BucketARN", bucket,
                   "Prefix", c->prefix,
                   "ErrorOutputPrefix", c->error_prefix,
                   "BufferingHints", "SizeInMBs", (json_int_t)(mb ? mb : 1),
                   "IntervalInSeconds", (json_int_t)(c->buffer_interval_ms / 1000),
                   "CompressionFormat", formats[c->compression],
                   "EncryptionConfiguration", "NoEncryptionConfig", "NoEncryption",
                   "CloudWatchLoggingOptions", "Enabled", 0);
    if (!s3)
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:[{s:s, s:O, s:o}], s:b}",
                     "DeliveryStreamName", c->name,
                     "DeliveryStreamARN", arn,
                     "DeliveryStreamStatus", "ACTIVE",
                     "DeliveryStreamType", "DirectPut",
                     "VersionId", ver,
                     "CreateTimestamp", (json_int_t)created_s,
                     "LastUpdateTimestamp", (json_int_t)created_s,
                     "Destinations",
                         "DestinationId", "destinationId-000000000001",
                         "ExtendedS3DestinationDescription", s3,
                         "S3DestinationDescription", s3,
                     "HasMoreDestinations", 0);
}
