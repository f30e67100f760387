/*
 * transform_lambda.c - see transform_lambda.h.
 *
 * The request. process() cuts its batch into invocations: runs of
 * consecutive records, as many as keep the body within max_request_size
 * (sizes are exact, not estimated: each record's JSON is measured before
 * it is appended). A record too big to go alone fails by itself with
 * Lambda.RequestTooLarge and is never sent. An invocation's body is built
 * once, into one growing buffer, the base64 written straight into it; its
 * invocationId has a fixed width at a fixed offset, so a retry writes a
 * new id over the old one and sends the same bytes again. A recordId is
 * the record's index in the batch in decimal ("0", "17"): an answer's id
 * maps back to its record without a table, and an id that is not one of
 * the invocation's is ignored (it cannot be attributed).
 *
 * The answer. An invocation fails as a whole on a transport error or
 * timeout, HTTP 429 or 5xx, an X-Amz-Function-Error header, a body over
 * max_response_size, or a body that is not {"records":[...]}: it is tried
 * again, up to `retries` more times, with a new invocationId, after 100 ms,
 * 200 ms, ... (equal jitter, at most 3.2 s). Other statuses (4xx but 429,
 * 1xx, 3xx) fail it at once. When it fails for good, every record of it
 * fails with one code (Lambda.InvokeLimitExceeded after 429s,
 * Lambda.JsonProcessingException after bad JSON, else Lambda.FunctionError;
 * Lambda.InvokeAccessDenied for 403, Lambda.ResourceNotFound for 404). A
 * well-formed answer is judged record by record and never retried:
 * Lambda.MissingRecordId, Lambda.DuplicatedRecordId, Lambda.FunctionError
 * (bad result, bad data, bad partition keys), Lambda.ProcessingFailedStatus.
 * Every attempt is reported through host->invocation().
 *
 * Memory. Per process() call: the head of the body, the body (at most
 * max_request_size), the answer (at most max_response_size), a decode
 * buffer, and one slot per record for matching recordIds. Nothing is
 * allocated per record but by jansson while it parses an answer.
 *
 * HTTP goes through http_client.h: its kept-alive connections (at most
 * max_connections), the timeout, no 100-continue, the answer's cap and
 * the status's classification, refined here into Lambda's error codes.
 *
 * Threads: process() runs on several delivery workers at once with one
 * state. After create() the state is read-only except:
 *  - the HTTP client, safe to call from any number of threads;
 *  - <rl>, the failed-invocation warning's rate limit (relaxed atomics).
 * Everything else process() touches lives in its own struct call.
 * create() and destroy() run on one thread with no process() in flight.
 */
#include "transform_lambda.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "backoff.h"
#include "base64.h"
#include "buf.h"
#include "http_client.h"
#include "json_check.h"
#include "log.h"
#include "units.h"
#include "uuid.h"
#include "sluice/err.h"

#define URL_MAX       2048
#define REGION_MAX    32
#define ACCOUNT_LEN   12
#define HEAD_MAX      4096             /* the body's head: ids, ARN, region */
#define MSG_MAX       512              /* a failure's message */
#define STOPPING      (-2)             /* sluice is stopping: give up, retry later */
#define KEY_LEN_MAX   255              /* what the host keeps of a partition key */
#define VALUE_LEN_MAX 1023             /* ... and of its value */

/* The body's pieces. ID_OFF: where the invocationId starts. */
#define HEAD0   "{\"invocationId\":\""
#define ID_OFF  (sizeof(HEAD0) - 1)
#define UUID_LEN 36
#define REC0    "{\"recordId\":\""
#define REC1    "\",\"approximateArrivalTimestamp\":"
#define REC2    ",\"data\":\""
#define REC3    "\"}"
#define TAIL    "]}"
#define LIT(s)  (sizeof(s) - 1)

static const struct sl_backoff retry_backoff = { .base_ms = 100, .cap_ms = 3200 };

