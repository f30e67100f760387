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
#include "source_http.h"
#include "source_tcp.h"
#include "log.h"
#include "stream.h"

struct sl_daemon {
    struct sl_config *cfg;          /* current config (one reference) */
    unsigned version;               /* config version: 1, +1 per good reload */
    struct sl_stream **streams;     /* owned; same order as cfg->streams at start */
    size_t nstreams;
    struct sl_delivery *delivery;   /* owned */
    struct sl_tcp *tcp;             /* owned */
    struct sl_admin *admin;         /* owned */
    struct sl_http *http;           /* owned; NULL without http_listen */
    struct sl_http_stream *hstreams;/* owned; what the HTTP source sees */
    struct sl_http_stats http_stats;/* written by the HTTP threads (atomics) */
    int http_enabled;               /* set before the metrics thread starts */
    struct sl_config *http_cfg;     /* the config the HTTP listener started with */
    _Atomic int tcp_up;             /* listeners started */
    _Atomic uint64_t reloads_ok, reloads_failed;
    double start_time_s;
    struct sl_ratelimit wd_rl;      /* "batcher stuck" log lines */
};

#endif
