/*
 * metrics.c - counters and the Prometheus text exposition format.
 *
 * Each family is written once with its HELP and TYPE, then one sample per
 * stream and label value, so the page passes `promtool check metrics`.
 */
#include "metrics.h"

#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "batch.h"
#include "sluice/err.h"

const char *const sl_source_names[SL_SRC_NSOURCES] = { "tcp", "http", "kafka", "wal" };
const char *const sl_reject_names[SL_REJ_NREASONS] = { "oversize", "incomplete",
                                                        "throttled", "wal_full", "wal_error" };
const char *const sl_backup_reason_names[SL_BK_NREASONS] = {
    "retries_exhausted", "sink_failed", "partitioning_failed", "partition_limit",
    "processing_failed",
};
const char *const sl_retry_cause_names[SL_RETRY_NCAUSES] = {
    "sink", "backup", "connection", "timeout", "server_error", "throttled", "forbidden",
    "no_such_bucket", "bad_digest", "transform",
};
const double sl_hist_bounds[SL_HIST_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
};
const double sl_hist_bounds_fast[SL_HIST_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5,
};

#define LD(x) atomic_load_explicit(&(x), memory_order_acquire)

void sl_metrics_settle(struct sl_stream_stats *st, enum sl_outcome outcome, int reason,
                     uint64_t records, uint64_t bytes)
{
    _Atomic uint64_t *r, *b;

    switch (outcome) {
    case SL_OUTCOME_DELIVERED:
        r = &st->delivered_records, b = &st->delivered_bytes;
        break;
    case SL_OUTCOME_BACKED_UP:
        r = &st->backed_up_records[reason], b = &st->backed_up_bytes[reason];
        break;
    case SL_OUTCOME_DROPPED:
        r = &st->dropped_records, b = &st->dropped_bytes;
        break;
    default:
        return;     /* abandoned at shutdown: still buffered, and logged */
    }
    /* release: pairs with the acquire loads of sl_metrics_snapshot */
    atomic_fetch_add_explicit(b, bytes, memory_order_release);
    atomic_fetch_add_explicit(r, records, memory_order_release);
}

void sl_metrics_snapshot(const struct sl_stream_stats *st, struct sl_metrics_snapshot *s)
{
    s->delivered_records = LD(st->delivered_records);
    s->delivered_bytes = LD(st->delivered_bytes);
    s->dropped_records = LD(st->dropped_records);
    s->dropped_bytes = LD(st->dropped_bytes);
    s->settled_records = s->delivered_records + s->dropped_records;
    s->settled_bytes = s->delivered_bytes + s->dropped_bytes;
    for (int i = 0; i < SL_BK_NREASONS; i++) {
        s->backed_up_records[i] = LD(st->backed_up_records[i]);
        s->backed_up_bytes[i] = LD(st->backed_up_bytes[i]);
        s->settled_records += s->backed_up_records[i];
        s->settled_bytes += s->backed_up_bytes[i];
    }
    s->received_total_records = s->received_total_bytes = 0;
    for (int i = 0; i < SL_SRC_NSOURCES; i++) {
        s->received_records[i] = LD(st->received_records[i]);
        s->received_bytes[i] = LD(st->received_bytes[i]);
        s->received_total_records += s->received_records[i];
        s->received_total_bytes += s->received_bytes[i];
    }
}

uint64_t sl_metrics_bytes_held(const struct sl_stream_stats *st)
{
    struct sl_metrics_snapshot s;

    sl_metrics_snapshot(st, &s);
    return s.received_total_bytes - s.settled_bytes + LD(st->source_backup_pending);
}

void sl_metrics_observe(struct sl_histogram *h, double seconds)
{
    int i = 0;

    const double *bounds = h->bounds ? h->bounds : sl_hist_bounds;

    while (i < SL_HIST_BUCKETS && seconds > bounds[i])
        i++;
    sl_stat_add(&h->bucket[i], 1);
    sl_stat_add(&h->sum_us, (uint64_t)(seconds * 1e6));
}

void sl_metrics_family(struct sl_buf *o, const char *name, const char *type, const char *help)
{
    sl_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*
 * A family with one sample per stream and label value. The counters are the
 * array at byte offset <off> in struct sl_stream_stats (atomics, read now)
 * or, when <snaps> is given, in each stream's struct sl_metrics_snapshot (the
 * counters that must balance, all read at one moment). <with_sink> adds the
 * stream's sink label.
 */
