// CUDA kernels of Attention (ONNX opset 23/24, sliding windows of opset 25) and the internal
// FusedAttention (ops.def; Q, K, V and Y through the strides of their layouts). They compute what
// the CPU kernels compute (src/backends/cpu/kernels_transformer_quant.cpp,
// kernels_fused_attention.cpp); docs/cuda_backend.md, "Attention", describes the paths:
//   - the general path: three stream-ordered kernels per chunk of (batch, head) pairs, in double
//     as the CPU (a tiled QK^T with scale and softcap, a row kernel adding the
//     mask/causal/window/padding bias and taking the softmax in place, and a tiled PV; scores in
//     the workspace, whose size the chunk bounds);
//   - the plain cases (no past, softcap, window or extra outputs; head sizes equal and <= 128;
//     float16, bfloat16 or float32) take a fused flash-attention kernel: for float16/bfloat16
//     with D in {32, 64, 128} two tactics that the builder times, "kiln:fa2" (fa2Kernel:
//     mma.sync + ldmatrix + cp.async, FlashAttention-2 structure; the default) and "kiln:wmma"
//     (flashAttnKernel: WMMA, shared-memory softmax; also the float32 / other-D kernel);
//   - a third tactic "cudnn:sdpa" (cuDNN's fused attention through the graph API, cudnn_sdpa.h)
//     for float16/bfloat16 with D a multiple of 8, no mask or an additive float mask over all the
//     keys; its plan is built only when the builder times the tactics or the plan chose it.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "backends/cuda/attention.h"
#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/cudnn_sdpa.h"
#include "backends/cuda/reduce_util.cuh"
#include "ir/fused_attention.h"

