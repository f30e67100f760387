/*
 * test_base64.c - the strict base64 decoder: decodes what libcrypto
 * encodes at every length 0..300, refuses bad and non-canonical input;
 * and each implementation this CPU can run (scalar, SSSE3, AVX2) gives
 * the same answer, for every byte in every position of a string long
 * enough to use all of them, from any alignment, writing nothing past the
 * decoded length.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base64.h"
#include "suites.h"

START_TEST(test_base64_decodes_what_libcrypto_encodes)
{
    uint8_t in[300], out[300];
    char enc[420];
    uint64_t x = 88172645463325252ULL;

    for (size_t n = 0; n <= sizeof(in); n++) {
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            in[i] = (uint8_t)x;
        }
        int m = EVP_EncodeBlock((unsigned char *)enc, in, (int)n);
        ck_assert_int_eq(sl_base64_decoded_len(enc, (size_t)m), (long)n);
        ck_assert_int_eq(sl_base64_decode(enc, (size_t)m, out), (long)n);
        ck_assert_int_eq(memcmp(in, out, n), 0);
    }
}
END_TEST

START_TEST(test_base64_is_strict)
{
    static const char *const bad[] = {
        "YQ=", "YQ", "Y===", "====", "YQ==YQ==", "Y Q==", "YQ==\n", "YR\t=", "YQ-=",
        "ab_d", "\xc3\xa9\xc3\xa9", "YWJj\\", "=YWJ",
    };
    uint8_t out[16];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long need = sl_base64_decoded_len(bad[i], strlen(bad[i]));
        ck_assert_msg(need < 0 || sl_base64_decode(bad[i], strlen(bad[i]), out) < 0,
                      "accepted \"%s\"", bad[i]);
    }
    ck_assert_int_eq(sl_base64_decode("YWJj", 4, out), 3);
    ck_assert_int_eq(memcmp(out, "abc", 3), 0);
    ck_assert_int_eq(sl_base64_decode("+/8=", 4, out), 2);
    ck_assert(out[0] == 0xfb && out[1] == 0xff);
}
END_TEST

/* Issue 13 item 15: the bits of the last character that no byte takes
 * must be zero, so each byte string has one encoding. */
START_TEST(test_base64_refuses_non_canonical)
{
    static const char *const bad[] = { "QUB=", "QR==", "QV==", "QUJ=", "YWJjZB==", "//9=" };
    uint8_t out[16];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(sl_base64_decode(bad[i], strlen(bad[i]), out) < 0, "accepted \"%s\"",
                      bad[i]);
    ck_assert_int_eq(sl_base64_decode("QUA=", 4, out), 2);
    ck_assert(out[0] == 'A' && out[1] == '@');
    ck_assert_int_eq(sl_base64_decode("QQ==", 4, out), 1);
    ck_assert_int_eq(out[0], 'A');
}
END_TEST

static const enum sl_base64_impl impls[] = {
    SL_BASE64_BEST, SL_BASE64_SCALAR, SL_BASE64_SSSE3, SL_BASE64_AVX2,
};
#define NIMPLS (sizeof(impls) / sizeof(impls[0]))

static void fill(uint8_t *p, size_t n, uint64_t *x)
{
    for (size_t i = 0; i < n; i++) {
        *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
        p[i] = (uint8_t)*x;
    }
}

/* Lengths 0..2000 bytes, each from every alignment mod 32, into a buffer
 * of exactly the decoded length (a write past it is ASan's to see) and
 * one with a guard after it. */
START_TEST(test_base64_each_impl_decodes_what_libcrypto_encodes)
{
    static uint8_t in[2000], guard[2000 + 16];
    static char enc[2700], at[2700 + 32];
    uint64_t x = 0x9E3779B97F4A7C15ULL;

    for (size_t n = 0; n <= sizeof(in); n += n < 300 ? 1 : 37) {
        fill(in, n, &x);
        int m = EVP_EncodeBlock((unsigned char *)enc, in, (int)n);
        for (size_t k = 0; k < NIMPLS; k++) {
            if (!sl__base64_impl_ok(impls[k]))
                continue;
            for (size_t a = 0; a < 32; a += n < 300 ? 1 : 7) {
                uint8_t *out = malloc(n + 1);
                ck_assert_ptr_nonnull(out);
                memcpy(at + a, enc, (size_t)m);
                ck_assert_int_eq(sl__base64_decode_with(impls[k], at + a, (size_t)m, out),
                                 (long)n);
                ck_assert_msg(memcmp(in, out, n) == 0, "impl %d, %zu bytes, alignment %zu",
                              (int)impls[k], n, a);
                free(out);
                memset(guard, 0xA5, sizeof(guard));
                ck_assert_int_eq(sl__base64_decode_with(impls[k], at + a, (size_t)m, guard),
                                 (long)n);
                for (size_t i = n; i < n + 16; i++)
                    ck_assert_msg(guard[i] == 0xA5, "impl %d wrote byte %zu of %zu",
                                  (int)impls[k], i, n);
            }
        }
    }
}
END_TEST

