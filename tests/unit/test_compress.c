/* test_compress.c - gzip and zstd round trips through the real libraries. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

#include "batch.h"
#include "compress.h"
#include "config.h"
#include "sluice/err.h"
#include "suites.h"

/* A batch of <n> records "record-<i>" spread over a few chunks. */
static struct sl_batch *make_batch(int n)
{
    struct sl_batch *b = sl_batch_new();
    char rec[64];

    for (int base = 0; base < n; base += 1000) {
        struct sl_chunk *c = sl_chunk_new(1000 * 70, 0, 0);
        for (int i = base; i < n && i < base + 1000; i++) {
            int len = snprintf(rec, sizeof(rec), "record-%d", i);
            sl_chunk_add(c, rec, (uint32_t)len);
        }
        ck_assert_int_eq(sl_batch_add_span(b, c, 0, c->nrecords, c->bytes), SL_OK);
        sl_chunk_unref(c);
    }
    return b;
}

static void expected(int n, int newline, struct sl_buf *want)
{
    char rec[64];

    sl_buf_init(want, 1 << 26);
    for (int i = 0; i < n; i++) {
        int len = snprintf(rec, sizeof(rec), newline ? "record-%d\n" : "record-%d", i);
        sl_buf_append(want, rec, (size_t)len);
    }
}

static size_t gunzip(const struct sl_buf *in, unsigned char *out, size_t cap)
{
    z_stream z = { 0 };

    ck_assert_int_eq(inflateInit2(&z, 15 + 16), Z_OK);   /* gzip header required */
    z.next_in = in->data;
    z.avail_in = (uInt)in->len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
    ck_assert_uint_eq(z.avail_in, 0);
    size_t n = z.total_out;
    inflateEnd(&z);
    return n;
}

static const int kinds[] = { SL_COMP_NONE, SL_COMP_GZIP, SL_COMP_ZSTD };

START_TEST(test_compress_round_trip_each_kind)
{
    struct sl_compressor *c = sl_compress_new();
    struct sl_batch *b = make_batch(50000);
    struct sl_buf out, want;
    size_t cap = 1 << 24, n = 0;
    unsigned char *plain = malloc(cap);
    int kind = kinds[_i];

    expected(50000, 1, &want);
    sl_buf_init(&out, 1 << 26);
    /* twice: the compressor is reused batch after batch */
    for (int round = 0; round < 2; round++) {
        ck_assert_int_eq(sl_compress_batch(c, b, kind, kind == SL_COMP_ZSTD ? 3 : 6,
                                           SL_DELIM_NEWLINE, &out), SL_OK);
        if (kind == SL_COMP_NONE) {
            memcpy(plain, out.data, out.len);
            n = out.len;
        } else if (kind == SL_COMP_GZIP) {
            ck_assert_uint_eq(out.data[0], 0x1f);
            ck_assert_uint_eq(out.data[1], 0x8b);
            n = gunzip(&out, plain, cap);
        } else {
            n = ZSTD_decompress(plain, cap, out.data, out.len);
            ck_assert(!ZSTD_isError(n));
        }
        ck_assert_uint_eq(n, want.len);
        ck_assert_int_eq(memcmp(plain, want.data, n), 0);
        if (kind != SL_COMP_NONE)
            ck_assert_uint_lt(out.len, want.len / 2);
    }
    sl_buf_destroy(&out);
    sl_buf_destroy(&want);
    sl_batch_free(b);
    sl_compress_free(c);
    free(plain);
}
END_TEST

START_TEST(test_compress_delimiter_none_concatenates)
{
    struct sl_compressor *c = sl_compress_new();
    struct sl_batch *b = make_batch(3);
    struct sl_buf out;

    sl_buf_init(&out, 1 << 20);
    ck_assert_int_eq(sl_compress_batch(c, b, SL_COMP_NONE, 0, SL_DELIM_NONE, &out), SL_OK);
    ck_assert_uint_eq(out.len, strlen("record-0record-1record-2"));
    ck_assert_int_eq(memcmp(out.data, "record-0record-1record-2", out.len), 0);
    sl_buf_destroy(&out);
    sl_batch_free(b);
    sl_compress_free(c);
}
END_TEST

