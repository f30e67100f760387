/*
 * addr.h - "HOST:PORT" listen addresses ("127.0.0.1:8441", "[::1]:9440",
 * "localhost:80"). Numeric ports only; the host is resolved once, at
 * config time, with getaddrinfo (AI_PASSIVE), first result wins.
 */
#ifndef SL_ADDR_H
#define SL_ADDR_H

#include <sys/socket.h>

struct sl_addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

/* SL_OK, or SL_EINVAL with a short reason in *<why>. */
int sl_addr_parse(const char *s, struct sl_addr *out, const char **why);

/* Opens a non-blocking, close-on-exec TCP listening socket bound to <a>
 * (SO_REUSEADDR). Returns the fd, or -1 with errno set. */
int sl_addr_listen(const struct sl_addr *a, int backlog);

#endif
