/*
 * pg_conn.h - sluice's connections to PostgreSQL, and to Redshift, which
 * speaks PostgreSQL's protocol, over libpq: what the postgresql and the
 * redshift sinks share.
 *
 * A pool is made once per sink instance from a libpq connection string
 * (key=value pairs or a postgresql:// URI: sslmode, sslrootcert,
 * target_session_attrs and the rest of libpq's keys are honoured as
 * libpq reads them). It owns:
 *  - at most max_connections open connections, connected on demand and
 *    kept for reuse; a caller finding them all taken waits for one;
 *  - the password: from password_file (libpq's passfile), else libpq's
 *    own ways (PGPASSFILE, ~/.pgpass, the string itself);
 *  - one reading of a failure, as the engine needs it (enum sl_pg_class),
 *    with the server's SQLSTATE and message, never the statement sent
 *    (libpq's error text may quote it, and a COPY's text may carry
 *    credentials);
 *  - the load-id table, sluice_loads, that makes a load happen once
 *    (sinks-contract.md B7): a load claims its id in the transaction that
 *    loads, so the id is there exactly when the rows are.
 *
 * Connections get, unless the string says otherwise, client_encoding
 * UTF8 (records are UTF-8 JSON), fallback_application_name "sluice" and
 * TCP keepalives (idle 30 s, interval 10 s, count 3), so that a peer gone
 * silent fails a statement in about a minute rather than hours.
 *
 * Threads: the pool is under its own mutex, never held during a statement;
 * a connection taken from it belongs to the taker until it is given back.
 * new() and free() run on one thread with no connection taken.
 */
#ifndef SL_PG_CONN_H
#define SL_PG_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

/* The table of loads, created by sl_pg_conn_loads_ensure() if missing. */
#define SL_PG_LOADS_TABLE "sluice_loads"
#define SL_PG_LOAD_ID_MAX 80          /* a load id's characters at most, NUL excluded */

struct sl_pg_conn_options {
    const char *conninfo;             /* libpq's connection string */
    const char *password_file;        /* "" or NULL: libpq's own */
    unsigned max_connections;         /* >= 1 */
    int64_t connect_timeout_ms;       /* when the string sets no connect_timeout */
    const char *what;                 /* "postgresql", "redshift": in messages */
    const char *session_sql;          /* NULL, or run on each new connection (SET ...);
                                       * a connection it fails on is not used */
};

/* What a failure means. */
enum sl_pg_class {
    SL_PG_OK,
    /* Try again later: no connection or a lost one, 08*, 40001
     * serialization, 40P01 deadlock, 57P01-57P03 shutdown or restart,
     * 53* out of resources (53300 too many connections), 55P03 lock not
     * available, 57014 statement timeout; XX000 (an internal error, and
     * Redshift's failed load), an unknown SQLSTATE too. */
    SL_PG_RETRY,
    /* The rows: 22* data exception (invalid JSON, a value too long),
     * 23* integrity (NOT NULL, CHECK; 23505 outside the load-id claim),
     * 54* program limit (a row too large). The same rows will fail the
     * same way: isolate them, or give up on them. */
    SL_PG_DATA,
    /* The configuration: 42P01 no table, 42703 no column, 42501 no
     * privilege, 42601 syntax (copy options), 28* authentication, 3D000 no
     * database, 0A000 not supported, a bad connection string. An operator
     * must act; retried slowly, and the stream is not ready meanwhile. */
    SL_PG_CONFIG,
};

struct sl_pg_err {
    int cls;                          /* enum sl_pg_class */
    int cause;                        /* enum sl_retry_cause (metrics.h) of SL_PG_RETRY,
                                       * SL_RETRY_FORBIDDEN of SL_PG_CONFIG */
    char sqlstate[6];                 /* "" when the server said nothing */
    char message[256];                /* the server's primary message, ": " and its
                                       * detail if any; or libpq's, first line only */
};

struct sl_pg_pool;

/* A pool for <o>. NULL with <err> when the connection string does not
 * parse (PQconninfoParse's words) or memory runs out. Connects nothing. */
struct sl_pg_pool *sl_pg_conn_pool_new(const struct sl_pg_conn_options *o, char *err,
                                       size_t errlen);
void sl_pg_conn_pool_free(struct sl_pg_pool *p);

