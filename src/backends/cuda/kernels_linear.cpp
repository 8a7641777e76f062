// CUDA kernels of the Linear family: MatMul and Gemm (cuBLASLt), Conv and ConvTranspose (cuDNN
// backend API), Einsum (direct loops). Semantics follow the CPU kernels in
// src/backends/cpu/kernels_linear.cpp (the oracle).
//
// Integer MatMul/Gemm (wrap-around, as the CPU) and Einsum run on the direct kernels of
// kernels_linear_util.cu; so do convolutions cuDNN cannot take (no engine with CPU-exact
// numerics, negative pads, misaligned pointers, empty channels). tactic() names the path.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/cublaslt_gemm.h"
#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/cudnn_conv.h"
#include "backends/cuda/fused_epilogue.h"
#include "ir/channels_last.h"
#include "ir/einsum_equation.h"
#include "ir/tensor_data.h"
#include "ir/window_params.h"

namespace kiln::cuda {

namespace {

bool isFloatType(DataType t) {
  return t == DataType::kFLOAT || t == DataType::kHALF || t == DataType::kBF16 ||
         t == DataType::kDOUBLE;
}
bool isIntType(DataType t) {
  return t == DataType::kINT32 || t == DataType::kINT64 || t == DataType::kUINT32 ||
         t == DataType::kUINT64;
}

std::string dimsStr(const std::vector<int64_t>& d) { return ir::dimsToString(d); }

// Largest power of two <= 256 dividing `bytes` (0 divides everything).
uint32_t byteAlignment(int64_t bytes) {
  if (bytes == 0) return 256;
  const uint64_t v = static_cast<uint64_t>(bytes < 0 ? -bytes : bytes);
  return static_cast<uint32_t>(std::min<uint64_t>(v & (~v + 1), 256));
}

const char* offsetPtr(const void* base, int64_t elems, size_t elemSize) {
  return static_cast<const char*>(base) + elems * static_cast<int64_t>(elemSize);
}

template <typename K>
StatusOr<std::unique_ptr<CudaKernel>> makeKernel(const ir::Node&) {
  return std::unique_ptr<CudaKernel>(new K());
}

// ---------------------------------------------------------------------------------------------
// MatMul (numpy semantics)

class MatMulKernel final : public LtGemmKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    mGemm.reset();
    mMode = Mode::kEmpty;
    mLoopA.clear();
    mLoopB.clear();
    mLoopY.clear();
    mFallbackReason.clear();
    const CudaTensor& a = ctx.inputs[0];
    const CudaTensor& b = ctx.inputs[1];
    mType = a.dtype;
    if (!isFloatType(mType) && !isIntType(mType))
      return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(mType)));
    if (b.dtype != mType)
      return ctx.error("inputs must have the same data type, got %s and %s", dataTypeName(mType),
                       dataTypeName(b.dtype));

    // 1-D promotion: [K] -> [1,K] on the left, [K] -> [K,1] on the right.
    std::vector<int64_t> ad = a.dims, bd = b.dims;
    if (ad.empty() || bd.empty()) return ctx.error("inputs must have rank >= 1");
    if (ad.size() == 1) ad.insert(ad.begin(), 1);
    if (bd.size() == 1) bd.push_back(1);
    const int64_t m = ad[ad.size() - 2], k = ad.back(), n = bd.back();
    if (bd[bd.size() - 2] != k)
      return ctx.error("inner dimensions do not match: A %s has K=%lld but B %s has K=%lld",
                       dimsStr(a.dims).c_str(), static_cast<long long>(k), dimsStr(b.dims).c_str(),
                       static_cast<long long>(bd[bd.size() - 2]));
    // Batch broadcasting; strides counted in matrices, 0 for a broadcast dim.
    const size_t ra = ad.size() - 2, rb = bd.size() - 2, r = std::max(ra, rb);
    struct Dim {
      int64_t size, a, b, y;
    };
    std::vector<Dim> dims(r);
    int64_t sa = 1, sb = 1, sy = 1;
    for (size_t i = r; i-- > 0;) {
      const int64_t da = i >= r - ra ? ad[i - (r - ra)] : 1;
      const int64_t db = i >= r - rb ? bd[i - (r - rb)] : 1;
      if (da != db && da != 1 && db != 1)
        return ctx.error("batch dimensions of A %s and B %s do not broadcast",
                         dimsStr(a.dims).c_str(), dimsStr(b.dims).c_str());
      const int64_t out = (da == 0 || db == 0) ? 0 : std::max(da, db);
      dims[i] = {out, da == 1 ? 0 : sa, db == 1 ? 0 : sb, sy};
      sa *= da;
      sb *= db;
      sy *= out;
    }
    if (ctx.outputs[0].numel() == 0) return Status::ok();  // kEmpty
    if (k == 0) {
      mMode = Mode::kZero;  // an empty sum: zeros
      return Status::ok();
    }
    // Drop unit dims and merge neighbours that are contiguous for every operand.
    std::vector<Dim> merged;
    for (const Dim& d : dims) {
      if (d.size == 1) continue;
      if (!merged.empty()) {
        Dim& o = merged.back();
        if (o.a == d.a * d.size && o.b == d.b * d.size && o.y == d.y * d.size) {
          o = {o.size * d.size, d.a, d.b, d.y};
          continue;
        }
      }
      merged.push_back(d);
    }
    const int64_t mk = m * k, kn = k * n, mn = m * n;

    // The direct kernel's parameters (integers always; floats if cuBLASLt has no algorithm).
    mNaive = NaiveGemmParams{};
    mNaive.m = m;
    mNaive.n = n;
    mNaive.k = k;
    mNaive.aRs = k;
    mNaive.aCs = 1;
    mNaive.bRs = n;
    mNaive.bCs = 1;
    const bool naiveFits = merged.size() <= static_cast<size_t>(kNaiveGemmMaxBatchRank);
    if (naiveFits) {
      mNaive.batchRank = static_cast<int32_t>(merged.size());
      for (size_t i = 0; i < merged.size(); ++i) {
        mNaive.batchDims[i] = merged[i].size;
        mNaive.aBatchStride[i] = merged[i].a * mk;
        mNaive.bBatchStride[i] = merged[i].b * kn;
      }
    }
    if (isIntType(mType)) {
      if (!naiveFits)
        return ctx.unsupportedHere(strFormat("integer MatMul with %zu batch dims", merged.size()));
      mMode = Mode::kNaive;
      return Status::ok();
    }

    // cuBLASLt: fold a stack of A matrices against one B into the M dimension (one GEMM with
    // batch*M rows), make the largest remaining batch dim the strided batch, loop over the rest.
    LtGemmSpec spec;
    spec.dtype = mType;
    spec.m = m;
    spec.n = n;
    spec.k = k;
    spec.allowTF32 = ctx.allowTF32;
    if (!merged.empty() && merged.back().a == 1 && merged.back().b == 0 && merged.back().y == 1) {
      spec.m = m * merged.back().size;
      merged.pop_back();
    }
    if (!merged.empty()) {
      const auto it = std::max_element(merged.begin(), merged.end(),
                                       [](const Dim& x, const Dim& y) { return x.size < y.size; });
      spec.batch = it->size;
      spec.strideA = it->a * mk;
      spec.strideB = it->b * kn;
      spec.strideY = it->y * mn;
      merged.erase(it);
    }
    // Loop offsets (elements) over the remaining dims, odometer order.
    int64_t loops = 1;
    for (const Dim& d : merged) loops *= d.size;
    std::vector<int64_t> idx(merged.size(), 0);
    for (int64_t l = 0; l < loops; ++l) {
      int64_t oa = 0, ob = 0, oy = 0;
      for (size_t i = 0; i < merged.size(); ++i) {
        oa += idx[i] * merged[i].a * mk;
        ob += idx[i] * merged[i].b * kn;
        oy += idx[i] * merged[i].y * mn;
      }
      mLoopA.push_back(oa);
      mLoopB.push_back(ob);
      mLoopY.push_back(oy);
      for (size_t i = merged.size(); i-- > 0;) {
        if (++idx[i] < merged[i].size) break;
        idx[i] = 0;
      }
    }
    // Every matrix start keeps the alignment of its base only up to these byte offsets.
    const int64_t es = static_cast<int64_t>(dataTypeSize(mType));
    uint32_t align = 256;
    if (spec.batch > 1)
      align = std::min({align, byteAlignment(spec.strideA * es), byteAlignment(spec.strideB * es),
                        byteAlignment(spec.strideY * es)});
    for (size_t l = 0; l < mLoopA.size(); ++l)
      align = std::min({align, byteAlignment(mLoopA[l] * es), byteAlignment(mLoopB[l] * es),
                        byteAlignment(mLoopY[l] * es)});
    spec.structAlign = align;

    KILN_ASSIGN_OR_RETURN(cublasLtContext * lt, ctx.libs.cublasLt());
    auto gemm = std::make_unique<LtGemm>();
    const Status st = gemm->init(lt, spec, ctx.node.describe());
    if (st.isOk()) {
      mGemm = std::move(gemm);
      mMode = Mode::kLt;
      return Status::ok();
    }
    if (st.code() != StatusCode::kUnsupported) return st;
    if (!naiveFits) return st;
    mFallbackReason = st.message();
    mMode = Mode::kNaive;
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    const CudaTensor& y = ctx.outputs[0];
    switch (mMode) {
      case Mode::kEmpty: return Status::ok();
      case Mode::kZero:
        KILN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(y.data, 0, y.bytes(), ctx.stream));
        return Status::ok();
      case Mode::kNaive:
        return launchNaiveGemm(mType, mNaive, ctx.inputs[0].data, ctx.inputs[1].data, nullptr,
                               y.data, ctx.stream, ctx.libs.props());
      case Mode::kLt: break;
    }
    KILN_ASSIGN_OR_RETURN(cublasLtContext * lt, ctx.libs.cublasLt());
    const size_t es = dataTypeSize(mType);
    for (size_t l = 0; l < mLoopA.size(); ++l) {
      KILN_RETURN_IF_ERROR(mGemm->run(lt, offsetPtr(ctx.inputs[0].data, mLoopA[l], es),
                                      offsetPtr(ctx.inputs[1].data, mLoopB[l], es), nullptr,
                                      const_cast<char*>(offsetPtr(y.data, mLoopY[l], es)),
                                      ctx.workspace, ctx.workspaceBytes, ctx.stream));
    }
    return Status::ok();
  }

  std::string tactic() const override {
    switch (mMode) {
      case Mode::kEmpty: return "empty";
      case Mode::kZero: return "memset (K = 0)";
      case Mode::kNaive:
        return mFallbackReason.empty() ? "kiln direct GEMM"
                                       : "kiln direct GEMM (" + mFallbackReason + ")";
      case Mode::kLt: break;
    }
    std::string t = mGemm->tactic();
    if (mLoopA.size() > 1) t += strFormat(" x%zu calls", mLoopA.size());
    return t;
  }

 private:
  enum class Mode { kEmpty, kZero, kNaive, kLt };
  Mode mMode = Mode::kEmpty;
  DataType mType = DataType::kFLOAT;
  std::vector<int64_t> mLoopA, mLoopB, mLoopY;  // per-call element offsets (at least one call)
  NaiveGemmParams mNaive;
  std::string mFallbackReason;
};

