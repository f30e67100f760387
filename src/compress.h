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
#include <sys/uio.h>

#include "batch-t.h"
#include "buf.h"

struct sl_compressor;

/* Returns a new compressor, or NULL. */
struct sl_compressor *sl_compress_new(void);
void sl_compress_free(struct sl_compressor *c);

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
 * The object sl_compress_batch would make, uncompressed, as pieces that
 * lie in <b>'s chunks, when it is just that: <kind> none, <delimiter>
 * newline, and every span a block (chunk.h, SL_CHUNK_NL). Then fills
 * <iov> (room for b->nspans) and *<len> (the object's bytes) and returns
 * 1; else 0. Nothing is copied: the pieces live as long as <b>.
 */
int sl_compress_pieces(const struct sl_batch *b, int kind, int delimiter, struct iovec *iov,
                       size_t *len);

/*
 * A streaming decoder: gzip or zstd in pieces of any size, out in pieces
 * of any size, without the whole object in memory (`sluice replay` reads
 * files this way; sl_compress_decode() is this over one buffer). Every gzip
 * member and zstd frame is decoded, one after the other: `cat a.gz b.gz`
 * decodes to both. Owned by one thread at a time; its codec state is made
 * at the first stream of each kind and reused by the next.
 */
struct sl_compress_dec;

/* Returns a new decoder (sl_compress_dec_free() releases it), or NULL. */
struct sl_compress_dec *sl_compress_dec_new(void);
void sl_compress_dec_free(struct sl_compress_dec *d);

/* Starts a stream of <kind> (SL_COMP_GZIP or SL_COMP_ZSTD). A zstd frame
 * asking for a window over 2^<window_log_max> bytes is refused
 * (SL_ETOOBIG); 0: zstd's default ceiling (2^27). SL_OK, SL_ENOMEM,
 * SL_EINVAL (another kind). */
int sl_compress_dec_begin(struct sl_compress_dec *d, int kind, int window_log_max);

/*
 * Decodes from <in> (<in_len> bytes, 0 allowed: output still pending is
 * given) into <out> (<out_cap> bytes). *<used> says how much input was
 * taken, *<made> how much output was written. It returns when the output
 * is full (*<made> == <out_cap>: call again, output may be pending) or
 * the input is used up (*<used> == <in_len>). SL_OK; SL_EINVAL for
 * corrupt data or junk after a member or frame; SL_ETOOBIG for a zstd
 * window over the limit; SL_ENOMEM.
 */
int sl_compress_dec_run(struct sl_compress_dec *d, const void *in, size_t in_len,
                        size_t *used, void *out, size_t out_cap, size_t *made);

/* Whether the input may end here: SL_OK if no member or frame is open and
 * no output is pending (nothing fed counts), SL_EINVAL if cut short. No
 * side effect: ask at any time. */
int sl_compress_dec_end(const struct sl_compress_dec *d);

/* The kind <p> (at least its first 4 bytes, fewer when the data is that
 * short) begins with: SL_COMP_GZIP (1f 8b), SL_COMP_ZSTD (28 b5 2f fd),
 * else SL_COMP_NONE. */
int sl_compress_sniff(const void *p, size_t n);

/*
 * Decompresses every gzip member or zstd frame (<kind>) of <in>, one after
 * the other, into <out> (appended): `cat a.gz b.gz` decodes to both, and
 * zstd's skippable frames are passed over. <in> must end exactly where a
 * member or frame ends: SL_EINVAL for junk after one, a cut or corrupt
 * one (an empty <in> is no member at all: SL_OK, nothing appended).
 * <out>'s max bounds the total: past it, SL_ETOOBIG (a decompression bomb,
 * one member or many, stops there), as for a zstd frame whose window
 * would need more memory than that bound allows (at least 8 MiB).
 * A streaming decoder made per call; any thread.
 */
int sl_compress_decode(int kind, const void *in, size_t len, struct sl_buf *out);

/* ".gz", ".zst" or "" for <kind>. */
const char *sl_compress_ext(int kind);

#endif
