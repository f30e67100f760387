/*
 * sink_null.c - sink = null: takes each batch's records and discards them,
 * counted as delivered (Fluent Bit's null output). For measuring sources
 * and transforms without a destination's cost: a record sink, so nothing
 * is compressed or keyed.
 *
 * Two keys make it refuse on purpose, to try a pipeline's failure paths
 * against a real sink: records holding null.refuse's text are answered
 * FAIL (they go to backup, errorCode Null.Refused), and records holding
 * null.retry's text are answered RETRY at their batch's first attempt,
 * then taken (retried alone, as the engine retries a bulk API's items).
 *
 * Threads: deliver() on any worker at once; the instance is read-only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink.h"
#include "sluice/err.h"

struct null_conf {
    char refuse[256];
    char retry[256];
};

static const struct sl_conf_key null_keys[] = {
    { "null.refuse", SL_K_STRING, SL_KSTR(struct null_conf, refuse), 0, 0, "", NULL,
      "null sink: records holding this text are refused and go to backup (to try the "
      "backup path); empty: none" },
    { "null.retry", SL_K_STRING, SL_KSTR(struct null_conf, retry), 0, 0, "", NULL,
      "null sink: records holding this text are answered RETRY once, then taken (to try "
      "retries); empty: none" },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

static int null_create(const char *stream, const void *conf, void **ctx, char *err,
                       size_t errlen)
{
    struct null_conf *c = malloc(sizeof(*c));

    (void)stream;
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return SL_ENOMEM;
    }
    memcpy(c, conf, sizeof(*c));
    *ctx = c;
    return SL_OK;
}

static int holds(const struct sl_record *r, const char *text)
{
    return text[0] && memmem(r->data, r->len, text, strlen(text)) != NULL;
}

static void null_deliver(void *ctx, const struct sl_sink_batch *b, struct sl_sink_outcome *out)
{
    static const char code[] = "Null.Refused";
    const struct null_conf *c = ctx;
    const char **codes, **msgs;
    struct sl_batch_iter it;
    struct sl_record r;
    size_t i = 0, refused = 0, retried = 0;

    out->result = SL_SINK_OK;
    if (!c->refuse[0] && !c->retry[0])
        return;
    codes = calloc(b->batch->nrecords, sizeof(*codes));
    msgs = calloc(b->batch->nrecords, sizeof(*msgs));
    sl_batch_iter_init(&it, b->batch);
    while (sl_batch_next(&it, &r)) {
        uint8_t res = SL_SINK_OK;
        if (holds(&r, c->refuse))
            res = SL_SINK_FAIL, refused++;
        else if (b->batch->attempts == 0 && holds(&r, c->retry))
            res = SL_SINK_RETRY, retried++;
        if (res != SL_SINK_OK && codes && msgs) {   /* each record's own words */
            codes[i] = res == SL_SINK_FAIL ? code : "Null.Retry";
            msgs[i] = res == SL_SINK_FAIL ? "the record holds null.refuse's text"
                                          : "the record holds null.retry's text";
        }
        out->record_results[i++] = res;
    }
    if (refused || retried) {
        out->per_record = 1;
        out->result = refused ? SL_SINK_FAIL : SL_SINK_RETRY;
        snprintf(out->error, sizeof(out->error), "null sink: %zu records refused "
                 "(null.refuse), %zu to retry (null.retry)", refused, retried);
        if (codes && msgs)
            out->record_notes = sl_batch_notes_errors(i, codes, msgs, SL_NOTE_BY_SINK,
                                                      b->batch->attempts + 1);
    }
    free(codes);
    free(msgs);
}

static void null_destroy(void *ctx)
{
    free(ctx);
}

const struct sl_sink_ops sl_sink_null = {
    .name = "null",
    .prefix = "null.",
    .shape = SL_SINK_RECORDS,
    .keys = null_keys,
    .conf_size = sizeof(struct null_conf),
    .create = null_create,
    .deliver = null_deliver,
    .destroy = null_destroy,
};
