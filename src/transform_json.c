/*
 * transform_json.c - see transform_json.h.
 *
 * Records. Each record is parsed with jansson (any JSON value; "\u0000"
 * allowed in strings) and, for the editing transforms (json_timestamp,
 * json_set, json_rename, json_drop), must be an object. It is edited in
 * place and, only if an edit changed it, written back compact through
 * host->set_data: into a 16 KiB stack buffer, or one malloc for a bigger
 * record. A record that ended in '\n' keeps it. jansson keeps members in
 * insertion order (since 2.8), so untouched members stay where they were;
 * a member added goes last, a member renamed within its object keeps its
 * place. json_filter and json_validate never write a record back.
 *
 * Reals. jansson writes all the reals of one dump with one precision, and
 * its default, 17 digits, turns 0.1 into 0.10000000000000001. A record is
 * written with the fewest digits (15 to 17) that give every one of its
 * reals back exactly. Integers outside int64 are not JSON to jansson: such
 * a record fails as Json.Invalid.
 *
 * Paths are split once, at create(), into NUL-ended member names, so a
 * lookup allocates nothing. A member name is printable ASCII but space,
 * '.' and ',' (so `@timestamp` works); a leading dot is optional.
 *
 * Memory per record: what jansson allocates to parse it and for the values
 * put in it (json_set's constants are copied); a dump over 16 KiB; nothing
 * else.
 *
 * Threads: every state is read-only after create(); process() runs on
 * several delivery workers at once. json_set puts a copy of its constant
 * into each record (json_deep_copy) rather than the constant itself:
 * jansson's json_incref/json_decref read the count before their atomic
 * update, a data race when two workers hold one value. json_filter's
 * constant is only read (json_equal).
 *
 * Ownership: each state is one calloc'd block; json_set's and
 * json_filter's values are jansson references it holds. destroy() frees
 * both.
 */
#include "transform_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "json_check.h"

#define PATH_LEN   192                 /* a path's text, at most */
#define DUMP_STACK (16u << 10)         /* records written back up to this cost no malloc */
#define FORMAT_LEN 100                 /* a strftime pattern, at most */
#define DATE_MAX   512                 /* a formatted date, NUL included */
#define MIN_MS     (-62167219200000LL) /* 0000-01-01T00:00:00.000Z */
#define MAX_MS     253402300799999LL   /* 9999-12-31T23:59:59.999Z */
#define AUTO_MS    1e11                /* unit = auto: |value| >= this is milliseconds */
#define LOAD_FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL)

/* What an edit did to a record. */
enum { E_SAME, E_CHANGED, E_FAILED, E_NOMEM };

/* Where a path leads (path_parent). */
enum { P_OK, P_MISSING, P_CONFLICT, P_NOMEM };

/* A path: object members, one per dot. */
struct path {
    unsigned n;                        /* members; 0: none given */
    char text[PATH_LEN + 2];           /* ".a.b", for messages */
    char seg[PATH_LEN + 1];            /* "a\0b\0" */
};

/* ---- helpers ---- */

static int bad(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes a create() error; returns -1. */
static int bad(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int failf(struct sl_tf_error *f, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fills a record's failure; returns E_FAILED. */
static int failf(struct sl_tf_error *f, const char *code, const char *fmt, ...)
{
    va_list ap;

    snprintf(f->code, sizeof(f->code), "%s", code);
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof(f->message), fmt, ap);
    va_end(ap);
    return E_FAILED;
}

/* Answers process() when out of memory: the batch is tried again later. */
static int nomem(struct sl_tf_error *err, const char *type)
{
    snprintf(err->code, sizeof(err->code), "Sluice.OutOfMemory");
    snprintf(err->message, sizeof(err->message), "out of memory in %s", type);
    return SL_TF_RETRY;
}

/* "a string", "an object", ... for messages. */
static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    default: return "null";
    }
}

/* Index of <v> in NULL-terminated <names>, or -1 after writing
 * "KEY: 'v' is not one of: ..." to <err>. */
static int pick(const char *key, const char *v, const char *const *names, char *err,
                size_t errlen)
{
    size_t n;

    for (int i = 0; names[i]; i++)
        if (strcmp(v, names[i]) == 0)
            return i;
    n = (size_t)snprintf(err, errlen, "%s: '%.64s' is not one of:", key, v);
    for (int i = 0; names[i] && n < errlen; i++)
        n += (size_t)snprintf(err + n, errlen - n, " %s", names[i]);
    return -1;
}

/* Reads path <v> into <p>: member.member..., a leading dot optional; a
 * member is printable ASCII but space, '.' and ','. -1 if it is not one. */
