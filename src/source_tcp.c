/*
 * source_tcp.c - see source_tcp.h for the contract.
 *
 * Reads go straight into chunk memory: a connection's partial line from
 * its last read is put first, then up to 256 KiB is read after it. A
 * connection keeps only that partial line between reads (at most
 * max_record_size + 2 bytes, usually less than a record), so idle
 * connections cost little while reads stay large. A read is framed by one
 * memchr per line, which notes each line (offset, length) in the thread's
 * line table; the lines become the chunk's index where they lie (chunk.h),
 * the partial line after them is copied to the connection, and the chunk
 * is cut to what it holds: one allocation per read, never one per record,
 * the bytes searched once and, but for the partial line, never copied.
 *
 * Connections: the thread that accepts one hands it to the thread owning
 * the fewest (nconns), through that thread's inbox and eventfd unless it
 * is itself (memcached's dispatch): EPOLLEXCLUSIVE wakes whichever thread
 * is waiting, and that thread takes every pending connection, so without
 * the hand-off the connections that open together land on one thread.
 *
 * The module (source.h: its keys and hooks) is at the end of the file.
 */
#include "source_tcp.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chunk.h"
#include "clock.h"
#include "log.h"
#include "source.h"
#include "sluice/err.h"

#define READ_SIZE   262144u
#define MAX_EVENTS  64
/* The lines one parse can find: a read of READ_SIZE bytes completes the
 * partial line before it (its first '\n'), then each line needs a byte
 * and a '\n'; at EOF the partial line alone is parsed. One more than
 * that bound, so the scan never stops short and the EOF line has room. */
#define LINES_MAX   (READ_SIZE / 2 + 2)
enum { K_WAKE, K_LISTEN, K_CONN };

struct lsock {
    int kind;                    /* K_LISTEN: first, as in every epoll target */
    int fd;
    struct sl_intake *in;        /* borrowed */
};

struct conn {
    int kind;                    /* K_CONN */
    int fd;
    struct sl_intake *in;        /* borrowed */
    struct conn *prev, *next;    /* the owning thread's list */
    uint8_t *buf;                /* owned: the partial line kept between reads */
    uint32_t len, cap;
    int discarding;              /* inside an oversize line: skip to '\n' */
    int paused;                  /* not in the epoll read set (backpressure) */
    int64_t last_ms;             /* monotonic time of the last read */
    struct sl_chunk *pending;    /* a chunk the full ring refused; owned */
};

/*
 * Threads: everything but the fields below <lock> belongs to the thread
 * (and to the main thread before start and after join). <inbox> and
 * <closed> are shared with the threads that accept, under <lock> (a leaf
 * lock: nothing else is taken while it is held); <nconns> is a relaxed
 * atomic, a hint for balancing.
 */
struct iothread {
    int kind;                    /* K_WAKE: the eventfd's tag (stop, or the inbox) */
    struct sl_tcp *t;
    int epfd, evfd;
    pthread_t th;
    struct conn *conns;          /* owned connections */
    struct sl_chunk *spare;      /* owned: a chunk a read or parse left empty, for the next */
    struct sl__tcp_line *lines;  /* owned: LINES_MAX; the lines of one parse */
    size_t npaused;
    int draining;                /* stop seen: no accepts, closing on EAGAIN */
    int64_t accept_resume_ms;    /* out of fds: listeners unwatched until then */
    int64_t deadline_ms;         /* draining: close everything by then */
    struct sl_ratelimit rl_oversize, rl_err;
    pthread_mutex_t lock;        /* protects inbox and closed */
    struct conn *inbox;          /* accepted elsewhere for this thread, not yet adopted */
    int closed;                  /* the thread is leaving: it takes no more */
    _Atomic unsigned nconns;     /* connections owned or in the inbox */
};

struct sl_tcp {
    struct lsock **ls;           /* owned; each one separately, since epoll
                                  * holds pointers to them */
    size_t nls;
    struct iothread *th;         /* owned array */
    unsigned nth;
    _Atomic int stopping;
    _Atomic unsigned rr;         /* where on_accept starts looking for the least loaded */
    int64_t grace_ms;
    int started;
};

/*
 * A paused connection leaves the epoll set altogether: with no events asked
 * for, epoll would still report a reset (EPOLLERR/EPOLLHUP), level-triggered,
 * on every wait. A reset while paused is seen by the first read after resume.
 */
static void pause_conn(struct iothread *th, struct conn *c)
{
    if (c->paused)
        return;
    c->paused = 1;
    th->npaused++;
    epoll_ctl(th->epfd, EPOLL_CTL_DEL, c->fd, NULL);
}

