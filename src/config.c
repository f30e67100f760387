/*
 * config.c - INI config: the [sluice] and [stream NAME] key tables, the
 * hand-off of other keys to the sources and sinks that own them, and the
 * checks between keys. The setters are conf_key.c's.
 *
 * libinih calls handler() once per key. It does not pass line numbers in
 * Debian's build, so the file is fed through line_reader(), which counts
 * the lines it hands out: the handler always runs for the line read last.
 *
 * Defaults are applied by parsing each key's default string with the same
 * setter as a user's value (nginx's merge_conf, in one place), before the
 * section's keys are read.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "log.h"
#include "sluice/err.h"
#include "objkey.h"
#include "partition.h"
#include "sink.h"
#include "source.h"
#include "units.h"

static const char *const level_enum[] = { "debug", "info", "warn", "error", NULL };
static const char *const comp_enum[]  = { "none", "gzip", "zstd", NULL };
static const char *const delim_enum[] = { "newline", "none", NULL };
static const char *const backup_enum[] = { "failed", "all", NULL };
static const char *const durability_enum[] = { "memory", "disk", NULL };

#define KIB SL_KB
#define MIB SL_MB
#define GIB SL_GB
#define SEC SL_SEC
#define P(f) offsetof(struct sl_config, f)
#define S(f) offsetof(struct sl_stream_conf, f)
#define STR(f, t) SL_KSTR(t, f)

static const struct sl_conf_key process_keys[] = {
    { "metrics_listen", SL_K_ADDR, STR(metrics_listen, struct sl_config), 0, 0,
      "127.0.0.1:9440", NULL, "HOST:PORT of /metrics, /healthz, /readyz" },
    { "data_dir", SL_K_STRING, STR(data_dir, struct sl_config), 1, 0,
      "/var/lib/sluice", NULL, "state directory; default parent of backup.path" },
    { "region", SL_K_STRING, STR(region, struct sl_config), 1, 0, "us-east-1", NULL,
      "AWS region named in the ARNs of the HTTP API's answers (DescribeDeliveryStream)" },
    { "log_level", SL_K_ENUM, P(log_level), 0, 0, 3, "info", level_enum,
      "debug, info, warn or error" },
    { "workers", SL_K_UINT, P(workers), 0, 1, 256, NULL, NULL,
      "delivery workers shared by all streams (default: number of cores)" },
    { "shutdown_timeout", SL_K_DURATION, P(shutdown_timeout_ms), 0, 0, 3600 * SEC,
      "30s", NULL, "how long SIGTERM waits for in-flight deliveries" },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

static const struct sl_conf_key stream_keys[] = {
    { "buffer_size", SL_K_SIZE, S(buffer_size), 0, KIB, 128 * MIB, "5MiB", NULL,
      "seal a batch when its records reach this many bytes" },
    { "buffer_interval", SL_K_DURATION, S(buffer_interval_ms), 0, 0, 900 * SEC, "60s", NULL,
      "seal a batch when its oldest record is this old" },
    { "max_buffered", SL_K_SIZE, S(max_buffered), 0, KIB, 64 * GIB, "256MiB", NULL,
      "bytes held in all stages before producers are pushed back" },
    { "max_record_size", SL_K_SIZE, S(max_record_size), 0, 1, 1000 * KIB, "1000KiB", NULL,
      "longer records are rejected and counted" },
    { "record_delimiter", SL_K_ENUM, S(delimiter), 0, 0, 1, "newline", delim_enum,
      "newline: append \\n to each record that lacks one; none" },
    { "compression", SL_K_ENUM, S(compression), 0, 0, 2, "gzip", comp_enum,
      "none, gzip or zstd" },
    { "compression_level", SL_K_UINT, S(compression_level), 0, 1, 19, NULL, NULL,
      "gzip 1-9 (default 6), zstd 1-19 (default 3)" },
    { "prefix", SL_K_STRING, STR(prefix, struct sl_stream_conf), 0, 0, "", NULL,
      "object key prefix, with expressions; YYYY/MM/DD/HH/ is appended if it has no time" },
    { "partition_keys", SL_K_STRING, STR(partition_keys, struct sl_stream_conf), 0, 0, "", NULL,
      "dynamic partitioning: NAME=.json.path, ... (use !{partitionKeyFromQuery:NAME} in prefix)" },
    { "max_partitions", SL_K_UINT, S(max_partitions), 0, 1, 5000, "500", NULL,
      "distinct partition key sets in one batch; records of more go to backup" },
    { "error_prefix", SL_K_STRING, STR(error_prefix, struct sl_stream_conf), 0, 0,
      "", NULL, "key prefix of failed records' objects (default PREFIX + the error "
      "output type + /)" },
    { "retry_duration", SL_K_DURATION, S(retry_duration_ms), 0, 0, 7200 * SEC, "300s", NULL,
      "how long a failing batch is retried before it goes to backup (the sink's own "
      "default when it has one: redshift 3600s)" },
    { "sink", SL_K_ENUM, STR(sink, struct sl_stream_conf), 0, 0, SL_SINK_DEFAULT, sl_sink_enum,
      "where batches go: a sink's name (its keys are listed under it)" },
    { "transforms", SL_K_STRING, STR(transforms, struct sl_stream_conf), 0, 0, "", NULL,
      "[transform NAME] sections each batch goes through, in order: a, b, c" },
    { "backup", SL_K_ENUM, S(backup_mode), 0, 0, 1, "failed", backup_enum,
      "failed: back up what fails; all: also keep every source record untransformed" },
    { "backup.prefix", SL_K_STRING, STR(backup_prefix, struct sl_stream_conf), 0, 0,
      "source-records/", NULL, "backup = all: key prefix of the source records' objects" },
    { "backup.path", SL_K_STRING, STR(backup_path, struct sl_stream_conf), 1, 0, NULL, NULL,
      "root directory for failed records (default DATA_DIR/backup; S3: the bucket)" },
    { "durability", SL_K_ENUM, S(durability), 0, 0, 1, "memory", durability_enum,
      "memory: a crash loses what is buffered; disk: a write-ahead log under "
      "DATA_DIR/STREAM/ keeps every acknowledged record (needs a restart to change)" },
    { "wal.segment_size", SL_K_SIZE, S(wal_segment_size), 0, MIB, GIB, "64MiB", NULL,
      "durability = disk: size of one log file; whole files are deleted once settled" },
    { "wal.max_size", SL_K_SIZE, S(wal_max_size), 0, 4 * MIB, 1024 * GIB, "2GiB", NULL,
      "durability = disk: log bytes on disk before producers are pushed back" },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

static int any_bad(const struct sl_stream_conf *s, const char *a, const char *b,
                   const char *c);
static int key_line(const struct sl_stream_conf *s, const char *name);


/* Parser state while one file is read. */
struct parse {
    const char *path;
    FILE *fp;
    int line;                     /* line last handed to inih */
    struct sl_config *c;
    struct sl_stream_conf *cur;   /* stream section being read, or NULL */
    struct sl_transform_conf *tf; /* transform section being read, or NULL */
    int in_process;               /* in [sluice] */
    int bad_section;              /* skip keys of an unknown section */
    size_t cap;                   /* streams allocated */
    size_t tcap;                  /* transforms allocated */
    struct sl_buf *errs;
    int nerr;
    /* The current stream's sink keys, by sink (registry order), parsed
     * into each sink's struct: the stream's sink is known only once its
     * section ends (end_stream). conf owned; NULL: no key of that sink. */
    struct { void *conf; struct sl_conf_marks marks; } sinks[SL_SINK_MAX];
};

