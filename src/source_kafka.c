/*
 * source_kafka.c - the Kafka source: see source_kafka.h for the tracker,
 * docs/source-kafka.md for what users see.
 *
 * One balanced consumer (librdkafka, cooperative-sticky by default) per
 * stream that sets kafka.brokers, on a thread of its own. A poll round
 * takes what the consumer has ready (at most ROUND_MAX messages, about as
 * many bytes as the stream has room for), makes one chunk per partition,
 * gives each chunk a span in its partition's tracker, and hands the chunks
 * to the stream.
 *
 * Each chunk's origin (chunk.h) is its partition's lane, with its records'
 * offsets and timestamps: the batcher keeps each partition's records apart
 * and batches them the same way when they are read again, and a batch's
 * name follows from its offsets, so an object written before a crash is
 * found, not written twice. The chunks never go through the write-ahead
 * log (durability = disk): Kafka is their log, and their offsets commit
 * only once they have settled.
 *
 * Offsets are never stored or auto-committed: every COMMIT_EVERY_MS the
 * thread commits, asynchronously, each partition's committable offset
 * (the end of its settled prefix); a revoke asks the batcher to seal the
 * revoked partitions' open batches, waits up to kafka.drain_timeout for
 * them to settle and commits them synchronously; the last commit,
 * synchronous, comes at free(), once the engine has delivered (or
 * abandoned) everything.
 *
 * Backpressure: with no room left in the stream, every assigned partition
 * is paused; the thread keeps polling (rebalances, commits,
 * max.poll.interval.ms) and resumes at the stream's low-water mark. What
 * a paused consumer still returns (fetched before the pause) is taken,
 * never dropped: the position moved past it.
 *
 * Shutdown, in main.c's order: stop() asks the thread to go quiet (no new
 * chunks; partitions paused) and waits until it has, so nothing reaches a
 * stopped stream; the thread stays in the group, still committing, while
 * the engine drains. free() asks it to close: a synchronous commit of what
 * settled, the workarounds for librdkafka 2.0.2 (below),
 * rd_kafka_consumer_close.
 *
 * librdkafka 2.0.2 bugs worked around: #4381 (closing a cooperative-sticky
 * consumer between joining and its first assignment crashes): close waits
 * a while for that first assignment once joined; #4527 (an assignment
 * arriving while closing hangs close): unsubscribe and let the revoke run
 * before closing.
 *
 * The module (source.h: its keys and hooks) is at the end of the file.
 */
#include "source_kafka.h"

#include <librdkafka/rdkafka.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "intake.h"
#include "log.h"
#include "metrics.h"
#include "source.h"
#include "sluice/err.h"

#define ROUND_MAX        4096                /* messages per poll round */
#define ROUND_BYTES      (4u << 20)          /* ... and about this many bytes */
#define POLL_MS          100
#define COMMIT_EVERY_MS  5000
#define SESSION_DEFAULT_MS 45000             /* librdkafka's session.timeout.ms */
#define FIRST_ASSIGN_WAIT_MS 10000           /* close: wait for a first assignment (#4381) */
#define UNASSIGN_WAIT_MS 5000                /* close: wait for the revoke (#4527) */

/* --- The tracker (source_kafka.h) --- */

struct sl_kafka_span {
    struct sl_kafka_part *part;
    int64_t first, last;            /* offsets of its first and last record */
    uint32_t n;                     /* records in its chunk */
    uint32_t settled;               /* ... settled so far */
    uint32_t prefix;                /* ... of which [0, prefix) in the chunk's order */
    int64_t resume;                 /* record <prefix>'s offset; -1: not known */
    struct sl_kafka_span *next;
};

struct sl_kafka_part *sl__source_kafka_part_new(pthread_mutex_t *lock, pthread_cond_t *cond,
                                                const char *topic, int32_t partition)
{
    struct sl_kafka_part *p = calloc(1, sizeof(*p));

    if (!p || !(p->topic = strdup(topic))) {
        free(p);
        return NULL;
    }
    p->lock = lock;
    p->cond = cond;
    p->partition = partition;
    p->done = p->next = p->sent = p->committed = -1;
    return p;
}

void sl__source_kafka_part_free(struct sl_kafka_part *p)
{
    struct sl_kafka_span *s, *n;

    if (!p)
        return;
    for (s = p->head; s; s = n) {
        n = s->next;
        free(s);
    }
    free(p->topic);
    free(p);
}

/* Moves the done prefix forward over the spans whose records all settled,
 * and into the first that has not, up to its first unsettled record (so a
 * commit ends where a batch begins). Lock held. */
static void advance(struct sl_kafka_part *p)
{
    struct sl_kafka_span *s;
    int moved = 0;

    while ((s = p->head) && s->settled >= s->n) {
        p->done = s->last + 1;
        p->head = s->next;
        if (!p->head)
            p->tail = NULL;
        free(s);
        moved = 1;
    }
    if (s && s->resume > p->done) {
        p->done = s->resume;
        moved = 1;
    }
    if (moved)
        pthread_cond_broadcast(p->cond);
}

struct sl_kafka_span *sl__source_kafka_span_add(struct sl_kafka_part *p, int64_t first,
                                                int64_t last, uint32_t nrecords, int *oom)
{
    struct sl_kafka_span *s = calloc(1, sizeof(*s));

    *oom = !s;
    if (!s)
        return NULL;
    s->part = p;
    s->first = first;
    s->last = last;
    s->n = nrecords;
    s->resume = -1;
    pthread_mutex_lock(p->lock);
    if (p->tail)
        p->tail->next = s;
    else
        p->head = s;
    p->tail = s;
    if (last + 1 > p->next)
        p->next = last + 1;
    if (nrecords == 0) {            /* nothing to wait for: done once it is first */
        advance(p);
        s = NULL;
    }
    pthread_mutex_unlock(p->lock);
    return s;
}

void sl__source_kafka_settled(void *arg, const struct sl_chunk *c, uint32_t first,
                              uint32_t nrecords)
{
    struct sl_kafka_span *s = arg;
    struct sl_kafka_part *p = s->part;

    pthread_mutex_lock(p->lock);
    s->settled += nrecords;
    /* A run that continues the prefix extends it; one settled ahead of an
     * earlier run only counts (the prefix then stops short until the
     * whole span has settled: later, never wrong). */
    if (first == s->prefix) {
        s->prefix += nrecords;
        if (s->prefix < s->n && c && c->origin)
            s->resume = c->origin->pos[s->prefix];
    }
    if (s == p->head)
        advance(p);               /* may free s */
    pthread_mutex_unlock(p->lock);
}