START_TEST(test_compress_newline_not_doubled)
{
    struct sl_compressor *c = sl_compress_new();
    struct sl_batch *b = sl_batch_new();
    struct sl_chunk *ch = sl_chunk_new(64, 0, 0);
    struct sl_buf out;

    sl_chunk_add(ch, "a\n", 2);
    sl_chunk_add(ch, "b", 1);
    sl_batch_add_span(b, ch, 0, ch->nrecords, ch->bytes);
    sl_chunk_unref(ch);
    sl_buf_init(&out, 1 << 20);
    ck_assert_int_eq(sl_compress_batch(c, b, SL_COMP_NONE, 0, SL_DELIM_NEWLINE, &out), SL_OK);
    ck_assert_uint_eq(out.len, 4);
    ck_assert_int_eq(memcmp(out.data, "a\nb\n", 4), 0);
    sl_buf_destroy(&out);
    sl_batch_free(b);
    sl_compress_free(c);
}
END_TEST

/* <b> through <c> as <kind>, decoded again, is want[0] without a
 * delimiter and want[1] with SL_DELIM_NEWLINE. */
static void compresses_to(struct sl_compressor *c, const struct sl_batch *b, int kind,
                          const struct sl_buf want[2])
{
    size_t cap = 1 << 21, n = 0;
    unsigned char *plain = malloc(cap);
    struct sl_buf out;

    sl_buf_init(&out, 1 << 22);
    for (int delim = 0; delim < 2; delim++) {
        ck_assert_int_eq(sl_compress_batch(c, b, kind, 1,
                                           delim ? SL_DELIM_NEWLINE : SL_DELIM_NONE, &out),
                         SL_OK);
        if (kind == SL_COMP_NONE) {
            ck_assert_uint_le(out.len, cap);
            memcpy(plain, out.data, n = out.len);
        } else if (kind == SL_COMP_GZIP) {
            n = gunzip(&out, plain, cap);
        } else {
            n = ZSTD_decompress(plain, cap, out.data, out.len);
            ck_assert(!ZSTD_isError(n));
        }
        ck_assert_uint_eq(n, want[delim].len);
        ck_assert_int_eq(memcmp(plain, want[delim].data, n), 0);
    }
    sl_buf_destroy(&out);
    free(plain);
}

/* Records of every size around the 64 KiB stage, empty ones, ones that
 * end in a newline, with each delimiter: what comes out is each record
 * and, with SL_DELIM_NEWLINE, a newline where it lacks one. */
START_TEST(test_compress_records_around_the_stage_each_kind)
{
    static const uint32_t sizes[] = { 0, 1, 65534, 65535, 65536, 65537, 3, 200000, 0, 7 };
    struct sl_compressor *c = sl_compress_new();
    struct sl_batch *b = sl_batch_new();
    struct sl_chunk *ch = sl_chunk_new(1 << 20, 0, 0);
    struct sl_buf want[2];
    unsigned char *rec = malloc(200000);
    int kind = kinds[_i];

    sl_buf_init(&want[0], 1 << 21);
    sl_buf_init(&want[1], 1 << 21);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (uint32_t k = 0; k < sizes[i]; k++)
            rec[k] = (unsigned char)('a' + (i + k) % 26);
        if (i % 3 == 1 && sizes[i])
            rec[sizes[i] - 1] = '\n';              /* already delimited */
        sl_chunk_add(ch, rec, sizes[i]);
        sl_buf_append(&want[0], rec, sizes[i]);
        sl_buf_append(&want[1], rec, sizes[i]);
        if (sizes[i] == 0 || rec[sizes[i] - 1] != '\n')
            sl_buf_append(&want[1], "\n", 1);
    }
    sl_batch_add_span(b, ch, 0, ch->nrecords, ch->bytes);
    sl_chunk_unref(ch);
    compresses_to(c, b, kind, want);
    sl_buf_destroy(&want[0]);
    sl_buf_destroy(&want[1]);
    sl_batch_free(b);
    sl_compress_free(c);
    free(rec);
}
END_TEST

/* Chunks whose records lie each with its '\n' (SL_CHUNK_NL) go out span
 * by span as blocks: the same bytes as record by record, spans that start
 * and end inside a chunk included; no newlines with SL_DELIM_NONE; and a
 * record that brings its own '\n' keeps the flag and gets no second one. */
