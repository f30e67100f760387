/*
 * fuzz_json_check.c - the allocation-free JSON checker against jansson
 * (json_check.h): when sl_json_check says "surely JSON", jansson, called
 * as the JSON transforms call it (any value, NUL allowed), must accept it,
 * and as an object when one was asked for. "Not sure" (0) promises
 * nothing. Also sl_json_check_append_str: its output is always valid JSON,
 * whatever bytes it was given.
 */
#include "fuzz.h"

#include <jansson.h>

#include "buf.h"
#include "json_check.h"
#include "sluice/err.h"

static void check_string(const uint8_t *data, size_t size)
{
    struct sl_buf b;
    json_t *j;

    sl_buf_init(&b, 8 * size + 16);
    if (sl_buf_append(&b, "\"", 1) == SL_OK &&
        sl_json_check_append_str(&b, (const char *)data, size) == SL_OK &&
        sl_buf_append(&b, "\"", 1) == SL_OK) {
        j = json_loadb((const char *)b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        FUZZ_ASSERT(j && json_is_string(j), "sl_json_check_append_str gave invalid JSON");
        json_decref(j);
    }
    sl_buf_destroy(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t e;

    if (size > 1 << 16)
        return 0;
    for (int want_object = 0; want_object < 2; want_object++) {
        if (!sl_json_check(data, size, want_object))
            continue;
        json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
        FUZZ_ASSERT(j, "sl_json_check accepted what jansson refuses: %s (at %d)", e.text,
                    e.position);
        FUZZ_ASSERT(!want_object || json_is_object(j), "accepted a non-object as an object");
        json_decref(j);
    }
    check_string(data, size);
    return 0;
}
