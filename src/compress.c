/*
 * compress.c - see compress.h.
 *
 * gzip: deflateInit2 with windowBits 15 + 16 writes the gzip header and
 * trailer; deflateReset reuses the state. zstd: one ZSTD_CCtx, parameters
 * set per stream, ZSTD_compressStream2 with e_continue / e_end.
 */
#include "compress.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "config.h"
#include "sluice/err.h"

#define STAGE 65536

struct sl_compressor {
    z_stream z;
    int z_ready;           /* deflateInit2 done */
    int z_level;           /* level z was initialised with */
    ZSTD_CCtx *zc;
    int kind;
    struct sl_buf *out;    /* borrowed during a stream */
    size_t staged;
    unsigned char stage[STAGE];
};

struct sl_compressor *sl_compressor_new(void)
{
    struct sl_compressor *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->zc = ZSTD_createCCtx();
    if (!c->zc) {
        free(c);
        return NULL;
    }
    return c;
}

void sl_compressor_free(struct sl_compressor *c)
{
    if (!c)
        return;
    if (c->z_ready)
        deflateEnd(&c->z);
    ZSTD_freeCCtx(c->zc);
    free(c);
}

const char *sl_compress_ext(int kind)
{
    return kind == SL_COMP_GZIP ? ".gz" : kind == SL_COMP_ZSTD ? ".zst" : "";
}

int sl_compress_begin(struct sl_compressor *c, int kind, int level, struct sl_buf *out)
{
    c->kind = kind;
    c->out = out;
    c->staged = 0;
    if (kind == SL_COMP_GZIP) {
        if (c->z_ready && c->z_level != level) {
            deflateEnd(&c->z);
            c->z_ready = 0;
        }
        if (!c->z_ready) {
            memset(&c->z, 0, sizeof(c->z));
            if (deflateInit2(&c->z, level, Z_DEFLATED, 15 + 16, 8,
                             Z_DEFAULT_STRATEGY) != Z_OK)
                return SL_ENOMEM;
            c->z_ready = 1;
            c->z_level = level;
        } else if (deflateReset(&c->z) != Z_OK) {
            return SL_ERR;
        }
    } else if (kind == SL_COMP_ZSTD) {
        ZSTD_CCtx_reset(c->zc, ZSTD_reset_session_and_parameters);
        if (ZSTD_isError(ZSTD_CCtx_setParameter(c->zc, ZSTD_c_compressionLevel, level)) ||
            ZSTD_isError(ZSTD_CCtx_setParameter(c->zc, ZSTD_c_checksumFlag, 1)))
            return SL_EINVAL;
    }
    return SL_OK;
}

/* Feeds <n> bytes to the codec; <last> closes the stream. */
static int feed(struct sl_compressor *c, const unsigned char *p, size_t n, int last)
{
    struct sl_buf *o = c->out;
    int rc;

    if (c->kind == SL_COMP_GZIP) {
        c->z.next_in = (unsigned char *)p;
        c->z.avail_in = (uInt)n;
        do {
            if ((rc = sl_buf_reserve(o, STAGE)) != SL_OK)
                return rc;
            c->z.next_out = o->data + o->len;
            c->z.avail_out = (uInt)(o->cap - o->len);
            int zr = deflate(&c->z, last ? Z_FINISH : Z_NO_FLUSH);
            if (zr == Z_STREAM_ERROR)
                return SL_ERR;
            o->len = o->cap - c->z.avail_out;
            if (last && zr == Z_STREAM_END)
                break;
        } while (c->z.avail_out == 0 || c->z.avail_in > 0 || last);
        return SL_OK;
    }
    if (c->kind == SL_COMP_ZSTD) {
        ZSTD_inBuffer in = { p, n, 0 };
        size_t left;
        do {
            if ((rc = sl_buf_reserve(o, STAGE)) != SL_OK)
                return rc;
            ZSTD_outBuffer zo = { o->data + o->len, o->cap - o->len, 0 };
            left = ZSTD_compressStream2(c->zc, &zo, &in, last ? ZSTD_e_end : ZSTD_e_continue);
            if (ZSTD_isError(left))
                return SL_ERR;
            o->len += zo.pos;
        } while (last ? left != 0 : in.pos < in.size);
        return SL_OK;
    }
    return sl_buf_append(o, p, n);
}

int sl_compress_write(struct sl_compressor *c, const void *p, size_t n)
{
    int rc;

    if (c->kind == SL_COMP_NONE)            /* nothing to batch up for: no stage */
        return sl_buf_append(c->out, p, n);

    if (c->staged + n <= STAGE) {
        memcpy(c->stage + c->staged, p, n);
        c->staged += n;
        return SL_OK;
    }
    if (c->staged && (rc = feed(c, c->stage, c->staged, 0)) != SL_OK)
        return rc;
    c->staged = 0;
    if (n > STAGE / 2)
        return feed(c, p, n, 0);
    memcpy(c->stage, p, n);
    c->staged = n;
    return SL_OK;
}

int sl_compress_end(struct sl_compressor *c)
{
    int rc = feed(c, c->stage, c->staged, 1);

    c->staged = 0;
    c->out = NULL;
    return rc;
}

