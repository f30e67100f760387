/* transform_plugin.c - see transform_plugin.h. */
#include "transform_plugin.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>

#include "sluice/err.h"

int sl_transform_plugin_load(const char *path, const struct sl_transform_ops **ops, void **dl,
                      char *err, size_t errlen)
{
    const struct sl_transform_ops *o;
    void *h;

    *ops = NULL;
    *dl = NULL;
    if (!path[0]) {
        snprintf(err, errlen, "path: required for type = plugin");
        return SL_EINVAL;
    }
    /* RTLD_LOCAL: two plugins may use the same symbol names */
    if (!(h = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
        snprintf(err, errlen, "path: cannot load: %s", dlerror());
        return SL_EINVAL;
    }
    if (!(o = dlsym(h, SL_TRANSFORM_SYMBOL))) {
        snprintf(err, errlen, "path: %s exports no '%s' (see sluice/transform.h)", path,
                 SL_TRANSFORM_SYMBOL);
        dlclose(h);
        return SL_EINVAL;
    }
    if (o->abi != SL_TRANSFORM_ABI) {
        snprintf(err, errlen, "path: %s was built for transform ABI %u; this sluice speaks "
                 "%u: rebuild it against this sluice's sluice/transform.h", path,
                 (unsigned)o->abi, (unsigned)SL_TRANSFORM_ABI);
        dlclose(h);
        return SL_EINVAL;
    }
    if (o->size < offsetof(struct sl_transform_ops, destroy) + sizeof(o->destroy) ||
        !o->create || !o->process || !o->destroy) {
        snprintf(err, errlen, "path: %s leaves create, process or destroy unset", path);
        dlclose(h);
        return SL_EINVAL;
    }
    *ops = o;
    *dl = h;
    return SL_OK;
}

void sl_transform_plugin_unload(void *dl)
{
    if (dl)
        dlclose(dl);
}
