/* err.c - sl_strerror(), generated from the table in sluice/err.h. */
#include "sluice/err.h"

const char *sl_strerror(int err)
{
    switch (err) {
#define SL_ERR_CASE(name, val, text) case name: return text;
    SL_ERR_TABLE(SL_ERR_CASE)
#undef SL_ERR_CASE
    }
    return "unknown error";
}
