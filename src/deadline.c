/*
 * deadline.c - see deadline.h.
 *
 * A doubly-linked list under one mutex: connections come and go far less
 * often than requests, and a scan of a thousand entries once a second
 * costs nothing. The deadline itself is an atomic so that moving it, once
 * per request, takes no lock.
 */
#include "deadline.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

struct sl_deadline {
    struct sl_deadlines *w;
    int fd;                          /* our dup of the socket */
    _Atomic int64_t due_ms;          /* monotonic; 0: none */
    struct sl_deadline *prev, *next; /* under w->mu */
};

struct sl_deadlines {
    pthread_mutex_t mu;              /* the list and <stop> */
    pthread_cond_t cv;               /* signalled on stop */
    struct sl_deadline *head;
    int stop;
    int64_t tick_ms;
    _Atomic uint64_t *cuts;          /* borrowed */
    pthread_t thread;
};

static void scan(struct sl_deadlines *w, int64_t now)
{
    for (struct sl_deadline *d = w->head; d; d = d->next) {
        int64_t due = atomic_load_explicit(&d->due_ms, memory_order_relaxed);
        if (due == 0 || due > now)
            continue;
        /* Once: the owner sets a new deadline if the connection lives on. */
        atomic_compare_exchange_strong(&d->due_ms, &due, 0);
        shutdown(d->fd, SHUT_RDWR);
        atomic_fetch_add_explicit(w->cuts, 1, memory_order_relaxed);
    }
}

static void *watch(void *arg)
{
    struct sl_deadlines *w = arg;
    struct timespec ts;

    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        scan(w, sl_clock_mono_ms());
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = ts.tv_nsec + (w->tick_ms % 1000) * 1000000;
        ts.tv_sec += w->tick_ms / 1000 + ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        while (!w->stop && pthread_cond_timedwait(&w->cv, &w->mu, &ts) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

struct sl_deadlines *sl_deadline_list_new(int64_t tick_ms, _Atomic uint64_t *cuts)
{
    struct sl_deadlines *w = calloc(1, sizeof(*w));
    pthread_condattr_t ca;

    if (!w)
        return NULL;
    w->tick_ms = tick_ms > 0 ? tick_ms : 1;
    w->cuts = cuts;
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&w->thread, NULL, watch, w) != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    return w;
}

void sl_deadline_list_free(struct sl_deadlines *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

struct sl_deadline *sl_deadline_add(struct sl_deadlines *w, int fd, int64_t due_ms)
{
    struct sl_deadline *d = calloc(1, sizeof(*d));

    if (!d) {
        errno = ENOMEM;
        return NULL;
    }
    if ((d->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
        int e = errno;
        free(d);
        errno = e;
        return NULL;
    }
    d->w = w;
    atomic_init(&d->due_ms, due_ms);
    pthread_mutex_lock(&w->mu);
    d->next = w->head;
    if (w->head)
        w->head->prev = d;
    w->head = d;
    pthread_mutex_unlock(&w->mu);
    return d;
}

void sl_deadline_set(struct sl_deadline *d, int64_t due_ms)
{
    atomic_store_explicit(&d->due_ms, due_ms, memory_order_relaxed);
}

void sl_deadline_remove(struct sl_deadline *d)
{
    struct sl_deadlines *w;

    if (!d)
        return;
    w = d->w;
    pthread_mutex_lock(&w->mu);
    if (d->prev)
        d->prev->next = d->next;
    else
        w->head = d->next;
    if (d->next)
        d->next->prev = d->prev;
    pthread_mutex_unlock(&w->mu);
    close(d->fd);
    free(d);
}