static void perr(struct parse *p, int line, const char *section, const char *key,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void perr(struct parse *p, int line, const char *section, const char *key,
                 const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sl_buf_printf(p->errs, "%s:%d: [%s]%s%s: %s\n", p->path, line, section,
                  key ? " " : "", key ? key : "", msg);
    p->nerr++;
}

static int valid_stream_name(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > SL_NAME_MAX)
        return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789_.-") == n;
}

/* A [transform NAME] header. */
static void begin_transform(struct parse *p, const char *section, const char *name)
{
    struct sl_config *c = p->c;

    p->bad_section = 1;
    if (!valid_stream_name(name)) {
        perr(p, p->line, section, NULL,
             "transform name must be 1-64 characters of [a-zA-Z0-9_.-]");
        return;
    }
    for (size_t i = 0; i < c->ntransforms; i++) {
        if (strcmp(c->transforms[i].name, name) == 0) {
            perr(p, p->line, section, NULL, "transform defined twice (first at line %d)",
                 c->transforms[i].line);
            return;
        }
    }
    if (c->ntransforms == p->tcap) {
        size_t cap = p->tcap ? p->tcap * 2 : 4;
        struct sl_transform_conf *t = realloc(c->transforms, cap * sizeof(*t));
        if (!t) {
            perr(p, p->line, section, NULL, "out of memory");
            return;
        }
        c->transforms = t;
        p->tcap = cap;
    }
    p->tf = &c->transforms[c->ntransforms++];
    memset(p->tf, 0, sizeof(*p->tf));
    snprintf(p->tf->name, sizeof(p->tf->name), "%s", name);
    p->tf->line = p->line;
    p->bad_section = 0;
}

/* A key of a [transform NAME] section: type and path are sluice's, the
 * rest is kept for the transform's create() (transform.h). */
static void transform_key(struct parse *p, const char *section, const char *name,
                          const char *value)
{
    struct sl_transform_conf *t = p->tf;

    for (size_t i = 0; i < t->nkv; i++)
        if (strcmp(t->kv[i].key, name) == 0) {
            perr(p, p->line, section, name, "set twice in one section (first at line %d)",
                 t->lines[i]);
            return;
        }
    int first = strcmp(name, "type") == 0 ? t->type_line
              : strcmp(name, "path") == 0 ? t->path_line : 0;
    if (first) {
        perr(p, p->line, section, name, "set twice in one section (first at line %d)", first);
        return;
    }
    if (strcmp(name, "type") == 0) {
        /* the type itself is checked with the transform's keys (transform.h) */
        t->type_line = p->line;
        if (strlen(value) >= sizeof(t->type))
            perr(p, p->line, section, name, "'%s' is not a transform type", value);
        snprintf(t->type, sizeof(t->type), "%s", value);
        return;
    }
    if (strcmp(name, "path") == 0) {
        if (!value[0] || strlen(value) >= sizeof(t->path))
            perr(p, p->line, section, name, "must be a file path of 1-%zu characters",
                 sizeof(t->path) - 1);
        else
            snprintf(t->path, sizeof(t->path), "%s", value);
        t->path_line = p->line;
        return;
    }
    struct sl_tf_kv *kv = realloc(t->kv, (t->nkv + 1) * sizeof(*kv));
    if (kv)
        t->kv = kv;
    int *lines = kv ? realloc(t->lines, (t->nkv + 1) * sizeof(*lines)) : NULL;
    if (lines)
        t->lines = lines;
    char *k = lines ? strdup(name) : NULL, *v = k ? strdup(value) : NULL;
    if (!v) {
        free(k);
        perr(p, p->line, section, name, "out of memory");
        return;
    }
    t->kv[t->nkv] = (struct sl_tf_kv){ k, v };
    t->lines[t->nkv++] = p->line;
}