struct lambda {
    char url[URL_MAX];                /* http:// or https:// */
    char region[REGION_MAX + 1];      /* for the ARN and the event's region */
    char account[ACCOUNT_LEN + 1];    /* for the ARN */
    int64_t timeout_ms;               /* per attempt, connect included */
    unsigned retries;                 /* more attempts after the first */
    size_t max_request;               /* a body's ceiling */
    size_t max_response;              /* an answer's ceiling */
    unsigned max_connections;         /* handles in the pool */
    struct sl_ratelimit rl;           /* "invocation failed" warnings */
    struct sl_http_client *http;      /* owned; thread-safe */
};

/* ---- configuration ---- */

enum kind { K_DURATION, K_SIZE, K_UINT };

/* The numeric keys: nginx-style rows, parsed by one function. */
static const struct numkey {
    const char *name;
    enum kind kind;
    uint64_t min, max;                /* bounds, in ms, bytes or units */
    const char *bounds;               /* the bounds as written in an error */
} numkeys[] = {
    { "timeout", K_DURATION, 1, 900000, "1ms and 15m" },
    { "retries", K_UINT, 0, 10, "0 and 10" },
    { "max_request_size", K_SIZE, 64 << 10, 32 << 20, "64KiB and 32MiB" },
    { "max_response_size", K_SIZE, 64 << 10, 32 << 20, "64KiB and 32MiB" },
    { "max_connections", K_UINT, 1, 256, "1 and 256" },
};

/* Where row <k> of numkeys goes in <l>. */
static void put_num(struct lambda *l, size_t k, uint64_t v)
{
    switch (k) {
    case 0: l->timeout_ms = (int64_t)v; break;
    case 1: l->retries = (unsigned)v; break;
    case 2: l->max_request = (size_t)v; break;
    case 3: l->max_response = (size_t)v; break;
    default: l->max_connections = (unsigned)v; break;
    }
}

static int parse_num(struct lambda *l, size_t k, const char *v, char *err, size_t errlen)
{
    const struct numkey *n = &numkeys[k];
    uint64_t u = 0;
    int64_t ms = 0;
    int rc;

    if (n->kind == K_DURATION) {
        rc = sl_units_duration(v, &ms);       /* never negative */
        u = (uint64_t)ms;
    } else if (n->kind == K_SIZE) {
        rc = sl_units_size(v, &u);
    } else {
        rc = sl_units_uint(v, &u);
    }
    if (rc == SL_EINVAL) {
        snprintf(err, errlen, "%s: '%.64s' is not %s", n->name, v,
                 n->kind == K_DURATION ? "a duration (like 250ms, 30s, 5m)" :
                 n->kind == K_SIZE ? "a size (like 64KiB, 6MiB)" : "a whole number");
        return -1;
    }
    if (rc != SL_OK || u < n->min || u > n->max) {
        snprintf(err, errlen, "%s: '%.64s' is out of range (between %s)", n->name, v, n->bounds);
        return -1;
    }
    put_num(l, k, u);
    return 0;
}

static int parse_url(struct lambda *l, const char *v, char *err, size_t errlen)
{
    size_t skip = strncasecmp(v, "http://", 7) == 0    ? 7
                  : strncasecmp(v, "https://", 8) == 0 ? 8 : 0;

    if (!skip) {
        snprintf(err, errlen, "url: '%.64s' does not start with http:// or https://", v);
        return -1;
    }
    if (strlen(v) >= sizeof(l->url)) {
        snprintf(err, errlen, "url: longer than %zu characters", sizeof(l->url) - 1);
        return -1;
    }
    if (!v[skip] || v[skip] == '/' || v[skip] == ':') {
        snprintf(err, errlen, "url: '%.64s' has no host", v);
        return -1;
    }
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            snprintf(err, errlen, "url: contains a space or a control character");
            return -1;
        }
    snprintf(l->url, sizeof(l->url), "%s", v);
    return 0;
}

