/*
 * test_wal.c - the write-ahead log on a real directory: sequence numbers,
 * group-committed waits, what recovery hands back (sealed batches with
 * their ranges, the unsealed tail, nothing settled), torn tails, corrupt
 * entries, retirement of settled segments and their reuse, max_size,
 * derived names.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "clock.h"
#include "crc32c.h"
#include "metrics.h"
#include "sluice/err.h"
#include "suites.h"
#include "wal.h"

#define END_MARK 12     /* wal.c writes this many zero bytes after the last entry */

/* What a test's log handed on: chunks at append, batches at recovery
 * (with whether they came with their seal). */
struct seen {
    struct sl_chunk *chunks[64];
    size_t nchunks;
    struct sl_batch *batches[16];
    int sealed[16];
    size_t nbatches;
    int ready;
};

static void hand(void *arg, struct sl_chunk *c)
{
    struct seen *s = arg;

    ck_assert_uint_lt(s->nchunks, 64);
    s->chunks[s->nchunks++] = c;
}

static int on_batch(void *arg, struct sl_batch *b, int sealed)
{
    struct seen *s = arg;

    ck_assert_uint_lt(s->nbatches, 16);
    s->sealed[s->nbatches] = sealed;
    s->batches[s->nbatches++] = b;
    return SL_OK;
}

static void on_ready(void *arg, struct sl_batch *b)
{
    (void)b;
    ((struct seen *)arg)->ready++;
}

static void seen_free(struct seen *s)
{
    for (size_t i = 0; i < s->nchunks; i++)
        sl_chunk_unref(s->chunks[i]);
    for (size_t i = 0; i < s->nbatches; i++)
        sl_batch_free(s->batches[i]);
    memset(s, 0, sizeof(*s));
}

static char dir[64];
static struct sl_wal_stats st;
static struct sl_ring *ring;   /* only its room is asked: hand() keeps the chunks */

static void setup(void)
{
    ring = sl_ring_new(16);
    snprintf(dir, sizeof(dir), "/tmp/sluice-wal-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    memset(&st, 0, sizeof(st));
}

static void teardown(void)
{
    char cmd[128];

    sl_ring_free(ring);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static struct sl_wal *open_log(uint64_t segment_size, uint64_t max_size)
{
    struct sl_wal *w = NULL;
    char err[256] = "";

    ck_assert_msg(sl_wal_open(dir, segment_size, max_size, &st, &w, err, sizeof(err)) == SL_OK,
                  "open: %s", err);
    return w;
}

/* A chunk of <n> records "<tag>-<i>", each <len> bytes or so. */
static struct sl_chunk *chunk_of(const char *tag, uint32_t n)
{
    struct sl_chunk *c = sl_chunk_new(n * 64, 1700000000000LL, sl_clock_mono_ms());
    char rec[48];

    for (uint32_t i = 0; i < n; i++) {
        int len = snprintf(rec, sizeof(rec), "%s-%u", tag, i);
        sl_chunk_add(c, rec, (uint32_t)len);
    }
    return c;
}

static uint64_t append(struct sl_wal *w, struct seen *s, const char *tag, uint32_t n)
{
    uint64_t pos = 0;
    struct sl_chunk *c = chunk_of(tag, n);

    ck_assert_int_eq(sl_wal_append(w, c, ring, 1, hand, s, &pos), SL_OK);
    ck_assert_uint_gt(pos, 0);
    return pos;
}

/* Seals [first, end) as the batcher would, and waits for it to be ready.
 * Its name: 16 bytes of <first>. */
static void seal(struct sl_wal *w, struct seen *s, uint64_t first, uint64_t end,
                 unsigned version)
{
    struct sl_batch *b = sl_batch_new();
    int before = s->ready;

    memset(b->uuid, (int)first, 16);
    b->seq_first = first;
    b->seq_end = end;
    b->version = version;
    b->seal_reason = SL_SEAL_SIZE;
    sl_wal_seal(w, b, on_ready, s);
    sl_wal_flush(w);
    ck_assert_int_eq(s->ready, before + 1);
    sl_batch_free(b);
}

/* The newest segment file's path. */
static void last_segment(char *out, size_t len)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char best[64] = "";

    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)))
        if (strncmp(de->d_name, "wal-", 4) == 0 && strcmp(de->d_name, best) > 0)
            snprintf(best, sizeof(best), "%s", de->d_name);
    closedir(d);
    ck_assert(best[0]);
    snprintf(out, len, "%s/%s", dir, best);
}

/* The files named <prefix>...; their inodes and sizes, the first <max>. */
static int list_files(const char *prefix, ino_t *ino, uint64_t *size, int max)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    struct stat sb;
    int n = 0;

    while ((de = readdir(d))) {
        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
            continue;
        if (n < max && fstatat(dirfd(d), de->d_name, &sb, 0) == 0) {
            ino[n] = sb.st_ino;
            size[n] = (uint64_t)sb.st_size;
        }
        n++;
    }
    closedir(d);
    return n;
}