START_TEST(test_compress_newline_chunks_as_blocks_each_kind)
{
    static const uint32_t spans[][3] = {   /* chunk (0: flagged), first, end */
        { 0, 0, 1000 }, { 1, 1000, 2000 }, { 0, 2500, 3000 }, { 0, 1000, 1001 },
        { 2, 0, 2 }, { 0, 7, 8 },
    };
    struct sl_compressor *c = sl_compress_new();
    struct sl_batch *b = sl_batch_new();
    struct sl_chunk *ch[3] = { sl_chunk_new(3000 * 24, 0, 0), sl_chunk_new(3000 * 24, 0, 0),
                               sl_chunk_new(64, 0, 0) };
    struct sl_buf want[2];
    const uint8_t *p;
    char rec[32];
    uint32_t len;
    int kind = kinds[_i];

    ch[0]->flags = ch[2]->flags = SL_CHUNK_NL;
    for (int i = 0; i < 3000; i++) {
        len = (uint32_t)snprintf(rec, sizeof(rec), "line-%d", i * 7);
        sl_chunk_add_nl(ch[0], rec, len);
        sl_chunk_add(ch[1], rec, len);
    }
    sl_chunk_add_nl(ch[2], "x\n", 2);
    sl_chunk_add_nl(ch[2], "y", 1);
    ck_assert_uint_eq(ch[0]->flags & SL_CHUNK_NL, SL_CHUNK_NL);
    ck_assert_uint_eq(ch[2]->flags & SL_CHUNK_NL, SL_CHUNK_NL);
    ck_assert_uint_eq(ch[2]->len, 4);                    /* "x\ny\n" */
    sl_buf_init(&want[0], 1 << 20);
    sl_buf_init(&want[1], 1 << 20);
    for (size_t k = 0; k < sizeof(spans) / sizeof(spans[0]); k++) {
        struct sl_chunk *x = ch[spans[k][0]];
        uint64_t bytes = 0;
        for (uint32_t i = spans[k][1]; i < spans[k][2]; i++) {
            sl_chunk_at(x, i, &p, &len);
            sl_buf_append(&want[0], p, len);
            sl_buf_append(&want[1], p, len);
            if (len == 0 || p[len - 1] != '\n')
                sl_buf_append(&want[1], "\n", 1);
            bytes += len;
        }
        ck_assert_int_eq(sl_batch_add_span(b, x, spans[k][1], spans[k][2], bytes), SL_OK);
    }
    for (int i = 0; i < 3; i++)
        sl_chunk_unref(ch[i]);
    compresses_to(c, b, kind, want);
    sl_buf_destroy(&want[0]);
    sl_buf_destroy(&want[1]);
    sl_batch_free(b);
    sl_compress_free(c);
}
END_TEST

/* An uncompressed newline-delimited object of flagged spans is its spans'
 * blocks, as pieces in the chunks; of anything else, no pieces. */
START_TEST(test_compress_pieces_only_of_blocks)
{
    struct sl_chunk *nl = sl_chunk_new(256, 0, 0), *plain = sl_chunk_new(256, 0, 0);
    struct sl_batch *b = sl_batch_new(), *mixed = sl_batch_new();
    struct iovec iov[2];
    size_t len = 0;

    nl->flags = SL_CHUNK_NL;
    sl_chunk_add_nl(nl, "a", 1);
    sl_chunk_add_nl(nl, "bc\n", 3);
    sl_chunk_add_nl(nl, "d", 1);
    sl_chunk_add(plain, "e", 1);
    sl_batch_add_span(b, nl, 1, 3, 4);
    sl_batch_add_span(b, nl, 0, 1, 1);
    ck_assert_int_eq(sl_compress_pieces(b, SL_COMP_NONE, SL_DELIM_NEWLINE, iov, &len), 1);
    ck_assert_uint_eq(len, 7);
    ck_assert_uint_eq(iov[0].iov_len, 5);
    ck_assert_int_eq(memcmp(iov[0].iov_base, "bc\nd\n", 5), 0);
    ck_assert_ptr_eq(iov[1].iov_base, nl->data);           /* in the chunk: no copy */
    ck_assert_uint_eq(iov[1].iov_len, 2);
    ck_assert_int_eq(sl_compress_pieces(b, SL_COMP_ZSTD, SL_DELIM_NEWLINE, iov, &len), 0);
    ck_assert_int_eq(sl_compress_pieces(b, SL_COMP_GZIP, SL_DELIM_NEWLINE, iov, &len), 0);
    ck_assert_int_eq(sl_compress_pieces(b, SL_COMP_NONE, SL_DELIM_NONE, iov, &len), 0);
    sl_batch_add_span(mixed, nl, 0, 3, 5);
    sl_batch_add_span(mixed, plain, 0, 1, 1);
    ck_assert_int_eq(sl_compress_pieces(mixed, SL_COMP_NONE, SL_DELIM_NEWLINE, iov, &len), 0);
    sl_chunk_unref(nl);
    sl_chunk_unref(plain);
    sl_batch_free(b);
    sl_batch_free(mixed);
}
END_TEST

