/* chunk.c - see chunk.h. */
#include "chunk.h"

#include <stdlib.h>

struct sl_chunk *sl_chunk_new(uint32_t cap, int64_t wall_ms, int64_t mono_ms)
{
    struct sl_chunk *c = malloc(sizeof(*c) + cap);

    if (!c)
        return NULL;
    atomic_init(&c->refs, 1);
    c->nrecords = 0;
    c->len = 0;
    c->cap = cap;
    c->meta = 0;
    c->bytes = 0;
    c->seq = 0;                 /* not logged, unless the log numbers it */
    c->arrival_wall_ms = wall_ms;
    c->arrival_mono_ms = mono_ms;
    c->settled = NULL;
    c->settled_arg = NULL;
    return c;
}

void sl_chunk_unref(struct sl_chunk *c)
{
    if (!c)
        return;
    /* acq_rel: the freeing thread must see every other holder done reading */
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        free(c);
}