namespace kiln::cuda {

namespace {

namespace wmma = nvcuda::wmma;
using namespace tq;

// fa2 (the "kiln:fa2" tactic) is prepared where it applies; false leaves only the WMMA kernel.
constexpr bool kFa2Enabled = true;
// cudnn:sdpa (cuDNN fused attention) is offered where it applies; false never builds it.
constexpr bool kCudnnSdpaEnabled = true;

// ================================================================================================
// Attention (opset 23/24, sliding windows of opset 25). See the CPU kernel for the math.
// ================================================================================================

struct HeadStrides {
  int64_t b = 0, h = 0, i = 0;  // element (b, h, i, d) at b*sb + h*sh + i*si + d
};

// A 4-D [B, H, L, D] tensor or a 3-D [B, L, H*D] one.
HeadStrides headStrides(const CudaTensor& t, int64_t heads, int64_t len, int64_t headSize) {
  if (t.rank() == 4) return {heads * len * headSize, len * headSize, headSize};
  return {len * heads * headSize, headSize, heads * headSize};
}

struct AttnParams {
  int64_t batch = 0, hq = 0, hkv = 0, lq = 0, lkv = 0, lp = 0, total = 0, d = 0, dv = 0, group = 1;
  HeadStrides q, k, v, pk, pv, y;  // y: the output (Y's layout)
  bool hasPast = false, hasMask = false, hasNonpad = false, causal = false, maskBool = false;
  int64_t mdims[4] = {1, 1, 1, 1};
  double scale = 1, softcap = 0;
  int64_t left = -1, right = -1;
  int mode = 0;
  DataType qType = DataType::kFLOAT, kType = DataType::kFLOAT, vType = DataType::kFLOAT;
  DataType pkType = DataType::kFLOAT, pvType = DataType::kFLOAT, maskType = DataType::kBOOL;
  DataType yType = DataType::kFLOAT, qkType = DataType::kFLOAT, presentKType = DataType::kFLOAT,
           presentVType = DataType::kFLOAT;
};

struct AttnPtrs {
  const void* q;
  const void* k;
  const void* v;
  const void* mask;
  const void* pastK;
  const void* pastV;
  const int64_t* nonpad;
  void* y;
  void* presentK;
  void* presentV;
  void* qk;
};

__device__ __forceinline__ double keyAt(const AttnParams& p, const AttnPtrs& a, int64_t b,
                                        int64_t hk, int64_t j, int64_t e) {
  if (j < p.lp) return loadAny(a.pastK, p.pkType, b * p.pk.b + hk * p.pk.h + j * p.pk.i + e);
  return loadAny(a.k, p.kType, b * p.k.b + hk * p.k.h + (j - p.lp) * p.k.i + e);
}
__device__ __forceinline__ double valueAt(const AttnParams& p, const AttnPtrs& a, int64_t b,
                                          int64_t hk, int64_t j, int64_t e) {
  if (j < p.lp) return loadAny(a.pastV, p.pvType, b * p.pv.b + hk * p.pv.h + j * p.pv.i + e);
  return loadAny(a.v, p.vType, b * p.v.b + hk * p.v.h + (j - p.lp) * p.v.i + e);
}

// Scores of (b, h) pairs [bh0, bh0 + count): ws[pair][i][j] = c_ij (scaled, soft-capped);
// qk_matmul_output modes 0 (s) and 1 (c) are written here.
__global__ void attnScoresKernel(AttnParams p, AttnPtrs a, double* __restrict__ ws, int64_t bh0,
                                 int64_t count) {
  const int64_t tilesM = (p.lq + kTile - 1) / kTile, tilesN = (p.total + kTile - 1) / kTile;
  for (int64_t pair = blockIdx.z; pair < count; pair += gridDim.z) {
    const int64_t bh = bh0 + pair, b = bh / p.hq, h = bh % p.hq, hk = h / p.group;
    double* wsp = ws + pair * p.lq * p.total;
    for (int64_t mt = blockIdx.y; mt < tilesM; mt += gridDim.y)
      for (int64_t nt = blockIdx.x; nt < tilesN; nt += gridDim.x) {
        gemmTile<double, double, true>(
            mt * kTile, nt * kTile, p.lq, p.total, p.d,
            [&](int64_t i, int64_t e) {
              return loadAny(a.q, p.qType, b * p.q.b + h * p.q.h + i * p.q.i + e);
            },
            [&](int64_t e, int64_t j) { return keyAt(p, a, b, hk, j, e); },
            [&](int64_t i, int64_t j, double acc) {
              const double s = __dmul_rn(acc, p.scale);
              const double c =
                  p.softcap > 0 ? __dmul_rn(p.softcap, tanh(__ddiv_rn(s, p.softcap))) : s;
              wsp[i * p.total + j] = c;
              if (a.qk && p.mode <= 1)
                storeAny(a.qk, p.qkType, (bh * p.lq + i) * p.total + j, p.mode == 0 ? s : c);
            });
      }
  }
}

// std::max(a, b): a NaN in b is ignored.
__device__ __forceinline__ double maxCpu(double a, double b) { return a < b ? b : a; }

// One block per query row: bias, softmax (a fully masked row gets zeros), in place in ws.
__global__ void attnSoftmaxKernel(AttnParams p, AttnPtrs a, double* __restrict__ ws, int64_t bh0,
                                  int64_t count) {
  const double kNegInf = negInf();
  for (int64_t row = blockIdx.x; row < count * p.lq; row += gridDim.x) {
    const int64_t pair = row / p.lq, i = row % p.lq;
    const int64_t bh = bh0 + pair, b = bh / p.hq, h = bh % p.hq;
    double* z = ws + row * p.total;
    const int64_t nonpad = p.hasNonpad ? a.nonpad[b] : 0;
    const int64_t offset = p.hasPast ? p.lp : (p.hasNonpad ? nonpad - p.lq : 0);
    const int64_t qkRow = (bh * p.lq + i) * p.total;
    double biasMax = kNegInf, mx = kNegInf;
    for (int64_t j = threadIdx.x; j < p.total; j += blockDim.x) {
      double bj = 0;
      if (p.hasMask) {
        if (j >= p.mdims[3]) {
          bj = kNegInf;
        } else {
          const int64_t mi =
              (((p.mdims[0] == 1 ? 0 : b) * p.mdims[1] + (p.mdims[1] == 1 ? 0 : h)) * p.mdims[2] +
               (p.mdims[2] == 1 ? 0 : i)) *
                  p.mdims[3] +
              j;
          bj = p.maskBool ? (static_cast<const uint8_t*>(a.mask)[mi] != 0 ? 0.0 : kNegInf)
                          : loadAny(a.mask, p.maskType, mi);
        }
      }
      const int64_t diff = i + offset - j;  // query i sits at absolute position i + offset
      if (p.causal && diff < 0) bj += kNegInf;
      if ((p.left >= 0 && diff > p.left) || (p.right >= 0 && -diff > p.right)) bj += kNegInf;
      if (p.hasNonpad && j >= nonpad) bj += kNegInf;
      const double zj = __dadd_rn(z[j], bj);
      z[j] = zj;
      if (a.qk && p.mode == 2) storeAny(a.qk, p.qkType, qkRow + j, zj);
      biasMax = maxCpu(biasMax, bj);
      mx = maxCpu(mx, zj);
    }
    biasMax = blockAllReduce(
        biasMax, [](double x, double y) { return maxCpu(x, y); }, kNegInf);
    mx = blockAllReduce(
        mx, [](double x, double y) { return maxCpu(x, y); }, kNegInf);
    if (biasMax == kNegInf) {
      for (int64_t j = threadIdx.x; j < p.total; j += blockDim.x) {
        z[j] = 0;
        if (a.qk && p.mode == 3) storeAny(a.qk, p.qkType, qkRow + j, 0.0);
      }
    } else {
      double sum = 0;
      for (int64_t j = threadIdx.x; j < p.total; j += blockDim.x) {
        const double e = z[j] == kNegInf ? 0.0 : exp(z[j] - mx);
        z[j] = e;
        sum += e;
      }
      sum = blockAllReduce(
          sum, [](double x, double y) { return x + y; }, 0.0);
      for (int64_t j = threadIdx.x; j < p.total; j += blockDim.x) {
        const double pj = __ddiv_rn(z[j], sum);
        z[j] = pj;
        if (a.qk && p.mode == 3) storeAny(a.qk, p.qkType, qkRow + j, pj);
      }
    }
    __syncthreads();  // the next row's reductions reuse shared memory
  }
}

// Y = P V per (b, h) pair.
__global__ void attnOutputKernel(AttnParams p, AttnPtrs a, const double* __restrict__ ws,
                                 int64_t bh0, int64_t count) {
  const int64_t tilesM = (p.lq + kTile - 1) / kTile, tilesN = (p.dv + kTile - 1) / kTile;
  for (int64_t pair = blockIdx.z; pair < count; pair += gridDim.z) {
    const int64_t bh = bh0 + pair, b = bh / p.hq, h = bh % p.hq, hk = h / p.group;
    const double* pp = ws + pair * p.lq * p.total;
    for (int64_t mt = blockIdx.y; mt < tilesM; mt += gridDim.y)
      for (int64_t nt = blockIdx.x; nt < tilesN; nt += gridDim.x) {
        gemmTile<double, double, false>(
            mt * kTile, nt * kTile, p.lq, p.dv, p.total,
            [&](int64_t i, int64_t j) { return pp[i * p.total + j]; },
            [&](int64_t j, int64_t e) { return valueAt(p, a, b, hk, j, e); },
            [&](int64_t i, int64_t e, double acc) {
              storeAny(a.y, p.yType, b * p.y.b + h * p.y.h + i * p.y.i + e, acc);
            });
      }
  }
}

// present_key / present_value = concat(past, new) along the sequence: [B, Hkv, total, D].
__global__ void attnPresentKernel(AttnParams p, AttnPtrs a, bool isValue, int64_t n) {
  const int64_t width = isValue ? p.dv : p.d;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < n;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t e = idx % width, r = idx / width;
    const int64_t j = r % p.total, bh = r / p.total, h = bh % p.hkv, b = bh / p.hkv;
    if (isValue) {
      storeAny(a.presentV, p.presentVType, idx, valueAt(p, a, b, h, j, e));
    } else {
      storeAny(a.presentK, p.presentKType, idx, keyAt(p, a, b, h, j, e));
    }
  }
}
// ------------------------------------------------------------------------------------------------
// Fused attention (flash-attention-2 style): one block per (64 queries, query head, batch), 4
// warps of 16 query rows each. The Q tile stays in shared memory; K and V stream through it in
// blocks of 64 keys (zero-filled past Skv and past D). Per key block each warp computes its
// 16x64 scores S = Q K^T (WMMA 16x16x16 with float accumulators for float16/bfloat16, CUDA-core
// FMAs for float32), adds scale, mask and causal bias in float, updates its rows' running max m
// and sum l (online softmax: O is rescaled by exp(m_old - m_new)), writes P in the input type
// and accumulates O += P V in float (shared memory). At the end Y = O / l; a row with no finite
// score (fully masked) gives 0, as the CPU kernel. Used when prepare() finds the simple case
// (see FlashPlan); everything else takes the three-kernel double path above.
// ------------------------------------------------------------------------------------------------

constexpr int kFaRows = 64, kFaKeys = 64, kFaWarps = 4, kFaThreads = kFaWarps * 32;
constexpr int kFaMaxD = 128;

enum class FaMask : int { kNone = 0, kFloat32 = 1, kSameAsQ = 2, kBool = 3 };

struct FlashParams {
  int64_t lq = 0, lkv = 0, d = 0, hq = 0, group = 1;
  HeadStrides q, k, v, y;  // y: the output, head size d (D's stride is 1 everywhere)
  bool causal = false;
  float scale = 1.f;
  FaMask mask = FaMask::kNone;
  int64_t ms[3] = {0, 0, 0};  // mask element strides for b, h, i (0: broadcast)
  int64_t mlen = 0;           // the mask's last dim: keys at or past it are masked
};

// float <-> storage type: ru::load / ru::store (reduce_util.cuh).

constexpr size_t faAlign(size_t n) { return (n + 127) / 128 * 128; }

// Shared-memory layout for element type T and padded head size kDP (a multiple of 16). Leading
// dimensions are WMMA-legal (multiples of 8 halves / 4 floats, every 16-row/16-column tile
// 32-byte aligned) for the 16-bit types, and odd for float32 (no bank conflicts on column reads).
template <typename T, int kDP>
struct FaLayout {
  static constexpr bool kWmma = !std::is_same_v<T, float>;
  static constexpr int kLdt = kWmma ? kDP + 8 : kDP + 1;          // sQ, sK, sV [64][kLdt] T
  static constexpr int kLds = kFaKeys + 4;                        // sS [64][kLds] float
  static constexpr int kLdp = kWmma ? kFaKeys + 8 : kFaKeys + 1;  // sP [64][kLdp] T
  static constexpr int kLdo = kDP + 4;                            // sO [64][kLdo] float
  static constexpr size_t kTileBytes = faAlign(size_t{kFaRows} * kLdt * sizeof(T));
  static constexpr size_t kOffK = kTileBytes;
  static constexpr size_t kOffV = 2 * kTileBytes;
  static constexpr size_t kOffS = 3 * kTileBytes;
  static constexpr size_t kOffP = kOffS + faAlign(size_t{kFaRows} * kLds * sizeof(float));
  static constexpr size_t kOffO = kOffP + faAlign(size_t{kFaRows} * kLdp * sizeof(T));
  static constexpr size_t kBytes = kOffO + faAlign(size_t{kFaRows} * kLdo * sizeof(float));
};

// Element idx of a mask of kind `kind` as an additive bias (bool: 0 or -inf).
template <typename T>
__device__ __forceinline__ float faMaskAt(FaMask kind, const void* mask, int64_t idx) {
  const float kNegInfF = -__int_as_float(0x7f800000);
  switch (kind) {
    case FaMask::kFloat32: return static_cast<const float*>(mask)[idx];
    case FaMask::kSameAsQ: return ru::load(static_cast<const T*>(mask)[idx]);
    case FaMask::kBool: return static_cast<const uint8_t*>(mask)[idx] != 0 ? 0.f : kNegInfF;
    default: return 0.f;
  }
}

// Mask bias of query i (< lq) and key j (< lkv) for batch b, query head h.
template <typename T>
__device__ __forceinline__ float faMaskBias(const FlashParams& p, const void* mask, int64_t b,
                                            int64_t h, int64_t i, int64_t j) {
  const float kNegInfF = -__int_as_float(0x7f800000);
  if (p.mask == FaMask::kNone) return 0.f;
  if (j >= p.mlen) return kNegInfF;
  const int64_t mi = b * p.ms[0] + h * p.ms[1] + i * p.ms[2] + j;
  switch (p.mask) {
    case FaMask::kFloat32: return static_cast<const float*>(mask)[mi];
    case FaMask::kSameAsQ: return ru::load(static_cast<const T*>(mask)[mi]);
    case FaMask::kBool: return static_cast<const uint8_t*>(mask)[mi] != 0 ? 0.f : kNegInfF;
    default: return 0.f;
  }
}

using FaAcc = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

// acc (16 x 16) += A (16 x 16 kSteps, row-major, leading dimension lda) times B (16 kSteps x 16,
// layout LayoutB, leading dimension ldb), one 16-wide slice of the inner dimension per step.
template <typename T, typename LayoutB, int kSteps>
__device__ __forceinline__ void faMmaTile(FaAcc& acc, const T* a, int lda, const T* b, int ldb) {
#pragma unroll
  for (int kk = 0; kk < kSteps; ++kk) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, T, LayoutB> fb;
    wmma::load_matrix_sync(fa, a + kk * 16, lda);
    // Rows kk*16.. of B (the inner dimension): kk*16 elements on when B is column-major, kk*16
    // rows on when it is row-major.
    if constexpr (std::is_same_v<LayoutB, wmma::col_major>) {
      wmma::load_matrix_sync(fb, b + kk * 16, ldb);
    } else {
      wmma::load_matrix_sync(fb, b + kk * 16 * ldb, ldb);
    }
    wmma::mma_sync(acc, fa, fb, acc);
  }
}

