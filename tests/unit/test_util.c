/* test_util.c - buf, backoff, fsio (and the file sink over it), deadline,
 * base64, AWS credentials, and the chunk/batch record layout. */
#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "aws_creds.h"
#include "backoff.h"
#include "base64.h"
#include "batch.h"
#include "buf.h"
#include "clock.h"
#include "deadline.h"
#include "fsio.h"
#include "sink.h"
#include "sluice/err.h"
#include "suites.h"

START_TEST(test_buf_append_past_max_fails_and_keeps_contents)
{
    struct sl_buf b;

    sl_buf_init(&b, 8);
    ck_assert_int_eq(sl_buf_append(&b, "12345", 5), SL_OK);
    ck_assert_int_eq(sl_buf_append(&b, "6789", 4), SL_ETOOBIG);
    ck_assert_uint_eq(b.len, 5);
    ck_assert_int_eq(sl_buf_printf(&b, "%d", 12), SL_OK);
    ck_assert_int_eq(memcmp(b.data, "1234512", 7), 0);
    sl_buf_destroy(&b);
}
END_TEST

START_TEST(test_backoff_grows_to_cap_with_jitter_in_upper_half)
{
    struct sl_backoff bo = { .base_ms = 100, .cap_ms = 10000 };

    for (uint64_t r = 0; r < 1000; r += 7) {
        int64_t d1 = sl_backoff_delay(&bo, 1, r), d4 = sl_backoff_delay(&bo, 4, r);
        int64_t d50 = sl_backoff_delay(&bo, 50, r);
        ck_assert(d1 >= 50 && d1 <= 100);
        ck_assert(d4 >= 400 && d4 <= 800);
        ck_assert(d50 >= 5000 && d50 <= 10000);
    }
}
END_TEST

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

/* The whole content of <path>, NUL-terminated, in <out>; its length or -1. */
static long slurp(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f)
        return -1;
    n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
    return (long)n;
}

static void rm_rf(const char *dir)
{
    char cmd[200];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

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
    ck_assert_int_eq(slurp(file, got, sizeof(got)), 5);
    ck_assert_str_eq(got, "first");
    ck_assert_int_ne(stat(tmp, &st), 0);
    /* the same name again: told so, and the first file is as it was */
    ck_assert_int_eq(sl_fsio_write_exclusive(sub, "obj", "second!", 7, &what), SL_EEXIST);
    ck_assert_int_eq(slurp(file, got, sizeof(got)), 5);
    ck_assert_str_eq(got, "first");
    ck_assert_int_ne(stat(tmp, &st), 0);
    /* a directory by that name is no object */
    snprintf(file, sizeof(file), "%s/d", sub);
    ck_assert_int_eq(mkdir(file, 0755), 0);
    ck_assert_int_eq(sl_fsio_write_exclusive(sub, "d", "x", 1, &what), SL_EIO);
    ck_assert_str_eq(what, "link");
    snprintf(tmp, sizeof(tmp), "%s/.d.tmp", sub);
    ck_assert_int_ne(stat(tmp, &st), 0);
    rm_rf(dir);
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
        ck_assert_int_eq(slurp(file, got, sizeof(got)), 5);
        ck_assert_str_eq(got, "fresh");
        ck_assert_int_ne(stat(tmp, &st), 0);
        unlink(file);
    }
    rm_rf(dir);
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
    ck_assert_int_eq(slurp(file, got, sizeof(got)), 7);
    ck_assert_str_eq(got, "second!");
    rm_rf(dir);
}
END_TEST

/* Delivers <data> as <key> through a file sink rooted at <root>. */
static struct sl_sink_outcome file_deliver(const char *root, const char *key, const char *data,
                                           int exclusive, struct sl_sink_stats *stats)
{
    struct sl_sink_outcome out = { .result = -1 };
    struct sl_sink_batch b = {
        .stream = "s", .key = key, .data = (const uint8_t *)data, .len = strlen(data),
        .stats = stats, .exclusive = exclusive,
    };
    char err[128];
    void *ctx = NULL;

    const struct sl_sink_ops *file = sl_sink_find("file");
    void *conf = calloc(1, file->conf_size);

    ck_assert_ptr_nonnull(conf);
    ck_assert_int_eq(sl_conf_key_set(&file->keys[0], conf, root, err, sizeof(err)), SL_OK);
    ck_assert_int_eq(file->create("s", conf, &ctx, err, sizeof(err)), SL_OK);
    file->deliver(ctx, &b, &out);
    file->destroy(ctx);
    free(conf);
    return out;
}

