/*
 * test_backup.c - backup envelopes: one JSON line per record, Firehose's
 * fields in its order, valid JSON whatever bytes the record, the code or
 * the message hold, each record's own error from its note.
 */
#include <check.h>
#include <stdio.h>
#include <jansson.h>
#include <string.h>

#include "backup.h"
#include "buf.h"
#include "sluice/err.h"
#include "suites.h"

/* A batch of <n> records from one chunk arrived at 1234 ms. */
static struct sl_batch *batch_of(const char *const *recs, const size_t *lens, size_t n)
{
    struct sl_chunk *c = sl_chunk_new(4096, 1234, 1);
    struct sl_batch *b = sl_batch_new();

    for (size_t i = 0; i < n; i++)
        sl_chunk_add(c, recs[i], (uint32_t)lens[i]);
    ck_assert_int_eq(sl_batch_add_span(b, c, 0, c->nrecords, c->bytes), SL_OK);
    sl_chunk_unref(c);
    return b;
}

START_TEST(test_backup_envelopes_are_json_lines)
{
    static const char *const recs[] = { "plain", "bin\n\0\xff" };
    static const size_t lens[] = { 5, 6 };
    static const char *const names[] = { "t0", "fn" };
    static const char *const arns[] = { NULL, "http://127.0.0.1:9/x" };
    struct sl_batch *b = batch_of(recs, lens, 2);
    struct sl_envelope e = {
        .stream = "s", .code = "File.RetriesExhausted",
        .message = "quote \" backslash \\ tab \t bell \x07 utf8 caf\xc3\xa9 \xe2\x82\xac bad \xff\xc3",
        .who = "sink", .name = "file", .attempts = 7, .transformed = 1,
        .tf_names = names, .tf_arns = arns,
        .ntf = 2, .now_ms = 5678,
    };
    struct sl_buf out;
    json_error_t err;

    sl_buf_init(&out, 1 << 20);
    ck_assert_int_eq(sl_backup_envelopes(b, &e, &out), SL_OK);
    char *nl = memchr(out.data, '\n', out.len);
    ck_assert_ptr_nonnull(nl);
    ck_assert_int_eq(out.data[out.len - 1], '\n');
    json_t *j = json_loadb((const char *)out.data, (size_t)(nl - (char *)out.data), 0, &err);
    ck_assert_msg(j != NULL, "line 1 is not JSON: %s", err.text);
    const char *k = json_object_iter_key(json_object_iter(j));
    ck_assert_str_eq(k, "attemptsMade");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "attemptsMade")), 7);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "arrivalTimestamp")), 1234);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "attemptEndingTimestamp")), 5678);
    ck_assert_str_eq(json_string_value(json_object_get(j, "errorCode")), "File.RetriesExhausted");
    ck_assert_str_eq(json_string_value(json_object_get(j, "sink")), "file");
    ck_assert(json_is_true(json_object_get(j, "transformed")));
    ck_assert_str_eq(json_string_value(json_object_get(j, "rawData")), "cGxhaW4=");
    /* UTF-8 comes back as it was, a byte that is not UTF-8 as U+FFFD */
    ck_assert_str_eq(json_string_value(json_object_get(j, "errorMessage")),
                     "quote \" backslash \\ tab \t bell \x07 utf8 caf\xc3\xa9 \xe2\x82\xac bad "
                     "\xef\xbf\xbd\xef\xbf\xbd");
    json_decref(j);
    j = json_loadb(nl + 1, out.len - (size_t)(nl + 1 - (char *)out.data) - 1, 0, &err);
    ck_assert_msg(j != NULL, "line 2 is not JSON: %s", err.text);
    ck_assert_str_eq(json_string_value(json_object_get(j, "rawData")), "YmluCgD/");
    json_decref(j);

    /* a record with a note speaks for itself: its code, message, transform */
    sl_buf_reset(&out);
    b->notes = calloc(1, sizeof(*b->notes));
    b->notes->kind = SL_NOTES_ERRORS;
    b->notes->n = 2;
    b->notes->at = calloc(2, sizeof(struct sl_note));
    b->notes->text = malloc(64);
    memcpy(b->notes->text, "C1\0m1\0C2\0m2", 12);
    b->notes->at[0] = (struct sl_note){ .off = 0, .len = 6, .attempts = 1, .by = 0 };
    b->notes->at[1] = (struct sl_note){ .off = 6, .len = 6, .attempts = 4, .by = 1 };
    ck_assert_int_eq(sl_backup_envelopes(b, &e, &out), SL_OK);
    nl = memchr(out.data, '\n', out.len);
    j = json_loadb(nl + 1, out.len - (size_t)(nl + 1 - (char *)out.data) - 1, 0, &err);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "errorCode")), "C2");
    ck_assert_str_eq(json_string_value(json_object_get(j, "errorMessage")), "m2");
    ck_assert_str_eq(json_string_value(json_object_get(j, "transform")), "fn");
    ck_assert_str_eq(json_string_value(json_object_get(j, "lambdaArn")), "http://127.0.0.1:9/x");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "attemptsMade")), 4);
    ck_assert_ptr_null(json_object_get(j, "sink"));
    ck_assert_ptr_null(json_object_get(j, "transformed"));   /* the source record */
    json_decref(j);
    /* notes that are a transform's partition keys say nothing of errors */
    b->notes->kind = SL_NOTES_KEYS;
    sl_buf_reset(&out);
    ck_assert_int_eq(sl_backup_envelopes(b, &e, &out), SL_OK);
    j = json_loadb((const char *)out.data, (size_t)((char *)memchr(out.data, '\n', out.len) -
                                                    (char *)out.data), 0, &err);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "errorCode")), "File.RetriesExhausted");
    ck_assert_str_eq(json_string_value(json_object_get(j, "sink")), "file");
    json_decref(j);
    b->notes->kind = SL_NOTES_ERRORS;
    /* too big for the buffer: refused, not truncated into bad JSON */
    struct sl_buf small;
    sl_buf_init(&small, 64);
    ck_assert_int_eq(sl_backup_envelopes(b, &e, &small), SL_ETOOBIG);
    sl_buf_destroy(&small);
    sl_buf_destroy(&out);
    sl_batch_free(b);
}
END_TEST

