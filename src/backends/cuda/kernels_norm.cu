// CUDA kernels for the Norm family (see ops.def): BatchNormalization (inference form),
// LayerNormalization (with the optional Mean / InvStdDev outputs), RMSNormalization,
// InstanceNormalization, GroupNormalization, MeanVarianceNormalization, Softmax, LogSoftmax,
// Hardmax, LpNormalization, LRN. The CPU kernels are the oracle (backends/cpu/kernels_norm.cpp;
// Hardmax, LpNormalization, MVN and LRN in kernels_indexing.cpp; RMSNormalization in
// kernels_transformer_quant.cpp). Softmax/LogSoftmax/Hardmax have opset-13 semantics here: the
// ONNX importer rewrites older opsets' 2-D coercion into Flatten + op(axis=-1) + Reshape.
//
// Row ops (everything but BatchNorm and LRN) give each row a group of lanes (1..32 lanes of a
// warp for short rows, a whole block for long ones; reduce_util.cuh) that reduces the row's
// statistics with shuffles and writes the row; rows along a strided axis get one lane each so
// neighbouring lanes read neighbouring columns. Statistics are two-pass (mean, then the squared
// deviations) and numerically stable (softmax subtracts the max). float32/float64 accumulate in
// double and float16/bfloat16 in float, rounding once at the store.
//
// LayerNormalization, RMSNormalization, Softmax and LogSoftmax over contiguous rows of up to 8192
// float32/float16/bfloat16 elements take a register-resident fast path instead (read once,
// float32 math; see "Register-resident row fast path" below).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/reduce_util.cuh"

namespace kiln::cuda {

namespace {

using ru::load;
using ru::Num;
using ru::ParamRef;
using ru::RowIndex;
using ru::store;

int64_t product(const std::vector<int64_t>& d, size_t from, size_t to) {
  int64_t n = 1;
  for (size_t i = from; i < to; ++i) n *= d[i];
  return n;
}

bool normalizeAxis(int64_t& axis, int64_t rank) {
  if (axis < -rank || axis >= rank) return false;
  if (axis < 0) axis += rank;
  return true;
}

template <typename T>
bool vecFits(int64_t len) {
  return len % ru::vecWidth<T>() == 0;
}

size_t vecWidthOf(DataType t) { return 16 / dataTypeSize(t); }

// Calls f(T{}) for the storage type of a float dtype.
template <typename F>
Status dispatchFloat(DataType t, const LaunchContext& ctx, F&& f) {
  switch (t) {
    case DataType::kFLOAT: return f(float{});
    case DataType::kDOUBLE: return f(double{});
    case DataType::kHALF: return f(__half{});
    case DataType::kBF16: return f(__nv_bfloat16{});
    default: return unsupported("%s: data type %s", ctx.node.describe().c_str(), dataTypeName(t));
  }
}

Status requireFloat(const PrepareContext& ctx, DataType t) {
  if (!ru::isFloatType(t))
    return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(t)));
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Parameters broadcast (right-aligned) to a normalized block X.shape[axis:]: the element of the
// parameter used at position j of the block.

struct ParamIndex {
  int mode = 0;  // 0: same shape (j), 1: one value (0), 2: general broadcast
  int rank = 0;
  int64_t dims[ru::kMaxDims] = {}, strides[ru::kMaxDims] = {};
  __device__ __forceinline__ int64_t operator()(int64_t j) const {
    if (mode == 0) return j;
    if (mode == 1) return 0;
    int64_t at = 0;
    for (int d = rank - 1; d >= 0; --d) {
      at += (j % dims[d]) * strides[d];
      j /= dims[d];
    }
    return at;
  }
};

StatusOr<ParamIndex> paramIndexFor(const PrepareContext& ctx, const std::vector<int64_t>& block,
                                   const std::vector<int64_t>& p, const char* what) {
  if (p.size() > block.size())
    return ctx.error("%s has a higher rank than the normalized shape", what);
  const size_t off = block.size() - p.size();
  std::vector<int64_t> stride(block.size(), 0);
  int64_t s = 1;
  for (size_t i = p.size(); i-- > 0;) {
    if (p[i] != 1 && p[i] != block[off + i])
      return ctx.error("%s of shape %s cannot be broadcast to the normalized shape %s", what,
                       ir::dimsToString(p).c_str(), ir::dimsToString(block).c_str());
    stride[off + i] = p[i] == 1 ? 0 : s;
    s *= p[i];
  }
  ParamIndex pi;
  const int64_t pn = product(p, 0, p.size()), bn = product(block, 0, block.size());
  if (pn == bn) {
    pi.mode = 0;  // every non-1 dim matches and the broadcast block dims are 1: index j itself
  } else if (pn == 1) {
    pi.mode = 1;
  } else {
    if (block.size() > static_cast<size_t>(ru::kMaxDims))
      return ctx.unsupportedHere(
          strFormat("%s broadcast over more than %d dims", what, ru::kMaxDims));
    pi.mode = 2;
    pi.rank = static_cast<int>(block.size());
    for (size_t d = 0; d < block.size(); ++d) {
      pi.dims[d] = block[d];
      pi.strides[d] = stride[d];
    }
  }
  return pi;
}

// ---------------------------------------------------------------------------------------------
// Register-resident row fast path (LayerNormalization, RMSNormalization, Softmax, LogSoftmax):
// contiguous rows of 1..kFastMaxLen float32/float16/bfloat16 elements. Each row is read from
// global memory once into registers (chunks of V elements: V = 16 / sizeof(T) with 16-byte
// loads when the row length is a multiple of V and the pointers are 16-byte aligned, else V = 1),
// its statistics are reduced from the registers (LayerNorm: two passes, mean then the squared
// deviations), and it is written once. A row gets `group` threads (a power of two): part of a
// warp for short rows (several rows per 128-thread block), a whole block (64..1024 threads) for
// long ones; every thread holds kIters chunks, chunk c = i * group + lane (coalesced). Math and
// accumulation in float32 (float64 keeps the general path).

// Off: every row op takes the general path below (kept for comparison and as a fallback).
constexpr bool kEnableRowFastPath = true;
constexpr int64_t kFastMaxLen = 8192;
constexpr int kFastMinBlock = 128;  // threads per block when a row needs fewer
constexpr int kFastMaxIters = 8;

struct FastCfg {
  bool ok = false;
  int group = 0;  // threads per row: a power of two in [1, 1024]
  int iters = 0;  // chunks per thread: 1, 2, 4 or 8
  int block = 0;  // threads per block: group when > 32, else kFastMinBlock
  int grid = 0;
};

// Rows of `len` elements read in chunks of `v` (v divides len).
FastCfg chooseFastCfg(int64_t len, int v, int64_t rows) {
  FastCfg c;
  if (len < 1 || len > kFastMaxLen || rows < 1 || v < 1 || len % v != 0) return c;
  const int64_t chunks = len / v;
  if (chunks <= 32) {
    c.group = ru::nextPow2(chunks);
    c.iters = 1;
  } else if (chunks <= 32 * kFastMaxIters) {
    c.group = 32;
    c.iters = ru::nextPow2((chunks + 31) / 32);
  } else {
    c.group = std::max(64, ru::nextPow2((chunks + kFastMaxIters - 1) / kFastMaxIters));
    if (c.group > 1024) return c;
    c.iters = ru::nextPow2((chunks + c.group - 1) / c.group);
  }
  if (c.iters > kFastMaxIters || static_cast<int64_t>(c.group) * c.iters < chunks) return c;
  // A group of more than a warp is the whole block (the block-wide reduction).
  c.block = c.group > 32 ? c.group : kFastMinBlock;
  const int64_t rowsPerBlock = c.block / c.group;
  const int64_t grid = (rows + rowsPerBlock - 1) / rowsPerBlock;
  if (grid > 0x7fffffff) return c;
  c.grid = static_cast<int>(grid);
  c.ok = true;
  return c;
}

bool fastType(DataType t) {
  return t == DataType::kFLOAT || t == DataType::kHALF || t == DataType::kBF16;
}

template <typename T, int V>
__device__ __forceinline__ void loadChunk(const T* p, T (&e)[V]) {
  if constexpr (V == 1) {
    e[0] = p[0];
  } else {
    ru::loadVec(p, e);
  }
}
template <typename T, int V>
__device__ __forceinline__ void storeChunk(T* p, const T (&e)[V]) {
  if constexpr (V == 1) {
    p[0] = e[0];
  } else {
    ru::storeVec(p, e);
  }
}

// The calling thread's row (rowsPerBlock = blockDim.x / group rows per block), its lane in the
// row's group, its number of V-element chunks (0 for a row past the last) and the row's offset
// (0 for a row past the last). loadFastRow loads the thread's chunks of the row into e (chunks
// past the row's end, and every chunk of a row past the last, are zero and never used).
struct FastRow {
  int64_t row;
  int lane;
  bool valid;
  int chunks;
  int64_t base;
};

template <int V>
__device__ __forceinline__ FastRow fastRow(int group, int64_t rows, int len) {
  FastRow r;
  r.lane = static_cast<int>(threadIdx.x) & (group - 1);
  r.row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / group) + threadIdx.x / group;
  r.valid = r.row < rows;
  r.chunks = r.valid ? len / V : 0;
  r.base = (r.valid ? r.row : 0) * static_cast<int64_t>(len);
  return r;
}

