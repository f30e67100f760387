/* stage.c - see stage.h. */
#include "stage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "partition.h"
#include "stream-t.h"      /* b->owner; no sl_stream_* call: no cycle */
#include "transform.h"
#include "sluice/err.h"

struct sl_stage {
    struct sl_tf_run *run;
    struct sl_record *recs;        /* the batch's records, for the chain */
    uint8_t *marks;                /* one per record: its enum sl_tf_status */
    size_t cap;
};

struct sl_stage *sl_stage_new(const _Atomic int *stop)
{
    struct sl_stage *s = calloc(1, sizeof(*s));

    if (s && !(s->run = sl_transform_run_new())) {
        free(s);
        return NULL;
    }
    if (s)
        sl_transform_run_set_stop(s->run, stop);
    return s;
}

void sl_stage_free(struct sl_stage *s)
{
    if (!s)
        return;
    sl_transform_run_free(s->run);
    free(s->recs);
    free(s->marks);
    free(s);
}

static int reserve(struct sl_stage *s, size_t n)
{
    if (n <= s->cap)
        return SL_OK;
    size_t cap = s->cap ? s->cap : 1024;
    while (cap < n)
        cap *= 2;
    struct sl_record *r = realloc(s->recs, cap * sizeof(*r));
    if (!r)
        return SL_ENOMEM;
    s->recs = r;
    uint8_t *m = realloc(s->marks, cap);
    if (!m)
        return SL_ENOMEM;
    s->marks = m;
    s->cap = cap;
    return SL_OK;
}

/* Notes for the records marked <want>, in order: each one's keys (Ok) or
 * error (failed). NULL when out of memory (logged; then the keys are
 * missing and those records fail partitioning, or the envelopes carry a
 * generic error). */
static struct sl_notes *make_notes(const struct sl_tf_rec *res, const uint8_t *marks,
                                   size_t n, uint8_t want, size_t count)
{
    struct sl_notes *no = calloc(1, sizeof(*no));
    size_t len = 0, k = 0;
    char *p;

    for (size_t i = 0; i < n; i++) {
        if (marks[i] != want)
            continue;
        if (want == SL_TF_FAILED)
            len += strlen(res[i].code) + strlen(res[i].message) + 2;
        for (const struct sl_tf_key *key = res[i].keys; key; key = key->next)
            len += strlen(key->key) + strlen(key->value) + 2;
    }
    if (!no || !(no->at = calloc(count, sizeof(*no->at))) || !(no->text = malloc(len + 1))) {
        sl_error("msg=\"out of memory keeping transform results\" records=%zu", count);
        sl_batch_notes_free(no);
        return NULL;
    }
    no->n = count;
    no->kind = want == SL_TF_FAILED ? SL_NOTES_ERRORS : SL_NOTES_KEYS;
    p = no->text;
    for (size_t i = 0; i < n; i++) {
        if (marks[i] != want)
            continue;
        struct sl_note *e = &no->at[k++];
        e->off = (uint32_t)(p - no->text);
        e->by = res[i].by;
        e->attempts = res[i].attempts;
        if (want == SL_TF_FAILED) {
            size_t a = strlen(res[i].code) + 1, b = strlen(res[i].message) + 1;
            memcpy(p, res[i].code, a);
            memcpy(p + a, res[i].message, b);
            p += a + b;
        }
        for (const struct sl_tf_key *key = res[i].keys; key; key = key->next) {
            size_t a = strlen(key->key) + 1, b = strlen(key->value) + 1;
            memcpy(p, key->key, a);
            memcpy(p + a, key->value, b);
            p += a + b;
        }
        e->len = (uint32_t)(p - no->text) - e->off;
    }
    return no;
}

