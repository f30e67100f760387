/*
 * aws_s3.h - a small S3 client over http_client.h: PutObject, multipart upload,
 * HeadBucket. Shared by the S3 sink (and, later, Redshift's staging).
 *
 * Requests are signed with sluice's own SigV4 signer (aws_sigv4.h), the
 * one whose verifier the HTTP source uses, checked against AWS's test
 * suite. libcurl's CURLOPT_AWS_SIGV4 was the plan, but the tests' verifier
 * caught libcurl 7.88 (Debian 12) signing a header it does not send
 * ("Expect:") and misordering SignedHeaders when one name starts another
 * (the two SSE-KMS headers); libcurl only carries the request. Every
 * request carries x-amz-content-sha256 (the body's SHA-256, signed) and
 * Content-MD5, so that a body corrupted on the way is refused by the store.
 *
 * Connections, timeouts and signing are the HTTP client's (http_client.h):
 * at most max_connections kept-alive connections, so consecutive uploads
 * reuse one; a caller that finds them all busy waits for one.
 *
 * Threads: any number of threads may call at once.
 */
#ifndef SL_AWS_S3_H
#define SL_AWS_S3_H

#include <stddef.h>
#include <stdint.h>

#include "aws_creds.h"

enum sl_s3_sse { SL_SSE_NONE, SL_SSE_AES256, SL_SSE_KMS };

struct sl_s3_options {
    const char *bucket;
    const char *region;
    const char *endpoint;         /* "" : https://s3.REGION.amazonaws.com */
    int path_style;               /* 1: ENDPOINT/BUCKET/KEY; 0: BUCKET.HOST/KEY */
    const char *storage_class;    /* "" : the bucket's default */
    int sse;                      /* enum sl_s3_sse */
    const char *kms_key_id;       /* with SL_SSE_KMS; "" : the AWS managed key */
    unsigned max_connections;
    int64_t timeout_ms;           /* per request */
};

/* What a request came to. */
struct sl_s3_result {
    long status;                  /* HTTP status; 0 if no answer came */
    int curl_code;                /* CURLcode; 0 when an answer came */
    int timed_out;                /* the request ran out of time */
    char code[64];                /* S3's error Code ("NoSuchBucket", ...), or "" */
    char message[256];            /* S3's Message, or libcurl's error text */
    int cause;                    /* enum sl_http_cause (http_client.h): the HTTP
                                   * classification, before S3's own codes */
};

struct sl_s3;

/* A client for <o> (copied) with <creds> (copied). NULL with <err> set. */
struct sl_s3 *sl_aws_s3_new(const struct sl_s3_options *o, const struct sl_aws_creds *creds,
                        char *err, size_t errlen);
void sl_aws_s3_free(struct sl_s3 *s);

/*
 * Each returns SL_OK on a 2xx answer, else SL_ERR with <r> saying what
 * happened. <key> is the object key, unencoded.
 *
 * <exclusive>: the write is conditional (If-None-Match: *, on the PUT or on
 * CompleteMultipartUpload) and never replaces an object; if one is there S3
 * answers 412 and these return SL_EEXIST, the object untouched. A
 * concurrent conditional write of the same key gets 409
 * ConditionalRequestConflict (SL_ERR): try again. A store that ignores the
 * header (s3rver) simply replaces the object.
 */
int sl_aws_s3_put_object(struct sl_s3 *s, const char *key, const void *data, size_t len,
                     int exclusive, struct sl_s3_result *r);
/* Uploads <data> in parts of <part_size> (create, parts, complete). On
 * failure or SL_EEXIST the upload is aborted, so no parts are left behind.
 * *<parts> counts the parts sent. */
int sl_aws_s3_put_multipart(struct sl_s3 *s, const char *key, const void *data, size_t len,
                        size_t part_size, int exclusive, struct sl_s3_result *r,
                        unsigned *parts);
int sl_aws_s3_head_bucket(struct sl_s3 *s, struct sl_s3_result *r);

/* "status 503 SlowDown: Please reduce your request rate." and the like. */
void sl_aws_s3_describe(const struct sl_s3_result *r, char *out, size_t len);

#endif
