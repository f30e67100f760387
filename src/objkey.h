/*
 * objkey.h - object keys in Firehose's layout, shared by the file and S3
 * sinks:
 *   evaluated PREFIX + STREAM-VERSION-YYYY-MM-DD-HH-MM-SS-UUID + EXT
 *
 * A prefix (and an error prefix) may hold Firehose's expressions:
 *   !{timestamp:PATTERN}        the time, in a Java DateTimeFormatter
 *                               pattern: y M d H m s S, 'quoted text',
 *                               '' for a quote; other characters as they are
 *                               (Java's widths: y at most 19 letters, S 9,
 *                               M d H m s 2)
 *   !{firehose:random-string}   11 characters of [0-9a-z]
 *   !{firehose:error-output-type}   error prefix only: why the batch failed
 *   !{partitionKeyFromQuery:KEY}    prefix only: a dynamic partition key
 *   !{partitionKeyFromLambda:KEY}   prefix only: one a transform set
 * and is checked at config load by Firehose's rules: "!{" only to start an
 * expression, each expression known and closed, error-output-type only in
 * the error prefix and partition keys only in the prefix, an error prefix
 * with expressions holding error-output-type. A prefix without a
 * timestamp expression (and without partition keys) gets YYYY/MM/DD/HH/
 * appended, by plain concatenation: "logs" gives "logs2024/05/07/13/".
 *
 * Every time comes from the arrival time of the batch's oldest record, in
 * UTC, and random strings from the batch's UUID, so a batch keeps its key
 * across retries and restarts.
 *
 * Threads: no state; any thread.
 */
#ifndef SL_OBJKEY_H
#define SL_OBJKEY_H

#include <stddef.h>
#include <stdint.h>

#define SL_KEY_MAX 1536
#define SL_EVAL_PREFIX_MAX 512          /* Firehose's limit after evaluation */
#define SL_ERROR_TYPE_MAX 47            /* the longest error-output-type value */

/* Looks up partition key <name>, from a transform if <lambda>, else from
 * partition_keys; returns its value or NULL. */
typedef const char *(*sl_partition_fn)(void *arg, int lambda, const char *name, size_t len);

struct sl_objkey {
    const char *prefix;                 /* a template, checked by sl_objkey_check */
    const char *stream;
    unsigned version;
    int64_t wall_ms;                    /* oldest record's arrival */
    const char *uuid;                   /* 36 characters */
    const char *ext;                    /* ".gz", ".zst" or "" */
    const char *error_type;             /* for an error prefix; NULL for the prefix */
    sl_partition_fn partition;          /* NULL: no partition keys */
    void *partition_arg;
};

/* Checks template <tpl>: an error prefix if <is_error>. <keys> lists the
 * partition keys a prefix may name (NULL: none), ','-separated; <lambda>
 * says whether it may name keys from transforms. Also refuses a template
 * whose evaluation could pass SL_EVAL_PREFIX_MAX characters without its
 * partition values (an error-output-type counted as SL_ERROR_TYPE_MAX).
 * SL_OK, or SL_EINVAL with <why>. */
int sl_objkey_check(const char *tpl, int is_error, const char *keys, int lambda, char *why,
                    size_t whylen);

/* Writes the key into <out> (<len> bytes, NUL included; never past them,
 * whatever <k> holds: NULL stream, uuid or ext count as ""). SL_ETOOBIG if it does not fit in <len> or the
 * evaluated prefix passes SL_EVAL_PREFIX_MAX; SL_EINVAL if the template is
 * bad, a partition key has no value, or the key would leave its root (a
 * leading '/', a "." or ".." folder). */
int sl_objkey_format(const struct sl_objkey *k, char *out, size_t len);

#endif
