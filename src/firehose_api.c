/*
 * firehose_api.c - see firehose_api.h.
 *
 * firehose_scan.c finds the stream name and the records in the usual
 * body; jansson reads any other. Either way each Data is then decoded as
 * strict base64 (base64.h) straight into the chunk, which is sized in a
 * first pass over the records from their encoded lengths alone (the
 * decoder reads each record's padding when it decodes it).
 */
#include "firehose_api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <jansson.h>

#include "base64.h"
#include "config.h"
#include "firehose_scan.h"
#include "sink.h"
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

enum sl_fh_op sl_firehose_api_operation(const char *target)
{
    size_t plen = strlen(SL_FH_TARGET_PREFIX);

    if (!target || strncmp(target, SL_FH_TARGET_PREFIX, plen) != 0)
        return SL_FH_UNKNOWN;
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strcmp(target + plen, ops[i].name) == 0)
            return ops[i].op;
    return SL_FH_UNKNOWN;
}

int sl_firehose_api_valid_stream_name(const char *name)
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

/* Firehose's name for the Data of record <i>, in messages. */
static const char *member_data(char at[48], int batch, size_t i)
{
    if (!batch)
        return "record.data";
    snprintf(at, 48, "records.%zu.member.data", i + 1);
    return at;
}

/* The Data string of record <r> (index <i>, for messages) from jansson's tree. */
static int record_data(json_t *r, size_t i, int batch, struct sl_fh_span *data,
                       struct sl_fh_error *err)
{
    json_t *d = json_is_object(r) ? json_object_get(r, "Data") : NULL;
    char at[48];

    if (!json_is_object(r))
        return fail(err, "SerializationException", "Record %zu is not an object", i + 1);
    if (!d)
        return fail(err, "ValidationException", "1 validation error detected: Value null at "
                    "'%s' failed to satisfy constraint: Member must not be null",
                    member_data(at, batch, i));
    if (!json_is_string(d))
        return fail(err, "SerializationException", "Data of record %zu is not a base64 "
                    "string", i + 1);
    *data = (struct sl_fh_span){ json_string_value(d), json_string_length(d) };
    return SL_OK;
}

/* The records of the request: an array of 1..500 (batch) or one. */
static int records_of(json_t *root, int batch, struct sl_fh_span *recs, size_t *n,
                      struct sl_fh_error *err)
{
    json_t *r = json_object_get(root, batch ? "Records" : "Record");

    if (!r)
        return fail(err, "ValidationException", "1 validation error detected: Value null "
                    "at '%s' failed to satisfy constraint: Member must not be null",
                    batch ? "records" : "record");
    if (!batch)
        return record_data(r, 0, 0, &recs[0], err) == SL_OK ? (*n = 1, SL_OK) : SL_EINVAL;
    if (!json_is_array(r))
        return fail(err, "SerializationException", "Records is not an array");
    *n = json_array_size(r);
    if (*n < 1 || *n > SL_FH_MAX_BATCH)
        return fail(err, "ValidationException", "1 validation error detected: Value at "
                    "'records' failed to satisfy constraint: Member must have length "
                    "between 1 and %u (it has %zu)", SL_FH_MAX_BATCH, *n);
    for (size_t i = 0; i < *n; i++)
        if (record_data(json_array_get(r, i), i, 1, &recs[i], err) != SL_OK)
            return SL_EINVAL;
    return SL_OK;
}

/* Finds the stream name and records with jansson, for the bodies the
 * scanner declines; <root> keeps the strings alive. A key twice in one
 * object is refused: which one counts is not for sluice to guess (the
 * scanner declines such bodies too). */
static int parse_tree(const char *body, size_t len, int batch, json_t **root,
                      struct sl_fh_span *name, struct sl_fh_span *recs, size_t *n,
                      struct sl_fh_error *err)
{
    json_error_t jerr;
    json_t *j;

