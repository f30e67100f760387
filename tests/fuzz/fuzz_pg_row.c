/*
 * fuzz_pg_row.c - the PostgreSQL sink's making of COPY rows from records
 * (sink_pg.h), which come from outside, and its reading of a load's
 * detail back from sluice_loads. The first byte picks the columns mode's
 * column count (1-4); the rest is the record. No crash, and:
 *   - an escaped field never holds a raw tab, newline or carriage return
 *     (each would end a field or a row of COPY's text format);
 *   - a record the JSON check passes as an object gives exactly one row:
 *     ncols fields, ncols - 1 tabs, no newline;
 *   - the detail reader accepts or refuses the same bytes without
 *     overrunning, and what it reads is sorted by record number.
 */
#include "fuzz.h"

#include "sink_pg.h"
#include "sluice/err.h"

static void no_raw_separators(const struct sl_buf *b, size_t from, int tabs_allowed)
{
    for (size_t i = from; i < b->len; i++) {
        FUZZ_ASSERT(b->data[i] != '\n' && b->data[i] != '\r', "raw newline at %zu", i);
        FUZZ_ASSERT(tabs_allowed || b->data[i] != '\t', "raw tab at %zu", i);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const cols[] = { "a", "b", "c", "n" };
    struct sl_buf out;
    char why[256];

    if (size < 1 || size > (1 << 16))
        return 0;
    size_t ncols = 1 + (data[0] & 3);
    const uint8_t *rec = data + 1;
    size_t n = size - 1;

    sl_buf_init(&out, 1 << 20);
    FUZZ_ASSERT(sl__sink_pg_copy_escape(&out, rec, n) == SL_OK, "escape failed");
    no_raw_separators(&out, 0, 0);

    sl_buf_reset(&out);
    if (sl__sink_pg_json_ok(rec, n, 1, why, sizeof(why))) {
        FUZZ_ASSERT(sl__sink_pg_columns_row(rec, n, cols, ncols, &out) == SL_OK, "row failed");
        no_raw_separators(&out, 0, 1);
        size_t tabs = 0;
        for (size_t i = 0; i < out.len; i++)
            tabs += out.data[i] == '\t';
        FUZZ_ASSERT(tabs == ncols - 1, "%zu tabs for %zu columns", tabs, ncols);
    } else {
        FUZZ_ASSERT(memchr(why, '\0', sizeof(why)) != NULL, "why is not a string");
    }
    sl_buf_destroy(&out);

    /* the same bytes as a detail read back from the table */
    char *text = malloc(n + 1);
    struct sl_pg_reject *r = NULL;
    int truncated = 0;
    if (!text)
        return 0;
    memcpy(text, rec, n);
    text[n] = '\0';
    long k = sl__sink_pg_detail_read(text, &r, &truncated);
    for (long i = 1; i < k; i++)
        FUZZ_ASSERT(r[i - 1].ord <= r[i].ord, "detail rows not sorted at %ld", i);
    free(r);
    free(text);
    return 0;
}
