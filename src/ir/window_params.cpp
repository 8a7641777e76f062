#include "ir/window_params.h"

#include <algorithm>

namespace kiln::ir {

namespace {

int64_t floorDiv2(int64_t v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); }

std::string listToString(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

Status checkList(const Attributes& attrs, const char* name, size_t expected, int64_t minValue,
                 std::vector<int64_t>* out, const std::string& who) {
  if (!attrs.has(name)) return Status::ok();
  std::vector<int64_t> v = attrs.getInts(name);
  if (v.size() != expected)
    return invalidArgument("%s: attribute %s=%s has %zu values, expected %zu (one per spatial axis%s)",
                           who.c_str(), name, listToString(v).c_str(), v.size(), expected,
                           std::string(name) == "pads" ? ", begins then ends" : "");
  for (int64_t x : v)
    if (x < minValue)
      return invalidArgument("%s: attribute %s=%s must hold values >= %lld", who.c_str(), name,
                             listToString(v).c_str(), static_cast<long long>(minValue));
  *out = std::move(v);
  return Status::ok();
}

}  // namespace

StatusOr<WindowParams> parseWindowParams(const Attributes& attrs, size_t numSpatial,
                                         const std::vector<int64_t>& kernelFromWeights,
                                         bool allowCeilMode, const std::string& who) {
  WindowParams p;
  p.numSpatial = numSpatial;
  if (numSpatial == 0) return invalidArgument("%s: the input needs at least one spatial axis (rank >= 3)", who.c_str());
  if (attrs.has("kernel_shape")) {
    KILN_RETURN_IF_ERROR(checkList(attrs, "kernel_shape", numSpatial, 1, &p.kernel, who));
    if (!kernelFromWeights.empty() && p.kernel != kernelFromWeights)
      return invalidArgument("%s: kernel_shape=%s does not match the weights' spatial dims %s",
                             who.c_str(), listToString(p.kernel).c_str(),
                             listToString(kernelFromWeights).c_str());
  } else if (!kernelFromWeights.empty()) {
    p.kernel = kernelFromWeights;
  } else {
    return invalidArgument("%s: attribute kernel_shape is required", who.c_str());
  }
  p.strides.assign(numSpatial, 1);
  p.dilations.assign(numSpatial, 1);
  p.pads.assign(2 * numSpatial, 0);
  KILN_RETURN_IF_ERROR(checkList(attrs, "strides", numSpatial, 1, &p.strides, who));
  KILN_RETURN_IF_ERROR(checkList(attrs, "dilations", numSpatial, 1, &p.dilations, who));
  std::string autoPad = attrs.getString("auto_pad", "NOTSET");
  if (autoPad == "NOTSET" || autoPad.empty()) {
    p.autoPad = AutoPad::kNotSet;
    KILN_RETURN_IF_ERROR(checkList(attrs, "pads", 2 * numSpatial, 0, &p.pads, who));
  } else if (autoPad == "SAME_UPPER") {
    p.autoPad = AutoPad::kSameUpper;
  } else if (autoPad == "SAME_LOWER") {
    p.autoPad = AutoPad::kSameLower;
  } else if (autoPad == "VALID") {
    p.autoPad = AutoPad::kValid;
  } else {
    return invalidArgument("%s: auto_pad '%s' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID",
                           who.c_str(), autoPad.c_str());
  }
  for (int64_t k : p.kernel)
    if (k < 1) return invalidArgument("%s: kernel dims must be >= 1, got %s", who.c_str(), listToString(p.kernel).c_str());
  int64_t ceil = attrs.getInt("ceil_mode", 0);
  if (ceil != 0 && ceil != 1) return invalidArgument("%s: ceil_mode must be 0 or 1, got %lld", who.c_str(), static_cast<long long>(ceil));
  if (ceil && !allowCeilMode) return invalidArgument("%s: ceil_mode is not an attribute of this op", who.c_str());
  p.ceilMode = ceil == 1;
  return p;
}

DimExpr windowOutputDim(const WindowParams& p, size_t i, const DimExpr& in) {
  const int64_t s = p.strides[i];
  if (p.isSame()) return ceilDiv(in, s);
  int64_t pb = 0, pe = 0;
  if (p.autoPad == AutoPad::kNotSet) {
    pb = p.pads[i];
    pe = p.pads[i + p.numSpatial];
  }
  DimExpr span = in + (pb + pe - p.effectiveKernel(i));
  if (!p.ceilMode) return floorDiv(span, s) + 1;
  // The last window must start inside the input or the left padding: o*s < in + pb.
  return dimMin(ceilDiv(span, s) + 1, ceilDiv(in + pb, s));
}

std::vector<int64_t> resolveWindowPads(const WindowParams& p, const std::vector<int64_t>& inSizes) {
  const size_t n = p.numSpatial;
  std::vector<int64_t> pads(2 * n, 0);
  switch (p.autoPad) {
    case AutoPad::kNotSet: return p.pads;
    case AutoPad::kValid: return pads;
    case AutoPad::kSameUpper:
    case AutoPad::kSameLower:
      for (size_t i = 0; i < n; ++i) {
        int64_t out = (inSizes[i] + p.strides[i] - 1) / p.strides[i];
        int64_t total = std::max<int64_t>(0, (out - 1) * p.strides[i] + p.effectiveKernel(i) - inSizes[i]);
        int64_t small = total / 2;
        pads[i] = p.autoPad == AutoPad::kSameUpper ? small : total - small;
        pads[i + n] = total - pads[i];
      }
      return pads;
  }
  return pads;
}

StatusOr<ConvTransposeParams> parseConvTransposeParams(const Attributes& attrs, size_t numSpatial,
                                                       const std::vector<int64_t>& kernelFromWeights,
                                                       const std::string& who) {
  ConvTransposeParams p;
  KILN_ASSIGN_OR_RETURN(p.window, parseWindowParams(attrs, numSpatial, kernelFromWeights, false, who));
  p.outputPadding.assign(numSpatial, 0);
  KILN_RETURN_IF_ERROR(checkList(attrs, "output_padding", numSpatial, 0, &p.outputPadding, who));
  for (size_t i = 0; i < numSpatial; ++i) {
    // ONNX: output_padding must be smaller than the stride or the dilation.
    if (p.outputPadding[i] >= std::max(p.window.strides[i], p.window.dilations[i]))
      return invalidArgument("%s: output_padding=%s must be smaller than the stride or the dilation of its axis",
                             who.c_str(), listToString(p.outputPadding).c_str());
  }
  if (attrs.has("output_shape")) {
    std::vector<int64_t> os = attrs.getInts("output_shape");
    // Some exporters give the full output shape (N, C, spatial...); keep the spatial part.
    if (os.size() == numSpatial + 2) os.erase(os.begin(), os.begin() + 2);
    if (os.size() != numSpatial)
      return invalidArgument("%s: output_shape=%s has %zu values, expected %zu (one per spatial axis)",
                             who.c_str(), listToString(attrs.getInts("output_shape")).c_str(),
                             attrs.getInts("output_shape").size(), numSpatial);
    for (int64_t v : os)
      if (v < 1) return invalidArgument("%s: output_shape=%s must hold positive values", who.c_str(), listToString(os).c_str());
    p.outputShape = std::move(os);
  }
  return p;
}

DimExpr convTransposeOutputDim(const ConvTransposeParams& p, size_t i, const DimExpr& in) {
  const WindowParams& w = p.window;
  if (!p.outputShape.empty()) return DimExpr(p.outputShape[i]);
  if (w.isSame()) return in * w.strides[i];
  int64_t pb = 0, pe = 0;
  if (w.autoPad == AutoPad::kNotSet) {
    pb = w.pads[i];
    pe = w.pads[i + w.numSpatial];
  }
  return (in - 1) * w.strides[i] + (p.outputPadding[i] + w.effectiveKernel(i) - pb - pe);
}

std::vector<int64_t> resolveConvTransposePads(const ConvTransposeParams& p,
                                              const std::vector<int64_t>& inSizes) {
  const WindowParams& w = p.window;
  const size_t n = w.numSpatial;
  if (p.outputShape.empty() && !w.isSame())
    return w.autoPad == AutoPad::kNotSet ? w.pads : std::vector<int64_t>(2 * n, 0);
  std::vector<int64_t> pads(2 * n, 0);
  for (size_t i = 0; i < n; ++i) {
    int64_t out = p.outputShape.empty() ? inSizes[i] * w.strides[i] : p.outputShape[i];
    int64_t total = w.strides[i] * (inSizes[i] - 1) + p.outputPadding[i] + w.effectiveKernel(i) - out;
    int64_t half = floorDiv2(total);
    if (w.autoPad == AutoPad::kSameUpper) {
      pads[i] = half;
      pads[i + n] = total - half;
    } else {
      pads[i + n] = half;
      pads[i] = total - half;
    }
  }
  return pads;
}

}  // namespace kiln::ir
