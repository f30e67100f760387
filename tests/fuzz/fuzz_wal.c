/*
 * fuzz_wal.c - write-ahead log recovery from a garbled segment (wal.h).
 *
 * Each input makes a real log in a fresh directory under /dev/shm, then
 * damages it and opens it again, as a restart after a crash or a bad disk
 * would: the scan (torn tails, corrupt entries, the search for the next
 * intact entry) and the recovery must take anything, never hand back
 * more records than were logged, and free all they made.
 *   data[0] bit 0 = 0: a log of up to 8 chunks (records cut from the
 *     input), the first chunk sealed and, if bit 1, settled; the rest of
 *     the input is 3-byte edits (offset u16, xor u8) of its segment, and
 *     if bit 2 a cut to a length taken from the input. With bit 3 the
 *     segments are 256 bytes, so the log may roll: damage in the first
 *     segment is then followed by intact entries in the next, and must
 *     count as corrupt entries, never as a torn tail (truncated bytes).
 *   data[0] bit 0 = 1: the rest of the input is written after a valid
 *     segment header (over the end mark there), as the segment's entries; with bit 4, as entries
 *     each with a frame and CRC that check (u16 length, then that many
 *     bytes of payload, its first byte made a chunk's type), so that
 *     recovery's checks of the chunks themselves are reached.
 * Every batch recovered is written out newline-delimited (compress.h), and
 * must be its records each with its '\n', whatever the chunks claim.
 */
#include "fuzz.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "chunk.h"
#include "compress.h"
#include "config.h"
#include "crc32c.h"
#include "metrics.h"
#include "ring.h"
#include "wal.h"
#include "sluice/err.h"

struct log {
    char dir[64];
    struct sl_ring *ring;
    struct sl_wal_stats st;
    uint64_t first, end;                   /* the first chunk's sequence numbers */
    uint64_t logged;                       /* records appended */
    uint64_t segment_size;
    int ready;
};

static void hand(void *arg, struct sl_chunk *c)
{
    struct log *l = arg;

    if (!l->first)
        l->first = c->seq, l->end = c->seq + c->nrecords;
    sl_chunk_unref(c);
}

static void on_ready(void *arg, struct sl_batch *b)
{
    (void)b;
    ((struct log *)arg)->ready++;
}

/* <b> newline-delimited, uncompressed: the per-record rule, and what
 * sl_compress_batch makes (which takes chunks flagged SL_CHUNK_NL as
 * blocks), must be the same bytes. */
static void check_text(const struct sl_batch *b)
{
    struct sl_compressor *c = sl_compress_new();
    struct sl_batch_iter it;
    struct sl_record r;
    struct sl_buf out, want;

    sl_buf_init(&out, 1 << 24);
    sl_buf_init(&want, 1 << 24);
    sl_batch_iter_init(&it, b);
    while (sl_batch_next(&it, &r)) {
        sl_buf_append(&want, r.data, r.len);
        if (sl_chunk_needs_nl(r.data, r.len))
            sl_buf_append(&want, "\n", 1);
    }
    FUZZ_ASSERT(c && sl_compress_batch(c, b, SL_COMP_NONE, 0, SL_DELIM_NEWLINE, &out) == SL_OK,
                "compress");
    FUZZ_ASSERT(out.len == want.len && memcmp(out.data, want.data, out.len) == 0,
                "a batch's text is %zu bytes, its records' %zu", out.len, want.len);
    sl_buf_destroy(&out);
    sl_buf_destroy(&want);
    sl_compress_free(c);
}

static int on_batch(void *arg, struct sl_batch *b, int sealed)
{
    (void)sealed;
    *(uint64_t *)arg += b->nrecords;
    check_text(b);
    sl_batch_free(b);
    return SL_OK;
}

/* Appends to segment <path> (number 1, header intact) the entries cut
 * from <p>, each framed as the log frames it: magic, length, and the CRC
 * seeded by the log's identity and the segment's number, over the entry's
 * offset, length and payload. */
static void write_entries(const char *path, const uint8_t *p, size_t n)
{
    uint8_t id[16], frame[12], pay[1024];
    uint32_t magic = 0x4c41574cu, seed, crc, len;
    uint64_t no = 1, off;
    FILE *f = fopen(path, "r+b");

    if (!f)
        return;
    if (fseek(f, 8, SEEK_SET) != 0 || fread(id, 1, 16, f) != 16 || fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return;
    }
    off = (uint64_t)ftell(f);
    seed = sl_crc32c(sl_crc32c(0, id, 16), &no, 8);
    while (n >= 3) {
        len = (uint32_t)(p[0] | p[1] << 8) % sizeof(pay);
        len = len < n - 2 ? len : (uint32_t)(n - 2);
        p += 2, n -= 2;
        if (len == 0)
            continue;
        memcpy(pay, p, len);
        pay[0] = p[0] & 1 ? 'C' : 'R';
        p += len, n -= len;
        crc = sl_crc32c(sl_crc32c(sl_crc32c(seed, &off, 8), &len, 4), pay, len);
        memcpy(frame, &magic, 4);
        memcpy(frame + 4, &len, 4);
        memcpy(frame + 8, &crc, 4);
        fwrite(frame, 1, 12, f);
        fwrite(pay, 1, len, f);
        off += 12 + len;
    }
    fclose(f);
}