static int parse_region(struct lambda *l, const char *v, char *err, size_t errlen)
{
    size_t n = strlen(v);

    if (n == 0 || n > REGION_MAX || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-") != n) {
        snprintf(err, errlen, "region: '%.64s' is not a region (like us-east-1)", v);
        return -1;
    }
    memcpy(l->region, v, n + 1);
    return 0;
}

static int parse_account(struct lambda *l, const char *v, char *err, size_t errlen)
{
    if (strlen(v) != ACCOUNT_LEN || strspn(v, "0123456789") != ACCOUNT_LEN) {
        snprintf(err, errlen, "account: '%.64s' is not 12 digits", v);
        return -1;
    }
    memcpy(l->account, v, ACCOUNT_LEN + 1);
    return 0;
}

static int set_key(struct lambda *l, const char *key, const char *v, char *err, size_t errlen)
{
    if (strcmp(key, "url") == 0)
        return parse_url(l, v, err, errlen);
    if (strcmp(key, "region") == 0)
        return parse_region(l, v, err, errlen);
    if (strcmp(key, "account") == 0)
        return parse_account(l, v, err, errlen);
    for (size_t k = 0; k < sizeof(numkeys) / sizeof(numkeys[0]); k++)
        if (strcmp(key, numkeys[k].name) == 0)
            return parse_num(l, k, v, err, errlen);
    snprintf(err, errlen, "%s: unknown key for lambda", key);
    return -1;
}

static void lambda_destroy(void *state)
{
    struct lambda *l = state;

    if (!l)
        return;
    sl_http_client_free(l->http);
    free(l);
}

static int lambda_create(const struct sl_tf_kv *kv, size_t nkv, void **state, char *err,
                         size_t errlen)
{
    struct lambda *l = calloc(1, sizeof(*l));

    *state = NULL;
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* the defaults, all in one place */
    snprintf(l->region, sizeof(l->region), "us-east-1");
    snprintf(l->account, sizeof(l->account), "000000000000");
    l->timeout_ms = 60000;
    l->retries = 3;
    l->max_request = 6u << 20;
    l->max_response = 6u << 20;
    l->max_connections = 4;
    for (size_t i = 0; i < nkv; i++)
        if (set_key(l, kv[i].key, kv[i].value, err, errlen) != 0) {
            free(l);
            return -1;
        }
    if (!l->url[0]) {
        snprintf(err, errlen, "url: required (the function's invocation URL)");
        free(l);
        return -1;
    }
    struct sl_http_client_options ho = {
        .url = l->url, .max_connections = l->max_connections, .timeout_ms = l->timeout_ms,
    };
    char why[200];
    if (sl_http_client_new(&ho, &l->http, why, sizeof(why)) != SL_OK) {
        snprintf(err, errlen, "url: %s", why);
        free(l);
        return -1;
    }
    *state = l;
    return 0;
}

/* ---- one process() call ---- */

/* A batch record's match in the answer. */
struct seen {
    size_t at;                        /* index in the answer's records */
    unsigned count;                   /* 0, 1, or 2 for "more than once" */
};

struct call {
    struct lambda *l;                 /* settings read-only; its pool and rate limit
                                       * guard themselves */
    const struct sl_tf_batch *b;
    struct sl_buf head;               /* the body up to the first record */
    struct sl_buf body;               /* one invocation's request */
    struct sl_buf answer;             /* its answer, at most max_response_size (the cap
                                       * the HTTP client keeps to) */
    struct sl_buf dec;                /* one record's decoded data */
    struct seen *seen;                /* one per batch record */
    uint64_t rnd;                     /* for backoff jitter */
};

/* Why an attempt failed, and what its records get if it was the last. */
struct verdict {
    int retry;                        /* another attempt may do better */
    const char *code;
    char message[MSG_MAX];
};

