/*
 * sink_redshift.c - sink = redshift: batches staged in S3, then loaded
 * into a Redshift table by COPY, as Firehose's Redshift destination does
 * (firehose-contract.md §7, sinks-contract.md B1-B5).
 *
 * One batch, one load:
 *   1. the object goes to the staging bucket exactly as sink = s3 writes
 *      it: the s3 sink itself, opened as this sink's stage (sink.h), with
 *      every s3.* key; same key, compression, multipart, exclusive writes;
 *   2. a manifest naming that one object,
 *        {"entries":[{"url":"s3://BUCKET/KEY","mandatory":true}]}
 *      is put at PREFIX manifests/YYYY/MM/DD/HH/NAME (PREFIX: the object
 *      key's evaluated prefix, without the time folders sluice appends;
 *      NAME: the object's name without its extension);
 *   3. over libpq (pg_conn.h), in one transaction: LOCK sluice_loads,
 *      look up the batch's load id (SHA-256 of the stream and the object
 *      key, stable across retries and, with durability = disk, across a
 *      crash and replay); if it is there the batch was loaded before:
 *      roll back, delivered. Else insert it, then
 *        COPY TABLE [(COLUMNS)] FROM 's3://BUCKET/MANIFEST' CREDENTIALS '...'
 *          MANIFEST COPY_OPTIONS
 *      and commit. Redshift enforces no unique key, so the check under
 *      the lock is what keeps a load single. A COMMIT whose answer is
 *      lost is settled by looking the id up on a new connection.
 *
 * One COPY at a time per stream (copy_mu), the next once the last is
 * done, as Firehose does; uploads of later batches go on meanwhile. A
 * batch whose upload succeeded is remembered (staged[]), so a retry of
 * its COPY does not upload it again.
 *
 * What an answer means to the engine:
 *   - the upload's answers are the s3 sink's;
 *   - a COPY that fails (XX000, a failed load; a lost connection; a
 *     serialization failure ...): RETRY, until retry_duration (Firehose's
 *     default here is 3600 s); then gave_up() puts the manifest under
 *     PREFIX errors/manifests/... for a later backfill, counts and logs
 *     Redshift's message, and the engine sends the records to backup;
 *   - errors of configuration (no table, no column, authentication, a
 *     syntax error in redshift.copy_options): RETRY too, logged at error
 *     level once until a COPY succeeds, and ready() says not ready.
 * The COPY statement carries the credentials: it is never logged, and
 * they are cut out of any message that would quote them.
 *
 * Threads: deliver() on several workers at once; ready() on the metrics
 * thread. The stage sink and the pool are thread-safe; staged[] and the
 * reason in <why> are under <mu>; copy_mu serialises COPYs; the rest is
 * atomics or set before the first deliver().
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "sink_redshift.h"

#include "batch.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "objkey.h"
#include "pg_conn.h"
#include "sink.h"
#include "sluice/err.h"

#define RS_STAGED_MAX 256          /* uploaded objects remembered while their COPY is due */
#define RS_PROBE_MS 5000           /* ready(): a probe at most this often while down */
#define RS_PROBE_CONNECT_MS 2000   /* ... connecting for at most this long (libpq's least) */
#define RS_SQL_MAX 8192
#define RS_MANIFEST_MAX (2 * SL_KEY_MAX + 128)   /* escaped key, bucket, the rest */

extern const struct sl_sink_ops sl_sink_redshift;

/* ---- keys ---- */

struct rs_conf {
    char     conninfo[1024];
    char     password_file[PATH_MAX];
    char     table[256];
    char     columns[1024];
    char     copy_options[1024];
    char     credentials[1024];
    int64_t  connect_timeout_ms;
};

#define C(f) offsetof(struct rs_conf, f)
#define S(f) SL_KSTR(struct rs_conf, f)