START_TEST(test_compress_output_bounded_by_buffer_max)
{
    struct sl_compressor *c = sl_compress_new();
    struct sl_batch *b = make_batch(10000);
    struct sl_buf out;

    sl_buf_init(&out, 1000);
    ck_assert_int_eq(sl_compress_batch(c, b, SL_COMP_NONE, 0, SL_DELIM_NEWLINE, &out),
                     SL_ETOOBIG);
    sl_buf_destroy(&out);
    sl_batch_free(b);
    sl_compress_free(c);
}
END_TEST

START_TEST(test_decompress_round_trip_limit_and_corruption)
{
    struct sl_compressor *c = sl_compress_new();
    struct sl_batch *b = make_batch(20000);
    struct sl_buf z, out, want;
    int kind = _i ? SL_COMP_ZSTD : SL_COMP_GZIP;

    expected(20000, 1, &want);
    sl_buf_init(&z, 1 << 24);
    ck_assert_int_eq(sl_compress_batch(c, b, kind, 3, SL_DELIM_NEWLINE, &z), SL_OK);
    sl_buf_init(&out, want.len);                    /* exactly enough */
    ck_assert_int_eq(sl_compress_decode(kind, z.data, z.len, &out), SL_OK);
    ck_assert_uint_eq(out.len, want.len);
    ck_assert_int_eq(memcmp(out.data, want.data, want.len), 0);
    sl_buf_destroy(&out);
    sl_buf_init(&out, want.len - 1);                /* one byte short: refused */
    ck_assert_int_eq(sl_compress_decode(kind, z.data, z.len, &out), SL_ETOOBIG);
    sl_buf_destroy(&out);
    sl_buf_init(&out, 1 << 24);                     /* truncated */
    ck_assert_int_eq(sl_compress_decode(kind, z.data, z.len / 2, &out), SL_EINVAL);
    sl_buf_destroy(&out);
    sl_buf_init(&out, 1 << 24);                     /* not compressed at all */
    ck_assert_int_eq(sl_compress_decode(kind, "plain text", 10, &out), SL_EINVAL);
    sl_buf_destroy(&out);
    sl_buf_destroy(&z);
    sl_buf_destroy(&want);
    sl_batch_free(b);
    sl_compress_free(c);
}
END_TEST

/* <text> compressed whole as one gzip member or zstd frame, appended to <z>. */
static void pack(int kind, const char *text, struct sl_buf *z)
{
    struct sl_compressor *c = sl_compress_new();

    ck_assert_int_eq(sl_compress_begin(c, kind, 3, z), SL_OK);
    ck_assert_int_eq(sl_compress_write(c, text, strlen(text)), SL_OK);
    ck_assert_int_eq(sl_compress_end(c), SL_OK);
    sl_compress_free(c);
}

static int dec_kind(int i)
{
    return i ? SL_COMP_ZSTD : SL_COMP_GZIP;
}

START_TEST(test_decompress_reads_every_member_or_frame)
{
    int kind = dec_kind(_i);
    struct sl_buf z, out;

    sl_buf_init(&z, 1 << 20);
    pack(kind, "a1\na2\n", &z);
    pack(kind, "b1\nb2\n", &z);
    pack(kind, "", &z);                               /* an empty member counts too */
    pack(kind, "c1\n", &z);
    sl_buf_init(&out, 1 << 20);
    ck_assert_int_eq(sl_compress_decode(kind, z.data, z.len, &out), SL_OK);
    ck_assert_uint_eq(out.len, 15);
    ck_assert_int_eq(memcmp(out.data, "a1\na2\nb1\nb2\nc1\n", 15), 0);
    sl_buf_destroy(&out);
    sl_buf_destroy(&z);
}
END_TEST

