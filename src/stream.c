/*
 * stream.c - a stream's lifecycle, its batcher thread, and what happens at
 * seal and at settle (see stream.h for threads and locks).
 */
#include "stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "delivery.h"
#include "log.h"
#include "sluice/err.h"
#include "wal.h"

#define RING_SLOTS 4096

static void close_chain(struct sl_gen *g)
{
    for (size_t i = 0; i < g->nchain; i++)
        sl_transform_close(&g->chain[i]);
    g->nchain = 0;
}

/* Gives <g>'s transforms their counters in <s> (main thread). */
static void bind_stats(struct sl_stream *s, struct sl_gen *g)
{
    for (size_t i = 0; i < g->nchain; i++)
        if (!(g->tf_stats[i] = sl_metrics_tf(&s->stats, g->chain[i].name)))
            sl_warn("stream=%s transform=%s msg=\"no metrics for this transform: more than "
                    "%d transform names since start\"", s->name, g->chain[i].name,
                    SL_TF_STATS_MAX);
}

struct sl_gen *sl_stream_gen_new(struct sl_config *cfg, const struct sl_stream_conf *conf,
                          unsigned version, char *err, size_t errlen)
{
    struct sl_gen *g = calloc(1, sizeof(*g));

    if (!g) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < conf->nchain; i++) {
        const struct sl_transform_conf *tc = &cfg->transforms[conf->chain[i]];
        char why[512];
        if (sl_transform_open(&g->chain[i], tc, why, sizeof(why)) != SL_OK) {
            snprintf(err, errlen, "transform %s: %s", tc->name, why);
            close_chain(g);
            free(g);
            return NULL;
        }
        g->chain_of[i] = &g->chain[i];
        g->nchain = i + 1;
    }
    if (conf->sink_ops->dest)
        conf->sink_ops->dest(conf->sink_conf, &g->dest);
    if (sl_sink_open(&g->sink, conf->sink_ops, conf->name, conf->sink_conf, err,
                     errlen) != SL_OK) {
        close_chain(g);
        free(g);
        return NULL;
    }
    atomic_init(&g->refs, 1);
    g->version = version;
    g->cfg = sl_config_ref(cfg);
    g->conf = conf;
    return g;
}

void sl_stream_gen_unref(struct sl_gen *g)
{
    if (!g)
        return;
    if (atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1)
        return;
    sl_sink_close(&g->sink);
    close_chain(g);
    sl_config_unref(g->cfg);
    free(g);
}

static struct sl_gen *gen_ref(struct sl_gen *g)
{
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
    return g;
}

struct sl_gen *sl_stream_gen(struct sl_stream *s)
{
    struct sl_gen *g;

    pthread_mutex_lock(&s->lock);
    g = gen_ref(s->gen);
    pthread_mutex_unlock(&s->lock);
    return g;
}

/* Applies a generation's limits to what sources read. */
static void publish_limits(struct sl_stream *s, const struct sl_stream_conf *c)
{
    atomic_store(&s->intake.max_buffered, c->max_buffered);
    atomic_store(&s->intake.low_water, c->max_buffered / 4 * 3);
    atomic_store(&s->intake.max_record_size, c->max_record_size);
    /* max_connections and idle_timeout are a source's keys: its apply()
     * (source.h) publishes them, called by main.c at start and reload. */
}

/* Every logged record below this is settled: the first record of the
 * oldest unsettled batch that holds logged records (recovered batches are
 * sealed alongside new ones, so the list is not in sequence order), or,
 * with none, the end of the last sealed one. Under s->lock. */
static uint64_t low_water(const struct sl_stream *s)
{
    uint64_t low = s->sealed_end;

    for (const struct sl_ticket *t = s->t_head; t; t = t->next)
        if (!t->settled && t->seq_first && t->seq_first < low)
            low = t->seq_first;
    return low;
}

/* Settle action: time, retire the ticket, drop the generation. (Records
 * are counted by delivery, part by part, as each part's fate is known.)
 * With a log: say the range is settled, and let the log retire what no
 * unsettled batch needs; an abandoned batch (shutdown timed out) keeps
 * its ticket unsettled, so its records stay in the log for the next start. */
