/*
 * source.h - the source interface and the registry of built-in sources.
 *
 * A source is a module of its own, as a sink is (sink.h): one const struct
 * of function pointers and its own keys, parsed into structs of its own.
 * What it sees of a stream is intake.h; what it sees of the config is its
 * own keys. Nothing outside the source's file names it; the registry in
 * source.c lists them, and main.c drives each through these hooks.
 *
 * Keys come at two levels. Keys of [sluice] belong to the process (the
 * HTTP API's http_*, the TCP threads' io_threads): one struct per config.
 * Keys of [stream NAME] belong to each stream (tcp_listen): one struct per
 * stream, every stream, whether it uses the source or not (unset keys
 * keep their defaults). Names are exact rows of the tables; a source whose
 * stream keys are partly free-form (kafka.option.NAME) has an SL_K_MAP
 * row for them (conf_key.h), and declares its prefix for --help.
 * A reload may change a key unless it is in a *_restart table: a change
 * there refuses the reload (stream keys) or waits for the next restart,
 * with a warning ([sluice] keys). A restart table holds rows of the same
 * struct, often a subset of the key table itself.
 *
 * Life of an instance, on the main thread: open() (bind what must be bound
 * before anything is served, or say that the config asks nothing of this
 * source), start() (its threads run and push into the intakes), stop()
 * (accept nothing new, finish or close what is in progress, within
 * <grace_ms> where a wait applies), free(). Sources are opened and started
 * in registry order and stopped in the reverse order. A reload calls
 * apply() for each stream with the new config, nothing else.
 *
 * Threads: the hooks run on the main thread (the checks and the key
 * tables while a config is loaded); the source's own threads push chunks
 * through intake.h and call the host's describe(), which is thread-safe.
 */
#ifndef SL_SOURCE_H
#define SL_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "conf_key.h"

#define SL_SOURCES_MAX 8            /* built-in sources the config can hold keys of */

struct sl_intake;
struct json_t;

/* One stream, as a source sees it. */
struct sl_source_stream {
    const char *name;               /* the stream's */
    struct sl_intake *in;           /* where its records go */
    const void *conf;               /* the source's keys of this [stream NAME] */
};

/* What open() gets: all of it borrowed until free(). */
struct sl_source_host {
    const void *conf;               /* the source's keys of [sluice] */
    const struct sl_source_stream *streams;   /* every stream, in the file's order */
    size_t nstreams;
    /* The daemon's answer to a control-plane read: DescribeDeliveryStream
     * of <stream> (a new reference) or NULL. Thread-safe. */
    struct json_t *(*describe)(void *arg, const char *stream);
    void *arg;
};

/* The streams before the one a check_stream() looks at, in the file's
 * order: n names, and this source's keys of each. */
struct sl_source_peers {
    size_t n;
    const char *const *names;
    const void *const *conf;
};

struct sl_source_ops {
    const char *name;                         /* "tcp", "http" */
    const struct sl_conf_key *process_keys;   /* of [sluice]; offsets into its process conf */
    size_t process_size;                      /* bytes of that struct */
    const struct sl_conf_key *process_restart;/* NULL: a reload applies them all */
    const struct sl_conf_key *stream_keys;    /* of [stream NAME]; offsets into a stream conf */
    size_t stream_size;
    const struct sl_conf_key *stream_restart;
    const char *prefix;                       /* stream keys' prefix with the dot ("kafka."),
                                               * shown by --help; NULL: none */
    /* Optional: cross-key checks once the file is read, reported through
     * sl_conf_key_check_err (the loader adds FILE:LINE: [SECTION]). They may
     * resolve and load what the keys name into the conf (addresses,
     * files). check_stream runs for each stream, after check_process. */
    void (*check_process)(void *conf, struct sl_conf_check *chk);
    void (*check_stream)(void *conf, const struct sl_source_peers *before,
                         struct sl_conf_check *chk);
    /* Optional: frees what a conf owns (not the conf itself). */
    void (*free_process)(void *conf);
    void (*free_stream)(void *conf);
    /* Optional: file descriptors the source may hold open for the stream
     * of <sconf>, or, with <sconf> NULL, for the process as a whole. */
    uint64_t (*fds)(const void *pconf, const void *sconf);
    /* Optional: appends " KEY=VALUE" fields to the start-up lines: the
     * process's ("sluice started") and each stream's ("ready"). */
    void (*log_process)(const void *pconf, struct sl_buf *out);
    void (*log_stream)(const void *sconf, struct sl_buf *out);
    /* Optional: publishes the stream keys a reload may change into the
     * stream's intake (relaxed atomics, read by the source's threads);
     * called before start() and after each reload. */
    void (*apply)(const void *sconf, struct sl_intake *in);
    /* SL_OK with *<ctx> set, or with *<ctx> NULL when the config asks
     * nothing of this source; an error once it has logged why (then
     * nothing is left open). */
    int (*open)(const struct sl_source_host *h, void **ctx);
    int (*start)(void *ctx);          /* SL_OK, or an error once it has logged why */
    void (*stop)(void *ctx, int64_t grace_ms);
    void (*free)(void *ctx);
    /* Optional: appends the families only this source has (the HTTP
     * source's sluice_http_*), with metrics.h's helpers; called by the
     * metrics thread between start() and free(). */
    void (*metrics)(void *ctx, struct sl_buf *out);
};

/* The <i>th built-in source, or NULL past the last. */
const struct sl_source_ops *sl_source_at(size_t i);
/* The built-in source called <name>, or NULL. */
const struct sl_source_ops *sl_source_find(const char *name);
/* 1 if every key of <restart> (a *_restart table; NULL: none) is the same
 * in <a> and <b>; else 0 with the first that differs in *<which>. */
int sl_source_same(const struct sl_conf_key *restart, const void *a, const void *b,
                   const char **which);

#endif
