/*
 * fuzz_firehose_parse.c - the full decode of PutRecord and PutRecordBatch
 * bodies (sl_firehose_api_parse_put): scanner or jansson, Firehose's limits, base64.
 * Success gives a chunk of 1-500 records (exactly 1 for PutRecord), laid
 * out as one newline-delimited block (chunk.h: SL_CHUNK_NL), each
 * at most SL_FH_MAX_RECORD, 4 MiB in all, and a valid stream name; a
 * refusal gives an error type, a 4xx/5xx status and a message.
 *   data[0]: bit 0 PutRecordBatch (else PutRecord); bit 7: each '*' of the
 *   body stands for STAR 'A's (base64 of 3,072 zero bytes), so that an
 *   input under libFuzzer's 4 KiB reaches the size limits (334 in one
 *   Data pass 1,024,000 bytes, 1,366 in all 4 MiB): without it, no input
 *   libFuzzer makes or the corpus keeps could break them. The inputs that
 *   do are tests/fuzz/crashes/firehose_parse/limit-*, not in the corpus:
 *   a refused body is read again by jansson, 30-150 ms for these, and
 *   fuzzing from them ran a hundred times slower.
 */
#include "fuzz.h"

#include "chunk.h"
#include "firehose_api.h"
#include "sluice/err.h"

#define STAR  4096            /* small: most inputs with a '*' stay cheap */
#define STARS 1536

/* The body with each '*' expanded to STAR 'A's; NULL past STARS of them. */
static char *expand(const uint8_t *p, size_t n, size_t *len)
{
    size_t stars = 0;
    char *b, *o;

    for (size_t i = 0; i < n; i++)
        stars += p[i] == '*';
    if (stars > STARS || !(b = malloc(n + stars * (STAR - 1) + 1)))
        return NULL;
    o = b;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '*')
            memset(o, 'A', STAR), o += STAR;
        else
            *o++ = (char)p[i];
    }
    *len = (size_t)(o - b);
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_chunk *c = NULL;
    struct sl_fh_error err;
    char stream[65], *big = NULL;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    int batch, rc;

    if (size < 1 || size > 6 << 20)
        return 0;
    batch = data[0] & 1;
    if (data[0] & 0x80 && !(body = big = expand(data + 1, size - 1, &len)))
        return 0;
    memset(&err, 0, sizeof(err));
    rc = sl_firehose_api_parse_put(body, len, batch, stream, 1, 1, &c, &err);
    if (rc == SL_OK) {
        FUZZ_ASSERT(c && c->nrecords >= 1 && c->nrecords <= SL_FH_MAX_BATCH &&
                    (batch || c->nrecords == 1), "%u records", c ? c->nrecords : 0);
        FUZZ_ASSERT(c->bytes <= SL_FH_MAX_BATCH_BYTES, "%llu bytes",
                    (unsigned long long)c->bytes);
        FUZZ_ASSERT(sl_firehose_api_valid_stream_name(stream), "stream name");
        uint32_t off = 0, rlen;
        const uint8_t *p, *blk;
        size_t at = 0, blen;
        FUZZ_ASSERT(sl_chunk_block(c, 0, c->nrecords, &blk, &blen) &&
                    c->len + (uint64_t)c->nrecords * SL_CHUNK_HDR <= c->cap, "layout");
        for (uint32_t i = 0; i < c->nrecords; i++) {   /* the block: each, delimited */
            off = sl_chunk_at(c, off, &p, &rlen);
            FUZZ_ASSERT(rlen <= SL_FH_MAX_RECORD, "record of %u", rlen);
            FUZZ_ASSERT(p == blk + at && (!sl_chunk_needs_nl(p, rlen) || p[rlen] == '\n'),
                        "record %u not where the block has it", i);
            at += rlen + (size_t)sl_chunk_needs_nl(p, rlen);
        }
        FUZZ_ASSERT(at == blen, "block of %zu bytes, records %zu", blen, at);
        sl_chunk_unref(c);
    } else {
        FUZZ_ASSERT(rc == SL_EINVAL && !c && err.type && err.status >= 400 &&
                    memchr(err.message, '\0', sizeof(err.message)), "rc %d", rc);
        char *answer = sl_firehose_api_error_body(&err);
        free(answer);
    }
    free(big);
    return 0;
}
