// CUDA kernels for the data-movement half of the ShapeOp family (ops.def): Reshape, Flatten,
// Squeeze, Unsqueeze, Transpose, Concat, Split, Slice, Expand, Tile, Pad, DepthToSpace,
// SpaceToDepth, Shape, Size, ConstantOfShape, Range, Trilu. They compute what
// src/backends/cpu/kernels_shape_op.cpp (and Trilu in kernels_indexing.cpp) compute.
//
// Data movement is dtype-agnostic: elements move as "units" of their byte size (1/2/4/8), or of
// up to 16 bytes when a contiguous innermost run allows it. Most ops are one "strided copy":
//   for c in the iteration space dims:  dst[dstBase + sum_a c_a*dst_a] = src[srcBase + sum_a
//   c_a*src_a]
// Transpose/DepthToSpace/SpaceToDepth (src strides permuted), Slice (src strides times the
// steps, negative for negative steps), Expand (0 strides), Tile (each axis split into
// [repeat, dim] with stride 0 on the repeat), Concat (dst strides of the output, one copy per
// input) and Split (src strides of the input, one copy per output) only differ in the plan.
// Plans are simplified at prepare (unit dims dropped, dims contiguous on both sides merged) so a
// typical copy has rank 1-3; the innermost run is then widened to 16-byte units when pointers
// and sizes allow. A transpose whose output-innermost dim is not input-innermost uses a tiled
// 32x32 shared-memory kernel (coalesced reads and writes); one that keeps the innermost run
// innermost uses runCopyKernel (several 16-byte units per thread, 32-bit multiply-high indices).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/elementwise.cuh"
#include "backends/cuda/index_util.cuh"