int64_t sl__source_kafka_committable(const struct sl_kafka_part *p)
{
    return p->revoked ? -1 : p->done;
}

unsigned sl__source_kafka_inflight(const struct sl_kafka_part *p)
{
    unsigned n = 0;

    for (const struct sl_kafka_span *s = p->head; s; s = s->next)
        n += s->settled < s->n;
    return n;
}

/* --- A stream's consumer --- */

/* [stream NAME] keys. */
enum { START_COMMITTED, START_EARLIEST, START_LATEST };

struct kafka_stream {
    char     brokers[1024];               /* "" when the stream has no Kafka source */
    char     topics[1024];
    char     group_id[256];               /* "": sluice-STREAM */
    int      start;                       /* START_* */
    char     options[8192];               /* kafka.option.NAME: NAME=VALUE lines */
    int64_t  drain_timeout_ms;            /* 0: half the session timeout */
    int64_t  seal_grace_ms;               /* a quiet partition's batch waits this long
                                           * past buffer_interval for late records */
    int64_t  session_ms;                  /* session.timeout.ms, resolved by the check */
};

/* What the main thread asks of a consumer thread, and what it reached. */
enum { KS_RUN, KS_QUIET, KS_CLOSE };
enum { RB_ASSIGN, RB_REVOKE, RB_LOST, RB_N };
static const char *const rb_names[RB_N] = { "assign", "revoke", "lost" };

/* A partition seen assigned in this process: kafka.start = earliest |
 * latest apply to its first assignment only; and where its settled prefix
 * ended when it was last revoked or lost, to read on from there if it
 * comes back (librdkafka 2.0.2 loses the assignment when a commit meets a
 * rebalance, #4908: the commit failed, but the records were delivered). */
struct seen {
    char *topic;
    int32_t partition;
    int64_t done;                         /* -1: nothing settled */
};

struct kstream {
    const char *name;                     /* borrowed: the host's, until free() */
    struct sl_intake *in;                 /* borrowed */
    const struct kafka_stream *conf;      /* borrowed */
    char group[300];
    rd_kafka_t *rk;                       /* owned; the consumer thread's, but for the
                                           * thread-safe calls of stop() and metrics */
    pthread_t th;
    int started;                          /* th runs (main thread's) */

    /* The lock guards the trackers (source_kafka.h), want and state; the
     * delivery workers take it in settled(), the metrics thread to read. */
    pthread_mutex_t lock;
    pthread_cond_t cond;                  /* spans left, state reached (CLOCK_MONOTONIC) */
    struct sl_kafka_part *parts;          /* assigned, and revoked ones with spans left */
    int want;                             /* KS_*, set by the main thread */
    int state;                            /* KS_*, reached by the consumer thread */

    /* The consumer thread's alone. */
    int paused;                           /* every assigned partition paused */
    int assigned_once;                    /* a first assignment arrived (#4381) */
    int closing;                          /* close: a revoke waits for nothing */
    int64_t next_commit_ms;
    struct seen *seen;                    /* owned */
    size_t nseen;
    rd_kafka_message_t **msgs;            /* owned: a round's messages (ROUND_MAX) */
    struct sl_ratelimit rl_oversize, rl_err;

    /* Counters (relaxed atomics, read by the metrics thread). */
    _Atomic uint64_t rebalances[RB_N];
    _Atomic uint64_t commit_errors;
    _Atomic uint64_t npaused;
};

struct sl_kafka {
    struct kstream *s;                    /* owned array */
    size_t n;
};

static int64_t drain_ms(const struct kafka_stream *c)
{
    return c->drain_timeout_ms ? c->drain_timeout_ms : c->session_ms / 2;
}

/* The active (not revoked) tracker of <topic> [<partition>], or NULL. Lock held. */
static struct sl_kafka_part *find_part(struct kstream *s, const char *topic, int32_t partition)
{
    for (struct sl_kafka_part *p = s->parts; p; p = p->next_part)
        if (!p->revoked && p->partition == partition && strcmp(p->topic, topic) == 0)
            return p;
    return NULL;
}

/* ... made if missing; NULL when out of memory. Lock held. */
static struct sl_kafka_part *get_part(struct kstream *s, const char *topic, int32_t partition)
{
    struct sl_kafka_part *p = find_part(s, topic, partition);

    if (!p && (p = sl__source_kafka_part_new(&s->lock, &s->cond, topic, partition))) {
        p->next_part = s->parts;
        s->parts = p;
    }
    return p;
}

/* Frees the revoked trackers no chunk points at any more. Lock held. */
static void reap_parts(struct kstream *s)
{
    struct sl_kafka_part **pp = &s->parts, *p;

    while ((p = *pp)) {
        if (p->revoked && !p->head) {
            *pp = p->next_part;
            sl__source_kafka_part_free(p);
        } else {
            pp = &p->next_part;
        }
    }
}

static void count_commit_error(struct kstream *s, const char *what, rd_kafka_resp_err_t err)
{
    uint64_t suppressed;

    sl_stat_add(&s->commit_errors, 1);
    if (sl_log_ratelimit_ok(&s->rl_err, 5000, &suppressed))
        sl_warn("stream=%s source=kafka msg=\"offset commit failed\" what=%s error=\"%s\" "
                "suppressed=%llu", s->name, what, rd_kafka_err2str(err),
                (unsigned long long)suppressed);
}