static void on_settle(void *arg, struct sl_batch *b, enum sl_outcome outcome)
{
    struct sl_ticket *t = arg, *done;
    struct sl_gen *g = b->owner;
    struct sl_stream *s = g->stream;
    int64_t now = sl_clock_mono_ms();
    int keep = s->wal && outcome == SL_OUTCOME_ABANDONED;
    uint64_t low = 0;

    if (outcome != SL_OUTCOME_ABANDONED)
        sl_metrics_observe(&s->stats.delivery, (double)(now - b->sealed_mono_ms) / 1000.0);
    if (s->wal && b->seq_end && !keep)
        sl_wal_done(s->wal, b->seq_first, b->seq_end);
    pthread_mutex_lock(&s->lock);
    t->settled = !keep;
    while (s->t_head && s->t_head->settled) {
        done = s->t_head;
        s->t_head = done->next;
        free(done);
    }
    if (!s->t_head)
        s->t_tail = NULL;
    s->unsettled--;
    if (s->wal && !s->recovering)
        low = low_water(s);
    pthread_mutex_unlock(&s->lock);
    if (low)
        sl_wal_retire(s->wal, low);
    b->owner = NULL;
    sl_stream_gen_unref(g);
}

/* The log has a batch's seal on disk: deliver it. (The log's sync thread.) */
static void seal_synced(void *arg, struct sl_batch *b)
{
    struct sl_stream *s = arg;

    sl_delivery_submit(s->delivery, b);
}

/* Names a sealed batch (a random UUID; a lane's: the one its records
 * make, under version 1 whatever the config's, so that a re-read after a
 * restart finds the same name), gives it a ticket, and hands it to
 * delivery: at once, or, if its records are logged, once its seal is.
 * A batch <recovered> with its seal keeps its name and the version it was
 * sealed under, and its seal is in the log already. */
static void dispatch(struct sl_stream *s, struct sl_batch *b, int recovered)
{
    struct sl_ticket *t = calloc(1, sizeof(*t));
    int logged = s->wal && b->seq_end;

    if (b->lane) {
        sl_batch_lane_uuid(b, s->name);
        b->version = 1;
    } else if (t && !recovered && sl_batch_new_uuid(b) != SL_OK) {
        free(t);
        t = NULL;
    }
    if (!t) {
        sl_error("stream=%s msg=\"cannot stamp a sealed batch\"", s->name);
        abort();
    }
    t->oldest_mono_ms = b->oldest_mono_ms;
    t->seq_first = b->seq_first;
    pthread_mutex_lock(&s->lock);
    b->owner = gen_ref(s->gen);
    if (!b->version)
        b->version = s->gen->version;
    if (s->t_tail)
        s->t_tail->next = t;
    else
        s->t_head = t;
    s->t_tail = t;
    s->unsettled++;
    if (b->seq_end > s->sealed_end)
        s->sealed_end = b->seq_end;
    pthread_mutex_unlock(&s->lock);
    sl_batch_on_settle(b, on_settle, t);
    if (logged && !recovered)
        sl_wal_seal(s->wal, b, seal_synced, s);
    else
        sl_delivery_submit(s->delivery, b);
}

/* The batcher's emit. */
static void emit(void *arg, struct sl_batch *b)
{
    struct sl_stream *s = arg;

    sl_stat_add(&s->stats.sealed[b->seal_reason], 1);
    sl_debug("stream=%s msg=\"sealed\" reason=%s records=%llu bytes=%llu", s->name,
             sl_seal_reason_names[b->seal_reason], (unsigned long long)b->nrecords,
             (unsigned long long)b->bytes);
    dispatch(s, b, 0);
}

/* Recovery hands on what the stream may hold: waits while it is over
 * max_buffered (unless it holds nothing: a batch larger than that still
 * goes), then counts the records in, as from the source "wal". SL_ECLOSED
 * when the stream stops meanwhile. (The recovery thread.) */
