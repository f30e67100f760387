/*
 * fuzz_es_items.c - the Elasticsearch sink's reading of a _bulk answer
 * (sink_es.h), which comes from outside: the first byte says how many
 * documents were sent (1-16) and whether with create; the rest is the
 * answer. No crash; on SL_OK every document has a verdict and a kind that
 * agree, and each refusal's error text lies inside the error buffer as
 * "TYPE\0MESSAGE\0".
 */
#include "fuzz.h"

#include "sink.h"
#include "sink_es.h"
#include "sluice/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t res[16], kind[16];
    uint32_t erroff[16];
    struct sl_buf errs;
    char why[256];

    if (size < 1 || size > (1 << 16))
        return 0;
    size_t n = 1 + (data[0] & 15);
    int create = data[0] >> 7;
    memset(res, 0xee, sizeof(res));
    memset(erroff, 0xff, sizeof(erroff));
    sl_buf_init(&errs, 1 << 20);
    int rc = sl__sink_es_items((const char *)data + 1, size - 1, create, n, res, kind, why,
                               sizeof(why), &errs, erroff);
    FUZZ_ASSERT(memchr(why, '\0', sizeof(why)) != NULL, "why is not a string");
    for (size_t i = 0; rc == SL_OK && i < n; i++) {
        FUZZ_ASSERT(res[i] <= SL_SINK_FAIL && kind[i] < SL_ES_NITEMS, "doc %zu unset", i);
        FUZZ_ASSERT((res[i] == SL_SINK_OK) == (kind[i] == SL_ES_CREATED ||
                                               kind[i] == SL_ES_EXISTS), "doc %zu", i);
        FUZZ_ASSERT(kind[i] != SL_ES_EXISTS || create, "exists without create");
        if (erroff[i] == UINT32_MAX)
            continue;
        FUZZ_ASSERT(res[i] != SL_SINK_OK && erroff[i] < errs.len, "doc %zu's error", i);
        const char *code = (const char *)errs.data + erroff[i];
        size_t left = errs.len - erroff[i], a = strnlen(code, left);
        FUZZ_ASSERT(a < left && strnlen(code + a + 1, left - a - 1) < left - a - 1,
                    "doc %zu's error is not two strings", i);
    }
    sl_buf_destroy(&errs);
    return 0;
}
