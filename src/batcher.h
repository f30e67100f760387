/*
 * batcher.h - one per stream: drains the ring into the open batch and
 * seals it by size, age, reload or shutdown.
 *
 * Seal rules, checked in sl_batcher_step():
 *  - size: a batch never holds more than buffer_size payload bytes, unless
 *    it is a single larger record; a record that would overflow it starts
 *    the next batch. Records are never split; chunks may be.
 *  - interval: the oldest record is interval_ms old (0: as soon as the
 *    ring is drained).
 *  - a forced reason (reload, shutdown) seals whatever is open.
 * The clock is injected, so tests run the rules without sleeping.
 *
 * Lanes. The records of a chunk with an origin (chunk.h: Kafka's partition
 * and offsets) go to their lane's own open batch, never mixed with another
 * lane's or with records of no lane, and are sealed by rules that look at
 * the records alone, so that reading the same records again from the same
 * position makes the same batches (and the same names: batch.h
 * sl_batch_lane_uuid):
 *  - size, as above;
 *  - record time: a record whose own time is interval_ms or more after
 *    the batch's first record's starts the next batch;
 *  - idle: a batch open interval_ms + the origin's grace_ms (the daemon's
 *    clock) is sealed. The one rule that depends on when records came: a
 *    re-read makes the same batch if no record arrived more than grace_ms
 *    later, behind its own time, than the batch's first (with interval_ms
 *    0, lanes seal when the ring is drained, as the rest);
 *  - shutdown, as above; a reload does not seal lanes (they go on under
 *    the new settings);
 *  - an empty chunk of the lane with SL_ORIGIN_SEAL set: its source asks
 *    for the lane's batch now (a Kafka partition handed off).
 * Lanes are at most as many as lanes with an open batch.
 *
 * Threads: the batcher's own thread calls step(); open_oldest_mono_ms is
 * also read by the metrics thread (relaxed) for data freshness.
 */
#ifndef SL_BATCHER_H
#define SL_BATCHER_H

#include <stdatomic.h>
#include <stdint.h>

#include "batch.h"
#include "clock.h"
#include "ring.h"

/* Called with each sealed batch (b->seal_reason set); takes ownership. */
typedef void (*sl_emit_fn)(void *arg, struct sl_batch *b);

/* A lane with an open batch. */
struct sl_lane {
    const struct sl_origin *origin;   /* of a chunk its batch holds */
    struct sl_batch *open;            /* owned */
    int64_t first_time_ms;            /* its first record's own time */
};

struct sl_batcher {
    struct sl_ring *ring;             /* borrowed; we are its consumer */
    const struct sl_clock *clock;     /* borrowed */
    sl_emit_fn emit;
    void *emit_arg;
    uint64_t buffer_size;             /* owner sets these before a step */
    int64_t interval_ms;
    struct sl_batch *open;            /* owned: records of no lane; NULL: none open */
    struct sl_lane *lanes;            /* owned: nlanes with a batch open */
    size_t nlanes, caplanes;
    _Atomic int64_t open_oldest_mono_ms;  /* of all open batches; 0 when none is */
};

void sl_batcher_init(struct sl_batcher *b, struct sl_ring *ring, const struct sl_clock *clock,
                     sl_emit_fn emit, void *arg);
/* Frees the open batches (tests; the daemon seals them with a reason first). */
void sl_batcher_destroy(struct sl_batcher *b);

/*
 * Drains the ring, seals what the rules say, and with <force> >= 0 seals
 * the open batches with that reason (SL_SEAL_RELOAD: not the lanes').
 * Returns the ms until the next open batch's interval runs out, or -1 when
 * nothing is open.
 */
int64_t sl_batcher_step(struct sl_batcher *b, int force);

#endif
