/*
 * http_client.c - see http_client.h.
 *
 * Design. sl_http_client_new() parses the URL once (libcurl's URL API)
 * into the origin a request's own path is put after, the Host value that
 * is signed, and the path and query a request without its own uses. A
 * request is: take a handle from the pool, reset it (libcurl keeps its
 * connection, DNS and TLS session caches across a reset), build the
 * header list (the caller's, then the signature's, then "Expect:"), set
 * URL, method, body, timeouts and callbacks, perform, read the status,
 * give the handle back, classify.
 *
 * The answer's body goes through on_body() into the caller's sl_buf, so
 * its max is a hard cap; past it the transfer is stopped (TOO_BIG) or the
 * rest dropped (cut), never grown.
 *
 * Threads: struct sl_http_client is written only by new(); after it,
 * only the pool changes, under pool.mu, which is held to take or give a
 * handle and never during a transfer. Between take and give a handle
 * belongs to the one thread running the request. Everything else a
 * request touches is on that thread's stack or the caller's.
 */
#include "http_client.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "aws_sigv4.h"
#include "metrics.h"
#include "sluice/err.h"

_Static_assert(SL_HTTP_ERROR_LEN >= CURL_ERROR_SIZE, "libcurl's error buffer must fit");

#define URL_MAX        (64 * 1024)   /* a request's URL */
#define HEADER_LINE    8192          /* "Name: value" */
#define CONNECT_MAX_MS 10000         /* the default connect timeout's ceiling */

/* Handles made on first need, up to <max>; a taker waits while all are
 * out. Threads: any, under <mu>. */
struct pool {
    pthread_mutex_t mu;              /* guards what follows */
    pthread_cond_t cv;               /* a handle came back */
    CURL **idle;                     /* owned: a stack of idle handles */
    unsigned nidle, made, max;
};

struct sl_http_client {
    char *url;                       /* owned: as given, for requests without a path */
    char *origin;                    /* owned: scheme://host[:port] */
    char *host;                      /* owned: host[:port], the signed Host value */
    char *path;                      /* owned: the URL's path, wire form */
    char *query;                     /* owned: its query, NULL if none */
    char *cacert;                    /* owned, NULL: the system's */
    int64_t timeout_ms, connect_timeout_ms;
    int sign;                        /* 1: SigV4 with what follows */
    int s3;                          /* S3's signing rules */
    char service[32], region[64];
    struct sl_aws_creds creds;       /* wiped by free() */
    struct pool pool;
};

/* ---- the pool -------------------------------------------------------- */

static int pool_init(struct pool *p, unsigned max)
{
    p->max = max ? max : 1;
    p->nidle = p->made = 0;
    if (!(p->idle = calloc(p->max, sizeof(CURL *))))
        return SL_ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    return SL_OK;
}