static const struct sl_conf_key rs_keys[] = {
    { "redshift.conninfo", SL_K_STRING, S(conninfo), 0, 0, "", NULL,
      "redshift sink: the cluster, as a libpq connection string: host=... port=5439 "
      "dbname=... user=... (required; Redshift speaks PostgreSQL's protocol)" },
    { "redshift.password_file", SL_K_STRING, S(password_file), 0, 0, "", NULL,
      "redshift sink: a libpq password file (host:port:db:user:password lines); default: "
      "PGPASSFILE, ~/.pgpass" },
    { "redshift.table", SL_K_STRING, S(table), 0, 0, "", NULL,
      "redshift sink: the table COPY loads, TABLE or SCHEMA.TABLE (required; it must exist)" },
    { "redshift.columns", SL_K_STRING, S(columns), 0, 0, "", NULL,
      "redshift sink: the COPY's column list, comma-separated (default: all, in the "
      "table's order)" },
    { "redshift.copy_options", SL_K_STRING, S(copy_options), 0, 0, "", NULL,
      "redshift sink: appended to the COPY after MANIFEST, as Firehose's CopyOptions "
      "(GZIP for compression = gzip, ZSTD for zstd, REGION for a bucket elsewhere); "
      "empty: JSON 'auto' and the objects' compression" },
    { "redshift.credentials", SL_K_STRING, S(credentials), 0, 0, "", NULL,
      "redshift sink: the COPY's CREDENTIALS: aws_iam_role=arn:aws:iam::ACCOUNT:role/NAME "
      "or aws_access_key_id=...;aws_secret_access_key=... (default: none; then "
      "copy_options must say IAM_ROLE). Never logged" },
    { "redshift.connect_timeout", SL_K_DURATION, C(connect_timeout_ms), 0, SL_SEC,
      600 * SL_SEC, "10s", NULL,
      "redshift sink: connecting's time limit, when the connection string sets none" },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

/* Words of COPY's own authorization that carry secrets. */
static const char *const secret_words[] = { "CREDENTIALS", "SECRET_ACCESS_KEY",
                                            "ACCESS_KEY_ID", "SESSION_TOKEN" };

static void rs_check(void *conf, struct sl_conf_check *chk)
{
    struct rs_conf *c = conf;

    if (!c->conninfo[0])
        sl_conf_key_check_err(chk, "redshift.conninfo", "required when sink = redshift");
    if (!c->table[0])
        sl_conf_key_check_err(chk, "redshift.table", "required when sink = redshift");
    if (strchr(c->copy_options, ';'))
        sl_conf_key_check_err(chk, "redshift.copy_options",
                              "';' would end the COPY statement: options only");
    if (strpbrk(c->credentials, "'\\"))
        sl_conf_key_check_err(chk, "redshift.credentials",
                              "must not hold a quote or a backslash");
    for (size_t i = 0; i < sizeof(secret_words) / sizeof(secret_words[0]); i++)
        if (strcasestr(c->copy_options, secret_words[i]))
            sl_conf_key_check_err(chk, "redshift.copy_options", "%s: credentials belong in "
                                  "redshift.credentials (copy_options may be logged)",
                                  secret_words[i]);
    if (c->conninfo[0]) {
        char *perr = NULL;
        PQconninfoOption *opts = PQconninfoParse(c->conninfo, &perr);
        if (!opts)   /* libpq's words would quote the string, which may hold a password */
            sl_conf_key_check_err(chk, "redshift.conninfo", "libpq cannot parse it: "
                                  "key=value pairs or a postgresql:// URI");
        PQconninfoFree(opts);
        PQfreemem(perr);
    }
}

/* The staging bucket is the stage's: backups go there too (put_backup). */
static void rs_dest(const void *conf, struct sl_sink_dest *d)
{
    const struct sl_sink_ops *st = sl_sink_find("s3");

    if (st && st->dest)
        st->dest(sl_sink_stage_conf(&sl_sink_redshift, (void *)conf), d);
    d->connections += 2;
}

/* ---- metrics: own[] by these indexes; own_hist is one COPY's time ---- */

enum { RS_ROWS, RS_REJECTED, RS_MANIFESTS, RS_ERROR_MANIFESTS, RS_COPIES_OK, RS_COPIES_ERR,
       RS_EXISTING, RS_GAVE_UP };

static void family(struct sl_buf *o, const struct sl_metrics_sink *s, size_t n,
                   const char *name, const char *help, const char *label,
                   const char *const *values, const int *idx, int nv)
{
    sl_metrics_family(o, name, "counter", help);
    for (size_t i = 0; i < n; i++)
        for (int v = 0; v < nv; v++) {
            unsigned long long x = atomic_load(&s[i].st->own[idx[v]]);
            if (label)
                sl_buf_printf(o, "%s{stream=\"%s\",%s=\"%s\"} %llu\n", name, s[i].stream,
                              label, values[v], x);
            else
                sl_buf_printf(o, "%s{stream=\"%s\"} %llu\n", name, s[i].stream, x);
        }
}

static void rs_metrics(struct sl_buf *o, const struct sl_metrics_sink *s, size_t n)
{
    static const char *const rows[] = { "loaded", "rejected" };
    static const char *const copies[] = { "ok", "error", "existing" };
    static const char *const kinds[] = { "load", "error" };
    static const int rows_i[] = { RS_ROWS, RS_REJECTED };
    static const int copies_i[] = { RS_COPIES_OK, RS_COPIES_ERR, RS_EXISTING };
    static const int kinds_i[] = { RS_MANIFESTS, RS_ERROR_MANIFESTS };
    static const int gave_i[] = { RS_GAVE_UP };
    char labels[96];

    family(o, s, n, "sluice_redshift_rows_total", "Rows COPY loaded, and rows of batches "
           "given up (to backup).", "result", rows, rows_i, 2);
    family(o, s, n, "sluice_redshift_copies_total", "COPY attempts, by result (existing: the "
           "batch's load id was there, loaded before).", "result", copies, copies_i, 3);
    family(o, s, n, "sluice_redshift_manifests_total", "Manifests written: for a load, or "
           "under errors/ for a backfill.", "kind", kinds, kinds_i, 2);
    family(o, s, n, "sluice_redshift_loads_failed_total", "Batches whose COPY never "
           "succeeded within retry_duration (their manifest is under errors/).", NULL, NULL,
           gave_i, 1);
    sl_metrics_family(o, "sluice_redshift_copy_duration_seconds", "histogram",
                      "One COPY transaction: lock, load-id check, COPY, COMMIT.");
    for (size_t i = 0; i < n; i++) {
        snprintf(labels, sizeof(labels), "stream=\"%s\"", s[i].stream);
        sl_metrics_histogram(o, "sluice_redshift_copy_duration_seconds", labels,
                             &s[i].st->own_hist);
    }
}

/* ---- the instance ---- */

enum { RS_UNKNOWN, RS_UP, RS_DOWN };

struct rs_sink {
    struct sl_sink stage;                 /* the s3 sink, writing to the staging bucket */
    struct sl_sink_stats stage_stats;     /* what it counts of its own: not rendered */
    struct sl_pg_pool *pool;
    char stream[80];
    char bucket[64];
    char table_sql[600];                  /* "schema"."table" */
    char columns_sql[2200];               /* ("a", "b") or "" */
    char copy_options[1024];
    char credentials[1024];               /* secret: cleansed at destroy */
    pthread_mutex_t copy_mu;              /* one COPY at a time */
    pthread_mutex_t mu;                   /* staged[], why */
    char *staged[RS_STAGED_MAX];          /* keys uploaded, COPY not yet done; owned */
    size_t nstaged, next_staged;
    int loads_ready;                      /* sluice_loads made (under copy_mu) */
    _Atomic int state;                    /* RS_UP, RS_DOWN: the last COPY's or probe's */
    _Atomic int64_t probed_ms;
    _Atomic int loud;                     /* a configuration error logged since success */
    _Atomic int warned_compression;
    char why[300];
};

/* Cuts <secret> (when at least 4 characters) out of <msg> (<cap> bytes),
 * wherever it appears, as "***". */
static void cut(char *msg, size_t cap, const char *secret, size_t n)
{
    char out[512];
    size_t o = 0;
    const char *p = msg, *hit;

    if (n < 4 || cap > sizeof(out))
        return;
    while ((hit = strstr(p, secret)) != NULL) {
        o += (size_t)snprintf(out + o, sizeof(out) - o, "%.*s***", (int)(hit - p), p);
        if (o >= sizeof(out))
            o = sizeof(out) - 1;
        p = hit + n;
    }
    if (p == msg)
        return;
    snprintf(out + o, sizeof(out) - o, "%s", p);
    snprintf(msg, cap, "%s", out);
}

/* Cuts the credentials out of <msg>: the whole string, and each value of
 * its key=value;... parts (an ARN, a key id, a secret). */
static void redact(char *msg, size_t cap, const char *cred)
{
    const char *p = cred;

    cut(msg, cap, cred, strlen(cred));
    while (*p) {
        const char *end = p + strcspn(p, ";"), *eq = memchr(p, '=', (size_t)(end - p));
        if (eq) {
            char v[1024];
            size_t n = (size_t)(end - eq - 1);
            if (n < sizeof(v)) {
                memcpy(v, eq + 1, n);
                v[n] = '\0';
                cut(msg, cap, v, n);
            }
        }
        p = *end ? end + 1 : end;
    }
}

/* "a, b ,c" as ("a", "b", "c"). SL_EINVAL for an empty name. */
static int columns_sql(const char *list, char *out, size_t len)
{
    char name[256], q[600];
    size_t o = 0;
    const char *p = list;

    if (!list[0]) {
        out[0] = '\0';
        return SL_OK;
    }
    o = (size_t)snprintf(out, len, "(");
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        while (n && (*p == ' ' || *p == '\t'))
            p++, n--;
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == 0 || n >= sizeof(name))
            return SL_EINVAL;
        memcpy(name, p, n);
        name[n] = '\0';
        if (sl_pg_conn_quote_ident(name, q, sizeof(q)) != SL_OK)
            return SL_ETOOBIG;
        o += (size_t)snprintf(out + o, o < len ? len - o : 0, "%s%s", o > 1 ? ", " : "", q);
        if (!e)
            break;
        p = e + 1;
    }
    o += (size_t)snprintf(out + o, o < len ? len - o : 0, ")");
    return o < len ? SL_OK : SL_ETOOBIG;
}

