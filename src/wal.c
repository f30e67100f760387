/*
 * wal.c - see wal.h for the format, the threads and the lock.
 *
 * Order of durable steps, so that a crash anywhere leaves a log recovery
 * understands:
 *  - a new segment's header is written as a temp file and renamed; the
 *    sync thread syncs the segment let go, the new one and the directory
 *    before any entry in them counts as synced (a newest segment found
 *    without its header after a crash held nothing synced: removed);
 *  - a record is acknowledged only once synced; a seal is handed to
 *    delivery only once synced, so no object exists whose batch a
 *    recovery could re-form differently;
 *  - a segment is deleted only after a sync that covers the done entries
 *    of every batch holding its records; deleting is the last step, and a
 *    segment that comes back after a crash is harmless (all done);
 *  - a retired segment kept as a spare is renamed, and the directory
 *    synced, before anything writes over it (else a crash could bring its
 *    old name back on new content); a spare becomes a segment by its new
 *    header and end mark, synced, then the rename (else a crash could
 *    leave the new name on the old header, whose first sequence number is
 *    stale).
 * A failed write is cut off again (ftruncate) so that the file never holds
 * half an entry that later ones would follow.
 */
#include "wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "batch.h"
#include "clock.h"
#include "crc32c.h"
#include "fsio.h"
#include "log.h"
#include "sluice/err.h"
#include "uuid.h"

/* Version 2 holds T_CHUNK entries; a build before them sets such a
 * segment aside (.bad) instead of cutting the entries it cannot read off
 * as a torn tail. Version 1 segments are still read. */
#define SEG_MAGIC   "SLWAL\0\0\2"
#define SEG_MAGIC_1 "SLWAL\0\0\1"
#define SEG_HDR     40u
#define ENT_MAGIC   0x4c41574cu            /* "LWAL" */
#define ENT_HDR     12u
#define ENT_MAX     ((uint64_t)1 << 31)    /* no chunk comes near: a length past it is junk */
#define REC_HDR     24u                    /* type, flags, pad, nrecords, first seq, arrival */
#define SEAL_LEN    48u                    /* type, version, range, reason, UUID */
#define DONE_LEN    24u
#define FAIL_PAUSE_MS 1000                 /* after a failed write, refuse this long */
#define CLOSING_MAX 16                     /* segments let go, awaiting their last sync */
#define SPARES_MAX  2                      /* retired segments kept to be written over */

/* Written after every entry, and overwritten by the next: where a segment's
 * entries end, so that the old bytes of a reused file after it are not
 * taken for a torn write. */
static const uint8_t end_mark[ENT_HDR];

/* T_CHUNK: a chunk as it lies in memory (chunk.h): its data, then its
 * index. T_RECORDS, what logs before it hold: [u32 length][bytes] per
 * record; still read. */
enum { T_RECORDS = 'R', T_CHUNK = 'C', T_SEAL = 'S', T_DONE = 'D' };

/* A producer waiting for its records' sync. */
struct notify {
    struct notify *next;
    uint64_t pos;
    sl_wal_synced_fn fn;
    void *arg;
    int ok;                         /* what the sync thread will say */
};

/* A seal waiting for its sync. */
struct waiting {
    struct waiting *next;
    uint64_t pos;
    struct sl_batch *b;
    sl_wal_ready_fn ready;
    void *arg;
};

struct segment {
    uint64_t no;                    /* its name: wal-<no>.log */
    uint32_t seed;                  /* its entries' CRCs start here (seed_of) */
    uint64_t first_seq;             /* of the first record it holds, or would */
    uint64_t bytes;
    uint64_t damaged;               /* scan: unreadable bytes after <bytes> (its end) */
    uint64_t entries;               /* scan: intact entries found in it */
};

/* A range found by the scan: a seal (with its version, reason and the
 * batch's object name) or done. */
struct range {
    uint64_t first, end;
    unsigned version;
    int reason;
    uint8_t uuid[16];
};

struct ranges {
    struct range *at;
    size_t n, cap;
};

struct sl_wal {
    char dir[PATH_MAX];
    int dirfd;
    uint8_t id[16];                 /* the log's identity: in every key it makes */
    struct sl_wal_stats *st;        /* the stream's */
    pthread_t thread;
    int started;

    pthread_mutex_t lock;           /* everything below */
    pthread_cond_t work;            /* -> sync thread: something to sync or delete */
    pthread_cond_t synced_cond;     /* -> sl_wal_flush: <handed> moved */
    int fd;                         /* the newest segment, appended to */
    int closing[CLOSING_MAX];       /* older segments still open: the sync thread's
                                     * next round syncs and closes them */
    size_t nclosing;
    int dir_dirty;                  /* a segment was created: fsync the directory */
    struct segment *segs;           /* oldest first; the last is <fd>'s */
    size_t nsegs, segcap;
    uint64_t segment_size, max_size;
    uint64_t bytes;                 /* every segment's bytes */
    uint64_t next_seq;
    uint64_t next_no;               /* the first segment's number, when there is none */
    uint64_t written, synced;       /* log positions: bytes appended since open */
    uint64_t handed;                /* seals up to here are handed to delivery */
    uint64_t bad_lo, bad_hi;        /* (lo, hi]: a sync over this range failed */
    int64_t refuse_until_ms;        /* after a failed write (monotonic) */
    uint64_t retire_below;          /* records below this are settled */
    uint64_t spare[SPARES_MAX];     /* spare-<no>.log files, renamed durably: free to
                                     * write over (added by the sync thread, taken by
                                     * new_segment) */
    uint64_t spare_size[SPARES_MAX];
    size_t nspares;
    uint64_t spare_bytes;           /* their sizes: with <bytes>, within max_size */
    uint64_t fresh_no;              /* the newest segment made as a new file whose header
                                     * no completed sync round covers yet; 0: none */
    struct waiting *wait_head, *wait_tail;
    struct notify *notify;          /* producers waiting, any order (as many as requests) */
    int stopping;
    struct sl_ratelimit rl;

    /* From the scan, for sl_wal_recover (main thread, then the recovery). */
    struct ranges seals, dones;
    uint64_t open_seq;              /* next_seq at open: every record before is old */
    size_t nold;                    /* segments that existed at open */
};

const char *const sl_wal_error_names[SL_WALERR_N] = { "enospc", "eio", "other" };

static int error_kind(int e)
{
    return e == ENOSPC || e == EDQUOT || e == EFBIG ? SL_WALERR_ENOSPC
         : e == EIO ? SL_WALERR_EIO : SL_WALERR_OTHER;
}

/* ---- paths and segment files ---------------------------------------- */

static void seg_path(const struct sl_wal *w, uint64_t no, char *out, size_t len,
                     const char *ext)
{
    snprintf(out, len, "%s/wal-%020" PRIu64 ".log%s", w->dir, no, ext);
}

static void spare_path(const struct sl_wal *w, uint64_t no, char *out, size_t len)
{
    snprintf(out, len, "%s/spare-%020" PRIu64 ".log", w->dir, no);
}

/* The largest file worth keeping as a spare: a segment is about
 * segment_size plus its last entry. */
static uint64_t spare_size_max(const struct sl_wal *w)
{
    return 2 * w->segment_size + ((uint64_t)1 << 20);
}

/* Takes the newest spare off the list (there is one); <sp> gets its
 * path. Returns its size. Under the lock (or before the sync thread
 * starts). */
static uint64_t pop_spare(struct sl_wal *w, char *sp, size_t len)
{
    w->nspares--;
    w->spare_bytes -= w->spare_size[w->nspares];
    spare_path(w, w->spare[w->nspares], sp, len);
    return w->spare_size[w->nspares];
}

/* Deletes spares, newest first, while the log and spares exceed max_size.
 * Under the lock (or before the sync thread starts). */
