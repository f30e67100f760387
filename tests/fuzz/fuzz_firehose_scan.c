/*
 * fuzz_firehose_scan.c - the PutRecord/PutRecordBatch scanner
 * (firehose_scan.h) against jansson. When the scanner reads a body and
 * every span it found is plain (printable ASCII, no backslash: what its
 * caller accepts, as the stream-name and base64 alphabets are), jansson
 * must read the same body as an object with the same DeliveryStreamName
 * and the same Data strings, in order. Every span lies inside the body.
 */
#include "fuzz.h"

#include <jansson.h>

#include "firehose_api.h"
#include "firehose_scan.h"

static int plain(const struct sl_fh_span *s)
{
    for (size_t i = 0; i < s->len; i++)
        if (s->p[i] < 0x20 || s->p[i] > 0x7e || s->p[i] == '\\' || s->p[i] == '"')
            return 0;
    return 1;
}

static int same(const struct sl_fh_span *s, json_t *j)
{
    return json_is_string(j) && json_string_length(j) == s->len &&
           memcmp(json_string_value(j), s->p, s->len) == 0;
}

static void agree(const char *body, size_t len, int batch, const struct sl_fh_span *name,
                  const struct sl_fh_span *recs, size_t n)
{
    json_error_t e;
    json_t *j = json_loadb(body, len, 0, &e), *r;

    FUZZ_ASSERT(j && json_is_object(j), "scanner read what jansson refuses: %s", e.text);
    FUZZ_ASSERT(same(name, json_object_get(j, "DeliveryStreamName")), "stream name differs");
    if (batch) {
        json_t *a = json_object_get(j, "Records");
        FUZZ_ASSERT(json_is_array(a) && json_array_size(a) == n, "%zu records", n);
        for (size_t i = 0; i < n; i++)
            FUZZ_ASSERT(same(&recs[i], json_object_get(json_array_get(a, i), "Data")),
                        "record %zu differs", i);
    } else {
        r = json_object_get(j, "Record");
        FUZZ_ASSERT(n == 1 && same(&recs[0], json_object_get(r, "Data")), "the record differs");
    }
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sl_fh_span recs[SL_FH_MAX_BATCH];
    struct sl_fh_span name;
    const char *body = (const char *)data + 1;
    size_t n = 0, len;
    int batch;

    if (size < 1 || size > 1 << 20)
        return 0;
    batch = data[0] & 1;
    len = size - 1;
    if (!sl_firehose_scan_put(body, len, batch, &name, recs, SL_FH_MAX_BATCH, &n))
        return 0;
    FUZZ_ASSERT(n <= SL_FH_MAX_BATCH && (batch || n == 1), "n = %zu", n);
    int clean = plain(&name);
    for (size_t i = 0; i < n; i++) {
        FUZZ_ASSERT(recs[i].p >= body && recs[i].p + recs[i].len <= body + len, "span %zu", i);
        clean &= plain(&recs[i]);
    }
    FUZZ_ASSERT(name.p >= body && name.p + name.len <= body + len, "name span");
    if (clean)
        agree(body, len, batch, &name, recs, n);
    return 0;
}
