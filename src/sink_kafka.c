/*
 * sink_kafka.c - sink = kafka: each record to a Kafka topic as one message,
 * through librdkafka's idempotent producer, one answer per record.
 *
 * A record becomes a message's value (a trailing "\n", or "\r\n", dropped);
 * its key is empty, or, with kafka_sink.key = !{partitionKeyFromQuery:NAME}
 * (or ...FromLambda:NAME), the value of partition key NAME of the part the
 * engine hands over (one part per set of partition key values, so one key
 * per deliver()). The producer's partitioner picks the partition from it.
 *
 * Properties: sluice's defaults first (enable.idempotence=true,
 * message.timeout.ms=60000, queue.buffering.max.kbytes=65536, client.id),
 * then every kafka_sink.option.NAME = VALUE, which win; each is checked by
 * librdkafka when the config is loaded (check()), so a bad name or value is
 * a config error naming the key.
 *
 * One deliver(): the records are produced (copied: RD_KAFKA_MSG_F_COPY),
 * each with an opaque pointing at its slot in a struct call; the caller
 * then waits on the call's condition variable until every record has its
 * delivery report, which the sink's poller thread serves (rd_kafka_poll):
 * a call waits for its own reports, not for other calls' (no flush). Each
 * report's error is classified (sl__sink_kafka_classify): none OK, a
 * permanent one FAIL (to backup, with the error's name and text as the
 * record's note), any other RETRY (the engine retries those records
 * alone). A full local queue (__QUEUE_FULL) makes the caller wait for
 * room, at most KAFKA_FULL_WAIT_MS, then RETRY what is left. A call gives
 * up waiting at message.timeout.ms + KAFKA_GRACE_MS (librdkafka promises a
 * report within message.timeout.ms): its unanswered records RETRY, and the
 * call lives on until its last report, or the instance's end.
 *
 * A fatal producer error (error_cb with __FATAL: the broker fenced the
 * producer, a sequence gap ...) makes the poller replace the producer:
 * produce() goes to the new one at once; the old one is purged, its
 * reports (__PURGE_QUEUE, __PURGE_INFLIGHT: RETRY) served, then it is
 * destroyed. Counted in sluice_kafka_sink_producer_restarts_total.
 *
 * Exactly once holds per producer session only: a record whose report
 * was lost (a timeout after the broker wrote it), or that was in flight
 * at a restart, is retried by the engine with a new sequence number and
 * can be written twice.
 *
 * ready() asks the brokers for the metadata of all topics (asking for the
 * topic by name would create it where auto-creation is on, even with
 * allow.auto.create.topics=false: librdkafka 2.0.2 asks for it), waiting
 * KAFKA_PROBE_TIMEOUT_MS at most, no more often than every KAFKA_PROBE_MS;
 * it answers from the last answer in between. Not ready: no answer, or the
 * topic is not there.
 *
 * Threads:
 *   - deliver() on several delivery workers at once; ready() on the metrics
 *     thread; create() and destroy() on the main thread (or a worker, for
 *     destroy), with no deliver() running.
 *   - the poller thread (one per instance): rd_kafka_poll, hence every
 *     dr_msg_cb and error_cb; it alone replaces <rk>.
 *   - <rk> is read under <rk_lock> (read side: produce, metadata), written
 *     by the poller under its write side.
 *   - <mu> guards every struct call's fields, the list of calls, <why> and
 *     the waits for room (<room>); no other lock is taken while holding it.
 *     Lock order: rk_lock, then mu.
 *   - counters, <state>, <fatal>, <probed_ms>, <loud> are atomics.
 */
#include "sink_kafka.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "clock.h"
#include "json_check.h"
#include "log.h"
#include "metrics.h"
#include "partition.h"
#include "sink.h"
#include "sluice/err.h"

#define KAFKA_PROBE_MS 5000          /* ready(): metadata at most this often */
#define KAFKA_PROBE_TIMEOUT_MS 1000  /* ... waited for at most this long */
#define KAFKA_GRACE_MS 30000         /* past message.timeout.ms: a call stops waiting */
#define KAFKA_FULL_WAIT_MS 30000     /* __QUEUE_FULL: wait for room this long at most */
#define KAFKA_DRAIN_MS 10000         /* a replaced producer's reports, waited for */
#define KAFKA_FLUSH_MS 10000         /* destroy(): rd_kafka_flush at most this long */
#define KAFKA_POLL_MS 100            /* the poller's rd_kafka_poll timeout */
#define NO_REPORT INT_MIN            /* a record's error before its report: no code */

/* own[] slots in the stream's sl_sink_stats. */
enum { K_DELIVERED, K_RETRIED, K_FAILED, K_RESTARTS };

