/*
 * delivery.c - see delivery.h.
 *
 * The queue is a binary min-heap ordered by (not_before, arrival in the
 * queue): new batches (not_before 0) come out first in, first out, and a
 * batch waiting for its retry sits in the heap without a worker until its
 * time comes. Push and take are O(log n), so a long outage with many small
 * batches queued costs nothing per wake-up.
 * Each worker owns a compressor and an output buffer, reused batch after
 * batch; the compressed object lives only for one attempt (a retry
 * compresses again, which is cheaper than holding it).
 */
#include "delivery.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "backup.h"
#include "clock.h"
#include "compress.h"
#include "log.h"
#include "objkey.h"
#include "partition.h"
#include "stage.h"
#include "sluice/err.h"
#include "stream-t.h"

static const struct sl_backoff retry_backoff = { .base_ms = 100, .cap_ms = 10000 };

struct sl_delivery {
    pthread_mutex_t lock;          /* guards everything below but threads */
    pthread_cond_t work;           /* a batch was queued, or stop */
    pthread_cond_t idle;           /* queued + active reached 0 */
    struct sl_batch **heap;        /* queued batches, see above; owned array */
    size_t queued, cap;            /* batches in the heap, slots allocated */
    uint64_t seq;                  /* next queue sequence number */
    size_t active;                 /* batches being delivered by a worker */
    int stopping;
    _Atomic int out_of_time;       /* main -> transforms: stop waiting (host->stopping) */
    unsigned nworkers;
    pthread_t *threads;
};

struct worker {
    struct sl_delivery *d;
    struct sl_compressor *comp;
    struct sl_stage *stage;        /* the transform stage's scratch */
    struct sl_buf env;             /* backup envelopes, before compression */
    struct sl_buf out;
    struct iovec *iov;             /* an object in pieces (sl_compress_pieces) */
    size_t iovcap;
    struct sl_ratelimit rl;
    uint64_t rnd;                  /* xorshift state for jitter */
};

/* 1 if <a> is to be taken before <b>. */
static int before(const struct sl_batch *a, const struct sl_batch *b)
{
    return a->not_before_mono_ms != b->not_before_mono_ms
               ? a->not_before_mono_ms < b->not_before_mono_ms
               : a->qseq < b->qseq;
}

static void push_locked(struct sl_delivery *d, struct sl_batch *b)
{
    size_t i, up;

    if (d->queued == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        struct sl_batch **h = realloc(d->heap, cap * sizeof(*h));
        if (!h) {
            sl_error("msg=\"out of memory queueing a batch\"");
            abort();
        }
        d->heap = h;
        d->cap = cap;
    }
    b->qseq = d->seq++;
    for (i = d->queued++; i > 0 && before(b, d->heap[up = (i - 1) / 2]); i = up)
        d->heap[i] = d->heap[up];
    d->heap[i] = b;
}

/* Removes and returns the heap's top. */
static struct sl_batch *pop_locked(struct sl_delivery *d)
{
    struct sl_batch *top = d->heap[0], *last = d->heap[--d->queued];
    size_t i = 0, c;

    while ((c = 2 * i + 1) < d->queued) {
        if (c + 1 < d->queued && before(d->heap[c + 1], d->heap[c]))
            c++;
        if (!before(d->heap[c], last))
            break;
        d->heap[i] = d->heap[c];
        i = c;
    }
    d->heap[i] = last;
    return top;
}

/* Queues <b> again, not to be tried before <not_before_ms> (monotonic). */
static void push_back(struct sl_delivery *d, struct sl_batch *b, int64_t not_before_ms)
{
    b->not_before_mono_ms = not_before_ms;
    pthread_mutex_lock(&d->lock);
    push_locked(d, b);
    pthread_cond_signal(&d->work);
    pthread_mutex_unlock(&d->lock);
}

void sl_delivery_submit(struct sl_delivery *d, struct sl_batch *b)
{
    push_back(d, b, 0);
}

/* Returns the first due batch, or NULL with *<wait_ms> set to the time
 * until the earliest one is due (-1: none queued). */
