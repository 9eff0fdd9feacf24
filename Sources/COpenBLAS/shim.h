#pragma once
// Debian's OpenBLAS cblas.h also declares the OpenBLAS extensions
// (openblas_set_num_threads, openblas_get_num_threads).
#include <cblas.h>