static void labelled(struct sl_buf *o, const struct sl_metrics_stream *s, size_t n,
                     const struct sl_metrics_snapshot *snaps, const char *family_name,
                     const char *help, const char *label, const char *const *names,
                     int count, size_t off, int with_sink)
{
    uint64_t v;

    sl_metrics_family(o, family_name, "counter", help);
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < count; k++) {
            if (snaps)
                v = ((const uint64_t *)((const char *)&snaps[i] + off))[k];
            else
                v = LD(((_Atomic uint64_t *)((char *)s[i].st + off))[k]);
            sl_buf_printf(o, "%s{stream=\"%s\"%s%s%s,%s=\"%s\"} %llu\n", family_name,
                          s[i].name, with_sink ? ",sink=\"" : "",
                          with_sink ? s[i].sink : "", with_sink ? "\"" : "", label,
                          names[k], (unsigned long long)v);
        }
}

#define OFF(f) offsetof(struct sl_stream_stats, f)
#define SNAP(f) offsetof(struct sl_metrics_snapshot, f)

/* One histogram's samples, <labels> being its label pairs ("a=\"b\",..."). */
void sl_metrics_histogram(struct sl_buf *o, const char *name, const char *labels,
                      const struct sl_histogram *h)
{
    uint64_t cum = 0;
    char le[32];

    for (int b = 0; b <= SL_HIST_BUCKETS; b++) {
        cum += LD(h->bucket[b]);
        if (b < SL_HIST_BUCKETS)
            snprintf(le, sizeof(le), "%g", (h->bounds ? h->bounds : sl_hist_bounds)[b]);
        else
            snprintf(le, sizeof(le), "+Inf");
        sl_buf_printf(o, "%s_bucket{%s,le=\"%s\"} %llu\n", name, labels, le,
                      (unsigned long long)cum);
    }
    sl_buf_printf(o, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, labels,
                  (double)LD(h->sum_us) / 1e6, name, labels, (unsigned long long)cum);
}

static void render_histograms(struct sl_buf *o, const struct sl_metrics_stream *s, size_t n)
{
    char labels[160];

    sl_metrics_family(o, "sluice_delivery_duration_seconds", "histogram",
                      "Time from seal to settle of a batch.");
    for (size_t i = 0; i < n; i++) {
        snprintf(labels, sizeof(labels), "stream=\"%s\",sink=\"%s\"", s[i].name, s[i].sink);
        sl_metrics_histogram(o, "sluice_delivery_duration_seconds", labels, &s[i].st->delivery);
    }
}

/* The write-ahead log's families, for the streams that have one (none
 * appear without). */
static void render_wal(struct sl_buf *o, const struct sl_metrics_stream *s, size_t n)
{
    static const struct { const char *name, *type, *help; size_t off; } fam[] = {
        { "sluice_wal_bytes", "gauge", "Bytes of the write-ahead log on disk.",
          offsetof(struct sl_wal_stats, bytes) },
        { "sluice_wal_segments", "gauge", "Segment files of the write-ahead log.",
          offsetof(struct sl_wal_stats, segments) },
        { "sluice_wal_records_recovered_total", "counter",
          "Records the log handed on again at start (unsettled at the last stop).",
          offsetof(struct sl_wal_stats, recovered) },
        { "sluice_wal_corrupt_entries_total", "counter",
          "Log entries skipped at recovery: CRC or framing did not match.",
          offsetof(struct sl_wal_stats, corrupt) },
        { "sluice_wal_truncated_bytes_total", "counter",
          "Bytes of torn segment tails cut off at recovery.",
          offsetof(struct sl_wal_stats, truncated) },
    };
    char labels[96];
    int any = 0;

    for (size_t i = 0; i < n; i++)
        any |= s[i].st->wal.on;
    if (!any)
        return;
    for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
        sl_metrics_family(o, fam[f].name, fam[f].type, fam[f].help);
        for (size_t i = 0; i < n; i++)
            if (s[i].st->wal.on)
                sl_buf_printf(o, "%s{stream=\"%s\"} %llu\n", fam[f].name, s[i].name,
                              (unsigned long long)LD(*(const _Atomic uint64_t *)
                                  ((const char *)&s[i].st->wal + fam[f].off)));
    }
    sl_metrics_family(o, "sluice_wal_recovery_duration_seconds", "gauge",
                      "How long the last recovery of the log took.");
    for (size_t i = 0; i < n; i++)
        if (s[i].st->wal.on)
            sl_buf_printf(o, "sluice_wal_recovery_duration_seconds{stream=\"%s\"} %.6f\n",
                          s[i].name, (double)LD(s[i].st->wal.recovery_us) / 1e6);
    sl_metrics_family(o, "sluice_wal_errors_total", "counter",
                      "Failed writes and syncs of the log, by kind; producers were pushed back.");
    for (size_t i = 0; i < n; i++)
        for (int e = 0; s[i].st->wal.on && e < SL_WALERR_N; e++)
            sl_buf_printf(o, "sluice_wal_errors_total{stream=\"%s\",reason=\"%s\"} %llu\n",
                          s[i].name, sl_wal_error_names[e],
                          (unsigned long long)LD(s[i].st->wal.errors[e]));
    sl_metrics_family(o, "sluice_wal_sync_duration_seconds", "histogram",
                      "One fdatasync of the log (a group commit: every write since the last).");
    for (size_t i = 0; i < n; i++)
        if (s[i].st->wal.on) {
            snprintf(labels, sizeof(labels), "stream=\"%s\"", s[i].name);
            sl_metrics_histogram(o, "sluice_wal_sync_duration_seconds", labels, &s[i].st->wal.sync);
        }
}

