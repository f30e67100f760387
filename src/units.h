/*
 * units.h - sizes ("512KiB", "5MiB") and durations ("250ms", "60s", "15m").
 *
 * The only place that turns such strings into numbers. A number needs its
 * unit, except 0; units are case-sensitive as written here:
 * sizes B KiB MiB GiB TiB, durations ms s m h.
 */
#ifndef SL_UNITS_H
#define SL_UNITS_H

#include <stdint.h>

/* Parses <s> into *<bytes>. SL_EINVAL if malformed, SL_ERANGE if > 2^62. */
int sl_units_size(const char *s, uint64_t *bytes);
/* Parses <s> into *<ms>. SL_EINVAL if malformed, SL_ERANGE if too large. */
int sl_units_duration(const char *s, int64_t *ms);
/* Parses a plain non-negative integer (no unit) into *<out>. */
int sl_units_uint(const char *s, uint64_t *out);

#endif
