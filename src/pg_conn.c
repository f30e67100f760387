/*
 * pg_conn.c - a small pool of libpq connections, one reading of their
 * failures, and the load-id table (pg_conn.h says what each is for).
 *
 * The pool keeps the connection string parsed into libpq's keyword and
 * value arrays (PQconninfoParse: only what the string set), with sluice's
 * defaults added for what it did not set (connect_timeout, passfile,
 * client_encoding, fallback_application_name, keepalives), and connects
 * with PQconnectdbParams. It connects on demand: take() hands out an idle
 * connection, else opens one while fewer than max are open, else waits.
 * An idle connection is not checked before it is handed out (that would
 * cost a round trip per load); a caller that finds it dead gives it back
 * broken, and then every idle one is closed too, since a lost connection
 * usually means the server restarted and the others are stale as well.
 *
 * Failures: a PGresult with a SQLSTATE is read by its SQLSTATE
 * (sl_pg_conn_class_of); one without (libpq's own errors, a lost
 * connection, a failed connect) is a retry of cause "connection", except
 * a connect that failed for what an operator must fix: a password needed
 * or refused, no such database or role, no pg_hba.conf entry, a bad value
 * in the string, TLS refused. libpq hands no SQLSTATE for a failed
 * connect, so those are told by their words (English, as libpq and the
 * server write them unless lc_messages says otherwise); one not told
 * apart is retried, which is safe, only slower to be reported.
 *
 * Threads: struct sl_pg_pool's <mu> guards <idle>, <nidle> and <open>; the
 * keyword arrays are written by new() only and read by any thread after.
 * A connection is used by one thread at a time (libpq's rule): the one
 * that took it.
 */
#include "pg_conn.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "sluice/err.h"

#define KW_MAX 48                      /* libpq has about 40 keywords */

struct sl_pg_pool {
    const char *kw[KW_MAX + 1];        /* NULL-ended; strings in <store> */
    const char *val[KW_MAX + 1];
    int timeout_at;                    /* index of connect_timeout in kw */
    int timeout_ours;                  /* ... which the string did not set */
    char what[32];
    char *session_sql;                 /* owned, or NULL: run on each new connection */
    char *store;                       /* owned: every keyword's and value's text */
    size_t store_len;
    pthread_mutex_t mu;                /* guards what follows */
    pthread_cond_t cv;                 /* a connection given back, or a slot freed */
    PGconn **idle;                     /* owned array of max; idle[0..nidle) kept */
    unsigned nidle, open, max;         /* open: idle + taken + being connected */
};

/* ---- classes ---- */

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int sl_pg_conn_class_of(const char *state, int *cause)
{
    int cls = SL_PG_RETRY, why = SL_RETRY_SERVER;

    if (!state || strlen(state) != 5) {
        why = SL_RETRY_CONNECTION;
    } else if (starts(state, "08")) {
        why = SL_RETRY_CONNECTION;
    } else if (strcmp(state, "57014") == 0) {
        why = SL_RETRY_TIMEOUT;
    } else if (starts(state, "53") || strcmp(state, "55P03") == 0) {
        why = SL_RETRY_THROTTLED;
    } else if (starts(state, "22") || starts(state, "23") || starts(state, "54")) {
        cls = SL_PG_DATA, why = 0;
    } else if (starts(state, "42") || starts(state, "28") || strcmp(state, "3D000") == 0 ||
               strcmp(state, "3F000") == 0 || strcmp(state, "0A000") == 0) {
        cls = SL_PG_CONFIG, why = SL_RETRY_FORBIDDEN;
    }
    /* else 40001, 40P01, 57P01-57P03, 25006 (a standby), 58*, XX000
     * (PostgreSQL's internal error; Redshift's failed load, which the
     * redshift sink retries anyway), unknown: the server's now, maybe not
     * later */
    if (cause)
        *cause = why;
    return cls;
}

/* The first line of <s> into <out>, without libpq's "ERROR:  " style prefix. */
static void first_line(const char *s, char *out, size_t len)
{
    size_t n;

    if (!s)
        s = "";
    for (const char *const *p = (const char *const[]){ "ERROR:  ", "FATAL:  ", NULL }; *p; p++)
        if (starts(s, *p))
            s += strlen(*p);
    n = strcspn(s, "\r\n");
    snprintf(out, len, "%.*s", (int)n, s);
}