template <typename T, int kDP>
__global__ void __launch_bounds__(kFaThreads)
    flashAttnKernel(FlashParams p, const T* __restrict__ q, const T* __restrict__ k,
                    const T* __restrict__ v, const void* __restrict__ mask, T* __restrict__ y) {
  using L = FaLayout<T, kDP>;
  static_assert(kDP % 16 == 0 && kDP <= kFaMaxD, "padded head size");
  extern __shared__ __align__(128) unsigned char faSmem[];
  T* sQ = reinterpret_cast<T*>(faSmem);
  T* sK = reinterpret_cast<T*>(faSmem + L::kOffK);
  T* sV = reinterpret_cast<T*>(faSmem + L::kOffV);
  float* sS = reinterpret_cast<float*>(faSmem + L::kOffS);
  T* sP = reinterpret_cast<T*>(faSmem + L::kOffP);
  float* sO = reinterpret_cast<float*>(faSmem + L::kOffO);
  const float kNegInfF = -__int_as_float(0x7f800000);

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int64_t q0 = static_cast<int64_t>(blockIdx.x) * kFaRows;
  const int64_t h = blockIdx.y, b = blockIdx.z, hk = h / p.group;
  const T* qb = q + b * p.q.b + h * p.q.h;
  const T* kb = k + b * p.k.b + hk * p.k.h;
  const T* vb = v + b * p.v.b + hk * p.v.h;
  const T zero = ru::store<T>(0.f);

  // Q tile (zero past Sq and D) and O = 0.
  for (int idx = tid; idx < kFaRows * kDP; idx += kFaThreads) {
    const int r = idx / kDP, c = idx % kDP;
    const int64_t i = q0 + r;
    sQ[r * L::kLdt + c] = i < p.lq && c < p.d ? qb[i * p.q.i + c] : zero;
    sO[r * L::kLdo + c] = 0.f;
  }
  // Running max and sum of this warp's 16 rows (every lane holds the same values).
  float mRow[16], lRow[16];
#pragma unroll
  for (int r = 0; r < 16; ++r) mRow[r] = kNegInfF, lRow[r] = 0.f;

  const int rowBase = warp * 16;
  float* sSw = sS + rowBase * L::kLds;
  // With is_causal, keys past the block's last query are masked for every row: skipped.
  int64_t kEnd = p.lkv;
  if (p.causal && q0 + kFaRows < kEnd) kEnd = q0 + kFaRows;
  for (int64_t k0 = 0; k0 < kEnd; k0 += kFaKeys) {
    __syncthreads();  // every warp is done with the previous K/V block (and sQ/sO are written)
    for (int idx = tid; idx < kFaKeys * kDP; idx += kFaThreads) {
      const int r = idx / kDP, c = idx % kDP;
      const int64_t j = k0 + r;
      const bool in = j < p.lkv && c < p.d;
      sK[r * L::kLdt + c] = in ? kb[j * p.k.i + c] : zero;
      sV[r * L::kLdt + c] = in ? vb[j * p.v.i + c] : zero;
    }
    __syncthreads();

    // S = Q K^T for rows [rowBase, rowBase + 16) and the 64 keys.
    if constexpr (L::kWmma) {
#pragma unroll
      for (int n = 0; n < kFaKeys / 16; ++n) {
        FaAcc acc;
        wmma::fill_fragment(acc, 0.f);
        // K^T (d x key) is K (key x d) read column-major.
        faMmaTile<T, wmma::col_major, kDP / 16>(acc, sQ + rowBase * L::kLdt, L::kLdt,
                                                sK + n * 16 * L::kLdt, L::kLdt);
        wmma::store_matrix_sync(sSw + n * 16, acc, L::kLds, wmma::mem_row_major);
      }
    } else {
      float acc[16][2];
#pragma unroll
      for (int r = 0; r < 16; ++r) acc[r][0] = acc[r][1] = 0.f;
      for (int c = 0; c < kDP; ++c) {
        const float k0v = ru::load(sK[lane * L::kLdt + c]);
        const float k1v = ru::load(sK[(lane + 32) * L::kLdt + c]);
#pragma unroll
        for (int r = 0; r < 16; ++r) {
          const float qv = ru::load(sQ[(rowBase + r) * L::kLdt + c]);
          acc[r][0] = fmaf(qv, k0v, acc[r][0]);
          acc[r][1] = fmaf(qv, k1v, acc[r][1]);
        }
      }
#pragma unroll
      for (int r = 0; r < 16; ++r) {
        sSw[r * L::kLds + lane] = acc[r][0];
        sSw[r * L::kLds + lane + 32] = acc[r][1];
      }
    }
    __syncwarp();

    // Online softmax over the block's keys, row by row; lane owns keys lane and lane + 32.
#pragma unroll
    for (int r = 0; r < 16; ++r) {
      const int64_t i = q0 + rowBase + r;
      float z[2];
#pragma unroll
      for (int t = 0; t < 2; ++t) {
        const int c = lane + 32 * t;
        const int64_t j = k0 + c;
        float bias = 0.f;
        if (j >= p.lkv) {
          bias = kNegInfF;
        } else if (i < p.lq) {
          bias = faMaskBias<T>(p, mask, b, h, i, j);
          if (p.causal && j > i) bias = kNegInfF;
        }
        z[t] = sSw[r * L::kLds + c] * p.scale + bias;
      }
      const float mx =
          warpAllReduce(fmaxf(z[0], z[1]), [](float a, float c) { return fmaxf(a, c); });
      const float mNew = fmaxf(mRow[r], mx);
      float alpha = 1.f, p0 = 0.f, p1 = 0.f;
      if (mNew != kNegInfF) {          // else nothing finite yet: O and l stay 0
        alpha = expf(mRow[r] - mNew);  // 0 when mRow was -inf
        p0 = expf(z[0] - mNew);        // 0 for masked keys
        p1 = expf(z[1] - mNew);
      }
      const T pt0 = ru::store<T>(p0), pt1 = ru::store<T>(p1);
      sP[(rowBase + r) * L::kLdp + lane] = pt0;
      sP[(rowBase + r) * L::kLdp + lane + 32] = pt1;
      // l sums the probabilities as they enter P V (rounded to T).
      const float sum =
          warpAllReduce(ru::load(pt0) + ru::load(pt1), [](float a, float c) { return a + c; });
      lRow[r] = lRow[r] * alpha + sum;
      mRow[r] = mNew;
      float* o = sO + (rowBase + r) * L::kLdo;
      for (int c = lane; c < kDP; c += 32) o[c] *= alpha;
    }
    __syncwarp();

    // O += P V for this warp's rows.
    if constexpr (L::kWmma) {
#pragma unroll
      for (int n = 0; n < kDP / 16; ++n) {
        FaAcc acc;
        wmma::load_matrix_sync(acc, sO + rowBase * L::kLdo + n * 16, L::kLdo, wmma::mem_row_major);
        faMmaTile<T, wmma::row_major, kFaKeys / 16>(acc, sP + rowBase * L::kLdp, L::kLdp,
                                                    sV + n * 16, L::kLdt);
        wmma::store_matrix_sync(sO + rowBase * L::kLdo + n * 16, acc, L::kLdo, wmma::mem_row_major);
      }
    } else {
      for (int r = 0; r < 16; ++r) {
        float* o = sO + (rowBase + r) * L::kLdo;
        const T* pr = sP + (rowBase + r) * L::kLdp;
        for (int c = lane; c < kDP; c += 32) {
          float acc = o[c];
          for (int kk = 0; kk < kFaKeys; ++kk)
            acc = fmaf(ru::load(pr[kk]), ru::load(sV[kk * L::kLdt + c]), acc);
          o[c] = acc;
        }
      }
    }
    __syncwarp();
  }
  __syncthreads();  // sO is complete (with no key block at all, other warps zeroed these rows)

  // Y = O / l (0 for a row without any finite score).
#pragma unroll
  for (int r = 0; r < 16; ++r) {
    const int64_t i = q0 + rowBase + r;
    if (i >= p.lq) continue;
    const float inv = lRow[r] > 0.f ? 1.f / lRow[r] : 0.f;
    const float* o = sO + (rowBase + r) * L::kLdo;
    const int64_t base = b * p.y.b + h * p.y.h + i * p.y.i;
    for (int c = lane; c < p.d; c += 32)
      y[base + c] = ru::store<T>(lRow[r] > 0.f ? o[c] * inv : 0.f);
  }
}
// ------------------------------------------------------------------------------------------------
// Flash attention 2 on the tensor cores (tactic "kiln:fa2"; float16 and bfloat16, head sizes 32,
// 64 and 128): one block of 4 warps per (64 queries, query head, batch); warp w owns query rows
// [16w, 16w + 16) of the block. Tiles live in shared memory with rows padded to D + 8 elements
// (16-byte rows whose 8-row groups hit distinct banks for ldmatrix). Q is loaded once (cp.async)
// and kept in registers as mma A fragments; K and V stream through two buffers of 64 keys
// (16-byte cp.async, the next tile loading while the current one is used; rows past Sq / Skv are
// zero-filled by a source size of 0). Per key tile each warp computes S = Q K^T with
// mma.sync.m16n8k16 (float accumulators, K read by ldmatrix), scales it by scale * log2(e), adds
// the mask bias (times log2(e)) and -inf for causal / out-of-range keys, and updates its rows'
// running max m and sum l (online softmax in base 2: each thread owns 2 rows x 16 keys, row
// maxima via quad shuffles, exp2f). P, rounded to the input type, becomes the A operand of P V
// directly (the m16n8k16 accumulator layout of two adjacent 8-key tiles is the A layout of one
// 16-key step); V's B fragments come from ldmatrix.trans. O (16 x D per warp) stays in
// registers and is written once, divided by l, through the output's strides. l sums P as
// rounded (what P V used); a row without a finite score gives 0, as in the WMMA kernel.
// Requirements checked at prepare (else the WMMA kernel runs): D in {32, 64, 128}, every row and
// head / batch stride of Q, K, V and Y a multiple of 8 elements (16 bytes); base pointers are
// checked at enqueue (a misaligned one falls back to the WMMA kernel for that run).
// ------------------------------------------------------------------------------------------------

