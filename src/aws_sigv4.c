/*
 * aws_sigv4.c - AWS Signature Version 4, header form (see aws_sigv4.h).
 *
 * Design: one canonical-request builder serves both directions. Signing
 * derives the SignedHeaders list from the caller's headers plus the two it
 * adds (x-amz-date, x-amz-content-sha256); verifying takes the list from
 * the Authorization header and checks it first (lower case, sorted, every
 * name present, host and x-amz-date among them). From there both do the
 * same: SHA-256 the canonical request, build the string to sign, derive
 * HMAC("AWS4"+secret, date) -> region -> service -> "aws4_request", HMAC
 * the string to sign. Verification compares the 32 bytes with
 * CRYPTO_memcmp.
 * Verification runs in two steps: precheck(), everything the headers
 * decide (also sl_aws_sigv4_precheck(), for a server that has not read the
 * body yet), then the payload hash and the signature. Every refusal
 * carries a reason (enum sl_auth_reason) and, once the Credential could
 * be read, the key id it names, for the server's log and metrics.
 *
 * Canonical request, one line each:
 *   METHOD \n URI \n QUERY \n name:v1,v2 \n ... \n \n signed;names \n payload-hash
 * Header values are trimmed and runs of whitespace inside become one
 * space (what botocore does), which also keeps a '\n' in a value from
 * forging a line. Every other part is a token, encoded or hex, so nothing a
 * client sends can add a line either.
 *
 * Memory: strings are built in struct sl_buf capped at SL_SIGV4_CREQ_MAX;
 * key material lives on the stack and is wiped with OPENSSL_cleanse.
 * Threads: no state; libcrypto's one-shot EVP/HMAC calls are thread-safe.
 */
#include "aws_sigv4.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "buf.h"
#include "sluice/err.h"

#define ALGO             "AWS4-HMAC-SHA256"
#define TERMINATOR       "aws4_request"
#define UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define SHA256_LEN       32
#define MAX_SECRET       256     /* AWS's are 40 characters */
#define MAX_AKID         128     /* AWS's documented maximum */
#define MAX_SCOPE_PART   63      /* region or service name */
#define MAX_AUTHZ_IN     4096    /* Authorization header we accept */
#define MAX_QUERY_PAIRS  512
#define STS_MAX          512     /* string to sign: ~150 bytes + scope */

#define E_MISSING      "MissingAuthenticationTokenException"
#define E_INCOMPLETE   "IncompleteSignatureException"
#define E_UNRECOGNIZED "UnrecognizedClientException"
#define E_INVALID      "InvalidSignatureException"
#define E_INTERNAL     "InternalFailure"
#define MSG_MISMATCH   "The request signature we calculated does not match the signature " \
                       "you provided. Check your AWS Secret Access Key and signing method."

/* ---- ASCII helpers (no locale) ---------------------------------------- */

static int is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* RFC 3986 unreserved: left as is by URI encoding. */
static int is_unreserved(unsigned char c)
{
    return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 7230 tchar: what a header name or a method is made of. */
static int is_tchar(unsigned char c)
{
    return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static unsigned char to_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

static int hex_val(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Writes 2*<n> lower-case hex digits and a NUL to <out>. */
static void hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Case-insensitive: NUL-terminated <a> equals <b,blen>. */
static int name_eq(const char *a, const char *b, size_t blen)
{
    size_t i;

    for (i = 0; i < blen; i++)
        if (a[i] == '\0' || to_lower((unsigned char)a[i]) != to_lower((unsigned char)b[i]))
            return 0;
    return a[i] == '\0';
}

static int token_ok(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return 0;
    return 1;
}

/* A region or service name: 1..63 of [a-z0-9._-]. */
static int scope_part_ok(const char *s, size_t n)
{
    if (n == 0 || n > MAX_SCOPE_PART)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'))
            return 0;
    }
    return 1;
}

/* An access key id: 1..128 printable bytes, no space, '/' or ','. */
static int akid_ok(const char *s, size_t n)
{
    if (n == 0 || n > MAX_AKID)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~' || s[i] == '/' || s[i] == ',')
            return 0;
    return 1;
}

/* memcmp order, then the shorter first; safe for empty strings. */
static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    size_t m = an < bn ? an : bn;
    int c = m ? memcmp(a, b, m) : 0;

    if (c != 0)
        return c;
    return an < bn ? -1 : an > bn;
}

/* ---- crypto ------------------------------------------------------------ */

static int sha256_hex(const void *p, size_t n, char out[SL_SIGV4_HASH_HEX_LEN + 1])
{
    uint8_t md[SHA256_LEN];
    unsigned int len = 0;

    if (EVP_Digest(n ? p : "", n, md, &len, EVP_sha256(), NULL) != 1 || len != SHA256_LEN)
        return SL_ERR;
    hex_encode(md, SHA256_LEN, out);
    return SL_OK;
}

static int hmac256(const void *key, size_t klen, const void *msg, size_t n,
                   uint8_t out[SHA256_LEN])
{
    unsigned int len = 0;

    if (!HMAC(EVP_sha256(), key, (int)klen, msg, n, out, &len) || len != SHA256_LEN)
        return SL_ERR;
    return SL_OK;
}

/*
 * The signature of <creq> made at <amzdate> (the scope date is its first
 * eight characters) for <region>/<service>, keyed by <secret>. Key
 * material is wiped before returning.
 */
static int signature_of(const struct sl_buf *creq, const char *amzdate, const char *region,
                        const char *service, const char *secret, uint8_t sig[SHA256_LEN])
{
    char sts[STS_MAX], hhex[SL_SIGV4_HASH_HEX_LEN + 1], ksecret[4 + MAX_SECRET];
    uint8_t k1[SHA256_LEN], k2[SHA256_LEN];
    size_t slen = strlen(secret);
    int n, rc;

    if (slen > MAX_SECRET)
        return SL_EINVAL;
    rc = sha256_hex(creq->data, creq->len, hhex);
    if (rc != SL_OK)
        return rc;
    n = snprintf(sts, sizeof(sts), ALGO "\n%s\n%.8s/%s/%s/" TERMINATOR "\n%s",
                 amzdate, amzdate, region, service, hhex);
    if (n < 0 || (size_t)n >= sizeof(sts))
        return SL_ETOOBIG;
    memcpy(ksecret, "AWS4", 4);
    memcpy(ksecret + 4, secret, slen);
    rc = SL_ERR;
    if (hmac256(ksecret, 4 + slen, amzdate, 8, k1) != SL_OK ||
        hmac256(k1, SHA256_LEN, region, strlen(region), k2) != SL_OK ||
        hmac256(k2, SHA256_LEN, service, strlen(service), k1) != SL_OK ||
        hmac256(k1, SHA256_LEN, TERMINATOR, strlen(TERMINATOR), k2) != SL_OK ||
        hmac256(k2, SHA256_LEN, sts, (size_t)n, sig) != SL_OK)
        goto out;
    rc = SL_OK;
out:
    OPENSSL_cleanse(ksecret, sizeof(ksecret));
    OPENSSL_cleanse(k1, sizeof(k1));
    OPENSSL_cleanse(k2, sizeof(k2));
    return rc;
}

/* ---- time -------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, int n, unsigned *out)
{
    unsigned v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return 1;
}

/* Parses exactly "YYYYMMDDTHHMMSSZ" (UTC) into seconds since the epoch. */
static int parse_amzdate(const char *s, int64_t *epoch)
{
    static const unsigned mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    unsigned y, mo, d, h, mi, se, dim;

    if (strlen(s) != SL_SIGV4_AMZDATE_LEN || s[8] != 'T' || s[15] != 'Z')
        return SL_EINVAL;
    if (!digits(s, 4, &y) || !digits(s + 4, 2, &mo) || !digits(s + 6, 2, &d) ||
        !digits(s + 9, 2, &h) || !digits(s + 11, 2, &mi) || !digits(s + 13, 2, &se))
        return SL_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59)
        return SL_EINVAL;
    dim = mdays[mo - 1] + (mo == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)));
    if (d > dim)
        return SL_EINVAL;
    *epoch = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    return SL_OK;
}

