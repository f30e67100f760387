/*
 * source_kafka.h - the Kafka source (kafka.* keys): one balanced consumer
 * per stream that sets kafka.brokers, committing only offsets whose
 * records have settled. The module itself is sl_source_kafka (source.h);
 * this header shows the per-partition commit tracker, for the unit tests.
 *
 * The tracker. Each assigned partition has one (struct sl_kafka_part). A
 * chunk made from that partition's records gets a span, appended in offset
 * order: its first and last offsets and its record count. The chunk's
 * settled() hook (chunk.h) adds to the span's count; once every record of
 * a span has settled, and every span before it too, the span leaves the
 * list and the partition's committable offset becomes its last offset + 1.
 * Within the first span left, the records settled from its start move it
 * to the offset of its first unsettled record. So the lowest unsettled
 * offset bounds what is committed, whatever order the batches settle in,
 * and a commit ends where a batch begins (where a re-read starts the same
 * batch again: batcher.h, lanes). A revoked (or lost) partition keeps its tracker
 * until its last span has left (settles still arrive), but commits nothing
 * more: the new owner reads those records again.
 *
 * Threads and locks: every field of a part but <topic> and <partition>
 * (constant) is guarded by <*lock>, the stream's mutex, which the consumer
 * thread and the delivery workers (settled()) take; <*cond> is broadcast
 * when a span leaves, for the waits on a revoke and at stop. A part is
 * freed by the consumer thread once it is revoked and holds no span, or at
 * teardown when no settle can come any more: so a span's part outlives it.
 */
#ifndef SL_SOURCE_KAFKA_H
#define SL_SOURCE_KAFKA_H

#include <pthread.h>
#include <stdint.h>

#include "chunk.h"

struct sl_kafka_span;

struct sl_kafka_part {
    pthread_mutex_t *lock;          /* the stream's; guards what follows but the names */
    pthread_cond_t *cond;           /* broadcast when a span leaves the list */
    char *topic;                    /* owned */
    int32_t partition;
    struct sl_kafka_span *head, *tail; /* spans not yet in the done prefix, offset order */
    int64_t done;                   /* next offset after the done prefix; -1: none yet */
    int64_t next;                   /* next offset after the last record taken; -1: none */
    int64_t sent;                   /* last offset a commit was asked for; -1: none */
    int64_t committed;              /* last offset the group acknowledged; -1: unknown */
    int revoked;                    /* revoked or lost: settles commit nothing */
    int paused;                     /* consumer thread's: paused for backpressure */
    struct sl_kafka_part *next_part;/* the stream's list */
};

/* A part for <topic> [<partition>], nothing taken yet; NULL when out of memory. */
struct sl_kafka_part *sl__source_kafka_part_new(pthread_mutex_t *lock, pthread_cond_t *cond,
                                                const char *topic, int32_t partition);
/* Frees <p> and any span left (caller: no settle can reach them any more). */
void sl__source_kafka_part_free(struct sl_kafka_part *p);
/* Appends a span for a chunk of <nrecords> records taken from offsets
 * [first, last] (rejected records among them). The span to give the chunk
 * as settled_arg, or NULL when out of memory. A span of 0 records is done
 * at once (and NULL is returned: it has no chunk). Takes the lock. Sets
 * *<oom> to 1 on failure. */
struct sl_kafka_span *sl__source_kafka_span_add(struct sl_kafka_part *p, int64_t first,
                                                int64_t last, uint32_t nrecords, int *oom);
/* The chunk.h settled() hook: records [first, first + nrecords) of span
 * <arg>'s chunk <c> (its origin gives their offsets; NULL: none known). */
void sl__source_kafka_settled(void *arg, const struct sl_chunk *c, uint32_t first,
                              uint32_t nrecords);
/* The offset to commit for <p> (next after the done prefix), or -1 when
 * nothing is, or <p> is revoked. Caller holds the lock. */
int64_t sl__source_kafka_committable(const struct sl_kafka_part *p);
/* Spans of <p> not yet settled (nor in the done prefix). Caller holds the lock. */
unsigned sl__source_kafka_inflight(const struct sl_kafka_part *p);

#endif