static void rs_destroy(void *ctx);

static int rs_create(const char *stream, const void *conf, void **ctx, char *err,
                     size_t errlen)
{
    const struct rs_conf *c = conf;
    struct rs_sink *k = calloc(1, sizeof(*k));
    struct sl_sink_dest d = { 0 };

    if (!k) {
        snprintf(err, errlen, "out of memory");
        return SL_ENOMEM;
    }
    pthread_mutex_init(&k->copy_mu, NULL);
    pthread_mutex_init(&k->mu, NULL);
    snprintf(k->stream, sizeof(k->stream), "%s", stream);
    snprintf(k->copy_options, sizeof(k->copy_options), "%s", c->copy_options);
    snprintf(k->credentials, sizeof(k->credentials), "%s", c->credentials);
    if (sl_pg_conn_quote_ident(c->table, k->table_sql, sizeof(k->table_sql)) != SL_OK ||
        columns_sql(c->columns, k->columns_sql, sizeof(k->columns_sql)) != SL_OK) {
        snprintf(err, errlen, "redshift: the table or a column name is empty or too long");
        rs_destroy(k);
        return SL_EINVAL;
    }
    rs_dest(conf, &d);
    snprintf(k->bucket, sizeof(k->bucket), "%s", d.bucket);
    if (sl_sink_open_stage(&k->stage, &sl_sink_redshift, stream, conf, err, errlen) != SL_OK) {
        rs_destroy(k);
        return SL_EINVAL;
    }
    struct sl_pg_conn_options o = {
        .conninfo = c->conninfo, .password_file = c->password_file, .max_connections = 2,
        .connect_timeout_ms = c->connect_timeout_ms, .what = "redshift",
    };
    char why[256];
    if (!(k->pool = sl_pg_conn_pool_new(&o, why, sizeof(why)))) {
        snprintf(err, errlen, "redshift.conninfo: %s", why);
        rs_destroy(k);
        return SL_EINVAL;
    }
    sl_info("stream=%s msg=\"redshift sink\" table=%s staging=s3://%s", stream, c->table,
            k->bucket);
    *ctx = k;
    return SL_OK;
}

