/* backup.c - see backup.h. */
#include "backup.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "base64.h"
#include "fsio.h"
#include "json_check.h"
#include "sluice/err.h"

static void json_key_str(struct sl_buf *o, const char *key, const char *s)
{
    sl_buf_printf(o, ",\"%s\":\"", key);
    sl_json_check_append_str(o, s, strlen(s));
    sl_buf_append(o, "\"", 1);
}

int sl_backup_envelopes(const struct sl_batch *b, const struct sl_envelope *e,
                        struct sl_buf *out)
{
    struct sl_batch_iter it;
    struct sl_record r;
    size_t i = 0;

    sl_batch_iter_init(&it, b);
    for (; sl_batch_next(&it, &r); i++) {
        const struct sl_note *note = b->notes && b->notes->kind == SL_NOTES_ERRORS &&
                                     i < b->notes->n && b->notes->at[i].len
                                     ? &b->notes->at[i] : NULL;
        const char *code = e->code, *msg = e->message, *who = e->who, *name = e->name;
        const char *arn = NULL;
        unsigned attempts = e->attempts;
        int transformed = e->transformed, sinks = !note || note->by == SL_NOTE_BY_SINK;

        if (note) {
            code = b->notes->text + note->off;
            msg = code + strlen(code) + 1;
        }
        if (note && note->by != SL_NOTE_BY_SINK) {   /* a transform failed it */
            who = "transform";
            name = note->by < e->ntf ? e->tf_names[note->by] : "?";
            arn = note->by < e->ntf ? e->tf_arns[note->by] : NULL;
            attempts = note->attempts;
            transformed = 0;
        }
        /* room for the whole line up front: the appends below cannot fail */
        size_t need = 256 + SL_ENVELOPE_EXTRA_MAX +
                      6 * (strlen(code) + strlen(msg) + strlen(e->stream) + strlen(name) +
                           (arn ? strlen(arn) : 0)) + sl_base64_encoded_len(r.len);
        if (sl_buf_reserve(out, need) != SL_OK)
            return SL_ETOOBIG;
        sl_buf_printf(out, "{\"attemptsMade\":%u,\"arrivalTimestamp\":%lld", attempts,
                      (long long)r.arrival_ms);
        json_key_str(out, "errorCode", code);
        json_key_str(out, "errorMessage", msg);
        sl_buf_printf(out, ",\"attemptEndingTimestamp\":%lld", (long long)e->now_ms);
        if (e->extra && sinks) {                     /* the destination's own fields */
            size_t before = out->len;
            e->extra(e->extra_arg, &it, &r, out);
            if (out->len - before > SL_ENVELOPE_EXTRA_MAX)
                return SL_ETOOBIG;
        }
        sl_buf_printf(out, ",\"rawData\":\"");
        out->len += sl_base64_encode(r.data, r.len, (char *)out->data + out->len);
        sl_buf_append(out, "\"", 1);
        json_key_str(out, "stream", e->stream);
        json_key_str(out, who, name);
        if (arn)
            json_key_str(out, "lambdaArn", arn);
        if (transformed)
            sl_buf_append(out, ",\"transformed\":true", 19);
        sl_buf_append(out, "}\n", 2);
    }
    return SL_OK;
}

int sl_backup_write(const struct sl_stream_conf *conf, const struct sl_sink *sink,
                    const char *key, const uint8_t *data, size_t len, char *err,
                    size_t errlen)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(key, '/');
    const char *name = slash ? slash + 1 : key;
    const char *what = "file";

    if (conf->backup_in_sink && sink->ops->put_backup)
        return sink->ops->put_backup(sink->ctx, key, data, len, err, errlen) == SL_OK
                   ? SL_OK : SL_EIO;
    if (snprintf(dir, sizeof(dir), "%s/%.*s", conf->backup_path,
                 slash ? (int)(slash - key) : 0, key) >= (int)sizeof(dir)) {
        snprintf(err, errlen, "backup path too long");
        return SL_EIO;
    }
    if (sl_fsio_write_atomic(dir, name, data, len, &what) != SL_OK) {
        snprintf(err, errlen, "%s %s/%s: %s", what, dir, name, strerror(errno));
        return SL_EIO;
    }
    return SL_OK;
}
