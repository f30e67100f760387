/*
 * sink_pg.c - sink = postgresql: records into a PostgreSQL table, each
 * batch (or part the engine retries) in one transaction, exactly once,
 * with a verdict per record.
 *
 * Rows. pg.format = jsonb: each record (a trailing newline dropped) is one
 * row, the record in pg.column (jsonb or json or text), its arrival time
 * in pg.arrival_column if set. pg.format = columns: each record is a JSON
 * object whose top-level fields fill the columns of pg.columns
 * (sl__sink_pg_columns_row). A record that is not JSON (not an object in
 * columns mode) is not sent: it is answered FAIL with 22P02, the code the
 * server gives invalid JSON, and goes to backup. Rows go over COPY's text
 * format (sl__sink_pg_copy_escape).
 *
 * One load, on one connection of the pool (pg_conn.c):
 *     BEGIN
 *     claim the load id in sluice_loads        (sl_pg_conn_claim, lock 0)
 *     SAVEPOINT; COPY every row; RELEASE
 *     COMMIT
 * The load id (sl__sink_pg_load_id) hashes the stream, the batch's id
 * base and the numbers of the records sent: the same on every retry of a
 * part, and after a crash and replay with durability = disk (a sealed
 * batch comes back with its uuid and records, and the same records fail
 * the client's check). A claim finding the id there (loaded before, by
 * this process or one before a crash) rolls back and answers OK for the
 * rows loaded then, FAIL again for the rows refused then: the claim's
 * row says which, in its detail (sl__sink_pg_detail).
 *
 * Bad rows. COPY is all or nothing (PostgreSQL 15 has no ON_ERROR). When
 * it fails for its data (SL_PG_DATA: 22*, 23*, 54*), the rows are cut in
 * halves, each half COPYed under a savepoint, down to ROW_BY_ROW rows,
 * which go one by one: a row that fails alone is refused, with the
 * server's SQLSTATE and message, and the others load in the same
 * transaction. Its detail is written into the claim before COMMIT.
 *
 * Other failures: the whole part is retried (RETRY), with the cause of
 * sl_pg_err: connections, 40001, 40P01, 57P0x, 53*; a configuration
 * problem (42*, 28*, 3D000 ...) with cause "forbidden", logged at error
 * level once per SQLSTATE until a load succeeds, and ready() says not
 * ready meanwhile. A COMMIT whose answer was lost is looked up on a fresh
 * connection (sl_pg_conn_loaded): there, OK; not there, RETRY.
 *
 * ready() answers from the last load's outcome; it probes only when
 * nothing is known yet, or the last outcome was bad and PROBE_MS have
 * passed: a connection of its own (2 s connect timeout) that starts the
 * COPY a load would run, then cancels it, so no table, a missing column or
 * a missing privilege shows without a row written.
 *
 * Threads: deliver() on several workers at once, each with a connection
 * of its own from the pool; ready() on the metrics thread. The instance is
 * read-only after create() but for the atomics (state, probe time, the
 * probe flag, sluice_loads known to exist) and <why>, <loud> under <mu>.
 */
#include "sink_pg.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "clock.h"
#include "json_check.h"
#include "log.h"
#include "metrics.h"
#include "pg_conn.h"
#include "sink.h"
#include "sluice/err.h"

#define PROBE_MS 3000              /* ready(): a probe at most this often while not up */
#define PROBE_TIMEOUT_MS 2000      /* ... connecting, and its statements */
#define ROW_BY_ROW 8               /* bad rows: ranges this small go one row at a time */
#define COPY_PIECE (1u << 20)      /* PQputCopyData's bytes at a time */
#define ROWS_MAX (1u << 30)        /* COPY text of one load, at most */

/* own[] of sl_sink_stats. */
enum { PG_ROWS_LOADED, PG_ROWS_REJECTED, PG_LOADS_EXISTING };

/* ---- keys ---- */

struct pg_conf {
    char     conninfo[1024];
    char     password_file[PATH_MAX];
    char     table[256];
    int      format;                      /* 0 jsonb, 1 columns */
    char     column[64];
    char     arrival_column[64];
    char     columns[1024];
    uint64_t max_connections;
    int64_t  connect_timeout_ms;
};

static const char *const format_enum[] = { "jsonb", "columns", NULL };

#define C(f) offsetof(struct pg_conf, f)
#define S(f) SL_KSTR(struct pg_conf, f)