namespace kiln::cuda {

namespace {

using idx::Arr;
using idx::dispatchRank;
using idx::kMaxRank;
using idx::kThreads;
using idx::Tag;

using idx::kSmallLimit;

// --- strided copies
// --------------------------------------------------------------------------------

struct CopyPlan {
  std::vector<int64_t> dims, src,
      dst;                           // outermost first; strides in elements (src may be < 0 or 0)
  int64_t srcBase = 0, dstBase = 0;  // element offsets of c = 0
  int input = 0, output = 0;         // which tensors of the node
  int64_t total = 0;
  bool contiguous = false;  // a plain memcpy of total elements
  bool use64 = false;
};

int64_t reach(const std::vector<int64_t>& dims, const std::vector<int64_t>& strides) {
  int64_t r = 0;
  for (size_t k = 0; k < dims.size(); ++k)
    r += (dims[k] - 1) * (strides[k] < 0 ? -strides[k] : strides[k]);
  return r;
}

// Drops unit dims and merges neighbours contiguous on both sides (plans with no elements are left
// as they are: the caller drops them).
Status finishPlan(CopyPlan& p, const PrepareContext& ctx) {
  p.total = 1;
  for (int64_t d : p.dims) p.total *= d;
  if (p.total == 0) return Status::ok();  // dropped by the caller
  std::vector<int64_t> d, s, t;
  for (size_t k = 0; k < p.dims.size(); ++k) {
    if (p.dims[k] == 1) continue;
    if (!d.empty() && s.back() == p.src[k] * p.dims[k] && t.back() == p.dst[k] * p.dims[k]) {
      d.back() *= p.dims[k];
      s.back() = p.src[k];
      t.back() = p.dst[k];
    } else {
      d.push_back(p.dims[k]);
      s.push_back(p.src[k]);
      t.push_back(p.dst[k]);
    }
  }
  if (d.empty()) d = {1}, s = {1}, t = {1};  // one element
  p.dims = std::move(d);
  p.src = std::move(s);
  p.dst = std::move(t);
  if (p.dims.size() > static_cast<size_t>(kMaxRank))
    return ctx.unsupportedHere(
        strFormat("a copy of rank %zu (> %d after merging dims)", p.dims.size(), kMaxRank));
  p.contiguous = p.dims.size() == 1 && p.src[0] == 1 && p.dst[0] == 1;
  p.use64 = p.total >= kSmallLimit || reach(p.dims, p.src) >= kSmallLimit ||
            reach(p.dims, p.dst) >= kSmallLimit;
  return Status::ok();
}

// The widest unit (bytes) the plan can move: the innermost run contiguous on both sides, its
// length and every other stride whole units, and both (based) pointers unit-aligned.
size_t planUnit(const CopyPlan& p, size_t es, const char* src, const char* dst) {
  const size_t r = p.dims.size();
  if (p.src[r - 1] != 1 || p.dst[r - 1] != 1) return es;
  for (size_t u = 16; u > es; u /= 2) {
    const int64_t g = static_cast<int64_t>(u / es);
    bool ok = p.dims[r - 1] % g == 0 && reinterpret_cast<uintptr_t>(src) % u == 0 &&
              reinterpret_cast<uintptr_t>(dst) % u == 0;
    for (size_t k = 0; k + 1 < r; ++k) ok = ok && p.src[k] % g == 0 && p.dst[k] % g == 0;
    if (ok) return u;
  }
  return es;
}

template <typename I, int R>
struct CopyArgs {
  const char* src;  // already offset by srcBase
  char* dst;
  I total;
  I dims[R];  // front-padded with 1s
  I ss[R];    // src strides (units)
  I ds[R];    // dst strides (units)
};

constexpr int kCopyBatch = 4;  // copies per launch (blockIdx.y picks one)

template <typename I, int R>
struct CopyBatch {
  CopyArgs<I, R> c[kCopyBatch];
};

template <typename U, typename I, int R>
__global__ void __launch_bounds__(kThreads)
    stridedCopyKernel(const __grid_constant__ CopyBatch<I, R> b) {
  using UI = std::make_unsigned_t<I>;
  const CopyArgs<I, R>& a = b.c[blockIdx.y];
  const U* src = reinterpret_cast<const U*>(a.src);
  U* dst = reinterpret_cast<U*>(a.dst);
  for (I e = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; e < a.total;
       e += static_cast<I>(gridDim.x) * blockDim.x) {
    UI rem = static_cast<UI>(e);
    I so = 0, dof = 0;
#pragma unroll
    for (int k = R - 1; k > 0; --k) {
      const UI d = static_cast<UI>(a.dims[k]);
      const I c = static_cast<I>(rem % d);
      rem /= d;
      so += c * a.ss[k];
      dof += c * a.ds[k];
    }
    so += static_cast<I>(rem) * a.ss[0];
    dof += static_cast<I>(rem) * a.ds[0];
    dst[dof] = src[so];
  }
}

// Tiled transpose: P (input-innermost, src stride 1) and Q (output-innermost, dst stride 1) form
// a plane moved through a 32x33 shared tile; the other dims are a batch.
template <typename I>
struct TileArgs {
  const char* src;
  char* dst;
  int rank = 0, p = 0;  // q = rank - 1
  I dims[kMaxRank], ss[kMaxRank], ds[kMaxRank];
  I P, Q, srcQ, dstP;  // dims[p], dims[q], ss[q], ds[p]
  I tilesP, tilesQ, numTiles;
};

constexpr int kTile = 32;
constexpr int kTileRows = 8;

template <typename U, typename I>
__global__ void tiledTransposeKernel(const __grid_constant__ TileArgs<I> a) {
  __shared__ U tile[kTile][kTile + 1];
  const U* src = reinterpret_cast<const U*>(a.src);
  U* dst = reinterpret_cast<U*>(a.dst);
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  for (I t = blockIdx.x; t < a.numTiles; t += gridDim.x) {
    const I tq = t % a.tilesQ;
    I rest = t / a.tilesQ;
    const I tp = rest % a.tilesP;
    I b = rest / a.tilesP;
    I so = 0, dof = 0;
#pragma unroll
    for (int k = kMaxRank - 2; k >= 0; --k) {
      if (k < a.rank - 1 && k != a.p) {
        const I c = b % a.dims[k];
        b /= a.dims[k];
        so += c * a.ss[k];
        dof += c * a.ds[k];
      }
    }
    const I p0 = tp * kTile, q0 = tq * kTile;
    // Read: consecutive threads walk P (contiguous in src).
    for (int j = ty; j < kTile; j += kTileRows) {
      const I pp = p0 + tx, qq = q0 + j;
      if (pp < a.P && qq < a.Q) tile[j][tx] = src[so + pp + qq * a.srcQ];
    }
    __syncthreads();
    // Write: consecutive threads walk Q (contiguous in dst).
    for (int j = ty; j < kTile; j += kTileRows) {
      const I pp = p0 + j, qq = q0 + tx;
      if (pp < a.P && qq < a.Q) dst[dof + pp * a.dstP + qq] = tile[tx][j];
    }
    __syncthreads();
  }
}

// Transpose that keeps the innermost run (the attention heads split/merge [B,S,H,D] <-> [B,H,S,D]):
// the output is contiguous, so output unit e (units of up to 16 bytes of the innermost run) is
// read from src at sum_k c_k * ss[k], c = e split over dims. 32-bit indices with multiply-high
// divisions; each thread moves kRunPerThread units kThreads apart (all loads, then all stores), so
// a warp touches 32 consecutive units per access and each thread keeps several loads in flight.
constexpr bool kEnableRunCopy = true;  // off: such transposes take the strided copy
constexpr int kRunPerThread = 4;

template <int R>
struct RunCopyArgs {
  const char* src;  // already offset by srcBase
  char* dst;
  uint32_t total;         // units (< 2^31)
  uint32_t dims[R];       // units for the innermost; front-padded with 1s
  ew::FastDivmod div[R];  // dividers for dims[1..R-1]
  uint32_t ss[R];         // src strides in units (innermost 1)
};

template <typename U, int R>
__global__ void __launch_bounds__(kThreads)
    runCopyKernel(const __grid_constant__ RunCopyArgs<R> a) {
  const U* src = reinterpret_cast<const U*>(a.src);
  U* dst = reinterpret_cast<U*>(a.dst);
  const uint32_t first = blockIdx.x * static_cast<uint32_t>(kThreads * kRunPerThread) + threadIdx.x;
  U v[kRunPerThread];
#pragma unroll
  for (int j = 0; j < kRunPerThread; ++j) {
    const uint32_t e = first + static_cast<uint32_t>(j * kThreads);
    if (e < a.total) {
      uint32_t rem = e, so = 0;
#pragma unroll
      for (int k = R - 1; k > 0; --k) {
        const uint32_t q = a.div[k].div(rem);
        so += (rem - q * a.dims[k]) * a.ss[k];
        rem = q;
      }
      so += rem * a.ss[0];
      v[j] = src[so];
    }
  }
#pragma unroll
  for (int j = 0; j < kRunPerThread; ++j) {
    const uint32_t e = first + static_cast<uint32_t>(j * kThreads);
    if (e < a.total) dst[e] = v[j];
  }
}

// A node computed by strided copies: Transpose, DepthToSpace, SpaceToDepth, Slice, Expand, Tile,
// Concat, Split.
class CopyKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    mPlans.clear();
    mTiled = false;
    mRunCopy = false;
    if (ctx.inputs.empty() || ctx.outputs.empty()) return ctx.error("missing inputs or outputs");
    mEs = dataTypeSize(ctx.outputs[0].dtype);
    if (mEs != 1 && mEs != 2 && mEs != 4 && mEs != 8)
      return ctx.unsupportedHere(
          strFormat("data type %s for this op", dataTypeName(ctx.outputs[0].dtype)));
    switch (ctx.node.op) {
      case ir::OpKind::kTranspose: KILN_RETURN_IF_ERROR(planTranspose(ctx)); break;
      case ir::OpKind::kDepthToSpace:
      case ir::OpKind::kSpaceToDepth: KILN_RETURN_IF_ERROR(planDepthSpace(ctx)); break;
      case ir::OpKind::kSlice: KILN_RETURN_IF_ERROR(planSlice(ctx)); break;
      case ir::OpKind::kExpand: KILN_RETURN_IF_ERROR(planExpand(ctx)); break;
      case ir::OpKind::kTile: KILN_RETURN_IF_ERROR(planTile(ctx)); break;
      case ir::OpKind::kConcat: KILN_RETURN_IF_ERROR(planConcat(ctx)); break;
      case ir::OpKind::kSplit: KILN_RETURN_IF_ERROR(planSplit(ctx)); break;
      default: return internalError("%s: not a copy op", ctx.node.describe().c_str());
    }
    std::vector<CopyPlan> kept;
    for (CopyPlan& p : mPlans) {
      KILN_RETURN_IF_ERROR(finishPlan(p, ctx));
      if (p.total > 0) kept.push_back(std::move(p));
    }
    mPlans = std::move(kept);
    // One transpose-like plan whose output-innermost dim is strided in the input: tiled.
    if (mPlans.size() == 1 &&
        (ctx.node.op == ir::OpKind::kTranspose || ctx.node.op == ir::OpKind::kDepthToSpace ||
         ctx.node.op == ir::OpKind::kSpaceToDepth)) {
      const CopyPlan& p = mPlans[0];
      const int r = static_cast<int>(p.dims.size());
      if (r >= 2 && p.dst[static_cast<size_t>(r - 1)] == 1 &&
          p.src[static_cast<size_t>(r - 1)] != 1) {
        for (int k = 0; k + 1 < r; ++k) {
          if (p.src[static_cast<size_t>(k)] == 1 && p.dims[static_cast<size_t>(k)] >= 8 &&
              p.dims[static_cast<size_t>(r - 1)] >= 8) {
            mTiled = true;
            mTileP = k;
          }
        }
      }
    }
    // One transpose plan that keeps the innermost run on both sides (output contiguous).
    if (kEnableRunCopy && mPlans.size() == 1 && ctx.node.op == ir::OpKind::kTranspose) {
      const CopyPlan& p = mPlans[0];
      const size_t r = p.dims.size();
      mRunCopy = !p.contiguous && !p.use64 && r >= 2 && p.src[r - 1] == 1 &&
                 p.dst == idx::stridesOf(p.dims) && p.srcBase == 0 && p.dstBase == 0;
      for (int64_t st : p.src) mRunCopy = mRunCopy && st >= 0;
    }
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    if (mTiled) return launchTiled(ctx);
    if (mRunCopy && ctx.outputs[0].data) return launchRunCopy(ctx);
    // Plain copies go to cudaMemcpyAsync; the others run in batches of up to kCopyBatch plans
    // per launch. (An output nobody reads may have no memory: its plan is skipped.)
    size_t batch[kCopyBatch];
    int count = 0;
    for (size_t i = 0; i <= mPlans.size(); ++i) {
      const bool last = i == mPlans.size();
      if (!last) {
        const CopyPlan& p = mPlans[i];
        if (!ctx.outputs[static_cast<size_t>(p.output)].data) continue;
        if (p.contiguous) {
          const char* src = basedSrc(ctx, p);
          char* dst = basedDst(ctx, p);
          if (src != dst)
            KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst, src, static_cast<size_t>(p.total) * mEs,
                                                      cudaMemcpyDeviceToDevice, ctx.stream));
          continue;
        }
        batch[count++] = i;
      }
      if (count == 0 || (!last && count < kCopyBatch)) continue;
      size_t unit = 16;
      int rank = 1;
      bool use64 = false;
      int64_t maxTotal = 0;
      for (int j = 0; j < count; ++j) {
        const CopyPlan& q = mPlans[batch[j]];
        unit = std::min(unit, planUnit(q, mEs, basedSrc(ctx, q), basedDst(ctx, q)));
        rank = std::max(rank, static_cast<int>(q.dims.size()));
        use64 = use64 || q.use64;
        maxTotal = std::max(maxTotal, q.total);
      }
      Status st = Status::ok();
      dispatchRank(rank, [&](auto rc) {
        constexpr int R = decltype(rc)::value;
        if (use64) {
          st = launchBatch<int64_t, R>(ctx, batch, count, unit, maxTotal);
        } else {
          st = launchBatch<int32_t, R>(ctx, batch, count, unit, maxTotal);
        }
      });
      KILN_RETURN_IF_ERROR(st);
      count = 0;
    }
    return Status::ok();
  }

  std::string tactic() const override {
    return mTiled ? "kiln tiled transpose" : mRunCopy ? "kiln run copy" : "kiln strided copy";
  }

 private:
  const char* basedSrc(const LaunchContext& ctx, const CopyPlan& p) const {
    return static_cast<const char*>(ctx.inputs[static_cast<size_t>(p.input)].data) +
           p.srcBase * static_cast<int64_t>(mEs);
  }
  char* basedDst(const LaunchContext& ctx, const CopyPlan& p) const {
    return static_cast<char*>(ctx.outputs[static_cast<size_t>(p.output)].data) +
           p.dstBase * static_cast<int64_t>(mEs);
  }

  template <typename I, int R>
  Status launchBatch(const LaunchContext& ctx, const size_t* batch, int count, size_t unit,
                     int64_t maxTotal) {
    const int64_t g = static_cast<int64_t>(unit / mEs);
    CopyBatch<I, R> b{};
    for (int j = 0; j < count; ++j) {
      const CopyPlan& p = mPlans[batch[j]];
      CopyArgs<I, R>& a = b.c[j];
      a.src = basedSrc(ctx, p);
      a.dst = basedDst(ctx, p);
      a.total = static_cast<I>(p.total / g);
      const int r = static_cast<int>(p.dims.size());
      const int pad = R - r;
      for (int k = 0; k < R; ++k) {
        if (k < pad) {
          a.dims[k] = 1;
          a.ss[k] = 0;
          a.ds[k] = 0;
          continue;
        }
        const size_t pk = static_cast<size_t>(k - pad);
        const bool inner = k == R - 1;
        a.dims[k] = static_cast<I>(inner ? p.dims[pk] / g : p.dims[pk]);
        a.ss[k] = static_cast<I>(inner ? p.src[pk] : p.src[pk] / g);
        a.ds[k] = static_cast<I>(inner ? p.dst[pk] : p.dst[pk] / g);
      }
    }
    const dim3 grid(static_cast<unsigned>(idx::blocksFor(maxTotal / g, ctx.libs)),
                    static_cast<unsigned>(count));
    const bool ok = idx::dispatchUnit(unit, [&](auto tag) {
      using U = typename decltype(tag)::type;
      stridedCopyKernel<U, I, R><<<grid, kThreads, 0, ctx.stream>>>(b);
    });
    if (!ok) return internalError("%s: bad copy unit %zu", ctx.node.describe().c_str(), unit);
    KILN_CUDA_CHECK_LAUNCH("strided copy kernel");
    return Status::ok();
  }

  Status launchRunCopy(const LaunchContext& ctx) {
    const CopyPlan& p = mPlans[0];
    const char* src = basedSrc(ctx, p);
    char* dst = basedDst(ctx, p);
    const size_t unit = planUnit(p, mEs, src, dst);
    Status st = Status::ok();
    dispatchRank(static_cast<int>(p.dims.size()), [&](auto rc) {
      constexpr int R = decltype(rc)::value;
      st = launchRunCopyRank<R>(ctx, p, src, dst, unit);
    });
    return st;
  }

  template <int R>
  Status launchRunCopyRank(const LaunchContext& ctx, const CopyPlan& p, const char* src, char* dst,
                           size_t unit) {
    const int64_t g = static_cast<int64_t>(unit / mEs);
    RunCopyArgs<R> a{};
    a.src = src;
    a.dst = dst;
    a.total = static_cast<uint32_t>(p.total / g);
    const int r = static_cast<int>(p.dims.size());
    const int pad = R - r;
    for (int k = 0; k < R; ++k) {
      uint32_t d = 1, s = 0;
      if (k >= pad) {
        const size_t pk = static_cast<size_t>(k - pad);
        const bool inner = k == R - 1;
        d = static_cast<uint32_t>(inner ? p.dims[pk] / g : p.dims[pk]);
        s = static_cast<uint32_t>(inner ? p.src[pk] : p.src[pk] / g);
      }
      a.dims[k] = d;
      a.div[k].init(d);
      a.ss[k] = s;
    }
    const int64_t perBlock = int64_t{kThreads} * kRunPerThread;
    const unsigned grid = static_cast<unsigned>((int64_t{a.total} + perBlock - 1) / perBlock);
    const bool ok = idx::dispatchUnit(unit, [&](auto tag) {
      using U = typename decltype(tag)::type;
      runCopyKernel<U, R><<<grid, kThreads, 0, ctx.stream>>>(a);
    });
    if (!ok) return internalError("%s: bad copy unit %zu", ctx.node.describe().c_str(), unit);
    KILN_CUDA_CHECK_LAUNCH("run copy kernel");
    return Status::ok();
  }

  Status launchTiled(const LaunchContext& ctx) {
    const CopyPlan& p = mPlans[0];
    if (p.use64) return launchTiledTyped<int64_t>(ctx, p);
    return launchTiledTyped<int32_t>(ctx, p);
  }

  template <typename I>
  Status launchTiledTyped(const LaunchContext& ctx, const CopyPlan& p) {
    TileArgs<I> a{};
    a.src = basedSrc(ctx, p);
    a.dst = basedDst(ctx, p);
    a.rank = static_cast<int>(p.dims.size());
    a.p = mTileP;
    int64_t batch = 1;
    for (int k = 0; k < a.rank; ++k) {
      a.dims[k] = static_cast<I>(p.dims[static_cast<size_t>(k)]);
      a.ss[k] = static_cast<I>(p.src[static_cast<size_t>(k)]);
      a.ds[k] = static_cast<I>(p.dst[static_cast<size_t>(k)]);
      if (k != a.p && k != a.rank - 1) batch *= p.dims[static_cast<size_t>(k)];
    }
    const size_t q = p.dims.size() - 1;
    a.P = a.dims[a.p];
    a.Q = a.dims[q];
    a.srcQ = a.ss[q];
    a.dstP = a.ds[a.p];
    const int64_t tilesP = (p.dims[static_cast<size_t>(mTileP)] + kTile - 1) / kTile;
    const int64_t tilesQ = (p.dims[q] + kTile - 1) / kTile;
    a.tilesP = static_cast<I>(tilesP);
    a.tilesQ = static_cast<I>(tilesQ);
    a.numTiles = static_cast<I>(tilesP * tilesQ * batch);
    const int64_t cap = int64_t{std::max(ctx.libs.props().smCount, 1)} * 16;
    const dim3 grid(static_cast<unsigned>(std::clamp<int64_t>(tilesP * tilesQ * batch, 1, cap)));
    const dim3 block(kTile, kTileRows);
    const bool ok = idx::dispatchElem(mEs, [&](auto tag) {
      using U = typename decltype(tag)::type;
      tiledTransposeKernel<U, I><<<grid, block, 0, ctx.stream>>>(a);
    });
    if (!ok) return internalError("%s: bad element size %zu", ctx.node.describe().c_str(), mEs);
    KILN_CUDA_CHECK_LAUNCH("tiled transpose kernel");
    return Status::ok();
  }

  // output = transpose(reshape(input, view), perm)
  void addTransposeOfView(const std::vector<int64_t>& view, const std::vector<int64_t>& perm) {
    const std::vector<int64_t> vs = idx::stridesOf(view);
    CopyPlan p;
    for (int64_t a : perm) {
      p.dims.push_back(view[static_cast<size_t>(a)]);
      p.src.push_back(vs[static_cast<size_t>(a)]);
    }
    p.dst = idx::stridesOf(p.dims);
    mPlans.push_back(std::move(p));
  }

  Status planTranspose(const PrepareContext& ctx) {
    const CudaTensor& x = ctx.inputs[0];
    std::vector<int64_t> perm = ctx.attrs().getInts("perm");
    if (perm.empty() && !ctx.attrs().has("perm")) {
      for (int64_t i = x.rank() - 1; i >= 0; --i) perm.push_back(i);
    }
    if (static_cast<int64_t>(perm.size()) != x.rank())
      return ctx.error("perm does not match the input rank");
    for (int64_t a : perm)
      if (a < 0 || a >= x.rank())
        return ctx.error("perm entry %lld is out of range", static_cast<long long>(a));
    addTransposeOfView(x.dims, perm);
    return Status::ok();
  }

  Status planDepthSpace(const PrepareContext& ctx) {
    const CudaTensor& x = ctx.inputs[0];
    if (x.rank() != 4) return ctx.error("expects a 4-D input");
    const int64_t b = ctx.attrs().getInt("blocksize", 0);
    if (b <= 0) return ctx.error("blocksize must be > 0");
    const int64_t n = x.dims[0], c = x.dims[1], h = x.dims[2], w = x.dims[3];
    if (ctx.node.op == ir::OpKind::kDepthToSpace) {
      const int64_t cc = c / (b * b);
      if (ctx.attrs().getString("mode", "DCR") == "DCR") {
        // [N, b, b, C', H, W] -> [N, C', H, b, W, b]
        addTransposeOfView({n, b, b, cc, h, w}, {0, 3, 4, 1, 5, 2});
      } else {
        // CRD: [N, C', b, b, H, W] -> [N, C', H, b, W, b]
        addTransposeOfView({n, cc, b, b, h, w}, {0, 1, 4, 2, 5, 3});
      }
    } else {
      // [N, C, H/b, b, W/b, b] -> [N, b, b, C, H/b, W/b]
      addTransposeOfView({n, c, h / b, b, w / b, b}, {0, 3, 5, 1, 2, 4});
    }
    return Status::ok();
  }

  // ONNX clamping for one axis (the CPU kernel's clampedSliceStart).
  static int64_t clampedSliceStart(int64_t d, int64_t s, int64_t step) {
    if (step > 0) {
      if (s < 0) s = std::max<int64_t>(0, s + d);
      return std::min(s, d);
    }
    if (s < 0) s = std::max<int64_t>(-1, s + d);
    return std::min(s, d - 1);
  }

  Status planSlice(const PrepareContext& ctx) {
    const CudaTensor& x = ctx.inputs[0];
    const CudaTensor& y = ctx.outputs[0];
    const int64_t rank = x.rank();
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> starts, ctx.hostInts(1, "starts"));
    std::vector<int64_t> axes, steps;
    if (ctx.hasInput(3)) {
      KILN_ASSIGN_OR_RETURN(axes, ctx.hostInts(3, "axes"));
    } else {
      for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    }
    if (ctx.hasInput(4)) {
      KILN_ASSIGN_OR_RETURN(steps, ctx.hostInts(4, "steps"));
    } else {
      steps.assign(starts.size(), 1);
    }
    if (axes.size() != starts.size() || steps.size() != starts.size())
      return ctx.error("starts, axes and steps differ in length");
    if (y.rank() != rank) return ctx.error("output rank differs from the input's");
    std::vector<int64_t> start(static_cast<size_t>(rank), 0), step(static_cast<size_t>(rank), 1);
    for (size_t k = 0; k < axes.size(); ++k) {
      const int64_t a = axes[k] < 0 ? axes[k] + rank : axes[k];
      if (a < 0 || a >= rank)
        return ctx.error("slice axis %lld is out of range", static_cast<long long>(axes[k]));
      if (steps[k] == 0) return ctx.error("steps must not be 0");
      step[static_cast<size_t>(a)] = steps[k];
      start[static_cast<size_t>(a)] =
          clampedSliceStart(x.dims[static_cast<size_t>(a)], starts[k], steps[k]);
    }
    const std::vector<int64_t> xs = idx::stridesOf(x.dims);
    CopyPlan p;
    p.dims = y.dims;
    p.dst = idx::stridesOf(y.dims);
    for (size_t a = 0; a < static_cast<size_t>(rank); ++a) {
      if (y.dims[a] > 0) {
        const int64_t last = start[a] + (y.dims[a] - 1) * step[a];
        if (start[a] < 0 || start[a] >= x.dims[a] || last < 0 || last >= x.dims[a])
          return internalError("%s: slice index out of range", ctx.node.describe().c_str());
      }
      p.src.push_back(xs[a] * step[a]);
      p.srcBase += start[a] * xs[a];
    }
    mPlans.push_back(std::move(p));
    return Status::ok();
  }

  Status planExpand(const PrepareContext& ctx) {
    const CudaTensor& x = ctx.inputs[0];
    const CudaTensor& y = ctx.outputs[0];
    if (x.rank() > y.rank()) return ctx.error("the output rank is smaller than the input's");
    const size_t off = static_cast<size_t>(y.rank() - x.rank());
    const std::vector<int64_t> xs = idx::stridesOf(x.dims);
    CopyPlan p;
    p.dims = y.dims;
    p.dst = idx::stridesOf(y.dims);
    for (size_t a = 0; a < y.dims.size(); ++a) {
      const int64_t d = a >= off ? x.dims[a - off] : 1;
      if (d != 1 && d != y.dims[a])
        return ctx.error("cannot broadcast input dim %lld to %lld", static_cast<long long>(d),
                         static_cast<long long>(y.dims[a]));
      p.src.push_back(d == 1 ? 0 : xs[a - off]);
    }
    mPlans.push_back(std::move(p));
    return Status::ok();
  }

  // Output axis a of length y_a = r_a * x_a splits into [r_a, x_a] with src strides [0, xs_a];
  // the output is row-major contiguous in that doubled space.
  Status planTile(const PrepareContext& ctx) {
    const CudaTensor& x = ctx.inputs[0];
    const CudaTensor& y = ctx.outputs[0];
    if (x.rank() != y.rank()) return ctx.error("output rank differs from the input's");
    const std::vector<int64_t> xs = idx::stridesOf(x.dims);
    CopyPlan p;
    for (size_t a = 0; a < x.dims.size(); ++a) {
      const int64_t d = x.dims[a];
      if (d == 0 || y.dims[a] == 0) {
        p.dims.push_back(0);  // nothing to write
        p.src.push_back(0);
        continue;
      }
      if (y.dims[a] % d != 0)
        return ctx.error("output dim %zu is not a multiple of the input's", a);
      p.dims.push_back(y.dims[a] / d);
      p.src.push_back(0);
      p.dims.push_back(d);
      p.src.push_back(xs[a]);
    }
    p.dst = idx::stridesOf(p.dims);
    mPlans.push_back(std::move(p));
    return Status::ok();
  }

  Status planConcat(const PrepareContext& ctx) {
    const CudaTensor& y = ctx.outputs[0];
    const int64_t rank = y.rank();
    int64_t axis = ctx.attrs().getInt("axis", 0);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) return ctx.error("axis is out of range");
    const std::vector<int64_t> ys = idx::stridesOf(y.dims);
    int64_t offset = 0;
    for (size_t i = 0; i < ctx.inputs.size(); ++i) {
      const CudaTensor& x = ctx.inputs[i];
      if (x.rank() != rank) return ctx.error("input %zu has a different rank", i);
      CopyPlan p;
      p.input = static_cast<int>(i);
      p.dims = x.dims;
      p.src = idx::stridesOf(x.dims);
      p.dst = ys;
      p.dstBase = offset * ys[static_cast<size_t>(axis)];
      offset += x.dims[static_cast<size_t>(axis)];
      mPlans.push_back(std::move(p));
    }
    if (offset != y.dims[static_cast<size_t>(axis)])
      return ctx.error("input sizes do not add up to the output's");
    return Status::ok();
  }

  Status planSplit(const PrepareContext& ctx) {
    const CudaTensor& x = ctx.inputs[0];
    const int64_t rank = x.rank();
    int64_t axis = ctx.attrs().getInt("axis", 0);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) return ctx.error("axis is out of range");
    const std::vector<int64_t> xs = idx::stridesOf(x.dims);
    int64_t offset = 0;
    for (size_t j = 0; j < ctx.outputs.size(); ++j) {
      const CudaTensor& y = ctx.outputs[j];
      if (y.rank() != rank) return ctx.error("output %zu has a different rank", j);
      CopyPlan p;
      p.output = static_cast<int>(j);
      p.dims = y.dims;
      p.src = xs;
      p.dst = idx::stridesOf(y.dims);
      p.srcBase = offset * xs[static_cast<size_t>(axis)];
      offset += y.dims[static_cast<size_t>(axis)];
      if (offset > x.dims[static_cast<size_t>(axis)])
        return ctx.error("split sizes exceed the input");
      mPlans.push_back(std::move(p));
    }
    return Status::ok();
  }

  std::vector<CopyPlan> mPlans;
  size_t mEs = 4;
  bool mTiled = false;
  int mTileP = 0;
  bool mRunCopy = false;  // a transpose keeping the innermost run: runCopyKernel
};