static int parse_path(const char *v, size_t n, struct path *p)
{
    if (n && *v == '.')
        v++, n--;
    if (n == 0 || n > PATH_LEN)
        return -1;
    p->n = 1;
    p->text[0] = '.';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '.') {
            if (i == 0 || v[i - 1] == '.' || i + 1 == n)
                return -1;
            p->n++;
            p->seg[i] = '\0';
        } else if (c <= ' ' || c >= 0x7f || c == ',') {
            return -1;
        } else {
            p->seg[i] = (char)c;
        }
        p->text[i + 1] = (char)c;
    }
    p->seg[n] = '\0';
    p->text[n + 1] = '\0';
    return 0;
}

/* parse_path() of the <n> bytes at <v>, or -1 with "KEY: 'v' is not a
 * path ..." in <err>. */
static int read_path(const char *key, const char *v, size_t n, struct path *p, char *err,
                     size_t errlen)
{
    if (parse_path(v, n, p) == 0)
        return 0;
    if (n == 0)
        return bad(err, errlen, "%s: an empty path", key);
    return bad(err, errlen, "%s: '%.*s' is not a path like .a or .a.b (members of printable "
               "ASCII but space, dot and comma; at most %d characters)", key,
               (int)(n < 64 ? n : 64), v, PATH_LEN);
}

/* Whether path <a> is <b>, or leads to it. */
static int path_within(const struct path *a, const struct path *b)
{
    return a->n <= b->n && memcmp(a->seg, b->seg, strlen(a->text)) == 0;
}

/* Offset of <p>'s last member in p->seg. */
static size_t last_off(const struct path *p)
{
    return (size_t)(strrchr(p->text, '.') - p->text);
}

/* Length of the text of <p>'s first <k> members (".a.b" for 2). */
static int prefix_len(const struct path *p, unsigned k)
{
    size_t i = 0;

    for (unsigned m = 0; m < k; m++)
        i += 1 + strcspn(p->text + i + 1, ".");
    return (int)i;
}

/* The value at <p> in <root>, or NULL (borrowed from <root>). */
static json_t *path_get(json_t *root, const struct path *p)
{
    const char *s = p->seg;

    for (unsigned k = 0; root && k < p->n; k++, s += strlen(s) + 1)
        root = json_object_get(root, s);
    return root;
}

/*
 * Finds the object that holds <p>'s last member, named *<last>; with
 * <make>, makes the missing objects on the way. P_OK with *<parent>;
 * P_MISSING; P_CONFLICT when member *<depth> on the way is not an object
 * (then *<parent> is that member's value); P_NOMEM.
 */
static int path_parent(json_t *root, const struct path *p, int make, json_t **parent,
                       const char **last, unsigned *depth)
{
    const char *s = p->seg;
    json_t *o = root, *next;

    for (unsigned k = 0; k + 1 < p->n; k++, s += strlen(s) + 1) {
        if (!(next = json_object_get(o, s)) && make &&
            json_object_set_new(o, s, next = json_object()) != 0)
            return P_NOMEM;
        if (!next)
            return P_MISSING;
        if (!json_is_object(next)) {
            *depth = k + 1;
            *parent = next;
            return P_CONFLICT;
        }
        o = next;
    }
    *parent = o;
    *last = s;
    return P_OK;
}

/* Puts <v> (taken) at <p> in object <root>, making objects on the way.
 * E_CHANGED, E_SAME (it was there already), E_FAILED (Json.PathConflict
 * in <f>) or E_NOMEM. */
static int put(json_t *root, const struct path *p, json_t *v, struct sl_tf_error *f)
{
    json_t *parent = NULL, *old;
    const char *last = NULL;
    unsigned depth = 0;
    int rc;

    if (!v)
        return E_NOMEM;
    rc = path_parent(root, p, 1, &parent, &last, &depth);
    if (rc != P_OK) {
        json_decref(v);
        if (rc != P_CONFLICT)
            return E_NOMEM;
        return failf(f, "Json.PathConflict", "cannot write %s: %.*s is %s, not an object",
                     p->text, prefix_len(p, depth), p->text, type_name(parent));
    }
    if ((old = json_object_get(parent, last)) && json_equal(old, v)) {
        json_decref(v);
        return E_SAME;
    }
    return json_object_set_new(parent, last, v) == 0 ? E_CHANGED : E_NOMEM;
}

/* ---- records ---- */

/* Record <r> parsed, or NULL with Json.Invalid in <f> (*<oom> set when
 * jansson ran out of memory). */
static json_t *load(const struct sl_record *r, struct sl_tf_error *f, int *oom)
{
    json_error_t je;
    json_t *root = json_loadb(r->len ? (const char *)r->data : "", r->len, LOAD_FLAGS, &je);

    if (!root) {
        *oom = json_error_code(&je) == json_error_out_of_memory;
        failf(f, "Json.Invalid", "%s (line %d, column %d)", je.text, je.line, je.column);
    }
    return root;
}

