/* p -> t, and t -> p-t (types only): no cycle */
#include "p.h"
#include "t.h"
int sl_p_run(struct sl_p *p) { return p->y; }
