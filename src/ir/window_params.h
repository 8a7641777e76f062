// Sliding-window attributes shared by Conv, ConvTranspose, MaxPool and AveragePool.
//
// The shape functions (src/ir/shape_fns_linear.cpp, shape_fns_pool.cpp) and the CPU kernels
// (src/backends/cpu/kernels_linear.cpp, kernels_pool.cpp) parse the same attributes with the
// same code, so the output size the graph promises is the size the kernel writes.
//
// For one spatial axis with input size `in`, kernel k, stride s, dilation d, pads (pb, pe):
//   effective kernel  ek  = d*(k-1) + 1
//   NOTSET / VALID    out = floor((in + pb + pe - ek) / s) + 1          (VALID: pb = pe = 0)
//   ceil_mode (pools) out = ceil((in + pb + pe - ek) / s) + 1, minus one when the last window
//                     would start past the input and the left padding: out <= ceil((in+pb)/s)
//   SAME_UPPER/LOWER  out = ceil(in / s); total pad = max(0, (out-1)*s + ek - in), split with the
//                     odd pixel at the end (UPPER) or at the beginning (LOWER).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "ir/attributes.h"
#include "ir/dim_expr.h"

namespace kiln::ir {

enum class AutoPad : uint8_t { kNotSet, kSameUpper, kSameLower, kValid };

struct WindowParams {
  size_t numSpatial = 0;
  std::vector<int64_t> kernel;     // [numSpatial]
  std::vector<int64_t> strides;    // [numSpatial]
  std::vector<int64_t> dilations;  // [numSpatial]
  std::vector<int64_t> pads;       // [2*numSpatial]: begins then ends (explicit pads only)
  AutoPad autoPad = AutoPad::kNotSet;
  bool ceilMode = false;

  bool isSame() const { return autoPad == AutoPad::kSameUpper || autoPad == AutoPad::kSameLower; }
  int64_t effectiveKernel(size_t i) const { return dilations[i] * (kernel[i] - 1) + 1; }
};

// Parses kernel_shape/strides/dilations/pads/auto_pad (and ceil_mode when `allowCeilMode`).
// `kernelFromWeights` is used when kernel_shape is absent (Conv: W's spatial dims); pass an empty
// vector when kernel_shape is required. Errors are prefixed with `who` ("Conv 'c1'").
StatusOr<WindowParams> parseWindowParams(const Attributes& attrs, size_t numSpatial,
                                         const std::vector<int64_t>& kernelFromWeights,
                                         bool allowCeilMode, const std::string& who);

// Output size of spatial axis i for input size `in` (symbolic or constant), per the header.
DimExpr windowOutputDim(const WindowParams& p, size_t i, const DimExpr& in);

// Concrete pads [begins..., ends...] for concrete input sizes (resolves SAME and VALID).
std::vector<int64_t> resolveWindowPads(const WindowParams& p, const std::vector<int64_t>& inSizes);

// ConvTranspose geometry. For one axis with input size `in`:
//   default       out = s*(in-1) + output_padding + ek - pb - pe
//   SAME_*        out = in*s
//   output_shape  out = output_shape[i]
// and when out is given (SAME or output_shape) the pads follow from the total padding
//   total = s*(in-1) + output_padding + ek - out
//   SAME_UPPER: pb = floor(total/2), pe = total - pb;  otherwise pe = floor(total/2), pb = total - pe.
struct ConvTransposeParams {
  WindowParams window;
  std::vector<int64_t> outputPadding;  // [numSpatial]
  std::vector<int64_t> outputShape;    // [numSpatial] or empty
};
StatusOr<ConvTransposeParams> parseConvTransposeParams(const Attributes& attrs, size_t numSpatial,
                                                       const std::vector<int64_t>& kernelFromWeights,
                                                       const std::string& who);
DimExpr convTransposeOutputDim(const ConvTransposeParams& p, size_t i, const DimExpr& in);
std::vector<int64_t> resolveConvTransposePads(const ConvTransposeParams& p,
                                              const std::vector<int64_t>& inSizes);

}  // namespace kiln::ir
