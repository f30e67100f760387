/* sink.c - the registry of built-in sinks: one entry each. */
#include "sink.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "sluice/err.h"

/* The built-in sinks, one X(NAME) each: `sink = NAME` is sl_sink_NAME,
 * defined in src/sink_NAME.c. Adding a sink is adding it here. */
#define BUILTIN_SINKS(X) X(file) X(s3) X(null) X(elasticsearch) X(postgresql) X(redshift) \
                          X(kafka)

#define DECLARE(name) extern const struct sl_sink_ops sl_sink_##name;
BUILTIN_SINKS(DECLARE)
#define OPS(name) &sl_sink_##name,
#define NAME(name) #name,

static const struct sl_sink_ops *const builtin[] = { BUILTIN_SINKS(OPS) NULL };
const char *const sl_sink_enum[] = { BUILTIN_SINKS(NAME) NULL };

_Static_assert(sizeof(builtin) / sizeof(builtin[0]) <= SL_SINK_MAX + 1, "raise SL_SINK_MAX");

const struct sl_sink_ops *sl_sink_find(const char *name)
{
    for (int i = 0; builtin[i]; i++)
        if (strcmp(builtin[i]->name, name) == 0)
            return builtin[i];
    return NULL;
}

const struct sl_sink_ops *sl_sink_by_key(const char *key)
{
    for (int i = 0; builtin[i]; i++)
        if (strncmp(key, builtin[i]->prefix, strlen(builtin[i]->prefix)) == 0)
            return builtin[i];
    return NULL;
}

const struct sl_sink_ops *sl_sink_at(size_t i)
{
    return i < sizeof(builtin) / sizeof(builtin[0]) ? builtin[i] : NULL;
}

/* The stage's keys start here in a conf: past the owner's, aligned. */
static size_t stage_offset(const struct sl_sink_ops *ops)
{
    size_t a = _Alignof(max_align_t);

    return (ops->conf_size + a - 1) / a * a;
}

const struct sl_sink_ops *sl_sink_stage(const struct sl_sink_ops *ops)
{
    const struct sl_sink_ops *st = ops->stage ? sl_sink_find(ops->stage) : NULL;

    return st && st != ops && !st->stage ? st : NULL;  /* one level, never itself */
}

size_t sl_sink_conf_size(const struct sl_sink_ops *ops)
{
    const struct sl_sink_ops *st = sl_sink_stage(ops);

    return st ? stage_offset(ops) + st->conf_size : ops->conf_size;
}

void *sl_sink_stage_conf(const struct sl_sink_ops *ops, void *conf)
{
    return (char *)conf + stage_offset(ops);
}

int sl_sink_open_stage(struct sl_sink *s, const struct sl_sink_ops *ops, const char *stream,
                       const void *conf, char *err, size_t errlen)
{
    const struct sl_sink_ops *st = sl_sink_stage(ops);

    if (!st) {
        s->ops = NULL;
        s->ctx = NULL;
        snprintf(err, errlen, "sink %s has no stage sink", ops->name);
        return SL_EINVAL;
    }
    return sl_sink_open(s, st, stream, sl_sink_stage_conf(ops, (void *)conf), err, errlen);
}

int sl_sink_open(struct sl_sink *s, const struct sl_sink_ops *ops, const char *stream,
                 const void *conf, char *err, size_t errlen)
{
    s->ops = NULL;
    s->ctx = NULL;
    if (!ops || !ops->create || !ops->deliver || !ops->destroy) {
        snprintf(err, errlen, "no usable sink called '%s'", ops ? ops->name : "?");
        return SL_EINVAL;
    }
    if (ops->create(stream, conf, &s->ctx, err, errlen) != SL_OK)
        return SL_EINVAL;
    s->ops = ops;
    return SL_OK;
}

void sl_sink_close(struct sl_sink *s)
{
    if (s->ops)
        s->ops->destroy(s->ctx);
    s->ops = NULL;
    s->ctx = NULL;
}