static struct sl_wal *open_log(struct log *l)
{
    struct sl_wal *w = NULL;
    char err[256];

    if (sl_wal_open(l->dir, l->segment_size, 64 << 20, &l->st, &w, err, sizeof(err)) != SL_OK)
        return NULL;
    return w;
}

/* Segment <no>'s path (the first open made number 1). */
static void segment(const struct log *l, int no, char *out, size_t len)
{
    snprintf(out, len, "%s/wal-%020d.log", l->dir, no);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[128];

    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.' || (e->d_name[1] && strcmp(e->d_name, "..") != 0)) {
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            unlink(p);
        }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* Logs chunks cut from <p>: a length byte, then that many bytes, per record. */
static void write_log(struct log *l, struct sl_wal *w, const uint8_t *p, size_t n, int settle)
{
    uint64_t pos;

    for (int c = 0; c < 8 && n > 0; c++) {
        struct sl_chunk *ch = sl_chunk_new(4096, 1700000000000LL, 1);
        for (int r = 0; r < 3 && n > 0; r++) {
            size_t len = p[0] % 64 < n - 1 ? p[0] % 64 : n - 1;
            sl_chunk_add(ch, p + 1, (uint32_t)len);
            p += len + 1, n -= len + 1;
        }
        l->logged += ch->nrecords;
        if (!ch->nrecords || sl_wal_append(w, ch, l->ring, 1, hand, l, &pos) != SL_OK)
            sl_chunk_unref(ch);
    }
    if (l->first) {
        struct sl_batch *b = sl_batch_new();
        memset(b->uuid, 0x5a, 16);
        b->seq_first = l->first;
        b->seq_end = l->end;
        b->version = 1;
        b->seal_reason = SL_SEAL_SIZE;
        sl_wal_seal(w, b, on_ready, l);
        sl_wal_flush(w);
        sl_batch_free(b);
        if (settle)
            sl_wal_done(w, l->first, l->end);
    }
}

static void garble(const char *path, const uint8_t *p, size_t n, int cut)
{
    int fd = open(path, O_RDWR);
    struct stat st;

    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
        if (fd >= 0)
            close(fd);
        return;
    }
    for (; n >= 3; p += 3, n -= 3) {
        uint8_t b;
        off_t off = (off_t)((p[0] | p[1] << 8) % st.st_size);
        if (pread(fd, &b, 1, off) == 1) {
            b ^= p[2] ? p[2] : 0xff;
            (void)!pwrite(fd, &b, 1, off);
        }
    }
    if (cut && n > 0)
        (void)!ftruncate(fd, st.st_size - p[0] % (st.st_size > 255 ? 256 : st.st_size));
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned serial;
    struct log l = { 0 };
    struct sl_wal *w;
    uint64_t handed = 0, counted = 0;
    char path[128];
    int rolled = 0;

    if (size < 2 || size > 1 << 16)
        return 0;
    l.segment_size = data[0] & 8 ? 256 : 1 << 20;
    snprintf(l.dir, sizeof(l.dir), "/dev/shm/sluice-fuzz-wal-%ld-%u", (long)getpid(), serial++);
    l.ring = sl_ring_new(16);
    if (!l.ring || !(w = open_log(&l)))
        goto out;
    if (data[0] & 1) {
        sl_wal_close(w);
        segment(&l, 1, path, sizeof(path));
        (void)!truncate(path, 40);            /* over the end mark after the header */
        FILE *f = data[0] & 16 ? NULL : fopen(path, "ab");
        if (f) {
            fwrite(data + 1, 1, size - 1, f);
            fclose(f);
        } else if (data[0] & 16) {
            write_entries(path, data + 1, size - 1);
        }
    } else {
        size_t logn = data[1] < size - 2 ? data[1] : size - 2;   /* bytes of records */
        write_log(&l, w, data + 2, logn, data[0] & 2);
        sl_wal_close(w);
        segment(&l, 2, path, sizeof(path));
        rolled = access(path, F_OK) == 0;
        segment(&l, 1, path, sizeof(path));
        garble(path, data + 2 + logn, size - 2 - logn, data[0] & 4);
    }
    memset(&l.st, 0, sizeof(l.st));
    if (!(w = open_log(&l)))
        goto out;
    struct sl_wal_recovery r = { &counted, on_batch, NULL, 1 << 20 };
    (void)sl_wal_recover(w, &r, &handed);
    FUZZ_ASSERT(handed == counted, "handed %llu, batches held %llu", (unsigned long long)handed,
                (unsigned long long)counted);
    FUZZ_ASSERT(!rolled || l.st.truncated == 0, "damage before intact entries cut off as a "
                "torn tail: %llu bytes", (unsigned long long)l.st.truncated);
    FUZZ_ASSERT(data[0] & 1 || handed <= l.logged, "recovered %llu of %llu logged",
                (unsigned long long)handed, (unsigned long long)l.logged);
    sl_wal_close(w);
out:
    sl_ring_free(l.ring);
    remove_dir(l.dir);
    return 0;
}
