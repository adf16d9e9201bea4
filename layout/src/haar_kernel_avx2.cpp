// HaarCascade's row kernel for AVX2 (this file alone is built with -mavx2;
// haar_detector.cpp calls it only when the CPU has AVX2).
#include <immintrin.h>

#include "haar_kernel.h"

// GCC 12 lowers the generic 4-lane float->double conversion in pairs.
#define CB_CVT_LO(v) \
  __builtin_bit_cast(v4d, _mm256_cvtps_pd(_mm256_castps256_ps128(__builtin_bit_cast(__m256, v))))
#define CB_CVT_HI(v) \
  __builtin_bit_cast(v4d, _mm256_cvtps_pd(_mm256_extractf128_ps(__builtin_bit_cast(__m256, v), 1)))
#define CB_MASK_BITS(lo, hi)                                                  \
  static_cast<uint32_t>(_mm256_movemask_pd(__builtin_bit_cast(__m256d, lo)) | \
                        (_mm256_movemask_pd(__builtin_bit_cast(__m256d, hi)) << 4))
#define CB_HAAR_KERNEL EvalRowAvx2
#include "haar_kernel.inc"