static struct sl_batch *take_locked(struct sl_delivery *d, int64_t now, int64_t *wait_ms)
{
    *wait_ms = -1;
    if (d->queued == 0)
        return NULL;
    if (d->heap[0]->not_before_mono_ms <= now)
        return pop_locked(d);
    *wait_ms = d->heap[0]->not_before_mono_ms - now;
    return NULL;
}

/* Puts <b> back to be tried again after a backoff; logs <error>
 * (rate-limited), or the batch's last error when it is NULL. */
static void retry_later(struct worker *w, struct sl_batch *b, int cause, const char *error)
{
    struct sl_gen *g = b->owner;
    uint64_t suppressed;

    sl_stat_add(&g->stream->stats.retries[cause], 1);
    int64_t not_before = sl_clock_mono_ms() +
                         sl_backoff_delay(&retry_backoff, b->attempts + b->backup_tries,
                                          sl_backoff_rand(&w->rnd));
    if (sl_log_ratelimit_ok(&w->rl, 5000, &suppressed))
        sl_warn("stream=%s sink=%s msg=\"delivery failed, will retry\" target=%s attempt=%u "
                "records=%llu bytes=%llu error=\"%s\" suppressed=%llu", g->conf->name,
                g->sink.ops->name, b->in_backup ? "backup" : "sink", b->attempts,
                (unsigned long long)b->nrecords, (unsigned long long)b->bytes,
                error ? error : b->last_error, (unsigned long long)suppressed);
    push_back(w->d, b, not_before);
}

/* <b> (a batch or a part) reached its end: count its records, release it.
 * A source copy counts nothing: its records are counted where they went. */
static void settle(struct sl_batch *b, enum sl_outcome outcome)
{
    struct sl_gen *g = b->owner;

    if (!b->copy)
        sl_metrics_settle(&g->stream->stats, outcome, b->backup_reason, b->nrecords, b->bytes);
    sl_batch_release(b, outcome);
}

/* !{partitionKeyFromQuery:NAME} and !{partitionKeyFromLambda:NAME} of a
 * partitioned batch. */
struct key_values {
    const struct sl_partition_spec *spec;
    const struct sl_batch *b;
};

static const char *key_value(void *arg, int lambda, const char *name, size_t len)
{
    const struct key_values *kv = arg;
    return sl_partition_value(kv->spec, kv->b, lambda, name, len);
}

/* The key of <b> under template <tpl>: an error prefix when <error_type>
 * (what !{firehose:error-output-type} says) is set. */
static int make_key(struct sl_batch *b, const struct sl_gen *g, const char *tpl,
                    const char *error_type, char *out, size_t len)
{
    char uuid[37];
    struct key_values kv = { &g->conf->partition, b };
    struct sl_objkey k = {
        .prefix = tpl,
        .stream = g->conf->name, .version = b->version ? b->version : g->version,
        .wall_ms = b->oldest_wall_ms, .uuid = uuid,
        .ext = sl_compress_ext(g->conf->compression), .error_type = error_type,
        .partition = key_value, .partition_arg = &kv,
    };

    sl_batch_uuid_str(b, uuid);
    return sl_objkey_format(&k, out, len);
}

/* Why <b> is going to backup, as the key and the envelopes say it. */
struct failure {
    char type[48];                /* !{firehose:error-output-type} */
    char code[64];                /* errorCode of records without an error of their own */
    const char *who, *name;       /* "sink" and its name, or "stage" and which */
};

static void describe_failure(const struct sl_batch *b, const struct sl_gen *g,
                             struct failure *f)
{
    const char *sink = g->dest.failed_name[0] ? g->dest.failed_name : g->sink.ops->name;

