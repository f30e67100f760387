/*
 * batcher.c - see batcher.h.
 *
 * A chunk is consumed whole in take(): its records go to the open batch
 * while they fit; a record that does not fit seals the batch and opens the
 * next. A chunk therefore never waits half-read between steps. A lane's
 * chunk is walked record by record (take_lane), for the record-time rule.
 */
#include "batcher.h"

#include <stdlib.h>
#include <string.h>

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
    b->lanes = NULL;
    b->nlanes = b->caplanes = 0;
    atomic_init(&b->open_oldest_mono_ms, 0);
}

void sl_batcher_destroy(struct sl_batcher *b)
{
    sl_batch_free(b->open);
    b->open = NULL;
    for (size_t i = 0; i < b->nlanes; i++)
        sl_batch_free(b->lanes[i].open);
    free(b->lanes);
    b->lanes = NULL;
    b->nlanes = b->caplanes = 0;
}

static void seal(struct sl_batcher *b, struct sl_batch **slot, int reason)
{
    struct sl_batch *batch = *slot;

    if (!batch)
        return;
    *slot = NULL;
    batch->seal_reason = reason;
    batch->sealed_mono_ms = b->clock->mono_ms(b->clock);
    b->emit(b->emit_arg, batch);
}

/* Seals lane <l>'s batch, named by its first record's own time. The
 * lane's entry is free from then on (its origin may be freed any time). */
static void seal_lane(struct sl_batcher *b, struct sl_lane *l, int reason)
{
    if (l->open)
        l->open->oldest_wall_ms = l->first_time_ms;
    seal(b, &l->open, reason);
    l->origin = NULL;
}

/* Adds records [idx, end) (at least one) of <c>, <bytes> bytes in all,
 * to the batch in *<slot>, opening one if none is. */
static void add(struct sl_batch **slot, struct sl_chunk *c, uint32_t idx, uint32_t end,
                uint64_t bytes)
{
    struct sl_batch *o = *slot;
    uint32_t n = end - idx;

    if (!o && !(o = *slot = sl_batch_new())) {
        sl_error("msg=\"out of memory opening a batch\"");
        abort();
    }
    if (c->seq) {            /* logged: the batch's range grows (the log's order is ours;
                              * an unlogged chunk, a last resort, adds nothing to it) */
        if (!o->seq_first)
            o->seq_first = c->seq + idx;
        o->seq_end = c->seq + idx + n;
    }
    if (c->origin) {
        if (!o->lane) {
            o->lane = 1;
            o->pos_first = c->origin->pos[idx];
        }
        o->pos_last = c->origin->pos[idx + n - 1];
    }
    if (sl_batch_add_span(o, c, idx, end, bytes) != SL_OK) {
        sl_error("msg=\"out of memory growing a batch\"");
        abort();
    }
}

/* Takes a chunk of no lane. */
static void take(struct sl_batcher *b, struct sl_chunk *c)
{
    uint32_t idx = 0, left_n = c->nrecords;
    uint64_t left_bytes = c->bytes;

    while (left_n > 0) {
        uint64_t have = b->open ? b->open->bytes : 0;
        if (have + left_bytes <= b->buffer_size) {
            add(&b->open, c, idx, c->nrecords, left_bytes);
            if (b->open->bytes == b->buffer_size)
                seal(b, &b->open, SL_SEAL_SIZE);
            break;
        }
        /* Only part of the chunk fits: walk its records. */
        uint32_t n = 0, len;
        uint64_t acc = 0;
        const uint8_t *p;
        while (n < left_n) {
            sl_chunk_at(c, idx + n, &p, &len);
            len = sl_chunk_src_len(c, idx + n, len);
            if (have + acc + len > b->buffer_size && (have > 0 || n > 0))
                break;
            acc += len;
            n++;
        }
        if (n > 0)
            add(&b->open, c, idx, idx + n, acc);
        seal(b, &b->open, SL_SEAL_SIZE);
        idx += n;
        left_n -= n;
        left_bytes -= acc;
    }
}

/* The entry of <o>'s lane if it has a batch open, else NULL. */
static struct sl_lane *lane_find(struct sl_batcher *b, const struct sl_origin *o)
{
    for (size_t i = 0; i < b->nlanes; i++) {
        const struct sl_origin *x = b->lanes[i].origin;
        if (x && x->lane == o->lane && strcmp(x->name, o->name) == 0)
            return &b->lanes[i];
    }
    return NULL;
}

/* The entry of <o>'s lane: the open one, or a free one set to <o>. */
static struct sl_lane *lane_of(struct sl_batcher *b, const struct sl_origin *o)
{
    struct sl_lane *l = lane_find(b, o);

