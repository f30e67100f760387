/*
 * err.h - sluice's one result type.
 *
 * SL_OK is 0; every error is negative. The table below is the single
 * source of the enum and of sl_strerror()'s texts (libuv's X-macro idiom).
 */
#ifndef SLUICE_ERR_H
#define SLUICE_ERR_H

#define SL_ERR_TABLE(X)                                              \
    X(SL_OK,       0,  "ok")                                         \
    X(SL_ERR,     -1,  "error")                                      \
    X(SL_ENOMEM,  -2,  "out of memory")                              \
    X(SL_EAGAIN,  -3,  "try again: full or empty")                   \
    X(SL_EINVAL,  -4,  "invalid argument")                           \
    X(SL_EIO,     -5,  "input/output error")                         \
    X(SL_ERANGE,  -6,  "value out of range")                         \
    X(SL_ECLOSED, -7,  "closed")                                     \
    X(SL_ETOOBIG, -8,  "too big")                                    \
    X(SL_ENOENT,  -9,  "not found")                                  \
    X(SL_EEXIST,  -10, "already exists")                             \
    X(SL_EBUSY,   -11, "busy: try again shortly")

enum sl_err {
#define SL_ERR_ENUM(name, val, text) name = (val),
    SL_ERR_TABLE(SL_ERR_ENUM)
#undef SL_ERR_ENUM
};

/* Returns a static string for <err>; never NULL. */
const char *sl_strerror(int err);

#endif