    switch (b->backup_reason) {
    case SL_BK_PROCESSING_FAILED:   /* each record has a note naming its transform */
        snprintf(f->type, sizeof(f->type), "processing-failed");
        snprintf(f->code, sizeof(f->code), "Transform.ProcessingFailed");
        f->who = "stage", f->name = "transform";
        break;
    case SL_BK_PARTITION_FAILED:
    case SL_BK_PARTITION_LIMIT:
        snprintf(f->type, sizeof(f->type), "partitioning-failed");
        snprintf(f->code, sizeof(f->code), "%s", b->backup_reason == SL_BK_PARTITION_FAILED
                 ? "DynamicPartitioning.MetadataExtractionFailed"
                 : "DynamicPartitioning.PartitionCountExceeded");
        f->who = "stage", f->name = "partitioning";
        break;
    default:                         /* "S3.RetriesExhausted", "File.Refused" */
        snprintf(f->type, sizeof(f->type), "%s-failed", sink);
        snprintf(f->code, sizeof(f->code), "%c%s.%s",
                 sink[0] >= 'a' && sink[0] <= 'z' ? sink[0] - 32 : sink[0], sink + 1,
                 b->backup_reason == SL_BK_SINK_FAILED ? "Refused" : "RetriesExhausted");
        f->who = "sink", f->name = sink;
    }
}

/* The envelopes of <b>, compressed like the stream's objects, into w->out. */
static int envelopes(struct worker *w, struct sl_batch *b, const struct failure *f, char *err,
                     size_t errlen)
{
    struct sl_gen *g = b->owner;
    const struct sl_stream_conf *c = g->conf;
    const char *names[SL_CHAIN_MAX], *arns[SL_CHAIN_MAX];
    struct sl_envelope e = {
        .stream = c->name, .code = f->code, .message = b->last_error, .who = f->who,
        .name = f->name, .attempts = b->attempts,
        .transformed = g->nchain > 0 && b->backup_reason != SL_BK_PROCESSING_FAILED,
        .tf_names = names, .tf_arns = arns, .ntf = g->nchain, .now_ms = sl_clock_wall_ms(),
        .extra = strcmp(f->who, "sink") == 0 ? g->sink.ops->envelope : NULL,
        .extra_arg = g->sink.ctx,
    };
    int rc;

    for (size_t i = 0; i < g->nchain; i++) {
        names[i] = g->chain[i].name;
        arns[i] = g->chain[i].arn;
    }
    sl_buf_reset(&w->env);
    if ((rc = sl_backup_envelopes(b, &e, &w->env)) != SL_OK) {
        snprintf(err, errlen, "backup envelopes: %s", sl_strerror(rc));
        return rc;
    }
    sl_buf_reset(&w->out);
    if ((rc = sl_compress_begin(w->comp, c->compression, (int)c->compression_level,
                                &w->out)) != SL_OK ||
        (rc = sl_compress_write(w->comp, w->env.data, w->env.len)) != SL_OK ||
        (rc = sl_compress_end(w->comp)) != SL_OK)
        snprintf(err, errlen, "compressing backup envelopes: %s", sl_strerror(rc));
    return rc;
}

/* Writes <b> to backup: its records' envelopes under the error prefix, or,
 * for a source copy, its records as they came under backup.prefix. If that
 * fails, <b> is retried like a delivery, and held meanwhile. */
static void to_backup(struct worker *w, struct sl_batch *b)
{
    struct sl_gen *g = b->owner;
    const struct sl_stream_conf *c = g->conf;
    char key[SL_KEY_MAX], tpl[SL_PREFIX_MAX + 40];
    char err[256] = "the backup key is too long";
    struct failure f;
    int rc;

    if (b->copy) {
        rc = make_key(b, g, c->backup_prefix, NULL, key, sizeof(key));
        if (rc == SL_OK && (rc = sl_compress_batch(w->comp, b, c->compression,
                                                   (int)c->compression_level, c->delimiter,
                                                   &w->out)) != SL_OK)
            snprintf(err, sizeof(err), "compression: %s", sl_strerror(rc));
    } else {
        describe_failure(b, g, &f);
        /* no error_prefix: Firehose's PREFIX + type + /YYYY/MM/DD/HH/ (the
         * prefix is static then: config load saw to it) */
        if (c->error_prefix[0])
            snprintf(tpl, sizeof(tpl), "%s", c->error_prefix);
        else
            snprintf(tpl, sizeof(tpl), "%s!{firehose:error-output-type}/", c->prefix);
        rc = make_key(b, g, tpl, f.type, key, sizeof(key));
        if (rc == SL_OK)
            rc = envelopes(w, b, &f, err, sizeof(err));
    }
    if (rc == SL_OK)
        rc = sl_backup_write(c, &g->sink, key, w->out.data, w->out.len, err, sizeof(err));
    if (rc != SL_OK) {
        b->backup_tries++;
        retry_later(w, b, SL_RETRY_BACKUP, err);
        return;
    }
    if (b->copy) {
        sl_stat_add(&g->stream->stats.source_backup_records, b->nrecords);
        sl_stat_add(&g->stream->stats.source_backup_bytes, b->bytes);
        atomic_fetch_sub_explicit(&g->stream->stats.source_backup_pending, b->bytes,
                                  memory_order_relaxed);
        sl_batch_release(b, SL_OUTCOME_DELIVERED);
        return;
    }
    sl_warn("stream=%s msg=\"records written to backup\" reason=%s records=%llu bytes=%llu "
            "path=%s/%s error=\"%s\"", c->name, sl_backup_reason_names[b->backup_reason],
            (unsigned long long)b->nrecords, (unsigned long long)b->bytes,
            c->backup_in_sink ? g->dest.location : c->backup_path, key, b->last_error);
    settle(b, SL_OUTCOME_BACKED_UP);
}