static void trim_spares(struct sl_wal *w)
{
    char sp[PATH_MAX + 32];

    while (w->nspares && w->bytes + w->spare_bytes > w->max_size) {
        pop_spare(w, sp, sizeof(sp));
        unlink(sp);
    }
}

/* Writes <iov> at <off>, whatever the file offset: a write that failed
 * half-way and was cut back leaves the next one in the right place. */
#define WRITE_IOV 5                        /* frame, header, data, index, end mark */

static int write_at(int fd, const struct iovec *iov, int n, off_t off)
{
    struct iovec v[WRITE_IOV];
    ssize_t r;

    memcpy(v, iov, (size_t)n * sizeof(*v));
    while (n > 0) {
        r = pwritev(fd, v, n, off);
        if (r > 0)
            off += r;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        while (n > 0 && (size_t)r >= v[0].iov_len) {
            r -= (ssize_t)v[0].iov_len;
            memmove(v, v + 1, (size_t)--n * sizeof(*v));
        }
        if (n > 0) {
            v[0].iov_base = (uint8_t *)v[0].iov_base + r;
            v[0].iov_len -= (size_t)r;
        }
    }
    return 0;
}

/*
 * Where the CRCs of segment <no>'s entries start: from the log's id (which
 * producers never see) and the segment. Each entry's CRC also covers its
 * offset. So the bytes of an entry copied anywhere else, or a frame a
 * producer forged inside a record, never check: recovery, looking for the
 * next entry after a damaged one, cannot be fooled by record contents.
 */
static uint32_t seed_of(const uint8_t id[16], uint64_t no)
{
    return sl_crc32c(sl_crc32c(0, id, 16), &no, 8);
}

static uint32_t entry_crc(uint32_t seed, uint64_t off, uint32_t len, const void *hdr,
                          uint32_t hlen, const struct iovec *d, int nd)
{
    uint32_t crc = sl_crc32c(sl_crc32c(seed, &off, 8), &len, 4);

    crc = sl_crc32c(crc, hdr, hlen);
    for (int i = 0; i < nd; i++)
        crc = sl_crc32c(crc, d[i].iov_base, d[i].iov_len);
    return crc;
}

static void seg_header(const struct sl_wal *w, uint64_t first, uint8_t h[SEG_HDR])
{
    uint32_t crc;

    memset(h, 0, SEG_HDR);
    memcpy(h, SEG_MAGIC, 8);
    memcpy(h + 8, w->id, 16);
    memcpy(h + 24, &first, 8);
    crc = sl_crc32c(0, h, 32);
    memcpy(h + 32, &crc, 4);
}

/* Room for one more segment in the list. SL_ENOMEM (errno set). */
static int grow_segs(struct sl_wal *w)
{
    size_t cap = w->segcap ? w->segcap * 2 : 16;
    struct segment *s;

    if (w->nsegs < w->segcap)
        return SL_OK;
    if (!(s = realloc(w->segs, cap * sizeof(*s)))) {
        errno = ENOMEM;
        return SL_ENOMEM;
    }
    w->segs = s;
    w->segcap = cap;
    return SL_OK;
}

/* Positions up to <upto> not synced yet may not be on disk: a sync failed.
 * Their waiters hear so (sl_wal_notify, the sync thread). Under the lock. */
static void mark_bad(struct sl_wal *w, uint64_t upto)
{
    if (w->bad_hi >= w->synced) {        /* extends a failure not yet passed */
        if (upto > w->bad_hi)
            w->bad_hi = upto;
    } else {
        w->bad_lo = w->synced;
        w->bad_hi = upto;
    }
}

static int is_bad(const struct sl_wal *w, uint64_t pos)
{
    return pos > w->bad_lo && pos <= w->bad_hi;
}

/*
 * Makes the newest spare segment <path>: header <h> and an end mark
 * written over its start and synced, then renamed, and the directory
 * synced. The header first, because a crash must never leave a segment's
 * name on the spare's old header: its first sequence number would be
 * stale, and retiring the segment before it could then delete unsettled
 * records. The directory before any entry, because a crash must never
 * leave entries synced under this segment's number in a file still
 * called a spare: the next start would issue the number again, reuse the
 * file, and its own entries' CRCs would then match the old ones
 * (sl_wal_open also deletes such a spare). Two syncs under the lock, once
 * per segment. Returns the open file, or -1 (the spare is deleted; the
 * caller makes a new file). Under the lock.
 */
static int reuse_spare(struct sl_wal *w, const uint8_t h[SEG_HDR], const char *path)
{
    struct iovec v[2] = { { (void *)h, SEG_HDR }, { (void *)end_mark, ENT_HDR } };
    char sp[PATH_MAX + 32];
    int fd;

    if (pop_spare(w, sp, sizeof(sp)) > spare_size_max(w)) {   /* segment_size shrank */
        unlink(sp);
        return -1;
    }
    fd = open(sp, O_WRONLY | O_CLOEXEC);
    if (fd >= 0 && write_at(fd, v, 2, 0) == 0 && fdatasync(fd) == 0 &&
        rename(sp, path) == 0 && fsync(w->dirfd) == 0)
        return fd;
    sl_warn("wal=%s msg=\"cannot reuse a spare segment: deleted, a new file is made\" "
            "path=%s error=\"%s\"", w->dir, sp, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(sp);
    return -1;
}

/* Creates the next segment, its records from <first> on (a spare written
 * over, or a new file: temp, rename), and makes it the one appended to.
 * Under the lock (or before the sync thread starts). errno is set on
 * failure. */
static int new_segment(struct sl_wal *w, uint64_t first)
{
    uint64_t no = w->nsegs ? w->segs[w->nsegs - 1].no + 1 : w->next_no;
    char tmp[PATH_MAX + 32], path[PATH_MAX + 32];
    uint8_t h[SEG_HDR];
    struct iovec v[2] = { { h, SEG_HDR }, { (void *)end_mark, ENT_HDR } };
    int fd = -1, e;

    if (grow_segs(w) != SL_OK)
        return SL_ENOMEM;
    seg_path(w, no, tmp, sizeof(tmp), ".tmp");
    seg_path(w, no, path, sizeof(path), "");
    seg_header(w, first, h);
    /* Not while a new file's header may still be unsynced: a crash could
     * then keep this segment (synced at once) and lose that header, and
     * the older segment would look damaged instead of never synced. */
    if (w->nspares && !w->fresh_no)
        fd = reuse_spare(w, h, path);
    /* A new file's header is not synced here, on whichever thread appends:
     * the sync thread's next round syncs the segment let go, this one and
     * the directory before anything in them counts as synced. A crash
     * before that may leave this segment without its header; then it
     * holds nothing synced, and recovery removes it (scan_segment). */
    if (fd < 0) {
        if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) < 0)
            return SL_EIO;
        if (write_at(fd, v, 2, 0) != 0 || rename(tmp, path) != 0) {
            e = errno;
            close(fd);
            unlink(tmp);
            errno = e;
            return SL_EIO;
        }
        w->fresh_no = no;
    }
    if (w->fd >= 0 && w->nclosing < CLOSING_MAX) {
        w->closing[w->nclosing++] = w->fd;
    } else if (w->fd >= 0) {
        /* The sync thread is far behind: sync it here, whole, first. */
        if (fdatasync(w->fd) != 0) {
            /* The error is told once: the sync thread's next fdatasync of
             * this file would succeed. Whoever waits for it hears now. */
            e = errno;
            mark_bad(w, w->written);
            close(fd);
            unlink(path);
            errno = e;
            return SL_EIO;
        }
        close(w->fd);
    }
    w->fd = fd;
    w->dir_dirty = 1;
    w->segs[w->nsegs++] = (struct segment){ no, seed_of(w->id, no), first, SEG_HDR, 0, 0 };
    w->bytes += SEG_HDR;
    atomic_store(&w->st->bytes, w->bytes);
    atomic_store(&w->st->segments, w->nsegs);
    return SL_OK;
}

