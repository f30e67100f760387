/*
 * crc32c.c - see crc32c.h.
 *
 * Portable path: slice-by-8 (Intel's "Slicing-by-8", Kounavis and Berry).
 * tab[0] is the classic byte-at-a-time table; tab[k][b] is the CRC of byte
 * <b> followed by k zero bytes, so one step folds eight input bytes with
 * eight lookups. Words are assembled from bytes, so it is right on any
 * endianness and alignment; compilers turn the assembly into one load.
 *
 * Hardware path (x86-64, GCC or clang): the crc32 instruction, eight bytes
 * at a time on 8-byte-aligned words, single stream. It is compiled with
 * target("sse4.2") so the rest of the build stays baseline x86-64, and
 * runs only if the CPU says it has SSE4.2.
 *
 * Global state: STYLE.md allows no mutable globals. The exception is the
 * pair below, tab and use_hw: written once, by init() under pthread_once
 * (which orders those writes before any caller's reads), and read-only
 * afterwards. Not a constructor, so nothing runs before main.
 */
#include "crc32c.h"

#include <pthread.h>

#define POLY 0x82F63B78u   /* CRC-32C, reflected */

static uint32_t tab[8][256];            /* written once by init() */
static int use_hw;                      /* written once by init() */
static pthread_once_t once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SL_CRC32C_HW 1
#include <nmmintrin.h>

/* <c> is the running, inverted CRC. */
__attribute__((target("sse4.2")))
static uint32_t crc_hw(uint32_t c, const unsigned char *p, size_t n)
{
    uint64_t c64;

    for (; n > 0 && ((uintptr_t)p & 7) != 0; n--)
        c = _mm_crc32_u8(c, *p++);
    c64 = c;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w;
        __builtin_memcpy(&w, p, 8);     /* aligned: one load */
        c64 = _mm_crc32_u64(c64, w);
    }
    c = (uint32_t)c64;
    for (; n > 0; n--)
        c = _mm_crc32_u8(c, *p++);
    return c;
}
#endif

static void init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (POLY & (0u - (c & 1)));
        tab[0][i] = c;
    }
    for (int k = 1; k < 8; k++)
        for (int i = 0; i < 256; i++)
            tab[k][i] = (tab[k - 1][i] >> 8) ^ tab[0][tab[k - 1][i] & 0xff];
#ifdef SL_CRC32C_HW
    __builtin_cpu_init();
    use_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static inline uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* <c> is the running, inverted CRC; the tables are ready. */
static uint32_t crc_sw(uint32_t c, const unsigned char *p, size_t n)
{
    for (; n >= 8; n -= 8, p += 8) {
        uint32_t lo = c ^ le32(p), hi = le32(p + 4);
        c = tab[7][lo & 0xff] ^ tab[6][(lo >> 8) & 0xff] ^
            tab[5][(lo >> 16) & 0xff] ^ tab[4][lo >> 24] ^
            tab[3][hi & 0xff] ^ tab[2][(hi >> 8) & 0xff] ^
            tab[1][(hi >> 16) & 0xff] ^ tab[0][hi >> 24];
    }
    for (; n > 0; n--)
        c = (c >> 8) ^ tab[0][(c ^ *p++) & 0xff];
    return c;
}

uint32_t sl_crc32c_portable(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&once, init);
    return ~crc_sw(~crc, p, n);
}

uint32_t sl_crc32c(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&once, init);
#ifdef SL_CRC32C_HW
    if (use_hw)
        return ~crc_hw(~crc, p, n);
#endif
    return ~crc_sw(~crc, p, n);
}
