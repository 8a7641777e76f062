// Epilogue kernels of the fused layers (kernels_fused_epilogue.cu): the bias and activation that
// a library call (cuBLASLt, cuDNN) did not apply itself. The activation is ir::FusedActivation
// (src/ir/fused_activation.h), computed in float (double for float64 data) and rounded once.
#pragma once

#include <cstdint>

#include "backends/cuda/cuda_kernel.h"
#include "ir/fused_activation.h"

namespace kiln::cuda {

// FusedMatMul: y[r, j] = act(y[r, j] + bias[j]) in place, for y a contiguous row-major
// [rows, n] tensor of type t (float32, float16, bfloat16 or float64) and bias null (no bias) or
// n values of type t. Launch only (no allocation, no sync); rows * n == 0 launches nothing.
Status launchMatMulEpilogue(DataType t, void* y, const void* bias, int64_t rows, int64_t n,
                            const ir::FusedActivationParams& act, cudaStream_t stream,
                            const DeviceProps& props);

// FusedConv: y[o, c, s] = act(y[o, c, s] + bias[c] + z[o, c, s]) in place, for y a contiguous
// NCHW-style [outer, channels, inner] tensor of type t (float32, float16, bfloat16 or float64),
// bias null or `channels` values of type t, z (the residual) null or shaped and typed like y and
// not overlapping it. Computed in float (double for float64) as (y + bias) + z, rounded once;
// 16-bit types go two elements at a time when inner is even and y, z are 4-byte aligned, and
// eight at a time for channels-last outputs (inner == 1: outer = N*H*W, channels = C, the
// channel the last dim) when channels % 8 == 0 and y, z, bias are 16-byte aligned.
// Launch only (no allocation, no sync); an empty y launches nothing.
Status launchConvEpilogue(DataType t, void* y, const void* bias, const void* z, int64_t outer,
                          int64_t channels, int64_t inner, const ir::FusedActivationParams& act,
                          cudaStream_t stream, const DeviceProps& props);

}  // namespace kiln::cuda
