/*
 * sink_file.c - objects as files under file.path, laid out like S3 keys.
 *
 * Each object is written whole to a hidden temp name in its directory,
 * fsynced, renamed into place, and the directory fsynced: a reader never
 * sees half an object, and a renamed object survives a crash. Every
 * failure is RETRY: a missing mount or a full disk may come back.
 *
 * An exclusive batch (durability = disk, or a Kafka partition's batch: its
 * key names it alone, and a replay after a crash writes it again) is linked into place instead of
 * renamed, so an object already there is never replaced: finding one is
 * OK, with <existed> set and counted, since it is this batch's own.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsio.h"
#include "sink.h"
#include "sluice/err.h"

/* Its keys, as the config loader parses them. */
struct file_conf {
    char path[PATH_MAX];
};

static const struct sl_conf_key file_keys[] = {
    { "file.path", SL_K_STRING, SL_KSTR(struct file_conf, path), 1, 0, NULL, NULL,
      "file sink: root directory of the objects" },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

static void file_check(void *conf, struct sl_conf_check *chk)
{
    struct file_conf *c = conf;

    if (!sl_conf_key_check_bad(chk, "file.path") && !c->path[0])
        sl_conf_key_check_err(chk, "file.path", "required when sink = file");
}

struct file_sink {
    char root[PATH_MAX];
};

static int file_create(const char *stream, const void *conf, void **ctx, char *err,
                       size_t errlen)
{
    const struct file_conf *c = conf;
    struct file_sink *f = calloc(1, sizeof(*f));

    (void)stream;
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return SL_ENOMEM;
    }
    snprintf(f->root, sizeof(f->root), "%s", c->path);
    *ctx = f;
    return SL_OK;
}

/* Splits "<root>/<key>" into a directory and a file name. */
static int split(const char *root, const char *key, char *dir, size_t dirlen,
                 const char **name)
{
    const char *slash = strrchr(key, '/');
    int n;

    *name = slash ? slash + 1 : key;
    n = snprintf(dir, dirlen, "%s/%.*s", root, slash ? (int)(slash - key) : 0, key);
    return n >= 0 && (size_t)n < dirlen ? SL_OK : SL_ETOOBIG;
}

static void file_deliver(void *ctx, const struct sl_sink_batch *b, struct sl_sink_outcome *out)
{
    struct file_sink *f = ctx;
    char dir[PATH_MAX];
    const char *name, *what;

    if (split(f->root, b->key, dir, sizeof(dir), &name) != SL_OK) {
        out->result = SL_SINK_FAIL;
        snprintf(out->error, sizeof(out->error), "object path too long");
        return;
    }
    struct iovec whole = { (void *)b->data, b->len };
    int rc = b->iov ? sl_fsio_write_pieces(dir, name, b->iov, b->iovcnt, b->exclusive, &what)
                    : sl_fsio_write_pieces(dir, name, &whole, 1, b->exclusive, &what);
    if (rc == SL_EEXIST) {
        out->existed = 1;
    } else if (rc != SL_OK) {
        int e = errno;
        out->result = SL_SINK_RETRY;
        snprintf(out->error, sizeof(out->error), "%s %s: %s", what, dir, strerror(e));
        return;
    }
    out->result = SL_SINK_OK;
}

/* Ready when the root exists as a directory or can be created. */
static int file_ready(void *ctx, char *why, size_t whylen)
{
    struct file_sink *f = ctx;
    struct stat st;

    if (stat(f->root, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return 1;
        snprintf(why, whylen, "%s is not a directory", f->root);
        return 0;
    }
    if (sl_fsio_mkdirs(f->root) != SL_OK) {
        snprintf(why, whylen, "%s: %s", f->root, strerror(errno));
        return 0;
    }
    return 1;
}

static void file_destroy(void *ctx)
{
    free(ctx);
}

const struct sl_sink_ops sl_sink_file = {
    .name = "file",
    .prefix = "file.",
    .shape = SL_SINK_OBJECTS,
    .pieces = 1,
    .keys = file_keys,
    .conf_size = sizeof(struct file_conf),
    .check = file_check,
    .create = file_create,
    .deliver = file_deliver,
    .ready = file_ready,
    .destroy = file_destroy,
};