START_TEST(test_sink_file_exclusive_redelivery_is_ok_and_counted)
{
    char dir[] = "/tmp/sluice-fsink-XXXXXX", file[160], got[64];
    struct sl_sink_stats stats;
    struct sl_sink_outcome out;

    memset(&stats, 0, sizeof(stats));
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/p/2026/obj.gz", dir);
    out = file_deliver(dir, "p/2026/obj.gz", "batch", 1, &stats);
    ck_assert_int_eq(out.result, SL_SINK_OK);
    ck_assert_int_eq(out.existed, 0);
    /* the replay after a crash: the object stays, the batch settles */
    out = file_deliver(dir, "p/2026/obj.gz", "other", 1, &stats);
    ck_assert_int_eq(out.result, SL_SINK_OK);
    ck_assert_int_eq(out.existed, 1);   /* the engine counts it (objects_existing) */
    ck_assert_int_eq(slurp(file, got, sizeof(got)), 5);
    ck_assert_str_eq(got, "batch");
    /* not exclusive: replaced, as before */
    out = file_deliver(dir, "p/2026/obj.gz", "other", 0, &stats);
    ck_assert_int_eq(out.result, SL_SINK_OK);
    ck_assert_int_eq(out.existed, 0);
    ck_assert_int_eq(slurp(file, got, sizeof(got)), 5);
    ck_assert_str_eq(got, "other");
    rm_rf(dir);
}
END_TEST

START_TEST(test_batch_iterates_spans_in_order)
{
    struct sl_chunk *c = sl_chunk_new(64, 5, 5);
    struct sl_batch *b = sl_batch_new();
    struct sl_batch_iter it;
    struct sl_record r;
    const char *want[] = { "b", "c", "a" };
    int i = 0;

    sl_chunk_add(c, "a", 1);
    uint32_t mid = c->len;
    sl_chunk_add(c, "b", 1);
    sl_chunk_add(c, "c", 1);
    sl_batch_add_span(b, c, mid, c->len, 2, 2);
    sl_batch_add_span(b, c, 0, mid, 1, 1);
    sl_chunk_unref(c);                      /* the spans keep it alive */
    ck_assert_uint_eq(atomic_load(&c->refs), 2);
    sl_batch_iter_init(&it, b);
    while (sl_batch_next(&it, &r)) {
        ck_assert_int_lt(i, 3);
        ck_assert_uint_eq(r.len, 1);
        ck_assert_int_eq(r.data[0], want[i][0]);
        ck_assert_int_eq(r.arrival_ms, 5);
        i++;
    }
    ck_assert_int_eq(i, 3);
    ck_assert_uint_eq(b->nrecords, 3);
    sl_batch_free(b);
}
END_TEST

static int settled_outcome = -1;
static void note(void *arg, struct sl_batch *b, enum sl_outcome o)
{
    (void)b;
    *(int *)arg = (int)o;
}

START_TEST(test_batch_settle_runs_actions_once)
{
    struct sl_batch *b = sl_batch_new();

    settled_outcome = -1;
    ck_assert_int_eq(sl_batch_on_settle(b, note, &settled_outcome), SL_OK);
    sl_batch_settle(b, SL_OUTCOME_BACKED_UP);
    ck_assert_int_eq(settled_outcome, SL_OUTCOME_BACKED_UP);
}
END_TEST

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
    struct sl_deadlines *w = sl_deadlines_new(10, &cuts);
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
    sl_deadlines_free(w);
    ck_assert_uint_eq(atomic_load(&cuts), 1);
    for (int i = 0; i < 2; i++)
        close(a[i]), close(b[i]);
}
END_TEST

START_TEST(test_base64_decodes_what_libcrypto_encodes)
{
    uint8_t in[300], out[300];
    char enc[420];
    uint64_t x = 88172645463325252ULL;

    for (size_t n = 0; n <= sizeof(in); n++) {
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            in[i] = (uint8_t)x;
        }
        int m = EVP_EncodeBlock((unsigned char *)enc, in, (int)n);
        ck_assert_int_eq(sl_base64_decoded_len(enc, (size_t)m), (long)n);
        ck_assert_int_eq(sl_base64_decode(enc, (size_t)m, out), (long)n);
        ck_assert_int_eq(memcmp(in, out, n), 0);
    }
}
END_TEST

START_TEST(test_base64_is_strict)
{
    static const char *const bad[] = {
        "YQ=", "YQ", "Y===", "====", "YQ==YQ==", "Y Q==", "YQ==\n", "YR\t=", "YQ-=",
        "ab_d", "\xc3\xa9\xc3\xa9", "YWJj\\", "=YWJ",
    };
    uint8_t out[16];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long need = sl_base64_decoded_len(bad[i], strlen(bad[i]));
        ck_assert_msg(need < 0 || sl_base64_decode(bad[i], strlen(bad[i]), out) < 0,
                      "accepted \"%s\"", bad[i]);
    }
    ck_assert_int_eq(sl_base64_decode("YWJj", 4, out), 3);
    ck_assert_int_eq(memcmp(out, "abc", 3), 0);
    ck_assert_int_eq(sl_base64_decode("+/8=", 4, out), 2);
    ck_assert(out[0] == 0xfb && out[1] == 0xff);
}
END_TEST

