/*
 * batch-t.h - the types of a sealed batch (batch.h), alone: what a batch
 * is, its spans, notes and settle actions, the reasons it was sealed and
 * the outcomes it settles with. batch.h says how they are used.
 *
 * Types only, as HAProxy's x-t.h: a header that only points at a batch or
 * counts by its enums (metrics, the WAL, compression) includes this, not
 * batch.h, and so does not depend on batch (scripts/layers.txt).
 */
#ifndef SL_BATCH_T_H
#define SL_BATCH_T_H

#include <stddef.h>
#include <stdint.h>

struct sl_chunk;                  /* chunk.h */
struct sl_gen;                    /* stream-t.h: a batch only points at it */

enum sl_seal_reason { SL_SEAL_SIZE, SL_SEAL_INTERVAL, SL_SEAL_SHUTDOWN, SL_SEAL_RELOAD,
                      SL_SEAL_SOURCE /* its source asked: a lane handed off */,
                      SL_SEAL_NREASONS };

enum sl_outcome { SL_OUTCOME_DELIVERED, SL_OUTCOME_BACKED_UP, SL_OUTCOME_DROPPED,
                  SL_OUTCOME_ABANDONED /* shutdown timed out: still unsettled */ };

struct sl_span {
    struct sl_chunk *chunk;   /* holds one reference */
    uint32_t off, end;        /* the chunk's records [off, end), by index */
    uint32_t nrecords;        /* end - off */
    uint64_t bytes;           /* payload bytes in the range */
    uint32_t ord;             /* its first record's number: see sl_batch_id_base */
};

/*
 * Notes: what a batch carries per record beyond its bytes, when a stage
 * made it so: the partition keys a transform set (text "k\0v\0k\0v\0"),
 * or why a record failed (text "code\0message\0", the transform at chain
 * position <by> and its <attempts>). One entry per record of the batch.
 */
struct sl_note {
    uint32_t off, len;            /* its text in sl_notes.text; len 0: no note */
    uint32_t attempts;
    uint16_t by;                  /* chain position, or SL_NOTE_BY_SINK */
};
#define SL_NOTE_BY_SINK 0xffff    /* an error note the stream's sink wrote */
enum sl_notes_kind { SL_NOTES_KEYS, SL_NOTES_ERRORS };
struct sl_notes {
    int kind;                     /* enum sl_notes_kind: what the texts are */
    size_t n;
    struct sl_note *at;           /* owned, n entries */
    char *text;                   /* owned */
};

struct sl_batch;
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
    uint8_t id_base[16];          /* a part: the uuid its records' numbers count
                                   * from (sl_batch_id_base); a root: its uuid */
    uint64_t seq_first, seq_end;  /* durability = disk: its records' sequence numbers,
                                   * [first, end); 0, 0: not logged */
    int lane;                     /* the records of one lane (chunk.h: sl_origin),
                                   * sealed by the lane's rules: its name follows from
                                   * them (sl_batch_lane_uuid), its writes are exclusive */
    int64_t pos_first, pos_last;  /* a lane's batch: its first and last record's
                                   * positions */
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
                                   * no settled counter (stage.h) */
    struct sl_notes *notes;       /* per-record notes, owned; NULL: none */
    struct sl_batch *root;        /* a part: the sealed batch it came from; else NULL */
    _Atomic unsigned parts;       /* a root: its unreleased parts, itself included */
    char last_error[256];         /* why the last attempt failed */
};

/* Iterates records in order (sl_batch_iter_init, sl_batch_next). Of the
 * record sl_batch_next returned last: <span> holds it, as the span's
 * chunk's record <at>, and <ord> is its number (sl_batch_id_base). */
struct sl_batch_iter {
    const struct sl_batch *b;
    size_t span;
    uint32_t off, at, ord, next_ord;
};

#endif