/* Cleans up the idle handles; every taken one must be back. */
static void pool_destroy(struct pool *p)
{
    if (!p->idle)
        return;
    for (unsigned i = 0; i < p->nidle; i++)
        curl_easy_cleanup(p->idle[i]);
    free(p->idle);
    p->idle = NULL;
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

/* A handle, or NULL if libcurl cannot make one (memory). */
static CURL *pool_take(struct pool *p)
{
    CURL *h = NULL;

    pthread_mutex_lock(&p->mu);
    while (!p->nidle && p->made >= p->max)
        pthread_cond_wait(&p->cv, &p->mu);
    if (p->nidle)
        h = p->idle[--p->nidle];
    else if ((h = curl_easy_init()))
        p->made++;
    pthread_mutex_unlock(&p->mu);
    return h;
}

static void pool_give(struct pool *p, CURL *h)
{
    pthread_mutex_lock(&p->mu);
    p->idle[p->nidle++] = h;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* ---- classification ---------------------------------------------------- */

static const char *const cause_names[SL_HTTP_NCAUSES] = {
    [SL_HTTP_CAUSE_NONE] = "ok",            [SL_HTTP_CAUSE_CONNECTION] = "connection",
    [SL_HTTP_CAUSE_TIMEOUT] = "timeout",    [SL_HTTP_CAUSE_SERVER] = "5xx",
    [SL_HTTP_CAUSE_THROTTLED] = "throttled", [SL_HTTP_CAUSE_TOO_BIG] = "answer too big",
    [SL_HTTP_CAUSE_NOMEM] = "out of memory", [SL_HTTP_CAUSE_ABORTED] = "aborted",
    [SL_HTTP_CAUSE_FORBIDDEN] = "forbidden", [SL_HTTP_CAUSE_NOT_FOUND] = "not found",
    [SL_HTTP_CAUSE_CLIENT] = "4xx",         [SL_HTTP_CAUSE_UNEXPECTED] = "unexpected status",
    [SL_HTTP_CAUSE_SETUP] = "setup",
};

const char *sl_http_client_cause_name(int cause)
{
    return cause >= 0 && cause < SL_HTTP_NCAUSES ? cause_names[cause] : "?";
}

/* The cause of a failure before any answer: libcurl's code. */
static int curl_cause(int cc)
{
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        return SL_HTTP_CAUSE_TIMEOUT;
    case CURLE_OUT_OF_MEMORY:
        return SL_HTTP_CAUSE_NOMEM;
    case CURLE_ABORTED_BY_CALLBACK:
        return SL_HTTP_CAUSE_ABORTED;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        return SL_HTTP_CAUSE_SETUP;         /* the next attempt would meet the same */
    default:
        return SL_HTTP_CAUSE_CONNECTION;
    }
}

static int status_cause(long s)
{
    if (s >= 200 && s <= 299)
        return SL_HTTP_CAUSE_NONE;
    if (s == 429)
        return SL_HTTP_CAUSE_THROTTLED;
    if (s >= 500 && s <= 599)
        return SL_HTTP_CAUSE_SERVER;
    if (s == 401 || s == 403)
        return SL_HTTP_CAUSE_FORBIDDEN;
    if (s == 404)
        return SL_HTTP_CAUSE_NOT_FOUND;
    if (s >= 400 && s <= 499)
        return SL_HTTP_CAUSE_CLIENT;
    return s == 0 ? SL_HTTP_CAUSE_CONNECTION : SL_HTTP_CAUSE_UNEXPECTED;
}

/* Each cause's default verdict (the brackets in http_client.h). */
static int cause_verdict(int cause)
{
    if (cause == SL_HTTP_CAUSE_NONE)
        return SL_HTTP_OK;
    return cause < SL_HTTP_CAUSE_FORBIDDEN ? SL_HTTP_RETRY : SL_HTTP_FAIL;
}

static void set_cause(struct sl_http_result *r, int cause)
{
    r->cause = cause;
    r->verdict = cause_verdict(cause);
}

void sl_http_client_classify(long status, int curl_code, struct sl_http_result *r)
{
    set_cause(r, curl_code ? curl_cause(curl_code) : status_cause(status));
}

int sl_http_client_retry_cause(int cause)
{
    switch (cause) {
    case SL_HTTP_CAUSE_CONNECTION: return SL_RETRY_CONNECTION;
    case SL_HTTP_CAUSE_TIMEOUT: return SL_RETRY_TIMEOUT;
    case SL_HTTP_CAUSE_SERVER: return SL_RETRY_SERVER;
    case SL_HTTP_CAUSE_THROTTLED: return SL_RETRY_THROTTLED;
    case SL_HTTP_CAUSE_FORBIDDEN: return SL_RETRY_FORBIDDEN;
    default: return SL_RETRY_SINK;
    }
}

void sl_http_client_describe(const struct sl_http_result *r, char *out, size_t len)
{
    if (r->status == 0)
        snprintf(out, len, "no answer: %s", r->error[0] ? r->error :
                 sl_http_client_cause_name(r->cause));
    else if (r->error[0])
        snprintf(out, len, "status %ld: %s", r->status, r->error);
    else
        snprintf(out, len, "status %ld", r->status);
}

/* ---- one transfer ---------------------------------------------------- */

/* What libcurl's callbacks see of a request. */
struct xfer {
    const struct sl_http_request *rq;
    struct sl_http_result *r;
    int too_big, oom;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    struct sl_buf *b = x->rq->answer;
    size_t len = size * n;
    int rc;

    if (!b || x->r->cut)
        return len;
    if ((rc = sl_buf_append(b, p, len)) == SL_OK)
        return len;
    if (rc == SL_ETOOBIG && x->rq->cut_answer) {
        size_t room = b->max - b->len;
        if (sl_buf_append(b, p, room) != SL_OK)
            x->oom = 1;
        x->r->cut = 1;
        return x->oom ? 0 : len;
    }
    if (rc == SL_ETOOBIG)
        x->too_big = 1;
    else
        x->oom = 1;
    return 0;                                         /* stops the transfer */
}

/* Keeps the value of the header the request asked for, from the last
 * answer only (a "100 Continue" or a redirect comes before it). */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    const char *want = x->rq->capture;
    size_t len = size * n, wl = want ? strlen(want) : 0;

    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {    /* a new answer begins */
        x->r->captured = 0;
        x->r->header[0] = '\0';
    } else if (want && len > wl && p[wl] == ':' && strncasecmp(p, want, wl) == 0) {
        const char *v = p + wl + 1;
        size_t vl = len - wl - 1;
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ' ||
                      v[vl - 1] == '\t'))
            vl--;
        x->r->captured = 1;
        snprintf(x->r->header, sizeof(x->r->header), "%.*s", (int)vl, v);
    }
    return len;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    const struct sl_http_request *rq = arg;

    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return rq->abort(rq->abort_arg) ? 1 : 0;
}

