/*
 * test_sink_file.c - the file sink over fsio: an exclusive write of an
 * object already there (a replay after a crash) is OK, counted, and leaves
 * the object as it was; a plain write replaces it.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sink.h"
#include "sluice/err.h"
#include "suites.h"

/* Delivers <data> as <key> through a file sink rooted at <root>. */
static struct sl_sink_outcome file_deliver(const char *root, const char *key, const char *data,
                                           int exclusive)
{
    const struct sl_sink_ops *file = sl_sink_find("file");
    struct sl_sink_outcome out = { .result = -1 };
    struct sl_sink_batch b = {
        .stream = "s", .key = key, .data = (const uint8_t *)data, .len = strlen(data),
        .exclusive = exclusive,
    };
    char err[128];
    void *ctx = NULL, *conf = calloc(1, file->conf_size);

    ck_assert_ptr_nonnull(conf);
    ck_assert_int_eq(sl_conf_key_set(&file->keys[0], conf, root, err, sizeof(err)), SL_OK);
    ck_assert_int_eq(file->create("s", conf, &ctx, err, sizeof(err)), SL_OK);
    file->deliver(ctx, &b, &out);
    file->destroy(ctx);
    free(conf);
    return out;
}

/* The engine counts what <existed> says (sluice_objects_existing_total). */
START_TEST(test_sink_file_exclusive_redelivery_is_ok_and_reported)
{
    char dir[] = "/tmp/sluice-fsink-XXXXXX", file[160], got[64];
    struct sl_sink_outcome out;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/p/2026/obj.gz", dir);
    out = file_deliver(dir, "p/2026/obj.gz", "batch", 1);
    ck_assert_int_eq(out.result, SL_SINK_OK);
    ck_assert_int_eq(out.existed, 0);
    /* the replay after a crash: the object stays, the batch settles */
    out = file_deliver(dir, "p/2026/obj.gz", "other", 1);
    ck_assert_int_eq(out.result, SL_SINK_OK);
    ck_assert_int_eq(out.existed, 1);
    ck_assert_int_eq(ut_slurp(file, got, sizeof(got)), 5);
    ck_assert_str_eq(got, "batch");
    /* not exclusive: replaced, as before */
    out = file_deliver(dir, "p/2026/obj.gz", "other", 0);
    ck_assert_int_eq(out.result, SL_SINK_OK);
    ck_assert_int_eq(out.existed, 0);
    ck_assert_int_eq(ut_slurp(file, got, sizeof(got)), 5);
    ck_assert_str_eq(got, "other");
    ut_rm_rf(dir);
}
END_TEST

Suite *sl_sink_file_suite(void)
{
    Suite *s = suite_create("sink_file");
    TCase *tc = tcase_create("deliver");

    tcase_add_test(tc, test_sink_file_exclusive_redelivery_is_ok_and_reported);
    suite_add_tcase(s, tc);
    return s;
}
