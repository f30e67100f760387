/*
 * transform_upper.c - an example transform plugin, and the template for
 * writing one. It upper-cases the ASCII letters of each record.
 *
 *   [transform upper]
 *   type = plugin
 *   path = /usr/local/lib/sluice/transform_upper.so
 *   fail_on = poison        ; optional: records holding this text fail
 *   drop_empty = true       ; optional: empty records are dropped (default)
 *   key = letter            ; optional: sets partition key "letter" to the
 *                           ; record's first character, for
 *                           ; !{partitionKeyFromLambda:letter}
 *
 * Build it against sluice's public headers only:
 *   cc -shared -fPIC -I/usr/local/include -o transform_upper.so transform_upper.c
 *
 * The contract (sluice/transform.h): create() reads the section's keys and
 * returns its state, or -1 with "KEY: why"; process() is called from
 * several delivery workers at once, so the state is read-only after
 * create(); it answers for each record through the host's functions (a
 * record it says nothing about stays Ok and unchanged) and returns
 * SL_TF_DONE, SL_TF_FAIL_BATCH or SL_TF_RETRY; destroy() frees.
 */
#define _GNU_SOURCE             /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/transform.h>

struct upper {
    char fail_on[256];
    int drop_empty;
    char key[64];
};

static int upper_create(const struct sl_tf_kv *kv, size_t nkv, void **state, char *err,
                        size_t errlen)
{
    struct upper *u = calloc(1, sizeof(*u));
    const char *why = NULL, *bad = NULL;

    if (!u) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    u->drop_empty = 1;
    for (size_t i = 0; i < nkv && !why; i++) {
        const char *k = kv[i].key, *v = kv[i].value;
        bad = k;
        if (strcmp(k, "fail_on") == 0 && strlen(v) < sizeof(u->fail_on))
            memcpy(u->fail_on, v, strlen(v) + 1);
        else if (strcmp(k, "drop_empty") == 0 && strcmp(v, "true") == 0)
            u->drop_empty = 1;
        else if (strcmp(k, "drop_empty") == 0 && strcmp(v, "false") == 0)
            u->drop_empty = 0;
        else if (strcmp(k, "key") == 0 && v[0] && strlen(v) < sizeof(u->key))
            memcpy(u->key, v, strlen(v) + 1);
        else if (strcmp(k, "fail_on") == 0 || strcmp(k, "drop_empty") == 0 ||
                 strcmp(k, "key") == 0)
            why = "bad value";
        else
            why = "unknown key for the upper plugin";
    }
    if (why) {
        snprintf(err, errlen, "%s: %s", bad, why);   /* sluice reports it at KEY's line */
        free(u);
        return -1;
    }
    *state = u;
    return 0;
}

static int upper_process(void *state, const struct sl_tf_batch *b, struct sl_tf_error *err)
{
    const struct upper *u = state;
    const struct sl_tf_host *h = b->host;
    char small[4096];

    (void)err;
    for (size_t i = 0; i < b->nrecords; i++) {
        const struct sl_record *r = &b->records[i];
        if (r->len == 0 && u->drop_empty) {
            h->set_dropped(b->out, i);
            continue;
        }
        if (u->fail_on[0] && memmem(r->data, r->len, u->fail_on, strlen(u->fail_on))) {
            h->set_failed(b->out, i, "Upper.Refused", "the record holds the fail_on text");
            continue;
        }
        /* small records in a stack buffer; set_data copies what it gets */
        char *p = r->len <= sizeof(small) ? small : malloc(r->len);
        if (!p)
            return SL_TF_RETRY;               /* out of memory: try the batch later */
        for (uint32_t k = 0; k < r->len; k++) {
            char c = (char)r->data[k];
            p[k] = c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
        }
        int rc = h->set_data(b->out, i, p, r->len);
        if (rc == 0 && u->key[0] && r->len) {
            char first[2] = { p[0], '\0' };
            rc = h->set_key(b->out, i, u->key, first);
        }
        if (p != small)
            free(p);
        if (rc != 0)
            return SL_TF_RETRY;               /* sluice is out of memory */
    }
    return SL_TF_DONE;
}

static void upper_destroy(void *state)
{
    free(state);
}

const struct sl_transform_ops sluice_transform = {
    .abi = SL_TRANSFORM_ABI,
    .size = sizeof(struct sl_transform_ops),
    .name = "upper",
    .create = upper_create,
    .process = upper_process,
    .destroy = upper_destroy,
};
