#include "t.h"
#include "p-t.h"
