/*
 * batch.h - a sealed batch: spans of chunks, and what to do once settled.
 *
 * The batcher builds a batch from whole chunks or parts of them (a span),
 * so a record is never split and a chunk may feed two batches. Once sealed,
 * a batch is read-only except for its delivery state, which only the one
 * delivery worker holding it touches.
 *
 * Settling: a batch is settled exactly once, when it is delivered, written
 * to backup or dropped. sl_batch_settle() runs its settle actions in the
 * order they were added (release memory, and later retire a WAL segment or
 * commit Kafka offsets), then frees it.
 *
 * Parts: when a sink answers per record, the records that were not
 * delivered are picked into parts (sl_batch_pick), which go on alone (to a
 * retry, or to backup). The sealed batch is their root: it counts its
 * unfinished parts, itself included, and settles when the last one is
 * released (sl_batch_release).
 */
#ifndef SL_BATCH_H
#define SL_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "chunk.h"
#include "sluice/record.h"

enum sl_seal_reason { SL_SEAL_SIZE, SL_SEAL_INTERVAL, SL_SEAL_SHUTDOWN, SL_SEAL_RELOAD,
                      SL_SEAL_NREASONS };
extern const char *const sl_seal_reason_names[SL_SEAL_NREASONS];

enum sl_outcome { SL_OUTCOME_DELIVERED, SL_OUTCOME_BACKED_UP, SL_OUTCOME_DROPPED,
                  SL_OUTCOME_ABANDONED /* shutdown timed out: still unsettled */ };

struct sl_span {
    struct sl_chunk *chunk;   /* holds one reference */
    uint32_t off, end;        /* byte range of whole records in chunk->data */
    uint32_t nrecords;
    uint64_t bytes;           /* payload bytes in the range */
};

/*
 * Notes: what a batch carries per record beyond its bytes, when a stage
 * made it so: the partition keys a transform set (text "k\0v\0k\0v\0"),
 * or why a record failed (text "code\0message\0", the transform at chain
 * position <by> and its <attempts>). One entry per record of the batch.
 */
struct sl_note {
    uint32_t off, len;            /* its text in sl_notes.text */
    uint32_t attempts;
    uint16_t by;
};
enum sl_notes_kind { SL_NOTES_KEYS, SL_NOTES_ERRORS };
struct sl_notes {
    int kind;                     /* enum sl_notes_kind: what the texts are */
    size_t n;
    struct sl_note *at;           /* owned, n entries */
    char *text;                   /* owned */
};
void sl_notes_free(struct sl_notes *n);

struct sl_batch;
struct sl_gen;                    /* stream.h */
typedef void (*sl_settle_fn)(void *arg, struct sl_batch *b, enum sl_outcome outcome);

#define SL_SETTLE_MAX 4

struct sl_batch {
    struct sl_span *spans;        /* owned array */
    size_t nspans, cap;
    uint64_t nrecords, bytes;     /* payload totals */
    int64_t oldest_wall_ms;       /* arrival of the oldest record: keys use it */
    int64_t oldest_mono_ms;       /* same, monotonic: seal age and freshness */
    int64_t sealed_mono_ms;
    int seal_reason;              /* enum sl_seal_reason */
    uint8_t uuid[16];             /* the object's name: random at seal (durability =
                                   * disk: kept in its seal); a part's derived from its
                                   * parent's */
    uint64_t seq_first, seq_end;  /* durability = disk: its records' sequence numbers,
                                   * [first, end); 0, 0: not logged */
    unsigned version;             /* config version it was sealed under (keys) */
    struct sl_gen *owner;         /* the stream generation it was sealed under */
    struct { sl_settle_fn fn; void *arg; } settle[SL_SETTLE_MAX];
    int nsettle;
    /* Delivery state: only the worker holding the batch touches these. */
    unsigned attempts;            /* sink attempts made */
    unsigned backup_tries;        /* failed backup writes and stage retries (backoff) */
    int64_t first_attempt_mono_ms;
    int64_t not_before_mono_ms;   /* backoff: not to be tried before */
    uint64_t qseq;                /* order of arrival in the delivery queue */
    int in_backup;                /* the sink gave up: now going to backup */
    int backup_reason;            /* enum sl_backup_reason, when in_backup */
    char *key;                    /* object key, fixed at the first attempt; owned */
    int partitioned;              /* split by partition keys already (or not to be) */
    char *partition;              /* a partition's values, each NUL-ended, in the
                                   * order of the keys; owned; NULL: none */
    size_t partition_len;         /* its bytes; parts picked from it copy it */
    int transformed;              /* went through its stream's chain already (or none) */
    int copy;                     /* a source-record copy (backup = all): counted in
                                   * no settled counter (process.h) */
    struct sl_notes *notes;       /* per-record notes, owned; NULL: none */
    struct sl_batch *root;        /* a part: the sealed batch it came from; else NULL */
    _Atomic unsigned parts;       /* a root: its unreleased parts, itself included */
    char last_error[256];         /* why the last attempt failed */
};

/* Returns a new empty batch, or NULL. */
struct sl_batch *sl_batch_new(void);
/* Adds records [off, end) of <c> (taking a reference). SL_ENOMEM. */
int sl_batch_add_span(struct sl_batch *b, struct sl_chunk *c, uint32_t off, uint32_t end,
                      uint32_t nrecords, uint64_t bytes);
/* Registers <fn> to run when <b> settles. SL_ETOOBIG past SL_SETTLE_MAX. */
int sl_batch_on_settle(struct sl_batch *b, sl_settle_fn fn, void *arg);
/* Runs the settle actions, releases the chunks and frees <b>. */
void sl_batch_settle(struct sl_batch *b, enum sl_outcome outcome);
/* Releases the chunks and frees <b> without settle actions (never sealed). */
void sl_batch_free(struct sl_batch *b);

/*
 * Returns a new part of <b> holding the records i with marks[i] == <want>
 * (marks has one entry per record of <b>), or NULL if there is none. The
 * part shares <b>'s root, owner and delivery history; the root's count of
 * parts goes up by one. Aborts when out of memory.
 */
struct sl_batch *sl_batch_pick(struct sl_batch *b, const uint8_t *marks, uint8_t want);
/* The same with two-byte marks (partition numbers). */
struct sl_batch *sl_batch_pick16(struct sl_batch *b, const uint16_t *marks, uint16_t want);
/* A new part of <b> holding all its records (the same spans, no copy of
 * the data). Aborts when out of memory. */
struct sl_batch *sl_batch_copy(struct sl_batch *b);
/* A new part of <b> made of all of chunk <c> (taking a reference), for
 * records made from <b>'s (the transform stage). Aborts when out of memory. */
struct sl_batch *sl_batch_part_of(struct sl_batch *b, struct sl_chunk *c);
/* <b> (a root or a part) is done: frees a part, and settles the root with
 * <outcome> when its last part is released. */
void sl_batch_release(struct sl_batch *b, enum sl_outcome outcome);

/* Iterates records in order. */
struct sl_batch_iter { const struct sl_batch *b; size_t span; uint32_t off; };
void sl_batch_iter_init(struct sl_batch_iter *it, const struct sl_batch *b);
/* Returns 1 with *<r> set, or 0 at the end. */
int sl_batch_next(struct sl_batch_iter *it, struct sl_record *r);

/* Gives <b> a new random (version 4) UUID: its object's name. SL_EIO if
 * the kernel has no randomness to give. */
int sl_batch_new_uuid(struct sl_batch *b);
/* Formats b->uuid as 36 lowercase characters plus NUL. */
void sl_batch_uuid_str(const struct sl_batch *b, char out[37]);

#endif
