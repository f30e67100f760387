/*
 * fuzz_partition.c - partition-key expressions (partition.h): the
 * partition_keys text ("NAME=.json.path, ...") through sl_partition_parse,
 * then a prefix's !{partitionKeyFromLambda:KEY} through
 * sl_partition_add_lambda. What is accepted stays within the spec's
 * bounds: at most SL_PART_KEYS keys, names and paths NUL-terminated in
 * their arrays, every path starting with '.'.
 */
#include "fuzz.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_partition_spec spec;
    const uint8_t *nl = memchr(data, '\n', size);
    size_t first = nl ? (size_t)(nl - data) : size;
    char why[256], *text, *prefix;

    if (size > 4096)
        return 0;
    text = fuzz_cstr(data, first);
    prefix = fuzz_cstr(nl ? nl + 1 : data + size, nl ? size - first - 1 : 0);
    if (text && prefix && sl_partition_parse(text, &spec, why, sizeof(why)) == SL_OK) {
        check_spec(&spec);
        if (sl_partition_add_lambda(prefix, &spec, why, sizeof(why)) == SL_OK)
            check_spec(&spec);
        (void)sl_partition_from_transforms(&spec);
    }
    free(text);
    free(prefix);
    return 0;
}
