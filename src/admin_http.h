/*
 * admin_http.h - the metrics listener: GET /metrics (Prometheus text),
 * GET /healthz (the process answers), GET /readyz (listeners up, sinks
 * reachable). libmicrohttpd runs it on its own thread.
 *
 * Threads: the callbacks run on libmicrohttpd's thread; they must only read
 * shared state in the ways its owners allow (atomics, stream locks).
 */
#ifndef SL_ADMIN_HTTP_H
#define SL_ADMIN_HTTP_H

#include <stddef.h>

#include "addr.h"
#include "buf.h"

struct sl_admin_ops {
    /* Appends the /metrics page. */
    int (*metrics)(void *arg, struct sl_buf *out);
    /* Returns 1 if ready; else 0 with the reasons appended to <why>. */
    int (*ready)(void *arg, struct sl_buf *why);
};

/* Connections the metrics listener takes: in all, from one address (more
 * are closed as they open, so a flood from one peer leaves room for the
 * scraper and health checks), and the seconds an idle one is kept. */
#define SL_ADMIN_MAX_CONNECTIONS 512
#define SL_ADMIN_MAX_PER_IP 32
#define SL_ADMIN_TIMEOUT_S 5

struct sl_admin;

/* Starts serving on <addr>. Returns NULL with <err> set on failure. */
struct sl_admin *sl_admin_http_start(const struct sl_addr *addr, const struct sl_admin_ops *ops,
                                void *arg, char *err, size_t errlen);
void sl_admin_http_stop(struct sl_admin *a);

#endif
