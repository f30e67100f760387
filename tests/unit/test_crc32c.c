/*
 * test_crc32c.c - CRC-32C: the published check values (RFC 3720 B.4 and
 * the usual "123456789"), on both paths; chaining at every split point;
 * the hardware path (when the CPU has one) agrees with the portable one at
 * every length 0..4096 and every alignment 0..7, at and around the edges of
 * its rounds of 3 x SL_CRC32C_HW_BLOCK bytes (1, 2, 3, 4 rounds, with and
 * without a tail, where a wrong combine of the three chains would show),
 * on large buffers of odd sizes and alignments, and chained over random
 * splits. On a CPU without SSE4.2 both sides are the portable path.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "suites.h"

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void fill(unsigned char *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)next(&seed);
}

/* The address in [buf, buf + 8) that is <align> bytes past a multiple of 8. */
static unsigned char *at_align(unsigned char *buf, size_t align)
{
    return buf + ((align - (uintptr_t)buf) & 7);
}

/* The hardware path's bytes before its first round: those up to 8-byte
 * alignment. */
static size_t lead(const unsigned char *p)
{
    return (8 - ((uintptr_t)p & 7)) & 7;
}

struct vec {
    const char *name;
    unsigned char data[32];
    size_t len;
    uint32_t want;
};

static const struct vec vecs[] = {
    { "123456789", "123456789", 9, 0xE3069283u },
    { "32 zeros", { 0 }, 32, 0x8A9136AAu },
    { "32 0xff", { [0 ... 31] = 0xff }, 32, 0x62A8AB43u },
    { "0x00..0x1f", { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
                      20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31 }, 32, 0x46DD794Eu },
    { "empty", { 0 }, 0, 0 },
};

START_TEST(test_crc32c_matches_published_check_values)
{
    const struct vec *v = &vecs[_i];

    ck_assert_msg(sl_crc32c(0, v->data, v->len) == v->want, "%s: %08x, want %08x", v->name,
                  sl_crc32c(0, v->data, v->len), v->want);
    ck_assert_msg(sl_crc32c_portable(0, v->data, v->len) == v->want,
                  "%s (portable): %08x, want %08x", v->name,
                  sl_crc32c_portable(0, v->data, v->len), v->want);
}
END_TEST

START_TEST(test_crc32c_of_nothing_leaves_crc_unchanged)
{
    ck_assert_uint_eq(sl_crc32c(0, NULL, 0), 0);
    ck_assert_uint_eq(sl_crc32c(0xE3069283u, NULL, 0), 0xE3069283u);
    ck_assert_uint_eq(sl_crc32c_portable(0xE3069283u, NULL, 0), 0xE3069283u);
}
END_TEST

START_TEST(test_crc32c_chained_at_any_split_equals_whole)
{
    unsigned char buf[1000];

    fill(buf, sizeof buf, 0x9e3779b97f4a7c15ULL);
    uint32_t whole = sl_crc32c(0, buf, sizeof buf);
    ck_assert_uint_eq(sl_crc32c_portable(0, buf, sizeof buf), whole);
    for (size_t k = 0; k <= sizeof buf; k++) {
        uint32_t c = sl_crc32c(0, buf, k);
        ck_assert_msg(sl_crc32c(c, buf + k, sizeof buf - k) == whole, "split at %zu", k);
        c = sl_crc32c_portable(0, buf, k);
        ck_assert_msg(sl_crc32c_portable(c, buf + k, sizeof buf - k) == whole,
                      "portable, split at %zu", k);
    }
}
END_TEST

START_TEST(test_crc32c_paths_agree_at_every_length_and_alignment)
{
    _Alignas(8) unsigned char buf[8 + 300];
    uint64_t seed = 0x2545F4914F6CDD1DULL;

    for (size_t align = 0; align < 8; align++)
        for (size_t n = 0; n <= 300; n++) {
            fill(buf, sizeof buf, next(&seed));
            uint32_t start = (uint32_t)next(&seed);
            uint32_t hw = sl_crc32c(start, buf + align, n);
            uint32_t sw = sl_crc32c_portable(start, buf + align, n);
            ck_assert_msg(hw == sw, "align %zu len %zu: %08x vs portable %08x", align, n, hw,
                          sw);
        }
}
END_TEST

START_TEST(test_crc32c_paths_agree_at_every_length_to_4096)
{
    unsigned char *buf = malloc(8 + 4096);
    uint64_t seed = 0x5851F42D4C957F2DULL;

    ck_assert_ptr_nonnull(buf);
    fill(buf, 8 + 4096, next(&seed));
    for (size_t align = 0; align < 8; align++)
        for (size_t n = 0; n <= 4096; n++) {
            unsigned char *p = at_align(buf, align);
            uint32_t start = (uint32_t)next(&seed);
            uint32_t hw = sl_crc32c(start, p, n);
            uint32_t sw = sl_crc32c_portable(start, p, n);
            ck_assert_msg(hw == sw, "align %zu len %zu: %08x vs portable %08x", align, n, hw,
                          sw);
        }
    free(buf);
}
END_TEST

