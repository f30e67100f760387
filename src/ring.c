/*
 * ring.c - see ring.h for the design.
 *
 * Slot i's sequence number starts at i. A producer that reserved position
 * pos (by CAS on tail) may write slot pos & mask when seq == pos; it then
 * publishes seq = pos + 1. The consumer reads slot head & mask when
 * seq == head + 1, then frees it for the next lap with seq = head + size.
 */
#include "ring.h"

#include <errno.h>
#include <poll.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "sluice/err.h"

struct slot {
    _Atomic size_t seq;
    void *ptr;
};

struct sl_ring {
    size_t mask;
    int efd;                            /* eventfd the consumer sleeps on */
    alignas(64) _Atomic size_t tail;    /* producers: next position to reserve */
    alignas(64) _Atomic size_t head;    /* consumer only; atomic for sl_ring_count */
    alignas(64) _Atomic int sleeping;   /* consumer is (about to be) in poll */
    alignas(64) struct slot slots[];
};

struct sl_ring *sl_ring_new(size_t size)
{
    size_t n = 2;
    struct sl_ring *r;

    while (n < size)
        n *= 2;
    r = aligned_alloc(64, (sizeof(*r) + n * sizeof(struct slot) + 63) / 64 * 64);
    if (!r)
        return NULL;
    r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->efd < 0) {
        free(r);
        return NULL;
    }
    r->mask = n - 1;
    atomic_init(&r->tail, 0);
    atomic_init(&r->head, 0);
    atomic_init(&r->sleeping, 0);
    for (size_t i = 0; i < n; i++) {
        atomic_init(&r->slots[i].seq, i);
        r->slots[i].ptr = NULL;
    }
    return r;
}

void sl_ring_free(struct sl_ring *r)
{
    if (!r)
        return;
    close(r->efd);
    free(r);
}

int sl_ring_push_mp(struct sl_ring *r, void *p)
{
    size_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
    struct slot *s;

    for (;;) {
        s = &r->slots[pos & r->mask];
        size_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        intptr_t diff = (intptr_t)seq - (intptr_t)pos;
        if (diff == 0) {
            if (atomic_compare_exchange_weak_explicit(&r->tail, &pos, pos + 1,
                    memory_order_relaxed, memory_order_relaxed))
                break;
        } else if (diff < 0) {
            return SL_EAGAIN;           /* the consumer has not freed it: full */
        } else {
            pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
        }
    }
    s->ptr = p;
    /* seq_cst, with the load below and the consumer's pair in wait: either
     * the consumer sees this slot before it sleeps, or we see it sleeping. */
    atomic_store_explicit(&s->seq, pos + 1, memory_order_seq_cst);
    if (atomic_load_explicit(&r->sleeping, memory_order_seq_cst))
        sl_ring_wake(r);
    return SL_OK;
}

static int ready(struct sl_ring *r)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

    return atomic_load_explicit(&r->slots[head & r->mask].seq,
                                memory_order_seq_cst) == head + 1;
}

int sl_ring_pop_sc(struct sl_ring *r, void **p)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    struct slot *s = &r->slots[head & r->mask];

    if (atomic_load_explicit(&s->seq, memory_order_acquire) != head + 1)
        return SL_EAGAIN;
    *p = s->ptr;
    /* release: the producer that reuses the slot sees our read of ptr done */
    atomic_store_explicit(&s->seq, head + r->mask + 1, memory_order_release);
    atomic_store_explicit(&r->head, head + 1, memory_order_relaxed);
    return SL_OK;
}

void sl_ring_wait_sc(struct sl_ring *r, int timeout_ms)
{
    struct pollfd pfd = { .fd = r->efd, .events = POLLIN };
    uint64_t v;

    atomic_store_explicit(&r->sleeping, 1, memory_order_seq_cst);
    if (!ready(r) && timeout_ms != 0)
        poll(&pfd, 1, timeout_ms);
    atomic_store_explicit(&r->sleeping, 0, memory_order_relaxed);
    if (read(r->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        return;
}

void sl_ring_wake(struct sl_ring *r)
{
    uint64_t one = 1;

    if (write(r->efd, &one, sizeof(one)) < 0)
        return;     /* EAGAIN: the counter is already non-zero, a wake is pending */
}

int sl_ring_has_room(const struct sl_ring *r)
{
    struct sl_ring *m = (struct sl_ring *)r;
    size_t pos = atomic_load_explicit(&m->tail, memory_order_relaxed);

    return atomic_load_explicit(&m->slots[pos & m->mask].seq, memory_order_acquire) == pos;
}

size_t sl_ring_count(const struct sl_ring *r)
{
    size_t t = atomic_load_explicit(&((struct sl_ring *)r)->tail, memory_order_relaxed);
    size_t h = atomic_load_explicit(&((struct sl_ring *)r)->head, memory_order_relaxed);

    return t >= h ? t - h : 0;
}
