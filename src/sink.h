/*
 * sink.h - the sink interface and its registry.
 *
 * A sink is a const struct of function pointers (Fluent Bit's out_*
 * plugins): create an instance from a stream's config, deliver one batch,
 * optionally say whether the destination is reachable, destroy. The
 * engine (delivery.c) owns retries, backoff and the hand-off to backup;
 * a sink only answers OK, RETRY or FAIL, for the batch as a whole or, for
 * destinations that accept records one by one, for each record.
 *
 * Threads: deliver() and ready() may be called from several delivery
 * workers and the metrics thread at once; an instance must allow that.
 * create() and destroy() run on the main thread (destroy may run on a
 * worker, when the last batch of an old config generation settles).
 */
#ifndef SL_SINK_H
#define SL_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "config.h"
#include "metrics.h"

enum sl_sink_result { SL_SINK_OK, SL_SINK_RETRY, SL_SINK_FAIL };

/* What deliver() gets: the object to write and the records it holds. */
struct sl_sink_batch {
    const char *stream;
    const char *key;              /* object key, see objkey.h */
    const uint8_t *data;          /* the compressed object */
    size_t len;
    const struct sl_batch *batch; /* its records, for per-record sinks */
    struct sl_sink_stats *stats;  /* the stream's; the sink counts what it does */
    int exclusive;                /* 1: <key> names this batch alone (durability =
                                   * disk, key from its sequence range): never
                                   * replace an object already there; if one is,
                                   * it is this batch's from before a crash: answer
                                   * OK with <existed> set */
};

/*
 * What deliver() answers. <result> speaks for the whole batch. A sink whose
 * ops say per_record gets <record_results>, one slot per record in order;
 * when some records failed and others did not, it fills every slot with
 * that record's enum sl_sink_result and sets <per_record>: the engine then
 * settles the OK records, retries the RETRY ones and backs up the FAIL ones.
 */
struct sl_sink_outcome {
    int result;                   /* enum sl_sink_result, for the batch */
    uint8_t *record_results;      /* per_record sinks only; else NULL */
    int per_record;               /* set by the sink: record_results decide */
    int cause;                    /* enum sl_retry_cause of a RETRY; 0: "sink" */
    int existed;                  /* OK because the object was there already (exclusive) */
    char error[256];              /* why, when not OK */
};

struct sl_sink_ops {
    const char *name;
    int per_record;               /* answers per record (bulk APIs), see above */
    /* Returns SL_OK with *<ctx> set, or an error with a message in <err>. */
    int (*create)(const struct sl_stream_conf *conf, void **ctx, char *err, size_t errlen);
    void (*deliver)(void *ctx, const struct sl_sink_batch *b, struct sl_sink_outcome *out);
    /* Optional: 1 if the destination looks usable, else 0 with <why>. */
    int (*ready)(void *ctx, char *why, size_t whylen);
    void (*destroy)(void *ctx);
    /* Optional: stores a backup object at <key> in the sink's own store
     * (S3: the same bucket). SL_OK, or an error with <err>. */
    int (*put_backup)(void *ctx, const char *key, const void *data, size_t len, char *err,
                      size_t errlen);
};

/* An instance: the ops and their state. */
struct sl_sink {
    const struct sl_sink_ops *ops;
    void *ctx;
};

/* Returns the built-in sink called <name>, or NULL. */
const struct sl_sink_ops *sl_sink_find(const char *name);

/* Creates the sink <conf> names. On error <err> says why. */
int sl_sink_open(struct sl_sink *s, const struct sl_stream_conf *conf, char *err,
                 size_t errlen);
void sl_sink_close(struct sl_sink *s);

extern const struct sl_sink_ops sl_sink_file;
extern const struct sl_sink_ops sl_sink_s3;

#endif