/* ---- writing entries --------------------------------------------------- */

/* Appends one entry: <hdr> (type-specific, <hlen> bytes), then the <nd>
 * pieces <d> (at most 2). Under the lock. On failure the file is cut back
 * and errno is set. */
static int put_entry(struct sl_wal *w, const void *hdr, uint32_t hlen, const struct iovec *d,
                     int nd)
{
    uint32_t frame[3], len = hlen;
    struct iovec v[WRITE_IOV] = { { frame, ENT_HDR }, { (void *)hdr, hlen } };
    struct segment *seg = &w->segs[w->nsegs - 1];
    uint64_t total;
    int e, nv = 2;

    for (int i = 0; i < nd; i++) {
        len += (uint32_t)d[i].iov_len;
        if (d[i].iov_len)
            v[nv++] = d[i];
    }
    v[nv++] = (struct iovec){ (void *)end_mark, ENT_HDR };
    total = ENT_HDR + (uint64_t)len;
    frame[0] = ENT_MAGIC;
    frame[1] = len;
    frame[2] = entry_crc(seg->seed, seg->bytes, len, hdr, hlen, v + 2, nv - 3);
    if (write_at(w->fd, v, nv, (off_t)seg->bytes) != 0) {
        e = errno;
        if (ftruncate(w->fd, (off_t)seg->bytes) != 0)
            sl_error("wal=%s msg=\"cannot cut a failed write off the log\" error=\"%s\"",
                     w->dir, strerror(errno));
        errno = e;
        return SL_EIO;
    }
    seg->bytes += total;
    w->bytes += total;
    w->written += total;
    atomic_store_explicit(&w->st->bytes, w->bytes, memory_order_relaxed);
    return SL_OK;
}

static void count_error(struct sl_wal *w, const char *what, int e)
{
    uint64_t suppressed;

    sl_stat_add(&w->st->errors[error_kind(e)], 1);
    if (sl_log_ratelimit_ok(&w->rl, 5000, &suppressed))
        sl_error("wal=%s msg=\"%s failed: producers are pushed back\" error=\"%s\" "
                 "suppressed=%llu", w->dir, what, strerror(e), (unsigned long long)suppressed);
}

/* Rotates to a new segment when the current one is full. Under the lock. */
static int room_for(struct sl_wal *w)
{
    if (w->segs[w->nsegs - 1].bytes < w->segment_size)
        return SL_OK;
    if (new_segment(w, w->next_seq) != SL_OK) {
        count_error(w, "starting a log segment", errno);
        return SL_EIO;
    }
    return SL_OK;
}

/* Takes the lock once <ring> has room, never waiting while holding it;
 * without <wait>, SL_EBUSY at once (lock not held) if it has none. */
static int lock_with_room(struct sl_wal *w, struct sl_ring *ring, int wait)
{
    const struct timespec nap = { 0, 1000000 };

    pthread_mutex_lock(&w->lock);
    while (!sl_ring_has_room(ring)) {
        pthread_mutex_unlock(&w->lock);
        if (!wait)
            return SL_EBUSY;
        nanosleep(&nap, NULL);
        pthread_mutex_lock(&w->lock);
    }
    return SL_OK;
}

void sl_wal_hand_unlogged(struct sl_wal *w, struct sl_chunk *c, struct sl_ring *ring,
                          sl_wal_hand_fn hand, void *arg)
{
    lock_with_room(w, ring, 1);
    hand(arg, c);
    pthread_mutex_unlock(&w->lock);
}

int sl_wal_append(struct sl_wal *w, struct sl_chunk *c, struct sl_ring *ring, int wait,
                  sl_wal_hand_fn hand, void *arg, uint64_t *pos)
{
    uint8_t h[REC_HDR] = { T_CHUNK, (uint8_t)(c->flags & SL_CHUNK_NL) };   /* c has no meta */
    size_t index = (size_t)c->nrecords * SL_CHUNK_HDR;
    struct iovec d[2] = { { c->data, c->len }, { c->data + c->cap - index, index } };
    int rc = SL_OK;

    if (lock_with_room(w, ring, wait) != SL_OK)
        return SL_EBUSY;
    if (w->bytes >= w->max_size) {
        rc = SL_EAGAIN;
    } else if (w->refuse_until_ms > sl_clock_mono_ms()) {
        rc = SL_EIO;                /* a write failed a moment ago: not yet again */
    } else {
        memcpy(h + 4, &c->nrecords, 4);
        memcpy(h + 8, &w->next_seq, 8);
        memcpy(h + 16, &c->arrival_wall_ms, 8);
        if ((rc = room_for(w)) == SL_OK &&
            (rc = put_entry(w, h, REC_HDR, d, 2)) != SL_OK)
            count_error(w, "writing the log", errno);
        if (rc != SL_OK) {          /* only a write that failed starts the pause */
            rc = SL_EIO;
            w->refuse_until_ms = sl_clock_mono_ms() + FAIL_PAUSE_MS;
        }
    }
    if (rc != SL_OK) {
        pthread_mutex_unlock(&w->lock);
        return rc;
    }
    c->seq = w->next_seq;
    w->next_seq += c->nrecords;
    *pos = w->written;
    hand(arg, c);
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->lock);
    return SL_OK;
}

int sl_wal_notify(struct sl_wal *w, uint64_t pos, sl_wal_synced_fn fn, void *arg)
{
    struct notify *n;
    int rc;

    pthread_mutex_lock(&w->lock);
    if (is_bad(w, pos)) {
        rc = SL_EIO;
    } else if (w->synced >= pos) {
        rc = SL_OK;
    } else if (!fn) {                  /* only asked */
        rc = SL_EAGAIN;
    } else if (!(n = malloc(sizeof(*n)))) {
        rc = SL_ENOMEM;
    } else {
        *n = (struct notify){ w->notify, pos, fn, arg, 0 };
        w->notify = n;
        rc = SL_EAGAIN;
    }
    pthread_mutex_unlock(&w->lock);
    return rc;
}

void sl_wal_seal(struct sl_wal *w, struct sl_batch *b, sl_wal_ready_fn ready, void *arg)
{
    uint8_t h[SEAL_LEN] = { T_SEAL };
    struct waiting *q = malloc(sizeof(*q));
    uint32_t version = b->version, reason = (uint32_t)b->seal_reason;
    int ok;

    memcpy(h + 4, &version, 4);
    memcpy(h + 8, &b->seq_first, 8);
    memcpy(h + 16, &b->seq_end, 8);
    memcpy(h + 24, &reason, 4);
    memcpy(h + 32, b->uuid, 16);
    pthread_mutex_lock(&w->lock);
    ok = q && room_for(w) == SL_OK && put_entry(w, h, SEAL_LEN, NULL, 0) == SL_OK;
    if (ok) {
        *q = (struct waiting){ NULL, w->written, b, ready, arg };
        if (w->wait_tail)
            w->wait_tail->next = q;
        else
            w->wait_head = q;
        w->wait_tail = q;
        pthread_cond_signal(&w->work);
    } else {
        if (q)
            count_error(w, "writing a seal to the log", errno);
        w->refuse_until_ms = sl_clock_mono_ms() + FAIL_PAUSE_MS;
    }
    pthread_mutex_unlock(&w->lock);
    if (!ok) {
        free(q);
        ready(arg, b);
    }
}

