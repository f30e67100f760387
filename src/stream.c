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

#define RING_SLOTS 4096

static void close_chain(struct sl_gen *g)
{
    for (size_t i = 0; i < g->nchain; i++)
        sl_tf_close(&g->chain[i]);
    g->nchain = 0;
}

/* Gives <g>'s transforms their counters in <s> (main thread). */
static void bind_stats(struct sl_stream *s, struct sl_gen *g)
{
    for (size_t i = 0; i < g->nchain; i++)
        if (!(g->tf_stats[i] = sl_stats_tf(&s->stats, g->chain[i].name)))
            sl_warn("stream=%s transform=%s msg=\"no metrics for this transform: more than "
                    "%d transform names since start\"", s->name, g->chain[i].name,
                    SL_TF_STATS_MAX);
}

struct sl_gen *sl_gen_new(struct sl_config *cfg, const struct sl_stream_conf *conf,
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
        if (sl_tf_open(&g->chain[i], tc, why, sizeof(why)) != SL_OK) {
            snprintf(err, errlen, "transform %s: %s", tc->name, why);
            close_chain(g);
            free(g);
            return NULL;
        }
        g->chain_of[i] = &g->chain[i];
        g->nchain = i + 1;
    }
    if (sl_sink_open(&g->sink, conf, err, errlen) != SL_OK) {
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

void sl_gen_unref(struct sl_gen *g)
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
    atomic_store(&s->intake.max_connections, c->max_connections);
    atomic_store(&s->intake.idle_timeout_ms, c->idle_timeout_ms);
}

/* Settle action: time, retire the ticket, drop the generation. (Records
 * are counted by delivery, part by part, as each part's fate is known.) */
static void on_settle(void *arg, struct sl_batch *b, enum sl_outcome outcome)
{
    struct sl_ticket *t = arg, *done;
    struct sl_gen *g = b->owner;
    struct sl_stream *s = g->stream;
    int64_t now = sl_clock_mono_ms();

    if (outcome != SL_OUTCOME_ABANDONED)
        sl_histogram_observe(&s->stats.delivery, (double)(now - b->sealed_mono_ms) / 1000.0);
    pthread_mutex_lock(&s->lock);
    t->settled = 1;
    while (s->t_head && s->t_head->settled) {
        done = s->t_head;
        s->t_head = done->next;
        free(done);
    }
    if (!s->t_head)
        s->t_tail = NULL;
    s->unsettled--;
    pthread_mutex_unlock(&s->lock);
    b->owner = NULL;
    sl_gen_unref(g);
}

/* The batcher's emit: stamp the batch, give it a ticket, hand it on. */
static void emit(void *arg, struct sl_batch *b)
{
    struct sl_stream *s = arg;
    struct sl_ticket *t = calloc(1, sizeof(*t));

    if (!t || sl_batch_new_uuid(b) != SL_OK) {
        sl_error("stream=%s msg=\"cannot stamp a sealed batch\"", s->name);
        abort();
    }
    t->oldest_mono_ms = b->oldest_mono_ms;
    pthread_mutex_lock(&s->lock);
    b->owner = gen_ref(s->gen);
    if (s->t_tail)
        s->t_tail->next = t;
    else
        s->t_head = t;
    s->t_tail = t;
    s->unsettled++;
    pthread_mutex_unlock(&s->lock);
    sl_batch_on_settle(b, on_settle, t);
    sl_stat_add(&s->stats.sealed[b->seal_reason], 1);
    sl_debug("stream=%s msg=\"sealed\" reason=%s records=%llu bytes=%llu", s->name,
             sl_seal_reason_names[b->seal_reason], (unsigned long long)b->nrecords,
             (unsigned long long)b->bytes);
    sl_delivery_submit(s->delivery, b);
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
            sl_gen_unref(old);
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
    pthread_mutex_lock(&s->lock);
    stale = s->next_gen;     /* two reloads before the batcher woke: keep the last */
    s->next_gen = gen;
    pthread_mutex_unlock(&s->lock);
    sl_gen_unref(stale);
    sl_ring_wake(s->ring);
}

void sl_stream_stop(struct sl_stream *s)
{
    if (!s->started)
        return;
    atomic_store(&s->stopping, 1);
    sl_ring_wake(s->ring);
    pthread_join(s->thread, NULL);
    s->started = 0;
}

void sl_stream_free(struct sl_stream *s)
{
    struct sl_ticket *t;

    if (!s)
        return;
    sl_batcher_destroy(&s->batcher);
    while ((t = s->t_head)) {
        s->t_head = t->next;
        free(t);
    }
    sl_gen_unref(s->next_gen);
    sl_gen_unref(s->gen);
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
