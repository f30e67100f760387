/*
 * compress.c - see compress.h.
 *
 * gzip: deflateInit2 with windowBits 15 + 16 writes the gzip header and
 * trailer; deflateReset reuses the state. zstd: one ZSTD_CCtx, parameters
 * set per stream, ZSTD_compressStream2 with e_continue / e_end.
 *
 * Decoding: one streaming decoder (struct sl_compress_dec: inflate with
 * windowBits 15 + 16, reset between members; ZSTD_decompressStream, which
 * moves from frame to frame by itself). sl_compress_decode() is that decoder
 * run over one buffer into a bounded sl_buf.
 */
#include "compress.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "batch.h"
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

struct sl_compressor *sl_compress_new(void)
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

void sl_compress_free(struct sl_compressor *c)
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

/* Writes record <p> (<n> bytes) and, when <nl>, a newline: one copy
 * straight into the stage (or, uncompressed, the output) when it fits,
 * where two sl_compress_write calls would do twice the work per record. */
static int put_record(struct sl_compressor *c, const void *p, size_t n, int nl)
{
    struct sl_buf *o = c->out;
    unsigned char *dst;
    int rc;

    if (c->kind == SL_COMP_NONE) {
        if (o->cap - o->len < n + (size_t)nl && (rc = sl_buf_reserve(o, n + nl)) != SL_OK)
            return rc;
        dst = o->data + o->len;
        o->len += n + nl;
    } else if (c->staged + n + nl <= STAGE) {
        dst = c->stage + c->staged;
        c->staged += n + nl;
    } else {
        if ((rc = sl_compress_write(c, p, n)) != SL_OK)
            return rc;
        return nl ? sl_compress_write(c, "\n", 1) : SL_OK;
    }
    if (n)
        memcpy(dst, p, n);
    if (nl)
        dst[n] = '\n';
    return SL_OK;
}

int sl_compress_batch(struct sl_compressor *c, const struct sl_batch *b, int kind,
                      int level, int delimiter, struct sl_buf *out)
{
    const uint8_t *p;
    size_t n;
    uint32_t len;
    int rc, nl;

    sl_buf_reset(out);
    if ((rc = sl_compress_begin(c, kind, level, out)) != SL_OK)
        return rc;
    for (size_t k = 0; k < b->nspans; k++) {
        const struct sl_span *s = &b->spans[k];
        /* records that lie in the chunk each with its '\n': one block */
        if (delimiter == SL_DELIM_NEWLINE && sl_chunk_block(s->chunk, s->off, s->end, &p, &n)) {
            if ((rc = sl_compress_write(c, p, n)) != SL_OK)
                return rc;
            continue;
        }
        for (uint32_t i = s->off; i < s->end; i++) {
            sl_chunk_at(s->chunk, i, &p, &len);
            nl = delimiter == SL_DELIM_NEWLINE && (len == 0 || p[len - 1] != '\n');
            if ((rc = put_record(c, p, len, nl)) != SL_OK)
                return rc;
        }
    }
    return sl_compress_end(c);
}

int sl_compress_pieces(const struct sl_batch *b, int kind, int delimiter, struct iovec *iov,
                       size_t *len)
{
    const uint8_t *p;
    size_t n;

    if (kind != SL_COMP_NONE || delimiter != SL_DELIM_NEWLINE)
        return 0;
    *len = 0;
    for (size_t k = 0; k < b->nspans; k++) {
        if (!sl_chunk_block(b->spans[k].chunk, b->spans[k].off, b->spans[k].end, &p, &n))
            return 0;
        iov[k] = (struct iovec){ (void *)p, n };
        *len += n;
    }
    return 1;
}

/* ---- decoding ------------------------------------------------------------ */

struct sl_compress_dec {
    int kind;              /* of the stream begun */
    int open;              /* gzip: a member is begun and not ended */
    z_stream z;
    int z_ready;           /* inflateInit2 done */
    ZSTD_DCtx *zd;         /* owned; made at the first zstd stream */
    size_t zret;           /* the last ZSTD_decompressStream result: 0 when a frame is
                            * decoded and flushed (or none begun) */
};

struct sl_compress_dec *sl_compress_dec_new(void)
{
    return calloc(1, sizeof(struct sl_compress_dec));
}

void sl_compress_dec_free(struct sl_compress_dec *d)
{
    if (!d)
        return;
    if (d->z_ready)
        inflateEnd(&d->z);
    ZSTD_freeDCtx(d->zd);
    free(d);
}

int sl_compress_dec_begin(struct sl_compress_dec *d, int kind, int window_log_max)
{
    d->kind = kind;
    d->open = 0;
    d->zret = 0;
    if (kind == SL_COMP_GZIP) {
        if (d->z_ready)
            return inflateReset(&d->z) == Z_OK ? SL_OK : SL_ERR;
        memset(&d->z, 0, sizeof(d->z));
        if (inflateInit2(&d->z, 15 + 16) != Z_OK)       /* 16: a gzip header */
            return SL_ENOMEM;
        d->z_ready = 1;
        return SL_OK;
    }
    if (kind != SL_COMP_ZSTD)
        return SL_EINVAL;
    if (!d->zd && !(d->zd = ZSTD_createDCtx()))
        return SL_ENOMEM;
    ZSTD_DCtx_reset(d->zd, ZSTD_reset_session_and_parameters);
    if (window_log_max &&
        ZSTD_isError(ZSTD_DCtx_setParameter(d->zd, ZSTD_d_windowLogMax, window_log_max)))
        return SL_ERR;
    return SL_OK;
}

/* gzip, member after member: after one ends, what follows must be another
 * (RFC 1952 allows several); anything else is junk. */
