/*
 * json_check.c - see json_check.h.
 *
 * One pass, no allocation: a stack of open containers (one byte each) and
 * a state per position. Anything it is not sure jansson would accept the
 * same way (a number that may overflow, a \u escape in the surrogate
 * range, a raw NUL, \u0000 in a key, deep nesting, bytes that are not
 * UTF-8) answers "not sure", and the caller asks jansson.
 */
#include "json_check.h"

#include "sluice/err.h"

#define DEPTH_MAX 512

size_t sl_json_check_utf8_len(const unsigned char *p, size_t n)
{
    size_t len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;
    unsigned char lo = 0x80, hi = 0xbf;

    if (p[0] < 0xc2 || p[0] > 0xf4 || len > n)
        return 0;
    if (p[0] == 0xe0) lo = 0xa0;
    if (p[0] == 0xed) hi = 0x9f;
    if (p[0] == 0xf0) lo = 0x90;
    if (p[0] == 0xf4) hi = 0x8f;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return len;
}

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A string from its opening quote at p[*i]: 1 with *i past it, else 0.
 * An object's <key> may not hold \u0000 (jansson refuses a NUL in a key
 * even with JSON_ALLOW_NUL). */
static int string(const unsigned char *p, size_t n, size_t *i, int key)
{
    size_t k = *i + 1;

    while (k < n) {
        unsigned char c = p[k];
        if (c == '"') {
            *i = k + 1;
            return 1;
        }
        if (c < 0x20)
            return 0;                       /* control characters, and raw NUL */
        if (c == '\\') {
            if (k + 1 >= n)
                return 0;
            c = p[k + 1];
            if (c == 'u') {
                if (k + 5 >= n || !is_hex(p[k + 2]) || !is_hex(p[k + 3]) ||
                    !is_hex(p[k + 4]) || !is_hex(p[k + 5]))
                    return 0;
                /* \uD800-\uDFFF: pairs and their rules are jansson's to judge */
                if ((p[k + 2] == 'd' || p[k + 2] == 'D') &&
                    ((p[k + 3] >= '8' && p[k + 3] <= '9') || (p[k + 3] >= 'a' && p[k + 3] <= 'f') ||
                     (p[k + 3] >= 'A' && p[k + 3] <= 'F')))
                    return 0;
                if (key && p[k + 2] == '0' && p[k + 3] == '0' && p[k + 4] == '0' &&
                    p[k + 5] == '0')
                    return 0;
                k += 6;
                continue;
            }
            if (c != '"' && c != '\\' && c != '/' && c != 'b' && c != 'f' && c != 'n' &&
                c != 'r' && c != 't')
                return 0;
            k += 2;
            continue;
        }
        if (c >= 0x80) {
            size_t len = sl_json_check_utf8_len(p + k, n - k);
            if (!len)
                return 0;
            k += len;
            continue;
        }
        k++;
    }
    return 0;
}

/* A number at p[*i]: 1 with *i past it when it surely fits (an integer of
 * at most 18 digits, or a real without exponent of at most 300), else 0. */
static int number(const unsigned char *p, size_t n, size_t *i)
{
    size_t k = *i, digits = 0;
    int real = 0;

    if (k < n && p[k] == '-')
        k++;
    if (k < n && p[k] == '0') {
        k++, digits++;
    } else {
        if (k >= n || p[k] < '1' || p[k] > '9')
            return 0;
        while (k < n && p[k] >= '0' && p[k] <= '9')
            k++, digits++;
    }
    if (k < n && p[k] == '.') {
        real = 1;
        if (++k >= n || p[k] < '0' || p[k] > '9')
            return 0;
        while (k < n && p[k] >= '0' && p[k] <= '9')
            k++, digits++;
    }
    if (k < n && (p[k] == 'e' || p[k] == 'E'))
        return 0;                           /* may overflow: jansson's call */
    if (real ? digits > 300 : digits > 18)
        return 0;
    *i = k;
    return 1;
}

static int word(const unsigned char *p, size_t n, size_t *i, const char *w, size_t wn)
{
    for (size_t k = 0; k < wn; k++)
        if (*i + k >= n || p[*i + k] != (unsigned char)w[k])
            return 0;
    *i += wn;
    return 1;
}

int sl_json_check(const unsigned char *p, size_t n, int want_object)
{
    unsigned char stack[DEPTH_MAX];
    size_t depth = 0, i = 0;
    enum { VALUE, AFTER_VALUE, KEY_OR_END, KEY, VALUE_OR_END } st = VALUE;

    while (i < n && is_ws(p[i]))
        i++;
    if (want_object && (i >= n || p[i] != '{'))
        return 0;
    for (;;) {
        while (i < n && is_ws(p[i]))
            i++;
        if (i >= n)
            return depth == 0 && st == AFTER_VALUE;
        unsigned char c = p[i];
        switch (st) {
        case VALUE_OR_END:
            if (c == ']') {
                depth--, i++;
                st = AFTER_VALUE;
                break;
            }
            /* fall through */
        case VALUE:
            if (c == '{' || c == '[') {
                if (depth == DEPTH_MAX)
                    return 0;
                stack[depth++] = c;
                i++;
                st = c == '{' ? KEY_OR_END : VALUE_OR_END;
                break;
            }
            if (c == '"' ? !string(p, n, &i, 0)
                : c == 't' ? !word(p, n, &i, "true", 4)
                : c == 'f' ? !word(p, n, &i, "false", 5)
                : c == 'n' ? !word(p, n, &i, "null", 4)
                : !number(p, n, &i))
                return 0;
            st = AFTER_VALUE;
            break;
        case AFTER_VALUE:
            if (depth == 0)
                return 0;                   /* something after the value */
            if (c == ',') {
                i++;
                st = stack[depth - 1] == '{' ? KEY : VALUE;
            } else if (c == (stack[depth - 1] == '{' ? '}' : ']')) {
                depth--, i++;
            } else {
                return 0;
            }
            break;
        case KEY_OR_END:
            if (c == '}') {
                depth--, i++;
                st = AFTER_VALUE;
                break;
            }
            /* fall through */
        case KEY:
            if (c != '"' || !string(p, n, &i, 1))
                return 0;
            while (i < n && is_ws(p[i]))
                i++;
            if (i >= n || p[i] != ':')
                return 0;
            i++;
            st = VALUE;
            break;
        }
    }
}

int sl_json_check_append_str(struct sl_buf *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0, k;
    int rc = SL_OK;

    for (size_t i = 0; i < n && rc == SL_OK; i++) {
        if (u[i] >= 0x20 && u[i] < 0x80 && u[i] != '"' && u[i] != '\\')
            continue;
        if (u[i] >= 0x80 && (k = sl_json_check_utf8_len(u + i, n - i))) {
            i += k - 1;
            continue;
        }
        rc = sl_buf_append(o, s + run, i - run);
        run = i + 1;
        if (rc != SL_OK)
            break;
        if (u[i] == '"' || u[i] == '\\') {
            char e[2] = { '\\', (char)u[i] };
            rc = sl_buf_append(o, e, 2);
        } else if (u[i] >= 0x80) {
            rc = sl_buf_append(o, "\\ufffd", 6);
        } else {
            char e[6] = { '\\', 'u', '0', '0', hex[u[i] >> 4], hex[u[i] & 15] };
            rc = sl_buf_append(o, e, 6);
        }
    }
    return rc == SL_OK ? sl_buf_append(o, s + run, n - run) : rc;
}
