/*
 * chunk.h - the unit that listeners hand to a stream: the complete records
 * of one read, packed as [u32 length][bytes] back to back.
 *
 * Lifecycle: a listener allocates a chunk, fills it, and pushes its pointer
 * into the stream's ring (one atomic operation for many records). From
 * then on the batcher owns it. Batches hold spans of chunks; each span
 * takes a reference, and the chunk is freed when the last span is settled.
 *
 * A transformed chunk (made by the transform stage, stage.c) carries
 * after each length the record's source length and arrival time (<meta>
 * bytes): a transformed record is accounted, and backed up, as the source
 * record it came from.
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

#define SL_CHUNK_HDR 4u   /* bytes of length before each record */

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
#define SL_CHUNK_META 12u /* a transformed chunk's: u32 source length, i64 arrival ms */

struct sl_chunk {
    _Atomic uint32_t refs;     /* spans that reference it (+1 while the batcher reads it) */
    uint32_t nrecords;         /* records in data */
    uint32_t len;              /* bytes of data in use */
    uint32_t cap;              /* bytes of data allocated */
    uint32_t meta;             /* 0, or SL_CHUNK_META in a transformed chunk */
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
    uint8_t  data[];
};

/* Returns a new empty chunk able to hold <cap> bytes of data (records plus
 * their headers), with one reference, or NULL. sl_chunk_unref frees it. */
struct sl_chunk *sl_chunk_new(uint32_t cap, int64_t wall_ms, int64_t mono_ms);

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

/* Appends a record; the caller has checked that it fits. */
static inline void sl_chunk_add(struct sl_chunk *c, const void *p, uint32_t len)
{
    memcpy(c->data + c->len, &len, SL_CHUNK_HDR);
    if (len)
        memcpy(c->data + c->len + SL_CHUNK_HDR, p, len);
    c->len += SL_CHUNK_HDR + len;
    c->nrecords++;
    c->bytes += len;
}

/* Appends a transformed record: its data, and the length and arrival of
 * the source record it came from. <c> has meta; the caller checked room. */
static inline void sl_chunk_add_meta(struct sl_chunk *c, const void *p, uint32_t len,
                                     uint32_t src_len, int64_t arrival_ms)
{
    memcpy(c->data + c->len, &len, SL_CHUNK_HDR);
    memcpy(c->data + c->len + SL_CHUNK_HDR, &src_len, 4);
    memcpy(c->data + c->len + SL_CHUNK_HDR + 4, &arrival_ms, 8);
    if (len)
        memcpy(c->data + c->len + SL_CHUNK_HDR + SL_CHUNK_META, p, len);
    c->len += SL_CHUNK_HDR + SL_CHUNK_META + len;
    c->nrecords++;
    c->bytes += src_len;
}

/* Reads the record at <off>: its length, and a pointer to its bytes.
 * Returns the offset of the next record. */
static inline uint32_t sl_chunk_at(const struct sl_chunk *c, uint32_t off,
                                   const uint8_t **p, uint32_t *len)
{
    memcpy(len, c->data + off, SL_CHUNK_HDR);
    *p = c->data + off + SL_CHUNK_HDR + c->meta;
    return off + SL_CHUNK_HDR + c->meta + *len;
}

/* The source length of the record at <off> whose length is <len>. */
static inline uint32_t sl_chunk_src_len(const struct sl_chunk *c, uint32_t off, uint32_t len)
{
    uint32_t n = len;

    if (c->meta)
        memcpy(&n, c->data + off + SL_CHUNK_HDR, 4);
    return n;
}

/* The arrival time of the record at <off>. */
static inline int64_t sl_chunk_arrival(const struct sl_chunk *c, uint32_t off)
{
    int64_t ms = c->arrival_wall_ms;

    if (c->meta)
        memcpy(&ms, c->data + off + SL_CHUNK_HDR + 4, 8);
    return ms;
}

#endif
