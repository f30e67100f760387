/*
 * ring.h - a bounded lock-free multi-producer / single-consumer ring of
 * pointers, one per stream, carrying chunks from listeners to the batcher.
 *
 * Why not ck_ring: Concurrency Kit's MPSC ring has the same shape, but its
 * atomics are inline assembly that ThreadSanitizer cannot see, so every
 * hand-off would be reported as a race. This is the same design (power-of-
 * two size, free-running counters, indices on their own cache lines, one
 * CAS per push, "full" answered at once) in C11 atomics, after Vyukov's
 * bounded queue: each slot has a sequence number that says whose turn it is.
 *
 * Threads: any number of producers call sl_ring_push_mp(); exactly one
 * consumer calls sl_ring_pop_sc() and sl_ring_wait_sc(). sl_ring_wake()
 * may be called by anyone. The consumer sleeps on an eventfd when the ring
 * is empty; producers write it only when the consumer said it sleeps.
 */
#ifndef SL_RING_H
#define SL_RING_H

#include <stddef.h>
#include <stdint.h>

struct sl_ring;

/* Returns a new ring of <size> slots (rounded up to a power of two, at
 * least 2), or NULL. sl_ring_free releases it; it must be empty then. */
struct sl_ring *sl_ring_new(size_t size);
void sl_ring_free(struct sl_ring *r);

/* SL_OK, or SL_EAGAIN when full (the caller keeps <p>). */
int sl_ring_push_mp(struct sl_ring *r, void *p);
/* SL_OK with *<p> set, or SL_EAGAIN when empty. */
int sl_ring_pop_sc(struct sl_ring *r, void **p);
/* Sleeps until a push or a wake, or <timeout_ms> (-1: no limit). Returns at
 * once if the ring is not empty. */
void sl_ring_wait_sc(struct sl_ring *r, int timeout_ms);
/* Makes the consumer's wait return (reload, shutdown). */
void sl_ring_wake(struct sl_ring *r);
/* 1 if a push would succeed now. Exact when producers are serialised (the
 * write-ahead log's lock): the consumer only ever frees slots. */
int sl_ring_has_room(const struct sl_ring *r);
/* Slots in use (approximate while producers run). */
size_t sl_ring_count(const struct sl_ring *r);

#endif
