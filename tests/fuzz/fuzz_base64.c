/*
 * fuzz_base64.c - the strict base64 decoder (base64.h): decoding never
 * writes past sl_base64_decoded_len; what decodes encodes back to the very
 * same text (canonical: one encoding per byte string); every
 * implementation the CPU has (tables, SSSE3, AVX2) gives the same answer
 * and the same bytes; and any bytes encode and decode back to themselves.
 */
#include "fuzz.h"

#include "base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long need = sl_base64_decoded_len((const char *)data, size);
    uint8_t *out = NULL, *back = NULL;
    char *enc = NULL;

    if (need >= 0 && (out = malloc((size_t)need + 1))) {   /* +1: malloc(0) */
        long got = sl_base64_decode((const char *)data, size, out);
        uint8_t *other = malloc((size_t)need + 1);
        for (int impl = SL_BASE64_SCALAR; other && impl <= SL_BASE64_AVX2; impl++) {
            if (!sl__base64_impl_ok(impl))
                continue;
            long o = sl__base64_decode_with(impl, (const char *)data, size, other);
            FUZZ_ASSERT(o == got, "implementation %d answered %ld, not %ld", impl, o, got);
            FUZZ_ASSERT(o < 0 || memcmp(other, out, (size_t)o) == 0,
                        "implementation %d decoded other bytes", impl);
        }
        free(other);
        if (got >= 0) {
            FUZZ_ASSERT(got == need, "decoded %ld of %ld", got, need);
            enc = malloc(sl_base64_encoded_len((size_t)got) + 1);
            if (enc) {
                size_t m = sl_base64_encode(out, (size_t)got, enc);
                FUZZ_ASSERT(m == size && memcmp(enc, data, size) == 0,
                            "decoded %ld bytes re-encode differently", got);
            }
        }
    }
    free(out);
    free(enc);
    /* round trip of the raw bytes */
    enc = malloc(sl_base64_encoded_len(size) + 1);
    back = malloc(size + 1);
    if (enc && back) {
        size_t m = sl_base64_encode(data, size, enc);
        FUZZ_ASSERT(m == sl_base64_encoded_len(size), "encoded %zu", m);
        FUZZ_ASSERT(sl_base64_decoded_len(enc, m) == (long)size, "length of %zu", size);
        FUZZ_ASSERT(sl_base64_decode(enc, m, back) == (long)size &&
                    (size == 0 || memcmp(back, data, size) == 0), "round trip of %zu", size);
    }
    free(enc);
    free(back);
    return 0;
}