/* The families every sink has (counted by the delivery engine), then each
 * sink's own, through its hook, once for all the streams using it. */
static int render_sinks(struct sl_buf *o, const struct sl_metrics_stream *s, size_t n)
{
    static const char *const results[] = { "ok", "error" };
    char labels[160];

    sl_metrics_family(o, "sluice_sink_writes_total", "counter",
                      "Batches and parts handed to the sink, by result.");
    for (size_t i = 0; i < n; i++)
        for (int r = 0; r < 2; r++)
            sl_buf_printf(o, "sluice_sink_writes_total{stream=\"%s\",sink=\"%s\",result=\"%s\"} "
                          "%llu\n", s[i].name, s[i].sink, results[r],
                          (unsigned long long)LD(s[i].st->sink.writes[r]));
    sl_metrics_family(o, "sluice_sink_errors_total", "counter",
                      "Writes the sink did not take, by class: a retry's cause, or refused "
                      "(its records go to backup).");
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < SL_SINK_NERRORS; c++) {
            if (c == SL_RETRY_BACKUP || c == SL_RETRY_TRANSFORM)   /* not the sink's */
                continue;
            sl_buf_printf(o, "sluice_sink_errors_total{stream=\"%s\",sink=\"%s\",class=\"%s\"} "
                          "%llu\n", s[i].name, s[i].sink,
                          c == SL_SINK_ERR_REFUSED ? "refused" : sl_retry_cause_names[c],
                          (unsigned long long)LD(s[i].st->sink.errors[c]));
        }
    sl_metrics_family(o, "sluice_sink_bytes_total", "counter",
                      "Bytes the sink took: objects as written (compressed), or records.");
    for (size_t i = 0; i < n; i++)
        sl_buf_printf(o, "sluice_sink_bytes_total{stream=\"%s\",sink=\"%s\"} %llu\n",
                      s[i].name, s[i].sink, (unsigned long long)LD(s[i].st->sink.bytes));
    sl_metrics_family(o, "sluice_sink_write_duration_seconds", "histogram",
                      "Time of one write to the sink, all its requests included.");
    for (size_t i = 0; i < n; i++) {
        snprintf(labels, sizeof(labels), "stream=\"%s\",sink=\"%s\"", s[i].name, s[i].sink);
        sl_metrics_histogram(o, "sluice_sink_write_duration_seconds", labels,
                             &s[i].st->sink.write);
    }
    struct sl_metrics_sink *mine = calloc(n ? n : 1, sizeof(*mine));
    if (!mine)
        return SL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0, j;
        for (j = 0; j < i && s[j].sink_metrics != s[i].sink_metrics; j++)
            ;
        if (!s[i].sink_metrics || j < i)    /* none, or done with an earlier stream */
            continue;
        for (j = i; j < n; j++)
            if (s[j].sink_metrics == s[i].sink_metrics)
                mine[k++] = (struct sl_metrics_sink){ s[j].name, &s[j].st->sink };
        s[i].sink_metrics(o, mine, k);
    }
    free(mine);
    return SL_OK;
}