static int count_segments(void)
{
    return list_files("wal-", NULL, NULL, 0);
}

static struct sl_wal_recovery recovery(struct seen *s)
{
    return (struct sl_wal_recovery){ s, on_batch, NULL, 1 << 20 };
}

static uint64_t recover(struct sl_wal *w, const struct sl_wal_recovery *r)
{
    uint64_t n = 0;

    ck_assert_int_eq(sl_wal_recover(w, r, &n), SL_OK);
    return n;
}

/* Batch <i> of what recovery handed on: its range, records and seal. */
static void batch_is(const struct seen *r, size_t i, uint64_t first, uint64_t end,
                     uint64_t nrecords, int sealed)
{
    ck_assert_uint_gt(r->nbatches, i);
    ck_assert_uint_eq(r->batches[i]->seq_first, first);
    ck_assert_uint_eq(r->batches[i]->seq_end, end);
    ck_assert_uint_eq(r->batches[i]->nrecords, nrecords);
    ck_assert_int_eq(r->sealed[i], sealed);
}

START_TEST(test_wal_sequences_and_sync)
{
    struct seen s = { 0 };
    struct sl_wal *w = open_log(1 << 20, 64 << 20);
    uint64_t p1 = append(w, &s, "a", 3), p2 = append(w, &s, "b", 2);

    ck_assert_uint_gt(p2, p1);
    ck_assert_uint_eq(s.chunks[0]->seq, 1);
    ck_assert_uint_eq(s.chunks[1]->seq, 4);
    sl_wal_flush(w);                       /* every write so far synced */
    ck_assert_int_eq(sl_wal_notify(w, p2, NULL, NULL), SL_OK);
    ck_assert_uint_ge(atomic_load(&st.sync.bucket[0]) + atomic_load(&st.sync.sum_us) +
                      atomic_load(&st.sync.bucket[SL_HIST_BUCKETS]), 0);
    uint64_t syncs = 0;
    for (int i = 0; i <= SL_HIST_BUCKETS; i++)
        syncs += atomic_load(&st.sync.bucket[i]);
    ck_assert_uint_ge(syncs, 1);
    sl_wal_close(w);
    seen_free(&s);
}
END_TEST

static void count_synced(void *arg, int ok)
{
    if (ok)
        (*(int *)arg)++;
}

START_TEST(test_wal_notify_after_the_sync)
{
    struct seen s = { 0 };
    struct sl_wal *w = open_log(1 << 20, 64 << 20);
    int told = 0, rc;
    uint64_t pos = append(w, &s, "a", 3);

    rc = sl_wal_notify(w, pos, count_synced, &told);
    ck_assert(rc == SL_EAGAIN || rc == SL_OK);
    sl_wal_flush(w);
    ck_assert_int_eq(told, rc == SL_EAGAIN ? 1 : 0);
    ck_assert_int_eq(sl_wal_notify(w, pos, count_synced, &told), SL_OK);
    sl_wal_close(w);
    seen_free(&s);
}
END_TEST

START_TEST(test_wal_recovers_sealed_batches_and_tail)
{
    struct seen s = { 0 }, r = { 0 };
    struct sl_wal *w = open_log(1 << 20, 64 << 20);
    struct sl_wal_recovery rc = recovery(&r);
    struct sl_record rec;
    struct sl_batch_iter it;

    append(w, &s, "a", 3);                 /* seqs 1..3 */
    append(w, &s, "b", 4);                 /* 4..7 */
    append(w, &s, "c", 2);                 /* 8..9 */
    seal(w, &s, 1, 5, 7);                  /* a0 a1 a2 b0: a chunk split by a seal */
    seal(w, &s, 5, 8, 7);                  /* b1 b2 b3 */
    sl_wal_done(w, 5, 8);                  /* ... settled */
    sl_wal_close(w);                       /* as after kill -9: nothing else said */

    w = open_log(1 << 20, 64 << 20);
    ck_assert_uint_eq(sl_wal_next_seq(w), 10);
    ck_assert_uint_eq(recover(w, &rc), 4 + 2);
    ck_assert_uint_eq(r.nbatches, 2);
    batch_is(&r, 0, 1, 5, 4, 1);
    ck_assert_uint_eq(r.batches[0]->version, 7);
    uint8_t name[16];
    memset(name, 1, 16);
    ck_assert(memcmp(r.batches[0]->uuid, name, 16) == 0);   /* the seal's */
    ck_assert_int_eq(r.batches[0]->oldest_wall_ms, 1700000000000LL);
    sl_batch_iter_init(&it, r.batches[0]);
    const char *want[] = { "a-0", "a-1", "a-2", "b-0" };
    for (int i = 0; i < 4; i++) {
        ck_assert(sl_batch_next(&it, &rec));
        ck_assert_uint_eq(rec.len, strlen(want[i]));
        ck_assert(memcmp(rec.data, want[i], rec.len) == 0);
    }
    ck_assert(!sl_batch_next(&it, &rec));
    batch_is(&r, 1, 8, 10, 2, 0);          /* c: never sealed */
    ck_assert_uint_eq(atomic_load(&st.recovered), 6);
    /* New records continue the sequence. */
    append(w, &s, "d", 1);
    ck_assert_uint_eq(s.chunks[s.nchunks - 1]->seq, 10);
    sl_wal_close(w);
    seen_free(&s);
    seen_free(&r);
}
END_TEST