/* Issue 13 item 15: the bits of the last character that no byte takes
 * must be zero, so each byte string has one encoding. */
START_TEST(test_base64_refuses_non_canonical)
{
    static const char *const bad[] = { "QUB=", "QR==", "QV==", "QUJ=", "YWJjZB==", "//9=" };
    uint8_t out[16];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(sl_base64_decode(bad[i], strlen(bad[i]), out) < 0, "accepted \"%s\"",
                      bad[i]);
    ck_assert_int_eq(sl_base64_decode("QUA=", 4, out), 2);
    ck_assert(out[0] == 'A' && out[1] == '@');
    ck_assert_int_eq(sl_base64_decode("QQ==", 4, out), 1);
    ck_assert_int_eq(out[0], 'A');
}
END_TEST

/* Writes <text> to a new temp file; returns its path (static). */
static const char *temp_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/sluice-creds-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

START_TEST(test_aws_creds_are_found_in_order)
{
    struct sl_aws_creds c;
    char err[512];
    const char *file = temp_file("[default]\naws_access_key_id = AKFILE\n"
                                 "aws_secret_access_key = file-secret\n"
                                 "[other]\naws_access_key_id = AKOTHER\n"
                                 "aws_secret_access_key = other-secret\n"
                                 "aws_session_token = tok\n");

    /* Runs in its own process (Check forks), so the environment is ours. */
    setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
    unsetenv("AWS_PROFILE");
    ck_assert_int_eq(sl_aws_creds_load(file, &c, err, sizeof(err)), SL_OK);   /* 1: the file */
    ck_assert_str_eq(c.access_key, "AKFILE");
    ck_assert_str_eq(c.session_token, "");
    ck_assert_int_eq(sl_aws_creds_load(NULL, &c, err, sizeof(err)), SL_OK);   /* 2: environment */
    ck_assert_str_eq(c.access_key, "AKENV");
    ck_assert_str_eq(c.source, "environment");
    unsetenv("AWS_ACCESS_KEY_ID");
    setenv("AWS_SHARED_CREDENTIALS_FILE", file, 1);                           /* 3: shared file */
    setenv("AWS_PROFILE", "other", 1);
    ck_assert_int_eq(sl_aws_creds_load("", &c, err, sizeof(err)), SL_OK);
    ck_assert_str_eq(c.access_key, "AKOTHER");
    ck_assert_str_eq(c.secret_key, "other-secret");
    ck_assert_str_eq(c.session_token, "tok");
    setenv("AWS_PROFILE", "missing", 1);
    ck_assert_int_eq(sl_aws_creds_load("", &c, err, sizeof(err)), SL_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "[missing] is not there"));
    ck_assert_ptr_null(strstr(err, "secret"));
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/creds", 1);
    ck_assert_int_eq(sl_aws_creds_load(NULL, &c, err, sizeof(err)), SL_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "no AWS credentials"));
    unlink(file);
}
END_TEST

Suite *sl_util_suite(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("util");

    tcase_add_test(tc, test_buf_append_past_max_fails_and_keeps_contents);
    tcase_add_test(tc, test_backoff_grows_to_cap_with_jitter_in_upper_half);
    tcase_add_test(tc, test_fsio_write_atomic_creates_dirs_and_leaves_no_temp);
    tcase_add_test(tc, test_fsio_write_exclusive_never_replaces_and_leaves_no_temp);
    tcase_add_test(tc, test_fsio_write_over_a_stale_temp_succeeds);
    tcase_add_test(tc, test_fsio_write_atomic_replaces);
    tcase_add_test(tc, test_sink_file_exclusive_redelivery_is_ok_and_counted);
    tcase_add_test(tc, test_batch_iterates_spans_in_order);
    tcase_add_test(tc, test_batch_settle_runs_actions_once);
    tcase_add_test(tc, test_deadline_cuts_once_past_due_and_never_when_cleared);
    tcase_add_test(tc, test_base64_decodes_what_libcrypto_encodes);
    tcase_add_test(tc, test_base64_is_strict);
    tcase_add_test(tc, test_base64_refuses_non_canonical);
    tcase_add_test(tc, test_aws_creds_are_found_in_order);
    suite_add_tcase(s, tc);
    return s;
}
