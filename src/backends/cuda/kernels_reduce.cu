// CUDA kernels for the Reduce family (see ops.def): ReduceSum/Mean/Max/Min/Prod/L1/L2/SumSquare/
// LogSum/LogSumExp, ArgMax/ArgMin, CumSum. The CPU kernels (backends/cpu/kernels_reduce.cpp,
// kernels_indexing.cpp for CumSum) are the oracle.
//
// A reduction is planned in prepare() as rows or columns after collapsing the axes
// (reduce_util.cuh):
//   rows    [outer, count]         a group of lanes (1..32, part of a warp) or a block per output,
//                                  16-byte vector loads when aligned;
//   columns [outer, count, inner]  a (TX x TY) block per tile of TX outputs: threads over inner
//                                  read coalesced, TY threads split `count`, shared-memory tree
//                                  (short columns: one thread per output, still coalesced);
//   general several reduced axis groups: rows whose elements are found by div/mod.
// When there are few outputs and long reductions, `count` is split into chunks whose partial
// states go to the workspace, and a second kernel combines them (in a fixed order).
//
// Precision as the CPU: floats accumulate in double (float32/float64) or float (float16/bfloat16);
// integers in 64 bits with wrap-around. Empty reductions give the CPU's identities (sum 0, prod 1,
// max -inf / lowest, min +inf / highest, log-sum and log-sum-exp -inf, mean NaN).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/reduce_util.cuh"

namespace kiln::cuda {

namespace {

using ru::load;
using ru::Num;
using ru::RowIndex;
using ru::store;

// ---------------------------------------------------------------------------------------------
// Reduction operators. Each has a state S (init, map of one element, commutative combine) and
// finish(S, m) -> output. kTwoPass ops (log-sum-exp) first reduce the maximum m of the row.

enum class Post : int { kNone = 0, kMean, kLog, kSqrt };

template <typename V>
__device__ __forceinline__ V absOf(V v) {
  if constexpr (std::is_same_v<V, float>) {
    return fabsf(v);
  } else {
    return fabs(v);
  }
}

// Sum of x, |x| or x^2, then none / mean / log / sqrt (Sum, Mean, LogSum, L1, L2, SumSquare).
template <typename T>
struct SumOp {
  using M = typename Num<T>::M;
  using A = typename Num<T>::A;
  using S = A;
  using Out = T;
  static constexpr bool kTwoPass = false;
  int mapKind = 0;  // 0: x, 1: |x|, 2: x * x
  Post post = Post::kNone;
  int64_t count = 0;

  __device__ __forceinline__ S init() const { return S(0); }
  __device__ __forceinline__ S map(T x, int64_t, M) const {
    if constexpr (Num<T>::kFloat) {
      const A v = static_cast<A>(load(x));
      return mapKind == 1 ? absOf(v) : (mapKind == 2 ? v * v : v);
    } else {
      const int64_t v = load(x);
      const uint64_t u = static_cast<uint64_t>(v);
      if (mapKind == 1) return v < 0 ? static_cast<int64_t>(uint64_t{0} - u) : v;
      if (mapKind == 2) return static_cast<int64_t>(u * u);
      return v;
    }
  }
  __device__ __forceinline__ S combine(S a, S b) const {
    if constexpr (Num<T>::kFloat) {
      return a + b;
    } else {
      return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
    }
  }
  __device__ __forceinline__ Out finish(S s, M) const {
    if constexpr (Num<T>::kFloat) {
      switch (post) {
        case Post::kMean: s = s / static_cast<A>(count); break;  // 0/0 = NaN over an empty set
        case Post::kLog: s = ru::mlog(s); break;
        case Post::kSqrt: s = ru::msqrt(s); break;
        default: break;
      }
    } else {
      // Integer mean truncates toward zero (count > 0 is checked in prepare).
      if (post == Post::kMean) s = s / count;
    }
    return store<T>(s);
  }
};

// Max / Min; a NaN propagates (the CPU stops at the first NaN).
template <typename T>
struct MinMaxOp {
  using M = typename Num<T>::M;
  using S = M;
  using Out = T;
  static constexpr bool kTwoPass = false;
  bool isMax = true;

