// The declaration in include/LibFuzzerDriver.h is all this module provides; the definition is libFuzzer's.
#include "LibFuzzerDriver.h"
