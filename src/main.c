/*
 * main.c - command line, start-up, the signal loop, reload and shutdown.
 *
 * The main thread blocks every signal it handles before any other thread
 * starts, so they all inherit the mask, then waits for them synchronously
 * with sigtimedwait(): no handler, no async-signal-safety concerns, and a
 * signal that arrives during a reload waits its turn instead of being lost.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <unistd.h>
#include <glob.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <curl/curl.h>
#include <systemd/sd-daemon.h>

#include "clock.h"
#include "daemon.h"
#include "firehose_api.h"
#include "log.h"
#include "cmd_replay.h"
#include "transform.h"
#include "sluice/err.h"

#ifndef SL_VERSION
#define SL_VERSION "0.0.0-dev"
#endif

#define DRAIN_GRACE_MS 2000

/* What each exit status means; --help prints it, README.md repeats it. */
enum {
    EXIT_CLEAN = 0,       /* stopped, nothing lost (or --check: the config is valid) */
    EXIT_CONFIG = 1,      /* the config is invalid, or sluice could not start */
    EXIT_USAGE = 2,       /* a bad command line */
    EXIT_LOST = 3,        /* stopped with records of memory streams not delivered */
};

static void usage(FILE *f)
{
    struct sl_buf keys;

    fprintf(f, "usage: sluice -c FILE          run with the config FILE\n"
               "       sluice --check -c FILE  validate FILE and exit 0, or 1 with its errors\n"
               "       sluice replay --help    re-send records from backup envelopes\n"
               "       sluice --config-reference  every config key as Markdown\n"
               "       sluice -V, --version\n"
               "       sluice -h, --help\n\n"
               "signals: SIGTERM/SIGINT drain and exit (a second one: exit at once),\n"
               "         SIGHUP reloads FILE\n"
               "exit status: 0 stopped, nothing lost; 1 config invalid or could not start;\n"
               "             2 bad command line; 3 stopped with records of memory streams\n"
               "             lost (shutdown_timeout, or a second signal): see the log\n\n"
               "config keys:\n");
    sl_buf_init(&keys, 1 << 20);
    sl_config_describe(&keys);
    fwrite(keys.data, 1, keys.len, f);
    sl_buf_destroy(&keys);
}

/* --config-reference: every key as Markdown tables (make docs puts them in
 * docs/configuration.md). */
static int config_reference(void)
{
    struct sl_buf out;

    sl_buf_init(&out, 1 << 20);
    sl_config_markdown(&out);
    fwrite(out.data, 1, out.len, stdout);
    sl_buf_destroy(&out);
    return EXIT_CLEAN;
}

/* A bad command line: one line saying why, and where to look. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;

    if (fmt) {
        va_start(ap, fmt);
        fputs("sluice: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    fputs("Try 'sluice --help' for more information.\n", stderr);
    return EXIT_USAGE;
}

/* Loads <path>. Its errors go to stderr as they are (--check, start-up),
 * or, when <as_log>, one log line each (a reload of a running daemon). */
static int load(const char *path, struct sl_config **out, int as_log)
{
    struct sl_buf errs;
    int rc;

    sl_buf_init(&errs, 1 << 20);
    rc = sl_config_load(path, out, &errs);
    if (rc == SL_OK && (rc = sl_transform_check_config(*out, &errs)) != SL_OK) {
        sl_config_unref(*out);       /* a transform refused its keys */
        *out = NULL;
    }
    if (rc != SL_OK && errs.len && !as_log)
        fwrite(errs.data, 1, errs.len, stderr);
    for (char *line = (char *)errs.data, *nl; rc != SL_OK && as_log && line &&
         line < (char *)errs.data + errs.len; line = nl + 1) {
        if (!(nl = memchr(line, '\n', (size_t)((char *)errs.data + errs.len - line))))
            break;
        sl_error("msg=\"config error\" error=\"%.*s\"", (int)(nl - line), line);
    }
    sl_buf_destroy(&errs);
    return rc;
}