    *root = j = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!j || !json_is_object(j))
        return fail(err, "SerializationException", "Request body is not a JSON object%s%s",
                    j ? "" : ": ", j ? "" : len ? jerr.text : "it is empty");
    json_t *nm = json_object_get(j, "DeliveryStreamName");
    if (!json_is_string(nm))
        return fail(err, "ValidationException", "1 validation error detected: Value null at "
                    "'deliveryStreamName' failed to satisfy constraint: Member must not be "
                    "null");
    *name = (struct sl_fh_span){ json_string_value(nm), json_string_length(nm) };
    return records_of(j, batch, recs, n, err);
}

/* Checks the stream name and records against Firehose's limits, then
 * decodes the records into a new chunk. */
static int decode(const struct sl_fh_span *name, const struct sl_fh_span *recs, size_t n,
                  int batch, char stream[65], int64_t wall_ms, int64_t mono_ms,
                  struct sl_chunk **out, struct sl_fh_error *err)
{
    uint64_t need = 0, total = 0;
    char nm[65], at[48];

    snprintf(nm, sizeof(nm), "%.*s", (int)(name->len < 64 ? name->len : 64), name->p);
    if (name->len > 64 || strlen(nm) != name->len || !sl_firehose_api_valid_stream_name(nm))
        return fail(err, "ValidationException", "1 validation error detected: Value '%.80s' "
                    "at 'deliveryStreamName' failed to satisfy constraint: Member must "
                    "satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length "
                    "between 1 and 64", nm);
    /* Pass 1: check and size from the lengths alone, 3 bytes per 4
     * characters, which is at most 2 over the decoded length; the padding
     * is read (the record's last bytes touched) only where a limit is that
     * close. The chunk may so be up to 2 bytes a record larger than its
     * records. */
    for (size_t i = 0; i < n; i++) {
        uint64_t most = recs[i].len / 4 * 3;
        if (recs[i].len % 4 != 0)
            return fail(err, "SerializationException", "Data of record %zu is not valid "
                        "base64", i + 1);
        if (most > SL_FH_MAX_RECORD &&
            (uint64_t)sl_base64_decoded_len(recs[i].p, recs[i].len) > SL_FH_MAX_RECORD)
            return fail(err, "ValidationException", "1 validation error detected: Value at "
                        "'%s' failed to satisfy constraint: Member must have length less "
                        "than or equal to %u", member_data(at, batch, i), SL_FH_MAX_RECORD);
        total += most;
        need += SL_CHUNK_HDR + most + 1;
    }
    if (total > SL_FH_MAX_BATCH_BYTES) {         /* near the limit: the exact total */
        total = 0;
        for (size_t i = 0; i < n; i++)
            total += (uint64_t)sl_base64_decoded_len(recs[i].p, recs[i].len);
    }
    if (total > SL_FH_MAX_BATCH_BYTES)
        return fail(err, "InvalidArgumentException", "Records total %llu bytes decoded; the "
                    "limit of a request is %u", (unsigned long long)total,
                    SL_FH_MAX_BATCH_BYTES);
    struct sl_chunk *c = sl_chunk_new((uint32_t)need, wall_ms, mono_ms);
    if (!c) {
        fail(err, "ServiceUnavailableException", "Out of memory.");
        err->status = 503;
        return SL_ENOMEM;
    }
    /* Pass 2: decode into the chunk, a '\n' after each record that lacks
     * one, so that a newline-delimited object takes them as one block
     * (chunk.h). */
    c->flags = SL_CHUNK_NL;
    for (size_t i = 0; i < n; i++) {
        uint8_t *to = c->data + c->len;
        long rlen = sl_base64_decode(recs[i].p, recs[i].len, to);
        if (rlen < 0) {
            sl_chunk_unref(c);
            return fail(err, "SerializationException", "Data of record %zu is not valid "
                        "base64", i + 1);
        }
        sl_chunk_index(c, c->len, (uint32_t)rlen);
        c->len += (uint32_t)rlen;
        if (sl_chunk_needs_nl(to, (uint32_t)rlen))
            c->data[c->len++] = '\n';
    }
    memcpy(stream, nm, name->len + 1);
    *out = c;
    return SL_OK;
}