START_TEST(test_wal_torn_tail_is_cut)
{
    struct seen s = { 0 }, r = { 0 };
    struct sl_wal *w = open_log(1 << 20, 64 << 20);
    struct sl_wal_recovery rc = recovery(&r);
    char path[128];
    struct stat sb;

    append(w, &s, "a", 2);
    append(w, &s, "b", 3);
    sl_wal_close(w);
    last_segment(path, sizeof(path));
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(truncate(path, sb.st_size - END_MARK - 5), 0);   /* inside b's entry */

    w = open_log(1 << 20, 64 << 20);
    ck_assert_uint_gt(atomic_load(&st.truncated), 0);
    ck_assert_uint_eq(atomic_load(&st.corrupt), 0);
    ck_assert_uint_eq(recover(w, &rc), 2);
    ck_assert_uint_eq(r.nbatches, 1);
    batch_is(&r, 0, 1, 3, 2, 0);
    sl_wal_close(w);
    seen_free(&s);
    seen_free(&r);
}
END_TEST

START_TEST(test_wal_corrupt_entry_is_skipped)
{
    struct seen s = { 0 }, r = { 0 };
    struct sl_wal *w = open_log(1 << 20, 64 << 20);
    struct sl_wal_recovery rc = recovery(&r);
    char path[128], buf[8192];
    ssize_t n;
    int fd;

    append(w, &s, "first", 2);
    append(w, &s, "MIDDLE", 3);
    append(w, &s, "last", 4);
    sl_wal_close(w);
    last_segment(path, sizeof(path));
    fd = open(path, O_RDWR);
    n = read(fd, buf, sizeof(buf));
    char *hit = memmem(buf, (size_t)n, "MIDDLE-1", 8);
    ck_assert_ptr_nonnull(hit);
    hit[3] ^= 0x20;
    ck_assert_int_eq(pwrite(fd, buf, (size_t)n, 0), n);
    close(fd);

    w = open_log(1 << 20, 64 << 20);
    ck_assert_uint_eq(atomic_load(&st.corrupt), 1);
    ck_assert_uint_eq(atomic_load(&st.truncated), 0);
    ck_assert_uint_eq(recover(w, &rc), 2 + 4);
    ck_assert_uint_eq(r.nbatches, 2);      /* not one batch across the hole */
    batch_is(&r, 0, 1, 3, 2, 0);
    batch_is(&r, 1, 6, 10, 4, 0);
    sl_wal_close(w);
    seen_free(&s);
    seen_free(&r);
}
END_TEST

/* Issue 13 item 15: damage at the end of an older segment, with intact
 * entries in the segments after it, is a corrupt entry, not a torn tail
 * (only the end of the log can be torn by a crash). */
START_TEST(test_wal_damaged_end_of_older_segment_is_corrupt)
{
    struct seen s = { 0 }, r = { 0 };
    struct sl_wal *w = open_log(4096, 64 << 20);
    struct sl_wal_recovery rc = recovery(&r);
    char path[128], first[64] = "";
    struct stat sb;
    struct dirent *de;
    DIR *d;
    uint64_t n = 0;
    int fd;

    for (int i = 0; i < 60; i++)
        append(w, &s, "x", 20);
    sl_wal_close(w);
    ck_assert_int_ge(count_segments(), 3);
    ck_assert_ptr_nonnull(d = opendir(dir));
    while ((de = readdir(d)))
        if (strncmp(de->d_name, "wal-", 4) == 0 && (!first[0] || strcmp(de->d_name, first) < 0))
            snprintf(first, sizeof(first), "%s", de->d_name);
    closedir(d);
    snprintf(path, sizeof(path), "%s/%s", dir, first);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_ge(fd = open(path, O_RDWR), 0);
    ck_assert_int_eq(pwrite(fd, "\xff\xff\xff\xff", 4, sb.st_size - END_MARK - 4), 4);
    close(fd);

    w = open_log(4096, 64 << 20);
    ck_assert_uint_eq(atomic_load(&st.corrupt), 1);
    ck_assert_uint_eq(atomic_load(&st.truncated), 0);
    n = recover(w, &rc);
    ck_assert_uint_eq(n, 59 * 20);          /* all but the damaged entry's records */
    sl_wal_close(w);
    seen_free(&s);
    seen_free(&r);
}
END_TEST

