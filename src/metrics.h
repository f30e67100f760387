/*
 * metrics.h - per-stream counters and their Prometheus text rendering.
 *
 * Counters are relaxed atomics bumped once per chunk, batch or connection,
 * never per record. The balance DESIGN.md promises,
 *     received = delivered + backed_up + dropped + buffered,
 * holds by construction: "buffered" is not a counter of its own but
 * received minus what has settled, and settling bumps its counters with
 * release order after the records were received (the ring hand-off orders
 * them), while a scrape reads the settled counters first, with acquire,
 * then received. So a scrape never sees more settled than received.
 *
 * Threads: TCP I/O threads (received, rejected, connections), batchers
 * (sealed), delivery workers (settled, retries, durations), the metrics
 * thread (reads all).
 */
#ifndef SL_METRICS_H
#define SL_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "batch-t.h"
#include "buf.h"

enum sl_source { SL_SRC_TCP, SL_SRC_HTTP, SL_SRC_KAFKA, SL_SRC_WAL /* recovered at start */,
                 SL_SRC_NSOURCES };
extern const char *const sl_source_names[SL_SRC_NSOURCES];

enum sl_reject { SL_REJ_OVERSIZE, SL_REJ_INCOMPLETE, SL_REJ_THROTTLED, SL_REJ_WAL_FULL,
                 SL_REJ_WAL_ERROR, SL_REJ_NREASONS };
extern const char *const sl_reject_names[SL_REJ_NREASONS];

enum sl_backup_reason { SL_BK_RETRIES_EXHAUSTED, SL_BK_SINK_FAILED, SL_BK_PARTITION_FAILED,
                        SL_BK_PARTITION_LIMIT, SL_BK_PROCESSING_FAILED, SL_BK_NREASONS };
extern const char *const sl_backup_reason_names[SL_BK_NREASONS];

/* Why a delivery attempt will be retried: the backup write failed, a
 * transform asked to run again (or memory ran out running the chain), or
 * the sink said RETRY, for a reason of its own when it names one. */
enum sl_retry_cause {
    SL_RETRY_SINK, SL_RETRY_BACKUP, SL_RETRY_CONNECTION, SL_RETRY_TIMEOUT, SL_RETRY_SERVER,
    SL_RETRY_THROTTLED, SL_RETRY_FORBIDDEN, SL_RETRY_NO_BUCKET, SL_RETRY_BAD_DIGEST,
    SL_RETRY_TRANSFORM, SL_RETRY_NCAUSES
};
extern const char *const sl_retry_cause_names[SL_RETRY_NCAUSES];

#define SL_HIST_BUCKETS 14
extern const double sl_hist_bounds[SL_HIST_BUCKETS];
extern const double sl_hist_bounds_fast[SL_HIST_BUCKETS];   /* 100 us .. 5 s: disk syncs */

struct sl_histogram {
    const double *bounds;       /* NULL: sl_hist_bounds; set before the first observe */
    _Atomic uint64_t bucket[SL_HIST_BUCKETS + 1];  /* non-cumulative; last is +Inf */
    _Atomic uint64_t sum_us;
};

/*
 * What a stream's sink did, counted by the delivery engine for every sink
 * alike: writes (one deliver() of a batch or a part), the failed ones by
 * class, bytes accepted, objects found already written, time per write.
 * own[] and own_hist are the sink's own, counted by it and rendered by its
 * metrics hook (sink.h). All live with the stream, across reloads: a
 * reload that changes the stream's sink carries them over, and the `sink`
 * label then names the new one.
 */
#define SL_SINK_OWN 8
enum { SL_SINK_ERR_REFUSED = SL_RETRY_NCAUSES, SL_SINK_NERRORS };  /* FAIL answers */
struct sl_sink_stats {
    _Atomic uint64_t writes[2];             /* [0] ok, [1] not */
    _Atomic uint64_t errors[SL_SINK_NERRORS];   /* not ok: by enum sl_retry_cause, or
                                             * SL_SINK_ERR_REFUSED */
    _Atomic uint64_t bytes;                 /* objects' bytes, or records' */
    _Atomic uint64_t existing;              /* exclusive writes that found the object there */
    struct sl_histogram write;              /* one write */
    _Atomic uint64_t own[SL_SINK_OWN];
    struct sl_histogram own_hist;
};

/* What a sink's metrics hook gets of each stream using it. */
struct sl_metrics_sink {
    const char *stream;
    const struct sl_sink_stats *st;
};
typedef void (*sl_sink_metrics_fn)(struct sl_buf *out, const struct sl_metrics_sink *s,
                                   size_t n);

/* One transform of a stream's chain, by its section name. Slots are made
 * by the main thread only (sl_metrics_tf), counted by delivery workers
 * (relaxed), read by the metrics thread after the count (acquire). */
#define SL_TF_STATS_MAX 32
struct sl_tf_stats {
    char name[65];                      /* set before the slot is published */
    _Atomic uint64_t records[3];        /* by result: ok, dropped, failed */
    _Atomic uint64_t invocations[2];    /* calls out: [0] ok, [1] failed */
    struct sl_histogram duration;       /* one batch through it */
};

