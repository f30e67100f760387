/* chunk.c - see chunk.h. */
#include "chunk.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(offsetof(struct sl_chunk, data) % 8 == 0, "the index is 8-aligned");

static uint32_t round8(uint32_t cap)
{
    return cap > UINT32_MAX - 7 ? UINT32_MAX & ~7u : (cap + 7) & ~7u;
}

struct sl_chunk *sl_chunk_new(uint32_t cap, int64_t wall_ms, int64_t mono_ms)
{
    struct sl_chunk *c;

    cap = round8(cap);
    if (!(c = malloc(sizeof(*c) + cap)))
        return NULL;
    atomic_init(&c->refs, 1);
    c->nrecords = 0;
    c->len = 0;
    c->cap = cap;
    c->meta = 0;
    c->flags = 0;
    c->bytes = 0;
    c->seq = 0;                 /* not logged, unless the log numbers it */
    c->arrival_wall_ms = wall_ms;
    c->arrival_mono_ms = mono_ms;
    c->settled = NULL;
    c->settled_arg = NULL;
    c->origin = NULL;
    return c;
}

struct sl_chunk *sl_chunk_resize(struct sl_chunk *c, uint32_t cap)
{
    struct sl_chunk *n;

    cap = round8(cap);
    if (!(n = realloc(c, sizeof(*c) + cap)))
        return NULL;
    n->cap = cap;
    return n;
}

void sl_chunk_check_nl(struct sl_chunk *c)
{
    uint32_t next = 0, len;
    const uint8_t *p;

    for (uint32_t i = 0; i < c->nrecords && (c->flags & SL_CHUNK_NL); i++) {
        const struct sl_chunk_rec *r = sl_chunk_rec(c, i);
        int nl;
        sl_chunk_at(c, i, &p, &len);
        nl = sl_chunk_needs_nl(p, len);
        if ((i > 0 && r->off != next) || (uint64_t)r->off + len + nl > c->len ||
            (nl && p[len] != '\n'))
            c->flags &= ~SL_CHUNK_NL;
        next = r->off + len + (uint32_t)nl;
    }
}

void sl_chunk_unref(struct sl_chunk *c)
{
    if (!c)
        return;
    /* acq_rel: the freeing thread must see every other holder done reading */
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(c->origin);
    free(c);
}

struct sl_origin *sl_chunk_origin_new(const char *name, uint32_t nrecords, int64_t grace_ms)
{
    size_t namelen = strlen(name) + 1, arrays = (size_t)nrecords * sizeof(int64_t);
    struct sl_origin *o = malloc(sizeof(*o) + 2 * arrays + namelen);
    uint64_t h = 14695981039346656037ull;       /* FNV-1a */

    if (!o)
        return NULL;
    o->pos = (int64_t *)(o + 1);
    o->time_ms = o->pos + nrecords;
    o->name = (char *)(o->time_ms + nrecords);
    memcpy(o->name, name, namelen);
    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    o->lane = h;
    o->grace_ms = grace_ms;
    o->flags = 0;
    return o;
}
