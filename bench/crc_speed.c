/*
 * crc_speed.c - throughput of sl_crc32c() over one buffer, for comparing
 * versions of src/crc32c.c by hand. Not built by the Makefile:
 *
 *   gcc -O2 -Isrc -o /tmp/crc_speed bench/crc_speed.c src/crc32c.c -pthread
 *   /tmp/crc_speed [BYTES [SECONDS [portable]]]      default 317440 (310 KiB), 1 s
 *
 * Checksums the same pseudo-random buffer (8-byte aligned) again and again
 * for about SECONDS and prints GB/s (10^9 bytes per second) and the CRC of
 * the buffer, so a version that computes a different answer shows.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crc32c.h"

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 310 * 1024;
    double secs = argc > 2 ? strtod(argv[2], NULL) : 1.0;
    int portable = argc > 3 && strcmp(argv[3], "portable") == 0;
    uint64_t x = 0x9e3779b97f4a7c15ULL, calls = 0;
    unsigned char *buf = aligned_alloc(64, n + 64);
    uint32_t crc, first;
    double t0, t;

    if (buf == NULL)
        return 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (unsigned char)x;
    }
    first = crc = sl_crc32c(0, buf, n); /* also the warm-up: tables, caches */
    t0 = now();
    do {
        /* Feeding the previous CRC in keeps the calls from being merged. */
        crc = portable ? sl_crc32c_portable(crc, buf, n) : sl_crc32c(crc, buf, n);
        calls++;
        t = now();
    } while (t - t0 < secs);
    printf("%s: %zu bytes x %llu calls in %.3f s: %.2f GB/s (crc %08x)\n",
           portable ? "portable" : "sl_crc32c", n, (unsigned long long)calls, t - t0,
           (double)n * (double)calls / (t - t0) / 1e9, first);
    free(buf);
    return 0;
}