/* Writes a new version-4 UUID (36 characters, no NUL) at <p>. */
static void new_uuid(struct call *c, char *p)
{
    uint8_t u[16];
    char str[37];

    sl_uuid_v4(u, &c->rnd);                       /* with a fallback: cannot fail */
    sl_uuid_str(u, str);
    memcpy(p, str, UUID_LEN);
}

/* The body's head, up to the records' '[', with a placeholder id. */
static int build_head(struct call *c)
{
    struct sl_buf *h = &c->head;
    char id[UUID_LEN];

    memset(id, '0', sizeof(id));
    if (sl_buf_append(h, HEAD0, LIT(HEAD0)) != SL_OK ||
        sl_buf_append(h, id, UUID_LEN) != SL_OK ||
        sl_buf_printf(h, "\",\"deliveryStreamArn\":\"arn:aws:firehose:%s:%s:deliverystream/",
                      c->l->region, c->l->account) != SL_OK)
        return SL_ENOMEM;
    const char *stream = c->b->stream ? c->b->stream : "";
    if (sl_json_check_append_str(h, stream, strlen(stream)) != SL_OK ||
        sl_buf_printf(h, "\",\"region\":\"%s\",\"records\":[", c->l->region) != SL_OK)
        return SL_ENOMEM;
    return SL_OK;
}

/* Appends record <i> (with a comma unless <first>) if the body then still
 * has room for the tail. SL_OK, SL_ETOOBIG (nothing appended), SL_ENOMEM. */
static int append_record(struct call *c, size_t i, int first)
{
    const struct sl_record *r = &c->b->records[i];
    struct sl_buf *b = &c->body;
    char id[24], ts[24];
    int idn = snprintf(id, sizeof(id), "%zu", i);
    int tsn = snprintf(ts, sizeof(ts), "%lld", (long long)r->arrival_ms);
    size_t b64 = sl_base64_encoded_len(r->len);
    size_t need = (first ? 0 : 1) + LIT(REC0) + (size_t)idn + LIT(REC1) + (size_t)tsn +
                  LIT(REC2) + b64 + LIT(REC3);

    if (need + LIT(TAIL) > b->max - b->len)
        return SL_ETOOBIG;
    if (sl_buf_reserve(b, need) != SL_OK)
        return SL_ENOMEM;
    /* room was reserved: these appends cannot fail */
    if (!first)
        sl_buf_append(b, ",", 1);
    sl_buf_append(b, REC0, LIT(REC0));
    sl_buf_append(b, id, (size_t)idn);
    sl_buf_append(b, REC1, LIT(REC1));
    sl_buf_append(b, ts, (size_t)tsn);
    sl_buf_append(b, REC2, LIT(REC2));
    b->len += sl_base64_encode(r->data, r->len, (char *)b->data + b->len);
    sl_buf_append(b, REC3, LIT(REC3));
    return SL_OK;
}

/* "errorType: errorMessage" of a Lambda function error's body, if it has
 * them, else the start of the body. */
static void describe_function_error(const struct sl_buf *body, char *out, size_t len)
{
    json_t *root = body->len ? json_loadb((const char *)body->data, body->len, 0, NULL) : NULL;
    const char *type = json_string_value(json_object_get(root, "errorType"));
    const char *msg = json_string_value(json_object_get(root, "errorMessage"));

    if (type || msg)
        snprintf(out, len, "%s%s%s", type ? type : "", type && msg ? ": " : "", msg ? msg : "");
    else
        snprintf(out, len, "%.*s", (int)(body->len < 200 ? body->len : 200),
                 body->data ? (const char *)body->data : "");
    json_decref(root);
    for (char *p = out; *p; p++)                      /* one log line, one envelope field */
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
}

/* The HTTP client's abort poll: sluice is stopping. */
static int stopping(void *arg)
{
    const struct sl_tf_batch *b = arg;

    return b->host->stopping(b->out);
}

