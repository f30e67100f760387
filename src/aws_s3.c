/*
 * aws_s3.c - see aws_s3.h.
 *
 * Every request goes through request(): build the path (bucket, encoded
 * key) and the S3 headers (Content-MD5, storage class, encryption, the
 * condition), and hand them to the HTTP client (http_client.h), which
 * owns the connections, the timeouts, SigV4 (service "s3", S3's rules)
 * and the bounded answer. Error bodies are S3's XML; only <Code> and
 * <Message> are read, by string search.
 *
 * Threads: struct sl_s3 is read-only after sl_aws_s3_new(); the client it
 * holds is safe to call from any number of threads at once.
 */
#include "aws_s3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "aws_sigv4.h"
#include "buf.h"
#include "http_client.h"
#include "sluice/err.h"

#define ANSWER_MAX (256 * 1024)       /* an S3 answer body we keep; the rest is cut */
#define PATH_MAX_LEN 8192             /* "/bucket/" + a key of SL_KEY_MAX (1536) encoded */

struct sl_s3 {
    struct sl_s3_options o;           /* strings below point into <strs> */
    char strs[4][256];
    char kms[2048];
    char path0[80];                   /* "/bucket" (path style) or "" */
    struct sl_http_client *http;      /* owned: connections, signing (holds the creds) */
};

/* Copies the text of the first <tag> element of <xml> into <out>. */
static int xml_text(const char *xml, const char *tag, char *out, size_t len)
{
    char open[64], close[64];
    const char *a, *b;

    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    if (!(a = strstr(xml, open)) || !(b = strstr(a, close)))
        return 0;
    a += strlen(open);
    snprintf(out, len, "%.*s", (int)(b - a), a);
    return 1;
}

/* The body's base64 MD5, for Content-MD5. */
static void md5_base64(const void *data, size_t len, char md5[32])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dl = 0;

    EVP_Digest(data, len, d, &dl, EVP_md5(), NULL);
    EVP_EncodeBlock((unsigned char *)md5, d, (int)dl);
}

/* What request() adds to the headers it always sends. */
#define OBJECT_HEADERS 1              /* storage class and encryption */
#define IF_ABSENT      2              /* If-None-Match: *, a conditional write */

/* The S3 headers of a request: the client adds Host, the session token
 * and the signature. Returns how many. */
static size_t s3_headers(const struct sl_s3 *s, const void *body, const char *md5, int flags,
                         struct sl_http_header *hs)
{
    size_t n = 0;

    if (body) {
        hs[n++] = (struct sl_http_header){ "Content-MD5", md5 };
        hs[n++] = (struct sl_http_header){ "Content-Type", "application/octet-stream" };
    }
    if (flags & IF_ABSENT)
        hs[n++] = (struct sl_http_header){ "If-None-Match", "*" };
    if ((flags & OBJECT_HEADERS) && s->o.storage_class[0])
        hs[n++] = (struct sl_http_header){ "X-Amz-Storage-Class", s->o.storage_class };
    if ((flags & OBJECT_HEADERS) && s->o.sse != SL_SSE_NONE) {
        hs[n++] = (struct sl_http_header){ "X-Amz-Server-Side-Encryption",
                                           s->o.sse == SL_SSE_KMS ? "aws:kms" : "AES256" };
        if (s->o.sse == SL_SSE_KMS && s->o.kms_key_id[0])
            hs[n++] = (struct sl_http_header){ "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id",
                                               s->o.kms_key_id };
    }
    return n;
}

/* <a> as a C string: the NUL may take one byte past its cap. */
static char *answer_str(struct sl_buf *a)
{
    a->max++;
    return sl_buf_append(a, "", 1) == SL_OK ? (char *)a->data : NULL;
}

/*
 * One signed request: <method> on <key> (NULL: the bucket) with <query>
 * (NULL: none) and <body>. <flags>: OBJECT_HEADERS for PutObject and
 * CreateMultipartUpload, IF_ABSENT for a PutObject or a
 * CompleteMultipartUpload that must not replace an object. The answer's
 * body, if wanted, lands in <out> (a NUL-terminated string the caller
 * frees), its ETag in <etag>.
 */
