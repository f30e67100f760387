/*
 * transform.c - see transform.h.
 *
 * A run keeps one slot per record and an arena of blocks that never move,
 * so data, keys and errors given by a transform stay where they were put
 * until the next run. Each step of the chain sees a view: the records
 * still Ok, with their current data, and a map from view index to slot.
 */
#include "transform.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "transform_json.h"
#include "transform_lambda.h"
#include "transform_plugin.h"
#include "sluice/err.h"

static const struct { const char *type; const struct sl_transform_ops *ops; } builtins[] = {
    { "json_timestamp", &sl_tf_json_timestamp }, { "json_set", &sl_tf_json_set },
    { "json_rename", &sl_tf_json_rename },       { "json_drop", &sl_tf_json_drop },
    { "json_filter", &sl_tf_json_filter },       { "json_validate", &sl_tf_json_validate },
    { "lambda", &sl_tf_lambda },
};

/* The built-in ops of <type> (json_*, lambda), or NULL. */
static const struct sl_transform_ops *builtin(const char *type)
{
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
        if (strcmp(builtins[i].type, type) == 0)
            return builtins[i].ops;
    return NULL;
}

int sl_transform_open(struct sl_tf *t, const struct sl_transform_conf *tc, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", tc->name);
    if (strcmp(tc->type, "plugin") == 0) {
        if (sl_transform_plugin_load(tc->path, &t->ops, &t->dl, err, errlen) != SL_OK)
            return SL_EINVAL;
    } else if (!(t->ops = builtin(tc->type))) {
        snprintf(err, errlen, "type: '%s' is not one of %s", tc->type, SL_TF_TYPES);
        return SL_EINVAL;
    }
    for (size_t i = 0; i < tc->nkv; i++)
        if (strcmp(tc->type, "lambda") == 0 && strcmp(tc->kv[i].key, "url") == 0)
            t->arn = tc->kv[i].value;
    err[0] = '\0';
    if (t->ops->create(tc->kv, tc->nkv, &t->state, err, errlen) != 0) {
        if (!err[0])
            snprintf(err, errlen, "the transform refused its configuration");
        t->state = NULL;
        sl_transform_close(t);
        return SL_EINVAL;
    }
    return SL_OK;
}

void sl_transform_close(struct sl_tf *t)
{
    if (t->ops && t->state)
        t->ops->destroy(t->state);
    t->state = NULL;
    t->ops = NULL;
    sl_transform_plugin_unload(t->dl);
    t->dl = NULL;
}

/* The line of key <key> in <tc>, or its header's when it has none. */
static int line_of(const struct sl_transform_conf *tc, const char *key, size_t len)
{
    if (len == 4 && strncmp(key, "type", 4) == 0)
        return tc->type_line;
    if (len == 4 && strncmp(key, "path", 4) == 0 && tc->path_line)
        return tc->path_line;
    for (size_t i = 0; i < tc->nkv; i++)
        if (strlen(tc->kv[i].key) == len && strncmp(tc->kv[i].key, key, len) == 0)
            return tc->lines[i];
    return tc->line;
}

int sl_transform_check_config(const struct sl_config *cfg, struct sl_buf *errs)
{
    char err[512];
    int rc = SL_OK;
    struct sl_tf t;

    for (size_t i = 0; i < cfg->ntransforms; i++) {
        const struct sl_transform_conf *tc = &cfg->transforms[i];
        if (sl_transform_open(&t, tc, err, sizeof(err)) == SL_OK) {
            sl_transform_close(&t);
            continue;
        }
        /* "KEY: why" names a key: at its line, or the header's when it is
         * missing ("url: required"); anything else is the section's */
        const char *colon = strstr(err, ": ");
        size_t klen = colon && !memchr(err, ' ', (size_t)(colon - err)) ? (size_t)(colon - err)
                                                                          : 0;
        int line = klen ? line_of(tc, err, klen) : tc->line;
        sl_buf_printf(errs, "%s:%d: [transform %s]%s%.*s: %s\n", cfg->path, line, tc->name,
                      klen ? " " : "", (int)klen, err, klen ? colon + 2 : err);
        rc = SL_EINVAL;
    }
    return rc;
}

/* ---- running a chain ---- */

#define BLOCK_MIN (256u << 10)

struct block {
    struct block *next;
    size_t used, cap;
    uint8_t data[];
};

struct sl_tf_out {
    struct sl_tf_run *run;
    const size_t *map;             /* view index -> slot */
    size_t n;                      /* records in the view */
    unsigned by;                   /* chain position */
    unsigned invocations, failed;  /* host->invocation's count */
    int any_failed_call;           /* a host function ran out of memory */
};

struct sl_tf_run {
    struct sl_tf_rec *recs;        /* one slot per record */
    size_t cap;
    struct sl_record *view;        /* the records a step sees */
    size_t *map;
    struct block *blocks;          /* the arena: blocks in use, newest first */
    struct block *spare;           /* emptied blocks, kept for the next runs */
    size_t spare_bytes;            /* ... their capacity, bounded */
    const _Atomic int *stop;       /* set: shutting down, out of time; may be NULL */
};

