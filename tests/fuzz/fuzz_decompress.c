/*
 * fuzz_decompress.c - NDJSON request bodies with Content-Encoding gzip or
 * zstd (sl_decompress, as the HTTP source calls it): never more output than
 * the bound the buffer is given (a bomb stops there with SL_ETOOBIG), and
 * only SL_OK, SL_EINVAL, SL_ETOOBIG. Every other input also goes the other
 * way: compressed by sl_compress_* and decompressed again, it must come
 * back whole.
 *   data[0]: bit 0 zstd (else gzip), bits 1-3 the bound (2^(8+2k) bytes)
 */
#include "fuzz.h"

#include "buf.h"
#include "compress.h"
#include "config.h"
#include "sluice/err.h"

static void round_trip(int kind, const uint8_t *p, size_t n)
{
    struct sl_compressor *c = sl_compressor_new();
    struct sl_buf z, back;

    sl_buf_init(&z, 2 * n + 4096);
    sl_buf_init(&back, n + 1);
    if (c && sl_compress_begin(c, kind, 1, &z) == SL_OK && sl_compress_write(c, p, n) == SL_OK &&
        sl_compress_end(c) == SL_OK) {
        int rc = sl_decompress(kind, z.data, z.len, &back);
        FUZZ_ASSERT(rc == SL_OK && back.len == n && (n == 0 || memcmp(back.data, p, n) == 0),
                    "round trip of %zu bytes: rc %d, %zu back", n, rc, back.len);
    }
    sl_buf_destroy(&z);
    sl_buf_destroy(&back);
    sl_compressor_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_buf out;
    int kind, rc;
    size_t max;

    if (size < 1 || size > 1 << 20)
        return 0;
    kind = data[0] & 1 ? SL_COMP_ZSTD : SL_COMP_GZIP;
    max = (size_t)1 << (8 + 2 * ((data[0] >> 1) & 7));   /* 256 B to 4 MiB */
    sl_buf_init(&out, max);
    rc = sl_decompress(kind, data + 1, size - 1, &out);
    FUZZ_ASSERT(rc == SL_OK || rc == SL_EINVAL || rc == SL_ETOOBIG, "rc %d", rc);
    FUZZ_ASSERT(out.len <= max, "%zu bytes out of a bound of %zu", out.len, max);
    sl_buf_destroy(&out);
    if (data[0] & 0x10)
        round_trip(kind, data + 1, size - 1);
    return 0;
}