/* A stream's write-ahead log (durability = disk). <on> is set by the main
 * thread before the metrics thread starts; the log's threads count. */
enum sl_wal_error { SL_WALERR_ENOSPC, SL_WALERR_EIO, SL_WALERR_OTHER, SL_WALERR_N };
extern const char *const sl_wal_error_names[SL_WALERR_N];
struct sl_wal_stats {
    int on;
    _Atomic uint64_t bytes, segments;         /* on disk now */
    _Atomic uint64_t recovered;               /* records handed on by recovery */
    _Atomic uint64_t corrupt;                 /* entries skipped: CRC or framing */
    _Atomic uint64_t truncated;               /* bytes of torn tails cut off */
    _Atomic uint64_t recovery_us;             /* the last recovery's duration */
    _Atomic uint64_t errors[SL_WALERR_N];     /* failed writes and syncs */
    struct sl_histogram sync;                 /* one fdatasync round */
};

struct sl_stream_stats {
    _Atomic uint64_t received_records[SL_SRC_NSOURCES];
    _Atomic uint64_t received_bytes[SL_SRC_NSOURCES];
    _Atomic uint64_t rejected[SL_SRC_NSOURCES][SL_REJ_NREASONS];
    _Atomic uint64_t delivered_records, delivered_bytes;
    _Atomic uint64_t backed_up_records[SL_BK_NREASONS];
    _Atomic uint64_t backed_up_bytes[SL_BK_NREASONS];
    _Atomic uint64_t dropped_records, dropped_bytes;
    _Atomic uint64_t sealed[SL_SEAL_NREASONS];
    _Atomic uint64_t retries[SL_RETRY_NCAUSES];
    _Atomic int64_t  connections[SL_SRC_NSOURCES];
    _Atomic uint64_t connections_rejected[SL_SRC_NSOURCES];
    struct sl_histogram delivery;
    struct sl_sink_stats sink;
    _Atomic uint64_t source_backup_records, source_backup_bytes;   /* backup = all */
    _Atomic uint64_t source_backup_pending;   /* bytes of source copies not yet written:
                                               * held too (their records have settled) */
    struct sl_wal_stats wal;
    struct sl_tf_stats tf[SL_TF_STATS_MAX];
    _Atomic size_t ntf;                 /* slots published (release) */
};

/* The slot of transform <name>, made if new (main thread only); NULL when
 * every slot is taken. Counters live as long as the stream, across reloads. */
struct sl_tf_stats *sl_metrics_tf(struct sl_stream_stats *st, const char *name);

static inline void sl_stat_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* Records a settled batch: delivered, backed up (with <reason>) or dropped. */
void sl_metrics_settle(struct sl_stream_stats *st, enum sl_outcome outcome, int reason,
                     uint64_t records, uint64_t bytes);

/*
 * A consistent copy of the counters that must balance: the settled ones are
 * read first (acquire), the received ones after, so received >= settled.
 */
struct sl_metrics_snapshot {
    uint64_t received_records[SL_SRC_NSOURCES], received_bytes[SL_SRC_NSOURCES];
    uint64_t delivered_records, delivered_bytes;
    uint64_t backed_up_records[SL_BK_NREASONS], backed_up_bytes[SL_BK_NREASONS];
    uint64_t dropped_records, dropped_bytes;
    uint64_t received_total_records, received_total_bytes;   /* all sources */
    uint64_t settled_records, settled_bytes;   /* delivered + backed up + dropped */
};
void sl_metrics_snapshot(const struct sl_stream_stats *st, struct sl_metrics_snapshot *s);
/* Bytes received and not yet settled, plus source copies not yet written:
 * what backpressure compares. */
uint64_t sl_metrics_bytes_held(const struct sl_stream_stats *st);

void sl_metrics_observe(struct sl_histogram *h, double seconds);

/* What the renderer needs of one stream. */
struct sl_metrics_stream {
    const char *name;
    const char *sink;
    sl_sink_metrics_fn sink_metrics;   /* the sink's own families; NULL: none */
    const struct sl_stream_stats *st;
    double freshness_s;          /* age of the oldest unsettled record */
};

/* What the renderer needs of the process. */
struct sl_metrics_process {
    const char *version;
    uint64_t reloads_ok, reloads_failed;
    double start_time_s;         /* epoch seconds */
};

/* For a sink's or a source's metrics hook: a family's HELP and TYPE lines, and one
 * histogram's samples (<labels>: its label pairs, "a=\"b\",..."). */
void sl_metrics_family(struct sl_buf *o, const char *name, const char *type, const char *help);
void sl_metrics_histogram(struct sl_buf *o, const char *name, const char *labels,
                          const struct sl_histogram *h);

/* Appends the whole /metrics page to <out>. */
int sl_metrics_render(struct sl_buf *out, const struct sl_metrics_stream *s, size_t n,
                      const struct sl_metrics_process *p);

#endif
