/* backup.c - see backup.h. */
#include "backup.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fsio.h"
#include "sluice/err.h"

static char *sidecar_json(const struct sl_stream_conf *conf, const struct sl_batch *b,
                          const struct sl_backup_info *info)
{
    json_t *j = json_pack("{s:s, s:I, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I}",
                          "stream", conf->name,
                          "version", (json_int_t)info->version,
                          "object_key", info->object_key,
                          "reason", info->reason,
                          "error", info->error,
                          "attempts", (json_int_t)b->attempts,
                          "records", (json_int_t)b->nrecords,
                          "bytes", (json_int_t)b->bytes,
                          "oldest_arrival_ms", (json_int_t)b->oldest_wall_ms,
                          "last_attempt_ms", (json_int_t)info->last_attempt_ms);
    char *s;

    if (!j)
        return NULL;
    json_object_set_new(j, "first_attempt_ms", json_integer(info->first_attempt_ms));
    s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}

int sl_backup_write(const struct sl_stream_conf *conf, const struct sl_sink *sink,
                    const struct sl_batch *b, const struct sl_backup_info *info,
                    const uint8_t *data, size_t len, char *err, size_t errlen)
{
    char dir[PATH_MAX], side[NAME_MAX + 1];
    const char *slash = strrchr(info->key, '/');
    const char *name = slash ? slash + 1 : info->key;
    const char *what = "json";
    char *json = NULL;
    int rc = SL_EIO;

    if (snprintf(dir, sizeof(dir), "%s/%.*s", conf->backup_path,
                 slash ? (int)(slash - info->key) : 0, info->key) >= (int)sizeof(dir) ||
        snprintf(side, sizeof(side), "%s.json", name) >= (int)sizeof(side)) {
        snprintf(err, errlen, "backup path too long");
        return SL_EIO;
    }
    json = sidecar_json(conf, b, info);
    if (!json) {
        snprintf(err, errlen, "cannot build the sidecar");
        return SL_ENOMEM;
    }
    if (conf->backup_in_sink && sink->ops->put_backup) {
        rc = sink->ops->put_backup(sink->ctx, info->key, data, len, json, err, errlen);
        free(json);
        return rc == SL_OK ? SL_OK : SL_EIO;
    }
    if (sl_fsio_write_atomic(dir, side, json, strlen(json), &what) != SL_OK ||
        sl_fsio_write_atomic(dir, name, data, len, &what) != SL_OK) {
        snprintf(err, errlen, "%s %s: %s", what, dir, strerror(errno));
        goto out;
    }
    rc = SL_OK;
out:
    free(json);
    return rc;
}
