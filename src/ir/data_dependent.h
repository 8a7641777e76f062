// The selection algorithms of the ops whose output shapes depend on input data (NonZero,
// Compress, Unique, NonMaxSuppression). Their shape functions (shape_fns_datadep.cpp) run them
// on constant inputs to size the outputs exactly, and their CPU kernels (kernels_datadep.cpp)
// run them again to fill those outputs, so the two always agree on the sizes.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "kiln/types.h"

namespace kiln::ir::datadep {

// Element i of a dense array of `dtype` is non-zero: floats compare with 0 (-0 is zero, NaN is
// not), integers and bool with 0.
bool isNonZero(DataType dtype, const void* data, int64_t i);
int64_t countNonZero(DataType dtype, const void* data, int64_t numel);

// Compress: how many of condition[0, min(condLen, axisLen)) are true (bool bytes).
int64_t countKept(const void* condition, int64_t condLen, int64_t axisLen);

// Unique over the slices of a tensor viewed as [outer, numSlices, inner]: slice k holds the
// elements (o * numSlices + k) * inner + i, compared lexicographically in that (o, i) order.
// Floats compare by value (-0 equals 0; NaNs equal each other and sort after every number).
struct UniqueGroups {
  std::vector<int64_t> first;    // per unique slice, in output order: its first occurrence
  std::vector<int64_t> counts;   // per unique slice: how many slices equal it
  std::vector<int64_t> inverse;  // per slice: the output index of its unique slice
};
// The element types uniqueSlices handles (numbers and bool).
bool uniqueSupportsType(DataType dtype);
// sorted: unique slices in ascending order; otherwise in order of first occurrence.
UniqueGroups uniqueSlices(DataType dtype, const void* data, int64_t outer, int64_t numSlices,
                          int64_t inner, bool sorted);

// NonMaxSuppression (ONNX semantics): per batch, then per class, the boxes whose score is above
// the threshold (strictly) in descending score order (ties: lower box index first); a box is
// selected unless its IoU with a box already selected for that class is above iouThreshold
// (strictly), until maxPerClass are selected. Boxes of zero or negative area never suppress.
struct NmsOptions {
  int64_t maxPerClass = 0;  // <= 0: nothing is selected
  float iouThreshold = 0.f;
  bool hasScoreThreshold = false;
  float scoreThreshold = 0.f;
  bool centerPointBox =
      false;  // boxes as [x_center, y_center, width, height] (else [y1, x1, y2, x2])
};
// boxes [batches, numBoxes, 4], scores [batches, classes, numBoxes]; returns (batch, class, box)
// triples in output order.
std::vector<std::array<int64_t, 3>> nonMaxSuppression(const float* boxes, const float* scores,
                                                      int64_t batches, int64_t classes,
                                                      int64_t numBoxes, const NmsOptions& opt);

}  // namespace kiln::ir::datadep
