/*
 * objkey.c - see objkey.h.
 *
 * One walker serves both the check at config load (no key: only the
 * rules are applied) and the evaluation for a batch, so the two cannot
 * disagree about what a template means.
 */
#include "objkey.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sluice/err.h"

#define DEFAULT_FOLDERS 14              /* "YYYY/MM/DD/HH/" */

/* Bounded output; <over> once something did not fit. */
struct out {
    char *p;
    size_t len, cap;
    int over;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (!o)
        return;
    if (o->len + n >= o->cap) {
        o->over = 1;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

/* Writes <v> zero-padded to <width> digits, whatever the width: the
 * padding goes out a digit at a time, never through a fixed buffer. */
static void putnum(struct out *o, long v, size_t width)
{
    char b[24];
    int n = snprintf(b, sizeof(b), "%ld", v);

    for (size_t i = (size_t)n; i < width && !(o && o->over); i++)
        put(o, "0", 1);
    put(o, b, (size_t)n);
}

/* What the walk found, for the rules that look at the whole template.
 * <most>: the longest the evaluated prefix can be, partition values aside
 * (they are bounded when read, and again by sl_objkey_format). */
struct seen {
    int expressions, time, partition, error_type, randoms;
    size_t most;
};

static int bad(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes why a template is refused; returns SL_EINVAL. */
static int bad(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return SL_EINVAL;
}

/* !{timestamp:PATTERN}: Java DateTimeFormatter letters Firehose takes. */
static int timestamp(const char *pat, size_t n, const struct tm *tm, int ms, struct out *o,
                     size_t *most, char *why, size_t whylen)
{
    if (n == 0)
        return bad(why, whylen, "!{timestamp:} needs a pattern, e.g. yyyy/MM/dd");
    for (size_t i = 0; i < n;) {
        char c = pat[i];
        size_t run = 1;
        if (c == '\'') {                          /* 'literal', '' is a quote */
            if (i + 1 < n && pat[i + 1] == '\'') {
                put(o, "'", 1);
                (*most)++;
                i += 2;
                continue;
            }
            const char *end = memchr(pat + i + 1, '\'', n - i - 1);
            if (!end)
                return bad(why, whylen, "unclosed quote in !{timestamp:%.*s}", (int)n, pat);
            put(o, pat + i + 1, (size_t)(end - pat - i - 1));
            *most += (size_t)(end - pat - i - 1);
            i = (size_t)(end - pat) + 1;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
            put(o, &c, 1);
            (*most)++;
            i++;
            continue;
        }
        while (i + run < n && pat[i + run] == c)
            run++;
        switch (c) {
        case 'y':                                 /* years past 9999 take more */
            if (run > 19)                         /* Java refuses wider fields */
                return bad(why, whylen, "'%.*s...' in a timestamp pattern: a year is at most "
                           "19 letters", 8, pat + i);
            if (run == 2)
                putnum(o, ((long)tm->tm_year + 1900) % 100, 2);
            else
                putnum(o, (long)tm->tm_year + 1900, run > 4 ? run : 4);
            *most += run == 2 ? 2 : run > 4 ? run : 4;
            break;
        case 'M': case 'd': case 'H': case 'm': case 's':
            if (run > 2)
                return bad(why, whylen, "'%.*s' in a timestamp pattern: use one or two "
                           "letters (names of months are not supported)", (int)run, pat + i);
            putnum(o, c == 'M' ? tm->tm_mon + 1 : c == 'd' ? tm->tm_mday : c == 'H' ?
                   tm->tm_hour : c == 'm' ? tm->tm_min : tm->tm_sec, run);
            *most += 2;
            break;
        case 'S': {                               /* fraction of the second */
            char f[4];
            if (run > 9)                          /* nanoseconds, as in Java */
                return bad(why, whylen, "'%.*s...' in a timestamp pattern: a fraction of "
                           "the second is at most 9 letters", 8, pat + i);
            snprintf(f, sizeof(f), "%03d", ms);
            for (size_t k = 0; k < run && !(o && o->over); k++)
                put(o, k < 3 ? &f[k] : "0", 1);
            *most += run;
            break;
        }
        default:
            return bad(why, whylen, "'%.*s' in a timestamp pattern: the letters are y M d "
                       "H m s S; quote text ('T')", (int)run, pat + i);
        }
        i += run;
    }
    return SL_OK;
}

/* 11 characters of [0-9a-z] from the batch's UUID and the use's index. */
static void random_string(const char *uuid, int index, struct out *o)
{
    static const char alpha[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    uint64_t x = 1469598103934665603ULL ^ (uint64_t)index;
    char s[11];

    for (const char *p = uuid; p && *p; p++)
        x = (x ^ (unsigned char)*p) * 1099511628211ULL;
    for (int i = 0; i < 11; i++) {
        x += 0x9e3779b97f4a7c15ULL;
        uint64_t z = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        s[i] = alpha[(z ^ (z >> 31)) % 36];
    }
    put(o, s, sizeof(s));
}

/* 1 if <name> (<n> bytes) is one of the ','-separated <keys>. */
static int declared(const char *keys, const char *name, size_t n)
{
    for (const char *p = keys; p && *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && memcmp(p, name, n) == 0)
            return 1;
        p = e ? e + 1 : p + l;
    }
    return 0;
}

static int same(const char *a, size_t n, const char *word)
{
    return n == strlen(word) && memcmp(a, word, n) == 0;
}

/*
 * Walks template <tpl>. With <k> NULL only checks (partition keys against
 * <keys>); else writes the evaluated prefix to <o>.
 */
static int walk(const char *tpl, int is_error, const char *keys, int lambda,
                const struct sl_objkey *k, struct out *o, struct seen *sn, char *why,
                size_t whylen)
{
    struct tm tm = { 0 };
    int ms = 0, rc;

    if (k) {
        time_t t = (time_t)(k->wall_ms / 1000);
        gmtime_r(&t, &tm);
        ms = (int)(k->wall_ms % 1000);
    }
    for (const char *p = tpl; *p;) {
        const char *e = strstr(p, "!{");
        if (!e) {
            put(o, p, strlen(p));
            sn->most += strlen(p);
            break;
        }
        put(o, p, (size_t)(e - p));
        sn->most += (size_t)(e - p);
        const char *close = strchr(e + 2, '}');
        if (!close)
            return bad(why, whylen, "'%.24s...': '!{' starts an expression that is not closed",
                       e);
        const char *x = e + 2, *colon = memchr(x, ':', (size_t)(close - x));
        size_t xn = (size_t)(close - x);
        if (!colon)
            return bad(why, whylen, "unknown expression !{%.*s}", (int)xn, x);
        size_t nn = (size_t)(colon - x), vn = (size_t)(close - colon - 1);
        const char *v = colon + 1;
        sn->expressions++;
        if (same(x, nn, "timestamp")) {
            sn->time = 1;
            if ((rc = timestamp(v, vn, &tm, ms, o, &sn->most, why, whylen)) != SL_OK)
                return rc;
        } else if (same(x, nn, "firehose") && same(v, vn, "random-string")) {
            if (k)
                random_string(k->uuid, sn->randoms, o);
            sn->randoms++;
            sn->most += 11;
        } else if (same(x, nn, "firehose") && same(v, vn, "error-output-type")) {
            if (!is_error)
                return bad(why, whylen, "!{firehose:error-output-type} belongs in "
                           "error_prefix, not prefix");
            sn->error_type = 1;
            sn->most += SL_ERROR_TYPE_MAX;
            if (k && k->error_type)
                put(o, k->error_type, strlen(k->error_type));
        } else if (same(x, nn, "partitionKeyFromQuery")) {
            if (is_error)
                return bad(why, whylen, "!{partitionKeyFromQuery:%.*s} cannot be in error_prefix",
                           (int)vn, v);
            sn->partition = 1;
            if (!k && !declared(keys, v, vn))
                return bad(why, whylen, "!{partitionKeyFromQuery:%.*s}: no such key in "
                           "partition_keys", (int)vn, v);
            if (k) {
                const char *val = k->partition ? k->partition(k->partition_arg, 0, v, vn) : NULL;
                if (!val)
                    return bad(why, whylen, "partition key %.*s has no value", (int)vn, v);
                put(o, val, strlen(val));
            }
        } else if (same(x, nn, "partitionKeyFromLambda")) {
            if (is_error)
                return bad(why, whylen, "!{partitionKeyFromLambda:%.*s} cannot be in "
                           "error_prefix", (int)vn, v);
            sn->partition = 1;
            if (!k && !lambda)
                return bad(why, whylen, "!{partitionKeyFromLambda:%.*s}: no lambda or plugin "
                           "transform in transforms to set it", (int)vn, v);
            if (vn == 0 || vn > 63)
                return bad(why, whylen, "!{partitionKeyFromLambda:%.*s}: a key is 1-63 "
                           "characters", (int)vn, v);
            if (k) {
                const char *val = k->partition ? k->partition(k->partition_arg, 1, v, vn) : NULL;
                if (!val)
                    return bad(why, whylen, "partition key %.*s has no value", (int)vn, v);
                put(o, val, strlen(val));
            }
        } else {
            return bad(why, whylen, "unknown expression !{%.*s}", (int)xn, x);
        }
        p = close + 1;
    }
    if (is_error && sn->expressions && !sn->error_type)
        return bad(why, whylen, "an error_prefix with expressions must hold "
                   "!{firehose:error-output-type}");
    return SL_OK;
}

/* 1 if <key> stays below the root it is joined to: no leading '/', no "."
 * or ".." folder. (Partition values are checked where they are read; this
 * is the second guard.) */
static int confined(const char *key)
{
    if (key[0] == '/')
        return 0;
    for (const char *p = key; *p;) {
        size_t n = strcspn(p, "/");
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        p += n + (p[n] == '/');
    }
    return 1;
}

int sl_objkey_check(const char *tpl, int is_error, const char *keys, int lambda, char *why,
                    size_t whylen)
{
    struct seen sn = { 0 };
    int rc = walk(tpl, is_error, keys, lambda, NULL, NULL, &sn, why, whylen);

    if (rc == SL_OK && !confined(tpl))
        return bad(why, whylen, "'%.64s' would leave the sink's root: no leading '/', no '.' "
                   "or '..' folder", tpl);
    if (rc == SL_OK && !sn.time && !sn.partition)
        sn.most += DEFAULT_FOLDERS;
    if (rc == SL_OK && sn.most > SL_EVAL_PREFIX_MAX)
        return bad(why, whylen, "evaluates to up to %zu characters (before partition key "
                   "values); the limit is %d", sn.most, SL_EVAL_PREFIX_MAX);
    return rc;
}

int sl_objkey_format(const struct sl_objkey *k, char *out, size_t len)
{
    static const char none[] = "";
    char prefix[SL_EVAL_PREFIX_MAX + 1], why[160];
    struct out o = { prefix, 0, sizeof(prefix), 0 };
    struct seen sn = { 0 };
    time_t t = (time_t)(k->wall_ms / 1000);
    struct tm tm = { 0 };
    int n;

    prefix[0] = '\0';
    if (len == 0)
        return SL_ETOOBIG;
    out[0] = '\0';
    if (!k->prefix)
        return SL_EINVAL;
    if (walk(k->prefix, k->error_type != NULL, NULL, 1, k, &o, &sn, why, sizeof(why)) != SL_OK)
        return SL_EINVAL;
    gmtime_r(&t, &tm);
    if (!sn.time && !sn.partition) {             /* Firehose's default time folders */
        char hour[24];
        int hn = snprintf(hour, sizeof(hour), "%04ld/%02d/%02d/%02d/", (long)tm.tm_year + 1900,
                          tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);
        put(&o, hour, (size_t)hn);
    }
    if (o.over)
        return SL_ETOOBIG;
    n = snprintf(out, len, "%s%s-%u-%04ld-%02d-%02d-%02d-%02d-%02d-%s%s", prefix,
                 k->stream ? k->stream : none, k->version, (long)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, k->uuid ? k->uuid : none, k->ext ? k->ext : none);
    if (n < 0 || (size_t)n >= len)
        return SL_ETOOBIG;
    return confined(out) ? SL_OK : SL_EINVAL;
}
