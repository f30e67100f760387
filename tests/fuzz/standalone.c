/*
 * standalone.c - runs a fuzz target without libFuzzer: each FILE (or every
 * file in each DIRECTORY, not recursively) is fed to
 * LLVMFuzzerTestOneInput once, in the order given. For `make fuzz-regress`:
 * the saved corpus and crash inputs, built with gcc and, under `make
 * asan`, with ASan+UBSan. Exit status 0 when every input ran (a broken
 * property or a sanitizer report aborts the process).
 *   build/fuzz/<target> [-v] FILE|DIR...
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* libFuzzer calls it when a target defines it. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int run_file(const char *path, int verbose)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;

    if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto bad;
    if (!(buf = malloc((size_t)n + 1)) || fread(buf, 1, (size_t)n, f) != (size_t)n)
        goto bad;
    fclose(f);
    if (verbose)
        fprintf(stderr, "input %s (%ld bytes)\n", path, n);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    return 1;
bad:
    fprintf(stderr, "standalone: %s: cannot read\n", path);
    if (f)
        fclose(f);
    free(buf);
    return -1;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int visible(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

int main(int argc, char **argv)
{
    int verbose = 0, ran = 0, bad = 0;

    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (strcmp(argv[i], "-v") == 0) {
            verbose = 1;
            continue;
        }
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "standalone: %s: no such file\n", argv[i]);
            bad++;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            int r = run_file(argv[i], verbose);
            ran += r > 0, bad += r < 0;
            continue;
        }
        struct dirent **list;
        int n = scandir(argv[i], &list, visible, by_name);
        for (int k = 0; k < n; k++) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", argv[i], list[k]->d_name);
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                int r = run_file(path, verbose);
                ran += r > 0, bad += r < 0;
            }
            free(list[k]);
        }
        if (n >= 0)
            free(list);
    }
    fprintf(stderr, "standalone: %d inputs run\n", ran);
    return bad ? 1 : 0;
}
