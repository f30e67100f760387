/*
 * auth.c - see auth.h.
 *
 * The file is read whole (bounded) before it is parsed, so its size, a
 * NUL byte anywhere in it and a key id listed twice are all seen and
 * named by line rather than silently cut or merged. The text is wiped
 * after parsing; secrets then live only in struct sl_auth.
 */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "fsio.h"
#include "sluice/err.h"

#define KEYS_MAX 1024

struct key { char id[129]; char secret[129]; };

struct sl_auth {
    int mode;
    int unsigned_payload;      /* SL_AUTH_UNSIGNED_PAYLOAD was given */
    char token[257];
    struct key *keys;          /* owned */
    size_t nkeys;
};

const char *const sl_auth_reason_names[SL_AUTH_R_N] = {
    "missing", "malformed", "unknown_key", "bad_signature", "stale_date", "wrong_scope",
    "unsigned_payload", "bad_token", "sigv4_required", "internal",
};

void sl_auth_free(struct sl_auth *a)
{
    if (!a)
        return;
    OPENSSL_cleanse(a->token, sizeof(a->token));
    if (a->keys)
        OPENSSL_cleanse(a->keys, a->nkeys * sizeof(*a->keys));
    free(a->keys);
    free(a);
}

/* Splits a line into at most two words; returns how many it found. */
static int words(char *line, char **w1, char **w2)
{
    char *p = line + strspn(line, " \t\r\n");
    size_t n;

    if (*p == '\0' || *p == '#')
        return 0;
    *w1 = p;
    n = strcspn(p, " \t\r\n");
    p += n;
    if (*p == '\0')
        return 1;
    *p++ = '\0';
    p += strspn(p, " \t\r\n");
    *w2 = p;
    n = strcspn(p, " \t\r\n");
    if (n == 0)
        return 1;
    if (p[n] != '\0' && p[n + strspn(p + n, " \t\r\n")] != '\0')
        return 3;              /* a third word */
    p[n] = '\0';
    return 2;
}

/* Checks that <path:line> names a key id not seen before. */
static int add_key(struct sl_auth *a, const char *id, const char *secret, const char *path,
                   int lineno, const int *lines, char *err, size_t errlen)
{
    struct key *k;

    for (size_t i = 0; i < a->nkeys; i++)
        if (strcmp(a->keys[i].id, id) == 0) {
            snprintf(err, errlen, "%s:%d: access key id %s is listed twice (first on line %d)",
                     path, lineno, id, lines[i]);
            return SL_EINVAL;
        }
    if (!(k = realloc(a->keys, (a->nkeys + 1) * sizeof(*k)))) {
        snprintf(err, errlen, "out of memory");
        return SL_ENOMEM;
    }
    a->keys = k;
    snprintf(k[a->nkeys].id, sizeof(k->id), "%s", id);
    snprintf(k[a->nkeys].secret, sizeof(k->secret), "%s", secret);
    a->nkeys++;
    return SL_OK;
}

/* One non-empty line <w1> [<w2>] (<nw> words) of the file. */
static int load_line(struct sl_auth *a, int nw, const char *w1, const char *w2, const char *path,
                     int lineno, int *lines, char *err, size_t errlen)
{
    if (a->mode == SL_AUTH_TOKEN) {
        if (nw != 1 || strlen(w1) < 16 || strlen(w1) >= sizeof(a->token)) {
            snprintf(err, errlen, "%s:%d: the token must be one word of 16 to 256 "
                     "characters", path, lineno);
            return SL_EINVAL;
        }
        snprintf(a->token, sizeof(a->token), "%s", w1);
        return SL_OK;
    }
    if (nw != 2 || strlen(w1) >= sizeof(a->keys->id) ||
        strlen(w2) >= sizeof(a->keys->secret) || a->nkeys == KEYS_MAX) {
        snprintf(err, errlen, "%s:%d: expected ACCESS_KEY_ID SECRET (each under 129 "
                 "characters, at most %d lines)", path, lineno, KEYS_MAX);
        return SL_EINVAL;
    }
    lines[a->nkeys] = lineno;
    return add_key(a, w1, w2, path, lineno, lines, err, errlen);
}

