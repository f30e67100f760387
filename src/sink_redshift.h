/* sink_redshift.h - what the redshift sink (sink_redshift.c) shows its tests. */
#ifndef SL_SINK_REDSHIFT_H
#define SL_SINK_REDSHIFT_H

#include <stddef.h>
#include <stdint.h>

/*
 * The manifest key of object <key> (whose oldest record arrived at
 * <wall_ms>): PREFIX [errors/]manifests/YYYY/MM/DD/HH/NAME, where PREFIX
 * is the key's folder without the time folders sluice appends, and NAME
 * the object's name without its extension. SL_ETOOBIG if it does not fit
 * <len>.
 */
int sl_sink_redshift_manifest_key(const char *key, int64_t wall_ms, int errors, char *out,
                                  size_t len);

#endif