/* The ok part over a new chunk holding the Ok records' data now. */
static struct sl_batch *rebuild(struct sl_stage *s, struct sl_batch *b, const struct sl_tf_rec *res,
                                size_t n)
{
    uint64_t cap = 0;
    struct sl_chunk *c;
    struct sl_batch *p;

    for (size_t i = 0; i < n; i++)
        if (s->marks[i] == SL_TF_OK)
            cap += SL_CHUNK_HDR + SL_CHUNK_META + res[i].len;
    if (cap > UINT32_MAX - 7) {                  /* sl_chunk_new rounds it up to 8 */
        sl_error("msg=\"transformed batch over 4 GiB\"");
        return NULL;
    }
    if (!(c = sl_chunk_new((uint32_t)cap, b->oldest_wall_ms, b->oldest_mono_ms)))
        return NULL;
    c->meta = SL_CHUNK_META;
    for (size_t i = 0; i < n; i++)
        if (s->marks[i] == SL_TF_OK)
            sl_chunk_add_meta(c, res[i].data, res[i].len, s->recs[i].len, s->recs[i].arrival_ms);
    p = sl_batch_part_of(b, c);
    sl_chunk_unref(c);           /* the part holds it now */
    return p;
}

int sl_stage_run(struct sl_stage *s, struct sl_batch *b, struct sl_processed *out)
{
    struct sl_gen *g = b->owner;
    const struct sl_tf_rec *res;
    struct sl_batch_iter it;
    size_t n = 0, count[SL_TF_NSTATUS] = { 0 };
    int changed = 0, keys = 0;
    /* keys a transform set matter only to a prefix that names them */
    int want_keys = sl_partition_from_transforms(&g->conf->partition);

    memset(out, 0, sizeof(*out));
    if (reserve(s, b->nrecords) != SL_OK)
        return SL_ENOMEM;
    sl_batch_iter_init(&it, b);
    while (sl_batch_next(&it, &s->recs[n]))
        n++;
    int rc = sl_transform_run_chain(s->run, g->chain_of, g->nchain, g->tf_stats, g->conf->name,
                             s->recs, n);
    if (rc != SL_OK)
        return rc;
    res = sl_transform_run_recs(s->run);
    for (size_t i = 0; i < n; i++) {
        s->marks[i] = res[i].status;
        count[res[i].status]++;
        if (res[i].status == SL_TF_OK) {
            changed |= res[i].changed;
            keys |= res[i].keys != NULL && want_keys;
        }
    }
    if (g->conf->backup_mode == SL_BACKUP_ALL) {
        out->copy = sl_batch_copy(b);
        out->copy->copy = 1;
    }
    if (count[SL_TF_DROPPED])
        out->dropped = sl_batch_pick(b, s->marks, SL_TF_DROPPED);
    if (count[SL_TF_FAILED]) {
        out->failed = sl_batch_pick(b, s->marks, SL_TF_FAILED);
        out->failed->notes = make_notes(res, s->marks, n, SL_TF_FAILED, count[SL_TF_FAILED]);
    }
    if (count[SL_TF_OK] == n && !changed && !keys) {
        out->ok = b;                          /* the common case: as it was */
    } else {
        out->release = 1;
        if (count[SL_TF_OK] == 0)
            out->ok = NULL;
        else if (!changed)
            out->ok = sl_batch_pick(b, s->marks, SL_TF_OK);
        else if (!(out->ok = rebuild(s, b, res, n)))
            goto oom;
        if (out->ok && keys)
            out->ok->notes = make_notes(res, s->marks, n, SL_TF_OK, count[SL_TF_OK]);
    }
    if (out->ok)
        out->ok->transformed = 1;
    return SL_OK;
oom:
    /* give back what was picked; b is as it was */
    if (out->copy)
        sl_batch_release(out->copy, SL_OUTCOME_DELIVERED);
    if (out->dropped)
        sl_batch_release(out->dropped, SL_OUTCOME_DELIVERED);
    if (out->failed)
        sl_batch_release(out->failed, SL_OUTCOME_DELIVERED);
    memset(out, 0, sizeof(*out));
    return SL_ENOMEM;
}
