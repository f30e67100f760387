/*
 * compress.h - streaming gzip (zlib, a real gzip header) and zstd.
 *
 * A compressor is owned by one delivery worker and reused batch after
 * batch, so its zlib/zstd state is allocated once. Writes are staged in a
 * 64 KiB buffer, so many small records cost one compressor call.
 * Output goes into a caller's struct sl_buf, whose max bounds it.
 */
#ifndef SL_COMPRESS_H
#define SL_COMPRESS_H

#include <stddef.h>

#include "batch.h"
#include "buf.h"

struct sl_compressor;

/* Returns a new compressor, or NULL. */
struct sl_compressor *sl_compressor_new(void);
void sl_compressor_free(struct sl_compressor *c);

/* Starts a stream of <kind> (enum sl_compression) at <level> into <out>
 * (borrowed until sl_compress_end). */
int sl_compress_begin(struct sl_compressor *c, int kind, int level, struct sl_buf *out);
int sl_compress_write(struct sl_compressor *c, const void *p, size_t n);
/* Flushes and closes the stream: <out> then holds a complete object. */
int sl_compress_end(struct sl_compressor *c);

/*
 * Compresses every record of <b> into <out> (reset first), appending a
 * newline to each record that lacks one when <delimiter> is
 * SL_DELIM_NEWLINE.
 */
int sl_compress_batch(struct sl_compressor *c, const struct sl_batch *b, int kind,
                      int level, int delimiter, struct sl_buf *out);

/*
 * Decompresses every gzip member or zstd frame (<kind>) of <in>, one after
 * the other, into <out> (appended): `cat a.gz b.gz` decodes to both, and
 * zstd's skippable frames are passed over. <in> must end exactly where a
 * member or frame ends: SL_EINVAL for junk after one, a cut or corrupt
 * one (an empty <in> is no member at all: SL_OK, nothing appended).
 * <out>'s max bounds the total: past it, SL_ETOOBIG (a decompression bomb,
 * one member or many, stops there), as for a zstd frame whose window
 * would need more memory than that bound allows (at least 8 MiB).
 * Allocates its codec state per call; any thread.
 */
int sl_decompress(int kind, const void *in, size_t len, struct sl_buf *out);

/* ".gz", ".zst" or "" for <kind>. */
const char *sl_compress_ext(int kind);

#endif