/* Goes on from a failed attempt at <b> (the sink's <view> of it): back it
 * up when the sink said FAIL or retry_duration has run out, telling the
 * sink, else try again later. */
static void after_failure(struct worker *w, struct sl_batch *b, int fail, int cause,
                          const struct sl_sink_batch *view)
{
    struct sl_gen *g = b->owner;
    const struct sl_stream_conf *c = g->conf;

    if (fail || sl_clock_mono_ms() - b->first_attempt_mono_ms >= c->retry_duration_ms) {
        if (g->sink.ops->gave_up)
            g->sink.ops->gave_up(g->sink.ctx, view, b->last_error);
        b->in_backup = 1;
        b->backup_reason = fail ? SL_BK_SINK_FAILED : SL_BK_RETRIES_EXHAUSTED;
        to_backup(w, b);
        return;
    }
    retry_later(w, b, cause > 0 && cause < SL_RETRY_NCAUSES ? cause : SL_RETRY_SINK, NULL);
}

/*
 * A sink answered per record: the OK records of <b> are delivered, the
 * others go on as parts, one for the RETRY records and one for the FAIL
 * ones, each with what the sink said of its records (<why>, may be NULL). A part is queued again, to be compressed for its own retry or
 * backup write.
 */
static void split(struct worker *w, struct sl_batch *b, const uint8_t *results,
                  const struct sl_notes *why)
{
    struct sl_gen *g = b->owner;
    const struct sl_stream_conf *c = g->conf;
    struct sl_batch *retry = sl_batch_pick(b, results, SL_SINK_RETRY);
    struct sl_batch *fail = sl_batch_pick(b, results, SL_SINK_FAIL);
    struct sl_batch *ok = sl_batch_pick(b, results, SL_SINK_OK);

    /* what the sink said of each record goes with it, to its envelope */
    if (fail)
        fail->notes = sl_batch_notes_pick(why, results, SL_SINK_FAIL);
    if (retry)
        retry->notes = sl_batch_notes_pick(why, results, SL_SINK_RETRY);

    if (ok) {
        sl_stat_add(&g->stream->stats.sink.bytes, ok->bytes);
        settle(ok, SL_OUTCOME_DELIVERED);
    }
    sl_batch_release(b, SL_OUTCOME_DELIVERED);   /* its records live on in parts */
    if (fail) {
        fail->in_backup = 1;
        fail->backup_reason = SL_BK_SINK_FAILED;
        push_back(w->d, fail, 0);
    }
    if (retry && sl_clock_mono_ms() - retry->first_attempt_mono_ms >= c->retry_duration_ms) {
        retry->in_backup = 1;
        retry->backup_reason = SL_BK_RETRIES_EXHAUSTED;
        push_back(w->d, retry, 0);
    } else if (retry) {
        retry_later(w, retry, SL_RETRY_SINK, NULL);
    }
}

/* Sends a part of <b> on to backup, for <reason>, saying <why>. */
static void part_to_backup(struct worker *w, struct sl_batch *part, int reason, const char *why)
{
    if (!part)
        return;
    part->in_backup = 1;
    part->backup_reason = reason;
    snprintf(part->last_error, sizeof(part->last_error), "%s", why);
    push_back(w->d, part, 0);
}

