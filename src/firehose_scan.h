/*
 * firehose_scan.h - a fast reading of the usual PutRecord and
 * PutRecordBatch body, for the hot path of the HTTP source.
 *
 * jansson builds a tree of the whole request: a string object per record,
 * a copy of every base64 Data. This scanner only finds where the stream
 * name and each Data lie in the body, in one pass without allocating. It
 * reads the shape real clients send, with any whitespace and key order:
 *
 *   {"DeliveryStreamName":"NAME","Records":[{"Data":"..."},...]}
 *   {"DeliveryStreamName":"NAME","Record":{"Data":"..."}}
 *
 * and declines anything else: other keys, a repeated key, more than <max>
 * records, malformed JSON. A declined body goes to jansson, which also
 * words the errors; so the scanner never has to.
 *
 * Strings are not unescaped: a span is the raw bytes between two quotes,
 * the first quote after the opening one ending it. So the caller must
 * decline (and hand the body to jansson) any span holding a backslash or
 * a control character; checking the name against the stream-name alphabet
 * and the Data against base64's does exactly that. Keys match only if
 * they are spelled without escapes.
 *
 * Threads: no state; any thread.
 */
#ifndef SL_FIREHOSE_SCAN_H
#define SL_FIREHOSE_SCAN_H

#include <stddef.h>

/* Bytes of a JSON string's contents inside the body (no quotes). */
struct sl_fh_span {
    const char *p;
    size_t len;
};

/* Reads <body> (<len> bytes) as a PutRecordBatch (<batch> 1) or PutRecord
 * (0) request. Returns 1 with <name>, <recs>[0..*n) set (pointing into
 * <body>), or 0 if the body is not of the plain shape above. */
int sl_firehose_scan_put(const char *body, size_t len, int batch, struct sl_fh_span *name,
                   struct sl_fh_span *recs, size_t max, size_t *n);

#endif
