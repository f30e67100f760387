/* clock.c - the system clock behind struct sl_clock. */
#include "clock.h"

#include <time.h>

int64_t sl_clock_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t sl_clock_mono_ms(void)
{
    return sl_clock_mono_ns() / 1000000;
}

int64_t sl_clock_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t sys_mono(const struct sl_clock *c) { (void)c; return sl_clock_mono_ms(); }
static int64_t sys_wall(const struct sl_clock *c) { (void)c; return sl_clock_wall_ms(); }

const struct sl_clock sl_clock_system = { .mono_ms = sys_mono, .wall_ms = sys_wall };