template <typename T, int V, int kIters>
__device__ __forceinline__ void loadFastRow(const T* xr, int chunks, int lane, int group,
                                            T (&e)[kIters][V]) {
#pragma unroll
  for (int i = 0; i < kIters; ++i) {
    const int c = i * group + lane;
    if (c < chunks) {
      loadChunk<T, V>(xr + static_cast<int64_t>(c) * V, e[i]);
    } else {
#pragma unroll
      for (int t = 0; t < V; ++t) e[i][t] = store<T>(0.0f);
    }
  }
}

struct FastIdentity {
  __device__ __forceinline__ float operator()(float x) const { return x; }
};

// acc = f(acc, g(x)) over the thread's loaded elements x of the row (chunks past its end skipped).
template <typename T, int V, int kIters, typename G, typename F>
__device__ __forceinline__ float foldFastRow(const T (&e)[kIters][V], const FastRow& r, int group,
                                             float acc, G g, F f) {
#pragma unroll
  for (int i = 0; i < kIters; ++i) {
    if (i * group + r.lane < r.chunks) {
#pragma unroll
      for (int t = 0; t < V; ++t) acc = f(acc, g(load(e[i][t])));
    }
  }
  return acc;
}

// For each of the thread's chunks of the row (at = its first element): f(at, x, o) turns the
// loaded chunk x into the output chunk o, stored at yr + at.
template <typename T, int V, int kIters, typename F>
__device__ __forceinline__ void storeFastRow(T* yr, const T (&e)[kIters][V], const FastRow& r,
                                             int group, F f) {
#pragma unroll
  for (int i = 0; i < kIters; ++i) {
    const int c = i * group + r.lane;
    if (c >= r.chunks) continue;
    const int64_t at = static_cast<int64_t>(c) * V;
    T o[V];
    f(at, e[i], o);
    storeChunk<T, V>(yr + at, o);
  }
}

// f over the row's group: shuffles within a warp (group <= 32), the whole block beyond (group ==
// blockDim.x). `group` is uniform over the block, so every thread takes the same branch.
template <typename F>
__device__ __forceinline__ float fastAllReduce(float v, int group, F f) {
  if (group <= 32) return ru::groupAllReduce(v, group, f);
  return ru::blockAllReduce(v, f);
}

template <typename T>
struct FastNormArgs {
  const T* x;
  T* y;
  const T* scale;  // [len], X's type
  const T* bias;   // [len] or null
  int64_t rows;
  int len, group;
  float eps;
  bool rms;
};