/* load(), and the record must be an object: else NULL with
 * Json.NotAnObject in <f>. */
static json_t *load_object(const struct sl_record *r, struct sl_tf_error *f, int *oom)
{
    json_t *root = load(r, f, oom);

    if (root && !json_is_object(root)) {
        failf(f, "Json.NotAnObject", "the record is %s, not a JSON object", type_name(root));
        json_decref(root);
        root = NULL;
    }
    return root;
}

/* Whether <d> written with <digits> significant digits reads back as <d>. */
static int exact(double d, int digits)
{
    char buf[40];

    snprintf(buf, sizeof(buf), "%.*g", digits, d);
    return strtod(buf, NULL) == d;
}

/* The fewest digits, from <digits> up to 17, that write every real in
 * <v> back exactly (see the top of the file). */
static int real_digits(json_t *v, int digits)
{
    const char *k;
    json_t *x;
    size_t i;

    if (json_is_real(v)) {
        while (digits < 17 && !exact(json_real_value(v), digits))
            digits++;
    } else if (json_is_object(v)) {
        json_object_foreach(v, k, x)
            if ((digits = real_digits(x, digits)) == 17)
                break;
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x)
            if ((digits = real_digits(x, digits)) == 17)
                break;
    }
    return digits;
}

/* Gives record <i> the compact JSON of <root>, plus the '\n' it ended in.
 * 0, or -1 when out of memory. */
static int emit(const struct sl_tf_batch *b, size_t i, json_t *root)
{
    const struct sl_record *r = &b->records[i];
    size_t flags = JSON_COMPACT | JSON_REAL_PRECISION(real_digits(root, 15));
    size_t nl = r->len && r->data[r->len - 1] == '\n';
    char stack[DUMP_STACK], *buf = stack;
    size_t n = json_dumpb(root, stack, sizeof(stack), flags);
    int rc;

    if (n == 0)
        return -1;
    if (n + nl > sizeof(stack)) {
        if (!(buf = malloc(n + nl)))
            return -1;
        if (json_dumpb(root, buf, n, flags) != n) {
            free(buf);
            return -1;
        }
    }
    if (nl)
        buf[n] = '\n';
    rc = b->host->set_data(b->out, i, buf, n + nl);
    if (buf != stack)
        free(buf);
    return rc;
}

/* Edits object <root> (record <r>) by <state>: E_SAME, E_CHANGED,
 * E_FAILED with <f> filled, or E_NOMEM. */
typedef int edit_fn(const void *state, json_t *root, const struct sl_record *r,
                    struct sl_tf_error *f);

/* process() of the editing transforms: each record parsed, edited by
 * <edit>, and written back if it changed, or failed. */
static int run_edits(const void *state, const struct sl_tf_batch *b, struct sl_tf_error *err,
                     edit_fn *edit, const char *type)
{
    for (size_t i = 0; i < b->nrecords; i++) {
        struct sl_tf_error f;
        int oom = 0, rc;
        json_t *root = load_object(&b->records[i], &f, &oom);

        rc = oom ? E_NOMEM : !root ? E_FAILED : edit(state, root, &b->records[i], &f);
        if (rc == E_CHANGED)
            rc = emit(b, i, root) == 0 ? E_SAME : E_NOMEM;
        else if (rc == E_FAILED)
            rc = b->host->set_failed(b->out, i, f.code, f.message) == 0 ? E_SAME : E_NOMEM;
        json_decref(root);
        if (rc == E_NOMEM)
            return nomem(err, type);
    }
    return 0;
}

/* A constant of json_set or json_filter: <v> as JSON if it is JSON, else
 * as a string. NULL if <v> is neither (not UTF-8) or out of memory. */
static json_t *parse_value(const char *v)
{
    json_t *j = json_loads(v, JSON_DECODE_ANY, NULL);

    return j ? j : json_string(v);
}

/* ---- dates ---- */

/* (libm is not linked, hence these two.) */
static double absd(double d)
{
    return d < 0 ? -d : d;
}

/* <d>, |d| < 1e18, rounded to the nearest integer, halves away from 0. */
static long long round_ll(double d)
{
    long long t = (long long)d;
    double r = d - (double)t;          /* exact: over 2^53 every double is whole */

    return r >= 0.5 ? t + 1 : r <= -0.5 ? t - 1 : t;
}

/* Writes epoch <ms> in UTC as <fmt>, or (NULL) as ISO 8601 with
 * milliseconds when <frac>. Its length, or 0 if it does not fit <cap>. */
