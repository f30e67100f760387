/*
 * sink.h - the sink interface and the registry of built-in sinks.
 *
 * A sink is a module of its own (Fluent Bit's out_* plugins, an nginx
 * module): one const struct of function pointers, one table of keys under
 * its prefix ("s3." ...) parsed into a struct of its own, its own metrics
 * beyond the ones every sink has. Nothing outside the sink's file names it;
 * the registry in sink.c lists them.
 *
 * Two shapes. An object sink (file, S3, Redshift) gets each batch as one
 * compressed object and its key. A record sink (null, Elasticsearch,
 * PostgreSQL, Kafka) gets the batch's records, uncompressed and with no
 * key, and answers for each record. The engine (delivery.c) owns retries,
 * backoff and the hand-off to backup; a sink answers OK, RETRY or FAIL, for
 * the batch as a whole or for each record.
 *
 * Threads: deliver() and ready() may be called from several delivery
 * workers and the metrics thread at once; an instance must allow that.
 * create() and destroy() run on the main thread (destroy may run on a
 * worker, when the last batch of an old config generation settles). The
 * key table, check() and dest() run while a config is loaded or read.
 */
#ifndef SL_SINK_H
#define SL_SINK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "batch.h"
#include "buf.h"
#include "conf_key.h"
#include "metrics.h"
#include "partition-t.h"

/* The sink of a stream that names none. */
#define SL_SINK_DEFAULT "file"
/* Built-in sinks at most (the config loader holds keys of each). */
#define SL_SINK_MAX 16

/* The built-in sinks' names, NULL-terminated, in registry order: what
 * `sink =` takes (a key table's enum). */
extern const char *const sl_sink_enum[];

enum sl_sink_result { SL_SINK_OK, SL_SINK_RETRY, SL_SINK_FAIL };
enum sl_sink_shape { SL_SINK_OBJECTS, SL_SINK_RECORDS };

/* What deliver() gets. */
struct sl_sink_batch {
    const char *stream;
    const char *key;              /* objects: the object key (objkey.h); records: NULL */
    const uint8_t *data;          /* objects: the compressed object, or NULL when
                                   * in pieces; records: NULL */
    const struct iovec *iov;      /* objects, to a sink with <pieces>: the object
                                   * as <iovcnt> pieces when it is uncompressed
                                   * and lies in the chunks (sl_compress_pieces),
                                   * else NULL */
    size_t iovcnt;
    size_t len;                   /* objects: its bytes, either way */
    const struct sl_batch *batch; /* its records (sl_batch_iter) */
    struct sl_sink_stats *stats;  /* the stream's; own[] is the sink's to count */
    const struct sl_partition_spec *partition;  /* the stream's partition_keys, NULL when
                                   * none: a part's values by sl_partition_value()
                                   * (a record sink's key expression) */
    int exclusive;                /* objects: 1 when <key> names this batch alone
                                   * (durability = disk, or a lane's batch: its key
                                   * follows from its records):
                                   * never replace an object already there; if one is,
                                   * it is this batch's from before a crash: answer
                                   * OK with <existed> set */
};

/*
 * What deliver() answers. <result> speaks for the whole batch. A record
 * sink gets <record_results>, one slot per record in order; when some
 * records failed and others did not, it fills every slot with that
 * record's enum sl_sink_result and sets <per_record>: the engine then
 * settles the OK records, retries the RETRY ones alone and backs up the
 * FAIL ones.
 */
struct sl_sink_outcome {
    int result;                   /* enum sl_sink_result, for the batch */
    uint8_t *record_results;      /* record sinks only; else NULL */
    int per_record;               /* set by the sink: record_results decide */
    int cause;                    /* enum sl_retry_cause of a RETRY; 0: "sink" */
    int existed;                  /* OK because the object was there already (exclusive) */
    uint64_t bytes;               /* record sinks: bytes accepted, when not the records' */
    struct sl_notes *record_notes;/* record sinks, optional: why each record that was
                                   * not OK was refused (sl_batch_notes_errors, by
                                   * SL_NOTE_BY_SINK); the engine takes it, and the
                                   * backup envelopes of refused records say it */
    char error[256];              /* why, when not OK */
};

/* A sink's envelope hook: appends the destination's own fields of the record
 * <it> returned last (<r>) to its backup envelope, as ",\"key\":value" pairs,
 * at most SL_ENVELOPE_EXTRA_MAX bytes. */
#define SL_ENVELOPE_EXTRA_MAX 1024
typedef void (*sl_sink_envelope_fn)(void *ctx, const struct sl_batch_iter *it,
                                    const struct sl_record *r, struct sl_buf *out);

