/*
 * firehose_scan.c - see firehose_scan.h.
 *
 * A cursor over the body; every step either advances past what it
 * expects or makes the scan decline. A string ends at the next quote,
 * found with memchr; see the header for why escapes need no look here.
 */
#include "firehose_scan.h"

#include <string.h>

struct cur {
    const char *p, *end;
};

static void ws(struct cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
        c->p++;
}

/* Skips whitespace, then takes <ch>. */
static int take(struct cur *c, char ch)
{
    ws(c);
    if (c->p >= c->end || *c->p != ch)
        return 0;
    c->p++;
    return 1;
}

static int string(struct cur *c, struct sl_fh_span *s)
{
    if (!take(c, '"'))
        return 0;
    const char *q = memchr(c->p, '"', (size_t)(c->end - c->p));
    if (!q)
        return 0;
    s->p = c->p;
    s->len = (size_t)(q - c->p);
    c->p = q + 1;
    return 1;
}

static int is(const struct sl_fh_span *s, const char *word)
{
    return s->len == strlen(word) && memcmp(s->p, word, s->len) == 0;
}

/* {"Data":"..."} */
static int record(struct cur *c, struct sl_fh_span *data)
{
    struct sl_fh_span key;

    return take(c, '{') && string(c, &key) && is(&key, "Data") && take(c, ':') &&
           string(c, data) && take(c, '}');
}

static int records(struct cur *c, struct sl_fh_span *recs, size_t max, size_t *n)
{
    if (!take(c, '['))
        return 0;
    ws(c);
    if (c->p < c->end && *c->p == ']')
        return 0;                    /* empty: an error, worded by jansson's path */
    do {
        if (*n == max || !record(c, &recs[*n]))
            return 0;
        (*n)++;
    } while (take(c, ','));
    return take(c, ']');
}

int sl_firehose_scan_put(const char *body, size_t len, int batch, struct sl_fh_span *name,
                   struct sl_fh_span *recs, size_t max, size_t *n)
{
    struct cur c = { body, body + len };
    struct sl_fh_span key;
    int have_name = 0, have_recs = 0;

    *n = 0;
    if (!take(&c, '{'))
        return 0;
    do {
        if (!string(&c, &key) || !take(&c, ':'))
            return 0;
        if (is(&key, "DeliveryStreamName") && !have_name) {
            if (!string(&c, name))
                return 0;
            have_name = 1;
        } else if (is(&key, batch ? "Records" : "Record") && !have_recs) {
            if (batch ? !records(&c, recs, max, n) : max < 1 || !record(&c, &recs[(*n)++]))
                return 0;
            have_recs = 1;
        } else {
            return 0;
        }
    } while (take(&c, ','));
    if (!take(&c, '}'))
        return 0;
    ws(&c);
    return c.p == c.end && have_name && have_recs;
}