  __device__ __forceinline__ S init() const {
    if constexpr (Num<T>::kFloat) {
      return isMax ? -ru::posInf<S>() : ru::posInf<S>();
    } else {
      return isMax ? static_cast<S>(std::numeric_limits<T>::lowest())
                   : static_cast<S>(std::numeric_limits<T>::max());
    }
  }
  __device__ __forceinline__ S map(T x, int64_t, M) const { return load(x); }
  __device__ __forceinline__ S combine(S a, S b) const {
    if (ru::isNan(a)) return a;
    if (ru::isNan(b)) return b;
    return isMax ? (b > a ? b : a) : (b < a ? b : a);
  }
  __device__ __forceinline__ Out finish(S s, M) const { return store<T>(s); }
};

template <typename T>
struct ProdOp {
  using M = typename Num<T>::M;
  using A = typename Num<T>::A;
  using S = A;
  using Out = T;
  static constexpr bool kTwoPass = false;

  __device__ __forceinline__ S init() const { return S(1); }
  __device__ __forceinline__ S map(T x, int64_t, M) const { return static_cast<A>(load(x)); }
  __device__ __forceinline__ S combine(S a, S b) const {
    if constexpr (Num<T>::kFloat) {
      return a * b;
    } else {
      return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
    }
  }
  __device__ __forceinline__ Out finish(S s, M) const { return store<T>(s); }
};

// log(sum(exp(x))) = m + log(sum(exp(x - m))), m the max ignoring NaN; an infinite m (all -inf,
// empty, or any +inf) is the result, as on the CPU.
template <typename T>
struct LseOp {
  using M = typename Num<T>::M;
  using A = typename Num<T>::A;
  using S = A;
  using Out = T;
  static constexpr bool kTwoPass = true;

  __device__ __forceinline__ S init() const { return S(0); }
  __device__ __forceinline__ S map(T x, int64_t, M m) const {
    return ru::mexp(static_cast<A>(load(x)) - static_cast<A>(m));
  }
  __device__ __forceinline__ S combine(S a, S b) const { return a + b; }
  __device__ __forceinline__ Out finish(S s, M m) const {
    if (isinf(m)) return store<T>(m);
    return store<T>(static_cast<A>(m) + ru::mlog(s));
  }
};

// ArgMax / ArgMin over (value, index) pairs (ru::argCombine has the tie and NaN rules).
template <typename T>
struct ArgOp {
  using M = typename Num<T>::M;
  using C =
      std::conditional_t<Num<T>::kFloat,
                         std::conditional_t<std::is_same_v<T, double>, double, float>, int64_t>;
  using S = ru::ArgPair<C>;
  using Out = int64_t;
  static constexpr bool kTwoPass = false;
  bool isMax = true;
  bool last = false;

  __device__ __forceinline__ S init() const { return S{C(0), -1}; }
  __device__ __forceinline__ S map(T x, int64_t k, M) const {
    return S{static_cast<C>(load(x)), k};
  }
  __device__ __forceinline__ S combine(S a, S b) const { return ru::argCombine(a, b, isMax, last); }
  __device__ __forceinline__ Out finish(S s, M) const { return s.i; }
};

// ---------------------------------------------------------------------------------------------
// Kernels.

// One work item = (output row, chunk of the reduced elements). With splits == 1 the row's
// result is stored; otherwise its partial state goes to partial[item].
template <typename T, typename Op>
struct ReduceRowsBody {
  const T* x;
  typename Op::Out* y;
  typename Op::S* partial;
  RowIndex ri;
  int64_t splits;
  int64_t chunk;
  bool vec;
  Op op;