static const struct sl_conf_key pg_keys[] = {
    { "pg.conninfo", SL_K_STRING, S(conninfo), 0, 0, "", NULL,
      "postgresql sink: libpq's connection string, key=value pairs or a postgresql:// URI "
      "(host, port, dbname, user, sslmode, sslrootcert, ...; required)" },
    { "pg.password_file", SL_K_STRING, S(password_file), 0, 0, "", NULL,
      "postgresql sink: a password file in libpq's format (host:port:db:user:password "
      "lines, mode 0600); empty: PGPASSFILE or ~/.pgpass" },
    { "pg.table", SL_K_STRING, S(table), 0, 0, "", NULL,
      "postgresql sink: the table, or schema.table (required); quoted, so written as "
      "the catalog has it (lowercase unless created quoted)" },
    { "pg.format", SL_K_ENUM, C(format), 0, 0, 1, "jsonb", format_enum,
      "postgresql sink: jsonb (each record in pg.column) or columns (a record's top-level "
      "fields into pg.columns)" },
    { "pg.column", SL_K_STRING, S(column), 0, 0, "data", NULL,
      "postgresql sink: pg.format = jsonb: the column each record goes into (jsonb, json "
      "or text)" },
    { "pg.arrival_column", SL_K_STRING, S(arrival_column), 0, 0, "", NULL,
      "postgresql sink: a timestamptz column that gets each record's arrival time; "
      "empty: none" },
    { "pg.columns", SL_K_STRING, S(columns), 0, 0, "", NULL,
      "postgresql sink: pg.format = columns: the columns, comma-separated, each filled "
      "from the record's top-level field of that name (required then)" },
    { "pg.max_connections", SL_K_UINT, C(max_connections), 0, 1, 64, "4", NULL,
      "postgresql sink: connections kept open at most, one load on each at a time" },
    { "pg.connect_timeout", SL_K_DURATION, C(connect_timeout_ms), 0, 2 * SL_SEC,
      300 * SL_SEC, "10s", NULL,
      "postgresql sink: connecting's time limit, when pg.conninfo sets no connect_timeout" },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

/* Splits pg.columns into <names> (in <store>). How many, or -1 with <why>. */
static int split_columns(const char *list, char *store, size_t storelen,
                         const char *names[SL_PG_COLUMNS_MAX], char *why, size_t whylen)
{
    int n = 0;

    snprintf(store, storelen, "%s", list);
    for (char *p = store, *next; p; p = next) {
        next = strchr(p, ',');
        if (next)
            *next++ = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        char *e = p + strlen(p);
        while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        if (!*p) {
            snprintf(why, whylen, "an empty column name in '%s'", list);
            return -1;
        }
        if (strlen(p) > 63) {
            snprintf(why, whylen, "'%s' is longer than PostgreSQL's 63 bytes", p);
            return -1;
        }
        for (int i = 0; i < n; i++)
            if (strcmp(names[i], p) == 0) {
                snprintf(why, whylen, "'%s' is named twice", p);
                return -1;
            }
        if (n == SL_PG_COLUMNS_MAX) {
            snprintf(why, whylen, "at most %d columns", SL_PG_COLUMNS_MAX);
            return -1;
        }
        names[n++] = p;
    }
    return n;
}

static int key_set(const struct sl_conf_check *chk, const char *key)
{
    int i = sl_conf_key_index(chk->keys, key);

    return i >= 0 && (chk->marks->seen >> i) & 1;
}

static void pg_check(void *conf, struct sl_conf_check *chk)
{
    struct pg_conf *c = conf;
    char why[300], store[sizeof(c->columns)], *perr = NULL;
    const char *names[SL_PG_COLUMNS_MAX];
    int n = 0;

    if (!c->conninfo[0]) {
        sl_conf_key_check_err(chk, "pg.conninfo", "required when sink = postgresql");
    } else {
        PQconninfoOption *o = PQconninfoParse(c->conninfo, &perr);
        if (!o)   /* libpq's words would quote the string, which may hold a password */
            sl_conf_key_check_err(chk, "pg.conninfo", "does not parse%s",
                                  perr ? ": key=value pairs or a postgresql:// URI"
                                       : ": out of memory");
        PQconninfoFree(o);
        PQfreemem(perr);
    }
    if (!c->table[0])
        sl_conf_key_check_err(chk, "pg.table", "required when sink = postgresql");
    else if (c->table[0] == '.' || c->table[strlen(c->table) - 1] == '.' ||
             strstr(c->table, "..") || strchr(strchr(c->table, '.') ? strchr(c->table, '.') + 1
                                                                    : "", '.'))
        sl_conf_key_check_err(chk, "pg.table", "'%s' is not TABLE or SCHEMA.TABLE", c->table);
    if (c->format == 1) {
        if (!c->columns[0])
            sl_conf_key_check_err(chk, "pg.columns", "required when pg.format = columns");
        else if ((n = split_columns(c->columns, store, sizeof(store), names, why,
                                    sizeof(why))) < 0)
            sl_conf_key_check_err(chk, "pg.columns", "%s", why);
        if (key_set(chk, "pg.column"))
            sl_conf_key_check_err(chk, "pg.column", "set, but pg.format is columns (the "
                                  "columns are pg.columns)");
        for (int i = 0; i < n; i++)
            if (strcmp(names[i], c->arrival_column) == 0)
                sl_conf_key_check_err(chk, "pg.arrival_column", "'%s' is in pg.columns too",
                                      names[i]);
    } else {
        if (c->columns[0])
            sl_conf_key_check_err(chk, "pg.columns", "set, but pg.format is jsonb (each "
                                  "record goes into pg.column)");
        if (!c->column[0])
            sl_conf_key_check_err(chk, "pg.column", "must not be empty");
        else if (strcmp(c->column, c->arrival_column) == 0)
            sl_conf_key_check_err(chk, "pg.arrival_column", "'%s' is pg.column too",
                                  c->column);
    }
    if (strlen(c->column) > 63 || strlen(c->arrival_column) > 63)
        sl_conf_key_check_err(chk, strlen(c->column) > 63 ? "pg.column" : "pg.arrival_column",
                              "longer than PostgreSQL's 63 bytes");
}

static void pg_dest(const void *conf, struct sl_sink_dest *d)
{
    const struct pg_conf *c = conf;

    d->connections = (unsigned)c->max_connections;
    snprintf(d->failed_name, sizeof(d->failed_name), "postgresql");
}

/* ---- the pure parts ---- */

int sl__sink_pg_copy_escape(struct sl_buf *out, const void *data, size_t n)
{
    const uint8_t *p = data, *run = p, *end = p + n;
    int rc = sl_buf_reserve(out, n);

    for (; rc == SL_OK && p < end; p++) {
        const char *esc;
        switch (*p) {
        case '\\': esc = "\\\\"; break;
        case '\t': esc = "\\t"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\0': esc = "\\000"; break;
        default: continue;
        }
        rc = sl_buf_append(out, run, (size_t)(p - run));
        if (rc == SL_OK)
            rc = sl_buf_append(out, esc, strlen(esc));
        run = p + 1;
    }
    if (rc == SL_OK)
        rc = sl_buf_append(out, run, (size_t)(end - run));
    return rc;
}

int sl__sink_pg_json_ok(const uint8_t *p, size_t n, int want_object, char *why, size_t whylen)
{
    json_error_t err;
    json_t *v;
    int ok;

    if (sl_json_check(p, n, want_object))
        return 1;
    v = json_loadb((const char *)p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!v && json_error_code(&err) == json_error_numeric_overflow)   /* big, not wrong */
        v = json_loadb((const char *)p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL |
                       JSON_DECODE_INT_AS_REAL, &err);
    if (!v) {
        snprintf(why, whylen, "not valid JSON: %s (at byte %d)", err.text, err.position);
        return 0;
    }
    ok = !want_object || json_is_object(v);
    json_decref(v);
    if (!ok)
        snprintf(why, whylen, "not a JSON object (pg.format = columns takes objects)");
    return ok;
}

/* Walking a JSON text already checked (sl__sink_pg_json_ok): where each
 * top-level member's key and value lie, as written, so numbers keep their
 * digits and nested values their text. Not a parser: it trusts the check. */
static size_t skip_ws(const uint8_t *p, size_t i, size_t n)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

static size_t string_end(const uint8_t *p, size_t i, size_t n)   /* p[i] is '"' */
{
    for (i++; i < n; i++) {
        if (p[i] == '\\')
            i++;
        else if (p[i] == '"')
            return i + 1;
    }
    return n;
}

static size_t value_end(const uint8_t *p, size_t i, size_t n)
{
    int depth = 0;

    if (i >= n)
        return n;
    if (p[i] == '"')
        return string_end(p, i, n);
    if (p[i] != '{' && p[i] != '[') {
        while (i < n && !memchr(",}] \t\r\n", p[i], 8))
            i++;
        return i;
    }
    for (; i < n; i++) {
        if (p[i] == '"')
            i = string_end(p, i, n) - 1;
        else if (p[i] == '{' || p[i] == '[')
            depth++;
        else if ((p[i] == '}' || p[i] == ']') && --depth == 0)
            return i + 1;
    }
    return n;
}

/* Appends the text of the JSON string at p[s..e) (quotes included). */
static int append_string(struct sl_buf *out, const uint8_t *p, size_t s, size_t e)
{
    if (e - s < 2)
        return SL_OK;
    if (!memchr(p + s + 1, '\\', e - s - 2))
        return sl__sink_pg_copy_escape(out, p + s + 1, e - s - 2);
    json_t *v = json_loadb((const char *)p + s, e - s, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    int rc = v ? sl__sink_pg_copy_escape(out, json_string_value(v), json_string_length(v))
               : SL_EINVAL;
    json_decref(v);
    return rc;
}

/* 1 if the key at p[s..e) (quotes included) is <name>. */
static int key_is(const uint8_t *p, size_t s, size_t e, const char *name)
{
    size_t len = strlen(name);

    if (!memchr(p + s + 1, '\\', e - s - 2))
        return e - s - 2 == len && memcmp(p + s + 1, name, len) == 0;
    json_t *v = json_loadb((const char *)p + s, e - s, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    int is = v && json_string_length(v) == len && memcmp(json_string_value(v), name, len) == 0;
    json_decref(v);
    return is;
}

int sl__sink_pg_columns_row(const uint8_t *p, size_t n, const char *const *cols, size_t ncols,
                            struct sl_buf *out)
{
    size_t vs[SL_PG_COLUMNS_MAX] = { 0 }, ve[SL_PG_COLUMNS_MAX] = { 0 };
    size_t i = skip_ws(p, 0, n);
    int rc = SL_OK;

    if (ncols > SL_PG_COLUMNS_MAX)
        return SL_EINVAL;
    if (i < n && p[i] == '{')
        i = skip_ws(p, i + 1, n);
    while (i < n && p[i] == '"') {
        size_t ks = i, ke = string_end(p, i, n);
        i = skip_ws(p, ke, n);
        i = skip_ws(p, i + 1, n);                   /* the ':' */
        size_t s = i, e = value_end(p, i, n);
        for (size_t c = 0; c < ncols; c++)
            if (key_is(p, ks, ke, cols[c]))
                vs[c] = s, ve[c] = e;
        i = skip_ws(p, e, n);
        if (i < n && p[i] == ',')
            i = skip_ws(p, i + 1, n);
    }
    for (size_t c = 0; rc == SL_OK && c < ncols; c++) {
        if (c)
            rc = sl_buf_append(out, "\t", 1);
        if (rc != SL_OK)
            break;
        if (ve[c] == 0 || (ve[c] - vs[c] == 4 && memcmp(p + vs[c], "null", 4) == 0))
            rc = sl_buf_append(out, "\\N", 2);
        else if (p[vs[c]] == '"')
            rc = append_string(out, p, vs[c], ve[c]);
        else
            rc = sl__sink_pg_copy_escape(out, p + vs[c], ve[c] - vs[c]);
    }
    return rc;
}

void sl__sink_pg_load_id(const char *stream, const uint8_t base[16], const uint32_t *ords,
                         size_t n, char out[SL_PG_LOAD_ID_MAX + 1])
{
    static const char hex[] = "0123456789abcdef";
    EVP_MD_CTX *x = EVP_MD_CTX_new();
    uint8_t d[EVP_MAX_MD_SIZE], le[256];
    unsigned dl = 0;

    if (x && EVP_DigestInit_ex(x, EVP_sha256(), NULL) == 1) {
        EVP_DigestUpdate(x, stream, strlen(stream) + 1);    /* with its NUL: a boundary */
        EVP_DigestUpdate(x, base, 16);
        for (size_t i = 0; i < n; ) {          /* little-endian, whatever the host */
            size_t k = 0;
            for (; i < n && k + 4 <= sizeof(le); i++, k += 4) {
                le[k] = (uint8_t)ords[i], le[k + 1] = (uint8_t)(ords[i] >> 8);
                le[k + 2] = (uint8_t)(ords[i] >> 16), le[k + 3] = (uint8_t)(ords[i] >> 24);
            }
            EVP_DigestUpdate(x, le, k);
        }
        EVP_DigestFinal_ex(x, d, &dl);
    }
    EVP_MD_CTX_free(x);
    if (dl != 32) {                            /* libcrypto failed: no id to trust */
        abort();
    }
    memcpy(out, "pg1-", 4);
    for (unsigned i = 0; i < 32; i++) {
        out[4 + 2 * i] = hex[d[i] >> 4];
        out[5 + 2 * i] = hex[d[i] & 15];
    }
    out[68] = '\0';
}

/* The detail with messages cut to <msgmax> bytes (0: none), the first <n>
 * rejects; NULL when out of memory. */
static char *detail_try(const struct sl_pg_reject *r, size_t n, size_t msgmax, int truncated)
{
    json_t *root = json_object(), *list = json_array();
    char *s = NULL;

    if (!root || !list)
        goto out;
    json_object_set(root, "rejected", list);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_pack("[Is]", (json_int_t)r[i].ord, r[i].code);
        if (!e)
            goto out;
        if (msgmax) {
            size_t ml = strnlen(r[i].msg, msgmax);
            while (ml && ml < strlen(r[i].msg) && (r[i].msg[ml] & 0xC0) == 0x80)
                ml--;                          /* not in the middle of a character */
            /* a message cut short elsewhere may end inside a character:
             * drop that character's bytes (json_stringn refuses bad UTF-8) */
            json_t *m = NULL;
            for (size_t cut = 0; !m && cut <= 4 && cut <= ml; cut++)
                m = json_stringn(r[i].msg, ml - cut);
            json_array_append_new(e, m ? m : json_string(""));
        }
        json_array_append_new(list, e);
    }
    if (truncated)
        json_object_set_new(root, "truncated", json_true());
    s = json_dumps(root, JSON_COMPACT);
out:
    json_decref(list);
    json_decref(root);
    return s;
}

char *sl__sink_pg_detail(const struct sl_pg_reject *r, size_t n)
{
    static const size_t msgmax[] = { 255, 80, 0 };
    char *s;

    for (size_t i = 0; i < sizeof(msgmax) / sizeof(msgmax[0]); i++) {
        if (!(s = detail_try(r, n, msgmax[i], 0)) || strlen(s) <= SL_PG_DETAIL_MAX)
            return s;
        free(s);
    }
    /* numbers alone do not fit: as many as do, each ~12 bytes */
    for (size_t m = SL_PG_DETAIL_MAX / 12; ; m = m * 9 / 10) {
        if (!(s = detail_try(r, m < n ? m : n, 0, 1)) || strlen(s) <= SL_PG_DETAIL_MAX)
            return s;
        free(s);
    }
}

static int by_ord(const void *a, const void *b)
{
    uint32_t x = ((const struct sl_pg_reject *)a)->ord, y = ((const struct sl_pg_reject *)b)->ord;

    return x < y ? -1 : x > y;
}

long sl__sink_pg_detail_read(const char *detail, struct sl_pg_reject **out, int *truncated)
{
    json_t *root, *list;
    struct sl_pg_reject *r;
    size_t n;

    *out = NULL;
    *truncated = 0;
    if (!detail)
        return 0;
    root = json_loads(detail, 0, NULL);
    list = json_object_get(root, "rejected");
    if (!json_is_array(list)) {
        json_decref(root);
        return -1;
    }
    n = json_array_size(list);
    if (!(r = calloc(n ? n : 1, sizeof(*r)))) {
        json_decref(root);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(list, i);
        const char *code = json_string_value(json_array_get(e, 1));
        const char *msg = json_string_value(json_array_get(e, 2));
        r[i].ord = (uint32_t)json_integer_value(json_array_get(e, 0));
        snprintf(r[i].code, sizeof(r[i].code), "%s", code ? code : "");
        snprintf(r[i].msg, sizeof(r[i].msg), "%s", msg ? msg : "refused by an earlier load");
    }
    *truncated = json_is_true(json_object_get(root, "truncated"));
    json_decref(root);
    qsort(r, n, sizeof(*r), by_ord);
    *out = r;
    return (long)n;
}

/* ---- the instance ---- */

/* PG_REFUSED: a load failed for its configuration; a load that goes
 * through, or a probe that finds the COPY would start, clears it. */
enum { PG_UNKNOWN, PG_UP, PG_DOWN, PG_REFUSED };

struct pg_sink {
    char stream[80];
    struct sl_pg_pool *pool;
    int columns;                          /* pg.format = columns */
    const char *cols[SL_PG_COLUMNS_MAX];  /* in <colstore> */
    int ncols;
    char colstore[1024];
    int arrival;                          /* pg.arrival_column set */
    char copy_sql[2048];                  /* COPY "t" ("c", ...) FROM STDIN */
    _Atomic int ensured;                  /* sluice_loads known to exist */
    _Atomic int state;                    /* PG_UNKNOWN ... */
    _Atomic int64_t probed_ms;            /* last probe (mono) */
    _Atomic int probing;                  /* a probe is under way */
    pthread_mutex_t mu;                   /* guards <why> and <loud> */
    char why[256];                        /* why not ready */
    char loud[6];                         /* SQLSTATE logged since the last good load */
    int loud_set;
};

static void pg_destroy(void *ctx)
{
    struct pg_sink *k = ctx;

    if (!k)
        return;
    sl_pg_conn_pool_free(k->pool);
    pthread_mutex_destroy(&k->mu);
    free(k);
}

/* Appends "name" to <o>: quoted, its quotes doubled, never split at dots. */
static int add_ident(struct sl_buf *o, const char *name)
{
    int rc = sl_buf_append(o, "\"", 1);

    for (; rc == SL_OK && *name; name++)
        rc = *name == '"' ? sl_buf_append(o, "\"\"", 2) : sl_buf_append(o, name, 1);
    return rc == SL_OK ? sl_buf_append(o, "\"", 1) : rc;
}

/* k->copy_sql: COPY "table" ("col", ..., "arrival") FROM STDIN. */
static int make_copy_sql(struct pg_sink *k, const struct pg_conf *c)
{
    char table[600];
    struct sl_buf o;
    int rc = sl_pg_conn_quote_ident(c->table, table, sizeof(table));

    sl_buf_init(&o, sizeof(k->copy_sql) - 1);
    if (rc == SL_OK)
        rc = sl_buf_printf(&o, "COPY %s (", table);
    for (int i = 0; rc == SL_OK && i < k->ncols; i++)
        if ((rc = add_ident(&o, k->cols[i])) == SL_OK && i + 1 < k->ncols)
            rc = sl_buf_append(&o, ", ", 2);
    if (rc == SL_OK && k->arrival && (rc = sl_buf_append(&o, ", ", 2)) == SL_OK)
        rc = add_ident(&o, c->arrival_column);
    if (rc == SL_OK)
        rc = sl_buf_append(&o, ") FROM STDIN", 12);
    if (rc == SL_OK)
        snprintf(k->copy_sql, sizeof(k->copy_sql), "%.*s", (int)o.len, (const char *)o.data);
    sl_buf_destroy(&o);
    return rc;
}

static int pg_create(const char *stream, const void *conf, void **ctx, char *err,
                     size_t errlen)
{
    const struct pg_conf *c = conf;
    struct pg_sink *k = calloc(1, sizeof(*k));
    char why[200];

    if (!k) {
        snprintf(err, errlen, "out of memory");
        return SL_ENOMEM;
    }
    pthread_mutex_init(&k->mu, NULL);
    snprintf(k->stream, sizeof(k->stream), "%s", stream);
    k->columns = c->format == 1;
    k->arrival = c->arrival_column[0] != '\0';
    if (k->columns) {
        k->ncols = split_columns(c->columns, k->colstore, sizeof(k->colstore), k->cols, why,
                                 sizeof(why));
        if (k->ncols <= 0) {
            snprintf(err, errlen, "pg.columns: %s", k->ncols < 0 ? why : "required");
            goto fail;
        }
    } else {
        snprintf(k->colstore, sizeof(k->colstore), "%s", c->column);
        k->cols[0] = k->colstore;
        k->ncols = 1;
    }
    if (make_copy_sql(k, c) != SL_OK) {
        snprintf(err, errlen, "pg.table and the columns make too long a COPY statement");
        goto fail;
    }
    struct sl_pg_conn_options o = {
        .conninfo = c->conninfo, .password_file = c->password_file,
        .max_connections = (unsigned)c->max_connections,
        .connect_timeout_ms = c->connect_timeout_ms, .what = "postgresql",
        /* a session whose client vanished mid-transaction (a COMMIT whose
         * answer was lost) must not hold its load-id claim for the hours
         * the server takes to notice: the retry's claim waits on it */
        .session_sql = "SET idle_in_transaction_session_timeout = '60s'",
    };
    char perr[300];
    if (!(k->pool = sl_pg_conn_pool_new(&o, perr, sizeof(perr)))) {
        snprintf(err, errlen, "%s: %s", strstr(perr, "password file") ? "pg.password_file"
                 : "pg.conninfo", perr);
        goto fail;
    }
    sl_info("stream=%s msg=\"postgresql sink\" table=%s format=%s columns=\"%s\" "
            "max_connections=%llu", stream, c->table, format_enum[c->format],
            k->columns ? c->columns : c->column, (unsigned long long)c->max_connections);
    *ctx = k;
    return SL_OK;
fail:
    pg_destroy(k);
    return SL_EINVAL;
}

/* Records what the last load or probe came to, for ready(). <load>: a
 * load (only a load clears the once-per-SQLSTATE log flags). */
static void set_state(struct pg_sink *k, int st, int load, const char *why)
{
    if (st == PG_UP) {
        atomic_store(&k->state, PG_UP);
        if (load) {
            pthread_mutex_lock(&k->mu);
            k->loud_set = 0;
            pthread_mutex_unlock(&k->mu);
        }
        return;
    }
    pthread_mutex_lock(&k->mu);
    snprintf(k->why, sizeof(k->why), "%s", why);
    pthread_mutex_unlock(&k->mu);
    atomic_store(&k->state, st);
}

/* A configuration problem: not ready, and logged once per SQLSTATE until
 * a load succeeds. */
static void refused(struct pg_sink *k, const struct sl_pg_err *e, const char *when)
{
    char why[300];
    int loud;

    snprintf(why, sizeof(why), "%s%s%s", e->sqlstate, e->sqlstate[0] ? ": " : "", e->message);
    set_state(k, PG_REFUSED, 0, why);
    pthread_mutex_lock(&k->mu);
    loud = !k->loud_set || strcmp(k->loud, e->sqlstate) != 0;
    k->loud_set = 1;
    memcpy(k->loud, e->sqlstate, sizeof(k->loud));
    pthread_mutex_unlock(&k->mu);
    if (loud)
        sl_error("stream=%s sink=postgresql msg=\"PostgreSQL refuses the load (a "
                 "configuration problem: %s); retrying until retry_duration, then backup\" "
                 "sqlstate=%s error=\"%s\"", k->stream, when,
                 e->sqlstate[0] ? e->sqlstate : "-", e->message);
}

/* ---- one load ---- */

struct job {
    struct pg_sink *k;
    const struct sl_sink_batch *b;
    struct sl_sink_outcome *out;
    size_t nrec, nrows;
    struct sl_buf text;                   /* COPY text of the rows to send */
    size_t *off;                          /* row r: text [off[r], off[r + 1]) */
    uint32_t *slot, *ord;                 /* row r's record: its place, its number */
    uint8_t *bad;                         /* row r refused by the server */
    char (*code)[6];                      /* record i's SQLSTATE, when refused */
    char **msg;                           /* record i's message (owned), when refused */
    size_t rejected, invalid;             /* rows refused by the server; records by us */
    char first[200];                      /* the first refusal, for the log line */
    char id[SL_PG_LOAD_ID_MAX + 1];
    PGconn *c;
};

enum { LOAD_DONE, LOAD_EXISTED, LOAD_RETRY, LOAD_FAILED };

/* Record <i> is refused with <code> and <msg>. */
static void refuse(struct job *j, size_t i, const char *code, const char *msg)
{
    j->out->record_results[i] = SL_SINK_FAIL;
    snprintf(j->code[i], sizeof(j->code[i]), "%s", code);
    free(j->msg[i]);
    j->msg[i] = strdup(msg);
    if (!j->first[0])
        snprintf(j->first, sizeof(j->first), "%s: %s", code, msg);
}

/* The rows: COPY text of each record that passes the check. SL_OK or
 * SL_ENOMEM / SL_ETOOBIG. */
static int gather(struct job *j)
{
    struct pg_sink *k = j->k;
    struct sl_batch_iter it;
    struct sl_record r;
    char why[200];
    int rc = SL_OK;

    sl_batch_iter_init(&it, j->b->batch);
    for (size_t i = 0; rc == SL_OK && sl_batch_next(&it, &r); i++) {
        uint32_t len = r.len;
        while (len && (r.data[len - 1] == '\n' || r.data[len - 1] == '\r'))
            len--;
        if (!sl__sink_pg_json_ok(r.data, len, k->columns, why, sizeof(why))) {
            refuse(j, i, "22P02", why);
            j->invalid++;
            continue;
        }
        j->off[j->nrows] = j->text.len;
        if (k->columns)
            rc = sl__sink_pg_columns_row(r.data, len, k->cols, (size_t)k->ncols, &j->text);
        else
            rc = sl__sink_pg_copy_escape(&j->text, r.data, len);
        if (rc == SL_OK && k->arrival) {
            time_t t = (time_t)(r.arrival_ms / 1000);
            struct tm tm;
            char ts[48];
            gmtime_r(&t, &tm);
            size_t n = strftime(ts, sizeof(ts), "\t%Y-%m-%d %H:%M:%S", &tm);
            snprintf(ts + n, sizeof(ts) - n, ".%03d+00", (int)(r.arrival_ms % 1000));
            rc = sl_buf_append(&j->text, ts, strlen(ts));
        }
        if (rc == SL_OK)
            rc = sl_buf_append(&j->text, "\n", 1);
        j->slot[j->nrows] = (uint32_t)i;
        j->ord[j->nrows] = it.ord;
        j->nrows++;
    }
    j->off[j->nrows] = j->text.len;
    return rc;
}

/* COPY of rows [a, b) under a savepoint: SL_OK (released), or an error in
 * <e>; a failure of the data is rolled back to the savepoint, so the
 * transaction goes on. */
static int copy_rows(struct job *j, size_t a, size_t b, struct sl_pg_err *e)
{
    PGconn *c = j->c;
    PGresult *r;
    int rc, failed = 0, put = 1;
    int64_t t0;

    if ((rc = sl_pg_conn_exec(c, "SAVEPOINT sl_copy", NULL, e)) != SL_OK)
        return rc;
    t0 = sl_clock_mono_ns();
    r = PQexec(c, j->k->copy_sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        sl_pg_conn_classify(c, r, e);
        PQclear(r);
        while ((r = PQgetResult(c)))
            PQclear(r);
        failed = 1;
    } else {
        PQclear(r);
        const char *p = (const char *)j->text.data + j->off[a];
        size_t left = j->off[b] - j->off[a];
        while (put && left) {
            size_t n = left < COPY_PIECE ? left : COPY_PIECE;
            put = PQputCopyData(c, p, (int)n) == 1;
            p += n, left -= n;
        }
        /* a server that refused a row early may have ended the COPY: the
         * results below say why */
        if (PQputCopyEnd(c, NULL) != 1)
            put = 0;
        while ((r = PQgetResult(c))) {
            if (!failed && PQresultStatus(r) != PGRES_COMMAND_OK) {
                sl_pg_conn_classify(c, r, e);
                failed = 1;
            }
            PQclear(r);
        }
        if (!failed && !put) {
            sl_pg_conn_classify(c, NULL, e);
            failed = 1;
        }
    }
    sl_metrics_observe(&j->b->stats->own_hist, (double)(sl_clock_mono_ns() - t0) / 1e9);
    if (!failed)
        return sl_pg_conn_exec(c, "RELEASE SAVEPOINT sl_copy", NULL, e);
    if (e->cls == SL_PG_DATA) {
        struct sl_pg_err e2;
        if (sl_pg_conn_exec(c, "ROLLBACK TO SAVEPOINT sl_copy; RELEASE SAVEPOINT sl_copy",
                            NULL, &e2) != SL_OK)
            *e = e2;
    }
    return SL_EIO;
}

/* Row <r> refused alone, with <e>. */
static void reject_row(struct job *j, size_t r, const struct sl_pg_err *e)
{
    j->bad[r] = 1;
    j->rejected++;
    refuse(j, j->slot[r], e->sqlstate[0] ? e->sqlstate : "22000", e->message);
}

/* Rows [a, b), which failed together for their data: the ones that fail
 * alone are refused, the others loaded. SL_OK, or an error (not of the
 * data) in <e> that ends the load. */
static int isolate(struct job *j, size_t a, size_t b, struct sl_pg_err *e)
{
    struct sl_pg_err e1;

    if (b - a <= ROW_BY_ROW) {
        for (size_t r = a; r < b; r++) {
            if (copy_rows(j, r, r + 1, &e1) == SL_OK)
                continue;
            if (e1.cls != SL_PG_DATA) {
                *e = e1;
                return SL_EIO;
            }
            reject_row(j, r, &e1);
        }
        return SL_OK;
    }
    size_t mid = a + (b - a) / 2;
    size_t half[2][2] = { { a, mid }, { mid, b } };
    for (int h = 0; h < 2; h++) {
        if (copy_rows(j, half[h][0], half[h][1], &e1) == SL_OK)
            continue;
        if (e1.cls != SL_PG_DATA || isolate(j, half[h][0], half[h][1], &e1) != SL_OK) {
            *e = e1;
            return SL_EIO;
        }
    }
    return SL_OK;
}

/* The claim's detail: the rows the server refused. NULL: none, or no memory. */
static char *rejects_detail(struct job *j, int *nomem)
{
    struct sl_pg_reject *r;
    size_t n = 0;
    char *s;

    *nomem = 0;
    if (!j->rejected)
        return NULL;
    if (!(r = calloc(j->rejected, sizeof(*r)))) {
        *nomem = 1;
        return NULL;
    }
    for (size_t i = 0; i < j->nrows; i++)
        if (j->bad[i]) {
            uint32_t s_ = j->slot[i];
            r[n].ord = j->ord[i];
            snprintf(r[n].code, sizeof(r[n].code), "%s", j->code[s_]);
            snprintf(r[n].msg, sizeof(r[n].msg), "%s", j->msg[s_] ? j->msg[s_] : "");
            n++;
        }
    s = sl__sink_pg_detail(r, n);
    free(r);
    *nomem = !s;
    return s;
}

/* A load found there: the rows its detail names are refused again. */
static void existed(struct job *j, const char *detail)
{
    struct sl_pg_reject *r = NULL;
    int truncated = 0;
    long n = sl__sink_pg_detail_read(detail, &r, &truncated);

    if (n < 0)
        sl_warn("stream=%s sink=postgresql msg=\"load %s was made before, but its detail in "
                "sluice_loads is not sluice's: every row taken as loaded\"", j->k->stream,
                j->id);
    if (truncated)
        sl_warn("stream=%s sink=postgresql msg=\"load %s was made before, with more refused "
                "rows than its detail holds: the rows it does not name are taken as loaded\"",
                j->k->stream, j->id);
    for (size_t i = 0; n > 0 && i < j->nrows; i++) {
        struct sl_pg_reject key = { .ord = j->ord[i] };
        struct sl_pg_reject *hit = bsearch(&key, r, (size_t)n, sizeof(*r), by_ord);
        if (hit) {
            j->bad[i] = 1;
            j->rejected++;
            refuse(j, j->slot[i], hit->code, hit->msg);
        }
    }
    free(r);
}

/* Ends the transaction on <j->c> (if it can) and gives the connection back. */
static void abandon(struct job *j)
{
    struct sl_pg_err ignored;

    if (!j->c)
        return;
    if (PQstatus(j->c) == CONNECTION_OK && PQtransactionStatus(j->c) != PQTRANS_IDLE)
        sl_pg_conn_exec(j->c, "ROLLBACK", NULL, &ignored);
    sl_pg_conn_give(j->k->pool, j->c, 0);
    j->c = NULL;
}

/* A connection with sluice_loads there and a transaction begun. A dead
 * idle connection (the server restarted) is replaced once. */
static int begin(struct job *j, struct sl_pg_err *e)
{
    struct pg_sink *k = j->k;

    for (int tries = 0;; tries++) {
        if (!(j->c = sl_pg_conn_take(k->pool, e)))
            return SL_EIO;
        int rc = SL_OK;
        if (!atomic_load(&k->ensured) && (rc = sl_pg_conn_loads_ensure(j->c, e)) == SL_OK)
            atomic_store(&k->ensured, 1);
        if (rc == SL_OK)
            rc = sl_pg_conn_exec(j->c, "BEGIN", NULL, e);
        if (rc == SL_OK)
            return SL_OK;
        int lost = PQstatus(j->c) != CONNECTION_OK;
        abandon(j);
        if (!lost || tries)
            return rc;
    }
}

/* COMMIT, and when its answer is lost, whether it happened. */
static int commit(struct job *j, struct sl_pg_err *e)
{
    struct pg_sink *k = j->k;
    struct sl_pg_err e2;

    PGresult *r = NULL;

    if (sl_pg_conn_exec(j->c, "COMMIT", &r, e) == SL_OK) {
        /* a transaction aborted unseen answers COMMIT with "ROLLBACK" */
        int done = strcmp(PQcmdStatus(r), "COMMIT") == 0;
        PQclear(r);
        abandon(j);                       /* idle again: back to the pool */
        if (done)
            return LOAD_DONE;
        memset(e, 0, sizeof(*e));
        e->cls = SL_PG_RETRY, e->cause = SL_RETRY_SERVER;
        snprintf(e->message, sizeof(e->message), "COMMIT rolled the load back");
        return LOAD_RETRY;
    }
    if (PQstatus(j->c) == CONNECTION_OK) {   /* the server said no: 40001, a deferred 23* */
        abandon(j);
        return e->cls == SL_PG_DATA ? LOAD_FAILED : LOAD_RETRY;
    }
    abandon(j);
    if (!(j->c = sl_pg_conn_take(k->pool, &e2)))
        return LOAD_RETRY;
    int there = sl_pg_conn_loaded(j->c, j->id, NULL, &e2);
    abandon(j);
    sl_warn("stream=%s sink=postgresql msg=\"the connection was lost during COMMIT: %s\" "
            "load=%s", k->stream, there == 1 ? "it was committed" : there == 0
            ? "it was not committed, to retry" : "cannot tell, to retry", j->id);
    return there == 1 ? LOAD_DONE : LOAD_RETRY;
}

/* One transaction: claim, COPY (isolating bad rows), COMMIT. */
static int load(struct job *j, struct sl_pg_err *e)
{
    char *detail = NULL;
    int rc, nomem;

    if (begin(j, e) != SL_OK)
        return LOAD_RETRY;
    rc = sl_pg_conn_claim(j->c, j->id, j->k->stream, j->nrows, NULL, 0, e);
    if (rc != SL_OK && rc != SL_EEXIST && strcmp(e->sqlstate, "42P01") == 0)
        atomic_store(&j->k->ensured, 0);  /* sluice_loads dropped: made again next time */
    if (rc == SL_EEXIST) {
        struct sl_pg_err ignored;
        sl_pg_conn_exec(j->c, "ROLLBACK", NULL, &ignored);
        int there = sl_pg_conn_loaded(j->c, j->id, &detail, e);
        abandon(j);
        if (there != 1) {
            if (there == 0)
                snprintf(e->message, sizeof(e->message), "load %s claimed, then not found",
                         j->id);
            free(detail);
            return LOAD_RETRY;
        }
        existed(j, detail);
        free(detail);
        return LOAD_EXISTED;
    }
    if (rc == SL_OK && (rc = copy_rows(j, 0, j->nrows, e)) != SL_OK && e->cls == SL_PG_DATA)
        rc = isolate(j, 0, j->nrows, e);
    if (rc == SL_OK && j->rejected) {
        detail = rejects_detail(j, &nomem);
        if (nomem) {
            snprintf(e->message, sizeof(e->message), "out of memory");
            e->cls = SL_PG_RETRY, e->cause = SL_RETRY_SERVER, e->sqlstate[0] = '\0';
            rc = SL_ENOMEM;
        } else {
            rc = sl_pg_conn_claim_update(j->c, j->id, j->nrows - j->rejected, detail, e);
        }
        free(detail);
    }
    if (rc != SL_OK) {
        abandon(j);
        return LOAD_RETRY;
    }
    return commit(j, e);
}

/* ---- deliver ---- */

/* Each refused record's own words, for its backup envelope. */
static void notes(struct job *j)
{
    const char **codes = calloc(j->nrec ? j->nrec : 1, sizeof(*codes));
    const char **msgs = calloc(j->nrec ? j->nrec : 1, sizeof(*msgs));

    if (codes && msgs) {
        for (size_t i = 0; i < j->nrec; i++)
            if (j->out->record_results[i] == SL_SINK_FAIL) {
                codes[i] = j->code[i];
                msgs[i] = j->msg[i] ? j->msg[i] : "refused";
            }
        j->out->record_notes = sl_batch_notes_errors(j->nrec, codes, msgs, SL_NOTE_BY_SINK,
                                                     j->b->batch->attempts + 1);
    }
    free(codes);
    free(msgs);
}

/* Fills out->result, per_record and error from the records' results. */
static void answer(struct job *j, int how, const struct sl_pg_err *e)
{
    struct sl_sink_outcome *out = j->out;
    struct sl_sink_stats *st = j->b->stats;
    size_t fail = 0, retry = 0;

    for (size_t r = 0; r < j->nrows; r++) {
        uint8_t *res = &out->record_results[j->slot[r]];
        if (how == LOAD_RETRY)
            *res = SL_SINK_RETRY;
        else if (how == LOAD_FAILED && !j->bad[r])
            refuse(j, j->slot[r], e->sqlstate[0] ? e->sqlstate : "22000", e->message);
        else if (!j->bad[r])
            *res = SL_SINK_OK;
    }
    for (size_t i = 0; i < j->nrec; i++) {
        fail += out->record_results[i] == SL_SINK_FAIL;
        retry += out->record_results[i] == SL_SINK_RETRY;
    }
    if (how == LOAD_DONE)
        sl_stat_add(&st->own[PG_ROWS_LOADED], j->nrows - j->rejected);
    if (how == LOAD_EXISTED)
        sl_stat_add(&st->own[PG_LOADS_EXISTING], 1);
    sl_stat_add(&st->own[PG_ROWS_REJECTED], fail);
    if (!fail && !retry) {
        out->result = SL_SINK_OK;
        return;
    }
    out->result = fail ? SL_SINK_FAIL : SL_SINK_RETRY;
    out->per_record = !(fail == j->nrec || retry == j->nrec);
    if (fail)
        notes(j);
    if (how == LOAD_RETRY) {
        out->cause = e->cause;
        snprintf(out->error, sizeof(out->error), "postgresql: %s%s%s%s%s", e->sqlstate,
                 e->sqlstate[0] ? ": " : "", e->message, fail ? "; refused: " : "",
                 fail ? j->first : "");
    } else {
        snprintf(out->error, sizeof(out->error), "postgresql: %zu of %zu records refused "
                 "(%zu not JSON%s); first: %s", fail, j->nrec, j->invalid,
                 j->k->columns ? " objects" : "", j->first);
    }
}

static void pg_deliver(void *ctx, const struct sl_sink_batch *b, struct sl_sink_outcome *out)
{
    struct pg_sink *k = ctx;
    size_t nrec = b->batch->nrecords, m = nrec ? nrec : 1;
    struct job j = { .k = k, .b = b, .out = out, .nrec = nrec };
    struct sl_pg_err e;
    int how;

    memset(&e, 0, sizeof(e));
    out->result = SL_SINK_RETRY;
    sl_buf_init(&j.text, ROWS_MAX);
    j.off = malloc((m + 1) * sizeof(*j.off));
    j.slot = malloc(m * sizeof(*j.slot));
    j.ord = malloc(m * sizeof(*j.ord));
    j.bad = calloc(m, 1);
    j.code = calloc(m, sizeof(*j.code));
    j.msg = calloc(m, sizeof(*j.msg));
    if (!j.off || !j.slot || !j.ord || !j.bad || !j.code || !j.msg || gather(&j) != SL_OK) {
        snprintf(out->error, sizeof(out->error), "postgresql: out of memory preparing %zu "
                 "records", nrec);
        goto out;
    }
    if (j.nrows) {
        sl__sink_pg_load_id(b->stream, sl_batch_id_base(b->batch), j.ord, j.nrows, j.id);
        how = load(&j, &e);
    } else {
        how = LOAD_DONE;                  /* nothing to send: every record refused */
    }
    if (how == LOAD_DONE || how == LOAD_EXISTED || how == LOAD_FAILED)
        set_state(k, PG_UP, j.nrows > 0, NULL);
    else if (e.cls == SL_PG_CONFIG)
        refused(k, &e, "a load");
    else
        set_state(k, PG_DOWN, 0, e.message);
    answer(&j, how, &e);
out:
    sl_buf_destroy(&j.text);
    for (size_t i = 0; j.msg && i < nrec; i++)
        free(j.msg[i]);
    free(j.msg);
    free(j.code);
    free(j.bad);
    free(j.ord);
    free(j.slot);
    free(j.off);
}

/* ---- readiness ---- */

/* Starts the COPY a load runs, then cancels it: table, columns and
 * privileges checked, no row written. */
static void probe(struct pg_sink *k)
{
    struct sl_pg_err e;
    PGconn *c = sl_pg_conn_connect(k->pool, PROBE_TIMEOUT_MS, &e);
    PGresult *r;

    atomic_store(&k->probed_ms, sl_clock_mono_ms());
    if (!c)
        goto bad;
    if (sl_pg_conn_exec(c, "SET statement_timeout = 2000", NULL, &e) != SL_OK)
        goto bad;
    r = PQexec(c, k->copy_sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        sl_pg_conn_classify(c, r, &e);
        PQclear(r);
        goto bad;
    }
    PQclear(r);
    PQputCopyEnd(c, "sluice's readiness probe");   /* fails the COPY on purpose */
    while ((r = PQgetResult(c)))
        PQclear(r);
    PQfinish(c);
    set_state(k, PG_UP, 0, NULL);
    return;
bad:
    PQfinish(c);
    if (e.cls == SL_PG_CONFIG) {
        refused(k, &e, "probing");
    } else {
        char why[300];
        snprintf(why, sizeof(why), "%s%s%s", e.sqlstate, e.sqlstate[0] ? ": " : "", e.message);
        set_state(k, PG_DOWN, 0, why);
    }
}

static int pg_ready(void *ctx, char *why, size_t whylen)
{
    struct pg_sink *k = ctx;
    int st = atomic_load(&k->state);

    if ((st == PG_UNKNOWN ||
         (st != PG_UP && sl_clock_mono_ms() - atomic_load(&k->probed_ms) >= PROBE_MS)) &&
        !atomic_exchange(&k->probing, 1)) {
        probe(k);
        atomic_store(&k->probing, 0);
        st = atomic_load(&k->state);
    }
    if (st == PG_UP)
        return 1;
    pthread_mutex_lock(&k->mu);
    snprintf(why, whylen, "%s", st == PG_UNKNOWN ? "not probed yet" : k->why);
    pthread_mutex_unlock(&k->mu);
    return 0;
}

/* ---- metrics ---- */

static void pg_metrics(struct sl_buf *o, const struct sl_metrics_sink *s, size_t n)
{
    char labels[96];

    sl_metrics_family(o, "sluice_pg_rows_total", "counter",
                      "Rows by what became of them: loaded (committed), rejected (refused "
                      "by the server or not JSON: to backup).");
    for (size_t i = 0; i < n; i++) {
        sl_buf_printf(o, "sluice_pg_rows_total{stream=\"%s\",result=\"loaded\"} %llu\n",
                      s[i].stream,
                      (unsigned long long)atomic_load(&s[i].st->own[PG_ROWS_LOADED]));
        sl_buf_printf(o, "sluice_pg_rows_total{stream=\"%s\",result=\"rejected\"} %llu\n",
                      s[i].stream,
                      (unsigned long long)atomic_load(&s[i].st->own[PG_ROWS_REJECTED]));
    }
    sl_metrics_family(o, "sluice_pg_loads_existing_total", "counter",
                      "Loads whose id was in sluice_loads already: made before (a retry "
                      "after a lost answer, or a replay after a crash), not made again.");
    for (size_t i = 0; i < n; i++)
        sl_buf_printf(o, "sluice_pg_loads_existing_total{stream=\"%s\"} %llu\n", s[i].stream,
                      (unsigned long long)atomic_load(&s[i].st->own[PG_LOADS_EXISTING]));
    sl_metrics_family(o, "sluice_pg_copy_duration_seconds", "histogram",
                      "Time of one COPY statement (a load's, or one of the smaller ones "
                      "that isolate refused rows), its answer read.");
    for (size_t i = 0; i < n; i++) {
        snprintf(labels, sizeof(labels), "stream=\"%s\"", s[i].stream);
        sl_metrics_histogram(o, "sluice_pg_copy_duration_seconds", labels,
                             &s[i].st->own_hist);
    }
}

const struct sl_sink_ops sl_sink_postgresql = {
    .name = "postgresql",
    .prefix = "pg.",
    .shape = SL_SINK_RECORDS,
    .keys = pg_keys,
    .conf_size = sizeof(struct pg_conf),
    .check = pg_check,
    .create = pg_create,
    .deliver = pg_deliver,
    .ready = pg_ready,
    .destroy = pg_destroy,
    .dest = pg_dest,
    .metrics = pg_metrics,
};