// ---------------------------------------------------------------------------------------------
// Gemm: Y = alpha * op(A) * op(B) + beta * C, C unidirectionally broadcast to [M, N]

class GemmKernel final : public LtGemmKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    mGemm.reset();
    mMode = Mode::kEmpty;
    mCopyC = false;
    mFallbackReason.clear();
    const CudaTensor& a = ctx.inputs[0];
    const CudaTensor& b = ctx.inputs[1];
    mType = a.dtype;
    if (!isFloatType(mType) && !isIntType(mType))
      return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(mType)));
    const bool transA = ctx.attrs().getInt("transA", 0) != 0;
    const bool transB = ctx.attrs().getInt("transB", 0) != 0;
    if (a.rank() != 2 || b.rank() != 2) return ctx.error("A and B must be 2-D");
    const int64_t m = transA ? a.dims[1] : a.dims[0];
    const int64_t k = transA ? a.dims[0] : a.dims[1];
    const int64_t kb = transB ? b.dims[1] : b.dims[0];
    const int64_t n = transB ? b.dims[0] : b.dims[1];
    if (kb != k)
      return ctx.error(
          "inner dimensions do not match: op(A) is [%lld,%lld] and op(B) is [%lld,%lld]",
          static_cast<long long>(m), static_cast<long long>(k), static_cast<long long>(kb),
          static_cast<long long>(n));
    mHasC = ctx.hasInput(2);
    mCRows = mCCols = 1;
    if (mHasC) {
      const CudaTensor& c = ctx.inputs[2];
      if (c.rank() > 2) return ctx.error("C must have rank <= 2");
      mCRows = c.rank() == 2 ? c.dims[0] : 1;
      mCCols = c.rank() >= 1 ? c.dims.back() : 1;
      if ((mCRows != 1 && mCRows != m) || (mCCols != 1 && mCCols != n))
        return ctx.error("C of shape %s cannot be broadcast to the output [%lld,%lld]",
                         dimsStr(c.dims).c_str(), static_cast<long long>(m),
                         static_cast<long long>(n));
    }
    // The CPU reads alpha/beta as float attributes.
    const float alpha = ctx.attrs().getFloat("alpha", 1.f),
                beta = ctx.attrs().getFloat("beta", 1.f);
    mAlpha = alpha;
    mBeta = beta;
    mM = m;
    mN = n;
    if (isIntType(mType) && (alpha != static_cast<float>(static_cast<int64_t>(alpha)) ||
                             beta != static_cast<float>(static_cast<int64_t>(beta))))
      return unsupported("%s: alpha and beta must be whole numbers for integer Gemm (got %g, %g)",
                         ctx.node.describe().c_str(), alpha, beta);
    if (m == 0 || n == 0) return Status::ok();  // kEmpty

    if (isIntType(mType)) {
      mNaive = NaiveGemmParams{};
      mNaive.m = m;
      mNaive.n = n;
      mNaive.k = k;
      mNaive.aRs = transA ? 1 : k;  // op(A)(i,p) = A[p,i] when transposed
      mNaive.aCs = transA ? m : 1;
      mNaive.bRs = transB ? 1 : n;  // op(B)(p,j) = B[j,p] when transposed
      mNaive.bCs = transB ? k : 1;
      mNaive.hasC = mHasC;
      mNaive.cRs = mCRows == 1 ? 0 : mCCols;
      mNaive.cCs = mCCols == 1 ? 0 : 1;
      mNaive.alpha = static_cast<double>(static_cast<int64_t>(alpha));
      mNaive.beta = static_cast<double>(static_cast<int64_t>(beta));
      mMode = Mode::kNaive;
      return Status::ok();
    }
    if (k == 0) {
      mMode = Mode::kZeroK;  // Y = beta * C (or zeros)
      return Status::ok();
    }

    LtGemmSpec spec;
    spec.dtype = mType;
    spec.m = m;
    spec.n = n;
    spec.k = k;
    spec.transA = transA;
    spec.transB = transB;
    spec.alpha = alpha;
    spec.beta = beta;
    spec.allowTF32 = ctx.allowTF32;
    KILN_ASSIGN_OR_RETURN(cublasLtContext * lt, ctx.libs.cublasLt());
    const std::string who = ctx.node.describe();
    auto gemm = std::make_unique<LtGemm>();
    Status st = Status::ok();
    bool done = false;
    if (!mHasC || beta == 0.f) {
      spec.cMode = LtGemmSpec::CMode::kNone;
    } else if (mCRows == m && mCCols == n) {
      spec.cMode = LtGemmSpec::CMode::kFull;  // C already has Y's layout
    } else {
      if (mCRows == 1 && mCCols == n && beta == 1.f && mType != DataType::kDOUBLE) {
        // A row vector added to every row: the BIAS epilogue (bias length N = rows of cuBLASLt's
        // D).
        spec.cMode = LtGemmSpec::CMode::kBiasRow;
        st = gemm->init(lt, spec, who);
        if (st.isOk()) {
          done = true;
        } else if (st.code() != StatusCode::kUnsupported) {
          return st;
        } else {
          gemm = std::make_unique<LtGemm>();
        }
      }
      if (!done) {
        // Broadcast C into Y first, then accumulate in place: Y = alpha*op(A)*op(B) + beta*Y.
        spec.cMode = LtGemmSpec::CMode::kFull;
        mCopyC = true;
      }
    }
    if (!done) st = gemm->init(lt, spec, who);
    if (st.isOk()) {
      mGemm = std::move(gemm);
      mMode = Mode::kLt;
      return Status::ok();
    }
    if (st.code() != StatusCode::kUnsupported) return st;
    // No cuBLASLt algorithm: the direct kernel.
    mFallbackReason = st.message();
    mCopyC = false;
    mNaive = NaiveGemmParams{};
    mNaive.m = m;
    mNaive.n = n;
    mNaive.k = k;
    mNaive.aRs = transA ? 1 : k;
    mNaive.aCs = transA ? m : 1;
    mNaive.bRs = transB ? 1 : n;
    mNaive.bCs = transB ? k : 1;
    mNaive.hasC = mHasC;
    mNaive.cRs = mCRows == 1 ? 0 : mCCols;
    mNaive.cCs = mCCols == 1 ? 0 : 1;
    mNaive.alpha = alpha;
    mNaive.beta = beta;
    mMode = Mode::kNaive;
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    const CudaTensor& y = ctx.outputs[0];
    const void* c = mHasC ? ctx.inputs[2].data : nullptr;
    switch (mMode) {
      case Mode::kEmpty: return Status::ok();
      case Mode::kZeroK:
        // As the CPU: Y = 0 + beta * C.
        if (mHasC)
          return launchBroadcastC(mType, c, mCRows, mCCols, mBeta, y.data, mM, mN, ctx.stream,
                                  ctx.libs.props());
        KILN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(y.data, 0, y.bytes(), ctx.stream));
        return Status::ok();
      case Mode::kNaive:
        return launchNaiveGemm(mType, mNaive, ctx.inputs[0].data, ctx.inputs[1].data, c, y.data,
                               ctx.stream, ctx.libs.props());
      case Mode::kLt: break;
    }
    KILN_ASSIGN_OR_RETURN(cublasLtContext * lt, ctx.libs.cublasLt());
    if (mCopyC) {
      KILN_RETURN_IF_ERROR(launchBroadcastC(mType, c, mCRows, mCCols, 1.0, y.data, mM, mN,
                                            ctx.stream, ctx.libs.props()));
      c = y.data;
    }
    return mGemm->run(lt, ctx.inputs[0].data, ctx.inputs[1].data, c, y.data, ctx.workspace,
                      ctx.workspaceBytes, ctx.stream);
  }

  std::string tactic() const override {
    switch (mMode) {
      case Mode::kEmpty: return "empty";
      case Mode::kZeroK: return "broadcast beta*C (K = 0)";
      case Mode::kNaive:
        return mFallbackReason.empty() ? "kiln direct GEMM"
                                       : "kiln direct GEMM (" + mFallbackReason + ")";
      case Mode::kLt: break;
    }
    return mGemm->tactic() + (mCopyC ? " (C broadcast into Y)" : "");
  }

 private:
  enum class Mode { kEmpty, kZeroK, kNaive, kLt };
  Mode mMode = Mode::kEmpty;
  DataType mType = DataType::kFLOAT;
  bool mHasC = false, mCopyC = false;
  int64_t mCRows = 1, mCCols = 1, mM = 0, mN = 0;
  double mAlpha = 1.0, mBeta = 1.0;
  NaiveGemmParams mNaive;
  std::string mFallbackReason;
};