/* Records the outcome of a commit of <l> (per partition). */
static void commit_result(struct kstream *s, rd_kafka_resp_err_t err,
                          const rd_kafka_topic_partition_list_t *l, const char *what)
{
    int failed = 0;

    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET || !l)
        return;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < l->cnt; i++) {
        const rd_kafka_topic_partition_t *e = &l->elems[i];
        struct sl_kafka_part *p = find_part(s, e->topic, e->partition);
        if (err || e->err) {
            failed = 1;
            if (p && p->sent == e->offset)
                p->sent = -1;               /* ask again next round */
        } else if (p && e->offset > p->committed) {
            p->committed = e->offset;
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (failed)
        count_commit_error(s, what, err ? err : RD_KAFKA_RESP_ERR__FAIL);
}

/* Commits what settled on the trackers (all active ones, or those of
 * <only>), unless already asked: asynchronously, or synchronously with
 * the result recorded. */
static void commit(struct kstream *s, const rd_kafka_topic_partition_list_t *only, int async)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    rd_kafka_resp_err_t err;

    if (!l)
        return;
    pthread_mutex_lock(&s->lock);
    for (struct sl_kafka_part *p = s->parts; p; p = p->next_part) {
        int64_t off = sl__source_kafka_committable(p);
        if (off < 0 || off == (async ? p->sent : p->committed))
            continue;
        if (only && !rd_kafka_topic_partition_list_find(only, p->topic, p->partition))
            continue;
        rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = off;
        p->sent = off;
    }
    pthread_mutex_unlock(&s->lock);
    if (l->cnt) {
        err = rd_kafka_commit(s->rk, l, async);
        if (err || !async)
            commit_result(s, err, l, async ? "periodic" : only ? "revoke" : "close");
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* offset_commit_cb: the asynchronous commits' results (consumer thread). */
static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    commit_result(opaque, err, offsets, "periodic");
}

/* Pauses (1) or resumes (0) every assigned partition. */
static void pause_all(struct kstream *s, int pause)
{
    rd_kafka_topic_partition_list_t *l = NULL;

    if (rd_kafka_assignment(s->rk, &l) != RD_KAFKA_RESP_ERR_NO_ERROR || !l)
        return;
    if (pause)
        rd_kafka_pause_partitions(s->rk, l);
    else
        rd_kafka_resume_partitions(s->rk, l);
    s->paused = pause;
    atomic_store_explicit(&s->npaused, pause ? (uint64_t)l->cnt : 0, memory_order_relaxed);
    sl_debug("stream=%s source=kafka msg=\"%s\" partitions=%d", s->name,
             pause ? "paused" : "resumed", l->cnt);
    rd_kafka_topic_partition_list_destroy(l);
}

/* The entry of <topic> [<partition>], made (*<made> = 1) if missing;
 * NULL when out of memory. */
static struct seen *seen_of(struct kstream *s, const char *topic, int32_t partition, int *made)
{
    struct seen *n;

    *made = 0;
    for (size_t i = 0; i < s->nseen; i++)
        if (s->seen[i].partition == partition && strcmp(s->seen[i].topic, topic) == 0)
            return &s->seen[i];
    if (!(n = realloc(s->seen, (s->nseen + 1) * sizeof(*n))))
        return NULL;
    s->seen = n;
    n += s->nseen;
    if (!(n->topic = strdup(topic)))
        return NULL;
    n->partition = partition;
    n->done = -1;
    s->nseen++;
    *made = 1;
    return n;
}

/* Waits up to <ms> for the trackers of <l> to have nothing in flight. */
static void wait_settled(struct kstream *s, const rd_kafka_topic_partition_list_t *l, int64_t ms)
{
    int64_t end = sl_clock_mono_ms() + ms;
    struct timespec ts;

    pthread_mutex_lock(&s->lock);
    for (;;) {
        unsigned left = 0;
        for (int i = 0; i < l->cnt; i++) {
            struct sl_kafka_part *p = find_part(s, l->elems[i].topic, l->elems[i].partition);
            left += p ? sl__source_kafka_inflight(p) : 0;
        }
        int64_t now = sl_clock_mono_ms();
        if (!left || now >= end)
            break;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t wait = end - now < 200 ? end - now : 200;
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (wait % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
    pthread_mutex_unlock(&s->lock);
}

/* Asks the batcher to seal the open batches of <l>'s partitions now (an
 * empty chunk of each one's lane, SL_ORIGIN_SEAL), so that a revoke can
 * wait for them to settle instead of for their interval. */
static void seal_lanes(struct kstream *s, const rd_kafka_topic_partition_list_t *l)
{
    char lane[320];
    int64_t wall = sl_clock_wall_ms(), mono = sl_clock_mono_ms();

    for (int i = 0; i < l->cnt; i++) {
        struct sl_chunk *c = sl_chunk_new(0, wall, mono);
        snprintf(lane, sizeof(lane), "%s/%d", l->elems[i].topic, (int)l->elems[i].partition);
        if (!c || !(c->origin = sl_chunk_origin_new(lane, 0, 0))) {
            sl_chunk_unref(c);      /* then it seals by its interval: a longer wait */
            continue;
        }
        c->origin->flags = SL_ORIGIN_SEAL;
        sl_intake_push(s->in, SL_SRC_KAFKA, c);
    }
}

/* Marks the trackers of <l> revoked, remembering where each one's
 * settled prefix ended. */
static void revoke_parts(struct kstream *s, const rd_kafka_topic_partition_list_t *l)
{
    struct seen *e;
    int made;

    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < l->cnt; i++) {
        struct sl_kafka_part *p = find_part(s, l->elems[i].topic, l->elems[i].partition);
        if (!p)
            continue;
        if (p->done >= 0 && (e = seen_of(s, p->topic, p->partition, &made)))
            e->done = p->done;
        p->revoked = 1;
    }
    reap_parts(s);
    pthread_mutex_unlock(&s->lock);
}

static void assign(struct kstream *s, rd_kafka_topic_partition_list_t *l, int coop)
{
    rd_kafka_error_t *ae = NULL;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < l->cnt; i++) {
        rd_kafka_topic_partition_t *t = &l->elems[i];
        struct sl_kafka_part *p = get_part(s, t->topic, t->partition);
        int made;
        struct seen *e = seen_of(s, t->topic, t->partition, &made);
        if (!p || !e) {
            sl_error("stream=%s source=kafka msg=\"out of memory\"", s->name);
            continue;
        }
        if (made && s->conf->start != START_COMMITTED) {
            t->offset = s->conf->start == START_EARLIEST ? RD_KAFKA_OFFSET_BEGINNING
                                                         : RD_KAFKA_OFFSET_END;
        } else if (e->done >= 0) {
            /* Back here: on from what this process delivered (its commit
             * may have failed). Below the group's commit (another member
             * went further meanwhile) reads again; never skips. */
            t->offset = e->done;
            p->done = e->done;       /* ... and commit it */
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (coop)
        ae = rd_kafka_incremental_assign(s->rk, l);
    else
        err = rd_kafka_assign(s->rk, l);
    if (ae || err)
        sl_error("stream=%s source=kafka msg=\"assign failed\" error=\"%s\"", s->name,
                 ae ? rd_kafka_error_string(ae) : rd_kafka_err2str(err));
    if (ae)
        rd_kafka_error_destroy(ae);
    if (s->paused && l->cnt) {      /* newcomers wait with the others */
        rd_kafka_pause_partitions(s->rk, l);
        atomic_fetch_add_explicit(&s->npaused, (uint64_t)l->cnt, memory_order_relaxed);
    }
}

static void unassign(struct kstream *s, rd_kafka_topic_partition_list_t *l, int coop)
{
    rd_kafka_error_t *e = NULL;

    if (coop)
        e = rd_kafka_incremental_unassign(s->rk, l);
    else
        rd_kafka_assign(s->rk, NULL);
    if (e) {
        sl_error("stream=%s source=kafka msg=\"unassign failed\" error=\"%s\"", s->name,
                 rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    if (s->paused) {
        uint64_t n = atomic_load_explicit(&s->npaused, memory_order_relaxed);
        atomic_store_explicit(&s->npaused, n > (uint64_t)l->cnt ? n - (uint64_t)l->cnt : 0,
                              memory_order_relaxed);
    }
}

/* rebalance_cb (consumer thread, inside rd_kafka_consumer_poll). */
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *l, void *opaque)
{
    struct kstream *s = opaque;
    const char *proto = rd_kafka_rebalance_protocol(rk);
    int coop = proto && strcmp(proto, "COOPERATIVE") == 0;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        s->assigned_once = 1;
        sl_stat_add(&s->rebalances[RB_ASSIGN], 1);
        sl_info("stream=%s source=kafka msg=\"partitions assigned\" partitions=%d protocol=%s",
                s->name, l->cnt, proto ? proto : "-");
        assign(s, l, coop);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        if (rd_kafka_assignment_lost(rk)) {
            sl_stat_add(&s->rebalances[RB_LOST], 1);
            sl_warn("stream=%s source=kafka msg=\"assignment lost: records in flight from "
                    "these partitions will be read again by their new owner\" partitions=%d",
                    s->name, l->cnt);
        } else {
            sl_stat_add(&s->rebalances[RB_REVOKE], 1);
            if (!s->closing && s->state == KS_RUN)
                seal_lanes(s, l);       /* quiet: the engine seals them, stopping */
            if (!s->closing)
                wait_settled(s, l, drain_ms(s->conf));
            commit(s, l, 0);
            sl_info("stream=%s source=kafka msg=\"partitions revoked\" partitions=%d",
                    s->name, l->cnt);
        }
        revoke_parts(s, l);
        unassign(s, l, coop);
    } else {
        sl_error("stream=%s source=kafka msg=\"rebalance failed\" error=\"%s\"", s->name,
                 rd_kafka_err2str(err));
        revoke_parts(s, l);
        unassign(s, l, coop);
    }
}

/* error_cb (consumer thread): mostly transient (brokers down); fatal
 * ones are logged as errors. */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct kstream *s = opaque;
    uint64_t suppressed;

    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        sl_error("stream=%s source=kafka msg=\"fatal consumer error\" error=\"%s\"", s->name,
                 reason);
        return;
    }
    if (sl_log_ratelimit_ok(&s->rl_err, 5000, &suppressed))
        sl_warn("stream=%s source=kafka msg=\"consumer error\" error=\"%s: %s\" suppressed=%llu",
                s->name, rd_kafka_err2name(err), reason, (unsigned long long)suppressed);
}

/* log_cb (librdkafka's threads): its own lines, at our levels. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    if (level <= 3)
        sl_error("source=kafka client=%s facility=%s msg=\"%s\"", rd_kafka_name(rk), fac, buf);
    else if (level == 4)
        sl_warn("source=kafka client=%s facility=%s msg=\"%s\"", rd_kafka_name(rk), fac, buf);
    else if (level <= 6)
        sl_info("source=kafka client=%s facility=%s msg=\"%s\"", rd_kafka_name(rk), fac, buf);
    else
        sl_debug("source=kafka client=%s facility=%s msg=\"%s\"", rd_kafka_name(rk), fac, buf);
}

static void reject_oversize(struct kstream *s, const rd_kafka_message_t *m)
{
    uint64_t suppressed;

    sl_stat_add(&s->in->stats->rejected[SL_SRC_KAFKA][SL_REJ_OVERSIZE], 1);
    if (sl_log_ratelimit_ok(&s->rl_oversize, 5000, &suppressed))
        sl_warn("stream=%s source=kafka msg=\"record over max_record_size discarded\" "
                "topic=%s partition=%d offset=%lld bytes=%zu limit=%llu suppressed=%llu",
                s->name, rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset,
                m->len, (unsigned long long)SL_LD(s->in->max_record_size),
                (unsigned long long)suppressed);
}

/* 1 if <m> is from the same partition as <first>. */
static int same_part(const rd_kafka_message_t *m, const rd_kafka_message_t *first)
{
    return m && m->partition == first->partition &&
           (m->rkt == first->rkt ||
            strcmp(rd_kafka_topic_name(m->rkt), rd_kafka_topic_name(first->rkt)) == 0);
}

/* Takes one partition's messages of a round (those of m[0]'s partition in
 * m[0..n)): one chunk, its span, handed on; the messages destroyed and
 * their slots set to NULL. */
static void take_part(struct kstream *s, rd_kafka_message_t **m, size_t n, int64_t wall,
                      int64_t mono)
{
    const char *topic = rd_kafka_topic_name(m[0]->rkt);
    int32_t partition = m[0]->partition;
    uint64_t max = SL_LD(s->in->max_record_size), need = 0;
    int64_t first = m[0]->offset, last = first, ts;
    uint32_t nrec = 0;
    char lane[320];
    rd_kafka_timestamp_type_t tstype;
    struct sl_chunk *c = NULL;
    struct sl_kafka_part *p;
    struct sl_kafka_span *sp = NULL;
    int oom = 0;

    for (size_t i = 0; i < n; i++)
        if (same_part(m[i], m[0]) && m[i]->len && m[i]->len <= max) {
            need += SL_CHUNK_HDR + m[i]->len;
            nrec++;
        }
    pthread_mutex_lock(&s->lock);
    p = get_part(s, topic, partition);
    pthread_mutex_unlock(&s->lock);
    snprintf(lane, sizeof(lane), "%s/%d", topic, (int)partition);
    if (!p || (nrec && (!(c = sl_chunk_new((uint32_t)need, wall, mono)) ||
                        !(c->origin = sl_chunk_origin_new(lane, nrec, s->conf->seal_grace_ms)))))
        oom = 1;
    for (size_t i = n; i-- > 0;) {      /* backwards: m[0] goes last, <topic> is its */
        if (!same_part(m[i], m[0]))
            continue;
        if (m[i]->offset > last)
            last = m[i]->offset;
        if (m[i]->offset < first)
            first = m[i]->offset;
    }
    for (size_t i = 0; !oom && i < n; i++) {
        if (!same_part(m[i], m[0]))
            continue;
        if (m[i]->len > max)
            reject_oversize(s, m[i]);
        else if (m[i]->len) {           /* empty payloads (tombstones) are skipped */
            ts = rd_kafka_message_timestamp(m[i], &tstype);
            c->origin->pos[c->nrecords] = m[i]->offset;
            c->origin->time_ms[c->nrecords] = ts >= 0 ? ts : wall;
            sl_chunk_add(c, m[i]->payload, (uint32_t)m[i]->len);
        }
    }
    if (!oom)
        sp = sl__source_kafka_span_add(p, first, last, nrec, &oom);
    if (oom) {
        /* Not taken: the partition commits nothing more in this process
         * (its later offsets must not pass these), read again after it. */
        sl_error("stream=%s source=kafka msg=\"out of memory: records not taken; the "
                 "partition commits no more until a restart\" topic=%s partition=%d", s->name,
                 topic, (int)partition);
        if (p) {
            pthread_mutex_lock(&s->lock);
            p->revoked = 1;
            pthread_mutex_unlock(&s->lock);
        }
        if (c)
            sl_chunk_unref(c);
    } else if (c) {
        c->settled = sl__source_kafka_settled;
        c->settled_arg = sp;
        sl_intake_push(s->in, SL_SRC_KAFKA, c);     /* never logged: Kafka is its log */
    }
    for (size_t i = n; i-- > 0;)
        if (same_part(m[i], m[0]) || i == 0) {
            rd_kafka_message_destroy(m[i]);
            m[i] = NULL;
        }
}

/* Takes a round's messages: one chunk per partition, in offset order. */
static void take(struct kstream *s, rd_kafka_message_t **m, size_t n)
{
    int64_t wall = sl_clock_wall_ms(), mono = sl_clock_mono_ms();

    for (size_t i = 0; i < n; i++)
        if (m[i])
            take_part(s, m + i, n - i, wall, mono);
}

/* Polls one round: up to ROUND_MAX messages, about <budget> bytes. */
static size_t poll_round(struct kstream *s, uint64_t budget)
{
    uint64_t bytes = 0;
    size_t n = 0;
    int timeout = POLL_MS;
    rd_kafka_message_t *m;
    uint64_t suppressed;

    if (budget > ROUND_BYTES)
        budget = ROUND_BYTES;
    while (n < ROUND_MAX && (m = rd_kafka_consumer_poll(s->rk, timeout))) {
        timeout = 0;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF &&
                sl_log_ratelimit_ok(&s->rl_err, 5000, &suppressed))
                sl_warn("stream=%s source=kafka msg=\"consume error\" error=\"%s\" "
                        "suppressed=%llu", s->name, rd_kafka_message_errstr(m),
                        (unsigned long long)suppressed);
            rd_kafka_message_destroy(m);
            continue;
        }
        s->msgs[n++] = m;
        bytes += m->len;
        if (bytes >= budget)
            break;
    }
    return n;
}