// LayerNormalization: y = (x - mean) / sqrt(var + eps) * scale + bias (two-pass variance);
// RMSNormalization: the same with mean = 0 and no bias (var = mean(x^2)).
template <typename T, int V, int kIters>
__global__ void __launch_bounds__(1024) fastNormRowsKernel(const FastNormArgs<T> a) {
  const FastRow r = fastRow<V>(a.group, a.rows, a.len);
  T e[kIters][V];
  loadFastRow<T, V, kIters>(a.x + r.base, r.chunks, r.lane, a.group, e);
  const float n = static_cast<float>(a.len);
  float mean = 0.0f;
  if (!a.rms) {
    const float s = foldFastRow(e, r, a.group, 0.0f, FastIdentity{}, ru::Add{});
    mean = fastAllReduce(s, a.group, ru::Add{}) / n;
  }
  const auto sq = [mean](float x) {
    const float d = x - mean;
    return d * d;
  };
  float q = foldFastRow(e, r, a.group, 0.0f, sq, ru::Add{});
  q = fastAllReduce(q, a.group, ru::Add{});
  if (!r.valid) return;  // no barrier follows
  const float invStd = 1.0f / sqrtf(q / n + a.eps);
  storeFastRow(a.y + r.base, e, r, a.group, [&](int64_t at, const T(&x)[V], T(&o)[V]) {
    T sc[V], bi[V];
    loadChunk<T, V>(a.scale + at, sc);
    if (a.bias) loadChunk<T, V>(a.bias + at, bi);
#pragma unroll
    for (int t = 0; t < V; ++t) {
      float v = (load(x[t]) - mean) * invStd * load(sc[t]);
      if (a.bias) v += load(bi[t]);
      o[t] = store<T>(v);
    }
  });
}

template <typename T>
struct FastSoftmaxArgs {
  const T* x;
  T* y;
  int64_t rows;
  int len, group;
  bool log;
};

// softmax = exp(x - max) / sum exp(x - max); log-softmax = x - max - log(sum). The max ignores
// NaN like the general path (a NaN then makes the sum, and the row, NaN).
template <typename T, int V, int kIters>
__global__ void __launch_bounds__(1024) fastSoftmaxRowsKernel(const FastSoftmaxArgs<T> a) {
  const FastRow r = fastRow<V>(a.group, a.rows, a.len);
  T e[kIters][V];
  loadFastRow<T, V, kIters>(a.x + r.base, r.chunks, r.lane, a.group, e);
  float mx = foldFastRow(e, r, a.group, -ru::posInf<float>(), FastIdentity{}, ru::MaxIgnoreNan{});
  mx = fastAllReduce(mx, a.group, ru::MaxIgnoreNan{});
  const auto shiftedExp = [mx](float x) { return expf(x - mx); };
  float s = foldFastRow(e, r, a.group, 0.0f, shiftedExp, ru::Add{});
  s = fastAllReduce(s, a.group, ru::Add{});
  if (!r.valid) return;  // no barrier follows
  const float logSum = logf(s);
  const float inv = 1.0f / s;  // one division per row
  storeFastRow(a.y + r.base, e, r, a.group, [&](int64_t, const T(&x)[V], T(&o)[V]) {
#pragma unroll
    for (int t = 0; t < V; ++t) {
      const float v = load(x[t]);
      o[t] = store<T>(a.log ? (v - mx) - logSum : expf(v - mx) * inv);
    }
  });
}

// Launches kernel K<T, V, iters> (iters 1/2/4/8 from cfg).
template <typename T, int V, template <typename, int, int> class Launch, typename Args>
Status launchFast(const Args& a, const FastCfg& cfg, cudaStream_t stream) {
  switch (cfg.iters) {
    case 1: Launch<T, V, 1>::run(a, cfg, stream); break;
    case 2: Launch<T, V, 2>::run(a, cfg, stream); break;
    case 4: Launch<T, V, 4>::run(a, cfg, stream); break;
    case 8: Launch<T, V, 8>::run(a, cfg, stream); break;
    default: return internalError("row fast path: bad iteration count %d", cfg.iters);
  }
  KILN_CUDA_CHECK_LAUNCH("row kernel launch");
  return Status::ok();
}

template <typename T, int V, int kIters>
struct NormLaunch {
  static void run(const FastNormArgs<T>& a, const FastCfg& c, cudaStream_t s) {
    fastNormRowsKernel<T, V, kIters><<<c.grid, c.block, 0, s>>>(a);
  }
};
template <typename T, int V, int kIters>
struct SoftmaxLaunch {
  static void run(const FastSoftmaxArgs<T>& a, const FastCfg& c, cudaStream_t s) {
    fastSoftmaxRowsKernel<T, V, kIters><<<c.grid, c.block, 0, s>>>(a);
  }
};

// The two configurations of a fast-path op (16-byte chunks and scalar), chosen at prepare; the
// pointers' alignment picks one at enqueue.
struct FastPlan {
  bool enabled = false;
  FastCfg vec, scalar;
  void prepare(bool eligible, DataType t, int64_t len, int64_t rows) {
    enabled = false;
    vec = FastCfg{};
    scalar = FastCfg{};
    if (!eligible || !fastType(t)) return;
    const int v = static_cast<int>(vecWidthOf(t));
    vec = chooseFastCfg(len, v, rows);
    scalar = chooseFastCfg(len, 1, rows);
    enabled = scalar.ok;
  }
};

template <typename T>
Status launchFastSoftmax(const FastPlan& plan, const T* x, T* y, int64_t rows, int64_t len,
                         bool log, cudaStream_t stream) {
  FastSoftmaxArgs<T> a{x, y, rows, static_cast<int>(len), 0, log};
  if (plan.vec.ok && ru::aligned16(x) && ru::aligned16(y)) {
    a.group = plan.vec.group;
    return launchFast<T, ru::vecWidth<T>(), SoftmaxLaunch>(a, plan.vec, stream);
  }
  a.group = plan.scalar.group;
  return launchFast<T, 1, SoftmaxLaunch>(a, plan.scalar, stream);
}

template <typename T>
Status launchFastNorm(const FastPlan& plan, FastNormArgs<T> a, cudaStream_t stream) {
  if (plan.vec.ok && ru::aligned16(a.x) && ru::aligned16(a.y) && ru::aligned16(a.scale) &&
      (!a.bias || ru::aligned16(a.bias))) {
    a.group = plan.vec.group;
    return launchFast<T, ru::vecWidth<T>(), NormLaunch>(a, plan.vec, stream);
  }
  a.group = plan.scalar.group;
  return launchFast<T, 1, NormLaunch>(a, plan.scalar, stream);
}

// ---------------------------------------------------------------------------------------------
// Softmax, LogSoftmax, Hardmax, LpNormalization: rows along `axis` of an [outer, len, inner] view.

enum class AxisOp : int { kSoftmax, kLogSoftmax, kHardmax, kLp1, kLp2 };

template <typename T>
struct AxisBody {
  const T* x;
  T* y;
  RowIndex ri;
  bool vec;
  AxisOp op;