StatusOr<std::unique_ptr<CudaKernel>> makeCopy(const ir::Node&) {
  return std::unique_ptr<CudaKernel>(new CopyKernel());
}

// --- Reshape, Flatten, Squeeze, Unsqueeze: the bytes do not move
// ------------------------------------

Status launchReshape(const LaunchContext& ctx) {
  const CudaTensor& x = ctx.inputs[0];
  CudaTensor& y = ctx.outputs[0];
  if (x.numel() != y.numel())
    return invalidArgument("%s: input has %lld elements but the output has %lld",
                           ctx.node.describe().c_str(), static_cast<long long>(x.numel()),
                           static_cast<long long>(y.numel()));
  const size_t bytes = x.bytes();
  if (bytes > 0 && x.data != y.data)
    KILN_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(y.data, x.data, bytes, cudaMemcpyDeviceToDevice, ctx.stream));
  return Status::ok();
}

// --- Pad
// -------------------------------------------------------------------------------------------

enum PadMode : int { kPadConstant = 0, kPadReflect = 1, kPadEdge = 2, kPadWrap = 3 };

template <typename I, int R>
struct PadArgs {
  I total;
  I out[R], in[R], begin[R], stride[R];  // front-padded with out = in = 1, begin 0, stride 0
};

// Source index on an axis of size d for position i, or -1 for the constant value (the CPU's
// padSource): reflect mirrors without repeating the edge (period 2(d-1)), edge clamps, wrap is
// periodic. d > 0 whenever i is outside [0, d) in a non-constant mode (checked at prepare).
template <typename I>
__device__ __forceinline__ I padSource(I i, I d, int mode) {
  if (i >= 0 && i < d) return i;
  switch (mode) {
    case kPadConstant: return -1;
    case kPadEdge: return i < 0 ? I{0} : d - 1;
    case kPadWrap: return ((i % d) + d) % d;
    default: {
      if (d == 1) return 0;
      const I period = 2 * (d - 1);
      const I m = ((i % period) + period) % period;
      return m < d ? m : period - m;
    }
  }
}

