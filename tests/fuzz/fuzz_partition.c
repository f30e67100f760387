/*
 * fuzz_partition.c - partition-key expressions (partition.h): the
 * partition_keys text ("NAME=.json.path, ...") through sl_partition_parse,
 * then a prefix's !{partitionKeyFromLambda:KEY} through
 * sl_partition_add_lambda. What is accepted stays within the spec's
 * bounds: at most SL_PART_KEYS keys, names and paths NUL-terminated in
 * their arrays, every path starting with '.'. The lines after the
 * first two are records, split by sl_partition_batch (at most 4 key
 * sets): every record lands in exactly one of the parts, the failed or the
 * over part, and every part has a value for each of its keys.
 */
#include "fuzz.h"

#include "batch.h"
#include "chunk.h"
#include "partition.h"
#include "sluice/err.h"

static void check_spec(const struct sl_partition_spec *spec)
{
    FUZZ_ASSERT(spec->n <= SL_PART_KEYS, "%u keys", spec->n);
    for (unsigned k = 0; k < spec->n; k++) {
        FUZZ_ASSERT(memchr(spec->name[k], '\0', sizeof(spec->name[k])) && spec->name[k][0],
                    "name %u", k);
        FUZZ_ASSERT(memchr(spec->path[k], '\0', sizeof(spec->path[k])), "path %u", k);
        FUZZ_ASSERT(spec->lambda[k] || spec->path[k][0] == '.', "path %u: %s", k,
                    spec->path[k]);
    }
}

static uint64_t take(const struct sl_partition_spec *spec, struct sl_batch *part, int keyed)
{
    uint64_t n;

    if (!part)
        return 0;
    n = part->nrecords;
    for (unsigned k = 0; keyed && k < spec->n; k++)
        if (!spec->lambda[k])
            FUZZ_ASSERT(sl_partition_value(spec, part, 0, spec->name[k],
                                           strlen(spec->name[k])), "no value for %s",
                        spec->name[k]);
    sl_batch_release(part, keyed ? SL_OUTCOME_DELIVERED : SL_OUTCOME_BACKED_UP);
    return n;
}

/* The records: the lines of <p> (<n> bytes), split by sl_partition_batch. */
static void split(const struct sl_partition_spec *spec, const uint8_t *p, size_t n)
{
    struct sl_chunk *c = sl_chunk_new((uint32_t)n + 64 * SL_CHUNK_HDR + 64, 1000, 1000);
    struct sl_batch *b = sl_batch_new();
    struct sl_partitioned out;
    uint32_t nrec = 0;
    uint64_t seen = 0;

    if (!c || !b)
        abort();
    while (n > 0 && nrec < 64) {
        const uint8_t *nl = memchr(p, '\n', n);
        size_t len = nl ? (size_t)(nl - p) : n;
        sl_chunk_add(c, p, (uint32_t)len);
        nrec++;
        p += len + (nl != NULL), n -= len + (nl != NULL);
    }
    sl_batch_add_span(b, c, 0, c->nrecords, c->bytes);
    sl_chunk_unref(c);
    if (sl_partition_batch(spec, 4, b, &out) == SL_OK) {
        FUZZ_ASSERT(out.nparts <= 4, "%zu parts", out.nparts);
        for (size_t i = 0; i < out.nparts; i++)
            seen += take(spec, out.parts[i], 1);
        seen += take(spec, out.failed, 0) + take(spec, out.over, 0);
        free(out.parts);
        FUZZ_ASSERT(seen == nrec, "%llu of %u records in the parts", (unsigned long long)seen,
                    nrec);
    }
    sl_batch_release(b, SL_OUTCOME_DELIVERED);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_partition_spec spec;
    const uint8_t *nl = memchr(data, '\n', size), *nl2 = NULL;
    size_t first = nl ? (size_t)(nl - data) : size, second = 0;
    char why[256], *text, *prefix;

    if (size > 4096)
        return 0;
    if (nl && (nl2 = memchr(nl + 1, '\n', size - first - 1)))
        second = (size_t)(nl2 - nl - 1);
    else if (nl)
        second = size - first - 1;
    text = fuzz_cstr(data, first);
    prefix = fuzz_cstr(nl ? nl + 1 : data + size, second);
    if (text && prefix && sl_partition_parse(text, &spec, why, sizeof(why)) == SL_OK) {
        check_spec(&spec);
        if (sl_partition_add_lambda(prefix, &spec, why, sizeof(why)) == SL_OK)
            check_spec(&spec);
        (void)sl_partition_from_transforms(&spec);
        if (nl2 && spec.n > 0)
            split(&spec, nl2 + 1, size - (size_t)(nl2 + 1 - data));
    }
    free(text);
    free(prefix);
    return 0;
}
