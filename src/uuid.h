/*
 * uuid.h - random (version 4) UUIDs: a batch's object name, a lambda
 * invocation's id; and derived (version 8) ones: a part's name, which
 * must come out the same when a batch is re-formed after a crash.
 *
 * Threads: no state; any thread (a fallback generator state is the
 * caller's).
 */
#ifndef SL_UUID_H
#define SL_UUID_H

#include <stddef.h>
#include <stdint.h>

/* Fills <u> from the kernel's randomness, or, if it has none to give,
 * from *<fallback> (sl_backoff_rand) when not NULL. SL_OK, or SL_EIO. */
int sl_uuid_v4(uint8_t u[16], uint64_t *fallback);

/* Derives a name-based (version 8) UUID from <parent> and <how> (<n>
 * bytes): the same inputs give the same UUID, different ones (almost
 * surely) different UUIDs. SHA-256, truncated. */
void sl_uuid_derive(const uint8_t parent[16], const void *how, size_t n, uint8_t out[16]);

/* Writes <u> as 36 lowercase characters plus a NUL. */
void sl_uuid_str(const uint8_t u[16], char out[37]);

#endif