/* ---- keys ---- */

struct kafka_conf {
    char brokers[1024];
    char topic[250];
    char key[128];
    char options[4096];              /* "NAME=VALUE\n" lines (SL_K_MAP) */
};

#define S(f) SL_KSTR(struct kafka_conf, f)

static const struct sl_conf_key kafka_keys[] = {
    { "kafka_sink.brokers", SL_K_STRING, S(brokers), 0, 0, "", NULL,
      "kafka sink: bootstrap brokers, HOST:PORT[,HOST:PORT...] (required)" },
    { "kafka_sink.topic", SL_K_STRING, S(topic), 0, 0, "", NULL,
      "kafka sink: the topic every record goes to (required; 1-249 of a-z A-Z 0-9 . _ -)" },
    { "kafka_sink.key", SL_K_STRING, S(key), 0, 0, "", NULL,
      "kafka sink: each message's key: !{partitionKeyFromQuery:NAME} or "
      "!{partitionKeyFromLambda:NAME}, a key of partition_keys; empty: no key" },
    { "kafka_sink.option.*", SL_K_MAP, S(options), 0, 0, NULL, NULL,
      "kafka sink: kafka_sink.option.NAME = VALUE sets librdkafka producer property NAME "
      "(acks, linger.ms, compression.codec, security.protocol ...), checked at load; "
      "they win over sluice's defaults (enable.idempotence=true, "
      "message.timeout.ms=60000, queue.buffering.max.kbytes=65536)" },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

int sl__sink_kafka_key_parse(const char *text, char name[64], int *lambda, char *why,
                             size_t whylen)
{
    static const char q[] = "!{partitionKeyFromQuery:", l[] = "!{partitionKeyFromLambda:";
    size_t n = strlen(text), pre;

    name[0] = '\0';
    *lambda = 0;
    if (n == 0)
        return 1;
    if (strncmp(text, q, sizeof(q) - 1) == 0)
        pre = sizeof(q) - 1;
    else if (strncmp(text, l, sizeof(l) - 1) == 0)
        pre = sizeof(l) - 1, *lambda = 1;
    else
        goto bad;
    size_t len = n - pre - 1;
    if (n <= pre + 1 || text[n - 1] != '}' || len >= 64)
        goto bad;
    for (size_t i = pre; i < n - 1; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
                    text[i]))
            goto bad;
    memcpy(name, text + pre, len);
    name[len] = '\0';
    return 1;
bad:
    snprintf(why, whylen, "'%s' is not a key expression: !{partitionKeyFromQuery:NAME} or "
             "!{partitionKeyFromLambda:NAME} (NAME: 1-63 of letters, digits, _ and -), or "
             "empty for no key", text);
    name[0] = '\0';
    return 0;
}

