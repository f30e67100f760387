/*
 * verify.c - checks a sink's output against what the load generator sent.
 *
 * Walks a directory (a file sink's file.path, or S3 objects fetched to
 * one) and checks each record against lg_record: a record whose bytes
 * differ, or whose sequence number is outside the range sent, is
 * corrupted; a number seen twice is duplicated; a number never seen is
 * missing. Hidden files (a sink's temporaries) are skipped.
 */
#include "loadgen.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

struct check {
    const struct lg_verify_args *a;
    struct lg_verify_result *r;
    uint8_t *seen;               /* per sequence number, saturating count */
};

static void one_record(void *arg, const char *p, size_t n)
{
    struct check *c = arg;
    char want[LG_RECORD_MAX], seqbuf[32];
    uint64_t seq;
    size_t sn = n < sizeof(seqbuf) ? n : sizeof(seqbuf);

    c->r->records++;
    memcpy(seqbuf, p, sn);
    for (size_t i = 0; c->a->upper && i < sn; i++)  /* {"SEQ": back to {"seq": */
        if (seqbuf[i] >= 'A' && seqbuf[i] <= 'Z')
            seqbuf[i] = (char)(seqbuf[i] + 32);
    if (lg_record_seq(seqbuf, sn, &seq) != 0 || seq < c->a->first ||
        seq - c->a->first >= c->a->n) {
        c->r->corrupted++;
        return;
    }
    size_t wn = lg_record(c->a->seed, seq, want);
    for (size_t i = 0; c->a->upper && i < wn; i++)
        if (want[i] >= 'a' && want[i] <= 'z')
            want[i] = (char)(want[i] - 32);
    if (wn != n || memcmp(want, p, n) != 0) {
        c->r->corrupted++;
        return;
    }
    uint8_t *s = &c->seen[seq - c->a->first];
    if (*s >= 1)
        c->r->duplicated++;
    if (*s < 255)
        (*s)++;
}

/* nftw has no argument for its callback. */
static __thread struct check *walking;

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    struct check *c = walking;

    (void)st;
    if (type != FTW_F || path[ftw->base] == '.')
        return 0;
    c->r->objects++;
    if (lg_read_file(path, one_record, c) != 0) {
        fprintf(stderr, "verify: %s: cannot be read or decompressed to its end\n", path);
        c->r->unreadable++;
    }
    return 0;
}

int lg_verify(const struct lg_verify_args *a, struct lg_verify_result *r)
{
    struct check c = { .a = a, .r = r };
    int rc;

    memset(r, 0, sizeof(*r));
    if (!(c.seen = calloc(a->n ? a->n : 1, 1)))
        return -1;
    walking = &c;
    rc = nftw(a->dir, visit, 32, FTW_PHYS);
    walking = NULL;
    if (rc != 0) {
        fprintf(stderr, "verify: %s: %s\n", a->dir, strerror(errno));
        free(c.seen);
        return -1;
    }
    for (uint64_t i = 0; i < a->n; i++)
        r->missing += c.seen[i] == 0;
    free(c.seen);
    return 0;
}
