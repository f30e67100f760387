/*
 * auth.h - who may use the HTTP API (http_auth in [sluice]).
 *
 *  none:  anyone who can reach http_listen (loopback by default).
 *  token: the NDJSON endpoint needs "Authorization: Bearer <token>"; the
 *         token is the first line of http_auth_file. Firehose's API, whose
 *         clients cannot send a bearer token, is refused (403).
 *  sigv4: every request needs a valid AWS Signature Version 4 made with a
 *         key pair from http_auth_file, one "ACCESS_KEY_ID SECRET" per line
 *         ('#' starts a comment). AWS clients sign as they do for AWS;
 *         curl does with --aws-sigv4.
 * Secrets live only in the struct sl_auth and are never logged.
 *
 * Threads: read-only after sl_auth_load; any thread.
 */
#ifndef SL_AUTH_H
#define SL_AUTH_H

#include <stddef.h>

enum sl_auth_mode { SL_AUTH_NONE, SL_AUTH_TOKEN, SL_AUTH_SIGV4 };

struct sl_auth;

/* Reads <path> for <mode>. On error, <err> says why (never quoting a
 * secret). *<out> is NULL for SL_AUTH_NONE. */
int sl_auth_load(int mode, const char *path, struct sl_auth **out, char *err, size_t errlen);
void sl_auth_free(struct sl_auth *a);
int sl_auth_mode(const struct sl_auth *a);
/* The secret of <access_key_id>, or NULL (a sl_sigv4_secret_fn). */
const char *sl_auth_secret(void *auth, const char *access_key_id);
/* 1 if <authorization> is "Bearer <the token>" (constant time). */
int sl_auth_token_ok(const struct sl_auth *a, const char *authorization);

#endif
