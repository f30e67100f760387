/* sink.c - the registry of built-in sinks: one line each. */
#include "sink.h"

#include <stdio.h>
#include <string.h>

#include "sluice/err.h"

extern const struct sl_sink_ops sl_sink_file, sl_sink_s3, sl_sink_null;

static const struct sl_sink_ops *const builtin[] = {
    &sl_sink_file,
    &sl_sink_s3,
    &sl_sink_null,
    NULL,
};

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

void sl_sink_names(struct sl_buf *out)
{
    for (int i = 0; builtin[i]; i++)
        sl_buf_printf(out, " %s", builtin[i]->name);
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