/* A connection, idle and outside a transaction: an idle one from the
 * pool, or a new one when fewer than max_connections are open. Waits for
 * one otherwise. NULL with <e> when connecting failed. */
PGconn *sl_pg_conn_take(struct sl_pg_pool *p, struct sl_pg_err *e);
/* A connection outside the pool (not counted in max_connections), for a
 * probe: connect_timeout <timeout_ms> (at least 2 s, libpq's least) unless
 * the string sets one. The caller's, to PQfinish. NULL with <e>. */
PGconn *sl_pg_conn_connect(struct sl_pg_pool *p, int64_t timeout_ms, struct sl_pg_err *e);
/* Gives <c> back. <broken>, a connection not CONNECTION_OK or one left in
 * a transaction: closed instead of kept. */
void sl_pg_conn_give(struct sl_pg_pool *p, PGconn *c, int broken);

/* Runs <sql> (no parameters). SL_OK when it completed (COMMAND_OK,
 * TUPLES_OK); else an error with <e> filled. <res>: when not NULL, gets
 * the result of a success, the caller's to PQclear. */
int sl_pg_conn_exec(PGconn *c, const char *sql, PGresult **res, struct sl_pg_err *e);
/* The same with text parameters $1..$<n>. */
int sl_pg_conn_exec_params(PGconn *c, const char *sql, int n, const char *const *params,
                           PGresult **res, struct sl_pg_err *e);
/* Fills <e> from a failed result <r> (NULL: none came) on <c>. */
void sl_pg_conn_classify(PGconn *c, const PGresult *r, struct sl_pg_err *e);

/* The class (enum sl_pg_class) of SQLSTATE <state> (5 characters; anything
 * else is SL_PG_RETRY), and in *<cause> (may be NULL) its enum
 * sl_retry_cause. What sl_pg_conn_classify() uses; beyond the classes
 * above, 54* (program limit: a row too large) is SL_PG_DATA, and the
 * whole of 42* (syntax or access rule) and 3F000 (no schema) SL_PG_CONFIG. */
int sl_pg_conn_class_of(const char *state, int *cause);

/* "name" with its quotes doubled: an identifier for a statement, a
 * schema-qualified one ("s.t") quoted part by part. SL_ETOOBIG if it does
 * not fit <len>. */
int sl_pg_conn_quote_ident(const char *name, char *out, size_t len);
/* 'text' with its quotes doubled, for a literal. SL_ETOOBIG likewise. */
int sl_pg_conn_quote_literal(const char *text, char *out, size_t len);

/* Creates sluice_loads if it is missing:
 *   load_id varchar(80) PRIMARY KEY, stream varchar(128) NOT NULL,
 *   records bigint NOT NULL, detail varchar(65535), loaded_at timestamp NOT NULL
 * (types Redshift has too). Outside a transaction. SL_OK or an error. */
int sl_pg_conn_loads_ensure(PGconn *c, struct sl_pg_err *e);

/*
 * Claims <load_id> for stream <stream> inside the caller's open
 * transaction, with <records> and <detail> (may be NULL) in its row.
 *   <lock> = 0 (PostgreSQL, which enforces the key): INSERT under a
 *     savepoint; 23505 means loaded before.
 *   <lock> = 1 (Redshift, which does not): LOCK sluice_loads, then SELECT
 *     the id, then INSERT if absent; the lock holds to the end of the
 *     transaction, so no two loads of one id overlap.
 * SL_OK: claimed, load now. SL_EEXIST: loaded before; the transaction is
 * still open and usable: roll it back. Else an error with <e>.
 */
int sl_pg_conn_claim(PGconn *c, const char *load_id, const char *stream, uint64_t records,
                     const char *detail, int lock, struct sl_pg_err *e);
/* Sets the claimed row's records and detail, inside the same transaction
 * (a load that rejected rows says which). SL_OK or an error. */
int sl_pg_conn_claim_update(PGconn *c, const char *load_id, uint64_t records,
                            const char *detail, struct sl_pg_err *e);
/* After a COMMIT whose answer was lost: on a fresh connection, 1 if
 * <load_id> is in sluice_loads (the commit happened), 0 if not, -1 with
 * <e> when it cannot be told. <detail>, when not NULL, gets the row's
 * detail (malloc'ed, the caller's; NULL when none). */
int sl_pg_conn_loaded(PGconn *c, const char *load_id, char **detail, struct sl_pg_err *e);

#endif