  template <typename G>
  __device__ __forceinline__ void operator()(int64_t item, bool active, const G& g) const {
    using S = typename Op::S;
    using M = typename Op::M;
    const int64_t row = item / splits, part = item % splits;
    const int64_t kb = part * chunk, ke = std::min(ri.len, kb + chunk);
    const int64_t base = ri.base(row);
    M m{};
    if constexpr (Op::kTwoPass) {
      M mx = -ru::posInf<M>();
      ru::forRow(x, ri, base, kb, ke, vec, g,
                 [&](int64_t, T v) { mx = ru::MaxIgnoreNan{}(mx, load(v)); });
      m = g.allReduce(mx, ru::MaxIgnoreNan{});
    }
    S acc = op.init();
    ru::forRow(x, ri, base, kb, ke, vec, g,
               [&](int64_t k, T v) { acc = op.combine(acc, op.map(v, k, m)); });
    const Op o = op;
    acc = g.allReduce(acc, [o](S a, S b) { return o.combine(a, b); });
    if (active && g.lane == 0) {
      if (splits == 1) {
        y[row] = op.finish(acc, m);
      } else {
        partial[item] = acc;
      }
    }
  }
};

constexpr int kColThreads = 256;  // TX * TY

// Columns: block (TX, TY) per tile of TX neighbouring outputs of one outer index; the TY rows of
// threads stride over the chunk of `count` given by blockIdx.y, then a shared-memory tree.
template <typename T, typename Op>
__global__ void reduceColsKernel(const T* x, typename Op::Out* y, typename Op::S* partial,
                                 int64_t outer, int64_t count, int64_t inner, int64_t tilesPerOuter,
                                 int64_t splits, int64_t chunk, Op op) {
  using S = typename Op::S;
  using M = typename Op::M;
  static_assert(sizeof(M) <= sizeof(S) || !Op::kTwoPass, "shared buffer too small");
  __shared__ __align__(16) unsigned char raw[kColThreads * sizeof(S)];
  S* buf = reinterpret_cast<S*>(raw);
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const int TX = static_cast<int>(blockDim.x), TY = static_cast<int>(blockDim.y);
  const int slot = ty * TX + tx;
  const int64_t part = blockIdx.y;
  const int64_t kb = part * chunk, ke = std::min(count, kb + chunk);
  const int64_t numTiles = outer * tilesPerOuter;
  for (int64_t tile = blockIdx.x; tile < numTiles; tile += gridDim.x) {
    const int64_t o = tile / tilesPerOuter;
    const int64_t i = (tile % tilesPerOuter) * TX + tx;
    const bool valid = i < inner;
    const T* p = x + o * count * inner + i;
    M m{};
    if constexpr (Op::kTwoPass) {
      M* mbuf = reinterpret_cast<M*>(raw);
      M mx = -ru::posInf<M>();
      if (valid)
        for (int64_t k = kb + ty; k < ke; k += TY) mx = ru::MaxIgnoreNan{}(mx, load(p[k * inner]));
      mbuf[slot] = mx;
      __syncthreads();
      for (int h = TY >> 1; h > 0; h >>= 1) {
        if (ty < h) mbuf[slot] = ru::MaxIgnoreNan{}(mbuf[slot], mbuf[slot + h * TX]);
        __syncthreads();
      }
      m = mbuf[tx];
      __syncthreads();
    }
    S acc = op.init();
    if (valid)
      for (int64_t k = kb + ty; k < ke; k += TY) acc = op.combine(acc, op.map(p[k * inner], k, m));
    buf[slot] = acc;
    __syncthreads();
    for (int h = TY >> 1; h > 0; h >>= 1) {
      if (ty < h) buf[slot] = op.combine(buf[slot], buf[slot + h * TX]);
      __syncthreads();
    }
    if (ty == 0 && valid) {
      const int64_t out = o * inner + i;
      if (splits == 1) {
        y[out] = op.finish(buf[tx], m);
      } else {
        partial[out * splits + part] = buf[tx];
      }
    }
    __syncthreads();
  }
}

// Combines each output's partial states in chunk order.
template <typename Op>
__global__ void reduceFinalizeKernel(const typename Op::S* partial, typename Op::Out* y,
                                     int64_t numOut, int64_t splits, Op op) {
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < numOut;
       o += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    typename Op::S acc = op.init();
    for (int64_t s = 0; s < splits; ++s) acc = op.combine(acc, partial[o * splits + s]);
    y[o] = op.finish(acc, typename Op::M{});
  }
}

// ---------------------------------------------------------------------------------------------
// Planning.

constexpr size_t kMaxStateBytes = 16;  // the largest Op::S (ArgOp's pair)

struct ReducePlan {
  ru::ReduceGeom geom;
  bool twoPass = false;
  // rows / general
  RowIndex ri;
  ru::RowCfg cfg;
  int64_t numItems = 0;
  bool vecOk = false;
  // column tiles (reduceColsKernel); false: the row drivers
  bool colTiles = false;
  int tx = 1, ty = 1;
  int64_t tilesPerOuter = 1;
  int gridX = 1;
  // chunking of `count`
  int64_t splits = 1, chunk = 0;
  size_t workspace = 0;
};

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

ReducePlan planReduce(const ru::ReduceGeom& geom, size_t elemSize, bool twoPass,
                      const DeviceProps& props) {
  ReducePlan p;
  p.geom = geom;
  p.twoPass = twoPass;
  const int64_t sms = std::max(props.smCount, 1);
  const int64_t count = geom.count;
  p.chunk = std::max<int64_t>(count, 1);
  if (geom.kind == ru::ReduceGeom::kCols) {
    p.tx = std::min(32, ru::nextPow2(geom.inner));
    p.ty = std::max(1, std::min(kColThreads / p.tx, ru::nextPow2(count)));
    // Short columns or narrow tiles would leave most of a tile's threads idle: one thread per
    // output instead (neighbouring threads still read neighbouring elements).
    p.colTiles = count > 32 && p.tx * p.ty >= 128;
  }
  if (p.colTiles) {
    p.tilesPerOuter = ceilDiv(geom.inner, p.tx);
    const int64_t tiles = geom.outer * p.tilesPerOuter;
    if (!twoPass && tiles < sms * 2 && count > int64_t{p.ty} * 64) {
      const int64_t want =
          std::min({ceilDiv(sms * 4, tiles), ceilDiv(count, int64_t{p.ty} * 32), int64_t{65535}});
      p.chunk = ceilDiv(count, want);
      p.splits = ceilDiv(count, p.chunk);
    }
    p.gridX = static_cast<int>(std::min<int64_t>(tiles, sms * 32));
  } else if (geom.kind == ru::ReduceGeom::kCols) {
    p.ri.len = count;
    p.ri.inner = geom.inner;
    p.cfg = ru::chooseRowCfg(count, true);
    p.numItems = geom.numOut;
  } else {
    if (geom.kind == ru::ReduceGeom::kGeneral) {
      p.ri.general = true;
      p.ri.gen = geom.gen;
    }
    p.ri.len = count;
    p.ri.inner = 1;
    if (!twoPass && count > 2048 && geom.numOut < sms * 2) {
      const int64_t want = std::min(ceilDiv(sms * 4, geom.numOut), ceilDiv(count, 8192));
      if (want > 1) {
        p.chunk = (ceilDiv(count, want) + 15) / 16 * 16;  // a multiple of every vector width
        p.splits = ceilDiv(count, p.chunk);
      }
    }
    p.cfg = ru::chooseRowCfg(std::min(p.chunk, count), false);
    p.numItems = geom.numOut * p.splits;
    const int64_t v = static_cast<int64_t>(16 / elemSize);
    p.vecOk =
        geom.kind == ru::ReduceGeom::kRows && count % v == 0 && (p.splits == 1 || p.chunk % v == 0);
  }
  if (p.splits > 1) p.workspace = static_cast<size_t>(geom.numOut * p.splits) * kMaxStateBytes;
  return p;
}

template <typename T, typename Op>
Status runReduce(const LaunchContext& ctx, const ReducePlan& p, const Op& op) {
  using S = typename Op::S;
  static_assert(sizeof(S) <= kMaxStateBytes, "state larger than the planned workspace");
  if (p.geom.numOut == 0) return Status::ok();
  const T* x = ctx.inputs[0].as<const T>();
  auto* y = ctx.outputs[0].as<typename Op::Out>();
  S* partial = p.splits > 1 ? static_cast<S*>(ctx.workspace) : nullptr;
  if (p.splits > 1 && (!partial || ctx.workspaceBytes < p.workspace))
    return internalError("%s: reduce workspace missing (%zu bytes, need %zu)",
                         ctx.node.describe().c_str(), ctx.workspaceBytes, p.workspace);
  const char* what = "reduce kernel launch";  // the executor adds the layer's name to errors
  if (p.colTiles) {
    const dim3 block(static_cast<unsigned>(p.tx), static_cast<unsigned>(p.ty));
    const dim3 grid(static_cast<unsigned>(p.gridX), static_cast<unsigned>(p.splits));
    reduceColsKernel<T, Op><<<grid, block, 0, ctx.stream>>>(x, y, partial, p.geom.outer,
                                                            p.geom.count, p.geom.inner,
                                                            p.tilesPerOuter, p.splits, p.chunk, op);
    KILN_CUDA_CHECK_LAUNCH(what);
  } else {
    const bool vec = p.vecOk && ru::aligned16(x);
    const ReduceRowsBody<T, Op> body{x, y, partial, p.ri, p.splits, p.chunk, vec, op};
    KILN_RETURN_IF_ERROR(
        ru::launchRows(body, p.numItems, p.cfg, ctx.stream, ctx.libs.props(), what));
  }
  if (p.splits > 1) {
    const int grid = gridFor(p.geom.numOut, 256, &ctx.libs.props());
    reduceFinalizeKernel<Op><<<grid, 256, 0, ctx.stream>>>(partial, y, p.geom.numOut, p.splits, op);
    KILN_CUDA_CHECK_LAUNCH(what);
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// ReduceX.

bool isReduceFloat(DataType t) { return ru::isFloatType(t); }
bool isReduceInt(DataType t) { return t == DataType::kINT32 || t == DataType::kINT64; }
bool allowsInts(ir::OpKind op) {
  return op == ir::OpKind::kReduceSum || op == ir::OpKind::kReduceMean ||
         op == ir::OpKind::kReduceMax || op == ir::OpKind::kReduceMin ||
         op == ir::OpKind::kReduceProd || op == ir::OpKind::kReduceL1 ||
         op == ir::OpKind::kReduceSumSquare;
}

class ReduceKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& x = ctx.inputs[0];
    mOp = ctx.node.op;
    mDtype = x.dtype;
    if (!isReduceFloat(mDtype) && !(isReduceInt(mDtype) && allowsInts(mOp)))
      return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(mDtype)));
    const int64_t rank = x.rank();
    // Axes and noop_with_empty_axes exactly as the CPU kernel reads them.
    std::vector<int64_t> axes;
    if (ctx.hasInput(1)) {
      KILN_ASSIGN_OR_RETURN(axes, ctx.hostInts(1, "axes"));
    } else if (ctx.attrs().has("axes")) {
      axes = ctx.attrs().getInts("axes");
    }
    std::vector<bool> reduced(static_cast<size_t>(rank), axes.empty());
    if (axes.empty() && ctx.attrs().getInt("noop_with_empty_axes", 0)) {
      std::fill(reduced.begin(), reduced.end(), false);
    }
    if (!axes.empty()) {
      for (int64_t a : axes) {
        if (a < -rank || a >= rank)
          return ctx.error("reduction axis %lld is out of range for rank %lld",
                           static_cast<long long>(a), static_cast<long long>(rank));
        reduced[static_cast<size_t>(a < 0 ? a + rank : a)] = true;
      }
    }
    ru::ReduceGeom geom;
    if (!ru::makeReduceGeom(x.dims, reduced, &geom))
      return ctx.unsupportedHere("a reduction over more than 8 separate axis groups");
    if (geom.numOut != ctx.outputs[0].numel())
      return internalError(
          "%s: reduce output has %lld elements, expected %lld", ctx.node.describe().c_str(),
          static_cast<long long>(ctx.outputs[0].numel()), static_cast<long long>(geom.numOut));
    if (mOp == ir::OpKind::kReduceMean && !ru::isFloatType(mDtype) && geom.count == 0 &&
        geom.numOut > 0)
      return ctx.error("integer ReduceMean over zero elements is undefined");
    mPlan = planReduce(geom, dataTypeSize(mDtype), mOp == ir::OpKind::kReduceLogSumExp,
                       ctx.libs.props());
    return Status::ok();
  }
  size_t workspaceSize() const override { return mPlan.workspace; }
  Status enqueue(const LaunchContext& ctx) override {
    switch (mDtype) {
      case DataType::kFLOAT: return run<float>(ctx);
      case DataType::kDOUBLE: return run<double>(ctx);
      case DataType::kHALF: return run<__half>(ctx);
      case DataType::kBF16: return run<__nv_bfloat16>(ctx);
      case DataType::kINT32: return runInt<int32_t>(ctx);
      case DataType::kINT64: return runInt<int64_t>(ctx);
      default:
        return unsupported("%s: data type %s", ctx.node.describe().c_str(), dataTypeName(mDtype));
    }
  }

 private:
  template <typename T>
  Status runSums(const LaunchContext& ctx) {
    SumOp<T> op;
    op.count = mPlan.geom.count;
    switch (mOp) {
      case ir::OpKind::kReduceMean: op.post = Post::kMean; break;
      case ir::OpKind::kReduceLogSum: op.post = Post::kLog; break;
      case ir::OpKind::kReduceL1: op.mapKind = 1; break;
      case ir::OpKind::kReduceL2: op.mapKind = 2, op.post = Post::kSqrt; break;
      case ir::OpKind::kReduceSumSquare: op.mapKind = 2; break;
      default: break;
    }
    return runReduce<T>(ctx, mPlan, op);
  }
  template <typename T>
  Status run(const LaunchContext& ctx) {
    switch (mOp) {
      case ir::OpKind::kReduceMax: return runReduce<T>(ctx, mPlan, MinMaxOp<T>{true});
      case ir::OpKind::kReduceMin: return runReduce<T>(ctx, mPlan, MinMaxOp<T>{false});
      case ir::OpKind::kReduceProd: return runReduce<T>(ctx, mPlan, ProdOp<T>{});
      case ir::OpKind::kReduceLogSumExp: return runReduce<T>(ctx, mPlan, LseOp<T>{});
      default: return runSums<T>(ctx);
    }
  }
  template <typename T>
  Status runInt(const LaunchContext& ctx) {
    switch (mOp) {
      case ir::OpKind::kReduceMax: return runReduce<T>(ctx, mPlan, MinMaxOp<T>{true});
      case ir::OpKind::kReduceMin: return runReduce<T>(ctx, mPlan, MinMaxOp<T>{false});
      case ir::OpKind::kReduceProd: return runReduce<T>(ctx, mPlan, ProdOp<T>{});
      case ir::OpKind::kReduceL2:
      case ir::OpKind::kReduceLogSum:
      case ir::OpKind::kReduceLogSumExp:
        return unsupported("%s: integer data for this reduction", ctx.node.describe().c_str());
      default: return runSums<T>(ctx);
    }
  }

  ir::OpKind mOp = ir::OpKind::kReduceSum;
  DataType mDtype = DataType::kFLOAT;
  ReducePlan mPlan;
};