/* Dynamic partitioning: <b> goes on as one part per key set, and the
 * records that have none (or come past max_partitions) go to backup. */
static void partition(struct worker *w, struct sl_batch *b)
{
    const struct sl_stream_conf *c = b->owner->conf;
    struct sl_partitioned p;

    if (sl_partition_batch(&c->partition, (unsigned)c->max_partitions, b, &p) != SL_OK) {
        snprintf(b->last_error, sizeof(b->last_error), "out of memory partitioning");
        b->attempts++;
        retry_later(w, b, SL_RETRY_SINK, NULL);
        return;
    }
    for (size_t i = 0; i < p.nparts; i++)
        push_back(w->d, p.parts[i], 0);
    free(p.parts);
    part_to_backup(w, p.failed, SL_BK_PARTITION_FAILED, p.failed_why);
    part_to_backup(w, p.over, SL_BK_PARTITION_LIMIT, p.over_why);
    sl_batch_release(b, SL_OUTCOME_DELIVERED);   /* its records live on in parts */
}

/* The transform stage: returns what of <b> goes on to the sink (b itself,
 * a part, or NULL when nothing does or <b> was put back to retry). */
static struct sl_batch *transform(struct worker *w, struct sl_batch *b)
{
    struct sl_gen *g = b->owner;
    struct sl_processed p;

    if (g->nchain == 0 && g->conf->backup_mode != SL_BACKUP_ALL) {
        b->transformed = 1;
        return b;
    }
    int rc = sl_stage_run(w->stage, b, &p);
    if (rc != SL_OK) {
        snprintf(b->last_error, sizeof(b->last_error), "%s",
                 rc == SL_ENOMEM ? "out of memory running transforms"
                                 : "a transform asked to be tried again later");
        b->backup_tries++;
        retry_later(w, b, SL_RETRY_TRANSFORM, NULL);
        return NULL;
    }
    if (p.dropped)
        settle(p.dropped, SL_OUTCOME_DROPPED);
    if (p.failed) {
        /* the log line names the first record's error; each envelope its own */
        const struct sl_notes *no = p.failed->notes;
        char why[200] = "a transform failed these records";
        if (no && no->n)
            snprintf(why, sizeof(why), "a transform failed these records (the first: %s: %s)",
                     no->text + no->at[0].off,
                     no->text + no->at[0].off + strlen(no->text + no->at[0].off) + 1);
        part_to_backup(w, p.failed, SL_BK_PROCESSING_FAILED, why);
    }
    if (p.copy) {
        p.copy->in_backup = 1;
        sl_stat_add(&g->stream->stats.source_backup_pending, p.copy->bytes);
        push_back(w->d, p.copy, 0);
    }
    if (p.release)
        sl_batch_release(b, SL_OUTCOME_DELIVERED);   /* its records live on in parts */
    return p.ok;
}

/* Counts one write to a sink that answered <out>: <bytes> taken, <ns> long. */
static void count_write(struct sl_sink_stats *st, const struct sl_sink_outcome *out,
                        uint64_t bytes, int64_t ns)
{
    int ok = out->result == SL_SINK_OK;

    sl_stat_add(&st->writes[!ok], 1);
    if (!ok)
        sl_stat_add(&st->errors[out->result == SL_SINK_FAIL ? SL_SINK_ERR_REFUSED
                                : out->cause > 0 && out->cause < SL_RETRY_NCAUSES ? out->cause
                                : SL_RETRY_SINK], 1);
    sl_stat_add(&st->bytes, bytes);
    if (out->existed)
        sl_stat_add(&st->existing, 1);
    sl_metrics_observe(&st->write, (double)ns / 1e9);
}

/* Room in w->iov for <n> pieces: 1, or 0 when memory ran out. */
static int room_for_pieces(struct worker *w, size_t n)
{
    struct iovec *v;

    if (n <= w->iovcap)
        return 1;
    if (!(v = realloc(w->iov, n * sizeof(*v))))
        return 0;
    w->iov = v;
    w->iovcap = n;
    return 1;
}

