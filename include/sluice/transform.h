/*
 * sluice/transform.h - the transform ABI: what a transform (built in, or a
 * shared object loaded with `type = plugin`) implements, and what sluice
 * gives it.
 *
 * A transform is a const struct sl_transform_ops. A plugin exports one, as
 * the symbol SL_TRANSFORM_SYMBOL ("sluice_transform"):
 *
 *     const struct sl_transform_ops sluice_transform = {
 *         .abi = SL_TRANSFORM_ABI, .size = sizeof(struct sl_transform_ops),
 *         .name = "upper",
 *         .create = my_create, .process = my_process, .destroy = my_destroy,
 *     };
 *
 * Versions: sluice reads .abi first and refuses the plugin (a config error
 * naming its path) unless it equals the SL_TRANSFORM_ABI sluice was built
 * with. A change to a struct in this file or in sluice/record.h (whose
 * struct sl_record plugins index) bumps SL_TRANSFORM_ABI, except a
 * function added at the end of struct sl_tf_host: a plugin that wants one
 * of those checks host->size first, e.g.
 *     if (host->size > offsetof(struct sl_tf_host, attempts)) ...
 * so it still runs on a sluice older than its header.
 *
 * The life of an instance:
 *  - create() gets the keys of its [transform NAME] section (all but `type`
 *    and `path`) and builds its state. On a bad key it returns -1 with
 *    "KEY: why" in err, and sluice reports it as FILE:LINE: [transform NAME]
 *    KEY: why. It runs on the main thread, at start-up, at every reload and
 *    for `sluice --check` (then destroy() follows at once).
 *  - process() gets one batch: an array of records, and a result slot for
 *    each, which starts as Ok with the record unchanged. The transform says
 *    what differs through the host's functions: new data, Dropped, or
 *    ProcessingFailed with an error code and message, and partition keys.
 *    It returns SL_TF_DONE (0); SL_TF_FAIL_BATCH (-1) to fail the whole
 *    batch with err's code and message; or SL_TF_RETRY (-2) when the batch
 *    should be tried again later (out of memory, sluice stopping): then
 *    what it said of the records is forgotten, and the whole chain runs
 *    again after a backoff. Other values are reserved.
 *  - destroy() frees the state, on the main thread or on a delivery worker
 *    (when the last batch of an old configuration settles).
 *
 * Threads: process() is called from several delivery workers at once, on
 * different batches, with the same state: the state must be read-only
 * after create(), or guarded by the transform itself. The batch, its
 * records and the host are valid only during the call, and the host's
 * functions may be called only from the thread that called process(); they
 * copy what they are given. One shared object may back several instances
 * at once (several streams, or the old and the new configuration during a
 * reload): its global state is shared by them. Reloading does not reload
 * the file (dlopen of a loaded path gives the loaded one): install a new
 * version under a new path, never over a loaded file.
 */
#ifndef SLUICE_TRANSFORM_H
#define SLUICE_TRANSFORM_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/record.h"

#define SL_TRANSFORM_ABI    1
#define SL_TRANSFORM_SYMBOL "sluice_transform"

/* What process() returns. */
#define SL_TF_DONE        0
#define SL_TF_FAIL_BATCH  (-1)
#define SL_TF_RETRY       (-2)

/* One key of a [transform NAME] section, as written. */
struct sl_tf_kv {
    const char *key;
    const char *value;
};

/* What a failed batch or record says: an error code ("Json.Invalid",
 * "Lambda.FunctionError") and a message, both NUL-terminated. */
struct sl_tf_error {
    char code[64];
    char message[256];
};

struct sl_tf_out;   /* sluice's: the result slots of one batch */

/* What sluice gives process(). Record i is batch->records[i]. Each
 * function returns 0, or -1 when sluice is out of memory (the transform
 * then returns SL_TF_RETRY). The last call for a record wins. */
struct sl_tf_host {
    uint32_t size;                    /* sizeof this struct in sluice: see Versions */
    /* Ok, with <len> bytes of new data (copied). */
    int (*set_data)(struct sl_tf_out *out, size_t i, const void *data, size_t len);
    /* Dropped: the record is counted and goes nowhere. */
    int (*set_dropped)(struct sl_tf_out *out, size_t i);
    /* ProcessingFailed: the original record goes to the backup path. */
    int (*set_failed)(struct sl_tf_out *out, size_t i, const char *code,
                      const char *message);
    /* Sets partition key <key> for !{partitionKeyFromLambda:key}. */
    int (*set_key)(struct sl_tf_out *out, size_t i, const char *key, const char *value);
    /* For transforms that call out (lambda): one invocation was made, and
     * failed (<ok> 0) or not. Counted in metrics; the number made is the
     * attemptsMade of the batch's backup envelopes. Without a call, a
     * batch counts as one invocation, failed if process() returned -1. */
    int (*invocation)(struct sl_tf_out *out, int ok);
    /* Record i took <n> invocations (its envelope's attemptsMade, when it
     * fails): for a transform that splits a batch into several calls.
     * Without it, a record counts every invocation of its batch. */
    int (*attempts)(struct sl_tf_out *out, size_t i, unsigned n);
    /* 1 when sluice is shutting down and out of time: a transform waiting
     * on something (a call out, a backoff) stops and returns SL_TF_RETRY.
     * Cheap; poll it. */
    int (*stopping)(struct sl_tf_out *out);
};

struct sl_tf_batch {
    const struct sl_record *records;  /* in arrival order */
    size_t nrecords;
    const char *stream;               /* the stream's name */
    const struct sl_tf_host *host;
    struct sl_tf_out *out;            /* pass to the host's functions */
};

struct sl_transform_ops {
    uint32_t abi;                     /* SL_TRANSFORM_ABI: read before anything else */
    uint32_t size;                    /* sizeof(struct sl_transform_ops) as built */
    const char *name;                 /* the type, for logs */
    int (*create)(const struct sl_tf_kv *kv, size_t nkv, void **state, char *err,
                  size_t errlen);
    int (*process)(void *state, const struct sl_tf_batch *batch, struct sl_tf_error *err);
    void (*destroy)(void *state);
};

#endif
