/*
 * partition.c - see partition.h.
 *
 * Each record is parsed with jansson and its values joined, NUL-ended,
 * into one string: the key set. Key sets are numbered in order of first
 * sight through an open-addressing table, and each record's number goes
 * into a two-byte mark, as sl_batch_pick16 wants.
 */
#include "partition.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sluice/err.h"

#define MARK_FAILED 0xffff
#define MARK_OVER   0xfffe

struct set {
    char *values;                  /* owned until handed to a part */
    size_t len;
    uint64_t hash;
};

/* 1 if <s> (<n> bytes) may be a key value: it becomes a folder name, so
 * not empty, "." or "..", and without '/' or control characters (a
 * producer must not be able to write outside the sink's root). */
static int safe_value(const char *s, size_t n)
{
    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == '/' || s[i] == 0x7f)
            return 0;
    return 1;
}

/* Appends the text of <v> to <buf>; 0 if <v> cannot be a key value. */
static int value_text(json_t *v, char *buf, size_t cap, size_t *len)
{
    char num[64];
    const char *s;
    size_t n;

    if (json_is_string(v)) {
        s = json_string_value(v);
        n = json_string_length(v);
        if (!safe_value(s, n))
            return 0;
    } else if (json_is_integer(v)) {
        n = (size_t)snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        s = num;
    } else if (json_is_real(v)) {
        n = (size_t)snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        s = num;
    } else if (json_is_boolean(v)) {
        s = json_is_true(v) ? "true" : "false";
        n = strlen(s);
    } else {
        return 0;
    }
    if (*len + n + 1 > cap)
        return 0;
    memcpy(buf + *len, s, n);
    buf[*len + n] = '\0';
    *len += n + 1;
    return 1;
}

/* The value of transform key <name> in note <note>, or NULL. */
static const char *note_value(const struct sl_notes *notes, uint64_t i, const char *name)
{
    const struct sl_note *e;
    const char *p, *end;

    if (!notes || notes->kind != SL_NOTES_KEYS || i >= notes->n)
        return NULL;
    e = &notes->at[i];
    for (p = notes->text + e->off, end = p + e->len; p < end; p += strlen(p) + 1) {
        const char *v = p + strlen(p) + 1;
        if (strcmp(p, name) == 0)
            return v;
        p = v;
    }
    return NULL;
}

/* Appends transform key <k> of record <i> to <buf>; 0 if it has none. */
static int lambda_value(const struct sl_partition_spec *spec, unsigned k,
                        const struct sl_notes *notes, uint64_t i, char *buf, size_t cap,
                        size_t *len, char *why, size_t whylen)
{
    const char *v = note_value(notes, i, spec->name[k]);
    size_t n = v ? strlen(v) : 0;

    if (!v || *len + n + 1 > cap) {
        snprintf(why, whylen, "a record has no partition key %s from its transforms",
                 spec->name[k]);
        return 0;
    }
    if (!safe_value(v, n)) {
        snprintf(why, whylen, "partition key %s from a transform is empty, '.', '..', or "
                 "holds '/' or a control character", spec->name[k]);
        return 0;
    }
    memcpy(buf + *len, v, n + 1);
    *len += n + 1;
    return 1;
}

/* The key set of record <i> into <buf>; 0 with <why> if it has none. */
static int key_set(const struct sl_partition_spec *spec, const char *rec, size_t n,
                   const struct sl_notes *notes, uint64_t i, char *buf, size_t cap,
                   size_t *len, char *why, size_t whylen)
{
    json_error_t e;
    json_t *root = NULL, *v;
    char seg[192];
    int query = 0;

    *len = 0;
    for (unsigned k = 0; k < spec->n; k++)
        query |= !spec->lambda[k];
    if (query)
        root = json_loadb(rec, n, 0, &e);       /* not inside json_is_object: a macro */
    if (query && !json_is_object(root)) {
        snprintf(why, whylen, "a record is not a JSON object");
        json_decref(root);
        return 0;
    }
    for (unsigned k = 0; k < spec->n; k++) {
        if (spec->lambda[k]) {
            if (!lambda_value(spec, k, notes, i, buf, cap, len, why, whylen)) {
                json_decref(root);
                return 0;
            }
            continue;
        }
        v = root;
        for (const char *p = spec->path[k] + 1; v && *p;) {
            const char *dot = strchr(p, '.');
            size_t sl = dot ? (size_t)(dot - p) : strlen(p);
            snprintf(seg, sizeof(seg), "%.*s", (int)sl, p);
            v = json_object_get(v, seg);
            p += sl + (dot != NULL);
        }
        if (!value_text(v, buf, cap, len)) {
            snprintf(why, whylen, "a record has no usable value at %s (key %s): missing, "
                     "null, an object, an array, empty, '.', '..', or holding '/' or a "
                     "control character", spec->path[k], spec->name[k]);
            json_decref(root);
            return 0;
        }
    }
    json_decref(root);
    return 1;
}