static void rs_destroy(void *ctx)
{
    struct rs_sink *k = ctx;

    if (!k)
        return;
    sl_sink_close(&k->stage);
    sl_pg_conn_pool_free(k->pool);
    for (size_t i = 0; i < RS_STAGED_MAX; i++)
        free(k->staged[i]);
    pthread_mutex_destroy(&k->copy_mu);
    pthread_mutex_destroy(&k->mu);
    OPENSSL_cleanse(k->credentials, sizeof(k->credentials));
    free(k);
}

/* ---- staged objects: uploaded, COPY due ---- */

static int staged_find(struct rs_sink *k, const char *key)
{
    for (size_t i = 0; i < RS_STAGED_MAX; i++)
        if (k->staged[i] && strcmp(k->staged[i], key) == 0)
            return (int)i;
    return -1;
}

static int is_staged(struct rs_sink *k, const char *key)
{
    pthread_mutex_lock(&k->mu);
    int i = staged_find(k, key);
    pthread_mutex_unlock(&k->mu);
    return i >= 0;
}

/* Remembers <key>; the oldest goes when all slots are taken (its batch's
 * retry then uploads it again: the same bytes, under the same key). */
static void stage_add(struct rs_sink *k, const char *key)
{
    char *dup = strdup(key);

    if (!dup)
        return;
    pthread_mutex_lock(&k->mu);
    if (staged_find(k, key) >= 0) {
        free(dup);
    } else {
        free(k->staged[k->next_staged]);
        k->staged[k->next_staged] = dup;
        k->next_staged = (k->next_staged + 1) % RS_STAGED_MAX;
    }
    pthread_mutex_unlock(&k->mu);
}