// ---------------------------------------------------------------------------------------------
// Conv and ConvTranspose

class ConvKernel final : public CudaKernel {
 public:
  explicit ConvKernel(bool transposed) : mTransposed(transposed) {}

  Status prepare(const PrepareContext& ctx) override {
    mCudnn.reset();
    mFallbackReason.clear();
    mChannelsLast = !mTransposed && ir::isChannelsLast(ctx.node);
    // Channels-last (ir/channels_last.h): X [N, H, W, C], W [M, kh, kw, C/group], Y
    // [N, OH, OW, M]; the geometry below reads the NCHW forms of the dims.
    if (mChannelsLast &&
        (ctx.inputs[0].rank() != 4 || ctx.inputs[1].rank() != 4 || ctx.outputs[0].rank() != 4))
      return ctx.error("channels_last needs 4-D X, W and Y");
    auto logical = [&](const std::vector<int64_t>& d) {
      return mChannelsLast ? std::vector<int64_t>{d[0], d[3], d[1], d[2]} : d;
    };
    struct Dims4 {
      std::vector<int64_t> dims;
      int64_t rank() const { return static_cast<int64_t>(dims.size()); }
    };
    const Dims4 x{logical(ctx.inputs[0].dims)};
    const Dims4 w{logical(ctx.inputs[1].dims)};
    const Dims4 y{logical(ctx.outputs[0].dims)};
    mType = ctx.inputs[0].dtype;
    if (!isFloatType(mType))
      return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(mType)));
    if (x.rank() < 3 || w.rank() != x.rank())
      return ctx.error("X %s and W %s must have the same rank >= 3", dimsStr(x.dims).c_str(),
                       dimsStr(w.dims).c_str());
    const int64_t group = ctx.attrs().getInt("group", 1);
    if (group < 1) return ctx.error("group must be >= 1");
    const size_t nsp = static_cast<size_t>(x.rank() - 2);
    const std::vector<int64_t> wSpatial(w.dims.begin() + 2, w.dims.end());
    const std::vector<int64_t> xSpatial(x.dims.begin() + 2, x.dims.end());
    const std::vector<int64_t> ySpatial(y.dims.begin() + 2, y.dims.end());
    const std::string who = ctx.node.describe();

    ConvProblem p;
    p.transposed = mTransposed;
    p.channelsLast = mChannelsLast;
    p.dtype = mType;
    p.batch = x.dims[0];
    p.group = group;
    int64_t inChannels = x.dims[1], outChannels = 0;
    std::vector<int64_t> pads;
    if (!mTransposed) {
      outChannels = w.dims[0];
      if (outChannels % group != 0 || inChannels != w.dims[1] * group)
        return ctx.error(
            "channels mismatch: X %s, W %s, group=%lld (need C = W[1]*group and group | W[0])",
            dimsStr(x.dims).c_str(), dimsStr(w.dims).c_str(), static_cast<long long>(group));
      KILN_ASSIGN_OR_RETURN(ir::WindowParams wp,
                            ir::parseWindowParams(ctx.attrs(), nsp, wSpatial, false, who));
      for (size_t i = 0; i < nsp; ++i) {
        const ir::DimExpr out = ir::windowOutputDim(wp, i, ir::DimExpr(xSpatial[i]));
        if (!out.isConst() || out.constValue() != ySpatial[i])
          return internalError("%s: output dims %s disagree with the convolution geometry",
                               who.c_str(), dimsStr(y.dims).c_str());
      }
      pads = ir::resolveWindowPads(wp, xSpatial);
      p.imgChannels = inChannels;
      p.colChannels = outChannels;
      p.imgSizes = xSpatial;
      p.colSizes = ySpatial;
      p.kernel = wp.kernel;
      p.strides = wp.strides;
      p.dilations = wp.dilations;
    } else {
      outChannels = w.dims[1] * group;
      if (inChannels != w.dims[0] || inChannels % group != 0)
        return ctx.error("channels mismatch: X %s, W %s, group=%lld (need C = W[0] and group | C)",
                         dimsStr(x.dims).c_str(), dimsStr(w.dims).c_str(),
                         static_cast<long long>(group));
      KILN_ASSIGN_OR_RETURN(ir::ConvTransposeParams tp,
                            ir::parseConvTransposeParams(ctx.attrs(), nsp, wSpatial, who));
      for (size_t i = 0; i < nsp; ++i) {
        const ir::DimExpr out = ir::convTransposeOutputDim(tp, i, ir::DimExpr(xSpatial[i]));
        if (!out.isConst() || out.constValue() != ySpatial[i])
          return internalError(
              "%s: output dims %s disagree with the transposed convolution geometry", who.c_str(),
              dimsStr(y.dims).c_str());
      }
      pads = ir::resolveConvTransposePads(tp, xSpatial);
      // ConvTranspose is the adjoint of the convolution Y (image) -> X (columns).
      p.imgChannels = outChannels;
      p.colChannels = inChannels;
      p.imgSizes = ySpatial;
      p.colSizes = xSpatial;
      p.kernel = tp.window.kernel;
      p.strides = tp.window.strides;
      p.dilations = tp.window.dilations;
    }
    p.padBegin.assign(pads.begin(), pads.begin() + static_cast<std::ptrdiff_t>(nsp));
    mHasBias = ctx.hasInput(2);
    if (mHasBias && ctx.inputs[2].numel() != outChannels)
      return ctx.error("bias has %lld values, expected %lld",
                       static_cast<long long>(ctx.inputs[2].numel()),
                       static_cast<long long>(outChannels));
    mBatch = p.batch;
    mOutChannels = outChannels;
    mOutInner = 1;
    for (int64_t d : ySpatial) mOutInner *= d;

    // The direct kernel's parameters (the fallback).
    mDirect = DirectConvParams{};
    mDirect.transposed = mTransposed;
    mDirect.channelsLast = mChannelsLast;
    mDirect.numSpatial = static_cast<int32_t>(nsp);
    mDirect.batch = p.batch;
    mDirect.inChannels = inChannels;
    mDirect.outChannels = outChannels;
    mDirect.group = group;
    const bool directFits = nsp <= static_cast<size_t>(kDirectConvMaxSpatial);
    if (directFits) {
      for (size_t i = 0; i < nsp; ++i) {
        mDirect.inSizes[i] = xSpatial[i];
        mDirect.outSizes[i] = ySpatial[i];
        mDirect.kernel[i] = p.kernel[i];
        mDirect.strides[i] = p.strides[i];
        mDirect.dilations[i] = p.dilations[i];
        mDirect.padBegin[i] = p.padBegin[i];
      }
    }

    if (ctx.outputs[0].numel() == 0) return Status::ok();
    // cuDNN for every non-degenerate problem of at most 3 spatial dims.
    bool degenerate = ctx.inputs[0].numel() == 0 || ctx.inputs[1].numel() == 0;
    if (degenerate) {
      mFallbackReason = "empty input or weight";
    } else if (nsp > 3) {
      mFallbackReason = strFormat("%zu spatial dims", nsp);
    } else {
      KILN_ASSIGN_OR_RETURN(cudnnContext * handle, ctx.libs.cudnn());
      auto conv = std::make_unique<CudnnConv>();
      const Status st = conv->build(handle, p, ctx.allowTF32, who,
                                    CudnnTacticRequest{ctx.tacticFromPlan(), ctx.tuning});
      if (st.isOk()) {
        mCudnn = std::move(conv);
      } else if (st.code() == StatusCode::kUnsupported) {
        // The reasons list every skipped engine; keep the tactic line readable.
        mFallbackReason =
            st.message().size() > 600 ? st.message().substr(0, 600) + "..." : st.message();
      } else {
        return st;
      }
    }
    if (!mCudnn && !directFits)
      return ctx.unsupportedHere(
          strFormat("a %zu-D convolution without a cuDNN plan (%s)", nsp, mFallbackReason.c_str()));
    return Status::ok();
  }

  size_t workspaceSize() const override { return mCudnn ? mCudnn->workspaceSize() : 0; }
  int tacticCount() const override { return mCudnn ? mCudnn->tacticCount() : 1; }
  std::string tacticId(int i) const override { return mCudnn ? mCudnn->tacticId(i) : ""; }
  Status selectTactic(int i) override {
    return mCudnn ? mCudnn->selectTactic(i) : CudaKernel::selectTactic(i);
  }
  std::string timingKey() const override { return mCudnn ? mCudnn->timingKey() : ""; }

  Status enqueue(const LaunchContext& ctx) override {
    const CudaTensor& y = ctx.outputs[0];
    if (y.numel() == 0) return Status::ok();
    const void* x = ctx.inputs[0].data;
    const void* w = ctx.inputs[1].data;
    const void* bias = mHasBias ? ctx.inputs[2].data : nullptr;
    auto aligned = [](const void* p) {
      return reinterpret_cast<uintptr_t>(p) % CudnnConv::kAlignment == 0;
    };
    mLastDirect = !(mCudnn && aligned(x) && aligned(w) && aligned(y.data));
    if (mLastDirect)
      return launchDirectConv(mType, mDirect, x, w, bias, y.data, ctx.stream, ctx.libs.props());
    KILN_ASSIGN_OR_RETURN(cudnnContext * handle, ctx.libs.cudnn());
    KILN_RETURN_IF_ERROR(
        mCudnn->run(handle, x, w, y.data, ctx.workspace, ctx.workspaceBytes, ctx.stream));
    if (bias && mChannelsLast)  // NHWC: the channel is the last dim
      return launchConvEpilogue(mType, y.data, bias, nullptr, mBatch * mOutInner, mOutChannels, 1,
                                ir::FusedActivationParams{}, ctx.stream, ctx.libs.props());
    if (bias)
      KILN_RETURN_IF_ERROR(launchChannelBiasAdd(mType, y.data, bias, mBatch, mOutChannels,
                                                mOutInner, ctx.stream, ctx.libs.props()));
    return Status::ok();
  }

  std::string tactic() const override {
    if (mCudnn) {
      std::string t = mCudnn->tactic() + (mHasBias ? " + kiln bias add" : "");
      if (mLastDirect) t += " (last call: kiln direct conv, pointers not 16-byte aligned)";
      return t;
    }
    return mFallbackReason.empty() ? "kiln direct conv"
                                   : "kiln direct conv (" + mFallbackReason + ")";
  }

 private:
  bool mTransposed;
  bool mChannelsLast = false;
  DataType mType = DataType::kFLOAT;
  std::unique_ptr<CudnnConv> mCudnn;
  DirectConvParams mDirect;
  bool mHasBias = false, mLastDirect = false;
  int64_t mBatch = 0, mOutChannels = 0, mOutInner = 0;
  std::string mFallbackReason;
};

