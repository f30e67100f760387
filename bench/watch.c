/*
 * watch.c - see loadgen.h: freshness, sent to visible.
 *
 * Senders store each record's send time (monotonic microseconds, one
 * relaxed atomic per record). The watcher thread walks the directory
 * every few milliseconds; an object it has not seen before is read at
 * once, and each record in it counts now - sent into a histogram of
 * milliseconds. A sink renames a finished object into place, so an
 * object seen is whole. The walk's period bounds the error (5 ms).
 */
#include "loadgen.h"

#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gen.h"

#define PERIOD_MS 5
#define HIST_MS 600000               /* ten minutes; later is counted at the end */

struct lg_watch {
    const char *dir;                 /* borrowed */
    uint64_t seed, first, n;
    _Atomic int64_t *sent_us;        /* per record; any thread writes, the watcher reads */
    _Atomic int stop;
    _Atomic uint64_t found;          /* records seen; the watcher writes */
    pthread_t thread;
    /* The watcher's alone until joined: */
    uint64_t *paths;                 /* open addressing: hashes of objects seen */
    size_t npaths, cap;
    uint32_t *hist;                  /* [ms] records that took that long */
    int64_t now_us;                  /* when the current walk began */
    int scanning;                    /* 1: the first walk, which only notes objects */
};

static int64_t mono_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* Returns 1 if <path> is new, and remembers it. */
static int first_sight(struct lg_watch *w, const char *path)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = path; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h |= 1;                          /* 0 marks a free slot */
    if (w->npaths * 2 >= w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 1024;
        uint64_t *t = calloc(cap, sizeof(*t));
        if (!t)
            return 0;
        for (size_t i = 0; i < w->cap; i++)
            if (w->paths[i]) {
                size_t k = w->paths[i] & (cap - 1);
                while (t[k])
                    k = (k + 1) & (cap - 1);
                t[k] = w->paths[i];
            }
        free(w->paths);
        w->paths = t;
        w->cap = cap;
    }
    size_t k = h & (w->cap - 1);
    for (; w->paths[k]; k = (k + 1) & (w->cap - 1))
        if (w->paths[k] == h)
            return 0;
    w->paths[k] = h;
    w->npaths++;
    return 1;
}

static void one_record(void *arg, const char *p, size_t n)
{
    struct lg_watch *w = arg;
    uint64_t seq;

    if (lg_record_seq(p, n, &seq) != 0 || seq < w->first || seq - w->first >= w->n)
        return;
    int64_t sent = atomic_load_explicit(&w->sent_us[seq - w->first], memory_order_relaxed);
    if (!sent)
        return;
    int64_t ms = (w->now_us - sent) / 1000;
    w->hist[ms < 0 ? 0 : ms < HIST_MS ? ms : HIST_MS]++;
    atomic_fetch_add_explicit(&w->found, 1, memory_order_relaxed);
}

static __thread struct lg_watch *watching;

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    struct lg_watch *w = watching;

    (void)st;
    if (type == FTW_F && path[ftw->base] != '.' && first_sight(w, path) && !w->scanning)
        lg_read_file(path, one_record, w);
    return 0;
}

static void *run(void *arg)
{
    struct lg_watch *w = arg;
    struct timespec period = { 0, PERIOD_MS * 1000000L };

    watching = w;
    w->scanning = 1;
    nftw(w->dir, visit, 32, FTW_PHYS);
    w->scanning = 0;
    while (!atomic_load(&w->stop)) {
        w->now_us = mono_us();
        nftw(w->dir, visit, 32, FTW_PHYS);
        nanosleep(&period, NULL);
    }
    return NULL;
}

struct lg_watch *lg_watch_start(const char *dir, uint64_t seed, uint64_t first, uint64_t n)
{
    struct lg_watch *w = calloc(1, sizeof(*w));

    if (!w)
        return NULL;
    *w = (struct lg_watch){ .dir = dir, .seed = seed, .first = first, .n = n };
    w->sent_us = calloc(n ? n : 1, sizeof(*w->sent_us));
    w->hist = calloc(HIST_MS + 1, sizeof(*w->hist));
    if (!w->sent_us || !w->hist || pthread_create(&w->thread, NULL, run, w) != 0) {
        free((void *)w->sent_us);
        free(w->hist);
        free(w);
        return NULL;
    }
    return w;
}

void lg_watch_sent(struct lg_watch *w, uint64_t first, uint64_t n)
{
    int64_t now = mono_us();
    for (uint64_t i = first - w->first; i < first - w->first + n; i++)
        atomic_store_explicit(&w->sent_us[i], now, memory_order_relaxed);
}

static double percentile(const uint32_t *hist, uint64_t total, double q)
{
    uint64_t want = (uint64_t)((double)total * q), seen = 0;
    for (size_t ms = 0; ms <= HIST_MS; ms++)
        if ((seen += hist[ms]) > want || seen == total)
            return (double)ms / 1000.0;
    return (double)HIST_MS / 1000.0;
}

int lg_watch_finish(struct lg_watch *w, double timeout_s, struct lg_latency *out)
{
    int64_t end = mono_us() + (int64_t)(timeout_s * 1e6);
    struct timespec period = { 0, 10 * 1000000L };

    while (atomic_load(&w->found) < w->n && mono_us() < end)
        nanosleep(&period, NULL);
    atomic_store(&w->stop, 1);
    pthread_join(w->thread, NULL);
    out->records = atomic_load(&w->found);
    out->p50_s = percentile(w->hist, out->records, 0.50);
    out->p99_s = percentile(w->hist, out->records, 0.99);
    out->max_s = percentile(w->hist, out->records, 1.0);
    int rc = out->records >= w->n ? 0 : -1;
    free(w->paths);
    free(w->hist);
    free((void *)w->sent_us);
    free(w);
    return rc;
}
