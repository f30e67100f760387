/*
 * backup.h - where records go when they cannot be delivered, as Firehose
 * writes them: one JSON envelope per line, per record,
 *
 *   {"attemptsMade":1,"arrivalTimestamp":1594265943615,
 *    "errorCode":"Json.Invalid","errorMessage":"...",
 *    "attemptEndingTimestamp":1594266081318,"rawData":"<base64>",
 *    "stream":"s1","transform":"check"}
 *
 * ("sink":NAME instead of "transform" when the sink refused the record or
 * gave up, "lambdaArn":URL when a lambda transform failed it; a sink may
 * add its destination's fields before rawData, as Firehose's Elasticsearch
 * envelope has esDocumentId and esIndexName), in objects
 * compressed like the stream's, under error_prefix. rawData is the record
 * as it came in for a transform's failure, as it was sent otherwise.
 * With backup = all the stream's source records are also kept as they
 * came, in ordinary objects under backup.prefix.
 *
 * Objects go to backup.path, durably (fsio.h), or, for an S3 stream
 * without backup.path, into its bucket through the sink's put_backup.
 *
 * Threads: delivery workers, concurrently; it keeps no state.
 */
#ifndef SL_BACKUP_H
#define SL_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "buf.h"
#include "config.h"
#include "sink.h"

/* What the envelopes of one batch say beyond each record. */
struct sl_envelope {
    const char *stream;
    const char *code, *message;   /* records without a note (batch.h) */
    const char *who, *name;       /* "sink" and its name, for those */
    unsigned attempts;            /* ... and their attempts */
    int transformed;              /* ... their rawData came out of the chain */
    /* Records with a note failed transform number note.by of the chain: */
    const char *const *tf_names;  /* the chain's section names */
    const char *const *tf_arns;   /* a lambda's url, else NULL */
    size_t ntf;
    int64_t now_ms;               /* attemptEndingTimestamp */
    /* Optional: appends a record's destination fields (",\"esIndexName\":...",
     * at most SL_ENVELOPE_EXTRA_MAX bytes) before rawData, for records the
     * sink failed or gave up on (a sink's envelope hook, sink.h). */
    sl_sink_envelope_fn extra;
    void *extra_arg;
};

/* Appends the envelope of every record of <b> to <out>, a line each.
 * SL_OK, or SL_ETOOBIG past out's max. */
int sl_backup_envelopes(const struct sl_batch *b, const struct sl_envelope *e,
                        struct sl_buf *out);

/* Stores object <key> (<len> bytes of <data>) under backup.path, or, when
 * conf->backup_in_sink, through <sink>'s put_backup. SL_OK, or SL_EIO with
 * why in <err>. */
int sl_backup_write(const struct sl_stream_conf *conf, const struct sl_sink *sink,
                    const char *key, const uint8_t *data, size_t len, char *err,
                    size_t errlen);

#endif
