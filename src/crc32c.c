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
 * at a time on 8-byte-aligned words. It is compiled with target("sse4.2")
 * so the rest of the build stays baseline x86-64, and runs only if the CPU
 * says it has SSE4.2. The instruction takes 3 cycles but can start one per
 * cycle, so a single chain of them runs at a third of what the CPU can do.
 * Long buffers therefore go in rounds of 3 x BLOCK bytes: three independent
 * chains, one per BLOCK-byte third, and then one CRC from the three:
 *
 *     crc(c, A B C) = shift(shift(crc(c, A)) ^ crc(0, B)) ^ crc(0, C)
 *
 * where shift(r) is the register <r> after BLOCK zero bytes, that is
 * r * x^(8 BLOCK) mod P. (This holds for the bare register, which is what
 * crc_hw works on; the API's inversions happen outside it.) shift is
 * linear in <r>, so it is four lookups in shift_tab, built once from
 * x^(8 BLOCK) mod P. Shorter buffers and the tail after the last
 * round take the single chain.
 *
 * Global state: STYLE.md allows no mutable globals. The exception is the
 * tables and flag below (tab, shift_tab, use_hw): written once, by init()
 * under pthread_once (which orders those writes before any caller's
 * reads), and read-only afterwards. Not a constructor, so nothing runs
 * before main.
 */
#include "crc32c.h"

#include <pthread.h>

#define POLY 0x82F63B78u   /* CRC-32C, reflected */

/* Bytes per chain in a round of the hardware path (crc32c.h says why the
 * header has it). */
#define BLOCK SL_CRC32C_HW_BLOCK

static uint32_t tab[8][256];            /* written once by init() */
static uint32_t shift_tab[4][256];      /* written once by init(): see shift() */
static int use_hw;                      /* written once by init() */
static pthread_once_t once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SL_CRC32C_HW 1
#include <nmmintrin.h>

/* The register <r> after BLOCK zero bytes: r * x^(8 BLOCK) mod P, one byte
 * of <r> at a time (shift_tab[k][b] is the answer for byte <b> at byte
 * position <k>, the other bytes zero). */
static inline uint32_t shift(uint32_t r)
{
    return shift_tab[0][r & 0xff] ^ shift_tab[1][(r >> 8) & 0xff] ^
           shift_tab[2][(r >> 16) & 0xff] ^ shift_tab[3][r >> 24];
}

/* One round: the register <c> extended over the 3 x BLOCK bytes at <p>
 * (8-byte aligned), as three chains combined (see the top of the file). */
__attribute__((target("sse4.2")))
static uint32_t crc_hw_round(uint32_t c, const unsigned char *p)
{
    uint64_t a = c, b = 0, d = 0;

    for (size_t i = 0; i < BLOCK; i += 8) {
        uint64_t wa, wb, wd;
        __builtin_memcpy(&wa, p + i, 8);
        __builtin_memcpy(&wb, p + BLOCK + i, 8);
        __builtin_memcpy(&wd, p + 2 * BLOCK + i, 8);
        a = _mm_crc32_u64(a, wa);
        b = _mm_crc32_u64(b, wb);
        d = _mm_crc32_u64(d, wd);
    }
    return shift(shift((uint32_t)a) ^ (uint32_t)b) ^ (uint32_t)d;
}

/* <c> is the running, inverted CRC. */
__attribute__((target("sse4.2")))
static uint32_t crc_hw(uint32_t c, const unsigned char *p, size_t n)
{
    uint64_t c64;

    for (; n > 0 && ((uintptr_t)p & 7) != 0; n--)
        c = _mm_crc32_u8(c, *p++);
    for (; n >= 3 * BLOCK; n -= 3 * BLOCK, p += 3 * BLOCK)
        c = crc_hw_round(c, p);
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

/* a * b mod P, both polynomials in the reflected order of the register
 * (bit 31 is x^0, bit 0 is x^31). Only init() uses it. */
static uint32_t mulmod(uint32_t a, uint32_t b)
{
    uint32_t prod = 0;

    /* b runs through b * x^k, k = 0..31, while bit 31 - k of a says
     * whether x^k is in a. Multiplying by x moves each term one bit down,
     * and x^31 (bit 0) becomes x^32, which is congruent to POLY mod P. */
    for (uint32_t bit = 1u << 31; bit != 0; bit >>= 1) {
        if (a & bit)
            prod ^= b;
        b = (b >> 1) ^ (POLY & (0u - (b & 1)));
    }
    return prod;
}

static void init(void)
{
    uint32_t xn = 1u << 31;             /* x^0, then x^(8 BLOCK) mod P */

    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (POLY & (0u - (c & 1)));
        tab[0][i] = c;
    }
    for (int k = 1; k < 8; k++)
        for (int i = 0; i < 256; i++)
            tab[k][i] = (tab[k - 1][i] >> 8) ^ tab[0][tab[k - 1][i] & 0xff];
    for (int k = 0; k < BLOCK; k++)     /* one zero byte: times x^8 */
        xn = (xn >> 8) ^ tab[0][xn & 0xff];
    for (int k = 0; k < 4; k++)
        for (uint32_t i = 0; i < 256; i++)
            shift_tab[k][i] = mulmod(i << (8 * k), xn);
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
