/*
 * backoff.h - exponential backoff with jitter, for delivery retries.
 *
 * Delay for attempt n (1-based): d = min(cap, base * 2^(n-1)), then a
 * random point in [d/2, d] ("equal jitter"), so retries of many batches
 * spread out but never come sooner than half the nominal delay.
 */
#ifndef SL_BACKOFF_H
#define SL_BACKOFF_H

#include <stdint.h>

struct sl_backoff {
    int64_t base_ms;  /* first delay */
    int64_t cap_ms;   /* largest delay */
};

/* Returns the delay in ms before attempt <attempt> + 1. <rnd> is any
 * uniformly random 64-bit value (the caller's generator, so tests can pin it). */
int64_t sl_backoff_delay(const struct sl_backoff *b, unsigned attempt, uint64_t rnd);

/* A jitter generator (xorshift64*): not for secrets. Seed from the kernel
 * (else the clock); each thread keeps its own state. */
uint64_t sl_backoff_seed(void);
uint64_t sl_backoff_rand(uint64_t *state);

#endif