StatusOr<std::unique_ptr<CudaKernel>> makeConv(const ir::Node&) {
  return std::unique_ptr<CudaKernel>(new ConvKernel(false));
}
StatusOr<std::unique_ptr<CudaKernel>> makeConvTranspose(const ir::Node&) {
  return std::unique_ptr<CudaKernel>(new ConvKernel(true));
}

// ---------------------------------------------------------------------------------------------
// Einsum: the CPU kernel's direct loops, one thread per output element

class EinsumKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    mType = ctx.inputs.empty() ? DataType::kFLOAT : ctx.inputs[0].dtype;
    if (!isFloatType(mType) && !isIntType(mType))
      return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(mType)));
    std::vector<size_t> ranks;
    for (const CudaTensor& t : ctx.inputs) ranks.push_back(static_cast<size_t>(t.rank()));
    KILN_ASSIGN_OR_RETURN(ir::EinsumSpec spec, ir::parseEinsum(ctx.attrs().getString("equation"),
                                                               ranks, ctx.node.describe()));
    // Label sizes: named labels must agree; ellipsis labels broadcast (1 against n).
    std::vector<int64_t> sizes(static_cast<size_t>(spec.numLabels), -1);
    for (size_t i = 0; i < spec.inputs.size(); ++i) {
      if (ctx.inputs[i].dtype != mType)
        return ctx.error("inputs must have the same data type, got %s and %s", dataTypeName(mType),
                         dataTypeName(ctx.inputs[i].dtype));
      for (size_t ax = 0; ax < ctx.inputs[i].dims.size(); ++ax) {
        const int l = spec.inputs[i][ax];
        const int64_t d = ctx.inputs[i].dims[ax];
        int64_t& cur = sizes[static_cast<size_t>(l)];
        if (cur < 0 || (l >= spec.firstEllipsisLabel && cur == 1)) {
          cur = d;
        } else if (d != cur && !(l >= spec.firstEllipsisLabel && d == 1)) {
          return ctx.error("label '%s' has size %lld in one place and %lld in another (input %zu)",
                           spec.labelName(l).c_str(), static_cast<long long>(cur),
                           static_cast<long long>(d), i);
        }
      }
    }
    for (int64_t& s : sizes)
      if (s < 0) s = 1;
    const size_t numIn = spec.inputs.size();
    const size_t numLabels = static_cast<size_t>(spec.numLabels);
    std::vector<bool> inOutput(numLabels, false);
    for (int l : spec.output) inOutput[static_cast<size_t>(l)] = true;
    std::vector<int> summed;
    for (size_t l = 0; l < numLabels; ++l)
      if (!inOutput[l]) summed.push_back(static_cast<int>(l));
    if (numIn < 1 || numIn > static_cast<size_t>(kEinsumMaxInputs) ||
        spec.output.size() > static_cast<size_t>(kEinsumMaxLabels) ||
        summed.size() > static_cast<size_t>(kEinsumMaxLabels))
      return ctx.unsupportedHere(strFormat(
          "Einsum with %zu inputs, %zu output and %zu summed labels (at most %d, %d, %d)", numIn,
          spec.output.size(), summed.size(), kEinsumMaxInputs, kEinsumMaxLabels, kEinsumMaxLabels));
    // strides[i][label]: a label repeated in one operand adds its strides (walks a diagonal); a
    // broadcast (size-1) axis contributes nothing.
    std::vector<std::vector<int64_t>> strides(numIn, std::vector<int64_t>(numLabels, 0));
    for (size_t i = 0; i < numIn; ++i) {
      const std::vector<int64_t>& d = ctx.inputs[i].dims;
      int64_t s = 1;
      for (size_t ax = d.size(); ax-- > 0;) {
        if (d[ax] != 1) strides[i][static_cast<size_t>(spec.inputs[i][ax])] += s;
        s *= d[ax];
      }
    }
    mParams = EinsumParams{};
    mParams.numInputs = static_cast<int32_t>(numIn);
    mParams.numOut = static_cast<int32_t>(spec.output.size());
    mParams.numSum = static_cast<int32_t>(summed.size());
    mParams.outCount = 1;
    for (size_t a = 0; a < spec.output.size(); ++a) {
      const size_t l = static_cast<size_t>(spec.output[a]);
      mParams.outSizes[a] = sizes[l];
      mParams.outCount *= sizes[l];
      for (size_t i = 0; i < numIn; ++i) mParams.outStrides[i][a] = strides[i][l];
    }
    mParams.sumCount = 1;
    for (size_t a = 0; a < summed.size(); ++a) {
      const size_t l = static_cast<size_t>(summed[a]);
      mParams.sumSizes[a] = sizes[l];
      mParams.sumCount *= sizes[l];
      for (size_t i = 0; i < numIn; ++i) mParams.sumStrides[i][a] = strides[i][l];
    }
    if (mParams.outCount != ctx.outputs[0].numel())
      return internalError("%s: output %s does not match the equation's %lld elements",
                           ctx.node.describe().c_str(), dimsStr(ctx.outputs[0].dims).c_str(),
                           static_cast<long long>(mParams.outCount));
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    EinsumParams p = mParams;
    for (int i = 0; i < p.numInputs; ++i) p.in[i] = ctx.inputs[static_cast<size_t>(i)].data;
    return launchEinsum(mType, p, ctx.outputs[0].data, ctx.stream, ctx.libs.props());
  }

  std::string tactic() const override { return "kiln direct einsum"; }

 private:
  DataType mType = DataType::kFLOAT;
  EinsumParams mParams;
};

}  // namespace

void registerLinearKernels(CudaKernelTable& t) {
  t[static_cast<size_t>(ir::OpKind::kMatMul)] = &makeKernel<MatMulKernel>;
  t[static_cast<size_t>(ir::OpKind::kGemm)] = &makeKernel<GemmKernel>;
  t[static_cast<size_t>(ir::OpKind::kEinsum)] = &makeKernel<EinsumKernel>;
  t[static_cast<size_t>(ir::OpKind::kConv)] = &makeConv;
  t[static_cast<size_t>(ir::OpKind::kConvTranspose)] = &makeConvTranspose;
}

}  // namespace kiln::cuda