  template <typename G>
  __device__ __forceinline__ void operator()(int64_t row, bool active, const G& g) const {
    using M = typename Num<T>::M;
    using A = typename Num<T>::A;
    const int64_t base = ri.base(row);
    const int64_t len = ri.len;
    if (op == AxisOp::kSoftmax || op == AxisOp::kLogSoftmax) {
      // softmax = exp(x - max) / sum exp(x - max); log-softmax = x - max - log(sum). The max
      // ignores NaN like the CPU's std::max (a NaN then makes the sum, and the row, NaN).
      M mx = -ru::posInf<M>();
      ru::forRow(x, ri, base, 0, len, vec, g,
                 [&](int64_t, T v) { mx = ru::MaxIgnoreNan{}(mx, load(v)); });
      mx = g.allReduce(mx, ru::MaxIgnoreNan{});
      A sum = 0;
      ru::forRow(x, ri, base, 0, len, vec, g,
                 [&](int64_t, T v) { sum += static_cast<A>(ru::mexp(load(v) - mx)); });
      sum = g.allReduce(sum, ru::Add{});
      if (!active) return;
      if (op == AxisOp::kLogSoftmax) {
        const A logSum = ru::mlog(sum);
        const A m = static_cast<A>(mx);
        ru::mapRow(x, y, ri, base, vec, g,
                   [&](int64_t, T v) { return store<T>(static_cast<A>(load(v)) - m - logSum); });
      } else {
        const A inv = A(1) / sum;  // one division per row; x * (1/s) is within an ulp of x / s
        ru::mapRow(x, y, ri, base, vec, g, [&](int64_t, T v) {
          return store<T>(static_cast<A>(ru::mexp(load(v) - mx)) * inv);
        });
      }
    } else if (op == AxisOp::kHardmax) {
      // 1 at the first maximum (a NaN counts as the maximum, the first NaN wins), 0 elsewhere.
      using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
      ru::ArgPair<C> best{C(0), -1};
      ru::forRow(x, ri, base, 0, len, vec, g, [&](int64_t k, T v) {
        best = ru::argCombine(best, ru::ArgPair<C>{static_cast<C>(load(v)), k}, true, false);
      });
      best = g.allReduce(best, [](ru::ArgPair<C> a, ru::ArgPair<C> b) {
        return ru::argCombine(a, b, true, false);
      });
      if (!active) return;
      const int64_t at = best.i;
      ru::mapRow(x, y, ri, base, vec, g,
                 [&](int64_t k, T) { return store<T>(k == at ? 1.0f : 0.0f); });
    } else {
      // y = x / ||x||_p (p = 1 or 2); an all-zero row stays 0 (no 0/0).
      const bool l1 = op == AxisOp::kLp1;
      A acc = 0;
      ru::forRow(x, ri, base, 0, len, vec, g, [&](int64_t, T v) {
        const A e = static_cast<A>(load(v));
        acc += l1 ? (e < A(0) ? -e : e) : e * e;
      });
      acc = g.allReduce(acc, ru::Add{});
      if (!active) return;
      const A norm = l1 ? acc : ru::msqrt(acc);
      const A inv = norm == A(0) ? A(0) : A(1) / norm;
      ru::mapRow(x, y, ri, base, vec, g,
                 [&](int64_t, T v) { return store<T>(static_cast<A>(load(v)) * inv); });
    }
  }
};

class AxisNormKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& x = ctx.inputs[0];
    mDtype = x.dtype;
    KILN_RETURN_IF_ERROR(requireFloat(ctx, mDtype));
    switch (ctx.node.op) {
      case ir::OpKind::kSoftmax: mOp = AxisOp::kSoftmax; break;
      case ir::OpKind::kLogSoftmax: mOp = AxisOp::kLogSoftmax; break;
      case ir::OpKind::kHardmax: mOp = AxisOp::kHardmax; break;
      default: {
        const int64_t p = ctx.attrs().getInt("p", 2);
        if (p != 1 && p != 2)
          return ctx.error("p must be 1 or 2, got %lld", static_cast<long long>(p));
        mOp = p == 1 ? AxisOp::kLp1 : AxisOp::kLp2;
      }
    }
    int64_t axis = ctx.attrs().getInt("axis", -1);
    if (!normalizeAxis(axis, x.rank()))
      return ctx.error("axis %lld is out of range for input of shape %s",
                       static_cast<long long>(axis), ir::dimsToString(x.dims).c_str());
    const auto a = static_cast<size_t>(axis);
    const int64_t outer = product(x.dims, 0, a), inner = product(x.dims, a + 1, x.dims.size());
    mRi = RowIndex{};
    mRi.len = x.dims[a];
    mRi.inner = inner;
    mRows = mRi.len == 0 ? 0 : outer * inner;  // nothing to write for an empty axis
    mCfg = ru::chooseRowCfg(mRi.len, inner > 1);
    mVecOk = inner == 1 && mRi.len % static_cast<int64_t>(vecWidthOf(mDtype)) == 0;
    const bool fastOp = mOp == AxisOp::kSoftmax || mOp == AxisOp::kLogSoftmax;
    mFast.prepare(kEnableRowFastPath && fastOp && inner == 1 && mRows > 0, mDtype, mRi.len, mRows);
    return Status::ok();
  }
  Status enqueue(const LaunchContext& ctx) override {
    return dispatchFloat(mDtype, ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      const T* x = ctx.inputs[0].as<const T>();
      T* y = ctx.outputs[0].as<T>();
      if constexpr (!std::is_same_v<T, double>) {
        if (mFast.enabled)
          return launchFastSoftmax<T>(mFast, x, y, mRows, mRi.len, mOp == AxisOp::kLogSoftmax,
                                      ctx.stream);
      }
      const bool vec = mVecOk && ru::aligned16(x) && ru::aligned16(y);
      const AxisBody<T> body{x, y, mRi, vec, mOp};
      const char* what = "kernel launch";  // the executor adds the layer's name to errors
      return ru::launchRows(body, mRows, mCfg, ctx.stream, ctx.libs.props(), what);
    });
  }

 private:
  DataType mDtype = DataType::kFLOAT;
  AxisOp mOp = AxisOp::kSoftmax;
  RowIndex mRi;
  int64_t mRows = 0;
  ru::RowCfg mCfg;
  bool mVecOk = false;
  FastPlan mFast;
};

