/* batch.c - see batch.h. */
#include "batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "uuid.h"

#include "sluice/err.h"

const char *const sl_seal_reason_names[SL_SEAL_NREASONS] = {
    "size", "interval", "shutdown", "reload", "source",
};

struct sl_batch *sl_batch_new(void)
{
    struct sl_batch *b = calloc(1, sizeof(struct sl_batch));

    if (b)
        atomic_init(&b->parts, 1);
    return b;
}

/* Adds the span [off, end) of <c> whose first record is number <ord>
 * (sl_batch_id_base). */
static int add_span_at(struct sl_batch *b, struct sl_chunk *c, uint32_t off, uint32_t end,
                       uint64_t bytes, uint32_t ord)
{
    uint32_t nrecords = end - off;

    if (b->nspans == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        struct sl_span *s = realloc(b->spans, cap * sizeof(*s));
        if (!s)
            return SL_ENOMEM;
        b->spans = s;
        b->cap = cap;
    }
    sl_chunk_ref(c);
    b->spans[b->nspans++] = (struct sl_span){ c, off, end, nrecords, bytes, ord };
    if (b->nrecords == 0 || c->arrival_mono_ms < b->oldest_mono_ms) {
        b->oldest_mono_ms = c->arrival_mono_ms;
        b->oldest_wall_ms = c->arrival_wall_ms;
    }
    b->nrecords += nrecords;
    b->bytes += bytes;
    return SL_OK;
}

int sl_batch_add_span(struct sl_batch *b, struct sl_chunk *c, uint32_t off, uint32_t end,
                      uint64_t bytes)
{
    return add_span_at(b, c, off, end, bytes, (uint32_t)b->nrecords);
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
    free(b->partition);
    sl_batch_notes_free(b->notes);
    free(b);
}

void sl_batch_notes_free(struct sl_notes *n)
{
    if (!n)
        return;
    free(n->at);
    free(n->text);
    free(n);
}

/* A set of <n> notes with room for <textlen> bytes of text, or NULL. */
static struct sl_notes *notes_new(int kind, size_t n, size_t textlen)
{
    struct sl_notes *no = calloc(1, sizeof(*no));

    if (!no || !(no->at = calloc(n ? n : 1, sizeof(*no->at))) ||
        !(no->text = malloc(textlen ? textlen : 1))) {
        sl_batch_notes_free(no);
        return NULL;
    }
    no->kind = kind;
    no->n = n;
    return no;
}

struct sl_notes *sl_batch_notes_errors(size_t n, const char *const *codes,
                                       const char *const *messages, uint16_t by,
                                       uint32_t attempts)
{
    size_t len = 0, at = 0;
    struct sl_notes *no;

    for (size_t i = 0; i < n; i++)
        if (codes[i])
            len += strlen(codes[i]) + strlen(messages[i] ? messages[i] : "") + 2;
    if (!(no = notes_new(SL_NOTES_ERRORS, n, len)))
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!codes[i])
            continue;
        const char *m = messages[i] ? messages[i] : "";
        size_t a = strlen(codes[i]) + 1, b = strlen(m) + 1;
        memcpy(no->text + at, codes[i], a);
        memcpy(no->text + at + a, m, b);
        no->at[i] = (struct sl_note){ (uint32_t)at, (uint32_t)(a + b), attempts, by };
        at += a + b;
    }
    return no;
}

struct sl_notes *sl_batch_notes_pick(const struct sl_notes *no, const uint8_t *marks,
                                     uint8_t want)
{
    size_t n = 0, len = 0, k = 0, at = 0;
    struct sl_notes *p;

    if (!no)
        return NULL;
    for (size_t i = 0; i < no->n; i++)
        if (marks[i] == want)
            n++, len += no->at[i].len;
    if (n == 0 || !(p = notes_new(no->kind, n, len)))
        return NULL;
    for (size_t i = 0; i < no->n; i++) {
        if (marks[i] != want)
            continue;
        struct sl_note e = no->at[i];
        memcpy(p->text + at, no->text + e.off, e.len);
        e.off = (uint32_t)at;
        p->at[k++] = e;
        at += e.len;
    }
    return p;
}

