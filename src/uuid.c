/* uuid.c - see uuid.h. */
#include "uuid.h"

#include <string.h>
#include <sys/random.h>

#include "backoff.h"
#include "sluice/err.h"

int sl_uuid4(uint8_t u[16], uint64_t *fallback)
{
    if (getrandom(u, 16, 0) != 16) {
        if (!fallback)
            return SL_EIO;
        uint64_t a = sl_rand_next(fallback), b = sl_rand_next(fallback);
        memcpy(u, &a, 8);
        memcpy(u + 8, &b, 8);
    }
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);   /* version 4 */
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);   /* RFC 4122 variant */
    return SL_OK;
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