static int metrics_cb(void *arg, struct sl_buf *out)
{
    struct sl_daemon *d = arg;
    struct sl_metrics_stream *ms = calloc(d->nstreams, sizeof(*ms));
    struct sl_metrics_process p = {
        .version = SL_VERSION,
        .reloads_ok = atomic_load(&d->reloads_ok),
        .reloads_failed = atomic_load(&d->reloads_failed),
        .start_time_s = d->start_time_s,
    };
    const struct sl_source_ops *o;
    int rc;

    if (!ms)
        return SL_ENOMEM;
    for (size_t i = 0; i < d->nstreams; i++) {
        struct sl_gen *g = sl_stream_gen(d->streams[i]);
        ms[i].name = d->streams[i]->name;
        ms[i].sink = g->sink.ops->name;     /* static string: outlives g */
        ms[i].sink_metrics = g->sink.ops->metrics;
        ms[i].st = &d->streams[i]->stats;
        ms[i].freshness_s = sl_stream_freshness(d->streams[i]);
        sl_stream_gen_unref(g);
    }
    rc = sl_metrics_render(out, ms, d->nstreams, &p);
    for (size_t k = 0; rc == SL_OK && (o = sl_source_at(k)); k++)
        if (d->sources[k] && o->metrics)          /* the source's own families */
            o->metrics(d->sources[k], out);
    free(ms);
    return rc == SL_OK && out->len >= out->max ? SL_ETOOBIG : rc;
}

static int ready_cb(void *arg, struct sl_buf *why)
{
    struct sl_daemon *d = arg;
    char msg[512];
    int ok = atomic_load(&d->sources_up);

    if (!ok)
        sl_buf_printf(why, "listeners not started\n");
    for (size_t i = 0; i < d->nstreams; i++) {
        struct sl_gen *g = sl_stream_gen(d->streams[i]);
        if (g->sink.ops->ready && !g->sink.ops->ready(g->sink.ctx, msg, sizeof(msg))) {
            sl_buf_printf(why, "stream %s: sink %s: %s\n", d->streams[i]->name,
                          g->sink.ops->name, msg);
            ok = 0;
        }
        sl_stream_gen_unref(g);
    }
    return ok;
}

static const struct sl_admin_ops admin_ops = { .metrics = metrics_cb, .ready = ready_cb };

/* DescribeDeliveryStream, from the stream's current generation. */
static json_t *describe_cb(void *arg, const char *name)
{
    struct sl_daemon *d = arg;
    json_t *desc = NULL;

    for (size_t i = 0; i < d->nstreams && !desc; i++) {
        if (strcmp(d->streams[i]->name, name) != 0)
            continue;
        struct sl_gen *g = sl_stream_gen(d->streams[i]);
        desc = sl_firehose_api_describe(g->conf, &g->dest, g->cfg->region, g->version,
                              (int64_t)d->start_time_s);
        sl_stream_gen_unref(g);
    }
    return desc;
}

/* Each source's keys of [sluice] and of stream <s>, by registry slot. */
#define PCONF(c, k) ((c)->source_conf[k])
#define SCONF(s, k) ((s)->source_conf[k])

/* Publishes each source's reloadable stream keys into the intakes. */
static void apply_sources(struct sl_daemon *d, const struct sl_config *c)
{
    const struct sl_source_ops *o;

    for (size_t k = 0; (o = sl_source_at(k)); k++)
        for (size_t i = 0; o->apply && i < d->nstreams; i++)
            o->apply(SCONF(sl_config_stream(c, d->streams[i]->name), k),
                     &d->streams[i]->intake);
}

/* Opens every source on every stream, in registry order: binds what must
 * be bound before the metrics listener serves. Each logs its own errors. */
static int open_sources(struct sl_daemon *d)
{
    const struct sl_config *c = d->cfg;
    const struct sl_source_ops *o;

    d->sources_cfg = sl_config_ref(d->cfg);
    d->sstreams = calloc(SL_SOURCES_MAX * (d->nstreams ? d->nstreams : 1),
                         sizeof(*d->sstreams));
    if (!d->sstreams) {
        sl_error("msg=\"cannot start: out of memory or threads\"");
        return SL_ERR;
    }
    for (size_t k = 0; (o = sl_source_at(k)); k++) {
        struct sl_source_stream *ss = &d->sstreams[k * d->nstreams];
        for (size_t i = 0; i < d->nstreams; i++)
            ss[i] = (struct sl_source_stream){ d->streams[i]->name, &d->streams[i]->intake,
                                               SCONF(&c->streams[i], k) };
        struct sl_source_host h = { .conf = PCONF(c, k), .streams = ss,
                                    .nstreams = d->nstreams, .describe = describe_cb,
                                    .arg = d };
        if (o->open(&h, &d->sources[k]) != SL_OK)
            return SL_ERR;
    }
    return SL_OK;
}