/* Lengths that end exactly at the end of round 1..4, and up to 3 words
 * either side of it: a round and a bit less, a round and a short tail. */
START_TEST(test_crc32c_paths_agree_around_the_edges_of_rounds)
{
    const size_t round = 3 * SL_CRC32C_HW_BLOCK;
    size_t cap = 8 + 4 * round + 32;
    unsigned char *buf = malloc(cap);
    uint64_t seed = 0xDA942042E4DD58B5ULL;

    ck_assert_ptr_nonnull(buf);
    fill(buf, cap, next(&seed));
    for (size_t rounds = 1; rounds <= 4; rounds++)
        for (size_t align = 0; align < 8; align++)
            for (int d = -24; d <= 24; d++) {
                unsigned char *p = at_align(buf, align);
                size_t n = lead(p) + rounds * round + (size_t)d;
                uint32_t start = (uint32_t)next(&seed);
                uint32_t hw = sl_crc32c(start, p, n);
                uint32_t sw = sl_crc32c_portable(start, p, n);
                ck_assert_msg(hw == sw, "%zu rounds %+d, align %zu (len %zu): %08x vs %08x",
                              rounds, d, align, n, hw, sw);
            }
    free(buf);
}
END_TEST

START_TEST(test_crc32c_paths_agree_on_large_odd_buffers)
{
    static const size_t lens[] = { 99999, 102401, 317443, 1000003, 1048577 };
    size_t cap = 8 + 1048577;
    unsigned char *buf = malloc(cap);
    uint64_t seed = 0x9FB21C651E98DF25ULL;

    ck_assert_ptr_nonnull(buf);
    fill(buf, cap, next(&seed));
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        for (size_t align = 0; align < 8; align += 3) {
            unsigned char *p = at_align(buf, align);
            uint32_t start = (uint32_t)next(&seed);
            uint32_t hw = sl_crc32c(start, p, lens[i]);
            uint32_t sw = sl_crc32c_portable(start, p, lens[i]);
            ck_assert_msg(hw == sw, "align %zu len %zu: %08x vs portable %08x", align, lens[i],
                          hw, sw);
        }
    free(buf);
}
END_TEST

/* Pieces of 0 to a little over 3 rounds, so calls start and end anywhere in
 * a round and at any alignment. */
START_TEST(test_crc32c_chained_over_random_splits_equals_whole)
{
    const size_t n = 1000003, maxpiece = 3 * 3 * SL_CRC32C_HW_BLOCK + 100;
    unsigned char *buf = malloc(n);
    uint64_t seed = 0x2D358DCCAA6C78A5ULL;

    ck_assert_ptr_nonnull(buf);
    fill(buf, n, next(&seed));
    uint32_t whole = sl_crc32c_portable(0, buf, n);
    ck_assert_uint_eq(sl_crc32c(0, buf, n), whole);
    for (int trial = 0; trial < 20; trial++) {
        uint32_t c = 0;
        for (size_t off = 0; off < n;) {
            size_t k = (size_t)(next(&seed) % (maxpiece + 1));
            if (k > n - off)
                k = n - off;
            c = sl_crc32c(c, buf + off, k);
            off += k;
        }
        ck_assert_msg(c == whole, "trial %d: %08x, want %08x", trial, c, whole);
    }
    free(buf);
}
END_TEST

Suite *sl_crc32c_suite(void)
{
    Suite *s = suite_create("crc32c");
    TCase *tc = tcase_create("crc32c");

    tcase_add_loop_test(tc, test_crc32c_matches_published_check_values, 0,
                        (int)(sizeof vecs / sizeof vecs[0]));
    tcase_add_test(tc, test_crc32c_of_nothing_leaves_crc_unchanged);
    tcase_add_test(tc, test_crc32c_chained_at_any_split_equals_whole);
    tcase_add_test(tc, test_crc32c_paths_agree_at_every_length_and_alignment);
    tcase_add_test(tc, test_crc32c_paths_agree_at_every_length_to_4096);
    tcase_add_test(tc, test_crc32c_paths_agree_around_the_edges_of_rounds);
    tcase_add_test(tc, test_crc32c_paths_agree_on_large_odd_buffers);
    tcase_add_test(tc, test_crc32c_chained_over_random_splits_equals_whole);
    suite_add_tcase(s, tc);
    return s;
}
