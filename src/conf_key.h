/*
 * conf_key.h - tables of config keys, and the setters that parse them.
 *
 * A section's keys are a static table (nginx's directive tables, Fluent
 * Bit's config maps): name, type, bounds, default, where the value goes in
 * the section's struct, help. The config loader reads [sluice] and
 * [stream NAME] through such tables; each sink and source declares its own
 * (sink.h, source.h) and the loader hands it the keys under its prefix.
 * Defaults are parsed by the same setter as a user's value.
 *
 * Threads: tables are constant; a section's struct is written only while
 * its file is loaded (one thread), and read-only after.
 */
#ifndef SL_CONF_KEY_H
#define SL_CONF_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum sl_conf_type {
    SL_K_SIZE,                  /* "5MiB": uint64_t bytes */
    SL_K_DURATION,              /* "60s": int64_t milliseconds */
    SL_K_UINT,                  /* "8": uint64_t */
    SL_K_STRING,                /* char[size]; min 1: must not be empty */
    SL_K_ENUM,                  /* one of enums[]: int index, or char[size] when size */
    SL_K_ADDR,                  /* "HOST:PORT" or "": char[size], checked */
    SL_K_MAP,                   /* a row named "PREFIX*": every key PREFIXNAME, kept as
                                 * "NAME=VALUE\n" lines in char[size] (a library's
                                 * own properties: kafka.option.NAME) */
};

struct sl_conf_key {
    const char *name;
    enum sl_conf_type type;
    size_t off;                 /* offsetof in the section's struct */
    size_t size;                /* strings (and enums stored as names): the field's size */
    uint64_t min, max;          /* bounds, in bytes, ms or units */
    const char *def;            /* default, parsed like a user value; NULL: none */
    const char *const *enums;   /* SL_K_ENUM: NULL-terminated names */
    const char *help;
};

/* Rows of a table, for brevity in the tables themselves. */
#define SL_KB 1024ULL
#define SL_MB (1024ULL * SL_KB)
#define SL_GB (1024ULL * SL_MB)
#define SL_SEC 1000ULL
#define SL_KSTR(type, f) offsetof(type, f), sizeof(((type *)0)->f)

extern const char *const sl_conf_bool[];   /* "false", "true" */

/* Where each key of a section was set, for messages about it. A table
 * holds at most 64 keys. */
struct sl_conf_marks {
    uint64_t seen;              /* bit i: key i was set */
    uint64_t bad;               /* bit i: ... to a value that failed */
    int      line[64];          /* line of key i, when seen */
};

/* Stores <value> for key <k> into <base>; for an SL_K_MAP row, <name> is
 * the key as written (its NAME follows the row's prefix), else unused
 * (may be NULL). SL_OK, or an error with why: a NAME given twice among
 * them. */
int sl_conf_key_set_named(const struct sl_conf_key *k, void *base, const char *name,
                          const char *value, char *why, size_t whylen);
/* The NAME=VALUE lines of an SL_K_MAP field, one at a time: *<pos> starts
 * at 0; 1 with <name> and <value> (NUL-terminated copies into the
 * buffers, cut to their sizes) or 0 at the end. */
int sl_conf_key_map_next(const char *field, size_t *pos, char *name, size_t namelen,
                         char *value, size_t valuelen);
/* Stores <value> for key <k> into <base>. SL_OK, or an error with why. */
int sl_conf_key_set(const struct sl_conf_key *k, void *base, const char *value, char *why,
                    size_t whylen);
/* Sets every key of <keys> that has a default. */
void sl_conf_key_defaults(const struct sl_conf_key *keys, void *base);
/* Index of <name> in <keys>, or -1: its row, or the SL_K_MAP row whose
 * prefix it starts with (and goes beyond). */
int sl_conf_key_index(const struct sl_conf_key *keys, const char *name);
/* 1 if <name> (of <keys>) was set in the section, to a value that failed. */
int sl_conf_key_bad(const struct sl_conf_key *keys, const struct sl_conf_marks *m,
                    const char *name);
/* The line of <name> when it was set, else <section_line>. */
int sl_conf_key_line(const struct sl_conf_key *keys, const struct sl_conf_marks *m,
                     const char *name, int section_line);
/* 1 if two sections' values of every key in <keys> are equal. Else 0 with
 * the first that differs in *<which>. */
int sl_conf_key_same(const struct sl_conf_key *keys, const void *a, const void *b,
                     const char **which);

/*
 * What a table's cross-key check gets: the table, where its keys were set,
 * and where to report. A report names the key and its line (the section's
 * header when the key was not set); the loader prefixes file and section.
 */
struct sl_partition_spec;         /* partition-t.h */

struct sl_conf_check {
    const struct sl_conf_key *keys;
    const struct sl_conf_marks *marks;
    int section_line;
    const struct sl_partition_spec *partition;  /* a sink's check: its stream's
                                 * partition_keys, parsed; NULL when they are bad */
    int errors;                 /* reports made */
    void (*report)(void *arg, int line, const char *key, const char *msg);
    void *arg;
};

void sl_conf_key_check_err(struct sl_conf_check *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 1 if <key> was set to a value that failed: a check on it would only
 * repeat that error with the default. */
int sl_conf_key_check_bad(const struct sl_conf_check *c, const char *key);

/* "default" as --help and the docs show it: the value, "" or - (none). */
const char *sl_conf_key_shown_default(const struct sl_conf_key *k);
/* Widens *<name_w> and *<def_w> to the widest name and default of <keys>. */
void sl_conf_key_widths(const struct sl_conf_key *keys, int *name_w, int *def_w);
/* Appends each key of <keys> as a --help line. */
void sl_conf_key_describe(struct sl_buf *out, const struct sl_conf_key *keys, int name_w,
                          int def_w);
/* Appends each key of <keys> as a row of a Markdown table (key, default,
 * meaning), for docs/configuration.md. */
void sl_conf_key_markdown(struct sl_buf *out, const struct sl_conf_key *keys);

#endif
