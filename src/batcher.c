/*
 * batcher.c - see batcher.h.
 *
 * A chunk is consumed whole in take(): its records go to the open batch
 * while they fit; a record that does not fit seals the batch and opens the
 * next. A chunk therefore never waits half-read between steps.
 */
#include "batcher.h"

#include <stdlib.h>

#include "log.h"
#include "sluice/err.h"

void sl_batcher_init(struct sl_batcher *b, struct sl_ring *ring, const struct sl_clock *clock,
                     sl_emit_fn emit, void *arg)
{
    b->ring = ring;
    b->clock = clock;
    b->emit = emit;
    b->emit_arg = arg;
    b->buffer_size = 5 << 20;
    b->interval_ms = 60000;
    b->open = NULL;
    atomic_init(&b->open_oldest_mono_ms, 0);
}

void sl_batcher_destroy(struct sl_batcher *b)
{
    sl_batch_free(b->open);
    b->open = NULL;
}

static void seal(struct sl_batcher *b, int reason)
{
    struct sl_batch *batch = b->open;

    if (!batch)
        return;
    b->open = NULL;
    atomic_store_explicit(&b->open_oldest_mono_ms, 0, memory_order_relaxed);
    batch->seal_reason = reason;
    batch->sealed_mono_ms = b->clock->mono_ms(b->clock);
    b->emit(b->emit_arg, batch);
}

/* Adds <n> records of <c> from byte <off> (its <idx>th record) to <end>. */
static void add(struct sl_batcher *b, struct sl_chunk *c, uint32_t off, uint32_t end,
                uint32_t idx, uint32_t n, uint64_t bytes)
{
    if (!b->open) {
        b->open = sl_batch_new();
        if (!b->open) {
            sl_error("msg=\"out of memory opening a batch\"");
            abort();
        }
    }
    if (c->seq) {            /* logged: the batch's range grows (the log's order is ours;
                              * an unlogged chunk, a last resort, adds nothing to it) */
        if (!b->open->seq_first)
            b->open->seq_first = c->seq + idx;
        b->open->seq_end = c->seq + idx + n;
    }
    if (sl_batch_add_span(b->open, c, off, end, n, bytes) != SL_OK) {
        sl_error("msg=\"out of memory growing a batch\"");
        abort();
    }
    if (atomic_load_explicit(&b->open_oldest_mono_ms, memory_order_relaxed) == 0)
        atomic_store_explicit(&b->open_oldest_mono_ms, b->open->oldest_mono_ms,
                              memory_order_relaxed);
}

static void take(struct sl_batcher *b, struct sl_chunk *c)
{
    uint32_t off = 0, idx = 0, left_n = c->nrecords;
    uint64_t left_bytes = c->bytes;

    while (left_n > 0) {
        uint64_t have = b->open ? b->open->bytes : 0;
        if (have + left_bytes <= b->buffer_size) {
            add(b, c, off, c->len, idx, left_n, left_bytes);
            if (b->open->bytes == b->buffer_size)
                seal(b, SL_SEAL_SIZE);
            break;
        }
        /* Only part of the chunk fits: walk its records. */
        uint32_t o = off, n = 0, len;
        uint64_t acc = 0;
        const uint8_t *p;
        while (n < left_n) {
            uint32_t next = sl_chunk_at(c, o, &p, &len);
            if (have + acc + len > b->buffer_size && (have > 0 || n > 0))
                break;
            acc += len;
            n++;
            o = next;
        }
        if (n > 0)
            add(b, c, off, o, idx, n, acc);
        seal(b, SL_SEAL_SIZE);
        off = o;
        idx += n;
        left_n -= n;
        left_bytes -= acc;
    }
    sl_chunk_unref(c);   /* the ring's reference; spans hold their own */
}

int64_t sl_batcher_step(struct sl_batcher *b, int force)
{
    void *p;
    int64_t age;

    /* Bounded, so that a ring that never empties still lets ages be checked. */
    for (int i = 0; i < 4096 && sl_ring_pop_sc(b->ring, &p) == SL_OK; i++)
        take(b, p);
    if (force >= 0) {
        while (sl_ring_pop_sc(b->ring, &p) == SL_OK)
            take(b, p);
        seal(b, force);
        return -1;
    }
    if (!b->open)
        return -1;
    age = b->clock->mono_ms(b->clock) - b->open->oldest_mono_ms;
    if (age >= b->interval_ms) {
        seal(b, SL_SEAL_INTERVAL);
        return -1;
    }
    return b->interval_ms - age;
}
