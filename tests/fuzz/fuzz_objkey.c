/*
 * fuzz_objkey.c - key templates (objkey.h): sl_objkey_check on any text,
 * then, for what it accepts, sl_objkey_format at a time taken from the
 * input, into a buffer exactly as large as it is told (ASan sees a byte
 * past it). What was accepted must format within SL_KEY_MAX unless
 * partition values (not counted at load) make it too long.
 */
#include "fuzz.h"

#include "objkey.h"
#include "sluice/err.h"

static const char *value(void *arg, int lambda, const char *name, size_t len)
{
    (void)arg, (void)lambda, (void)name;
    return len % 2 ? "v" : "value-2";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[256], *tpl, *key;
    int64_t when = 0;
    int is_error;

    if (size < 9 || size > 2048)
        return 0;
    memcpy(&when, data, 8);
    when %= 253402300800000LL;                       /* up to year 9999, either side */
    is_error = data[8] & 1;
    if (!(tpl = fuzz_cstr(data + 9, size - 9)))
        return 0;
    if (sl_objkey_check(tpl, is_error, "a,bb,key", 1, why, sizeof(why)) == SL_OK) {
        struct sl_objkey k = { .prefix = tpl, .stream = "stream-name", .version = 7,
                               .wall_ms = when < 0 ? -when : when,
                               .uuid = "a9fa96af-e4e4-409f-bac3-1f804714faaa", .ext = ".gz",
                               .error_type = is_error ? "partitioning-failed" : NULL,
                               .partition = value };
        size_t len = (size_t)(data[8] >> 1) * 16 + 1;     /* 1 to 2033 bytes */
        if ((key = malloc(len))) {
            int rc = sl_objkey_format(&k, key, len);
            FUZZ_ASSERT(rc == SL_OK || rc == SL_ETOOBIG || rc == SL_EINVAL, "rc %d", rc);
            FUZZ_ASSERT(rc != SL_OK || (strlen(key) < len && key[0] != '/'), "key %s", key);
            free(key);
        }
        if ((key = malloc(SL_KEY_MAX))) {
            int rc = sl_objkey_format(&k, key, SL_KEY_MAX);
            FUZZ_ASSERT(rc != SL_ETOOBIG || strstr(tpl, "partitionKey"),
                        "accepted '%s' does not fit a key", tpl);
            free(key);
        }
    }
    free(tpl);
    return 0;
}
