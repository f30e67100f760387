/*
 * fuzz.h - what the fuzz targets share (tests/fuzz/, docs/testing-fuzz.md).
 *
 * Each fuzz_<name>.c defines LLVMFuzzerTestOneInput and is linked either
 * with libFuzzer (clang -fsanitize=fuzzer: `make fuzz`) or with
 * standalone.c, which feeds each file it is given once (`make
 * fuzz-regress`, built by the project's own compiler and sanitizers).
 * A target must be deterministic, bounded in memory and time per input,
 * free what it allocates, and abort() (FUZZ_ASSERT) on a broken property.
 */
#ifndef SL_FUZZ_H
#define SL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A property that must hold: on failure, say which and abort (a crash). */
#define FUZZ_ASSERT(cond, ...)                                                  \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "fuzz: %s:%d: property failed: %s: ", __FILE__,     \
                    __LINE__, #cond);                                           \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
            abort();                                                            \
        }                                                                       \
    } while (0)

/* A NUL-terminated copy of <data> (free()); NULL when out of memory. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s) {
        if (size)
            memcpy(s, data, size);
        s[size] = '\0';
    }
    return s;
}

/* Writes <size> bytes to <path> (created or truncated). 0, or -1. */
static inline int fuzz_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    int ok;

    if (!f)
        return -1;
    ok = fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok ? 0 : -1;
}

#endif
