/*
 * log.h - one line per event on stderr: "ts=... level=warn k=v ... msg=...".
 *
 * The level is the one process-wide setting outside struct sl_daemon: it is
 * set at start and on reload by the main thread and read (relaxed) by all.
 * sl_log() is thread-safe: each line goes out in one write(2).
 */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <stdatomic.h>
#include <stdint.h>

enum sl_log_level { SL_LOG_DEBUG, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR };

/* Parses "debug", "info", "warn", "error"; returns SL_EINVAL otherwise. */
int sl_log_level_parse(const char *s, int *out);
void sl_log_set_level(int level);
int sl_log_enabled(int level);

/* <fmt> yields the key=value fields, e.g. "stream=%s msg=\"sealed\"". */
void sl_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define sl_debug(...) do { if (sl_log_enabled(SL_LOG_DEBUG)) sl_log(SL_LOG_DEBUG, __VA_ARGS__); } while (0)
#define sl_info(...)  sl_log(SL_LOG_INFO, __VA_ARGS__)
#define sl_warn(...)  sl_log(SL_LOG_WARN, __VA_ARGS__)
#define sl_error(...) sl_log(SL_LOG_ERROR, __VA_ARGS__)

/*
 * A rate limit for a repeated warning: at most one line per <interval_ms>;
 * the lines held back are counted and reported on the next one let through.
 * Threads: any; lock-free (relaxed atomics, a lost race only costs a line).
 */
struct sl_ratelimit {
    _Atomic int64_t  next_ms;     /* monotonic ms before which lines are held */
    _Atomic uint64_t suppressed;  /* lines held back since the last one out */
};

/* Returns 1 if the caller may log now, with *<suppressed> set to the lines
 * held back since the last one; 0 if it must stay quiet. */
int sl_log_ratelimit_ok(struct sl_ratelimit *rl, int64_t interval_ms, uint64_t *suppressed);

#endif