/* Starts the sources opened, in registry order. */
static int start_sources(struct sl_daemon *d)
{
    const struct sl_source_ops *o;

    for (size_t k = 0; (o = sl_source_at(k)); k++)
        if (d->sources[k] && o->start(d->sources[k]) != SL_OK)
            return SL_ERR;
    return SL_OK;
}

/* durability = disk: the stream's log, in DATA_DIR/STREAM. */
static int open_wal(struct sl_stream *s, const struct sl_config *c)
{
    char dir[PATH_MAX], err[512];

    if (snprintf(dir, sizeof(dir), "%s/%s", c->data_dir, s->name) >= (int)sizeof(dir)) {
        sl_error("stream=%s msg=\"data_dir is too long\"", s->name);
        return SL_ERR;
    }
    if (sl_stream_open_wal(s, dir, err, sizeof(err)) != SL_OK) {
        sl_error("stream=%s msg=\"cannot open the write-ahead log\" error=\"%s\"", s->name,
                 err);
        return SL_ERR;
    }
    return SL_OK;
}

/* durability = memory, but a log is there from when it was disk: say so,
 * since nothing delivers it. */
static void warn_stale_wal(const struct sl_config *c, const char *name)
{
    char pattern[PATH_MAX];
    glob_t g;

    if (snprintf(pattern, sizeof(pattern), "%s/%s/wal-*.log", c->data_dir, name) >=
        (int)sizeof(pattern) || glob(pattern, 0, NULL, &g) != 0)
        return;
    sl_warn("stream=%s msg=\"durability is memory, but a write-ahead log is there: its "
            "records are not delivered until durability = disk again\" segments=%zu dir=%s/%s",
            name, g.gl_pathc, c->data_dir, name);
    globfree(&g);
}

/* The start-up lines: one per stream, then one for the process, each
 * with the fields its sources add (where they listen). */
static void log_started(const struct sl_config *c)
{
    const struct sl_source_ops *o;
    struct sl_buf f;

    sl_buf_init(&f, 4096);
    for (size_t i = 0; i < c->nstreams; i++) {
        sl_buf_reset(&f);
        for (size_t k = 0; (o = sl_source_at(k)); k++)
            if (o->log_stream)
                o->log_stream(SCONF(&c->streams[i], k), &f);
        sl_info("stream=%s msg=\"ready\"%.*s sink=%s", c->streams[i].name, (int)f.len,
                f.data ? (const char *)f.data : "", c->streams[i].sink);
    }
    sl_buf_reset(&f);
    for (size_t k = 0; (o = sl_source_at(k)); k++)
        if (o->log_process)
            o->log_process(PCONF(c, k), &f);
    sl_info("msg=\"sluice started\" version=%s config=%s metrics=%s%.*s workers=%llu",
            SL_VERSION, c->path, c->metrics_listen, (int)f.len,
            f.data ? (const char *)f.data : "", (unsigned long long)c->workers);
    sl_buf_destroy(&f);
}