static int take_recovered(struct sl_stream *s, uint64_t records, uint64_t bytes)
{
    const struct timespec nap = { 0, 5000000 };
    uint64_t held;

    while ((held = sl_metrics_bytes_held(&s->stats)) > 0 &&
           held + bytes > SL_LD(s->intake.max_buffered)) {
        if (atomic_load(&s->stopping))
            return SL_ECLOSED;
        nanosleep(&nap, NULL);
    }
    sl_stat_add(&s->stats.received_records[SL_SRC_WAL], records);
    sl_stat_add(&s->stats.received_bytes[SL_SRC_WAL], bytes);
    return SL_OK;
}

static int recovered_batch(void *arg, struct sl_batch *b, int sealed)
{
    struct sl_stream *s = arg;

    if (take_recovered(s, b->nrecords, b->bytes) != SL_OK) {
        sl_batch_free(b);            /* its records stay in the log */
        return SL_ECLOSED;
    }
    b->sealed_mono_ms = sl_clock_mono_ms();
    dispatch(s, b, sealed);          /* unsealed records get their seal now */
    s->recovered_batches++;
    return SL_OK;
}

static int recovery_stop(void *arg)
{
    return atomic_load(&((struct sl_stream *)arg)->stopping);
}

static void *recovery_main(void *arg)
{
    struct sl_stream *s = arg;
    struct sl_wal_recovery r = { s, recovered_batch, recovery_stop, 0 };
    const struct sl_wal_stats *ws = &s->stats.wal;
    uint64_t n = 0, low = 0;
    int rc;

    pthread_mutex_lock(&s->lock);
    r.max_batch = s->gen->conf->buffer_size;
    pthread_mutex_unlock(&s->lock);
    rc = sl_wal_recover(s->wal, &r, &n);
    pthread_mutex_lock(&s->lock);
    if (rc == SL_OK) {               /* else nothing may retire: records stay unread */
        s->recovering = 0;
        low = low_water(s);
    }
    pthread_mutex_unlock(&s->lock);
    if (low)
        sl_wal_retire(s->wal, low);
    sl_info("stream=%s msg=\"wal recovered\" records=%llu batches=%llu corrupt=%llu "
            "truncated_bytes=%llu seconds=%.3f%s", s->name, (unsigned long long)n,
            (unsigned long long)s->recovered_batches,
            (unsigned long long)atomic_load(&ws->corrupt),
            (unsigned long long)atomic_load(&ws->truncated),
            (double)atomic_load(&ws->recovery_us) / 1e6,
            rc == SL_OK ? "" : rc == SL_ECLOSED ? " stopped=\"shutting down: the rest at the "
            "next start\"" : " error=\"a segment could not be read: nothing is deleted until "
            "a restart recovers it\"");
    return NULL;
}

int sl_stream_recover(struct sl_stream *s)
{
    if (!s->wal)
        return SL_OK;
    pthread_mutex_lock(&s->lock);
    s->recovering = 1;
    s->sealed_end = sl_wal_next_seq(s->wal);
    pthread_mutex_unlock(&s->lock);
    if (pthread_create(&s->recovery, NULL, recovery_main, s) != 0)
        return SL_ERR;
    s->recovery_started = 1;
    return SL_OK;
}

int sl_stream_open_wal(struct sl_stream *s, const char *dir, char *err, size_t errlen)
{
    const struct sl_stream_conf *c = s->gen->conf;

    if (sl_wal_open(dir, c->wal_segment_size, c->wal_max_size, &s->stats.wal, &s->wal, err,
                    errlen) != SL_OK)
        return SL_ERR;
    s->intake.wal = s->wal;
    return SL_OK;
}

static void *batcher_main(void *arg)
{
    struct sl_stream *s = arg;
    struct sl_gen *next, *old;
    int64_t wait;
    int stop;

    for (;;) {
        atomic_store_explicit(&s->heartbeat_ms, sl_clock_mono_ms(), memory_order_relaxed);
        stop = atomic_load(&s->stopping);
        pthread_mutex_lock(&s->lock);
        next = s->next_gen;
        s->next_gen = NULL;
        s->batcher.buffer_size = s->gen->conf->buffer_size;
        s->batcher.interval_ms = s->gen->conf->buffer_interval_ms;
        pthread_mutex_unlock(&s->lock);
        if (next) {
            sl_batcher_step(&s->batcher, SL_SEAL_RELOAD);
            pthread_mutex_lock(&s->lock);
            old = s->gen;
            s->gen = next;
            pthread_mutex_unlock(&s->lock);
            sl_stream_gen_unref(old);
            continue;
        }
        wait = sl_batcher_step(&s->batcher, stop ? SL_SEAL_SHUTDOWN : -1);
        if (stop)
            break;
        sl_ring_wait_sc(s->ring, wait < 0 || wait > 1000 ? 1000 : (int)wait);
    }
    return NULL;
}

