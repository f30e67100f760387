/*
 * loadgen.c - pushes newline-delimited records at sluice over TCP.
 *
 *   loadgen [-H host] [-p port] [-c connections] [-n records] [-s bytes]
 *
 * Each connection sends its share of <records> records of about <bytes>
 * bytes ("<conn>-<seq> xxx...\n", unique), in large writes, then shuts its
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
    long sent_bytes;
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

static void *run(void *arg)
{
    struct job *j = arg;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)j->port) };
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap + 4096), pad[8192], tmp[64];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    unsigned seed = (unsigned)j->id * 2654435761u + 1;

    /* Printable, and about as compressible as JSON events: a small
     * alphabet, so compressors have realistic work to do. */
    for (size_t i = 0; i < sizeof(pad); i++)
        pad[i] = "abcdefghijklmnopqrstuvwxyz0123456789\",:{} "[rand_r(&seed) % 43];
    inet_pton(AF_INET, j->host, &sa.sin_addr);
    if (!buf || fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("loadgen: connect");
        j->failed = 1;
        free(buf);
        return NULL;
    }
    for (long seq = 0; seq < j->records; seq++) {
        int n = snprintf(tmp, sizeof(tmp), "%d-%ld ", j->id, seq);
        long fill = j->size - n - 1 > 0 ? j->size - n - 1 : 0;
        memcpy(buf + len, tmp, (size_t)n);
        memcpy(buf + len + n, pad + (seq * 131) % 4096, (size_t)fill);
        len += (size_t)n + (size_t)fill;
        buf[len++] = '\n';
        if (len >= cap || seq == j->records - 1) {
            if (send_all(fd, buf, len) != 0) {
                perror("loadgen: send");
                j->failed = 1;
                break;
            }
            j->sent_bytes += (long)len;
            len = 0;
        }
    }
    shutdown(fd, SHUT_WR);
    while (read(fd, tmp, sizeof(tmp)) > 0)
        ;
    close(fd);
    free(buf);
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
    if (conns < 1 || conns > 1024 || records < 1 || size < 16 || size > 4000) {
        fprintf(stderr, "loadgen: bad arguments\n");
        return 2;
    }
    pthread_t th[1024];
    struct job jobs[1024];
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < conns; i++) {
        jobs[i] = (struct job){ host, port, i, records / conns + (i < records % conns),
                                size, 0, 0 };
        pthread_create(&th[i], NULL, run, &jobs[i]);
    }
    for (int i = 0; i < conns; i++) {
        pthread_join(th[i], NULL);
        bytes += jobs[i].sent_bytes;
        failed |= jobs[i].failed;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("loadgen: %ld records, %.1f MiB over %d connections in %.3f s: "
           "%.0f records/s, %.1f MiB/s\n", records, (double)bytes / 1048576.0, conns, s,
           (double)records / s, (double)bytes / 1048576.0 / s);
    return failed;
}
