/*
 * stage.h - the transform stage: a sealed batch through its stream's
 * chain of transforms, on the delivery worker that took it.
 *
 * What comes out is parts of the batch, as for partitioning:
 *  - ok:      the records the chain left Ok, with their new data; b itself
 *             when nothing changed, a part picked from it when only some
 *             went, else a part over a new transformed chunk (chunk.h) that
 *             accounts each record at its source length;
 *  - dropped: the records a transform dropped, to be settled as dropped;
 *  - failed:  the source records that failed, each with a note of its
 *             error (batch.h), for the backup path;
 *  - copy:    with backup = all, a copy of every source record for the
 *             source backup. It counts in no settled counter (its records
 *             are counted where they went) but in the stream's pending
 *             source-backup bytes, which backpressure sees; like any part it
 *             keeps its root batch (memory, ticket, generation) until written.
 * Partition keys a transform set travel as the ok part's notes.
 *
 * Threads: a stage belongs to one delivery worker.
 */
#ifndef SL_STAGE_H
#define SL_STAGE_H

#include <stdatomic.h>

#include "batch.h"

struct sl_stage;

struct sl_processed {
    struct sl_batch *ok, *dropped, *failed, *copy;   /* NULL: none */
    int release;                  /* b lives on only in parts: release it */
};

/* <stop>: what the transforms' host->stopping() reads (NULL: never). */
struct sl_stage *sl_stage_new(const _Atomic int *stop);
void sl_stage_free(struct sl_stage *s);

/* Runs the chain of <b>'s generation over <b> (a sealed batch, not yet
 * transformed). SL_OK with <out> set; SL_ENOMEM or SL_EAGAIN: <b> is
 * unchanged, to be run again later (every transform again: a lambda is
 * invoked again and counted again). */
int sl_stage_run(struct sl_stage *s, struct sl_batch *b, struct sl_processed *out);

#endif
