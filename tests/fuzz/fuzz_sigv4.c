/*
 * fuzz_sigv4.c - SigV4 as sluice's HTTP API checks it (aws_sigv4.h): the
 * Authorization header parser, the date and scope checks and the
 * canonicalisation of fuzzed paths, queries and headers.
 *
 * The input is lines: METHOD, PATH, QUERY, then "Name: value" headers up
 * to an empty line, then the body. Three passes:
 *  1. sl_aws_sigv4_verify as it comes (the Authorization header is fuzzed);
 *     it must answer SL_OK (a seed may carry a good signature) or an
 *     error with a code and a 4xx/5xx status.
 *  2. sl__aws_sigv4_canonical_request for the lower-case header names sent:
 *     SL_OK, SL_EINVAL or SL_ETOOBIG, and when SL_OK the method first,
 *     then (after the blank line that ends the headers) the names and the
 *     payload hash last. (Its cap, SL_SIGV4_CREQ_MAX, is the buffer's own
 *     ceiling, which no code can pass: not a property to check.)
 *  3. sign-then-verify: the request without Authorization and X-Amz-Date,
 *     signed by sl_aws_sigv4_sign, must verify (both directions share the
 *     canonical request, so they must agree whatever the input).
 */
#include "fuzz.h"

#include <ctype.h>

#include "aws_sigv4.h"
#include "buf.h"
#include "sluice/err.h"

#define NOW    1700000000                  /* 2023-11-14T22:13:20Z */
#define MAXH   64

static const char *secret(void *arg, const char *akid)
{
    (void)arg;
    return strcmp(akid, "AKIDEXAMPLE") == 0 ? "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" : NULL;
}

struct req {
    char *text;                            /* the input, NUL-ended, cut into lines */
    struct sl_sigv4_header h[MAXH + 3];
    struct sl_sigv4_request r;
};

/* Cuts the input into the request's parts. 0, or -1 if it is not one. */
static int split(struct req *q, const uint8_t *data, size_t size)
{
    char *p, *fields[3];

    if (!(q->text = fuzz_cstr(data, size)))
        return -1;
    p = q->text;
    for (int i = 0; i < 3; i++) {
        fields[i] = p;
        if (!(p = strchr(p, '\n')))
            return -1;
        *p++ = '\0';
    }
    q->r = (struct sl_sigv4_request){ .method = fields[0], .path = fields[1],
                                      .query = fields[2], .headers = q->h };
    while (*p && *p != '\n' && q->r.nheaders < MAXH) {
        char *nl = strchr(p, '\n'), *colon;
        if (nl)
            *nl = '\0';
        if ((colon = strchr(p, ':'))) {
            *colon = '\0';
            q->h[q->r.nheaders++] = (struct sl_sigv4_header){ p, colon + 1 };
        }
        if (!nl)
            return 0;
        p = nl + 1;
    }
    if (*p == '\n')
        p++;
    q->r.body = p;
    q->r.body_len = size - (size_t)(p - q->text);
    return 0;
}

static void verify_as_sent(const struct req *q)
{
    struct sl_sigv4_verifier v = { .secret = secret, .service = "firehose",
                                   .region = "us-east-1" };
    struct sl_sigv4_error err;
    int rc = sl_aws_sigv4_verify(&v, &q->r, NOW, &err);

    if (rc != SL_OK)
        FUZZ_ASSERT(err.code && err.http_status >= 400 && err.http_status < 600 &&
                    memchr(err.message, '\0', sizeof(err.message)), "rc %d", rc);
}

static void canonical(const struct req *q)
{
    struct sl_buf out, names;

    sl_buf_init(&out, SL_SIGV4_CREQ_MAX);
    sl_buf_init(&names, 4096);
    for (size_t i = 0; i < q->r.nheaders; i++) {
        for (const char *c = q->h[i].name; *c; c++) {
            char l = (char)tolower((unsigned char)*c);
            sl_buf_append(&names, &l, 1);
        }
        sl_buf_append(&names, i + 1 < q->r.nheaders ? ";" : "", i + 1 < q->r.nheaders);
    }
    sl_buf_append(&names, "", 1);
    if (names.data) {
        int rc = sl__aws_sigv4_canonical_request(&q->r, (const char *)names.data,
                                             "UNSIGNED-PAYLOAD", &out);
        size_t ml = strlen(q->r.method), nl = names.len - 1, tail = nl + 17;
        FUZZ_ASSERT(rc == SL_OK || rc == SL_EINVAL || rc == SL_ETOOBIG, "rc %d", rc);
        /* METHOD\npath\nquery\n(name:value\n)*\nnames\nUNSIGNED-PAYLOAD */
        FUZZ_ASSERT(rc != SL_OK ||
                    (out.len >= ml + 5 + tail && memcmp(out.data, q->r.method, ml) == 0 &&
                     out.data[ml] == '\n' &&
                     memcmp(out.data + out.len - tail - 2, "\n\n", 2) == 0 &&
                     memcmp(out.data + out.len - tail, names.data, nl) == 0 &&
                     memcmp(out.data + out.len - 17, "\nUNSIGNED-PAYLOAD", 17) == 0),
                    "canonical request of %zu: %.*s", out.len, (int)out.len,
                    (const char *)out.data);
    }
    sl_buf_destroy(&out);
    sl_buf_destroy(&names);
}

static void sign_then_verify(struct req *q, int s3)
{
    struct sl_sigv4_signer s = { "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                 "us-east-1", "firehose", s3 };
    struct sl_sigv4_verifier v = { .secret = secret, .service = "firehose",
                                   .region = "us-east-1" };
    struct sl_sigv4_signed out;
    struct sl_sigv4_error err;
    size_t n = 0;

    for (size_t i = 0; i < q->r.nheaders; i++)      /* what the signer adds itself */
        if (strcasecmp(q->h[i].name, "authorization") != 0 &&
            strcasecmp(q->h[i].name, "x-amz-date") != 0 &&
            strcasecmp(q->h[i].name, "x-amz-content-sha256") != 0)
            q->h[n++] = q->h[i];
    q->r.nheaders = n;
    q->r.s3_uri = s3;
    if (sl_aws_sigv4_sign(&s, &q->r, NULL, NOW, &out) != SL_OK)
        return;
    q->h[n++] = (struct sl_sigv4_header){ "Authorization", out.authorization };
    q->h[n++] = (struct sl_sigv4_header){ "X-Amz-Date", out.amz_date };
    if (s3)
        q->h[n++] = (struct sl_sigv4_header){ "X-Amz-Content-Sha256", out.content_sha256 };
    q->r.nheaders = n;
    int rc = sl_aws_sigv4_verify(&v, &q->r, NOW, &err);
    FUZZ_ASSERT(rc == SL_OK, "signed request refused: %s: %s", err.code, err.message);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct req q = { 0 };

    if (size < 1 || size > 16384)
        return 0;
    if (split(&q, data + 1, size - 1) == 0) {
        q.r.s3_uri = data[0] & 1;
        verify_as_sent(&q);
        canonical(&q);
        sign_then_verify(&q, (data[0] >> 1) & 1);
    }
    free(q.text);
    return 0;
}