// ---------------------------------------------------------------------------------------------
// LayerNormalization and RMSNormalization over the contiguous block X.shape[axis:].

template <typename T>
struct LayerNormBody {
  const T* x;
  T* y;
  RowIndex ri;  // contiguous rows of ri.len elements
  bool vec;
  bool rms;
  ParamRef scale, bias;
  bool hasBias;
  ParamIndex scaleAt, biasAt;
  double eps;
  ru::DynOut meanOut, invStdOut;  // null p: not wanted

  template <typename G>
  __device__ __forceinline__ void operator()(int64_t row, bool active, const G& g) const {
    using A = typename Num<T>::A;
    const int64_t base = row * ri.len;
    const A n = static_cast<A>(ri.len);
    if (rms) {
      // y = x / sqrt(mean(x^2) + eps) * scale
      A ss = 0;
      ru::forRow(x, ri, base, 0, ri.len, vec, g, [&](int64_t, T v) {
        const A e = static_cast<A>(load(v));
        ss += e * e;
      });
      ss = g.allReduce(ss, ru::Add{});
      if (!active) return;
      const A inv = A(1) / ru::msqrt(ss / n + static_cast<A>(eps));
      ru::mapRow(x, y, ri, base, vec, g, [&](int64_t k, T v) {
        return store<T>(static_cast<A>(load(v)) * inv * static_cast<A>(scale.at(scaleAt(k))));
      });
      return;
    }
    // Two passes (mean, then the squared deviations): no cancellation.
    A s = 0;
    ru::forRow(x, ri, base, 0, ri.len, vec, g, [&](int64_t, T v) { s += static_cast<A>(load(v)); });
    s = g.allReduce(s, ru::Add{});
    const A mean = ri.len > 0 ? s / n : A(0);
    A q = 0;
    ru::forRow(x, ri, base, 0, ri.len, vec, g, [&](int64_t, T v) {
      const A d = static_cast<A>(load(v)) - mean;
      q += d * d;
    });
    q = g.allReduce(q, ru::Add{});
    if (!active) return;
    const A var = ri.len > 0 ? q / n : A(0);
    const A invStd = A(1) / ru::msqrt(var + static_cast<A>(eps));
    ru::mapRow(x, y, ri, base, vec, g, [&](int64_t k, T v) {
      A r = (static_cast<A>(load(v)) - mean) * invStd * static_cast<A>(scale.at(scaleAt(k)));
      if (hasBias) r += static_cast<A>(bias.at(biasAt(k)));
      return store<T>(r);
    });
    if (g.lane == 0) {
      if (meanOut.p) meanOut.put(row, static_cast<double>(mean));
      if (invStdOut.p) invStdOut.put(row, static_cast<double>(invStd));
    }
  }
};

class LayerNormKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& x = ctx.inputs[0];
    mDtype = x.dtype;
    KILN_RETURN_IF_ERROR(requireFloat(ctx, mDtype));
    mRms = ctx.node.op == ir::OpKind::kRMSNormalization;
    const int64_t rank = x.rank();
    int64_t axis = ctx.attrs().getInt("axis", -1);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank)
      return ctx.error("axis is out of range for rank %lld", static_cast<long long>(rank));
    const auto a = static_cast<size_t>(axis);
    const std::vector<int64_t> block(x.dims.begin() + axis, x.dims.end());
    KILN_ASSIGN_OR_RETURN(mScaleAt,
                          paramIndexFor(ctx, block, ctx.inputs[1].dims, mRms ? "scale" : "Scale"));
    mHasBias = !mRms && ctx.hasInput(2);
    if (mHasBias) {
      KILN_ASSIGN_OR_RETURN(mBiasAt, paramIndexFor(ctx, block, ctx.inputs[2].dims, "B"));
    }
    mEps = ctx.attrs().getFloat("epsilon", 1e-5f);
    mOuter = product(x.dims, 0, a);
    mRi = RowIndex{};
    mRi.len = product(x.dims, a, x.dims.size());
    mCfg = ru::chooseRowCfg(mRi.len, false);
    mVecOk = mRi.len % static_cast<int64_t>(vecWidthOf(mDtype)) == 0;
    // Fast path: Scale (and B) of X's type with one value per element of the row.
    const bool paramsPlain = ctx.inputs[1].dtype == mDtype && mScaleAt.mode == 0 &&
                             (!mHasBias || (ctx.inputs[2].dtype == mDtype && mBiasAt.mode == 0));
    mFast.prepare(kEnableRowFastPath && paramsPlain, mDtype, mRi.len, mOuter);
    return Status::ok();
  }
  Status enqueue(const LaunchContext& ctx) override {
    // Mean / InvStdDev outputs (LayerNormalization) keep the general path.
    const bool stats = !mRms && ((ctx.outputs.size() > 1 && ctx.outputs[1].present()) ||
                                 (ctx.outputs.size() > 2 && ctx.outputs[2].present()));
    return dispatchFloat(mDtype, ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      const T* x = ctx.inputs[0].as<const T>();
      T* y = ctx.outputs[0].as<T>();
      if constexpr (!std::is_same_v<T, double>) {
        if (mFast.enabled && !stats) {
          FastNormArgs<T> a{};
          a.x = x;
          a.y = y;
          a.scale = ctx.inputs[1].as<const T>();
          a.bias = mHasBias ? ctx.inputs[2].as<const T>() : nullptr;
          a.rows = mOuter;
          a.len = static_cast<int>(mRi.len);
          a.eps = static_cast<float>(mEps);
          a.rms = mRms;
          return launchFastNorm<T>(mFast, a, ctx.stream);
        }
      }
      LayerNormBody<T> body{};
      body.x = x;
      body.y = y;
      body.ri = mRi;
      body.vec = mVecOk && ru::aligned16(x) && ru::aligned16(y);
      body.rms = mRms;
      body.scale = ParamRef{ctx.inputs[1].data, ctx.inputs[1].dtype};
      body.hasBias = mHasBias;
      if (mHasBias) body.bias = ParamRef{ctx.inputs[2].data, ctx.inputs[2].dtype};
      body.scaleAt = mScaleAt;
      body.biasAt = mBiasAt;
      body.eps = mEps;
      if (!mRms) {
        // Mean and InvStdDev (stash type), when the node has them.
        if (ctx.outputs.size() > 1 && ctx.outputs[1].present())
          body.meanOut = ru::DynOut{ctx.outputs[1].data, ctx.outputs[1].dtype};
        if (ctx.outputs.size() > 2 && ctx.outputs[2].present())
          body.invStdOut = ru::DynOut{ctx.outputs[2].data, ctx.outputs[2].dtype};
      }
      const char* what = "kernel launch";  // the executor adds the layer's name to errors
      // Rows with no elements still produce their Mean / InvStdDev.
      return ru::launchRows(body, mOuter, mCfg, ctx.stream, ctx.libs.props(), what);
    });
  }

 private:
  DataType mDtype = DataType::kFLOAT;
  bool mRms = false, mHasBias = false;
  ParamIndex mScaleAt, mBiasAt;
  double mEps = 1e-5;
  int64_t mOuter = 0;
  RowIndex mRi;
  ru::RowCfg mCfg;
  bool mVecOk = false;
  FastPlan mFast;
};