/* Appends "<name>: <value>" to *<list>. SL_OK, or SL_ENOMEM with *<list>
 * as it was (the caller frees it). */
static int add_header(struct curl_slist **list, const char *name, const char *value)
{
    char line[HEADER_LINE];
    struct curl_slist *more;

    if ((size_t)snprintf(line, sizeof(line), "%s:%s%s", name, value[0] ? " " : "", value) >=
            sizeof(line) ||
        !(more = curl_slist_append(*list, line)))
        return SL_ENOMEM;
    *list = more;
    return SL_OK;
}

/*
 * The request's header list: its own, and when the client signs, Host,
 * the session token and the signature over them all. "Expect:" goes last and unsigned: it turns off
 * libcurl's 100-continue. SL_OK, SL_ENOMEM, or SL_EINVAL (cannot sign,
 * with <r->error> said).
 */
static int build_headers(const struct sl_http_client *c, const struct sl_http_request *rq,
                         const char *path, const char *query, struct curl_slist **list,
                         struct sl_http_result *r)
{
    struct sl_sigv4_header hs[SL_HTTP_MAX_HEADERS + 2];
    struct sl_sigv4_signed sig;
    size_t n = 0;

    for (size_t i = 0; i < rq->nheaders; i++)
        if (add_header(list, rq->headers[i].name, rq->headers[i].value) != SL_OK)
            return SL_ENOMEM;
    if (c->sign) {
        /* Host is sent as signed: libcurl's own drops a default port */
        hs[n++] = (struct sl_sigv4_header){ "Host", c->host };
        if (add_header(list, "Host", c->host) != SL_OK)
            return SL_ENOMEM;
        for (size_t i = 0; i < rq->nheaders; i++)
            hs[n++] = (struct sl_sigv4_header){ rq->headers[i].name, rq->headers[i].value };
        if (c->creds.session_token[0]) {
            hs[n++] = (struct sl_sigv4_header){ "X-Amz-Security-Token", c->creds.session_token };
            if (add_header(list, hs[n - 1].name, hs[n - 1].value) != SL_OK)
                return SL_ENOMEM;
        }
        struct sl_sigv4_signer s = {
            .access_key_id = c->creds.access_key, .secret = c->creds.secret_key,
            .region = c->region, .service = c->service, .content_sha256_header = c->s3,
        };
        struct sl_sigv4_request sr = {
            .method = rq->method, .path = path, .query = query, .headers = hs, .nheaders = n,
            .body = rq->body, .body_len = rq->body_len, .s3_uri = c->s3,
        };
        if (sl_aws_sigv4_sign(&s, &sr, NULL, (int64_t)time(NULL), &sig) != SL_OK) {
            snprintf(r->error, sizeof(r->error), "cannot sign the request");
            return SL_EINVAL;
        }
        if (add_header(list, "X-Amz-Date", sig.amz_date) != SL_OK ||
            (c->s3 && add_header(list, "X-Amz-Content-Sha256", sig.content_sha256) != SL_OK) ||
            add_header(list, "Authorization", sig.authorization) != SL_OK)
            return SL_ENOMEM;
    }
    return add_header(list, "Expect", "");
}

