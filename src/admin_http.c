/* admin_http.c - see admin_http.h. */
#include "admin_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "sluice/err.h"

#define PAGE_MAX ((size_t)64 << 20)

struct sl_admin {
    struct MHD_Daemon *mhd;
    const struct sl_admin_ops *ops;
    void *arg;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
                             const char *type, const void *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result rc;

    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version,
                              const char *upload, size_t *upload_size, void **state)
{
    struct sl_admin *a = cls;
    struct sl_buf body;
    enum MHD_Result rc;
    unsigned status = 200;
    const char *type = "text/plain; charset=utf-8";

    (void)version, (void)upload, (void)upload_size, (void)state;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(conn, 405, type, "method not allowed\n", 19);
    sl_buf_init(&body, PAGE_MAX);
    if (strcmp(url, "/metrics") == 0) {
        type = "text/plain; version=0.0.4; charset=utf-8";
        if (a->ops->metrics(a->arg, &body) != SL_OK)
            status = 500;
    } else if (strcmp(url, "/healthz") == 0) {
        sl_buf_append(&body, "ok\n", 3);
    } else if (strcmp(url, "/readyz") == 0) {
        if (a->ops->ready(a->arg, &body))
            sl_buf_append(&body, "ready\n", 6);
        else
            status = 503;
    } else {
        status = 404;
        sl_buf_append(&body, "not found: try /metrics, /healthz or /readyz\n", 45);
    }
    rc = reply(conn, status, type, body.data ? (const char *)body.data : "", body.len);
    sl_buf_destroy(&body);
    return rc;
}

struct sl_admin *sl_admin_http_start(const struct sl_addr *addr, const struct sl_admin_ops *ops,
                                void *arg, char *err, size_t errlen)
{
    struct sl_admin *a = calloc(1, sizeof(*a));

    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->ops = ops;
    a->arg = arg;
    a->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                              (addr->ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
                              0, NULL, NULL,
                              handle, a,
                              MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&addr->ss,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)SL_ADMIN_MAX_CONNECTIONS,
                              MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)SL_ADMIN_MAX_PER_IP,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SL_ADMIN_TIMEOUT_S,
                              MHD_OPTION_END);
    if (!a->mhd) {
        snprintf(err, errlen, "%s", strerror(errno));
        free(a);
        return NULL;
    }
    return a;
}

void sl_admin_http_stop(struct sl_admin *a)
{
    if (!a)
        return;
    MHD_stop_daemon(a->mhd);
    free(a);
}
