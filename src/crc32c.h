/*
 * crc32c.h - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as
 * iSCSI, ext4 and LevelDB use it; it frames write-ahead-log entries.
 * Debian 12 ships no C library for it.
 *
 * Two paths give the same answer: slice-by-8 in portable C (eight 1 KiB
 * tables, eight bytes per step), and, on x86-64 CPUs with SSE4.2, the
 * crc32 instruction, three independent chains at a time on long buffers.
 * sl_crc32c() picks one once per process; the tests hold the portable
 * path to the hardware one.
 *
 * Threads: any thread. The tables and the CPU check are set up once, on
 * first use, under pthread_once; nothing else is shared.
 */
#ifndef SL_CRC32C_H
#define SL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The hardware path checksums long buffers in rounds of three blocks of
 * this many bytes (a multiple of 8), one crc32 chain per block; it is here
 * so the tests can aim at the edges of rounds. Bigger blocks make the
 * combine of each round (a few table lookups) cheaper per byte, but leave a
 * longer tail, under 3 blocks, that runs as one chain at a third of the
 * speed. 1024 was the best of 512..4096 at 100 KB (bench/crc_speed.c);
 * 2048 was 1% faster at 1 MB. */
#define SL_CRC32C_HW_BLOCK 1024

/* Extends <crc> (0 to start) over <n> bytes at <p>; returns the new CRC.
 * Chaining calls over pieces equals one call over the whole. <p> is
 * borrowed for the call and may be NULL when <n> is 0. */
uint32_t sl_crc32c(uint32_t crc, const void *p, size_t n);

/* The same, always by the portable slice-by-8 path (for tests). */
uint32_t sl_crc32c_portable(uint32_t crc, const void *p, size_t n);

#endif