// ---------------------------------------------------------------------------------------------
// ArgMax / ArgMin.

class ArgReduceKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& x = ctx.inputs[0];
    mDtype = x.dtype;
    switch (mDtype) {
      case DataType::kFLOAT:
      case DataType::kDOUBLE:
      case DataType::kHALF:
      case DataType::kBF16:
      case DataType::kINT32:
      case DataType::kINT64:
      case DataType::kINT8:
      case DataType::kUINT8: break;
      default:
        return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(mDtype)));
    }
    const int64_t rank = x.rank();
    int64_t axis = ctx.attrs().getInt("axis", 0);
    if (axis < -rank || axis >= rank)
      return ctx.error("axis %lld is out of range for rank %lld", static_cast<long long>(axis),
                       static_cast<long long>(rank));
    if (axis < 0) axis += rank;
    if (x.dims[static_cast<size_t>(axis)] == 0)
      return ctx.error("cannot take the arg-max/min over an empty axis");
    mIsMax = ctx.node.op == ir::OpKind::kArgMax;
    mLast = ctx.attrs().getInt("select_last_index", 0) != 0;
    std::vector<bool> reduced(static_cast<size_t>(rank), false);
    reduced[static_cast<size_t>(axis)] = true;
    ru::ReduceGeom geom;
    if (!ru::makeReduceGeom(x.dims, reduced, &geom)) return ctx.unsupportedHere("this axis split");
    if (geom.numOut != ctx.outputs[0].numel())
      return internalError(
          "%s: output has %lld elements, expected %lld", ctx.node.describe().c_str(),
          static_cast<long long>(ctx.outputs[0].numel()), static_cast<long long>(geom.numOut));
    mPlan = planReduce(geom, dataTypeSize(mDtype), false, ctx.libs.props());
    return Status::ok();
  }
  size_t workspaceSize() const override { return mPlan.workspace; }
  Status enqueue(const LaunchContext& ctx) override {
    switch (mDtype) {
      case DataType::kFLOAT: return run<float>(ctx);
      case DataType::kDOUBLE: return run<double>(ctx);
      case DataType::kHALF: return run<__half>(ctx);
      case DataType::kBF16: return run<__nv_bfloat16>(ctx);
      case DataType::kINT32: return run<int32_t>(ctx);
      case DataType::kINT64: return run<int64_t>(ctx);
      case DataType::kINT8: return run<int8_t>(ctx);
      case DataType::kUINT8: return run<uint8_t>(ctx);
      default:
        return unsupported("%s: data type %s", ctx.node.describe().c_str(), dataTypeName(mDtype));
    }
  }

 private:
  template <typename T>
  Status run(const LaunchContext& ctx) {
    ArgOp<T> op;
    op.isMax = mIsMax;
    op.last = mLast;
    return runReduce<T>(ctx, mPlan, op);
  }

  DataType mDtype = DataType::kFLOAT;
  bool mIsMax = true, mLast = false;
  ReducePlan mPlan;
};