static void resume_conn(struct iothread *th, struct conn *c)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

    c->paused = 0;
    th->npaused--;
    epoll_ctl(th->epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

/* Hands a chunk on (through the log, durability = disk); a full ring, or
 * a log that is full or failing, keeps it pending and pauses: the kernel
 * pushes back on the producer. */
static void hand_on(struct iothread *th, struct conn *c, struct sl_chunk *ch)
{
    if (sl_intake_put_counted(c->in, ch) == SL_OK)
        return;
    c->pending = ch;
    pause_conn(th, c);
}

static void reject_oversize(struct iothread *th, struct conn *c, uint64_t len)
{
    uint64_t suppressed;

    sl_stat_add(&c->in->stats->rejected[SL_SRC_TCP][SL_REJ_OVERSIZE], 1);
    if (sl_log_ratelimit_ok(&th->rl_oversize, 5000, &suppressed))
        sl_warn("stream=%s source=tcp msg=\"record over max_record_size discarded\" "
                "bytes=%s%llu limit=%llu suppressed=%llu", c->in->name,
                len > SL_LD(c->in->max_record_size) + 1 ? ">=" : "",
                (unsigned long long)len,
                (unsigned long long)SL_LD(c->in->max_record_size),
                (unsigned long long)suppressed);
}

/* Length of the record in [p, nl) once a trailing '\r' is dropped. */
static inline uint32_t rec_len(const uint8_t *p, const uint8_t *nl)
{
    size_t n = (size_t)(nl - p);

    return (uint32_t)(n && p[n - 1] == '\r' ? n - 1 : n);
}

size_t sl__source_tcp_scan(const uint8_t *p, size_t n, uint64_t max, struct sl__tcp_line *lines,
                           size_t cap, size_t *next, uint64_t *nrec)
{
    const uint8_t *q = p, *end = p + n, *nl;
    uint64_t sum = 0;
    size_t k = 0;
    uint32_t len;

    while (k < cap && (nl = memchr(q, '\n', (size_t)(end - q)))) {
        if ((len = rec_len(q, nl)) > 0) {
            lines[k].off = (uint32_t)(q - p);
            lines[k].len = len;
            k++;
            if (len <= max)
                sum++;
        }
        q = nl + 1;
    }
    *next = (size_t)(q - p);
    *nrec += sum;
    return k;
}

/* The bytes [off, n) of <p> after the last '\n', as a line at EOF: 1 if
 * they are one (not empty once a trailing '\r' is dropped), in <line>. */
static int eof_line(const uint8_t *p, size_t n, size_t off, struct sl__tcp_line *line)
{
    uint32_t len;

    if (off >= n || (len = rec_len(p + off, p + n)) == 0)
        return 0;
    line->off = (uint32_t)off;
    line->len = len;
    return 1;
}

size_t sl__source_tcp_lines(const uint8_t *p, size_t n, uint64_t max, int at_eof,
                            sl_source_tcp_line_fn fn, void *arg)
{
    struct sl__tcp_line ln[7];   /* few: the fuzz target crosses the scan's cap often */
    size_t k, off = 0, adv;
    uint64_t nrec = 0;

    do {
        k = sl__source_tcp_scan(p + off, n - off, max, ln, 7, &adv, &nrec);
        for (size_t i = 0; i < k; i++)
            fn(arg, p + off + ln[i].off, ln[i].len, ln[i].len > max);
        off += adv;
    } while (k == 7);            /* the scan stopped at its cap: more may follow */
    if (at_eof && eof_line(p, n, off, &ln[0]))
        fn(arg, p + ln[0].off, ln[0].len, ln[0].len > max);
    return off;
}

/* Keeps the partial line [tail, tail + len) in c->buf for the next read. */
static int keep_tail(struct conn *c, const uint8_t *tail, uint32_t len)
{
    if (len > c->cap) {
        uint32_t cap = c->cap ? c->cap : 4096;
        while (cap < len)
            cap *= 2;
        uint8_t *b = realloc(c->buf, cap);
        if (!b)
            return SL_ENOMEM;
        c->buf = b;
        c->cap = cap;
    } else if (len == 0 && c->cap > 65536) {   /* after a long line: give it back */
        free(c->buf);
        c->buf = NULL;
        c->cap = 0;
    }
    if (len)
        memmove(c->buf, tail, len);
    c->len = len;
    return SL_OK;
}

/*
 * A chunk to read into after <c>'s partial line, which it copies to the
 * chunk's start: room for <want> bytes more, a '\n' after them (the EOF
 * line's), and an index for one record in 32 bytes of the read (a read of
 * shorter records grows it once it is framed). The thread's spare, if it
 * is large enough, else a new one; NULL when out of memory.
 */
static struct sl_chunk *read_chunk(struct iothread *th, struct conn *c, size_t want)
{
    uint64_t need = (uint64_t)c->len + want + 1 + want / 32 + 2 * SL_CHUNK_HDR;
    struct sl_chunk *ch = th->spare;

    th->spare = NULL;
    if (ch && ch->cap < need) {
        sl_chunk_unref(ch);
        ch = NULL;
    }
    if (!ch && !(ch = sl_chunk_new((uint32_t)need, 0, 0)))
        return NULL;
    ch->arrival_wall_ms = sl_clock_wall_ms();
    ch->arrival_mono_ms = sl_clock_mono_ms();
    ch->flags = SL_CHUNK_NL;
    if (c->len)
        memcpy(ch->data, c->buf, c->len);
    return ch;
}

/* Keeps <ch>, which holds no record, as the thread's spare for its next
 * read (a small one is freed: reads need more). */
static void keep_spare(struct iothread *th, struct sl_chunk *ch)
{
    if (th->spare || ch->cap < READ_SIZE)
        sl_chunk_unref(ch);
    else
        th->spare = ch;
}

/*
 * Moves the records among the <k> lines <ln> found at <base> in <ch>'s
 * data together, each with one '\n', from the data's start; the lines'
 * offsets become their new places in the data. Returns the bytes they take.
 */
static uint32_t compact(struct sl_chunk *ch, uint32_t base, struct sl__tcp_line *ln, size_t k,
                        uint64_t max)
{
    uint32_t to = 0;

    for (size_t i = 0; i < k; i++) {
        if (ln[i].len > max)
            continue;
        memmove(ch->data + to, ch->data + base + ln[i].off, ln[i].len);
        ch->data[to + ln[i].len] = '\n';
        ln[i].off = to;
        to += ln[i].len + 1;
    }
    return to;
}

/*
 * Indexes the <k> lines <ln> found at <base> in <ch>'s data (their
 * bytes, and <len> bytes in all up to the last line's '\n', stay where
 * the read put them), <nrec> of them at most max bytes; rejects the
 * oversize ones, counts the records as received and hands the chunk on.
 * SL_CHUNK_NL stays set if each record is followed by its '\n' and by the
 * next record (sl_chunk_check_nl): a "\r\n", an empty line or an
 * oversize one between records clears it. A read that left much besides its records (empty
 * lines, an oversize line or what is left of one) has them moved together
 * first, each with its '\n' (so the flag holds): a chunk holds little that
 * max_buffered, which counts records, does not see.
 */
static void emit(struct iothread *th, struct conn *c, struct sl_chunk *ch, uint32_t base,
                 struct sl__tcp_line *ln, size_t k, uint64_t nrec, uint32_t len, uint64_t max)
{
    struct sl_chunk *grown;
    uint64_t kept = 0;

    for (size_t i = 0; i < k; i++) {
        if (ln[i].len > max)
            reject_oversize(th, c, ln[i].len);
        else
            kept += ln[i].len;
    }
    if (nrec == 0) {
        keep_spare(th, ch);
        return;
    }
    if (len - (kept + nrec) > 4096 + kept / 16) {
        len = compact(ch, base, ln, k, max);
        base = 0;
    }
    /* The index goes after the records: the partial line there is copied
     * out already. The chunk only shrinks, unless the records are short. */
    if (!(grown = sl_chunk_resize(ch, ((len + 7) & ~7u) + (uint32_t)nrec * SL_CHUNK_HDR))) {
        sl_error("stream=%s msg=\"out of memory for a chunk\"", c->in->name);
        abort();
    }
    ch = grown;
    for (size_t i = 0; i < k; i++)
        if (ln[i].len <= max)
            sl_chunk_index(ch, base + ln[i].off, ln[i].len);
    ch->len = len;
    sl_chunk_check_nl(ch);
    sl_stat_add(&c->in->stats->received_records[SL_SRC_TCP], ch->nrecords);
    sl_stat_add(&c->in->stats->received_bytes[SL_SRC_TCP], ch->bytes);
    hand_on(th, c, ch);
}

/*
 * Frames <ch>'s data: <total> bytes, the connection's partial line, then
 * a read (or, at EOF, just the partial line), and hands its complete lines
 * on as records, in place; keeps a partial line for the next read. One
 * memchr per line (sl__source_tcp_scan) finds the lines: the bytes after
 * the last '\n' are the only ones moved (to the connection, keep_tail),
 * and copied back in front of the next read. <ch> is used up.
 */
static void parse(struct iothread *th, struct conn *c, struct sl_chunk *ch, uint32_t total,
                  int at_eof)
{
    uint8_t *data = ch->data, *p = data, *end = data + total, *nl;
    uint64_t max = SL_LD(c->in->max_record_size), nrec = 0;
    struct sl__tcp_line *ln = th->lines;
    size_t k, off, n;
    uint32_t len, used;

    if (c->discarding) {
        if (!(nl = memchr(p, '\n', total))) {
            c->len = 0;
            keep_spare(th, ch);
            return;
        }
        p = nl + 1;
        c->discarding = 0;
    }
    n = (size_t)(end - p);
    /* Never LINES_MAX lines (its definition): one scan sees them all. */
    k = sl__source_tcp_scan(p, n, max, ln, LINES_MAX, &off, &nrec);
    used = (uint32_t)(p - data + off);
    if (at_eof && eof_line(p, n, off, &ln[k])) {
        if (ln[k].len <= max)
            nrec++;
        p[ln[k].off + ln[k].len] = '\n';     /* in place of a '\r', or after the
                                              * data: read_chunk left room */
        used = (uint32_t)(p - data) + ln[k].off + ln[k].len + 1;
        k++;
    }
    len = (uint32_t)(n - off);
    if (at_eof) {
        c->len = 0;
    } else if (len > max + 1) {        /* +1: room for the '\r' of "\r\n" */
        reject_oversize(th, c, len);
        c->discarding = 1;
        c->len = 0;
    } else if (keep_tail(c, p + off, len) != SL_OK) {
        sl_error("stream=%s msg=\"out of memory keeping a partial line\"", c->in->name);
        abort();
    }
    if (k > 0)
        emit(th, c, ch, (uint32_t)(p - data), ln, k, nrec, used, max);
    else
        keep_spare(th, ch);
}

/*
 * Closes <c>. After the producer's EOF (<eof>), a last line without '\n' is
 * a record; on any other close (idle, reset, shutdown) it is a record cut
 * short, so it is rejected as "incomplete" and logged, not delivered.
 */
static void conn_close(struct iothread *th, struct conn *c, int eof)
{
    uint64_t suppressed;

    if (c->len > 0 && !c->discarding) {
        if (eof) {
            struct sl_chunk *ch = read_chunk(th, c, 0);
            if (!ch) {
                sl_error("stream=%s msg=\"out of memory for a chunk\"", c->in->name);
                abort();
            }
            parse(th, c, ch, c->len, 1);
        } else {
            sl_stat_add(&c->in->stats->rejected[SL_SRC_TCP][SL_REJ_INCOMPLETE], 1);
            if (sl_log_ratelimit_ok(&th->rl_err, 5000, &suppressed))
                sl_warn("stream=%s source=tcp msg=\"connection closed inside a record: "
                        "partial line discarded\" bytes=%u suppressed=%llu", c->in->name,
                        c->len, (unsigned long long)suppressed);
        }
    }
    if (c->pending) {                   /* counted when it was parsed */
        if (sl_intake_put_counted(c->in, c->pending) != SL_OK) {
            if (c->in->wal)
                sl_warn("stream=%s source=tcp msg=\"log refused the last records of a "
                        "closing connection: kept in memory only\" records=%u",
                        c->in->name, c->pending->nrecords);
            sl_intake_put_unlogged(c->in, c->pending);
        }
        c->pending = NULL;
    }
    if (c->paused)
        th->npaused--;
    /* Uncounted before the close, so a producer that sees the close also
     * sees the gauge without its connection. */
    atomic_fetch_sub_explicit(&c->in->stats->connections[SL_SRC_TCP], 1,
                              memory_order_relaxed);
    atomic_fetch_sub_explicit(&th->nconns, 1, memory_order_relaxed);
    epoll_ctl(th->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        th->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->buf);
    free(c);
}

/* Reads once (until EAGAIN when draining). Returns 0 if <c> was closed. */
static int on_readable(struct iothread *th, struct conn *c)
{
    ssize_t n;
    uint64_t suppressed, room;
    size_t want;
    struct sl_chunk *ch;

    for (;;) {
        room = sl_intake_room(c->in);
        if (c->pending || room == 0) {
            pause_conn(th, c);
            return 1;
        }
        /* Near max_buffered, read only what the stream may still take (but
         * at least 4 KiB, so that a record can complete). */
        want = READ_SIZE;
        if (room < want)
            want = room > 4096 ? (size_t)room : 4096;
        if ((!th->lines && !(th->lines = malloc(LINES_MAX * sizeof(*th->lines)))) ||
            !(ch = read_chunk(th, c, want))) {
            sl_error("stream=%s msg=\"out of memory for a read buffer\"", c->in->name);
            conn_close(th, c, 0);
            return 0;
        }
        n = read(c->fd, ch->data + c->len, want);
        if (n > 0) {
            c->last_ms = sl_clock_mono_ms();
            parse(th, c, ch, c->len + (uint32_t)n, 0);
            if (!th->draining)
                return 1;
            continue;
        }
        keep_spare(th, ch);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            if (th->draining) {         /* it has sent all it had: done */
                conn_close(th, c, 0);
                return 0;
            }
            return 1;
        }
        if (n < 0 && sl_log_ratelimit_ok(&th->rl_err, 5000, &suppressed))
            sl_warn("stream=%s source=tcp msg=\"read failed, closing\" error=\"%s\"",
                    c->in->name, strerror(errno));
        conn_close(th, c, n == 0);       /* EOF or error */
        return 0;
    }
}