template <typename U, typename I, int R>
__global__ void __launch_bounds__(kThreads)
    padKernel(const __grid_constant__ PadArgs<I, R> a, const U* __restrict__ src,
              U* __restrict__ dst, const U* __restrict__ value, int mode) {
  using UI = std::make_unsigned_t<I>;
  const U fill = value ? *value : U{};
  for (I e = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; e < a.total;
       e += static_cast<I>(gridDim.x) * blockDim.x) {
    UI rem = static_cast<UI>(e);
    I so = 0;
    bool constant = false;
#pragma unroll
    for (int k = R - 1; k >= 0; --k) {
      const UI d = static_cast<UI>(a.out[k]);
      I c;
      if (k > 0) {
        c = static_cast<I>(rem % d);
        rem /= d;
      } else {
        c = static_cast<I>(rem);
      }
      const I s = padSource<I>(c - a.begin[k], a.in[k], mode);
      if (s < 0) constant = true;
      so += s * a.stride[k];
    }
    dst[e] = constant ? fill : src[so];
  }
}

class PadKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& x = ctx.inputs[0];
    const CudaTensor& y = ctx.outputs[0];
    const int64_t rank = x.rank();
    mEs = dataTypeSize(x.dtype);
    if (mEs != 1 && mEs != 2 && mEs != 4 && mEs != 8)
      return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(x.dtype)));
    const std::string mode = ctx.attrs().getString("mode", "constant");
    if (mode == "constant") {
      mMode = kPadConstant;
    } else if (mode == "reflect") {
      mMode = kPadReflect;
    } else if (mode == "edge") {
      mMode = kPadEdge;
    } else if (mode == "wrap") {
      mMode = kPadWrap;
    } else {
      return ctx.error("mode '%s' is not one of constant, reflect, edge, wrap", mode.c_str());
    }
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> pads, ctx.hostInts(1, "pads"));
    std::vector<int64_t> axes;
    if (ctx.hasInput(3)) {
      KILN_ASSIGN_OR_RETURN(axes, ctx.hostInts(3, "axes"));
    } else {
      for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
    }
    if (pads.size() != 2 * axes.size()) return ctx.error("pads has the wrong length");
    if (y.rank() != rank) return ctx.error("output rank differs from the input's");
    std::vector<int64_t> begin(static_cast<size_t>(rank), 0);
    for (size_t k = 0; k < axes.size(); ++k) {
      const int64_t a = axes[k] < 0 ? axes[k] + rank : axes[k];
      if (a < 0 || a >= rank)
        return ctx.error("pad axis %lld is out of range", static_cast<long long>(axes[k]));
      begin[static_cast<size_t>(a)] = pads[k];
    }
    mTotal = y.numel();
    // Merge runs of untouched axes (begin 0, same length): contiguous on both sides.
    std::vector<int64_t> out, in, bg;
    for (size_t a = 0; a < static_cast<size_t>(rank); ++a) {
      const bool plain = begin[a] == 0 && x.dims[a] == y.dims[a];
      if (mMode != kPadConstant && x.dims[a] == 0 && y.dims[a] > 0)
        return ctx.error("cannot pad an empty axis in mode %s", mode.c_str());
      if (plain && !out.empty() && bg.back() == 0 && out.back() == in.back()) {
        out.back() *= y.dims[a];
        in.back() *= x.dims[a];
        continue;
      }
      out.push_back(y.dims[a]);
      in.push_back(x.dims[a]);
      bg.push_back(begin[a]);
    }
    if (out.empty()) out = {1}, in = {1}, bg = {0};
    if (out.size() > static_cast<size_t>(kMaxRank))
      return ctx.unsupportedHere(
          strFormat("Pad of rank %zu (> %d after merging axes)", out.size(), kMaxRank));
    mRank = static_cast<int>(out.size());
    const std::vector<int64_t> is = idx::stridesOf(in);
    for (int k = 0; k < kMaxRank; ++k) {
      const bool real = k < mRank;
      mOut[k] = real ? out[static_cast<size_t>(k)] : 1;
      mIn[k] = real ? in[static_cast<size_t>(k)] : 1;
      mBegin[k] = real ? bg[static_cast<size_t>(k)] : 0;
      mStride[k] = real ? is[static_cast<size_t>(k)] : 0;
    }
    int64_t maxPad = 0;
    for (int64_t b : bg) maxPad = std::max(maxPad, b < 0 ? -b : b);
    mUse64 = mTotal >= kSmallLimit || x.numel() >= kSmallLimit || maxPad >= kSmallLimit;
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    if (mTotal == 0) return Status::ok();
    const void* value = ctx.hasInput(2) && ctx.inputs[2].numel() > 0 ? ctx.inputs[2].data : nullptr;
    Status st = Status::ok();
    dispatchRank(mRank, [&](auto rc) {
      constexpr int R = decltype(rc)::value;
      st = mUse64 ? launch<int64_t, R>(ctx, value) : launch<int32_t, R>(ctx, value);
    });
    return st;
  }

 private:
  template <typename I, int R>
  Status launch(const LaunchContext& ctx, const void* value) {
    PadArgs<I, R> a{};
    a.total = static_cast<I>(mTotal);
    const int pad = R - mRank;
    for (int k = 0; k < R; ++k) {
      const int s = k - pad;
      a.out[k] = static_cast<I>(s < 0 ? 1 : mOut[s]);
      a.in[k] = static_cast<I>(s < 0 ? 1 : mIn[s]);
      a.begin[k] = static_cast<I>(s < 0 ? 0 : mBegin[s]);
      a.stride[k] = static_cast<I>(s < 0 ? 0 : mStride[s]);
    }
    const int grid = idx::blocksFor(mTotal, ctx.libs);
    idx::dispatchElem(mEs, [&](auto tag) {
      using U = typename decltype(tag)::type;
      padKernel<U, I, R><<<grid, kThreads, 0, ctx.stream>>>(a, ctx.inputs[0].as<const U>(),
                                                            ctx.outputs[0].as<U>(),
                                                            static_cast<const U*>(value), mMode);
    });
    KILN_CUDA_CHECK_LAUNCH("pad kernel");
    return Status::ok();
  }

  size_t mEs = 4;
  int mMode = kPadConstant;
  int mRank = 1;
  int64_t mTotal = 0;
  int64_t mOut[kMaxRank] = {}, mIn[kMaxRank] = {}, mBegin[kMaxRank] = {}, mStride[kMaxRank] = {};
  bool mUse64 = false;
};