// ---------------------------------------------------------------------------------------------
// CumSum: y[j] = sum of x[i] for i <= j (exclusive: i < j; reverse: i >= j / i > j) along the
// axis. Floats accumulate in double like the CPU (a scan's rounding error grows with its length,
// so float16/bfloat16 use double too); integers wrap modulo 2^64, then truncate.

template <typename T>
using ScanAcc = std::conditional_t<Num<T>::kFloat, double, uint64_t>;

template <typename T>
__device__ __forceinline__ ScanAcc<T> scanLoad(T v) {
  if constexpr (Num<T>::kFloat) {
    return static_cast<double>(load(v));
  } else {
    return static_cast<uint64_t>(static_cast<int64_t>(v));
  }
}

// One thread per (outer, inner) line, scanning sequentially (the CPU's order): lanes over inner
// read neighbouring elements.
template <typename T>
__global__ void cumSumLinesKernel(const T* x, T* y, int64_t outer, int64_t n, int64_t inner,
                                  bool exclusive, bool reverse) {
  const int64_t lines = outer * inner;
  for (int64_t l = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; l < lines;
       l += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t o = l / inner, i = l % inner;
    const int64_t base = o * n * inner + i;
    ScanAcc<T> acc{0};
    for (int64_t s = 0; s < n; ++s) {
      const int64_t at = base + (reverse ? n - 1 - s : s) * inner;
      const ScanAcc<T> e = scanLoad(x[at]);
      if (!exclusive) acc += e;
      y[at] = store<T>(acc);
      if (exclusive) acc += e;
    }
  }
}

