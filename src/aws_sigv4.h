/*
 * aws_sigv4.h - AWS Signature Version 4, header form ("Authorization:
 * AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...").
 *
 * Two directions over one canonical-request builder:
 * - sl_aws_sigv4_verify() checks a request to sluice's Firehose-compatible HTTP
 *   API and, on failure, says which AWS error to send back.
 * - sl_aws_sigv4_sign() produces the Authorization, X-Amz-Date and
 *   X-Amz-Content-Sha256 values for an outgoing request (the S3 client).
 *
 * Canonical URI (the part AWS's docs phrase as "encode twice, except S3"):
 * <path> is always the path as it travels on the wire, already
 * percent-encoded once by the client.
 * - s3_uri = 0 (every service but S3): the path is normalised (empty and
 *   "." segments dropped, ".." resolved, as RFC 3986 §5.2.4 plus AWS's
 *   "no double slashes") and then URI-encoded again, so "/a%20b" signs as
 *   "/a%2520b". This is what botocore and the AWS test suite do.
 * - s3_uri = 1 (S3): not normalised; each segment percent-decoded and
 *   re-encoded once, so a strictly encoded wire path is its own canonical
 *   form (botocore signs it verbatim) and "%2F" stays "%2F".
 * The query string is split on '&', each name and value percent-decoded and
 * re-encoded (RFC 3986 unreserved set; '+' is a literal plus, not a
 * space), then sorted by name, then value.
 *
 * Not supported: presigned URLs (query-string auth), the Date header
 * instead of X-Amz-Date, chunked "STREAMING-..." payloads, SigV4a.
 *
 * Threads: no state. Every call may run on any thread at the same time.
 * Memory: bounded; the canonical request is capped at SL_SIGV4_CREQ_MAX and
 * a request with more than SL_SIGV4_MAX_HEADERS headers is refused.
 */
#ifndef SL_AWS_SIGV4_H
#define SL_AWS_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"

struct sl_buf;

#define SL_SIGV4_AMZDATE_LEN  16            /* "YYYYMMDDTHHMMSSZ" */
#define SL_SIGV4_HASH_HEX_LEN 64            /* hex SHA-256 */
#define SL_SIGV4_AUTHZ_MAX    2048          /* Authorization value, with NUL */
#define SL_SIGV4_CREQ_MAX     (64 * 1024)   /* canonical request */
#define SL_SIGV4_MAX_HEADERS  256           /* headers in one request */
#define SL_SIGV4_MAX_SKEW_S   300           /* X-Amz-Date vs now, either way */

struct sl_sigv4_header {
    const char *name;                       /* any case; an RFC 7230 token */
    const char *value;                      /* raw; trimmed when canonicalised */
};

/* One HTTP request. Every pointer is borrowed for the duration of the call. */
struct sl_sigv4_request {
    const char *method;                     /* "GET", "POST": used as given */
    const char *path;                       /* wire form, starts with '/'; "" is "/" */
    const char *query;                      /* wire form, no '?'; NULL or "": none */
    const struct sl_sigv4_header *headers;  /* in arrival order; duplicates allowed */
    size_t nheaders;
    const void *body;                       /* may be NULL when body_len is 0 */
    size_t body_len;
    int s3_uri;                             /* 1: S3 path rules; 0: all others */
};

/*
 * Returns the secret access key for <access_key_id>, or NULL if the key is
 * unknown. The string is borrowed until sl_aws_sigv4_verify() returns, so the
 * callee must keep it alive that long (e.g. it belongs to the live config).
 * Runs on the verifying thread; at most once per call.
 */
typedef const char *(*sl_sigv4_secret_fn)(void *arg, const char *access_key_id);

struct sl_sigv4_verifier {
    sl_sigv4_secret_fn secret;              /* required */
    void *arg;                              /* handed to <secret> */
    const char *service;                    /* NULL: any; else the scope must match */
    const char *region;                     /* NULL: any; else the scope must match */
    int unsigned_payload;                   /* 1: accept X-Amz-Content-Sha256: UNSIGNED-PAYLOAD */
};

/*
 * What to answer a rejected request with: Firehose's JSON 1.1 error
 * {"__type": code, "message": message} and the HTTP status.
 */
struct sl_sigv4_error {
    const char *code;                       /* static, e.g. "InvalidSignatureException"; NULL on SL_OK */
    char message[256];                      /* NUL-terminated; never holds a secret */
    int http_status;                        /* 400, 403 or 500; 0 on SL_OK */
    int reason;                             /* enum sl_auth_reason; meaningless on SL_OK */
    char access_key_id[129];                /* the key id the request names; "" if none
                                             * could be read (printable, no spaces) */
};

