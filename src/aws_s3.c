/*
 * aws_s3.c - see aws_s3.h.
 *
 * Every request goes through request(): take a handle from the pool, set
 * URL, method, body (from memory), headers and SigV4, run it, collect the
 * answer's body (bounded) and ETag, put the handle back. Error bodies are
 * S3's XML; only <Code> and <Message> are read, by string search.
 */
#include "aws_s3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "aws_sigv4.h"
#include "buf.h"
#include "curl_pool.h"
#include "sluice/err.h"

#define ANSWER_MAX (256 * 1024)       /* an S3 answer body we keep */

struct sl_s3 {
    struct sl_s3_options o;           /* strings below point into <strs> */
    char strs[4][256];
    char kms[2048];
    char origin[450];                 /* scheme://host[:port] */
    char host[400];                   /* host[:port]: the Host header, signed */
    char path0[80];                   /* "/bucket" (path style) or "" */
    struct sl_aws_creds creds;        /* the secret never leaves this struct */
    struct sl_curl_pool pool;         /* kept-alive connections */
};

/* One request's answer, filled by libcurl's callbacks. */
struct answer {
    struct sl_buf body;
    char etag[128];
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct answer *a = arg;
    size_t room = a->body.max - 1 - a->body.len;      /* 1: the NUL added at the end */

    /* Past ANSWER_MAX the rest is dropped: only the start of an answer matters. */
    sl_buf_append(&a->body, p, size * n < room ? size * n : room);
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct answer *a = arg;
    size_t len = size * n;

    if (len > 5 && strncasecmp(p, "etag:", 5) == 0) {
        const char *v = p + 5;
        size_t vl = len - 5;
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        if (vl < sizeof(a->etag)) {
            memcpy(a->etag, v, vl);
            a->etag[vl] = '\0';
        }
    }
    return len;
}

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

/* The headers of one request: what is signed is what is sent. */
#define MAX_HDRS 12
struct headers {
    struct sl_sigv4_header h[MAX_HDRS];
    size_t n;
};

static void add(struct headers *hs, const char *name, const char *value)
{
    hs->h[hs->n++] = (struct sl_sigv4_header){ name, value };
}

/* What request() adds to the headers it always sends. */
#define OBJECT_HEADERS 1              /* storage class and encryption */
#define IF_ABSENT      2              /* If-None-Match: *, a conditional write */

/*
 * One signed request: <method> on <key> (NULL: the bucket) with <query>
 * (NULL: none) and <body>. <flags>: OBJECT_HEADERS for PutObject and
 * CreateMultipartUpload, IF_ABSENT for a PutObject or a
 * CompleteMultipartUpload that must not replace an object. The answer's
 * body, if wanted, lands in <out> (a NUL-terminated string), its ETag in
 * <etag>.
 */