/* Polls for at most 5 s. */
static int segments_become(int want)
{
    const struct timespec nap = { 0, 5000000 };

    for (int i = 0; i < 1000; i++) {
        if (count_segments() == want)
            return 1;
        nanosleep(&nap, NULL);
    }
    return 0;
}

START_TEST(test_wal_retires_settled_segments)
{
    struct seen s = { 0 }, r = { 0 };
    struct sl_wal *w = open_log(64, 1 << 20);   /* every entry starts a segment */
    struct sl_wal_recovery rc = recovery(&r);

    append(w, &s, "a", 2);    /* 1..2 */
    append(w, &s, "b", 2);    /* 3..4 */
    append(w, &s, "c", 2);    /* 5..6 */
    seal(w, &s, 1, 5, 1);
    ck_assert_int_ge(count_segments(), 4);
    ck_assert_int_eq(atomic_load(&st.segments), count_segments());
    sl_wal_done(w, 1, 5);
    sl_wal_retire(w, 5);
    sl_wal_flush(w);
    /* a's and b's segments go; c's (records 5..) and the newest stay. */
    ck_assert_msg(segments_become(3), "segments: %d", count_segments());
    ck_assert_int_eq(atomic_load(&st.segments), 3);
    sl_wal_close(w);

    w = open_log(64, 1 << 20);
    ck_assert_uint_eq(recover(w, &rc), 2);
    ck_assert_uint_eq(r.nbatches, 1);
    batch_is(&r, 0, 5, 7, 2, 0);
    sl_wal_close(w);
    seen_free(&s);
    seen_free(&r);
}
END_TEST

START_TEST(test_wal_max_size_refuses)
{
    struct seen s = { 0 };
    struct sl_wal *w = open_log(1 << 20, 140);
    struct sl_chunk *c = chunk_of("x", 20);
    uint64_t pos;

    append(w, &s, "a", 10);
    ck_assert_int_eq(sl_wal_append(w, c, ring, 1, hand, &s, &pos), SL_EAGAIN);
    ck_assert_uint_eq(s.nchunks, 1);
    sl_chunk_unref(c);
    sl_wal_close(w);
    seen_free(&s);
}
END_TEST

/* Polls for at most 5 s until <w> has <want> spares ready (renamed, the
 * directory synced) and as many spare files. */
static int spares_become(struct sl_wal *w, int want)
{
    const struct timespec nap = { 0, 5000000 };

    for (int i = 0; i < 1000; i++) {
        if (sl_wal_spares(w) == (size_t)want && list_files("spare-", NULL, NULL, 0) == want)
            return 1;
        nanosleep(&nap, NULL);
    }
    return 0;
}

/* Segments 1..3 hold 60 long records, 4 two short ones; all but those two
 * are settled, and 1..3 retire. Returns the log, open. */
static struct sl_wal *retire_three(struct seen *s, uint64_t max_size)
{
    struct sl_wal *w = open_log(64, max_size);  /* every entry starts a segment */

    append(w, s, "old-and-much-longer", 20);   /* 1..20 */
    append(w, s, "old-and-much-longer", 20);   /* 21..40 */
    append(w, s, "old-and-much-longer", 20);   /* 41..60 */
    append(w, s, "c", 2);                      /* 61..62 */
    seal(w, s, 1, 61, 1);
    sl_wal_done(w, 1, 61);
    sl_wal_retire(w, 61);
    sl_wal_flush(w);
    ck_assert_msg(segments_become(3), "segments: %d", count_segments());
    return w;
}

/* Retired segments are kept as spares (two at most) and written over by
 * the next segments; a reused file's old bytes after the end mark are
 * neither recovered nor taken for damage, here or after a restart. */
START_TEST(test_wal_reuses_retired_segments)
{
    struct seen s = { 0 }, r = { 0 };
    struct sl_wal_recovery rc = recovery(&r);
    struct sl_wal *w = retire_three(&s, 1 << 20);
    ino_t spare[2], seg[8];
    uint64_t size[8];
    int n;

    ck_assert_msg(spares_become(w, 2), "spares: %d", list_files("spare-", NULL, NULL, 0));
    list_files("spare-", spare, size, 2);
    append(w, &s, "new", 2);                   /* 63..64: into a spare */
    append(w, &s, "new", 2);                   /* 65..66: into the other */
    ck_assert_int_eq(list_files("spare-", NULL, NULL, 0), 0);
    n = list_files("wal-", seg, size, 8);
    int reused = 0;
    for (int i = 0; i < n; i++)
        reused += seg[i] == spare[0] || seg[i] == spare[1];
    ck_assert_int_eq(reused, 2);
    sl_wal_close(w);

    w = open_log(64, 1 << 20);
    ck_assert_uint_eq(atomic_load(&st.corrupt), 0);
    ck_assert_uint_eq(atomic_load(&st.truncated), 0);
    ck_assert_uint_eq(recover(w, &rc), 6);    /* 61..66, none of the old */
    ck_assert_uint_eq(r.nbatches, 1);
    batch_is(&r, 0, 61, 67, 6, 0);
    sl_wal_close(w);
    seen_free(&s);
    seen_free(&r);
}
END_TEST