/*
 * Verifies <r>'s Authorization header at wall time <now_epoch_s>.
 * Returns SL_OK if the request is authentic. Otherwise <err> is filled in
 * and the result is SL_EINVAL (rejected: 400/403), SL_ETOOBIG (headers or
 * query past the limits: 400) or SL_ENOMEM/SL_ERR (500, InternalFailure).
 * Error codes: MissingAuthenticationTokenException (no Authorization),
 * IncompleteSignatureException (malformed header, missing X-Amz-Date or a
 * part, host or x-amz-date not signed), UnrecognizedClientException
 * (unknown key), InvalidSignatureException (mismatch, X-Amz-Content-Sha256
 * not the body's hash, scope date or service/region wrong, "Signature
 * expired"/"not yet current" beyond SL_SIGV4_MAX_SKEW_S, UNSIGNED-PAYLOAD
 * without v->unsigned_payload).
 * X-Amz-Content-Sha256, when sent, is used as the payload hash if it equals
 * the body's SHA-256; "UNSIGNED-PAYLOAD" only if v->unsigned_payload (the
 * body is then not covered by the signature). X-Amz-Security-Token is
 * only a header. sl_aws_sigv4_precheck() runs first: every answer it gives,
 * this gives too.
 */
int sl_aws_sigv4_verify(const struct sl_sigv4_verifier *v, const struct sl_sigv4_request *r,
                    int64_t now_epoch_s, struct sl_sigv4_error *err);

/*
 * The part of sl_aws_sigv4_verify() that the headers alone decide, for a
 * request whose body has not been read: Authorization present, once and
 * well formed; X-Amz-Date present, in the scope's day and within
 * SL_SIGV4_MAX_SKEW_S; the scope's service/region (per <v>) and
 * terminator; host and x-amz-date signed and every signed header present;
 * the key id known; X-Amz-Content-Sha256 at most once and either 64 hex
 * digits or an allowed UNSIGNED-PAYLOAD. <r>'s body is not looked at.
 * Returns and fills <err> as sl_aws_sigv4_verify() does; SL_OK means only
 * that the signature is still to be checked.
 */
int sl_aws_sigv4_precheck(const struct sl_sigv4_verifier *v, const struct sl_sigv4_request *r,
                      int64_t now_epoch_s, struct sl_sigv4_error *err);

struct sl_sigv4_signer {
    const char *access_key_id;
    const char *secret;                     /* never copied past the call */
    const char *region;                     /* e.g. "us-east-1" */
    const char *service;                    /* e.g. "s3" */
    int content_sha256_header;              /* 1: also sign X-Amz-Content-Sha256 (S3 needs it) */
};

/* Header values to send with a signed request. */
struct sl_sigv4_signed {
    char amz_date[SL_SIGV4_AMZDATE_LEN + 1];        /* X-Amz-Date */
    char content_sha256[SL_SIGV4_HASH_HEX_LEN + 1]; /* X-Amz-Content-Sha256, if signed */
    char authorization[SL_SIGV4_AUTHZ_MAX];         /* Authorization */
};

/*
 * Signs <r> at <now_epoch_s>. Every header in <r> is signed; it must hold
 * Host and must not hold Authorization or X-Amz-Date (nor
 * X-Amz-Content-Sha256 when the signer adds it): those are added here.
 * A session token goes in <r> as X-Amz-Security-Token. <payload_hash> is
 * NULL to hash <r>'s body, or a value to use as is ("UNSIGNED-PAYLOAD", or
 * a hex SHA-256 computed elsewhere). Returns SL_OK and fills <out>;
 * SL_EINVAL on bad input, SL_ETOOBIG past a limit, SL_ENOMEM, SL_ERR
 * (libcrypto). On error <out>'s strings are empty.
 */
int sl_aws_sigv4_sign(const struct sl_sigv4_signer *s, const struct sl_sigv4_request *r,
                  const char *payload_hash, int64_t now_epoch_s, struct sl_sigv4_signed *out);

/* Appends <p,n> URI-encoded as SigV4 wants it: RFC 3986 unreserved bytes
 * (and '/' if <keep_slash>) as they are, every other byte as %XX in
 * upper-case hex. SL_ETOOBIG past b->max, SL_ENOMEM. */
int sl_aws_sigv4_uri_encode(struct sl_buf *b, const char *p, size_t n, int keep_slash);

/* Appends "&<name>=<value>" (no '&' when <q> is empty) to the wire-form
 * query <q>, each part URI-encoded: for a server that is handed its query
 * parameters already percent-decoded. A name without '=' (<value> NULL)
 * signs as "<name>=", as SigV4 says. SL_ETOOBIG past q->max, SL_ENOMEM. */
int sl_aws_sigv4_query_add(struct sl_buf *q, const char *name, size_t nlen, const char *value,
                       size_t vlen);

/*
 * Internal, for tests: appends <r>'s canonical request to <out> for the
 * ';'-separated, lower-case, sorted <signed_headers> and <payload_hash>.
 * SL_EINVAL if a signed header is absent or the path does not start with
 * '/', SL_ETOOBIG past out->max, SL_ENOMEM.
 */
int sl__aws_sigv4_canonical_request(const struct sl_sigv4_request *r, const char *signed_headers,
                                const char *payload_hash, struct sl_buf *out);

#endif