static int request(struct sl_s3 *s, const char *method, const char *key, const char *query,
                   const void *body, size_t len, int flags, char **out,
                   char etag[128], struct sl_s3_result *r)
{
    struct sl_http_header hs[6];
    struct sl_http_result hr;
    struct sl_buf path, answer;
    char md5[32] = "", *text;
    int rc = SL_ERR;

    memset(r, 0, sizeof(*r));
    sl_buf_init(&path, PATH_MAX_LEN);
    sl_buf_init(&answer, ANSWER_MAX);
    sl_buf_printf(&path, "%s/", s->path0);
    if (key)
        sl_aws_sigv4_uri_encode(&path, key, strlen(key), 1);
    if (sl_buf_append(&path, "", 1) != SL_OK) {
        snprintf(r->message, sizeof(r->message), "out of memory, or the key is too long");
        r->cause = SL_HTTP_CAUSE_NOMEM;
        goto out;
    }
    if (body)
        md5_base64(body, len, md5);
    struct sl_http_request rq = {
        .method = method, .path = (const char *)path.data, .query = query, .headers = hs,
        .nheaders = s3_headers(s, body, md5, flags, hs), .body = body, .body_len = len,
        .answer = &answer, .cut_answer = 1,       /* only the start of an answer matters */
        .capture = etag ? "ETag" : NULL,
    };
    rc = sl_http_client_request(s->http, &rq, &hr);
    r->cause = hr.cause;
    text = answer_str(&answer);
    if (hr.status == 0 || hr.curl_code) {            /* no answer, or not all of it */
        r->curl_code = hr.curl_code;
        r->timed_out = hr.cause == SL_HTTP_CAUSE_TIMEOUT;
        snprintf(r->message, sizeof(r->message), "%s", hr.error);
        rc = SL_ERR;
        goto out;
    }
    r->status = hr.status;
    if (rc != SL_OK) {
        if (text) {
            xml_text(text, "Code", r->code, sizeof(r->code));
            xml_text(text, "Message", r->message, sizeof(r->message));
        }
        goto out;
    }
    if (etag)
        snprintf(etag, 128, "%s", hr.header);
    if (out && !text) {
        snprintf(r->message, sizeof(r->message), "out of memory");
        r->cause = SL_HTTP_CAUSE_NOMEM;
        rc = SL_ERR;
        goto out;
    }
    if (out) {
        *out = text;
        answer.data = NULL;                           /* handed over */
        answer.len = answer.cap = 0;
    }
out:
    sl_buf_destroy(&path);
    sl_buf_destroy(&answer);
    return rc;
}

/* A conditional write answered 412: the object is there. */
static int exists(int exclusive, const struct sl_s3_result *r)
{
    return exclusive && r->status == 412;
}

int sl_aws_s3_put_object(struct sl_s3 *s, const char *key, const void *data, size_t len,
                     int exclusive, struct sl_s3_result *r)
{
    int flags = OBJECT_HEADERS | (exclusive ? IF_ABSENT : 0);

    if (request(s, "PUT", key, NULL, data, len, flags, NULL, NULL, r) == SL_OK)
        return SL_OK;
    return exists(exclusive, r) ? SL_EEXIST : SL_ERR;
}

int sl_aws_s3_head_bucket(struct sl_s3 *s, struct sl_s3_result *r)
{
    return request(s, "HEAD", NULL, NULL, NULL, 0, 0, NULL, NULL, r);
}

static void abort_upload(struct sl_s3 *s, const char *key, const char *upload_id)
{
    struct sl_s3_result r;
    char q[1100];

    snprintf(q, sizeof(q), "uploadId=%s", upload_id);
    request(s, "DELETE", key, q, NULL, 0, 0, NULL, NULL, &r);
}

