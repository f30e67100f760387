/*
 * aws_creds.c - see aws_creds.h. The credentials files are INI, read with
 * libinih like the config.
 */
#include "aws_creds.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ini.h>
#include <openssl/crypto.h>

#include "fsio.h"
#include "sluice/err.h"

struct profile_read {
    const char *profile;
    struct sl_aws_creds *c;
    int found;                    /* the profile's section was seen */
    int too_long;
};

static int copy(char *dst, size_t cap, const char *v)
{
    size_t n = strlen(v);

    if (n >= cap)
        return 0;
    memcpy(dst, v, n + 1);
    return 1;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    struct profile_read *r = user;
    struct sl_aws_creds *c = r->c;

    if (strcmp(section, r->profile) != 0)
        return 1;
    r->found = 1;
    if (strcmp(name, "aws_access_key_id") == 0)
        r->too_long |= !copy(c->access_key, sizeof(c->access_key), value);
    else if (strcmp(name, "aws_secret_access_key") == 0)
        r->too_long |= !copy(c->secret_key, sizeof(c->secret_key), value);
    else if (strcmp(name, "aws_session_token") == 0)
        r->too_long |= !copy(c->session_token, sizeof(c->session_token), value);
    return 1;
}

/* SL_OK when <path> holds both keys for <profile>; SL_ENOENT when the file
 * does not exist; else an error in <err>. */
static int from_file(const char *path, const char *profile, struct sl_aws_creds *c,
                     char *err, size_t errlen)
{
    struct profile_read r = { .profile = profile, .c = c };
    char *text;
    size_t n;
    int rc = sl_fsio_read_small(path, 1 << 20, &text, &n, err, errlen);

    if (rc != SL_OK) {
        struct stat st;
        return stat(path, &st) != 0 && errno == ENOENT ? SL_ENOENT : rc;
    }
    int line = ini_parse_string(text, on_key, &r);
    OPENSSL_cleanse(text, n);
    free(text);
    if (line != 0) {
        snprintf(err, errlen, "%s: not a credentials file (line %d)", path, line);
        return SL_EINVAL;
    }
    if (r.too_long) {
        snprintf(err, errlen, "%s: [%s] has a value too long", path, profile);
        return SL_EINVAL;
    }
    if (!c->access_key[0] || !c->secret_key[0]) {
        snprintf(err, errlen, "%s: [%s] %s", path, profile,
                 r.found ? "lacks aws_access_key_id or aws_secret_access_key"
                         : "is not there");
        return SL_EINVAL;
    }
    snprintf(c->source, sizeof(c->source), "%s [%s]", path, profile);
    return SL_OK;
}

int sl_aws_creds_load(const char *file, struct sl_aws_creds *c, char *err, size_t errlen)
{
    const char *profile = getenv("AWS_PROFILE");
    const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    const char *token = getenv("AWS_SESSION_TOKEN"), *shared = getenv("AWS_SHARED_CREDENTIALS_FILE");
    const char *home = getenv("HOME");
    char path[PATH_MAX];
    int rc;

    memset(c, 0, sizeof(*c));
    if (!profile || !profile[0])
        profile = "default";
    if (file && file[0])
        return from_file(file, profile, c, err, errlen) == SL_OK ? SL_OK : SL_EINVAL;
    if (id && id[0] && secret && secret[0]) {
        if (!copy(c->access_key, sizeof(c->access_key), id) ||
            !copy(c->secret_key, sizeof(c->secret_key), secret) ||
            !copy(c->session_token, sizeof(c->session_token), token ? token : "")) {
            snprintf(err, errlen, "an AWS_* credentials variable is too long");
            return SL_EINVAL;
        }
        snprintf(c->source, sizeof(c->source), "environment");
        return SL_OK;
    }
    if (shared && shared[0])
        snprintf(path, sizeof(path), "%s", shared);
    else if (home && home[0])
        snprintf(path, sizeof(path), "%s/.aws/credentials", home);
    else
        path[0] = '\0';
    if (path[0] && (rc = from_file(path, profile, c, err, errlen)) != SL_ENOENT)
        return rc == SL_OK ? SL_OK : SL_EINVAL;
    snprintf(err, errlen, "no AWS credentials: set s3.credentials_file, or "
             "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write %s",
             path[0] ? path : "~/.aws/credentials");
    return SL_EINVAL;
}
