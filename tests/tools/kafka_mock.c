/*
 * kafka_mock.c - a Kafka cluster for the tests: librdkafka's mock cluster
 * (rdkafka_mock.h, experimental API) in a process of its own, which sluice
 * and kcat reach over loopback TCP like any cluster.
 *
 *   kafka-mock [-b BROKERS] [-p PARTITIONS]
 *
 * Prints the bootstrap list ("127.0.0.1:PORT,...") as its first line on
 * stdout, then reads commands on stdin, one per line, and answers each
 * with exactly one line: "ok" (with a result, for some) or "error WHY".
 *
 *   topic NAME [PARTITIONS]      create a topic (default: -p, else 4)
 *   error APIKEY CODE COUNT      the next COUNT requests of APIKEY (Produce 0,
 *                                Fetch 1, Metadata 3, OffsetCommit 8 ...)
 *                                are answered with error CODE (6
 *                                NOT_LEADER_FOR_PARTITION, 7 REQUEST_TIMED_OUT ...)
 *   clear [APIKEY]               drop the errors pushed (of every API key)
 *   topic_error NAME CODE        every request on topic NAME answers CODE
 *                                (0 clears it)
 *   down BROKERID | up BROKERID  a broker drops its connections and refuses
 *                                new ones / takes them again (ids from 1)
 *   committed GROUP TOPIC        "ok P=OFFSET P=OFFSET ..." for each partition
 *                                of TOPIC: GROUP's committed offset (-1001:
 *                                none), read with a consumer handle
 *   ping                         "ok"
 *
 * Stops on EOF of stdin, SIGTERM or SIGINT, destroying the cluster.
 * Topics created by a client's metadata request (auto-creation) get the
 * mock's own default of 4 partitions, whatever -p says.
 *
 * Threads: the main thread reads commands and owns every handle; the
 * cluster runs on librdkafka's threads, which get no signals (they are
 * blocked before the first handle is made, and read from a signalfd).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define API_KEYS_MAX 64       /* Kafka API keys cleared by `clear` (2.0.2 serves < 30) */
#define LINE_MAX_ 4096

struct mock {
    rd_kafka_t *rk;                  /* the dummy producer the cluster lives on */
    rd_kafka_mock_cluster_t *mc;
    int partitions;                  /* -p: default of `topic` */
    char bootstraps[1024];
};

/* Parses a whole decimal integer in [min, max]; 0 on failure. */
static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;

    if (!s || !*s)
        return 0;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return 0;
    *out = v;
    return 1;
}

/* `committed GROUP TOPIC`: the group's offsets, through a consumer handle. */
static void committed(struct mock *m, const char *group, const char *topic, char *ans,
                      size_t anslen)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_t *rkt = NULL;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;

    if (rd_kafka_conf_set(conf, "bootstrap.servers", m->bootstraps, err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err))) {
        snprintf(ans, anslen, "error %s", err);
        rd_kafka_conf_destroy(conf);
        return;
    }
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        snprintf(ans, anslen, "error %s", err);
        rd_kafka_conf_destroy(conf);
        return;
    }
    rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t e = rkt ? rd_kafka_metadata(rk, 0, rkt, &md, 5000)
                                : rd_kafka_last_error();
    if (!e && (md->topic_cnt != 1 || md->topics[0].err))
        e = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    if (e) {
        snprintf(ans, anslen, "error metadata of %s: %s", topic, rd_kafka_err2name(e));
        goto out;
    }
    parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[i].id);
    e = rd_kafka_committed(rk, parts, 5000);
    if (e) {
        snprintf(ans, anslen, "error committed: %s", rd_kafka_err2name(e));
        goto out;
    }
    size_t at = (size_t)snprintf(ans, anslen, "ok");
    for (int i = 0; i < parts->cnt && at < anslen; i++)
        at += (size_t)snprintf(ans + at, anslen - at, " %d=%lld", (int)parts->elems[i].partition,
                               (long long)parts->elems[i].offset);
out:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
}