static void stage_drop(struct rs_sink *k, const char *key)
{
    pthread_mutex_lock(&k->mu);
    int i = staged_find(k, key);
    if (i >= 0) {
        free(k->staged[i]);
        k->staged[i] = NULL;
    }
    pthread_mutex_unlock(&k->mu);
}

/* ---- manifests ---- */

int sl_sink_redshift_manifest_key(const char *key, int64_t wall_ms, int errors, char *out,
                                  size_t len)
{
    char hour[24];
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm;
    const char *slash = strrchr(key, '/');
    const char *name = slash ? slash + 1 : key;
    size_t dir = (size_t)(name - key), hn, nn;
    const char *dot;
    int n;

    gmtime_r(&t, &tm);
    hn = (size_t)snprintf(hour, sizeof(hour), "%04d/%02d/%02d/%02d/", tm.tm_year + 1900,
                          tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);
    if (dir >= hn && memcmp(key + dir - hn, hour, hn) == 0)
        dir -= hn;                  /* the folders objkey appends */
    dot = strrchr(name, '.');
    nn = dot && (strcmp(dot, ".gz") == 0 || strcmp(dot, ".zst") == 0) ? (size_t)(dot - name)
                                                                        : strlen(name);
    n = snprintf(out, len, "%.*s%smanifests/%s%.*s", (int)dir, key, errors ? "errors/" : "",
                 hour, (int)nn, name);
    return n >= 0 && (size_t)n < len ? SL_OK : SL_ETOOBIG;
}

/* The manifest naming s3://BUCKET/KEY into <out> (JSON). */
static int manifest_body(const char *bucket, const char *key, char *out, size_t len)
{
    size_t o = (size_t)snprintf(out, len, "{\"entries\":[{\"url\":\"s3://%s/", bucket);

    for (const char *p = key; *p && o + 8 < len; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\')
            o += (size_t)snprintf(out + o, len - o, "\\%c", ch);
        else if (ch < 0x20)
            o += (size_t)snprintf(out + o, len - o, "\\u%04x", ch);
        else
            out[o++] = (char)ch;
    }
    o += (size_t)snprintf(out + o, o < len ? len - o : 0, "\",\"mandatory\":true}]}\n");
    return o < len ? SL_OK : SL_ETOOBIG;
}

static int put_manifest(struct rs_sink *k, const struct sl_sink_batch *b, int errors,
                        char *mkey, size_t mlen, char *err, size_t errlen)
{
    char body[RS_MANIFEST_MAX];

    if (sl_sink_redshift_manifest_key(b->key, b->batch->oldest_wall_ms, errors, mkey, mlen) !=
            SL_OK ||
        manifest_body(k->bucket, b->key, body, sizeof(body)) != SL_OK) {
        snprintf(err, errlen, "the manifest key is too long");
        return SL_ETOOBIG;
    }
    return k->stage.ops->put_backup(k->stage.ctx, mkey, body, strlen(body), err, errlen);
}

/* ---- the COPY ---- */

