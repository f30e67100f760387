/* source.c - the registry of built-in sources: one line each (source.h).
 * Order matters: sources open and start in this order, stop in reverse. */
#include "source.h"

#include <string.h>

extern const struct sl_source_ops sl_source_tcp, sl_source_http, sl_source_kafka;

static const struct sl_source_ops *const builtin[] = {
    &sl_source_tcp,
    &sl_source_http,
    &sl_source_kafka,
    NULL,
};

_Static_assert(sizeof(builtin) / sizeof(builtin[0]) <= SL_SOURCES_MAX + 1,
               "raise SL_SOURCES_MAX");

const struct sl_source_ops *sl_source_at(size_t i)
{
    return i < sizeof(builtin) / sizeof(builtin[0]) ? builtin[i] : NULL;
}

const struct sl_source_ops *sl_source_find(const char *name)
{
    for (int i = 0; builtin[i]; i++)
        if (strcmp(builtin[i]->name, name) == 0)
            return builtin[i];
    return NULL;
}

int sl_source_same(const struct sl_conf_key *restart, const void *a, const void *b,
                   const char **which)
{
    return !restart || sl_conf_key_same(restart, a, b, which);
}