/* Sets what a request needs on <h>, fresh from a reset. */
static void setup(const struct sl_http_client *c, const struct sl_http_request *rq, CURL *h,
                  const char *url, struct curl_slist *hdrs, struct xfer *x, char *errbuf)
{
    int64_t total = rq->timeout_ms > 0 ? rq->timeout_ms : c->timeout_ms;
    int64_t conn = c->connect_timeout_ms > 0 ? c->connect_timeout_ms : CONNECT_MAX_MS;

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (strcmp(rq->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(rq->method, "GET") == 0 && !rq->body_len) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        if (strcmp(rq->method, "POST") != 0)         /* POSTFIELDS alone is a POST */
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? (const char *)rq->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)total);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(conn < total ? conn : total));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    if (c->cacert)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->cacert);
    if (rq->abort) {
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)rq);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    }
}

/* The request's URL into <url>, and the path and query it signs. */
static int make_url(const struct sl_http_client *c, const struct sl_http_request *rq,
                    struct sl_buf *url, const char **path, const char **query)
{
    int rc;

    if (!rq->path) {
        *path = c->path;
        *query = c->query;
        return sl_buf_append(url, c->url, strlen(c->url) + 1);
    }
    *path = rq->path;
    *query = rq->query;
    if ((rc = sl_buf_printf(url, "%s%s%s%s", c->origin, rq->path, rq->query ? "?" : "",
                            rq->query ? rq->query : "")) != SL_OK)
        return rc;
    return sl_buf_append(url, "", 1);
}

