/*
 * log.c - key=value lines on stderr, a level, and rate limits.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "sluice/err.h"

static _Atomic int log_level = SL_LOG_INFO;
static const char *const level_names[] = { "debug", "info", "warn", "error" };

int sl_log_level_parse(const char *s, int *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = i;
            return SL_OK;
        }
    }
    return SL_EINVAL;
}

void sl_log_set_level(int level)
{
    atomic_store_explicit(&log_level, level, memory_order_relaxed);
}

int sl_log_enabled(int level)
{
    return level >= atomic_load_explicit(&log_level, memory_order_relaxed);
}

void sl_log(int level, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;
    va_list ap;
    int r;

    if (!sl_log_enabled(level))
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "ts=%Y-%m-%dT%H:%M:%S", &tm);
    r = snprintf(line + n, sizeof(line) - n, ".%03ldZ level=%s ",
                 ts.tv_nsec / 1000000, level_names[level]);
    n += (size_t)r;
    va_start(ap, fmt);
    r = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (r < 0)
        r = 0;
    n += (size_t)r;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;   /* truncated: still one line */
    line[n++] = '\n';
    /* One write per line keeps lines whole across threads; a short write to
     * stderr is not worth a retry loop. */
    if (write(STDERR_FILENO, line, n) < 0)
        return;
}

int sl_log_ratelimit_ok(struct sl_ratelimit *rl, int64_t interval_ms, uint64_t *suppressed)
{
    int64_t now = sl_clock_mono_ms();
    int64_t next = atomic_load_explicit(&rl->next_ms, memory_order_relaxed);

    if (now < next || !atomic_compare_exchange_strong_explicit(
            &rl->next_ms, &next, now + interval_ms,
            memory_order_relaxed, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&rl->suppressed, 1, memory_order_relaxed);
        return 0;
    }
    *suppressed = atomic_exchange_explicit(&rl->suppressed, 0, memory_order_relaxed);
    return 1;
}