void sl_batch_settle(struct sl_batch *b, enum sl_outcome outcome)
{
    for (int i = 0; i < b->nsettle; i++)
        b->settle[i].fn(b->settle[i].arg, b, outcome);
    /* the chunks' sources hear that these records are done (not when a
     * shutdown abandons them: they are not) */
    for (size_t i = 0; outcome != SL_OUTCOME_ABANDONED && i < b->nspans; i++) {
        const struct sl_chunk *c = b->spans[i].chunk;
        if (c->settled)
            c->settled(c->settled_arg, c, b->spans[i].off, b->spans[i].nrecords);
    }
    sl_batch_free(b);
}

/* Adds the run [start, end) of <s>'s chunk and <bytes> bytes, if any
 * record, the first being record number <ord>. */
static void oom(void);

static void add_run(struct sl_batch *p, const struct sl_span *s, uint32_t start, uint32_t end,
                    uint64_t bytes, uint32_t ord)
{
    if (end > start && add_span_at(p, s->chunk, start, end, bytes, ord) != SL_OK)
        oom();
}

static struct sl_batch *pick(struct sl_batch *b, const void *marks, int wide, unsigned want);

/* Marks of one byte (sink answers) or two (partition numbers). */
static unsigned mark_at(const void *marks, int wide, uint64_t i)
{
    return wide ? ((const uint16_t *)marks)[i] : ((const uint8_t *)marks)[i];
}

struct sl_batch *sl_batch_pick(struct sl_batch *b, const uint8_t *marks, uint8_t want)
{
    return pick(b, marks, 0, want);
}

struct sl_batch *sl_batch_pick16(struct sl_batch *b, const uint16_t *marks, uint16_t want)
{
    return pick(b, marks, 1, want);
}

static void oom(void)
{
    sl_error("msg=\"out of memory splitting a batch\"");
    abort();
}

/* Makes <p> (its records added) a part of <b>: same root, generation and
 * delivery history. */
static void join(struct sl_batch *p, struct sl_batch *b, const void *how, size_t howlen)
{
    struct sl_batch *root = b->root ? b->root : b;

    p->root = root;
    p->owner = b->owner;
    p->seal_reason = b->seal_reason;
    p->sealed_mono_ms = b->sealed_mono_ms;
    p->attempts = b->attempts;
    p->first_attempt_mono_ms = b->first_attempt_mono_ms;
    memcpy(p->last_error, b->last_error, sizeof(p->last_error));
    p->partitioned = b->partitioned;
    p->transformed = b->transformed;
    p->copy = b->copy;
    p->version = b->version;
    memcpy(p->id_base, b->root ? b->id_base : b->uuid, sizeof(p->id_base));
    p->seq_first = b->seq_first;    /* logged, with a name of its own from the log */
    p->seq_end = b->seq_end;
    p->lane = b->lane;
    p->pos_first = b->pos_first;
    p->pos_last = b->pos_last;
    if (b->partition) {
        if (!(p->partition = malloc(b->partition_len)))
            oom();
        memcpy(p->partition, b->partition, b->partition_len);
        p->partition_len = b->partition_len;
    }
    /* A part's name follows from its parent's and what it was cut by, so
     * a batch re-formed after a crash splits into parts of the same names. */
    sl_uuid_derive(b->uuid, how, howlen, p->uuid);
    atomic_fetch_add_explicit(&root->parts, 1, memory_order_relaxed);
}

struct sl_batch *sl_batch_part_of(struct sl_batch *b, struct sl_chunk *c)
{
    struct sl_batch *p = sl_batch_new();

    if (!p || sl_batch_add_span(p, c, 0, c->nrecords, c->bytes) != SL_OK)
        oom();
    join(p, b, "transformed", 11);
    memcpy(p->id_base, p->uuid, sizeof(p->id_base));   /* new records, numbered anew */
    return p;
}

struct sl_batch *sl_batch_copy(struct sl_batch *b)
{
    struct sl_batch *p = sl_batch_new();

