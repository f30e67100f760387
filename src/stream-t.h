/*
 * stream-t.h - the types of a delivery stream (stream.h), alone: a
 * generation, a ticket, the stream. stream.h says what they are for, and
 * their threads and lock order.
 *
 * Types only, as HAProxy's x-t.h: a file that reads a batch's generation
 * (b->owner) and calls no sl_stream_* function includes this and not
 * stream.h, so it does not depend on stream (scripts/layers.txt). The
 * transform stage (stage.c) does, which keeps stream -> delivery ->
 * process from closing a cycle.
 */
#ifndef SL_STREAM_T_H
#define SL_STREAM_T_H

#include <pthread.h>
#include <stdatomic.h>

#include "batcher.h"
#include "config.h"
#include "intake.h"
#include "metrics.h"
#include "sink.h"
#include "transform.h"

struct sl_delivery;
struct sl_stream;

struct sl_gen {
    _Atomic int refs;
    unsigned version;                    /* config version: keys carry it */
    struct sl_config *cfg;               /* holds a reference */
    const struct sl_stream_conf *conf;   /* this stream's part of cfg */
    struct sl_sink sink;                 /* owned */
    struct sl_sink_dest dest;            /* what the sink says of its destination */
    struct sl_tf chain[SL_CHAIN_MAX];    /* owned: conf->chain's instances, in order */
    struct sl_tf *chain_of[SL_CHAIN_MAX];/* ... as the pointers a run wants */
    size_t nchain;
    struct sl_tf_stats *tf_stats[SL_CHAIN_MAX];  /* the stream's, by position; set by
                                          * sl_stream_new/reload (main thread) */
    struct sl_stream *stream;
};

/* A sealed, unsettled batch's place in the stream's seal order. */
struct sl_ticket {
    struct sl_ticket *next;
    int64_t oldest_mono_ms;
    uint64_t seq_first;          /* durability = disk: its first record's sequence */
    int settled;
};

struct sl_stream {
    char name[SL_NAME_MAX + 1];
    struct sl_stream_stats stats;
    struct sl_ring *ring;                /* owned */
    struct sl_intake intake;             /* what sources see */
    struct sl_batcher batcher;
    pthread_t thread;
    int started;
    struct sl_delivery *delivery;        /* borrowed */
    _Atomic int stopping;                /* main -> batcher: seal, then exit */
    _Atomic int64_t heartbeat_ms;        /* batcher -> main: monotonic time of its
                                          * last loop (at least once a second) */
    pthread_mutex_t lock;                /* guards gen, next_gen, the ticket list */
    struct sl_gen *gen;                  /* current generation (one reference);
                                          * only the batcher replaces it */
    struct sl_gen *next_gen;             /* main -> batcher: switch to this after
                                          * sealing the open batch ("reload") */
    struct sl_ticket *t_head, *t_tail;   /* unsettled batches, in seal order */
    uint64_t unsettled;                  /* batches sealed and not settled */
    struct sl_wal *wal;                  /* durability = disk; owned; set before start */
    uint64_t sealed_end;                 /* (lock) records below this are sealed */
    int recovering;                      /* (lock) the log is being read: retire nothing */
    pthread_t recovery;                  /* durability = disk: hands the log's unsettled
                                          * records on, alongside new traffic */
    int recovery_started;                /* main thread only */
    uint64_t recovered_batches;          /* the recovery thread's, for its log line */
};

#endif