static int request(struct sl_s3 *s, const char *method, const char *key, const char *query,
                   const void *body, size_t len, int flags, char **out,
                   char etag[128], struct sl_s3_result *r)
{
    struct answer a = { .etag = "" };
    struct curl_slist *hdrs = NULL;
    struct sl_buf url;
    struct headers hs = { .n = 0 };
    struct sl_sigv4_signed sig;
    char md5[32], errbuf[CURL_ERROR_SIZE] = "";
    CURL *h = NULL;
    int rc = SL_ERR;

    memset(r, 0, sizeof(*r));
    /* Never full: origin 450 + path 80 + a key of SL_KEY_MAX (1536) encoded
     * + query 1200. */
    sl_buf_init(&url, 8192);
    sl_buf_init(&a.body, ANSWER_MAX);
    sl_buf_printf(&url, "%s%s/", s->origin, s->path0);
    if (key)
        sl_sigv4_uri_encode(&url, key, strlen(key), 1);
    sl_buf_append(&url, "", 1);
    const char *path = (const char *)url.data + strlen(s->origin);
    if (body)
        md5_base64(body, len, md5);
    add(&hs, "Host", s->host);
    if (body) {
        add(&hs, "Content-MD5", md5);
        add(&hs, "Content-Type", "application/octet-stream");
    }
    if (s->creds.session_token[0])
        add(&hs, "X-Amz-Security-Token", s->creds.session_token);
    if (flags & IF_ABSENT)
        add(&hs, "If-None-Match", "*");
    if ((flags & OBJECT_HEADERS) && s->o.storage_class[0])
        add(&hs, "X-Amz-Storage-Class", s->o.storage_class);
    if ((flags & OBJECT_HEADERS) && s->o.sse != SL_SSE_NONE) {
        add(&hs, "X-Amz-Server-Side-Encryption", s->o.sse == SL_SSE_KMS ? "aws:kms" : "AES256");
        if (s->o.sse == SL_SSE_KMS && s->o.kms_key_id[0])
            add(&hs, "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", s->o.kms_key_id);
    }
    /* Signed here, not by libcurl's CURLOPT_AWS_SIGV4: libcurl 7.88 put the
     * header "Expect:" (to turn off 100-continue) in SignedHeaders while
     * leaving it off the wire, and ordered SignedHeaders wrongly when one
     * name starts another (the two encryption headers). */
    struct sl_sigv4_signer signer = {
        .access_key_id = s->creds.access_key, .secret = s->creds.secret_key,
        .region = s->o.region, .service = "s3", .content_sha256_header = 1,
    };
    struct sl_sigv4_request sr = {
        .method = method, .path = path, .query = query, .headers = hs.h, .nheaders = hs.n,
        .body = body, .body_len = len, .s3_uri = 1,
    };
    /* The signer hashes the body into X-Amz-Content-Sha256. */
    if (sl_sigv4_sign(&signer, &sr, NULL, (int64_t)time(NULL), &sig) != SL_OK) {
        snprintf(r->message, sizeof(r->message), "cannot sign the request");
        goto out;
    }
    int hrc = SL_OK;
    for (size_t i = 1; i < hs.n && hrc == SL_OK; i++)   /* Host: libcurl sends it */
        hrc = sl_curl_header(&hdrs, hs.h[i].name, hs.h[i].value);
    if (hrc != SL_OK || sl_curl_header(&hdrs, "X-Amz-Date", sig.amz_date) != SL_OK ||
        sl_curl_header(&hdrs, "X-Amz-Content-Sha256", sig.content_sha256) != SL_OK ||
        sl_curl_header(&hdrs, "Authorization", sig.authorization) != SL_OK ||
        sl_curl_header(&hdrs, "Expect", "") != SL_OK) {  /* not signed: no 100-continue */
        snprintf(r->message, sizeof(r->message), "out of memory");
        goto out;
    }
    if (query) {
        url.len--;                                     /* the NUL */
        sl_buf_printf(&url, "?%s", query);
        sl_buf_append(&url, "", 1);
    }
    if (!(h = sl_curl_pool_take(&s->pool))) {
        snprintf(r->message, sizeof(r->message), "cannot make a libcurl handle");
        goto out;
    }
    curl_easy_reset(h);                               /* keeps the connection */
    curl_easy_setopt(h, CURLOPT_URL, (char *)url.data);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &a);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)s->o.timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(s->o.timeout_ms < 10000 ?
                                                          s->o.timeout_ms : 10000));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    sl_curl_pool_give(&s->pool, h);
    sl_buf_append(&a.body, "", 1);
    if (cc != CURLE_OK) {
        r->curl_code = (int)cc;
        r->status = 0;
        r->timed_out = cc == CURLE_OPERATION_TIMEDOUT;
        snprintf(r->message, sizeof(r->message), "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
        goto out;
    }
    if (r->status < 200 || r->status > 299) {
        xml_text((char *)a.body.data, "Code", r->code, sizeof(r->code));
        xml_text((char *)a.body.data, "Message", r->message, sizeof(r->message));
        goto out;
    }
    if (etag)
        snprintf(etag, 128, "%s", a.etag);
    if (out) {
        *out = (char *)a.body.data;
        a.body.data = NULL;                           /* handed over */
        a.body.len = a.body.cap = 0;
    }
    rc = SL_OK;
out:
    curl_slist_free_all(hdrs);
    sl_buf_destroy(&url);
    sl_buf_destroy(&a.body);
    return rc;
}

/* A conditional write answered 412: the object is there. */
static int exists(int exclusive, const struct sl_s3_result *r)
{
    return exclusive && r->status == 412;
}

int sl_s3_put_object(struct sl_s3 *s, const char *key, const void *data, size_t len,
                     int exclusive, struct sl_s3_result *r)
{
    int flags = OBJECT_HEADERS | (exclusive ? IF_ABSENT : 0);

    if (request(s, "PUT", key, NULL, data, len, flags, NULL, NULL, r) == SL_OK)
        return SL_OK;
    return exists(exclusive, r) ? SL_EEXIST : SL_ERR;
}

int sl_s3_head_bucket(struct sl_s3 *s, struct sl_s3_result *r)
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

int sl_s3_put_multipart(struct sl_s3 *s, const char *key, const void *data, size_t len,
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
    sl_sigv4_uri_encode(&id, raw, strlen(raw), 0);
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

void sl_s3_describe(const struct sl_s3_result *r, char *out, size_t len)
{
    if (r->status == 0)
        snprintf(out, len, "no answer: %s", r->message);
    else
        snprintf(out, len, "status %ld%s%s%s%s", r->status, r->code[0] ? " " : "", r->code,
                 r->message[0] ? ": " : "", r->message);
}

struct sl_s3 *sl_s3_new(const struct sl_s3_options *o, const struct sl_aws_creds *creds,
                        char *err, size_t errlen)
{
    struct sl_s3 *s = calloc(1, sizeof(*s));
    char scheme[16] = "https", host[400];

    if (!s || sl_curl_pool_init(&s->pool, o->max_connections) != SL_OK) {
        free(s);
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
        snprintf(s->host, sizeof(s->host), "%s", host);
        snprintf(s->path0, sizeof(s->path0), "/%s", o->bucket);
    } else {
        snprintf(s->host, sizeof(s->host), "%s.%s", o->bucket, host);
    }
    snprintf(s->origin, sizeof(s->origin), "%s://%s", scheme, s->host);
    s->creds = *creds;
    return s;
}

void sl_s3_free(struct sl_s3 *s)
{
    if (!s)
        return;
    sl_curl_pool_destroy(&s->pool);
    /* The secret leaves no copy behind in freed memory. */
    OPENSSL_cleanse(&s->creds, sizeof(s->creds));
    free(s);
}