struct sl_tf_run *sl_transform_run_new(void)
{
    return calloc(1, sizeof(struct sl_tf_run));
}

void sl_transform_run_set_stop(struct sl_tf_run *r, const _Atomic int *stop)
{
    r->stop = stop;
}

static void free_blocks(struct block *b)
{
    while (b) {
        struct block *next = b->next;
        free(b);
        b = next;
    }
}

void sl_transform_run_free(struct sl_tf_run *r)
{
    if (!r)
        return;
    free(r->recs);
    free(r->view);
    free(r->map);
    free_blocks(r->blocks);
    free_blocks(r->spare);
    free(r);
}

/* <n> bytes from the arena, aligned for pointers; NULL when out of memory. */
static void *arena_alloc(struct sl_tf_run *r, size_t n)
{
    struct block *b = r->blocks;

    n = (n + 7) & ~(size_t)7;
    if (!b || b->cap - b->used < n) {
        if (r->spare && r->spare->cap >= n) {
            b = r->spare;
            r->spare = b->next;
            r->spare_bytes -= b->cap;
        } else {
            size_t cap = n > BLOCK_MIN ? n : BLOCK_MIN;
            if (!(b = malloc(sizeof(*b) + cap)))
                return NULL;
            b->cap = cap;
        }
        b->used = 0;
        b->next = r->blocks;
        r->blocks = b;
    }
    b->used += n;
    return b->data + b->used - n;
}

/* Empties the arena, keeping up to SPARE_MAX of its blocks for the next
 * run (not the big ones that one odd record needed). */
#define SPARE_MAX (16u << 20)
static void arena_reset(struct sl_tf_run *r)
{
    struct block *b = r->blocks, *next;

    for (; b; b = next) {
        next = b->next;
        if (b->cap > 4 * BLOCK_MIN || r->spare_bytes + b->cap > SPARE_MAX) {
            free(b);
            continue;
        }
        b->next = r->spare;
        r->spare = b;
        r->spare_bytes += b->cap;
    }
    r->blocks = NULL;
}

static char *arena_str(struct sl_tf_run *r, const char *s, size_t max)
{
    size_t n = strnlen(s ? s : "", max);
    char *p = arena_alloc(r, n + 1);

    if (p) {
        memcpy(p, s ? s : "", n);
        p[n] = '\0';
    }
    return p;
}

/* The slot of view record <i>, or NULL if there is none such. */
static struct sl_tf_rec *slot(struct sl_tf_out *o, size_t i)
{
    return i < o->n ? &o->run->recs[o->map[i]] : NULL;
}

static int host_set_data(struct sl_tf_out *o, size_t i, const void *data, size_t len)
{
    struct sl_tf_rec *s = slot(o, i);
    uint8_t *p;

    if (!s || len > UINT32_MAX)
        return -1;
    if (!(p = arena_alloc(o->run, len ? len : 1))) {
        o->any_failed_call = 1;
        return -1;
    }
    memcpy(p, data, len);
    s->status = SL_TF_OK;
    s->changed = 1;
    s->data = p;
    s->len = (uint32_t)len;
    return 0;
}

static int host_drop(struct sl_tf_out *o, size_t i)
{
    struct sl_tf_rec *s = slot(o, i);

    if (!s)
        return -1;
    s->status = SL_TF_DROPPED;
    s->by = (uint16_t)o->by;
    return 0;
}

static int host_fail(struct sl_tf_out *o, size_t i, const char *code, const char *message)
{
    struct sl_tf_rec *s = slot(o, i);

    if (!s)
        return -1;
    s->status = SL_TF_FAILED;
    s->by = (uint16_t)o->by;
    s->code = arena_str(o->run, code && *code ? code : "Transform.ProcessingFailed", 63);
    s->message = arena_str(o->run, message, 1023);
    if (!s->code || !s->message) {
        o->any_failed_call = 1;
        s->code = "Sluice.OutOfMemory";
        s->message = "";
        return -1;
    }
    return 0;
}

static int host_set_key(struct sl_tf_out *o, size_t i, const char *key, const char *value)
{
    struct sl_tf_rec *s = slot(o, i);
    struct sl_tf_key *k;

    if (!s || !key || !value)
        return -1;
    if (!(k = arena_alloc(o->run, sizeof(*k))) || !(k->key = arena_str(o->run, key, 255)) ||
        !(k->value = arena_str(o->run, value, 1023))) {
        o->any_failed_call = 1;
        return -1;
    }
    k->next = s->keys;
    s->keys = k;
    return 0;
}

static int host_stopping(struct sl_tf_out *o)
{
    return o->run->stop && atomic_load_explicit(o->run->stop, memory_order_relaxed);
}

static int host_invocation(struct sl_tf_out *o, int ok)
{
    o->invocations++;
    if (!ok)
        o->failed++;
    return 0;
}