/* The registry position of <ops>. */
static size_t sink_slot(const struct sl_sink_ops *ops)
{
    size_t i = 0;

    while (sl_sink_at(i) != ops)
        i++;
    return i;
}

/* A new struct of <size> bytes for <keys> (NULL: none), with its
 * defaults; NULL if out of memory. */
static void *conf_new(const struct sl_conf_key *keys, size_t size)
{
    void *conf = calloc(1, size ? size : 1);

    if (conf && keys)
        sl_conf_key_defaults(keys, conf);
    return conf;
}

/* A sink's keys with their defaults, its stage sink's included. */
static void *sink_conf_new(const struct sl_sink_ops *ops)
{
    const struct sl_sink_ops *st = sl_sink_stage(ops);
    void *conf = conf_new(ops->keys, sl_sink_conf_size(ops));

    if (conf && st && st->keys)
        sl_conf_key_defaults(st->keys, sl_sink_stage_conf(ops, conf));
    return conf;
}

/* Sets key <name> of <keys> (NULL: none) into <base>, marked in <mk>.
 * Returns 0 if <keys> has no such key. */
static int table_key(struct parse *p, const struct sl_conf_key *keys, void *base,
                     struct sl_conf_marks *mk, const char *section, const char *name,
                     const char *value)
{
    int i = keys ? sl_conf_key_index(keys, name) : -1;
    char why[512];

    if (i < 0)
        return 0;
    if (!base) {
        perr(p, p->line, section, name, "out of memory");
    } else if ((mk->seen & (1ULL << i)) && keys[i].type != SL_K_MAP) {
        perr(p, p->line, section, name, "set twice in one section (first at line %d)",
             mk->line[i]);
    } else {
        mk->seen |= 1ULL << i;
        mk->line[i] = p->line;
        if (sl_conf_key_set_named(&keys[i], base, name, value, why, sizeof(why)) != SL_OK) {
            mk->bad |= 1ULL << i;
            perr(p, p->line, section, name, "%s", why);
        }
    }
    return 1;
}

/* A key under a sink's prefix, in a [stream NAME] section. */
static void sink_key(struct parse *p, const struct sl_sink_ops *ops, const char *section,
                     const char *name, const char *value)
{
    size_t slot = sink_slot(ops);

    if (!ops->keys || sl_conf_key_index(ops->keys, name) < 0 || slot >= SL_SINK_MAX) {
        perr(p, p->line, section, name, "unknown key");
        return;
    }
    if (!p->sinks[slot].conf && !(p->sinks[slot].conf = sink_conf_new(ops))) {
        perr(p, p->line, section, name, "out of memory");
        return;
    }
    table_key(p, ops->keys, p->sinks[slot].conf, &p->sinks[slot].marks, section, name, value);
}

/* The end of a [stream NAME] section: its sink is known now. Its keys go
 * to the stream, and so do its stage sink's (sink.h); keys of any other
 * sink are mistakes, not settings to ignore. */
static void end_stream(struct parse *p)
{
    struct sl_stream_conf *s = p->cur;
    const struct sl_sink_ops *ops = NULL, *stage = NULL;
    char sec[80];

    if (!s)
        return;
    snprintf(sec, sizeof(sec), "stream %s", s->name);
    if (!any_bad(s, "sink", NULL, NULL))
        ops = sl_sink_find(s->sink);    /* the key's enum is the registry's names */
    if (ops) {
        size_t own = sink_slot(ops);
        stage = sl_sink_stage(ops);
        s->sink_conf = p->sinks[own].conf ? p->sinks[own].conf : sink_conf_new(ops);
        s->sink_marks = p->sinks[own].marks;
        p->sinks[own].conf = NULL;
        if (!s->sink_conf)
            perr(p, s->line, sec, "sink", "out of memory");
    }
    for (size_t i = 0; i < SL_SINK_MAX; i++) {
        const struct sl_sink_ops *o = sl_sink_at(i);
        if (!p->sinks[i].conf)
            continue;
        if (o == stage && s->sink_conf) {
            memcpy(sl_sink_stage_conf(ops, s->sink_conf), p->sinks[i].conf, o->conf_size);
            s->stage_marks = p->sinks[i].marks;
        } else {
            for (int k = 0; ops && o->keys[k].name; k++)
                if (p->sinks[i].marks.seen & (1ULL << k))
                    perr(p, p->sinks[i].marks.line[k], sec, o->keys[k].name,
                         "set, but sink = %s", s->sink);
        }
        free(p->sinks[i].conf);
    }
    memset(p->sinks, 0, sizeof(p->sinks));
    s->sink_ops = s->sink_conf ? ops : NULL;
}