/* A connect that failed for what an operator must fix (see the top). */
static int connect_config_problem(PGconn *c, const char *msg)
{
    static const char *const words[] = {
        "password authentication failed", "no pg_hba.conf entry", "does not exist",
        "no password supplied", "invalid ", "unrecognized ", "server does not support SSL",
        "certificate", "SSL error", "authentication method", "is not permitted to log in",
        NULL,
    };

    if (c && PQconnectionNeedsPassword(c))
        return 1;
    for (int i = 0; words[i]; i++)
        if (strstr(msg, words[i]))
            return 1;
    return 0;
}

void sl_pg_conn_classify(PGconn *c, const PGresult *r, struct sl_pg_err *e)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

    memset(e, 0, sizeof(*e));
    if (state && strlen(state) == 5) {
        const char *prim = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        const char *det = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
        memcpy(e->sqlstate, state, 6);
        e->cls = sl_pg_conn_class_of(state, &e->cause);
        snprintf(e->message, sizeof(e->message), "%s%s%s", prim ? prim : "",
                 det ? ": " : "", det ? det : "");
        /* a multi-line detail stays on one line in logs and envelopes */
        for (char *p = e->message; *p; p++)
            if (*p == '\n' || *p == '\r' || *p == '\t')
                *p = ' ';
        return;
    }
    first_line(r && PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r)
               : c ? PQerrorMessage(c) : "out of memory", e->message, sizeof(e->message));
    if (!e->message[0])
        snprintf(e->message, sizeof(e->message), "%s", c && PQstatus(c) == CONNECTION_BAD
                 ? "the connection was lost" : "no answer from the server");
    e->cls = SL_PG_RETRY;
    e->cause = SL_RETRY_CONNECTION;
}

/* ---- the pool ---- */

/* Sets keyword <k> to <v>: added if the string did not set it, replaced
 * if it did and <over>. Its index, or -1 when out of room. */
static int set_kw(struct sl_pg_pool *p, int *n, const char *k, const char *v, int over,
                  char **at, char *end)
{
    size_t kl = strlen(k) + 1, vl = strlen(v) + 1;
    int i;

    for (i = 0; i < *n && strcmp(p->kw[i], k) != 0; i++)
        ;
    if (i < *n && !over)
        return i;
    if ((i == *n && *n >= KW_MAX) || (size_t)(end - *at) < kl + vl)
        return -1;
    if (i == *n) {
        memcpy(*at, k, kl), p->kw[i] = *at, *at += kl;
        (*n)++;
    }
    memcpy(*at, v, vl), p->val[i] = *at, *at += vl;
    return i;
}

/* A password file libpq would use: there, readable, private (libpq
 * ignores one with group or world access, silently but for a warning on
 * stderr). */
static int passfile_ok(const char *path, char *err, size_t errlen)
{
    struct stat st;

    if (stat(path, &st) != 0) {
        int en = errno;
        snprintf(err, errlen, "password file %s: %s", path, strerror(en));
        return 0;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "password file %s is not a regular file", path);
        return 0;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(err, errlen, "password file %s has group or world access, which libpq "
                 "ignores: chmod 600 it", path);
        return 0;
    }
    return 1;
}

