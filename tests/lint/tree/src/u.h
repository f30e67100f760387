/* util; includes a higher layer, which the table allows */
#include "a.h"
