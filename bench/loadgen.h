/*
 * loadgen.h - what the load generator's files share.
 */
#ifndef LG_LOADGEN_H
#define LG_LOADGEN_H

#include <stddef.h>
#include <stdint.h>

/* reader.c: calls <fn> with each record of file <path> (undoing .gz and
 * .zst), "\n" included; a last record without one is passed as it is.
 * Returns 0, or -1 if the file cannot be read or decompressed to its end. */
typedef void (*lg_record_fn)(void *arg, const char *rec, size_t len);
int lg_read_file(const char *path, lg_record_fn fn, void *arg);

/* verify.c: which records to expect where. */
struct lg_verify_args {
    const char *dir;             /* walked recursively */
    uint64_t seed;
    uint64_t first, n;           /* sequence numbers [first, first + n) were sent */
    int upper;                   /* expect them upper-cased (examples/transform_upper.c) */
};

struct lg_verify_result {
    uint64_t objects;            /* files read */
    uint64_t records;            /* lines found */
    uint64_t missing;            /* sequence numbers never seen */
    uint64_t duplicated;         /* sightings past the first */
    uint64_t corrupted;          /* lines that are not a record sent */
    uint64_t unreadable;         /* files that could not be read or decompressed */
};

/* Checks every record under <a->dir>. Returns 0 with <r> filled, or -1
 * if the directory cannot be walked. */
int lg_verify(const struct lg_verify_args *a, struct lg_verify_result *r);

/* watch.c: measures freshness, from when a record is sent to when the
 * object holding it appears in a directory. One thread polls the
 * directory; senders report what they send from any thread. */
struct lg_watch;

struct lg_latency {
    uint64_t records;            /* records seen in new objects */
    double p50_s, p99_s, max_s;
};

/* Starts watching <dir> for records [first, first + n) of <seed>.
 * Objects already there are ignored. Returns NULL on failure. */
struct lg_watch *lg_watch_start(const char *dir, uint64_t seed, uint64_t first, uint64_t n);
/* Records [first, first + n) are being sent now. */
void lg_watch_sent(struct lg_watch *w, uint64_t first, uint64_t n);
/* Waits up to <timeout_s> for all n records to appear, stops, fills <out>
 * and frees <w>. Returns 0, or -1 if some never appeared. */
int lg_watch_finish(struct lg_watch *w, double timeout_s, struct lg_latency *out);

#endif