/* Builds every part from d->cfg. Returns SL_OK or logs why not. */
static int start(struct sl_daemon *d)
{
    struct sl_config *c = d->cfg;
    char err[512];

    d->delivery = sl_delivery_new((unsigned)c->workers);
    d->streams = calloc(c->nstreams, sizeof(*d->streams));
    if (!d->delivery || !d->streams) {
        sl_error("msg=\"cannot start: out of memory or threads\"");
        return SL_ERR;
    }
    for (size_t i = 0; i < c->nstreams; i++) {
        const struct sl_stream_conf *sc = &c->streams[i];
        struct sl_gen *g = sl_stream_gen_new(c, sc, d->version, err, sizeof(err));
        if (!g) {
            sl_error("stream=%s msg=\"cannot open sink\" error=\"%s\"", sc->name, err);
            return SL_ERR;
        }
        d->streams[i] = sl_stream_new(g, d->delivery);
        if (!d->streams[i]) {
            sl_stream_gen_unref(g);
            sl_error("stream=%s msg=\"cannot create stream\"", sc->name);
            return SL_ERR;
        }
        d->nstreams++;
        if (sc->durability == SL_DUR_DISK && open_wal(d->streams[i], c) != SL_OK)
            return SL_ERR;
        if (sc->durability == SL_DUR_MEMORY)
            warn_stale_wal(c, sc->name);
    }
    apply_sources(d, c);
    if (open_sources(d) != SL_OK)       /* before the metrics thread reads d->sources */
        return SL_ERR;
    d->admin = sl_admin_http_start(&c->metrics_addr, &admin_ops, d, err, sizeof(err));
    if (!d->admin) {
        sl_error("msg=\"cannot start the metrics listener\" addr=%s error=\"%s\"",
                 c->metrics_listen, err);
        return SL_ERR;
    }
    for (size_t i = 0; i < d->nstreams; i++)
        if (sl_stream_start(d->streams[i]) != SL_OK) {
            sl_error("stream=%s msg=\"cannot start its batcher\"", d->streams[i]->name);
            return SL_ERR;
        }
    for (size_t i = 0; i < d->nstreams; i++)
        if (sl_stream_recover(d->streams[i]) != SL_OK) {
            sl_error("stream=%s msg=\"cannot start the log's recovery\"", d->streams[i]->name);
            return SL_ERR;
        }
    if (start_sources(d) != SL_OK)
        return SL_ERR;
    atomic_store(&d->sources_up, 1);
    log_started(c);
    return SL_OK;
}

/* What a reload cannot change without a restart. NULL if <n> is compatible. */
static const char *incompatible(const struct sl_config *o, const struct sl_config *n,
                                char *buf, size_t len)
{
    const struct sl_source_ops *so;
    const char *which;
    int later;

    if (n->nstreams != o->nstreams) {
        snprintf(buf, len, "streams were added or removed (needs a restart)");
        return buf;
    }
    for (size_t i = 0; i < o->nstreams; i++) {
        const struct sl_stream_conf *ns = sl_config_stream(n, o->streams[i].name);
        if (!ns) {
            snprintf(buf, len, "stream %s was removed or renamed (needs a restart)",
                     o->streams[i].name);
            return buf;
        }
        for (size_t k = 0; (so = sl_source_at(k)); k++) {
            if (!sl_source_same(so->stream_restart, SCONF(&o->streams[i], k), SCONF(ns, k),
                                &which)) {
                snprintf(buf, len, "stream %s: %s changed (needs a restart)", ns->name, which);
                return buf;
            }
        }
        if (ns->durability != o->streams[i].durability) {
            snprintf(buf, len, "stream %s: durability changed (needs a restart)", ns->name);
            return buf;
        }
    }
    if (strcmp(n->data_dir, o->data_dir) != 0)
        sl_warn("msg=\"data_dir applies at the next restart\"");
    later = strcmp(n->metrics_listen, o->metrics_listen) != 0 || n->workers != o->workers;
    for (size_t k = 0; (so = sl_source_at(k)); k++)
        later |= !sl_source_same(so->process_restart, PCONF(o, k), PCONF(n, k), &which);
    if (later)          /* the sources' restart keys today: io_threads and http_* */
        sl_warn("msg=\"metrics_listen, workers, io_threads and the http_* keys apply at the "
                "next restart\"");
    return NULL;
}

static void reload(struct sl_daemon *d)
{
    struct sl_config *n = NULL;
    struct sl_gen **gens = NULL;
    char err[512];
    const char *why;
    size_t i;

    sd_notify(0, "RELOADING=1");
    sl_info("msg=\"reloading\" config=%s", d->cfg->path);
    if (load(d->cfg->path, &n, 1) != SL_OK) {
        sl_error("msg=\"reload refused: config invalid, keeping the old one\" config=%s",
                 d->cfg->path);
        goto fail;
    }
    if ((why = incompatible(d->cfg, n, err, sizeof(err)))) {
        sl_error("msg=\"reload refused, keeping the old config\" error=\"%s\"", why);
        goto fail;
    }
    gens = calloc(d->nstreams, sizeof(*gens));
    if (!gens)
        goto fail;
    for (i = 0; i < d->nstreams; i++) {
        gens[i] = sl_stream_gen_new(n, sl_config_stream(n, d->streams[i]->name), d->version + 1,
                             err, sizeof(err));
        if (!gens[i]) {
            sl_error("stream=%s msg=\"reload refused: cannot open sink\" error=\"%s\"",
                     d->streams[i]->name, err);
            goto fail;
        }
    }
    d->version++;
    for (i = 0; i < d->nstreams; i++)
        sl_stream_reload(d->streams[i], gens[i]);
    apply_sources(d, n);
    free(gens);
    sl_log_set_level(n->log_level);
    sl_config_unref(d->cfg);
    d->cfg = n;
    atomic_fetch_add(&d->reloads_ok, 1);
    sl_info("msg=\"reloaded\" version=%u", d->version);
    sd_notify(0, "READY=1");
    return;
fail:
    for (i = 0; gens && i < d->nstreams; i++)
        sl_stream_gen_unref(gens[i]);
    free(gens);
    sl_config_unref(n);
    atomic_fetch_add(&d->reloads_failed, 1);
    sd_notify(0, "READY=1");
}