/* What a performed transfer came to, into x->r. */
static void outcome(const struct xfer *x, CURLcode cc, const char *errbuf)
{
    struct sl_http_result *r = x->r;

    if (x->too_big || x->oom) {                      /* the status is kept: it came */
        r->curl_code = (int)cc;
        if (x->too_big)
            snprintf(r->error, sizeof(r->error), "the answer is larger than %zu bytes",
                     x->rq->answer->max);
        else
            snprintf(r->error, sizeof(r->error), "out of memory");
        set_cause(r, x->too_big ? SL_HTTP_CAUSE_TOO_BIG : SL_HTTP_CAUSE_NOMEM);
    } else if (cc != CURLE_OK) {
        r->status = 0;
        r->curl_code = (int)cc;
        snprintf(r->error, sizeof(r->error), "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
        sl_http_client_classify(0, (int)cc, r);
    } else {
        sl_http_client_classify(r->status, 0, r);
    }
}

int sl_http_client_request(struct sl_http_client *c, const struct sl_http_request *rq,
                           struct sl_http_result *r)
{
    struct xfer x = { .rq = rq, .r = r };
    struct curl_slist *hdrs = NULL;
    struct sl_buf url;
    const char *path, *query;
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *h = NULL;
    int rc;

    memset(r, 0, sizeof(*r));
    sl_buf_init(&url, URL_MAX);
    if (rq->answer)
        sl_buf_reset(rq->answer);
    rc = rq->nheaders > SL_HTTP_MAX_HEADERS ? SL_EINVAL : make_url(c, rq, &url, &path, &query);
    if (rc != SL_OK) {
        snprintf(r->error, sizeof(r->error), "%s", rc == SL_EINVAL ? "too many headers"
                 : rc == SL_ETOOBIG ? "the URL is too long" : "out of memory");
        set_cause(r, rc == SL_ENOMEM ? SL_HTTP_CAUSE_NOMEM : SL_HTTP_CAUSE_SETUP);
        goto out;
    }
    if ((rc = build_headers(c, rq, path, query, &hdrs, r)) != SL_OK) {
        if (rc == SL_ENOMEM)
            snprintf(r->error, sizeof(r->error), "out of memory");
        set_cause(r, rc == SL_ENOMEM ? SL_HTTP_CAUSE_NOMEM : SL_HTTP_CAUSE_SETUP);
        goto out;
    }
    if (!(h = pool_take(&c->pool))) {
        snprintf(r->error, sizeof(r->error), "cannot make a libcurl handle");
        set_cause(r, SL_HTTP_CAUSE_NOMEM);
        goto out;
    }
    curl_easy_reset(h);                               /* keeps the connection */
    setup(c, rq, h, (const char *)url.data, hdrs, &x, errbuf);
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    /* nothing of this request's stack may outlive it in the handle */
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    pool_give(&c->pool, h);
    outcome(&x, cc, errbuf);
out:
    curl_slist_free_all(hdrs);
    sl_buf_destroy(&url);
    return r->verdict == SL_HTTP_OK ? SL_OK : SL_ERR;
}

/* ---- making one ---------------------------------------------------------- */

static char *dup_or_null(const char *s, int *oom)
{
    char *d = s ? strdup(s) : NULL;

    if (s && !d)
        *oom = 1;
    return d;
}

/* Fills the URL's parts in <c> from libcurl's parse of <c->url>. */
static int parse_url(struct sl_http_client *c, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL;
    int rc = SL_EINVAL, oom = 0;

    if (!u) {
        snprintf(err, errlen, "out of memory");
        return SL_ENOMEM;
    }
    if (curl_url_set(u, CURLUPART_URL, c->url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        snprintf(err, errlen, "not a URL (http:// or https://)");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
        query = NULL;
    curl_url_get(u, CURLUPART_PORT, &port, 0);       /* none: CURLUE_NO_PORT */
    size_t hl = strlen(host) + (port ? 1 + strlen(port) : 0) + 1;
    if (hl > 300) {
        snprintf(err, errlen, "host name too long");
        goto out;
    }
    c->host = malloc(hl);
    c->origin = malloc(strlen(scheme) + 3 + hl);
    c->path = dup_or_null(path, &oom);
    c->query = dup_or_null(query, &oom);
    if (!c->host || !c->origin || oom) {
        snprintf(err, errlen, "out of memory");
        rc = SL_ENOMEM;
        goto out;
    }
    snprintf(c->host, hl, "%s%s%s", host, port ? ":" : "", port ? port : "");
    snprintf(c->origin, strlen(scheme) + 3 + hl, "%s://%s", scheme, c->host);
    rc = SL_OK;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    curl_url_cleanup(u);
    return rc;
}

int sl_http_client_new(const struct sl_http_client_options *o, struct sl_http_client **out,
                       char *err, size_t errlen)
{
    struct sl_http_client *c = calloc(1, sizeof(*c));
    int oom = 0, rc = SL_ENOMEM;

    *out = NULL;
    if (!c || pool_init(&c->pool, o->max_connections) != SL_OK) {
        free(c);
        snprintf(err, errlen, "out of memory");
        return SL_ENOMEM;
    }
    c->url = dup_or_null(o->url, &oom);
    c->cacert = dup_or_null(o->cacert, &oom);
    if (oom || !c->url) {
        snprintf(err, errlen, oom ? "out of memory" : "no URL");
        rc = oom ? SL_ENOMEM : SL_EINVAL;
        goto fail;
    }
    if ((rc = parse_url(c, err, errlen)) != SL_OK)
        goto fail;
    c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 60000;
    c->connect_timeout_ms = o->connect_timeout_ms;
    if (o->sigv4.creds) {
        if ((size_t)snprintf(c->service, sizeof(c->service), "%s", o->sigv4.service) >=
                sizeof(c->service) ||
            (size_t)snprintf(c->region, sizeof(c->region), "%s", o->sigv4.region) >=
                sizeof(c->region)) {
            snprintf(err, errlen, "SigV4 service or region too long");
            rc = SL_EINVAL;
            goto fail;
        }
        c->sign = 1;
        c->s3 = o->sigv4.s3;
        c->creds = *o->sigv4.creds;
    }
    *out = c;
    return SL_OK;
fail:
    sl_http_client_free(c);
    return rc;
}

void sl_http_client_free(struct sl_http_client *c)
{
    if (!c)
        return;
    pool_destroy(&c->pool);
    free(c->url);
    free(c->origin);
    free(c->host);
    free(c->path);
    free(c->query);
    free(c->cacert);
    /* the secret leaves no copy behind in freed memory */
    OPENSSL_cleanse(&c->creds, sizeof(c->creds));
    free(c);
}

int sl_http_client_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? SL_OK : SL_ERR;
}

void sl_http_client_global_cleanup(void)
{
    curl_global_cleanup();
}
