/*
 * test_deadline.c - connection deadlines: a socket past its deadline is
 * cut once (and counted); one whose deadline was cleared is left alone.
 */
#include <check.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "deadline.h"
#include "suites.h"

/* Returns 1 if <fd> reads end-of-stream within <ms>. */
static int eof_within(int fd, int ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    char c;

    return poll(&p, 1, ms) == 1 && read(fd, &c, 1) == 0;
}

START_TEST(test_deadline_cuts_once_past_due_and_never_when_cleared)
{
    _Atomic uint64_t cuts = 0;
    struct sl_deadlines *w = sl_deadline_list_new(10, &cuts);
    int a[2], b[2];

    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
    struct sl_deadline *da = sl_deadline_add(w, a[0], sl_clock_mono_ms() + 50);
    struct sl_deadline *db = sl_deadline_add(w, b[0], sl_clock_mono_ms() + 50);
    ck_assert_ptr_nonnull(da);
    ck_assert_ptr_nonnull(db);
    sl_deadline_set(db, 0);
    ck_assert(eof_within(a[1], 5000));         /* the peer sees the cut */
    ck_assert(!eof_within(b[1], 200));          /* cleared: left alone */
    ck_assert_uint_eq(atomic_load(&cuts), 1);
    sl_deadline_remove(da);
    sl_deadline_remove(db);
    sl_deadline_list_free(w);
    ck_assert_uint_eq(atomic_load(&cuts), 1);
    for (int i = 0; i < 2; i++)
        close(a[i]), close(b[i]);
}
END_TEST

Suite *sl_deadline_suite(void)
{
    Suite *s = suite_create("deadline");
    TCase *tc = tcase_create("deadline");

    tcase_add_test(tc, test_deadline_cuts_once_past_due_and_never_when_cleared);
    suite_add_tcase(s, tc);
    return s;
}