StatusOr<std::unique_ptr<CudaKernel>> makePad(const ir::Node&) {
  return std::unique_ptr<CudaKernel>(new PadKernel());
}

// --- fills: ConstantOfShape, Shape, Size
// -----------------------------------------------------------

template <typename U>
__global__ void __launch_bounds__(kThreads) fillKernel(U* __restrict__ dst, int64_t n, U value) {
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dst[e] = value;
}

// Fills `bytes` bytes at dst with the es-byte pattern `value` (16-byte stores when aligned).
Status fillPattern(const LaunchContext& ctx, void* dst, size_t bytes, size_t es,
                   const uint8_t* value) {
  if (bytes == 0) return Status::ok();
  bool zero = true;
  for (size_t i = 0; i < es; ++i) zero = zero && value[i] == 0;
  if (zero) {
    KILN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(dst, 0, bytes, ctx.stream));
    return Status::ok();
  }
  size_t unit = es;
  if (bytes % 16 == 0 && reinterpret_cast<uintptr_t>(dst) % 16 == 0) unit = 16;
  uint8_t pattern[16];
  for (size_t i = 0; i < unit; ++i) pattern[i] = value[i % es];
  const int64_t n = static_cast<int64_t>(bytes / unit);
  const int grid = idx::blocksFor(n, ctx.libs);
  const bool ok = idx::dispatchUnit(unit, [&](auto tag) {
    using U = typename decltype(tag)::type;
    U v;
    std::memcpy(&v, pattern, sizeof(U));
    fillKernel<U><<<grid, kThreads, 0, ctx.stream>>>(static_cast<U*>(dst), n, v);
  });
  if (!ok) return internalError("%s: bad element size %zu", ctx.node.describe().c_str(), es);
  KILN_CUDA_CHECK_LAUNCH("fill kernel");
  return Status::ok();
}

class ConstantOfShapeKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& y = ctx.outputs[0];
    mEs = dataTypeSize(y.dtype);
    if (mEs > 8)
      return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(y.dtype)));
    std::memset(mValue, 0, sizeof(mValue));  // default: float 0 (all-zero bytes)
    if (ir::TensorDataPtr v = ctx.attrs().getTensor("value")) {
      if (v->dtype() != y.dtype || v->numel() != 1)
        return ctx.error("attribute 'value' does not match the output");
      std::memcpy(mValue, v->data(), mEs);
    }
    return Status::ok();
  }
  Status enqueue(const LaunchContext& ctx) override {
    return fillPattern(ctx, ctx.outputs[0].data, ctx.outputs[0].bytes(), mEs, mValue);
  }

 private:
  size_t mEs = 4;
  uint8_t mValue[8] = {};
};

StatusOr<std::unique_ptr<CudaKernel>> makeConstantOfShape(const ir::Node&) {
  return std::unique_ptr<CudaKernel>(new ConstantOfShapeKernel());
}

__global__ void writeInt64Kernel(int64_t* __restrict__ dst, const __grid_constant__ Arr<int64_t> v,
                                 int n) {
  const int i = static_cast<int>(threadIdx.x);
  if (i < n) dst[i] = v[i];
}

