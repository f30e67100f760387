/* uuid.c - see uuid.h. */
#include "uuid.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "backoff.h"
#include "log.h"
#include "sluice/err.h"

int sl_uuid_v4(uint8_t u[16], uint64_t *fallback)
{
    if (getrandom(u, 16, 0) != 16) {
        if (!fallback)
            return SL_EIO;
        uint64_t a = sl_backoff_rand(fallback), b = sl_backoff_rand(fallback);
        memcpy(u, &a, 8);
        memcpy(u + 8, &b, 8);
    }
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);   /* version 4 */
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);   /* RFC 4122 variant */
    return SL_OK;
}

void sl_uuid_derive(const uint8_t parent[16], const void *how, size_t n, uint8_t out[16])
{
    uint8_t md[32];
    unsigned mdlen = 0;
    EVP_MD_CTX *x = EVP_MD_CTX_new();

    if (!x || EVP_DigestInit_ex(x, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(x, parent, 16) != 1 || EVP_DigestUpdate(x, how, n) != 1 ||
        EVP_DigestFinal_ex(x, md, &mdlen) != 1) {
        sl_error("msg=\"libcrypto cannot hash a UUID\"");
        abort();
    }
    EVP_MD_CTX_free(x);
    memcpy(out, md, 16);
    out[6] = (uint8_t)((out[6] & 0x0f) | 0x80);   /* version 8 */
    out[8] = (uint8_t)((out[8] & 0x3f) | 0x80);   /* RFC 9562 variant */
}

void sl_uuid_str(const uint8_t u[16], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    int o = 0;

    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[u[i] >> 4];
        out[o++] = hex[u[i] & 15];
    }
    out[o] = '\0';
}
