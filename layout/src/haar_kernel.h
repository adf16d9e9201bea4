// Internal to HaarCascade (haar_detector.cpp): the cascade data in the
// kernel's form and the row kernels, compiled twice (haar_kernel.inc):
// for AVX2 (haar_kernel_avx2.cpp, -mavx2) and for the base ISA.
#pragma once

#include <cstdint>

namespace cardbureau::layout::haar {

struct Stump {
  int32_t ofs[3][4] = {};  // corner offsets of each rectangle in the plane layout
  float weight[3] = {0, 0, 0};
  float threshold = 0;
  float left = 0, right = 0;
  int feature = 0;
};

// A stage's stumps are stored two-rectangle ones first, then the
// three-rectangle ones (OpenCV skips the third rectangle when its weight is
// 0). Reordering is exact: Load checks that every sum of a stage's leaves
// is exact in double, whatever the order (see LeafSumsAreExact).
struct Stage {
  int first = 0;
  int count2 = 0, count3 = 0;
  float threshold = 0;
};

struct RowArgs {
  const int32_t* base;  // the plane at the row's first window
  int groups;           // groups of 8 windows in the row
  const float* vnf;     // variance normalisation per window (8 * groups)
  const Stump* stumps;  // all stumps (Stage::first indexes them)
  const Stage* stages;
  int first, end;   // stages [first, end) are evaluated
  uint32_t* alive;  // per group: lanes in; lanes that passed every stage out
};

void EvalRowAvx2(const RowArgs& a);
void EvalRowGeneric(const RowArgs& a);

}  // namespace cardbureau::layout::haar
