/*
 * sink_s3.c - objects to an S3 bucket (AWS or an S3-compatible store),
 * through aws_s3.h: one PUT below s3.multipart_threshold, a multipart
 * upload (aborted on failure) at or above it.
 *
 * What an answer means to the engine:
 *   - no answer (connection refused or reset, DNS), a timeout, 5xx, 429 or
 *     SlowDown, a digest mismatch (the body was corrupted on the way):
 *     RETRY, with the cause counted;
 *   - 403 (credentials, policy) and NoSuchBucket: RETRY too, since an
 *     operator may fix them before retry_duration runs out, but logged
 *     at error level once per cause until an upload succeeds again;
 *   - 409 ConditionalRequestConflict (an exclusive write raced another
 *     conditional write of the key): RETRY;
 *   - any other 4xx: FAIL, the batch goes to backup at once.
 *
 * An exclusive batch (durability = disk, or a Kafka partition's batch: its
 * key names it alone, and a replay after a crash sends it again) is a conditional write,
 * If-None-Match: *. S3's 412 says the object is there already, this
 * batch's own from before the crash: OK, with <existed> set and counted.
 *
 * Threads: deliver() runs on several workers at once; the client is
 * thread-safe, and the once-per-cause flags are atomics.
 */
#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "aws_creds.h"
#include "aws_s3.h"
#include "clock.h"
#include "log.h"
#include "objkey.h"
#include "sink.h"
#include "sluice/err.h"

/* Its keys, as the config loader parses them (aws_s3.h says what each does). */
struct s3_conf {
    char     bucket[64];
    char     region[32];
    char     endpoint[256];
    int      path_style;
    char     credentials_file[PATH_MAX];
    char     storage_class[32];
    int      sse;                         /* enum sl_s3_sse */
    char     sse_kms_key_id[256];
    uint64_t multipart_threshold, part_size, max_connections;
    int64_t  timeout_ms;
};

static const char *const sse_enum[]   = { "none", "AES256", "aws:kms", NULL };
static const char *const class_enum[] = { "", "STANDARD", "STANDARD_IA", "ONEZONE_IA",
                                          "INTELLIGENT_TIERING", "GLACIER", "GLACIER_IR",
                                          "DEEP_ARCHIVE", "REDUCED_REDUNDANCY", NULL };
#define C(f) offsetof(struct s3_conf, f)