/* Adds (<on>) or removes every listening socket from this thread's epoll. */
static void watch_listeners(struct iothread *th, int on)
{
    struct epoll_event ev;

    for (size_t i = 0; i < th->t->nls; i++) {
        ev.events = EPOLLIN | EPOLLEXCLUSIVE;
        ev.data.ptr = th->t->ls[i];
        epoll_ctl(th->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, th->t->ls[i]->fd, &ev);
    }
}

/* Makes <c> one of <th>'s connections (counted in its nconns already):
 * watched by its epoll, in its list; 1. If epoll refuses, closes it; 0. */
static int adopt(struct iothread *th, struct conn *c)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

    if (epoll_ctl(th->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        atomic_fetch_sub(&c->in->stats->connections[SL_SRC_TCP], 1);
        atomic_fetch_sub_explicit(&th->nconns, 1, memory_order_relaxed);
        close(c->fd);
        free(c);
        return 0;
    }
    c->prev = NULL;
    c->next = th->conns;
    if (th->conns)
        th->conns->prev = c;
    th->conns = c;
    return 1;
}

/* The thread owning the fewest connections; ties go round the threads. */
static struct iothread *least_loaded(struct sl_tcp *t)
{
    unsigned start = atomic_fetch_add_explicit(&t->rr, 1, memory_order_relaxed);
    unsigned best = start % t->nth, min = UINT_MAX;