static void set_state(struct kstream *s, int state)
{
    pthread_mutex_lock(&s->lock);
    s->state = state;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static int wanted(struct kstream *s)
{
    int w;

    pthread_mutex_lock(&s->lock);
    w = s->want;
    pthread_mutex_unlock(&s->lock);
    return w;
}

/* 1 once the group has given this consumer a member id: it joined, and
 * an assignor was chosen. #4381 crashes a close between that and the
 * first assignment; before it (brokers unreachable) a close is safe. */
static int joined(struct kstream *s)
{
    char *id = rd_kafka_memberid(s->rk);
    int yes = id && id[0];

    rd_kafka_mem_free(s->rk, id);
    return yes;
}

/* Leaves the group: last commit, then the 2.0.2 workarounds, then close. */
static void close_consumer(struct kstream *s)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    int64_t end;
    rd_kafka_message_t *m;

    s->closing = 1;
    commit(s, NULL, 0);
    end = sl_clock_mono_ms() + FIRST_ASSIGN_WAIT_MS;
    while (!s->assigned_once && joined(s) && sl_clock_mono_ms() < end)   /* #4381 */
        if ((m = rd_kafka_consumer_poll(s->rk, POLL_MS)))
            rd_kafka_message_destroy(m);                         /* not taken: quiet */
    rd_kafka_unsubscribe(s->rk);                                 /* #4527 */
    end = sl_clock_mono_ms() + UNASSIGN_WAIT_MS;
    while (sl_clock_mono_ms() < end) {
        if ((m = rd_kafka_consumer_poll(s->rk, POLL_MS)))
            rd_kafka_message_destroy(m);
        if (rd_kafka_assignment(s->rk, &l) == RD_KAFKA_RESP_ERR_NO_ERROR && l) {
            int cnt = l->cnt;
            rd_kafka_topic_partition_list_destroy(l);
            l = NULL;
            if (!cnt)
                break;
        }
    }
    rd_kafka_consumer_close(s->rk);
    sl_info("stream=%s source=kafka msg=\"left the group\" group=%s", s->name, s->group);
}