// ---------------------------------------------------------------------------------------------
// GroupNormalization and InstanceNormalization (groups == C): per (n, group) statistics over the
// group's channels and all spatial positions (contiguous), then per-channel scale and bias.

template <typename T>
struct GroupNormBody {
  const T* x;
  T* y;
  RowIndex ri;  // contiguous rows of perGroup = channelsPerGroup * spatial elements
  bool vec;
  int64_t spatial;  // >= 1
  int64_t channelsPerGroup, groups;
  ParamRef scale, bias;
  double eps;

  template <typename G>
  __device__ __forceinline__ void operator()(int64_t row, bool active, const G& g) const {
    using A = typename Num<T>::A;
    const int64_t base = row * ri.len;
    const A n = static_cast<A>(ri.len);
    A s = 0;
    ru::forRow(x, ri, base, 0, ri.len, vec, g, [&](int64_t, T v) { s += static_cast<A>(load(v)); });
    s = g.allReduce(s, ru::Add{});
    const A mean = ri.len > 0 ? s / n : A(0);
    A q = 0;
    ru::forRow(x, ri, base, 0, ri.len, vec, g, [&](int64_t, T v) {
      const A d = static_cast<A>(load(v)) - mean;
      q += d * d;
    });
    q = g.allReduce(q, ru::Add{});
    if (!active) return;
    const A var = ri.len > 0 ? q / n : A(0);
    const A invStd = A(1) / ru::msqrt(var + static_cast<A>(eps));
    const int64_t ch0 = (row % groups) * channelsPerGroup;
    ru::mapRow(x, y, ri, base, vec, g, [&](int64_t k, T v) {
      const int64_t ch = ch0 + k / spatial;
      return store<T>((static_cast<A>(load(v)) - mean) * invStd * static_cast<A>(scale.at(ch)) +
                      static_cast<A>(bias.at(ch)));
    });
  }
};

class GroupNormKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& x = ctx.inputs[0];
    mDtype = x.dtype;
    KILN_RETURN_IF_ERROR(requireFloat(ctx, mDtype));
    const bool instance = ctx.node.op == ir::OpKind::kInstanceNormalization;
    if (instance && x.rank() < 3) return ctx.error("input must have rank >= 3");
    if (x.rank() < 2) return ctx.error("input must have rank >= 2");
    const int64_t n = x.dims[0], c = x.dims[1], spatial = product(x.dims, 2, x.dims.size());
    const int64_t groups = instance ? c : ctx.attrs().getInt("num_groups", 0);
    if (groups < 1 || c % groups != 0)
      return ctx.error("num_groups=%lld does not divide the channel count %lld",
                       static_cast<long long>(groups), static_cast<long long>(c));
    const char* names[] = {"scale", "bias"};
    for (size_t i = 1; i < 3; ++i)
      if (ctx.inputs[i].numel() != c)
        return ctx.error("%s has %lld values, expected %lld (one per channel)", names[i - 1],
                         static_cast<long long>(ctx.inputs[i].numel()), static_cast<long long>(c));
    mEps = ctx.attrs().getFloat("epsilon", 1e-5f);
    mGroups = groups;
    mChannelsPerGroup = c / groups;
    mSpatial = std::max<int64_t>(spatial, 1);
    mRows = n * groups;
    mRi = RowIndex{};
    mRi.len = mChannelsPerGroup * spatial;
    mCfg = ru::chooseRowCfg(mRi.len, false);
    mVecOk = mRi.len % static_cast<int64_t>(vecWidthOf(mDtype)) == 0;
    if (mRi.len == 0) mRows = 0;  // nothing to write
    return Status::ok();
  }
  Status enqueue(const LaunchContext& ctx) override {
    return dispatchFloat(mDtype, ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      const T* x = ctx.inputs[0].as<const T>();
      T* y = ctx.outputs[0].as<T>();
      const GroupNormBody<T> body{x,
                                  y,
                                  mRi,
                                  mVecOk && ru::aligned16(x) && ru::aligned16(y),
                                  mSpatial,
                                  mChannelsPerGroup,
                                  mGroups,
                                  ParamRef{ctx.inputs[1].data, ctx.inputs[1].dtype},
                                  ParamRef{ctx.inputs[2].data, ctx.inputs[2].dtype},
                                  mEps};
      const char* what = "kernel launch";  // the executor adds the layer's name to errors
      return ru::launchRows(body, mRows, mCfg, ctx.stream, ctx.libs.props(), what);
    });
  }

 private:
  DataType mDtype = DataType::kFLOAT;
  double mEps = 1e-5;
  int64_t mGroups = 1, mChannelsPerGroup = 1, mSpatial = 1, mRows = 0;
  RowIndex mRi;
  ru::RowCfg mCfg;
  bool mVecOk = false;
};

// ---------------------------------------------------------------------------------------------
// MeanVarianceNormalization: per group of elements agreeing on the axes outside `axes`,
// y = (x - mean) / (sqrt(var) + 1e-9) with the two-pass variance (as the CPU).

template <typename T>
struct MvnBody {
  const T* x;
  T* y;
  RowIndex ri;
  bool vec;

