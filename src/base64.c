/*
 * base64.c - see base64.h.
 *
 * Four tables, one per position in a quantum of four characters, hold
 * each character's six bits already shifted into place, plus a flag bit
 * of their own (bits 24 to 27) for a character of the alphabet. OR-ing the
 * four gives the three bytes and, in the top nibble, 0xF exactly when all
 * four characters were valid: four loads and one test per quantum.
 * In the padded last quantum the bits no byte takes must be zero, so each
 * byte string has exactly one encoding ("QUB=" is refused, "QUA=" is "AP").
 *
 * On x86-64 the quanta before the last go through a vector loop instead
 * (AVX2, 32 characters a step, or SSSE3, 16), chosen at each call from
 * what the CPU has (__builtin_cpu_supports, a load and a test) and
 * compiled with the target attribute, so the build flags stay generic.
 * It checks every character against the same alphabet and decodes it to
 * the same bits; its last step ends at the last unpadded quantum,
 * overlapping the step before (those quanta are decoded twice, to the
 * same bytes, and nothing is read or written outside the string and its
 * decoded length). The last quantum, with its padding and canonical-bits
 * rule, and strings too short for a step take the tables. A character
 * out of the alphabet anywhere makes the whole string refused, whichever
 * loop saw it (unit tests compare the loops).
 */
#include "base64.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define SIMD 1
#include <immintrin.h>
#else
#define SIMD 0
#endif

/* X(character, value) for the 64 characters of the alphabet. */
#define ALPHABET(X)                                                                   \
    X('A', 0)  X('B', 1)  X('C', 2)  X('D', 3)  X('E', 4)  X('F', 5)  X('G', 6)       \
    X('H', 7)  X('I', 8)  X('J', 9)  X('K', 10) X('L', 11) X('M', 12) X('N', 13)      \
    X('O', 14) X('P', 15) X('Q', 16) X('R', 17) X('S', 18) X('T', 19) X('U', 20)      \
    X('V', 21) X('W', 22) X('X', 23) X('Y', 24) X('Z', 25) X('a', 26) X('b', 27)      \
    X('c', 28) X('d', 29) X('e', 30) X('f', 31) X('g', 32) X('h', 33) X('i', 34)      \
    X('j', 35) X('k', 36) X('l', 37) X('m', 38) X('n', 39) X('o', 40) X('p', 41)      \
    X('q', 42) X('r', 43) X('s', 44) X('t', 45) X('u', 46) X('v', 47) X('w', 48)      \
    X('x', 49) X('y', 50) X('z', 51) X('0', 52) X('1', 53) X('2', 54) X('3', 55)      \
    X('4', 56) X('5', 57) X('6', 58) X('7', 59) X('8', 60) X('9', 61) X('+', 62)      \
    X('/', 63)

#define P0(c, v) [c] = ((uint32_t)(v) << 18) | (1u << 24),
#define P1(c, v) [c] = ((uint32_t)(v) << 12) | (1u << 25),
#define P2(c, v) [c] = ((uint32_t)(v) << 6) | (1u << 26),
#define P3(c, v) [c] = (uint32_t)(v) | (1u << 27),
static const uint32_t t0[256] = { ALPHABET(P0) };
static const uint32_t t1[256] = { ALPHABET(P1) };
static const uint32_t t2[256] = { ALPHABET(P2) };
static const uint32_t t3[256] = { ALPHABET(P3) };
#undef P0
#undef P1
#undef P2
#undef P3

/*
 * The scalar decoder: <q> quanta of four characters, none of them padded,
 * from <p> into <out>. Returns 0 if every character was of the alphabet.
 */
static uint32_t quanta_scalar(const unsigned char *p, size_t q, uint8_t *out)
{
    uint32_t bad = 0, x;

    for (size_t i = 0; i < q; i++, p += 4, out += 3) {
        x = t0[p[0]] | t1[p[1]] | t2[p[2]] | t3[p[3]];
        bad |= (x >> 24) ^ 0xF;
        out[0] = (uint8_t)(x >> 16);
        out[1] = (uint8_t)(x >> 8);
        out[2] = (uint8_t)x;
    }
    return bad;
}