void sl_wal_done(struct sl_wal *w, uint64_t first, uint64_t end)
{
    uint8_t h[DONE_LEN] = { T_DONE };

    memcpy(h + 8, &first, 8);
    memcpy(h + 16, &end, 8);
    pthread_mutex_lock(&w->lock);
    /* Best effort: without it a recovery delivers the batch again, and an
     * exclusive write finds it there. */
    if (room_for(w) != SL_OK || put_entry(w, h, DONE_LEN, NULL, 0) != SL_OK)
        sl_stat_add(&w->st->errors[error_kind(errno)], 1);
    pthread_cond_signal(&w->work);     /* synced soon, even with no traffic */
    pthread_mutex_unlock(&w->lock);
}

void sl_wal_retire(struct sl_wal *w, uint64_t seq)
{
    pthread_mutex_lock(&w->lock);
    if (seq > w->retire_below) {
        w->retire_below = seq;
        if (w->nsegs > 1 && w->segs[1].first_seq <= seq)
            pthread_cond_signal(&w->work);
    }
    pthread_mutex_unlock(&w->lock);
}

size_t sl_wal_spares(struct sl_wal *w)
{
    size_t n;

    pthread_mutex_lock(&w->lock);
    n = w->nspares;
    pthread_mutex_unlock(&w->lock);
    return n;
}

void sl_wal_flush(struct sl_wal *w)
{
    uint64_t target;

    pthread_mutex_lock(&w->lock);
    target = w->written;
    pthread_cond_signal(&w->work);
    while (w->handed < target && w->started)
        pthread_cond_wait(&w->synced_cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
}

void sl_wal_set_limits(struct sl_wal *w, uint64_t segment_size, uint64_t max_size)
{
    pthread_mutex_lock(&w->lock);
    w->segment_size = segment_size;
    w->max_size = max_size;
    trim_spares(w);
    pthread_mutex_unlock(&w->lock);
}

/* ---- the sync thread --------------------------------------------------- */

static int retirable(const struct sl_wal *w)
{
    return w->nsegs > 1 && w->segs[1].first_seq <= w->retire_below;
}

/* Room for one more spare of <size> bytes: the log and its spares stay
 * within max_size, and no spare is far bigger than a segment (after a
 * reload shrank segment_size, the old big files go). Under the lock. */
static int spare_room(const struct sl_wal *w, size_t pending, uint64_t size)
{
    return w->nspares + pending < SPARES_MAX && size <= spare_size_max(w) &&
           w->bytes + w->spare_bytes + size <= w->max_size;
}

/* Adds spare <no> of <size> bytes to the list (it was renamed durably), or
 * deletes it when the list has no room. Under the lock. */
static void add_spare(struct sl_wal *w, uint64_t no, uint64_t size)
{
    char sp[PATH_MAX + 32];

    if (spare_room(w, 0, size)) {
        w->spare[w->nspares] = no;
        w->spare_size[w->nspares++] = size;
        w->spare_bytes += size;
        return;
    }
    spare_path(w, no, sp, sizeof(sp));
    unlink(sp);
}

/*
 * Retired segments <gone> (their records settled, the done entries saying
 * so synced) leave the log: a few are renamed spare-<no>.log, to be
 * written over by later segments (the file system then allocates no
 * blocks, and a sync of overwritten blocks commits no metadata: about half
 * the kernel's CPU for a new file, measured), the others deleted. A spare
 * is usable once the directory holding its new name is synced: before
 * that a crash could bring back the segment's name on content written
 * over. The sync thread, without the lock.
 */
static void retire(struct sl_wal *w, const uint64_t *gone, size_t ngone)
{
    char path[PATH_MAX + 32], sp[PATH_MAX + 32];
    uint64_t spared[SPARES_MAX], sizes[SPARES_MAX];
    size_t nspared = 0;
    struct stat sb;
    int room;

    for (size_t i = 0; i < ngone; i++) {
        seg_path(w, gone[i], path, sizeof(path), "");
        room = stat(path, &sb) == 0;
        pthread_mutex_lock(&w->lock);
        room = room && spare_room(w, nspared, (uint64_t)sb.st_size);
        pthread_mutex_unlock(&w->lock);
        spare_path(w, gone[i], sp, sizeof(sp));
        if (room && rename(path, sp) == 0) {
            spared[nspared] = gone[i];
            sizes[nspared++] = (uint64_t)sb.st_size;
        } else if (unlink(path) != 0 && errno != ENOENT) {
            sl_warn("wal=%s msg=\"cannot delete a retired segment\" path=%s error=\"%s\"",
                    w->dir, path, strerror(errno));
        }
    }
    if (!nspared)
        return;
    if (fsync(w->dirfd) != 0) {
        for (size_t i = 0; i < nspared; i++) {
            spare_path(w, spared[i], sp, sizeof(sp));
            unlink(sp);
        }
        return;
    }
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < nspared; i++)
        add_spare(w, spared[i], sizes[i]);
    pthread_mutex_unlock(&w->lock);
}

static void *sync_main(void *arg)
{
    struct sl_wal *w = arg;
    struct waiting *ready, **pp, *q;
    uint64_t target, below, fresh, gone[64];
    struct timespec a, b;
    int closing[CLOSING_MAX];
    size_t ngone, nclosing;
    int fd, dirty, rc, e = 0;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->stopping && w->written == w->synced && !retirable(w))
            pthread_cond_wait(&w->work, &w->lock);
        if (w->stopping && w->written == w->synced && !retirable(w))
            break;
        /* What this round covers: bytes written so far, and (their done
         * entries being among them) the records settled so far. */
        target = w->written;
        below = w->retire_below;
        dirty = w->dir_dirty;
        w->dir_dirty = 0;
        fresh = w->fresh_no;
        fd = dup(w->fd);     /* the segment may rotate (and close) meanwhile */
        nclosing = w->nclosing;
        memcpy(closing, w->closing, nclosing * sizeof(*closing));
        w->nclosing = 0;
        pthread_mutex_unlock(&w->lock);

        /* The segments let go since the last round, then the newest, then
         * the directory that names them. */
        clock_gettime(CLOCK_MONOTONIC, &a);
        rc = 0;
        for (size_t i = 0; i < nclosing; i++) {
            if (fdatasync(closing[i]) != 0 && rc == 0)
                rc = -1, e = errno;
            close(closing[i]);
        }
        if (rc == 0 &&
            (fd < 0 || fdatasync(fd) != 0 || (dirty && fsync(w->dirfd) != 0)))
            rc = -1, e = errno;
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (fd >= 0)
            close(fd);
        sl_metrics_observe(&w->st->sync, (double)(b.tv_sec - a.tv_sec) +
                                           (double)(b.tv_nsec - a.tv_nsec) / 1e9);

        pthread_mutex_lock(&w->lock);
        if (rc != 0) {
            count_error(w, "syncing the log", e);
            mark_bad(w, target);
            w->dir_dirty |= dirty;
        } else if (w->fresh_no == fresh) {
            w->fresh_no = 0;        /* its header and name are on disk now */
        }
        if (target > w->synced)
            w->synced = target;
        /* Seals now on disk, in order. */
        ready = NULL;
        for (pp = &ready; w->wait_head && w->wait_head->pos <= target; pp = &(*pp)->next) {
            *pp = w->wait_head;
            w->wait_head = w->wait_head->next;
            (*pp)->next = NULL;
        }
        if (!w->wait_head)
            w->wait_tail = NULL;
        /* Producers whose records this round covered. */
        struct notify *told = NULL, **np = &w->notify, *n;
        while ((n = *np)) {
            if (n->pos <= target) {
                n->ok = !is_bad(w, n->pos);
                *np = n->next;
                n->next = told;
                told = n;
            } else {
                np = &n->next;
            }
        }
        /* Segments whose records were all settled when this round began:
         * their done entries are synced now. Off the list; deleted below. */
        ngone = 0;
        while (rc == 0 && w->nsegs > 1 && w->segs[1].first_seq <= below && ngone < 64) {
            gone[ngone++] = w->segs[0].no;
            w->bytes -= w->segs[0].bytes;
            memmove(w->segs, w->segs + 1, --w->nsegs * sizeof(*w->segs));
        }
        atomic_store(&w->st->bytes, w->bytes);
        atomic_store(&w->st->segments, w->nsegs);
        pthread_mutex_unlock(&w->lock);

        while ((n = told)) {
            told = n->next;
            n->fn(n->arg, n->ok);
            free(n);
        }
        while ((q = ready)) {
            ready = q->next;
            q->ready(q->arg, q->b);
            free(q);
        }
        retire(w, gone, ngone);
        pthread_mutex_lock(&w->lock);
        w->handed = target;         /* sl_wal_flush: this round is over */
        pthread_cond_broadcast(&w->synced_cond);
        pthread_mutex_unlock(&w->lock);
        if (rc != 0) {      /* a failing disk: do not spin on it */
            struct timespec pause = { 0, 100000000 };
            nanosleep(&pause, NULL);
        }
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* ---- reading segments: one walker for the scan and the recovery ------- */

