/*
 * curl_pool.h - a bounded pool of libcurl easy handles, kept alive between
 * requests so their connections are reused (the S3 client, the lambda
 * transform); and building a request's header list.
 *
 * Handles are made on first need, up to <max>; a taker waits while all
 * are out. Threads: any; one mutex guards the pool, never held during a
 * request.
 */
#ifndef SL_CURL_POOL_H
#define SL_CURL_POOL_H

#include <pthread.h>

#include <curl/curl.h>

struct sl_curl_pool {
    pthread_mutex_t mu;               /* guards what follows */
    pthread_cond_t cv;                /* a handle came back */
    CURL **idle;                      /* owned: a stack of idle handles */
    unsigned nidle, made, max;
};

/* SL_OK, or SL_ENOMEM. <max> 0 means 1. */
int sl_curl_pool_init(struct sl_curl_pool *p, unsigned max);
/* Cleans up the idle handles; every taken one must be back. */
void sl_curl_pool_destroy(struct sl_curl_pool *p);
/* A handle (reset by the caller as it needs), or NULL if libcurl cannot
 * make one. */
CURL *sl_curl_pool_take(struct sl_curl_pool *p);
void sl_curl_pool_give(struct sl_curl_pool *p, CURL *h);

/* Appends the header "<name>: <value>" to *<list>. SL_OK, or SL_ENOMEM
 * with the whole list freed and *<list> NULL (a request must not go out
 * with a header missing). */
int sl_curl_header(struct curl_slist **list, const char *name, const char *value);

#endif