static void *consume(void *arg)
{
    struct kstream *s = arg;

    s->next_commit_ms = sl_clock_mono_ms() + COMMIT_EVERY_MS;
    for (;;) {
        int want = wanted(s);
        uint64_t budget = 0;
        size_t n;

        if (want == KS_CLOSE)
            break;
        if (want == KS_QUIET && s->state != KS_QUIET) {
            if (!s->paused)
                pause_all(s, 1);
            set_state(s, KS_QUIET);
        }
        if (want == KS_RUN) {
            budget = sl_intake_room(s->in);
            if (!s->paused && !budget)
                pause_all(s, 1);
            else if (s->paused && sl_intake_drained(s->in))
                pause_all(s, 0);
        }
        n = poll_round(s, budget ? budget : 1);
        if (want == KS_RUN) {
            take(s, s->msgs, n);
        } else {
            for (size_t i = 0; i < n; i++)      /* quiet: never committed, read again */
                rd_kafka_message_destroy(s->msgs[i]);
        }
        if (sl_clock_mono_ms() >= s->next_commit_ms) {
            commit(s, NULL, 1);
            pthread_mutex_lock(&s->lock);
            reap_parts(s);
            pthread_mutex_unlock(&s->lock);
            s->next_commit_ms = sl_clock_mono_ms() + COMMIT_EVERY_MS;
        }
    }
    close_consumer(s);
    set_state(s, KS_CLOSE);
    return NULL;
}

