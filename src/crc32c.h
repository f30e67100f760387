/*
 * crc32c.h - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as
 * iSCSI, ext4 and LevelDB use it; it frames write-ahead-log entries.
 * Debian 12 ships no C library for it.
 *
 * Two paths give the same answer: slice-by-8 in portable C (eight 1 KiB
 * tables, eight bytes per step), and, on x86-64 CPUs with SSE4.2, the
 * crc32 instruction. sl_crc32c() picks one once per process; the tests
 * hold the portable path to the hardware one.
 *
 * Threads: any thread. The tables and the CPU check are set up once, on
 * first use, under pthread_once; nothing else is shared.
 */
#ifndef SL_CRC32C_H
#define SL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends <crc> (0 to start) over <n> bytes at <p>; returns the new CRC.
 * Chaining calls over pieces equals one call over the whole. <p> is
 * borrowed for the call and may be NULL when <n> is 0. */
uint32_t sl_crc32c(uint32_t crc, const void *p, size_t n);

/* The same, always by the portable slice-by-8 path (for tests). */
uint32_t sl_crc32c_portable(uint32_t crc, const void *p, size_t n);

#endif
