/*
 * fuzz_firehose_parse.c - the full decode of PutRecord and PutRecordBatch
 * bodies (sl_fh_parse_put): scanner or jansson, Firehose's limits, base64.
 * Success gives a chunk of 1-500 records (exactly 1 for PutRecord), each
 * at most SL_FH_MAX_RECORD, 4 MiB in all, and a valid stream name; a
 * refusal gives an error type, a 4xx/5xx status and a message.
 */
#include "fuzz.h"

#include "chunk.h"
#include "firehose_api.h"
#include "sluice/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_chunk *c = NULL;
    struct sl_fh_error err;
    char stream[65];
    int batch, rc;

    if (size < 1 || size > 6 << 20)
        return 0;
    batch = data[0] & 1;
    memset(&err, 0, sizeof(err));
    rc = sl_fh_parse_put((const char *)data + 1, size - 1, batch, stream, 1, 1, &c, &err);
    if (rc == SL_OK) {
        FUZZ_ASSERT(c && c->nrecords >= 1 && c->nrecords <= SL_FH_MAX_BATCH &&
                    (batch || c->nrecords == 1), "%u records", c ? c->nrecords : 0);
        FUZZ_ASSERT(c->bytes <= SL_FH_MAX_BATCH_BYTES, "%llu bytes",
                    (unsigned long long)c->bytes);
        FUZZ_ASSERT(sl_fh_valid_stream_name(stream), "stream name");
        uint32_t off = 0, len;
        const uint8_t *p;
        for (uint32_t i = 0; i < c->nrecords; i++) {
            off = sl_chunk_at(c, off, &p, &len);
            FUZZ_ASSERT(len <= SL_FH_MAX_RECORD, "record of %u", len);
        }
        sl_chunk_unref(c);
    } else {
        FUZZ_ASSERT(rc == SL_EINVAL && !c && err.type && err.status >= 400 &&
                    memchr(err.message, '\0', sizeof(err.message)), "rc %d", rc);
        char *body = sl_fh_error_body(&err);
        free(body);
    }
    return 0;
}