/* A new section header: [sluice], [stream NAME] or [transform NAME]. */
static void begin_section(struct parse *p, const char *section)
{
    end_stream(p);
    p->cur = NULL;
    p->tf = NULL;
    p->in_process = 0;
    p->bad_section = 0;
    if (strcmp(section, "sluice") == 0) {
        p->in_process = 1;
        return;
    }
    if (strncmp(section, "transform ", 10) == 0) {
        begin_transform(p, section, section + 10);
        return;
    }
    if (strncmp(section, "stream ", 7) != 0) {
        perr(p, p->line, section, NULL,
             "unknown section (expected [sluice], [stream NAME] or [transform NAME])");
        p->bad_section = 1;
        return;
    }
    const char *name = section + 7;
    if (!valid_stream_name(name)) {
        perr(p, p->line, section, NULL,
             "stream name must be 1-64 characters of [a-zA-Z0-9_.-]");
        p->bad_section = 1;
        return;
    }
    for (size_t i = 0; i < p->c->nstreams; i++) {
        if (strcmp(p->c->streams[i].name, name) == 0) {
            perr(p, p->line, section, NULL, "stream defined twice (first at line %d)",
                 p->c->streams[i].line);
            p->bad_section = 1;
            return;
        }
    }
    if (p->c->nstreams == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4;
        struct sl_stream_conf *s = realloc(p->c->streams, cap * sizeof(*s));
        if (!s) {
            perr(p, p->line, section, NULL, "out of memory");
            p->bad_section = 1;
            return;
        }
        p->c->streams = s;
        p->cap = cap;
    }
    p->cur = &p->c->streams[p->c->nstreams++];
    memset(p->cur, 0, sizeof(*p->cur));
    snprintf(p->cur->name, sizeof(p->cur->name), "%s", name);
    p->cur->line = p->line;
    sl_conf_key_defaults(stream_keys, p->cur);
    const struct sl_source_ops *o;
    for (size_t i = 0; (o = sl_source_at(i)); i++)
        if (!(p->cur->source_conf[i] = conf_new(o->stream_keys, o->stream_size)))
            perr(p, p->line, section, NULL, "out of memory");
}

/* A key of [sluice] or [stream NAME] that a source owns: a row of one of
 * its tables (an SL_K_MAP row takes the free-form keys under its prefix,
 * kafka.option.NAME). Returns 0 if no source owns it. */
static int source_key(struct parse *p, const char *section, const char *name,
                      const char *value)
{
    const struct sl_source_ops *o;

    for (size_t i = 0; (o = sl_source_at(i)); i++) {
        if (p->in_process ? table_key(p, o->process_keys, p->c->source_conf[i],
                                      &p->c->source_marks[i], section, name, value)
                          : table_key(p, o->stream_keys, p->cur->source_conf[i],
                                      &p->cur->source_marks[i], section, name, value))
            return 1;
    }
    return 0;
}

/* One key: the section's own table first, then the sources', then the
 * stream's sinks'. */
static int handler(void *user, const char *section, const char *name, const char *value)
{
    struct parse *p = user;

    if (p->bad_section)
        return 1;
    if (p->tf) {
        transform_key(p, section, name, value);
        return 1;
    }
    if (!p->in_process && !p->cur) {
        perr(p, p->line, section[0] ? section : "-", name, "key outside of any section");
        return 1;
    }
    if (p->in_process ? table_key(p, process_keys, p->c, &p->c->marks, section, name, value)
                      : table_key(p, stream_keys, p->cur, &p->cur->marks, section, name, value))
        return 1;
    if (source_key(p, section, name, value))
        return 1;
    const struct sl_sink_ops *ops = p->cur ? sl_sink_by_key(name) : NULL;
    if (ops)
        sink_key(p, ops, section, name, value);
    else
        perr(p, p->line, section, name, "unknown key");
    return 1;
}

/*
 * Hands inih one line at a time and counts them. Debian's inih does not
 * call the handler for a section header, so a header is noticed here:
 * that way an empty [stream x] still gets its defaults and checks.
 */
static char *line_reader(char *str, int num, void *stream)
{
    struct parse *p = stream;
    char *r = fgets(str, num, p->fp);
    char name[128];
    const char *b, *e;
    size_t n;

    if (!r)
        return NULL;
    p->line++;
    n = strlen(str);
    if (n == (size_t)num - 1 && str[n - 1] != '\n' && !feof(p->fp)) {
        /* libinih reads into a fixed buffer: a longer line would be split
         * and its tail parsed as a line of its own. Refuse it whole. */
        int ch;
        char *eq = strchr(str, '=');
        size_t klen = eq ? (size_t)(eq - str) : 0;
        while (klen > 0 && (str[klen - 1] == ' ' || str[klen - 1] == '\t'))
            klen--;
        perr(p, p->line, "-", NULL, "line longer than %d characters (key '%.*s'); "
             "that is libinih's limit", num - 2, (int)(klen < 64 ? klen : 64), str);
        while ((ch = fgetc(p->fp)) != EOF && ch != '\n')
            ;
        snprintf(str, (size_t)num, ";\n");
        return str;
    }
    b = str + strspn(str, " \t");
    if (*b != '[' || !(e = strchr(b, ']')))
        return r;               /* not a header; inih reports malformed ones */
    b += 1 + strspn(b + 1, " \t");
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    n = (size_t)(e - b) < sizeof(name) - 1 ? (size_t)(e - b) : sizeof(name) - 1;
    memcpy(name, b, n);
    name[n] = '\0';
    begin_section(p, name);
    return r;
}