/* Formats <t> as "YYYYMMDDTHHMMSSZ"; SL_ERANGE outside years 0000..9999. */
static int fmt_amzdate(int64_t t, char out[SL_SIGV4_AMZDATE_LEN + 1])
{
    struct tm tm;
    time_t tt = (time_t)t;

    if ((int64_t)tt != t || !gmtime_r(&tt, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
        return SL_ERANGE;
    if (strftime(out, SL_SIGV4_AMZDATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm) != SL_SIGV4_AMZDATE_LEN)
        return SL_ERANGE;
    return SL_OK;
}

/* ---- canonical request -------------------------------------------------- */

int sl_aws_sigv4_uri_encode(struct sl_buf *b, const char *p, size_t n, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i = 0, run;
    int rc = SL_OK;

    while (i < n && rc == SL_OK) {
        for (run = i; run < n && (is_unreserved((unsigned char)p[run]) ||
                                  (keep_slash && p[run] == '/')); run++)
            ;
        if (run > i) {
            rc = sl_buf_append(b, p + i, run - i);
            i = run;
        } else {
            unsigned char c = (unsigned char)p[i++];
            char e[3] = { '%', hex[c >> 4], hex[c & 15] };
            rc = sl_buf_append(b, e, sizeof(e));
        }
    }
    return rc;
}

/* Appends <p,n> percent-decoded; a '%' without two hex digits stays. */
static int append_decoded(struct sl_buf *b, const char *p, size_t n)
{
    int rc = SL_OK;

    for (size_t i = 0; i < n && rc == SL_OK; i++) {
        int hi = i + 2 < n ? hex_val((unsigned char)p[i + 1]) : -1;
        int lo = i + 2 < n ? hex_val((unsigned char)p[i + 2]) : -1;

        if (p[i] == '%' && hi >= 0 && lo >= 0) {
            char c = (char)(hi * 16 + lo);

            rc = sl_buf_append(b, &c, 1);
            i += 2;
        } else {
            rc = sl_buf_append(b, &p[i], 1);
        }
    }
    return rc;
}

static int append_lower(struct sl_buf *b, const char *p, size_t n)
{
    int rc = SL_OK;

    for (size_t i = 0; i < n && rc == SL_OK; i++) {
        char c = (char)to_lower((unsigned char)p[i]);
        rc = sl_buf_append(b, &c, 1);
    }
    return rc;
}

/*
 * Every service but S3: the wire path <p> with empty and "." segments
 * dropped and ".." resolved (botocore's remove_dot_segments), each kept
 * segment URI-encoded once more. A trailing '/' stays if a segment does.
 */
static int append_uri_normalised(struct sl_buf *out, const char *p)
{
    size_t start = out->len, plen = strlen(p);
    const char *q = p, *end = p + plen;
    int rc = SL_OK;

    while (q < end && rc == SL_OK) {
        const char *seg = q;
        size_t n;

        while (q < end && *q != '/')
            q++;
        n = (size_t)(q - seg);
        if (q < end)
            q++;
        if (n == 0 || (n == 1 && seg[0] == '.'))
            continue;
        if (n == 2 && seg[0] == '.' && seg[1] == '.') {
            while (out->len > start && out->data[out->len - 1] != '/')
                out->len--;
            if (out->len > start)
                out->len--;  /* and the '/' before it */
            continue;
        }
        rc = sl_buf_append(out, "/", 1);
        if (rc == SL_OK)
            rc = sl_aws_sigv4_uri_encode(out, seg, n, 0);
    }
    if (rc == SL_OK && (out->len == start || p[plen - 1] == '/'))
        rc = sl_buf_append(out, "/", 1);
    return rc;
}

/* Appends <p,n> decoded then encoded (no '/' kept) to <enc>; <tmp> is scratch. */
static int recode(struct sl_buf *enc, struct sl_buf *tmp, const char *p, size_t n)
{
    int rc;

    sl_buf_reset(tmp);
    rc = append_decoded(tmp, p, n);
    return rc == SL_OK ? sl_aws_sigv4_uri_encode(enc, (const char *)tmp->data, tmp->len, 0) : rc;
}

/* S3: no normalisation; each segment decoded and encoded once, so a
 * strictly encoded path comes out unchanged and %2F stays %2F. */
static int append_uri_s3(struct sl_buf *out, const char *p)
{
    struct sl_buf tmp;
    const char *seg = p, *e;
    int rc;

    if (*p == '\0')
        return sl_buf_append(out, "/", 1);
    sl_buf_init(&tmp, SL_SIGV4_CREQ_MAX);
    for (;;) {
        for (e = seg; *e && *e != '/'; e++)
            ;
        rc = recode(out, &tmp, seg, (size_t)(e - seg));
        if (rc != SL_OK || *e == '\0')
            break;
        rc = sl_buf_append(out, "/", 1);
        if (rc != SL_OK)
            break;
        seg = e + 1;
    }
    sl_buf_destroy(&tmp);
    return rc;
}

/* One query parameter, name and value re-encoded, as offsets into <base>. */
struct qpair {
    const char *base;  /* the encoded-pairs buffer, set once it stops growing */
    size_t koff, klen; /* name */
    size_t voff, vlen; /* value; empty if there was no '=' */
};

static int qpair_cmp(const void *a, const void *b)
{
    const struct qpair *x = a, *y = b;
    int c = bytes_cmp(x->base + x->koff, x->klen, y->base + y->koff, y->klen);

    return c ? c : bytes_cmp(x->base + x->voff, x->vlen, y->base + y->voff, y->vlen);
}

/* Splits "<name>[=<value>]" and records both, re-encoded, in <enc>. */
static int add_pair(struct qpair *qp, const char *p, size_t n, struct sl_buf *enc,
                    struct sl_buf *tmp)
{
    const char *eq = memchr(p, '=', n);
    size_t kn = eq ? (size_t)(eq - p) : n;
    int rc;

    qp->koff = enc->len;
    rc = recode(enc, tmp, p, kn);
    qp->klen = enc->len - qp->koff;
    qp->voff = enc->len;
    if (rc == SL_OK && eq)
        rc = recode(enc, tmp, eq + 1, n - kn - 1);
    qp->vlen = enc->len - qp->voff;
    return rc;
}

/* Appends the canonical form of the wire query <q>: pairs re-encoded and
 * sorted by name, then value; empty pieces ("a&&b") are skipped. */
static int append_query(struct sl_buf *out, const char *q)
{
    struct sl_buf enc, tmp;
    struct qpair *pairs = NULL;
    size_t npairs = 0, cap = 1, i;
    const char *p, *e;
    int rc = SL_OK;

    sl_buf_init(&enc, SL_SIGV4_CREQ_MAX);
    sl_buf_init(&tmp, SL_SIGV4_CREQ_MAX);
    if (!q || !*q)
        goto out;
    for (p = q; *p; p++)
        cap += (*p == '&');
    rc = SL_ETOOBIG;
    if (cap > MAX_QUERY_PAIRS)
        goto out;
    rc = SL_ENOMEM;
    if (!(pairs = calloc(cap, sizeof(*pairs))))
        goto out;
    rc = SL_OK;
    for (p = q; *p && rc == SL_OK; p = *e ? e + 1 : e) {
        for (e = p; *e && *e != '&'; e++)
            ;
        if (e > p)
            rc = add_pair(&pairs[npairs++], p, (size_t)(e - p), &enc, &tmp);
    }
    for (i = 0; i < npairs; i++)
        pairs[i].base = enc.data ? (const char *)enc.data : "";
    if (npairs > 1)
        qsort(pairs, npairs, sizeof(*pairs), qpair_cmp);
    for (i = 0; i < npairs && rc == SL_OK; i++) {
        if (i > 0)
            rc = sl_buf_append(out, "&", 1);
        if (rc == SL_OK)
            rc = sl_buf_append(out, pairs[i].base + pairs[i].koff, pairs[i].klen);
        if (rc == SL_OK)
            rc = sl_buf_append(out, "=", 1);
        if (rc == SL_OK)
            rc = sl_buf_append(out, pairs[i].base + pairs[i].voff, pairs[i].vlen);
    }
out:
    free(pairs);
    sl_buf_destroy(&enc);
    sl_buf_destroy(&tmp);
    return rc;
}

int sl_aws_sigv4_query_add(struct sl_buf *q, const char *name, size_t nlen, const char *value,
                       size_t vlen)
{
    size_t len0 = q->len;
    int rc = q->len ? sl_buf_append(q, "&", 1) : SL_OK;

    if (rc == SL_OK)
        rc = sl_aws_sigv4_uri_encode(q, name, nlen, 0);
    if (rc == SL_OK)
        rc = sl_buf_append(q, "=", 1);
    if (rc == SL_OK && value)
        rc = sl_aws_sigv4_uri_encode(q, value, vlen, 0);
    if (rc != SL_OK)
        q->len = len0;   /* all of the pair or none of it */
    return rc;
}

/* Appends <v> trimmed, each inner run of whitespace as one space. */
static int append_trimmed(struct sl_buf *out, const char *v)
{
    const char *p = v;
    int rc = SL_OK;

    while (is_space((unsigned char)*p))
        p++;
    while (*p && rc == SL_OK) {
        const char *s = p;

        while (*p && !is_space((unsigned char)*p))
            p++;
        rc = sl_buf_append(out, s, (size_t)(p - s));
        while (is_space((unsigned char)*p))
            p++;
        if (rc == SL_OK && *p)
            rc = sl_buf_append(out, " ", 1);
    }
    return rc;
}

/* Counts <r>'s headers named <name,n> (any case); *value gets the first. */
static size_t count_header(const struct sl_sigv4_request *r, const char *name, size_t n,
                           const char **value)
{
    size_t count = 0;

    for (size_t i = 0; i < r->nheaders; i++) {
        if (name_eq(r->headers[i].name, name, n)) {
            if (count++ == 0 && value)
                *value = r->headers[i].value;
        }
    }
    return count;
}

/* Appends "name:v1,v2\n" for each name of <list> ('; '-separated, lower
 * case, in order), values in arrival order. SL_EINVAL if a name is absent. */
static int append_headers(struct sl_buf *out, const struct sl_sigv4_request *r, const char *list)
{
    const char *name = list, *end;
    int rc = SL_OK;

    while (*name && rc == SL_OK) {
        size_t n, found = 0;

        for (end = name; *end && *end != ';'; end++)
            ;
        n = (size_t)(end - name);
        for (size_t i = 0; i < r->nheaders && rc == SL_OK; i++) {
            if (!name_eq(r->headers[i].name, name, n))
                continue;
            if (found++ > 0)
                rc = sl_buf_append(out, ",", 1);
            else if ((rc = sl_buf_append(out, name, n)) == SL_OK)
                rc = sl_buf_append(out, ":", 1);
            if (rc == SL_OK)
                rc = append_trimmed(out, r->headers[i].value);
        }
        if (rc == SL_OK && found == 0)
            rc = SL_EINVAL;
        if (rc == SL_OK)
            rc = sl_buf_append(out, "\n", 1);
        name = *end ? end + 1 : end;
    }
    return rc;
}

/* <r>'s pointers are usable, its method a token, its header count bounded. */
static int request_ok(const struct sl_sigv4_request *r)
{
    if (!r || !r->method || !r->path || (r->nheaders && !r->headers) || (r->body_len && !r->body))
        return 0;
    if (r->nheaders > SL_SIGV4_MAX_HEADERS || !token_ok(r->method, strlen(r->method)))
        return 0;
    for (size_t i = 0; i < r->nheaders; i++)
        if (!r->headers[i].name || !r->headers[i].value)
            return 0;
    return 1;
}

int sl__aws_sigv4_canonical_request(const struct sl_sigv4_request *r, const char *signed_headers,
                                const char *payload_hash, struct sl_buf *out)
{
    int rc;

    if (!request_ok(r) || !signed_headers || !payload_hash ||
        (r->path[0] != '\0' && r->path[0] != '/'))
        return SL_EINVAL;
    rc = sl_buf_append(out, r->method, strlen(r->method));
    if (rc == SL_OK)
        rc = sl_buf_append(out, "\n", 1);
    if (rc == SL_OK)
        rc = r->s3_uri ? append_uri_s3(out, r->path) : append_uri_normalised(out, r->path);
    if (rc == SL_OK)
        rc = sl_buf_append(out, "\n", 1);
    if (rc == SL_OK)
        rc = append_query(out, r->query);
    if (rc == SL_OK)
        rc = sl_buf_append(out, "\n", 1);
    if (rc == SL_OK)
        rc = append_headers(out, r, signed_headers);
    if (rc == SL_OK)
        rc = sl_buf_append(out, "\n", 1);
    if (rc == SL_OK)
        rc = sl_buf_append(out, signed_headers, strlen(signed_headers));
    if (rc == SL_OK)
        rc = sl_buf_append(out, "\n", 1);
    if (rc == SL_OK)
        rc = sl_buf_append(out, payload_hash, strlen(payload_hash));
    return rc;
}

/* ---- verify ------------------------------------------------------------- */

/* The Authorization header, parsed. */
struct authz {
    char akid[MAX_AKID + 1];
    char date8[9];                         /* scope date, YYYYMMDD */
    char region[MAX_SCOPE_PART + 1];
    char service[MAX_SCOPE_PART + 1];
    char signed_headers[MAX_AUTHZ_IN + 1]; /* checked: lower case, sorted, unique */
    uint8_t sig[SHA256_LEN];
};

__attribute__((format(printf, 5, 6)))
static int fail(struct sl_sigv4_error *err, int rc, const char *code, int status,
                const char *fmt, ...)
{
    va_list ap;

    err->code = code;
    err->http_status = status;
    err->reason = strcmp(code, E_MISSING) == 0      ? SL_AUTH_R_MISSING
                : strcmp(code, E_UNRECOGNIZED) == 0 ? SL_AUTH_R_UNKNOWN_KEY
                : strcmp(code, E_INVALID) == 0      ? SL_AUTH_R_BAD_SIGNATURE
                : strcmp(code, E_INTERNAL) == 0     ? SL_AUTH_R_INTERNAL
                                                    : SL_AUTH_R_MALFORMED;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return rc;
}

/* Sets <err>'s reason to <reason> (more precise than fail()'s guess from
 * the code); returns <rc>. */
static int because(struct sl_sigv4_error *err, int reason, int rc)
{
    err->reason = reason;
    return rc;
}

/* Maps an internal failure <rc> to the answer for it. */
static int fail_internal(struct sl_sigv4_error *err, int rc)
{
    if (rc == SL_ETOOBIG)
        return fail(err, rc, E_INCOMPLETE, 400,
                    "The request's headers or query string are too large to verify.");
    if (rc == SL_EINVAL)
        return fail(err, rc, E_INCOMPLETE, 400, "The request could not be put in canonical form.");
    return fail(err, rc, E_INTERNAL, 500, "The request could not be verified: %s.",
                sl_strerror(rc));
}

static int parse_credential(struct authz *a, const char *v, size_t vn, struct sl_sigv4_error *err)
{
    const char *part[5], *s = v, *end = v + vn, *slash;
    size_t plen[5], np = 0;

    for (;;) {
        if (np == 5)
            goto malformed;
        slash = memchr(s, '/', (size_t)(end - s));
        part[np] = s;
        plen[np++] = (size_t)((slash ? slash : end) - s);
        if (!slash)
            break;
        s = slash + 1;
    }
    if (np == 5 && akid_ok(part[0], plen[0]) && plen[0] < sizeof(err->access_key_id)) {
        memcpy(err->access_key_id, part[0], plen[0]);   /* for the caller's log line */
        err->access_key_id[plen[0]] = '\0';
    }
    if (np != 5 || !akid_ok(part[0], plen[0]) || plen[1] != 8 || !scope_part_ok(part[2], plen[2]) ||
        !scope_part_ok(part[3], plen[3]))
        goto malformed;
    for (size_t i = 0; i < 8; i++)
        if (part[1][i] < '0' || part[1][i] > '9')
            goto malformed;
    if (plen[4] != strlen(TERMINATOR) || memcmp(part[4], TERMINATOR, plen[4]) != 0)
        return because(err, SL_AUTH_R_WRONG_SCOPE, fail(err, SL_EINVAL, E_INCOMPLETE, 400,
                       "Credential should be scoped with a valid terminator: '" TERMINATOR "'."));
    memcpy(a->akid, part[0], plen[0]);
    a->akid[plen[0]] = '\0';
    memcpy(a->date8, part[1], 8);
    a->date8[8] = '\0';
    memcpy(a->region, part[2], plen[2]);
    a->region[plen[2]] = '\0';
    memcpy(a->service, part[3], plen[3]);
    a->service[plen[3]] = '\0';
    return SL_OK;
malformed:
    return fail(err, SL_EINVAL, E_INCOMPLETE, 400, "Authorization header's Credential is "
                "malformed; expected <access key>/<YYYYMMDD>/<region>/<service>/" TERMINATOR ".");
}

/* SignedHeaders: lower-case tokens joined by ';', strictly ascending. */
static int parse_signed_headers(struct authz *a, const char *v, size_t vn,
                                struct sl_sigv4_error *err)
{
    const char *prev = NULL, *start = v;
    size_t prevlen = 0;

    for (size_t i = 0; i <= vn; i++) {
        size_t len;

        if (i < vn && v[i] != ';') {
            if (!is_tchar((unsigned char)v[i]) || (v[i] >= 'A' && v[i] <= 'Z'))
                goto bad;
            continue;
        }
        len = (size_t)(v + i - start);
        if (len == 0 || (prev && bytes_cmp(prev, prevlen, start, len) >= 0))
            goto bad;
        prev = start;
        prevlen = len;
        start = v + i + 1;
    }
    memcpy(a->signed_headers, v, vn);
    a->signed_headers[vn] = '\0';
    return SL_OK;
bad:
    return fail(err, SL_EINVAL, E_INCOMPLETE, 400,
                "SignedHeaders must be lower-case header names, sorted, joined by ';'.");
}

static int parse_signature(struct authz *a, const char *v, size_t vn, struct sl_sigv4_error *err)
{
    if (vn != 2 * SHA256_LEN)
        goto bad;
    for (size_t i = 0; i < SHA256_LEN; i++) {
        int hi = hex_val((unsigned char)v[2 * i]), lo = hex_val((unsigned char)v[2 * i + 1]);

        if (hi < 0 || lo < 0)
            goto bad;
        a->sig[i] = (uint8_t)(hi * 16 + lo);
    }
    return SL_OK;
bad:
    return fail(err, SL_EINVAL, E_INCOMPLETE, 400, "Signature must be 64 hexadecimal digits.");
}

/* Dispatches one "<key>=<value>" of the Authorization header. */
static int authz_part(struct authz *a, const char *k, size_t kn, const char *v, size_t vn,
                      unsigned *have, struct sl_sigv4_error *err)
{
    static const char *const keys[] = { "Credential", "SignedHeaders", "Signature" };
    unsigned i;

    for (i = 0; i < 3; i++)
        if (kn == strlen(keys[i]) && memcmp(k, keys[i], kn) == 0)
            break;
    if (i == 3)
        return fail(err, SL_EINVAL, E_INCOMPLETE, 400, "Authorization header has an unknown "
                    "part; expected only Credential, SignedHeaders and Signature.");
    if (*have & (1u << i))
        return fail(err, SL_EINVAL, E_INCOMPLETE, 400,
                    "Authorization header repeats '%s'.", keys[i]);
    *have |= 1u << i;
    if (i == 0)
        return parse_credential(a, v, vn, err);
    if (i == 1)
        return parse_signed_headers(a, v, vn, err);
    return parse_signature(a, v, vn, err);
}

/* Names every part missing from <have>, the way AWS words it. */
static int fail_missing_parts(unsigned have, struct sl_sigv4_error *err)
{
    static const char *const keys[] = { "Credential", "SignedHeaders", "Signature" };
    size_t off = 0;

    fail(err, SL_EINVAL, E_INCOMPLETE, 400, "%s", "");
    for (unsigned i = 0; i < 3; i++) {
        size_t room = sizeof(err->message) - off;
        int n;

        if (have & (1u << i))
            continue;
        n = snprintf(err->message + off, room, "%sAuthorization header requires '%s' parameter.",
                     off ? " " : "", keys[i]);
        if (n > 0)
            off += (size_t)n < room ? (size_t)n : room - 1;
    }
    return SL_EINVAL;
}

/* "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." in
 * any part order, spaces after commas optional. */
static int parse_authz(const char *v, struct authz *a, struct sl_sigv4_error *err)
{
    const size_t alen = strlen(ALGO);
    const char *p = v;
    unsigned have = 0;
    int rc;

    if (strlen(v) > MAX_AUTHZ_IN)
        return fail(err, SL_ETOOBIG, E_INCOMPLETE, 400, "Authorization header is too long.");
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncmp(p, ALGO, alen) != 0 || (p[alen] != ' ' && p[alen] != '\t' && p[alen] != '\0'))
        return fail(err, SL_EINVAL, E_INCOMPLETE, 400,
                    "Unsupported AWS 'algorithm'; expected '" ALGO "'.");
    for (p += alen;;) {
        const char *key, *val;
        size_t klen, vlen;

        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        for (key = p; *p && *p != '=' && *p != ',' && *p != ' ' && *p != '\t'; p++)
            ;
        klen = (size_t)(p - key);
        if (*p != '=')
            return fail(err, SL_EINVAL, E_INCOMPLETE, 400, "Authorization header has a part "
                        "that is not a key=value pair (missing equal-sign).");
        for (val = ++p; *p && *p != ','; p++)
            ;
        vlen = (size_t)(p - val);
        while (vlen && (val[vlen - 1] == ' ' || val[vlen - 1] == '\t'))
            vlen--;
        rc = authz_part(a, key, klen, val, vlen, &have, err);
        if (rc != SL_OK)
            return rc;
    }
    return have == 7 ? SL_OK : fail_missing_parts(have, err);
}

/* X-Amz-Date: once, well formed, the same day as the scope. Copies it
 * (trimmed) to <amzdate> and its time to <t>. */
static int check_date(const struct sl_sigv4_request *r, const struct authz *a,
                      char amzdate[SL_SIGV4_AMZDATE_LEN + 1], int64_t *t,
                      struct sl_sigv4_error *err)
{
    const char *d = NULL;
    size_t n = count_header(r, "x-amz-date", 10, &d), len;

    if (n == 0)
        return fail(err, SL_EINVAL, E_INCOMPLETE, 400,
                    "Authorization header requires existence of a 'X-Amz-Date' header.");
    if (n > 1)
        return fail(err, SL_EINVAL, E_INCOMPLETE, 400, "X-Amz-Date must appear only once.");
    while (is_space((unsigned char)*d))
        d++;
    for (len = strlen(d); len && is_space((unsigned char)d[len - 1]); len--)
        ;
    if (len == SL_SIGV4_AMZDATE_LEN) {
        memcpy(amzdate, d, len);
        amzdate[len] = '\0';
    }
    if (len != SL_SIGV4_AMZDATE_LEN || parse_amzdate(amzdate, t) != SL_OK)
        return fail(err, SL_EINVAL, E_INCOMPLETE, 400,
                    "X-Amz-Date must be in ISO-8601 basic format, YYYYMMDD'T'HHMMSS'Z'.");
    if (memcmp(a->date8, amzdate, 8) != 0)
        return because(err, SL_AUTH_R_WRONG_SCOPE, fail(err, SL_EINVAL, E_INVALID, 400,
                       "Date in Credential scope does not match YYYYMMDD from ISO-8601 version "
                       "of date from HTTP: '%s' != '%.8s', from '%s'.",
                       a->date8, amzdate, amzdate));
    return SL_OK;
}

static int check_scope(const struct sl_sigv4_verifier *v, const struct authz *a,
                       struct sl_sigv4_error *err)
{
    if (v->service && strcmp(a->service, v->service) != 0)
        return because(err, SL_AUTH_R_WRONG_SCOPE, fail(err, SL_EINVAL, E_INVALID, 400,
                       "Credential should be scoped to correct service: '%.63s'.", v->service));
    if (v->region && strcmp(a->region, v->region) != 0)
        return because(err, SL_AUTH_R_WRONG_SCOPE, fail(err, SL_EINVAL, E_INVALID, 400,
                       "Credential should be scoped to a valid region, not '%s'.", a->region));
    return SL_OK;
}

/* host and x-amz-date are signed, and every signed name is in <r>. */
static int check_signed(const struct sl_sigv4_request *r, const struct authz *a,
                        struct sl_sigv4_error *err)
{
    const char *name = a->signed_headers, *end;
    int host = 0, date = 0;

    for (; *name; name = *end ? end + 1 : end) {
        size_t n;

        for (end = name; *end && *end != ';'; end++)
            ;
        n = (size_t)(end - name);
        host |= n == 4 && memcmp(name, "host", 4) == 0;
        date |= n == 10 && memcmp(name, "x-amz-date", 10) == 0;
        if (count_header(r, name, n, NULL) == 0)
            return fail(err, SL_EINVAL, E_INCOMPLETE, 400,
                        "Signed header '%.*s' is not in the request.", (int)(n > 64 ? 64 : n),
                        name);
    }
    if (!host)
        return fail(err, SL_EINVAL, E_INCOMPLETE, 400,
                    "'Host' must be a 'SignedHeader' in the AWS Authorization.");
    if (!date)
        return fail(err, SL_EINVAL, E_INCOMPLETE, 400,
                    "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.");
    return SL_OK;
}

/* Formats <t>, or writes "?" if it is out of range (messages only). */
static void fmt_or_unknown(int64_t t, char out[SL_SIGV4_AMZDATE_LEN + 1])
{
    if (fmt_amzdate(t, out) != SL_OK)
        memcpy(out, "?", 2);
}

/* |now - t| <= SL_SIGV4_MAX_SKEW_S, or AWS's "Signature expired" answer. */
static int check_skew(const char *amzdate, int64_t t, int64_t now, struct sl_sigv4_error *err)
{
    const int64_t lim = (int64_t)1 << 40;  /* keeps now +- skew from overflowing */
    char edge[SL_SIGV4_AMZDATE_LEN + 1], nowd[SL_SIGV4_AMZDATE_LEN + 1];

    now = now < -lim ? -lim : now > lim ? lim : now;
    if (t >= now - SL_SIGV4_MAX_SKEW_S && t <= now + SL_SIGV4_MAX_SKEW_S)
        return SL_OK;
    fmt_or_unknown(now, nowd);
    if (t < now) {
        fmt_or_unknown(now - SL_SIGV4_MAX_SKEW_S, edge);
        return because(err, SL_AUTH_R_STALE_DATE, fail(err, SL_EINVAL, E_INVALID, 400,
                       "Signature expired: %s is now earlier than %s (%s - 5 min.)",
                       amzdate, edge, nowd));
    }
    fmt_or_unknown(now + SL_SIGV4_MAX_SKEW_S, edge);
    return because(err, SL_AUTH_R_STALE_DATE, fail(err, SL_EINVAL, E_INVALID, 400,
                   "Signature not yet current: %s is still later than %s (%s + 5 min.)",
                   amzdate, edge, nowd));
}

/* X-Amz-Content-Sha256, trimmed, into <claim,len>; <claim> NULL if absent.
 * At most once; 64 hex digits, or UNSIGNED-PAYLOAD if <v> allows it. */
static int check_claim(const struct sl_sigv4_verifier *v, const struct sl_sigv4_request *r,
                       const char **claim, size_t *len, struct sl_sigv4_error *err)
{
    const char *c = NULL;
    size_t n = count_header(r, "x-amz-content-sha256", 20, &c), l, i;

    *claim = NULL;
    *len = 0;
    if (n > 1)
        return fail(err, SL_EINVAL, E_INCOMPLETE, 400,
                    "X-Amz-Content-Sha256 must appear only once.");
    if (n == 0)
        return SL_OK;
    while (is_space((unsigned char)*c))
        c++;
    for (l = strlen(c); l && is_space((unsigned char)c[l - 1]); l--)
        ;
    *claim = c;
    *len = l;
    if (l == strlen(UNSIGNED_PAYLOAD) && memcmp(c, UNSIGNED_PAYLOAD, l) == 0)
        return v->unsigned_payload ? SL_OK : because(err, SL_AUTH_R_UNSIGNED_PAYLOAD,
            fail(err, SL_EINVAL, E_INVALID, 400, "X-Amz-Content-Sha256: " UNSIGNED_PAYLOAD
                 " is not accepted here: sign the body's SHA-256."));
    for (i = 0; i < l && hex_val((unsigned char)c[i]) >= 0; i++)
        ;
    if (l != SL_SIGV4_HASH_HEX_LEN || i != l)   /* can never equal the body's hash */
        return fail(err, SL_EINVAL, E_INVALID, 400, "The provided 'x-amz-content-sha256' "
                    "header does not match what was computed.");
    return SL_OK;
}

/* The payload hash to sign with: the checked <claim,len> if it is
 * UNSIGNED-PAYLOAD or the body's hash, else the body's hash. */
static int payload_hash(const struct sl_sigv4_request *r, const char *claim, size_t len,
                        char out[SL_SIGV4_HASH_HEX_LEN + 1], struct sl_sigv4_error *err)
{
    int rc;

    if (claim && len == strlen(UNSIGNED_PAYLOAD) && memcmp(claim, UNSIGNED_PAYLOAD, len) == 0) {
        memcpy(out, UNSIGNED_PAYLOAD, sizeof(UNSIGNED_PAYLOAD));
        return SL_OK;
    }
    rc = sha256_hex(r->body, r->body_len, out);
    if (rc != SL_OK)
        return fail_internal(err, rc);
    if (!claim)
        return SL_OK;
    if (len != SL_SIGV4_HASH_HEX_LEN || strncasecmp(claim, out, len) != 0)
        return fail(err, SL_EINVAL, E_INVALID, 400, "The provided 'x-amz-content-sha256' "
                    "header does not match what was computed.");
    memcpy(out, claim, len);  /* as the client signed it, case and all */
    return SL_OK;
}

static int check_signature(const struct sl_sigv4_request *r, const struct authz *a,
                           const char *amzdate, const char *payload, const char *secret,
                           struct sl_sigv4_error *err)
{
    struct sl_buf creq;
    uint8_t sig[SHA256_LEN];
    int rc;

    sl_buf_init(&creq, SL_SIGV4_CREQ_MAX);
    rc = sl__aws_sigv4_canonical_request(r, a->signed_headers, payload, &creq);
    if (rc == SL_OK)
        rc = signature_of(&creq, amzdate, a->region, a->service, secret, sig);
    if (rc != SL_OK) {
        rc = fail_internal(err, rc);
        goto out;
    }
    if (CRYPTO_memcmp(sig, a->sig, SHA256_LEN) != 0)
        rc = fail(err, SL_EINVAL, E_INVALID, 400, "%s", MSG_MISMATCH);
out:
    OPENSSL_cleanse(sig, sizeof(sig));
    sl_buf_destroy(&creq);
    return rc;
}

/* What the headers told sl_aws_sigv4_precheck(), for the signature check. */
struct pre {
    struct authz a;
    char amzdate[SL_SIGV4_AMZDATE_LEN + 1];
    const char *secret;                    /* borrowed from the verifier's callback */
    const char *claim;                     /* X-Amz-Content-Sha256, trimmed; NULL: absent */
    size_t claim_len;
};

/* Every check the headers decide, in the order AWS answers them. */
static int precheck(const struct sl_sigv4_verifier *v, const struct sl_sigv4_request *r,
                    int64_t now_epoch_s, struct pre *p, struct sl_sigv4_error *err)
{
    const char *authorization = NULL;
    int64_t t = 0;
    size_t n;
    int rc;

    err->code = NULL;
    err->message[0] = '\0';
    err->http_status = 0;
    err->reason = SL_AUTH_R_INTERNAL;
    err->access_key_id[0] = '\0';
    if (r && r->nheaders > SL_SIGV4_MAX_HEADERS)
        return fail(err, SL_ETOOBIG, E_INCOMPLETE, 400, "The request has too many headers.");
    if (!v || !v->secret || !request_ok(r))
        return fail(err, SL_EINVAL, E_INTERNAL, 500, "sl_aws_sigv4_verify: bad arguments.");
    n = count_header(r, "authorization", 13, &authorization);
    if (n == 0)
        return fail(err, SL_EINVAL, E_MISSING, 403, "Missing Authentication Token");
    if (n > 1)
        return fail(err, SL_EINVAL, E_INCOMPLETE, 400, "Authorization must appear only once.");
    if ((rc = parse_authz(authorization, &p->a, err)) != SL_OK ||
        (rc = check_date(r, &p->a, p->amzdate, &t, err)) != SL_OK ||
        (rc = check_scope(v, &p->a, err)) != SL_OK || (rc = check_signed(r, &p->a, err)) != SL_OK)
        return rc;
    p->secret = v->secret(v->arg, p->a.akid);
    if (!p->secret)
        return fail(err, SL_EINVAL, E_UNRECOGNIZED, 400,
                    "The security token included in the request is invalid.");
    if (strlen(p->secret) > MAX_SECRET)
        return fail(err, SL_EINVAL, E_INTERNAL, 500, "The secret for this key is too long.");
    if ((rc = check_skew(p->amzdate, t, now_epoch_s, err)) != SL_OK)
        return rc;
    return check_claim(v, r, &p->claim, &p->claim_len, err);
}

int sl_aws_sigv4_precheck(const struct sl_sigv4_verifier *v, const struct sl_sigv4_request *r,
                      int64_t now_epoch_s, struct sl_sigv4_error *err)
{
    struct pre p;
    int rc = precheck(v, r, now_epoch_s, &p, err);

    OPENSSL_cleanse(&p, sizeof(p));
    return rc;
}

int sl_aws_sigv4_verify(const struct sl_sigv4_verifier *v, const struct sl_sigv4_request *r,
                    int64_t now_epoch_s, struct sl_sigv4_error *err)
{
    struct pre p;
    char payload[SL_SIGV4_HASH_HEX_LEN + 1];
    int rc;

    if ((rc = precheck(v, r, now_epoch_s, &p, err)) == SL_OK &&
        (rc = payload_hash(r, p.claim, p.claim_len, payload, err)) == SL_OK)
        rc = check_signature(r, &p.a, p.amzdate, payload, p.secret, err);
    OPENSSL_cleanse(&p, sizeof(p));
    return rc;
}

/* ---- sign --------------------------------------------------------------- */

static int signer_ok(const struct sl_sigv4_signer *s)
{
    return s && s->access_key_id && s->secret && s->region && s->service &&
           akid_ok(s->access_key_id, strlen(s->access_key_id)) &&
           strlen(s->secret) <= MAX_SECRET && scope_part_ok(s->region, strlen(s->region)) &&
           scope_part_ok(s->service, strlen(s->service));
}

/* The caller's headers: token names, Host among them, none of the ones
 * sl_aws_sigv4_sign() adds itself. */
static int sign_headers_ok(const struct sl_sigv4_request *r, int add_sha)
{
    int host = 0;

    for (size_t i = 0; i < r->nheaders; i++) {
        const char *name = r->headers[i].name;

        if (!token_ok(name, strlen(name)) || name_eq(name, "authorization", 13) ||
            name_eq(name, "x-amz-date", 10) ||
            (add_sha && name_eq(name, "x-amz-content-sha256", 20)))
            return 0;
        host |= name_eq(name, "host", 4);
    }
    return host;
}

/* <given> (a token of at most 64 bytes) or the hex SHA-256 of <r>'s body. */
static int set_payload(const struct sl_sigv4_request *r, const char *given,
                       char out[SL_SIGV4_HASH_HEX_LEN + 1])
{
    size_t n;

    if (!given)
        return sha256_hex(r->body, r->body_len, out);
    n = strlen(given);
    if (n > SL_SIGV4_HASH_HEX_LEN || !token_ok(given, n))
        return SL_EINVAL;
    memcpy(out, given, n + 1);
    return SL_OK;
}

struct hname {
    const char *p;
    size_t len;
};

static int hname_cmp(const void *a, const void *b)
{
    const struct hname *x = a, *y = b;
    size_t m = x->len < y->len ? x->len : y->len;

    for (size_t i = 0; i < m; i++) {
        unsigned char cx = to_lower((unsigned char)x->p[i]), cy = to_lower((unsigned char)y->p[i]);

        if (cx != cy)
            return cx < cy ? -1 : 1;
    }
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Writes the SignedHeaders list of <h> to <list>: lower case, sorted,
 * unique, ';'-joined, NUL-terminated. */
static int build_signed_list(const struct sl_sigv4_header *h, size_t n, struct sl_buf *list)
{
    struct hname *names = calloc(n ? n : 1, sizeof(*names));
    int rc = SL_OK;

    if (!names)
        return SL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        names[i].p = h[i].name;
        names[i].len = strlen(h[i].name);
    }
    qsort(names, n, sizeof(*names), hname_cmp);
    for (size_t i = 0; i < n && rc == SL_OK; i++) {
        if (i > 0 && hname_cmp(&names[i - 1], &names[i]) == 0)
            continue;
        if (list->len > 0)
            rc = sl_buf_append(list, ";", 1);
        if (rc == SL_OK)
            rc = append_lower(list, names[i].p, names[i].len);
    }
    if (rc == SL_OK)
        rc = sl_buf_append(list, "", 1);
    free(names);
    return rc;
}

int sl_aws_sigv4_sign(const struct sl_sigv4_signer *s, const struct sl_sigv4_request *r,
                  const char *payload_hash, int64_t now_epoch_s, struct sl_sigv4_signed *out)
{
    struct sl_sigv4_request all = { 0 };
    struct sl_sigv4_header *hdrs = NULL;
    struct sl_buf list, creq;
    uint8_t sig[SHA256_LEN];
    char sighex[SL_SIGV4_HASH_HEX_LEN + 1];
    int rc = SL_EINVAL, n;

    sl_buf_init(&list, SL_SIGV4_AUTHZ_MAX);
    sl_buf_init(&creq, SL_SIGV4_CREQ_MAX);
    memset(out, 0, sizeof(*out));
    if (!signer_ok(s) || !request_ok(r) || !sign_headers_ok(r, s->content_sha256_header))
        goto out;
    if ((rc = fmt_amzdate(now_epoch_s, out->amz_date)) != SL_OK ||
        (rc = set_payload(r, payload_hash, out->content_sha256)) != SL_OK)
        goto out;
    rc = SL_ENOMEM;
    if (!(hdrs = calloc(r->nheaders + 2, sizeof(*hdrs))))
        goto out;
    memcpy(hdrs, r->headers, r->nheaders * sizeof(*hdrs));
    all = *r;
    all.headers = hdrs;
    hdrs[all.nheaders++] = (struct sl_sigv4_header){ "x-amz-date", out->amz_date };
    if (s->content_sha256_header)
        hdrs[all.nheaders++] =
            (struct sl_sigv4_header){ "x-amz-content-sha256", out->content_sha256 };
    if ((rc = build_signed_list(hdrs, all.nheaders, &list)) != SL_OK ||
        (rc = sl__aws_sigv4_canonical_request(&all, (const char *)list.data, out->content_sha256,
                                          &creq)) != SL_OK ||
        (rc = signature_of(&creq, out->amz_date, s->region, s->service, s->secret, sig)) != SL_OK)
        goto out;
    hex_encode(sig, SHA256_LEN, sighex);
    n = snprintf(out->authorization, sizeof(out->authorization),
                 ALGO " Credential=%s/%.8s/%s/%s/" TERMINATOR ", SignedHeaders=%s, Signature=%s",
                 s->access_key_id, out->amz_date, s->region, s->service,
                 (const char *)list.data, sighex);
    rc = (n < 0 || (size_t)n >= sizeof(out->authorization)) ? SL_ETOOBIG : SL_OK;
out:
    if (rc != SL_OK)
        memset(out, 0, sizeof(*out));
    free(hdrs);
    sl_buf_destroy(&list);
    sl_buf_destroy(&creq);
    return rc;
}