static uint64_t hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

int sl_partition_batch(const struct sl_partition_spec *spec, unsigned max,
                       struct sl_batch *b, struct sl_partitioned *out)
{
    size_t tcap = 16, nsets = 0, slot;
    while (tcap < (size_t)max * 2)
        tcap *= 2;
    uint16_t *marks = malloc(b->nrecords * sizeof(*marks) + 1);
    uint32_t *table = calloc(tcap, sizeof(*table));     /* set index + 1; 0: empty */
    struct set *sets = calloc(max + 1, sizeof(*sets));
    char buf[SL_PART_KEYS * 1024], why[200];
    struct sl_batch_iter it;
    struct sl_record r;
    uint64_t i = 0, failed = 0, over = 0;
    size_t len;
    int rc = SL_ENOMEM;

    memset(out, 0, sizeof(*out));
    if (!marks || !table || !sets)
        goto done;
    sl_batch_iter_init(&it, b);
    for (; sl_batch_next(&it, &r); i++) {
        if (!key_set(spec, (const char *)r.data, r.len, b->notes, i, buf, sizeof(buf), &len,
                     why, sizeof(why))) {
            if (!failed++)
                snprintf(out->failed_why, sizeof(out->failed_why), "partitioning: %s", why);
            marks[i] = MARK_FAILED;
            continue;
        }
        uint64_t h = hash(buf, len);
        for (slot = h & (tcap - 1); table[slot]; slot = (slot + 1) & (tcap - 1)) {
            struct set *s = &sets[table[slot] - 1];
            if (s->hash == h && s->len == len && memcmp(s->values, buf, len) == 0)
                break;
        }
        if (!table[slot]) {
            if (nsets == max) {
                marks[i] = MARK_OVER;
                over++;
                continue;
            }
            if (!(sets[nsets].values = malloc(len)))
                goto done;
            memcpy(sets[nsets].values, buf, len);
            sets[nsets].len = len;
            sets[nsets].hash = h;
            table[slot] = (uint32_t)++nsets;
        }
        marks[i] = (uint16_t)(table[slot] - 1);
    }
    if (!(out->parts = calloc(nsets + 1, sizeof(*out->parts))))
        goto done;
    for (size_t k = 0; k < nsets; k++) {
        struct sl_batch *p = sl_batch_pick16(b, marks, (uint16_t)k);
        p->partitioned = 1;
        p->partition = sets[k].values;
        p->partition_len = sets[k].len;
        sets[k].values = NULL;
        out->parts[out->nparts++] = p;
    }
    if (failed && (out->failed = sl_batch_pick16(b, marks, MARK_FAILED)))
        out->failed->partitioned = 1;
    if (over && (out->over = sl_batch_pick16(b, marks, MARK_OVER))) {
        out->over->partitioned = 1;
        snprintf(out->over_why, sizeof(out->over_why), "partitioning: %llu records past "
                 "max_partitions (%u key sets in one batch)", (unsigned long long)over, max);
    }
    rc = SL_OK;
done:
    for (size_t k = 0; sets && k < nsets; k++)
        free(sets[k].values);
    free(sets);
    free(table);
    free(marks);
    return rc;
}

