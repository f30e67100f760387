/*
 * test_aws_sigv4.c - SigV4 against AWS's published vectors, then sign ->
 * verify round trips for a Firehose-style request and every rejection.
 *
 * Vectors: AWS's "Signature Version 4 Test Suite" (aws-sig-v4-test-suite,
 * formerly docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html):
 * AKIDEXAMPLE, us-east-1, service "service", 20150830T123600Z. Plus the
 * IAM ListUsers example from the SigV4 docs. Only inputs and published
 * outputs are copied, as data.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_sigv4.h"
#include "buf.h"
#include "sluice/err.h"
#include "suites.h"

#define AKID    "AKIDEXAMPLE"
#define SECRET  "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define T_SUITE 1440938160LL  /* 2015-08-30T12:36:00Z */
#define D_SUITE "20150830T123600Z"
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define FORM_SHA  "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
#define HOST    { "Host", "example.amazonaws.com" }
#define AUTHZ(signed, sig) "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/" \
    "service/aws4_request, SignedHeaders=" signed ", Signature=" sig
#define STS_TOKEN "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHG" \
    "BuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8ph" \
    "UZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7" \
    "ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
#define MISMATCH "The request signature we calculated does not match the signature you " \
    "provided. Check your AWS Secret Access Key and signing method."

struct vec {
    const char *name;
    const char *method, *path, *query;
    struct sl_sigv4_header h[5];  /* without X-Amz-Date; ends at name NULL */
    struct sl_sigv4_header unsigned_h; /* sent but not signed (verify only) */
    const char *body;
    const char *service;          /* NULL: "service" */
    const char *creq;             /* the suite's canonical request, or NULL */
    const char *authz;
};

