/*
 * uuid.h - random (version 4) UUIDs: a batch's object name, a lambda
 * invocation's id.
 *
 * Threads: no state; any thread (a fallback generator state is the
 * caller's).
 */
#ifndef SL_UUID_H
#define SL_UUID_H

#include <stdint.h>

/* Fills <u> from the kernel's randomness, or, if it has none to give,
 * from *<fallback> (sl_rand_next) when not NULL. SL_OK, or SL_EIO. */
int sl_uuid4(uint8_t u[16], uint64_t *fallback);

/* Writes <u> as 36 lowercase characters plus a NUL. */
void sl_uuid_str(const uint8_t u[16], char out[37]);

#endif