/* What the rest of sluice may say about a sink's destination. */
struct sl_sink_dest {
    char bucket[64];              /* the object store bucket objects go to; "" none */
    char kms_key_arn[400];        /* ... encrypted with this KMS key; "" none */
    char location[320];           /* where put_backup() writes ("s3://BUCKET") */
    char failed_name[32];         /* the destination's name in the error output type
                                   * and codes of its failures (opensearch-failed,
                                   * Opensearch.Refused); "": the sink's name */
    unsigned connections;         /* sockets the sink may hold open */
};

struct sl_sink_ops {
    const char *name;             /* sink = NAME */
    const char *prefix;           /* its keys' prefix, with the dot: "s3." */
    enum sl_sink_shape shape;
    int pieces;                   /* objects: deliver() takes an object in pieces
                                   * (sl_sink_batch.iov), written as they are */
    const struct sl_conf_key *keys;   /* names include the prefix; offsets into conf */
    size_t conf_size;             /* bytes of its parsed keys */
    /* Optional: cross-key checks once the section is read (a key the sink
     * needs is missing, two disagree); reports through sl_conf_key_check_err. */
    void (*check)(void *conf, struct sl_conf_check *chk);
    /* Returns SL_OK with *<ctx> set, or an error with a message in <err>. */
    int (*create)(const char *stream, const void *conf, void **ctx, char *err, size_t errlen);
    void (*deliver)(void *ctx, const struct sl_sink_batch *b, struct sl_sink_outcome *out);
    /* Optional: 1 if the destination looks usable, else 0 with <why>. */
    int (*ready)(void *ctx, char *why, size_t whylen);
    void (*destroy)(void *ctx);
    /* Optional: stores a backup object at <key> in the sink's own store
     * (S3: the same bucket), used when backup.path is not set. SL_OK, or
     * an error with <err>. */
    int (*put_backup)(void *ctx, const char *key, const void *data, size_t len, char *err,
                      size_t errlen);
    /* Optional: fills <d> from the sink's keys (zeroed before). */
    void (*dest)(const void *conf, struct sl_sink_dest *d);
    /* Optional: appends the families only this sink has, from the own[]
     * counters of the streams using it (metrics.h). */
    sl_sink_metrics_fn metrics;
    /* Optional: the destination's fields in the backup envelope of a record
     * the sink refused or gave up on (Elasticsearch's esDocumentId, ...). */
    sl_sink_envelope_fn envelope;
    /* Optional: the engine stops trying <b> (the sink said FAIL, or
     * retry_duration ran out after a RETRY) and sends it to backup; <why>
     * is the last answer's error. Redshift keeps the batch's manifest for
     * a later backfill. Called on the worker that got the last answer. */
    void (*gave_up)(void *ctx, const struct sl_sink_batch *b, const char *why);
    /* Optional: the name of a sink whose keys this one takes too, for a
     * store it writes through (redshift: "s3", its staging bucket). The
     * config loader parses that sink's keys into that sink's struct, placed
     * in this one's at sl_sink_stage_conf(), and runs that sink's check on
     * them; this sink opens it with sl_sink_open_stage(). */
    const char *stage;
    /* Optional: retry_duration of a stream that sets none, when this
     * destination's default in Firehose is not 300 s (redshift: 3600 s). */
    int64_t retry_duration_ms;
};

/* An instance: the ops and their state. */
struct sl_sink {
    const struct sl_sink_ops *ops;
    void *ctx;
};

/* The built-in sink called <name>, or NULL. */
const struct sl_sink_ops *sl_sink_find(const char *name);
/* The built-in sink whose prefix <key> starts with, or NULL. */
const struct sl_sink_ops *sl_sink_by_key(const char *key);
/* The <i>th built-in sink, or NULL past the last. */
const struct sl_sink_ops *sl_sink_at(size_t i);

/* The bytes of <ops>'s parsed keys, its stage sink's (sl_sink_stage_conf)
 * included. */
size_t sl_sink_conf_size(const struct sl_sink_ops *ops);
/* The ops of <ops>'s stage sink, or NULL when it names none (or none
 * that exists). */
const struct sl_sink_ops *sl_sink_stage(const struct sl_sink_ops *ops);
/* Where, in <conf> (the keys of <ops>, which has a stage), the stage
 * sink's keys are: past ops's own, aligned for any type. */
void *sl_sink_stage_conf(const struct sl_sink_ops *ops, void *conf);
/* Opens <ops>'s stage sink into <s>, from its keys in <conf>. */
int sl_sink_open_stage(struct sl_sink *s, const struct sl_sink_ops *ops, const char *stream,
                       const void *conf, char *err, size_t errlen);

/* Creates an instance of <ops> for stream <stream> from <conf> (its parsed
 * keys). On error <err> says why. */
int sl_sink_open(struct sl_sink *s, const struct sl_sink_ops *ops, const char *stream,
                 const void *conf, char *err, size_t errlen);
void sl_sink_close(struct sl_sink *s);

#endif
