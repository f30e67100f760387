/*
 * wal.h - a stream's write-ahead log (durability = disk).
 *
 * Every chunk a source accepts is appended to the log, and given sequence
 * numbers (one per record, monotonic for the life of the log), before it
 * enters the ring; an HTTP source answers 200 only once the log has been
 * fdatasync'ed past it. Each sealed batch's range of sequence numbers and
 * its object name (a random UUID) are logged too (a seal), and the batch
 * is handed to delivery only once that seal is on disk; each settled
 * batch's range is logged (done). After a crash, recovery re-forms exactly
 * the batches that were sealed, with the same ranges and names, so an
 * exclusive write finds the first copy of an object instead of making a
 * second.
 *
 * On disk (DATA_DIR/STREAM/): segment files wal-<number, 20 digits>.log,
 * each a 40-byte header (magic, log id, first sequence, CRC32C) and then
 * entries framed as [u32 magic][u32 length][u32 CRC32C][payload]. The CRC
 * starts from a seed made of the log's id and the segment's number, and
 * covers the entry's offset, its length and payload. Payloads: records (a
 * chunk's data and index as they are in memory, chunk.h; a format 1
 * segment's [u32 length][bytes] per record are still read), seal, done. Every write also puts 12 zero
 * bytes after its entry (the end mark, overwritten by the next entry).
 * Integers are in the host's byte order. The newest segment is appended
 * to; an older one is retired once every record in it is settled and the
 * done entries that say so are synced: kept as spare-<number>.log (at
 * most two, within max_size with the log) to be written over by a later
 * segment, or deleted. After an end mark, a reused file holds its old
 * bytes; their CRCs start from the old segment's seed, so none is read as
 * an entry (a spare a crash caught becoming a segment, whose number a
 * start would issue again, is deleted at open).
 *
 * Threads:
 *  - sources (HTTP and TCP threads) call sl_wal_append and sl_wal_notify;
 *  - the batcher calls sl_wal_seal; delivery workers sl_wal_done;
 *  - the WAL's own sync thread fdatasyncs, hands synced seals on, deletes
 *    retired segments;
 *  - the main thread opens, sets limits and closes; a thread of the
 *    stream's runs the recovery (sl_wal_recover).
 * One mutex guards the file, the counters and the queues; appends hold it
 * while they write (page cache) and hand the chunk to the ring, so the
 * ring's order is the log's order. fdatasync runs outside it.
 */
#ifndef SL_WAL_H
#define SL_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "batch-t.h"
#include "chunk.h"
#include "metrics.h"
#include "ring.h"

struct sl_wal;

/* Opens (creating) the log in <dir>: removes temp files, scans every
 * segment (truncating torn tails, skipping corrupt entries), starts a new
 * segment and the sync thread. What must be delivered again is kept for
 * sl_wal_recover. On error <err> says why. */
int sl_wal_open(const char *dir, uint64_t segment_size, uint64_t max_size,
                struct sl_wal_stats *st, struct sl_wal **out, char *err, size_t errlen);
/* Waits until everything written so far is synced and every seal in it
 * handed on (the batcher has stopped; delivery is about to drain). */
void sl_wal_flush(struct sl_wal *w);
/* Syncs, deletes what is retired, stops the sync thread, frees. */
void sl_wal_close(struct sl_wal *w);
void sl_wal_set_limits(struct sl_wal *w, uint64_t segment_size, uint64_t max_size);

/* Called under the log's lock with a logged chunk: hands it to <ring>,
 * which has room (the order of calls is the log's order). */
typedef void (*sl_wal_hand_fn)(void *arg, struct sl_chunk *c);

/*
 * Logs <c>, a source's chunk (no meta), setting c->seq, and hands it to
 * <hand>, once <ring> has room: every push into a logged stream's ring
 * goes through here, so the lock is never held while the ring is full
 * (the batcher, which drains it, takes the lock to log seals). With
 * <wait> 0 a full ring is answered at once (SL_EBUSY: an I/O thread
 * pauses the connection instead). Returns
 * SL_OK with *<pos> the log position to wait for; SL_EAGAIN when the log
 * holds max_size already; SL_EIO when writing failed (or failed lately and
 * is waiting a moment before trying again). On error <c> is not taken.
 */
int sl_wal_append(struct sl_wal *w, struct sl_chunk *c, struct sl_ring *ring, int wait,
                  sl_wal_hand_fn hand, void *arg, uint64_t *pos);
/* The same without logging <c>: a last resort when the log refuses the
 * records a closing TCP connection had read (they are kept in memory). */
void sl_wal_hand_unlogged(struct sl_wal *w, struct sl_chunk *c, struct sl_ring *ring,
                          sl_wal_hand_fn hand, void *arg);
/* Called by the sync thread once a sync covered a producer's position:
 * <ok> 0 if that sync failed (the records may not be on disk). */
typedef void (*sl_wal_synced_fn)(void *arg, int ok);
/* Asks for <fn> once the log is synced past <pos>. SL_EAGAIN: it will be
 * called (from the sync thread); SL_OK: synced already, SL_EIO: the sync
 * that covered it failed, SL_ENOMEM: not registered; then it will not be.
 * With <fn> NULL it only answers (SL_EAGAIN: not yet). */
int sl_wal_notify(struct sl_wal *w, uint64_t pos, sl_wal_synced_fn fn, void *arg);

/* Called by the sync thread once a batch's seal is on disk. */
typedef void (*sl_wal_ready_fn)(void *arg, struct sl_batch *b);
/* Logs the seal of <b> (seq_first, seq_end, version, seal_reason); <ready>
 * gets <b> once that is synced. If the seal cannot be written, <b> is
 * handed on at once (it is delivered; a crash would then re-form its
 * records differently). */
void sl_wal_seal(struct sl_wal *w, struct sl_batch *b, sl_wal_ready_fn ready, void *arg);
/* Logs that [first, end) is settled. Not synced by itself. */
void sl_wal_done(struct sl_wal *w, uint64_t first, uint64_t end);
/* Every record below <seq> is settled: segments wholly below it may go. */
void sl_wal_retire(struct sl_wal *w, uint64_t seq);
/* Spare files ready to be written over (for tests). */
size_t sl_wal_spares(struct sl_wal *w);

/* What recovery hands back, from a thread of the caller's, alongside new
 * traffic (whose sequence numbers all come after). */
struct sl_wal_recovery {
    void *arg;
    /* A batch of records not yet settled, in log order. <sealed>: as it
     * was sealed (range, version, seal reason and object name set); else
     * records that no seal covered (buffered at the crash, or sealed when
     * the disk was full): seq_first and seq_end set, to be sealed now.
     * Returns SL_OK (taken), or an error: the batch is freed and recovery
     * stops (shutting down). */
    int (*batch)(void *arg, struct sl_batch *b, int sealed);
    /* Optional: 1 when recovery should stop (shutting down). */
    int (*stop)(void *arg);
    uint64_t max_batch;             /* bytes of a batch of unsealed records */
};
/* The sequence number of the first record logged after open: every record
 * recovery may hand back comes before it. */
uint64_t sl_wal_next_seq(const struct sl_wal *w);
/* Streams what the scan found unsettled through <r>, one segment at a
 * time, and sets *<handed> to the records handed on. SL_OK when all was;
 * SL_ECLOSED when stopped; SL_EIO when a segment could not be read (its
 * records stay: do not retire anything until a restart recovers it). */
int sl_wal_recover(struct sl_wal *w, const struct sl_wal_recovery *r, uint64_t *handed);

#endif