/* An object sink's view of <b>: its key (made at the first attempt) and
 * the object, compressed into w->out, or as pieces in w->iov when the
 * sink takes them and the object lies in the chunks already. SL_OK, or
 * <b> was put back or sent to backup. */
static int as_object(struct worker *w, struct sl_batch *b, struct sl_sink_batch *view)
{
    struct sl_gen *g = b->owner;
    const struct sl_stream_conf *c = g->conf;
    char key[SL_KEY_MAX];
    int rc;

    if (!b->key && (make_key(b, g, c->prefix, NULL, key, sizeof(key)) != SL_OK ||
                    !(b->key = strdup(key)))) {
        b->in_backup = 1;
        b->backup_reason = SL_BK_SINK_FAILED;
        snprintf(b->last_error, sizeof(b->last_error), "cannot build the object key");
        to_backup(w, b);
        return SL_ERR;
    }
    view->key = b->key;
    view->exclusive = b->seq_end != 0 || b->lane;
    /* Uncompressed and lying in the chunks already: no copy, to a sink
     * that takes pieces. */
    if (g->sink.ops->pieces && room_for_pieces(w, b->nspans) &&
        sl_compress_pieces(b, c->compression, c->delimiter, w->iov, &view->len)) {
        view->data = NULL;
        view->iov = w->iov;
        view->iovcnt = b->nspans;
        return SL_OK;
    }
    rc = sl_compress_batch(w->comp, b, c->compression, (int)c->compression_level,
                           c->delimiter, &w->out);
    if (rc != SL_OK) {
        snprintf(b->last_error, sizeof(b->last_error), "compression: %s", sl_strerror(rc));
        b->attempts++;
        retry_later(w, b, SL_RETRY_SINK, NULL);
        return rc;
    }
    view->data = w->out.data;
    view->len = w->out.len;
    return SL_OK;
}

/* One attempt at <b>: settles it or puts it back. */
static void deliver(struct worker *w, struct sl_batch *b)
{
    struct sl_gen *g = b->owner;
    const struct sl_stream_conf *c = g->conf;
    const struct sl_sink_ops *ops = g->sink.ops;
    struct sl_sink_stats *st = &g->stream->stats.sink;
    struct sl_sink_outcome out = { .result = SL_SINK_RETRY };
    struct sl_sink_batch view = { .stream = c->name, .batch = b, .stats = st,
                                  .partition = c->partition.n ? &c->partition : NULL };
    int64_t now = sl_clock_mono_ms(), t0;

    if (!b->transformed && !b->in_backup && !(b = transform(w, b)))
        return;
    if (c->partition.n && !b->partitioned && !b->in_backup) {
        partition(w, b);
        return;
    }
    if (b->attempts == 0)
        b->first_attempt_mono_ms = now;
    if (b->in_backup) {
        to_backup(w, b);
        return;
    }
    view.batch = b;
    if (ops->shape == SL_SINK_OBJECTS && as_object(w, b, &view) != SL_OK)
        return;
    if (ops->shape == SL_SINK_RECORDS &&
        !(out.record_results = calloc(b->nrecords ? b->nrecords : 1, 1))) {
        snprintf(b->last_error, sizeof(b->last_error), "out of memory");
        b->attempts++;
        retry_later(w, b, SL_RETRY_SINK, NULL);
        return;
    }
    t0 = sl_clock_mono_ns();
    ops->deliver(g->sink.ctx, &view, &out);
    b->attempts++;
    count_write(st, &out, out.result != SL_SINK_OK || out.existed ? 0 : view.data || view.iov ? view.len
                          : out.bytes ? out.bytes : b->bytes, sl_clock_mono_ns() - t0);
    if (out.result == SL_SINK_OK) {
        free(out.record_results);
        sl_batch_notes_free(out.record_notes);
        settle(b, SL_OUTCOME_DELIVERED);
        return;
    }
    snprintf(b->last_error, sizeof(b->last_error), "%s", out.error);
    if (out.per_record && out.record_results) {
        split(w, b, out.record_results, out.record_notes);
        free(out.record_results);
        sl_batch_notes_free(out.record_notes);
        return;
    }
    free(out.record_results);
    sl_batch_notes_free(out.record_notes);
    after_failure(w, b, out.result == SL_SINK_FAIL, out.cause, &view);
}