int sl_firehose_api_parse_put(const char *body, size_t len, int batch, char stream[65],
                    int64_t wall_ms, int64_t mono_ms, struct sl_chunk **out,
                    struct sl_fh_error *err)
{
    struct sl_fh_span name, recs[SL_FH_MAX_BATCH];
    json_t *root = NULL;
    size_t n;
    int rc;

    *out = NULL;
    /* The usual body, read in place; any error is worded from jansson's
     * reading, so that both paths answer a bad request the same way. */
    if (sl_firehose_scan_put(body, len, batch, &name, recs, SL_FH_MAX_BATCH, &n) &&
        decode(&name, recs, n, batch, stream, wall_ms, mono_ms, out, err) == SL_OK)
        return SL_OK;
    rc = parse_tree(body, len, batch, &root, &name, recs, &n, err);
    if (rc == SL_OK)
        rc = decode(&name, recs, n, batch, stream, wall_ms, mono_ms, out, err);
    json_decref(root);
    return rc == SL_OK ? SL_OK : SL_EINVAL;
}

void sl_firehose_api_chunk_truncate(struct sl_chunk *c, uint32_t n)
{
    uint64_t bytes = 0;
    uint32_t len;
    const uint8_t *p;

    if (n >= c->nrecords)                /* all of them: nothing to walk */
        return;
    for (uint32_t i = 0; i < n; i++) {
        sl_chunk_at(c, i, &p, &len);
        bytes += len;
    }
    c->len = n ? (uint32_t)(p + len + sl_chunk_needs_nl(p, len) - c->data) : 0;
    c->nrecords = n;
    c->bytes = bytes;
}

/*
 * RecordIds are opaque and unique: 32 hex characters drawn once per
 * request, then 8 of the record's index in it. The responses are written
 * directly, not through jansson: a batch answer is on the hot path.
 */
#define ID_LEN 40

static const char digits[] = "0123456789abcdef";

static int id_prefix(char hex[32])
{
    uint8_t r[16];

    if (getrandom(r, sizeof(r), 0) != sizeof(r))
        return SL_ERR;
    for (int i = 0; i < 16; i++) {
        hex[2 * i] = digits[r[i] >> 4];
        hex[2 * i + 1] = digits[r[i] & 15];
    }
    return SL_OK;
}

static char *put_id(char *p, const char prefix[32], uint32_t index)
{
    memcpy(p, prefix, 32);
    for (int i = 0; i < 8; i++)
        p[32 + i] = digits[(index >> (28 - 4 * i)) & 15];
    return p + ID_LEN;
}

