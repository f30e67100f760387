/* helpers.c - what several unit suites need (suites.h declares them). */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink.h"
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

const char *ut_check_sink_keys(const char *sink, const char *first, ...)
{
    const struct sl_sink_ops *o = sl_sink_find(sink);
    struct sl_conf_marks marks = { 0 };
    char why[200], kv[1100];
    va_list ap;

    ck_assert_ptr_nonnull(o);
    struct sl_conf_check chk = { .keys = o->keys, .marks = &marks, .report = report };
    void *conf = calloc(1, o->conf_size);
    ck_assert_ptr_nonnull(conf);
    sl_conf_key_defaults(o->keys, conf);
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *)) {
        snprintf(kv, sizeof(kv), "%s", s);
        char *eq = strchr(kv, '=');
        ck_assert_ptr_nonnull(eq);
        *eq = '\0';
        int i = sl_conf_key_index(o->keys, kv);
        ck_assert_msg(i >= 0, "%s is no key", kv);
        ck_assert_int_eq(sl_conf_key_set_named(&o->keys[i], conf, kv, eq + 1, why,
                                               sizeof(why)), SL_OK);
        marks.seen |= 1ULL << i;
    }
    va_end(ap);
    reports[0] = '\0';
    if (o->check)
        o->check(conf, &chk);
    free(conf);
    return reports;
}
