/* a.c: a -> b -> a is a cycle; through b.h, a reaches t (top) */
#include "a.h"
#include "b.h"

static int helper(void) { return 0; }

int sl_a_ok(void)
{
    return helper();
}

int sl_a(void) { return 1; }

/* int sl_commented_out(void) { } */
int sl__a_internal(void) { return 2; }

const char *sl_wrong(const char *s,
                     int n)
{
    static const char *t = "int sl_in_string(void) {";
    return n ? s : t;
}

int sl_exempt(void) { return 3; }
