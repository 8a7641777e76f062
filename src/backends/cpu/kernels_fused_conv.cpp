// CPU reference kernel of FusedConv (see ops.def and docs/optimizer.md).
//
// Y = act(Conv(X, W) + B + Z): the CPU Conv kernel computes Conv(X, W) + B in the precision it
// accumulates in (float32 for float32/float16/bfloat16 data, double for double), then Z is added
// and the activation (ir/fused_activation.h) applied in that same precision, and float16/
// bfloat16 results are rounded once at the end.
#include <vector>

#include "backends/cpu/conv_util.h"
#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/kernel_util.h"
#include "ir/fused_activation.h"
#include "ir/tensor_data.h"

namespace kiln::cpu {

namespace {

// y[i] = act(y[i] + z[i]) (z may be null), in Acc.
template <typename Acc, typename ZT>
void epilogue(Acc* y, const ZT* z, int64_t n, const ir::FusedActivationParams& a) {
  const Acc alpha = static_cast<Acc>(a.alpha), beta = static_cast<Acc>(a.beta);
  for (int64_t i = 0; i < n; ++i) {
    Acc v = y[i];
    if (z) v += static_cast<Acc>(loadAsDouble(z[i]));
    y[i] = ir::applyFusedActivation<Acc>(a.kind, alpha, beta, v);
  }
}

// A float32 copy of a float16/bfloat16 tensor (same dims).
struct FloatCopy {
  std::vector<float> data;
  CpuTensor tensor;
  explicit FloatCopy(const CpuTensor& t) : data(halfTensorToFloats(t)) {
    tensor.data = data.data();
    tensor.dtype = DataType::kFLOAT;
    tensor.dims = t.dims;
  }
};

Status fusedConvKernel(CpuKernelContext& ctx) {
  if (ctx.inputs.size() < 2 || ctx.outputs.size() != 1)
    return ctx.error("expects 2 to 4 inputs and 1 output, got %zu and %zu", ctx.inputs.size(),
                     ctx.outputs.size());
  KILN_ASSIGN_OR_RETURN(ir::FusedActivationParams act, ir::parseFusedActivation(ctx.attrs()));
  const CpuKernelFn conv = cpuKernels()[static_cast<size_t>(ir::OpKind::kConv)];
  if (!conv)
    return unsupported("%s: the CPU backend has no Conv kernel", ctx.node.describe().c_str());
  CpuTensor& y = ctx.outputs[0];
  const DataType t = ctx.inputs[0].dtype;
  const bool hasB = ctx.hasInput(2), hasZ = ctx.hasInput(3);
  for (size_t i = 1; i < ctx.inputs.size(); ++i) {
    if (ctx.hasInput(i) && ctx.inputs[i].dtype != t)
      return ctx.error("input %zu has data type %s, expected %s like X", i,
                       dataTypeName(ctx.inputs[i].dtype), dataTypeName(t));
  }
  if (y.dtype != t)
    return ctx.error("output has data type %s, expected %s", dataTypeName(y.dtype),
                     dataTypeName(t));
  if (hasZ && ctx.inputs[3].dims != y.dims)
    return ctx.error("residual Z %s must have exactly the output's shape %s",
                     ir::dimsToString(ctx.inputs[3].dims).c_str(),
                     ir::dimsToString(y.dims).c_str());

  // The Conv kernel reads X, W and B (its own checks name this node).
  std::vector<CpuTensor> convIn(ctx.inputs.begin(), ctx.inputs.begin() + (hasB ? 3 : 2));
  const int64_t n = y.numel();
  switch (t) {
    case DataType::kFLOAT:
    case DataType::kDOUBLE: {
      std::vector<CpuTensor> convOut{y};
      CpuKernelContext c{ctx.node, convIn, convOut};
      KILN_RETURN_IF_ERROR(conv(c));
      if (t == DataType::kFLOAT)
        epilogue(y.as<float>(), hasZ ? ctx.inputs[3].as<const float>() : nullptr, n, act);
      else
        epilogue(y.as<double>(), hasZ ? ctx.inputs[3].as<const double>() : nullptr, n, act);
      return Status::ok();
    }
    case DataType::kHALF:
    case DataType::kBF16: {
      // The float32 convolution the Conv kernel runs for 16-bit data, kept unrounded.
      std::vector<FloatCopy> copies;
      copies.reserve(convIn.size());
      for (CpuTensor& in : convIn) {
        copies.emplace_back(in);
        in = copies.back().tensor;
      }
      std::vector<float> yf(static_cast<size_t>(n));
      std::vector<CpuTensor> convOut(1);
      convOut[0].data = yf.data();
      convOut[0].dtype = DataType::kFLOAT;
      convOut[0].dims = y.dims;
      CpuKernelContext c{ctx.node, convIn, convOut};
      KILN_RETURN_IF_ERROR(conv(c));
      if (t == DataType::kHALF)
        epilogue(yf.data(), hasZ ? ctx.inputs[3].as<const Half>() : nullptr, n, act);
      else
        epilogue(yf.data(), hasZ ? ctx.inputs[3].as<const BFloat16>() : nullptr, n, act);
      storeFloatsToHalfTensor(yf, y);
      return Status::ok();
    }
    default: return ctx.unsupportedType(t);
  }
}

}  // namespace

void registerFusedConvKernels(CpuKernelTable& t) {
  t[static_cast<size_t>(ir::OpKind::kFusedConv)] = &fusedConvKernel;
}

}  // namespace kiln::cpu