/* A write torn in a reused segment is cut off like any other; what came
 * before it is recovered. */
START_TEST(test_wal_torn_write_in_reused_segment)
{
    struct seen s = { 0 }, r = { 0 };
    struct sl_wal_recovery rc = recovery(&r);
    struct sl_wal *w = retire_three(&s, 1 << 20);
    char path[128], buf[4096];
    ssize_t got;
    int fd;

    ck_assert(spares_become(w, 2));
    append(w, &s, "new", 2);                   /* 63..64 */
    append(w, &s, "torn", 2);                  /* 65..66, damaged below */
    sl_wal_close(w);
    ck_assert_int_eq(count_segments(), 5);
    last_segment(path, sizeof(path));
    ck_assert_int_ge(fd = open(path, O_RDWR), 0);
    got = read(fd, buf, sizeof(buf));
    char *hit = memmem(buf, (size_t)got, "torn-1", 6);
    ck_assert_ptr_nonnull(hit);
    ck_assert_int_eq(pwrite(fd, "X", 1, hit - buf), 1);
    close(fd);

    w = open_log(64, 1 << 20);
    ck_assert_uint_eq(atomic_load(&st.corrupt), 0);
    ck_assert_uint_gt(atomic_load(&st.truncated), 0);
    ck_assert_uint_eq(recover(w, &rc), 4);    /* 61..64 */
    batch_is(&r, 0, 61, 65, 4, 0);
    sl_wal_close(w);
    seen_free(&s);
    seen_free(&r);
}
END_TEST

/* The log and its spares stay within max_size: reopened with room for one
 * spare and not two, one is kept. */
START_TEST(test_wal_spares_within_max_size)
{
    struct seen s = { 0 };
    struct sl_wal *w = retire_three(&s, 1 << 20);
    ino_t ino[8];
    uint64_t size[8], live = 0, max;
    int n;

    ck_assert(spares_become(w, 2));
    sl_wal_close(w);
    n = list_files("wal-", ino, size, 8);
    for (int i = 0; i < n; i++)
        live += size[i] - END_MARK;
    ino_t spare[2];
    list_files("spare-", spare, size, 2);
    ck_assert_uint_eq(size[0], size[1]);
    max = live + size[0] + size[0] / 2;

    w = open_log(64, max);
    ck_assert_int_eq(list_files("spare-", NULL, NULL, 0), 0);
    n = list_files("wal-", ino, size, 8);
    ck_assert_int_eq(n, 4);
    int reused = 0;                            /* the one kept made the new segment */
    for (int i = 0; i < n; i++)
        reused += ino[i] == spare[0] || ino[i] == spare[1];
    ck_assert_int_eq(reused, 1);
    sl_wal_close(w);
    seen_free(&s);
}
END_TEST

/* A crash that lost a spare's rename to its new segment name, after
 * entries were synced in it (reuse_spare syncs the directory first, so
 * this is the belt to those braces): the next start issues the same
 * segment number again, and must not write over that spare, whose old
 * entries would then pass for the new segment's. */
START_TEST(test_wal_spare_caught_becoming_a_segment_is_dropped)
{
    struct seen s = { 0 }, r = { 0 };
    struct sl_wal_recovery rc = recovery(&r);
    struct sl_wal *w = retire_three(&s, 1 << 20);
    char path[128], sp[160];
    ino_t ino[2];
    uint64_t size[2];

    ck_assert(spares_become(w, 2));
    sl_wal_set_limits(w, 4096, 1 << 20);       /* room for two entries in a segment */
    append(w, &s, "lost-with-its-name", 20);   /* 63..82: into a spare */
    append(w, &s, "lost-too", 5);              /* 83..87: past what the next run writes */
    sl_wal_close(w);
    /* Leave one spare: the other one, and the renamed one back under a
     * spare's name, as if the rename never reached the disk. */
    DIR *d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strncmp(de->d_name, "spare-", 6) == 0) {
            snprintf(sp, sizeof(sp), "%s/%s", dir, de->d_name);
            ck_assert_int_eq(unlink(sp), 0);
        }
    closedir(d);
    last_segment(path, sizeof(path));
    snprintf(sp, sizeof(sp), "%s/spare-00000000000000000099.log", dir);
    ck_assert_int_eq(rename(path, sp), 0);

    w = open_log(4096, 1 << 20);               /* issues the lost segment's number again */
    ck_assert_int_eq(list_files("spare-", ino, size, 2), 0);
    append(w, &s, "x", 1);                     /* the number's new entry */
    sl_wal_close(w);

    w = open_log(4096, 1 << 20);
    ck_assert_uint_eq(atomic_load(&st.corrupt), 0);
    ck_assert_uint_eq(recover(w, &rc), 3);     /* 61..62 and the new one; none of 63..87 */
    sl_wal_close(w);
    seen_free(&s);
    seen_free(&r);
}
END_TEST

