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
 * from the length and padding alone, or -1 if <n> is not a multiple of 4. */
long sl_base64_decoded_len(const char *s, size_t n);

/* Decodes <s> (<n> characters) into <out>, which has room for
 * sl_base64_decoded_len bytes. Returns that length, or -1 if <s> is not
 * strict base64 (then <out> holds garbage). */
long sl_base64_decode(const char *s, size_t n, uint8_t *out);

/* The encoded length of <n> bytes: 4 characters per 3 bytes, padded. */
static inline size_t sl_base64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* Encodes <n> bytes of <p> into <out> (sl_base64_encoded_len(n) characters,
 * no NUL). Returns the number of characters written. */
size_t sl_base64_encode(const uint8_t *p, size_t n, char *out);

#endif