static int topic_ok(const char *t)
{
    size_t n = strlen(t);

    return n >= 1 && n <= 249 && strcmp(t, ".") != 0 && strcmp(t, "..") != 0 &&
           strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* Properties a user may not set: sluice sets them from its own keys, or
 * does not support what they turn on. */
static const char *refused_option(const char *name)
{
    if (strcmp(name, "bootstrap.servers") == 0 || strcmp(name, "metadata.broker.list") == 0)
        return "set kafka_sink.brokers instead";
    if (strcmp(name, "transactional.id") == 0)
        return "transactions are not supported: the sink is an idempotent producer";
    return NULL;
}

/*
 * A producer conf from <c>: sluice's defaults, then each option. NULL on
 * failure, with the key at fault in <key> ("" for none) and why in <err>.
 * Returns new: rd_kafka_conf_destroy, or rd_kafka_new takes it.
 */
static rd_kafka_conf_t *make_conf(const struct kafka_conf *c, char *key, size_t keylen,
                                  char *err, size_t errlen)
{
    static const char *const defaults[][2] = {
        { "enable.idempotence", "true" },
        { "message.timeout.ms", "60000" },
        { "queue.buffering.max.kbytes", "65536" },
        { "client.id", "sluice" },
        { "log.connection.close", "false" },
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char name[256], value[1024];
    size_t pos = 0;

    key[0] = '\0';
    if (!conf) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (rd_kafka_conf_set(conf, "bootstrap.servers", c->brokers, err, errlen) !=
        RD_KAFKA_CONF_OK) {
        snprintf(key, keylen, "kafka_sink.brokers");
        goto fail;
    }
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        if (rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], err, errlen) !=
            RD_KAFKA_CONF_OK)
            goto fail;
    while (sl_conf_key_map_next(c->options, &pos, name, sizeof(name), value, sizeof(value))) {
        const char *no = refused_option(name);
        snprintf(key, keylen, "kafka_sink.option.%s", name);
        if (no) {
            snprintf(err, errlen, "%s", no);
            goto fail;
        }
        if (rd_kafka_conf_set(conf, name, value, err, errlen) != RD_KAFKA_CONF_OK)
            goto fail;
    }
    key[0] = '\0';
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* 1 if <spec> defines query key <name> (not one a transform sets). */
static int query_key(const struct sl_partition_spec *spec, const char *name)
{
    for (unsigned k = 0; k < spec->n; k++)
        if (!spec->lambda[k] && strcmp(spec->name[k], name) == 0)
            return 1;
    return 0;
}

static void kafka_check(void *conf, struct sl_conf_check *chk)
{
    struct kafka_conf *c = conf;
    char why[512], key[300], name[64];
    int lambda;

    if (!c->brokers[0])
        sl_conf_key_check_err(chk, "kafka_sink.brokers", "required when sink = kafka");
    if (!c->topic[0])
        sl_conf_key_check_err(chk, "kafka_sink.topic", "required when sink = kafka");
    else if (!topic_ok(c->topic))
        sl_conf_key_check_err(chk, "kafka_sink.topic", "'%s' is not a topic name: 1-249 of "
                              "a-z A-Z 0-9 . _ - (not . or ..)", c->topic);
    if (!sl__sink_kafka_key_parse(c->key, name, &lambda, why, sizeof(why)))
        sl_conf_key_check_err(chk, "kafka_sink.key", "%s", why);
    else if (name[0] && !lambda && chk->partition && !query_key(chk->partition, name))
        sl_conf_key_check_err(chk, "kafka_sink.key", "partition key %s is not in "
                              "partition_keys (define it there: %s=.json.path)", name, name);
    if (!c->brokers[0])
        return;
    rd_kafka_conf_t *rc = make_conf(c, key, sizeof(key), why, sizeof(why));
    if (rc)
        rd_kafka_conf_destroy(rc);
    else
        sl_conf_key_check_err(chk, key[0] ? key : "kafka_sink.option.*", "%s", why);
}

static void kafka_dest(const void *conf, struct sl_sink_dest *d)
{
    const struct kafka_conf *c = conf;
    unsigned n = 1;

    for (const char *p = c->brokers; *p; p++)
        n += *p == ',';
    d->connections = 2 * n + 2;   /* each broker (bootstrap and learned), one spare */
    snprintf(d->failed_name, sizeof(d->failed_name), "kafka");
}

/* ---- what an error means ---- */

int sl__sink_kafka_classify(int err)
{
    switch ((rd_kafka_resp_err_t)err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return SL_SINK_OK;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:          /* larger than message.max.bytes */
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:       /* no such topic (no auto-create) */
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:             /* an invalid topic name */
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:              /* the broker's validation */
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__BAD_MSG:
        return SL_SINK_FAIL;
    default:        /* timeouts, transport, leaders, replicas, purges, fatal, unknown */
        return SL_SINK_RETRY;
    }
}

int sl__sink_kafka_cause(int err)
{
    switch ((rd_kafka_resp_err_t)err) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
        return SL_RETRY_CONNECTION;
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        return SL_RETRY_TIMEOUT;
    case RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
        return SL_RETRY_THROTTLED;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
        return SL_RETRY_FORBIDDEN;
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
        return SL_RETRY_SERVER;
    default:
        return SL_RETRY_SINK;
    }
}

/* ---- the instance ---- */

enum { K_UNKNOWN, K_UP, K_DOWN };

/* One deliver(): its records' answers. Every field under the sink's <mu>.
 * Lives while its caller waits or a report is due (<refs>), on the sink's
 * list of calls, which frees any left at the end. */
struct call {
    struct call *prev, *next;        /* the sink's list */
    pthread_cond_t done;             /* <pending> reached 0 */
    size_t n;
    size_t pending;                  /* reports still due to the caller */
    size_t refs;                     /* the caller (until it leaves) + messages out */
    int gone;                        /* the caller stopped waiting */
    int *err;                        /* per record: its report's error, or NO_REPORT */
    struct msg {                     /* per record: a message's opaque */
        struct call *call;
        size_t i;
    } *msgs;
};

struct kafka_sink {
    char stream[80];
    char topic[250];
    char key_name[64];               /* "" for no key */
    int key_lambda;
    struct kafka_conf conf;          /* for a new producer after a fatal error */
    int64_t wait_ms;                 /* message.timeout.ms + KAFKA_GRACE_MS */

    pthread_rwlock_t rk_lock;        /* <rk>: read to use, write (poller) to replace */
    rd_kafka_t *rk;

    pthread_mutex_t mu;              /* calls, <why>, waits for room */
    pthread_cond_t room;             /* a report came: the local queue has room */
    struct call *calls;              /* every call alive */
    int room_waiters;
    char why[300];                   /* why not ready */

