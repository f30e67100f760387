/*
 * clock.h - time sources, and a clock that tests can drive.
 *
 * Code that makes decisions on time (the batcher's seal rules) takes a
 * struct sl_clock; production passes sl_clock_system, tests a fake whose
 * now functions read fields they set.
 */
#ifndef SL_CLOCK_H
#define SL_CLOCK_H

#include <stdint.h>

struct sl_clock {
    int64_t (*mono_ms)(const struct sl_clock *c);  /* monotonic, for ages */
    int64_t (*wall_ms)(const struct sl_clock *c);  /* epoch ms, for keys */
    void *ctx;                                      /* the fake's state */
};

extern const struct sl_clock sl_clock_system;

int64_t sl_clock_mono_ms(void);
int64_t sl_clock_wall_ms(void);
int64_t sl_clock_mono_ns(void);

#endif
