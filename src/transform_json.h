/*
 * transform_json.h - the built-in JSON transforms (jansson), one ops each:
 *   json_timestamp  an epoch field (seconds or milliseconds) as a date
 *   json_set        fields set to constants or to the arrival time
 *   json_rename     fields renamed
 *   json_drop       fields removed
 *   json_filter     records dropped by a field's value or absence
 *   json_validate   records that are not JSON fail
 * README.md "Transforms" lists their keys.
 *
 * Threads: state is read-only after create(); process() runs on several
 * workers at once.
 */
#ifndef SL_TRANSFORM_JSON_H
#define SL_TRANSFORM_JSON_H

#include "sluice/transform.h"

extern const struct sl_transform_ops sl_tf_json_timestamp;
extern const struct sl_transform_ops sl_tf_json_set;
extern const struct sl_transform_ops sl_tf_json_rename;
extern const struct sl_transform_ops sl_tf_json_drop;
extern const struct sl_transform_ops sl_tf_json_filter;
extern const struct sl_transform_ops sl_tf_json_validate;

#endif