    for (unsigned i = 0; i < t->nth; i++) {
        unsigned j = (start + i) % t->nth;
        unsigned n = atomic_load_explicit(&t->th[j].nconns, memory_order_relaxed);
        if (n < min) {
            min = n;
            best = j;
        }
    }
    return &t->th[best];
}

/* Gives <c>, just accepted by <th>, to the least loaded thread: through
 * its inbox (and a wake-up), or, if that is <th> or a thread that is
 * leaving, to <th> itself. */
static void dispatch(struct iothread *th, struct conn *c)
{
    struct iothread *to = least_loaded(th->t);
    uint64_t one = 1;

    atomic_fetch_add_explicit(&to->nconns, 1, memory_order_relaxed);
    if (to != th) {
        pthread_mutex_lock(&to->lock);
        if (!to->closed) {
            c->next = to->inbox;
            to->inbox = c;
            pthread_mutex_unlock(&to->lock);
            /* Fails only when its count is at the maximum: it wakes anyway. */
            ssize_t r = write(to->evfd, &one, sizeof(one));
            (void)r;
            return;
        }
        pthread_mutex_unlock(&to->lock);
        atomic_fetch_sub_explicit(&to->nconns, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&th->nconns, 1, memory_order_relaxed);
    }
    adopt(th, c);
}