/* 1 if any of the named stream keys was set to a value that failed: a
 * cross-key check on it would only repeat the error with a default. */
static int any_bad(const struct sl_stream_conf *s, const char *a, const char *b,
                   const char *c)
{
    const char *names[] = { a, b, c };

    for (int i = 0; i < 3; i++)
        if (names[i] && sl_conf_key_bad(stream_keys, &s->marks, names[i]))
            return 1;
    return 0;
}

/* The line to name in a message about stream key <name>: where it was set,
 * else the section header. */
static int key_line(const struct sl_stream_conf *s, const char *name)
{
    return sl_conf_key_line(stream_keys, &s->marks, name, s->line);
}

/* 1 if a transform of <s>'s chain can set partition keys (lambda, plugin). */
static int can_set_keys(const struct sl_config *c, const struct sl_stream_conf *s)
{
    for (size_t i = 0; i < s->nchain; i++) {
        const char *type = c->transforms[s->chain[i]].type;
        if (strcmp(type, "lambda") == 0 || strcmp(type, "plugin") == 0)
            return 1;
    }
    return 0;
}

/* transforms = a, b, c: each a [transform NAME] section, into s->chain. */
static void resolve_chain(struct parse *p, struct sl_stream_conf *s, const char *sec)
{
    const char *q = s->transforms;

    s->nchain = 0;
    if (any_bad(s, "transforms", NULL, NULL))
        return;
    while (*q) {
        q += strspn(q, " \t,");
        size_t n = strcspn(q, ",");
        while (n && (q[n - 1] == ' ' || q[n - 1] == '\t'))
            n--;
        if (n == 0)
            break;
        size_t i;
        for (i = 0; i < p->c->ntransforms; i++)
            if (strlen(p->c->transforms[i].name) == n &&
                strncmp(p->c->transforms[i].name, q, n) == 0)
                break;
        size_t k = 0;
        while (k < s->nchain && s->chain[k] != i)
            k++;
        if (i == p->c->ntransforms) {
            perr(p, key_line(s, "transforms"), sec, "transforms",
                 "no [transform %.*s] section", (int)n, q);
        } else if (k < s->nchain) {
            perr(p, key_line(s, "transforms"), sec, "transforms",
                 "%.*s is listed twice (its metrics would count it twice): make a second "
                 "section", (int)n, q);
        } else if (s->nchain == SL_CHAIN_MAX) {
            perr(p, key_line(s, "transforms"), sec, "transforms", "more than %d transforms",
                 SL_CHAIN_MAX);
            return;
        } else {
            s->chain[s->nchain++] = i;
        }
        q += n;
        q += strcspn(q, ",");
    }
}

/* Each [transform NAME] has a known type, and a path exactly when a plugin.
 * (Its other keys are the transform's to check: sl_transform_check_config.) */
static void check_transforms(struct parse *p)
{
    char sec[80];

    for (size_t i = 0; i < p->c->ntransforms; i++) {
        struct sl_transform_conf *t = &p->c->transforms[i];
        int plugin = strcmp(t->type, "plugin") == 0;
        snprintf(sec, sizeof(sec), "transform %s", t->name);
        if (!t->type_line)
            perr(p, t->line, sec, "type", "required");
        else if (plugin && !t->path[0])
            perr(p, t->type_line, sec, "path", "required when type = plugin");
        else if (!plugin && t->path[0])
            perr(p, t->path_line, sec, "path", "set, but type = %s", t->type);
    }
}

/* prefix and error_prefix by Firehose's rules (objkey.h). 1 if the
 * partition keys parsed. */
static int check_prefixes(struct parse *p, struct sl_stream_conf *s, const char *sec)
{
    char why[256], names[SL_PART_KEYS * 64 + SL_PART_KEYS] = "", use[96];
    int parts_ok = !any_bad(s, "partition_keys", NULL, NULL);
    /* a record sink uses partition keys for itself (Kafka's message key),
     * not in object keys: they need not appear in prefix */
    int in_keys = !s->sink_ops || s->sink_ops->shape == SL_SINK_OBJECTS;

    if (parts_ok && sl_partition_parse(s->partition_keys, &s->partition, why,
                                       sizeof(why)) != SL_OK) {
        perr(p, key_line(s, "partition_keys"), sec, "partition_keys", "%s", why);
        parts_ok = 0;
    }
    for (unsigned k = 0; k < s->partition.n; k++) {
        size_t n = strlen(names);
        snprintf(names + n, sizeof(names) - n, "%s%s", k ? "," : "", s->partition.name[k]);
        snprintf(use, sizeof(use), "!{partitionKeyFromQuery:%s}", s->partition.name[k]);
        if (parts_ok && in_keys && !strstr(s->prefix, use))
            perr(p, key_line(s, "partition_keys"), sec, "partition_keys",
                 "key %s is not used in prefix (write %s there)", s->partition.name[k], use);
    }
    if (!any_bad(s, "prefix", NULL, NULL) && parts_ok &&
        sl_objkey_check(s->prefix, 0, names, can_set_keys(p->c, s), why, sizeof(why)) != SL_OK) {
        perr(p, key_line(s, "prefix"), sec, "prefix", "%s", why);
    } else if (!any_bad(s, "prefix", NULL, NULL) && parts_ok &&
               sl_partition_add_lambda(s->prefix, &s->partition, why, sizeof(why)) != SL_OK) {
        perr(p, key_line(s, "prefix"), sec, "prefix", "%s", why);
    }
    if (!any_bad(s, "error_prefix", NULL, NULL) &&
        sl_objkey_check(s->error_prefix, 1, NULL, 0, why, sizeof(why)) != SL_OK)
        perr(p, key_line(s, "error_prefix"), sec, "error_prefix", "%s", why);
    if (!any_bad(s, "backup.prefix", NULL, NULL) &&
        sl_objkey_check(s->backup_prefix, 0, NULL, 0, why, sizeof(why)) != SL_OK)
        perr(p, key_line(s, "backup.prefix"), sec, "backup.prefix", "%s", why);
    if (strstr(s->prefix, "!{") && !s->error_prefix[0])
        perr(p, key_line(s, "error_prefix"), sec, "error_prefix",
             "required when prefix holds expressions");
    return parts_ok;
}

