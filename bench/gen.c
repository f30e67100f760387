/*
 * gen.c - see gen.h.
 *
 * Fields are picked from small tables and numbers by a splitmix64 stream
 * seeded with (seed, seq), so records repeat their vocabulary the way
 * real clickstream does (and compress about as well), while sessions,
 * users, products and prices vary per record.
 */
#include "gen.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static uint64_t mix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

#define PICK(table, x) (table[mix(x) % (sizeof(table) / sizeof(table[0]))])

static const char *const events[] = {
    "page_view", "page_view", "page_view", "click", "click", "scroll", "add_to_cart",
    "remove_from_cart", "checkout", "purchase", "search", "login",
};
static const char *const sections[] = {
    "product", "category", "search", "cart", "account", "blog", "deals", "help",
};
static const char *const referrers[] = {
    "https://www.google.com/", "https://www.bing.com/search?q=shoes", "",
    "https://duckduckgo.com/", "https://t.co/x8Kd2Lq", "https://news.ycombinator.com/",
    "https://shop.example.com/", "https://www.facebook.com/",
    "https://mail.example.org/?utm_source=newsletter",
};
static const char *const agents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.39 Mobile Safari/537.36",
    "curl/8.5.0",
    "ShopApp/4.2.1 (iPhone15,3; iOS 18.1)",
    "ShopApp/4.2.0 (Pixel 8; Android 14)",
    "ShopApp/4.1.9 (SM-S918B; Android 14)",
};
static const char *const countries[] = { "US", "DE", "FR", "GB", "JP", "BR", "IN", "CA" };

size_t lg_record(uint64_t seed, uint64_t seq, char *out)
{
    uint64_t x = seed * 0xd1342543de82ef95ULL + seq;
    /* 2026-11-27T00:00:00Z plus about a millisecond per record */
    uint64_t ms = 1795737600000ULL + seq + mix(&x) % 3;
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    uint64_t session = mix(&x);
    unsigned user = (unsigned)(mix(&x) % 1000000);
    unsigned item = (unsigned)(mix(&x) % 100000);
    unsigned cents = (unsigned)(mix(&x) % 50000);
    unsigned qty = 1 + (unsigned)(mix(&x) % 5);
    const char *event = PICK(events, &x), *section = PICK(sections, &x);
    const char *referrer = PICK(referrers, &x), *agent = PICK(agents, &x);
    const char *country = PICK(countries, &x);

    gmtime_r(&t, &tm);
    int n = snprintf(out, LG_RECORD_MAX,
                     "{\"seq\":%llu,\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03uZ\",\"event\":\"%s\","
                     "\"user\":\"u%06u\",\"session\":\"%016llx\",\"url\":"
                     "\"https://shop.example.com/%s/%u\",\"ref\":\"%s\",\"ua\":\"%s\","
                     "\"country\":\"%s\",\"item\":%u,"
                     "\"qty\":%u,\"price\":%u.%02u}\n",
                     (unsigned long long)seq, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000), event,
                     user, (unsigned long long)session, section, item, referrer, agent,
                     country, item, qty, cents / 100, cents % 100);
    return n < LG_RECORD_MAX ? (size_t)n : LG_RECORD_MAX - 1;
}

int lg_record_seq(const char *rec, size_t len, uint64_t *seq)
{
    static const char head[] = "{\"seq\":";
    size_t i = sizeof(head) - 1;
    uint64_t v = 0;

    if (len < i + 2 || memcmp(rec, head, i) != 0)
        return -1;
    for (; i < len && rec[i] >= '0' && rec[i] <= '9' && i < 28; i++)
        v = v * 10 + (uint64_t)(rec[i] - '0');
    if (i >= len || rec[i] != ',')
        return -1;
    *seq = v;
    return 0;
}
