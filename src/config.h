/*
 * config.h - the parsed, validated, immutable configuration.
 *
 * sl_config_load() reads one INI file (libinih) into a struct sl_config.
 * Every key comes from a static table (name, type, default, bounds,
 * offsetof, help); parsing is generic. The loader names no sink and no
 * source: it hands a sink's keys (PREFIX.*) to the stream's sink, and each
 * source's keys of [sluice] and [stream NAME] to that source's struct
 * (sink.h, source.h), and runs their checks. Every problem is reported as
 * "FILE:LINE: [SECTION] KEY: why", all of them, not just the first.
 *
 * A loaded config never changes. SIGHUP loads a new one and swaps it in;
 * holders keep theirs alive with sl_config_ref()/sl_config_unref().
 * Threads: any may read a config it holds a reference to; the count is an
 * atomic, the rest is read-only after load.
 */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "buf.h"
#include "conf_key.h"
#include "partition-t.h"
#include "source.h"

#include "sluice/transform.h"

#define SL_NAME_MAX    64
#define SL_PREFIX_MAX  1024

enum sl_compression { SL_COMP_NONE, SL_COMP_GZIP, SL_COMP_ZSTD };
enum sl_delimiter   { SL_DELIM_NEWLINE, SL_DELIM_NONE };


/* A [transform NAME] section: its type, and its other keys as written,
 * for the transform's create() to read (transform.h). */
#define SL_CHAIN_MAX 16
#define SL_TF_TYPES "json_timestamp, json_set, json_rename, json_drop, json_filter, " \
                    "json_validate, lambda or plugin"   /* for messages: transform.c has them */
struct sl_transform_conf {
    char     name[SL_NAME_MAX + 1];
    int      line;                        /* line of the section header */
    char     type[32];                    /* SL_TF_TYPES; checked by transform.c */
    int      type_line;
    char     path[PATH_MAX];              /* plugin: the shared object */
    int      path_line;
    size_t   nkv;
    struct sl_tf_kv *kv;                  /* owned, with their strings: as create() gets them */
    int     *lines;                       /* owned: where each was set */
};

struct sl_sink_ops;

enum sl_backup_mode { SL_BACKUP_FAILED, SL_BACKUP_ALL };
enum sl_durability { SL_DUR_MEMORY, SL_DUR_DISK };

struct sl_stream_conf {
    char     name[SL_NAME_MAX + 1];
    int      line;                        /* line of the [stream NAME] header */
    struct sl_conf_marks marks;
    uint64_t buffer_size;                 /* bytes; seal at this size */
    int64_t  buffer_interval_ms;          /* seal when the oldest is this old */
    uint64_t max_buffered;                /* bytes held before backpressure */
    uint64_t max_record_size;             /* bytes; longer records are rejected */
    int      delimiter;                   /* enum sl_delimiter */
    int      compression;                 /* enum sl_compression */
    uint64_t compression_level;           /* resolved: never 0 after load */
    char     prefix[SL_PREFIX_MAX + 1];
    char     partition_keys[SL_PREFIX_MAX + 1];  /* "NAME=.json.path, ..." as written */
    struct sl_partition_spec partition;   /* ... parsed; n == 0: no partitioning */
    uint64_t max_partitions;              /* distinct key sets in one batch */
    char     error_prefix[SL_PREFIX_MAX + 1];
    int64_t  retry_duration_ms;
    char     sink[32];                    /* a name from sink.c's registry */
    const struct sl_sink_ops *sink_ops;   /* ... that sink (sink.h) */
    void    *sink_conf;                   /* its keys, parsed into its own struct; owned */
    struct sl_conf_marks sink_marks;      /* where they were set */
    struct sl_conf_marks stage_marks;     /* where its stage sink's keys were set (sink.h) */
    char     transforms[SL_PREFIX_MAX + 1];   /* "a, b, c" as written */
    size_t   chain[SL_CHAIN_MAX];         /* ... as indexes into cfg->transforms */
    size_t   nchain;
    int      backup_mode;                 /* enum sl_backup_mode */
    char     backup_prefix[SL_PREFIX_MAX + 1];  /* backup = all: source records' prefix */
    char     backup_path[PATH_MAX];       /* where failed batches go */
    int      backup_in_sink;              /* no backup.path, and the sink stores backups
                                           * (put_backup, sink.h): into its store */
    int      durability;                  /* enum sl_durability */
    uint64_t wal_segment_size;            /* bytes of one WAL segment file */
    uint64_t wal_max_size;                /* WAL bytes before producers are pushed back */
    /* Each source's keys of this section (source.h), by registry slot
     * (sl_source_at), parsed into its own struct: every source has one,
     * set or not. Owned. */
    void    *source_conf[SL_SOURCES_MAX];
    struct sl_conf_marks source_marks[SL_SOURCES_MAX];    /* where they were set */
};

struct sl_config {
    _Atomic int refs;
    char     path[PATH_MAX];              /* the file it came from */
    struct sl_conf_marks marks;
    char     metrics_listen[256];
    struct sl_addr metrics_addr;
    char     data_dir[PATH_MAX];
    char     region[32];                  /* in the ARNs the HTTP API answers with */
    int      log_level;                   /* enum sl_log_level */
    uint64_t workers;                     /* delivery workers */
    int64_t  shutdown_timeout_ms;
    struct sl_transform_conf *transforms; /* owned array */
    size_t   ntransforms;
    struct sl_stream_conf *streams;       /* owned array */
    size_t   nstreams;
    /* Each source's keys of [sluice], as a stream's (source_conf above). */
    void    *source_conf[SL_SOURCES_MAX];
    struct sl_conf_marks source_marks[SL_SOURCES_MAX];
};

/*
 * Loads and validates <path>. On SL_OK *<out> is a new config with one
 * reference (sl_config_unref releases it). On SL_EINVAL, <errs> holds one
 * line per problem and *<out> is NULL.
 */
int sl_config_load(const char *path, struct sl_config **out, struct sl_buf *errs);

struct sl_config *sl_config_ref(struct sl_config *c);
void sl_config_unref(struct sl_config *c);

/* Returns the stream called <name>, or NULL. */
const struct sl_stream_conf *sl_config_stream(const struct sl_config *c, const char *name);

/* Writes every key of every section with its default and help (--help). */
void sl_config_describe(struct sl_buf *out);
/* The same as Markdown: docs/configuration.md's tables (make docs). */
void sl_config_markdown(struct sl_buf *out);

#endif
