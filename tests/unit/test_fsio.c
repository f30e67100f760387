/*
 * test_fsio.c - whole-object writes through a temp file: atomic (replaces)
 * and exclusive (never replaces), directories made on the way, no temp
 * left behind, a stale temp from a crash written over.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
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
    suite_add_tcase(s, tc);
    return s;
}