  template <typename G>
  __device__ __forceinline__ void operator()(int64_t row, bool active, const G& g) const {
    using A = typename Num<T>::A;
    const int64_t base = ri.base(row);
    const A n = static_cast<A>(ri.len);
    A s = 0;
    ru::forRow(x, ri, base, 0, ri.len, vec, g, [&](int64_t, T v) { s += static_cast<A>(load(v)); });
    s = g.allReduce(s, ru::Add{});
    const A mean = s / n;
    A q = 0;
    ru::forRow(x, ri, base, 0, ri.len, vec, g, [&](int64_t, T v) {
      const A d = static_cast<A>(load(v)) - mean;
      q += d * d;
    });
    q = g.allReduce(q, ru::Add{});
    if (!active) return;
    const A inv = A(1) / (ru::msqrt(q / n) + static_cast<A>(1e-9));
    ru::mapRow(x, y, ri, base, vec, g,
               [&](int64_t, T v) { return store<T>((static_cast<A>(load(v)) - mean) * inv); });
  }
};

class MvnKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& x = ctx.inputs[0];
    mDtype = x.dtype;
    KILN_RETURN_IF_ERROR(requireFloat(ctx, mDtype));
    const int64_t rank = x.rank();
    std::vector<bool> reduced(static_cast<size_t>(rank), false);
    for (int64_t a : ctx.attrs().getInts("axes", {0, 2, 3})) {
      if (!normalizeAxis(a, rank))
        return ctx.error("axes entry %lld is out of range for input of shape %s",
                         static_cast<long long>(a), ir::dimsToString(x.dims).c_str());
      reduced[static_cast<size_t>(a)] = true;
    }
    ru::ReduceGeom geom;
    if (!ru::makeReduceGeom(x.dims, reduced, &geom))
      return ctx.unsupportedHere("normalizing over more than 8 separate axis groups");
    mRi = RowIndex{};
    mRi.len = geom.count;
    mRows = x.numel() == 0 ? 0 : geom.numOut;
    bool strided = false;
    if (geom.kind == ru::ReduceGeom::kGeneral) {
      mRi.general = true;
      mRi.gen = geom.gen;
    } else if (geom.kind == ru::ReduceGeom::kCols) {
      // [outer, count, inner]: rows are the (outer, inner) pairs.
      mRi.inner = geom.inner;
      strided = true;
    }
    mCfg = ru::chooseRowCfg(mRi.len, strided);
    mVecOk = mRi.contiguous() && mRi.len % static_cast<int64_t>(vecWidthOf(mDtype)) == 0;
    return Status::ok();
  }
  Status enqueue(const LaunchContext& ctx) override {
    return dispatchFloat(mDtype, ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      const T* x = ctx.inputs[0].as<const T>();
      T* y = ctx.outputs[0].as<T>();
      const MvnBody<T> body{x, y, mRi, mVecOk && ru::aligned16(x) && ru::aligned16(y)};
      const char* what = "kernel launch";  // the executor adds the layer's name to errors
      return ru::launchRows(body, mRows, mCfg, ctx.stream, ctx.libs.props(), what);
    });
  }

 private:
  DataType mDtype = DataType::kFLOAT;
  RowIndex mRi;
  int64_t mRows = 0;
  ru::RowCfg mCfg;
  bool mVecOk = false;
};

// ---------------------------------------------------------------------------------------------
// BatchNormalization (inference): y = x * mul[c] + add[c] with mul = scale / sqrt(var + eps),
// add = B - mean * mul computed once per channel in double (as the CPU) into the workspace.

__global__ void batchNormCoefKernel(ParamRef scale, ParamRef bias, ParamRef mean, ParamRef var,
                                    double eps, int64_t c, double* mul, double* add) {
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < c;
       k += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const double m = scale.at(k) / sqrt(var.at(k) + eps);
    mul[k] = m;
    add[k] = bias.at(k) - mean.at(k) * m;
  }
}

// Elements in groups of V (V == 1: scalar path); with V > 1 the group lies in one channel
// (inner % V == 0) and the pointers are 16-byte aligned.
template <typename T, int V>
__global__ void batchNormApplyKernel(const T* x, T* y, const double* mul, const double* add,
                                     int64_t numel, int64_t inner, int64_t c) {
  using A = typename Num<T>::A;
  const int64_t groups = numel / V;
  for (int64_t gi = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; gi < groups;
       gi += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i0 = gi * V;
    const int64_t ch = (i0 / inner) % c;
    const A m = static_cast<A>(mul[ch]), a = static_cast<A>(add[ch]);
    if constexpr (V == 1) {
      y[i0] = store<T>(static_cast<A>(load(x[i0])) * m + a);
    } else {
      T e[V];
      ru::loadVec(x + i0, e);
#pragma unroll
      for (int t = 0; t < V; ++t) e[t] = store<T>(static_cast<A>(load(e[t])) * m + a);
      ru::storeVec(y + i0, e);
    }
  }
}

class BatchNormKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    if (ctx.attrs().getInt("training_mode", 0) != 0)
      return unsupported("%s: training_mode=1 is not supported (Kiln runs inference only)",
                         ctx.node.describe().c_str());
    const CudaTensor& x = ctx.inputs[0];
    mDtype = x.dtype;
    KILN_RETURN_IF_ERROR(requireFloat(ctx, mDtype));
    if (x.rank() < 2) return ctx.error("X must have rank >= 2");
    mC = x.dims[1];
    const char* names[] = {"scale", "B", "input_mean", "input_var"};
    for (size_t i = 1; i < 5; ++i) {
      if (ctx.inputs[i].numel() != mC)
        return ctx.error("%s has %lld values, expected %lld (one per channel)", names[i - 1],
                         static_cast<long long>(ctx.inputs[i].numel()), static_cast<long long>(mC));
      if (!ru::isFloatType(ctx.inputs[i].dtype))
        return ctx.unsupportedHere(
            strFormat("%s of data type %s", names[i - 1], dataTypeName(ctx.inputs[i].dtype)));
    }
    mEps = ctx.attrs().getFloat("epsilon", 1e-5f);
    mNumel = x.numel();
    mInner = product(x.dims, 2, x.dims.size());
    return Status::ok();
  }
  size_t workspaceSize() const override { return static_cast<size_t>(mC) * 2 * sizeof(double); }
  Status enqueue(const LaunchContext& ctx) override {
    if (mNumel == 0) return Status::ok();
    if (!ctx.workspace || ctx.workspaceBytes < workspaceSize())
      return internalError("%s: BatchNormalization workspace missing", ctx.node.describe().c_str());
    double* mul = static_cast<double*>(ctx.workspace);
    double* add = mul + mC;
    const DeviceProps& props = ctx.libs.props();
    const char* what = "kernel launch";  // the executor adds the layer's name to errors
    auto ref = [&](size_t i) { return ParamRef{ctx.inputs[i].data, ctx.inputs[i].dtype}; };
    batchNormCoefKernel<<<gridFor(mC, 256, &props), 256, 0, ctx.stream>>>(
        ref(1), ref(2), ref(3), ref(4), mEps, mC, mul, add);
    KILN_CUDA_CHECK_LAUNCH(what);
    return dispatchFloat(mDtype, ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      constexpr int V = ru::vecWidth<T>();
      const T* x = ctx.inputs[0].as<const T>();
      T* y = ctx.outputs[0].as<T>();
      if (mInner % V == 0 && ru::aligned16(x) && ru::aligned16(y)) {
        batchNormApplyKernel<T, V><<<gridFor(mNumel / V, 256, &props), 256, 0, ctx.stream>>>(
            x, y, mul, add, mNumel, mInner, mC);
      } else {
        batchNormApplyKernel<T, 1><<<gridFor(mNumel, 256, &props), 256, 0, ctx.stream>>>(
            x, y, mul, add, mNumel, mInner, mC);
      }
      KILN_CUDA_CHECK_LAUNCH(what);
      return Status::ok();
    });
  }

 private:
  DataType mDtype = DataType::kFLOAT;
  int64_t mC = 0, mNumel = 0, mInner = 1;
  double mEps = 1e-5;
};

