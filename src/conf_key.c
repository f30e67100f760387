/* conf_key.c - see conf_key.h. */
#include "conf_key.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "sluice/err.h"
#include "units.h"

const char *const sl_conf_bool[] = { "false", "true", NULL };

static int set_number(const struct sl_conf_key *k, char *field, const char *value, char *why,
                      size_t whylen)
{
    uint64_t u = 0;
    int64_t ms;

    if (k->type == SL_K_DURATION) {
        if (sl_units_duration(value, &ms) != SL_OK) {
            snprintf(why, whylen, "'%s' is not a duration (e.g. 250ms, 60s, 15m)", value);
            return SL_EINVAL;
        }
        if ((uint64_t)ms < k->min || (uint64_t)ms > k->max) {
            snprintf(why, whylen, "%s is out of range %llums..%llums", value,
                     (unsigned long long)k->min, (unsigned long long)k->max);
            return SL_ERANGE;
        }
        *(int64_t *)field = ms;
        return SL_OK;
    }
    if (k->type == SL_K_SIZE && sl_units_size(value, &u) != SL_OK) {
        snprintf(why, whylen, "'%s' is not a size (e.g. 512KiB, 5MiB, 1GiB)", value);
        return SL_EINVAL;
    }
    if (k->type == SL_K_UINT && sl_units_uint(value, &u) != SL_OK) {
        snprintf(why, whylen, "'%s' is not a whole number", value);
        return SL_EINVAL;
    }
    if (u < k->min || u > k->max) {
        snprintf(why, whylen, "%s is out of range %llu..%llu", value,
                 (unsigned long long)k->min, (unsigned long long)k->max);
        return SL_ERANGE;
    }
    *(uint64_t *)field = u;
    return SL_OK;
}

static int set_enum(const struct sl_conf_key *k, char *field, const char *value, char *why,
                    size_t whylen)
{
    for (int i = 0; k->enums[i]; i++) {
        if (strcmp(value, k->enums[i]) == 0) {
            if (k->size)                /* an enum stored as its name */
                snprintf(field, k->size, "%s", value);
            else
                *(int *)field = i;
            return SL_OK;
        }
    }
    snprintf(why, whylen, "'%s' is not one of:", value);
    for (int i = 0; k->enums[i]; i++) {
        size_t n = strlen(why);
        snprintf(why + n, whylen - n, " %s", k->enums[i]);
    }
    return SL_EINVAL;
}

/* The prefix length of an SL_K_MAP row ("kafka.option.*": 13). */
static size_t map_prefix(const struct sl_conf_key *k)
{
    return strlen(k->name) - 1;
}

int sl_conf_key_map_next(const char *field, size_t *pos, char *name, size_t namelen,
                         char *value, size_t valuelen)
{
    const char *line = field + *pos, *eq, *nl;

    if (!*line || !(eq = strchr(line, '=')) || !(nl = strchr(eq, '\n')))
        return 0;
    snprintf(name, namelen, "%.*s", (int)(eq - line), line);
    snprintf(value, valuelen, "%.*s", (int)(nl - eq - 1), eq + 1);
    *pos = (size_t)(nl + 1 - field);
    return 1;
}

/* Adds NAME=VALUE (NAME: <name> past the row's prefix) to a map field. */
static int map_add(const struct sl_conf_key *k, char *field, const char *name,
                   const char *value, char *why, size_t whylen)
{
    const char *key = name ? name + map_prefix(k) : "";
    size_t used = strlen(field), need = strlen(key) + strlen(value) + 2, pos = 0;
    char n[256], v[8];

    if (!key[0] || strpbrk(key, "=\n") || strchr(value, '\n')) {
        snprintf(why, whylen, "'%s' is not a NAME=VALUE property", key);
        return SL_EINVAL;
    }
    while (sl_conf_key_map_next(field, &pos, n, sizeof(n), v, sizeof(v)))
        if (strcmp(n, key) == 0) {
            snprintf(why, whylen, "set twice in one section");
            return SL_EINVAL;
        }
    if (used + need >= k->size) {
        snprintf(why, whylen, "more than %zu characters of such properties", k->size - 1);
        return SL_ETOOBIG;
    }
    snprintf(field + used, k->size - used, "%s=%s\n", key, value);
    return SL_OK;
}

