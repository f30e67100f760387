/*
 * intake.h - what a source (listener) sees of a stream: where to push
 * chunks, what to count, and the limits it must enforce.
 *
 * Sources include this, never the stream or batch headers.
 * Threads: the limits are written by the main thread at start and reload
 * and read (relaxed) by source threads; a reload may take effect a few
 * reads late, which is harmless. ring and stats are shared as their own
 * headers say.
 */
#ifndef SL_INTAKE_H
#define SL_INTAKE_H

#include <stdatomic.h>
#include <stdint.h>

#include <time.h>

#include "chunk.h"
#include "metrics.h"
#include "ring.h"
#include "sluice/err.h"
#include "wal.h"

struct sl_intake {
    const char *name;                     /* the stream's name */
    struct sl_ring *ring;                 /* chunks go here */
    struct sl_wal *wal;                   /* durability = disk: ... through this log
                                           * first; NULL: memory. Set before sources
                                           * start, never changed. */
    struct sl_stream_stats *stats;
    _Atomic uint64_t max_buffered;        /* stop reading at or above this */
    _Atomic uint64_t low_water;           /* resume at or below this */
    _Atomic uint64_t max_record_size;
    _Atomic uint64_t max_connections;
    _Atomic int64_t  idle_timeout_ms;
};

#define SL_LD(x) atomic_load_explicit(&(x), memory_order_relaxed)

/* Hands <c> (already counted as received) to the stream's ring, waiting
 * (1 ms naps) while the ring is full: the batcher always drains it. */
static inline void sl_intake_hand_on(struct sl_intake *in, struct sl_chunk *c)
{
    const struct timespec ms = { 0, 1000000 };

    while (sl_ring_push_mp(in->ring, c) != 0)
        nanosleep(&ms, NULL);
}

/* Counts <c>'s records as received from <source>, then hands it on.
 * Counting first keeps the balance: a record can only settle after it
 * was counted in. */
static inline void sl_intake_push(struct sl_intake *in, int source, struct sl_chunk *c)
{
    sl_stat_add(&in->stats->received_records[source], c->nrecords);
    sl_stat_add(&in->stats->received_bytes[source], c->bytes);
    sl_intake_hand_on(in, c);
}

/* The source whose chunk sl_intake_count_hand_on counts. */
struct sl_intake_put { struct sl_intake *in; int source; };

static inline void sl_intake_count_hand_on(void *arg, struct sl_chunk *c)
{
    struct sl_intake_put *p = arg;

    sl_intake_push(p->in, p->source, c);
}

static inline void sl_intake_hand_on_cb(void *arg, struct sl_chunk *c)
{
    sl_intake_hand_on(arg, c);
}

/*
 * Takes <c> from <source>, through the log when the stream has one:
 * SL_OK (taken; *<pos> is the log position to sl_wal_notify for, 0 without
 * a log), or, with a log, SL_EAGAIN (the log is at wal.max_size) or
 * SL_EIO (the disk refused it): <c> not taken, not counted, the caller
 * refuses its records (and counts them as rejected).
 */
static inline int sl_intake_put(struct sl_intake *in, int source, struct sl_chunk *c,
                                uint64_t *pos)
{
    struct sl_intake_put p = { in, source };

    *pos = 0;
    if (!in->wal) {
        sl_intake_push(in, source, c);
        return SL_OK;
    }
    return sl_wal_append(in->wal, c, in->ring, 1, sl_intake_count_hand_on, &p, pos);
}

/* Like sl_intake_put, for a chunk counted already (TCP counts at parse),
 * never waiting: SL_OK, or an error (a full ring among them) that leaves
 * <c> with the caller, who pauses the connection and tries again. */
static inline int sl_intake_put_counted(struct sl_intake *in, struct sl_chunk *c)
{
    uint64_t pos;

    if (!in->wal)
        return sl_ring_push_mp(in->ring, c);
    return sl_wal_append(in->wal, c, in->ring, 0, sl_intake_hand_on_cb, in, &pos);
}

/* Hands on a counted chunk that the log refused, unlogged (in order with
 * the logged ones). */
static inline void sl_intake_put_unlogged(struct sl_intake *in, struct sl_chunk *c)
{
    if (in->wal)
        sl_wal_hand_unlogged(in->wal, c, in->ring, sl_intake_hand_on_cb, in);
    else
        sl_intake_hand_on(in, c);
}

/* The rejection reason of an sl_intake_put error. */
static inline int sl_intake_reject_reason(int rc)
{
    return rc == SL_EAGAIN ? SL_REJ_WAL_FULL : SL_REJ_WAL_ERROR;
}

/* Bytes the stream may still take before max_buffered; 0 when sources
 * should stop reading. */
static inline uint64_t sl_intake_room(struct sl_intake *in)
{
    uint64_t held = sl_metrics_bytes_held(in->stats), max = SL_LD(in->max_buffered);

    return held < max ? max - held : 0;
}

/* 1 when a paused source may read again. */
static inline int sl_intake_drained(struct sl_intake *in)
{
    return sl_metrics_bytes_held(in->stats) <= SL_LD(in->low_water);
}

#endif