    pthread_t poller;
    int poller_on;
    _Atomic int stop;                /* destroy(): the poller ends */
    _Atomic int fatal;               /* error_cb saw __FATAL: the poller replaces <rk> */
    _Atomic uint64_t restarts;       /* not yet counted into a stream's own[] */
    _Atomic int state;               /* K_UNKNOWN, K_UP, K_DOWN */
    _Atomic int64_t probed_ms;
    _Atomic int probing;
    _Atomic int loud_fail, loud_key; /* an error was logged, once */
    struct sl_ratelimit rl_retry;
};

static void set_why(struct kafka_sink *k, int state, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_why(struct kafka_sink *k, int state, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&k->mu);
    va_start(ap, fmt);
    vsnprintf(k->why, sizeof(k->why), fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&k->mu);
    atomic_store(&k->state, state);
}

/* Frees <c>; under <mu>, its refs at 0. */
static void call_free_locked(struct kafka_sink *k, struct call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        k->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_cond_destroy(&c->done);
    free(c->err);
    free(c->msgs);
    free(c);
}

/* dr_msg_cb: on the poller thread, once per message produced. */
static void on_report(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct kafka_sink *k = opaque;
    struct msg *mm = m->_private;
    struct call *c = mm->call;

    (void)rk;
    pthread_mutex_lock(&k->mu);
    if (!c->gone && c->err[mm->i] == NO_REPORT) {
        c->err[mm->i] = m->err;
        if (--c->pending == 0)
            pthread_cond_signal(&c->done);
    }
    if (--c->refs == 0)
        call_free_locked(k, c);
    if (k->room_waiters)
        pthread_cond_broadcast(&k->room);
    pthread_mutex_unlock(&k->mu);
}

/* error_cb: on the poller thread. */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct kafka_sink *k = opaque;
    char why[512];

    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_resp_err_t cause = rd_kafka_fatal_error(rk, why, sizeof(why));
        sl_error("stream=%s sink=kafka msg=\"fatal producer error: a new producer takes "
                 "over; records in flight are retried (they may be written twice)\" "
                 "error=%s reason=\"%s\"", k->stream, rd_kafka_err2name(cause), why);
        atomic_store(&k->fatal, 1);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        set_why(k, K_DOWN, "all brokers down: %s", reason);
    sl_debug("stream=%s sink=kafka msg=\"producer error\" error=%s reason=\"%s\"", k->stream,
             rd_kafka_err2name(err), reason);
}

/* log_cb: on librdkafka's threads. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    struct kafka_sink *k = rd_kafka_opaque(rk);
    int lv = level <= 4 ? SL_LOG_WARN : level <= 6 ? SL_LOG_INFO : SL_LOG_DEBUG;

    if (sl_log_enabled(lv))
        sl_log(lv, "stream=%s sink=kafka msg=\"librdkafka: %s\" facility=%s",
               k ? k->stream : "?", buf, fac);
}

/* A new producer for <k>. NULL with <err> on failure. */
static rd_kafka_t *make_producer(struct kafka_sink *k, char *err, size_t errlen)
{
    char key[300];
    rd_kafka_conf_t *conf = make_conf(&k->conf, key, sizeof(key), err, errlen);

    if (!conf)
        return NULL;
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_dr_msg_cb(conf, on_report);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (!rk)
        rd_kafka_conf_destroy(conf);
    return rk;
}

/* Serves <rk>'s reports until none are due, or <ms> have passed. */
static void drain(rd_kafka_t *rk, int64_t ms)
{
    int64_t end = sl_clock_mono_ms() + ms;

    while (rd_kafka_outq_len(rk) > 0 && sl_clock_mono_ms() < end)
        rd_kafka_poll(rk, 50);
    rd_kafka_poll(rk, 0);
}

