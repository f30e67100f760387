/*
 * fuzz_decompress.c - NDJSON request bodies with Content-Encoding gzip or
 * zstd (sl_compress_decode, as the HTTP source calls it): never more output than
 * the bound the buffer is given (a bomb stops there with SL_ETOOBIG), and
 * only SL_OK, SL_EINVAL, SL_ETOOBIG. Every other input also goes the other
 * way: compressed by sl_compress_* as two members (frames) and decompressed
 * again, it must come back whole.
 *   data[0]: bit 0 zstd (else gzip), bits 1-3 the bound (2^(8+2k) bytes),
 *            bit 4 the round trip, bits 5-7 where it splits (eighths)
 */
#include "fuzz.h"

#include "buf.h"
#include "compress.h"
#include "config.h"
#include "sluice/err.h"

/* Compresses p[0, k) and p[k, n) as two members (frames), one after the
 * other as `cat a.gz b.gz` makes them; decompressed, all n bytes are back. */
static void round_trip(int kind, const uint8_t *p, size_t n, size_t k)
{
    struct sl_compressor *c = sl_compress_new();
    struct sl_buf z, back;
    int ok = c != NULL;

    sl_buf_init(&z, 2 * n + (1 << 20));   /* the compressor reserves 64 KiB at a time */
    sl_buf_init(&back, n + 1);
    for (int part = 0; part < 2 && ok; part++)
        ok = sl_compress_begin(c, kind, 1, &z) == SL_OK &&
             sl_compress_write(c, part ? p + k : p, part ? n - k : k) == SL_OK &&
             sl_compress_end(c) == SL_OK;
    FUZZ_ASSERT(ok || !c, "compressing %zu bytes failed", n);
    if (ok) {
        int rc = sl_compress_decode(kind, z.data, z.len, &back);
        FUZZ_ASSERT(rc == SL_OK && back.len == n && (n == 0 || memcmp(back.data, p, n) == 0),
                    "round trip of %zu bytes in two parts at %zu: rc %d, %zu back", n, k, rc,
                    back.len);
    }
    sl_buf_destroy(&z);
    sl_buf_destroy(&back);
    sl_compress_free(c);
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
    rc = sl_compress_decode(kind, data + 1, size - 1, &out);
    FUZZ_ASSERT(rc == SL_OK || rc == SL_EINVAL || rc == SL_ETOOBIG, "rc %d", rc);
    FUZZ_ASSERT(out.len <= max, "%zu bytes out of a bound of %zu", out.len, max);
    sl_buf_destroy(&out);
    if (data[0] & 0x10)        /* bits 5-7: where the second member starts, in eighths */
        round_trip(kind, data + 1, size - 1, (size - 1) * (size_t)(data[0] >> 5) / 8);
    return 0;
}
