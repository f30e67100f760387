/* backoff.c - see backoff.h. */
#include "backoff.h"

#include <sys/random.h>

#include "clock.h"

int64_t sl_backoff_delay(const struct sl_backoff *b, unsigned attempt, uint64_t rnd)
{
    int64_t d = b->base_ms;

    for (unsigned i = 1; i < attempt && d < b->cap_ms; i++)
        d *= 2;
    if (d > b->cap_ms)
        d = b->cap_ms;
    if (d < 2)
        return d;
    return d / 2 + (int64_t)(rnd % (uint64_t)(d / 2 + 1));
}

uint64_t sl_backoff_seed(void)
{
    uint64_t r;

    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r = (uint64_t)sl_clock_mono_ns();
    return r ? r : 0x9e3779b97f4a7c15ULL;      /* xorshift never leaves 0 */
}

uint64_t sl_backoff_rand(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545F4914F6CDD1DULL;
}