/* Adopts the connections other threads handed to <th>; with <leaving>,
 * takes no more after them. While draining, reads each at once, as
 * begin_drain read the others. */
static void take_inbox(struct iothread *th, int leaving)
{
    struct conn *c, *next;

    pthread_mutex_lock(&th->lock);
    c = th->inbox;
    th->inbox = NULL;
    if (leaving)
        th->closed = 1;
    pthread_mutex_unlock(&th->lock);
    for (; c; c = next) {
        next = c->next;
        if (adopt(th, c) && th->draining && !leaving)
            on_readable(th, c);
    }
}

/* Draining with no connection left: 1 (and no more hand-offs) if the
 * inbox is empty too, so that the thread may leave. */
static int may_leave(struct iothread *th)
{
    int leave;

    pthread_mutex_lock(&th->lock);
    leave = th->closed = th->inbox == NULL;
    pthread_mutex_unlock(&th->lock);
    return leave;
}

static void on_accept(struct iothread *th, struct lsock *ls)
{
    struct sl_stream_stats *st = ls->in->stats;
    uint64_t suppressed;
    struct conn *c;
    int64_t cur, max;
    int fd;

    for (;;) {
        fd = accept4(ls->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EAGAIN || e == EINTR || e == ECONNABORTED ||
                (e == EINVAL && atomic_load(&th->t->stopping)))
                return;
            if (sl_log_ratelimit_ok(&th->rl_err, 5000, &suppressed))
                sl_warn("stream=%s source=tcp msg=\"accept failed\" error=\"%s\" "
                        "suppressed=%llu", ls->in->name, strerror(e),
                        (unsigned long long)suppressed);
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
                /* The listener stays readable: stop watching it for a while
                 * rather than spin on it. */
                watch_listeners(th, 0);
                th->accept_resume_ms = sl_clock_mono_ms() + 100;
            }
            return;
        }
        max = (int64_t)SL_LD(ls->in->max_connections);   /* once: a reload may change it */
        cur = atomic_load(&st->connections[SL_SRC_TCP]);
        do {
            if (cur >= max)
                break;
        } while (!atomic_compare_exchange_weak(&st->connections[SL_SRC_TCP], &cur, cur + 1));
        if (cur >= max || !(c = calloc(1, sizeof(*c)))) {
            if (cur < max)
                atomic_fetch_sub(&st->connections[SL_SRC_TCP], 1);
            sl_stat_add(&st->connections_rejected[SL_SRC_TCP], 1);
            close(fd);
            continue;
        }
        c->kind = K_CONN;
        c->fd = fd;
        c->in = ls->in;
        c->last_ms = sl_clock_mono_ms();
        dispatch(th, c);
    }
}