int sl_aws_s3_put_multipart(struct sl_s3 *s, const char *key, const void *data, size_t len,
                        size_t part_size, int exclusive, struct sl_s3_result *r,
                        unsigned *parts)
{
    size_t nparts = (len + part_size - 1) / part_size;
    char upload_id[1024], q[1200], *answer = NULL;
    struct sl_buf done;
    int rc = SL_ERR;

    *parts = 0;
    if (nparts == 0 || nparts > 10000) {
        memset(r, 0, sizeof(*r));
        snprintf(r->message, sizeof(r->message), "%zu parts: S3 takes 1 to 10000", nparts);
        r->cause = SL_HTTP_CAUSE_SETUP;
        return SL_ERR;
    }
    if (request(s, "POST", key, "uploads=", NULL, 0, OBJECT_HEADERS, &answer, NULL, r) != SL_OK)
        return SL_ERR;
    char raw[512];
    int found = xml_text(answer, "UploadId", raw, sizeof(raw));
    free(answer);
    if (!found) {
        snprintf(r->message, sizeof(r->message), "CreateMultipartUpload answered no UploadId");
        return SL_ERR;
    }
    struct sl_buf id;                                 /* as it goes in a query */
    sl_buf_init(&id, sizeof(upload_id));
    sl_aws_sigv4_uri_encode(&id, raw, strlen(raw), 0);
    sl_buf_append(&id, "", 1);
    snprintf(upload_id, sizeof(upload_id), "%s", id.data ? (char *)id.data : "");
    sl_buf_destroy(&id);
    sl_buf_init(&done, (size_t)nparts * 200 + 256);
    sl_buf_printf(&done, "<CompleteMultipartUpload>");
    for (size_t i = 0; i < nparts; i++) {
        size_t off = i * part_size, n = len - off < part_size ? len - off : part_size;
        char etag[128];
        snprintf(q, sizeof(q), "partNumber=%zu&uploadId=%s", i + 1, upload_id);
        if (request(s, "PUT", key, q, (const char *)data + off, n, 0, NULL, etag, r) != SL_OK)
            goto out;
        (*parts)++;
        sl_buf_printf(&done, "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag></Part>", i + 1,
                      etag);
    }
    sl_buf_printf(&done, "</CompleteMultipartUpload>");
    snprintf(q, sizeof(q), "uploadId=%s", upload_id);
    /* Only the completion can be conditional (S3 takes no condition on
     * CreateMultipartUpload or UploadPart): every part is sent before S3
     * says the object is there. */
    if (request(s, "POST", key, q, done.data, done.len, exclusive ? IF_ABSENT : 0, &answer,
                NULL, r) != SL_OK) {
        if (exists(exclusive, r))
            rc = SL_EEXIST;
        goto out;
    }
    /* CompleteMultipartUpload can fail inside a 200 answer. */
    if (strstr(answer, "<Error>")) {
        xml_text(answer, "Code", r->code, sizeof(r->code));
        xml_text(answer, "Message", r->message, sizeof(r->message));
        r->status = 500;
        r->cause = SL_HTTP_CAUSE_SERVER;
        free(answer);
        goto out;
    }
    free(answer);
    rc = SL_OK;
out:
    if (rc != SL_OK)        /* SL_EEXIST too: the parts would be kept, and billed */
        abort_upload(s, key, upload_id);
    sl_buf_destroy(&done);
    return rc;
}

void sl_aws_s3_describe(const struct sl_s3_result *r, char *out, size_t len)
{
    if (r->status == 0)
        snprintf(out, len, "no answer: %s", r->message);
    else
        snprintf(out, len, "status %ld%s%s%s%s", r->status, r->code[0] ? " " : "", r->code,
                 r->message[0] ? ": " : "", r->message);
}

struct sl_s3 *sl_aws_s3_new(const struct sl_s3_options *o, const struct sl_aws_creds *creds,
                        char *err, size_t errlen)
{
    struct sl_s3 *s = calloc(1, sizeof(*s));
    char scheme[16] = "https", host[400], vhost[400], origin[450];

    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->o = *o;
    snprintf(s->strs[0], sizeof(s->strs[0]), "%s", o->bucket);
    snprintf(s->strs[1], sizeof(s->strs[1]), "%s", o->region);
    snprintf(s->strs[2], sizeof(s->strs[2]), "%s", o->endpoint);
    snprintf(s->strs[3], sizeof(s->strs[3]), "%s", o->storage_class);
    snprintf(s->kms, sizeof(s->kms), "%s", o->kms_key_id);
    s->o.bucket = s->strs[0], s->o.region = s->strs[1], s->o.endpoint = s->strs[2];
    s->o.storage_class = s->strs[3], s->o.kms_key_id = s->kms;
    if (!s->o.max_connections)
        s->o.max_connections = 1;
    if (o->endpoint[0]) {
        const char *sep = strstr(o->endpoint, "://");
        snprintf(scheme, sizeof(scheme), "%.*s", sep ? (int)(sep - o->endpoint) : 0,
                 o->endpoint);
        snprintf(host, sizeof(host), "%s", sep ? sep + 3 : o->endpoint);
        size_t hl = strlen(host);
        while (hl && host[hl - 1] == '/')
            host[--hl] = '\0';
    } else {
        snprintf(host, sizeof(host), "s3.%s.amazonaws.com", o->region);
    }
    if (o->path_style) {
        snprintf(vhost, sizeof(vhost), "%s", host);
        snprintf(s->path0, sizeof(s->path0), "/%s", o->bucket);
    } else {
        snprintf(vhost, sizeof(vhost), "%s.%s", o->bucket, host);
    }
    snprintf(origin, sizeof(origin), "%s://%s", scheme, vhost);
    struct sl_http_client_options ho = {
        .url = origin, .max_connections = s->o.max_connections, .timeout_ms = o->timeout_ms,
        .sigv4 = { .creds = creds, .service = "s3", .region = s->o.region, .s3 = 1 },
    };
    char why[200];
    if (sl_http_client_new(&ho, &s->http, why, sizeof(why)) != SL_OK) {
        snprintf(err, errlen, "s3 endpoint %s: %s", origin, why);
        free(s);
        return NULL;
    }
    return s;
}

void sl_aws_s3_free(struct sl_s3 *s)
{
    if (!s)
        return;
    sl_http_client_free(s->http);                    /* wipes its copy of the secret */
    free(s);
}
