/*
 * delivery.h - the pool of delivery workers shared by all streams.
 *
 * A worker takes the first sealed batch that is due, compresses it, hands
 * it to its generation's sink, and settles it on OK. On RETRY it counts a
 * retry, sets the batch's not-before time by exponential backoff with
 * jitter and puts it back, so a batch waiting to retry holds no worker and
 * a failing stream cannot starve the others. On FAIL, or when
 * retry_duration has run out, the batch goes to backup; if the backup
 * write fails too, it is retried the same way and held, never dropped.
 *
 * The queue has no count limit of its own: every batch in it is bytes that
 * the stream's max_buffered already bounds (sources stop reading above it).
 *
 * Threads: batchers submit; workers take and put back; the main thread
 * drains and stops. One mutex guards the queue; it is never held while a
 * batch is compressed or delivered.
 */
#ifndef SL_DELIVERY_H
#define SL_DELIVERY_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"

struct sl_delivery;

/* Returns a new pool of <nworkers> threads, started, or NULL. */
struct sl_delivery *sl_delivery_new(unsigned nworkers);
/* Queues sealed batch <b> (taken); b->owner is its struct sl_gen. */
void sl_delivery_submit(struct sl_delivery *d, struct sl_batch *b);
/* Waits until no batch is queued or being delivered, or <timeout_ms> pass.
 * Returns the number of batches still unsettled. */
size_t sl_delivery_drain(struct sl_delivery *d, int64_t timeout_ms);
/* Stops and joins the workers; settles what is left as abandoned (each is
 * logged with its records) and frees the pool. */
void sl_delivery_free(struct sl_delivery *d);

#endif