/*
 * Parses the file's <n> bytes at <text> (NUL-terminated, owned by the
 * caller and cut into words here). A NUL inside would end a secret early
 * without a word said, so the file must have none. Token mode stops at
 * the first word.
 */
static int load_text(struct sl_auth *a, char *text, size_t n, const char *path, char *err,
                     size_t errlen)
{
    int *lines_buf = calloc(KEYS_MAX, sizeof(int)), lineno = 0, rc = SL_OK;
    char *p = text, *end = text + n, *nul = memchr(text, '\0', n), *w1 = NULL, *w2 = NULL;

    if (!lines_buf) {
        snprintf(err, errlen, "out of memory");
        return SL_ENOMEM;
    }
    if (nul) {
        for (lineno = 1; p < nul; p++)
            lineno += *p == '\n';
        snprintf(err, errlen, "%s:%d: a NUL byte: the file must be text (a NUL would cut a "
                 "secret short)", path, lineno);
        rc = SL_EINVAL;
        goto out;
    }
    while (p < end && rc == SL_OK && !(a->mode == SL_AUTH_TOKEN && a->token[0])) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        int nw;

        if (nl)
            *nl = '\0';
        lineno++;
        nw = words(p, &w1, &w2);
        if (nw != 0)
            rc = load_line(a, nw, w1, w2, path, lineno, lines_buf, err, errlen);
        p = nl ? nl + 1 : end;
    }
    if (rc == SL_OK &&
        ((a->mode == SL_AUTH_TOKEN && !a->token[0]) || (a->mode == SL_AUTH_SIGV4 && !a->nkeys))) {
        snprintf(err, errlen, "%s: no %s in it", path,
                 a->mode == SL_AUTH_TOKEN ? "token" : "key pair");
        rc = SL_EINVAL;
    }
out:
    free(lines_buf);
    return rc;
}

int sl_auth_load(int mode, const char *path, unsigned flags, struct sl_auth **out, char *err,
                 size_t errlen)
{
    struct sl_auth *a = NULL;
    char *text = NULL;
    size_t n = 0;
    int rc;

    *out = NULL;
    if (mode == SL_AUTH_NONE)
        return SL_OK;
    if (!path || !path[0]) {
        snprintf(err, errlen, "http_auth_file is required for this http_auth");
        return SL_EINVAL;
    }
    if ((rc = sl_fsio_read_small(path, SL_AUTH_FILE_MAX, &text, &n, err, errlen)) != SL_OK)
        return rc;
    rc = SL_ENOMEM;
    if (!(a = calloc(1, sizeof(*a)))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    a->mode = mode;
    a->unsigned_payload = (flags & SL_AUTH_UNSIGNED_PAYLOAD) != 0;
    rc = load_text(a, text, n, path, err, errlen);
    if (rc == SL_OK) {
        *out = a;
        a = NULL;
    }
out:
    if (text) {
        OPENSSL_cleanse(text, n);
        free(text);
    }
    sl_auth_free(a);
    return rc;
}

int sl_auth_mode(const struct sl_auth *a)
{
    return a ? a->mode : SL_AUTH_NONE;
}

int sl_auth_unsigned_payload(const struct sl_auth *a)
{
    return a ? a->unsigned_payload : 0;
}

const char *sl_auth_secret(void *auth, const char *access_key_id)
{
    struct sl_auth *a = auth;

    for (size_t i = 0; a && i < a->nkeys; i++)
        if (strcmp(a->keys[i].id, access_key_id) == 0)
            return a->keys[i].secret;
    return NULL;
}

int sl_auth_token_ok(const struct sl_auth *a, const char *authorization)
{
    size_t n;

    if (!a || !authorization || strncmp(authorization, "Bearer ", 7) != 0)
        return 0;
    authorization += 7;
    n = strlen(a->token);
    return strlen(authorization) == n && CRYPTO_memcmp(authorization, a->token, n) == 0;
}