static const struct sl_conf_key s3_keys[] = {
    { "s3.bucket", SL_K_STRING, SL_KSTR(struct s3_conf, bucket), 0, 0, "", NULL,
      "s3 sink: the bucket (required)" },
    { "s3.region", SL_K_STRING, SL_KSTR(struct s3_conf, region), 1, 0, "us-east-1", NULL,
      "s3 sink: the bucket's region, signed into every request" },
    { "s3.endpoint", SL_K_STRING, SL_KSTR(struct s3_conf, endpoint), 0, 0, "", NULL,
      "s3 sink: http(s)://HOST[:PORT] of an S3-compatible store (default: AWS)" },
    { "s3.path_style", SL_K_ENUM, C(path_style), 0, 0, 1, "false", sl_conf_bool,
      "s3 sink: true: ENDPOINT/BUCKET/KEY; false: BUCKET.HOST/KEY" },
    { "s3.credentials_file", SL_K_STRING, SL_KSTR(struct s3_conf, credentials_file), 0, 0,
      "", NULL, "s3 sink: a shared-credentials-format file (else environment, ~/.aws)" },
    { "s3.storage_class", SL_K_ENUM, SL_KSTR(struct s3_conf, storage_class), 0, 0, "",
      class_enum, "s3 sink: x-amz-storage-class of new objects (default: the bucket's)" },
    { "s3.sse", SL_K_ENUM, C(sse), 0, 0, 2, "none", sse_enum,
      "s3 sink: server-side encryption: none, AES256 or aws:kms" },
    { "s3.sse_kms_key_id", SL_K_STRING, SL_KSTR(struct s3_conf, sse_kms_key_id), 0, 0, "",
      NULL, "s3 sink: the KMS key of s3.sse = aws:kms (default: the AWS managed key)" },
    { "s3.multipart_threshold", SL_K_SIZE, C(multipart_threshold), 0, 5 * SL_MB, 5 * SL_GB,
      "16MiB", NULL, "s3 sink: objects this large or larger go up in parts" },
    { "s3.part_size", SL_K_SIZE, C(part_size), 0, 5 * SL_MB, 5 * SL_GB, "8MiB", NULL,
      "s3 sink: size of each part but the last" },
    { "s3.max_connections", SL_K_UINT, C(max_connections), 0, 1, 256, "8", NULL,
      "s3 sink: connections to the store, kept alive and reused" },
    { "s3.timeout", SL_K_DURATION, C(timeout_ms), 0, SL_SEC, 3600 * SL_SEC, "60s", NULL,
      "s3 sink: one request's time limit" },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

static void s3_check(void *conf, struct sl_conf_check *chk)
{
    struct s3_conf *c = conf;
    size_t n = strlen(c->bucket);

    if (n == 0)
        sl_conf_key_check_err(chk, "s3.bucket", "required: the bucket objects go to");
    else if (n < 3 || n > 63 || strspn(c->bucket, "abcdefghijklmnopqrstuvwxyz0123456789.-") != n)
        sl_conf_key_check_err(chk, "s3.bucket",
                          "'%s' is not a bucket name: 3-63 characters of a-z 0-9 . -", c->bucket);
    if (c->endpoint[0] && strncmp(c->endpoint, "http://", 7) != 0 &&
        strncmp(c->endpoint, "https://", 8) != 0)
        sl_conf_key_check_err(chk, "s3.endpoint", "'%s' must start with http:// or https://",
                          c->endpoint);
    if (c->sse_kms_key_id[0] && c->sse != SL_SSE_KMS)
        sl_conf_key_check_err(chk, "s3.sse_kms_key_id", "set, but s3.sse is not aws:kms");
}

#define ACCOUNT "000000000000"

/* The bucket, and the KMS key as Firehose names it: by its ARN (an alias
 * or a key id is made one in s3.region; none: the AWS managed key). */
static void s3_dest(const void *conf, struct sl_sink_dest *d)
{
    const struct s3_conf *c = conf;
    const char *key = c->sse_kms_key_id;

    snprintf(d->bucket, sizeof(d->bucket), "%s", c->bucket);
    snprintf(d->location, sizeof(d->location), "s3://%s", c->bucket);
    d->connections = (unsigned)c->max_connections;
    if (c->sse != SL_SSE_KMS)
        return;
    if (strncmp(key, "arn:", 4) == 0)
        snprintf(d->kms_key_arn, sizeof(d->kms_key_arn), "%s", key);
    else
        snprintf(d->kms_key_arn, sizeof(d->kms_key_arn), "arn:aws:kms:%s:" ACCOUNT ":%s%s",
                 c->region, !key[0] || strncmp(key, "alias/", 6) == 0 ? "" : "key/",
                 key[0] ? key : "alias/aws/s3");
}

/* What the sink counts of its own, in the stream's sink stats: own[] by
 * these indexes, and own_hist, the time to store one object. */
enum { S3_UPLOADS_OK, S3_UPLOADS_FAILED, S3_UPLOAD_BYTES, S3_PARTS };

static void s3_metrics(struct sl_buf *o, const struct sl_metrics_sink *s, size_t n)
{
    static const char *const fam[] = {
        "sluice_s3_uploads_total", "sluice_s3_upload_bytes_total", "sluice_s3_parts_total",
    };
    char labels[96];

    sl_metrics_family(o, fam[0], "counter", "Objects put to S3, by result (ok, error).");
    for (size_t i = 0; i < n; i++)
        sl_buf_printf(o, "%s{stream=\"%s\",result=\"ok\"} %llu\n"
                      "%s{stream=\"%s\",result=\"error\"} %llu\n", fam[0], s[i].stream,
                      (unsigned long long)atomic_load(&s[i].st->own[S3_UPLOADS_OK]), fam[0],
                      s[i].stream,
                      (unsigned long long)atomic_load(&s[i].st->own[S3_UPLOADS_FAILED]));
    sl_metrics_family(o, fam[1], "counter", "Bytes of the objects stored in S3.");
    for (size_t i = 0; i < n; i++)
        sl_buf_printf(o, "%s{stream=\"%s\"} %llu\n", fam[1], s[i].stream,
                      (unsigned long long)atomic_load(&s[i].st->own[S3_UPLOAD_BYTES]));
    sl_metrics_family(o, fam[2], "counter", "Parts sent in multipart uploads.");
    for (size_t i = 0; i < n; i++)
        sl_buf_printf(o, "%s{stream=\"%s\"} %llu\n", fam[2], s[i].stream,
                      (unsigned long long)atomic_load(&s[i].st->own[S3_PARTS]));
    sl_metrics_family(o, "sluice_s3_upload_duration_seconds", "histogram",
                      "Time to store one object, all its parts included.");
    for (size_t i = 0; i < n; i++) {
        snprintf(labels, sizeof(labels), "stream=\"%s\"", s[i].stream);
        sl_metrics_histogram(o, "sluice_s3_upload_duration_seconds", labels,
                             &s[i].st->own_hist);
    }
}

struct s3_sink {
    struct sl_s3 *s3;
    char stream[80];                      /* names are at most 64 characters */
    char bucket[64];
    uint64_t threshold, part_size;
    _Atomic int loud[SL_RETRY_NCAUSES];   /* logged at error level since the last success */
};

static int s3_create(const char *stream, const void *conf, void **ctx, char *err,
                     size_t errlen)
{
    const struct s3_conf *c = conf;
    struct s3_sink *k = calloc(1, sizeof(*k));
    struct sl_aws_creds creds;
    char why[512];

    if (!k) {
        snprintf(err, errlen, "out of memory");
        return SL_ENOMEM;
    }
    if (sl_aws_creds_load(c->credentials_file, &creds, why, sizeof(why)) != SL_OK) {
        snprintf(err, errlen, "s3: %s", why);
        free(k);
        return SL_EINVAL;
    }
    struct sl_s3_options o = {
        .bucket = c->bucket, .region = c->region, .endpoint = c->endpoint,
        .path_style = c->path_style, .storage_class = c->storage_class,
        .sse = c->sse, .kms_key_id = c->sse_kms_key_id,
        .max_connections = (unsigned)c->max_connections, .timeout_ms = c->timeout_ms,
    };
    k->s3 = sl_aws_s3_new(&o, &creds, err, errlen);
    if (k->s3)
        sl_info("stream=%s msg=\"s3 sink\" bucket=%s endpoint=%s credentials=\"%s\"",
                stream, c->bucket, c->endpoint[0] ? c->endpoint : "aws", creds.source);
    OPENSSL_cleanse(&creds, sizeof(creds));
    if (!k->s3) {
        free(k);
        return SL_ERR;
    }
    snprintf(k->stream, sizeof(k->stream), "%s", stream);
    snprintf(k->bucket, sizeof(k->bucket), "%s", c->bucket);
    k->threshold = c->multipart_threshold;
    k->part_size = c->part_size;
    *ctx = k;
    return SL_OK;
}

/* The engine's view of a failed request. */
static void classify(const struct sl_s3_result *r, struct sl_sink_outcome *out)
{
    out->result = SL_SINK_RETRY;
    if (r->status == 0)
        out->cause = r->timed_out ? SL_RETRY_TIMEOUT : SL_RETRY_CONNECTION;
    else if (r->status == 429 || strcmp(r->code, "SlowDown") == 0)
        out->cause = SL_RETRY_THROTTLED;
    else if (r->status >= 500)
        out->cause = SL_RETRY_SERVER;
    else if (r->status == 403)
        out->cause = SL_RETRY_FORBIDDEN;
    else if (strcmp(r->code, "NoSuchBucket") == 0)
        out->cause = SL_RETRY_NO_BUCKET;
    else if (strcmp(r->code, "BadDigest") == 0 || strcmp(r->code, "InvalidDigest") == 0 ||
             strcmp(r->code, "XAmzContentSHA256Mismatch") == 0)
        out->cause = SL_RETRY_BAD_DIGEST;
    else if (r->status == 408)
        out->cause = SL_RETRY_TIMEOUT;
    else if (r->status == 409 && strcmp(r->code, "ConditionalRequestConflict") == 0)
        out->cause = SL_RETRY_SINK;     /* the race is over by the next attempt */
    else
        out->result = SL_SINK_FAIL;
}

/* One object: one PUT below the threshold, a multipart upload above.
 * SL_EEXIST: <exclusive> and the object was there. */
static int store(struct s3_sink *k, const char *key, const void *data, size_t len,
                 int exclusive, struct sl_s3_result *r, unsigned *parts)
{
    *parts = 0;
    if (len >= k->threshold)
        return sl_aws_s3_put_multipart(k->s3, key, data, len, k->part_size, exclusive, r, parts);
    return sl_aws_s3_put_object(k->s3, key, data, len, exclusive, r);
}

static void s3_deliver(void *ctx, const struct sl_sink_batch *b, struct sl_sink_outcome *out)
{
    struct s3_sink *k = ctx;
    struct sl_s3_result r;
    unsigned parts;
    int64_t t0 = sl_clock_mono_ns();
    int rc = store(k, b->key, b->data, b->len, b->exclusive, &r, &parts);

    sl_stat_add(&b->stats->own[S3_PARTS], parts);
    if (rc == SL_OK || rc == SL_EEXIST) {
        if (rc == SL_OK) {
            sl_stat_add(&b->stats->own[S3_UPLOADS_OK], 1);
            sl_stat_add(&b->stats->own[S3_UPLOAD_BYTES], b->len);
            sl_metrics_observe(&b->stats->own_hist,
                                 (double)(sl_clock_mono_ns() - t0) / 1e9);
        } else {                /* neither stored nor failed: not in uploads */
            out->existed = 1;
        }
        for (int i = 0; i < SL_RETRY_NCAUSES; i++)
            atomic_store_explicit(&k->loud[i], 0, memory_order_relaxed);
        out->result = SL_SINK_OK;
        return;
    }
    sl_stat_add(&b->stats->own[S3_UPLOADS_FAILED], 1);
    classify(&r, out);
    sl_aws_s3_describe(&r, out->error, sizeof(out->error));
    if ((out->cause == SL_RETRY_FORBIDDEN || out->cause == SL_RETRY_NO_BUCKET) &&
        !atomic_exchange(&k->loud[out->cause], 1))
        sl_error("stream=%s sink=s3 msg=\"the bucket refuses uploads; retrying until "
                 "retry_duration, then backup\" bucket=%s error=\"%s\"", k->stream, k->bucket,
                 out->error);
}

/* The backup of an S3 stream without backup.path: into the same bucket,
 * the sidecar first, as on disk. */
static int s3_put_backup(void *ctx, const char *key, const void *data, size_t len, char *err,
                         size_t errlen)
{
    struct s3_sink *k = ctx;
    struct sl_s3_result r;
    char d[300];
    unsigned parts;
    int rc;

    rc = store(k, key, data, len, 0, &r, &parts);
    if (rc != SL_OK) {
        sl_aws_s3_describe(&r, d, sizeof(d));
        snprintf(err, errlen, "s3://%s/%s: %s", k->bucket, key, d);
    }
    return rc;
}

/* Ready when HeadBucket answers 200. */
static int s3_ready(void *ctx, char *why, size_t whylen)
{
    struct s3_sink *k = ctx;
    struct sl_s3_result r;
    char d[300];

    if (sl_aws_s3_head_bucket(k->s3, &r) == SL_OK)
        return 1;
    sl_aws_s3_describe(&r, d, sizeof(d));
    snprintf(why, whylen, "bucket %s: %s", k->bucket, d);
    return 0;
}

static void s3_destroy(void *ctx)
{
    struct s3_sink *k = ctx;

    if (!k)
        return;
    sl_aws_s3_free(k->s3);
    free(k);
}

const struct sl_sink_ops sl_sink_s3 = {
    .name = "s3",
    .prefix = "s3.",
    .shape = SL_SINK_OBJECTS,
    .keys = s3_keys,
    .conf_size = sizeof(struct s3_conf),
    .check = s3_check,
    .create = s3_create,
    .deliver = s3_deliver,
    .ready = s3_ready,
    .destroy = s3_destroy,
    .put_backup = s3_put_backup,
    .dest = s3_dest,
    .metrics = s3_metrics,
};
