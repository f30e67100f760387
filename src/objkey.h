/*
 * objkey.h - object keys in Firehose's layout:
 *   PREFIX + YYYY/MM/DD/HH/ + STREAM-VERSION-YYYY-MM-DD-HH-MM-SS-UUID + EXT
 * All times are UTC and come from the arrival time of the batch's oldest
 * record, so a batch keeps its key across retries and restarts.
 */
#ifndef SL_OBJKEY_H
#define SL_OBJKEY_H

#include <stddef.h>
#include <stdint.h>

#define SL_KEY_MAX 1536

struct sl_objkey {
    const char *prefix;
    const char *stream;
    unsigned version;
    int64_t wall_ms;      /* oldest record's arrival */
    const char *uuid;     /* 36 characters */
    const char *ext;      /* ".gz", ".zst" or "" */
};

/* Writes the key into <out>. SL_ETOOBIG if it does not fit in <len>. */
int sl_objkey_format(const struct sl_objkey *k, char *out, size_t len);

#endif
