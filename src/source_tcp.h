/*
 * source_tcp.h - newline-delimited records over TCP.
 *
 * A few I/O threads, each with its own epoll set, share every stream's
 * listening socket (EPOLLEXCLUSIVE wakes one of them per connection). The
 * thread that accepts a connection gives it to the thread that owns the
 * fewest (itself, or another through that thread's inbox), so that the
 * connections that open together spread over the threads. A thread copies
 * the complete records of one read into a chunk and pushes it into the
 * stream's ring.
 *
 * Framing: records end at '\n'; a '\r' before it is dropped; empty lines
 * are skipped; a final line without '\n' is kept when the producer closes.
 * A line over max_record_size is discarded up to the next '\n', counted as
 * rejected (reason oversize) and logged, rate-limited; the connection stays
 * usable. Backpressure: while the stream holds max_buffered bytes or more
 * (or its ring is full), the thread stops reading its connections, so the
 * kernel pushes back on producers; it reads again below the low-water mark.
 *
 * The module (source.h) is sl_source_tcp, in source_tcp.c: its keys are
 * tcp_listen, max_connections and idle_timeout of [stream NAME] and
 * io_threads of [sluice]; it drives the functions below. max_connections
 * and idle_timeout reach the I/O threads through the intake's atomics
 * (its apply hook), so a reload changes them.
 *
 * Threads: sl_source_tcp_* are called by the main thread; everything else
 * runs on the I/O threads, each touching only its own connections (and a
 * connection it accepted for another thread until it is in that thread's
 * inbox).
 */
#ifndef SL_SOURCE_TCP_H
#define SL_SOURCE_TCP_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "intake.h"

struct sl_tcp;

/* Returns a new listener with <nthreads> I/O threads (not started), or NULL. */
struct sl_tcp *sl_source_tcp_new(unsigned nthreads);
/* Binds <addr> for the stream behind <in> (borrowed until sl_source_tcp_free).
 * On error <err> says why. */
int sl_source_tcp_listen(struct sl_tcp *t, const struct sl_addr *addr, struct sl_intake *in,
                         char *err, size_t errlen);
int sl_source_tcp_start(struct sl_tcp *t);
/*
 * Stops accepting, reads what open connections have already sent (until
 * each has nothing more to read, or <grace_ms> pass), hands it on, closes
 * every connection and joins the threads.
 */
void sl_source_tcp_stop(struct sl_tcp *t, int64_t grace_ms);
void sl_source_tcp_free(struct sl_tcp *t);

/* One line of sl__source_tcp_lines: <len> bytes at <rec> ('\n' and a '\r' before
 * it dropped, never 0), <oversize> if len > max (then not a record). */
typedef void (*sl_source_tcp_line_fn)(void *arg, const uint8_t *rec, uint32_t len, int oversize);

/* A line found by sl__source_tcp_scan. */
struct sl__tcp_line {
    uint32_t off;                /* its first byte, from the start of the scanned bytes */
    uint32_t len;                /* its bytes, '\n' and a '\r' before it dropped; > 0 */
};

/*
 * Internal (the I/O threads' framing, exposed for tests and fuzzing).
 *
 * sl__source_tcp_scan: one memchr per line over <p> (<n> bytes, < 4 GiB):
 * stores the '\n'-terminated lines that are not empty once a '\r' before
 * the '\n' is dropped in <lines>, in order, at most <cap> of them, and
 * returns how many. *<next> is the offset after the last '\n' scanned:
 * where the partial line begins, or, when <cap> lines were stored, where
 * to scan on from. *<nrec> grows by the number of stored lines of at
 * most <max> bytes (the records); longer ones are stored too, for the
 * caller to reject. Bytes after the last '\n' are never a line
 * here (at EOF the caller makes them one). No state, no allocation.
 *
 * sl__source_tcp_lines: the same framing through a callback: calls <fn>
 * for each line in order, and with <at_eof> for the bytes after the last
 * '\n' too. Returns the offset of the partial line after the last '\n'
 * (what a connection keeps for the next read; with <at_eof> it was handed
 * to <fn>). It scans a few lines at a time, so that the fuzz target
 * crosses sl__source_tcp_scan's <cap> often.
 */
size_t sl__source_tcp_scan(const uint8_t *p, size_t n, uint64_t max, struct sl__tcp_line *lines,
                           size_t cap, size_t *next, uint64_t *nrec);
size_t sl__source_tcp_lines(const uint8_t *p, size_t n, uint64_t max, int at_eof,
                            sl_source_tcp_line_fn fn, void *arg);

/* Internal, for tests: the connections I/O thread <i> owns or is being
 * handed. */
unsigned sl__source_tcp_conns(struct sl_tcp *t, unsigned i);

#endif