// Writes host-known int64 values (passed by value, 8 per launch; nothing outlives the call).
Status writeInt64s(const LaunchContext& ctx, int64_t* dst, const int64_t* values, int64_t n) {
  for (int64_t base = 0; base < n; base += kMaxRank) {
    const int m = static_cast<int>(std::min<int64_t>(kMaxRank, n - base));
    Arr<int64_t> v{};
    for (int i = 0; i < m; ++i) v[i] = values[base + i];
    writeInt64Kernel<<<1, kMaxRank, 0, ctx.stream>>>(dst + base, v, m);
    KILN_CUDA_CHECK_LAUNCH("shape values kernel");
  }
  return Status::ok();
}

Status launchShape(const LaunchContext& ctx) {
  const CudaTensor& x = ctx.inputs[0];
  CudaTensor& y = ctx.outputs[0];
  const int64_t rank = x.rank();
  auto clampIndex = [rank](int64_t v) {
    if (v < 0) v += rank;
    return std::clamp<int64_t>(v, 0, rank);
  };
  const int64_t start = clampIndex(ctx.attrs().getInt("start", 0));
  const int64_t n = y.numel();
  if (start + n > rank)
    return internalError("%s: output longer than the input rank", ctx.node.describe().c_str());
  return writeInt64s(ctx, y.as<int64_t>(), x.dims.data() + start, n);
}

Status launchSize(const LaunchContext& ctx) {
  const int64_t n = ctx.inputs[0].numel();
  return writeInt64s(ctx, ctx.outputs[0].as<int64_t>(), &n, 1);
}

// --- Range -------------------------------------------------------------------------------------

// start/delta: host values when inference knows them, else read from the (device) inputs.
struct RangeArgs {
  const void* start = nullptr;  // device scalars (null: use the host values)
  const void* delta = nullptr;
  DataType dtype = DataType::kFLOAT;
  int64_t startI = 0, deltaI = 0;
  double startD = 0, deltaD = 0;
};

template <typename T>
__device__ __forceinline__ T rangeValue(const RangeArgs& a, int64_t i, int64_t si, int64_t di,
                                        double sd, double dd) {
  if constexpr (std::is_integral_v<T>) {
    // start + i * delta, wrapping in the element type (the CPU's arithmetic without UB).
    return static_cast<T>(static_cast<uint64_t>(si) +
                          static_cast<uint64_t>(i) * static_cast<uint64_t>(di));
  } else {
    // ONNX: start + i * delta in double, rounded once to the type (float16/bfloat16 via float).
    const double v = idx::dadd(sd, idx::dmul(static_cast<double>(i), dd));
    return idx::fromDouble<T>(v);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) rangeKernel(T* __restrict__ y, int64_t n, RangeArgs a) {
  int64_t si = a.startI, di = a.deltaI;
  double sd = a.startD, dd = a.deltaD;
  if (a.start) {
    si = idx::elementAsInt64(a.start, 0, a.dtype);
    di = idx::elementAsInt64(a.delta, 0, a.dtype);
    sd = idx::elementAsDouble(a.start, 0, a.dtype);
    dd = idx::elementAsDouble(a.delta, 0, a.dtype);
  }
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    y[e] = rangeValue<T>(a, e, si, di, sd, dd);
}

class RangeKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const DataType t = ctx.outputs[0].dtype;
    switch (t) {
      case DataType::kINT64:
      case DataType::kINT32:
      case DataType::kINT16:
      case DataType::kFLOAT:
      case DataType::kDOUBLE:
      case DataType::kHALF:
      case DataType::kBF16: break;
      default: return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(t)));
    }
    mArgs = RangeArgs{};
    mArgs.dtype = ctx.inputs[0].dtype;
    const bool isInt = t == DataType::kINT64 || t == DataType::kINT32 || t == DataType::kINT16;
    mFromDevice = false;
    if (isInt) {
      auto s = ctx.hostInts(0, "start");
      auto d = ctx.hostInts(2, "delta");
      if (s.isOk() && d.isOk() && s->size() == 1 && d->size() == 1) {
        mArgs.startI = (*s)[0];
        mArgs.deltaI = (*d)[0];
      } else {
        mFromDevice = true;
      }
    } else {
      auto s = ctx.hostDoubles(0, "start");
      auto d = ctx.hostDoubles(2, "delta");
      if (s.isOk() && d.isOk() && s->size() == 1 && d->size() == 1) {
        mArgs.startD = (*s)[0];
        mArgs.deltaD = (*d)[0];
      } else {
        mFromDevice = true;
      }
    }
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    CudaTensor& y = ctx.outputs[0];
    const int64_t n = y.numel();
    if (n == 0) return Status::ok();
    RangeArgs a = mArgs;
    if (mFromDevice) {
      a.start = ctx.inputs[0].data;
      a.delta = ctx.inputs[2].data;
    }
    const int grid = idx::blocksFor(n, ctx.libs);
    switch (y.dtype) {
      case DataType::kINT64:
        rangeKernel<int64_t><<<grid, kThreads, 0, ctx.stream>>>(y.as<int64_t>(), n, a);
        break;
      case DataType::kINT32:
        rangeKernel<int32_t><<<grid, kThreads, 0, ctx.stream>>>(y.as<int32_t>(), n, a);
        break;
      case DataType::kINT16:
        rangeKernel<int16_t><<<grid, kThreads, 0, ctx.stream>>>(y.as<int16_t>(), n, a);
        break;
      case DataType::kFLOAT:
        rangeKernel<float><<<grid, kThreads, 0, ctx.stream>>>(y.as<float>(), n, a);
        break;
      case DataType::kDOUBLE:
        rangeKernel<double><<<grid, kThreads, 0, ctx.stream>>>(y.as<double>(), n, a);
        break;
      case DataType::kHALF:
        rangeKernel<__half><<<grid, kThreads, 0, ctx.stream>>>(y.as<__half>(), n, a);
        break;
      case DataType::kBF16:
        rangeKernel<__nv_bfloat16><<<grid, kThreads, 0, ctx.stream>>>(y.as<__nv_bfloat16>(), n, a);
        break;
      default: return internalError("%s: unexpected data type", ctx.node.describe().c_str());
    }
    KILN_CUDA_CHECK_LAUNCH("range kernel");
    return Status::ok();
  }

 private:
  RangeArgs mArgs;
  bool mFromDevice = false;
};