static int dec_gzip(struct sl_compress_dec *d, const unsigned char *in, size_t in_len,
                    size_t *used, unsigned char *out, size_t cap, size_t *made)
{
    for (;;) {
        if (!d->open) {
            if (*used == in_len)
                return SL_OK;                  /* between members, nothing more to read */
            if (inflateReset(&d->z) != Z_OK)
                return SL_ERR;
            d->open = 1;
        }
        /* zlib counts in uInt: feed and take at most that much at a time */
        size_t li = in_len - *used, lo = cap - *made;
        uInt ai = (uInt)(li < UINT_MAX ? li : UINT_MAX), ao = (uInt)(lo < UINT_MAX ? lo : UINT_MAX);
        d->z.next_in = (unsigned char *)in + *used;
        d->z.avail_in = ai;
        d->z.next_out = out + *made;
        d->z.avail_out = ao;
        int zr = inflate(&d->z, Z_NO_FLUSH);
        *used += ai - d->z.avail_in;
        *made += ao - d->z.avail_out;
        if (zr == Z_STREAM_END)
            d->open = 0;                       /* all its output is given */
        else if (zr == Z_MEM_ERROR)
            return SL_ENOMEM;
        else if (zr != Z_OK && zr != Z_BUF_ERROR)
            return SL_EINVAL;                  /* corrupt, or junk where a member starts */
        if (*made == cap)
            return SL_OK;
        if (zr == Z_BUF_ERROR)                 /* no progress: the input is used up */
            return SL_OK;
        if (zr == Z_OK && *used == in_len)
            return SL_OK;
    }
}

/* zstd, frame after frame (skippable frames are passed over by zstd). */
static int dec_zstd(struct sl_compress_dec *d, const void *in, size_t in_len, size_t *used,
                    void *out, size_t cap, size_t *made)
{
    ZSTD_inBuffer ib = { in, in_len, 0 };
    ZSTD_outBuffer ob = { out, cap, 0 };
    int rc = SL_OK;

    /* 0: nothing pending; with no input, zstd would only ask for a header */
    if (in_len == 0 && d->zret == 0)
        return SL_OK;
    for (;;) {
        size_t in0 = ib.pos, out0 = ob.pos, ret = ZSTD_decompressStream(d->zd, &ob, &ib);
        if (ZSTD_isError(ret)) {
            ZSTD_ErrorCode e = ZSTD_getErrorCode(ret);
            rc = e == ZSTD_error_frameParameter_windowTooLarge ? SL_ETOOBIG
               : e == ZSTD_error_memory_allocation ? SL_ENOMEM : SL_EINVAL;
            break;
        }
        d->zret = ret;
        if (ob.pos == ob.size || ib.pos == ib.size || (ib.pos == in0 && ob.pos == out0))
            break;                             /* the last: never spin without progress */
    }
    *used = ib.pos;
    *made = ob.pos;
    return rc;
}

int sl_compress_dec_run(struct sl_compress_dec *d, const void *in, size_t in_len,
                        size_t *used, void *out, size_t out_cap, size_t *made)
{
    *used = *made = 0;
    if (out_cap == 0)
        return SL_OK;
    if (d->kind == SL_COMP_GZIP)
        return dec_gzip(d, in, in_len, used, out, out_cap, made);
    return dec_zstd(d, in, in_len, used, out, out_cap, made);
}

int sl_compress_dec_end(const struct sl_compress_dec *d)
{
    int open = d->kind == SL_COMP_GZIP ? d->open : d->zret != 0;

    return open ? SL_EINVAL : SL_OK;
}

int sl_compress_sniff(const void *p, size_t n)
{
    static const unsigned char gz[2] = { 0x1f, 0x8b }, zs[4] = { 0x28, 0xb5, 0x2f, 0xfd };

    if (n >= 2 && memcmp(p, gz, 2) == 0)
        return SL_COMP_GZIP;
    if (n >= 4 && memcmp(p, zs, 4) == 0)
        return SL_COMP_ZSTD;
    return SL_COMP_NONE;
}

/* Makes room for the next piece of output, up to out->max exactly. */
static int out_room(struct sl_buf *out)
{
    size_t want = out->max - out->len < STAGE ? out->max - out->len : STAGE;

    return want == 0 ? SL_ETOOBIG : sl_buf_reserve(out, want);
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

/* The streaming decoder over one buffer: <in> must end where a member or
 * frame ends, and <out>'s max bounds what it makes. */
int sl_compress_decode(int kind, const void *in, size_t len, struct sl_buf *out)
{
    struct sl_compress_dec *d;
    size_t done = 0, used, made;
    int rc;

    if (kind != SL_COMP_GZIP && kind != SL_COMP_ZSTD)
        return sl_buf_append(out, in, len);
    if (len == 0)
        return SL_OK;              /* no member at all: nothing to decode */
    if (!(d = sl_compress_dec_new()))
        return SL_ENOMEM;
    rc = sl_compress_dec_begin(d, kind, kind == SL_COMP_ZSTD ? window_log_max(out->max) : 0);
    while (rc == SL_OK) {
        if (done == len && sl_compress_dec_end(d) == SL_OK)
            break;                 /* all read, nothing pending: even with <out> full */
        if ((rc = out_room(out)) != SL_OK)
            break;                 /* more to come, and no room: a bomb stops here */
        size_t room = out->cap - out->len;
        rc = sl_compress_dec_run(d, (const unsigned char *)in + done, len - done, &used,
                                 out->data + out->len, room, &made);
        done += used;
        out->len += made;
        if (rc == SL_OK && done == len && made < room) {
            rc = sl_compress_dec_end(d);        /* SL_EINVAL: cut short */
            break;
        }
    }
    sl_compress_dec_free(d);
    return rc;
}
