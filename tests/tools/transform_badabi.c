/* transform_badabi.c - a plugin built for another transform ABI: sluice
 * must refuse it at config load, and never call it. */
#include <stdlib.h>

#include <sluice/transform.h>

static int never(void)
{
    abort();
}

const struct sl_transform_ops sluice_transform = {
    .abi = SL_TRANSFORM_ABI + 1,
    .size = sizeof(struct sl_transform_ops),
    .name = "badabi",
    .create = (void *)never,
    .process = (void *)never,
    .destroy = (void *)never,
};
