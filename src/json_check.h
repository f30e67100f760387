/*
 * json_check.h - is this JSON? A fast, allocation-free answer for the
 * common case, so json_validate need not build a tree per record; and
 * writing a JSON string that is valid whatever bytes it is given.
 *
 * sl_json_check() answers 1 only when jansson (as the JSON transforms call
 * it: any value, NUL allowed) would surely accept the text; 0 means "not
 * sure" (invalid, or a case it leaves to jansson: exponents, integers over
 * 18 digits, surrogate escapes, deep nesting), and the caller asks jansson,
 * which also says why.
 *
 * Threads: no state; any thread.
 */
#ifndef SL_JSON_CHECK_H
#define SL_JSON_CHECK_H

#include <stddef.h>

#include "buf.h"

/* 1 if <p> (<n> bytes) is surely one JSON value (an object when
 * <want_object>), with only whitespace around it; else 0. */
int sl_json_check(const unsigned char *p, size_t n, int want_object);

/* The length of the well-formed UTF-8 sequence at <p> (<n> bytes left),
 * or 0 (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF). */
size_t sl_json_check_utf8_len(const unsigned char *p, size_t n);

/* Appends <s> (<n> bytes) to <o> as the inside of a JSON string: UTF-8 as
 * it is, '"', '\\' and control characters escaped, a byte that is not
 * UTF-8 as U+FFFD, so the result is valid JSON whatever <s> holds.
 * SL_OK, or sl_buf_append's error. */
int sl_json_check_append_str(struct sl_buf *o, const char *s, size_t n);

#endif