/* --- The module (source.h): its keys, and the consumers driven by them. --- */

static const char *const start_names[] = { "committed", "earliest", "latest", NULL };

#define KS(f) SL_KSTR(struct kafka_stream, f)

static const struct sl_conf_key kafka_stream_keys[] = {
    { "kafka.brokers", SL_K_STRING, KS(brokers), 0, 0, NULL, NULL,
      "Kafka bootstrap brokers HOST:PORT,... (unset: no Kafka source)" },
    { "kafka.topics", SL_K_STRING, KS(topics), 0, 0, NULL, NULL,
      "Kafka topics to consume, comma-separated (with kafka.brokers)" },
    { "kafka.group_id", SL_K_STRING, KS(group_id), 0, 0, NULL, NULL,
      "Kafka consumer group (unset: sluice-STREAM)" },
    { "kafka.start", SL_K_ENUM, offsetof(struct kafka_stream, start), 0, 0, 2, "committed",
      start_names, "where a partition is first read: committed (else earliest), earliest "
      "or latest (then committed offsets after a rebalance)" },
    { "kafka.option.*", SL_K_MAP, KS(options), 0, 0, NULL, NULL,
      "any librdkafka consumer property NAME (security.protocol, sasl.*, ssl.*, "
      "session.timeout.ms...)" },
    { "kafka.drain_timeout", SL_K_DURATION, offsetof(struct kafka_stream, drain_timeout_ms), 0,
      0, 3600 * SL_SEC, "0", NULL, "on a revoke, wait this long for the partitions' records "
      "to settle before committing; below session.timeout.ms (0: half of it)" },
    { "kafka.seal_grace", SL_K_DURATION, offsetof(struct kafka_stream, seal_grace_ms), 0, 0,
      3600 * SL_SEC, "2s", NULL, "a partition's batch, once quiet, is sealed this long after "
      "buffer_interval: records arriving later than this behind their Kafka timestamps may "
      "be batched differently when read again" },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

/* Properties sluice sets itself: an option may not change them. */
static const struct {
    const char *name, *why;
} reserved[] = {
    { "bootstrap.servers", "use kafka.brokers" },
    { "metadata.broker.list", "use kafka.brokers" },
    { "group.id", "use kafka.group_id" },
    { "auto.offset.reset", "use kafka.start" },
    { "enable.auto.commit", "sluice commits only what has settled" },
    { "enable.auto.offset.store", "sluice commits only what has settled" },
    { NULL, NULL },
};

/* Sets <name> = <value> in <conf>; SL_OK, or an error with why. */
static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *why,
                    size_t whylen)
{
    return rd_kafka_conf_set(conf, name, value, why, whylen) == RD_KAFKA_CONF_OK ? SL_OK
                                                                                : SL_EINVAL;
}

/* The consumer's properties: sluice's, then the options. SL_OK, or an
 * error with why (and the option in *<bad>, NULL when not one). */
static int build_conf(rd_kafka_conf_t *conf, const struct kafka_stream *c, const char *group,
                      const char **bad, char *opt, size_t optlen, char *why, size_t whylen)
{
    const char *start = c->start == START_LATEST ? "latest" : "earliest";
    char value[1024];
    size_t pos = 0;

    *bad = NULL;
    if ((c->brokers[0] && conf_set(conf, "bootstrap.servers", c->brokers, why, whylen)) ||
        conf_set(conf, "group.id", group, why, whylen) ||
        conf_set(conf, "enable.auto.commit", "false", why, whylen) ||
        conf_set(conf, "enable.auto.offset.store", "false", why, whylen) ||
        conf_set(conf, "partition.assignment.strategy", "cooperative-sticky", why, whylen) ||
        conf_set(conf, "auto.offset.reset", start, why, whylen))
        return SL_EINVAL;
    while (sl_conf_key_map_next(c->options, &pos, opt, optlen, value, sizeof(value))) {
        *bad = opt;
        for (int i = 0; reserved[i].name; i++)
            if (strcmp(opt, reserved[i].name) == 0) {
                snprintf(why, whylen, "set by sluice: %s", reserved[i].why);
                return SL_EINVAL;
            }
        if (conf_set(conf, opt, value, why, whylen))
            return SL_EINVAL;
    }
    *bad = NULL;
    return SL_OK;
}

/* 1 if <topics> is a comma-separated list of non-empty names. */
static int topics_ok(const char *topics)
{
    const char *p = topics;

    for (;;) {
        size_t n = strcspn(p, ","), lead = strspn(p, " \t");
        if (lead >= n)
            return 0;
        if (!p[n])
            return 1;
        p += n + 1;
    }
}

/* Brokers and topics together; options librdkafka takes; drain_timeout
 * below the session timeout. */
static void kafka_check_stream(void *conf, const struct sl_source_peers *before,
                               struct sl_conf_check *chk)
{
    struct kafka_stream *c = conf;
    char why[512], opt[256], key[sizeof(c->options)], value[1024];
    const char *bad;
    size_t pos = 0;
    rd_kafka_conf_t *rc;