/* The CLOCK_MONOTONIC time <ms> from now, for the condvars' timed waits. */
static void deadline(int64_t ms, struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct sl_delivery *d = w->d;
    struct sl_batch *b;
    struct timespec ts;
    int64_t wait;

    pthread_mutex_lock(&d->lock);
    while (!d->stopping) {
        b = take_locked(d, sl_clock_mono_ms(), &wait);
        if (!b) {
            if (wait < 0) {
                pthread_cond_wait(&d->work, &d->lock);
            } else {
                deadline(wait, &ts);
                pthread_cond_timedwait(&d->work, &d->lock, &ts);
            }
            continue;
        }
        d->active++;
        pthread_mutex_unlock(&d->lock);
        deliver(w, b);
        pthread_mutex_lock(&d->lock);
        d->active--;
        if (d->queued == 0 && d->active == 0)
            pthread_cond_broadcast(&d->idle);
    }
    pthread_mutex_unlock(&d->lock);
    sl_compress_free(w->comp);
    sl_stage_free(w->stage);
    sl_buf_destroy(&w->env);
    sl_buf_destroy(&w->out);
    free(w->iov);
    free(w);
    return NULL;
}

struct sl_delivery *sl_delivery_new(unsigned nworkers)
{
    struct sl_delivery *d = calloc(1, sizeof(*d));
    pthread_condattr_t ca;

    if (!d)
        return NULL;
    pthread_mutex_init(&d->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->work, &ca);
    pthread_cond_init(&d->idle, &ca);
    pthread_condattr_destroy(&ca);
    d->threads = calloc(nworkers, sizeof(*d->threads));
    if (!d->threads)
        goto fail;
    for (unsigned i = 0; i < nworkers; i++) {
        struct worker *w = calloc(1, sizeof(*w));
        if (!w)
            goto fail;
        w->d = d;
        w->comp = sl_compress_new();
        w->stage = sl_stage_new(&d->out_of_time);
        sl_buf_init(&w->out, (size_t)1 << 31);
        sl_buf_init(&w->env, (size_t)1 << 31);
        w->rnd = sl_backoff_seed();
        if (!w->comp || !w->stage ||
            pthread_create(&d->threads[i], NULL, worker_main, w) != 0) {
            sl_compress_free(w->comp);
            sl_stage_free(w->stage);
            free(w);
            goto fail;
        }
        d->nworkers++;
    }
    return d;
fail:
    sl_delivery_free(d);
    return NULL;
}

size_t sl_delivery_drain(struct sl_delivery *d, int64_t timeout_ms)
{
    struct timespec ts;
    size_t left;

    deadline(timeout_ms, &ts);
    pthread_mutex_lock(&d->lock);
    while (d->queued + d->active > 0) {
        if (pthread_cond_timedwait(&d->idle, &d->lock, &ts) == ETIMEDOUT)
            break;
    }
    left = d->queued + d->active;
    pthread_mutex_unlock(&d->lock);
    return left;
}

void sl_delivery_free(struct sl_delivery *d)
{
    struct sl_batch *b;

    if (!d)
        return;
    atomic_store(&d->out_of_time, 1);   /* a transform waiting on a call gives up */
    pthread_mutex_lock(&d->lock);
    d->stopping = 1;
    pthread_cond_broadcast(&d->work);
    pthread_mutex_unlock(&d->lock);
    for (unsigned i = 0; i < d->nworkers; i++)
        pthread_join(d->threads[i], NULL);
    while (d->queued > 0) {
        b = pop_locked(d);
        struct sl_gen *g = b->owner;
        sl_error("stream=%s msg=\"shutdown timed out: batch not delivered\" records=%llu "
                 "bytes=%llu attempts=%u error=\"%s\"", g->conf->name,
                 (unsigned long long)b->nrecords, (unsigned long long)b->bytes,
                 b->attempts, b->last_error);
        sl_batch_release(b, SL_OUTCOME_ABANDONED);
    }
    free(d->heap);
    free(d->threads);
    pthread_cond_destroy(&d->work);
    pthread_cond_destroy(&d->idle);
    pthread_mutex_destroy(&d->lock);
    free(d);
}
