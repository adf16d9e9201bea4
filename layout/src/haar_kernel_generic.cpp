// HaarCascade's row kernel for the base ISA (the same code as the AVX2
// one; the compiler splits the 8-lane vectors).
#include "haar_kernel.h"

#define CB_HAAR_KERNEL EvalRowGeneric
#include "haar_kernel.inc"
