/*
 * test_aws_creds.c - AWS credentials are found in order: the configured
 * file, the environment, the shared file with AWS_PROFILE; a missing
 * profile or none at all is an error that shows no secret.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws_creds.h"
#include "sluice/err.h"
#include "suites.h"

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

Suite *sl_aws_creds_suite(void)
{
    Suite *s = suite_create("aws_creds");
    TCase *tc = tcase_create("load");

    tcase_add_test(tc, test_aws_creds_are_found_in_order);
    suite_add_tcase(s, tc);
    return s;
}
