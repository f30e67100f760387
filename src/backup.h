/*
 * backup.h - where a batch goes when its sink gave up on it.
 *
 * The batch is written whole, compressed as it would have been delivered,
 * to backup.path + the object key built with error_prefix instead of
 * prefix, next to a small JSON sidecar (same name + ".json") that says why.
 * An S3 stream without backup.path writes both into its bucket instead.
 * Both are written durably (fsio.h); the sidecar first, so an object in
 * the backup directory always has its reason beside it.
 *
 * Threads: delivery workers, concurrently; it keeps no state.
 */
#ifndef SL_BACKUP_H
#define SL_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "config.h"
#include "sink.h"

struct sl_backup_info {
    const char *key;              /* the backup key, relative to backup.path */
    const char *object_key;       /* the key the sink was given */
    unsigned version;
    const char *reason;           /* e.g. "retries_exhausted" */
    const char *error;            /* the sink's last error */
    int64_t first_attempt_ms, last_attempt_ms;  /* epoch ms */
};

/* Writes to backup.path, or, when conf->backup_in_sink, through <sink>'s
 * put_backup. SL_OK, or SL_EIO with why in <err>. */
int sl_backup_write(const struct sl_stream_conf *conf, const struct sl_sink *sink,
                    const struct sl_batch *b, const struct sl_backup_info *info,
                    const uint8_t *data, size_t len, char *err, size_t errlen);

#endif