/*
 * Sends the body once. Returns 1 with the answer in c->answer when it is a
 * 2xx without a function error, 0 with <v> filled when the attempt failed,
 * -1 when out of memory, STOPPING when sluice is.
 */
static int invoke(struct call *c, struct verdict *v)
{
    static const struct sl_http_header hdrs[] = {
        { "Content-Type", "application/json" },
        { "X-Amz-Invocation-Type", "RequestResponse" },
    };
    struct sl_http_request rq = {
        .method = "POST", .headers = hdrs, .nheaders = 2, .body = c->body.data,
        .body_len = c->body.len, .answer = &c->answer, .capture = "X-Amz-Function-Error",
        .abort = stopping, .abort_arg = (void *)c->b,
    };
    struct sl_http_result r;
    char detail[300];

    v->retry = 1;
    v->code = "Lambda.FunctionError";
    sl_http_client_request(c->l->http, &rq, &r);
    if (r.cause == SL_HTTP_CAUSE_NOMEM)
        return -1;
    if (r.cause == SL_HTTP_CAUSE_ABORTED)
        return STOPPING;
    if (r.cause == SL_HTTP_CAUSE_TOO_BIG) {
        snprintf(v->message, sizeof(v->message),
                 "the function's answer is larger than max_response_size (%zu bytes)",
                 c->l->max_response);
        return 0;
    }
    if (r.status == 0) {                              /* every transport failure is retried */
        snprintf(v->message, sizeof(v->message), "%s: %s",
                 r.cause == SL_HTTP_CAUSE_TIMEOUT ? "no answer within the timeout"
                                                  : "the invocation failed", r.error);
        return 0;
    }
    if (r.captured) {
        describe_function_error(&c->answer, detail, sizeof(detail));
        snprintf(v->message, sizeof(v->message), "function error (HTTP %ld, X-Amz-Function-Error: "
                 "%s): %s", r.status, r.header, detail);
        return 0;
    }
    if (r.verdict == SL_HTTP_OK)
        return 1;
    describe_function_error(&c->answer, detail, sizeof(detail));
    snprintf(v->message, sizeof(v->message), "HTTP %ld from the function%s%s", r.status,
             detail[0] ? ": " : "", detail);
    if (r.cause == SL_HTTP_CAUSE_THROTTLED) {
        v->code = "Lambda.InvokeLimitExceeded";
    } else if (r.cause != SL_HTTP_CAUSE_SERVER) {     /* 5xx: retried as they are */
        v->retry = 0;
        if (r.status == 403)
            v->code = "Lambda.InvokeAccessDenied";
        else if (r.status == 404)
            v->code = "Lambda.ResourceNotFound";
    }
    return 0;
}

