/* auth.c - see auth.h. */
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "sluice/err.h"

#define KEYS_MAX 1024

struct key { char id[129]; char secret[129]; };

struct sl_auth {
    int mode;
    char token[257];
    struct key *keys;          /* owned */
    size_t nkeys;
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

static int load_lines(struct sl_auth *a, FILE *f, const char *path, char *err, size_t errlen)
{
    char line[600], *w1 = NULL, *w2 = NULL;
    int lineno = 0, nw;

    while (fgets(line, sizeof(line), f)) {
        lineno++;
        nw = words(line, &w1, &w2);
        if (nw == 0)
            continue;
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
        struct key *k = realloc(a->keys, (a->nkeys + 1) * sizeof(*k));
        if (!k) {
            snprintf(err, errlen, "out of memory");
            return SL_ENOMEM;
        }
        a->keys = k;
        snprintf(k[a->nkeys].id, sizeof(k->id), "%s", w1);
        snprintf(k[a->nkeys].secret, sizeof(k->secret), "%s", w2);
        a->nkeys++;
    }
    if ((a->mode == SL_AUTH_TOKEN && !a->token[0]) || (a->mode == SL_AUTH_SIGV4 && !a->nkeys)) {
        snprintf(err, errlen, "%s: no %s in it", path,
                 a->mode == SL_AUTH_TOKEN ? "token" : "key pair");
        return SL_EINVAL;
    }
    return SL_OK;
}

int sl_auth_load(int mode, const char *path, struct sl_auth **out, char *err, size_t errlen)
{
    struct sl_auth *a;
    FILE *f;
    int rc;

    *out = NULL;
    if (mode == SL_AUTH_NONE)
        return SL_OK;
    if (!path || !path[0]) {
        snprintf(err, errlen, "http_auth_file is required for this http_auth");
        return SL_EINVAL;
    }
    if (!(f = fopen(path, "r"))) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return SL_EINVAL;
    }
    if (!(a = calloc(1, sizeof(*a)))) {
        fclose(f);
        snprintf(err, errlen, "out of memory");
        return SL_ENOMEM;
    }
    a->mode = mode;
    rc = load_lines(a, f, path, err, errlen);
    fclose(f);
    if (rc != SL_OK) {
        sl_auth_free(a);
        return rc;
    }
    *out = a;
    return SL_OK;
}

int sl_auth_mode(const struct sl_auth *a)
{
    return a ? a->mode : SL_AUTH_NONE;
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
