/*
 * fuzz_tcp_frame.c - the TCP source's framing (sl__source_tcp_lines in
 * source_tcp.c): records end at '\n', a '\r' before it is dropped, empty
 * lines are skipped, a line over max_record_size is oversize, a last line
 * without '\n' counts only at EOF. Checked against a model written here
 * from that contract, and for streaming: the same bytes cut into two reads
 * (the partial line carried over, as a connection keeps it) give the same
 * lines as one read.
 *   data[0]: max_record_size (1-256); data[1..2]: where to cut; the rest
 *   is the byte stream.
 */
#include "fuzz.h"

#include "source_tcp.h"

struct lines {
    size_t n, bytes;
    uint8_t out[3 << 16];   /* the lines, each as len, oversize, bytes: "a\n" (2 bytes) is 6 */
};

static void take(void *arg, const uint8_t *rec, uint32_t len, int oversize)
{
    struct lines *l = arg;

    FUZZ_ASSERT(len > 0, "an empty line was handed on");
    FUZZ_ASSERT(l->bytes + len + 5 <= sizeof(l->out), "output over its bound");
    memcpy(l->out + l->bytes, &len, 4);
    l->out[l->bytes + 4] = (uint8_t)oversize;
    memcpy(l->out + l->bytes + 5, rec, len);
    l->bytes += len + 5, l->n++;
}

/* The contract, written out plainly. */
static void model(const uint8_t *p, size_t n, uint64_t max, struct lines *l)
{
    size_t start = 0;

    for (size_t i = 0; i <= n; i++) {
        if (i < n && p[i] != '\n')
            continue;
        size_t len = i - start;
        if (len && p[start + len - 1] == '\r')
            len--;
        if (len)
            take(l, p + start, (uint32_t)len, len > max);
        start = i + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct lines one, two, want;
    static uint8_t carry[1 << 16];
    const uint8_t *p = data + 3;
    size_t n, cut, tail, off;
    uint64_t max;

    if (size < 3 || size > (1 << 16))
        return 0;
    max = (uint64_t)data[0] + 1;
    n = size - 3;
    cut = (size_t)(data[1] | data[2] << 8) % (n + 1);
    one.n = one.bytes = two.n = two.bytes = want.n = want.bytes = 0;
    model(p, n, max, &want);
    off = sl__source_tcp_lines(p, n, max, 1, take, &one);
    FUZZ_ASSERT(off <= n && (off == 0 || p[off - 1] == '\n') && !memchr(p + off, '\n', n - off),
                "tail at %zu of %zu", off, n);
    FUZZ_ASSERT(one.bytes == want.bytes && memcmp(one.out, want.out, one.bytes) == 0,
                "%zu lines, the model has %zu", one.n, want.n);
    tail = sl__source_tcp_lines(p, cut, max, 0, take, &two);        /* a read, then the rest */
    FUZZ_ASSERT(tail <= cut, "tail %zu past %zu", tail, cut);
    memcpy(carry, p + tail, cut - tail);
    memcpy(carry + cut - tail, p + cut, n - cut);
    sl__source_tcp_lines(carry, n - tail, max, 1, take, &two);
    FUZZ_ASSERT(two.bytes == want.bytes && memcmp(two.out, want.out, two.bytes) == 0,
                "cut at %zu: %zu lines, the model has %zu", cut, two.n, want.n);
    return 0;
}