static char *put(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

char *sl_firehose_api_put_record_response(void)
{
    char prefix[32], *s = malloc(64 + ID_LEN), *p = s;

    if (!s || id_prefix(prefix) != SL_OK) {
        free(s);
        return NULL;
    }
    p = put(p, "{\"RecordId\":\"");
    p = put_id(p, prefix, 0);
    p = put(p, "\",\"Encrypted\":false}");
    *p = '\0';
    return s;
}

/* Adds 1 to the 8 hex digits of <idx> (put_id's index, counted in place). */
static void hex_next(char idx[8])
{
    for (int k = 7; k >= 0; k--) {
        if (idx[k] == '9') {
            idx[k] = 'a';
            return;
        }
        if (idx[k] != 'f') {
            idx[k]++;
            return;
        }
        idx[k] = '0';
    }
}

/* Each accepted record's entry is the same head (the prefix included),
 * then its index as put_id writes it, counted up in place: a few copies a
 * record. */
char *sl_firehose_api_put_batch_response(uint32_t n, uint32_t accepted)
{
    static const char ok[] = "{\"RecordId\":\"", ok_end[] = "\"}";
    static const char refused[] = "{\"ErrorCode\":\"ServiceUnavailableException\","
                                  "\"ErrorMessage\":\"Slow down.\"}";
    size_t cap = 96 + (size_t)n * (sizeof(refused) + sizeof(ok) + ID_LEN);
    char head[sizeof(ok) - 1 + 32], idx[8], *s = malloc(cap), *p = s;

    if (!s || id_prefix(head + sizeof(ok) - 1) != SL_OK) {
        free(s);
        return NULL;
    }
    memcpy(head, ok, sizeof(ok) - 1);
    memset(idx, '0', sizeof(idx));
    p += snprintf(p, 96, "{\"FailedPutCount\":%u,\"Encrypted\":false,\"RequestResponses\":[",
                  n - accepted);
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        if (i < accepted) {
            memcpy(p, head, sizeof(head));
            memcpy(p + sizeof(head), idx, sizeof(idx));
            memcpy(p + sizeof(head) + sizeof(idx), ok_end, sizeof(ok_end) - 1);
            p += sizeof(head) + sizeof(idx) + sizeof(ok_end) - 1;
            hex_next(idx);
        } else {
            memcpy(p, refused, sizeof(refused) - 1);
            p += sizeof(refused) - 1;
        }
    }
    p = put(p, "]}");
    *p = '\0';
    return s;
}

char *sl_firehose_api_error_body(const struct sl_fh_error *err)
{
    json_t *j = json_pack("{s:s, s:s}", "__type", err->type, "message", err->message);
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

    json_decref(j);
    return s;
}

#define ACCOUNT "000000000000"

/* The S3 destination's EncryptionConfiguration: Firehose knows no
 * encryption (the bucket's default, SSE-S3, applies) or a KMS key, named
 * by its ARN. */
static json_t *describe_encryption(const struct sl_sink_dest *d)
{
    if (!d->kms_key_arn[0])
        return json_pack("{s:s}", "NoEncryptionConfig", "NoEncryption");
    return json_pack("{s:{s:s}}", "KMSEncryptionConfig", "AWSKMSKeyARN", d->kms_key_arn);
}

json_t *sl_firehose_api_describe(const struct sl_stream_conf *c, const struct sl_sink_dest *dest,
                       const char *region, unsigned version, int64_t created_s)
{
    static const char *const formats[] = { "UNCOMPRESSED", "GZIP", "ZSTD" };
    char arn[160], bucket[160], ver[16];
    uint64_t mb = c->buffer_size >> 20;
    json_t *s3;

    snprintf(arn, sizeof(arn), "arn:aws:firehose:%s:" ACCOUNT ":deliverystream/%s", region,
             c->name);
    if (dest->bucket[0])
        snprintf(bucket, sizeof(bucket), "arn:aws:s3:::%s", dest->bucket);
    else                            /* no bucket: a name that says where it goes */
        snprintf(bucket, sizeof(bucket), "arn:aws:s3:::sluice-%s-%s", c->sink, c->name);
    snprintf(ver, sizeof(ver), "%u", version);
    s3 = json_pack("{s:s, s:s, s:s, s:s, s:{s:I, s:I}, s:s, s:o, s:{s:b}}",
                   "RoleARN", "arn:aws:iam::" ACCOUNT ":role/sluice",
                   "BucketARN", bucket,
                   "Prefix", c->prefix,
                   "ErrorOutputPrefix", c->error_prefix,
                   "BufferingHints", "SizeInMBs", (json_int_t)(mb ? mb : 1),
                   "IntervalInSeconds", (json_int_t)(c->buffer_interval_ms / 1000),
                   "CompressionFormat", formats[c->compression],
                   "EncryptionConfiguration", describe_encryption(dest),
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