int sl_conf_key_set_named(const struct sl_conf_key *k, void *base, const char *name,
                          const char *value, char *why, size_t whylen)
{
    if (k->type == SL_K_MAP)
        return map_add(k, (char *)base + k->off, name, value, why, whylen);
    return sl_conf_key_set(k, base, value, why, whylen);
}

int sl_conf_key_set(const struct sl_conf_key *k, void *base, const char *value, char *why,
                    size_t whylen)
{
    char *field = (char *)base + k->off;
    struct sl_addr addr;
    const char *reason;

    switch (k->type) {
    case SL_K_SIZE:
    case SL_K_UINT:
    case SL_K_DURATION:
        return set_number(k, field, value, why, whylen);
    case SL_K_ENUM:
        return set_enum(k, field, value, why, whylen);
    case SL_K_ADDR:
        if (value[0] && sl_addr_parse(value, &addr, &reason) != SL_OK) {
            snprintf(why, whylen, "'%s': %s", value, reason);
            return SL_EINVAL;
        }
        /* the text is kept; its owner resolves it after the load */
        __attribute__((fallthrough));
    case SL_K_STRING:
        if (strlen(value) >= k->size) {
            snprintf(why, whylen, "longer than %zu characters", k->size - 1);
            return SL_ETOOBIG;
        }
        if (k->min && value[0] == '\0') {
            snprintf(why, whylen, "must not be empty");
            return SL_EINVAL;
        }
        memcpy(field, value, strlen(value) + 1);
        return SL_OK;
    case SL_K_MAP:              /* needs its key's name: sl_conf_key_set_named */
        snprintf(why, whylen, "a property without its name");
        return SL_EINVAL;
    }
    return SL_EINVAL;
}

void sl_conf_key_defaults(const struct sl_conf_key *keys, void *base)
{
    char why[256];

    for (const struct sl_conf_key *k = keys; k->name; k++)
        if (k->def)
            sl_conf_key_set(k, base, k->def, why, sizeof(why));
}

int sl_conf_key_index(const struct sl_conf_key *keys, const char *name)
{
    int map = -1;

    for (int i = 0; keys[i].name; i++) {
        if (strcmp(keys[i].name, name) == 0)
            return i;
        if (keys[i].type == SL_K_MAP && strlen(name) > map_prefix(&keys[i]) &&
            strncmp(keys[i].name, name, map_prefix(&keys[i])) == 0)
            map = i;
    }
    return map;
}

int sl_conf_key_bad(const struct sl_conf_key *keys, const struct sl_conf_marks *m,
                    const char *name)
{
    int i = sl_conf_key_index(keys, name);

    return i >= 0 && (m->bad & (1ULL << i));
}

int sl_conf_key_line(const struct sl_conf_key *keys, const struct sl_conf_marks *m,
                     const char *name, int section_line)
{
    int i = sl_conf_key_index(keys, name);

    return i >= 0 && (m->seen & (1ULL << i)) ? m->line[i] : section_line;
}

int sl_conf_key_same(const struct sl_conf_key *keys, const void *a, const void *b,
                     const char **which)
{
    for (const struct sl_conf_key *k = keys; k->name; k++) {
        const char *x = (const char *)a + k->off, *y = (const char *)b + k->off;
        int same;
        switch (k->type) {
        case SL_K_SIZE:
        case SL_K_UINT:
            same = *(const uint64_t *)x == *(const uint64_t *)y;
            break;
        case SL_K_DURATION:
            same = *(const int64_t *)x == *(const int64_t *)y;
            break;
        case SL_K_ENUM:
            same = k->size ? strcmp(x, y) == 0 : *(const int *)x == *(const int *)y;
            break;
        default:
            same = strcmp(x, y) == 0;
        }
        if (!same) {
            *which = k->name;
            return 0;
        }
    }
    return 1;
}

void sl_conf_key_check_err(struct sl_conf_check *c, const char *key, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->errors++;
    c->report(c->arg, sl_conf_key_line(c->keys, c->marks, key, c->section_line), key, msg);
}

int sl_conf_key_check_bad(const struct sl_conf_check *c, const char *key)
{
    return sl_conf_key_bad(c->keys, c->marks, key);
}

