/*
 * fuzz_units.c - sizes, durations and plain integers (units.h), as every
 * config value passes through them: no crash, and what is accepted is in
 * range; a plain integer is accepted only as decimal digits, read as such.
 */
#include "fuzz.h"

#include "units.h"
#include "sluice/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = size <= 256 ? fuzz_cstr(data, size) : NULL;
    uint64_t u = 0;
    int64_t ms = 0;

    if (!s)
        return 0;
    if (sl_units_size(s, &u) == SL_OK)
        FUZZ_ASSERT(u <= (1ull << 62), "size %s = %llu", s, (unsigned long long)u);
    if (sl_units_duration(s, &ms) == SL_OK)
        FUZZ_ASSERT(ms >= 0, "duration %s = %lld", s, (long long)ms);
    if (sl_units_uint(s, &u) == SL_OK)
        FUZZ_ASSERT(s[0] && strspn(s, "0123456789") == strlen(s) &&
                    u == strtoull(s, NULL, 10), "integer %s = %llu", s, (unsigned long long)u);
    free(s);
    return 0;
}
