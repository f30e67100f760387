/*
 * sink_pg.h - the pure parts of the PostgreSQL sink (sink_pg.c), for its
 * unit tests: COPY text, a record's fields in columns mode, load ids and
 * the detail of a load's rejected rows. Nothing else includes this; the
 * sink itself is reached through the registry (sink.h) as
 * sl_sink_postgresql.
 *
 * Threads: no state; any thread.
 */
#ifndef SL_SINK_PG_H
#define SL_SINK_PG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "pg_conn.h"

#define SL_PG_DETAIL_MAX 65535      /* sluice_loads.detail: varchar(65535) */
#define SL_PG_COLUMNS_MAX 64

/* Appends <p> (<n> bytes) to <out> as one field of COPY's text format:
 * backslash, tab, newline and carriage return escaped (\\ \t \n \r), a
 * NUL byte as \000 (which the server refuses: a row of its own then).
 * SL_OK or sl_buf_append's error. */
int sl__sink_pg_copy_escape(struct sl_buf *out, const void *p, size_t n);

/* 1 if <p> (<n> bytes) is one JSON value (an object when <want_object>),
 * else 0 with <why>. Integers beyond 64 bits are JSON: the server takes
 * them. */
int sl__sink_pg_json_ok(const uint8_t *p, size_t n, int want_object, char *why,
                        size_t whylen);

/*
 * Appends the COPY text fields of the JSON object <p> (<n> bytes, checked
 * by sl__sink_pg_json_ok) for columns <cols>, tab-separated, no newline:
 * each column gets the top-level field of its name (the last one if it
 * repeats), a string as its text, a number, true or false as written, an
 * object or array as its JSON text as written, null or a missing field as
 * NULL (\N). SL_OK, or sl_buf_append's error.
 */
int sl__sink_pg_columns_row(const uint8_t *p, size_t n, const char *const *cols, size_t ncols,
                            struct sl_buf *out);

/* The load id of the rows sent from a part: "pg1-" and the SHA-256 (hex)
 * of <stream>, the id base of the batch (sl_batch_id_base) and the <n>
 * record numbers <ords>, in order. */
void sl__sink_pg_load_id(const char *stream, const uint8_t base[16], const uint32_t *ords,
                         size_t n, char out[SL_PG_LOAD_ID_MAX + 1]);

/* A row the server refused in a load: its record number, SQLSTATE, message. */
struct sl_pg_reject {
    uint32_t ord;
    char code[6];
    char msg[256];
};

/*
 * The detail of a load (sluice_loads.detail): JSON text, at most
 * SL_PG_DETAIL_MAX bytes, {"rejected":[[ORD,"CODE","MESSAGE"],...]}; the
 * messages shortened, then left out, as needed to fit; "truncated":true
 * when even the numbers do not (the rows left out are answered OK on a
 * replay). A new string (free()), or NULL when out of memory.
 */
char *sl__sink_pg_detail(const struct sl_pg_reject *r, size_t n);
/* Reads <detail> (NULL: none): *<out> gets a new array (free()) of its
 * rejected rows sorted by ord, *<truncated> its flag. The count, or -1
 * when it is not a detail this sink wrote. */
long sl__sink_pg_detail_read(const char *detail, struct sl_pg_reject **out, int *truncated);

#endif
