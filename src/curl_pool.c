/* curl_pool.c - see curl_pool.h. */
#include "curl_pool.h"

#include <stdio.h>
#include <stdlib.h>

#include "sluice/err.h"

int sl_curl_pool_init(struct sl_curl_pool *p, unsigned max)
{
    p->max = max ? max : 1;
    p->nidle = p->made = 0;
    if (!(p->idle = calloc(p->max, sizeof(CURL *))))
        return SL_ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    return SL_OK;
}

void sl_curl_pool_destroy(struct sl_curl_pool *p)
{
    if (!p->idle)
        return;
    for (unsigned i = 0; i < p->nidle; i++)
        curl_easy_cleanup(p->idle[i]);
    free(p->idle);
    p->idle = NULL;
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

CURL *sl_curl_pool_take(struct sl_curl_pool *p)
{
    CURL *h = NULL;

    pthread_mutex_lock(&p->mu);
    while (!p->nidle && p->made >= p->max)
        pthread_cond_wait(&p->cv, &p->mu);
    if (p->nidle)
        h = p->idle[--p->nidle];
    else if ((h = curl_easy_init()))
        p->made++;
    pthread_mutex_unlock(&p->mu);
    return h;
}

void sl_curl_pool_give(struct sl_curl_pool *p, CURL *h)
{
    pthread_mutex_lock(&p->mu);
    p->idle[p->nidle++] = h;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

int sl_curl_header(struct curl_slist **list, const char *name, const char *value)
{
    char line[8192];
    struct curl_slist *more;

    if ((size_t)snprintf(line, sizeof(line), "%s:%s%s", name, value[0] ? " " : "", value) >=
            sizeof(line) ||
        !(more = curl_slist_append(*list, line))) {
        curl_slist_free_all(*list);
        *list = NULL;
        return SL_ENOMEM;
    }
    *list = more;
    return SL_OK;
}