static size_t format_date(const char *fmt, int64_t ms, int frac, char *out, size_t cap)
{
    int64_t s = ms / 1000, m = ms % 1000;
    struct tm tm;
    time_t t;
    int n;

    if (m < 0)
        m += 1000, s--;
    t = (time_t)s;
    if (!gmtime_r(&t, &tm))
        return 0;
    if (fmt)
        return strftime(out, cap, fmt, &tm);
    n = snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (frac)
        n += snprintf(out + n, cap - (size_t)n, ".%03d", (int)m);
    n += snprintf(out + n, cap - (size_t)n, "Z");
    return (size_t)n < cap ? (size_t)n : 0;
}

/* A string of digits with an optional '-' and an optional fraction, as a
 * number: 1 with *<d> (and *<i>, *<is_int> when it has no fraction). */
static int numeric_string(const json_t *v, long long *i, double *d, int *is_int)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v), k = s[0] == '-', digits;

    if (n > 40 || !(digits = strspn(s + k, "0123456789")))
        return 0;
    k += digits;
    if (k < n && (s[k] != '.' || k + 1 == n || strspn(s + k + 1, "0123456789") != n - k - 1))
        return 0;
    *d = strtod(s, NULL);
    *is_int = k == n && absd(*d) < 1e15;
    if (*is_int)
        *i = strtoll(s, NULL, 10);
    return 1;
}

enum { UNIT_AUTO, UNIT_S, UNIT_MS };

/* <v> as epoch milliseconds, *<frac> if it has a millisecond part (a
 * value in ms always has). -1 with <why> if it is not a number or a
 * numeric string, or lies outside the years 0000-9999. */
static int epoch_ms(const json_t *v, int unit, int64_t *ms, int *frac, char *why, size_t whylen)
{
    long long i = 0;
    double d = 0;
    int is_int = 0, in_ms;

    if (json_is_integer(v)) {
        i = json_integer_value(v);
        d = (double)i;
        is_int = 1;
    } else if (json_is_real(v)) {
        d = json_real_value(v);
    } else if (!json_is_string(v) || !numeric_string(v, &i, &d, &is_int)) {
        snprintf(why, whylen, "is %s, not an epoch number",
                 json_is_string(v) ? "a string that is not a number" : type_name(v));
        return -1;
    }
    in_ms = unit == UNIT_MS || (unit == UNIT_AUTO && absd(d) >= AUTO_MS);
    if (!(absd(d) < 1e15)) {
        *ms = MAX_MS + 1;
    } else if (is_int) {
        *ms = in_ms ? i : i * 1000;
        *frac = in_ms;
    } else {
        *ms = round_ll(in_ms ? d : d * 1000);
        *frac = in_ms || d != (double)(long long)d;
    }
    if (*ms < MIN_MS || *ms > MAX_MS) {
        snprintf(why, whylen, "is %.16g %s, outside the years 0000-9999", d,
                 in_ms ? "milliseconds" : "seconds");
        return -1;
    }
    return 0;
}

/* ---- json_timestamp ---- */

struct ts {
    struct path field, target;
    int unit;                          /* UNIT_* */
    int missing_fail;                  /* missing = fail */
    char format[FORMAT_LEN + 1];       /* a strftime(3) pattern; "": iso8601 */
};

/* Reads key `format` into <t>. */
static int ts_format(struct ts *t, const char *v, char *err, size_t errlen)
{
    char out[DATE_MAX];
    size_t n = strlen(v);
    json_t *j;

    if (strcmp(v, "iso8601") == 0)
        return 0;                      /* format stays "" */
    if (n == 0 || n > FORMAT_LEN)
        return bad(err, errlen, "format: iso8601, or a strftime pattern of 1-%d characters",
                   FORMAT_LEN);
    for (size_t i = 0; i < n; i++) {
        if (v[i] != '%')
            continue;
        i++;
        i += strspn(v + i, "_-0^#123456789EO");
        if (v[i] == 's')
            return bad(err, errlen, "format: %%s reads the date as local time; not supported");
        if (v[i] == '\0')
            return bad(err, errlen, "format: '%.64s' ends in a lone %%", v);
    }
    if (!format_date(v, 1715089329123LL, 1, out, sizeof(out)))
        return bad(err, errlen, "format: '%.64s' writes nothing, or over %d bytes", v,
                   DATE_MAX - 1);
    if (!(j = json_string(out)))
        return bad(err, errlen, "format: '%.64s' is not UTF-8", v);
    json_decref(j);
    memcpy(t->format, v, n + 1);
    return 0;
}