/* Resumes paused connections whose stream has room again; closes idle ones. */
static void sweep(struct iothread *th, int64_t now, int idle_check)
{
    struct conn *c, *next;
    int64_t idle;

    for (c = th->conns; c; c = next) {
        next = c->next;
        if (c->paused) {
            if (c->pending && sl_intake_put_counted(c->in, c->pending) == SL_OK)
                c->pending = NULL;
            if (!c->pending && sl_intake_drained(c->in)) {
                resume_conn(th, c);
                c->last_ms = now;
            }
            continue;
        }
        idle = SL_LD(c->in->idle_timeout_ms);
        if (idle_check && idle > 0 && now - c->last_ms >= idle) {
            sl_debug("stream=%s source=tcp msg=\"idle connection closed\"", c->in->name);
            conn_close(th, c, 0);
        }
    }
}

static void begin_drain(struct iothread *th)
{
    struct conn *c, *next;

    th->draining = 1;
    th->deadline_ms = sl_clock_mono_ms() + th->t->grace_ms;
    if (!th->accept_resume_ms)
        watch_listeners(th, 0);
    for (c = th->conns; c; c = next) {
        next = c->next;
        if (!c->paused)
            on_readable(th, c);
    }
}

static void *io_main(void *arg)
{
    struct iothread *th = arg;
    struct epoll_event evs[MAX_EVENTS];
    int64_t now, last_idle = 0;
    uint64_t v;
    int n;

    for (;;) {
        n = epoll_wait(th->epfd, evs, MAX_EVENTS,
                       th->npaused || th->draining || th->accept_resume_ms ? 10 : 1000);
        for (int i = 0; i < n; i++) {
            int kind = *(int *)evs[i].data.ptr;
            if (kind == K_WAKE) {
                ssize_t r = read(th->evfd, &v, sizeof(v));   /* resets it: stop or inbox */
                (void)r;
                take_inbox(th, 0);
            } else if (kind == K_LISTEN) {
                on_accept(th, evs[i].data.ptr);
            } else {
                on_readable(th, evs[i].data.ptr);
            }
        }
        if (!th->draining && atomic_load(&th->t->stopping))
            begin_drain(th);
        now = sl_clock_mono_ms();
        if (th->accept_resume_ms && now >= th->accept_resume_ms) {
            th->accept_resume_ms = 0;
            if (!th->draining)
                watch_listeners(th, 1);
        }
        if (th->npaused || now - last_idle >= 1000) {
            sweep(th, now, now - last_idle >= 1000);
            if (now - last_idle >= 1000)
                last_idle = now;
        }
        if (th->draining && (now >= th->deadline_ms || (!th->conns && may_leave(th))))
            break;
    }
    take_inbox(th, 1);          /* closed with the others: past the deadline */
    while (th->conns)
        conn_close(th, th->conns, 0);
    return NULL;
}

struct sl_tcp *sl_source_tcp_new(unsigned nthreads)
{
    struct sl_tcp *t = calloc(1, sizeof(*t));
    struct epoll_event ev;

    if (!t)
        return NULL;
    t->th = calloc(nthreads, sizeof(*t->th));
    if (!t->th) {
        free(t);
        return NULL;
    }
    for (unsigned i = 0; i < nthreads; i++) {
        struct iothread *th = &t->th[i];
        th->kind = K_WAKE;
        th->t = t;
        th->epfd = epoll_create1(EPOLL_CLOEXEC);
        th->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        pthread_mutex_init(&th->lock, NULL);
        t->nth++;
        ev.events = EPOLLIN;
        ev.data.ptr = th;
        if (th->epfd < 0 || th->evfd < 0 ||
            epoll_ctl(th->epfd, EPOLL_CTL_ADD, th->evfd, &ev) != 0) {
            sl_source_tcp_free(t);
            return NULL;
        }
    }
    return t;
}

