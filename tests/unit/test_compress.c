/* test_compress.c - gzip and zstd round trips through the real libraries. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

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
        ck_assert_int_eq(sl_batch_add_span(b, c, 0, c->len, c->nrecords, c->bytes), SL_OK);
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
    struct sl_compressor *c = sl_compressor_new();
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
    sl_compressor_free(c);
    free(plain);
}
END_TEST

START_TEST(test_compress_delimiter_none_concatenates)
{
    struct sl_compressor *c = sl_compressor_new();
    struct sl_batch *b = make_batch(3);
    struct sl_buf out;

    sl_buf_init(&out, 1 << 20);
    ck_assert_int_eq(sl_compress_batch(c, b, SL_COMP_NONE, 0, SL_DELIM_NONE, &out), SL_OK);
    ck_assert_uint_eq(out.len, strlen("record-0record-1record-2"));
    ck_assert_int_eq(memcmp(out.data, "record-0record-1record-2", out.len), 0);
    sl_buf_destroy(&out);
    sl_batch_free(b);
    sl_compressor_free(c);
}
END_TEST

START_TEST(test_compress_newline_not_doubled)
{
    struct sl_compressor *c = sl_compressor_new();
    struct sl_batch *b = sl_batch_new();
    struct sl_chunk *ch = sl_chunk_new(64, 0, 0);
    struct sl_buf out;

    sl_chunk_add(ch, "a\n", 2);
    sl_chunk_add(ch, "b", 1);
    sl_batch_add_span(b, ch, 0, ch->len, ch->nrecords, ch->bytes);
    sl_chunk_unref(ch);
    sl_buf_init(&out, 1 << 20);
    ck_assert_int_eq(sl_compress_batch(c, b, SL_COMP_NONE, 0, SL_DELIM_NEWLINE, &out), SL_OK);
    ck_assert_uint_eq(out.len, 4);
    ck_assert_int_eq(memcmp(out.data, "a\nb\n", 4), 0);
    sl_buf_destroy(&out);
    sl_batch_free(b);
    sl_compressor_free(c);
}
END_TEST

START_TEST(test_compress_output_bounded_by_buffer_max)
{
    struct sl_compressor *c = sl_compressor_new();
    struct sl_batch *b = make_batch(10000);
    struct sl_buf out;

    sl_buf_init(&out, 1000);
    ck_assert_int_eq(sl_compress_batch(c, b, SL_COMP_NONE, 0, SL_DELIM_NEWLINE, &out),
                     SL_ETOOBIG);
    sl_buf_destroy(&out);
    sl_batch_free(b);
    sl_compressor_free(c);
}
END_TEST

START_TEST(test_decompress_round_trip_limit_and_corruption)
{
    struct sl_compressor *c = sl_compressor_new();
    struct sl_batch *b = make_batch(20000);
    struct sl_buf z, out, want;
    int kind = _i ? SL_COMP_ZSTD : SL_COMP_GZIP;

    expected(20000, 1, &want);
    sl_buf_init(&z, 1 << 24);
    ck_assert_int_eq(sl_compress_batch(c, b, kind, 3, SL_DELIM_NEWLINE, &z), SL_OK);
    sl_buf_init(&out, want.len);                    /* exactly enough */
    ck_assert_int_eq(sl_decompress(kind, z.data, z.len, &out), SL_OK);
    ck_assert_uint_eq(out.len, want.len);
    ck_assert_int_eq(memcmp(out.data, want.data, want.len), 0);
    sl_buf_destroy(&out);
    sl_buf_init(&out, want.len - 1);                /* one byte short: refused */
    ck_assert_int_eq(sl_decompress(kind, z.data, z.len, &out), SL_ETOOBIG);
    sl_buf_destroy(&out);
    sl_buf_init(&out, 1 << 24);                     /* truncated */
    ck_assert_int_eq(sl_decompress(kind, z.data, z.len / 2, &out), SL_EINVAL);
    sl_buf_destroy(&out);
    sl_buf_init(&out, 1 << 24);                     /* not compressed at all */
    ck_assert_int_eq(sl_decompress(kind, "plain text", 10, &out), SL_EINVAL);
    sl_buf_destroy(&out);
    sl_buf_destroy(&z);
    sl_buf_destroy(&want);
    sl_batch_free(b);
    sl_compressor_free(c);
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
    tcase_add_test(tc, test_compress_output_bounded_by_buffer_max);
    tcase_add_loop_test(tc, test_decompress_round_trip_limit_and_corruption, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