int sl_compress_batch(struct sl_compressor *c, const struct sl_batch *b, int kind,
                      int level, int delimiter, struct sl_buf *out)
{
    struct sl_batch_iter it;
    struct sl_record r;
    int rc;

    sl_buf_reset(out);
    if ((rc = sl_compress_begin(c, kind, level, out)) != SL_OK)
        return rc;
    sl_batch_iter_init(&it, b);
    while (sl_batch_next(&it, &r)) {
        if ((rc = sl_compress_write(c, r.data, r.len)) != SL_OK)
            return rc;
        if (delimiter == SL_DELIM_NEWLINE && (r.len == 0 || r.data[r.len - 1] != '\n') &&
            (rc = sl_compress_write(c, "\n", 1)) != SL_OK)
            return rc;
    }
    return sl_compress_end(c);
}

/* Makes room for the next piece of output, up to out->max exactly. */
static int out_room(struct sl_buf *out)
{
    size_t want = out->max - out->len < STAGE ? out->max - out->len : STAGE;

    return want == 0 ? SL_ETOOBIG : sl_buf_reserve(out, want);
}

/*
 * Every gzip member of <in> (RFC 1952 allows several, as `cat a.gz b.gz`
 * makes), one after the other into <out>. After a member ends, what
 * follows must be another member: anything else is trailing junk.
 */
static int gunzip(const void *in, size_t len, struct sl_buf *out)
{
    const unsigned char *p = in, *end = p + len;
    z_stream z = { 0 };
    int zr = Z_STREAM_END, rc = SL_OK;

    if (len == 0)
        return SL_OK;              /* no member at all: nothing to decode */
    if (inflateInit2(&z, 15 + 16) != Z_OK)
        return SL_ENOMEM;
    while (p < end || zr != Z_STREAM_END) {
        if (zr == Z_STREAM_END && inflateReset(&z) != Z_OK) {   /* the next member */
            rc = SL_ERR;
            break;
        }
        if (z.avail_in == 0) {     /* zlib counts in uInt: feed at most that much */
            z.next_in = (unsigned char *)p;
            z.avail_in = (uInt)((size_t)(end - p) < UINT_MAX ? (size_t)(end - p) : UINT_MAX);
            p += z.avail_in;
        }
        if ((rc = out_room(out)) != SL_OK)
            break;
        z.next_out = out->data + out->len;
        z.avail_out = (uInt)(out->cap - out->len);
        zr = inflate(&z, Z_NO_FLUSH);
        out->len = out->cap - z.avail_out;
        if (zr != Z_OK && zr != Z_STREAM_END) {
            rc = SL_EINVAL;        /* corrupt, or junk where a member should start */
            break;
        }
        if (zr == Z_OK && z.avail_in == 0 && p == end && z.avail_out > 0) {
            rc = SL_EINVAL;        /* input ended before the member did */
            break;
        }
        if (zr == Z_STREAM_END) {  /* what is left of this feed goes first */
            p -= z.avail_in;
            z.avail_in = 0;
        }
    }
    inflateEnd(&z);
    return rc;
}

/* The largest window (log2) a frame may ask for: 8 MiB (what the zstd
 * tool uses up to level 19, streamed), or more up to zstd's own default
 * ceiling of 128 MiB when <max> bytes of output are allowed anyway. The
 * decoder allocates the window a frame header asks for, so this bounds
 * its memory whatever the body says; a bigger window is refused as too
 * big (`zstd --long` or --ultra with a large http_max_decompressed works). */
static int window_log_max(size_t max)
{
    int log = 23;

    while (log < 27 && ((size_t)1 << log) < max)
        log++;
    return log;
}

/*
 * Every zstd frame of <in> (several may follow one another; skippable
 * frames are passed over by the decoder). <in> must end where a frame
 * ends: a cut frame or junk after the last is refused.
 */
static int unzstd(const void *in, size_t len, struct sl_buf *out)
{
    ZSTD_DCtx *d = ZSTD_createDCtx();
    ZSTD_inBuffer ib = { in, len, 0 };
    size_t left;
    int rc = SL_OK, in_frame = 0;

    if (!d)
        return SL_ENOMEM;
    if (ZSTD_isError(ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax,
                                            window_log_max(out->max)))) {
        ZSTD_freeDCtx(d);
        return SL_ERR;
    }
    while (ib.pos < ib.size || in_frame) {
        if ((rc = out_room(out)) != SL_OK)
            break;
        ZSTD_outBuffer ob = { out->data + out->len, out->cap - out->len, 0 };
        left = ZSTD_decompressStream(d, &ob, &ib);
        out->len += ob.pos;
        if (ZSTD_isError(left)) {
            rc = ZSTD_getErrorCode(left) == ZSTD_error_frameParameter_windowTooLarge
                ? SL_ETOOBIG : SL_EINVAL;
            break;
        }
        in_frame = left != 0;      /* 0: a frame ended and is flushed */
        if (in_frame && ib.pos == ib.size && ob.pos < ob.size) {
            rc = SL_EINVAL;        /* input ended inside a frame */
            break;
        }
    }
    ZSTD_freeDCtx(d);
    return rc;
}

int sl_decompress(int kind, const void *in, size_t len, struct sl_buf *out)
{
    if (kind == SL_COMP_GZIP)
        return gunzip(in, len, out);
    if (kind == SL_COMP_ZSTD)
        return unzstd(in, len, out);
    return sl_buf_append(out, in, len);
}
