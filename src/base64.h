/*
 * base64.h - strict standard base64 (RFC 4648 section 4, padded), as
 * Firehose's Data members carry it.
 *
 * Strict: the length is a multiple of 4, only the standard alphabet, '='
 * only as one or two final characters, no whitespace, and canonical: the
 * bits of the last character that no decoded byte takes are zero ("QUB="
 * is refused; RFC 4648 section 3.5 lets a decoder refuse it). libcrypto's
 * EVP_DecodeBlock forgives whitespace and writes padding bytes, and takes
 * a second pass to validate; this decoder validates as it decodes.
 *
 * Threads: no state; any thread.
 */
#ifndef SL_BASE64_H
#define SL_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* The decoded length of <n> characters of base64 ending in <s>[n-1],
 * from the length and padding alone, or -1 if <n> is not a multiple of 4.
 * Inline: a caller sizing many records pays no call for each. */
static inline long sl_base64_decoded_len(const char *s, size_t n)
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

/* Decodes <s> (<n> characters) into <out>, which has room for
 * sl_base64_decoded_len bytes. Returns that length, or -1 if <s> is not
 * strict base64 (then <out> holds garbage, within those bytes). Uses the
 * CPU's vector instructions (AVX2 or SSSE3 on x86-64) where it has them. */
long sl_base64_decode(const char *s, size_t n, uint8_t *out);

/* For tests: the implementations sl_base64_decode chooses from. */
enum sl_base64_impl {
    SL_BASE64_BEST,      /* what sl_base64_decode uses: the best the CPU has */
    SL_BASE64_SCALAR,    /* tables, any CPU */
    SL_BASE64_SSSE3,     /* x86-64 with SSSE3 */
    SL_BASE64_AVX2,      /* x86-64 with AVX2 */
};

/* 1 if this build and CPU can run <impl>. */
int sl__base64_impl_ok(enum sl_base64_impl impl);

/* sl_base64_decode with implementation <impl> (one that
 * sl__base64_impl_ok accepts): the same answer from each. */
long sl__base64_decode_with(enum sl_base64_impl impl, const char *s, size_t n, uint8_t *out);

/* The encoded length of <n> bytes: 4 characters per 3 bytes, padded. */
static inline size_t sl_base64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* Encodes <n> bytes of <p> into <out> (sl_base64_encoded_len(n) characters,
 * no NUL). Returns the number of characters written. */
size_t sl_base64_encode(const uint8_t *p, size_t n, char *out);

#endif
