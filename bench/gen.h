/*
 * gen.h - the load generator's records: synthetic clickstream events.
 *
 * A record is a pure function of (seed, seq): one JSON object of 226 to
 * 418 bytes, 325 on average (timestamp, user, session, url, referrer, user
 * agent, event type, a few numbers) ending in "\n" and starting with
 * {"seq":<seq>, so that `verify` can find any record's sequence number,
 * make it again, and compare the bytes.
 */
#ifndef LG_GEN_H
#define LG_GEN_H

#include <stddef.h>
#include <stdint.h>

/* The longest record lg_record writes, with its "\n". */
#define LG_RECORD_MAX 512

/* Writes record <seq> of <seed> into <out> (LG_RECORD_MAX bytes) and
 * returns its length. */
size_t lg_record(uint64_t seed, uint64_t seq, char *out);

/* Reads the sequence number at the start of <rec> (<len> bytes) into
 * *<seq>. Returns 0, or -1 if <rec> does not start like a record. */
int lg_record_seq(const char *rec, size_t len, uint64_t *seq);

#endif