constexpr int kFa2Rows = 64, kFa2Keys = 64, kFa2Threads = 128;
static_assert(kFa2Rows == kFaRows, "fa2 and WMMA kernels share the grid (64 queries per block)");

__device__ __forceinline__ uint32_t smemAddr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared, asynchronously; valid == false writes 16 zero bytes (nothing read).
__device__ __forceinline__ void cpAsync16(uint32_t dst, const void* src, bool valid) {
  const int n = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(n)
               : "memory");
}
__device__ __forceinline__ void cpAsyncCommit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
// Waits until at most N of this thread's committed groups are still in flight.
template <int N>
__device__ __forceinline__ void cpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// Four 8x8 b16 matrices; lanes 8m..8m+7 give the row addresses of matrix m, r[m] its fragment
// (lane l holds row l/4, columns 2(l%4), 2(l%4)+1; with .trans, column l/4, rows 2(l%4), +1).
__device__ __forceinline__ void ldsm4(uint32_t addr, uint32_t (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr)
               : "memory");
}
__device__ __forceinline__ void ldsm4t(uint32_t addr, uint32_t (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr)
               : "memory");
}

// c += A (16x16, row) * B (16x8, col), float accumulators.
template <typename T>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    static_assert(std::is_same_v<T, __nv_bfloat16>, "float16 or bfloat16");
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// (lo, hi) rounded to T and packed (lo in the low 16 bits); *sum += the rounded values.
template <typename T>
__device__ __forceinline__ uint32_t packRounded(float lo, float hi, float* sum) {
  uint32_t u;
  if constexpr (std::is_same_v<T, __half>) {
    const __half2 h = __floats2half2_rn(lo, hi);
    const float2 f = __half22float2(h);
    *sum += f.x + f.y;
    memcpy(&u, &h, sizeof(u));
  } else {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    const float2 f = __bfloat1622float2(h);
    *sum += f.x + f.y;
    memcpy(&u, &h, sizeof(u));
  }
  return u;
}

template <typename T>
__device__ __forceinline__ void storePair(T* dst, float lo, float hi) {
  if constexpr (std::is_same_v<T, __half>) {
    *reinterpret_cast<__half2*>(dst) = __floats2half2_rn(lo, hi);
  } else {
    *reinterpret_cast<__nv_bfloat162*>(dst) = __floats2bfloat162_rn(lo, hi);
  }
}

// Shared memory of the kernel: Q [64][D+8], K [2][64][D+8], V [2][64][D+8] elements of T.
template <typename T, int kD>
struct Fa2Layout {
  static constexpr int kLd = kD + 8;
  static constexpr int kTile = kFa2Rows * kLd;  // elements
  static constexpr size_t kBytes = size_t{5} * kTile * sizeof(T);
};