static const struct vec vecs[] = {
    { "get-vanilla", "GET", "/", "", { HOST }, { 0 }, "", NULL,
      "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:" D_SUITE "\n\nhost;x-amz-date\n" EMPTY_SHA,
      AUTHZ("host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31") },
    { "get-vanilla-empty-query-key", "GET", "/", "Param1=value1", { HOST }, { 0 }, "", NULL, NULL,
      AUTHZ("host;x-amz-date", "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb") },
    { "get-vanilla-query-order-key", "GET", "/", "Param1=value2&Param1=Value1", { HOST }, { 0 }, "",
      NULL, "GET\n/\nParam1=Value1&Param1=value2\nhost:example.amazonaws.com\nx-amz-date:" D_SUITE
      "\n\nhost;x-amz-date\n" EMPTY_SHA,
      AUTHZ("host;x-amz-date", "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1") },
    { "get-vanilla-query-order-key-case", "GET", "/", "Param2=value2&Param1=value1", { HOST }, { 0 },
      "", NULL, NULL,
      AUTHZ("host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500") },
    { "get-vanilla-query-order-value", "GET", "/", "Param1=value2&Param1=value1", { HOST }, { 0 }, "",
      NULL, NULL,
      AUTHZ("host;x-amz-date", "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694") },
    { "get-vanilla-query-unreserved", "GET", "/",
      "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
      "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", { HOST }, { 0 }, "", NULL,
      NULL, AUTHZ("host;x-amz-date", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197") },
    { "get-vanilla-utf8-query", "GET", "/", "\xe1\x88\xb4=bar", { HOST }, { 0 }, "", NULL,
      "GET\n/\n%E1%88%B4=bar\nhost:example.amazonaws.com\nx-amz-date:" D_SUITE
      "\n\nhost;x-amz-date\n" EMPTY_SHA,
      AUTHZ("host;x-amz-date", "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04") },
    { "get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
      "", { HOST }, { 0 }, "", NULL, NULL,
      AUTHZ("host;x-amz-date", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f") },
    { "get-header-key-duplicate", "GET", "/", "",
      { HOST, { "My-Header1", "value2" }, { "My-Header1", "value2" }, { "My-Header1", "value1" } },
      { 0 }, "", NULL,
      "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\nx-amz-date:" D_SUITE
      "\n\nhost;my-header1;x-amz-date\n" EMPTY_SHA,
      AUTHZ("host;my-header1;x-amz-date",
            "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea") },
    { "get-header-value-order", "GET", "/", "",
      { HOST, { "My-Header1", "value4" }, { "My-Header1", "value1" }, { "My-Header1", "value3" },
        { "My-Header1", "value2" } }, { 0 }, "", NULL,
      "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value4,value1,value3,value2\nx-amz-date:"
      D_SUITE "\n\nhost;my-header1;x-amz-date\n" EMPTY_SHA,
      AUTHZ("host;my-header1;x-amz-date",
            "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01") },
    { "get-header-value-trim", "GET", "/", "",
      { HOST, { "My-Header1", " value1" }, { "My-Header2", " \"a   b   c\" " } }, { 0 }, "", NULL,
      "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\nx-amz-date:"
      D_SUITE "\n\nhost;my-header1;my-header2;x-amz-date\n" EMPTY_SHA,
      AUTHZ("host;my-header1;my-header2;x-amz-date",
            "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736") },
    { "post-vanilla", "POST", "/", "", { HOST }, { 0 }, "", NULL, NULL,
      AUTHZ("host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b") },
    { "post-vanilla-query", "POST", "/", "Param1=value1", { HOST }, { 0 }, "", NULL, NULL,
      AUTHZ("host;x-amz-date", "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11") },
    { "post-header-key-sort", "POST", "/", "", { HOST, { "My-Header1", "value1" } }, { 0 }, "", NULL,
      NULL, AUTHZ("host;my-header1;x-amz-date",
                  "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c") },
    { "post-header-value-case", "POST", "/", "", { HOST, { "My-Header1", "VALUE1" } }, { 0 }, "",
      NULL, NULL, AUTHZ("host;my-header1;x-amz-date",
                        "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d") },
    /* The suite's .req has no Content-Length; its .authz signs content-type;host;x-amz-date. */
    { "post-x-www-form-urlencoded", "POST", "/", "",
      { { "Content-Type", "application/x-www-form-urlencoded" }, HOST }, { 0 }, "Param1=value1",
      NULL, "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\n"
      "x-amz-date:" D_SUITE "\n\ncontent-type;host;x-amz-date\n" FORM_SHA,
      AUTHZ("content-type;host;x-amz-date",
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a") },
    { "post-x-www-form-urlencoded-parameters", "POST", "/", "",
      { { "Content-Type", "application/x-www-form-urlencoded; charset=utf8" }, HOST }, { 0 },
      "Param1=value1", NULL, NULL,
      AUTHZ("content-type;host;x-amz-date",
            "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe") },
    { "post-sts-header-before", "POST", "/", "", { HOST, { "X-Amz-Security-Token", STS_TOKEN } },
      { 0 }, "", NULL, NULL,
      AUTHZ("host;x-amz-date;x-amz-security-token",
            "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead") },
    { "post-sts-header-after", "POST", "/", "", { HOST }, { "X-Amz-Security-Token", STS_TOKEN }, "",
      NULL, NULL,
      AUTHZ("host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b") },
    { "get-space", "GET", "/example space/", "", { HOST }, { 0 }, "", NULL,
      "GET\n/example%20space/\n\nhost:example.amazonaws.com\nx-amz-date:" D_SUITE
      "\n\nhost;x-amz-date\n" EMPTY_SHA,
      AUTHZ("host;x-amz-date", "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741") },
    { "get-relative", "GET", "/example/..", "", { HOST }, { 0 }, "", NULL, NULL,
      AUTHZ("host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31") },
    { "get-relative-relative", "GET", "/example1/example2/../..", "", { HOST }, { 0 }, "", NULL, NULL,
      AUTHZ("host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31") },
    { "get-slash", "GET", "//", "", { HOST }, { 0 }, "", NULL, NULL,
      AUTHZ("host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31") },
    { "get-slash-dot-slash", "GET", "/./", "", { HOST }, { 0 }, "", NULL, NULL,
      AUTHZ("host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31") },
    { "get-slash-pointless-dot", "GET", "/./example", "", { HOST }, { 0 }, "", NULL, NULL,
      AUTHZ("host;x-amz-date", "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5") },
    { "get-slashes", "GET", "//example//", "", { HOST }, { 0 }, "", NULL,
      "GET\n/example/\n\nhost:example.amazonaws.com\nx-amz-date:" D_SUITE
      "\n\nhost;x-amz-date\n" EMPTY_SHA,
      AUTHZ("host;x-amz-date", "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84") },
    /* docs.aws.amazon.com, "Create a signed AWS API request" (IAM ListUsers). */
    { "iam-list-users", "GET", "/", "Action=ListUsers&Version=2010-05-08",
      { { "Content-Type", "application/x-www-form-urlencoded; charset=utf-8" },
        { "Host", "iam.amazonaws.com" } }, { 0 }, "", "iam",
      "GET\n/\nAction=ListUsers&Version=2010-05-08\ncontent-type:application/x-www-form-urlencoded; "
      "charset=utf-8\nhost:iam.amazonaws.com\nx-amz-date:" D_SUITE
      "\n\ncontent-type;host;x-amz-date\n" EMPTY_SHA,
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
      "SignedHeaders=content-type;host;x-amz-date, "
      "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7" },
};
#define NVECS (sizeof(vecs) / sizeof(vecs[0]))

/* ---- fixtures ------------------------------------------------------------ */

/* A request under test: the vector's headers plus room for more. */
struct req {
    struct sl_sigv4_header h[16];
    struct sl_sigv4_request r;
};

static void req_from_vec(struct req *q, const struct vec *v)
{
    memset(q, 0, sizeof(*q));
    for (size_t i = 0; i < 5 && v->h[i].name; i++)
        q->h[q->r.nheaders++] = v->h[i];
    q->r.method = v->method;
    q->r.path = v->path;
    q->r.query = v->query;
    q->r.headers = q->h;
    q->r.body = v->body;
    q->r.body_len = strlen(v->body);
}

static void req_add(struct req *q, const char *name, const char *value)
{
    ck_assert_uint_lt(q->r.nheaders, sizeof(q->h) / sizeof(q->h[0]));
    q->h[q->r.nheaders++] = (struct sl_sigv4_header){ name, value };
}

/* Secret lookup over a NULL-terminated { akid, secret } table. */
struct keyring {
    const char *const (*keys)[2];
    int calls;
    char last[160];
};

static const char *const suite_keys[][2] = { { AKID, SECRET }, { "AKIAFIREHOSE", "fh/secret+key" },
                                             { NULL, NULL } };

static const char *lookup(void *arg, const char *akid)
{
    struct keyring *k = arg;

    k->calls++;
    snprintf(k->last, sizeof(k->last), "%s", akid);
    for (size_t i = 0; k->keys[i][0]; i++)
        if (strcmp(k->keys[i][0], akid) == 0)
            return k->keys[i][1];
    return NULL;
}

static struct keyring ring;
static struct sl_sigv4_verifier verifier;

static void setup(void)
{
    memset(&ring, 0, sizeof(ring));
    ring.keys = suite_keys;
    verifier = (struct sl_sigv4_verifier){ .secret = lookup, .arg = &ring };
}

/* The SignedHeaders=... part of an Authorization value, into <out>. */
static void signed_part(const char *authz, char *out, size_t cap)
{
    const char *p = strstr(authz, "SignedHeaders="), *e;

    ck_assert_ptr_nonnull(p);
    p += strlen("SignedHeaders=");
    e = strchr(p, ',');
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_lt((size_t)(e - p), cap);
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
}

/* ---- the published vectors ---------------------------------------------- */

START_TEST(test_sigv4_vector_canonical_request_matches_suite)
{
    const struct vec *v = &vecs[_i];
    struct req q;
    struct sl_buf b;
    char list[256], sha[80];

    if (!v->creq)
        return;
    req_from_vec(&q, v);
    req_add(&q, "X-Amz-Date", D_SUITE);
    signed_part(v->authz, list, sizeof(list));
    snprintf(sha, sizeof(sha), "%s", strrchr(v->creq, '\n') + 1);
    sl_buf_init(&b, SL_SIGV4_CREQ_MAX);
    ck_assert_int_eq(sl__aws_sigv4_canonical_request(&q.r, list, sha, &b), SL_OK);
    ck_assert_int_eq(sl_buf_append(&b, "", 1), SL_OK);
    ck_assert_msg(strcmp((char *)b.data, v->creq) == 0, "%s:\n%s\nwant\n%s", v->name,
                  (char *)b.data, v->creq);
    sl_buf_destroy(&b);
}
END_TEST

START_TEST(test_sigv4_vector_sign_matches_suite)
{
    const struct vec *v = &vecs[_i];
    struct sl_sigv4_signer s = { AKID, SECRET, "us-east-1", v->service ? v->service : "service", 0 };
    struct sl_sigv4_signed out;
    struct req q;

    if (v->unsigned_h.name)
        return;
    req_from_vec(&q, v);
    ck_assert_int_eq(sl_aws_sigv4_sign(&s, &q.r, NULL, T_SUITE, &out), SL_OK);
    ck_assert_str_eq(out.amz_date, D_SUITE);
    ck_assert_msg(strcmp(out.authorization, v->authz) == 0, "%s:\n%s\nwant\n%s", v->name,
                  out.authorization, v->authz);
}
END_TEST

START_TEST(test_sigv4_vector_verify_accepts_suite)
{
    const struct vec *v = &vecs[_i];
    struct sl_sigv4_error err;
    struct req q;

    req_from_vec(&q, v);
    if (v->unsigned_h.name)
        req_add(&q, v->unsigned_h.name, v->unsigned_h.value);
    req_add(&q, "X-Amz-Date", D_SUITE);
    req_add(&q, "Authorization", v->authz);
    ck_assert_msg(sl_aws_sigv4_verify(&verifier, &q.r, T_SUITE, &err) == SL_OK, "%s: %s: %s", v->name,
                  err.code, err.message);
    ck_assert_ptr_null(err.code);
    ck_assert_str_eq(ring.last, AKID);
}
END_TEST

START_TEST(test_sigv4_vector_verify_rejects_one_flipped_signature_digit)
{
    const struct vec *v = &vecs[_i];
    struct sl_sigv4_error err;
    char authz[512];
    struct req q;
    size_t n;

    snprintf(authz, sizeof(authz), "%s", v->authz);
    n = strlen(authz) - 1 - _i % 64;  /* a different digit for each vector */
    authz[n] = authz[n] == '0' ? '1' : '0';
    req_from_vec(&q, v);
    req_add(&q, "X-Amz-Date", D_SUITE);
    req_add(&q, "Authorization", authz);
    ck_assert_int_eq(sl_aws_sigv4_verify(&verifier, &q.r, T_SUITE, &err), SL_EINVAL);
    ck_assert_str_eq(err.code, "InvalidSignatureException");
    ck_assert_str_eq(err.message, MISMATCH);
    ck_assert_int_eq(err.http_status, 400);
}
END_TEST

/* ---- Firehose round trips ------------------------------------------------ */

#define T_NOW  1715089329LL  /* 2024-05-07T13:42:09Z */
#define FH_BODY "{\"DeliveryStreamName\":\"s\"}"

/* A Firehose PutRecord-style POST, signed at <t> as AKIAFIREHOSE, ready to verify. */
struct fh {
    char body[64];
    struct sl_sigv4_signed sig;
    struct req q;
};

static void fh_sign(struct fh *f, int64_t t, const char *payload_hash, int sha_header)
{
    struct sl_sigv4_signer s = { "AKIAFIREHOSE", "fh/secret+key", "us-east-1", "firehose", sha_header };

    memset(f, 0, sizeof(*f));
    snprintf(f->body, sizeof(f->body), "%s", FH_BODY);
    f->q.r = (struct sl_sigv4_request){ "POST", "/", "", f->q.h, 0, f->body, strlen(f->body), 0 };
    req_add(&f->q, "Host", "firehose.us-east-1.amazonaws.com");
    req_add(&f->q, "Content-Type", "application/x-amz-json-1.1");
    req_add(&f->q, "X-Amz-Target", "Firehose_20150804.DescribeDeliveryStream");
    ck_assert_int_eq(sl_aws_sigv4_sign(&s, &f->q.r, payload_hash, t, &f->sig), SL_OK);
    req_add(&f->q, "X-Amz-Date", f->sig.amz_date);
    if (sha_header)
        req_add(&f->q, "X-Amz-Content-Sha256", f->sig.content_sha256);
    req_add(&f->q, "Authorization", f->sig.authorization);
}

/* Replaces the value of <f>'s header <name> (exact case as added). */
static void fh_set(struct fh *f, const char *name, const char *value)
{
    for (size_t i = 0; i < f->q.r.nheaders; i++) {
        if (strcmp(f->q.h[i].name, name) == 0) {
            f->q.h[i].value = value;
            return;
        }
    }
    ck_abort_msg("no header %s", name);
}

static void expect(const struct fh *f, int64_t now, int rc, const char *code, int status)
{
    struct sl_sigv4_error err;
    int got = sl_aws_sigv4_verify(&verifier, &f->q.r, now, &err);

    ck_assert_msg(got == rc, "rc %d (%s: %s), want %d", got, err.code ? err.code : "-",
                  err.message, rc);
    if (code) {
        ck_assert_str_eq(err.code, code);
        ck_assert_int_eq(err.http_status, status);
    } else {
        ck_assert_ptr_null(err.code);
    }
}

START_TEST(test_sigv4_firehose_signed_request_verifies)
{
    struct fh f;

    fh_sign(&f, T_NOW, NULL, 0);
    ck_assert_str_eq(f.sig.amz_date, "20240507T134209Z");
    ck_assert_msg(strncmp(f.sig.authorization, "AWS4-HMAC-SHA256 Credential=AKIAFIREHOSE/20240507/"
                          "us-east-1/firehose/aws4_request, SignedHeaders=content-type;host;"
                          "x-amz-date;x-amz-target, Signature=", 136) == 0, "%s", f.sig.authorization);
    verifier.service = "firehose";
    verifier.region = "us-east-1";
    expect(&f, T_NOW, SL_OK, NULL, 0);
    ck_assert_int_eq(ring.calls, 1);
    ck_assert_str_eq(ring.last, "AKIAFIREHOSE");
}
END_TEST

START_TEST(test_sigv4_header_names_match_in_any_case)
{
    struct fh f;

    fh_sign(&f, T_NOW, NULL, 0);
    f.q.h[0].name = "HOST";
    f.q.h[1].name = "content-type";
    f.q.h[3].name = "x-amz-date";
    f.q.h[4].name = "AUTHORIZATION";
    expect(&f, T_NOW, SL_OK, NULL, 0);
}
END_TEST

START_TEST(test_sigv4_flipped_body_byte_is_invalid_signature)
{
    struct sl_sigv4_error err;
    struct fh f;

    fh_sign(&f, T_NOW, NULL, 0);
    f.body[5] ^= 0x20;
    ck_assert_int_eq(sl_aws_sigv4_verify(&verifier, &f.q.r, T_NOW, &err), SL_EINVAL);
    ck_assert_str_eq(err.code, "InvalidSignatureException");
    ck_assert_str_eq(err.message, MISMATCH);
}
END_TEST

START_TEST(test_sigv4_changed_signed_header_is_invalid_signature)
{
    struct fh f;

    fh_sign(&f, T_NOW, NULL, 0);
    fh_set(&f, "X-Amz-Target", "Firehose_20150804.DeleteDeliveryStream");
    expect(&f, T_NOW, SL_EINVAL, "InvalidSignatureException", 400);
}
END_TEST

START_TEST(test_sigv4_unknown_key_is_unrecognized_client)
{
    struct sl_sigv4_error err;
    static const char *const no_keys[][2] = { { AKID, SECRET }, { NULL, NULL } };
    struct fh f;

    fh_sign(&f, T_NOW, NULL, 0);
    ring.keys = no_keys;
    ck_assert_int_eq(sl_aws_sigv4_verify(&verifier, &f.q.r, T_NOW, &err), SL_EINVAL);
    ck_assert_str_eq(err.code, "UnrecognizedClientException");
    ck_assert_str_eq(err.message, "The security token included in the request is invalid.");
    ck_assert_int_eq(err.http_status, 400);
    ck_assert_str_eq(ring.last, "AKIAFIREHOSE");
}
END_TEST

START_TEST(test_sigv4_wrong_secret_is_invalid_signature)
{
    static const char *const other[][2] = { { "AKIAFIREHOSE", "fh/secret+kez" }, { NULL, NULL } };
    struct fh f;

    fh_sign(&f, T_NOW, NULL, 0);
    ring.keys = other;
    expect(&f, T_NOW, SL_EINVAL, "InvalidSignatureException", 400);
}
END_TEST

START_TEST(test_sigv4_no_authorization_is_missing_token)
{
    struct sl_sigv4_error err;
    struct fh f;

    fh_sign(&f, T_NOW, NULL, 0);
    f.q.r.nheaders--;  /* Authorization is last */
    ck_assert_int_eq(sl_aws_sigv4_verify(&verifier, &f.q.r, T_NOW, &err), SL_EINVAL);
    ck_assert_str_eq(err.code, "MissingAuthenticationTokenException");
    ck_assert_str_eq(err.message, "Missing Authentication Token");
    ck_assert_int_eq(err.http_status, 403);
    ck_assert_int_eq(ring.calls, 0);
}
END_TEST

#define GOOD_CRED "Credential=AKIAFIREHOSE/20240507/us-east-1/firehose/aws4_request"
#define GOOD_SH   "SignedHeaders=content-type;host;x-amz-date;x-amz-target"
#define GOOD_SIG  "Signature=0000000000000000000000000000000000000000000000000000000000000000"

static const struct { const char *authz; const char *msg; } garbled[] = {
    { "", "Unsupported AWS 'algorithm'" },
    { "Bearer abc", "Unsupported AWS 'algorithm'" },
    { "AWS4-HMAC-SHA512 " GOOD_CRED ", " GOOD_SH ", " GOOD_SIG, "Unsupported AWS 'algorithm'" },
    { "AWS4-HMAC-SHA256", "Authorization header requires 'Credential' parameter. Authorization "
      "header requires 'SignedHeaders' parameter. Authorization header requires 'Signature' "
      "parameter." },
    { "AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_SH, "Authorization header requires 'Signature' "
      "parameter." },
    { "AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_SIG, "Authorization header requires 'SignedHeaders'" },
    { "AWS4-HMAC-SHA256 garbage", "not a key=value pair" },
    { "AWS4-HMAC-SHA256 Credential=AKIAFIREHOSE/20240507/us-east-1/firehose, " GOOD_SH ", " GOOD_SIG,
      "Credential is malformed" },
    { "AWS4-HMAC-SHA256 Credential=AKIAFIREHOSE/2024057/us-east-1/firehose/aws4_request, " GOOD_SH
      ", " GOOD_SIG, "Credential is malformed" },
    { "AWS4-HMAC-SHA256 Credential=AKIAFIREHOSE/20240507/us-east-1/firehose/aws4_request/x, "
      GOOD_SH ", " GOOD_SIG, "Credential is malformed" },
    { "AWS4-HMAC-SHA256 Credential=/20240507/us-east-1/firehose/aws4_request, " GOOD_SH ", "
      GOOD_SIG, "Credential is malformed" },
    { "AWS4-HMAC-SHA256 Credential=AKIAFIREHOSE/20240507/US-EAST-1/firehose/aws4_request, " GOOD_SH
      ", " GOOD_SIG, "Credential is malformed" },
    { "AWS4-HMAC-SHA256 Credential=AKIAFIREHOSE/20240507/us-east-1/firehose/aws5_request, " GOOD_SH
      ", " GOOD_SIG, "valid terminator" },
    { "AWS4-HMAC-SHA256 " GOOD_CRED ", SignedHeaders=Host;x-amz-date, " GOOD_SIG, "SignedHeaders must" },
    { "AWS4-HMAC-SHA256 " GOOD_CRED ", SignedHeaders=x-amz-date;host, " GOOD_SIG, "SignedHeaders must" },
    { "AWS4-HMAC-SHA256 " GOOD_CRED ", SignedHeaders=host;host;x-amz-date, " GOOD_SIG,
      "SignedHeaders must" },
    { "AWS4-HMAC-SHA256 " GOOD_CRED ", SignedHeaders=host;;x-amz-date, " GOOD_SIG, "SignedHeaders must" },
    { "AWS4-HMAC-SHA256 " GOOD_CRED ", SignedHeaders=, " GOOD_SIG, "SignedHeaders must" },
    { "AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_SH ", Signature=abc", "64 hexadecimal" },
    { "AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_SH ", Signature=" \
      "000000000000000000000000000000000000000000000000000000000000000g", "64 hexadecimal" },
    { "AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_SH ", " GOOD_SIG ", Extra=1", "unknown part" },
    { "AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_CRED ", " GOOD_SH ", " GOOD_SIG, "repeats 'Credential'" },
    { "AWS4-HMAC-SHA256 " GOOD_CRED ", SignedHeaders=content-type;x-amz-date, " GOOD_SIG,
      "'Host' must be a 'SignedHeader'" },
    { "AWS4-HMAC-SHA256 " GOOD_CRED ", SignedHeaders=content-type;host, " GOOD_SIG,
      "'X-Amz-Date' must be a 'SignedHeader'" },
    { "AWS4-HMAC-SHA256 " GOOD_CRED ", SignedHeaders=host;x-amz-date;x-not-sent, " GOOD_SIG,
      "Signed header 'x-not-sent' is not in the request." },
};

START_TEST(test_sigv4_garbled_authorization_is_incomplete_signature)
{
    struct sl_sigv4_error err;
    struct fh f;

    fh_sign(&f, T_NOW, NULL, 0);
    fh_set(&f, "Authorization", garbled[_i].authz);
    ck_assert_int_eq(sl_aws_sigv4_verify(&verifier, &f.q.r, T_NOW, &err), SL_EINVAL);
    ck_assert_msg(strcmp(err.code, "IncompleteSignatureException") == 0, "'%s': %s",
                  garbled[_i].authz, err.code);
    ck_assert_int_eq(err.http_status, 400);
    ck_assert_msg(strstr(err.message, garbled[_i].msg) != NULL, "'%s': message '%s' lacks '%s'",
                  garbled[_i].authz, err.message, garbled[_i].msg);
    ck_assert_int_eq(ring.calls, 0);
}
END_TEST

START_TEST(test_sigv4_parts_in_any_order_and_spacing_verify)
{
    char authz[512], sig[80];
    struct fh f;

    fh_sign(&f, T_NOW, NULL, 0);
    snprintf(sig, sizeof(sig), "%s", strstr(f.sig.authorization, "Signature="));
    snprintf(authz, sizeof(authz), "AWS4-HMAC-SHA256  %s,%s ,  " GOOD_CRED, sig, GOOD_SH);
    fh_set(&f, "Authorization", authz);
    expect(&f, T_NOW, SL_OK, NULL, 0);
}
END_TEST

START_TEST(test_sigv4_missing_or_bad_x_amz_date_is_incomplete)
{
    struct fh f;

    fh_sign(&f, T_NOW, NULL, 0);
    fh_set(&f, "X-Amz-Date", "2024-05-07T13:42:09Z");
    expect(&f, T_NOW, SL_EINVAL, "IncompleteSignatureException", 400);
    fh_set(&f, "X-Amz-Date", "20240230T134209Z");  /* no 30 February */
    expect(&f, T_NOW, SL_EINVAL, "IncompleteSignatureException", 400);
    f.q.h[3].name = "X-Not-Date";
    expect(&f, T_NOW, SL_EINVAL, "IncompleteSignatureException", 400);
}
END_TEST

START_TEST(test_sigv4_ten_minutes_off_is_expired)
{
    struct sl_sigv4_error err;
    struct fh f;

    fh_sign(&f, T_NOW, NULL, 0);
    ck_assert_int_eq(sl_aws_sigv4_verify(&verifier, &f.q.r, T_NOW + 600, &err), SL_EINVAL);
    ck_assert_str_eq(err.code, "InvalidSignatureException");
    ck_assert_str_eq(err.message, "Signature expired: 20240507T134209Z is now earlier than "
                     "20240507T134709Z (20240507T135209Z - 5 min.)");
    ck_assert_int_eq(sl_aws_sigv4_verify(&verifier, &f.q.r, T_NOW - 600, &err), SL_EINVAL);
    ck_assert_str_eq(err.code, "InvalidSignatureException");
    ck_assert_str_eq(err.message, "Signature not yet current: 20240507T134209Z is still later "
                     "than 20240507T133709Z (20240507T133209Z + 5 min.)");
}
END_TEST

START_TEST(test_sigv4_five_minutes_off_is_still_fine)
{
    struct fh f;

    fh_sign(&f, T_NOW, NULL, 0);
    expect(&f, T_NOW + 300, SL_OK, NULL, 0);
    expect(&f, T_NOW - 300, SL_OK, NULL, 0);
    expect(&f, T_NOW + 301, SL_EINVAL, "InvalidSignatureException", 400);
    expect(&f, T_NOW - 301, SL_EINVAL, "InvalidSignatureException", 400);
}
END_TEST

START_TEST(test_sigv4_scope_date_must_equal_x_amz_date)
{
    struct sl_sigv4_error err;
    char authz[SL_SIGV4_AUTHZ_MAX], *d;
    struct fh f;

    fh_sign(&f, T_NOW, NULL, 0);
    snprintf(authz, sizeof(authz), "%s", f.sig.authorization);
    d = strstr(authz, "/20240507/");
    ck_assert_ptr_nonnull(d);
    memcpy(d + 1, "20240508", 8);
    fh_set(&f, "Authorization", authz);
    ck_assert_int_eq(sl_aws_sigv4_verify(&verifier, &f.q.r, T_NOW, &err), SL_EINVAL);
    ck_assert_str_eq(err.code, "InvalidSignatureException");
    ck_assert_str_eq(err.message, "Date in Credential scope does not match YYYYMMDD from ISO-8601 "
                     "version of date from HTTP: '20240508' != '20240507', from '20240507T134209Z'.");
}
END_TEST

START_TEST(test_sigv4_verifier_pins_service_and_region)
{
    struct sl_sigv4_error err;
    struct fh f;

    fh_sign(&f, T_NOW, NULL, 0);
    verifier.service = "kinesis";
    ck_assert_int_eq(sl_aws_sigv4_verify(&verifier, &f.q.r, T_NOW, &err), SL_EINVAL);
    ck_assert_str_eq(err.code, "InvalidSignatureException");
    ck_assert_str_eq(err.message, "Credential should be scoped to correct service: 'kinesis'.");
    verifier.service = "firehose";
    verifier.region = "eu-west-1";
    ck_assert_int_eq(sl_aws_sigv4_verify(&verifier, &f.q.r, T_NOW, &err), SL_EINVAL);
    ck_assert_str_eq(err.code, "InvalidSignatureException");
    verifier.region = "us-east-1";
    expect(&f, T_NOW, SL_OK, NULL, 0);
}
END_TEST

START_TEST(test_sigv4_content_sha256_header_must_match_body)
{
    struct sl_sigv4_error err;
    struct fh f;

    fh_sign(&f, T_NOW, NULL, 1);
    ck_assert_str_eq(f.sig.content_sha256,
                     "d72efedebdad844fd5083dd891af234da2d1866f30b9edc869b38da4ff1a12f6");
    ck_assert_ptr_nonnull(strstr(f.sig.authorization, "x-amz-content-sha256;x-amz-date;"));
    expect(&f, T_NOW, SL_OK, NULL, 0);
    f.body[5] ^= 0x20;
    ck_assert_int_eq(sl_aws_sigv4_verify(&verifier, &f.q.r, T_NOW, &err), SL_EINVAL);
    ck_assert_str_eq(err.code, "InvalidSignatureException");
    ck_assert_str_eq(err.message,
                     "The provided 'x-amz-content-sha256' header does not match what was computed.");
}
END_TEST

START_TEST(test_sigv4_unsigned_payload_is_refused_unless_allowed)
{
    struct sl_sigv4_error err;
    struct fh f;

    fh_sign(&f, T_NOW, "UNSIGNED-PAYLOAD", 1);
    ck_assert_str_eq(f.sig.content_sha256, "UNSIGNED-PAYLOAD");
    ck_assert_int_eq(sl_aws_sigv4_verify(&verifier, &f.q.r, T_NOW, &err), SL_EINVAL);
    ck_assert_str_eq(err.code, "InvalidSignatureException");
    ck_assert_int_eq(err.reason, SL_AUTH_R_UNSIGNED_PAYLOAD);
    ck_assert_int_eq(sl_aws_sigv4_precheck(&verifier, &f.q.r, T_NOW, &err), SL_EINVAL);
    ck_assert_int_eq(err.reason, SL_AUTH_R_UNSIGNED_PAYLOAD);
}
END_TEST

START_TEST(test_sigv4_unsigned_payload_is_accepted_without_body_check_when_allowed)
{
    struct fh f;

    verifier.unsigned_payload = 1;
    fh_sign(&f, T_NOW, "UNSIGNED-PAYLOAD", 1);
    expect(&f, T_NOW, SL_OK, NULL, 0);
    f.body[5] ^= 0x20;
    expect(&f, T_NOW, SL_OK, NULL, 0);
    fh_set(&f, "X-Amz-Content-Sha256", EMPTY_SHA);  /* signed header changed */
    expect(&f, T_NOW, SL_EINVAL, "InvalidSignatureException", 400);
}
END_TEST

START_TEST(test_sigv4_duplicate_authorization_is_incomplete)
{
    struct fh f;

    fh_sign(&f, T_NOW, NULL, 0);
    req_add(&f.q, "authorization", f.sig.authorization);
    expect(&f, T_NOW, SL_EINVAL, "IncompleteSignatureException", 400);
}
END_TEST

START_TEST(test_sigv4_huge_signed_header_is_refused_not_truncated)
{
    struct sl_sigv4_header h[3] = { { "Host", "h" }, { "X-Big", NULL } };
    struct sl_sigv4_request r = { "POST", "/", "", h, 2, "", 0, 0 };
    struct sl_sigv4_signer s = { "AKIAFIREHOSE", "fh/secret+key", "us-east-1", "firehose", 0 };
    struct sl_sigv4_signed out;
    struct sl_sigv4_error err;
    char *big = malloc(SL_SIGV4_CREQ_MAX + 10);
    char authz[512];

    ck_assert_ptr_nonnull(big);
    memset(big, 'a', SL_SIGV4_CREQ_MAX + 9);
    big[SL_SIGV4_CREQ_MAX + 9] = '\0';
    h[1].value = big;
    ck_assert_int_eq(sl_aws_sigv4_sign(&s, &r, NULL, T_NOW, &out), SL_ETOOBIG);
    ck_assert_str_eq(out.authorization, "");
    snprintf(authz, sizeof(authz), "AWS4-HMAC-SHA256 %s, SignedHeaders=host;x-amz-date;x-big, %s",
             GOOD_CRED, GOOD_SIG);
    h[1] = (struct sl_sigv4_header){ "X-Amz-Date", "20240507T134209Z" };
    h[2] = (struct sl_sigv4_header){ "X-Big", big };
    r.nheaders = 3;
    {
        struct sl_sigv4_header hv[4] = { h[0], h[1], h[2], { "Authorization", authz } };
        r.headers = hv;
        r.nheaders = 4;
        ck_assert_int_eq(sl_aws_sigv4_verify(&verifier, &r, T_NOW, &err), SL_ETOOBIG);
        ck_assert_str_eq(err.code, "IncompleteSignatureException");
        ck_assert_int_eq(err.http_status, 400);
    }
    free(big);
}
END_TEST

START_TEST(test_sigv4_too_many_headers_are_refused)
{
    static struct sl_sigv4_header h[SL_SIGV4_MAX_HEADERS + 1];
    struct sl_sigv4_request r = { "POST", "/", "", h, SL_SIGV4_MAX_HEADERS + 1, "", 0, 0 };
    struct sl_sigv4_error err;

    for (size_t i = 0; i < SL_SIGV4_MAX_HEADERS + 1; i++)
        h[i] = (struct sl_sigv4_header){ "X-Filler", "1" };
    h[0] = (struct sl_sigv4_header){ "Host", "h" };
    ck_assert_int_eq(sl_aws_sigv4_verify(&verifier, &r, T_NOW, &err), SL_ETOOBIG);
    ck_assert_str_eq(err.code, "IncompleteSignatureException");
}
END_TEST

START_TEST(test_sigv4_sign_refuses_bad_input)
{
    struct sl_sigv4_header h[2] = { { "Host", "h" }, { "X-Amz-Date", D_SUITE } };
    struct sl_sigv4_request r = { "GET", "/", "", h, 2, "", 0, 0 };
    struct sl_sigv4_signer s = { AKID, SECRET, "us-east-1", "s3", 0 };
    struct sl_sigv4_signed out;

    ck_assert_int_eq(sl_aws_sigv4_sign(&s, &r, NULL, T_SUITE, &out), SL_EINVAL);  /* own X-Amz-Date */
    h[1].name = "Authorization";
    ck_assert_int_eq(sl_aws_sigv4_sign(&s, &r, NULL, T_SUITE, &out), SL_EINVAL);
    h[1].name = "X-Amz-Content-Sha256";
    s.content_sha256_header = 1;
    ck_assert_int_eq(sl_aws_sigv4_sign(&s, &r, NULL, T_SUITE, &out), SL_EINVAL);
    s.content_sha256_header = 0;
    ck_assert_int_eq(sl_aws_sigv4_sign(&s, &r, NULL, T_SUITE, &out), SL_OK);
    r.nheaders = 0;  /* no Host */
    ck_assert_int_eq(sl_aws_sigv4_sign(&s, &r, NULL, T_SUITE, &out), SL_EINVAL);
    r.nheaders = 1;
    h[0].name = "Bad Name";
    ck_assert_int_eq(sl_aws_sigv4_sign(&s, &r, NULL, T_SUITE, &out), SL_EINVAL);
    h[0].name = "Host";
    s.region = "us/east";
    ck_assert_int_eq(sl_aws_sigv4_sign(&s, &r, NULL, T_SUITE, &out), SL_EINVAL);
    s.region = "us-east-1";
    ck_assert_int_eq(sl_aws_sigv4_sign(&s, &r, "not a hash", T_SUITE, &out), SL_EINVAL);
    r.path = "relative";
    ck_assert_int_eq(sl_aws_sigv4_sign(&s, &r, NULL, T_SUITE, &out), SL_EINVAL);
    ck_assert_str_eq(out.authorization, "");
}
END_TEST

/* ---- canonical pieces: URI rules and query sorting ------------------------ */

static void creq_line(const char *path, const char *query, int s3, int line, const char *want)
{
    struct sl_sigv4_header h[1] = { { "Host", "h" } };
    struct sl_sigv4_request r = { "GET", path, query, h, 1, "", 0, s3 };
    struct sl_buf b;
    char *p, *e;

    sl_buf_init(&b, SL_SIGV4_CREQ_MAX);
    ck_assert_int_eq(sl__aws_sigv4_canonical_request(&r, "host", EMPTY_SHA, &b), SL_OK);
    ck_assert_int_eq(sl_buf_append(&b, "", 1), SL_OK);
    p = (char *)b.data;
    for (int i = 0; i < line; i++)
        p = strchr(p, '\n') + 1;
    e = strchr(p, '\n');
    ck_assert_ptr_nonnull(e);
    *e = '\0';
    ck_assert_msg(strcmp(p, want) == 0, "path '%s' query '%s' s3 %d: '%s', want '%s'", path,
                  query ? query : "(null)", s3, p, want);
    sl_buf_destroy(&b);
}

START_TEST(test_sigv4_non_s3_path_is_encoded_again_s3_path_once)
{
    creq_line("/a%20b/c%2Fd", "", 0, 1, "/a%2520b/c%252Fd");
    creq_line("/a%20b/c%2Fd", "", 1, 1, "/a%20b/c%2Fd");
    creq_line("/my key/\xe1\x88\xb4!", "", 1, 1, "/my%20key/%E1%88%B4%21");
    creq_line("/a%2fb", "", 1, 1, "/a%2Fb");   /* hex case normalised */
    creq_line("/a/../b//c/", "", 1, 1, "/a/../b//c/");  /* S3: not normalised */
    creq_line("/a/../b//c/", "", 0, 1, "/b/c/");
    creq_line("", "", 0, 1, "/");
    creq_line("", "", 1, 1, "/");
}
END_TEST

START_TEST(test_sigv4_query_is_reencoded_and_sorted)
{
    creq_line("/", "b=2&a=1&a=0&c", 0, 2, "a=0&a=1&b=2&c=");
    creq_line("/", "%7e=%7E&y=a%20b&x=a+b", 0, 2, "x=a%2Bb&y=a%20b&~=~");
    creq_line("/", "&&k=v&", 0, 2, "k=v");
    creq_line("/", "k=%zz&j=%4", 0, 2, "j=%254&k=%25zz");
    creq_line("/", "=&=a", 0, 2, "=&=a");
    creq_line("/", NULL, 0, 2, "");
}
END_TEST

/* Canonical query of the pairs a server such as libmicrohttpd hands over
 * decoded (NULL value: the name came without '='). */
static void query_of(const char *const pairs[][2], size_t n, const char *want)
{
    struct sl_buf q;

    sl_buf_init(&q, 4096);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(sl_aws_sigv4_query_add(&q, pairs[i][0], strlen(pairs[i][0]), pairs[i][1],
                                            pairs[i][1] ? strlen(pairs[i][1]) : 0), SL_OK);
    ck_assert_int_eq(sl_buf_append(&q, "", 1), SL_OK);
    creq_line("/", (const char *)q.data, 0, 2, want);
    sl_buf_destroy(&q);
}

START_TEST(test_sigv4_query_add_encodes_decoded_pairs)
{
    static const char *const one[][2] = { { "source", "x" } };
    static const char *const rep[][2] = { { "b", "2" }, { "a", "z" }, { "a", "y" }, { "c", NULL },
                                          { "c", "" } };
    static const char *const odd[][2] = { { "a b", "x+y/z&w=v" }, { "\xc3\xa9", "%41" },
                                          { "~-._", "~-._" } };
    struct sl_buf q;

    query_of(one, 1, "source=x");
    query_of(rep, 5, "a=y&a=z&b=2&c=&c=");     /* "c" and "c=" sign alike */
    query_of(odd, 3, "%C3%A9=%2541&a%20b=x%2By%2Fz%26w%3Dv&~-._=~-._");
    sl_buf_init(&q, 8);                          /* a pair that does not fit leaves nothing */
    ck_assert_int_eq(sl_aws_sigv4_query_add(&q, "a", 1, "b", 1), SL_OK);
    ck_assert_int_eq(sl_aws_sigv4_query_add(&q, "long", 4, "value", 5), SL_ETOOBIG);
    ck_assert_uint_eq(q.len, 3);
    sl_buf_destroy(&q);
}
END_TEST

/* ---- refusals before the body, and their reasons ------------------------ */

START_TEST(test_sigv4_precheck_passes_whatever_the_body)
{
    struct sl_sigv4_error err;
    struct fh f;

    fh_sign(&f, T_NOW, NULL, 1);
    f.q.r.body = NULL;                 /* not read yet */
    f.q.r.body_len = 0;
    ck_assert_int_eq(sl_aws_sigv4_precheck(&verifier, &f.q.r, T_NOW, &err), SL_OK);
    ck_assert_str_eq(ring.last, "AKIAFIREHOSE");
    fh_sign(&f, T_NOW, NULL, 0);
    f.body[3] ^= 1;                    /* the signature is the full check's business */
    ck_assert_int_eq(sl_aws_sigv4_precheck(&verifier, &f.q.r, T_NOW, &err), SL_OK);
    expect(&f, T_NOW, SL_EINVAL, "InvalidSignatureException", 400);
}
END_TEST

START_TEST(test_sigv4_precheck_refuses_what_the_headers_decide)
{
    static const char *const none[][2] = { { NULL, NULL } };
    struct sl_sigv4_error err;
    struct fh f;

    fh_sign(&f, T_NOW, NULL, 0);
    f.q.r.body = NULL;
    f.q.r.body_len = 0;
    ck_assert_int_eq(sl_aws_sigv4_precheck(&verifier, &f.q.r, T_NOW + 3600, &err), SL_EINVAL);
    ck_assert_int_eq(err.reason, SL_AUTH_R_STALE_DATE);
    verifier.service = "firehose";
    ck_assert_int_eq(sl_aws_sigv4_precheck(&verifier, &f.q.r, T_NOW, &err), SL_OK);
    verifier.service = "s3";
    ck_assert_int_eq(sl_aws_sigv4_precheck(&verifier, &f.q.r, T_NOW, &err), SL_EINVAL);
    ck_assert_str_eq(err.message, "Credential should be scoped to correct service: 's3'.");
    verifier.service = NULL;
    ring.keys = none;
    ck_assert_int_eq(sl_aws_sigv4_precheck(&verifier, &f.q.r, T_NOW, &err), SL_EINVAL);
    ck_assert_str_eq(err.code, "UnrecognizedClientException");
    f.q.r.nheaders--;                  /* no Authorization */
    ck_assert_int_eq(sl_aws_sigv4_precheck(&verifier, &f.q.r, T_NOW, &err), SL_EINVAL);
    ck_assert_int_eq(err.http_status, 403);
    ck_assert_str_eq(err.code, "MissingAuthenticationTokenException");
}
END_TEST

/* How each refusal is classified, and the key id it names. */
static const struct {
    const char *header, *value;        /* replaces a header of a good request; */
    const char *authz;                 /* or this Authorization (NULL: keep) */
    int64_t skew;                      /* now - signing time */
    const char *akid;                  /* the key id the error names */
    int reason;
} reasons[] = {
    { NULL, NULL, NULL, 0, "AKIAFIREHOSE", SL_AUTH_R_BAD_SIGNATURE },   /* body changed */
    { NULL, NULL, NULL, 900, "AKIAFIREHOSE", SL_AUTH_R_STALE_DATE },
    { "X-Amz-Date", "20240508T134209Z", NULL, 0, "AKIAFIREHOSE", SL_AUTH_R_WRONG_SCOPE },
    { "X-Amz-Content-Sha256", "abc", NULL, 0, "AKIAFIREHOSE", SL_AUTH_R_BAD_SIGNATURE },
    { "X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD", NULL, 0, "AKIAFIREHOSE",
      SL_AUTH_R_UNSIGNED_PAYLOAD },
    { NULL, NULL, "AWS4-HMAC-SHA256 Credential=AKIAFIREHOSE/20240507/us-east-1/s3/aws4_request, "
      "SignedHeaders=host;x-amz-date, Signature=" EMPTY_SHA, 0, "AKIAFIREHOSE",
      SL_AUTH_R_WRONG_SCOPE },
    { NULL, NULL, "AWS4-HMAC-SHA256 Credential=AKIAFIREHOSE/20240507/us-east-1/firehose/aws4_x, "
      "SignedHeaders=host;x-amz-date, Signature=" EMPTY_SHA, 0, "AKIAFIREHOSE",
      SL_AUTH_R_WRONG_SCOPE },
    { NULL, NULL, "AWS4-HMAC-SHA256 Credential=AKIDWHO/20240507/us-east-1/firehose/aws4_request, "
      "SignedHeaders=host;x-amz-date, Signature=" EMPTY_SHA, 0, "AKIDWHO",
      SL_AUTH_R_UNKNOWN_KEY },
    { NULL, NULL, "AWS4-HMAC-SHA256 Credential=AKIAFIREHOSE/2024/us-east-1/firehose/aws4_request, "
      "SignedHeaders=host;x-amz-date, Signature=" EMPTY_SHA, 0, "AKIAFIREHOSE",
      SL_AUTH_R_MALFORMED },
    { NULL, NULL, "Bearer 0123456789abcdef", 0, "", SL_AUTH_R_MALFORMED },
};

START_TEST(test_sigv4_refusal_names_its_reason_and_key)
{
    struct sl_sigv4_error err;
    struct fh f;

    verifier.service = "firehose";
    fh_sign(&f, T_NOW, NULL, 1);
    if (reasons[_i].header)
        fh_set(&f, reasons[_i].header, reasons[_i].value);
    if (reasons[_i].authz)
        fh_set(&f, "Authorization", reasons[_i].authz);
    if (!reasons[_i].header && !reasons[_i].authz && !reasons[_i].skew)
        f.body[2] ^= 1;
    ck_assert_int_eq(sl_aws_sigv4_verify(&verifier, &f.q.r, T_NOW + reasons[_i].skew, &err),
                     SL_EINVAL);
    ck_assert_msg(err.reason == reasons[_i].reason, "reason %s (%s), want %s",
                  sl_auth_reason_names[err.reason], err.message,
                  sl_auth_reason_names[reasons[_i].reason]);
    ck_assert_str_eq(err.access_key_id, reasons[_i].akid);
}
END_TEST

/*
 * A query string signed as a client sends it on the wire, verified with
 * the query rebuilt from the decoded pairs a server gets (what the HTTP
 * listener does): the same signature.
 */
START_TEST(test_sigv4_query_from_decoded_pairs_verifies)
{
    static const char *const pairs[][2] = { { "source", "web 1/2" }, { "tag", NULL },
                                            { "a", "\xc3\xa9" }, { "a", "%" } };
    struct sl_sigv4_signer s = { "AKIAFIREHOSE", "fh/secret+key", "us-east-1", "firehose", 0 };
    struct sl_sigv4_header h[3] = { { "Host", "localhost:8440" } };
    struct sl_sigv4_request r = { "POST", "/v1/streams/s/records",
                                  "source=web%201%2F2&tag&a=%C3%A9&a=%25", h, 1, "x\n", 2, 0 };
    struct sl_sigv4_signed out;
    struct sl_sigv4_error err;
    struct sl_buf q;

    ck_assert_int_eq(sl_aws_sigv4_sign(&s, &r, NULL, T_NOW, &out), SL_OK);
    h[1] = (struct sl_sigv4_header){ "X-Amz-Date", out.amz_date };
    h[2] = (struct sl_sigv4_header){ "Authorization", out.authorization };
    r.nheaders = 3;
    sl_buf_init(&q, 4096);
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(sl_aws_sigv4_query_add(&q, pairs[i][0], strlen(pairs[i][0]), pairs[i][1],
                                            pairs[i][1] ? strlen(pairs[i][1]) : 0), SL_OK);
    ck_assert_int_eq(sl_buf_append(&q, "", 1), SL_OK);
    r.query = (const char *)q.data;
    verifier.service = "firehose";
    ck_assert_msg(sl_aws_sigv4_verify(&verifier, &r, T_NOW, &err) == SL_OK, "%s", err.message);
    r.query = "";                      /* what the listener used to hand over */
    ck_assert_int_eq(sl_aws_sigv4_verify(&verifier, &r, T_NOW, &err), SL_EINVAL);
    sl_buf_destroy(&q);
}
END_TEST

/* ---- a real client's signatures ----------------------------------------- */

/*
 * Made by botocore 1.43.11 (SigV4Auth / S3SigV4Auth, AKIAFIREHOSE,
 * us-east-1) with its clock frozen at 2024-05-07T13:42:09Z: a client other
 * than ours, so a shared misreading of the spec would show up here.
 */
#define BOTO_CRED "AWS4-HMAC-SHA256 Credential=AKIAFIREHOSE/20240507/us-east-1/"

START_TEST(test_sigv4_botocore_firehose_request_verifies)
{
    static const char body[] = "{\"DeliveryStreamName\": \"s\", \"Record\": {\"Data\": \"aGk=\"}}";
    struct sl_sigv4_header h[] = {
        { "X-Amz-Target", "Firehose_20150804.PutRecord" },
        { "Content-Type", "application/x-amz-json-1.1" },
        { "Host", "localhost:4573" },
        { "X-Amz-Date", "20240507T134209Z" },
        { "Authorization", BOTO_CRED "firehose/aws4_request, SignedHeaders=content-type;host;"
          "x-amz-date;x-amz-target, Signature="
          "a2a39982d38291e1ba8f507f7e6f0f60cc26901b674b62b55db2ab510b15fbc3" },
    };
    struct sl_sigv4_request r = { "POST", "/", "", h, 5, body, sizeof(body) - 1, 0 };
    struct sl_sigv4_error err;

    verifier.service = "firehose";
    ck_assert_msg(sl_aws_sigv4_verify(&verifier, &r, T_NOW, &err) == SL_OK, "%s: %s", err.code,
                  err.message);
    r.body_len--;
    ck_assert_int_eq(sl_aws_sigv4_verify(&verifier, &r, T_NOW, &err), SL_EINVAL);
}
END_TEST

/* A non-S3 GET whose path needs the second encoding and normalising. */
START_TEST(test_sigv4_botocore_non_s3_path_and_query_match)
{
    static const char *authz = BOTO_CRED "execute-api/aws4_request, SignedHeaders=host;x-amz-date, "
        "Signature=3a76f6a6ba913e4f210e9cdc5bbbb80db390cc24344007cfb0da912a70172dd3";
    struct sl_sigv4_header h[] = { { "Host", "localhost:4573" }, { "X-Amz-Date", "20240507T134209Z" },
                                   { "Authorization", authz } };
    struct sl_sigv4_request r = { "GET", "/a%20b/c%2Fd/./e", "z=1&a=x%20y&a=b", h, 1, NULL, 0, 0 };
    struct sl_sigv4_signer s = { "AKIAFIREHOSE", "fh/secret+key", "us-east-1", "execute-api", 0 };
    struct sl_sigv4_signed out;
    struct sl_sigv4_error err;

    ck_assert_int_eq(sl_aws_sigv4_sign(&s, &r, NULL, T_NOW, &out), SL_OK);
    ck_assert_str_eq(out.authorization, authz);
    r.nheaders = 3;
    ck_assert_int_eq(sl_aws_sigv4_verify(&verifier, &r, T_NOW, &err), SL_OK);
    r.s3_uri = 1;  /* the other URI rule must not verify */
    ck_assert_int_eq(sl_aws_sigv4_verify(&verifier, &r, T_NOW, &err), SL_EINVAL);
}
END_TEST

/* An S3 PUT: key encoded once, X-Amz-Content-Sha256 signed. */
START_TEST(test_sigv4_botocore_s3_put_matches)
{
    static const char *authz = BOTO_CRED "s3/aws4_request, SignedHeaders=content-type;host;"
        "x-amz-content-sha256;x-amz-date, "
        "Signature=7adab1459dc9e0079d4c2639ae6b0d8507c192120c00a361f434dd2fea50d628";
    struct sl_sigv4_header h[] = {
        { "Content-Type", "application/octet-stream" }, { "Host", "bucket.localhost:9000" },
        { "X-Amz-Date", "20240507T134209Z" },
        { "X-Amz-Content-SHA256", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" },
        { "Authorization", authz },
    };
    struct sl_sigv4_request r = { "PUT", "/my%20key/%E1%88%B4%21x", "partNumber=1&uploadId=a%2Bb",
                                  h, 2, "hello", 5, 1 };
    struct sl_sigv4_signer s = { "AKIAFIREHOSE", "fh/secret+key", "us-east-1", "s3", 1 };
    struct sl_sigv4_signed out;
    struct sl_sigv4_error err;

    ck_assert_int_eq(sl_aws_sigv4_sign(&s, &r, NULL, T_NOW, &out), SL_OK);
    ck_assert_str_eq(out.authorization, authz);
    ck_assert_str_eq(out.content_sha256, h[3].value);
    r.nheaders = 5;
    ck_assert_int_eq(sl_aws_sigv4_verify(&verifier, &r, T_NOW, &err), SL_OK);
}
END_TEST

Suite *sl_aws_sigv4_suite(void)
{
    Suite *s = suite_create("aws_sigv4");
    TCase *tv = tcase_create("vectors");
    TCase *tr = tcase_create("roundtrip");
    TCase *tc = tcase_create("canonical");

    tcase_add_checked_fixture(tv, setup, NULL);
    tcase_add_loop_test(tv, test_sigv4_vector_canonical_request_matches_suite, 0, NVECS);
    tcase_add_loop_test(tv, test_sigv4_vector_sign_matches_suite, 0, NVECS);
    tcase_add_loop_test(tv, test_sigv4_vector_verify_accepts_suite, 0, NVECS);
    tcase_add_loop_test(tv, test_sigv4_vector_verify_rejects_one_flipped_signature_digit, 0, NVECS);
    suite_add_tcase(s, tv);

    tcase_add_checked_fixture(tr, setup, NULL);
    tcase_add_test(tr, test_sigv4_firehose_signed_request_verifies);
    tcase_add_test(tr, test_sigv4_header_names_match_in_any_case);
    tcase_add_test(tr, test_sigv4_flipped_body_byte_is_invalid_signature);
    tcase_add_test(tr, test_sigv4_changed_signed_header_is_invalid_signature);
    tcase_add_test(tr, test_sigv4_unknown_key_is_unrecognized_client);
    tcase_add_test(tr, test_sigv4_wrong_secret_is_invalid_signature);
    tcase_add_test(tr, test_sigv4_no_authorization_is_missing_token);
    tcase_add_loop_test(tr, test_sigv4_garbled_authorization_is_incomplete_signature, 0,
                        sizeof(garbled) / sizeof(garbled[0]));
    tcase_add_test(tr, test_sigv4_parts_in_any_order_and_spacing_verify);
    tcase_add_test(tr, test_sigv4_missing_or_bad_x_amz_date_is_incomplete);
    tcase_add_test(tr, test_sigv4_ten_minutes_off_is_expired);
    tcase_add_test(tr, test_sigv4_five_minutes_off_is_still_fine);
    tcase_add_test(tr, test_sigv4_scope_date_must_equal_x_amz_date);
    tcase_add_test(tr, test_sigv4_verifier_pins_service_and_region);
    tcase_add_test(tr, test_sigv4_content_sha256_header_must_match_body);
    tcase_add_test(tr, test_sigv4_unsigned_payload_is_refused_unless_allowed);
    tcase_add_test(tr, test_sigv4_unsigned_payload_is_accepted_without_body_check_when_allowed);
    tcase_add_test(tr, test_sigv4_precheck_passes_whatever_the_body);
    tcase_add_test(tr, test_sigv4_precheck_refuses_what_the_headers_decide);
    tcase_add_loop_test(tr, test_sigv4_refusal_names_its_reason_and_key, 0,
                        sizeof(reasons) / sizeof(reasons[0]));
    tcase_add_test(tr, test_sigv4_query_from_decoded_pairs_verifies);
    tcase_add_test(tr, test_sigv4_duplicate_authorization_is_incomplete);
    tcase_add_test(tr, test_sigv4_huge_signed_header_is_refused_not_truncated);
    tcase_add_test(tr, test_sigv4_too_many_headers_are_refused);
    tcase_add_test(tr, test_sigv4_sign_refuses_bad_input);
    tcase_add_test(tr, test_sigv4_botocore_firehose_request_verifies);
    tcase_add_test(tr, test_sigv4_botocore_non_s3_path_and_query_match);
    tcase_add_test(tr, test_sigv4_botocore_s3_put_matches);
    suite_add_tcase(s, tr);

    tcase_add_test(tc, test_sigv4_non_s3_path_is_encoded_again_s3_path_once);
    tcase_add_test(tc, test_sigv4_query_is_reencoded_and_sorted);
    tcase_add_test(tc, test_sigv4_query_add_encodes_decoded_pairs);
    suite_add_tcase(s, tc);
    return s;
}