/* A sink's or a source's report of a problem with its keys. */
struct report_to {
    struct parse *p;
    const char *sec;
};

static void report(void *arg, int line, const char *key, const char *msg)
{
    struct report_to *r = arg;

    perr(r->p, line, r->sec, key, "%s", msg);
}

static const struct sl_conf_key no_keys[] = { { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL } };

/* Each source checks its keys of [sluice], once they are all read. */
static void check_sources(struct parse *p)
{
    struct report_to to = { p, "sluice" };
    const struct sl_source_ops *o;

    for (size_t i = 0; (o = sl_source_at(i)); i++) {
        struct sl_conf_check chk = { .keys = o->process_keys ? o->process_keys : no_keys,
                                     .marks = &p->c->source_marks[i], .section_line = 0,
                                     .report = report, .arg = &to };
        if (o->check_process && p->c->source_conf[i])
            o->check_process(p->c->source_conf[i], &chk);
    }
}

/* Each source checks its keys of stream <s>, the <idx>th, with the
 * streams before it at hand: their <names>, and <confs> to fill. */
static void check_stream_sources(struct parse *p, struct sl_stream_conf *s, const char *sec,
                                 size_t idx, const char *const *names, const void **confs)
{
    struct report_to to = { p, sec };
    const struct sl_source_ops *o;

    for (size_t i = 0; (o = sl_source_at(i)); i++) {
        struct sl_conf_check chk = { .keys = o->stream_keys ? o->stream_keys : no_keys,
                                     .marks = &s->source_marks[i], .section_line = s->line,
                                     .report = report, .arg = &to };
        struct sl_source_peers before = { idx, names, confs };
        if (!o->check_stream || !s->source_conf[i])
            continue;
        for (size_t k = 0; k < idx; k++)
            confs[k] = p->c->streams[k].source_conf[i];
        o->check_stream(s->source_conf[i], &before, &chk);
    }
}

/* The stream's sink checks its own keys, once they are all read (and the
 * stream's partition keys parsed: <parts_ok>). */
static void check_sink(struct parse *p, struct sl_stream_conf *s, const char *sec, int parts_ok)
{
    struct report_to to = { p, sec };
    struct sl_conf_check chk = { .keys = s->sink_ops->keys, .marks = &s->sink_marks,
                                 .section_line = s->line, .report = report, .arg = &to,
                                 .partition = parts_ok ? &s->partition : NULL };

    const struct sl_sink_ops *stage = sl_sink_stage(s->sink_ops);

    if (s->sink_ops->check)
        s->sink_ops->check(s->sink_conf, &chk);
    if (stage && stage->check) {
        struct sl_conf_check sc = { .keys = stage->keys, .marks = &s->stage_marks,
                                    .section_line = s->line, .report = report, .arg = &to };
        stage->check(sl_sink_stage_conf(s->sink_ops, s->sink_conf), &sc);
    }
}