/* The poller, after a fatal error: a new producer, the old one emptied. */
static void restart(struct kafka_sink *k)
{
    char err[512];
    rd_kafka_t *fresh = make_producer(k, err, sizeof(err)), *old;

    if (!fresh) {
        sl_error("stream=%s sink=kafka msg=\"cannot make a new producer; trying again\" "
                 "error=\"%s\"", k->stream, err);
        return;                                   /* <fatal> stays set: next turn */
    }
    pthread_rwlock_wrlock(&k->rk_lock);
    old = k->rk;
    k->rk = fresh;
    atomic_store(&k->fatal, 0);
    pthread_rwlock_unlock(&k->rk_lock);
    rd_kafka_purge(old, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    drain(old, KAFKA_DRAIN_MS);
    rd_kafka_destroy(old);
    atomic_fetch_add(&k->restarts, 1);
    sl_warn("stream=%s sink=kafka msg=\"producer restarted\"", k->stream);
}

static void *poller_main(void *arg)
{
    struct kafka_sink *k = arg;

    while (!atomic_load(&k->stop)) {
        rd_kafka_poll(k->rk, KAFKA_POLL_MS);     /* only this thread replaces rk */
        if (atomic_load(&k->fatal)) {
            restart(k);
            if (atomic_load(&k->fatal)) {
                struct timespec ts = { 1, 0 };
                nanosleep(&ts, NULL);             /* a failed restart: not in a loop */
            }
        }
    }
    return NULL;
}

static void kafka_destroy(void *ctx)
{
    struct kafka_sink *k = ctx;

    if (!k)
        return;
    if (k->poller_on) {
        atomic_store(&k->stop, 1);
        pthread_join(k->poller, NULL);
    }
    if (k->rk) {
        if (rd_kafka_flush(k->rk, KAFKA_FLUSH_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            sl_warn("stream=%s sink=kafka msg=\"messages not delivered before the sink "
                    "closed: purged\" messages=%d", k->stream, rd_kafka_outq_len(k->rk));
            rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            drain(k->rk, KAFKA_DRAIN_MS);
        }
        rd_kafka_destroy(k->rk);
    }
    while (k->calls) {                       /* no report can come any more */
        k->calls->refs = 0;
        call_free_locked(k, k->calls);
    }
    pthread_cond_destroy(&k->room);
    pthread_mutex_destroy(&k->mu);
    pthread_rwlock_destroy(&k->rk_lock);
    free(k);
}

static int kafka_create(const char *stream, const void *conf, void **ctx, char *err,
                        size_t errlen)
{
    const struct kafka_conf *c = conf;
    struct kafka_sink *k = calloc(1, sizeof(*k));
    char why[300], val[64];
    size_t vlen = sizeof(val);

    if (!k) {
        snprintf(err, errlen, "out of memory");
        return SL_ENOMEM;
    }
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);                 /* a restart is not starved by produce */
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&k->rk_lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->room, NULL);
    memcpy(&k->conf, c, sizeof(*c));
    snprintf(k->stream, sizeof(k->stream), "%s", stream);
    snprintf(k->topic, sizeof(k->topic), "%s", c->topic);
    snprintf(k->why, sizeof(k->why), "no answer from the brokers yet");
    if (!sl__sink_kafka_key_parse(c->key, k->key_name, &k->key_lambda, why, sizeof(why))) {
        snprintf(err, errlen, "kafka_sink.key: %s", why);
        goto fail;
    }
    k->rk = make_producer(k, err, errlen);
    if (!k->rk)
        goto fail;
    k->wait_ms = 300000 + KAFKA_GRACE_MS;
    rd_kafka_conf_t *eff = rd_kafka_conf_dup(rd_kafka_conf(k->rk));
    if (eff && rd_kafka_conf_get(eff, "message.timeout.ms", val, &vlen) == RD_KAFKA_CONF_OK)
        k->wait_ms = strtoll(val, NULL, 10) + KAFKA_GRACE_MS;
    if (eff)
        rd_kafka_conf_destroy(eff);
    if (pthread_create(&k->poller, NULL, poller_main, k) != 0) {
        snprintf(err, errlen, "cannot start the poller thread");
        goto fail;
    }
    k->poller_on = 1;
    sl_info("stream=%s msg=\"kafka sink\" brokers=\"%s\" topic=%s key=\"%s\"", stream,
            c->brokers, c->topic, c->key);
    *ctx = k;
    return SL_OK;
fail:
    kafka_destroy(k);
    return SL_EINVAL;
}

void sl__sink_kafka_test_fatal(void *ctx)
{
    struct kafka_sink *k = ctx;

    pthread_rwlock_rdlock(&k->rk_lock);
    rd_kafka_test_fatal_error(k->rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                              "raised by a test");
    pthread_rwlock_unlock(&k->rk_lock);
}

/* ---- deliver ---- */

/* A new call of <n> records, on <k>'s list; NULL when out of memory. */
static struct call *call_new(struct kafka_sink *k, size_t n)
{
    struct call *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->err = malloc((n ? n : 1) * sizeof(*c->err));
    c->msgs = malloc((n ? n : 1) * sizeof(*c->msgs));
    if (!c->err || !c->msgs) {
        free(c->err);
        free(c->msgs);
        free(c);
        return NULL;
    }
    pthread_cond_init(&c->done, NULL);
    c->n = n;
    c->refs = 1;
    for (size_t i = 0; i < n; i++) {
        c->err[i] = NO_REPORT;
        c->msgs[i] = (struct msg){ .call = c, .i = i };
    }
    pthread_mutex_lock(&k->mu);
    c->next = k->calls;
    if (k->calls)
        k->calls->prev = c;
    k->calls = c;
    pthread_mutex_unlock(&k->mu);
    return c;
}

