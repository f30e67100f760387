/*
 * chunk.h - the unit that listeners hand to a stream: the complete records
 * of one read.
 *
 * Layout: one allocation. <data> holds the records' bytes from its start
 * (<len> bytes in use), in order, with whatever the source left between
 * them (a TCP read keeps its '\n's, a '\r' before one, an oversize line
 * it discarded); the index, one entry per record (struct sl_chunk_rec:
 * offset and length in <data>), grows down from the end of the <cap>
 * bytes. So a source can read straight into <data> and index the lines it
 * finds, and a chunk sized for records of <len> bytes in all needs <len>
 * + SL_CHUNK_HDR bytes for each. A record is named by its index (0 ..
 * nrecords - 1), and spans of a batch are ranges of indexes.
 *
 * SL_CHUNK_NL: the records lie as a newline-delimited object holds them:
 * each one that does not end with '\n' is followed in <data> by one, and
 * the next record begins right after. Then records [a, b) with their
 * delimiters are the bytes of sl_chunk_block(), which a sink of
 * newline-delimited objects writes as they are.
 *
 * Lifecycle: a listener allocates a chunk, fills it, and pushes its pointer
 * into the stream's ring (one atomic operation for many records). From
 * then on the batcher owns it. Batches hold spans of chunks; each span
 * takes a reference, and the chunk is freed when the last span is settled.
 *
 * A transformed chunk (made by the transform stage, stage.c) carries in
 * each index entry the record's source length and arrival time (<meta>
 * bytes more): a transformed record is accounted, and backed up, as the
 * source record it came from.
 *
 * Threads: filled by one listener thread; after the ring hand-off the
 * contents are read-only. <refs> is touched by the batcher (taking) and
 * delivery workers (releasing), with atomics.
 */
#ifndef SL_CHUNK_H
#define SL_CHUNK_H

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

/*
 * Where a chunk's records came from, when its source's records have
 * positions of their own (Kafka: one topic's partition, and offsets). The
 * chunks of one lane (the same <name>) are batched apart from everything
 * else, by rules that look at the records alone, so that reading the same
 * records again makes the same batches (batcher.h). Made by the source
 * with sl_chunk_origin_new before the hand-off; owned by the chunk, freed with it.
 */
struct sl_origin {
    uint64_t lane;              /* a hash of <name>, to compare fast */
    int64_t grace_ms;           /* how late a record may arrive behind its time */
    unsigned flags;             /* SL_ORIGIN_SEAL: (an empty chunk) seal the lane now */
    char *name;                 /* the lane ("clicks/3"), NUL-ended */
    int64_t *pos;               /* each record's position, increasing */
    int64_t *time_ms;           /* each record's own time, epoch ms */
};
/* An index entry: a record's bytes, data[off, off + len). A transformed
 * chunk's entries (meta) also say the source record's length and arrival. */
struct sl_chunk_rec {
    uint32_t off, len;
};
struct sl_chunk_rec_meta {
    struct sl_chunk_rec r;        /* first: what sl_chunk_at reads */
    uint32_t src_len, pad;
    int64_t arrival_ms;
};
#define SL_CHUNK_HDR  8u   /* index bytes per record (struct sl_chunk_rec) */
#define SL_CHUNK_META 16u  /* more in a transformed chunk (struct sl_chunk_rec_meta) */
#define SL_CHUNK_NL   1u   /* flags: see the top */

struct sl_chunk {
    _Atomic uint32_t refs;     /* spans that reference it (+1 while the batcher reads it) */
    uint32_t nrecords;         /* records indexed */
    uint32_t len;              /* bytes of data in use, from its start */
    uint32_t cap;              /* bytes of data allocated, a multiple of 8; the index
                                * takes its last nrecords * (SL_CHUNK_HDR + meta) */
    uint32_t meta;             /* 0, or SL_CHUNK_META in a transformed chunk */
    uint32_t flags;            /* SL_CHUNK_NL */
    uint64_t bytes;            /* sum of record lengths (source lengths if meta) */
    uint64_t seq;              /* durability = disk: the log's sequence number of the
                                * first record (the others follow); 0: not logged */
    int64_t  arrival_wall_ms;  /* when its records arrived: epoch ms */
    int64_t  arrival_mono_ms;  /* same instant, monotonic, for ages */
    /* Optional, set by the source that made it before the hand-off: told
     * when records of this chunk have settled (delivered, backed up or
     * dropped), <nrecords> at a time, once per batch holding them, on the
     * worker that settled the batch, before the chunk is freed. Records a
     * shutdown abandons, and records of a batch freed unsealed, are never
     * told. What a source that acknowledges upstream needs (Kafka's
     * offsets). The records are [first, first + nrecords) in the chunk's
     * order. NULL: nobody asks. */
    void (*settled)(void *arg, const struct sl_chunk *c, uint32_t first, uint32_t nrecords);
    void *settled_arg;
    struct sl_origin *origin;  /* owned; NULL: records of no lane */
    _Alignas(8) uint8_t data[];
};

/* Returns a new empty chunk able to hold <cap> bytes (records plus
 * SL_CHUNK_HDR each, + SL_CHUNK_META in a transformed chunk; rounded up
 * to 8), with one reference, or NULL. sl_chunk_unref frees it. */
struct sl_chunk *sl_chunk_new(uint32_t cap, int64_t wall_ms, int64_t mono_ms);

/* Gives <c>, which has no record indexed yet, <cap> bytes (rounded up to
 * 8), keeping data[0, len): the chunk may move. Returns it, or NULL (out
 * of memory; <c> is then unchanged). */