struct sl_pg_pool *sl_pg_conn_pool_new(const struct sl_pg_conn_options *o, char *err,
                                       size_t errlen)
{
    struct sl_pg_pool *p = NULL;
    PQconninfoOption *opts = NULL;
    char *perr = NULL, timeout[24], *at, *end;
    size_t need = 512;
    int n = 0;

    opts = PQconninfoParse(o->conninfo ? o->conninfo : "", &perr);
    if (!opts) {
        /* libpq's words quote the string, which may hold a password */
        snprintf(err, errlen, "the connection string does not parse%s",
                 perr ? " (key=value pairs or a postgresql:// URI)" : ": out of memory");
        PQfreemem(perr);
        return NULL;
    }
    if (o->password_file && o->password_file[0] && !passfile_ok(o->password_file, err, errlen))
        goto fail;
    for (PQconninfoOption *q = opts; q->keyword; q++)
        if (q->val)
            need += strlen(q->keyword) + strlen(q->val) + 2;
    need += o->password_file ? strlen(o->password_file) : 0;   /* and our defaults */
    if (!(p = calloc(1, sizeof(*p))) || !(p->store = malloc(need)) ||
        !(p->idle = calloc(o->max_connections ? o->max_connections : 1, sizeof(*p->idle)))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    p->store_len = need;
    at = p->store, end = p->store + need;
    for (PQconninfoOption *q = opts; q->keyword; q++)
        if (q->val && set_kw(p, &n, q->keyword, q->val, 0, &at, end) < 0)
            goto toomany;
    /* the key wins over the string's passfile */
    if (o->password_file && o->password_file[0] &&
        set_kw(p, &n, "passfile", o->password_file, 1, &at, end) < 0)
        goto toomany;
    int64_t secs = (o->connect_timeout_ms + 999) / 1000;
    snprintf(timeout, sizeof(timeout), "%lld", (long long)(secs < 2 ? 2 : secs));
    int had = n;
    p->timeout_at = set_kw(p, &n, "connect_timeout", timeout, 0, &at, end);
    p->timeout_ours = n > had;
    if (p->timeout_at < 0 ||
        set_kw(p, &n, "client_encoding", "UTF8", 0, &at, end) < 0 ||
        set_kw(p, &n, "fallback_application_name", "sluice", 0, &at, end) < 0 ||
        set_kw(p, &n, "keepalives_idle", "30", 0, &at, end) < 0 ||
        set_kw(p, &n, "keepalives_interval", "10", 0, &at, end) < 0 ||
        set_kw(p, &n, "keepalives_count", "3", 0, &at, end) < 0)
        goto toomany;
    p->kw[n] = p->val[n] = NULL;
    if (o->session_sql && !(p->session_sql = strdup(o->session_sql))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    PQconninfoFree(opts);
    snprintf(p->what, sizeof(p->what), "%s", o->what ? o->what : "postgresql");
    p->max = o->max_connections ? o->max_connections : 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    return p;
toomany:
    snprintf(err, errlen, "the connection string has too many keywords");
fail:
    PQconninfoFree(opts);
    if (p) {
        free(p->idle);
        free(p->store);
        free(p->session_sql);
        free(p);
    }
    return NULL;
}

void sl_pg_conn_pool_free(struct sl_pg_pool *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->nidle; i++)
        PQfinish(p->idle[i]);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->idle);
    if (p->store)                      /* it may hold a password */
        explicit_bzero(p->store, p->store_len);
    free(p->store);
    free(p->session_sql);
    free(p);
}

/* The server's notices (Redshift's "Load into table ... completed", a
 * WARNING): into the log at debug level, never onto stderr, which libpq's
 * default processor writes them to. */
static void on_notice(void *arg, const char *msg)
{
    const struct sl_pg_pool *p = arg;

    sl_debug("sink=%s msg=\"server notice\" notice=\"%.*s\"", p->what,
             (int)strcspn(msg, "\n"), msg);
}

/* Connects with the pool's keywords, connect_timeout <timeout> if given. */
static PGconn *connect_with(struct sl_pg_pool *p, const char *timeout, struct sl_pg_err *e)
{
    const char *val[KW_MAX + 1];
    PGconn *c;

    memcpy(val, p->val, sizeof(val));
    if (timeout && p->timeout_at >= 0)
        val[p->timeout_at] = timeout;
    c = PQconnectdbParams(p->kw, val, 0);
    if (c)
        PQsetNoticeProcessor(c, on_notice, p);
    if (c && PQstatus(c) == CONNECTION_OK &&
        (!p->session_sql || sl_pg_conn_exec(c, p->session_sql, NULL, e) == SL_OK))
        return c;
    if (c && PQstatus(c) == CONNECTION_OK) {      /* the session's settings failed */
        PQfinish(c);
        return NULL;
    }
    sl_pg_conn_classify(c, NULL, e);
    if (connect_config_problem(c, e->message))
        e->cls = SL_PG_CONFIG, e->cause = SL_RETRY_FORBIDDEN;
    PQfinish(c);
    return NULL;
}

PGconn *sl_pg_conn_connect(struct sl_pg_pool *p, int64_t timeout_ms, struct sl_pg_err *e)
{
    char t[24];
    int64_t secs = (timeout_ms + 999) / 1000;

    snprintf(t, sizeof(t), "%lld", (long long)(secs < 2 ? 2 : secs));
    return connect_with(p, p->timeout_ours ? t : NULL, e);
}

PGconn *sl_pg_conn_take(struct sl_pg_pool *p, struct sl_pg_err *e)
{
    PGconn *c;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (p->nidle) {
            c = p->idle[--p->nidle];
            pthread_mutex_unlock(&p->mu);
            return c;
        }
        if (p->open < p->max)
            break;
        pthread_cond_wait(&p->cv, &p->mu);
    }
    p->open++;                         /* the slot is ours while we connect */
    pthread_mutex_unlock(&p->mu);
    c = connect_with(p, NULL, e);
    if (!c) {
        pthread_mutex_lock(&p->mu);
        p->open--;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    return c;
}

