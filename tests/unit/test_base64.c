/*
 * test_base64.c - the strict base64 decoder: decodes what libcrypto
 * encodes at every length 0..300, refuses bad and non-canonical input.
 */
#include <check.h>
#include <stdint.h>
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

Suite *sl_base64_suite(void)
{
    Suite *s = suite_create("base64");
    TCase *tc = tcase_create("decode");

    tcase_add_test(tc, test_base64_decodes_what_libcrypto_encodes);
    tcase_add_test(tc, test_base64_is_strict);
    tcase_add_test(tc, test_base64_refuses_non_canonical);
    suite_add_tcase(s, tc);
    return s;
}