/* A segment created just before a crash, its header never synced (here:
 * never written), is removed; an older one that lost its header is set
 * aside as *.bad; the records of the others come back. */
START_TEST(test_wal_unsynced_newest_segment_is_removed)
{
    struct seen s = { 0 }, r = { 0 };
    struct sl_wal *w = open_log(1 << 20, 64 << 20);
    struct sl_wal_recovery rc = recovery(&r);
    char path[128], junk[160];
    uint8_t zeros[300] = { 0 };
    int fd;

    append(w, &s, "a", 2);
    sl_wal_close(w);
    last_segment(path, sizeof(path));
    snprintf(junk, sizeof(junk), "%s/wal-%020d.log", dir, 99);   /* newer than any */
    fd = open(junk, O_WRONLY | O_CREAT, 0640);
    ck_assert_int_eq(write(fd, zeros, sizeof(zeros)), (ssize_t)sizeof(zeros));
    close(fd);

    w = open_log(1 << 20, 64 << 20);
    ck_assert_int_eq(access(junk, F_OK), -1);
    ck_assert_uint_eq(atomic_load(&st.truncated), sizeof(zeros));
    ck_assert_uint_eq(atomic_load(&st.corrupt), 0);
    ck_assert_uint_eq(recover(w, &rc), 2);
    batch_is(&r, 0, 1, 3, 2, 0);
    append(w, &s, "b", 1);                 /* and the log goes on after it */
    ck_assert_uint_eq(s.chunks[s.nchunks - 1]->seq, 3);
    sl_wal_close(w);
    seen_free(&s);
    seen_free(&r);
}
END_TEST

/* Records delivered without a seal on disk (a full disk), then settled:
 * not delivered again. */
START_TEST(test_wal_done_covers_unsealed_records)
{
    struct seen s = { 0 }, r = { 0 };
    struct sl_wal *w = open_log(1 << 20, 64 << 20);
    struct sl_wal_recovery rc = recovery(&r);

    append(w, &s, "a", 2);                 /* 1..2 */
    append(w, &s, "b", 2);                 /* 3..4 */
    sl_wal_done(w, 1, 3);
    sl_wal_close(w);
    w = open_log(1 << 20, 64 << 20);
    ck_assert_uint_eq(recover(w, &rc), 2);
    ck_assert_uint_eq(r.nbatches, 1);
    batch_is(&r, 0, 3, 5, 2, 0);
    sl_wal_close(w);
    seen_free(&s);
    seen_free(&r);
}
END_TEST

/* A producer's record holding what looks like a "done" entry for the
 * batch before it: when the record's own entry is torn, recovery looks
 * for the next entry and must not take the forgery for one. */
START_TEST(test_wal_forged_entry_is_not_believed)
{
    struct seen s = { 0 }, r = { 0 };
    struct sl_wal *w = open_log(1 << 20, 64 << 20);
    struct sl_wal_recovery rc = recovery(&r);
    uint8_t rec[256] = { 0 }, payload[24] = { 'D' };
    uint32_t magic = 0x4c41574cu, len = sizeof(payload), crc;
    uint64_t first = 1, end = 3, pos;
    char path[128];
    struct stat sb;

    append(w, &s, "a", 2);                 /* 1..2, unsettled */
    memcpy(payload + 8, &first, 8);
    memcpy(payload + 16, &end, 8);
    crc = sl_crc32c(sl_crc32c(0, &len, 4), payload, len);   /* as a naive log would */
    memcpy(rec + 16, &magic, 4);
    memcpy(rec + 20, &len, 4);
    memcpy(rec + 24, &crc, 4);
    memcpy(rec + 28, payload, len);
    struct sl_chunk *c = sl_chunk_new(512, 1, 1);
    sl_chunk_add(c, rec, sizeof(rec));
    ck_assert_int_eq(sl_wal_append(w, c, ring, 1, hand, &s, &pos), SL_OK);
    sl_wal_close(w);
    last_segment(path, sizeof(path));
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(truncate(path, sb.st_size - 100), 0);   /* the record's entry, torn */

    w = open_log(1 << 20, 64 << 20);
    ck_assert_uint_eq(recover(w, &rc), 2);
    batch_is(&r, 0, 1, 3, 2, 0);           /* a is still there */
    sl_wal_close(w);
    seen_free(&s);
    seen_free(&r);
}
END_TEST

/* Appends an entry holding <payload> to the newest segment, where its end
 * mark is, as the log of the segment's id and number would write it. */