static int ts_create(const struct sl_tf_kv *kv, size_t nkv, void **state, char *err,
                     size_t errlen)
{
    static const char *const units[] = { "auto", "s", "ms", NULL };
    static const char *const missing[] = { "keep", "fail", NULL };
    struct ts *t = calloc(1, sizeof(*t));
    int rc = -1;

    *state = NULL;
    if (!t)
        return bad(err, errlen, "out of memory");
    for (size_t i = 0; i < nkv; i++) {
        const char *k = kv[i].key, *v = kv[i].value;
        if (strcmp(k, "field") == 0 || strcmp(k, "target") == 0) {
            if (read_path(k, v, strlen(v), k[0] == 'f' ? &t->field : &t->target, err,
                          errlen) != 0)
                goto out;
        } else if (strcmp(k, "unit") == 0) {
            if ((t->unit = pick(k, v, units, err, errlen)) < 0)
                goto out;
        } else if (strcmp(k, "missing") == 0) {
            if ((t->missing_fail = pick(k, v, missing, err, errlen)) < 0)
                goto out;
        } else if (strcmp(k, "format") == 0) {
            if (ts_format(t, v, err, errlen) != 0)
                goto out;
        } else {
            bad(err, errlen, "%s: unknown key for json_timestamp", k);
            goto out;
        }
    }
    if (!t->field.n) {
        bad(err, errlen, "field: required");
        goto out;
    }
    if (!t->target.n)
        t->target = t->field;
    *state = t;
    t = NULL;
    rc = 0;
out:
    free(t);
    return rc;
}

/* The field, as a date, into the target. */
static int ts_edit(const void *state, json_t *root, const struct sl_record *r,
                   struct sl_tf_error *f)
{
    const struct ts *t = state;
    json_t *v = path_get(root, &t->field);
    char date[DATE_MAX], why[128];
    int64_t ms = 0;
    int frac = 0;

    (void)r;
    if (!v)
        return t->missing_fail ? failf(f, "Json.FieldMissing", "the record has no %s",
                                       t->field.text) : E_SAME;
    if (epoch_ms(v, t->unit, &ms, &frac, why, sizeof(why)) != 0)
        return failf(f, "Json.TimestampInvalid", "%s %s", t->field.text, why);
    if (!format_date(t->format[0] ? t->format : NULL, ms, frac, date, sizeof(date)))
        return failf(f, "Json.TimestampInvalid", "%s: the date is over %d bytes written as "
                     "'%s'", t->field.text, DATE_MAX - 1, t->format);
    return put(root, &t->target, json_string(date), f);
}

static int ts_process(void *state, const struct sl_tf_batch *b, struct sl_tf_error *err)
{
    return run_edits(state, b, err, ts_edit, "json_timestamp");
}

/* destroy() of the states that are one block. */
static void plain_destroy(void *state)
{
    free(state);
}

const struct sl_transform_ops sl_tf_json_timestamp = {
    .abi = SL_TRANSFORM_ABI,
    .size = sizeof(struct sl_transform_ops),
    .name = "json_timestamp",
    .create = ts_create,
    .process = ts_process,
    .destroy = plain_destroy,
};

/* ---- json_set ---- */

enum { SET_CONST, SET_ARRIVAL, SET_ARRIVAL_MS };

struct set_item {
    struct path path;
    int what;                          /* SET_* */
    json_t *value;                     /* SET_CONST: the original; records get copies */
};

struct set {
    size_t n;
    struct set_item item[];            /* in the order of the keys */
};

static void set_destroy(void *state)
{
    struct set *s = state;

    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        json_decref(s->item[i].value);
    free(s);
}

/* Reads `set.PATH = VALUE` into a new item of <s>. */
static int set_item(struct set *s, const char *k, const char *v, char *err, size_t errlen)
{
    struct set_item *it = &s->item[s->n];

    if (read_path(k, k + 4, strlen(k + 4), &it->path, err, errlen) != 0)
        return -1;
    /* one value per place: set.a and set.a.b would hang on their order */
    for (size_t j = 0; j < s->n; j++)
        if (path_within(&s->item[j].path, &it->path) || path_within(&it->path, &s->item[j].path))
            return bad(err, errlen, "%s: overlaps set%s", k, s->item[j].path.text);
    if (strcmp(v, "@arrival") == 0)
        it->what = SET_ARRIVAL;
    else if (strcmp(v, "@arrival_ms") == 0)
        it->what = SET_ARRIVAL_MS;
    else if (!(it->value = parse_value(v)))
        return bad(err, errlen, "%s: '%.64s' is not UTF-8", k, v);
    s->n++;
    return 0;
}

