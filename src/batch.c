/* batch.c - see batch.h. */
#include "batch.h"

#include <stdio.h>
#include <stdlib.h>

#include "sluice/err.h"

const char *const sl_seal_reason_names[SL_SEAL_NREASONS] = {
    "size", "interval", "shutdown", "reload",
};

struct sl_batch *sl_batch_new(void)
{
    return calloc(1, sizeof(struct sl_batch));
}

int sl_batch_add_span(struct sl_batch *b, struct sl_chunk *c, uint32_t off, uint32_t end,
                      uint32_t nrecords, uint64_t bytes)
{
    if (b->nspans == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        struct sl_span *s = realloc(b->spans, cap * sizeof(*s));
        if (!s)
            return SL_ENOMEM;
        b->spans = s;
        b->cap = cap;
    }
    sl_chunk_ref(c);
    b->spans[b->nspans++] = (struct sl_span){ c, off, end, nrecords, bytes };
    if (b->nrecords == 0 || c->arrival_mono_ms < b->oldest_mono_ms) {
        b->oldest_mono_ms = c->arrival_mono_ms;
        b->oldest_wall_ms = c->arrival_wall_ms;
    }
    b->nrecords += nrecords;
    b->bytes += bytes;
    return SL_OK;
}

int sl_batch_on_settle(struct sl_batch *b, sl_settle_fn fn, void *arg)
{
    if (b->nsettle == SL_SETTLE_MAX)
        return SL_ETOOBIG;
    b->settle[b->nsettle].fn = fn;
    b->settle[b->nsettle].arg = arg;
    b->nsettle++;
    return SL_OK;
}

void sl_batch_free(struct sl_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->nspans; i++)
        sl_chunk_unref(b->spans[i].chunk);
    free(b->spans);
    free(b->key);
    free(b);
}

void sl_batch_settle(struct sl_batch *b, enum sl_outcome outcome)
{
    for (int i = 0; i < b->nsettle; i++)
        b->settle[i].fn(b->settle[i].arg, b, outcome);
    sl_batch_free(b);
}

void sl_batch_iter_init(struct sl_batch_iter *it, const struct sl_batch *b)
{
    it->b = b;
    it->span = 0;
    it->off = b->nspans ? b->spans[0].off : 0;
}

int sl_batch_next(struct sl_batch_iter *it, struct sl_record *r)
{
    const struct sl_span *s;

    while (it->span < it->b->nspans) {
        s = &it->b->spans[it->span];
        if (it->off < s->end) {
            it->off = sl_chunk_at(s->chunk, it->off, &r->data, &r->len);
            r->arrival_ms = s->chunk->arrival_wall_ms;
            return 1;
        }
        if (++it->span < it->b->nspans)
            it->off = it->b->spans[it->span].off;
    }
    return 0;
}

void sl_batch_uuid_str(const struct sl_batch *b, char out[37])
{
    const uint8_t *u = b->uuid;

    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4], u[5],
             u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}