    (void)before;
    c->session_ms = SESSION_DEFAULT_MS;
    while (sl_conf_key_map_next(c->options, &pos, opt, sizeof(opt), value, sizeof(value)))
        if (strcmp(opt, "session.timeout.ms") == 0)
            c->session_ms = strtoll(value, NULL, 10);
    if (!c->brokers[0]) {
        if (c->topics[0] || c->group_id[0] || c->options[0])
            sl_conf_key_check_err(chk, "kafka.brokers", "needed by the other kafka.* keys");
        return;
    }
    if (!c->topics[0])
        sl_conf_key_check_err(chk, "kafka.topics", "needed with kafka.brokers");
    else if (!topics_ok(c->topics))
        sl_conf_key_check_err(chk, "kafka.topics", "an empty topic name in \"%s\"", c->topics);
    if (!(rc = rd_kafka_conf_new()))
        return;
    /* sluice's own properties, then each option on its own: every bad
     * one is reported, by name */
    snprintf(key, sizeof(key), "%s", c->options);
    c->options[0] = '\0';
    if (build_conf(rc, c, c->group_id[0] ? c->group_id : "sluice", &bad, opt, sizeof(opt), why,
                   sizeof(why)) != SL_OK)
        sl_conf_key_check_err(chk, "kafka.brokers", "%s", why);
    snprintf(c->options, sizeof(c->options), "%s", key);
    pos = 0;
    while (sl_conf_key_map_next(c->options, &pos, opt, sizeof(opt), value, sizeof(value))) {
        const char *res = NULL;
        for (int i = 0; reserved[i].name; i++)
            if (strcmp(opt, reserved[i].name) == 0)
                res = reserved[i].why;
        if (res)
            sl_conf_key_check_err(chk, "kafka.option.*", "kafka.option.%s: set by sluice: %s",
                                  opt, res);
        else if (conf_set(rc, opt, value, why, sizeof(why)) != SL_OK)
            sl_conf_key_check_err(chk, "kafka.option.*", "kafka.option.%s: %s", opt, why);
    }
    rd_kafka_conf_destroy(rc);
    if (c->drain_timeout_ms && c->drain_timeout_ms >= c->session_ms)
        sl_conf_key_check_err(chk, "kafka.drain_timeout",
                              "must be below session.timeout.ms (%lld ms)",
                              (long long)c->session_ms);
}

/* A connection or two per broker, and librdkafka's own pipes. */
static uint64_t kafka_fds(const void *pconf, const void *sconf)
{
    const struct kafka_stream *c = sconf;

    (void)pconf;
    return c && c->brokers[0] ? 64 : 0;
}

static void kafka_log_stream(const void *sconf, struct sl_buf *out)
{
    const struct kafka_stream *c = sconf;

    if (c->brokers[0])
        sl_buf_printf(out, " kafka_topics=%s", c->topics);
}

static void kstream_destroy(struct kstream *s)
{
    struct sl_kafka_part *p, *n;

    if (s->rk)          /* closed by its thread, or never subscribed (#4381) */
        rd_kafka_destroy_flags(s->rk, s->started ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    for (p = s->parts; p; p = n) {
        n = p->next_part;
        sl__source_kafka_part_free(p);
    }
    for (size_t i = 0; i < s->nseen; i++)
        free(s->seen[i].topic);
    free(s->seen);
    free(s->msgs);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
}

/* Makes the consumer of stream <s> (not yet subscribed). */
static int kstream_init(struct kstream *s, const struct sl_source_stream *ss)
{
    const struct kafka_stream *c = ss->conf;
    char why[512], opt[256];
    const char *bad;
    pthread_condattr_t ca;
    rd_kafka_conf_t *rc;

    s->name = ss->name;
    s->in = ss->in;
    s->conf = c;
    snprintf(s->group, sizeof(s->group), "%s%s", c->group_id[0] ? "" : "sluice-",
             c->group_id[0] ? c->group_id : ss->name);
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (!(s->msgs = calloc(ROUND_MAX, sizeof(*s->msgs))) || !(rc = rd_kafka_conf_new())) {
        sl_error("stream=%s source=kafka msg=\"out of memory\"", s->name);
        return SL_ENOMEM;
    }
    if (build_conf(rc, c, s->group, &bad, opt, sizeof(opt), why, sizeof(why)) != SL_OK ||
        conf_set(rc, "client.id", "sluice", why, sizeof(why)) != SL_OK) {
        sl_error("stream=%s source=kafka msg=\"bad consumer property\" option=%s error=\"%s\"",
                 s->name, bad ? bad : "-", why);
        rd_kafka_conf_destroy(rc);
        return SL_EINVAL;
    }
    rd_kafka_conf_set_opaque(rc, s);
    rd_kafka_conf_set_rebalance_cb(rc, on_rebalance);
    rd_kafka_conf_set_offset_commit_cb(rc, on_commit);
    rd_kafka_conf_set_error_cb(rc, on_error);
    rd_kafka_conf_set_log_cb(rc, on_log);
    if (!(s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, rc, why, sizeof(why)))) {
        sl_error("stream=%s source=kafka msg=\"cannot make the consumer\" error=\"%s\"", s->name,
                 why);
        rd_kafka_conf_destroy(rc);  /* not taken on failure */
        return SL_ERR;
    }
    rd_kafka_poll_set_consumer(s->rk);
    return SL_OK;
}

static void kafka_free(void *ctx);

/* A consumer for each stream with kafka.brokers; none: nothing asked. */
static int kafka_open(const struct sl_source_host *h, void **ctx)
{
    struct sl_kafka *k;
    size_t n = 0;

    *ctx = NULL;
    for (size_t i = 0; i < h->nstreams; i++)
        n += ((const struct kafka_stream *)h->streams[i].conf)->brokers[0] != '\0';
    if (!n)
        return SL_OK;
    if (!(k = calloc(1, sizeof(*k))) || !(k->s = calloc(n, sizeof(*k->s)))) {
        free(k);
        sl_error("msg=\"cannot start the Kafka source: out of memory\"");
        return SL_ERR;
    }
    for (size_t i = 0; i < h->nstreams; i++) {
        if (!((const struct kafka_stream *)h->streams[i].conf)->brokers[0])
            continue;
        if (kstream_init(&k->s[k->n++], &h->streams[i]) != SL_OK) {
            kafka_free(k);
            return SL_ERR;
        }
    }
    *ctx = k;
    return SL_OK;
}

