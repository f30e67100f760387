/*
 * auth.h - who may use the HTTP API (http_auth in [sluice]).
 *
 *  none:  anyone who can reach http_listen (loopback by default).
 *  token: the NDJSON endpoint needs "Authorization: Bearer <token>"; the
 *         token is the first line of http_auth_file. Firehose's API, whose
 *         clients cannot send a bearer token, is refused (403).
 *  sigv4: every request needs a valid AWS Signature Version 4 made with a
 *         key pair from http_auth_file, one "ACCESS_KEY_ID SECRET" per line
 *         ('#' starts a comment), scoped to the service "firehose".
 *         AWS clients sign as they do for AWS; curl does with --aws-sigv4.
 * http_auth_file must be a regular file of at most SL_AUTH_FILE_MAX bytes,
 * text without NUL bytes; in sigv4 mode each key id appears once.
 * Secrets live only in the struct sl_auth and are never logged.
 *
 * Threads: read-only after sl_auth_load; any thread.
 */
#ifndef SL_AUTH_H
#define SL_AUTH_H

#include <stddef.h>

enum sl_auth_mode { SL_AUTH_NONE, SL_AUTH_TOKEN, SL_AUTH_SIGV4 };

#define SL_AUTH_FILE_MAX (1024 * 1024)     /* bytes of http_auth_file */

/* Flags of sl_auth_load. */
#define SL_AUTH_UNSIGNED_PAYLOAD 1u        /* sigv4: accept X-Amz-Content-Sha256: UNSIGNED-PAYLOAD */

/*
 * Why a request was refused: the reason label of
 * sluice_http_auth_failures_total and of the refusal's log line.
 */
enum sl_auth_reason {
    SL_AUTH_R_MISSING,           /* no Authorization header */
    SL_AUTH_R_MALFORMED,         /* Authorization or X-Amz-* headers not usable */
    SL_AUTH_R_UNKNOWN_KEY,       /* access key id not in http_auth_file */
    SL_AUTH_R_BAD_SIGNATURE,     /* signature or body hash does not match */
    SL_AUTH_R_STALE_DATE,        /* X-Amz-Date more than 5 minutes off */
    SL_AUTH_R_WRONG_SCOPE,       /* scope's date, service or terminator wrong */
    SL_AUTH_R_UNSIGNED_PAYLOAD,  /* UNSIGNED-PAYLOAD while not allowed */
    SL_AUTH_R_BAD_TOKEN,         /* token mode: not the token */
    SL_AUTH_R_SIGV4_REQUIRED,    /* token mode: the Firehose API was called */
    SL_AUTH_R_INTERNAL,          /* the check itself failed (memory) */
    SL_AUTH_R_N
};
extern const char *const sl_auth_reason_names[SL_AUTH_R_N];

struct sl_auth;

/* Reads <path> for <mode> with <flags> (SL_AUTH_*). On error, <err> says
 * why, as "PATH:LINE: ..." where a line is at fault (never quoting a
 * secret). *<out> is NULL for SL_AUTH_NONE. */
int sl_auth_load(int mode, const char *path, unsigned flags, struct sl_auth **out, char *err,
                 size_t errlen);
void sl_auth_free(struct sl_auth *a);
int sl_auth_mode(const struct sl_auth *a);
/* 1 if requests may carry X-Amz-Content-Sha256: UNSIGNED-PAYLOAD. */
int sl_auth_unsigned_payload(const struct sl_auth *a);
/* The secret of <access_key_id>, or NULL (a sl_sigv4_secret_fn). */
const char *sl_auth_secret(void *auth, const char *access_key_id);
/* 1 if <authorization> is "Bearer <the token>" (constant time). */
int sl_auth_token_ok(const struct sl_auth *a, const char *authorization);

#endif