static int set_create(const struct sl_tf_kv *kv, size_t nkv, void **state, char *err,
                      size_t errlen)
{
    struct set *s = calloc(1, sizeof(*s) + nkv * sizeof(s->item[0]));

    *state = NULL;
    if (!s)
        return bad(err, errlen, "out of memory");
    for (size_t i = 0; i < nkv; i++) {
        const char *k = kv[i].key;
        if (strncmp(k, "set.", 4) != 0) {
            bad(err, errlen, "%s: unknown key for json_set", k);
            goto fail;
        }
        if (set_item(s, k, kv[i].value, err, errlen) != 0)
            goto fail;
    }
    if (s->n == 0) {
        bad(err, errlen, "set.PATH: required (at least one set.PATH = VALUE)");
        goto fail;
    }
    *state = s;
    return 0;
fail:
    set_destroy(s);
    return -1;
}

/* Each item's value into its path. */
static int set_edit(const void *state, json_t *root, const struct sl_record *r,
                    struct sl_tf_error *f)
{
    const struct set *s = state;
    int changed = 0;

    for (size_t i = 0; i < s->n; i++) {
        const struct set_item *it = &s->item[i];
        char date[DATE_MAX];
        json_t *v;
        int rc;

        if (it->what == SET_CONST)
            v = json_deep_copy(it->value);
        else if (it->what == SET_ARRIVAL_MS)
            v = json_integer(r->arrival_ms);
        else
            v = format_date(NULL, r->arrival_ms, 1, date, sizeof(date)) ? json_string(date)
                                                                          : json_null();
        if ((rc = put(root, &it->path, v, f)) == E_FAILED || rc == E_NOMEM)
            return rc;
        changed |= rc == E_CHANGED;
    }
    return changed ? E_CHANGED : E_SAME;
}

static int set_process(void *state, const struct sl_tf_batch *b, struct sl_tf_error *err)
{
    return run_edits(state, b, err, set_edit, "json_set");
}

const struct sl_transform_ops sl_tf_json_set = {
    .abi = SL_TRANSFORM_ABI,
    .size = sizeof(struct sl_transform_ops),
    .name = "json_set",
    .create = set_create,
    .process = set_process,
    .destroy = set_destroy,
};

/* ---- json_rename ---- */

struct rename_item {
    struct path from, to;
    int same_parent;                   /* a new name in the same object: it keeps its place */
};

struct rename {
    size_t n;
    struct rename_item item[];         /* in the order of the keys */
};

static int rename_create(const struct sl_tf_kv *kv, size_t nkv, void **state, char *err,
                         size_t errlen)
{
    struct rename *s = calloc(1, sizeof(*s) + nkv * sizeof(s->item[0]));
    struct rename_item *it;

    *state = NULL;
    if (!s)
        return bad(err, errlen, "out of memory");
    for (size_t i = 0; i < nkv; i++) {
        const char *k = kv[i].key, *v = kv[i].value;
        it = &s->item[s->n];
        if (strncmp(k, "rename.", 7) != 0) {
            bad(err, errlen, "%s: unknown key for json_rename", k);
            goto fail;
        }
        if (read_path(k, k + 7, strlen(k + 7), &it->from, err, errlen) != 0 ||
            read_path(k, v, strlen(v), &it->to, err, errlen) != 0)
            goto fail;
        if (strcmp(it->from.text, it->to.text) == 0) {
            bad(err, errlen, "%s: renamed to itself", k);
            goto fail;
        }
        it->same_parent = it->from.n == it->to.n && last_off(&it->from) == last_off(&it->to) &&
                          memcmp(it->from.seg, it->to.seg, last_off(&it->from)) == 0;
        s->n++;
    }
    if (s->n == 0) {
        bad(err, errlen, "rename.FROM: required (at least one rename.FROM = TO)");
        goto fail;
    }
    *state = s;
    return 0;
fail:
    free(s);
    return -1;
}

/* Renames member <from> of <obj> to <to>, in its place (jansson appends a
 * new member, so the object is rebuilt). A member <to> is replaced. */
static int rename_member(json_t *obj, const char *from, const char *to)
{
    json_t *n = json_object(), *v;
    const char *k;
    int rc = 0;

    if (!n)
        return -1;
    json_object_foreach(obj, k, v)
        if (strcmp(k, to) != 0 && json_object_set(n, strcmp(k, from) == 0 ? to : k, v) != 0) {
            rc = -1;
            break;
        }
    if (rc == 0 && (json_object_clear(obj) != 0 || json_object_update(obj, n) != 0))
        rc = -1;
    json_decref(n);
    return rc;
}

/* Each FROM that is there, moved to its TO. */
static int rename_edit(const void *state, json_t *root, const struct sl_record *r,
                       struct sl_tf_error *f)
{
    const struct rename *s = state;
    int changed = 0;