/* Every byte value in every position of a string of 16 quanta (AVX2 takes
 * 8, SSSE3 4, the tables 3 and the padded last): each implementation
 * accepts it exactly when the byte is of the alphabet (or '=' in a place
 * padding may be and the bits are canonical), and agrees with the tables. */
START_TEST(test_base64_each_impl_refuses_each_bad_byte_anywhere)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t in[46], ref[48], out[48];
    char enc[64], bad[64];
    uint64_t x = 42;

    fill(in, sizeof(in), &x);
    ck_assert_int_eq(EVP_EncodeBlock((unsigned char *)enc, in, sizeof(in)), 64);
    for (size_t pos = 0; pos < 64; pos++) {
        for (int c = 0; c < 256; c++) {
            memcpy(bad, enc, 64);
            bad[pos] = (char)c;
            long want = sl__base64_decode_with(SL_BASE64_SCALAR, bad, 64, ref);
            if (pos < 60)         /* an unpadded quantum: any byte of the alphabet decodes */
                ck_assert_int_eq(want, c && strchr(abc, c) ? 46 : -1);
            for (size_t k = 0; k < NIMPLS; k++) {
                if (!sl__base64_impl_ok(impls[k]))
                    continue;
                long got = sl__base64_decode_with(impls[k], bad, 64, out);
                ck_assert_msg(got == want, "impl %d: byte 0x%02x at %zu: %ld, tables %ld",
                              (int)impls[k], c, pos, got, want);
                ck_assert(got < 0 || memcmp(out, ref, (size_t)got) == 0);
            }
        }
    }
}
END_TEST

/* Each character of the alphabet decodes to its value in each position of
 * a vector step. */
START_TEST(test_base64_each_impl_decodes_every_character)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t ref[48], out[48];
    char s[64];

    for (size_t shift = 0; shift < 64; shift++) {
        for (size_t i = 0; i < 64; i++)
            s[i] = abc[(i + shift) % 64];
        ck_assert_int_eq(sl__base64_decode_with(SL_BASE64_SCALAR, s, 64, ref), 48);
        for (size_t i = 0; i < 64; i += 4) {        /* the tables, against the alphabet */
            uint32_t v = (uint32_t)((i + shift) % 64) << 18 | (uint32_t)((i + 1 + shift) % 64)
                         << 12 | (uint32_t)((i + 2 + shift) % 64) << 6 | (i + 3 + shift) % 64;
            ck_assert(ref[i / 4 * 3] == (uint8_t)(v >> 16) &&
                      ref[i / 4 * 3 + 1] == (uint8_t)(v >> 8) && ref[i / 4 * 3 + 2] == (uint8_t)v);
        }
        for (size_t k = 0; k < NIMPLS; k++) {
            if (!sl__base64_impl_ok(impls[k]))
                continue;
            ck_assert_int_eq(sl__base64_decode_with(impls[k], s, 64, out), 48);
            ck_assert_int_eq(memcmp(out, ref, 48), 0);
        }
    }
}
END_TEST

Suite *sl_base64_suite(void)
{
    Suite *s = suite_create("base64");
    TCase *tc = tcase_create("decode");

    tcase_add_test(tc, test_base64_decodes_what_libcrypto_encodes);
    tcase_add_test(tc, test_base64_is_strict);
    tcase_add_test(tc, test_base64_refuses_non_canonical);
    tcase_add_test(tc, test_base64_each_impl_decodes_what_libcrypto_encodes);
    tcase_add_test(tc, test_base64_each_impl_refuses_each_bad_byte_anywhere);
    tcase_add_test(tc, test_base64_each_impl_decodes_every_character);
    suite_add_tcase(s, tc);
    return s;
}