#if SIMD
/*
 * The vector decoders: 16 (SSSE3) or 32 (AVX2) characters per step into
 * 12 or 24 bytes, each step done in every 128-bit lane alike:
 *  - check: a character is of the alphabet if and only if the bits that
 *    its low nibble's entry in <lo_bad> and its high nibble's entry in
 *    <hi_class> share are none. The high nibble picks one of five
 *    classes (a bit each), and <lo_bad> holds, for each low nibble, the
 *    classes in which that nibble is not of the alphabet:
 *      0x2_: only '+' (2B) and '/' (2F)       class 0x01
 *      0x3_: '0'-'9' (30-39)                  class 0x02
 *      0x4_, 0x6_: 'A'-'O', 'a'-'o' (_1-_F)   class 0x04
 *      0x5_, 0x7_: 'P'-'Z', 'p'-'z' (_0-_A)   class 0x08
 *      anything else, 0x80-0xFF too           class 0x10
 *    The faults of all steps are OR-ed and tested once at the end.
 *  - value: the character plus an offset chosen by its high nibble
 *    (+19 for '+', +4 for digits, -65 for capitals, -71 for small
 *    letters) and -3 more for '/' (whose high nibble is the one of '+').
 *    It is right for the characters of the alphabet only, and the others
 *    have been caught by the check.
 *  - pack: each four values a b c d of a 32-bit element become
 *    a<<18 | b<<12 | c<<6 | d (a multiply-add of byte pairs by 64 and 1,
 *    then of the 16-bit halves by 4096 and 1), whose three bytes are
 *    then put in order, most significant first, 12 bytes per lane.
 * Stores write the decoded bytes only, never past them.
 */
#define LO_BAD 0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, \
               0x11, 0x11, 0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A
#define HI_CLASS 0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, \
                 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10
#define OFFSET 0, 0, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0
#define ORDER 2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1

/* One step of 16 characters: the decoded 12 bytes in the low 12 of the
 * result, the faults OR-ed into *<bad>. */
static inline __attribute__((target("ssse3"), always_inline))
__m128i step16(__m128i v, __m128i *bad)
{
    const __m128i nib = _mm_set1_epi8(0x0F);
    __m128i hi = _mm_and_si128(_mm_srli_epi32(v, 4), nib);
    __m128i lo = _mm_and_si128(v, nib);
    __m128i fault = _mm_and_si128(_mm_shuffle_epi8(_mm_setr_epi8(LO_BAD), lo),
                                  _mm_shuffle_epi8(_mm_setr_epi8(HI_CLASS), hi));
    __m128i off = _mm_shuffle_epi8(_mm_setr_epi8(OFFSET), hi);
    __m128i slash = _mm_and_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('/')), _mm_set1_epi8(-3));

    *bad = _mm_or_si128(*bad, fault);
    v = _mm_add_epi8(v, _mm_add_epi8(off, slash));
    v = _mm_maddubs_epi16(v, _mm_set1_epi32(0x01400140));
    v = _mm_madd_epi16(v, _mm_set1_epi32(0x00011000));
    return _mm_shuffle_epi8(v, _mm_setr_epi8(ORDER));
}

/* One SSSE3 step: 16 characters at <p> into 12 bytes at <out>. */
static inline __attribute__((target("ssse3"), always_inline))
void put12(const unsigned char *p, uint8_t *out, __m128i *bad)
{
    __m128i x = step16(_mm_loadu_si128((const __m128i *)p), bad);
    uint32_t last = (uint32_t)_mm_cvtsi128_si32(_mm_srli_si128(x, 8));

    _mm_storel_epi64((__m128i *)out, x);
    memcpy(out + 8, &last, 4);
}

/* <q> >= 4 quanta by 16 characters, the last step ending at the last
 * quantum (it decodes again, to the same bytes, the quanta it shares with
 * the step before); 0 if all were of the alphabet. */
static __attribute__((target("ssse3")))
uint32_t quanta_ssse3(const unsigned char *p, size_t q, uint8_t *out)
{
    __m128i bad = _mm_setzero_si128();
    size_t i;

    for (i = 0; i + 4 <= q; i += 4)
        put12(p + 4 * i, out + 3 * i, &bad);
    if (i < q)
        put12(p + 4 * (q - 4), out + 3 * (q - 4), &bad);
    return (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(bad, _mm_setzero_si128())) ^ 0xFFFF;
}

/* The constants of the AVX2 step, loaded once per call. */
struct k256 {
    __m256i nib, lo_bad, hi_class, offset, order, lanes, slash, minus3, mul1, mul2;
};

/* One AVX2 step: 32 characters at <p> into 24 bytes at <out>. */
static inline __attribute__((target("avx2"), always_inline))
void put24(const unsigned char *p, uint8_t *out, const struct k256 *k, __m256i *bad)
{
    __m256i v = _mm256_loadu_si256((const __m256i *)p);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi32(v, 4), k->nib);
    __m256i lo = _mm256_and_si256(v, k->nib);
    __m256i off = _mm256_shuffle_epi8(k->offset, hi);
    __m256i slash = _mm256_and_si256(_mm256_cmpeq_epi8(v, k->slash), k->minus3);

    *bad = _mm256_or_si256(*bad, _mm256_and_si256(_mm256_shuffle_epi8(k->lo_bad, lo),
                                                  _mm256_shuffle_epi8(k->hi_class, hi)));
    v = _mm256_add_epi8(v, _mm256_add_epi8(off, slash));
    v = _mm256_maddubs_epi16(v, k->mul1);
    v = _mm256_madd_epi16(v, k->mul2);
    v = _mm256_shuffle_epi8(v, k->order);            /* 12 bytes at the start of each lane */
    v = _mm256_permutevar8x32_epi32(v, k->lanes);    /* the 24 together */
    _mm_storeu_si128((__m128i *)out, _mm256_castsi256_si128(v));
    _mm_storel_epi64((__m128i *)(out + 16), _mm256_extracti128_si256(v, 1));
}