struct sl_tf_stats *sl_metrics_tf(struct sl_stream_stats *st, const char *name)
{
    size_t n = atomic_load_explicit(&st->ntf, memory_order_relaxed);

    for (size_t i = 0; i < n; i++)
        if (strcmp(st->tf[i].name, name) == 0)
            return &st->tf[i];
    if (n == SL_TF_STATS_MAX)
        return NULL;
    snprintf(st->tf[n].name, sizeof(st->tf[n].name), "%s", name);
    /* release: a reader that sees the count sees the name */
    atomic_store_explicit(&st->ntf, n + 1, memory_order_release);
    return &st->tf[n];
}

/* The transform families, one sample set per stream and transform; none
 * without a transform. */
static void render_transforms(struct sl_buf *o, const struct sl_metrics_stream *s, size_t n)
{
    static const char *const inv[] = { "ok", "error" };
    char labels[192];
    size_t any = 0;

    for (size_t i = 0; i < n; i++)
        any += atomic_load_explicit(&s[i].st->ntf, memory_order_acquire);
    if (!any)
        return;
    sl_metrics_family(o, "sluice_transform_records_total", "counter",
                      "Records out of each transform, by result (ok, dropped, failed).");
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < atomic_load_explicit(&s[i].st->ntf, memory_order_acquire); t++)
            for (int k = 0; k < 3; k++)
                sl_buf_printf(o, "sluice_transform_records_total{stream=\"%s\",transform=\"%s\","
                              "result=\"%s\"} %llu\n", s[i].name, s[i].st->tf[t].name,
                              k == 0 ? "ok" : k == 1 ? "dropped" : "failed",
                              (unsigned long long)LD(s[i].st->tf[t].records[k]));
    sl_metrics_family(o, "sluice_transform_invocations_total", "counter",
                      "Invocations of each transform (calls out, for lambda), by result; an error "
                      "is retried or fails its records.");
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < atomic_load_explicit(&s[i].st->ntf, memory_order_acquire); t++)
            for (int k = 0; k < 2; k++)
                sl_buf_printf(o, "sluice_transform_invocations_total{stream=\"%s\","
                              "transform=\"%s\",result=\"%s\"} %llu\n", s[i].name,
                              s[i].st->tf[t].name, inv[k],
                              (unsigned long long)LD(s[i].st->tf[t].invocations[k]));
    sl_metrics_family(o, "sluice_transform_duration_seconds", "histogram",
                      "Time one batch spends in each transform.");
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < atomic_load_explicit(&s[i].st->ntf, memory_order_acquire); t++) {
            snprintf(labels, sizeof(labels), "stream=\"%s\",transform=\"%s\"", s[i].name,
                     s[i].st->tf[t].name);
            sl_metrics_histogram(o, "sluice_transform_duration_seconds", labels,
                                 &s[i].st->tf[t].duration);
        }
}

