/*
 * transform_lambda.h - `type = lambda`: a Firehose data-transformation function
 * behind any HTTP endpoint. Each batch is POSTed as Firehose's event (in
 * invocations no bigger than max_request_size) and the answer read by
 * Firehose's response contract (../shared/reference/firehose-contract.md
 * section 4). README.md "Transforms" lists its keys.
 *
 * Threads: process() runs on several workers at once; the state holds
 * settings and the header list (read-only), a lock-guarded pool of curl
 * handles and an atomic rate limit for its warnings.
 */
#ifndef SL_TRANSFORM_LAMBDA_H
#define SL_TRANSFORM_LAMBDA_H

#include "sluice/transform.h"

extern const struct sl_transform_ops sl_tf_lambda;

#endif
