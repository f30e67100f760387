/*
 * loadgen.c - pushes newline-delimited records at sluice over TCP.
 *
 *   loadgen [-H host] [-p port] [-c connections] [-n records] [-s bytes]
 *
 * Each connection sends its share of <records> records of about <bytes>
 * bytes (JSON-looking events with unique ids), made before the clock
 * starts, in large writes, then shuts its
 * write side and waits for sluice to close: at that point sluice has read
 * and handed on every record. Prints records/s and MiB/s of that phase.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct job {
    const char *host;
    int port, id;
    long records, size;
    char *payload;         /* all of this connection's records, made before timing */
    size_t len;
    int failed;
};

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static uint64_t next_rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/*
 * Builds the records of job <j>: JSON-looking events, half fixed text
 * (field names, a user agent) and half random characters, so that they
 * compress about like real clickstream events do rather than like a
 * repeated pad. Unique ids: "<conn>-<seq>".
 */
static int make_payload(struct job *j)
{
    static const char alpha[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    uint64_t x = 0x9e3779b97f4a7c15ULL * (uint64_t)(j->id + 1);
    char *p = malloc((size_t)j->records * (size_t)(j->size + 64));
    size_t len = 0;

    if (!p)
        return -1;
    for (long seq = 0; seq < j->records; seq++) {
        char *r = p + len;
        int n = snprintf(r, 256, "{\"id\":\"%d-%ld\",\"event\":\"page_view\",\"ua\":"
                         "\"Mozilla/5.0 (X11; Linux x86_64)\",\"user\":\"", j->id, seq);
        long fill = j->size - n - 3;
        for (long i = 0; i < fill; i++)
            r[n + i] = alpha[next_rnd(&x) % 36];
        n += fill > 0 ? (int)fill : 0;
        memcpy(r + n, "\"}\n", 3);
        len += (size_t)n + 3;
    }
    j->payload = p;
    j->len = len;
    return 0;
}

static void *run(void *arg)
{
    struct job *j = arg;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)j->port) };
    char tmp[64];
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    inet_pton(AF_INET, j->host, &sa.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("loadgen: connect");
        j->failed = 1;
        return NULL;
    }
    for (size_t off = 0; off < j->len; off += 1 << 20) {
        size_t n = j->len - off < (1 << 20) ? j->len - off : (1 << 20);
        if (send_all(fd, j->payload + off, n) != 0) {
            perror("loadgen: send");
            j->failed = 1;
            break;
        }
    }
    shutdown(fd, SHUT_WR);
    while (read(fd, tmp, sizeof(tmp)) > 0)
        ;
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 8441, conns = 8, opt, failed = 0;
    long records = 1000000, size = 300, bytes = 0;
    struct timespec t0, t1;

    while ((opt = getopt(argc, argv, "H:p:c:n:s:")) != -1) {
        switch (opt) {
        case 'H': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'c': conns = atoi(optarg); break;
        case 'n': records = atol(optarg); break;
        case 's': size = atol(optarg); break;
        default:
            fprintf(stderr, "usage: loadgen [-H host] [-p port] [-c conns] [-n records] [-s bytes]\n");
            return 2;
        }
    }
    if (conns < 1 || conns > 1024 || records < 1 || size < 120 || size > 4000) {
        fprintf(stderr, "loadgen: bad arguments\n");
        return 2;
    }
    static pthread_t th[1024];
    static struct job jobs[1024];
    for (int i = 0; i < conns; i++) {
        jobs[i] = (struct job){ .host = host, .port = port, .id = i, .size = size,
                                .records = records / conns + (i < records % conns) };
        if (make_payload(&jobs[i]) != 0) {
            fprintf(stderr, "loadgen: out of memory\n");
            return 1;
        }
        bytes += (long)jobs[i].len;
    }
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* For scripts that time the end to end: when the first byte leaves. */
    printf("loadgen: start %ld.%09ld\n", (long)wall.tv_sec, wall.tv_nsec);
    fflush(stdout);
    for (int i = 0; i < conns; i++)
        pthread_create(&th[i], NULL, run, &jobs[i]);
    for (int i = 0; i < conns; i++) {
        pthread_join(th[i], NULL);
        failed |= jobs[i].failed;
        free(jobs[i].payload);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("loadgen: %ld records, %.1f MiB over %d connections in %.3f s: "
           "%.0f records/s, %.1f MiB/s\n", records, (double)bytes / 1048576.0, conns, s,
           (double)records / s, (double)bytes / 1048576.0 / s);
    return failed;
}
