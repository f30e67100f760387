/*
 * sink_es.h - the pure parts of the Elasticsearch / OpenSearch sink
 * (sink_es.c), for its unit tests: index names, document ids, bulk bodies
 * and the reading of a _bulk answer. Nothing else includes this; the sink
 * itself is reached through the registry (sink.h) as sl_sink_elasticsearch.
 *
 * Threads: no state; any thread.
 */
#ifndef SL_SINK_ES_H
#define SL_SINK_ES_H

#include <stddef.h>
#include <stdint.h>

#include "batch-t.h"
#include "buf.h"

/* es.index_rotation, in the key table's order. */
enum sl_es_rotation { SL_ES_ROT_NONE, SL_ES_ROT_HOUR, SL_ES_ROT_DAY, SL_ES_ROT_WEEK,
                      SL_ES_ROT_MONTH };
/* es.week_rule: ISO-8601 week-year and week (%G-w%V), or weeks from Sunday
 * in the calendar year (%Y-w%U); both give Firehose's example. */
enum sl_es_week { SL_ES_WEEK_ISO, SL_ES_WEEK_SUNDAY };

#define SL_ES_INDEX_MAX 96         /* 80 characters, a suffix of 14, NUL */
#define SL_ES_ID_LEN 20            /* base64url of 120 bits */

/* Writes <index> with the suffix of <rotation> for the UTC time <ms> into
 * <out> (SL_ES_INDEX_MAX bytes). */
void sl__sink_es_index_name(const char *index, int rotation, int week, int64_t ms,
                            char out[SL_ES_INDEX_MAX]);

/* Fills <ids> (one per record of <b>, in order) with each record's stable
 * document id: see "Document ids" in sink_es.c. SL_OK or SL_ENOMEM. */
int sl__sink_es_ids(const char *stream, const struct sl_batch *b,
                    char (*ids)[SL_ES_ID_LEN + 1]);

/* A record as a bulk body sees it. */
struct sl_es_doc {
    const uint8_t *data;           /* the source line, no trailing newline */
    uint32_t len;
    int64_t arrival_ms;
    const char *id;                /* NULL: no _id (es.document_id = none) */
    uint32_t slot;                 /* its record's place in the batch */
};

/* How action lines look. */
struct sl_es_layout {
    const char *index;             /* es.index */
    int rotation, week;            /* enum sl_es_rotation, enum sl_es_week */
    int create;                    /* 1: "create"; 0: "index" */
    const char *type_name;         /* "" or NULL: no _type */
};

/* Appends the NDJSON of <n> docs to <out>: per doc an action line and its
 * source line, each ending in '\n'. SL_OK, or SL_ETOOBIG past out->max. */
int sl__sink_es_body(const struct sl_es_layout *l, const struct sl_es_doc *d, size_t n,
                     struct sl_buf *out);

/* What one item came to: what the engine is told, and what is counted. */
enum sl_es_item { SL_ES_CREATED, SL_ES_EXISTS, SL_ES_RETRIED, SL_ES_FAILED, SL_ES_NITEMS };

/*
 * Reads a 200 answer to a _bulk of <n> docs (<create>: sent as create),
 * asked with SL_ES_FILTER_PATH: <res>[i] gets enum sl_sink_result and
 * <kind>[i] enum sl_es_item for the i-th doc. <why> gets the first failed
 * item's "STATUS TYPE: REASON". With <errs>, each item not OK gets its
 * error as "TYPE\0STATUS: REASON\0" at <erroff>[i] in <errs> (an item
 * without one keeps its <erroff>). SL_OK; SL_EINVAL when the answer is not
 * JSON or its items do not line up with the request (<why> says which).
 */
#define SL_ES_FILTER_PATH "filter_path=errors,items.*.status,items.*.error.type," \
                          "items.*.error.reason"
int sl__sink_es_items(const char *json, size_t len, int create, size_t n, uint8_t *res,
                      uint8_t *kind, char *why, size_t whylen, struct sl_buf *errs,
                      uint32_t *erroff);

/* 1 if <name> is a usable index name, else 0 with <why>. */
int sl__sink_es_index_ok(const char *name, char *why, size_t whylen);

#endif
