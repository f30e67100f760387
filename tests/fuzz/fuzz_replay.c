/*
 * fuzz_replay.c - `sluice replay` reading backup envelopes: the input is
 * written as a file (plain, or gzip/zstd by its first bytes, as replay
 * decides) and replayed with --dry-run to a TCP target, so that every
 * line goes through the envelope parser (jansson, rawData's base64, the
 * checks of what TCP can carry) and nothing is sent. No crash, no
 * undefined behaviour, exit status 0 or 1, and the summary replay prints
 * adds up: one file; exit status 1 when a line was bad or unsendable; for
 * a plain file, every line but the empty ones ("" or "\r") counted once,
 * as replayed, bad or unsendable.
 */
#include "fuzz.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd_replay.h"

static char path[64], out[64];
static int out_fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    snprintf(path, sizeof(path), "/dev/shm/sluice-fuzz-replay-%ld", (long)getpid());
    snprintf(out, sizeof(out), "/dev/shm/sluice-fuzz-replay-%ld.out", (long)getpid());
    /* replay's summary, a line per input: kept in a file to be read back */
    int fd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
        abort();
    close(fd);
    unlink(out);                               /* the descriptor keeps it */
    out_fd = STDOUT_FILENO;
    return 0;
}

/* Lines replay must count: those of <p> but "" and "\r". */
static unsigned long long lines(const uint8_t *p, size_t n)
{
    unsigned long long count = 0;

    while (n > 0) {
        const uint8_t *nl = memchr(p, '\n', n);
        size_t len = nl ? (size_t)(nl - p) : n;
        count += !(len == 0 || (len == 1 && p[0] == '\r'));
        if (!nl)
            break;
        p = nl + 1, n -= len + 1;
    }
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *argv[] = { "replay", "--dry-run", "--to", "tcp://127.0.0.1:9", path, NULL };
    unsigned long long replayed, files, bad, unsendable, skipped;
    char summary[512];
    ssize_t got;
    int rc;

    if (size > 1 << 20 || fuzz_write_file(path, data, size) != 0)
        return 0;
    fflush(stdout);
    if (ftruncate(out_fd, 0) != 0 || lseek(out_fd, 0, SEEK_SET) != 0)
        abort();
    rc = sl_cmd_replay_main(5, argv);
    fflush(stdout);
    got = pread(out_fd, summary, sizeof(summary) - 1, 0);
    summary[got > 0 ? got : 0] = '\0';
    FUZZ_ASSERT(rc == 0 || rc == 1, "exit status %d", rc);
    FUZZ_ASSERT(sscanf(summary, "replayed %llu records from %llu files (%llu bad lines, %llu "
                       "unsendable, %llu skipped by filter)", &replayed, &files, &bad,
                       &unsendable, &skipped) == 5, "summary: %s", summary);
    FUZZ_ASSERT(files == 1 && skipped == 0, "%s", summary);
    FUZZ_ASSERT(rc == 1 || (bad == 0 && unsendable == 0), "exit status 0: %s", summary);
    int packed = size >= 2 && ((data[0] == 0x1f && data[1] == 0x8b) ||
                               (size >= 4 && memcmp(data, "\x28\xb5\x2f\xfd", 4) == 0));
    FUZZ_ASSERT(packed || replayed + bad + unsendable == lines(data, size),
                "%llu lines: %s", lines(data, size), summary);
    unlink(path);
    return 0;
}