START_TEST(test_decompress_skips_zstd_skippable_frames)
{
    /* a skippable frame: magic 0x184D2A50 (LE), 4-byte LE size, payload */
    static const unsigned char skip[] = { 0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 'x', 'y', 'z' };
    struct sl_buf z, out;

    sl_buf_init(&z, 1 << 20);
    sl_buf_append(&z, skip, sizeof(skip));
    pack(SL_COMP_ZSTD, "one\n", &z);
    sl_buf_append(&z, skip, sizeof(skip));
    pack(SL_COMP_ZSTD, "two\n", &z);
    sl_buf_append(&z, skip, sizeof(skip));
    sl_buf_init(&out, 1 << 20);
    ck_assert_int_eq(sl_compress_decode(SL_COMP_ZSTD, z.data, z.len, &out), SL_OK);
    ck_assert_uint_eq(out.len, 8);
    ck_assert_int_eq(memcmp(out.data, "one\ntwo\n", 8), 0);
    sl_buf_destroy(&out);
    sl_buf_destroy(&z);
}
END_TEST

START_TEST(test_decompress_refuses_trailing_junk)
{
    static const char *const junk[] = { "x", "\n", "junk after the stream", "\0\0\0\0" };
    int kind = dec_kind(_i / 4);
    const char *j = junk[_i % 4];
    size_t jlen = _i % 4 == 3 ? 4 : strlen(j);
    struct sl_buf z, out;

    sl_buf_init(&z, 1 << 20);
    pack(kind, "r1\nr2\n", &z);
    sl_buf_append(&z, j, jlen);
    sl_buf_init(&out, 1 << 20);
    ck_assert_int_eq(sl_compress_decode(kind, z.data, z.len, &out), SL_EINVAL);
    sl_buf_destroy(&out);
    /* the same after a second member: junk is junk wherever it is */
    sl_buf_reset(&z);
    pack(kind, "r1\n", &z);
    pack(kind, "r2\n", &z);
    sl_buf_append(&z, j, jlen);
    sl_buf_init(&out, 1 << 20);
    ck_assert_int_eq(sl_compress_decode(kind, z.data, z.len, &out), SL_EINVAL);
    sl_buf_destroy(&out);
    sl_buf_destroy(&z);
}
END_TEST

START_TEST(test_decompress_refuses_a_truncated_second_member)
{
    int kind = dec_kind(_i);
    struct sl_buf z, out;
    size_t first;

    sl_buf_init(&z, 1 << 20);
    pack(kind, "whole\n", &z);
    first = z.len;
    pack(kind, "this member is cut short\n", &z);
    for (size_t cut = first + 1; cut < z.len; cut++) {   /* every cut inside it */
        sl_buf_init(&out, 1 << 20);
        ck_assert_int_eq(sl_compress_decode(kind, z.data, cut, &out), SL_EINVAL);
        sl_buf_destroy(&out);
    }
    sl_buf_destroy(&z);
}
END_TEST

START_TEST(test_decompress_empty_body_is_empty)
{
    struct sl_buf out;

    sl_buf_init(&out, 1 << 20);
    ck_assert_int_eq(sl_compress_decode(dec_kind(_i), "", 0, &out), SL_OK);
    ck_assert_uint_eq(out.len, 0);
    sl_buf_destroy(&out);
}
END_TEST

START_TEST(test_decompress_bomb_across_members_stops_at_the_bound)
{
    int kind = dec_kind(_i);
    char *zeros = calloc(1, 1 << 20);
    struct sl_compressor *c = sl_compress_new();
    struct sl_buf z, out;

    /* 8 members of 1 MiB of zeros each: each alone fits, together they do not */
    sl_buf_init(&z, 1 << 24);
    for (int m = 0; m < 8; m++) {
        ck_assert_int_eq(sl_compress_begin(c, kind, 9, &z), SL_OK);
        ck_assert_int_eq(sl_compress_write(c, zeros, 1 << 20), SL_OK);
        ck_assert_int_eq(sl_compress_end(c), SL_OK);
    }
    ck_assert_uint_lt(z.len, 1 << 16);
    sl_buf_init(&out, (3 << 20) + 5);
    ck_assert_int_eq(sl_compress_decode(kind, z.data, z.len, &out), SL_ETOOBIG);
    ck_assert_uint_le(out.len, out.max);
    ck_assert_uint_le(out.cap, out.max);
    sl_buf_destroy(&out);
    sl_buf_init(&out, 8 << 20);                      /* exactly enough */
    ck_assert_int_eq(sl_compress_decode(kind, z.data, z.len, &out), SL_OK);
    ck_assert_uint_eq(out.len, 8 << 20);
    sl_buf_destroy(&out);
    sl_buf_destroy(&z);
    sl_compress_free(c);
    free(zeros);
}
END_TEST

