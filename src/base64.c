/*
 * base64.c - see base64.h.
 *
 * One table maps a character to its 6-bit value plus one, 0 for a
 * character outside the alphabet, so a quantum of four is decoded and
 * checked with four lookups and one test.
 */
#include "base64.h"

#define V(c, v) [c] = (v) + 1
static const uint8_t value[256] = {
    V('A', 0),  V('B', 1),  V('C', 2),  V('D', 3),  V('E', 4),  V('F', 5),  V('G', 6),
    V('H', 7),  V('I', 8),  V('J', 9),  V('K', 10), V('L', 11), V('M', 12), V('N', 13),
    V('O', 14), V('P', 15), V('Q', 16), V('R', 17), V('S', 18), V('T', 19), V('U', 20),
    V('V', 21), V('W', 22), V('X', 23), V('Y', 24), V('Z', 25), V('a', 26), V('b', 27),
    V('c', 28), V('d', 29), V('e', 30), V('f', 31), V('g', 32), V('h', 33), V('i', 34),
    V('j', 35), V('k', 36), V('l', 37), V('m', 38), V('n', 39), V('o', 40), V('p', 41),
    V('q', 42), V('r', 43), V('s', 44), V('t', 45), V('u', 46), V('v', 47), V('w', 48),
    V('x', 49), V('y', 50), V('z', 51), V('0', 52), V('1', 53), V('2', 54), V('3', 55),
    V('4', 56), V('5', 57), V('6', 58), V('7', 59), V('8', 60), V('9', 61), V('+', 62),
    V('/', 63),
};
#undef V

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
    unsigned bad = 0;

    if (len < 0)
        return -1;
    full = n / 4 - (len % 3 != 0);          /* quanta without padding */
    for (i = 0; i < full; i++, p += 4, out += 3) {
        unsigned a = value[p[0]], b = value[p[1]], c = value[p[2]], d = value[p[3]];
        bad |= !a | !b | !c | !d;
        uint32_t v = (a - 1) << 18 | (b - 1) << 12 | (c - 1) << 6 | (d - 1);
        out[0] = (uint8_t)(v >> 16);
        out[1] = (uint8_t)(v >> 8);
        out[2] = (uint8_t)v;
    }
    if (len % 3 != 0) {                     /* "xx==" or "xxx=" */
        unsigned a = value[p[0]], b = value[p[1]];
        unsigned c = len % 3 == 2 ? value[p[2]] : 1;
        bad |= !a | !b | !c;
        uint32_t v = (a - 1) << 18 | (b - 1) << 12 | (c - 1) << 6;
        out[0] = (uint8_t)(v >> 16);
        if (len % 3 == 2)
            out[1] = (uint8_t)(v >> 8);
    }
    return bad ? -1 : len;
}