static void put_raw_entry(const void *payload, uint32_t len)
{
    uint8_t id[16], frame[12], mark[12] = { 0 };
    uint32_t magic = 0x4c41574cu, seed, crc;
    uint64_t no, off;
    char path[128];
    struct stat sb;
    FILE *f;

    last_segment(path, sizeof(path));
    ck_assert_int_eq(sscanf(strrchr(path, '/'), "/wal-%20" SCNu64 ".log", &no), 1);
    ck_assert_int_eq(stat(path, &sb), 0);
    off = (uint64_t)sb.st_size - sizeof(mark);           /* the end mark's place */
    ck_assert_ptr_nonnull(f = fopen(path, "r+b"));
    ck_assert_int_eq(fseek(f, 8, SEEK_SET), 0);
    ck_assert_uint_eq(fread(id, 1, 16, f), 16);
    seed = sl_crc32c(sl_crc32c(0, id, 16), &no, 8);
    crc = sl_crc32c(sl_crc32c(sl_crc32c(seed, &off, 8), &len, 4), payload, len);
    memcpy(frame, &magic, 4);
    memcpy(frame + 4, &len, 4);
    memcpy(frame + 8, &crc, 4);
    ck_assert_int_eq(fseek(f, (long)off, SEEK_SET), 0);
    ck_assert_uint_eq(fwrite(frame, 1, 12, f), 12);
    ck_assert_uint_eq(fwrite(payload, 1, len, f), len);
    ck_assert_uint_eq(fwrite(mark, 1, 12, f), 12);
    ck_assert_int_eq(fclose(f), 0);
}

/* The records of recovered batch <i>, each with a '\n' unless it ends
 * with one, in <out>. */
static void batch_text(const struct seen *r, size_t i, char *out, size_t cap)
{
    struct sl_batch_iter it;
    struct sl_record rec;
    size_t n = 0;

    sl_batch_iter_init(&it, r->batches[i]);
    while (sl_batch_next(&it, &rec)) {
        ck_assert_uint_lt(n + rec.len + 1, cap);
        memcpy(out + n, rec.data, rec.len);
        n += rec.len;
        if (sl_chunk_needs_nl(rec.data, rec.len))
            out[n++] = '\n';
    }
    out[n] = '\0';
}

/* A chunk whose records lie each with its '\n' comes back so, flag and
 * all; one that claims the flag in a log without the records to match
 * (a CRC-correct forgery) comes back without it; and an entry in the
 * format of logs before chunks had an index ([u32 length][bytes] per
 * record) is still read. */
START_TEST(test_wal_chunk_entries_and_the_old_format)
{
    struct seen s = { 0 }, r = { 0 };
    struct sl_wal *w = open_log(1 << 20, 64 << 20);
    struct sl_wal_recovery rc = recovery(&r);
    struct sl_chunk *c = sl_chunk_new(256, 1700000000000LL, 1);
    uint8_t old[24 + 4 + 3 + 4 + 2] = { 'R' }, forged[24 + 6 + 16] = { 'C', SL_CHUNK_NL };
    uint32_t n = 2, len;
    uint64_t seq, pos;
    int64_t wall = 1700000000000LL;
    char text[256];
    const uint8_t *p;
    size_t blen;

    c->flags = SL_CHUNK_NL;
    sl_chunk_add_nl(c, "abc", 3);
    sl_chunk_add_nl(c, "de\n", 3);                       /* its own '\n' is enough */
    ck_assert_int_eq(sl_wal_append(w, c, ring, 1, hand, &s, &pos), SL_OK);   /* 1..2 */
    sl_wal_close(w);
    /* 3..4 in the old format: "fgh", "ij" */
    seq = 3;
    memcpy(old + 4, &n, 4);
    memcpy(old + 8, &seq, 8);
    memcpy(old + 16, &wall, 8);
    len = 3;
    memcpy(old + 24, &len, 4);
    memcpy(old + 28, "fgh", 3);
    len = 2;
    memcpy(old + 31, &len, 4);
    memcpy(old + 35, "ij", 2);
    put_raw_entry(old, sizeof(old));
    /* 5..6 flagged, but "kl" and "mn" lie with no '\n' between them */
    seq = 5;
    memcpy(forged + 4, &n, 4);
    memcpy(forged + 8, &seq, 8);
    memcpy(forged + 16, &wall, 8);
    memcpy(forged + 24, "klmn\n\n", 6);
    struct sl_chunk_rec idx[2] = { { 2, 2 }, { 0, 2 } };     /* as in memory: the last first */
    memcpy(forged + 30, idx, sizeof(idx));
    put_raw_entry(forged, sizeof(forged));

    w = open_log(1 << 20, 64 << 20);
    ck_assert_uint_eq(recover(w, &rc), 6);
    batch_is(&r, 0, 1, 7, 6, 0);           /* contiguous, unsealed: one batch */
    batch_text(&r, 0, text, sizeof(text));
    ck_assert_str_eq(text, "abc\nde\nfgh\nij\nkl\nmn\n");
    const struct sl_batch *b = r.batches[0];
    ck_assert_uint_eq(b->nspans, 3);
    ck_assert_int_eq(sl_chunk_block(b->spans[0].chunk, 0, 2, &p, &blen), 1);
    ck_assert_uint_eq(blen, 7);
    ck_assert_int_eq(memcmp(p, "abc\nde\n", 7), 0);
    ck_assert_uint_eq(b->spans[0].chunk->bytes, 6);
    ck_assert_uint_eq(b->spans[1].chunk->flags & SL_CHUNK_NL, 0);   /* the old format */
    ck_assert_uint_eq(b->spans[2].chunk->flags & SL_CHUNK_NL, 0);   /* not believed */
    sl_wal_close(w);
    seen_free(&s);
    seen_free(&r);
}
END_TEST