static void render_streams(struct sl_buf *o, const struct sl_metrics_stream *s, size_t n,
                           const struct sl_metrics_snapshot *ss)
{
    static const char *const drop_reasons[] = { "transform_dropped" };

    labelled(o, s, n, ss, "sluice_records_received_total", "Records accepted from producers.",
             "source", sl_source_names, SL_SRC_NSOURCES, SNAP(received_records), 0);
    labelled(o, s, n, ss, "sluice_bytes_received_total",
             "Payload bytes accepted from producers.", "source", sl_source_names,
             SL_SRC_NSOURCES, SNAP(received_bytes), 0);
    sl_metrics_family(o, "sluice_records_rejected_total", "counter",
                      "Records refused to producers, by reason; they never entered.");
    for (size_t i = 0; i < n; i++)
        for (int src = 0; src < SL_SRC_WAL; src++)     /* recovery refuses nothing */
            for (int r = 0; r < SL_REJ_NREASONS; r++)
                sl_buf_printf(o, "sluice_records_rejected_total{stream=\"%s\",source=\"%s\","
                              "reason=\"%s\"} %llu\n", s[i].name, sl_source_names[src],
                              sl_reject_names[r],
                              (unsigned long long)LD(s[i].st->rejected[src][r]));
    sl_metrics_family(o, "sluice_records_buffered", "gauge",
                      "Records inside sluice, in any stage: received and not yet settled.");
    for (size_t i = 0; i < n; i++)
        sl_buf_printf(o, "sluice_records_buffered{stream=\"%s\"} %llu\n", s[i].name,
                      (unsigned long long)(ss[i].received_total_records - ss[i].settled_records));
    sl_metrics_family(o, "sluice_bytes_buffered", "gauge",
                      "Payload bytes inside sluice; compared with max_buffered.");
    for (size_t i = 0; i < n; i++)
        sl_buf_printf(o, "sluice_bytes_buffered{stream=\"%s\"} %llu\n", s[i].name,
                      (unsigned long long)(ss[i].received_total_bytes - ss[i].settled_bytes));
    labelled(o, s, n, NULL, "sluice_batches_sealed_total", "Batches sealed, by what sealed them.",
             "reason", sl_seal_reason_names, SL_SEAL_NREASONS, OFF(sealed), 0);
    for (int k = 0; k < 2; k++) {
        const char *name = k ? "sluice_bytes_delivered_total" : "sluice_records_delivered_total";
        sl_metrics_family(o, name, "counter", k ? "Payload bytes delivered by the sink."
                                     : "Records delivered by the sink.");
        for (size_t i = 0; i < n; i++)
            sl_buf_printf(o, "%s{stream=\"%s\",sink=\"%s\"} %llu\n", name, s[i].name,
                          s[i].sink, (unsigned long long)(k ? ss[i].delivered_bytes
                                                            : ss[i].delivered_records));
    }
    sl_metrics_family(o, "sluice_objects_existing_total", "counter",
                      "Objects a re-delivery found already written (exclusive writes, "
                      "durability = disk).");
    for (size_t i = 0; i < n; i++)
        sl_buf_printf(o, "sluice_objects_existing_total{stream=\"%s\",sink=\"%s\"} %llu\n",
                      s[i].name, s[i].sink, (unsigned long long)LD(s[i].st->sink.existing));
    labelled(o, s, n, ss, "sluice_records_backed_up_total",
             "Records written to the backup path, by reason.", "reason",
             sl_backup_reason_names, SL_BK_NREASONS, SNAP(backed_up_records), 0);
    labelled(o, s, n, ss, "sluice_bytes_backed_up_total",
             "Payload bytes written to the backup path, by reason.", "reason",
             sl_backup_reason_names, SL_BK_NREASONS, SNAP(backed_up_bytes), 0);
    labelled(o, s, n, ss, "sluice_records_dropped_total",
             "Records dropped on purpose (a transform's Dropped).", "reason", drop_reasons, 1,
             SNAP(dropped_records), 0);
    sl_metrics_family(o, "sluice_source_backup_records_total", "counter",
                      "Records also kept untransformed in the source backup (backup = all).");
    for (size_t i = 0; i < n; i++)
        sl_buf_printf(o, "sluice_source_backup_records_total{stream=\"%s\"} %llu\n", s[i].name,
                      (unsigned long long)LD(s[i].st->source_backup_records));
    sl_metrics_family(o, "sluice_source_backup_bytes_total", "counter",
                      "Payload bytes kept in the source backup (backup = all).");
    for (size_t i = 0; i < n; i++)
        sl_buf_printf(o, "sluice_source_backup_bytes_total{stream=\"%s\"} %llu\n", s[i].name,
                      (unsigned long long)LD(s[i].st->source_backup_bytes));
    sl_metrics_family(o, "sluice_source_backup_pending_bytes", "gauge",
                      "Bytes of source copies (backup = all) not yet written; they count toward "
                      "max_buffered.");
    for (size_t i = 0; i < n; i++)
        sl_buf_printf(o, "sluice_source_backup_pending_bytes{stream=\"%s\"} %llu\n", s[i].name,
                      (unsigned long long)LD(s[i].st->source_backup_pending));
    labelled(o, s, n, NULL, "sluice_delivery_retries_total",
             "Delivery attempts that failed and will be retried, by cause.", "cause",
             sl_retry_cause_names, SL_RETRY_NCAUSES, OFF(retries), 1);
    render_histograms(o, s, n);
    sl_metrics_family(o, "sluice_data_freshness_seconds", "gauge",
                      "Age of the oldest record not yet delivered or backed up.");
    for (size_t i = 0; i < n; i++)
        sl_buf_printf(o, "sluice_data_freshness_seconds{stream=\"%s\"} %.3f\n", s[i].name,
                      s[i].freshness_s);
    sl_metrics_family(o, "sluice_connections", "gauge", "Open producer connections.");
    for (size_t i = 0; i < n; i++)
        for (int src = 0; src < SL_SRC_WAL; src++)     /* the sources that connect */
            sl_buf_printf(o, "sluice_connections{stream=\"%s\",source=\"%s\"} %lld\n",
                          s[i].name, sl_source_names[src],
                          (long long)atomic_load(&s[i].st->connections[src]));
    labelled(o, s, n, NULL, "sluice_connections_rejected_total",
             "Connections closed at once because max_connections was reached.", "source",
             sl_source_names, SL_SRC_WAL, OFF(connections_rejected), 0);
}