/*
 * What stopping now leaves undelivered, one log line per stream that holds
 * records: a memory stream loses them, a disk stream keeps them in its log
 * for the next start. Returns the records lost. <why> names the cause.
 */
static uint64_t report_left(struct sl_daemon *d, const char *why)
{
    struct sl_metrics_snapshot ss;
    uint64_t lost = 0, records, bytes;

    for (size_t i = 0; i < d->nstreams; i++) {
        struct sl_stream *s = d->streams[i];
        sl_metrics_snapshot(&s->stats, &ss);
        records = ss.received_total_records - ss.settled_records;
        bytes = ss.received_total_bytes - ss.settled_bytes;
        if (!records)
            continue;
        if (s->wal) {
            sl_warn("stream=%s msg=\"stopping with records undelivered: they stay in the "
                    "write-ahead log for the next start\" cause=\"%s\" records=%llu bytes=%llu",
                    s->name, why, (unsigned long long)records, (unsigned long long)bytes);
            continue;
        }
        sl_error("stream=%s msg=\"records lost at shutdown\" cause=\"%s\" records=%llu "
                 "bytes=%llu", s->name, why, (unsigned long long)records,
                 (unsigned long long)bytes);
        lost += records;
    }
    return lost;
}

/*
 * A second SIGTERM or SIGINT while stop() drains ends the process at once:
 * report_left() says what that costs, then _exit (the other threads are
 * mid-work; nothing may run after).
 * Threads: the watcher reads the streams' counters (atomics); <lock> keeps
 * the main thread from freeing the streams meanwhile: main sets <over>
 * under it once the drain has ended, before it frees anything.
 */
struct hurry {
    struct sl_daemon *d;
    sigset_t set;               /* SIGTERM, SIGINT, SIGHUP: blocked everywhere */
    pthread_mutex_t lock;
    int over;                   /* main, under <lock>: the watcher must return */
    pthread_t thread;
};