void sl_pg_conn_give(struct sl_pg_pool *p, PGconn *c, int broken)
{
    PGconn *stale[64];
    unsigned nstale = 0;
    int lost;

    if (!c)
        return;
    lost = PQstatus(c) != CONNECTION_OK;
    broken = broken || lost || PQtransactionStatus(c) != PQTRANS_IDLE;
    pthread_mutex_lock(&p->mu);
    if (!broken) {
        p->idle[p->nidle++] = c;       /* nidle < open <= max: room */
        c = NULL;
    } else {
        p->open--;
        while (lost && p->nidle && nstale < sizeof(stale) / sizeof(stale[0])) {
            stale[nstale++] = p->idle[--p->nidle];
            p->open--;
        }
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    PQfinish(c);                       /* closing outside the lock */
    for (unsigned i = 0; i < nstale; i++)
        PQfinish(stale[i]);
}

/* ---- statements ---- */

static int finish(PGconn *c, PGresult *r, PGresult **res, struct sl_pg_err *e)
{
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        if (res)
            *res = r;
        else
            PQclear(r);
        return SL_OK;
    }
    if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
        PQclear(r);                    /* not for this call: end it, fail it */
        if (st == PGRES_COPY_IN)
            PQputCopyEnd(c, "a COPY was not expected here");
        while ((r = PQgetResult(c)))
            PQclear(r);
        memset(e, 0, sizeof(*e));
        e->cls = SL_PG_RETRY, e->cause = SL_RETRY_SERVER;
        snprintf(e->message, sizeof(e->message), "a statement began a COPY");
        return SL_EINVAL;
    }
    sl_pg_conn_classify(c, r, e);
    PQclear(r);
    return SL_EIO;
}

int sl_pg_conn_exec(PGconn *c, const char *sql, PGresult **res, struct sl_pg_err *e)
{
    if (res)
        *res = NULL;
    return finish(c, PQexec(c, sql), res, e);
}

int sl_pg_conn_exec_params(PGconn *c, const char *sql, int n, const char *const *params,
                           PGresult **res, struct sl_pg_err *e)
{
    if (res)
        *res = NULL;
    return finish(c, PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0), res, e);
}

/* ---- quoting ---- */

static int quote(const char *s, size_t n, char q, char **at, char *end)
{
    if (*at >= end)
        return SL_ETOOBIG;
    *(*at)++ = q;
    for (size_t i = 0; i < n; i++) {
        if (end - *at < 3)
            return SL_ETOOBIG;
        if (s[i] == q)
            *(*at)++ = q;
        *(*at)++ = s[i];
    }
    if (end - *at < 2)
        return SL_ETOOBIG;
    *(*at)++ = q;
    **at = '\0';
    return SL_OK;
}

int sl_pg_conn_quote_ident(const char *name, char *out, size_t len)
{
    char *at = out, *end = out + len;
    int rc = SL_OK;

    if (!len)
        return SL_ETOOBIG;
    for (const char *p = name;; ) {
        size_t n = strcspn(p, ".");
        if ((rc = quote(p, n, '"', &at, end)) != SL_OK)
            break;
        if (!p[n])
            break;
        if (end - at < 2) {
            rc = SL_ETOOBIG;
            break;
        }
        *at++ = '.';
        p += n + 1;
    }
    if (rc != SL_OK)
        out[0] = '\0';
    return rc;
}

int sl_pg_conn_quote_literal(const char *text, char *out, size_t len)
{
    char *at = out;
    int rc;

    if (!len)
        return SL_ETOOBIG;
    rc = quote(text, strlen(text), '\'', &at, out + len);
    if (rc != SL_OK)
        out[0] = '\0';
    return rc;
}

/* ---- loads ---- */