/* process_* as the Prometheus client libraries define them, from /proc. */
static void render_process(struct sl_buf *o, const struct sl_metrics_process *p)
{
    unsigned long utime = 0, stime = 0, vsize = 0;
    long rss = 0, ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    char line[1024];
    struct rlimit rl;
    FILE *f = fopen("/proc/self/stat", "r");
    int nfd = 0;
    DIR *d;

    if (f) {
        /* Fields after the ")" that ends comm, counted from 3 (state):
         * 14 utime, 15 stime, 23 vsize, 24 rss. */
        char *q = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
        for (int field = 3; q && *q && field <= 24; field++) {
            char *end;
            q += strspn(q, ") ");
            unsigned long v = strtoul(q, &end, 10);
            if (field == 14) utime = v;
            if (field == 15) stime = v;
            if (field == 23) vsize = v;
            if (field == 24) rss = (long)v;
            q = end == q ? q + strcspn(q, " ") : end;
        }
        fclose(f);
    }
    if ((d = opendir("/proc/self/fd"))) {
        while (readdir(d))
            nfd++;
        closedir(d);
        nfd -= 3;   /* ".", ".." and the directory's own fd */
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    sl_metrics_family(o, "process_cpu_seconds_total", "counter", "User and system CPU time.");
    sl_buf_printf(o, "process_cpu_seconds_total %.2f\n", (double)(utime + stime) / (double)ticks);
    sl_metrics_family(o, "process_resident_memory_bytes", "gauge", "Resident memory size.");
    sl_buf_printf(o, "process_resident_memory_bytes %ld\n", rss * page);
    sl_metrics_family(o, "process_virtual_memory_bytes", "gauge", "Virtual memory size.");
    sl_buf_printf(o, "process_virtual_memory_bytes %lu\n", vsize);
    sl_metrics_family(o, "process_open_fds", "gauge", "Open file descriptors.");
    sl_buf_printf(o, "process_open_fds %d\n", nfd);
    sl_metrics_family(o, "process_max_fds", "gauge", "Limit on open file descriptors.");
    sl_buf_printf(o, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    sl_metrics_family(o, "process_start_time_seconds", "gauge", "Start time, epoch seconds.");
    sl_buf_printf(o, "process_start_time_seconds %.3f\n", p->start_time_s);
}

int sl_metrics_render(struct sl_buf *out, const struct sl_metrics_stream *s, size_t n,
                      const struct sl_metrics_process *p)
{
    struct sl_metrics_snapshot *ss = calloc(n ? n : 1, sizeof(*ss));

    if (!ss)
        return SL_ENOMEM;
    for (size_t i = 0; i < n; i++)
        sl_metrics_snapshot(s[i].st, &ss[i]);
    render_streams(out, s, n, ss);
    free(ss);
    if (render_sinks(out, s, n) != SL_OK)
        return SL_ENOMEM;
    render_wal(out, s, n);
    render_transforms(out, s, n);
    sl_metrics_family(out, "sluice_config_reloads_total", "counter", "SIGHUP reloads, by result.");
    sl_buf_printf(out, "sluice_config_reloads_total{result=\"success\"} %llu\n"
                  "sluice_config_reloads_total{result=\"failure\"} %llu\n",
                  (unsigned long long)p->reloads_ok, (unsigned long long)p->reloads_failed);
    sl_metrics_family(out, "sluice_build_info", "gauge", "Always 1; the version is a label.");
    sl_buf_printf(out, "sluice_build_info{version=\"%s\"} 1\n", p->version);
    render_process(out, p);
    return out->len < out->max ? SL_OK : SL_ETOOBIG;
}
