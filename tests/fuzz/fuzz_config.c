/*
 * fuzz_config.c - the INI config loader (sl_config_load) on any file:
 * never a crash or a hang, and every error it prints names the file
 * ("FILE:LINE: ..." or "FILE: ..."). A loaded config is freed again.
 *
 * Host names in addresses are looked up numerically only (getaddrinfo is
 * wrapped below): a fuzzed name must not wait on DNS.
 */
#include "fuzz.h"

#include <dlfcn.h>
#include <netdb.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "sluice/err.h"

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    static gai_fn real;
    struct addrinfo h = { 0 };

    if (!real)
        real = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    if (hints)
        h = *hints;
    h.ai_flags |= AI_NUMERICHOST;
    return real ? real(node, service, &h, res) : EAI_FAIL;
}

static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    snprintf(path, sizeof(path), "/dev/shm/sluice-fuzz-config-%ld.conf", (long)getpid());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_config *c = NULL;
    struct sl_buf errs;
    size_t plen = strlen(path);

    if (size > 1 << 16 || fuzz_write_file(path, data, size) != 0)
        return 0;
    sl_buf_init(&errs, 1 << 20);
    if (sl_config_load(path, &c, &errs) == SL_OK) {
        FUZZ_ASSERT(c, "no config");
        sl_config_unref(c);
    } else {
        FUZZ_ASSERT(errs.len > 0, "refused without a word");
    }
    for (size_t i = 0; i < errs.len;) {          /* each line starts with the path */
        const uint8_t *nl = memchr(errs.data + i, '\n', errs.len - i);
        size_t n = nl ? (size_t)(nl - errs.data) - i : errs.len - i;
        FUZZ_ASSERT(n > plen && memcmp(errs.data + i, path, plen) == 0 &&
                    errs.data[i + plen] == ':', "error line without FILE: %.*s", (int)n,
                    (const char *)errs.data + i);
        i += n + 1;
    }
    sl_buf_destroy(&errs);
    unlink(path);
    return 0;
}
