// CPU reference kernel of FusedMatMul (see ops.def and docs/optimizer.md).
//
// Y = act(A @ B + bias + Z) with A [..., M, K] contiguous, so its leading dims fold into M: one
// [M', K] x [K, N] GEMM through OpenBLAS, as the CPU MatMul computes a stack of A matrices
// against one B. Then, per element and in the MatMul's accumulation type (float32 for float32,
// float16 and bfloat16, which are widened once and rounded once at the end; float64 for
// float64): y += bias[j], y += z (the residual, Y's shape), y = act(y) (ir::applyFusedActivation,
// the definition every backend shares). float32 matches MatMul -> Add -> Add -> activation run
// unfused on this backend.
#include <vector>

#include "backends/cpu/conv_util.h"
#include "backends/cpu/cpu_kernel.h"
#include "common/small_float.h"
#include "ir/fused_activation.h"

namespace kiln::cpu {

namespace {

std::string dimsStr(const std::vector<int64_t>& d) { return ir::dimsToString(d); }

template <typename C>
void epilogue(C* y, const C* bias, const C* z, int64_t rows, int64_t n,
              const ir::FusedActivationParams& act) {
  const C alpha = static_cast<C>(act.alpha), beta = static_cast<C>(act.beta);
  for (int64_t i = 0; i < rows; ++i) {
    C* row = y + i * n;
    for (int64_t j = 0; j < n; ++j) {
      C v = row[j];
      if (bias) v += bias[j];
      if (z) v += z[i * n + j];
      row[j] = ir::applyFusedActivation<C>(act.kind, alpha, beta, v);
    }
  }
}

Status fusedMatMulKernel(CpuKernelContext& ctx) {
  const CpuTensor& a = ctx.inputs[0];
  const CpuTensor& b = ctx.inputs[1];
  const bool hasBias = ctx.hasInput(2);
  const bool hasZ = ctx.hasInput(3);
  CpuTensor& y = ctx.outputs[0];
  StatusOr<ir::FusedActivationParams> act = ir::parseFusedActivation(ctx.attrs());
  if (!act.isOk()) return ctx.error("%s", act.status().message().c_str());
  if (a.rank() < 2 || b.rank() != 2)
    return ctx.error("A must have rank >= 2 and B rank 2, got shapes %s and %s",
                     dimsStr(a.dims).c_str(), dimsStr(b.dims).c_str());
  const int64_t k = a.dims.back(), n = b.dims[1];
  if (b.dims[0] != k)
    return ctx.error("inner dimensions do not match: A %s has K=%lld but B %s has K=%lld",
                     dimsStr(a.dims).c_str(), static_cast<long long>(k), dimsStr(b.dims).c_str(),
                     static_cast<long long>(b.dims[0]));
  if (hasBias && (ctx.inputs[2].rank() != 1 || ctx.inputs[2].dims[0] != n))
    return ctx.error("bias must be 1-D with N=%lld elements, got shape %s",
                     static_cast<long long>(n), dimsStr(ctx.inputs[2].dims).c_str());
  if (b.dtype != a.dtype || (hasBias && ctx.inputs[2].dtype != a.dtype) ||
      (hasZ && ctx.inputs[3].dtype != a.dtype))
    return ctx.error("A, B, bias and Z must have the same data type");
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < a.dims.size(); ++i) rows *= a.dims[i];
  if (hasZ) {
    std::vector<int64_t> want(a.dims.begin(), a.dims.end() - 1);
    want.push_back(n);
    if (ctx.inputs[3].dims != want)
      return ctx.error("residual Z must have exactly the output's shape %s, got %s",
                       dimsStr(want).c_str(), dimsStr(ctx.inputs[3].dims).c_str());
  }
  if (y.numel() != rows * n)
    return ctx.error("output has %lld elements, expected %lld", static_cast<long long>(y.numel()),
                     static_cast<long long>(rows * n));
  if (rows == 0 || n == 0) return Status::ok();
  if (!gemmSizesFit({rows, n, k})) return ctx.error("matrix dimensions are too large for BLAS");

  switch (a.dtype) {
    case DataType::kFLOAT:
      gemm<float>(false, false, rows, n, k, 1.f, a.as<const float>(), k, b.as<const float>(), n,
                  0.f, y.as<float>(), n);
      epilogue<float>(y.as<float>(), hasBias ? ctx.inputs[2].as<const float>() : nullptr,
                      hasZ ? ctx.inputs[3].as<const float>() : nullptr, rows, n, *act);
      return Status::ok();
    case DataType::kDOUBLE:
      gemm<double>(false, false, rows, n, k, 1.0, a.as<const double>(), k, b.as<const double>(), n,
                   0.0, y.as<double>(), n);
      epilogue<double>(y.as<double>(), hasBias ? ctx.inputs[2].as<const double>() : nullptr,
                       hasZ ? ctx.inputs[3].as<const double>() : nullptr, rows, n, *act);
      return Status::ok();
    case DataType::kHALF:
    case DataType::kBF16: {
      std::vector<float> af = halfTensorToFloats(a), bf = halfTensorToFloats(b), cf, zf;
      if (hasBias) cf = halfTensorToFloats(ctx.inputs[2]);
      if (hasZ) zf = halfTensorToFloats(ctx.inputs[3]);
      std::vector<float> yf(static_cast<size_t>(y.numel()));
      gemm<float>(false, false, rows, n, k, 1.f, af.data(), k, bf.data(), n, 0.f, yf.data(), n);
      epilogue<float>(yf.data(), hasBias ? cf.data() : nullptr, hasZ ? zf.data() : nullptr, rows, n,
                      *act);
      storeFloatsToHalfTensor(yf, y);
      return Status::ok();
    }
    case DataType::kINT32:
    case DataType::kINT64:
    case DataType::kUINT32:
    case DataType::kUINT64:
    case DataType::kINT8:
    case DataType::kBOOL:
    case DataType::kUINT8:
    case DataType::kINT16:
    case DataType::kUINT16:
    KILN_CASE_LOW_PRECISION_TYPES:
      break;
  }
  return ctx.unsupportedType(a.dtype);
}

}  // namespace

void registerFusedMatMulKernels(CpuKernelTable& t) {
  t[static_cast<size_t>(ir::OpKind::kFusedMatMul)] = &fusedMatMulKernel;
}

}  // namespace kiln::cpu