int sl_pg_conn_loads_ensure(PGconn *c, struct sl_pg_err *e)
{
    static const char sql[] =
        "CREATE TABLE IF NOT EXISTS " SL_PG_LOADS_TABLE " ("
        "load_id varchar(80) PRIMARY KEY, stream varchar(128) NOT NULL, "
        "records bigint NOT NULL, detail varchar(65535), loaded_at timestamp NOT NULL)";
    int rc;

    /* there already (made by an earlier run, or by an operator): no CREATE,
     * which needs a privilege on the schema even when the table exists */
    if (sl_pg_conn_exec(c, "SELECT 1 FROM " SL_PG_LOADS_TABLE " WHERE false", NULL, e) == SL_OK)
        return SL_OK;
    if (strcmp(e->sqlstate, "42P01") != 0)
        return SL_ERR;
    rc = sl_pg_conn_exec(c, sql, NULL, e);
    /* two sessions creating it at once: one may meet the other's catalog
     * row (23505 on pg_type, 42P07); by then it is there */
    if (rc != SL_OK && (strcmp(e->sqlstate, "23505") == 0 || strcmp(e->sqlstate, "42P07") == 0))
        rc = sl_pg_conn_exec(c, sql, NULL, e);
    return rc;
}

/* Now, UTC, as a timestamp literal: loaded_at (Redshift has no now()). */
static void now_utc(char out[32])
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm);
}

int sl_pg_conn_claim(PGconn *c, const char *load_id, const char *stream, uint64_t records,
                     const char *detail, int lock, struct sl_pg_err *e)
{
    static const char insert[] = "INSERT INTO " SL_PG_LOADS_TABLE
        " (load_id, stream, records, detail, loaded_at) VALUES ($1, $2, $3, $4, $5)";
    char n[24], when[32];
    const char *params[5] = { load_id, stream, n, detail, when };
    PGresult *r = NULL;
    int rc;

    snprintf(n, sizeof(n), "%llu", (unsigned long long)records);
    now_utc(when);
    if (lock) {
        if ((rc = sl_pg_conn_exec(c, "LOCK TABLE " SL_PG_LOADS_TABLE, NULL, e)) != SL_OK ||
            (rc = sl_pg_conn_exec_params(c, "SELECT 1 FROM " SL_PG_LOADS_TABLE
                                         " WHERE load_id = $1", 1, params, &r, e)) != SL_OK)
            return rc;
        int there = PQntuples(r) > 0;
        PQclear(r);
        if (there)
            return SL_EEXIST;
        return sl_pg_conn_exec_params(c, insert, 5, params, NULL, e);
    }
    if ((rc = sl_pg_conn_exec(c, "SAVEPOINT sl_claim", NULL, e)) != SL_OK)
        return rc;
    rc = sl_pg_conn_exec_params(c, insert, 5, params, NULL, e);
    if (rc == SL_OK)
        return sl_pg_conn_exec(c, "RELEASE SAVEPOINT sl_claim", NULL, e);
    if (strcmp(e->sqlstate, "23505") != 0)
        return rc;
    struct sl_pg_err e2;
    if (sl_pg_conn_exec(c, "ROLLBACK TO SAVEPOINT sl_claim", NULL, &e2) != SL_OK) {
        *e = e2;
        return SL_EIO;
    }
    return SL_EEXIST;
}

int sl_pg_conn_claim_update(PGconn *c, const char *load_id, uint64_t records,
                            const char *detail, struct sl_pg_err *e)
{
    char n[24];
    const char *params[3] = { load_id, n, detail };

    snprintf(n, sizeof(n), "%llu", (unsigned long long)records);
    return sl_pg_conn_exec_params(c, "UPDATE " SL_PG_LOADS_TABLE " SET records = $2, "
                                  "detail = $3 WHERE load_id = $1", 3, params, NULL, e);
}

int sl_pg_conn_loaded(PGconn *c, const char *load_id, char **detail, struct sl_pg_err *e)
{
    const char *params[1] = { load_id };
    PGresult *r = NULL;
    int there;

    if (detail)
        *detail = NULL;
    if (sl_pg_conn_exec_params(c, "SELECT detail FROM " SL_PG_LOADS_TABLE
                               " WHERE load_id = $1", 1, params, &r, e) != SL_OK) {
        /* no table: nothing was ever loaded through it */
        if (strcmp(e->sqlstate, "42P01") == 0)
            return 0;
        return -1;
    }
    there = PQntuples(r) > 0;
    if (there && detail && !PQgetisnull(r, 0, 0) && !(*detail = strdup(PQgetvalue(r, 0, 0)))) {
        PQclear(r);
        memset(e, 0, sizeof(*e));
        e->cls = SL_PG_RETRY, e->cause = SL_RETRY_SERVER;
        snprintf(e->message, sizeof(e->message), "out of memory");
        return -1;
    }
    PQclear(r);
    return there;
}
