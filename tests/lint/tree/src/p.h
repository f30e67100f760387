#include "p-t.h"
int sl_p_run(struct sl_p *p);