/* A write that fails half-way (the file size limit) is cut back; the next
 * entry lands where it should, and a second failure cuts nothing else. */
START_TEST(test_wal_failed_write_is_cut_back)
{
    struct seen s = { 0 }, r = { 0 };
    struct sl_wal *w = open_log(1 << 20, 64 << 20);
    struct sl_wal_recovery rc = recovery(&r);
    struct rlimit old, lim;
    char path[128];
    struct stat sb;
    uint64_t pos;
    int got = SL_EIO;

    signal(SIGXFSZ, SIG_IGN);
    append(w, &s, "a", 2);                 /* 1..2 */
    last_segment(path, sizeof(path));
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)sb.st_size + 300;
    struct sl_chunk *big = chunk_of("big-record-that-does-not-fit", 20);
    struct sl_chunk *c = chunk_of("c", 2);
    int first_rc, second_rc = SL_EIO;
    uint64_t errors = 0;
    /* No ck_assert while the limit is on: Check writes its own messages
     * to a file, which the limit would cut too. */
    int limited = setrlimit(RLIMIT_FSIZE, &lim);
    first_rc = sl_wal_append(w, big, ring, 1, hand, &s, &pos);
    for (int i = 0; i < 500 && got != SL_OK; i++) {   /* refused for a moment: poll */
        const struct timespec nap = { 0, 10000000 };
        if ((got = sl_wal_append(w, c, ring, 1, hand, &s, &pos)) != SL_OK)
            nanosleep(&nap, NULL);
    }
    for (int i = 0; i < 500 && got == SL_OK; i++) {  /* fails again after the pause */
        const struct timespec nap = { 0, 10000000 };
        second_rc = sl_wal_append(w, big, ring, 1, hand, &s, &pos);
        if ((errors = atomic_load(&st.errors[SL_WALERR_ENOSPC])) >= 2)
            break;
        nanosleep(&nap, NULL);
    }
    setrlimit(RLIMIT_FSIZE, &old);
    ck_assert_int_eq(limited, 0);
    ck_assert_int_eq(first_rc, SL_EIO);
    ck_assert_int_eq(got, SL_OK);          /* c: 3..4 */
    ck_assert_int_eq(second_rc, SL_EIO);
    ck_assert_uint_eq(errors, 2);
    if (got != SL_OK)
        sl_chunk_unref(c);
    sl_chunk_unref(big);
    sl_wal_close(w);

    w = open_log(1 << 20, 64 << 20);
    ck_assert_uint_eq(atomic_load(&st.truncated), 0);
    ck_assert_uint_eq(recover(w, &rc), 4);
    ck_assert_uint_eq(r.nbatches, 1);
    batch_is(&r, 0, 1, 5, 4, 0);
    sl_wal_close(w);
    seen_free(&s);
    seen_free(&r);
}
END_TEST

Suite *sl_wal_suite(void)
{
    Suite *s = suite_create("wal");
    TCase *t = tcase_create("wal");

    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 30);
    tcase_add_test(t, test_wal_sequences_and_sync);
    tcase_add_test(t, test_wal_notify_after_the_sync);
    tcase_add_test(t, test_wal_recovers_sealed_batches_and_tail);
    tcase_add_test(t, test_wal_torn_tail_is_cut);
    tcase_add_test(t, test_wal_corrupt_entry_is_skipped);
    tcase_add_test(t, test_wal_damaged_end_of_older_segment_is_corrupt);
    tcase_add_test(t, test_wal_retires_settled_segments);
    tcase_add_test(t, test_wal_max_size_refuses);
    tcase_add_test(t, test_wal_reuses_retired_segments);
    tcase_add_test(t, test_wal_torn_write_in_reused_segment);
    tcase_add_test(t, test_wal_spares_within_max_size);
    tcase_add_test(t, test_wal_spare_caught_becoming_a_segment_is_dropped);
    tcase_add_test(t, test_wal_unsynced_newest_segment_is_removed);
    tcase_add_test(t, test_wal_done_covers_unsealed_records);
    tcase_add_test(t, test_wal_forged_entry_is_not_believed);
    tcase_add_test(t, test_wal_chunk_entries_and_the_old_format);
    tcase_add_test(t, test_wal_failed_write_is_cut_back);
    suite_add_tcase(s, t);
    return s;
}