static void check_stream(struct parse *p, struct sl_stream_conf *s, size_t idx,
                         const char *const *names, const void **confs)
{
    char sec[80];
    int parts_ok;

    snprintf(sec, sizeof(sec), "stream %s", s->name);
    if (!any_bad(s, "compression", "compression_level", NULL)) {
        if (s->compression_level == 0)
            s->compression_level = s->compression == SL_COMP_ZSTD ? 3 : 6;
        else if (s->compression == SL_COMP_GZIP && s->compression_level > 9)
            perr(p, key_line(s, "compression_level"), sec, "compression_level",
                 "gzip takes 1..9, not %llu", (unsigned long long)s->compression_level);
        else if (s->compression == SL_COMP_NONE)
            perr(p, key_line(s, "compression_level"), sec, "compression_level",
                 "set, but compression is none");
    }
    if (!any_bad(s, "max_buffered", "buffer_size", "max_record_size")) {
        /* Paused sources resume at 3/4 of max_buffered; below that, a batch
         * must still be able to fill, or nothing moves until its interval. */
        if (s->max_buffered / 4 * 3 < s->buffer_size)
            perr(p, key_line(s, "max_buffered"), sec, "max_buffered",
                 "must be at least 4/3 of buffer_size (%llu bytes): sources resume "
                 "at 3/4 of it, and a batch must be able to fill below that",
                 (unsigned long long)(s->buffer_size / 3 * 4 + 4));
        if (s->max_buffered < s->max_record_size)
            perr(p, key_line(s, "max_buffered"), sec, "max_buffered",
                 "must be at least max_record_size (%llu bytes)",
                 (unsigned long long)s->max_record_size);
    }
    if (!any_bad(s, "wal.max_size", "wal.segment_size", NULL) &&
        s->wal_max_size < 2 * s->wal_segment_size)
        perr(p, key_line(s, "wal.max_size"), sec, "wal.max_size",
             "must be at least twice wal.segment_size (%llu bytes): the file being "
             "written is never deleted", (unsigned long long)(2 * s->wal_segment_size));
    /* a destination whose Firehose default differs (Redshift's hour) */
    if (s->sink_ops && s->sink_ops->retry_duration_ms &&
        !(s->marks.seen & (1ULL << sl_conf_key_index(stream_keys, "retry_duration"))))
        s->retry_duration_ms = s->sink_ops->retry_duration_ms;
    resolve_chain(p, s, sec);
    parts_ok = check_prefixes(p, s, sec);
    if (s->sink_ops)
        check_sink(p, s, sec, parts_ok);
    /* A sink that stores backups (S3: its bucket) takes them unless
     * backup.path is set. */
    s->backup_in_sink = s->sink_ops && s->sink_ops->put_backup && s->backup_path[0] == '\0';
    if (s->backup_path[0] == '\0' &&
        snprintf(s->backup_path, sizeof(s->backup_path), "%s/backup",
                 p->c->data_dir) >= (int)sizeof(s->backup_path))
        perr(p, s->line, sec, "backup.path", "data_dir is too long to derive it");
    check_stream_sources(p, s, sec, idx, names, confs);
}

