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
 *
 * The types are in batch-t.h; a header that only points at a batch, or
 * counts by its seal reasons and outcomes, includes that.
 */
#ifndef SL_BATCH_H
#define SL_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "batch-t.h"
#include "chunk.h"
#include "sluice/record.h"

extern const char *const sl_seal_reason_names[SL_SEAL_NREASONS];

void sl_batch_notes_free(struct sl_notes *n);
/* Error notes for the <n> records of a batch: record i's <codes>[i] and
 * <messages>[i] (a NULL code: no note, the record did not fail), made by
 * <by> (SL_NOTE_BY_SINK for a sink) after <attempts>. A new set, or NULL
 * when out of memory. */
struct sl_notes *sl_batch_notes_errors(size_t n, const char *const *codes,
                                       const char *const *messages, uint16_t by,
                                       uint32_t attempts);
/* The notes of the records marked <want> (one mark per note, as
 * sl_batch_pick takes them), for the part sl_batch_pick makes with the same
 * marks: a new set, or NULL when there is none or memory ran out. */
struct sl_notes *sl_batch_notes_pick(const struct sl_notes *no, const uint8_t *marks,
                                     uint8_t want);

/* Returns a new empty batch, or NULL. */
struct sl_batch *sl_batch_new(void);
/* Adds records [off, end) of <c> (indexes; taking a reference), of
 * <bytes> payload bytes in all. SL_ENOMEM. */
int sl_batch_add_span(struct sl_batch *b, struct sl_chunk *c, uint32_t off, uint32_t end,
                      uint64_t bytes);
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

/* Iterates records in order (struct sl_batch_iter: batch-t.h). */
void sl_batch_iter_init(struct sl_batch_iter *it, const struct sl_batch *b);
/* Returns 1 with *<r> set, or 0 at the end. */
int sl_batch_next(struct sl_batch_iter *it, struct sl_record *r);

/*
 * A record's identity is (sl_batch_id_base(b), the iterator's <ord> for
 * it): the uuid of the batch that first numbered the records (the sealed
 * batch, or the stage's output when a transform made new records) and the
 * record's number there. Parts keep their records' identities: the same on
 * every retry and split, and, with durability = disk, after a crash and
 * recovery (a sealed batch keeps its uuid and records in its seal). What a
 * record sink needs to make a retry idempotent (Elasticsearch's _id).
 */
const uint8_t *sl_batch_id_base(const struct sl_batch *b);

/* Gives <b> a new random (version 4) UUID: its object's name. SL_EIO if
 * the kernel has no randomness to give. */
int sl_batch_new_uuid(struct sl_batch *b);
/* Gives a lane's batch (b->lane) the name its records make: a UUID derived
 * from <stream>, the lane and its first and last positions, the same
 * whenever the same records are batched again. */
void sl_batch_lane_uuid(struct sl_batch *b, const char *stream);
/* Formats b->uuid as 36 lowercase characters plus NUL. */
void sl_batch_uuid_str(const struct sl_batch *b, char out[37]);

#endif