/* Record <i> was not produced: <err> is its answer, no report will come. */
static void answer_now(struct kafka_sink *k, struct call *c, size_t i, int err)
{
    pthread_mutex_lock(&k->mu);
    c->err[i] = err;
    c->pending--;
    pthread_mutex_unlock(&k->mu);
}

/* Waits for room in the local queue, at most until <end> (mono ms), with
 * <rk_lock> released meanwhile (a restart may need it). 0 past <end>. */
static int wait_room(struct kafka_sink *k, int64_t end)
{
    int64_t now = sl_clock_mono_ms();
    struct timespec ts;

    if (now >= end)
        return 0;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 50 * 1000000L;                 /* a report wakes it sooner */
    if (ts.tv_nsec >= 1000000000L)
        ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&k->mu);
    k->room_waiters++;
    pthread_cond_timedwait(&k->room, &k->mu, &ts);
    k->room_waiters--;
    pthread_mutex_unlock(&k->mu);
    return 1;
}

/* Produces the records of <b> for <c>; the key is <key> (NULL: none). */
static void produce_all(struct kafka_sink *k, const struct sl_sink_batch *b, struct call *c,
                        const char *key)
{
    struct sl_batch_iter it;
    struct sl_record r;
    size_t i = 0, keylen = key ? strlen(key) : 0;
    int64_t full_end = sl_clock_mono_ms() + KAFKA_FULL_WAIT_MS;
    int stop_err = 0;

    pthread_rwlock_rdlock(&k->rk_lock);
    sl_batch_iter_init(&it, b->batch);
    for (; sl_batch_next(&it, &r); i++) {
        size_t len = r.len;
        if (len && r.data[len - 1] == '\n')
            len--;
        if (len && r.data[len - 1] == '\r')
            len--;
        if (stop_err) {
            answer_now(k, c, i, stop_err);
            continue;
        }
        pthread_mutex_lock(&k->mu);
        c->refs++;                                /* the message's, if it goes */
        pthread_mutex_unlock(&k->mu);
        rd_kafka_resp_err_t e;
        for (;;) {
            e = rd_kafka_producev(k->rk, RD_KAFKA_V_TOPIC(k->topic),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_VALUE((void *)r.data, len),
                                  RD_KAFKA_V_KEY(key, keylen),
                                  RD_KAFKA_V_OPAQUE(&c->msgs[i]), RD_KAFKA_V_END);
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                break;
            pthread_rwlock_unlock(&k->rk_lock);
            int more = wait_room(k, full_end);
            pthread_rwlock_rdlock(&k->rk_lock);
            if (!more)
                break;
        }
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            continue;
        pthread_mutex_lock(&k->mu);
        c->refs--;
        pthread_mutex_unlock(&k->mu);
        answer_now(k, c, i, e);
        if (e == RD_KAFKA_RESP_ERR__FATAL || e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            stop_err = e;                         /* the rest would only fail the same */
    }
    pthread_rwlock_unlock(&k->rk_lock);
}

/* Waits until every report of <c> came, or until k->wait_ms passed; then
 * copies the errors into <errs> and leaves <c> (freed by its last report
 * if some are still due). */
static void wait_reports(struct kafka_sink *k, struct call *c, int *errs)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += k->wait_ms / 1000;
    ts.tv_nsec += (k->wait_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L)
        ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&k->mu);
    while (c->pending > 0)
        if (pthread_cond_timedwait(&c->done, &k->mu, &ts) != 0 && c->pending > 0)
            break;
    for (size_t i = 0; i < c->n; i++)
        errs[i] = c->err[i] == NO_REPORT ? RD_KAFKA_RESP_ERR__MSG_TIMED_OUT : c->err[i];
    c->gone = 1;
    if (--c->refs == 0)
        call_free_locked(k, c);
    pthread_mutex_unlock(&k->mu);
}

/* The key of part <b>: its partition key value, or NULL (none, or it is
 * missing: *<missing> set). */
static const char *part_key(struct kafka_sink *k, const struct sl_sink_batch *b, int *missing)
{
    const char *v = NULL;

    *missing = 0;
    if (!k->key_name[0])
        return NULL;
    if (b->partition)
        v = sl_partition_value(b->partition, b->batch, k->key_lambda, k->key_name,
                               strlen(k->key_name));
    if (!v) {
        *missing = 1;
        if (!atomic_exchange(&k->loud_key, 1))
            sl_error("stream=%s sink=kafka msg=\"kafka_sink.key names a key partition_keys "
                     "does not define (or a transform did not set): records to backup\" "
                     "key=%s", k->stream, k->key_name);
    }
    return v;
}

