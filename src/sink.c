/* sink.c - the registry of built-in sinks. */
#include "sink.h"

#include <stdio.h>
#include <string.h>

#include "sluice/err.h"

static const struct sl_sink_ops *const builtin[] = {
    &sl_sink_file,
    &sl_sink_s3,
    NULL,
};

const struct sl_sink_ops *sl_sink_find(const char *name)
{
    for (int i = 0; builtin[i]; i++)
        if (strcmp(builtin[i]->name, name) == 0)
            return builtin[i];
    return NULL;
}

int sl_sink_open(struct sl_sink *s, const struct sl_stream_conf *conf, char *err,
                 size_t errlen)
{
    const struct sl_sink_ops *ops = sl_sink_find(conf->sink);

    s->ops = NULL;
    s->ctx = NULL;
    if (!ops || !ops->create || !ops->deliver || !ops->destroy) {
        snprintf(err, errlen, "no usable sink called '%s'", conf->sink);
        return SL_EINVAL;
    }
    if (ops->create(conf, &s->ctx, err, errlen) != SL_OK)
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
