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

struct sl_batcher {
    struct sl_ring *ring;             /* borrowed; we are its consumer */
    const struct sl_clock *clock;     /* borrowed */
    sl_emit_fn emit;
    void *emit_arg;
    uint64_t buffer_size;             /* owner sets these before a step */
    int64_t interval_ms;
    struct sl_batch *open;            /* owned; NULL when nothing is open */
    _Atomic int64_t open_oldest_mono_ms;  /* 0 when nothing is open */
};

void sl_batcher_init(struct sl_batcher *b, struct sl_ring *ring, const struct sl_clock *clock,
                     sl_emit_fn emit, void *arg);
/* Frees an open batch (tests; the daemon seals it with a reason first). */
void sl_batcher_destroy(struct sl_batcher *b);

/*
 * Drains the ring, seals what the rules say, and with <force> >= 0 seals
 * the open batch with that reason. Returns the ms until the open batch's
 * interval runs out, or -1 when nothing is open.
 */
int64_t sl_batcher_step(struct sl_batcher *b, int force);

#endif