static void check_all(struct parse *p)
{
    const char *why;
    long ncpu;

    if (p->c->nstreams == 0)
        perr(p, p->line, "-", NULL, "no [stream NAME] section: nothing to do");
    if (p->c->workers == 0) {
        ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        p->c->workers = ncpu > 0 ? (uint64_t)ncpu : 2;
    }
    int mi = sl_conf_key_index(process_keys, "metrics_listen");
    if (!(p->c->marks.bad & (1ULL << mi)) &&
        sl_addr_parse(p->c->metrics_listen, &p->c->metrics_addr, &why) != SL_OK)
        perr(p, p->c->marks.line[mi], "sluice", "metrics_listen", "%s", why);
    mi = sl_conf_key_index(process_keys, "region");
    if (strspn(p->c->region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(p->c->region))
        perr(p, p->c->marks.line[mi], "sluice", "region",
             "'%s' is not a region (like us-east-1)", p->c->region);
    check_sources(p);
    check_transforms(p);
    /* The sources' stream checks see the streams before: their names, and
     * (filled per source) their confs. */
    size_t n = p->c->nstreams;
    const char **names = calloc(n ? n : 1, sizeof(*names));
    const void **confs = calloc(n ? n : 1, sizeof(*confs));
    if (!names || !confs)
        perr(p, 0, "-", NULL, "out of memory");
    for (size_t i = 0; names && confs && i < n; i++) {
        names[i] = p->c->streams[i].name;
        check_stream(p, &p->c->streams[i], i, names, confs);
    }
    free(names);
    free(confs);
}

int sl_config_load(const char *path, struct sl_config **out, struct sl_buf *errs)
{
    struct parse p = { .path = path, .errs = errs };
    int rc;

    *out = NULL;
    p.c = calloc(1, sizeof(*p.c));
    if (!p.c)
        return SL_ENOMEM;
    atomic_init(&p.c->refs, 1);
    snprintf(p.c->path, sizeof(p.c->path), "%s", path);
    sl_conf_key_defaults(process_keys, p.c);
    const struct sl_source_ops *o;
    for (size_t i = 0; (o = sl_source_at(i)); i++)
        if (!(p.c->source_conf[i] = conf_new(o->process_keys, o->process_size)))
            perr(&p, 0, "sluice", NULL, "out of memory");
    p.fp = fopen(path, "r");
    if (!p.fp) {
        sl_buf_printf(errs, "%s: cannot open: %s\n", path, strerror(errno));
        sl_config_unref(p.c);
        return SL_EINVAL;
    }
    rc = ini_parse_stream(line_reader, &p, handler, &p);
    fclose(p.fp);
    end_stream(&p);
    if (rc > 0)
        perr(&p, rc, "-", NULL, "syntax error (expected [section], key = value or a comment)");
    else if (rc < 0)
        perr(&p, 0, "-", NULL, "could not be read");
    check_all(&p);
    if (p.nerr > 0) {
        sl_config_unref(p.c);
        return SL_EINVAL;
    }
    *out = p.c;
    return SL_OK;
}

struct sl_config *sl_config_ref(struct sl_config *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void sl_config_unref(struct sl_config *c)
{
    if (!c)
        return;
    /* acq_rel: the last holder must see every other holder's reads done */
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    const struct sl_source_ops *o;
    for (size_t k = 0; (o = sl_source_at(k)); k++) {
        if (c->source_conf[k] && o->free_process)
            o->free_process(c->source_conf[k]);
        free(c->source_conf[k]);
        for (size_t i = 0; i < c->nstreams; i++) {
            void *sc = c->streams[i].source_conf[k];
            if (sc && o->free_stream)
                o->free_stream(sc);
            free(sc);
        }
    }
    for (size_t i = 0; i < c->nstreams; i++)
        free(c->streams[i].sink_conf);
    free(c->streams);
    for (size_t i = 0; i < c->ntransforms; i++) {
        struct sl_transform_conf *t = &c->transforms[i];
        for (size_t k = 0; k < t->nkv; k++) {
            free((char *)t->kv[k].key);
            free((char *)t->kv[k].value);
        }
        free(t->kv);
        free(t->lines);
    }
    free(c->transforms);
    free(c);
}

const struct sl_stream_conf *sl_config_stream(const struct sl_config *c, const char *name)
{
    for (size_t i = 0; i < c->nstreams; i++)
        if (strcmp(c->streams[i].name, name) == 0)
            return &c->streams[i];
    return NULL;
}

void sl_config_describe(struct sl_buf *out)
{
    const struct sl_sink_ops *o;
    const struct sl_source_ops *so;
    int name_w = 0, def_w = 0;

    sl_conf_key_widths(process_keys, &name_w, &def_w);
    sl_conf_key_widths(stream_keys, &name_w, &def_w);
    for (size_t i = 0; (so = sl_source_at(i)); i++) {
        if (so->process_keys)
            sl_conf_key_widths(so->process_keys, &name_w, &def_w);
        if (so->stream_keys)
            sl_conf_key_widths(so->stream_keys, &name_w, &def_w);
    }
    for (size_t i = 0; (o = sl_sink_at(i)); i++)
        if (o->keys)
            sl_conf_key_widths(o->keys, &name_w, &def_w);
    sl_buf_printf(out, "[sluice]\n");
    sl_conf_key_describe(out, process_keys, name_w, def_w);
    for (size_t i = 0; (so = sl_source_at(i)); i++)
        if (so->process_keys && so->process_keys[0].name) {
            sl_buf_printf(out, "[sluice] for the %s source\n", so->name);
            sl_conf_key_describe(out, so->process_keys, name_w, def_w);
        }
    sl_buf_printf(out, "[stream NAME]\n");
    sl_conf_key_describe(out, stream_keys, name_w, def_w);
    for (size_t i = 0; (so = sl_source_at(i)); i++)
        if (so->stream_keys && so->stream_keys[0].name) {
            sl_buf_printf(out, "[stream NAME] for the %s source%s%s%s\n", so->name,
                          so->prefix ? " (and " : "", so->prefix ? so->prefix : "",
                          so->prefix ? "*)" : "");
            sl_conf_key_describe(out, so->stream_keys, name_w, def_w);
        }
    for (size_t i = 0; (o = sl_sink_at(i)); i++) {
        sl_buf_printf(out, "[stream NAME] with sink = %s\n", o->name);
        if (o->keys && o->keys[0].name)
            sl_conf_key_describe(out, o->keys, name_w, def_w);
        else
            sl_buf_printf(out, "  (no keys)\n");
        if (sl_sink_stage(o))
            sl_buf_printf(out, "  and every key of sink = %s, for its staging\n",
                          sl_sink_stage(o)->name);
    }
    sl_buf_printf(out, "[transform NAME]\n  %-*s %s\n  %-*s %s\n  %-*s %s\n", name_w, "type",
                  SL_TF_TYPES, name_w, "path", "plugin: the shared object to dlopen", name_w,
                  "...", "the type's own keys (docs/transforms.md)");
}

void sl_config_markdown(struct sl_buf *out)
{
    const struct sl_sink_ops *o;
    const struct sl_source_ops *so;

    sl_buf_printf(out, "## [sluice]\n\nThe process: listeners, threads, limits. At most one "
                  "section.\n\n");
    sl_conf_key_markdown(out, process_keys);
    for (size_t i = 0; (so = sl_source_at(i)); i++)
        if (so->process_keys && so->process_keys[0].name) {
            sl_buf_printf(out, "\n### the %s source\n\n", so->name);
            sl_conf_key_markdown(out, so->process_keys);
        }
    sl_buf_printf(out, "\n## [stream NAME]\n\nOne delivery stream: its sources, batching, "
                  "compression, object keys, backup and durability.\n\n");
    sl_conf_key_markdown(out, stream_keys);
    for (size_t i = 0; (so = sl_source_at(i)); i++)
        if (so->stream_keys && so->stream_keys[0].name) {
            sl_buf_printf(out, "\n### the %s source\n\n", so->name);
            sl_conf_key_markdown(out, so->stream_keys);
        }
    for (size_t i = 0; (o = sl_sink_at(i)); i++) {
        sl_buf_printf(out, "\n### sink = %s\n\n", o->name);
        if (sl_sink_stage(o))
            sl_buf_printf(out, "Every key of `sink = %s` too, for its staging.\n\n",
                          sl_sink_stage(o)->name);
        if (o->keys && o->keys[0].name)
            sl_conf_key_markdown(out, o->keys);
        else
            sl_buf_printf(out, "No keys of its own.\n");
    }
    sl_buf_printf(out, "\n## [transform NAME]\n\n| key | meaning |\n|---|---|\n"
                  "| `type` | %s |\n| `path` | plugin: the shared object to dlopen |\n"
                  "| ... | the type's own keys ([transforms](transforms.md)) |\n", SL_TF_TYPES);
}