    if (!p)
        oom();
    for (size_t k = 0; k < b->nspans; k++) {
        const struct sl_span *s = &b->spans[k];
        add_run(p, s, s->off, s->end, s->bytes, s->ord);
    }
    join(p, b, "copy", 4);
    return p;
}

static struct sl_batch *pick(struct sl_batch *b, const void *marks, int wide, unsigned want)
{
    struct sl_batch *p = sl_batch_new();
    uint64_t i = 0, bytes;
    uint32_t off, next, len, start, n, ord, first;
    const uint8_t *data;

    if (!p)
        oom();
    for (size_t k = 0; k < b->nspans; k++) {
        const struct sl_span *s = &b->spans[k];
        start = s->off, n = 0, bytes = 0, first = s->ord;
        for (off = s->off, ord = s->ord; off < s->end; off = next, i++, ord++) {
            next = sl_chunk_at(s->chunk, off, &data, &len);
            if (mark_at(marks, wide, i) == want) {
                if (n == 0)
                    start = off, first = ord;
                n++, bytes += sl_chunk_src_len(s->chunk, off, len);
                continue;
            }
            add_run(p, s, start, start + n, bytes, first);
            n = 0, bytes = 0;
        }
        add_run(p, s, start, start + n, bytes, first);
    }
    if (p->nrecords == 0) {
        sl_batch_free(p);
        return NULL;
    }
    uint8_t how[3] = { (uint8_t)wide, (uint8_t)(want & 0xff), (uint8_t)(want >> 8) };
    join(p, b, how, sizeof(how));
    return p;
}

void sl_batch_release(struct sl_batch *b, enum sl_outcome outcome)
{
    struct sl_batch *root = b->root ? b->root : b;

    if (b != root)
        sl_batch_free(b);
    /* acq_rel: the last releaser settles, after every part's work is done */
    if (atomic_fetch_sub_explicit(&root->parts, 1, memory_order_acq_rel) == 1)
        sl_batch_settle(root, outcome);
}

void sl_batch_iter_init(struct sl_batch_iter *it, const struct sl_batch *b)
{
    it->b = b;
    it->span = 0;
    it->off = b->nspans ? b->spans[0].off : 0;
    it->at = it->ord = 0;
    it->next_ord = b->nspans ? b->spans[0].ord : 0;
}

int sl_batch_next(struct sl_batch_iter *it, struct sl_record *r)
{
    const struct sl_span *s;

    while (it->span < it->b->nspans) {
        s = &it->b->spans[it->span];
        if (it->off < s->end) {
            r->arrival_ms = sl_chunk_arrival(s->chunk, it->off);
            it->at = it->off;
            it->off = sl_chunk_at(s->chunk, it->off, &r->data, &r->len);
            it->ord = it->next_ord++;
            return 1;
        }
        if (++it->span < it->b->nspans) {
            it->off = it->b->spans[it->span].off;
            it->next_ord = it->b->spans[it->span].ord;
        }
    }
    return 0;
}

const uint8_t *sl_batch_id_base(const struct sl_batch *b)
{
    return b->root ? b->id_base : b->uuid;
}

int sl_batch_new_uuid(struct sl_batch *b)
{
    return sl_uuid_v4(b->uuid, NULL);
}

void sl_batch_lane_uuid(struct sl_batch *b, const char *stream)
{
    static const uint8_t none[16];
    const char *lane = b->spans[0].chunk->origin->name;
    size_t ls = strlen(stream) + 1, ll = strlen(lane) + 1;
    uint8_t how[2 * 256 + 16];
    int64_t pos[2] = { b->pos_first, b->pos_last };

    if (ls > 256)                /* stream names are shorter; lanes are cut, not overrun */
        ls = 256;
    if (ll > 256)
        ll = 256;
    memcpy(how, stream, ls);
    memcpy(how + ls, lane, ll);
    memcpy(how + ls + ll, pos, sizeof(pos));
    sl_uuid_derive(none, how, ls + ll + sizeof(pos), b->uuid);
}

void sl_batch_uuid_str(const struct sl_batch *b, char out[37])
{
    sl_uuid_str(b->uuid, out);
}
