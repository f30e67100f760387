/* core, yet it includes a top header */
#include "t.h"
struct sl_b { int x; };
