/*
 * fuzz_replay.c - `sluice replay` reading backup envelopes: the input is
 * written as a file (plain, or gzip/zstd by its first bytes, as replay
 * decides) and replayed with --dry-run to a TCP target, so that every
 * line goes through the envelope parser (jansson, rawData's base64, the
 * checks of what TCP can carry) and nothing is sent. No crash, no
 * undefined behaviour, exit status 0 or 1.
 */
#include "fuzz.h"

#include <fcntl.h>
#include <unistd.h>

#include "replay.h"

static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    int fd = open("/dev/null", O_WRONLY);

    (void)argc, (void)argv;
    snprintf(path, sizeof(path), "/dev/shm/sluice-fuzz-replay-%ld", (long)getpid());
    if (fd >= 0 && !getenv("FUZZ_VERBOSE")) {   /* replay's complaints: thousands a second */
        dup2(fd, STDOUT_FILENO);
        close(fd);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *argv[] = { "replay", "--dry-run", "--to", "tcp://127.0.0.1:9", path, NULL };
    int rc;

    if (size > 1 << 20 || fuzz_write_file(path, data, size) != 0)
        return 0;
    rc = sl_replay_main(5, argv);
    FUZZ_ASSERT(rc == 0 || rc == 1, "exit status %d", rc);
    unlink(path);
    return 0;
}