struct sl_chunk *sl_chunk_resize(struct sl_chunk *c, uint32_t cap);

static inline void sl_chunk_ref(struct sl_chunk *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void sl_chunk_unref(struct sl_chunk *c);

/* A new origin for <nrecords> records of lane <name> (pos and time_ms
 * for the caller to fill), or NULL when out of memory. One allocation:
 * free() releases it. */
#define SL_ORIGIN_SEAL 1u

struct sl_origin *sl_chunk_origin_new(const char *name, uint32_t nrecords, int64_t grace_ms);

/* The index entry of record <i>. */
static inline struct sl_chunk_rec *sl_chunk_rec(const struct sl_chunk *c, uint32_t i)
{
    return (struct sl_chunk_rec *)(void *)((uint8_t *)c->data + c->cap -
                                           (size_t)(i + 1) * (SL_CHUNK_HDR + c->meta));
}

/* Indexes the <len> bytes at data[off] (already there) as the next record;
 * the caller has checked that the entry fits below the index. */
static inline void sl_chunk_index(struct sl_chunk *c, uint32_t off, uint32_t len)
{
    struct sl_chunk_rec *r = sl_chunk_rec(c, c->nrecords);

    r->off = off;
    r->len = len;
    c->nrecords++;
    c->bytes += len;
}

/* Appends a record; the caller has checked that it fits. */
static inline void sl_chunk_add(struct sl_chunk *c, const void *p, uint32_t len)
{
    if (len)
        memcpy(c->data + c->len, p, len);
    sl_chunk_index(c, c->len, len);
    c->len += len;
}

/* 1 if a newline-delimited object puts a '\n' after this record. */
static inline int sl_chunk_needs_nl(const uint8_t *p, uint32_t len)
{
    return len == 0 || p[len - 1] != '\n';
}

/* Appends a record and, unless it ends with one, a '\n' (at most one byte
 * more than sl_chunk_add needs): a chunk made with SL_CHUNK_NL set keeps
 * it while its records go in this way. */
static inline void sl_chunk_add_nl(struct sl_chunk *c, const void *p, uint32_t len)
{
    if (len)
        memcpy(c->data + c->len, p, len);
    sl_chunk_index(c, c->len, len);
    c->len += len;
    if (sl_chunk_needs_nl(p, len))
        c->data[c->len++] = '\n';
}

/* Appends a transformed record: its data, and the length and arrival of
 * the source record it came from. <c> has meta; the caller checked room. */
static inline void sl_chunk_add_meta(struct sl_chunk *c, const void *p, uint32_t len,
                                     uint32_t src_len, int64_t arrival_ms)
{
    struct sl_chunk_rec_meta *r = (struct sl_chunk_rec_meta *)(void *)sl_chunk_rec(c, c->nrecords);

    if (len)
        memcpy(c->data + c->len, p, len);
    r->r.off = c->len;
    r->r.len = len;
    r->src_len = src_len;
    r->pad = 0;
    r->arrival_ms = arrival_ms;
    c->len += len;
    c->nrecords++;
    c->bytes += src_len;
}

/* 1 if a record of <len> bytes (and <extra> more data bytes) fits in <c>. */
static inline int sl_chunk_fits(const struct sl_chunk *c, uint64_t len, uint32_t extra)
{
    return (uint64_t)c->len + len + extra + (uint64_t)(c->nrecords + 1) * (SL_CHUNK_HDR + c->meta)
           <= c->cap;
}

/* Reads record <i>: its length, and a pointer to its bytes. Returns i + 1. */
static inline uint32_t sl_chunk_at(const struct sl_chunk *c, uint32_t i,
                                   const uint8_t **p, uint32_t *len)
{
    const struct sl_chunk_rec *r = sl_chunk_rec(c, i);

    *len = r->len;
    *p = c->data + r->off;
    return i + 1;
}

/* The source length of record <i>, whose length is <len>. */
static inline uint32_t sl_chunk_src_len(const struct sl_chunk *c, uint32_t i, uint32_t len)
{
    return c->meta ? ((const struct sl_chunk_rec_meta *)(const void *)sl_chunk_rec(c, i))->src_len
                   : len;
}

/* The arrival time of record <i>. */
static inline int64_t sl_chunk_arrival(const struct sl_chunk *c, uint32_t i)
{
    return c->meta ? ((const struct sl_chunk_rec_meta *)(const void *)sl_chunk_rec(c, i))->arrival_ms
                   : c->arrival_wall_ms;
}

/* Clears SL_CHUNK_NL on <c> unless its records, all indexed and within
 * data[0, len), lie as the flag says: for a chunk whose layout was not
 * made by sl_chunk_add_nl (a TCP read's, a log's). */
void sl_chunk_check_nl(struct sl_chunk *c);

/* Records [a, b) of an SL_CHUNK_NL chunk, each with its '\n', as one
 * block: sets <p> and <n> and returns 1; 0 if <c> is not such a chunk
 * (or a == b). */
static inline int sl_chunk_block(const struct sl_chunk *c, uint32_t a, uint32_t b,
                                 const uint8_t **p, size_t *n)
{
    const struct sl_chunk_rec *first, *last;

    if (!(c->flags & SL_CHUNK_NL) || a >= b)
        return 0;
    first = sl_chunk_rec(c, a);
    last = sl_chunk_rec(c, b - 1);
    *p = c->data + first->off;
    *n = (size_t)last->off + last->len - first->off +
         (size_t)sl_chunk_needs_nl(c->data + last->off, last->len);
    return 1;
}

#endif
