/*
 * reader.c - see loadgen.h: the records of one output object.
 */
#include "loadgen.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "gen.h"

/* Splits bytes into records; a record split across reads is copied. */
struct splitter {
    lg_record_fn fn;
    void *arg;
    char line[LG_RECORD_MAX * 2];
    size_t linelen;
};

static void feed(struct splitter *s, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) + 1 : n;
        if (s->linelen == 0 && nl) {
            s->fn(s->arg, p, take);          /* the usual case: no copy */
            p += take;
            n -= take;
            continue;
        }
        /* A line longer than <line> is passed in pieces: none is a record. */
        while (take > 0) {
            size_t c = sizeof(s->line) - s->linelen;
            c = take < c ? take : c;
            memcpy(s->line + s->linelen, p, c);
            s->linelen += c;
            p += c;
            n -= c;
            take -= c;
            if (s->linelen == sizeof(s->line) || (take == 0 && nl)) {
                s->fn(s->arg, s->line, s->linelen);
                s->linelen = 0;
            }
        }
    }
}

static int read_gzip(struct splitter *s, int fd)
{
    unsigned char in[1 << 16], out[1 << 17];
    z_stream z = { 0 };
    ssize_t got;
    int rc = Z_OK;

    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return -1;
    while ((got = read(fd, in, sizeof(in))) > 0) {
        z.next_in = in;
        z.avail_in = (uInt)got;
        while (z.avail_in > 0) {
            if (rc == Z_STREAM_END)
                inflateReset(&z);            /* concatenated members */
            z.next_out = out;
            z.avail_out = sizeof(out);
            rc = inflate(&z, Z_NO_FLUSH);
            if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
                inflateEnd(&z);
                return -1;
            }
            feed(s, (const char *)out, sizeof(out) - z.avail_out);
            if (rc == Z_BUF_ERROR)
                break;
        }
    }
    inflateEnd(&z);
    return got < 0 || rc != Z_STREAM_END ? -1 : 0;
}

static int read_zstd(struct splitter *s, int fd)
{
    unsigned char in[1 << 16], out[1 << 17];
    ZSTD_DCtx *z = ZSTD_createDCtx();
    ssize_t got;
    size_t rc = 0;

    if (!z)
        return -1;
    while ((got = read(fd, in, sizeof(in))) > 0) {
        ZSTD_inBuffer ib = { in, (size_t)got, 0 };
        while (ib.pos < ib.size) {
            ZSTD_outBuffer ob = { out, sizeof(out), 0 };
            rc = ZSTD_decompressStream(z, &ob, &ib);
            if (ZSTD_isError(rc)) {
                ZSTD_freeDCtx(z);
                return -1;
            }
            feed(s, (const char *)out, ob.pos);
        }
    }
    ZSTD_freeDCtx(z);
    return got < 0 || rc != 0 ? -1 : 0;
}

static int read_plain(struct splitter *s, int fd)
{
    char buf[1 << 17];
    ssize_t got;

    while ((got = read(fd, buf, sizeof(buf))) > 0)
        feed(s, buf, (size_t)got);
    return got < 0 ? -1 : 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int lg_read_file(const char *path, lg_record_fn fn, void *arg)
{
    struct splitter *s = calloc(1, sizeof(*s));
    int fd, rc = -1;

    if (!s)
        return -1;
    *s = (struct splitter){ .fn = fn, .arg = arg };
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
        rc = ends_with(path, ".gz") ? read_gzip(s, fd)
           : ends_with(path, ".zst") ? read_zstd(s, fd)
           : read_plain(s, fd);
        close(fd);
    }
    if (s->linelen)
        fn(arg, s->line, s->linelen);
    free(s);
    return rc;
}