const char *sl_partition_value(const struct sl_partition_spec *spec, const struct sl_batch *b,
                               int lambda, const char *name, size_t len)
{
    const char *v = b->partition;

    if (!v)
        return NULL;
    for (unsigned k = 0; k < spec->n; k++, v += strlen(v) + 1)
        if (spec->lambda[k] == !!lambda && strlen(spec->name[k]) == len &&
            memcmp(spec->name[k], name, len) == 0)
            return v;
    return NULL;
}

int sl_partition_from_transforms(const struct sl_partition_spec *spec)
{
    for (unsigned k = 0; k < spec->n; k++)
        if (spec->lambda[k])
            return 1;
    return 0;
}

int sl_partition_add_lambda(const char *prefix, struct sl_partition_spec *spec, char *why,
                            size_t whylen)
{
    static const char expr[] = "!{partitionKeyFromLambda:";
    const char *p = prefix, *end;

    while ((p = strstr(p, expr)) && (end = strchr(p += sizeof(expr) - 1, '}'))) {
        size_t n = (size_t)(end - p);
        unsigned k;
        for (k = 0; k < spec->n; k++)
            if (spec->lambda[k] && strlen(spec->name[k]) == n &&
                memcmp(spec->name[k], p, n) == 0)
                break;
        if (k == spec->n) {
            if (spec->n == SL_PART_KEYS) {
                snprintf(why, whylen, "more than %d partition keys", SL_PART_KEYS);
                return SL_EINVAL;
            }
            if (n == 0 || n >= sizeof(spec->name[0])) {
                snprintf(why, whylen, "a partition key name is 1-63 characters");
                return SL_EINVAL;
            }
            snprintf(spec->name[k], sizeof(spec->name[0]), "%.*s", (int)n, p);
            spec->path[k][0] = '\0';
            spec->lambda[k] = 1;
            spec->n++;
        }
        p = end + 1;
    }
    return SL_OK;
}

int sl_partition_parse(const char *text, struct sl_partition_spec *spec, char *why,
                       size_t whylen)
{
    static const char name_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789_";
    const char *p = text;

    memset(spec, 0, sizeof(*spec));
    while (*p) {
        p += strspn(p, " \t");
        const char *end = strchr(p, ','), *eq;
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (!(eq = memchr(p, '=', n))) {
            snprintf(why, whylen, "'%.*s': write NAME=.json.path", (int)n, p);
            return SL_EINVAL;
        }
        size_t nl = (size_t)(eq - p), pl = n - nl - 1;
        const char *path = eq + 1;
        while (nl && (p[nl - 1] == ' ' || p[nl - 1] == '\t'))
            nl--;
        while (pl && (*path == ' ' || *path == '\t'))
            path++, pl--;
        if (spec->n == SL_PART_KEYS) {
            snprintf(why, whylen, "more than %d keys", SL_PART_KEYS);
            return SL_EINVAL;
        }
        if (nl == 0 || nl >= sizeof(spec->name[0]) || strspn(p, name_chars) < nl) {
            snprintf(why, whylen, "'%.*s': a key name is 1-63 of [A-Za-z0-9_]", (int)nl, p);
            return SL_EINVAL;
        }
        int ok = pl >= 2 && pl < sizeof(spec->path[0]) && path[0] == '.';
        for (size_t i = 1; ok && i < pl; i++)
            ok = path[i] == '.' ? path[i - 1] != '.' && i + 1 < pl
                                : strchr(name_chars, path[i]) != NULL || path[i] == '-';
        if (!ok) {
            snprintf(why, whylen, "'%.*s': a path is .member or .member.member "
                     "(letters, digits, _ and -)", (int)pl, path);
            return SL_EINVAL;
        }
        for (unsigned k = 0; k < spec->n; k++)
            if (strlen(spec->name[k]) == nl && memcmp(spec->name[k], p, nl) == 0) {
                snprintf(why, whylen, "key %.*s named twice", (int)nl, p);
                return SL_EINVAL;
            }
        snprintf(spec->name[spec->n], sizeof(spec->name[0]), "%.*s", (int)nl, p);
        snprintf(spec->path[spec->n], sizeof(spec->path[0]), "%.*s", (int)pl, path);
        spec->n++;
        p = end ? end + 1 : p + strlen(p);
    }
    return SL_OK;
}
