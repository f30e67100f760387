/*
 * sigv4_proxy.c - a front for s3rver in the S3 sink's tests, doing the
 * checks s3rver leaves out: the request's SigV4 signature (sluice's own
 * verifier, aws_sigv4.c), x-amz-content-sha256 against the body and
 * Content-MD5 against the body, answered the way S3 does
 * (SignatureDoesNotMatch 403, XAmzContentSHA256Mismatch 400, BadDigest
 * 400). Requests that pass go on to s3rver unchanged; its answer comes
 * back with its status, ETag and body.
 *
 *   sigv4-proxy PORT UPSTREAM ACCESS_KEY SECRET [CORRUPT [FAIL_PART2]]
 *
 * CORRUPT: flip one byte in the body of the first CORRUPT requests that
 * carry one, before the checks, as a bad link would. FAIL_PART2: answer
 * 500 to the first FAIL_PART2 uploads of a part number 2. An
 * AbortMultipartUpload (which s3rver lacks) is answered 204 here and
 * printed as "aborted UPLOAD_ID"; each new connection prints "connection",
 * and a request asking for encryption "sse METHOD QUERY VALUE KMS_KEY".
 * Conditional writes, which s3rver ignores, are done as S3 does them: a
 * PutObject or CompleteMultipartUpload with If-None-Match: * whose key
 * exists (a HEAD upstream says 200) is answered 412 PreconditionFailed and
 * printed as "exists PATH".
 * Prints "listening" once it serves; stops on SIGTERM.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <microhttpd.h>
#include <openssl/evp.h>

#include "aws_sigv4.h"
#include "buf.h"
#include "sluice/err.h"

static const char *upstream, *access_key, *secret;
static atomic_int corrupt_left, fail_part2_left;

struct req {
    char *uri;                   /* path?query as it came */
    struct sl_buf body;
};

struct headers {
    struct sl_sigv4_header h[SL_SIGV4_MAX_HEADERS];
    size_t n;
    struct curl_slist *fwd;      /* what goes on to s3rver */
};

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    struct headers *hs = cls;
    char line[8192];

    (void)kind;
    if (hs->n < SL_SIGV4_MAX_HEADERS)
        hs->h[hs->n++] = (struct sl_sigv4_header){ key, value };
    if (strcasecmp(key, "Host") && strcasecmp(key, "Content-Length") &&
        strcasecmp(key, "Expect") && strcasecmp(key, "Connection")) {
        snprintf(line, sizeof(line), "%s: %s", key, value);
        hs->fwd = curl_slist_append(hs->fwd, line);
    }
    return MHD_YES;
}

static const char *secret_of(void *arg, const char *id)
{
    (void)arg;
    return strcmp(id, access_key) == 0 ? secret : NULL;
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *body,
                              const char *etag)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                                             MHD_RESPMEM_MUST_COPY);
    if (etag && etag[0])
        MHD_add_response_header(r, "ETag", etag);
    MHD_add_response_header(r, "Content-Type", "application/xml");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result s3_error(struct MHD_Connection *c, unsigned status, const char *code,
                                const char *message)
{
    char body[1024];

    snprintf(body, sizeof(body), "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s"
             "</Code><Message>%s</Message></Error>", code, message);
    return answer(c, status, body, NULL);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    sl_buf_append(arg, p, size * n);
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    char *etag = arg;
    size_t len = size * n;

    if (len > 5 && strncasecmp(p, "etag:", 5) == 0) {
        size_t i = 5;
        while (i < len && p[i] == ' ')
            i++;
        size_t e = len;
        while (e > i && (p[e - 1] == '\r' || p[e - 1] == '\n'))
            e--;
        snprintf(etag, 256, "%.*s", (int)(e - i), p + i);
    }
    return len;
}