int sl_source_tcp_listen(struct sl_tcp *t, const struct sl_addr *addr, struct sl_intake *in,
                         char *err, size_t errlen)
{
    struct lsock **arr = realloc(t->ls, (t->nls + 1) * sizeof(*arr));
    struct lsock *ls;
    struct epoll_event ev;

    if (!arr || !(ls = calloc(1, sizeof(*ls)))) {
        if (arr)
            t->ls = arr;
        snprintf(err, errlen, "out of memory");
        return SL_ENOMEM;
    }
    t->ls = arr;
    ls->kind = K_LISTEN;
    ls->in = in;
    ls->fd = sl_addr_listen(addr, 1024);
    if (ls->fd < 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        free(ls);
        return SL_EIO;
    }
    t->ls[t->nls++] = ls;
    for (unsigned i = 0; i < t->nth; i++) {
        ev.events = EPOLLIN | EPOLLEXCLUSIVE;
        ev.data.ptr = ls;
        if (epoll_ctl(t->th[i].epfd, EPOLL_CTL_ADD, ls->fd, &ev) != 0) {
            snprintf(err, errlen, "epoll: %s", strerror(errno));
            return SL_EIO;
        }
    }
    return SL_OK;
}

int sl_source_tcp_start(struct sl_tcp *t)
{
    for (unsigned i = 0; i < t->nth; i++) {
        if (pthread_create(&t->th[i].th, NULL, io_main, &t->th[i]) != 0) {
            atomic_store(&t->stopping, 1);
            for (unsigned j = 0; j < i; j++)
                pthread_join(t->th[j].th, NULL);
            return SL_ERR;
        }
    }
    t->started = 1;
    return SL_OK;
}

void sl_source_tcp_stop(struct sl_tcp *t, int64_t grace_ms)
{
    uint64_t one = 1;

    if (!t || !t->started)
        return;
    t->grace_ms = grace_ms;
    atomic_store(&t->stopping, 1);
    /* Refuse new connections now: on Linux, shutdown() of a listening
     * socket also resets those waiting in its backlog, so no producer is
     * left writing into a connection nobody will read. (Threads that wake
     * on it get EINVAL from accept, then see stopping.) */
    for (size_t i = 0; i < t->nls; i++)
        shutdown(t->ls[i]->fd, SHUT_RD);
    for (unsigned i = 0; i < t->nth; i++)
        if (write(t->th[i].evfd, &one, sizeof(one)) < 0)
            continue;   /* the 10 ms tick notices stopping anyway */
    for (unsigned i = 0; i < t->nth; i++)
        pthread_join(t->th[i].th, NULL);
    t->started = 0;
}

void sl_source_tcp_free(struct sl_tcp *t)
{
    if (!t)
        return;
    sl_source_tcp_stop(t, 0);
    for (size_t i = 0; i < t->nls; i++) {
        close(t->ls[i]->fd);
        free(t->ls[i]);
    }
    for (unsigned i = 0; i < t->nth; i++) {
        if (t->th[i].epfd >= 0)
            close(t->th[i].epfd);
        if (t->th[i].evfd >= 0)
            close(t->th[i].evfd);
    }
    free(t->ls);
    for (unsigned i = 0; t->th && i < t->nth; i++) {
        /* A thread that never ran (start failed) may hold hand-offs. */
        for (struct conn *c = t->th[i].inbox, *next; c; c = next) {
            next = c->next;
            atomic_fetch_sub(&c->in->stats->connections[SL_SRC_TCP], 1);
            close(c->fd);
            free(c);
        }
        pthread_mutex_destroy(&t->th[i].lock);
        sl_chunk_unref(t->th[i].spare);
        free(t->th[i].lines);
    }
    free(t->th);
    free(t);
}

unsigned sl__source_tcp_conns(struct sl_tcp *t, unsigned i)
{
    return i < t->nth ? atomic_load_explicit(&t->th[i].nconns, memory_order_relaxed) : 0;
}

/* --- The module (source.h): its keys, and the listener driven by them. --- */

/* [sluice] keys. */
struct tcp_process {
    uint64_t io_threads;                  /* I/O threads shared by all streams */
};

/* [stream NAME] keys. */
struct tcp_stream {
    char     listen[256];                 /* tcp_listen; "" when the stream has none */
    struct sl_addr addr;                  /* ... resolved by the check */
    uint64_t max_connections;             /* open connections; a reload may change it */
    int64_t  idle_timeout_ms;             /* 0: never; a reload may change it */
};

