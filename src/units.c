/*
 * units.c - parsing of sizes, durations and plain integers.
 *
 * strtoull with an end pointer and explicit checks: no sign, no spaces
 * inside, no overflow. A fraction is accepted ("1.5MiB") and truncated to
 * whole bytes or milliseconds.
 */
#include "units.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/err.h"

struct unit { const char *name; double mult; };

static const struct unit size_units[] = {
    { "B", 1.0 }, { "KiB", 1024.0 }, { "MiB", 1048576.0 },
    { "GiB", 1073741824.0 }, { "TiB", 1099511627776.0 }, { NULL, 0 },
};
static const struct unit time_units[] = {
    { "ms", 1.0 }, { "s", 1000.0 }, { "m", 60000.0 }, { "h", 3600000.0 },
    { NULL, 0 },
};

/* Splits "<number><unit>" and returns number * the unit's multiplier. */
static int parse_with_unit(const char *s, const struct unit *units, double max,
                           double *out)
{
    char *end;
    double v;

    if (!isdigit((unsigned char)s[0]))
        return SL_EINVAL;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || !isfinite(v))
        return SL_ERANGE;
    if (*end == '\0') {
        if (v != 0.0)
            return SL_EINVAL;  /* a unit is required, except for 0 */
        *out = 0;
        return SL_OK;
    }
    for (const struct unit *u = units; u->name; u++) {
        if (strcmp(end, u->name) == 0) {
            v *= u->mult;
            if (v > max)
                return SL_ERANGE;
            *out = v;
            return SL_OK;
        }
    }
    return SL_EINVAL;
}

int sl_units_size(const char *s, uint64_t *bytes)
{
    double v;
    int rc = parse_with_unit(s, size_units, 4611686018427387904.0, &v);

    if (rc == SL_OK)
        *bytes = (uint64_t)v;
    return rc;
}

int sl_units_duration(const char *s, int64_t *ms)
{
    double v;
    int rc = parse_with_unit(s, time_units, 9.0e15, &v);

    if (rc == SL_OK)
        *ms = (int64_t)v;
    return rc;
}

int sl_units_uint(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (!isdigit((unsigned char)s[0]))
        return SL_EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return SL_ERANGE;
    if (*end != '\0')
        return SL_EINVAL;
    *out = v;
    return SL_OK;
}