StatusOr<std::unique_ptr<CudaKernel>> makeRange(const ir::Node&) {
  return std::unique_ptr<CudaKernel>(new RangeKernel());
}

// --- Trilu
// -----------------------------------------------------------------------------------------

// Over the last two dims [rows, cols]: upper keeps j - i >= k, lower keeps j - i <= k; the rest
// are zero (all-zero bytes are 0 in every type). k comes from the host when known, else from
// the device scalar.
template <typename U, typename I>
__global__ void __launch_bounds__(kThreads)
    triluKernel(const U* __restrict__ x, U* __restrict__ y, I total, I rows, I cols, int64_t k,
                const int64_t* __restrict__ kPtr, bool upper) {
  using UI = std::make_unsigned_t<I>;
  const int64_t kk = kPtr ? *kPtr : k;
  for (I e = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<I>(gridDim.x) * blockDim.x) {
    const UI ue = static_cast<UI>(e);
    const int64_t j = static_cast<int64_t>(ue % static_cast<UI>(cols));
    const int64_t i = static_cast<int64_t>((ue / static_cast<UI>(cols)) % static_cast<UI>(rows));
    const int64_t diag = j - i;
    const bool keep = upper ? diag >= kk : diag <= kk;
    y[e] = keep ? x[e] : U{};
  }
}

class TriluKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& x = ctx.inputs[0];
    if (x.rank() < 2) return ctx.error("input must have rank >= 2");
    mEs = dataTypeSize(x.dtype);
    if (mEs != 1 && mEs != 2 && mEs != 4 && mEs != 8)
      return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(x.dtype)));
    mUpper = ctx.attrs().getInt("upper", 1) != 0;
    mK = 0;
    mKFromDevice = false;
    if (ctx.hasInput(1)) {
      if (ctx.inputs[1].numel() != 1) return ctx.error("k must have one element");
      if (ctx.inputs[1].dtype != DataType::kINT64) return ctx.error("k must be int64");
      auto k = ctx.hostInts(1, "k");
      if (k.isOk() && k->size() == 1) {
        mK = (*k)[0];
      } else {
        mKFromDevice = true;
      }
    }
    mRows = x.dims[static_cast<size_t>(x.rank() - 2)];
    mCols = x.dims[static_cast<size_t>(x.rank() - 1)];
    mTotal = x.numel();
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    if (mTotal == 0) return Status::ok();
    const int64_t* kPtr = mKFromDevice ? ctx.inputs[1].as<const int64_t>() : nullptr;
    const int grid = idx::blocksFor(mTotal, ctx.libs);
    idx::dispatchElem(mEs, [&](auto tag) {
      using U = typename decltype(tag)::type;
      const U* x = ctx.inputs[0].as<const U>();
      U* y = ctx.outputs[0].as<U>();
      if (mTotal < kSmallLimit) {
        triluKernel<U, int32_t><<<grid, kThreads, 0, ctx.stream>>>(
            x, y, static_cast<int32_t>(mTotal), static_cast<int32_t>(mRows),
            static_cast<int32_t>(mCols), mK, kPtr, mUpper);
      } else {
        triluKernel<U, int64_t>
            <<<grid, kThreads, 0, ctx.stream>>>(x, y, mTotal, mRows, mCols, mK, kPtr, mUpper);
      }
    });
    KILN_CUDA_CHECK_LAUNCH("trilu kernel");
    return Status::ok();
  }

 private:
  size_t mEs = 4;
  bool mUpper = true, mKFromDevice = false;
  int64_t mK = 0, mRows = 0, mCols = 0, mTotal = 0;
};

StatusOr<std::unique_ptr<CudaKernel>> makeTrilu(const ir::Node&) {
  return std::unique_ptr<CudaKernel>(new TriluKernel());
}

}  // namespace

void registerShapeOpKernels(CudaKernelTable& t) {
  auto set = [&t](ir::OpKind op, CudaKernelFactory f) { t[static_cast<size_t>(op)] = f; };
  set(ir::OpKind::kReshape, &makeSimple<&launchReshape>);
  set(ir::OpKind::kFlatten, &makeSimple<&launchReshape>);
  set(ir::OpKind::kSqueeze, &makeSimple<&launchReshape>);
  set(ir::OpKind::kUnsqueeze, &makeSimple<&launchReshape>);
  set(ir::OpKind::kTranspose, &makeCopy);
  set(ir::OpKind::kDepthToSpace, &makeCopy);
  set(ir::OpKind::kSpaceToDepth, &makeCopy);
  set(ir::OpKind::kSlice, &makeCopy);
  set(ir::OpKind::kExpand, &makeCopy);
  set(ir::OpKind::kTile, &makeCopy);
  set(ir::OpKind::kConcat, &makeCopy);
  set(ir::OpKind::kSplit, &makeCopy);
  set(ir::OpKind::kPad, &makePad);
  set(ir::OpKind::kShape, &makeSimple<&launchShape>);
  set(ir::OpKind::kSize, &makeSimple<&launchSize>);
  set(ir::OpKind::kConstantOfShape, &makeConstantOfShape);
  set(ir::OpKind::kRange, &makeRange);
  set(ir::OpKind::kTrilu, &makeTrilu);
}

}  // namespace kiln::cuda