START_TEST(test_decompress_zstd_window_over_the_bound_is_too_big)
{
    static char data[64 << 10];
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    unsigned char z[(64 << 10) + 1024];
    ZSTD_inBuffer in = { data, sizeof(data), 0 };
    ZSTD_outBuffer zo = { z, sizeof(z), 0 };
    struct sl_buf out;

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (char)(i * 2654435761u >> 13);
    /* streamed (no size known), so the header asks for the whole 32 MiB */
    ck_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, 25)));
    ck_assert(!ZSTD_isError(ZSTD_compressStream2(cc, &zo, &in, ZSTD_e_continue)));
    ck_assert_uint_eq(ZSTD_compressStream2(cc, &zo, &in, ZSTD_e_end), 0);
    sl_buf_init(&out, 1 << 20);                     /* 1 MiB allowed: 8 MiB window max */
    ck_assert_int_eq(sl_compress_decode(SL_COMP_ZSTD, z, zo.pos, &out), SL_ETOOBIG);
    ck_assert_uint_le(out.cap, 1 << 20);
    sl_buf_destroy(&out);
    sl_buf_init(&out, 32 << 20);                    /* 32 MiB allowed: so is the window */
    ck_assert_int_eq(sl_compress_decode(SL_COMP_ZSTD, z, zo.pos, &out), SL_OK);
    ck_assert_uint_eq(out.len, sizeof(data));
    ck_assert_int_eq(memcmp(out.data, data, sizeof(data)), 0);
    sl_buf_destroy(&out);
    ZSTD_freeCCtx(cc);
}
END_TEST

/* Runs <z> through a streaming decoder <in_step> bytes in and <out_step>
 * bytes out at a time into <out>. Returns what sl_compress_dec_run or,
 * at the end, sl_compress_dec_end said. */
static int stream_decode(struct sl_compress_dec *d, int kind, const struct sl_buf *z,
                         size_t in_step, size_t out_step, struct sl_buf *out)
{
    unsigned char piece[64];
    size_t at = 0, used, made;
    int rc;

    ck_assert_uint_le(out_step, sizeof(piece));
    if ((rc = sl_compress_dec_begin(d, kind, 0)) != SL_OK)
        return rc;
    for (;;) {
        size_t n = z->len - at < in_step ? z->len - at : in_step;
        rc = sl_compress_dec_run(d, z->data + at, n, &used, piece, out_step, &made);
        ck_assert_uint_le(used, n);
        ck_assert_uint_le(made, out_step);
        ck_assert_msg(rc != SL_OK || made == out_step || used == n,
                      "returned with input and room left");
        at += used;
        ck_assert_int_eq(sl_buf_append(out, piece, made), SL_OK);
        if (rc != SL_OK)
            return rc;
        if (at == z->len && made < out_step)
            return sl_compress_dec_end(d);
    }
}

/* Any split of input and output gives what the one-shot decoder gives,
 * member after member, and one decoder serves stream after stream. */
START_TEST(test_compress_dec_streams_in_any_pieces)
{
    static const size_t steps[][2] = { { 1, 1 }, { 1, 64 }, { 7, 3 }, { 64, 1 }, { 4096, 64 } };
    int kind = dec_kind(_i);
    struct sl_compress_dec *d = sl_compress_dec_new();
    struct sl_buf z, once, out;

    sl_buf_init(&z, 1 << 20);
    pack(kind, "first member, long enough to take a few output pieces\n", &z);
    pack(kind, "", &z);
    pack(kind, "second\n", &z);
    sl_buf_init(&once, 1 << 20);
    ck_assert_int_eq(sl_compress_decode(kind, z.data, z.len, &once), SL_OK);
    ck_assert_int_eq(sl_compress_sniff(z.data, z.len), kind);
    for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
        sl_buf_init(&out, 1 << 20);
        ck_assert_int_eq(stream_decode(d, kind, &z, steps[k][0], steps[k][1], &out), SL_OK);
        ck_assert_uint_eq(out.len, once.len);
        ck_assert_int_eq(memcmp(out.data, once.data, once.len), 0);
        sl_buf_destroy(&out);
    }
    sl_buf_destroy(&once);
    sl_buf_destroy(&z);
    sl_compress_dec_free(d);
}
END_TEST