/* <q> >= 8 quanta by 32 characters, the last step ending at the last
 * quantum as in quanta_ssse3; 0 if all were of the alphabet. */
static __attribute__((target("avx2")))
uint32_t quanta_avx2(const unsigned char *p, size_t q, uint8_t *out)
{
    const struct k256 k = {
        .nib = _mm256_set1_epi8(0x0F),
        .lo_bad = _mm256_setr_epi8(LO_BAD, LO_BAD),
        .hi_class = _mm256_setr_epi8(HI_CLASS, HI_CLASS),
        .offset = _mm256_setr_epi8(OFFSET, OFFSET),
        .order = _mm256_setr_epi8(ORDER, ORDER),
        .lanes = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7),
        .slash = _mm256_set1_epi8('/'),
        .minus3 = _mm256_set1_epi8(-3),
        .mul1 = _mm256_set1_epi32(0x01400140),
        .mul2 = _mm256_set1_epi32(0x00011000),
    };
    __m256i bad = _mm256_setzero_si256();
    size_t i;

    for (i = 0; i + 8 <= q; i += 8)
        put24(p + 4 * i, out + 3 * i, &k, &bad);
    if (i < q)
        put24(p + 4 * (q - 8), out + 3 * (q - 8), &k, &bad);
    return !_mm256_testz_si256(bad, bad);
}
#endif

/*
 * Decodes <q> unpadded quanta with implementation <impl> (enum
 * sl_base64_impl, SL_BASE64_BEST: the best this CPU has): a vector loop
 * when there are enough for one step, else the tables. Returns 0 if every
 * character was of the alphabet.
 */
static uint32_t quanta(enum sl_base64_impl impl, const unsigned char *p, size_t q, uint8_t *out)
{
#if SIMD
    if (impl == SL_BASE64_BEST && q >= 4)
        impl = __builtin_cpu_supports("avx2") ? SL_BASE64_AVX2
             : __builtin_cpu_supports("ssse3") ? SL_BASE64_SSSE3 : SL_BASE64_SCALAR;
    if (impl == SL_BASE64_AVX2 && q >= 8)
        return quanta_avx2(p, q, out);
    if ((impl == SL_BASE64_AVX2 || impl == SL_BASE64_SSSE3) && q >= 4)
        return quanta_ssse3(p, q, out);
#else
    (void)impl;
#endif
    return quanta_scalar(p, q, out);
}

int sl__base64_impl_ok(enum sl_base64_impl impl)
{
    switch (impl) {
    case SL_BASE64_BEST:
    case SL_BASE64_SCALAR:
        return 1;
#if SIMD
    case SL_BASE64_SSSE3:
        return __builtin_cpu_supports("ssse3");
    case SL_BASE64_AVX2:
        return __builtin_cpu_supports("avx2");
#endif
    default:
        return 0;
    }
}

long sl__base64_decode_with(enum sl_base64_impl impl, const char *s, size_t n, uint8_t *out)
{
    const unsigned char *p = (const unsigned char *)s;
    long len = sl_base64_decoded_len(s, n);
    size_t full;
    uint32_t bad, x;

    if (len < 0)
        return -1;
    full = n / 4 - (len % 3 != 0);          /* quanta without padding */
    bad = quanta(impl, p, full, out);
    p += 4 * full;
    out += 3 * full;
    if (len % 3 != 0) {                     /* "xx==" or "xxx=" */
        x = t0[p[0]] | t1[p[1]] | (len % 3 == 2 ? t2[p[2]] : 1u << 26) | (1u << 27);
        bad |= (x >> 24) ^ 0xF;
        bad |= x & (len % 3 == 2 ? 0xFFu : 0xFFFFu);     /* canonical: unused bits 0 */
        out[0] = (uint8_t)(x >> 16);
        if (len % 3 == 2)
            out[1] = (uint8_t)(x >> 8);
    }
    return bad ? -1 : len;
}

long sl_base64_decode(const char *s, size_t n, uint8_t *out)
{
    return sl__base64_decode_with(SL_BASE64_BEST, s, n, out);
}

size_t sl_base64_encode(const uint8_t *p, size_t n, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = out;
    size_t i = 0;

    for (; i + 3 <= n; i += 3, o += 4) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        o[0] = abc[v >> 18];
        o[1] = abc[(v >> 12) & 63];
        o[2] = abc[(v >> 6) & 63];
        o[3] = abc[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        o[0] = abc[v >> 18];
        o[1] = abc[(v >> 12) & 63];
        o[2] = i + 1 < n ? abc[(v >> 6) & 63] : '=';
        o[3] = '=';
        o += 4;
    }
    return (size_t)(o - out);
}
