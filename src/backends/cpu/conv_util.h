// Helpers shared by the CPU Linear, Pool and Norm kernels: element-type dispatch, conversions
// between storage types and compute types, and the BLAS GEMM wrappers.
#pragma once

#include <cblas.h>

#include <climits>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "backends/cpu/cpu_kernel.h"
#include "common/half.h"

namespace kiln::cpu {

// Storage type -> value (float16/bfloat16 go through float).
template <typename T>
inline double loadAsDouble(T v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return static_cast<double>(static_cast<float>(v));
  } else {
    return static_cast<double>(v);
  }
}

// Value -> storage type (float16/bfloat16 round to nearest even from float).
template <typename T>
inline T storeFromDouble(double v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return T(static_cast<float>(v));
  } else {
    return static_cast<T>(v);
  }
}

// Calls f(T{}) with T the C++ storage type of a float dtype; other dtypes are unsupported.
template <typename F>
Status dispatchFloatTypes(const CpuKernelContext& ctx, DataType t, F&& f) {
  if (t == DataType::kFLOAT) return f(float{});
  if (t == DataType::kDOUBLE) return f(double{});
  if (t == DataType::kHALF) return f(Half{});
  if (t == DataType::kBF16) return f(BFloat16{});
  return ctx.unsupportedType(t);
}

// Reads any tensor as doubles (for small per-channel parameters and reference-style kernels).
inline std::vector<double> tensorToDoubles(const CpuTensor& t) {
  std::vector<double> out(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) out[static_cast<size_t>(i)] = t.doubleAt(i);
  return out;
}

// float16/bfloat16 <-> float32 buffers, for kernels that compute in float32 via BLAS.
inline std::vector<float> halfTensorToFloats(const CpuTensor& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  if (t.dtype == DataType::kHALF) {
    for (int64_t i = 0; i < t.numel(); ++i) out[static_cast<size_t>(i)] = t.as<const Half>()[i];
  } else {
    for (int64_t i = 0; i < t.numel(); ++i) out[static_cast<size_t>(i)] = t.as<const BFloat16>()[i];
  }
  return out;
}
inline void storeFloatsToHalfTensor(const std::vector<float>& v, CpuTensor& t) {
  if (t.dtype == DataType::kHALF) {
    for (int64_t i = 0; i < t.numel(); ++i) t.as<Half>()[i] = Half(v[static_cast<size_t>(i)]);
  } else {
    for (int64_t i = 0; i < t.numel(); ++i) t.as<BFloat16>()[i] = BFloat16(v[static_cast<size_t>(i)]);
  }
}

// Row-major C[M,N] = alpha * op(A) * op(B) + beta * C through OpenBLAS. Sizes must fit in int
// (callers check gemmSizesFit). Empty products (K == 0) are handled here: BLAS rejects lda 0.
template <typename T>
inline void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                 const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    return;
  }
  const CBLAS_TRANSPOSE ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans;
  const int im = static_cast<int>(m), in = static_cast<int>(n), ik = static_cast<int>(k);
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, ta, tb, im, in, ik, alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb),
                beta, c, static_cast<int>(ldc));
  } else {
    static_assert(std::is_same_v<T, double>, "gemm: float or double");
    cblas_dgemm(CblasRowMajor, ta, tb, im, in, ik, alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb),
                beta, c, static_cast<int>(ldc));
  }
}

inline bool gemmSizesFit(std::initializer_list<int64_t> sizes) {
  for (int64_t s : sizes)
    if (s > INT_MAX) return false;
  return true;
}

}  // namespace kiln::cpu