/* The batch's load id: hex SHA-256 of the stream and the object key. */
static void load_id(const char *stream, const char *key, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    char buf[80 + SL_KEY_MAX];
    int n = snprintf(buf, sizeof(buf), "%s\n%s", stream, key);

    /* names are at most 64 characters and keys shorter than SL_KEY_MAX: a
     * cut here would give every batch one id, and lose all but the first */
    if (n < 0 || (size_t)n >= sizeof(buf))
        abort();
    SHA256((const unsigned char *)buf, (size_t)n, md);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void set_why(struct rs_sink *k, const char *why)
{
    pthread_mutex_lock(&k->mu);
    snprintf(k->why, sizeof(k->why), "%s", why);
    pthread_mutex_unlock(&k->mu);
}

/* What the engine hears of a failed COPY step. */
static void copy_failed(struct rs_sink *k, const struct sl_pg_err *e, const char *what,
                        struct sl_sink_outcome *out)
{
    out->result = SL_SINK_RETRY;
    out->cause = e->cls == SL_PG_CONFIG ? SL_RETRY_FORBIDDEN
                 : e->cause > 0 ? e->cause : SL_RETRY_SINK;
    snprintf(out->error, sizeof(out->error), "%s: %s%s%s", what, e->sqlstate,
             e->sqlstate[0] ? " " : "", e->message);
    redact(out->error, sizeof(out->error), k->credentials);
    if (e->cls == SL_PG_CONFIG) {
        atomic_store(&k->state, RS_DOWN);
        set_why(k, out->error);
        if (!atomic_exchange(&k->loud, 1))
            sl_error("stream=%s sink=redshift msg=\"Redshift refuses the load; retrying "
                     "until retry_duration, then backup\" table=%s error=\"%s\"", k->stream,
                     k->table_sql, out->error);
    }
}

/*
 * The load of one staged batch, under copy_mu. SL_OK (loaded now: *rows
 * set), SL_EEXIST (loaded before) or an error with <e>.
 */
static int copy_locked(struct rs_sink *k, const char *id, const char *mkey, const char *opts,
                       uint64_t nrecords, uint64_t *rows, struct sl_pg_err *e,
                       const char **what)
{
    char sql[RS_SQL_MAX], cred[1100], detail[SL_KEY_MAX + 80];
    PGresult *res = NULL;
    PGconn *c;
    int rc;

    *what = "connect";
    if (!(c = sl_pg_conn_take(k->pool, e)))
        return SL_ERR;
    *what = "create " SL_PG_LOADS_TABLE;
    if (!k->loads_ready && sl_pg_conn_loads_ensure(c, e) != SL_OK)
        goto fail;
    k->loads_ready = 1;
    *what = "BEGIN";
    if (sl_pg_conn_exec(c, "BEGIN", NULL, e) != SL_OK)
        goto fail;
    snprintf(detail, sizeof(detail), "s3://%s/%s", k->bucket, mkey);
    *what = "load id";
    rc = sl_pg_conn_claim(c, id, k->stream, nrecords, detail, 1, e);
    if (rc == SL_EEXIST) {
        sl_pg_conn_exec(c, "ROLLBACK", NULL, e);
        sl_pg_conn_give(k->pool, c, 0);
        return SL_EEXIST;
    }
    if (rc != SL_OK)
        goto fail;
    cred[0] = '\0';
    if (k->credentials[0] && (sl_pg_conn_quote_literal(k->credentials, cred + 13,
                                                       sizeof(cred) - 13) != SL_OK))
        goto fail;
    if (k->credentials[0])
        memcpy(cred, " CREDENTIALS ", 13);
    rc = snprintf(sql, sizeof(sql), "COPY %s%s%s FROM 's3://%s/%s'%s MANIFEST %s",
                  k->table_sql, k->columns_sql[0] ? " " : "", k->columns_sql, k->bucket, mkey,
                  cred, opts);
    OPENSSL_cleanse(cred, sizeof(cred));
    *what = "COPY";
    if (rc < 0 || (size_t)rc >= sizeof(sql)) {
        snprintf(e->message, sizeof(e->message), "the COPY statement is too long");
        e->cls = SL_PG_CONFIG;
        e->sqlstate[0] = '\0';
        goto fail;
    }
    rc = sl_pg_conn_exec(c, sql, &res, e);
    OPENSSL_cleanse(sql, sizeof(sql));
    if (rc != SL_OK)
        goto fail;
    *rows = strtoull(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    *what = "COMMIT";
    if (sl_pg_conn_exec(c, "COMMIT", &res, e) == SL_OK) {
        /* a transaction that failed unseen answers COMMIT with ROLLBACK */
        int committed = strcmp(PQcmdStatus(res), "COMMIT") == 0;
        PQclear(res);
        sl_pg_conn_give(k->pool, c, 0);
        if (committed)
            return SL_OK;
        e->cls = SL_PG_RETRY;
        e->cause = SL_RETRY_SERVER;
        e->sqlstate[0] = '\0';
        snprintf(e->message, sizeof(e->message), "COMMIT answered ROLLBACK");
        return SL_ERR;
    }
    if (PQstatus(c) == CONNECTION_OK)
        goto fail;
    /* the answer to COMMIT was lost: ask a new connection whether it happened */
    sl_pg_conn_give(k->pool, c, 1);
    *what = "COMMIT (lost; looking the load id up)";
    if (!(c = sl_pg_conn_take(k->pool, e)))
        return SL_ERR;
    rc = sl_pg_conn_loaded(c, id, NULL, e);
    sl_pg_conn_give(k->pool, c, rc < 0);
    if (rc == 1) {
        *rows = nrecords;
        return SL_OK;
    }
    if (rc == 0) {
        e->cls = SL_PG_RETRY;
        snprintf(e->message, sizeof(e->message), "the connection was lost during COMMIT, "
                 "and the load did not happen");
    }
    return SL_ERR;
fail:
    if (PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE) {
        struct sl_pg_err ignored;
        sl_pg_conn_exec(c, "ROLLBACK", NULL, &ignored);
    }
    sl_pg_conn_give(k->pool, c, PQstatus(c) != CONNECTION_OK);
    return SL_ERR;
}

/* The COPY's options for object <key>: redshift.copy_options, or when
 * empty JSON 'auto' and the word for the object's compression. Warns once
 * when given options and the objects' compression disagree. */
static const char *copy_options(struct rs_sink *k, const char *key)
{
    static const char *const words[] = { "GZIP", "ZSTD", "BZIP2", "LZOP" };
    const char *dot = strrchr(key, '.');
    const char *want = !dot ? NULL : strcmp(dot, ".gz") == 0 ? "GZIP"
                                   : strcmp(dot, ".zst") == 0 ? "ZSTD" : NULL;
    const char *said = NULL;

    if (!k->copy_options[0])
        return !want ? "JSON 'auto'" : want[0] == 'G' ? "JSON 'auto' GZIP" : "JSON 'auto' ZSTD";
    if (atomic_load_explicit(&k->warned_compression, memory_order_relaxed))
        return k->copy_options;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasestr(k->copy_options, words[i]))
            said = words[i];
    if ((want && (!said || strcmp(said, want) != 0)) || (!want && said)) {
        if (!atomic_exchange(&k->warned_compression, 1))
            sl_warn("stream=%s sink=redshift msg=\"the objects' compression and "
                    "redshift.copy_options disagree: COPY will not read them\" objects=%s "
                    "copy_options=\"%s\"", k->stream, want ? want : "uncompressed",
                    k->copy_options);
    }
    return k->copy_options;
}

static void rs_deliver(void *ctx, const struct sl_sink_batch *b, struct sl_sink_outcome *out)
{
    struct rs_sink *k = ctx;
    char mkey[SL_KEY_MAX + 64], id[65];
    struct sl_pg_err e = { 0 };
    const char *what = "";
    uint64_t rows = 0;
    int64_t t0;
    int rc;
    const char *opts = copy_options(k, b->key);

    if (strpbrk(b->key, "'\\")) {
        /* a partition value put it there; COPY's literal could not hold it
         * safely (Redshift reads a backslash as an escape) */
        out->result = SL_SINK_FAIL;
        snprintf(out->error, sizeof(out->error), "the object key holds a quote or a "
                 "backslash, which a COPY statement cannot name safely");
        return;
    }
    if (!is_staged(k, b->key)) {
        struct sl_sink_batch up = *b;
        up.stats = &k->stage_stats;
        k->stage.ops->deliver(k->stage.ctx, &up, out);
        if (out->result != SL_SINK_OK)
            return;
        if (put_manifest(k, b, 0, mkey, sizeof(mkey), out->error, sizeof(out->error)) !=
            SL_OK) {
            out->result = SL_SINK_RETRY;
            out->cause = SL_RETRY_SINK;
            return;
        }
        sl_stat_add(&b->stats->own[RS_MANIFESTS], 1);
        stage_add(k, b->key);
    } else if (sl_sink_redshift_manifest_key(b->key, b->batch->oldest_wall_ms, 0, mkey,
                                              sizeof(mkey)) != SL_OK) {
        out->result = SL_SINK_FAIL;
        snprintf(out->error, sizeof(out->error), "the manifest key is too long");
        return;
    }
    out->existed = 0;
    load_id(k->stream, b->key, id);
    pthread_mutex_lock(&k->copy_mu);
    t0 = sl_clock_mono_ns();
    rc = copy_locked(k, id, mkey, opts, b->batch->nrecords, &rows, &e, &what);
    pthread_mutex_unlock(&k->copy_mu);
    if (rc == SL_OK || rc == SL_EEXIST) {
        sl_metrics_observe(&b->stats->own_hist, (double)(sl_clock_mono_ns() - t0) / 1e9);
        sl_stat_add(&b->stats->own[rc == SL_OK ? RS_COPIES_OK : RS_EXISTING], 1);
        sl_stat_add(&b->stats->own[RS_ROWS], rows);
        out->existed = rc == SL_EEXIST;
        out->result = SL_SINK_OK;
        stage_drop(k, b->key);
        atomic_store(&k->state, RS_UP);
        atomic_store(&k->loud, 0);
        return;
    }
    sl_stat_add(&b->stats->own[RS_COPIES_ERR], 1);
    copy_failed(k, &e, what, out);
}

/* The engine gives up on <b>: if its object is staged, its manifest goes
 * under errors/ for a backfill (the records go to backup as well). */
static void rs_gave_up(void *ctx, const struct sl_sink_batch *b, const char *why)
{
    struct rs_sink *k = ctx;
    char mkey[SL_KEY_MAX + 64], err[300];

    sl_stat_add(&b->stats->own[RS_GAVE_UP], 1);
    sl_stat_add(&b->stats->own[RS_REJECTED], b->batch->nrecords);
    if (!b->key || !is_staged(k, b->key)) {
        sl_error("stream=%s sink=redshift msg=\"batch not staged; to backup\" error=\"%s\"",
                 k->stream, why);
        return;
    }
    if (put_manifest(k, b, 1, mkey, sizeof(mkey), err, sizeof(err)) == SL_OK) {
        sl_stat_add(&b->stats->own[RS_ERROR_MANIFESTS], 1);
        sl_error("stream=%s sink=redshift msg=\"COPY failed until retry_duration; the "
                 "manifest is kept for a backfill, the records go to backup\" "
                 "manifest=s3://%s/%s error=\"%s\"", k->stream, k->bucket, mkey, why);
    } else {
        sl_error("stream=%s sink=redshift msg=\"COPY failed until retry_duration, and the "
                 "error manifest could not be written; the records go to backup\" "
                 "object=s3://%s/%s error=\"%s\" manifest_error=\"%s\"", k->stream,
                 k->bucket, b->key, why, err);
    }
    stage_drop(k, b->key);
}

/* Ready when the bucket is, and the last COPY (or a probe: a connection
 * and the table's presence) went well. */
static int rs_ready(void *ctx, char *why, size_t whylen)
{
    struct rs_sink *k = ctx;
    int st = atomic_load(&k->state);

    if (k->stage.ops->ready && !k->stage.ops->ready(k->stage.ctx, why, whylen))
        return 0;
    if (st == RS_UNKNOWN ||
        (st == RS_DOWN && sl_clock_mono_ms() - atomic_load(&k->probed_ms) >= RS_PROBE_MS)) {
        struct sl_pg_err e = { 0 };
        char sql[700];
        PGconn *c;
        atomic_store(&k->probed_ms, sl_clock_mono_ms());
        snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE false", k->table_sql);
        if ((c = sl_pg_conn_connect(k->pool, RS_PROBE_CONNECT_MS, &e)) != NULL) {
            /* a lock on the table must not hold the metrics thread */
            int rc = sl_pg_conn_exec(c, "SET statement_timeout TO 5000", NULL, &e);
            if (rc == SL_OK)
                rc = sl_pg_conn_exec(c, sql, NULL, &e);
            PQfinish(c);
            if (rc == SL_OK) {
                atomic_store(&k->state, RS_UP);
                return 1;
            }
        }
        char msg[300];
        snprintf(msg, sizeof(msg), "redshift: %s%s%s", e.sqlstate, e.sqlstate[0] ? " " : "",
                 e.message);
        redact(msg, sizeof(msg), k->credentials);
        set_why(k, msg);
        atomic_store(&k->state, RS_DOWN);
    }
    if (atomic_load(&k->state) == RS_UP)
        return 1;
    pthread_mutex_lock(&k->mu);
    snprintf(why, whylen, "%s", k->why);
    pthread_mutex_unlock(&k->mu);
    return 0;
}

static int rs_put_backup(void *ctx, const char *key, const void *data, size_t len, char *err,
                         size_t errlen)
{
    struct rs_sink *k = ctx;

    return k->stage.ops->put_backup(k->stage.ctx, key, data, len, err, errlen);
}

const struct sl_sink_ops sl_sink_redshift = {
    .name = "redshift",
    .prefix = "redshift.",
    .shape = SL_SINK_OBJECTS,
    .keys = rs_keys,
    .conf_size = sizeof(struct rs_conf),
    .check = rs_check,
    .create = rs_create,
    .deliver = rs_deliver,
    .ready = rs_ready,
    .destroy = rs_destroy,
    .put_backup = rs_put_backup,
    .dest = rs_dest,
    .metrics = rs_metrics,
    .gave_up = rs_gave_up,
    .stage = "s3",
    .retry_duration_ms = 3600 * SL_SEC,     /* Firehose's DurationInSeconds default */
};
