/*
 * test_fsio.c - whole-object writes through a temp file: atomic (replaces)
 * and exclusive (never replaces), directories made on the way, no temp
 * left behind, a stale temp from a crash written over.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsio.h"
#include "sluice/err.h"
#include "suites.h"

START_TEST(test_fsio_write_atomic_creates_dirs_and_leaves_no_temp)
{
    char dir[] = "/tmp/sluice-fsio-XXXXXX", sub[128], file[160], tmp[160];
    const char *what = NULL;
    struct stat st;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(sub, sizeof(sub), "%s/a/b/c", dir);
    ck_assert_int_eq(sl_fsio_write_atomic(sub, "obj", "hello", 5, &what), SL_OK);
    snprintf(file, sizeof(file), "%s/obj", sub);
    snprintf(tmp, sizeof(tmp), "%s/.obj.tmp", sub);
    ck_assert_int_eq(stat(file, &st), 0);
    ck_assert_int_eq(st.st_size, 5);
    ck_assert_int_ne(stat(tmp, &st), 0);
    unlink(file);
    /* a regular file where a directory should be: fails, and says where */
    snprintf(file, sizeof(file), "%s/blocker", dir);
    FILE *f = fopen(file, "w");
    fclose(f);
    snprintf(sub, sizeof(sub), "%s/blocker/x", dir);
    ck_assert_int_eq(sl_fsio_write_atomic(sub, "obj", "hello", 5, &what), SL_EIO);
    ck_assert_str_eq(what, "mkdir");
    unlink(file);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* An object in pieces: more than one writev takes (64), empty ones among
 * them, written in order, atomic or exclusive. */
START_TEST(test_fsio_write_pieces_in_order)
{
    char dir[] = "/tmp/sluice-fsio-XXXXXX", file[160], cmd[200];
    static char text[3000 * 8];
    struct iovec iov[3000];
    size_t at = 0, n;
    const char *what = NULL;
    char *got;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    for (int i = 0; i < 3000; i++) {
        int len = i % 7 == 3 ? 0 : snprintf(text + at, 8, "%d,", i);
        iov[i] = (struct iovec){ text + at, (size_t)len };
        at += (size_t)len;
    }
    for (int exclusive = 0; exclusive < 2; exclusive++) {
        snprintf(file, sizeof(file), "%s/obj", dir);
        ck_assert_int_eq(sl_fsio_write_pieces(dir, "obj", iov, 3000, exclusive, &what), SL_OK);
        FILE *f = fopen(file, "rb");
        ck_assert_ptr_nonnull(f);
        got = malloc(at + 1);
        n = fread(got, 1, at + 1, f);
        fclose(f);
        ck_assert_uint_eq(n, at);
        ck_assert_int_eq(memcmp(got, text, at), 0);
        free(got);
        unlink(file);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_fsio_write_exclusive_never_replaces_and_leaves_no_temp)
{
    char dir[] = "/tmp/sluice-fsio-XXXXXX", sub[128], file[160], tmp[160], got[64];
    const char *what = NULL;
    struct stat st;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(sub, sizeof(sub), "%s/a/b", dir);
    snprintf(file, sizeof(file), "%s/obj", sub);
    snprintf(tmp, sizeof(tmp), "%s/.obj.tmp", sub);
    ck_assert_int_eq(sl_fsio_write_exclusive(sub, "obj", "first", 5, &what), SL_OK);
    ck_assert_int_eq(ut_slurp(file, got, sizeof(got)), 5);
    ck_assert_str_eq(got, "first");
    ck_assert_int_ne(stat(tmp, &st), 0);
    /* the same name again: told so, and the first file is as it was */
    ck_assert_int_eq(sl_fsio_write_exclusive(sub, "obj", "second!", 7, &what), SL_EEXIST);
    ck_assert_int_eq(ut_slurp(file, got, sizeof(got)), 5);
    ck_assert_str_eq(got, "first");
    ck_assert_int_ne(stat(tmp, &st), 0);
    /* a directory by that name is no object */
    snprintf(file, sizeof(file), "%s/d", sub);
    ck_assert_int_eq(mkdir(file, 0755), 0);
    ck_assert_int_eq(sl_fsio_write_exclusive(sub, "d", "x", 1, &what), SL_EIO);
    ck_assert_str_eq(what, "link");
    snprintf(tmp, sizeof(tmp), "%s/.d.tmp", sub);
    ck_assert_int_ne(stat(tmp, &st), 0);
    ut_rm_rf(dir);
}
END_TEST

START_TEST(test_fsio_write_over_a_stale_temp_succeeds)
{
    char dir[] = "/tmp/sluice-fsio-XXXXXX", file[160], tmp[160], got[64];
    const char *what = NULL;
    struct stat st;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/obj", dir);
    snprintf(tmp, sizeof(tmp), "%s/.obj.tmp", dir);
    for (int exclusive = 0; exclusive < 2; exclusive++) {
        /* what a crash mid-write leaves: a longer, half-written temp */
        FILE *f = fopen(tmp, "w");
        ck_assert_ptr_nonnull(f);
        fputs("stale bytes of an earlier attempt", f);
        fclose(f);
        ck_assert_int_eq(exclusive ? sl_fsio_write_exclusive(dir, "obj", "fresh", 5, &what)
                                   : sl_fsio_write_atomic(dir, "obj", "fresh", 5, &what),
                         SL_OK);
        ck_assert_int_eq(ut_slurp(file, got, sizeof(got)), 5);
        ck_assert_str_eq(got, "fresh");
        ck_assert_int_ne(stat(tmp, &st), 0);
        unlink(file);
    }
    ut_rm_rf(dir);
}
END_TEST

START_TEST(test_fsio_write_atomic_replaces)
{
    char dir[] = "/tmp/sluice-fsio-XXXXXX", file[160], got[64];
    const char *what = NULL;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/obj", dir);
    ck_assert_int_eq(sl_fsio_write_atomic(dir, "obj", "first", 5, &what), SL_OK);
    ck_assert_int_eq(sl_fsio_write_atomic(dir, "obj", "second!", 7, &what), SL_OK);
    ck_assert_int_eq(ut_slurp(file, got, sizeof(got)), 7);
    ck_assert_str_eq(got, "second!");
    ut_rm_rf(dir);
}
END_TEST

Suite *sl_fsio_suite(void)
{
    Suite *s = suite_create("fsio");
    TCase *tc = tcase_create("write");

    tcase_add_test(tc, test_fsio_write_atomic_creates_dirs_and_leaves_no_temp);
    tcase_add_test(tc, test_fsio_write_exclusive_never_replaces_and_leaves_no_temp);
    tcase_add_test(tc, test_fsio_write_over_a_stale_temp_succeeds);
    tcase_add_test(tc, test_fsio_write_atomic_replaces);
    tcase_add_test(tc, test_fsio_write_pieces_in_order);
    suite_add_tcase(s, tc);
    return s;
}