/* Subscribes each consumer and starts its thread. */
static int kafka_start(void *ctx)
{
    struct sl_kafka *k = ctx;

    for (size_t i = 0; i < k->n; i++) {
        struct kstream *s = &k->s[i];
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
        char topics[sizeof(s->conf->topics)], *save = NULL;
        rd_kafka_resp_err_t err;

        if (!l)
            return SL_ENOMEM;
        snprintf(topics, sizeof(topics), "%s", s->conf->topics);
        for (char *t = strtok_r(topics, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            t += strspn(t, " \t");
            t[strcspn(t, " \t")] = '\0';
            rd_kafka_topic_partition_list_add(l, t, RD_KAFKA_PARTITION_UA);
        }
        err = rd_kafka_subscribe(s->rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (err) {
            sl_error("stream=%s source=kafka msg=\"cannot subscribe\" error=\"%s\"", s->name,
                     rd_kafka_err2str(err));
            return SL_ERR;
        }
        if (pthread_create(&s->th, NULL, consume, s) != 0) {
            sl_error("stream=%s source=kafka msg=\"cannot start the consumer thread\"", s->name);
            return SL_ERR;
        }
        s->started = 1;
        sl_info("stream=%s source=kafka msg=\"consuming\" brokers=%s topics=%s group=%s",
                s->name, s->conf->brokers, s->conf->topics, s->group);
    }
    return SL_OK;
}

/* Asks each thread to go quiet and waits until it has: nothing reaches
 * the streams after this. The threads stay in their groups (committing
 * what settles while the engine drains) until free(). */
static void kafka_stop(void *ctx, int64_t grace_ms)
{
    struct sl_kafka *k = ctx;

    (void)grace_ms;        /* the quiet comes within a round, or a revoke's drain_timeout */
    for (size_t i = 0; i < k->n; i++) {
        pthread_mutex_lock(&k->s[i].lock);
        if (k->s[i].want == KS_RUN)
            k->s[i].want = KS_QUIET;
        pthread_mutex_unlock(&k->s[i].lock);
    }
    for (size_t i = 0; i < k->n; i++) {
        struct kstream *s = &k->s[i];
        pthread_mutex_lock(&s->lock);
        while (s->started && s->state == KS_RUN)
            pthread_cond_wait(&s->cond, &s->lock);
        pthread_mutex_unlock(&s->lock);
    }
}

/* The last commit and leaving the group, once the engine is done: every
 * settle that will ever come has come. */
static void kafka_free(void *ctx)
{
    struct sl_kafka *k = ctx;

    if (!k)
        return;
    for (size_t i = 0; i < k->n; i++) {
        pthread_mutex_lock(&k->s[i].lock);
        k->s[i].want = KS_CLOSE;
        pthread_mutex_unlock(&k->s[i].lock);
    }
    for (size_t i = 0; i < k->n; i++) {
        if (k->s[i].started)
            pthread_join(k->s[i].th, NULL);
        kstream_destroy(&k->s[i]);
    }
    free(k->s);
    free(k);
}

/* sluice_kafka_*: per partition, the lag and the committed offset; per
 * stream, rebalances, paused partitions and commit errors. */
static void kafka_metrics(void *ctx, struct sl_buf *o)
{
    struct sl_kafka *k = ctx;
    int64_t lo, hi;

    sl_metrics_family(o, "sluice_kafka_consumer_lag", "gauge",
                      "Records in an assigned partition past what sluice has read: the high "
                      "watermark last seen minus the next offset to read.");
    for (size_t i = 0; i < k->n; i++) {
        struct kstream *s = &k->s[i];
        pthread_mutex_lock(&s->lock);
        for (struct sl_kafka_part *p = s->parts; p; p = p->next_part) {
            int64_t at = p->next >= 0 ? p->next : p->committed;
            if (p->revoked || at < 0 ||
                rd_kafka_get_watermark_offsets(s->rk, p->topic, p->partition, &lo, &hi) ||
                hi < 0)
                continue;
            sl_buf_printf(o, "sluice_kafka_consumer_lag{stream=\"%s\",topic=\"%s\","
                          "partition=\"%d\"} %lld\n", s->name, p->topic, (int)p->partition,
                          (long long)(hi > at ? hi - at : 0));
        }
        pthread_mutex_unlock(&s->lock);
    }
    sl_metrics_family(o, "sluice_kafka_committed_offset", "gauge",
                      "The offset last committed for an assigned partition (the next one to "
                      "read after a restart).");
    for (size_t i = 0; i < k->n; i++) {
        struct kstream *s = &k->s[i];
        pthread_mutex_lock(&s->lock);
        for (struct sl_kafka_part *p = s->parts; p; p = p->next_part)
            if (!p->revoked && p->committed >= 0)
                sl_buf_printf(o, "sluice_kafka_committed_offset{stream=\"%s\",topic=\"%s\","
                              "partition=\"%d\"} %lld\n", s->name, p->topic, (int)p->partition,
                              (long long)p->committed);
        pthread_mutex_unlock(&s->lock);
    }
    sl_metrics_family(o, "sluice_kafka_rebalances_total", "counter",
                      "Rebalances of the stream's consumer, by kind: assign, revoke, lost "
                      "(partitions taken away without a revoke: their records in flight are "
                      "read again by the new owner).");
    for (size_t i = 0; i < k->n; i++)
        for (int r = 0; r < RB_N; r++)
            sl_buf_printf(o, "sluice_kafka_rebalances_total{stream=\"%s\",kind=\"%s\"} %llu\n",
                          k->s[i].name, rb_names[r],
                          (unsigned long long)SL_LD(k->s[i].rebalances[r]));
    sl_metrics_family(o, "sluice_kafka_paused_partitions", "gauge",
                      "Partitions paused because the stream is full (max_buffered) or its "
                      "log refuses records.");
    for (size_t i = 0; i < k->n; i++)
        sl_buf_printf(o, "sluice_kafka_paused_partitions{stream=\"%s\"} %llu\n", k->s[i].name,
                      (unsigned long long)SL_LD(k->s[i].npaused));
    sl_metrics_family(o, "sluice_kafka_commit_errors_total", "counter",
                      "Offset commits that failed (they are retried; records read again at "
                      "worst).");
    for (size_t i = 0; i < k->n; i++)
        sl_buf_printf(o, "sluice_kafka_commit_errors_total{stream=\"%s\"} %llu\n", k->s[i].name,
                      (unsigned long long)SL_LD(k->s[i].commit_errors));
}

const struct sl_source_ops sl_source_kafka = {
    .name = "kafka",
    .stream_keys = kafka_stream_keys,
    .stream_size = sizeof(struct kafka_stream),
    .stream_restart = kafka_stream_keys,    /* the consumer is made once */
    .prefix = "kafka.",
    .check_stream = kafka_check_stream,
    .fds = kafka_fds,
    .log_stream = kafka_log_stream,
    .open = kafka_open,
    .start = kafka_start,
    .stop = kafka_stop,
    .free = kafka_free,
    .metrics = kafka_metrics,
};
