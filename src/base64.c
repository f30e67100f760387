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
 */
#include "base64.h"

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

long sl_base64_decoded_len(const char *s, size_t n)
{
    size_t pad = 0;

    if (n % 4 != 0)
        return -1;
    if (n > 0 && s[n - 1] == '=')
        pad++;
    if (n > 1 && s[n - 2] == '=')
        pad++;
    return (long)(n / 4 * 3 - pad);
}

long sl_base64_decode(const char *s, size_t n, uint8_t *out)
{
    const unsigned char *p = (const unsigned char *)s;
    long len = sl_base64_decoded_len(s, n);
    size_t full, i;
    uint32_t bad = 0, x;

    if (len < 0)
        return -1;
    full = n / 4 - (len % 3 != 0);          /* quanta without padding */
    for (i = 0; i < full; i++, p += 4, out += 3) {
        x = t0[p[0]] | t1[p[1]] | t2[p[2]] | t3[p[3]];
        bad |= (x >> 24) ^ 0xF;
        out[0] = (uint8_t)(x >> 16);
        out[1] = (uint8_t)(x >> 8);
        out[2] = (uint8_t)x;
    }
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
