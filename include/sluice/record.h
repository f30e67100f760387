/*
 * record.h - how a record looks to code outside the core.
 *
 * A record is opaque bytes. Inside a chunk it is stored as a 32-bit
 * native-endian length followed by the bytes, unaligned, back to back.
 * Plugins only ever see a struct sl_record view.
 */
#ifndef SLUICE_RECORD_H
#define SLUICE_RECORD_H

#include <stddef.h>
#include <stdint.h>

struct sl_record {
    const uint8_t *data;      /* borrowed: valid while its batch lives */
    uint32_t       len;       /* bytes, at most max_record_size */
    int64_t        arrival_ms;/* wall-clock arrival, epoch milliseconds */
};

#endif