struct entry {
    const uint8_t *p;               /* the payload */
    uint32_t len;
};

/* 1 if a whole, intact entry of a segment seeded <seed> starts at <off> of
 * the <size> bytes at <m>. */
static int entry_at(const uint8_t *m, size_t size, size_t off, uint32_t seed, struct entry *e)
{
    uint32_t frame[3], n, rlen;
    const uint8_t *p;
    uint64_t nrec, used = 0;

    if (size - off < ENT_HDR)
        return 0;
    memcpy(frame, m + off, ENT_HDR);
    if (frame[0] != ENT_MAGIC || frame[1] == 0 || frame[1] > ENT_MAX ||
        frame[1] > size - off - ENT_HDR)
        return 0;
    p = m + off + ENT_HDR;
    if (entry_crc(seed, off, frame[1], p, frame[1], NULL, 0) != frame[2])
        return 0;
    e->p = p;
    e->len = frame[1];
    switch (p[0]) {
    case T_SEAL: return e->len == SEAL_LEN;
    case T_DONE: return e->len == DONE_LEN;
    case T_RECORDS:
        if (e->len < REC_HDR)
            return 0;
        memcpy(&n, p + 4, 4);
        for (nrec = 0; nrec < n; nrec++) {      /* the records must fill it exactly */
            if (e->len - REC_HDR - used < 4)
                return 0;
            memcpy(&rlen, p + REC_HDR + used, 4);
            if (rlen > e->len - REC_HDR - used - 4)
                return 0;
            used += 4 + rlen;
        }
        /* and its chunk (entry_chunk) must be one: its data and index */
        return used == e->len - REC_HDR && n > 0 &&
               used + 8 + (uint64_t)n * SL_CHUNK_HDR <= UINT32_MAX;
    case T_CHUNK:
        if (e->len < REC_HDR)
            return 0;
        memcpy(&n, p + 4, 4);
        if (n == 0 || (uint64_t)n * SL_CHUNK_HDR > e->len - REC_HDR)
            return 0;
        used = e->len - REC_HDR - (uint64_t)n * SL_CHUNK_HDR;   /* the data's bytes */
        for (nrec = 0; nrec < n; nrec++) {      /* every record within the data */
            struct sl_chunk_rec r;
            memcpy(&r, p + REC_HDR + used + nrec * SL_CHUNK_HDR, sizeof(r));
            if (r.off > used || r.len > used - r.off)
                return 0;
        }
        return 1;
    default: return 0;
    }
}

/* 1 if the <n> bytes at <p> end a segment: the end mark (or as much of it
 * as the file holds). */
static int at_end_mark(const uint8_t *p, size_t n)
{
    return memcmp(p, end_mark, n < ENT_HDR ? n : ENT_HDR) == 0;
}

/*
 * Calls <fn> for each intact entry of a segment's body (after the header).
 * A damaged entry followed by intact ones is skipped and counted in
 * *<corrupt>; one followed by none is the end: clean at the end mark or
 * the end of the file (what follows a mark is a reused file's old bytes),
 * else a torn tail of *<torn> bytes. Returns where the intact data ends.
 */
static size_t walk(const uint8_t *m, size_t size, uint32_t seed,
                   void (*fn)(void *arg, const struct entry *e), void *arg, uint64_t *corrupt,
                   uint64_t *torn)
{
    static const uint32_t magic = ENT_MAGIC;
    size_t off = SEG_HDR;
    struct entry e;

    *torn = 0;
    while (off < size) {
        if (entry_at(m, size, off, seed, &e)) {
            fn(arg, &e);
            off += ENT_HDR + e.len;
            continue;
        }
        /* Look for the next intact entry; if there is one, this one is
         * corrupt, else the log ends here. */
        size_t from = off + 1, next = size;
        while (from < size) {
            const uint8_t *hit = memmem(m + from, size - from, &magic, 4);
            if (!hit)
                break;
            if (entry_at(m, size, (size_t)(hit - m), seed, &e)) {
                next = (size_t)(hit - m);
                break;
            }
            from = (size_t)(hit - m) + 1;
        }
        if (next == size) {
            *torn = at_end_mark(m + off, size - off) ? 0 : size - off;
            return off;
        }
        (*corrupt)++;
        off = next;
    }
    return off;
}

/* Maps segment <path> read-only; checks its header. */
static const uint8_t *map_segment(const char *path, size_t *size, int *fd_out)
{
    struct stat st;
    void *m;
    int fd = open(path, O_RDWR | O_CLOEXEC);

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0 || st.st_size < (off_t)SEG_HDR) {
        close(fd);
        return NULL;
    }
    m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
        close(fd);
        return NULL;
    }
    *size = (size_t)st.st_size;
    *fd_out = fd;
    return m;
}

static int header_ok(const uint8_t *m, uint8_t id[16], uint64_t *first)
{
    uint32_t crc;

    memcpy(&crc, m + 32, 4);
    if ((memcmp(m, SEG_MAGIC, 8) != 0 && memcmp(m, SEG_MAGIC_1, 8) != 0) ||
        sl_crc32c(0, m, 32) != crc)
        return 0;
    memcpy(id, m + 8, 16);
    memcpy(first, m + 24, 8);
    return 1;
}

static int add_range(struct ranges *r, uint64_t first, uint64_t end, unsigned version,
                     int reason)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        struct range *a = realloc(r->at, cap * sizeof(*a));
        if (!a)
            return SL_ENOMEM;
        r->at = a;
        r->cap = cap;
    }
    r->at[r->n++] = (struct range){ first, end, version, reason, { 0 } };
    return SL_OK;
}

/* The scan's view of one entry: seals, dones, the highest sequence. */
struct scan {
    struct sl_wal *w;
    int oom;
    uint64_t entries;               /* intact entries seen */
};

static void scan_entry(void *arg, const struct entry *e)
{
    struct scan *sc = arg;
    struct sl_wal *w = sc->w;
    uint64_t first, end;
    uint32_t n, version, reason;

    sc->entries++;
    memcpy(&first, e->p + 8, 8);
    if (e->p[0] == T_RECORDS || e->p[0] == T_CHUNK) {
        memcpy(&n, e->p + 4, 4);
        if (first + n > w->next_seq)
            w->next_seq = first + n;
        return;
    }
    memcpy(&end, e->p + 16, 8);
    if (first == 0 || end <= first)      /* no batch has such a range */
        return;
    if (end > w->next_seq)
        w->next_seq = end;
    if (e->p[0] == T_DONE) {
        sc->oom |= add_range(&w->dones, first, end, 0, 0) != SL_OK;
        return;
    }
    memcpy(&version, e->p + 4, 4);
    memcpy(&reason, e->p + 24, 4);
    sc->oom |= add_range(&w->seals, first, end, version,
                         reason < SL_SEAL_NREASONS ? (int)reason : SL_SEAL_SHUTDOWN) != SL_OK;
    if (!sc->oom)
        memcpy(w->seals.at[w->seals.n - 1].uuid, e->p + 32, 16);
}