template <typename T, int kD>
__global__ void __launch_bounds__(kFa2Threads)
    fa2Kernel(FlashParams p, const T* __restrict__ q, const T* __restrict__ k,
              const T* __restrict__ v, const void* __restrict__ mask, T* __restrict__ y) {
  static_assert(kD == 32 || kD == 64 || kD == 128, "head size");
  using L = Fa2Layout<T, kD>;
  constexpr int kLd = L::kLd, kChunks = kD / 8;  // 16-byte chunks per row
  constexpr float kLog2e = 1.4426950408889634f;
  const float kNegInfF = -__int_as_float(0x7f800000);
  extern __shared__ __align__(128) unsigned char fa2Smem[];
  T* sQ = reinterpret_cast<T*>(fa2Smem);
  T* sK = sQ + L::kTile;      // two buffers
  T* sV = sK + 2 * L::kTile;  // two buffers

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, t4 = lane & 3;  // mma fragment row group / column pair
  const int64_t q0 = static_cast<int64_t>(blockIdx.x) * kFa2Rows;
  const int64_t h = blockIdx.y, b = blockIdx.z, hk = h / p.group;
  const T* qb = q + b * p.q.b + h * p.q.h;
  const T* kb = k + b * p.k.b + hk * p.k.h;
  const T* vb = v + b * p.v.b + hk * p.v.h;

  // Keys [0, kEnd): with is_causal, keys past the block's last query are masked for every row.
  int64_t kEnd = p.lkv;
  if (p.causal && q0 + kFa2Rows < kEnd) kEnd = q0 + kFa2Rows;
  const int nTiles = static_cast<int>((kEnd + kFa2Keys - 1) / kFa2Keys);

  // Group 0: the Q tile (rows past Sq zero).
  for (int c = tid; c < kFa2Rows * kChunks; c += kFa2Threads) {
    const int r = c / kChunks, col = (c % kChunks) * 8;
    const int64_t i = q0 + r;
    const bool in = i < p.lq;
    cpAsync16(smemAddr(sQ + r * kLd + col), in ? qb + i * p.q.i + col : q, in);
  }
  cpAsyncCommit();
  // K and V tile at key k0 into buffer buf (rows past Skv zero), as one group.
  auto loadKV = [&](int64_t k0, int buf) {
    T* dK = sK + buf * L::kTile;
    T* dV = sV + buf * L::kTile;
    for (int c = tid; c < kFa2Keys * kChunks; c += kFa2Threads) {
      const int r = c / kChunks, col = (c % kChunks) * 8;
      const int64_t j = k0 + r;
      const bool in = j < p.lkv;
      cpAsync16(smemAddr(dK + r * kLd + col), in ? kb + j * p.k.i + col : k, in);
      cpAsync16(smemAddr(dV + r * kLd + col), in ? vb + j * p.v.i + col : v, in);
    }
    cpAsyncCommit();
  };
  if (nTiles > 0) loadKV(0, 0);
  if (nTiles > 0) {
    cpAsyncWait<1>();  // Q has landed (tile 0 may still be in flight)
  } else {
    cpAsyncWait<0>();
  }
  __syncthreads();

  // Q A fragments of this warp's 16 rows, per 16-wide step of D.
  uint32_t qf[kD / 16][4];
#pragma unroll
  for (int kk = 0; kk < kD / 16; ++kk)
    ldsm4(smemAddr(sQ + (warp * 16 + (lane & 15)) * kLd + kk * 16 + (lane >> 4) * 8), qf[kk]);

  float o[kD / 8][4];
#pragma unroll
  for (int n = 0; n < kD / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  // This thread's rows: warp row g (index 0) and g + 8 (index 1). Running max (base-2 scaled)
  // and this thread's part of the running sum (its 16 keys of each tile).
  float mRow[2] = {kNegInfF, kNegInfF}, lRow[2] = {0.f, 0.f};
  const int64_t rowI[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8};
  const float scaleL2 = p.scale * kLog2e;
  // Mask element of (row, key j) at maskRow[row] + j (rows past Sq never read it).
  const int64_t maskRow[2] = {b * p.ms[0] + h * p.ms[1] + rowI[0] * p.ms[2],
                              b * p.ms[0] + h * p.ms[1] + rowI[1] * p.ms[2]};

  for (int it = 0; it < nTiles; ++it) {
    const int64_t k0 = static_cast<int64_t>(it) * kFa2Keys;
    if (it + 1 < nTiles) {
      loadKV(k0 + kFa2Keys, (it + 1) & 1);
      cpAsyncWait<1>();  // tile it has landed
    } else {
      cpAsyncWait<0>();
    }
    __syncthreads();
    const T* cK = sK + (it & 1) * L::kTile;
    const T* cV = sV + (it & 1) * L::kTile;

    // S = Q K^T: 8 tiles of 8 keys; s[n][0..1] row g, s[n][2..3] row g + 8, keys 2*t4, 2*t4+1.
    float s[8][4];
#pragma unroll
    for (int n = 0; n < 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < kD / 16; kk += 2) {
#pragma unroll
      for (int n = 0; n < 8; ++n) {
        uint32_t kf[4];  // B fragments of D steps kk (kf[0..1]) and kk + 1 (kf[2..3])
        ldsm4(smemAddr(cK + (n * 8 + (lane & 7)) * kLd + kk * 16 + (lane >> 3) * 8), kf);
        mma16816<T>(s[n], qf[kk], kf[0], kf[1]);
        mma16816<T>(s[n], qf[kk + 1], kf[2], kf[3]);
      }
    }

    // Scale (base 2), mask bias, causal and out-of-range keys.
    const bool tail = k0 + kFa2Keys > p.lkv;
    const bool diag = p.causal && k0 + kFa2Keys - 1 > q0 + warp * 16;
    const bool anyMask = p.mask != FaMask::kNone;
#pragma unroll
    for (int n = 0; n < 8; ++n)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        float z = s[n][c] * scaleL2;
        if (anyMask || tail || diag) {
          const int64_t i = rowI[c >> 1];
          const int64_t j = k0 + n * 8 + 2 * t4 + (c & 1);
          if (j >= p.lkv || (p.causal && j > i) || (anyMask && j >= p.mlen)) {
            z = kNegInfF;
          } else if (anyMask && i < p.lq) {
            z += faMaskAt<T>(p.mask, mask, maskRow[c >> 1] + j) * kLog2e;
          }
        }
        s[n][c] = z;
      }

    // Online softmax per row.
    float mUse[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float mx = kNegInfF;
#pragma unroll
      for (int n = 0; n < 8; ++n) mx = fmaxf(mx, fmaxf(s[n][2 * r], s[n][2 * r + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float mNew = fmaxf(mRow[r], mx);
      // Nothing finite yet: exponents against 0 give P = 0 (and alpha = 0 on O = l = 0).
      mUse[r] = mNew == kNegInfF ? 0.f : mNew;
      const float alpha = exp2f(mRow[r] - mUse[r]);  // 0 when mRow was -inf
      mRow[r] = mNew;
      lRow[r] *= alpha;
#pragma unroll
      for (int n = 0; n < kD / 8; ++n) {
        o[n][2 * r] *= alpha;
        o[n][2 * r + 1] *= alpha;
      }
    }
    // P (rounded to T) as A fragments of 4 steps of 16 keys.
    uint32_t pf[4][4];
#pragma unroll
    for (int kc = 0; kc < 4; ++kc) {
      const float(&s0)[4] = s[2 * kc];
      const float(&s1)[4] = s[2 * kc + 1];
      pf[kc][0] = packRounded<T>(exp2f(s0[0] - mUse[0]), exp2f(s0[1] - mUse[0]), &lRow[0]);
      pf[kc][1] = packRounded<T>(exp2f(s0[2] - mUse[1]), exp2f(s0[3] - mUse[1]), &lRow[1]);
      pf[kc][2] = packRounded<T>(exp2f(s1[0] - mUse[0]), exp2f(s1[1] - mUse[0]), &lRow[0]);
      pf[kc][3] = packRounded<T>(exp2f(s1[2] - mUse[1]), exp2f(s1[3] - mUse[1]), &lRow[1]);
    }

    // O += P V: V's B fragments by ldmatrix.trans, two 8-wide D tiles per load.
#pragma unroll
    for (int kc = 0; kc < 4; ++kc)
#pragma unroll
      for (int n = 0; n < kD / 8; n += 2) {
        uint32_t vf[4];  // b0, b1 of D tile n, then of D tile n + 1
        ldsm4t(smemAddr(cV + (kc * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kLd + n * 8 +
                        (lane >> 4) * 8),
               vf);
        mma16816<T>(o[n], pf[kc], vf[0], vf[1]);
        mma16816<T>(o[n + 1], pf[kc], vf[2], vf[3]);
      }
    __syncthreads();  // every warp is done with this buffer before it is reloaded
  }

  // Y = O / l (0 for a row without a finite score), through Y's strides.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float l = lRow[r];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const int64_t i = rowI[r];
    if (i >= p.lq) continue;
    const float inv = l > 0.f ? 1.f / l : 0.f;
    T* yr = y + b * p.y.b + h * p.y.h + i * p.y.i;
#pragma unroll
    for (int n = 0; n < kD / 8; ++n)
      storePair<T>(yr + n * 8 + 2 * t4, l > 0.f ? o[n][2 * r] * inv : 0.f,
                   l > 0.f ? o[n][2 * r + 1] * inv : 0.f);
  }
}

using FlashLaunchFn = void (*)(const FlashParams&, const LaunchContext&, dim3, size_t);

// The one launch function of the fused kernels (Attention and FusedAttention both give Q, K, V,
// attn_mask? as inputs 0..3 and Y as output 0): the WMMA / float32 kernel, or fa2 (kFa2).
template <typename T, int kDP, bool kFa2>
void launchFlash(const FlashParams& p, const LaunchContext& ctx, dim3 grid, size_t smem) {
  const T* q = static_cast<const T*>(ctx.inputs[0].data);
  const T* k = static_cast<const T*>(ctx.inputs[1].data);
  const T* v = static_cast<const T*>(ctx.inputs[2].data);
  const void* mask = p.mask != FaMask::kNone ? ctx.inputs[3].data : nullptr;
  T* y = static_cast<T*>(ctx.outputs[0].data);
  if constexpr (kFa2) {
    fa2Kernel<T, kDP><<<grid, kFa2Threads, smem, ctx.stream>>>(p, q, k, v, mask, y);
  } else {
    flashAttnKernel<T, kDP><<<grid, kFaThreads, smem, ctx.stream>>>(p, q, k, v, mask, y);
  }
}

// The instantiation for T and the padded head size, its shared memory, and the one-time
// attribute that allows more than 48 KB of it.
struct FlashChoice {
  FlashLaunchFn launch = nullptr;
  size_t smem = 0;
  int kDP = 0;
};

template <typename T, int kDP>
StatusOr<FlashChoice> flashChoiceFor(const DeviceProps& props) {
  FlashChoice c;
  c.launch = &launchFlash<T, kDP, false>;
  c.smem = FaLayout<T, kDP>::kBytes;
  c.kDP = kDP;
  if (c.smem > props.sharedMemPerBlockOptin) return FlashChoice{};
  KILN_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(flashAttnKernel<T, kDP>,
                                                 cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                 static_cast<int>(c.smem)));
  return c;
}

template <typename T>
StatusOr<FlashChoice> flashChoice(int64_t d, const DeviceProps& props) {
  if (d <= 32) return flashChoiceFor<T, 32>(props);
  if (d <= 64) return flashChoiceFor<T, 64>(props);
  return flashChoiceFor<T, 128>(props);
}
// The fa2 instantiation (head size exactly 32, 64 or 128), or none.
template <typename T, int kD>
StatusOr<FlashChoice> fa2ChoiceFor(const DeviceProps& props) {
  FlashChoice c;
  c.launch = &launchFlash<T, kD, true>;
  c.smem = Fa2Layout<T, kD>::kBytes;
  c.kDP = kD;
  if (c.smem > props.sharedMemPerBlockOptin) return FlashChoice{};
  KILN_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(
      fa2Kernel<T, kD>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(c.smem)));
  return c;
}

template <typename T>
StatusOr<FlashChoice> fa2Choice(int64_t d, const DeviceProps& props) {
  if (d == 32) return fa2ChoiceFor<T, 32>(props);
  if (d == 64) return fa2ChoiceFor<T, 64>(props);
  if (d == 128) return fa2ChoiceFor<T, 128>(props);
  return FlashChoice{};
}

// ------------------------------------------------------------------------------------------------
// The layer: Attention (ONNX) and FusedAttention (internal; Q, K, V, Y read and written through
// the strides of their layouts, ir/fused_attention.h) share it. prepare() reads the op's
// geometry into AttnParams (strides of Q, K, V and Y included), then takes the fused path for
// the plain cases (FlashParams; tactics "kiln:fa2" and "kiln:wmma" where fa2 applies), else the
// three-kernel double path.
// ------------------------------------------------------------------------------------------------

// The mask's dims right-aligned into p.mdims, checked against [B, Hq, Sq, keys].
Status readMask(const PrepareContext& ctx, AttnParams& p) {
  const CudaTensor& m = ctx.inputs[3];
  if (m.rank() < 1 || m.rank() > 4) return ctx.error("attn_mask must have rank 1 to 4");
  for (int64_t i = 0; i < m.rank(); ++i) p.mdims[4 - m.rank() + i] = m.dims[static_cast<size_t>(i)];
  const int64_t want[3] = {p.batch, p.hq, p.lq};
  for (size_t i = 0; i < 3; ++i)
    if (p.mdims[i] != 1 && p.mdims[i] != want[i])
      return ctx.error(
          "attn_mask %s cannot be broadcast to [batch=%lld, heads=%lld, q_len=%lld, kv_len]",
          dimsStr(m.dims).c_str(), static_cast<long long>(p.batch), static_cast<long long>(p.hq),
          static_cast<long long>(p.lq));
  if (p.mdims[3] > p.total)
    return ctx.error("attn_mask %s is longer than the %lld keys", dimsStr(m.dims).c_str(),
                     static_cast<long long>(p.total));
  p.maskType = m.dtype;
  p.maskBool = m.dtype == DataType::kBOOL;
  if (!p.maskBool && !isFloatType(m.dtype))
    return ctx.unsupportedHere(strFormat("attn_mask of type %s", dataTypeName(m.dtype)));
  return Status::ok();
}

// ONNX Attention's inputs and attributes.
Status readAttention(const PrepareContext& ctx, AttnParams& p) {
  const CudaTensor& q = ctx.inputs[0];
  const CudaTensor& k = ctx.inputs[1];
  const CudaTensor& v = ctx.inputs[2];
  if ((q.rank() != 3 && q.rank() != 4) || k.rank() != q.rank() || v.rank() != q.rank())
    return ctx.error("Q, K and V must all be 3-D or all 4-D");
  const bool is4d = q.rank() == 4;
  p.batch = q.dims[0];
  if (is4d) {
    p.hq = q.dims[1], p.lq = q.dims[2], p.d = q.dims[3];
    p.hkv = k.dims[1], p.lkv = k.dims[2], p.dv = v.dims[3];
  } else {
    p.hq = ctx.attrs().getInt("q_num_heads", 0), p.hkv = ctx.attrs().getInt("kv_num_heads", 0);
    if (p.hq <= 0 || p.hkv <= 0) return ctx.error("3-D inputs need q_num_heads and kv_num_heads");
    p.lq = q.dims[1], p.lkv = k.dims[1], p.d = q.dims[2] / p.hq, p.dv = v.dims[2] / p.hkv;
  }
  if (p.hkv <= 0 || p.hq % p.hkv != 0)
    return ctx.error("query heads %lld must be a multiple of key/value heads %lld",
                     static_cast<long long>(p.hq), static_cast<long long>(p.hkv));
  p.group = p.hq / p.hkv;
  p.q = headStrides(q, p.hq, p.lq, p.d);
  p.k = headStrides(k, p.hkv, p.lkv, p.d);
  p.v = headStrides(v, p.hkv, p.lkv, p.dv);
  // Y has Q's rank: [B, Hq, Sq, Dv] or [B, Sq, Hq*Dv].
  p.y = is4d ? HeadStrides{p.hq * p.lq * p.dv, p.lq * p.dv, p.dv}
             : HeadStrides{p.lq * p.hq * p.dv, p.dv, p.hq * p.dv};
  p.hasPast = ctx.hasInput(4) && ctx.hasInput(5);
  if (p.hasPast) {
    const CudaTensor& pk = ctx.inputs[4];
    const CudaTensor& pv = ctx.inputs[5];
    if (pk.rank() != 4 || pv.rank() != 4) return ctx.error("past_key and past_value must be 4-D");
    p.lp = pk.dims[2];
    p.pk = headStrides(pk, p.hkv, p.lp, p.d);
    p.pv = headStrides(pv, p.hkv, p.lp, p.dv);
    p.pkType = pk.dtype;
    p.pvType = pv.dtype;
    if (!isFloatType(pk.dtype) || !isFloatType(pv.dtype))
      return ctx.unsupportedHere(strFormat("data type %s for past_key", dataTypeName(pk.dtype)));
  }
  p.total = p.lp + p.lkv;
  p.hasMask = ctx.hasInput(3);
  if (p.hasMask) KILN_RETURN_IF_ERROR(readMask(ctx, p));
  p.hasNonpad = ctx.hasInput(6);
  if (p.hasNonpad) {
    const CudaTensor& np = ctx.inputs[6];
    if (np.dtype != DataType::kINT64) return ctx.error("nonpad_kv_seqlen must be int64");
    if (np.numel() != p.batch)
      return ctx.error("nonpad_kv_seqlen has %lld values, expected one per batch (%lld)",
                       static_cast<long long>(np.numel()), static_cast<long long>(p.batch));
  }
  p.causal = ctx.attrs().getInt("is_causal", 0) != 0;
  p.scale = ctx.attrs().has("scale") ? static_cast<double>(ctx.attrs().getFloat("scale", 1.f))
                                     : 1.0 / std::sqrt(static_cast<double>(p.d));
  p.softcap = ctx.attrs().getFloat("softcap", 0.f);
  p.mode = static_cast<int>(ctx.attrs().getInt("qk_matmul_output_mode", 0));
  p.left = ctx.attrs().getInt("left_window_size", -1);
  p.right = ctx.attrs().getInt("right_window_size", -1);
  return Status::ok();
}

StatusOr<ir::AttnOperand> fusedOperand(const PrepareContext& ctx, size_t index, bool output,
                                       const char* what, const char* layoutAttr, int64_t heads) {
  const std::optional<ir::AttnLayout> l =
      ir::parseAttnLayout(ctx.attrs().getString(layoutAttr, ""));
  if (!l) return ctx.error("%s must be \"BHSD\", \"BSHD\" or \"SBHD\"", layoutAttr);
  const CudaTensor& t = output ? ctx.outputs[index] : ctx.inputs[index];
  std::string why;
  const std::optional<ir::AttnOperand> o = ir::attnOperand(*l, t.dims, heads, &why);
  if (!o)
    return ctx.error("%s %s in layout %s: %s", what, dimsStr(t.dims).c_str(),
                     ir::attnLayoutName(*l), why.c_str());
  return *o;
}

// FusedAttention's operands (through their layouts) and attributes.
Status readFusedAttention(const PrepareContext& ctx, AttnParams& p) {
  if (ctx.inputs.size() < 3 || ctx.inputs.size() > 4 || ctx.outputs.size() != 1)
    return ctx.error("expects inputs (Q, K, V, attn_mask?) and one output");
  p.hq = ctx.attrs().getInt("q_num_heads", 0);
  p.hkv = ctx.attrs().getInt("kv_num_heads", 0);
  if (p.hq <= 0 || p.hkv <= 0 || p.hq % p.hkv != 0)
    return ctx.error("q_num_heads (%lld) must be a positive multiple of kv_num_heads (%lld)",
                     static_cast<long long>(p.hq), static_cast<long long>(p.hkv));
  if (!ctx.attrs().has("scale")) return ctx.error("the scale attribute is required");
  KILN_ASSIGN_OR_RETURN(ir::AttnOperand qo, fusedOperand(ctx, 0, false, "Q", "q_layout", p.hq));
  KILN_ASSIGN_OR_RETURN(ir::AttnOperand ko, fusedOperand(ctx, 1, false, "K", "k_layout", p.hkv));
  KILN_ASSIGN_OR_RETURN(ir::AttnOperand vo, fusedOperand(ctx, 2, false, "V", "v_layout", p.hkv));
  if (ko.b != qo.b || vo.b != qo.b || ko.d != qo.d || vo.s != ko.s)
    return ctx.error("Q %s, K %s and V %s do not agree on batch, head size or key length",
                     dimsStr(ctx.inputs[0].dims).c_str(), dimsStr(ctx.inputs[1].dims).c_str(),
                     dimsStr(ctx.inputs[2].dims).c_str());
  KILN_ASSIGN_OR_RETURN(ir::AttnOperand yo, fusedOperand(ctx, 0, true, "Y", "y_layout", p.hq));
  if (yo.b != qo.b || yo.s != qo.s || yo.d != vo.d)
    return ctx.error("Y %s does not hold [B, Hq, Sq, Dv] = [%lld, %lld, %lld, %lld]",
                     dimsStr(ctx.outputs[0].dims).c_str(), static_cast<long long>(qo.b),
                     static_cast<long long>(p.hq), static_cast<long long>(qo.s),
                     static_cast<long long>(vo.d));
  p.group = p.hq / p.hkv;
  p.batch = qo.b, p.lq = qo.s, p.d = qo.d, p.lkv = ko.s, p.dv = vo.d;
  p.q = HeadStrides{qo.sb, qo.sh, qo.ss};
  p.k = HeadStrides{ko.sb, ko.sh, ko.ss};
  p.v = HeadStrides{vo.sb, vo.sh, vo.ss};
  p.y = HeadStrides{yo.sb, yo.sh, yo.ss};
  p.total = p.lkv;
  p.hasMask = ctx.hasInput(3);
  if (p.hasMask) KILN_RETURN_IF_ERROR(readMask(ctx, p));
  p.causal = ctx.attrs().getInt("is_causal", 0) != 0;
  p.scale = static_cast<double>(ctx.attrs().getFloat("scale", 1.f));
  return Status::ok();
}

// Tactic ids (stable: they are stored in plans and the timing cache).
constexpr const char* kTacticFa2 = "kiln:fa2";
constexpr const char* kTacticWmma = "kiln:wmma";
constexpr const char* kTacticCudnn = "cudnn:sdpa";

bool aligned16(const void* ptr) { return (reinterpret_cast<uintptr_t>(ptr) & 15u) == 0; }

class AttentionKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    if (ctx.inputs.size() < 3 || ctx.outputs.empty())
      return ctx.error("expects at least Q, K, V and one output");
    for (size_t i = 0; i < 3; ++i)
      if (!isFloatType(ctx.inputs[i].dtype))
        return ctx.unsupportedHere(
            strFormat("data type %s for this op", dataTypeName(ctx.inputs[i].dtype)));
    AttnParams p;
    if (ctx.node.op == ir::OpKind::kFusedAttention) {
      KILN_RETURN_IF_ERROR(readFusedAttention(ctx, p));
    } else {
      KILN_RETURN_IF_ERROR(readAttention(ctx, p));
    }
    const CudaTensor& q = ctx.inputs[0];
    const CudaTensor& k = ctx.inputs[1];
    const CudaTensor& v = ctx.inputs[2];
    p.qType = q.dtype, p.kType = k.dtype, p.vType = v.dtype;
    p.yType = ctx.outputs[0].dtype;
    for (size_t i = 0; i < ctx.outputs.size(); ++i)
      if (!isFloatType(ctx.outputs[i].dtype))
        return ctx.unsupportedHere(
            strFormat("output data type %s", dataTypeName(ctx.outputs[i].dtype)));
    if (ctx.outputs.size() > 1) p.presentKType = ctx.outputs[1].dtype;
    if (ctx.outputs.size() > 2) p.presentVType = ctx.outputs[2].dtype;
    if (ctx.outputs.size() > 3) p.qkType = ctx.outputs[3].dtype;
    mP = p;

    // The fused path (FlashParams) when the case is the plain one; else the double path.
    KILN_ASSIGN_OR_RETURN(mFlash, prepareFlash(ctx, p));
    if (mFlash) {
      mWorkspace = mCudnn ? mCudnn->workspaceSize() : 0;  // cudnn:sdpa's plan, when prepared
      return Status::ok();
    }

    // Scores workspace: (b, h) pairs in chunks of at most ~512 MiB of doubles.
    mPairs = p.batch * p.hq;
    const int64_t perPair = p.lq * p.total * static_cast<int64_t>(sizeof(double));
    const int64_t budget = int64_t{512} << 20;
    mChunk = perPair > 0 ? budget / perPair : mPairs;
    if (mChunk < 1) mChunk = 1;
    if (mChunk > mPairs) mChunk = mPairs;
    mWorkspace = static_cast<size_t>(mChunk * perPair);
    mRowGrid = gridCapped(mChunk * p.lq * kThreads, ctx);
    mPresentKN = p.batch * p.hkv * p.total * p.d;
    mPresentVN = p.batch * p.hkv * p.total * p.dv;
    return Status::ok();
  }
  size_t workspaceSize() const override { return mWorkspace; }

  // The fused path's prepared alternatives (mTactics): fa2 (the default where it applies), the
  // WMMA kernel, and cudnn:sdpa when it was built; one tactic (id "") when there is no choice.
  int tacticCount() const override { return hasChoices() ? static_cast<int>(mTactics.size()) : 1; }
  std::string tacticId(int i) const override {
    if (!hasChoices() || i < 0 || i >= static_cast<int>(mTactics.size())) return "";
    return tacticName(mTactics[static_cast<size_t>(i)]);
  }
  Status selectTactic(int i) override {
    if (!hasChoices()) return CudaKernel::selectTactic(i);
    if (i < 0 || i >= static_cast<int>(mTactics.size()))
      return internalError("attention tactic %d of %zu", i, mTactics.size());
    mSel = static_cast<size_t>(i);
    return Status::ok();
  }
  std::string timingKey() const override {
    if (!hasChoices()) return "";
    const FlashParams& f = mFp;
    const std::string key = strFormat(
        "kiln attention %s b%u hq%lld g%lld lq%lld lkv%lld d%lld c%d m%d ms%lld,%lld,%lld,%lld "
        "q%lld,%lld,%lld k%lld,%lld,%lld v%lld,%lld,%lld y%lld,%lld,%lld",
        dataTypeName(mFlashType), mGrid.z, static_cast<long long>(f.hq),
        static_cast<long long>(f.group), static_cast<long long>(f.lq),
        static_cast<long long>(f.lkv), static_cast<long long>(f.d), f.causal ? 1 : 0,
        static_cast<int>(f.mask), static_cast<long long>(f.ms[0]), static_cast<long long>(f.ms[1]),
        static_cast<long long>(f.ms[2]), static_cast<long long>(f.mlen),
        static_cast<long long>(f.q.b), static_cast<long long>(f.q.h), static_cast<long long>(f.q.i),
        static_cast<long long>(f.k.b), static_cast<long long>(f.k.h), static_cast<long long>(f.k.i),
        static_cast<long long>(f.v.b), static_cast<long long>(f.v.h), static_cast<long long>(f.v.i),
        static_cast<long long>(f.y.b), static_cast<long long>(f.y.h),
        static_cast<long long>(f.y.i));
    return key + tacticSet();
  }

  std::string tactic() const override {
    if (!mFlash) return "attention in double (scores, softmax, output kernels)";
    std::string t;
    const Tac tac = current();
    if (tac == Tac::kCudnn && mCudnn) {
      t = strFormat("%s: %s", kTacticCudnn, mCudnn->describe().c_str());
    } else if (tac == Tac::kFa2 && mFa2.launch) {
      t = strFormat("%s: flash attention 2 (mma.sync m16n8k16, float accumulators, D=%d)",
                    kTacticFa2, mFa2.kDP);
    } else {
      t = strFormat("%sfused flash attention (%s, head size padded to %d)",
                    hasChoices() ? "kiln:wmma: " : "",
                    mFlashType == DataType::kFLOAT ? "float32 FMA" : "WMMA, float accumulators",
                    mFlashChoice.kDP);
    }
    // Why cudnn:sdpa was asked for (tuning, or the plan's choice) but does not exist here.
    if (!mCudnnNote.empty())
      t += " [" + std::string(kTacticCudnn) + " unavailable: " + mCudnnNote + "]";
    return t;
  }

  Status enqueue(const LaunchContext& ctx) override {
    if (mFlash) {
      const Tac tac = current();
      const bool aligned = aligned16(ctx.inputs[0].data) && aligned16(ctx.inputs[1].data) &&
                           aligned16(ctx.inputs[2].data) && aligned16(ctx.outputs[0].data);
      const void* mask = mP.hasMask ? ctx.inputs[3].data : nullptr;
      // cudnn:sdpa: its plan promised 16-byte aligned Q, K, V, Y and mask; else fa2 / WMMA.
      if (tac == Tac::kCudnn && mCudnn && aligned && (!mask || aligned16(mask))) {
        KILN_ASSIGN_OR_RETURN(cudnnContext * handle, ctx.libs.cudnn());
        return mCudnn->run(handle, ctx.inputs[0].data, ctx.inputs[1].data, ctx.inputs[2].data, mask,
                           ctx.outputs[0].data, ctx.workspace, ctx.workspaceBytes, ctx.stream);
      }
      // fa2 needs 16-byte aligned operands (strides were checked at prepare); else WMMA.
      if (mFa2.launch && (tac == Tac::kFa2 || tac == Tac::kCudnn) && aligned) {
        mFa2.launch(mFp, ctx, mGrid, mFa2.smem);
        KILN_CUDA_CHECK_LAUNCH("Attention fused kernel (fa2)");
        return Status::ok();
      }
      mFlashChoice.launch(mFp, ctx, mGrid, mFlashChoice.smem);
      KILN_CUDA_CHECK_LAUNCH("Attention fused kernel");
      return Status::ok();
    }
    const AttnParams& p = mP;
    AttnPtrs a{};
    a.q = ctx.inputs[0].data;
    a.k = ctx.inputs[1].data;
    a.v = ctx.inputs[2].data;
    a.mask = p.hasMask ? ctx.inputs[3].data : nullptr;
    a.pastK = p.hasPast ? ctx.inputs[4].data : nullptr;
    a.pastV = p.hasPast ? ctx.inputs[5].data : nullptr;
    a.nonpad = p.hasNonpad ? ctx.inputs[6].as<const int64_t>() : nullptr;
    a.y = ctx.outputs[0].data;
    a.presentK = ctx.outputs.size() > 1 && ctx.outputs[1].present() ? ctx.outputs[1].data : nullptr;
    a.presentV = ctx.outputs.size() > 2 && ctx.outputs[2].present() ? ctx.outputs[2].data : nullptr;
    a.qk = ctx.outputs.size() > 3 && ctx.outputs[3].present() ? ctx.outputs[3].data : nullptr;
    double* ws = static_cast<double*>(ctx.workspace);
    const int64_t tilesM = (p.lq + kTile - 1) / kTile;
    const unsigned gy = static_cast<unsigned>(tilesM < 65535 ? tilesM : 65535);
    // The scores and softmax feed the output and qk_matmul_output: run them when either is
    // wanted (with no output columns, only for qk_matmul_output).
    const bool wantOutput = p.lq > 0 && p.dv > 0;
    const bool wantScores = p.lq > 0 && p.total > 0 && (wantOutput || a.qk);
    if (wantOutput || wantScores) {
      for (int64_t bh0 = 0; bh0 < mPairs; bh0 += mChunk) {
        const int64_t count = mPairs - bh0 < mChunk ? mPairs - bh0 : mChunk;
        const unsigned gz = static_cast<unsigned>(count < 65535 ? count : 65535);
        if (wantScores) {
          const int64_t tilesN = (p.total + kTile - 1) / kTile;
          const dim3 grid(static_cast<unsigned>(tilesN < 65535 ? tilesN : 65535), gy, gz);
          attnScoresKernel<<<grid, kThreads, 0, ctx.stream>>>(p, a, ws, bh0, count);
          KILN_CUDA_CHECK_LAUNCH("Attention scores kernel");
          const int64_t rows = count * p.lq;
          attnSoftmaxKernel<<<static_cast<unsigned>(rows < mRowGrid ? rows : mRowGrid), kThreads, 0,
                              ctx.stream>>>(p, a, ws, bh0, count);
          KILN_CUDA_CHECK_LAUNCH("Attention softmax kernel");
        }
        if (wantOutput) {
          const int64_t tilesN = (p.dv + kTile - 1) / kTile;
          const dim3 grid(static_cast<unsigned>(tilesN < 65535 ? tilesN : 65535), gy, gz);
          attnOutputKernel<<<grid, kThreads, 0, ctx.stream>>>(p, a, ws, bh0, count);
          KILN_CUDA_CHECK_LAUNCH("Attention output kernel");
        }
      }
    }
    if (a.presentK && mPresentKN > 0) {
      attnPresentKernel<<<gridFor(mPresentKN, kThreads, &ctx.libs.props()), kThreads, 0,
                          ctx.stream>>>(p, a, false, mPresentKN);
      KILN_CUDA_CHECK_LAUNCH("Attention present_key kernel");
    }
    if (a.presentV && mPresentVN > 0) {
      attnPresentKernel<<<gridFor(mPresentVN, kThreads, &ctx.libs.props()), kThreads, 0,
                          ctx.stream>>>(p, a, true, mPresentVN);
      KILN_CUDA_CHECK_LAUNCH("Attention present_value kernel");
    }
    return Status::ok();
  }

 private:
  // Decides the fused path: float16/bfloat16/float32 Q, K, V and Y of one type, head sizes equal
  // and <= 128, no past/nonpad/softcap/sliding window, only the Y output, mask absent, bool,
  // float32 or Q's type (broadcast over B, H, Sq through zero strides), grid within limits and
  // the shared memory available. Sets the kernels' one-time shared-memory attributes. fa2 is
  // prepared too where it applies (float16/bfloat16, D in {32, 64, 128}, strides of Q, K, V and
  // Y multiples of 8 elements).
  StatusOr<bool> prepareFlash(const PrepareContext& ctx, const AttnParams& p) {
    mFa2 = FlashChoice{};
    mTactics.clear();
    mSel = 0;
    mCudnn.reset();
    mCudnnNote.clear();
    const DataType t = p.qType;
    if (t != DataType::kHALF && t != DataType::kBF16 && t != DataType::kFLOAT) return false;
    if (p.kType != t || p.vType != t || p.yType != t || ctx.outputs.size() != 1) return false;
    if (p.hasPast || p.hasNonpad || p.softcap > 0 || p.softcap < 0 || p.mode != 0 || p.left >= 0 ||
        p.right >= 0)
      return false;
    if (p.d != p.dv || p.d < 1 || p.d > kFaMaxD || p.lq < 1 || p.batch < 1 || p.hq < 1 ||
        p.batch > 65535 || p.hq > 65535 || (p.lq + kFaRows - 1) / kFaRows > INT_MAX)
      return false;
    FlashParams f;
    if (p.hasMask) {
      if (p.maskBool)
        f.mask = FaMask::kBool;
      else if (p.maskType == DataType::kFLOAT)
        f.mask = FaMask::kFloat32;
      else if (p.maskType == t)
        f.mask = FaMask::kSameAsQ;
      else
        return false;
      const int64_t* m = p.mdims;
      f.ms[0] = m[0] == 1 ? 0 : m[1] * m[2] * m[3];
      f.ms[1] = m[1] == 1 ? 0 : m[2] * m[3];
      f.ms[2] = m[2] == 1 ? 0 : m[3];
      f.mlen = m[3];
    }
    f.lq = p.lq, f.lkv = p.lkv, f.d = p.d, f.hq = p.hq, f.group = p.group;
    f.q = p.q, f.k = p.k, f.v = p.v, f.y = p.y;
    f.causal = p.causal;
    f.scale = static_cast<float>(p.scale);
    const DeviceProps& props = ctx.libs.props();
    FlashChoice c;
    switch (t) {
      case DataType::kHALF: {
        KILN_ASSIGN_OR_RETURN(c, flashChoice<__half>(p.d, props));
        break;
      }
      case DataType::kBF16: {
        KILN_ASSIGN_OR_RETURN(c, flashChoice<__nv_bfloat16>(p.d, props));
        break;
      }
      default: {
        KILN_ASSIGN_OR_RETURN(c, flashChoice<float>(p.d, props));
        break;
      }
    }
    if (!c.launch) return false;  // not enough shared memory on this GPU
    if (kFa2Enabled && t != DataType::kFLOAT && fa2Strides(p)) {
      if (t == DataType::kHALF) {
        KILN_ASSIGN_OR_RETURN(mFa2, fa2Choice<__half>(p.d, props));
      } else {
        KILN_ASSIGN_OR_RETURN(mFa2, fa2Choice<__nv_bfloat16>(p.d, props));
      }
    }
    mFp = f;
    mFlashChoice = c;
    mFlashType = t;
    mGrid = dim3(static_cast<unsigned>((p.lq + kFaRows - 1) / kFaRows), static_cast<unsigned>(p.hq),
                 static_cast<unsigned>(p.batch));
    if (mFa2.launch) mTactics.push_back(Tac::kFa2);  // the default where it applies
    mTactics.push_back(Tac::kWmma);
    prepareCudnn(ctx, p);
    return true;
  }

  // Why cudnn:sdpa cannot express this layer ("" when it can): float16/bfloat16 (the fused path
  // already has equal types and D = Dv), D a multiple of 8, strides of 16 bytes as fa2, and no
  // mask or an additive float mask (float32 or Q's type) over all the keys (the frontend's bias
  // input; a bool mask or a shorter one has no frontend form).
  static std::string cudnnIneligible(const AttnParams& p) {
    if (p.qType != DataType::kHALF && p.qType != DataType::kBF16)
      return strFormat("data type %s", dataTypeName(p.qType));
    if (p.d % 8 != 0)
      return strFormat("head size %lld is not a multiple of 8", static_cast<long long>(p.d));
    if (!fa2Strides(p)) return "strides of Q, K, V or Y not multiples of 8 elements";
    if (p.hasMask) {
      if (p.maskBool) return "bool attn_mask";
      if (p.maskType != DataType::kFLOAT && p.maskType != p.qType)
        return strFormat("attn_mask of type %s", dataTypeName(p.maskType));
      if (p.mdims[3] != p.lkv) return "attn_mask shorter than the keys";
    }
    return "";
  }

  // cudnn:sdpa's plan, built (slow: cuDNN may compile the engine) only when the builder times
  // every alternative or the plan chose it. Any failure leaves the tactic out, with the reason in
  // mCudnnNote (shown by tactic()); never an error of the layer. The plan's choice becomes the
  // selected tactic.
  void prepareCudnn(const PrepareContext& ctx, const AttnParams& p) {
    if (!kCudnnSdpaEnabled || !(ctx.tuning || ctx.tacticFromPlan() == kTacticCudnn)) return;
    std::string why = cudnnIneligible(p);
    if (why.empty()) why = cudnnSdpaUnavailableReason(ctx.libs.props());
    if (why.empty()) {
      StatusOr<cudnnContext*> handle = ctx.libs.cudnn();
      if (!handle.isOk()) {
        why = handle.status().message();
      } else {
        SdpaProblem sp;
        sp.dtype = p.qType;
        sp.batch = p.batch, sp.hq = p.hq, sp.hkv = p.hkv, sp.sq = p.lq, sp.skv = p.lkv;
        sp.d = p.d;
        const HeadStrides* src[4] = {&p.q, &p.k, &p.v, &p.y};
        int64_t* dst[4] = {sp.q, sp.k, sp.v, sp.o};
        for (size_t i = 0; i < 4; ++i) {
          dst[i][0] = src[i]->b;
          dst[i][1] = src[i]->h;
          dst[i][2] = src[i]->i;
        }
        sp.scale = static_cast<float>(p.scale);
        sp.causal = p.causal;
        sp.hasBias = p.hasMask;
        sp.biasType = p.maskType;
        for (size_t i = 0; i < 3; ++i) sp.biasDims[i] = p.mdims[i];
        auto sdpa = std::make_unique<CudnnSdpa>();
        const Status st = sdpa->build(*handle, sp, ctx.node.describe());
        if (st.isOk()) {
          mCudnn = std::move(sdpa);
          mTactics.push_back(Tac::kCudnn);
          if (!ctx.tuning) mSel = mTactics.size() - 1;
          return;
        }
        why = st.message();
      }
    }
    mCudnnNote = why.size() > 600 ? why.substr(0, 600) + "..." : why;
  }

  enum class Tac { kFa2, kWmma, kCudnn };
  static const char* tacticName(Tac t) {
    return t == Tac::kFa2 ? kTacticFa2 : t == Tac::kWmma ? kTacticWmma : kTacticCudnn;
  }
  bool hasChoices() const { return mFlash && mTactics.size() > 1; }
  // " tactics=kiln:fa2,kiln:wmma,cudnn:sdpa": part of the timing key, so that a cache entry
  // timed without cudnn:sdpa is not reused where it is now offered.
  std::string tacticSet() const {
    std::string s = " tactics=";
    for (size_t i = 0; i < mTactics.size(); ++i) {
      if (i > 0) s.push_back(',');
      s.append(tacticName(mTactics[i]));
    }
    return s;
  }
  Tac current() const { return mSel < mTactics.size() ? mTactics[mSel] : Tac::kWmma; }

  // Every stride of Q, K, V and Y a multiple of 8 elements (16 bytes of float16/bfloat16).
  static bool fa2Strides(const AttnParams& p) {
    const HeadStrides* all[4] = {&p.q, &p.k, &p.v, &p.y};
    for (const HeadStrides* s : all)
      if (s->b % 8 != 0 || s->h % 8 != 0 || s->i % 8 != 0) return false;
    return true;
  }

  AttnParams mP;
  int64_t mPairs = 0, mChunk = 1, mPresentKN = 0, mPresentVN = 0;
  size_t mWorkspace = 0;
  int mRowGrid = 1;
  bool mFlash = false;
  FlashParams mFp;
  FlashChoice mFlashChoice;           // the WMMA (float32: FMA) kernel
  FlashChoice mFa2;                   // fa2, when it applies (launch set)
  std::vector<Tac> mTactics;          // the fused path's prepared alternatives, the default first
  size_t mSel = 0;                    // the selected one
  std::unique_ptr<CudnnSdpa> mCudnn;  // cudnn:sdpa's plan, when prepared
  std::string mCudnnNote;             // why cudnn:sdpa was asked for but is not there
  DataType mFlashType = DataType::kFLOAT;
  dim3 mGrid;
};

template <typename K>
StatusOr<std::unique_ptr<CudaKernel>> makeKernel(const ir::Node&) {
  return std::unique_ptr<CudaKernel>(new K());
}

}  // namespace

void registerAttentionKernels(CudaKernelTable& t) {
  t[static_cast<size_t>(ir::OpKind::kAttention)] = &makeKernel<AttentionKernel>;
  t[static_cast<size_t>(ir::OpKind::kFusedAttention)] = &makeKernel<AttentionKernel>;
}

}  // namespace kiln::cuda
