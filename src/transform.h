/*
 * transform.h - transform instances, and running a chain of them over the
 * records of one batch (the ABI they implement is sluice/transform.h).
 *
 * An instance is made from a [transform NAME] section: a built-in type
 * (transform_json.c), `lambda` (transform_lambda.c) or `plugin` (transform_plugin.c, dlopen).
 * A stream's chain is the instances its `transforms` key lists, in order;
 * each generation owns its own (a reload builds new ones).
 *
 * A run (struct sl_tf_run) is a delivery worker's scratch: result slots and
 * an arena for new data, keys and errors, reused batch after batch, so a
 * transform that changes nothing costs no allocation. Each transform of
 * the chain sees only the records the ones before left Ok, with the data
 * they left.
 *
 * Threads: sl_transform_open/sl_transform_close on the main thread (close also on a
 * worker, with the last batch of a generation); a run belongs to one
 * worker; instances are shared by workers (see the ABI's contract).
 */
#ifndef SL_TRANSFORM_H
#define SL_TRANSFORM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"

#include "sluice/record.h"
#include "sluice/transform.h"

enum sl_tf_status { SL_TF_OK, SL_TF_DROPPED, SL_TF_FAILED, SL_TF_NSTATUS };

/* One transform instance. */
struct sl_tf {
    const struct sl_transform_ops *ops;
    void *state;                      /* ops->create's */
    void *dl;                         /* a plugin's dlopen handle, else NULL */
    char name[SL_NAME_MAX + 1];       /* the section's NAME */
    const char *arn;                  /* lambda: its url, for backup envelopes'
                                       * lambdaArn (borrowed from the config) */
};

/* Makes an instance of section <tc>. On error <err> holds "KEY: why" when
 * a key is to blame (see the ABI), else why. */
int sl_transform_open(struct sl_tf *t, const struct sl_transform_conf *tc, char *err, size_t errlen);
void sl_transform_close(struct sl_tf *t);

/* Makes and destroys every transform of <cfg>, appending one error line
 * per problem ("FILE:LINE: [transform NAME] KEY: why") to <errs>. SL_OK or
 * SL_EINVAL. (Config load checks the keys sluice knows; this, what each
 * transform's create() knows.) */
int sl_transform_check_config(const struct sl_config *cfg, struct sl_buf *errs);

/* One record's fate after a chain. */
struct sl_tf_rec {
    uint8_t status;                   /* enum sl_tf_status */
    uint8_t changed;                  /* Ok with new data */
    uint8_t attempts_set;             /* the transform said how many (host->attempts) */
    uint16_t by;                      /* the chain position that dropped or failed it */
    uint32_t len;
    unsigned attempts;                /* failed: invocations its transform made */
    const uint8_t *data;              /* Ok: the record's data now (borrowed) */
    const char *code, *message;       /* failed: why (borrowed) */
    struct sl_tf_key *keys;           /* set_key's, newest first; NULL: none */
};

struct sl_tf_key {
    struct sl_tf_key *next;
    const char *key, *value;
};

struct sl_tf_run;

struct sl_tf_run *sl_transform_run_new(void);
void sl_transform_run_free(struct sl_tf_run *r);
/* What host->stopping() reads: a flag the run's owner sets when it is
 * shutting down out of time (NULL: never). */
void sl_transform_run_set_stop(struct sl_tf_run *r, const _Atomic int *stop);

/*
 * Runs <chain> (<n> instances) over <nrecords> records. <stats> has one
 * slot per instance (NULL: not counted). Afterwards sl_transform_run_recs()
 * gives each record's fate, valid until the next run. SL_OK; SL_ENOMEM or
 * SL_EAGAIN (a transform asked to be tried again later): nothing can be
 * said of the records then, and the batch is to be run again.
 */
int sl_transform_run_chain(struct sl_tf_run *r, struct sl_tf *const *chain, size_t n,
                    struct sl_tf_stats *const *stats, const char *stream,
                    const struct sl_record *records, size_t nrecords);
const struct sl_tf_rec *sl_transform_run_recs(const struct sl_tf_run *r);

#endif