static void *hurry_watch(void *arg)
{
    struct hurry *h = arg;
    const struct timespec tick = { 0, 100 * 1000000 };
    int sig;

    for (;;) {
        sig = sigtimedwait(&h->set, NULL, &tick);
        pthread_mutex_lock(&h->lock);
        if (h->over)
            break;
        if (sig == SIGTERM || sig == SIGINT) {
            sl_warn("msg=\"second %s: stopping at once\"", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            uint64_t lost = report_left(h->d, "second signal");
            _exit(lost ? EXIT_LOST : EXIT_CLEAN);
        }
        if (sig == SIGHUP)
            sl_warn("msg=\"SIGHUP ignored: stopping\"");
        pthread_mutex_unlock(&h->lock);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

/* Ends the watcher, if it runs: from here on the main thread may free. */
static void hurry_end(struct hurry *h, int started)
{
    if (!started)
        return;
    pthread_mutex_lock(&h->lock);
    h->over = 1;
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->thread, NULL);
}

/*
 * Stops in DESIGN.md's order and frees everything; a second signal on the
 * way ends the process (struct hurry). Returns the records lost: those of
 * memory streams still undelivered at shutdown_timeout.
 */
static uint64_t stop(struct sl_daemon *d, const sigset_t *set, int watch)
{
    int64_t timeout = d->cfg ? d->cfg->shutdown_timeout_ms : 0;
    struct hurry h = { .d = d, .set = *set, .lock = PTHREAD_MUTEX_INITIALIZER };
    uint64_t lost = 0;
    size_t left = 0;

    if (watch && pthread_create(&h.thread, NULL, hurry_watch, &h) != 0) {
        sl_warn("msg=\"cannot watch for a second signal: the drain runs its course\"");
        watch = 0;
    }
    for (size_t k = SL_SOURCES_MAX; k-- > 0;)      /* in reverse registry order */
        if (d->sources[k])
            sl_source_at(k)->stop(d->sources[k],
                                  timeout < DRAIN_GRACE_MS ? timeout : DRAIN_GRACE_MS);
    for (size_t i = 0; i < d->nstreams; i++)
        sl_stream_stop(d->streams[i]);
    if (d->delivery)
        left = sl_delivery_drain(d->delivery, timeout);
    sl_admin_http_stop(d->admin);
    sl_delivery_free(d->delivery);      /* joins the workers: counters are final */
    hurry_end(&h, watch);
    if (left) {
        sl_error("msg=\"shutdown_timeout reached with batches undelivered\" batches=%zu", left);
        lost = report_left(d, "shutdown_timeout");
    }
    for (size_t k = 0; k < SL_SOURCES_MAX; k++)  /* the metrics thread is gone */
        if (d->sources[k])
            sl_source_at(k)->free(d->sources[k]);
    sl_config_unref(d->sources_cfg);
    for (size_t i = 0; i < d->nstreams; i++)
        sl_stream_free(d->streams[i]);
    free(d->streams);
    free(d->sstreams);
    sl_config_unref(d->cfg);
    return lost;
}

/* File descriptors the configured connections may take: what each source
 * says it may hold, a metrics connection one, each S3 stream its
 * connection pool, plus a margin for listeners, logs, objects and
 * threads. */
static uint64_t fds_needed(const struct sl_config *c)
{
    const struct sl_source_ops *o;
    uint64_t n = 64 + SL_ADMIN_MAX_CONNECTIONS;

    for (size_t k = 0; (o = sl_source_at(k)); k++)
        if (o->fds)
            n += o->fds(PCONF(c, k), NULL);
    for (size_t i = 0; i < c->nstreams; i++) {
        const struct sl_stream_conf *s = &c->streams[i];
        struct sl_sink_dest dest = { .connections = 0 };
        n += 16;
        for (size_t k = 0; (o = sl_source_at(k)); k++)
            if (o->fds)
                n += o->fds(PCONF(c, k), SCONF(s, k));
        if (s->sink_ops->dest)
            s->sink_ops->dest(s->sink_conf, &dest);
        n += dest.connections;
    }
    return n;
}

/* Raises the soft open-file limit to the hard one, and warns if even that
 * cannot hold every connection the config allows. */
static void raise_fd_limit(const struct sl_config *c)
{
    struct rlimit rl;
    uint64_t need = fds_needed(c);

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
        sl_warn("msg=\"the open file limit is below what the configured connections may "
                "take: past it connections are refused\" nofile=%llu needed=%llu hint=\"raise "
                "LimitNOFILE (ulimit -n), or lower http_max_connections and the streams' "
                "max_connections\"", (unsigned long long)rl.rlim_cur, (unsigned long long)need);
}

/* 1 if every batcher has looped lately: they wake at least once a second,
 * so one silent for 10 s is wedged, and systemd should restart us. */
static int healthy(struct sl_daemon *d)
{
    struct sl_ratelimit *rl = &d->wd_rl;
    uint64_t suppressed;

    for (size_t i = 0; i < d->nstreams; i++) {
        if (sl_stream_alive(d->streams[i], 10000))
            continue;
        if (sl_log_ratelimit_ok(rl, 5000, &suppressed))
            sl_error("stream=%s msg=\"batcher stuck: not pinging the watchdog\"",
                     d->streams[i]->name);
        return 0;
    }
    return 1;
}

/* Waits for signals until SIGTERM/SIGINT, pinging the watchdog while the
 * daemon is healthy. */
/*
 * Gives the heap's free memory back to the kernel once a backlog has
 * drained: tune_malloc keeps chunks in the heap, and glibc returns only
 * the free memory at a heap's top by itself. When the streams hold under
 * a quarter of the most they held since the last trim, that was 32 MiB or
 * more, and they no longer hold less at each tick (the draining is over):
 * a trim after each backlog, none while idle or steady.
 */
static void tidy_memory(struct sl_daemon *d)
{
    uint64_t held = 0;

    for (size_t i = 0; i < d->nstreams; i++)
        held += sl_metrics_bytes_held(&d->streams[i]->stats);
    if (held > d->held_peak)
        d->held_peak = held;
    if (d->held_peak >= (32u << 20) && held < d->held_peak / 4 && held >= d->held_last) {
        malloc_trim(0);
        d->held_peak = held;
    }
    d->held_last = held;
}

static void signal_loop(struct sl_daemon *d, const sigset_t *set)
{
    uint64_t wd_usec = 0;
    struct timespec tick = { 1, 0 };
    int sig;

    if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec / 2 < 1000000) {
        tick.tv_sec = 0;
        tick.tv_nsec = (long)(wd_usec / 2 * 1000);
    }
    for (;;) {
        sig = sigtimedwait(set, NULL, &tick);
        if (wd_usec && healthy(d))
            sd_notify(0, "WATCHDOG=1");
        tidy_memory(d);
        if (sig == SIGHUP)
            reload(d);
        else if (sig == SIGTERM || sig == SIGINT)
            return;
    }
}

/*
 * Chunks (chunk.h) are the daemon's big allocations: a TCP read's is
 * allocated at 264 KiB or more and cut to what the read held; a
 * PutRecordBatch's is up to 4 MiB. Above glibc's mmap threshold each one
 * is an mmap, page faults as it fills and a munmap when freed; the
 * threshold glibc slides up after a free never passes the next read's
 * chunk, since freed chunks were cut smaller. A fixed threshold above
 * them keeps chunks in the heap (docs/performance.md, "Chunks in place":
 * tcp-none from about 1.7 to 1.2 CPU s/GiB); tidy_memory gives the heap
 * back after a backlog. Larger blocks are still mmapped.
 */
static void tune_malloc(void)
{
    mallopt(M_MMAP_THRESHOLD, 8 << 20);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' }, { "check", no_argument, NULL, 'k' },
        { "version", no_argument, NULL, 'V' },      { "help", no_argument, NULL, 'h' },
        { "config-reference", no_argument, NULL, 'R' },
        { NULL, 0, NULL, 0 },
    };
    struct sl_daemon d = { .version = 1 };
    const char *path = NULL;
    int check = 0, opt, rc;
    sigset_t set;
    uint64_t lost;

    tune_malloc();
    if (argc > 1 && strcmp(argv[1], "replay") == 0)
        return sl_cmd_replay_main(argc - 1, argv + 1);

    while ((opt = getopt_long(argc, argv, "c:hVv", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 'k': check = 1; break;
        case 'V': printf("sluice %s\n", SL_VERSION); return EXIT_CLEAN;
        case 'h': usage(stdout); return EXIT_CLEAN;
        case 'R': return config_reference();
        case 'v': return usage_error("-v is not an option: -V prints the version, "
                                     "log_level in the config sets the verbosity");
        default: return usage_error(NULL);       /* getopt has said why */
        }
    }
    if (!path)
        return usage_error("-c FILE is required");
    if (optind != argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (load(path, &d.cfg, 0) != SL_OK)
        return EXIT_CONFIG;
    if (check) {
        printf("%s: ok (%zu streams)\n", path, d.cfg->nstreams);
        sl_config_unref(d.cfg);
        return EXIT_CLEAN;
    }
    sl_log_set_level(d.cfg->log_level);
    raise_fd_limit(d.cfg);
    curl_global_init(CURL_GLOBAL_DEFAULT);       /* before any thread: not thread-safe */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    d.start_time_s = (double)sl_clock_wall_ms() / 1000.0;

    rc = start(&d);
    if (rc == SL_OK) {
        sd_notifyf(0, "READY=1\nSTATUS=serving %zu streams", d.nstreams);
        signal_loop(&d, &set);
        sd_notify(0, "STOPPING=1");
        sl_info("msg=\"shutting down: draining\"");
    }
    lost = stop(&d, &set, rc == SL_OK);
    curl_global_cleanup();
    if (rc != SL_OK)
        return EXIT_CONFIG;
    sl_info("msg=\"sluice stopped\" records_lost=%llu", (unsigned long long)lost);
    return lost ? EXIT_LOST : EXIT_CLEAN;
}