// ---------------------------------------------------------------------------------------------
// LRN across channels: for channel c the window is [c - floor((size-1)/2), c + ceil((size-1)/2)]
// clipped to [0, C-1];  y = x / (bias + alpha / size * sum over the window of x^2)^beta.

template <typename T>
__global__ void lrnKernel(const T* x, T* y, int64_t numel, int64_t c, int64_t inner, int64_t before,
                          int64_t after, double alphaOverSize, double beta, double bias) {
  using A = typename Num<T>::A;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < numel;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = idx % inner, oc = idx / inner;
    const int64_t ch = oc % c, o = oc / c;
    const int64_t lo = ch - before < 0 ? 0 : ch - before;
    const int64_t hi = ch + after > c - 1 ? c - 1 : ch + after;
    A sq = 0;
    for (int64_t j = lo; j <= hi; ++j) {
      const A e = static_cast<A>(load(x[(o * c + j) * inner + i]));
      sq += e * e;
    }
    const A den =
        ru::mpow(static_cast<A>(bias) + static_cast<A>(alphaOverSize) * sq, static_cast<A>(beta));
    y[idx] = store<T>(static_cast<A>(load(x[idx])) / den);
  }
}

class LrnKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& x = ctx.inputs[0];
    mDtype = x.dtype;
    KILN_RETURN_IF_ERROR(requireFloat(ctx, mDtype));
    if (x.rank() < 2)
      return ctx.error("input must have rank >= 2, got %s", ir::dimsToString(x.dims).c_str());
    const int64_t size = ctx.attrs().getInt("size", 0);
    if (size < 1) return ctx.error("size must be >= 1, got %lld", static_cast<long long>(size));
    const double alpha = ctx.attrs().getFloat("alpha", 1e-4f);
    mBeta = ctx.attrs().getFloat("beta", 0.75f);
    mBias = ctx.attrs().getFloat("bias", 1.0f);
    mAlphaOverSize = alpha / static_cast<double>(size);
    mBefore = (size - 1) / 2;
    mAfter = size - 1 - mBefore;
    mC = x.dims[1];
    mInner = product(x.dims, 2, x.dims.size());
    mNumel = x.numel();
    return Status::ok();
  }
  Status enqueue(const LaunchContext& ctx) override {
    if (mNumel == 0) return Status::ok();
    return dispatchFloat(mDtype, ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      const char* what = "kernel launch";  // the executor adds the layer's name to errors
      lrnKernel<T><<<gridFor(mNumel, 256, &ctx.libs.props()), 256, 0, ctx.stream>>>(
          ctx.inputs[0].as<const T>(), ctx.outputs[0].as<T>(), mNumel, mC, mInner, mBefore, mAfter,
          mAlphaOverSize, mBeta, mBias);
      KILN_CUDA_CHECK_LAUNCH(what);
      return Status::ok();
    });
  }

 private:
  DataType mDtype = DataType::kFLOAT;
  int64_t mC = 1, mInner = 1, mNumel = 0, mBefore = 0, mAfter = 0;
  double mAlphaOverSize = 0, mBeta = 0.75, mBias = 1;
};

template <typename K>
StatusOr<std::unique_ptr<CudaKernel>> makeKernel(const ir::Node&) {
  return std::unique_ptr<CudaKernel>(new K());
}

}  // namespace

void registerNormKernels(CudaKernelTable& t) {
  t[static_cast<size_t>(ir::OpKind::kBatchNormalization)] = &makeKernel<BatchNormKernel>;
  t[static_cast<size_t>(ir::OpKind::kLayerNormalization)] = &makeKernel<LayerNormKernel>;
  t[static_cast<size_t>(ir::OpKind::kRMSNormalization)] = &makeKernel<LayerNormKernel>;
  t[static_cast<size_t>(ir::OpKind::kInstanceNormalization)] = &makeKernel<GroupNormKernel>;
  t[static_cast<size_t>(ir::OpKind::kGroupNormalization)] = &makeKernel<GroupNormKernel>;
  t[static_cast<size_t>(ir::OpKind::kMeanVarianceNormalization)] = &makeKernel<MvnKernel>;
  t[static_cast<size_t>(ir::OpKind::kSoftmax)] = &makeKernel<AxisNormKernel>;
  t[static_cast<size_t>(ir::OpKind::kLogSoftmax)] = &makeKernel<AxisNormKernel>;
  t[static_cast<size_t>(ir::OpKind::kHardmax)] = &makeKernel<AxisNormKernel>;
  t[static_cast<size_t>(ir::OpKind::kLpNormalization)] = &makeKernel<AxisNormKernel>;
  t[static_cast<size_t>(ir::OpKind::kLRN)] = &makeKernel<LrnKernel>;
}

}  // namespace kiln::cuda