/* The answer as JSON with a records array, or NULL with <v> filled. */
static json_t *parse_answer(struct call *c, struct verdict *v)
{
    json_error_t je;
    json_t *root = json_loadb((const char *)c->answer.data, c->answer.len, 0, &je);

    v->retry = 1;
    v->code = "Lambda.JsonProcessingException";
    if (!root) {
        snprintf(v->message, sizeof(v->message), "the function's answer is not JSON: %s "
                 "(line %d, column %d)", je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_array(json_object_get(root, "records"))) {
        snprintf(v->message, sizeof(v->message),
                 "the function's answer has no \"records\" array");
        json_decref(root);
        return NULL;
    }
    return root;
}

/* Record <i> fails with <code> and a formatted message. -1: out of memory. */
static int fail_rec(struct call *c, size_t i, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_rec(struct call *c, size_t i, const char *code, const char *fmt, ...)
{
    char msg[MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return c->b->host->set_failed(c->b->out, i, code, msg);
}

/* The batch index an answer's recordId names, if it is one of [start, end):
 * canonical decimal only ("7", not "07" or "+7"). */
static int record_index(json_t *id, size_t start, size_t end, size_t *out)
{
    const char *s = json_string_value(id);
    size_t n = json_string_length(id), v = 0;

    if (!s || n == 0 || n > 19 || (n > 1 && s[0] == '0'))
        return 0;
    for (size_t k = 0; k < n; k++) {
        if (s[k] < '0' || s[k] > '9')
            return 0;
        v = v * 10 + (size_t)(s[k] - '0');
    }
    if (v < start || v >= end)
        return 0;
    *out = v;
    return 1;
}

/* A JSON string equal to <lit>, embedded NULs considered. */
static int str_is(json_t *j, const char *lit)
{
    const char *s = json_string_value(j);

    return s && json_string_length(j) == strlen(lit) && memcmp(s, lit, strlen(lit)) == 0;
}

/* Checks an Ok record's metadata.partitionKeys; 1 if fine, else 0 with
 * <why> said. <*pk> is the object (or NULL). */
static int check_keys(json_t *e, json_t **pk, char *why, size_t len)
{
    json_t *meta = json_object_get(e, "metadata"), *val;
    const char *k;

    *pk = NULL;
    if (!meta || json_is_null(meta))
        return 1;
    if (!json_is_object(meta)) {
        snprintf(why, len, "metadata is not an object");
        return 0;
    }
    *pk = json_object_get(meta, "partitionKeys");
    if (!*pk || json_is_null(*pk)) {
        *pk = NULL;
        return 1;
    }
    if (!json_is_object(*pk)) {
        snprintf(why, len, "metadata.partitionKeys is not an object");
        return 0;
    }
    json_object_foreach(*pk, k, val) {
        if (!json_is_string(val)) {
            snprintf(why, len, "partition key '%.64s' is not a string", k);
            return 0;
        }
        if (strlen(k) > KEY_LEN_MAX || json_string_length(val) > VALUE_LEN_MAX ||
            strlen(json_string_value(val)) != json_string_length(val)) {
            snprintf(why, len, "partition key '%.64s': name over %d or value over %d bytes, "
                     "or a NUL in the value", k, KEY_LEN_MAX, VALUE_LEN_MAX);
            return 0;
        }
    }
    return 1;
}

/* An Ok record: new data, then partition keys. -1: out of memory. */
static int apply_ok(struct call *c, size_t i, json_t *e)
{
    const struct sl_tf_host *host = c->b->host;
    json_t *data = json_object_get(e, "data"), *pk, *val;
    const char *s = json_string_value(data), *k;
    size_t n = json_string_length(data);
    char why[200];
    long dl;

    if (!s)
        return fail_rec(c, i, "Lambda.FunctionError",
                        "recordId %zu: result Ok without a \"data\" string", i);
    if ((dl = sl_base64_decoded_len(s, n)) < 0)
        return fail_rec(c, i, "Lambda.FunctionError", "recordId %zu: \"data\" is not base64", i);
    sl_buf_reset(&c->dec);
    if (dl > 0 && sl_buf_reserve(&c->dec, (size_t)dl) != SL_OK)
        return -1;                                    /* max is max_response: only ENOMEM */
    if (dl > 0 && sl_base64_decode(s, n, c->dec.data) != dl)
        return fail_rec(c, i, "Lambda.FunctionError", "recordId %zu: \"data\" is not base64", i);
    if (!check_keys(e, &pk, why, sizeof(why)))
        return fail_rec(c, i, "Lambda.FunctionError", "recordId %zu: %s", i, why);
    if (host->set_data(c->b->out, i, dl > 0 ? (const void *)c->dec.data : "", (size_t)dl) != 0)
        return -1;
    if (pk)
        json_object_foreach(pk, k, val)
            if (host->set_key(c->b->out, i, k, json_string_value(val)) != 0)
                return -1;
    return 0;
}

/* One answered record <e> for batch record <i>. -1: out of memory. */
static int apply_one(struct call *c, size_t i, json_t *e)
{
    json_t *result = json_object_get(e, "result");

    if (str_is(result, "Ok"))
        return apply_ok(c, i, e);
    if (str_is(result, "Dropped"))
        return c->b->host->set_dropped(c->b->out, i);
    if (str_is(result, "ProcessingFailed"))
        return fail_rec(c, i, "Lambda.ProcessingFailedStatus",
                        "the function returned result ProcessingFailed for recordId %zu", i);
    if (json_is_string(result))
        return fail_rec(c, i, "Lambda.FunctionError", "recordId %zu: result '%.64s' is not Ok, "
                        "Dropped or ProcessingFailed", i, json_string_value(result));
    return fail_rec(c, i, "Lambda.FunctionError", "recordId %zu: no \"result\" string", i);
}

/* Applies a well-formed answer to records [start, end). -1: out of memory. */
static int apply(struct call *c, json_t *root, size_t start, size_t end)
{
    json_t *recs = json_object_get(root, "records"), *e;
    size_t k, i;

    for (i = start; i < end; i++)
        c->seen[i] = (struct seen){ 0, 0 };
    json_array_foreach(recs, k, e) {
        if (!record_index(json_object_get(e, "recordId"), start, end, &i))
            continue;                                 /* not ours: cannot be attributed */
        if (c->seen[i].count++ == 0)
            c->seen[i].at = k;
        else
            c->seen[i].count = 2;
    }
    for (i = start; i < end; i++) {
        int rc;
        if (c->seen[i].count == 0)
            rc = fail_rec(c, i, "Lambda.MissingRecordId",
                          "recordId %zu is missing from the function's answer", i);
        else if (c->seen[i].count > 1)
            rc = fail_rec(c, i, "Lambda.DuplicatedRecordId",
                          "recordId %zu is in the function's answer more than once", i);
        else
            rc = apply_one(c, i, json_array_get(recs, c->seen[i].at));
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Waits <ms> between attempts, in slices, unless sluice is stopping:
 * 0, or STOPPING. */
static int pause_ms(const struct sl_tf_batch *b, int64_t ms)
{
    for (int64_t left = ms; left > 0; left -= 50) {
        int64_t n = left < 50 ? left : 50;
        struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)n * 1000000L };
        if (b->host->stopping(b->out))
            return STOPPING;
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    return b->host->stopping(b->out) ? STOPPING : 0;
}

/*
 * Invokes the function on the body built for records [start, end), trying
 * again as the rules say, and settles every one of those records.
 * -1: out of memory; STOPPING.
 */
static int run_invocation(struct call *c, size_t start, size_t end)
{
    const struct sl_tf_batch *b = c->b;
    uint64_t suppressed;

    for (unsigned attempt = 1;; attempt++) {
        struct verdict v = { .retry = 0 };
        json_t *root = NULL;
        new_uuid(c, (char *)c->body.data + ID_OFF);
        int rc = invoke(c, &v);
        if (rc < 0)
            return rc;
        if (rc == 1 && !(root = parse_answer(c, &v)))
            rc = 0;
        if (b->host->invocation(b->out, rc == 1) != 0) {
            json_decref(root);
            return -1;
        }
        if (rc == 1) {
            /* each record of this invocation took <attempt> of them */
            for (size_t i = start; i < end; i++)
                if (b->host->attempts(b->out, i, attempt) != 0) {
                    json_decref(root);
                    return -1;
                }
            rc = apply(c, root, start, end);
            json_decref(root);
            return rc;
        }
        int last = !v.retry || attempt > c->l->retries;
        if (sl_log_ratelimit_ok(&c->l->rl, 5000, &suppressed))
            sl_warn("stream=%s transform=lambda msg=\"invocation failed%s\" attempt=%u "
                    "records=%zu bytes=%zu code=%s error=\"%s\" suppressed=%llu",
                    b->stream ? b->stream : "", last ? ", records fail" : ", will retry",
                    attempt, end - start, c->body.len, v.code, v.message,
                    (unsigned long long)suppressed);
        if (last) {
            for (size_t i = start; i < end; i++)
                if (b->host->set_failed(b->out, i, v.code, v.message) != 0 ||
                    b->host->attempts(b->out, i, attempt) != 0)
                    return -1;
            return 0;
        }
        if (pause_ms(b, sl_backoff_delay(&retry_backoff, attempt, sl_backoff_rand(&c->rnd))) != 0)
            return STOPPING;
    }
}

/* Cuts the batch into invocations and runs each. -1: out of memory;
 * STOPPING. */
static int run_batch(struct call *c)
{
    const struct sl_tf_batch *b = c->b;
    size_t i = 0;

    while (i < b->nrecords) {
        size_t start = i;
        sl_buf_reset(&c->body);
        if (sl_buf_append(&c->body, c->head.data, c->head.len) != SL_OK)
            return -1;
        while (i < b->nrecords) {
            int rc = append_record(c, i, i == start);
            if (rc == SL_ENOMEM)
                return -1;
            if (rc == SL_ETOOBIG && i > start)
                break;                                /* the next invocation's */
            if (rc == SL_ETOOBIG) {                   /* too big even alone */
                if (fail_rec(c, i, "Lambda.RequestTooLarge", "the record (%u bytes) makes a "
                             "request larger than max_request_size (%zu bytes)",
                             b->records[i].len, c->l->max_request) != 0 ||
                    b->host->attempts(b->out, i, 0) != 0)   /* never sent */
                    return -1;
                start = ++i;
                continue;
            }
            i++;
        }
        if (i == start)
            continue;
        sl_buf_append(&c->body, TAIL, LIT(TAIL));     /* room kept by append_record */
        int rc = run_invocation(c, start, i);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int lambda_process(void *state, const struct sl_tf_batch *b, struct sl_tf_error *err)
{
    struct lambda *l = state;
    struct call c = { .l = l, .b = b };
    int rc = -1;

    if (b->nrecords == 0)
        return 0;
    sl_buf_init(&c.head, HEAD_MAX);
    sl_buf_init(&c.body, l->max_request);
    sl_buf_init(&c.answer, l->max_response);
    sl_buf_init(&c.dec, l->max_response);
    c.rnd = sl_backoff_seed();
    /* the body's room at once, not by doubling from nothing */
    size_t want = HEAD_MAX;
    for (size_t i = 0; i < b->nrecords && want < l->max_request; i++)
        want += sl_base64_encoded_len(b->records[i].len) + 96;
    if (!(c.seen = malloc(b->nrecords * sizeof(*c.seen))) || build_head(&c) != SL_OK ||
        sl_buf_reserve(&c.body, want < l->max_request ? want : l->max_request) != SL_OK)
        goto out;
    rc = run_batch(&c);
out:
    if (rc != 0) {           /* out of memory, or sluice stopping: try again later */
        snprintf(err->code, sizeof(err->code), "%s",
                 rc == STOPPING ? "Sluice.Stopping" : "Sluice.OutOfMemory");
        snprintf(err->message, sizeof(err->message), "%s",
                 rc == STOPPING ? "sluice is stopping" : "out of memory in the lambda transform");
        rc = SL_TF_RETRY;
    }
    free(c.seen);
    sl_buf_destroy(&c.head);
    sl_buf_destroy(&c.body);
    sl_buf_destroy(&c.answer);
    sl_buf_destroy(&c.dec);
    return rc;
}

const struct sl_transform_ops sl_tf_lambda = {
    .abi = SL_TRANSFORM_ABI,
    .size = sizeof(struct sl_transform_ops),
    .name = "lambda",
    .create = lambda_create,
    .process = lambda_process,
    .destroy = lambda_destroy,
};
