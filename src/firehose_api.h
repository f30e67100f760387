/*
 * firehose_api.h - the wire protocol of Firehose's producer API (AWS JSON
 * 1.1, X-Amz-Target: Firehose_20150804.<Operation>), without the HTTP:
 * naming the operation, parsing PutRecord and PutRecordBatch bodies into a
 * chunk of decoded records with Firehose's limits and error codes, and
 * writing the responses. The HTTP listener (issue 3) sits on top of it.
 *
 * Limits (shared/reference/firehose-contract.md): a stream name is 1-64
 * characters of [a-zA-Z0-9_.-]; a record's Data decodes to at most
 * 1,024,000 bytes; a batch holds 1-500 records and at most 4 MiB decoded.
 *
 * Threads: no state; any thread.
 */
#ifndef SL_FIREHOSE_API_H
#define SL_FIREHOSE_API_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "chunk.h"

#define SL_FH_TARGET_PREFIX   "Firehose_20150804."
#define SL_FH_MAX_RECORD      1024000u
#define SL_FH_MAX_BATCH       500u
#define SL_FH_MAX_BATCH_BYTES 4194304u

enum sl_fh_op {
    SL_FH_PUT_RECORD, SL_FH_PUT_RECORD_BATCH, SL_FH_LIST_STREAMS, SL_FH_DESCRIBE_STREAM,
    SL_FH_UNSUPPORTED,   /* a real Firehose operation sluice does not serve */
    SL_FH_UNKNOWN,       /* not an operation of the API */
};

/* An error in Firehose's shape: {"__type": type, "message": message}. */
struct sl_fh_error {
    const char *type;    /* e.g. "ValidationException"; static */
    int status;          /* HTTP status */
    char message[512];
};

/* Names the operation of an X-Amz-Target header value (NULL: missing). */
enum sl_fh_op sl_firehose_api_operation(const char *target);

/* 1 if <name> is a valid delivery stream name. */
int sl_firehose_api_valid_stream_name(const char *name);

/*
 * Parses a PutRecord (<batch> 0) or PutRecordBatch (<batch> 1) body. On
 * SL_OK, <stream> holds the DeliveryStreamName and *<out> a new chunk with
 * every record decoded, in request order, stamped with <wall_ms>/<mono_ms>
 * (sl_chunk_unref frees it). On SL_EINVAL, <err> says what Firehose would
 * answer and nothing is allocated.
 */
int sl_firehose_api_parse_put(const char *body, size_t len, int batch, char stream[65],
                    int64_t wall_ms, int64_t mono_ms, struct sl_chunk **out,
                    struct sl_fh_error *err);

/* Keeps the first <n> records of <c> (n <= c->nrecords), for a batch of
 * which only a part fits. */
void sl_firehose_api_chunk_truncate(struct sl_chunk *c, uint32_t n);

/*
 * Response bodies, compact JSON (clients such as Fluent Bit look for the
 * literal "FailedPutCount":0). Each returns a new string (free()), or NULL
 * when out of memory.
 *  - PutRecord: {"RecordId":"...","Encrypted":false}
 *  - PutRecordBatch: records [0, accepted) get a RecordId, the rest
 *    ServiceUnavailableException "Slow down.", in request order.
 *  - an error: {"__type":"...","message":"..."}
 */
char *sl_firehose_api_put_record_response(void);
char *sl_firehose_api_put_batch_response(uint32_t n, uint32_t accepted);
char *sl_firehose_api_error_body(const struct sl_fh_error *err);

struct sl_stream_conf;
struct sl_sink_dest;
/*
 * A DeliveryStreamDescription for stream <c> at config <version>, created
 * (started) at <created_s>, with ARNs in <region>, with every member the
 * API model requires, so that clients that describe a stream before writing
 * (Vector) work. The destination is described as ExtendedS3 (mirrored as
 * S3, as AWS does): the bucket and encryption its sink names in <dest>
 * (sink.h), or a made-up bucket that says where the stream goes.
 * Returns a new reference, or NULL when out of memory.
 */
json_t *sl_firehose_api_describe(const struct sl_stream_conf *c, const struct sl_sink_dest *dest,
                       const char *region, unsigned version, int64_t created_s);

#endif