const char *sl_conf_key_shown_default(const struct sl_conf_key *k)
{
    return k->def ? (k->def[0] ? k->def : "\"\"") : "-";
}

void sl_conf_key_widths(const struct sl_conf_key *keys, int *name_w, int *def_w)
{
    for (const struct sl_conf_key *k = keys; k->name; k++) {
        int n = (int)strlen(k->name), d = (int)strlen(sl_conf_key_shown_default(k));
        *name_w = n > *name_w ? n : *name_w;
        *def_w = d > *def_w ? d : *def_w;
    }
}

void sl_conf_key_describe(struct sl_buf *out, const struct sl_conf_key *keys, int name_w,
                          int def_w)
{
    for (const struct sl_conf_key *k = keys; k->name; k++)
        sl_buf_printf(out, "  %-*s default %-*s %s\n", name_w, k->name, def_w,
                      sl_conf_key_shown_default(k), k->help);
}

/* Appends <s> with the characters Markdown tables give meaning to escaped. */
static void md_text(struct sl_buf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|' || *s == '<')
            sl_buf_append(out, "\\", 1);
        sl_buf_append(out, s, 1);
    }
}

/* <v> bytes as the largest unit that holds it whole: "5MiB", "1000KiB". */
static void md_size(struct sl_buf *out, uint64_t v)
{
    static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int u = 0;

    while (u < 4 && v >= 1024 && v % 1024 == 0)
        v /= 1024, u++;
    sl_buf_printf(out, "%llu%s", (unsigned long long)v, unit[u]);
}

/* <ms> as the largest unit that holds it whole: "250ms", "60s", "1h". */
static void md_duration(struct sl_buf *out, uint64_t ms)
{
    if (ms == 0)
        sl_buf_printf(out, "0");
    else if (ms % 3600000 == 0)
        sl_buf_printf(out, "%lluh", (unsigned long long)(ms / 3600000));
    else if (ms % 60000 == 0 && ms >= 600000)
        sl_buf_printf(out, "%llum", (unsigned long long)(ms / 60000));
    else if (ms % 1000 == 0)
        sl_buf_printf(out, "%llus", (unsigned long long)(ms / 1000));
    else
        sl_buf_printf(out, "%llums", (unsigned long long)ms);
}

/* What values <k> takes, from its type and bounds. */
static void md_range(struct sl_buf *out, const struct sl_conf_key *k)
{
    switch (k->type) {
    case SL_K_SIZE:
        md_size(out, k->min);
        sl_buf_printf(out, "–");
        md_size(out, k->max);
        break;
    case SL_K_DURATION:
        md_duration(out, k->min);
        sl_buf_printf(out, "–");
        md_duration(out, k->max);
        break;
    case SL_K_UINT:
        sl_buf_printf(out, "%llu–%llu", (unsigned long long)k->min, (unsigned long long)k->max);
        break;
    case SL_K_ENUM:
        for (int i = 0, n = 0; k->enums[i]; i++)
            if (k->enums[i][0])
                sl_buf_printf(out, "%s`%s`", n++ ? ", " : "", k->enums[i]);
        break;
    case SL_K_ADDR:
        sl_buf_printf(out, "`HOST:PORT`, `[V6]:PORT`");
        break;
    case SL_K_STRING:
        sl_buf_printf(out, "%s%zu characters", k->min ? "1–" : "≤ ", k->size - 1);
        break;
    case SL_K_MAP:
        sl_buf_printf(out, "any NAME, each once");
        break;
    }
}

void sl_conf_key_markdown(struct sl_buf *out, const struct sl_conf_key *keys)
{
    sl_buf_printf(out, "| key | default | range | meaning |\n|---|---|---|---|\n");
    for (const struct sl_conf_key *k = keys; k->name; k++) {
        sl_buf_printf(out, "| `%s` | ", k->name);
        if (k->def && k->def[0])
            sl_buf_printf(out, "`%s`", k->def);
        else
            sl_buf_printf(out, "%s", k->def ? "empty" : "unset");
        sl_buf_printf(out, " | ");
        md_range(out, k);
        sl_buf_printf(out, " | ");
        md_text(out, k->help);
        sl_buf_printf(out, " |\n");
    }
}
