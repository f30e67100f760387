/*
 * cmd_replay.h - `sluice replay`: reads backup envelopes (one JSON object per
 * line, plain, .gz or .zst) and sends their rawData records to a stream
 * again. See README.md "Replaying failed records".
 */
#ifndef SL_CMD_REPLAY_H
#define SL_CMD_REPLAY_H

/* argv[0] is "replay". Returns the process exit status. */
int sl_cmd_replay_main(int argc, char **argv);

#endif