static int by_first(const void *a, const void *b)
{
    const struct range *x = a, *y = b;

    return x->first < y->first ? -1 : x->first > y->first ? 1 : x->end < y->end ? -1
         : x->end > y->end;
}

/* The done range holding <seq>, or NULL (dones sorted, not overlapping). */
static const struct range *done_at(const struct sl_wal *w, uint64_t seq)
{
    size_t lo = 0, hi = w->dones.n;

    while (lo < hi) {                    /* the first with first > seq */
        size_t mid = (lo + hi) / 2;
        if (w->dones.at[mid].first <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && seq < w->dones.at[lo - 1].end ? &w->dones.at[lo - 1] : NULL;
}

/* Scans segment <no>: checks it, notes seals, dones, sequences and where
 * its intact entries end (what follows is judged by settle_tails). Adds it
 * to the list unless its header is unreadable (then it is renamed *.bad
 * and left to the operator). */
static int scan_segment(struct sl_wal *w, uint64_t no, int *have_id)
{
    char path[PATH_MAX + 32], bad[PATH_MAX + 40];
    uint8_t id[16];
    uint64_t first, corrupt = 0, torn;
    struct scan sc = { w, 0, 0 };
    size_t size, end;
    const uint8_t *m;
    int fd;

    seg_path(w, no, path, sizeof(path), "");
    if (!(m = map_segment(path, &size, &fd)) || !header_ok(m, id, &first)) {
        if (m) {
            munmap((void *)m, size);
            close(fd);
        }
        seg_path(w, no, bad, sizeof(bad), ".bad");
        sl_error("wal=%s msg=\"segment unreadable: set aside\" path=%s error=\"%s\"",
                 w->dir, bad, m ? "bad header" : strerror(errno));
        sl_stat_add(&w->st->corrupt, 1);
        return rename(path, bad) == 0 ? SL_OK : SL_EIO;
    }
    if (!*have_id) {
        memcpy(w->id, id, 16);
        *have_id = 1;
    } else if (memcmp(id, w->id, 16) != 0) {
        sl_warn("wal=%s msg=\"segment from another log: read anyway\" path=%s", w->dir, path);
    }
    if (first > w->next_seq)
        w->next_seq = first;
    end = walk(m, size, seed_of(id, no), scan_entry, &sc, &corrupt, &torn);
    munmap((void *)m, size);
    if (corrupt) {
        sl_error("wal=%s msg=\"corrupt log entries skipped\" path=%s entries=%llu", w->dir,
                 path, (unsigned long long)corrupt);
        sl_stat_add(&w->st->corrupt, corrupt);
    }
    close(fd);
    if (sc.oom)
        return SL_ENOMEM;
    if (grow_segs(w) != SL_OK)
        return SL_ENOMEM;
    w->segs[w->nsegs++] = (struct segment){ no, seed_of(id, no), first, end, torn,
                                            sc.entries };
    w->bytes += end;
    return SL_OK;
}

/*
 * Judges the unreadable bytes at the end of each scanned segment. Only the
 * end of the log can be torn by a crash: damage followed by an intact
 * entry, in this segment (walk) or in a later one (here), is a corrupt
 * entry, counted and left in place. A real torn tail, after which nothing
 * intact was written, is counted in bytes and cut off.
 */
static void settle_tails(struct sl_wal *w)
{
    char path[PATH_MAX + 32];
    size_t last = 0;                /* 1 + the last segment with an intact entry */
    int fd;

    for (size_t i = 0; i < w->nsegs; i++)
        if (w->segs[i].entries)
            last = i + 1;
    for (size_t i = 0; i < w->nsegs; i++) {
        struct segment *g = &w->segs[i];
        if (!g->damaged)
            continue;
        seg_path(w, g->no, path, sizeof(path), "");
        if (i + 1 < last) {
            sl_error("wal=%s msg=\"corrupt log entries skipped\" path=%s entries=1 "
                     "where=end bytes=%llu", w->dir, path, (unsigned long long)g->damaged);
            sl_stat_add(&w->st->corrupt, 1);
            continue;
        }
        sl_warn("wal=%s msg=\"torn tail cut off\" path=%s bytes=%llu", w->dir, path,
                (unsigned long long)g->damaged);
        sl_stat_add(&w->st->truncated, g->damaged);
        if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0 || ftruncate(fd, (off_t)g->bytes) != 0 ||
            fdatasync(fd) != 0)
            sl_error("wal=%s msg=\"cannot cut the torn tail\" path=%s error=\"%s\"", w->dir,
                     path, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
}

/* 1 if segment <no> starts with a whole header. */
static int header_whole(const struct sl_wal *w, uint64_t no)
{
    char path[PATH_MAX + 32];
    uint8_t h[SEG_HDR], id[16];
    uint64_t first;
    int fd, ok;

    seg_path(w, no, path, sizeof(path), "");
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    ok = pread(fd, h, SEG_HDR, 0) == (ssize_t)SEG_HDR && header_ok(h, id, &first);
    close(fd);
    return ok;
}

static void drop_unsynced(struct sl_wal *w, uint64_t no)
{
    char path[PATH_MAX + 32];
    struct stat st = { 0 };

    seg_path(w, no, path, sizeof(path), "");
    if (stat(path, &st) == 0)
        sl_stat_add(&w->st->truncated, (uint64_t)st.st_size);
    sl_warn("wal=%s msg=\"segment created just before a crash and never synced: removed\" "
            "path=%s bytes=%lld", w->dir, path, (long long)st.st_size);
    if (unlink(path) != 0)
        sl_error("wal=%s msg=\"cannot remove\" path=%s error=\"%s\"", w->dir, path,
                 strerror(errno));
}

static int by_no(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/*
 * Deletes each spare that a crash caught on its way to becoming a
 * segment: its header (synced before the rename) names this log and
 * starts at or after the newest segment's first record, but the rename
 * did not reach the disk. This start issues that segment's number again;
 * entries synced in the file would then pass for the new segment's.
 * (reuse_spare syncs the directory before writing entries, so this needs
 * a crash in a window it closes; deleting a spare is always safe.) Also
 * deletes a spare without a readable header. Open, after the scan.
 */
static void drop_promoted_spares(struct sl_wal *w)
{
    uint64_t newest = w->nsegs ? w->segs[w->nsegs - 1].first_seq : 0, first;
    char sp[PATH_MAX + 32];
    uint8_t h[SEG_HDR], id[16];
    size_t i = 0;
    int fd, ok;

    while (i < w->nspares) {
        spare_path(w, w->spare[i], sp, sizeof(sp));
        ok = (fd = open(sp, O_RDONLY | O_CLOEXEC)) >= 0 &&
             pread(fd, h, SEG_HDR, 0) == (ssize_t)SEG_HDR && header_ok(h, id, &first);
        if (fd >= 0)
            close(fd);
        if (ok && !(w->nsegs && memcmp(id, w->id, 16) == 0 && first >= newest)) {
            i++;
            continue;
        }
        sl_info("wal=%s msg=\"spare deleted: it may hold entries of a segment whose name a "
                "crash lost\" path=%s", w->dir, sp);
        unlink(sp);
        w->spare_bytes -= w->spare_size[i];
        w->nspares--;
        memmove(w->spare + i, w->spare + i + 1, (w->nspares - i) * sizeof(*w->spare));
        memmove(w->spare_size + i, w->spare_size + i + 1,
                (w->nspares - i) * sizeof(*w->spare_size));
    }
}

/* Keeps spare <name> (numbered <no>) a run before this one left, while
 * there is room for one more; deletes it otherwise. max_size is checked
 * once the log is scanned (sl_wal_open). */
static void found_spare(struct sl_wal *w, const char *name, uint64_t no)
{
    struct stat sb;

    if (w->nspares < SPARES_MAX && fstatat(w->dirfd, name, &sb, 0) == 0) {
        w->spare[w->nspares] = no;
        w->spare_size[w->nspares++] = (uint64_t)sb.st_size;
        w->spare_bytes += (uint64_t)sb.st_size;
    } else {
        unlinkat(w->dirfd, name, 0);
    }
}

/* Lists the segment numbers in the directory, sorted; removes temp files,
 * keeps or deletes spares. */
static int list_segments(struct sl_wal *w, uint64_t **out, size_t *n)
{
    DIR *d = opendir(w->dir);
    struct dirent *de;
    uint64_t *a = NULL, no;
    size_t cap = 0;
    int len;

    *n = 0;
    if (!d)
        return SL_EIO;
    while ((de = readdir(d))) {
        size_t nl = strlen(de->d_name);
        if (nl > 4 && strcmp(de->d_name + nl - 4, ".tmp") == 0) {
            if (unlinkat(w->dirfd, de->d_name, 0) == 0)
                sl_info("wal=%s msg=\"removed a temp file a crash left\" file=%s", w->dir,
                        de->d_name);
            continue;
        }
        if (sscanf(de->d_name, "spare-%20" SCNu64 ".log%n", &no, &len) == 1 &&
            (size_t)len == nl) {
            found_spare(w, de->d_name, no);
            continue;
        }
        if (sscanf(de->d_name, "wal-%20" SCNu64 ".log%n", &no, &len) != 1 ||
            (size_t)len != nl)
            continue;
        if (*n == cap) {
            uint64_t *b = realloc(a, (cap = cap ? cap * 2 : 16) * sizeof(*b));
            if (!b) {
                free(a);
                closedir(d);
                return SL_ENOMEM;
            }
            a = b;
        }
        a[(*n)++] = no;
    }
    closedir(d);
    if (*n)
        qsort(a, *n, sizeof(*a), by_no);
    *out = a;
    return SL_OK;
}

int sl_wal_open(const char *dir, uint64_t segment_size, uint64_t max_size,
                struct sl_wal_stats *st, struct sl_wal **out, char *err, size_t errlen)
{
    struct sl_wal *w = calloc(1, sizeof(*w));
    uint64_t *nos = NULL;
    size_t n = 0;
    int have_id = 0, rc;

    if (!w) {
        snprintf(err, errlen, "out of memory");
        return SL_ENOMEM;
    }
    w->fd = w->dirfd = -1;
    w->st = st;
    st->sync.bounds = sl_hist_bounds_fast;
    w->segment_size = segment_size;
    w->max_size = max_size;
    w->next_seq = 1;
    w->next_no = 1;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->work, NULL);
    pthread_cond_init(&w->synced_cond, NULL);
    snprintf(w->dir, sizeof(w->dir), "%s", dir);
    if (sl_fsio_mkdirs(dir) != SL_OK ||
        (w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        goto fail;
    }
    if ((rc = list_segments(w, &nos, &n)) != SL_OK) {
        snprintf(err, errlen, "%s: %s", dir, rc == SL_ENOMEM ? "out of memory"
                                                             : strerror(errno));
        goto fail;
    }
    /* Segments newer than the newest with a whole header were created
     * just before a crash and never synced (a sync covers the header):
     * nothing in them was acknowledged or delivered. */
    size_t keep = n;
    while (keep > 0 && !header_whole(w, nos[keep - 1]))
        keep--;
    for (size_t i = keep; i < n; i++)
        drop_unsynced(w, nos[i]);
    for (size_t i = 0; i < keep; i++)
        if ((rc = scan_segment(w, nos[i], &have_id)) != SL_OK) {
            snprintf(err, errlen, "%s: scanning the log: %s", dir,
                     rc == SL_ENOMEM ? "out of memory" : strerror(errno));
            goto fail;
        }
    settle_tails(w);
    drop_promoted_spares(w);
    trim_spares(w);
    /* A spare's name may not be on disk yet (a crash just after a
     * retirement's rename): make it so before writing over one. */
    if (w->nspares && fsync(w->dirfd) != 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        goto fail;
    }
    if (n)
        w->next_no = nos[n - 1] + 1;
    free(nos);
    nos = NULL;
    w->nold = w->nsegs;
    if (!have_id && getrandom(w->id, sizeof(w->id), 0) != (ssize_t)sizeof(w->id)) {
        snprintf(err, errlen, "no randomness for the log's id");
        goto fail;
    }
    if (w->seals.n)         /* qsort's array may not be NULL, even for none */
        qsort(w->seals.at, w->seals.n, sizeof(struct range), by_first);
    if (w->dones.n)
        qsort(w->dones.at, w->dones.n, sizeof(struct range), by_first);
    w->open_seq = w->next_seq;
    if (new_segment(w, w->next_seq) != SL_OK || fdatasync(w->fd) != 0 ||
        fsync(w->dirfd) != 0) {
        snprintf(err, errlen, "%s: starting a segment: %s", dir, strerror(errno));
        goto fail;
    }
    w->dir_dirty = 0;
    w->fresh_no = 0;
    w->retire_below = 0;
    if (pthread_create(&w->thread, NULL, sync_main, w) != 0) {
        snprintf(err, errlen, "cannot start the log's sync thread");
        goto fail;
    }
    w->started = 1;
    st->on = 1;
    *out = w;
    return SL_OK;
fail:
    free(nos);
    sl_wal_close(w);
    return SL_EIO;
}

void sl_wal_close(struct sl_wal *w)
{
    struct waiting *q;

    if (!w)
        return;
    if (w->started) {
        pthread_mutex_lock(&w->lock);
        w->stopping = 1;
        pthread_cond_signal(&w->work);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
    }
    for (struct notify *n; (n = w->notify); free(n)) {   /* none: sources stop first */
        w->notify = n->next;
        n->fn(n->arg, 0);
    }
    while ((q = w->wait_head)) {       /* none after sl_wal_flush */
        w->wait_head = q->next;
        sl_error("wal=%s msg=\"a sealed batch never reached delivery: left in the log\"",
                 w->dir);
        sl_batch_release(q->b, SL_OUTCOME_ABANDONED);
        free(q);
    }
    for (size_t i = 0; i < w->nclosing; i++) {   /* none: each write makes a round */
        if (fdatasync(w->closing[i]) != 0)
            count_error(w, "syncing the log", errno);
        close(w->closing[i]);
    }
    if (w->fd >= 0)
        close(w->fd);
    if (w->dirfd >= 0)
        close(w->dirfd);
    free(w->segs);
    free(w->seals.at);
    free(w->dones.at);
    pthread_cond_destroy(&w->work);
    pthread_cond_destroy(&w->synced_cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

uint64_t sl_wal_next_seq(const struct sl_wal *w)
{
    return w->open_seq;
}

/* ---- recovery ------------------------------------------------------------ */

/* Recovery's state while entries stream by (its own thread). */
struct rec {
    struct sl_wal *w;
    const struct sl_wal_recovery *r;
    size_t cur;                     /* the first seal whose end is past what was seen */
    struct sl_batch *b;             /* the batch being re-formed */
    const struct range *b_seal;     /* its seal; NULL: records no seal covers */
    uint64_t handed;
    int64_t now_wall, now_mono;
    int stopped;                    /* asked to stop, or refused a batch */
};

static void oom(void)
{
    sl_error("msg=\"out of memory recovering the log\"");
    abort();
}

/* Hands the batch being formed on: as sealed, or as new (it gets a seal
 * now, its range that of its records). */
static void flush(struct rec *x)
{
    struct sl_batch *b = x->b;
    uint64_t n;

    if (!b)
        return;
    x->b = NULL;
    if (x->b_seal) {
        b->seq_first = x->b_seal->first;
        b->seq_end = x->b_seal->end;
        b->version = x->b_seal->version;
        b->seal_reason = x->b_seal->reason;
        memcpy(b->uuid, x->b_seal->uuid, 16);
    } else {
        b->seal_reason = SL_SEAL_SHUTDOWN;    /* they were buffered at the crash */
    }
    n = b->nrecords;
    if (x->stopped) {                  /* its records stay in the log */
        sl_batch_free(b);
        return;
    }
    if (x->r->batch(x->r->arg, b, x->b_seal != NULL) != SL_OK) {   /* freed it */
        x->stopped = 1;
        return;
    }
    x->handed += n;
}

/* Adds records [off, end) of <c> (from <seq>) to the batch of <seal>
 * (NULL: none), starting it, or handing on the one before. Records no seal
 * covers form batches of their own, of contiguous records, about
 * max_batch bytes each. */
static void add_run(struct rec *x, struct sl_chunk *c, uint32_t off, uint32_t end,
                    uint64_t bytes, uint64_t seq, const struct range *seal)
{
    uint32_t n = end - off;

    if (x->b && (x->b_seal != seal ||
                 (!seal && (x->b->seq_end != seq || x->b->bytes >= x->r->max_batch))))
        flush(x);
    if (!x->b) {
        if (!(x->b = sl_batch_new()))
            oom();
        x->b_seal = seal;
        x->b->seq_first = seq;
    }
    if (sl_batch_add_span(x->b, c, off, end, bytes) != SL_OK)
        oom();
    x->b->seq_end = seq + n;
}

enum { P_SKIP, P_SEALED, P_UNSEALED };

/* Where record <seq> goes: skipped (settled), the batch of *<seal>, or
 * one of the records no seal covers. */
static int place(struct rec *x, uint64_t seq, const struct range **seal)
{
    const struct ranges *s = &x->w->seals;

    while (x->cur < s->n && s->at[x->cur].end <= seq)
        x->cur++;
    *seal = NULL;
    if (x->cur < s->n && s->at[x->cur].first <= seq) {
        *seal = &s->at[x->cur];
        return done_at(x->w, (*seal)->first) && done_at(x->w, (*seal)->first)->end ==
               (*seal)->end ? P_SKIP : P_SEALED;
    }
    return done_at(x->w, seq) ? P_SKIP : P_UNSEALED;
}

/* The chunk of records entry <e> (checked by entry_at) holds, in the
 * layout of chunk.h, with its records' first sequence number. */
static struct sl_chunk *entry_chunk(const struct rec *x, const struct entry *e)
{
    uint32_t n, dlen, len;
    int64_t wall, age = 0;
    struct sl_chunk *c;

    memcpy(&n, e->p + 4, 4);
    memcpy(&wall, e->p + 16, 8);
    if (wall < x->now_wall)          /* its age, at most now_mono: any i64 may be there */
        age = (uint64_t)x->now_wall - (uint64_t)wall > (uint64_t)x->now_mono
                  ? x->now_mono : (int64_t)((uint64_t)x->now_wall - (uint64_t)wall);
    dlen = e->len - REC_HDR - (e->p[0] == T_CHUNK ? n * SL_CHUNK_HDR : 0);
    c = sl_chunk_new(((dlen + 7) & ~7u) + n * SL_CHUNK_HDR, wall,     /* < 4 GiB: entry_at */
                     x->now_mono - age);
    if (!c)
        oom();
    memcpy(&c->seq, e->p + 8, 8);
    memcpy(c->data, e->p + REC_HDR, dlen);
    c->len = dlen;
    if (e->p[0] == T_CHUNK) {                  /* the index, as it was in memory */
        memcpy(c->data + c->cap - (size_t)n * SL_CHUNK_HDR, e->p + REC_HDR + dlen,
               (size_t)n * SL_CHUNK_HDR);
        c->nrecords = n;
        for (uint32_t i = 0; i < n; i++)
            c->bytes += sl_chunk_rec(c, i)->len;
        c->flags = e->p[1] & SL_CHUNK_NL;
        sl_chunk_check_nl(c);          /* a log's flag is not trusted */
        return c;
    }
    for (uint32_t i = 0, off = 0; i < n; i++) {    /* T_RECORDS: a length before each */
        memcpy(&len, c->data + off, 4);
        sl_chunk_index(c, off + 4, len);
        off += 4 + len;
    }
    return c;
}

static void rec_entry(void *arg, const struct entry *e)
{
    struct rec *x = arg;
    const struct range *seal = NULL, *run_seal = NULL;
    struct sl_chunk *c;
    uint64_t seq, bytes = 0;
    uint32_t run_off = 0;
    int where, run_where = -1;

    if ((e->p[0] != T_RECORDS && e->p[0] != T_CHUNK) || x->stopped)
        return;
    if (x->r->stop && x->r->stop(x->r->arg)) {
        x->stopped = 1;
        return;
    }
    c = entry_chunk(x, e);
    /* Runs of records that go to the same place. */
    for (uint32_t i = 0; i <= c->nrecords; i++) {
        seq = c->seq + i;
        where = i < c->nrecords ? place(x, seq, &seal) : -1;
        if (i > 0 && (where != run_where || seal != run_seal)) {
            if (run_where != P_SKIP)
                add_run(x, c, run_off, i, bytes, c->seq + run_off, run_seal);
            run_off = i, bytes = 0;
        }
        if (i == c->nrecords)
            break;
        run_where = where, run_seal = seal;
        bytes += sl_chunk_rec(c, i)->len;
    }
    sl_chunk_unref(c);     /* spans hold their own references */
}

int sl_wal_recover(struct sl_wal *w, const struct sl_wal_recovery *r, uint64_t *handed)
{
    struct rec x = { w, r, 0, NULL, NULL, 0, sl_clock_wall_ms(), sl_clock_mono_ms(), 0 };
    char path[PATH_MAX + 32];
    uint64_t corrupt = 0, torn, no;
    struct timespec a, b;
    size_t size;
    const uint8_t *m;
    uint32_t seed;
    int fd, rc = SL_OK;

    clock_gettime(CLOCK_MONOTONIC, &a);
    for (size_t i = 0; i < w->nold && !x.stopped; i++) {
        pthread_mutex_lock(&w->lock);
        no = w->segs[i].no;          /* none retire before recovery says so */
        seed = w->segs[i].seed;
        pthread_mutex_unlock(&w->lock);
        seg_path(w, no, path, sizeof(path), "");
        if (!(m = map_segment(path, &size, &fd))) {
            sl_error("wal=%s msg=\"cannot read a segment to recover it: nothing is retired "
                     "until a restart reads it\" path=%s error=\"%s\"", w->dir, path,
                     strerror(errno));
            rc = SL_EIO;
            break;
        }
        walk(m, size, seed, rec_entry, &x, &corrupt, &torn);  /* counted by the scan */
        munmap((void *)m, size);
        close(fd);
    }
    if (rc == SL_OK && !x.stopped)
        flush(&x);
    if (x.b) {                       /* stopped, or a segment unread: stays logged */
        sl_batch_free(x.b);
        x.b = NULL;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    atomic_store(&w->st->recovery_us, (uint64_t)((b.tv_sec - a.tv_sec) * 1000000 +
                                                 (b.tv_nsec - a.tv_nsec) / 1000));
    sl_stat_add(&w->st->recovered, x.handed);
    free(w->seals.at);
    free(w->dones.at);
    memset(&w->seals, 0, sizeof(w->seals));
    memset(&w->dones, 0, sizeof(w->dones));
    *handed = x.handed;
    return rc != SL_OK ? rc : x.stopped ? SL_ECLOSED : SL_OK;
}
