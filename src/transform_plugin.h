/*
 * transform_plugin.h - `type = plugin`: a transform in a shared object, loaded
 * with dlopen(3). It exports SL_TRANSFORM_SYMBOL, a const struct
 * sl_transform_ops whose .abi must equal the SL_TRANSFORM_ABI sluice was
 * built with (sluice/transform.h); anything else is refused with a message,
 * never called. examples/transform_upper.c is the template.
 *
 * Threads: main thread (load, and unload unless the last batch of a
 * generation settles on a worker).
 */
#ifndef SL_TRANSFORM_PLUGIN_H
#define SL_TRANSFORM_PLUGIN_H

#include <stddef.h>

#include "sluice/transform.h"

/* Loads <path>: *<ops> and the handle *<dl> on SL_OK, else SL_EINVAL with
 * "path: why" in <err>. */
int sl_transform_plugin_load(const char *path, const struct sl_transform_ops **ops, void **dl,
                      char *err, size_t errlen);
/* Closes a handle from sl_transform_plugin_load (NULL: nothing). */
void sl_transform_plugin_unload(void *dl);

#endif
