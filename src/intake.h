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

struct sl_intake {
    const char *name;                     /* the stream's name */
    struct sl_ring *ring;                 /* chunks go here */
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

/* Bytes the stream may still take before max_buffered; 0 when sources
 * should stop reading. */
static inline uint64_t sl_intake_room(struct sl_intake *in)
{
    uint64_t held = sl_stats_bytes_held(in->stats), max = SL_LD(in->max_buffered);

    return held < max ? max - held : 0;
}

/* 1 when a paused source may read again. */
static inline int sl_intake_drained(struct sl_intake *in)
{
    return sl_stats_bytes_held(in->stats) <= SL_LD(in->low_water);
}

#endif
