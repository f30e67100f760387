/* backoff.c - see backoff.h. */
#include "backoff.h"

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