/* A record's identity as text: its base uuid and its number, "UUID-N". */
static void record_id(const struct sl_batch_iter *it, char out[48])
{
    char uuid[37];
    struct sl_batch base = { .root = NULL };

    memcpy(base.uuid, sl_batch_id_base(it->b), 16);
    sl_batch_uuid_str(&base, uuid);
    snprintf(out, 48, "%s-%u", uuid, it->ord);
}

/* A destination's fields, as a sink's envelope hook adds them. */
static void es_fields(void *ctx, const struct sl_batch_iter *it, const struct sl_record *r,
                      struct sl_buf *out)
{
    char id[48];

    record_id(it, id);
    sl_buf_printf(out, ",\"esDocumentId\":\"%s\",\"esIndexName\":\"%s-%lld\"", id,
                  (const char *)ctx, (long long)r->arrival_ms);
}

/* A sink's notes give each refused record its own error; its hook adds the
 * destination's fields before rawData; a record without a note keeps the
 * batch's error. */
START_TEST(test_backup_envelopes_carry_the_sinks_words)
{
    static const char *const recs[] = { "{\"a\":1}", "{\"a\":\"x\"}" };
    static const size_t lens[] = { 7, 9 };
    static const char *const codes[] = { NULL, "mapper_parsing_exception" };
    static const char *const msgs[] = { NULL, "failed to parse field [a] of type [long]" };
    struct sl_batch *b = batch_of(recs, lens, 2);
    struct sl_envelope e = {
        .stream = "s", .code = "Elasticsearch.Refused", .message = "2 items failed",
        .who = "sink", .name = "elasticsearch", .attempts = 1, .now_ms = 5678,
        .extra = es_fields, .extra_arg = "clicks",
    };
    struct sl_buf out;
    json_t *j[2];

    ck_assert_int_eq(sl_batch_new_uuid(b), SL_OK);
    b->notes = sl_batch_notes_errors(2, codes, msgs, SL_NOTE_BY_SINK, 1);
    ck_assert_ptr_nonnull(b->notes);
    sl_buf_init(&out, 1 << 20);
    ck_assert_int_eq(sl_backup_envelopes(b, &e, &out), SL_OK);
    char *nl = memchr(out.data, '\n', out.len);
    j[0] = json_loadb((const char *)out.data, (size_t)(nl - (char *)out.data), 0, NULL);
    j[1] = json_loadb(nl + 1, out.len - (size_t)(nl + 1 - (char *)out.data), 0, NULL);
    ck_assert(j[0] && j[1]);
    ck_assert_str_eq(json_string_value(json_object_get(j[0], "errorCode")),
                     "Elasticsearch.Refused");
    ck_assert_str_eq(json_string_value(json_object_get(j[1], "errorCode")),
                     "mapper_parsing_exception");
    ck_assert_str_eq(json_string_value(json_object_get(j[1], "errorMessage")), msgs[1]);
    ck_assert_str_eq(json_string_value(json_object_get(j[1], "sink")), "elasticsearch");
    ck_assert_str_eq(json_string_value(json_object_get(j[1], "esIndexName")), "clicks-1234");
    const char *id0 = json_string_value(json_object_get(j[0], "esDocumentId"));
    const char *id1 = json_string_value(json_object_get(j[1], "esDocumentId"));
    ck_assert(id0 && id1 && strcmp(id0, id1) != 0);
    ck_assert_str_eq(id1 + 36, "-1");
    /* Firehose's order: the destination's fields before rawData */
    void *k = json_object_iter(j[1]);
    const char *order[] = { "attemptsMade", "arrivalTimestamp", "errorCode", "errorMessage",
                            "attemptEndingTimestamp", "esDocumentId", "esIndexName", "rawData" };
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        ck_assert_str_eq(json_object_iter_key(k), order[i]);
        k = json_object_iter_next(j[1], k);
    }
    json_decref(j[0]);
    json_decref(j[1]);
    /* a transform's failure carries no destination fields */
    sl_buf_reset(&out);
    e.extra = NULL;
    ck_assert_int_eq(sl_backup_envelopes(b, &e, &out), SL_OK);
    ck_assert_ptr_null(memmem(out.data, out.len, "esDocumentId", 12));
    sl_buf_destroy(&out);
    sl_batch_free(b);
}
END_TEST

Suite *sl_backup_suite(void)
{
    Suite *s = suite_create("backup");
    TCase *tc = tcase_create("envelopes");

    tcase_add_test(tc, test_backup_envelopes_are_json_lines);
    tcase_add_test(tc, test_backup_envelopes_carry_the_sinks_words);
    suite_add_tcase(s, tc);
    return s;
}