/* Input that stops inside a member or frame is cut short at the end;
 * junk after one is refused; nothing at all is a stream that is done. */
START_TEST(test_compress_dec_end_says_cut_short)
{
    int kind = dec_kind(_i);
    struct sl_compress_dec *d = sl_compress_dec_new();
    struct sl_buf z, part, out;

    sl_buf_init(&z, 1 << 20);
    pack(kind, "one\n", &z);
    pack(kind, "two\n", &z);
    sl_buf_init(&part, 1 << 20);
    sl_buf_init(&out, 1 << 20);
    sl_buf_append(&part, z.data, z.len - 3);
    ck_assert_int_eq(stream_decode(d, kind, &part, 5, 2, &out), SL_EINVAL);
    sl_buf_reset(&part);
    sl_buf_reset(&out);
    ck_assert_int_eq(stream_decode(d, kind, &part, 5, 2, &out), SL_OK);   /* empty */
    ck_assert_uint_eq(out.len, 0);
    sl_buf_append(&part, z.data, z.len);
    sl_buf_append(&part, "junk", 4);
    ck_assert_int_eq(stream_decode(d, kind, &part, 5, 2, &out), SL_EINVAL);
    ck_assert_uint_eq(out.len, 8);                     /* what came before the junk */
    /* after a failure, the next stream starts clean */
    sl_buf_reset(&out);
    ck_assert_int_eq(stream_decode(d, kind, &z, 5, 2, &out), SL_OK);
    ck_assert_uint_eq(out.len, 8);
    ck_assert_int_eq(memcmp(out.data, "one\ntwo\n", 8), 0);
    sl_buf_destroy(&part);
    sl_buf_destroy(&out);
    sl_buf_destroy(&z);
    sl_compress_dec_free(d);
}
END_TEST

START_TEST(test_compress_sniff_by_magic)
{
    static const unsigned char gz[] = { 0x1f, 0x8b, 8, 0 }, zs[] = { 0x28, 0xb5, 0x2f, 0xfd };

    ck_assert_int_eq(sl_compress_sniff(gz, 2), SL_COMP_GZIP);
    ck_assert_int_eq(sl_compress_sniff(zs, 4), SL_COMP_ZSTD);
    ck_assert_int_eq(sl_compress_sniff(zs, 3), SL_COMP_NONE);     /* too short to tell */
    ck_assert_int_eq(sl_compress_sniff("{\"rawData\"", 10), SL_COMP_NONE);
    ck_assert_int_eq(sl_compress_sniff("", 0), SL_COMP_NONE);
}
END_TEST

Suite *sl_compress_suite(void)
{
    Suite *s = suite_create("compress");
    TCase *tc = tcase_create("round_trip");

    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_compress_round_trip_each_kind, 0, 3);
    tcase_add_test(tc, test_compress_delimiter_none_concatenates);
    tcase_add_test(tc, test_compress_newline_not_doubled);
    tcase_add_loop_test(tc, test_compress_records_around_the_stage_each_kind, 0, 3);
    tcase_add_loop_test(tc, test_compress_newline_chunks_as_blocks_each_kind, 0, 3);
    tcase_add_test(tc, test_compress_pieces_only_of_blocks);
    tcase_add_test(tc, test_compress_output_bounded_by_buffer_max);
    tcase_add_loop_test(tc, test_decompress_round_trip_limit_and_corruption, 0, 2);
    tcase_add_loop_test(tc, test_decompress_reads_every_member_or_frame, 0, 2);
    tcase_add_test(tc, test_decompress_skips_zstd_skippable_frames);
    tcase_add_loop_test(tc, test_decompress_refuses_trailing_junk, 0, 8);
    tcase_add_loop_test(tc, test_decompress_refuses_a_truncated_second_member, 0, 2);
    tcase_add_loop_test(tc, test_decompress_empty_body_is_empty, 0, 2);
    tcase_add_loop_test(tc, test_decompress_bomb_across_members_stops_at_the_bound, 0, 2);
    tcase_add_test(tc, test_decompress_zstd_window_over_the_bound_is_too_big);
    tcase_add_loop_test(tc, test_compress_dec_streams_in_any_pieces, 0, 2);
    tcase_add_loop_test(tc, test_compress_dec_end_says_cut_short, 0, 2);
    tcase_add_test(tc, test_compress_sniff_by_magic);
    suite_add_tcase(s, tc);
    return s;
}