    (void)r;
    for (size_t i = 0; i < s->n; i++) {
        const struct rename_item *it = &s->item[i];
        json_t *parent = NULL, *v;
        const char *last = NULL;
        unsigned depth = 0;
        int rc;

        if (path_parent(root, &it->from, 0, &parent, &last, &depth) != P_OK ||
            !(v = json_object_get(parent, last)))
            continue;
        changed = 1;
        if (it->same_parent) {
            if (rename_member(parent, last, it->to.seg + last_off(&it->to)) != 0)
                return E_NOMEM;
            continue;
        }
        /* out of the tree first: TO may lie under FROM, or FROM under TO */
        json_incref(v);
        json_object_del(parent, last);
        if ((rc = put(root, &it->to, v, f)) == E_FAILED || rc == E_NOMEM)
            return rc;
    }
    return changed ? E_CHANGED : E_SAME;
}

static int rename_process(void *state, const struct sl_tf_batch *b, struct sl_tf_error *err)
{
    return run_edits(state, b, err, rename_edit, "json_rename");
}

const struct sl_transform_ops sl_tf_json_rename = {
    .abi = SL_TRANSFORM_ABI,
    .size = sizeof(struct sl_transform_ops),
    .name = "json_rename",
    .create = rename_create,
    .process = rename_process,
    .destroy = plain_destroy,
};

/* ---- json_drop ---- */

struct drop {
    size_t n;
    struct path item[];                /* the fields, as listed */
};

static int drop_create(const struct sl_tf_kv *kv, size_t nkv, void **state, char *err,
                       size_t errlen)
{
    struct drop *s = NULL;
    const char *list = NULL;
    size_t n = 1;

    *state = NULL;
    for (size_t i = 0; i < nkv; i++) {
        if (strcmp(kv[i].key, "fields") != 0)
            return bad(err, errlen, "%s: unknown key for json_drop", kv[i].key);
        list = kv[i].value;
    }
    if (!list || !*list)
        return bad(err, errlen, "fields: required (a, b.c, ...)");
    for (const char *p = list; (p = strchr(p, ',')); p++)
        n++;
    if (!(s = calloc(1, sizeof(*s) + n * sizeof(s->item[0]))))
        return bad(err, errlen, "out of memory");
    for (const char *p = list;; p++) {
        size_t len = strcspn(p, ","), m = len;
        const char *q = p;
        while (m && (*q == ' ' || *q == '\t'))
            q++, m--;
        while (m && (q[m - 1] == ' ' || q[m - 1] == '\t'))
            m--;
        if (read_path("fields", q, m, &s->item[s->n++], err, errlen) != 0) {
            free(s);
            return -1;
        }
        if (!p[len])
            break;
        p += len;
    }
    *state = s;
    return 0;
}

/* Each field that is there, removed. */
static int drop_edit(const void *state, json_t *root, const struct sl_record *r,
                     struct sl_tf_error *f)
{
    const struct drop *s = state;
    int changed = 0;

    (void)r, (void)f;
    for (size_t i = 0; i < s->n; i++) {
        json_t *parent = NULL;
        const char *last = NULL;
        unsigned depth = 0;

        if (path_parent(root, &s->item[i], 0, &parent, &last, &depth) == P_OK &&
            json_object_del(parent, last) == 0)
            changed = 1;
    }
    return changed ? E_CHANGED : E_SAME;
}

static int drop_process(void *state, const struct sl_tf_batch *b, struct sl_tf_error *err)
{
    return run_edits(state, b, err, drop_edit, "json_drop");
}

const struct sl_transform_ops sl_tf_json_drop = {
    .abi = SL_TRANSFORM_ABI,
    .size = sizeof(struct sl_transform_ops),
    .name = "json_drop",
    .create = drop_create,
    .process = drop_process,
    .destroy = plain_destroy,
};

/* ---- json_filter ---- */

enum { IF_EQUALS, IF_NOT_EQUALS, IF_MISSING, IF_NONE };

struct filter {
    struct path field;
    int cond;                          /* IF_* */
    json_t *value;                     /* IF_EQUALS, IF_NOT_EQUALS */
};

static void filter_destroy(void *state)
{
    struct filter *s = state;

    if (s)
        json_decref(s->value);
    free(s);
}

/* Reads one of the drop_if_ keys, condition <cond>, into <s>. */
static int filter_cond(struct filter *s, int cond, const char *k, const char *v, char *err,
                       size_t errlen)
{
    if (s->cond != IF_NONE)
        return bad(err, errlen, "%s: only one of drop_if_equals, drop_if_not_equals and "
                   "drop_if_missing", k);
    s->cond = cond;
    if (cond == IF_MISSING)
        return strcmp(v, "true") == 0 ? 0 : bad(err, errlen, "%s: '%.64s' is not true (leave "
                                                "the key out otherwise)", k, v);
    if (!(s->value = parse_value(v)))
        return bad(err, errlen, "%s: '%.64s' is not UTF-8", k, v);
    return 0;
}