static int host_attempts(struct sl_tf_out *o, size_t i, unsigned n)
{
    struct sl_tf_rec *s = slot(o, i);

    if (!s)
        return -1;
    s->attempts = n;
    s->attempts_set = 1;
    return 0;
}

static const struct sl_tf_host host = {
    .size = sizeof(struct sl_tf_host),
    .set_data = host_set_data, .set_dropped = host_drop, .set_failed = host_fail,
    .set_key = host_set_key, .invocation = host_invocation, .attempts = host_attempts,
    .stopping = host_stopping,
};

/* Grows the run to <n> records. */
static int reserve(struct sl_tf_run *r, size_t n)
{
    if (n <= r->cap)
        return SL_OK;
    size_t cap = r->cap ? r->cap : 1024;
    while (cap < n)
        cap *= 2;
    struct sl_tf_rec *recs = realloc(r->recs, cap * sizeof(*recs));
    if (!recs)
        return SL_ENOMEM;
    r->recs = recs;
    struct sl_record *view = realloc(r->view, cap * sizeof(*view));
    if (!view)
        return SL_ENOMEM;
    r->view = view;
    size_t *map = realloc(r->map, cap * sizeof(*map));
    if (!map)
        return SL_ENOMEM;
    r->map = map;
    r->cap = cap;
    return SL_OK;
}

/* One step: transform <t> at chain position <by> over the records still Ok. */
static int step(struct sl_tf_run *r, struct sl_tf *t, unsigned by, struct sl_tf_stats *st,
                const char *stream, const struct sl_record *records, size_t nrecords)
{
    struct sl_tf_out o = { .run = r, .map = r->map, .by = by };
    struct sl_tf_error e = { .code = "", .message = "" };
    uint64_t counts[SL_TF_NSTATUS] = { 0 };
    int64_t t0 = sl_clock_mono_ns();
    int rc;

    for (size_t i = 0; i < nrecords; i++) {
        struct sl_tf_rec *s = &r->recs[i];
        if (s->status != SL_TF_OK)
            continue;
        r->view[o.n] = records[i];
        r->view[o.n].data = s->data;
        r->view[o.n].len = s->len;
        r->map[o.n++] = i;
    }
    if (o.n == 0)
        return SL_OK;
    struct sl_tf_batch b = { .records = r->view, .nrecords = o.n, .stream = stream,
                             .host = &host, .out = &o };
    rc = t->ops->process(t->state, &b, &e);
    if (rc == SL_TF_RETRY || o.any_failed_call)
        return SL_EAGAIN;           /* forget this run; the batch comes back */
    if (rc != SL_TF_DONE && rc != SL_TF_FAIL_BATCH) {
        snprintf(e.code, sizeof(e.code), "Transform.Error");
        snprintf(e.message, sizeof(e.message), "process() returned %d, which is no result",
                 rc);
    }
    if (rc != SL_TF_DONE) {
        /* the whole batch fails with the transform's error */
        char code[64];
        snprintf(code, sizeof(code), "%s", e.code[0] ? e.code : "Transform.Error");
        for (size_t i = 0; i < o.n; i++)
            if (host_fail(&o, i, code, e.message[0] ? e.message : "the transform failed") != 0)
                return SL_EAGAIN;
        if (o.invocations == 0)
            host_invocation(&o, 0);
    } else if (o.invocations == 0) {
        host_invocation(&o, 1);
    }
    for (size_t i = 0; i < o.n; i++) {
        struct sl_tf_rec *s = &r->recs[o.map[i]];
        counts[s->status]++;
        if (s->status == SL_TF_FAILED && !s->attempts_set)
            s->attempts = o.invocations;
    }
    if (st) {
        for (int k = 0; k < SL_TF_NSTATUS; k++)
            sl_stat_add(&st->records[k], counts[k]);
        sl_stat_add(&st->invocations[0], o.invocations - o.failed);
        sl_stat_add(&st->invocations[1], o.failed);
        sl_metrics_observe(&st->duration, (double)(sl_clock_mono_ns() - t0) / 1e9);
    }
    return SL_OK;
}

int sl_transform_run_chain(struct sl_tf_run *r, struct sl_tf *const *chain, size_t n,
                    struct sl_tf_stats *const *stats, const char *stream,
                    const struct sl_record *records, size_t nrecords)
{
    arena_reset(r);
    if (reserve(r, nrecords) != SL_OK)
        return SL_ENOMEM;
    for (size_t i = 0; i < nrecords; i++)
        r->recs[i] = (struct sl_tf_rec){ .status = SL_TF_OK, .data = records[i].data,
                                         .len = records[i].len };
    for (size_t k = 0; k < n; k++) {
        int rc = step(r, chain[k], (unsigned)k, stats ? stats[k] : NULL, stream, records,
                      nrecords);
        if (rc != SL_OK)
            return rc;
    }
    return SL_OK;
}

const struct sl_tf_rec *sl_transform_run_recs(const struct sl_tf_run *r)
{
    return r->recs;
}