/* Fills <out> from the records' errors; counts; notes for those not OK. */
static void answer(struct kafka_sink *k, const struct sl_sink_batch *b,
                   struct sl_sink_outcome *out, const int *errs, size_t n, int key_missing)
{
    size_t count[3] = { 0 };
    const char **codes = NULL, **msgs = NULL;
    int first_fail = 0, first_retry = 0;

    for (size_t i = 0; i < n; i++) {
        int res = key_missing ? SL_SINK_FAIL : sl__sink_kafka_classify(errs[i]);
        out->record_results[i] = (uint8_t)res;
        count[res]++;
        if (res == SL_SINK_FAIL && !first_fail)
            first_fail = key_missing ? 1 : errs[i];
        if (res == SL_SINK_RETRY && !first_retry)
            first_retry = errs[i];
    }
    sl_stat_add(&b->stats->own[K_DELIVERED], count[SL_SINK_OK]);
    sl_stat_add(&b->stats->own[K_RETRIED], count[SL_SINK_RETRY]);
    sl_stat_add(&b->stats->own[K_FAILED], count[SL_SINK_FAIL]);
    if (count[SL_SINK_OK] == n) {
        out->result = SL_SINK_OK;
        if (atomic_load(&k->state) != K_UP)
            set_why(k, K_UP, "%s", "");
        atomic_store(&k->loud_fail, 0);
        return;
    }
    out->result = count[SL_SINK_FAIL] ? SL_SINK_FAIL : SL_SINK_RETRY;
    /* per record whenever one failed, even all of them: the engine keeps
     * the notes (each record's error) only on that path */
    out->per_record = count[SL_SINK_FAIL] > 0 || count[SL_SINK_RETRY] < n;
    out->cause = first_retry ? sl__sink_kafka_cause(first_retry) : SL_RETRY_SINK;
    codes = calloc(n ? n : 1, sizeof(*codes));
    msgs = calloc(n ? n : 1, sizeof(*msgs));
    if (codes && msgs) {
        for (size_t i = 0; i < n; i++) {
            if (out->record_results[i] == SL_SINK_OK)
                continue;
            codes[i] = key_missing ? "Kafka.KeyMissing" : rd_kafka_err2name(errs[i]);
            msgs[i] = key_missing ? "kafka_sink.key names a partition key the record's "
                                    "part does not have" : rd_kafka_err2str(errs[i]);
        }
        out->record_notes = sl_batch_notes_errors(n, codes, msgs, SL_NOTE_BY_SINK,
                                                  b->batch->attempts + 1);
    }
    free(codes);
    free(msgs);
    snprintf(out->error, sizeof(out->error), "kafka: %zu of %zu records failed, %zu to "
             "retry%s%s%s%s", count[SL_SINK_FAIL], n, count[SL_SINK_RETRY],
             first_fail ? "; first failure: " : "",
             first_fail ? (key_missing ? "Kafka.KeyMissing" : rd_kafka_err2name(first_fail))
                        : "",
             first_retry ? "; first to retry: " : "",
             first_retry ? rd_kafka_err2name(first_retry) : "");
    if (count[SL_SINK_FAIL] && !atomic_exchange(&k->loud_fail, 1))
        sl_error("stream=%s sink=kafka msg=\"records refused: to backup\" error=\"%s\"",
                 k->stream, out->error);
    uint64_t held;
    if (count[SL_SINK_RETRY] && sl_log_ratelimit_ok(&k->rl_retry, 10000, &held))
        sl_warn("stream=%s sink=kafka msg=\"records to retry\" error=\"%s\" suppressed=%llu",
                k->stream, out->error, (unsigned long long)held);
}

static void kafka_deliver(void *ctx, const struct sl_sink_batch *b, struct sl_sink_outcome *out)
{
    struct kafka_sink *k = ctx;
    size_t n = b->batch->nrecords;
    int64_t t0 = sl_clock_mono_ns();
    int missing;
    uint64_t r = atomic_exchange(&k->restarts, 0);

    if (r)
        sl_stat_add(&b->stats->own[K_RESTARTS], r);
    out->result = SL_SINK_RETRY;
    const char *key = part_key(k, b, &missing);
    int *errs = malloc((n ? n : 1) * sizeof(*errs));
    struct call *c = errs && !missing ? call_new(k, n) : NULL;
    if (!errs || (!missing && !c)) {
        free(errs);
        snprintf(out->error, sizeof(out->error), "kafka: out of memory");
        return;
    }
    if (!missing) {
        c->pending = n;
        produce_all(k, b, c, key);
        wait_reports(k, c, errs);
    }
    answer(k, b, out, errs, n, missing);
    free(errs);
    sl_metrics_observe(&b->stats->own_hist, (double)(sl_clock_mono_ns() - t0) / 1e9);
}