static int filter_create(const struct sl_tf_kv *kv, size_t nkv, void **state, char *err,
                         size_t errlen)
{
    static const char *const conds[] = { "drop_if_equals", "drop_if_not_equals",
                                         "drop_if_missing", NULL };
    struct filter *s = calloc(1, sizeof(*s));

    *state = NULL;
    if (!s)
        return bad(err, errlen, "out of memory");
    s->cond = IF_NONE;
    for (size_t i = 0; i < nkv; i++) {
        const char *k = kv[i].key, *v = kv[i].value;
        int c = -1;
        for (int j = 0; conds[j]; j++)
            if (strcmp(k, conds[j]) == 0)
                c = j;
        if (strcmp(k, "field") == 0) {
            if (read_path(k, v, strlen(v), &s->field, err, errlen) != 0)
                goto fail;
        } else if (c < 0) {
            bad(err, errlen, "%s: unknown key for json_filter", k);
            goto fail;
        } else if (filter_cond(s, c, k, v, err, errlen) != 0) {
            goto fail;
        }
    }
    if (!s->field.n) {
        bad(err, errlen, "field: required");
        goto fail;
    }
    if (s->cond == IF_NONE) {
        bad(err, errlen, "drop_if_equals: required (or drop_if_not_equals, or "
            "drop_if_missing = true)");
        goto fail;
    }
    *state = s;
    return 0;
fail:
    filter_destroy(s);
    return -1;
}

/* json_equal(), but numbers equal by value (1 and 1.0); two integers
 * exactly (as doubles, 2^53 + 1 would equal 2^53). */
static int same(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b))
        return json_integer_value(a) == json_integer_value(b);
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal(a, b);
}

static int filter_process(void *state, const struct sl_tf_batch *b, struct sl_tf_error *err)
{
    const struct filter *s = state;

    for (size_t i = 0; i < b->nrecords; i++) {
        struct sl_tf_error f;
        int oom = 0, rc, drop;
        json_t *root = load_object(&b->records[i], &f, &oom), *v;

        if (oom)
            return nomem(err, "json_filter");
        if (!root) {
            rc = b->host->set_failed(b->out, i, f.code, f.message);
        } else {
            v = path_get(root, &s->field);
            drop = s->cond == IF_MISSING ? !v
                 : s->cond == IF_EQUALS  ? v && same(v, s->value)
                                         : !v || !same(v, s->value);
            rc = drop ? b->host->set_dropped(b->out, i) : 0;
            json_decref(root);
        }
        if (rc != 0)
            return nomem(err, "json_filter");
    }
    return 0;
}

const struct sl_transform_ops sl_tf_json_filter = {
    .abi = SL_TRANSFORM_ABI,
    .size = sizeof(struct sl_transform_ops),
    .name = "json_filter",
    .create = filter_create,
    .process = filter_process,
    .destroy = filter_destroy,
};

/* ---- json_validate ---- */

struct validate {
    int require_object;
};

static int validate_create(const struct sl_tf_kv *kv, size_t nkv, void **state, char *err,
                           size_t errlen)
{
    static const char *const bools[] = { "false", "true", NULL };
    struct validate *s = calloc(1, sizeof(*s));

    *state = NULL;
    if (!s)
        return bad(err, errlen, "out of memory");
    for (size_t i = 0; i < nkv; i++) {
        if (strcmp(kv[i].key, "require_object") != 0) {
            bad(err, errlen, "%s: unknown key for json_validate", kv[i].key);
            free(s);
            return -1;
        }
        if ((s->require_object = pick(kv[i].key, kv[i].value, bools, err, errlen)) < 0) {
            free(s);
            return -1;
        }
    }
    *state = s;
    return 0;
}

static int validate_process(void *state, const struct sl_tf_batch *b, struct sl_tf_error *err)
{
    const struct validate *s = state;

    for (size_t i = 0; i < b->nrecords; i++) {
        struct sl_tf_error f;
        int oom = 0, rc = 0;
        /* the common case without a tree; jansson for the rest, and for why */
        if (sl_json_check(b->records[i].data, b->records[i].len, s->require_object))
            continue;
        json_t *root = s->require_object ? load_object(&b->records[i], &f, &oom)
                                         : load(&b->records[i], &f, &oom);

        if (oom)
            return nomem(err, "json_validate");
        if (!root)
            rc = b->host->set_failed(b->out, i, f.code, f.message);
        json_decref(root);
        if (rc != 0)
            return nomem(err, "json_validate");
    }
    return 0;
}

const struct sl_transform_ops sl_tf_json_validate = {
    .abi = SL_TRANSFORM_ABI,
    .size = sizeof(struct sl_transform_ops),
    .name = "json_validate",
    .create = validate_create,
    .process = validate_process,
    .destroy = plain_destroy,
};