/* The status of HEAD <path> upstream (0: no answer). */
static long head_status(const char *path)
{
    char url[8192];
    long status = 0;
    CURL *h = curl_easy_init();

    if (!h)
        return 0;
    snprintf(url, sizeof(url), "%s%s", upstream, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    return status;
}

static void hex_sha256(const void *p, size_t n, char out[65])
{
    unsigned char d[32];
    unsigned dl;

    EVP_Digest(p, n, d, &dl, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static enum MHD_Result handle(struct MHD_Connection *c, const char *method, struct req *q)
{
    struct headers hs = { .n = 0 };
    struct sl_sigv4_error e;
    char path[4096], sha[65], md5b64[32], etag[256] = "";
    const char *query = strchr(q->uri, '?');
    const char *claimed_sha, *claimed_md5;
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dl;

    snprintf(path, sizeof(path), "%.*s", (int)(query ? query - q->uri : (long)strlen(q->uri)),
             q->uri);
    if (q->body.len && atomic_fetch_sub(&corrupt_left, 1) > 0)
        q->body.data[q->body.len / 2] ^= 0x20;
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect, &hs);
    claimed_sha = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-amz-content-sha256");
    claimed_md5 = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-MD5");
    hex_sha256(q->body.data ? (void *)q->body.data : "", q->body.len, sha);
    if (claimed_sha && strcmp(claimed_sha, "UNSIGNED-PAYLOAD") != 0 &&
        strcmp(claimed_sha, sha) != 0) {
        curl_slist_free_all(hs.fwd);
        return s3_error(c, 400, "XAmzContentSHA256Mismatch",
                        "The provided 'x-amz-content-sha256' header does not match what was "
                        "computed.");
    }
    if (claimed_md5) {
        EVP_Digest(q->body.data ? (void *)q->body.data : "", q->body.len, d, &dl, EVP_md5(),
                   NULL);
        EVP_EncodeBlock((unsigned char *)md5b64, d, (int)dl);
        if (strcmp(claimed_md5, md5b64) != 0) {
            curl_slist_free_all(hs.fwd);
            return s3_error(c, 400, "BadDigest",
                            "The Content-MD5 you specified did not match what we received.");
        }
    }
    struct sl_sigv4_verifier v = { .secret = secret_of, .service = "s3",
                                   .unsigned_payload = 1 };   /* as S3 does */
    const char *sse = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                  "x-amz-server-side-encryption");
    if (sse) {
        const char *kms = MHD_lookup_connection_value(
            c, MHD_HEADER_KIND, "x-amz-server-side-encryption-aws-kms-key-id");
        printf("sse %s %s %s %s\n", method, query ? query + 1 : "-", sse, kms ? kms : "-");
        fflush(stdout);
    }
    if (strcmp(method, "DELETE") == 0 && query && strstr(query, "uploadId=")) {
        printf("aborted %s\n", strstr(query, "uploadId=") + 9);
        fflush(stdout);
        curl_slist_free_all(hs.fwd);
        return answer(c, 204, "", NULL);
    }
    if (strcmp(method, "PUT") == 0 && query && strstr(query, "partNumber=2&") &&
        atomic_fetch_sub(&fail_part2_left, 1) > 0) {
        curl_slist_free_all(hs.fwd);
        return s3_error(c, 500, "InternalError", "We encountered an internal error.");
    }
    struct sl_sigv4_request r = {
        .method = method, .path = path, .query = query ? query + 1 : NULL,
        .headers = hs.h, .nheaders = hs.n, .body = q->body.data, .body_len = q->body.len,
        .s3_uri = 1,
    };
    if (sl_aws_sigv4_verify(&v, &r, (int64_t)time(NULL), &e) != SL_OK) {
        curl_slist_free_all(hs.fwd);
        return s3_error(c, 403, "SignatureDoesNotMatch", e.message);
    }
    /* If-None-Match: * on a whole object's write (not on a part's). */
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
    int whole = (strcmp(method, "PUT") == 0 && (!query || !strstr(query, "partNumber="))) ||
                (strcmp(method, "POST") == 0 && query && strstr(query, "uploadId="));
    if (inm && strcmp(inm, "*") == 0 && whole && head_status(path) == 200) {
        printf("exists %s\n", path);
        fflush(stdout);
        curl_slist_free_all(hs.fwd);
        return s3_error(c, 412, "PreconditionFailed",
                        "At least one of the pre-conditions you specified did not hold");
    }
    /* On to s3rver. */
    struct sl_buf out;
    char url[8192];
    long status = 502;
    CURL *h = curl_easy_init();

    sl_buf_init(&out, 16 << 20);
    snprintf(url, sizeof(url), "%s%s", upstream, q->uri);
    hs.fwd = curl_slist_append(hs.fwd, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (q->body.len || strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body.data ? (char *)q->body.data : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body.len);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs.fwd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, etag);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    curl_slist_free_all(hs.fwd);
    sl_buf_append(&out, "", 1);
    enum MHD_Result rc = answer(c, (unsigned)status, (char *)out.data, etag);
    sl_buf_destroy(&out);
    return rc;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **state)
{
    struct req *q = *state;

    (void)cls, (void)url, (void)version;
    if (!q->body.max) {
        sl_buf_init(&q->body, 64 << 20);
        return MHD_YES;
    }
    if (*upload_size) {
        sl_buf_append(&q->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    return handle(c, method, q);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_state,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls, (void)c, (void)socket_state;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        printf("connection\n");
        fflush(stdout);
    }
}

/* Keeps the raw URI (path and query) for the request's state. */
static void *uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct req *q = calloc(1, sizeof(*q));

    (void)cls, (void)c;
    if (q)
        q->uri = strdup(uri);
    return q;
}

static void completed(void *cls, struct MHD_Connection *c, void **state,
                      enum MHD_RequestTerminationCode toe)
{
    struct req *q = *state;

    (void)cls, (void)c, (void)toe;
    if (q) {
        sl_buf_destroy(&q->body);
        free(q->uri);
        free(q);
    }
    *state = NULL;
}

int main(int argc, char **argv)
{
    sigset_t set;
    int sig;

    if (argc < 5 || argc > 7) {
        fprintf(stderr, "usage: sigv4-proxy PORT UPSTREAM ACCESS_KEY SECRET [CORRUPT "
                "[FAIL_PART2]]\n");
        return 2;
    }
    upstream = argv[2], access_key = argv[3], secret = argv[4];
    atomic_init(&corrupt_left, argc >= 6 ? atoi(argv[5]) : 0);
    atomic_init(&fail_part2_left, argc >= 7 ? atoi(argv[6]) : 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
        (uint16_t)atoi(argv[1]), NULL, NULL, access_cb, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL, MHD_OPTION_END);
    if (!d) {
        perror("sigv4-proxy: start");
        return 1;
    }
    printf("listening\n");
    fflush(stdout);
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    curl_global_cleanup();
    return 0;
}