/* Runs one command line (NUL-terminated, no newline); the answer into <ans>. */
static void command(struct mock *m, char *line, char *ans, size_t anslen)
{
    char *argv[8], *save = NULL;
    int argc = 0;
    long a, b, c;

    for (char *t = strtok_r(line, " \t\r", &save); t && argc < 8; t = strtok_r(NULL, " \t\r", &save))
        argv[argc++] = t;
    for (int i = argc; i < 8; i++)
        argv[i] = NULL;
    snprintf(ans, anslen, "ok");
    if (argc == 0) {
        snprintf(ans, anslen, "error empty command");
    } else if (strcmp(argv[0], "ping") == 0) {
        /* ok */
    } else if (strcmp(argv[0], "topic") == 0 && (argc == 2 || argc == 3)) {
        a = m->partitions;
        if (argc == 3 && !parse_long(argv[2], 1, 10000, &a)) {
            snprintf(ans, anslen, "error bad partition count '%s'", argv[2]);
            return;
        }
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(m->mc, argv[1], (int)a, 1);
        if (e)
            snprintf(ans, anslen, "error %s", rd_kafka_err2name(e));
    } else if (strcmp(argv[0], "error") == 0 && argc == 4) {
        if (!parse_long(argv[1], 0, API_KEYS_MAX - 1, &a) ||
            !parse_long(argv[2], -200, 1000, &b) || !parse_long(argv[3], 1, 100000, &c)) {
            snprintf(ans, anslen, "error usage: error APIKEY CODE COUNT");
            return;
        }
        rd_kafka_resp_err_t *errs = malloc((size_t)c * sizeof(*errs));
        if (!errs) {
            snprintf(ans, anslen, "error out of memory");
            return;
        }
        for (long i = 0; i < c; i++)
            errs[i] = (rd_kafka_resp_err_t)b;
        rd_kafka_mock_push_request_errors_array(m->mc, (int16_t)a, (size_t)c, errs);
        free(errs);
    } else if (strcmp(argv[0], "clear") == 0 && argc <= 2) {
        if (argc == 2 && !parse_long(argv[1], 0, API_KEYS_MAX - 1, &a)) {
            snprintf(ans, anslen, "error usage: clear [APIKEY]");
            return;
        }
        for (int k = 0; k < API_KEYS_MAX; k++)
            if (argc == 1 || k == a)
                rd_kafka_mock_clear_request_errors(m->mc, (int16_t)k);
    } else if (strcmp(argv[0], "topic_error") == 0 && argc == 3) {
        if (!parse_long(argv[2], -200, 1000, &b)) {
            snprintf(ans, anslen, "error usage: topic_error NAME CODE");
            return;
        }
        rd_kafka_mock_topic_set_error(m->mc, argv[1], (rd_kafka_resp_err_t)b);
    } else if ((strcmp(argv[0], "down") == 0 || strcmp(argv[0], "up") == 0) && argc == 2) {
        if (!parse_long(argv[1], 0, 1000, &a)) {
            snprintf(ans, anslen, "error usage: %s BROKERID", argv[0]);
            return;
        }
        rd_kafka_resp_err_t e = argv[0][0] == 'd'
                                ? rd_kafka_mock_broker_set_down(m->mc, (int32_t)a)
                                : rd_kafka_mock_broker_set_up(m->mc, (int32_t)a);
        if (e)
            snprintf(ans, anslen, "error %s", rd_kafka_err2name(e));
    } else if (strcmp(argv[0], "committed") == 0 && argc == 3) {
        committed(m, argv[1], argv[2], ans, anslen);
    } else {
        snprintf(ans, anslen, "error unknown command or arguments: %s", argv[0]);
    }
}

/* Reads and answers commands until EOF or a signal. */
static void serve(struct mock *m, int sfd)
{
    static char buf[LINE_MAX_];
    char ans[LINE_MAX_];
    size_t have = 0;

    for (;;) {
        struct pollfd p[2] = { { .fd = 0, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (p[1].revents)
            return;                                 /* SIGTERM, SIGINT */
        ssize_t n = read(0, buf + have, sizeof(buf) - 1 - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;                                 /* EOF: the test is gone */
        have += (size_t)n;
        char *nl;
        while ((nl = memchr(buf, '\n', have))) {
            *nl = '\0';
            command(m, buf, ans, sizeof(ans));
            printf("%s\n", ans);
            fflush(stdout);
            have -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, have);
        }
        if (have == sizeof(buf) - 1) {
            printf("error line too long\n");
            fflush(stdout);
            have = 0;
        }
    }
}

int main(int argc, char **argv)
{
    struct mock m = { .partitions = 4 };
    long brokers = 1, v;
    char err[512];
    int opt;
    sigset_t set;

    while ((opt = getopt(argc, argv, "b:p:")) != -1) {
        if (opt == 'b' && parse_long(optarg, 1, 16, &v))
            brokers = v;
        else if (opt == 'p' && parse_long(optarg, 1, 10000, &v))
            m.partitions = (int)v;
        else {
            fprintf(stderr, "usage: kafka-mock [-b BROKERS] [-p PARTITIONS]\n");
            return 2;
        }
    }
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);        /* librdkafka's threads inherit it */
    sigdelset(&set, SIGPIPE);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0) {
        perror("kafka-mock: signalfd");
        return 1;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
    m.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!m.rk) {
        fprintf(stderr, "kafka-mock: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    m.mc = rd_kafka_mock_cluster_new(m.rk, (int)brokers);
    if (!m.mc) {
        fprintf(stderr, "kafka-mock: cannot create the mock cluster\n");
        rd_kafka_destroy(m.rk);
        return 1;
    }
    snprintf(m.bootstraps, sizeof(m.bootstraps), "%s", rd_kafka_mock_cluster_bootstraps(m.mc));
    printf("%s\n", m.bootstraps);
    fflush(stdout);
    serve(&m, sfd);
    rd_kafka_mock_cluster_destroy(m.mc);
    rd_kafka_destroy(m.rk);
    close(sfd);
    return 0;
}