static const struct sl_conf_key tcp_process_keys[] = {
    { "io_threads", SL_K_UINT, offsetof(struct tcp_process, io_threads), 0, 1, 64, "2", NULL,
      "TCP I/O threads shared by all streams" },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

#define TCP_LISTEN_KEY                                                                  \
    { "tcp_listen", SL_K_ADDR, SL_KSTR(struct tcp_stream, listen), 0, 0, NULL, NULL,    \
      "HOST:PORT for newline-delimited records (unset: no TCP source)" }

static const struct sl_conf_key tcp_stream_keys[] = {
    TCP_LISTEN_KEY,
    { "max_connections", SL_K_UINT, offsetof(struct tcp_stream, max_connections), 0, 1,
      1000000, "1024", NULL, "open TCP connections; more are closed at once and counted" },
    { "idle_timeout", SL_K_DURATION, offsetof(struct tcp_stream, idle_timeout_ms), 0, 0,
      86400 * SL_SEC, "300s", NULL, "close a TCP connection silent this long (0: never)" },
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

/* What a reload cannot change: the listening socket is bound once. */
static const struct sl_conf_key tcp_stream_restart[] = {
    TCP_LISTEN_KEY,
    { NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL },
};

/* tcp_listen resolves, and no earlier stream listens on the same text. */
static void tcp_check_stream(void *conf, const struct sl_source_peers *before,
                             struct sl_conf_check *chk)
{
    struct tcp_stream *s = conf;
    const char *why;

    if (!s->listen[0] || sl_conf_key_check_bad(chk, "tcp_listen"))
        return;
    if (sl_addr_parse(s->listen, &s->addr, &why) != SL_OK)
        sl_conf_key_check_err(chk, "tcp_listen", "%s", why);
    for (size_t i = 0; i < before->n; i++) {
        const struct tcp_stream *o = before->conf[i];
        if (o && strcmp(o->listen, s->listen) == 0)
            sl_conf_key_check_err(chk, "tcp_listen", "%s is already used by stream %s", s->listen,
                              before->names[i]);
    }
}

/* One connection, one descriptor. */
static uint64_t tcp_fds(const void *pconf, const void *sconf)
{
    const struct tcp_stream *s = sconf;

    (void)pconf;
    return s && s->listen[0] ? s->max_connections : 0;
}

static void tcp_log_stream(const void *sconf, struct sl_buf *out)
{
    const struct tcp_stream *s = sconf;

    sl_buf_printf(out, " tcp_listen=%s", s->listen[0] ? s->listen : "-");
}

static void tcp_apply(const void *sconf, struct sl_intake *in)
{
    const struct tcp_stream *s = sconf;

    atomic_store(&in->max_connections, s->max_connections);
    atomic_store(&in->idle_timeout_ms, s->idle_timeout_ms);
}

/* The I/O threads, and a listening socket for each stream with tcp_listen.
 * The threads run even when no stream has one, as they always have. */
static int tcp_open(const struct sl_source_host *h, void **ctx)
{
    const struct tcp_process *pc = h->conf;
    struct sl_tcp *t = sl_source_tcp_new((unsigned)pc->io_threads);
    char err[512];

    *ctx = NULL;
    if (!t) {
        sl_error("msg=\"cannot start: out of memory or threads\"");
        return SL_ERR;
    }
    for (size_t i = 0; i < h->nstreams; i++) {
        const struct tcp_stream *s = h->streams[i].conf;
        if (!s->listen[0])
            continue;
        if (sl_source_tcp_listen(t, &s->addr, h->streams[i].in, err, sizeof(err)) != SL_OK) {
            sl_error("stream=%s msg=\"cannot listen\" addr=%s error=\"%s\"", h->streams[i].name,
                     s->listen, err);
            sl_source_tcp_free(t);
            return SL_ERR;
        }
    }
    *ctx = t;
    return SL_OK;
}

static int tcp_start(void *ctx)
{
    if (sl_source_tcp_start(ctx) != SL_OK) {
        sl_error("msg=\"cannot start the TCP threads\"");
        return SL_ERR;
    }
    return SL_OK;
}

static void tcp_stop(void *ctx, int64_t grace_ms)
{
    sl_source_tcp_stop(ctx, grace_ms);
}

static void tcp_free(void *ctx)
{
    sl_source_tcp_free(ctx);
}

const struct sl_source_ops sl_source_tcp = {
    .name = "tcp",
    .process_keys = tcp_process_keys,
    .process_size = sizeof(struct tcp_process),
    .process_restart = tcp_process_keys,
    .stream_keys = tcp_stream_keys,
    .stream_size = sizeof(struct tcp_stream),
    .stream_restart = tcp_stream_restart,
    .check_stream = tcp_check_stream,
    .fds = tcp_fds,
    .log_stream = tcp_log_stream,
    .apply = tcp_apply,
    .open = tcp_open,
    .start = tcp_start,
    .stop = tcp_stop,
    .free = tcp_free,
};
