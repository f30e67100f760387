/* addr.c - see addr.h. */
#include "addr.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/err.h"
#include "units.h"

int sl_addr_parse(const char *s, struct sl_addr *out, const char **why)
{
    char host[256];
    const char *colon, *h = s, *port;
    size_t hlen;
    uint64_t p;
    struct addrinfo hints = { 0 }, *res = NULL;

    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':') {
            *why = "expected [IPV6]:PORT";
            return SL_EINVAL;
        }
        h = s + 1;
        hlen = (size_t)(rb - h);
        port = rb + 2;
    } else {
        colon = strrchr(s, ':');
        if (!colon) {
            *why = "expected HOST:PORT";
            return SL_EINVAL;
        }
        hlen = (size_t)(colon - s);
        port = colon + 1;
    }
    if (hlen == 0 || hlen >= sizeof(host)) {
        *why = "missing or overlong host";
        return SL_EINVAL;
    }
    if (sl_units_uint(port, &p) != SL_OK || p > 65535) {
        *why = "port must be a number from 0 to 65535";
        return SL_EINVAL;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res) {
        *why = "host does not resolve";
        return SL_EINVAL;
    }
    memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    freeaddrinfo(res);
    return SL_OK;
}

int sl_addr_listen(const struct sl_addr *a, int backlog)
{
    int one = 1, err;
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0 ||
        listen(fd, backlog) != 0) {
        err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}
