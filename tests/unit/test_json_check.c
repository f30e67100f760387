/*
 * test_json_check.c - the fast JSON check: sure of the common records,
 * never sure of anything jansson refuses (a table, then random mutations of
 * valid documents, each checked against jansson itself).
 */
#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "json_check.h"
#include "suites.h"

static int check(const char *s, int obj)
{
    return sl_json_check((const unsigned char *)s, strlen(s), obj);
}

/* What jansson says, called as the JSON transforms call it. */
static int jansson_ok(const unsigned char *p, size_t n, int obj)
{
    json_error_t e;
    json_t *j = json_loadb(n ? (const char *)p : "", n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    int ok = j && (!obj || json_is_object(j));

    json_decref(j);
    return ok;
}

START_TEST(test_json_check_sure_of_common_records)
{
    static const char *const yes[] = {
        "{\"seq\":1,\"ts\":\"2026-11-27T00:00:00.002Z\",\"ok\":true,\"n\":null,\"x\":-0.5}",
        " [1, 2.25, \"caf\xc3\xa9\", {\"a\": []}, {}] \n", "42", "-0", "\"\\u00e9\\n\\\"\"",
        "{\"a\":{\"b\":{\"c\":[[],[{}]]}}}", "123456789012345678", "\"\\u0000\"",
    };
    static const char *const no[] = {
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\"1}", "{a:1}", "01", "1.", ".5",
        "-", "tru", "nul", "\"abc", "\"\\x\"", "\"\t\"", "[1] 2", "1e5", "1E-2",
        "1234567890123456789", "\"\\ud800\"", "\"\xff\"", "\"\xc0\xaf\"", "[\"a\" \"b\"]",
        "{\"a\":1 \"b\":2}", "{\"a\"}", "\"\\u12G4\"",
    };

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        ck_assert_msg(check(yes[i], 0) == 1, "not sure of %s", yes[i]);
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        ck_assert_msg(check(no[i], 0) == 0, "sure of %s", no[i]);
    ck_assert_int_eq(check("{\"a\":1}", 1), 1);
    ck_assert_int_eq(check("[{\"a\":1}]", 1), 0);
    ck_assert_int_eq(check("\"{}\"", 1), 0);
}
END_TEST

/* Found by fuzz_json_check: jansson refuses \u0000 in an object's key
 * (NUL allowed or not), so the check must not be sure of it. */
START_TEST(test_json_check_not_sure_of_nul_in_a_key)
{
    static const char *const keys[] = { "{\"ab\":[],\"\\u0000\":[]}", "{\"a\\u0000\":1}",
                                        "[{\"\\u0000x\":1}]" };

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        ck_assert_int_eq(jansson_ok((const unsigned char *)keys[i], strlen(keys[i]), 0), 0);
        ck_assert_msg(check(keys[i], 0) == 0, "sure of %s", keys[i]);
    }
    ck_assert_int_eq(check("{\"a\":\"\\u0000\"}", 1), 1);      /* in a value it is fine */
}
END_TEST

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* 200,000 mutations (a byte changed, dropped or repeated) of valid
 * documents: whenever the check is sure, jansson agrees. */
START_TEST(test_json_check_never_sure_of_what_jansson_refuses)
{
    static const char *const seeds[] = {
        "{\"seq\":12,\"s\":\"a\\\"b\\\\c\\u00e9\",\"l\":[1,-2.5,true,false,null],\"o\":{}}",
        "[[[\"x\"]],{\"k\":{\"k\":[0]}}, \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"]",
        " {\"a\" : 1 , \"b\" : [ ] } ",
    };
    static const unsigned char bytes[] = "{}[]\",:\\ 0123456789.-+eEtrufalsn\x80\xc3\xff\x00u";
    unsigned char buf[256];
    uint64_t rnd = 0x9e3779b97f4a7c15ULL;
    int sure = 0;

    for (int round = 0; round < 200000; round++) {
        const char *s = seeds[round % 3];
        size_t n = strlen(s);
        memcpy(buf, s, n);
        for (int m = 0, muts = 1 + (int)(next(&rnd) % 3); m < muts && n > 1; m++) {
            size_t at = next(&rnd) % n;
            switch (next(&rnd) % 3) {
            case 0: buf[at] = bytes[next(&rnd) % (sizeof(bytes) - 1)]; break;
            case 1: memmove(buf + at, buf + at + 1, n - at - 1), n--; break;
            default:
                if (n + 1 < sizeof(buf)) {
                    memmove(buf + at + 1, buf + at, n - at);
                    n++;
                }
            }
        }
        int obj = round % 2;
        if (sl_json_check(buf, n, obj)) {
            sure++;
            ck_assert_msg(jansson_ok(buf, n, obj), "sure of '%.*s', jansson refuses it", (int)n,
                          buf);
        }
    }
    ck_assert_int_gt(sure, 1000);      /* it is sure of many: the test tests something */
}
END_TEST

Suite *sl_json_check_suite(void)
{
    Suite *s = suite_create("json_check");
    TCase *tc = tcase_create("check");

    tcase_add_test(tc, test_json_check_sure_of_common_records);
    tcase_add_test(tc, test_json_check_not_sure_of_nul_in_a_key);
    tcase_add_test(tc, test_json_check_never_sure_of_what_jansson_refuses);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
