/* objkey.c - see objkey.h. */
#include "objkey.h"

#include <stdio.h>
#include <time.h>

#include "sluice/err.h"

int sl_objkey_format(const struct sl_objkey *k, char *out, size_t len)
{
    time_t t = (time_t)(k->wall_ms / 1000);
    struct tm tm;
    int n;

    gmtime_r(&t, &tm);
    n = snprintf(out, len, "%s%04d/%02d/%02d/%02d/%s-%u-%04d-%02d-%02d-%02d-%02d-%02d-%s%s",
                 k->prefix, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 k->stream, k->version, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, k->uuid, k->ext);
    return n >= 0 && (size_t)n < len ? SL_OK : SL_ETOOBIG;
}
