/*
 * partition.h - dynamic partitioning: a sealed batch becomes one part per
 * distinct set of partition key values, each read from a JSON record by a
 * path (partition_keys = customer=.customer_id, region=.geo.region).
 *
 * Keys may also come from a transform (lambda's metadata.partitionKeys):
 * those are read from the batch's notes (batch.h) instead of the record.
 *
 * A value is a JSON string (as is), number or boolean (as JSON writes it);
 * a record that is not a JSON object, or whose key is missing, null, an
 * object or an array, fails. At most <max> key sets per batch: the records
 * of further sets fail too (Firehose sends both to its error prefix).
 *
 * Threads: no state; a delivery worker calls it on the batch it holds.
 */
#ifndef SL_PARTITION_H
#define SL_PARTITION_H

#include <stddef.h>

#include "batch.h"
#include "partition-t.h"

struct sl_partitioned {
    struct sl_batch **parts;       /* owned array of parts, each with ->partition */
    size_t nparts;
    struct sl_batch *failed;       /* not JSON, or a key missing; NULL if none */
    struct sl_batch *over;         /* past <max> key sets; NULL if none */
    char failed_why[200], over_why[200];
};

/* Splits <b> (not released here) into parts, as sl_batch_pick does.
 * Returns SL_OK, or SL_ENOMEM. */
int sl_partition_batch(const struct sl_partition_spec *spec, unsigned max,
                       struct sl_batch *b, struct sl_partitioned *out);

/* The value of key <name> (<len> bytes; from a transform if <lambda>) in
 * part <b>, or NULL. */
const char *sl_partition_value(const struct sl_partition_spec *spec, const struct sl_batch *b,
                               int lambda, const char *name, size_t len);

/* 1 if <spec> has a key a transform sets (!{partitionKeyFromLambda:KEY}). */
int sl_partition_from_transforms(const struct sl_partition_spec *spec);

/* Adds the keys that !{partitionKeyFromLambda:KEY} names in <prefix> to
 * <spec>. SL_OK, or SL_EINVAL with <why> past SL_PART_KEYS keys. */
int sl_partition_add_lambda(const char *prefix, struct sl_partition_spec *spec, char *why,
                            size_t whylen);

/* Parses "NAME=.path, ..." into <spec>. SL_OK, or SL_EINVAL with <why>. */
int sl_partition_parse(const char *text, struct sl_partition_spec *spec, char *why,
                       size_t whylen);

#endif
