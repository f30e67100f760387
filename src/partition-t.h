/*
 * partition-t.h - the types of partitioning (partition.h), alone: a
 * stream's parsed partition_keys, which config.h holds by value.
 *
 * Types only, as HAProxy's x-t.h: config.h includes this and not
 * partition.h, so config and partition do not depend on each other
 * (scripts/layers.txt).
 */
#ifndef SL_PARTITION_T_H
#define SL_PARTITION_T_H

#include <stdint.h>

/* Dynamic partitioning: each key's name and the JSON path of its value. */
#define SL_PART_KEYS 8
struct sl_partition_spec {
    unsigned n;
    uint8_t lambda[SL_PART_KEYS];          /* 1: set by a transform (no path) */
    char name[SL_PART_KEYS][64];
    char path[SL_PART_KEYS][192];          /* ".a.b": object members, one per dot */
};

#endif