// One block per contiguous row: chunks of 4 * blockDim elements; each thread scans its 4
// consecutive scan positions, a warp shuffle scan and a pass over the warp totals give each
// thread its prefix, and the running carry crosses chunks.
template <typename T>
__global__ void cumSumRowsKernel(const T* x, T* y, int64_t rows, int64_t n, bool exclusive,
                                 bool reverse) {
  using Acc = ScanAcc<T>;
  constexpr int kItems = 4;
  __shared__ Acc warpTotal[32];
  const int lane = static_cast<int>(threadIdx.x & 31), warp = static_cast<int>(threadIdx.x >> 5);
  const int numWarps = static_cast<int>(blockDim.x >> 5);
  const int64_t perChunk = static_cast<int64_t>(blockDim.x) * kItems;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* p = x + row * n;
    T* q = y + row * n;
    Acc carry{0};
    for (int64_t c0 = 0; c0 < n; c0 += perChunk) {
      const int64_t s0 = c0 + static_cast<int64_t>(threadIdx.x) * kItems;
      Acc v[kItems];
#pragma unroll
      for (int j = 0; j < kItems; ++j) {
        const int64_t s = s0 + j;
        v[j] = s < n ? scanLoad(p[reverse ? n - 1 - s : s]) : Acc{0};
      }
      Acc incl[kItems];  // inclusive scan of this thread's items
      incl[0] = v[0];
#pragma unroll
      for (int j = 1; j < kItems; ++j) incl[j] = incl[j - 1] + v[j];
      const Acc total = incl[kItems - 1];
      Acc warpIncl = total;
      for (int d = 1; d < 32; d <<= 1) {
        const Acc other = ru::shflUp(warpIncl, d);
        if (lane >= d) warpIncl += other;
      }
      Acc laneExcl = ru::shflUp(warpIncl, 1);
      if (lane == 0) laneExcl = Acc{0};
      if (lane == 31) warpTotal[warp] = warpIncl;
      __syncthreads();
      Acc warpPrefix{0}, chunkTotal{0};
      for (int w = 0; w < numWarps; ++w) {
        if (w < warp) warpPrefix += warpTotal[w];
        chunkTotal += warpTotal[w];
      }
      const Acc prefix = carry + warpPrefix + laneExcl;  // sum of every earlier scan position
#pragma unroll
      for (int j = 0; j < kItems; ++j) {
        const int64_t s = s0 + j;
        if (s < n) {
          const Acc before = j == 0 ? prefix : prefix + incl[j - 1];
          q[reverse ? n - 1 - s : s] = store<T>(exclusive ? before : prefix + incl[j]);
        }
      }
      carry += chunkTotal;
      __syncthreads();  // warpTotal is rewritten by the next chunk
    }
  }
}

class CumSumKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    const CudaTensor& x = ctx.inputs[0];
    mDtype = x.dtype;
    switch (mDtype) {
      case DataType::kFLOAT:
      case DataType::kDOUBLE:
      case DataType::kHALF:
      case DataType::kBF16:
      case DataType::kINT8:
      case DataType::kINT16:
      case DataType::kINT32:
      case DataType::kINT64:
      case DataType::kUINT8:
      case DataType::kUINT16:
      case DataType::kUINT32:
      case DataType::kUINT64: break;
      default:
        return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(mDtype)));
    }
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axisV, ctx.hostInts(1, "axis"));
    if (axisV.empty()) return ctx.error("axis must have one element");
    int64_t axis = axisV[0];
    const int64_t rank = x.rank();
    if (axis < -rank || axis >= rank)
      return ctx.error("axis %lld is out of range for input of shape %s",
                       static_cast<long long>(axis), ir::dimsToString(x.dims).c_str());
    if (axis < 0) axis += rank;
    mExclusive = ctx.attrs().getInt("exclusive", 0) != 0;
    mReverse = ctx.attrs().getInt("reverse", 0) != 0;
    mOuter = 1;
    mInner = 1;
    for (int64_t d = 0; d < axis; ++d) mOuter *= x.dims[static_cast<size_t>(d)];
    for (int64_t d = axis + 1; d < rank; ++d) mInner *= x.dims[static_cast<size_t>(d)];
    mN = x.dims[static_cast<size_t>(axis)];
    return Status::ok();
  }
  Status enqueue(const LaunchContext& ctx) override {
    switch (mDtype) {
      case DataType::kFLOAT: return run<float>(ctx);
      case DataType::kDOUBLE: return run<double>(ctx);
      case DataType::kHALF: return run<__half>(ctx);
      case DataType::kBF16: return run<__nv_bfloat16>(ctx);
      case DataType::kINT8: return run<int8_t>(ctx);
      case DataType::kINT16: return run<int16_t>(ctx);
      case DataType::kINT32: return run<int32_t>(ctx);
      case DataType::kINT64: return run<int64_t>(ctx);
      case DataType::kUINT8: return run<uint8_t>(ctx);
      case DataType::kUINT16: return run<uint16_t>(ctx);
      case DataType::kUINT32: return run<uint32_t>(ctx);
      case DataType::kUINT64: return run<uint64_t>(ctx);
      default:
        return unsupported("%s: data type %s", ctx.node.describe().c_str(), dataTypeName(mDtype));
    }
  }

 private:
  template <typename T>
  Status run(const LaunchContext& ctx) {
    if (mOuter * mN * mInner == 0) return Status::ok();
    const T* x = ctx.inputs[0].as<const T>();
    T* y = ctx.outputs[0].as<T>();
    const DeviceProps& props = ctx.libs.props();
    const char* what = "CumSum kernel launch";  // the executor adds the layer's name to errors
    if (mInner == 1 && mN > 64) {
      const int threads = mN <= 512 ? 128 : 256;
      const int grid = gridFor(mOuter * threads, threads, &props);
      cumSumRowsKernel<T><<<grid, threads, 0, ctx.stream>>>(x, y, mOuter, mN, mExclusive, mReverse);
    } else {
      const int grid = gridFor(mOuter * mInner, 256, &props);
      cumSumLinesKernel<T>
          <<<grid, 256, 0, ctx.stream>>>(x, y, mOuter, mN, mInner, mExclusive, mReverse);
    }
    KILN_CUDA_CHECK_LAUNCH(what);
    return Status::ok();
  }

  DataType mDtype = DataType::kFLOAT;
  bool mExclusive = false, mReverse = false;
  int64_t mOuter = 1, mN = 1, mInner = 1;
};

template <typename K>
StatusOr<std::unique_ptr<CudaKernel>> makeKernel(const ir::Node&) {
  return std::unique_ptr<CudaKernel>(new K());
}

}  // namespace

void registerReduceKernels(CudaKernelTable& t) {
  for (ir::OpKind op : {ir::OpKind::kReduceSum, ir::OpKind::kReduceMean, ir::OpKind::kReduceMax,
                        ir::OpKind::kReduceMin, ir::OpKind::kReduceProd, ir::OpKind::kReduceL1,
                        ir::OpKind::kReduceL2, ir::OpKind::kReduceSumSquare,
                        ir::OpKind::kReduceLogSum, ir::OpKind::kReduceLogSumExp}) {
    t[static_cast<size_t>(op)] = &makeKernel<ReduceKernel>;
  }
  t[static_cast<size_t>(ir::OpKind::kArgMax)] = &makeKernel<ArgReduceKernel>;
  t[static_cast<size_t>(ir::OpKind::kArgMin)] = &makeKernel<ArgReduceKernel>;
  t[static_cast<size_t>(ir::OpKind::kCumSum)] = &makeKernel<CumSumKernel>;
}

}  // namespace kiln::cuda
