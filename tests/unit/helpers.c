/* helpers.c - what several unit suites need (suites.h declares them). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "suites.h"

long ut_slurp(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f)
        return -1;
    n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
    return (long)n;
}

void ut_rm_rf(const char *dir)
{
    char cmd[200];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