/* ---- readiness, metrics, envelope ---- */

static void probe(struct kafka_sink *k)
{
    const struct rd_kafka_metadata *md = NULL;

    atomic_store(&k->probed_ms, sl_clock_mono_ms());
    pthread_rwlock_rdlock(&k->rk_lock);
    rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 1, NULL, &md, KAFKA_PROBE_TIMEOUT_MS);
    pthread_rwlock_unlock(&k->rk_lock);
    const struct rd_kafka_metadata_topic *t = NULL;
    for (int i = 0; !e && i < md->topic_cnt && !t; i++)
        if (strcmp(md->topics[i].topic, k->topic) == 0)
            t = &md->topics[i];
    if (e)
        set_why(k, K_DOWN, "no metadata from the brokers: %s", rd_kafka_err2str(e));
    else if (!t || t->err)
        set_why(k, K_DOWN, "topic %s: %s", k->topic,
                rd_kafka_err2str(t ? t->err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
    else
        set_why(k, K_UP, "%s", "");
    if (md)
        rd_kafka_metadata_destroy(md);
}

static int kafka_ready(void *ctx, char *why, size_t whylen)
{
    struct kafka_sink *k = ctx;
    int expected = 0;

    if (sl_clock_mono_ms() - atomic_load(&k->probed_ms) >= KAFKA_PROBE_MS &&
        atomic_compare_exchange_strong(&k->probing, &expected, 1)) {
        probe(k);                                /* one caller at a time; others answer */
        atomic_store(&k->probing, 0);
    }
    if (atomic_load(&k->state) == K_UP)
        return 1;
    pthread_mutex_lock(&k->mu);
    snprintf(why, whylen, "%s", k->why);
    pthread_mutex_unlock(&k->mu);
    return 0;
}

static void kafka_metrics(struct sl_buf *o, const struct sl_metrics_sink *s, size_t n)
{
    static const char *const result[] = { "delivered", "retried", "failed" };
    char labels[96];

    sl_metrics_family(o, "sluice_kafka_sink_messages_total", "counter",
                      "Records by their delivery report: delivered, retried (a retriable "
                      "error or none in time), failed (a permanent error: to backup).");
    for (size_t i = 0; i < n; i++)
        for (int r = K_DELIVERED; r <= K_FAILED; r++)
            sl_buf_printf(o, "sluice_kafka_sink_messages_total{stream=\"%s\",result=\"%s\"} "
                          "%llu\n", s[i].stream, result[r],
                          (unsigned long long)atomic_load(&s[i].st->own[r]));
    sl_metrics_family(o, "sluice_kafka_sink_producer_restarts_total", "counter",
                      "Producers replaced after a fatal error (records in flight retried).");
    for (size_t i = 0; i < n; i++)
        sl_buf_printf(o, "sluice_kafka_sink_producer_restarts_total{stream=\"%s\"} %llu\n",
                      s[i].stream, (unsigned long long)atomic_load(&s[i].st->own[K_RESTARTS]));
    sl_metrics_family(o, "sluice_kafka_sink_produce_duration_seconds", "histogram",
                      "Time of one deliver(): records produced until each has its report.");
    for (size_t i = 0; i < n; i++) {
        snprintf(labels, sizeof(labels), "stream=\"%s\"", s[i].stream);
        sl_metrics_histogram(o, "sluice_kafka_sink_produce_duration_seconds", labels,
                             &s[i].st->own_hist);
    }
}

/* A refused record's backup envelope: the topic it was for. */
static void kafka_envelope(void *ctx, const struct sl_batch_iter *it,
                           const struct sl_record *r, struct sl_buf *out)
{
    struct kafka_sink *k = ctx;

    (void)it, (void)r;
    sl_buf_printf(out, ",\"kafkaTopic\":\"");
    sl_json_check_append_str(out, k->topic, strlen(k->topic));
    sl_buf_append(out, "\"", 1);
}

const struct sl_sink_ops sl_sink_kafka = {
    .name = "kafka",
    .prefix = "kafka_sink.",
    .shape = SL_SINK_RECORDS,
    .keys = kafka_keys,
    .conf_size = sizeof(struct kafka_conf),
    .check = kafka_check,
    .create = kafka_create,
    .deliver = kafka_deliver,
    .ready = kafka_ready,
    .destroy = kafka_destroy,
    .dest = kafka_dest,
    .metrics = kafka_metrics,
    .envelope = kafka_envelope,
};
