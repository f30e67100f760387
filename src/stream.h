/*
 * stream.h - a delivery stream: its ring, batcher, counters, and the
 * current generation of its configuration and sink.
 *
 * Generations: a reload does not change a stream in place. It builds a new
 * struct sl_gen (config, transform chain, sink instance, version) and swaps
 * it in; each sealed batch holds a reference to the generation it was
 * sealed under, so transforms, compression, keys and the sink of a batch
 * never change under it, and an old sink and chain (destroy(), dlclose)
 * are let go only when the last batch has settled, possibly on a worker.
 *
 * Threads:
 *  - main thread: creates, swaps gen (under lock), sets reload/stopping.
 *  - the stream's batcher thread: reads gen (under lock), seals, submits.
 *  - delivery workers: settle batches (under lock: the ticket list).
 *  - metrics thread: reads stats and freshness (under lock).
 * Lock order: stream->lock, then the delivery queue's lock; never the
 * other way round. The log's lock is never held with either.
 *
 * The types are in stream-t.h; a file that only reads them includes that.
 */
#ifndef SL_STREAM_H
#define SL_STREAM_H

#include "stream-t.h"

/* Builds generation <version> of a stream from <cfg> (taking a reference to
 * it): opens the sink. On error <err> says why. */
struct sl_gen *sl_stream_gen_new(struct sl_config *cfg, const struct sl_stream_conf *conf,
                          unsigned version, char *err, size_t errlen);
void sl_stream_gen_unref(struct sl_gen *g);

/* Returns a new stream running <gen> (taken). Batcher not started yet. */
struct sl_stream *sl_stream_new(struct sl_gen *gen, struct sl_delivery *d);
/* durability = disk: opens the stream's log in <dir> (before start). */
int sl_stream_open_wal(struct sl_stream *s, const char *dir, char *err, size_t errlen);
int sl_stream_start(struct sl_stream *s);
/* durability = disk, after start: starts a thread that hands on every
 * record the log holds unsettled, alongside new traffic, pacing itself by
 * max_buffered; sl_stream_stop stops it (the rest stays in the log). */
int sl_stream_recover(struct sl_stream *s);
/* Hands <gen> (taken) to the batcher, which seals the open batch under the
 * old generation (reason "reload") and then switches. */
void sl_stream_reload(struct sl_stream *s, struct sl_gen *gen);
/* Seals everything left (reason shutdown) and joins the batcher. Sources
 * must have stopped pushing. */
void sl_stream_stop(struct sl_stream *s);
/* Frees the stream; every batch must have settled or been abandoned. */
void sl_stream_free(struct sl_stream *s);

/* Returns the current generation with a reference the caller releases. */
struct sl_gen *sl_stream_gen(struct sl_stream *s);
/* Age in seconds of the oldest record not yet settled. */
double sl_stream_freshness(struct sl_stream *s);
/* 1 if the batcher has looped within <max_age_ms> (watchdog). */
int sl_stream_alive(struct sl_stream *s, int64_t max_age_ms);
/* Batches sealed and not yet settled. */
uint64_t sl_stream_unsettled(struct sl_stream *s);

#endif
