#include "b.h"
#include "a.h"

struct sl_b *sl_bee_new(void) { return 0; }
