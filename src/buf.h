/*
 * buf.h - a growable byte buffer with a hard maximum (curl's dynbuf idea).
 *
 * Every buffer gets its ceiling at init; an append past it fails with
 * SL_ETOOBIG and leaves the contents as they were. Not thread-safe: one
 * owner at a time.
 */
#ifndef SL_BUF_H
#define SL_BUF_H

#include <stddef.h>
#include <stdint.h>

struct sl_buf {
    uint8_t *data;  /* owned; NULL until the first append */
    size_t   len;   /* bytes in use */
    size_t   cap;   /* bytes allocated */
    size_t   max;   /* hard ceiling for len */
};

void sl_buf_init(struct sl_buf *b, size_t max);
void sl_buf_destroy(struct sl_buf *b);
/* Empties <b> but keeps its memory for reuse. */
void sl_buf_reset(struct sl_buf *b);
/* Makes room for <extra> more bytes; SL_ETOOBIG past max, SL_ENOMEM. */
int sl_buf_reserve(struct sl_buf *b, size_t extra);
int sl_buf_append(struct sl_buf *b, const void *p, size_t n);
int sl_buf_printf(struct sl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