    if (l)
        return l;
    for (size_t i = 0; i < b->nlanes; i++)
        if (!b->lanes[i].origin) {
            l = &b->lanes[i];
            break;
        }
    if (!l) {
        if (b->nlanes == b->caplanes) {
            size_t cap = b->caplanes ? b->caplanes * 2 : 8;
            struct sl_lane *n = realloc(b->lanes, cap * sizeof(*n));
            if (!n) {
                sl_error("msg=\"out of memory opening a lane\"");
                abort();
            }
            b->lanes = n;
            b->caplanes = cap;
        }
        l = &b->lanes[b->nlanes++];
    }
    *l = (struct sl_lane){ o, NULL, 0 };
    return l;
}

/* Takes a chunk of a lane, record by record (the record-time rule). */
static void take_lane(struct sl_batcher *b, struct sl_chunk *c)
{
    const struct sl_origin *o = c->origin;
    struct sl_lane *l;
    uint32_t run_idx = 0, run_n = 0, len;
    uint64_t run_bytes = 0;
    const uint8_t *p;

    if ((o->flags & SL_ORIGIN_SEAL) && (l = lane_find(b, o)))
        seal_lane(b, l, SL_SEAL_SOURCE);
    if (c->nrecords == 0)
        return;
    l = lane_of(b, o);
    for (uint32_t i = 0; i < c->nrecords; i++) {
        uint64_t have = (l->open ? l->open->bytes : 0) + run_bytes;
        int empty = !l->open && run_n == 0;

        sl_chunk_at(c, i, &p, &len);
        len = sl_chunk_src_len(c, i, len);
        int full = !empty && have + len > b->buffer_size;
        int late = !empty && b->interval_ms > 0 &&
                   o->time_ms[i] - l->first_time_ms >= b->interval_ms;
        if (full || late) {
            if (run_n > 0)
                add(&l->open, c, run_idx, i, run_bytes);
            seal_lane(b, l, full ? SL_SEAL_SIZE : SL_SEAL_INTERVAL);
            run_idx = i, run_n = 0, run_bytes = 0;
            empty = 1;
        }
        if (empty)
            l->first_time_ms = o->time_ms[i];
        run_n++;
        run_bytes += len;
    }
    add(&l->open, c, run_idx, c->nrecords, run_bytes);
    l->origin = o;
    if (l->open->bytes >= b->buffer_size)
        seal_lane(b, l, SL_SEAL_SIZE);
}

/* Drops the free lane entries, and publishes the oldest open record's age. */
static void tidy(struct sl_batcher *b)
{
    size_t k = 0;
    int64_t oldest = b->open ? b->open->oldest_mono_ms : 0;

    for (size_t i = 0; i < b->nlanes; i++) {
        if (!b->lanes[i].origin)
            continue;
        b->lanes[k++] = b->lanes[i];
        int64_t t = b->lanes[i].open->oldest_mono_ms;
        if (!oldest || t < oldest)
            oldest = t;
    }
    b->nlanes = k;
    atomic_store_explicit(&b->open_oldest_mono_ms, oldest, memory_order_relaxed);
}

static void take_any(struct sl_batcher *b, struct sl_chunk *c)
{
    if (c->origin)
        take_lane(b, c);
    else
        take(b, c);
    sl_chunk_unref(c);   /* the ring's reference; spans hold their own */
}

int64_t sl_batcher_step(struct sl_batcher *b, int force)
{
    void *p;
    int64_t now, age, limit, wait = -1;

    /* Bounded, so that a ring that never empties still lets ages be checked. */
    for (int i = 0; i < 4096 && sl_ring_pop_sc(b->ring, &p) == SL_OK; i++)
        take_any(b, p);
    now = b->clock->mono_ms(b->clock);
    if (force >= 0) {
        while (sl_ring_pop_sc(b->ring, &p) == SL_OK)
            take_any(b, p);
        seal(b, &b->open, force);
    } else if (b->open) {
        age = now - b->open->oldest_mono_ms;
        if (age >= b->interval_ms)
            seal(b, &b->open, SL_SEAL_INTERVAL);
        else
            wait = b->interval_ms - age;
    }
    for (size_t i = 0; i < b->nlanes; i++) {
        struct sl_lane *l = &b->lanes[i];
        if (!l->origin)
            continue;
        if (force >= 0 && force != SL_SEAL_RELOAD) {
            seal_lane(b, l, force);
            continue;
        }
        limit = b->interval_ms ? b->interval_ms + l->origin->grace_ms : 0;
        age = now - l->open->oldest_mono_ms;
        if (age >= limit)
            seal_lane(b, l, SL_SEAL_INTERVAL);
        else if (wait < 0 || limit - age < wait)
            wait = limit - age;
    }
    tidy(b);
    return wait;
}
