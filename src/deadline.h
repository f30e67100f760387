/*
 * deadline.h - a thread that cuts sockets which miss a deadline.
 *
 * For a server library whose own timeout only measures inactivity
 * (libmicrohttpd's): a client trickling its request header a byte at a
 * time is never idle, yet must not keep a connection forever. The owner
 * adds each connection's socket with a deadline, moves or clears the
 * deadline as the connection makes progress, and removes it when the
 * connection closes. Once a deadline passes, the watcher calls
 * shutdown(SHUT_RDWR) on the socket, once: the library then sees the end
 * of the stream and closes the connection through its usual path.
 *
 * The watcher keeps its own dup() of each socket, so a socket number the
 * library has closed and the kernel has given to a new connection can
 * never be cut by mistake.
 *
 * Threads: sl_deadline_add/set/remove may be called from any thread; the
 * list is under <mu>, a deadline is an atomic. The watcher thread scans
 * the list every tick.
 */
#ifndef SL_DEADLINE_H
#define SL_DEADLINE_H

#include <stdatomic.h>
#include <stdint.h>

struct sl_deadlines;
struct sl_deadline;

/* Starts a watcher that looks every <tick_ms> and counts each cut into
 * <*cuts> (borrowed until sl_deadline_list_free). Returns NULL on failure. */
struct sl_deadlines *sl_deadline_list_new(int64_t tick_ms, _Atomic uint64_t *cuts);
/* Stops the watcher; every entry must have been removed. NULL does nothing. */
void sl_deadline_list_free(struct sl_deadlines *w);

/* Watches socket <fd> (borrowed: a dup is kept) with the monotonic deadline
 * <due_ms> (0: none). Returns new, released by sl_deadline_remove; NULL if
 * the socket could not be duplicated (errno set). */
struct sl_deadline *sl_deadline_add(struct sl_deadlines *w, int fd, int64_t due_ms);
/* Moves the deadline to <due_ms> (0: none). */
void sl_deadline_set(struct sl_deadline *d, int64_t due_ms);
/* Stops watching and frees <d>. NULL does nothing. */
void sl_deadline_remove(struct sl_deadline *d);

#endif
