/* helpers.c - what several unit suites need (suites.h declares them). */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sink.h"
#include "source.h"
#include "sluice/err.h"
#include "suites.h"

long ut_slurp(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f)
        return -1;
    n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
    return (long)n;
}

void ut_rm_rf(const char *dir)
{
    char cmd[200];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* A check's reports, one "KEY: MESSAGE" a line. */
static char reports[4096];

static void report(void *arg, int line, const char *key, const char *msg)
{
    size_t n = strlen(reports);

    (void)arg, (void)line;
    snprintf(reports + n, sizeof(reports) - n, "%s: %s\n", key, msg);
}

/* A new struct of <size> bytes for <keys>: their defaults, then the
 * "KEY=VALUE" strings from <first> on (NULL-ended), marked in <m>. */
static void *conf_from(const struct sl_conf_key *keys, size_t size, struct sl_conf_marks *m,
                       const char *first, va_list ap)
{
    char why[200], kv[1100];
    void *conf = calloc(1, size);

    ck_assert_ptr_nonnull(conf);
    sl_conf_key_defaults(keys, conf);
    for (const char *s = first; s; s = va_arg(ap, const char *)) {
        snprintf(kv, sizeof(kv), "%s", s);
        char *eq = strchr(kv, '=');
        ck_assert_ptr_nonnull(eq);
        *eq = '\0';
        int i = sl_conf_key_index(keys, kv);
        ck_assert_msg(i >= 0, "%s is no key", kv);
        ck_assert_int_eq(sl_conf_key_set_named(&keys[i], conf, kv, eq + 1, why, sizeof(why)),
                         SL_OK);
        m->seen |= 1ULL << i;
    }
    return conf;
}

const char *ut_check_sink_keys(const char *sink, const char *first, ...)
{
    const struct sl_sink_ops *o = sl_sink_find(sink);
    struct sl_conf_marks marks = { 0 };
    va_list ap;

    ck_assert_ptr_nonnull(o);
    struct sl_conf_check chk = { .keys = o->keys, .marks = &marks, .report = report };
    va_start(ap, first);
    void *conf = conf_from(o->keys, o->conf_size, &marks, first, ap);
    va_end(ap);
    reports[0] = '\0';
    if (o->check)
        o->check(conf, &chk);
    free(conf);
    return reports;
}

const char *ut_check_source_keys(const char *source, const char *first, ...)
{
    const struct sl_source_ops *o = sl_source_find(source);
    struct sl_conf_marks marks = { 0 };
    struct sl_source_peers none = { 0 };
    va_list ap;

    ck_assert_ptr_nonnull(o);
    struct sl_conf_check chk = { .keys = o->stream_keys, .marks = &marks, .report = report };
    va_start(ap, first);
    void *conf = conf_from(o->stream_keys, o->stream_size, &marks, first, ap);
    va_end(ap);
    reports[0] = '\0';
    if (o->check_stream)
        o->check_stream(conf, &none, &chk);
    if (o->free_stream)
        o->free_stream(conf);
    free(conf);
    return reports;
}

int ut_free_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}
