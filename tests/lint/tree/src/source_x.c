/* a source that reaches a sink, and b (forbidden), and is in edges */
#include "sink_y.h"
#include "u.h"
