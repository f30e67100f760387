/*
 * daemon.h - struct sl_daemon, the one top-level context. Only main.c
 * builds it; everything else is handed the parts it needs.
 *
 * Threads: the main thread owns every field and is the only writer. The
 * metrics thread reads streams (whose parts say how they are shared) and
 * the atomics below.
 */
#ifndef SL_DAEMON_H
#define SL_DAEMON_H

#include <stdatomic.h>
#include <stdint.h>

#include "admin_http.h"
#include "config.h"
#include "delivery.h"
#include "log.h"
#include "source.h"
#include "stream.h"

struct sl_daemon {
    struct sl_config *cfg;          /* current config (one reference) */
    unsigned version;               /* config version: 1, +1 per good reload */
    struct sl_stream **streams;     /* owned; same order as cfg->streams at start */
    size_t nstreams;
    struct sl_delivery *delivery;   /* owned */
    struct sl_admin *admin;         /* owned */
    void *sources[SL_SOURCES_MAX];  /* each source's instance, by registry slot
                                     * (sl_source_at); NULL: not open */
    struct sl_source_stream *sstreams;  /* owned; SL_SOURCES_MAX rows of nstreams:
                                         * what each source sees of the streams */
    struct sl_config *sources_cfg;  /* the config the sources opened with: their
                                     * keys live in it (one reference) */
    _Atomic int sources_up;         /* every source started */
    _Atomic uint64_t reloads_ok, reloads_failed;
    double start_time_s;
    struct sl_ratelimit wd_rl;      /* "batcher stuck" log lines */
    uint64_t held_peak, held_last;  /* main thread (tidy_memory): the most the
                                     * streams held since the heap was last trimmed,
                                     * and what they held at the last tick */
};

#endif
