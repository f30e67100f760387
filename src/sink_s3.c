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
 * An exclusive batch (durability = disk: its key names it alone, and a
 * replay after a crash sends it again) is a conditional write,
 * If-None-Match: *. S3's 412 says the object is there already, this
 * batch's own from before the crash: OK, with <existed> set and counted.
 *
 * Threads: deliver() runs on several workers at once; the client is
 * thread-safe, and the once-per-cause flags are atomics.
 */
#include <stdatomic.h>
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

struct s3_sink {
    struct sl_s3 *s3;
    char stream[SL_NAME_MAX + 1];
    char bucket[64];
    uint64_t threshold, part_size;
    _Atomic int loud[SL_RETRY_NCAUSES];   /* logged at error level since the last success */
};

static int s3_create(const struct sl_stream_conf *c, void **ctx, char *err, size_t errlen)
{
    struct s3_sink *k = calloc(1, sizeof(*k));
    struct sl_aws_creds creds;
    char why[512];

    if (!k) {
        snprintf(err, errlen, "out of memory");
        return SL_ENOMEM;
    }
    if (sl_aws_creds_load(c->s3_credentials_file, &creds, why, sizeof(why)) != SL_OK) {
        snprintf(err, errlen, "s3: %s", why);
        free(k);
        return SL_EINVAL;
    }
    struct sl_s3_options o = {
        .bucket = c->s3_bucket, .region = c->s3_region, .endpoint = c->s3_endpoint,
        .path_style = c->s3_path_style, .storage_class = c->s3_storage_class,
        .sse = c->s3_sse, .kms_key_id = c->s3_sse_kms_key_id,
        .max_connections = (unsigned)c->s3_max_connections, .timeout_ms = c->s3_timeout_ms,
    };
    k->s3 = sl_s3_new(&o, &creds, err, errlen);
    if (k->s3)
        sl_info("stream=%s msg=\"s3 sink\" bucket=%s endpoint=%s credentials=\"%s\"",
                c->name, c->s3_bucket, c->s3_endpoint[0] ? c->s3_endpoint : "aws",
                creds.source);
    OPENSSL_cleanse(&creds, sizeof(creds));
    if (!k->s3) {
        free(k);
        return SL_ERR;
    }
    snprintf(k->stream, sizeof(k->stream), "%s", c->name);
    snprintf(k->bucket, sizeof(k->bucket), "%s", c->s3_bucket);
    k->threshold = c->s3_multipart_threshold;
    k->part_size = c->s3_part_size;
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
        return sl_s3_put_multipart(k->s3, key, data, len, k->part_size, exclusive, r, parts);
    return sl_s3_put_object(k->s3, key, data, len, exclusive, r);
}

static void s3_deliver(void *ctx, const struct sl_sink_batch *b, struct sl_sink_outcome *out)
{
    struct s3_sink *k = ctx;
    struct sl_s3_result r;
    unsigned parts;
    int64_t t0 = sl_clock_mono_ns();
    int rc = store(k, b->key, b->data, b->len, b->exclusive, &r, &parts);

    sl_stat_add(&b->stats->parts, parts);
    if (rc == SL_OK || rc == SL_EEXIST) {
        if (rc == SL_OK) {
            sl_stat_add(&b->stats->uploads[0], 1);
            sl_stat_add(&b->stats->upload_bytes, b->len);
            sl_histogram_observe(&b->stats->upload, (double)(sl_clock_mono_ns() - t0) / 1e9);
        } else {                /* neither stored nor failed: not in uploads */
            sl_stat_add(&b->stats->existing, 1);
            out->existed = 1;
        }
        for (int i = 0; i < SL_RETRY_NCAUSES; i++)
            atomic_store_explicit(&k->loud[i], 0, memory_order_relaxed);
        out->result = SL_SINK_OK;
        return;
    }
    sl_stat_add(&b->stats->uploads[1], 1);
    classify(&r, out);
    sl_s3_describe(&r, out->error, sizeof(out->error));
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
        sl_s3_describe(&r, d, sizeof(d));
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

    if (sl_s3_head_bucket(k->s3, &r) == SL_OK)
        return 1;
    sl_s3_describe(&r, d, sizeof(d));
    snprintf(why, whylen, "bucket %s: %s", k->bucket, d);
    return 0;
}

static void s3_destroy(void *ctx)
{
    struct s3_sink *k = ctx;

    if (!k)
        return;
    sl_s3_free(k->s3);
    free(k);
}

const struct sl_sink_ops sl_sink_s3 = {
    .name = "s3",
    .create = s3_create,
    .deliver = s3_deliver,
    .ready = s3_ready,
    .destroy = s3_destroy,
    .put_backup = s3_put_backup,
};