struct sl_stream *sl_stream_new(struct sl_gen *gen, struct sl_delivery *d)
{
    struct sl_stream *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->ring = sl_ring_new(RING_SLOTS);
    if (!s->ring) {
        free(s);
        return NULL;
    }
    snprintf(s->name, sizeof(s->name), "%s", gen->conf->name);
    pthread_mutex_init(&s->lock, NULL);
    s->delivery = d;
    s->gen = gen;
    gen->stream = s;
    bind_stats(s, gen);
    s->intake.name = s->name;
    s->intake.ring = s->ring;
    s->intake.stats = &s->stats;
    publish_limits(s, gen->conf);
    sl_batcher_init(&s->batcher, s->ring, &sl_clock_system, emit, s);
    return s;
}

int sl_stream_start(struct sl_stream *s)
{
    atomic_store(&s->heartbeat_ms, sl_clock_mono_ms());
    if (pthread_create(&s->thread, NULL, batcher_main, s) != 0)
        return SL_ERR;
    s->started = 1;
    return SL_OK;
}

void sl_stream_reload(struct sl_stream *s, struct sl_gen *gen)
{
    struct sl_gen *stale;

    gen->stream = s;
    bind_stats(s, gen);
    publish_limits(s, gen->conf);
    if (s->wal)
        sl_wal_set_limits(s->wal, gen->conf->wal_segment_size, gen->conf->wal_max_size);
    pthread_mutex_lock(&s->lock);
    stale = s->next_gen;     /* two reloads before the batcher woke: keep the last */
    s->next_gen = gen;
    pthread_mutex_unlock(&s->lock);
    sl_stream_gen_unref(stale);
    sl_ring_wake(s->ring);
}

void sl_stream_stop(struct sl_stream *s)
{
    if (!s->started)
        return;
    atomic_store(&s->stopping, 1);
    if (s->recovery_started) {       /* stops between batches; the rest stays logged */
        pthread_join(s->recovery, NULL);
        s->recovery_started = 0;
    }
    sl_ring_wake(s->ring);
    pthread_join(s->thread, NULL);
    s->started = 0;
    if (s->wal)       /* the last seals reach delivery before it drains */
        sl_wal_flush(s->wal);
}

void sl_stream_free(struct sl_stream *s)
{
    struct sl_ticket *t;

    if (!s)
        return;
    sl_batcher_destroy(&s->batcher);
    sl_wal_close(s->wal);
    while ((t = s->t_head)) {
        s->t_head = t->next;
        free(t);
    }
    sl_stream_gen_unref(s->next_gen);
    sl_stream_gen_unref(s->gen);
    sl_ring_free(s->ring);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

double sl_stream_freshness(struct sl_stream *s)
{
    int64_t now = sl_clock_mono_ms();
    int64_t oldest = atomic_load_explicit(&s->batcher.open_oldest_mono_ms,
                                          memory_order_relaxed);

    pthread_mutex_lock(&s->lock);
    if (s->t_head && (oldest == 0 || s->t_head->oldest_mono_ms < oldest))
        oldest = s->t_head->oldest_mono_ms;
    pthread_mutex_unlock(&s->lock);
    return oldest == 0 ? 0.0 : (double)(now - oldest) / 1000.0;
}

int sl_stream_alive(struct sl_stream *s, int64_t max_age_ms)
{
    return sl_clock_mono_ms() -
           atomic_load_explicit(&s->heartbeat_ms, memory_order_relaxed) <= max_age_ms;
}

uint64_t sl_stream_unsettled(struct sl_stream *s)
{
    uint64_t n;

    pthread_mutex_lock(&s->lock);
    n = s->unsettled;
    pthread_mutex_unlock(&s->lock);
    return n;
}
