/*
 * sink_kafka.h - the Kafka sink's parts the unit tests reach (sink_kafka.c).
 * Nothing else includes it: the sink is found through the registry.
 */
#ifndef SL_SINK_KAFKA_H
#define SL_SINK_KAFKA_H

#include <stddef.h>

/* What a delivery report's error code <err> (an rd_kafka_resp_err_t, 0 for
 * none) means for its record: enum sl_sink_result (SL_SINK_OK, RETRY or
 * FAIL). Permanent errors (too large, unknown topic, invalid record ...)
 * FAIL; every other one, and any code not known, RETRY. */
int sl__sink_kafka_classify(int err);

/* The retry cause (enum sl_retry_cause) of a RETRY for <err>. */
int sl__sink_kafka_cause(int err);

/* Parses kafka_sink.key: "" (no key: *<name> set to ""), or exactly one of
 * !{partitionKeyFromQuery:NAME} and !{partitionKeyFromLambda:NAME} (NAME of
 * letters, digits, _ and -, 1-63 of them): 1 with <name> and *<lambda> set,
 * else 0 with <why>. */
int sl__sink_kafka_key_parse(const char *text, char name[64], int *lambda, char *why,
                             size_t whylen);

/* Tests only: raises a fatal producer error on instance <ctx> (as a broker
 * fencing the producer would), so the restart path runs. */
void sl__sink_kafka_test_fatal(void *ctx);

#endif
