#include "backends/cuda/cudnn_sdpa.h"

#include <cudnn.h>

#include <algorithm>
#include <array>
#include <deque>
#include <limits>
#include <vector>

#include "backends/cuda/cudnn_backend_util.h"

namespace kiln::cuda {

namespace {

// Unique ids of the real tensors (the variant pack's keys); virtual tensors count up from
// kUidFirstVirtual.
constexpr int64_t kUidQ = 1, kUidK = 2, kUidV = 3, kUidO = 4, kUidBias = 5, kUidScale = 6,
                  kUidNegInf = 7, kUidFirstVirtual = 100;

}  // namespace

std::string cudnnSdpaUnavailableReason(const DeviceProps& props) {
  const size_t v = cudnnGetVersion();
  if (v < 90300) return strFormat("cuDNN %zu is older than 9.3", v);
  if (v == 91000 || v == 91001)
    return strFormat("cuDNN %zu: fused attention blocked (known bugs of 9.10.0/9.10.1)", v);
  if (props.smMajor < 8)
    return strFormat("compute capability %d.%d (cuDNN fused attention needs 8.0 or newer)",
                     props.smMajor, props.smMinor);
  return "";
}

size_t cudnnLibraryVersion() { return cudnnGetVersion(); }

struct CudnnSdpa::Impl {
  std::string who;
  SdpaProblem problem;
  // Tensor, operator and operation descriptors, alive as long as the graph and plan (a deque:
  // references stay valid as it grows).
  std::deque<BackendDesc> descs;
  std::vector<cudnnBackendDescriptor_t> ops;  // the operations, in the frontend's order
  int64_t nextUid = kUidFirstVirtual;
  BackendDesc graph, config, plan;
  int64_t engine = -1, workspace = 0;
  const char* mode = "";
  // By-value scalars: the variant pack holds host pointers to these.
  float scale = 1.f;
  float negInf = -std::numeric_limits<float>::infinity();
  // Variant pack cache: rebuilt only when a pointer changes.
  BackendDesc variantPack;
  std::array<const void*, 6> vpPointers{};  // q, k, v, o, bias, workspace

  // A tensor descriptor; uid 0 takes the next virtual id.
  Status tensor(const BackendDesc*& out, int64_t uid, cudnnDataType_t t,
                const std::vector<int64_t>& dims, const std::vector<int64_t>& strides,
                bool isVirtual, bool byValue = false) {
    BackendDesc& d = descs.emplace_back();
    if (uid == 0) uid = nextUid++;
    KILN_RETURN_IF_ERROR(makeTensorDesc(d, uid, t, dims, strides, CudnnSdpa::kAlignment, isVirtual,
                                        byValue, who, kCudnnUnsupported));
    out = &d;
    return Status::ok();
  }

  // A pointwise node y = mode(x[, b][, t]) with its own pointwise descriptor (mode, math
  // precision, and the axis of GEN_INDEX).
  Status pointwise(cudnnPointwiseMode_t mode, cudnnDataType_t prec, const BackendDesc* x,
                   const BackendDesc* b, const BackendDesc* t, const BackendDesc* y,
                   int64_t axis = -1) {
    BackendDesc& pw = descs.emplace_back();
    KILN_CUDNN_TRY_UNSUPPORTED(pw.create(CUDNN_BACKEND_POINTWISE_DESCRIPTOR));
    KILN_CUDNN_TRY_UNSUPPORTED(cudnnBackendSetAttribute(pw.get(), CUDNN_ATTR_POINTWISE_MODE,
                                                        CUDNN_TYPE_POINTWISE_MODE, 1, &mode));
    KILN_CUDNN_TRY_UNSUPPORTED(cudnnBackendSetAttribute(pw.get(), CUDNN_ATTR_POINTWISE_MATH_PREC,
                                                        CUDNN_TYPE_DATA_TYPE, 1, &prec));
    if (mode == CUDNN_POINTWISE_GEN_INDEX)
      KILN_CUDNN_TRY_UNSUPPORTED(cudnnBackendSetAttribute(pw.get(), CUDNN_ATTR_POINTWISE_AXIS,
                                                          CUDNN_TYPE_INT64, 1, &axis));
    KILN_CUDNN_TRY_UNSUPPORTED(cudnnBackendFinalize(pw.get()));
    BackendDesc& op = descs.emplace_back();
    KILN_CUDNN_TRY_UNSUPPORTED(op.create(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR));
    KILN_CUDNN_TRY_UNSUPPORTED(setDesc(op.get(), CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw));
    KILN_CUDNN_TRY_UNSUPPORTED(setDesc(op.get(), CUDNN_ATTR_OPERATION_POINTWISE_XDESC, *x));
    if (b) KILN_CUDNN_TRY_UNSUPPORTED(setDesc(op.get(), CUDNN_ATTR_OPERATION_POINTWISE_BDESC, *b));
    if (t) KILN_CUDNN_TRY_UNSUPPORTED(setDesc(op.get(), CUDNN_ATTR_OPERATION_POINTWISE_TDESC, *t));
    KILN_CUDNN_TRY_UNSUPPORTED(setDesc(op.get(), CUDNN_ATTR_OPERATION_POINTWISE_YDESC, *y));
    KILN_CUDNN_TRY_UNSUPPORTED(cudnnBackendFinalize(op.get()));
    ops.push_back(op.get());
    return Status::ok();
  }

  // y = reduce(x) over the dims where y has size 1, in float.
  Status reduction(cudnnReduceTensorOp_t red, const BackendDesc* x, const BackendDesc* y) {
    BackendDesc& rd = descs.emplace_back();
    const cudnnDataType_t f = CUDNN_DATA_FLOAT;
    KILN_CUDNN_TRY_UNSUPPORTED(rd.create(CUDNN_BACKEND_REDUCTION_DESCRIPTOR));
    KILN_CUDNN_TRY_UNSUPPORTED(cudnnBackendSetAttribute(
        rd.get(), CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &red));
    KILN_CUDNN_TRY_UNSUPPORTED(cudnnBackendSetAttribute(rd.get(), CUDNN_ATTR_REDUCTION_COMP_TYPE,
                                                        CUDNN_TYPE_DATA_TYPE, 1, &f));
    KILN_CUDNN_TRY_UNSUPPORTED(cudnnBackendFinalize(rd.get()));
    BackendDesc& op = descs.emplace_back();
    KILN_CUDNN_TRY_UNSUPPORTED(op.create(CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR));
    KILN_CUDNN_TRY_UNSUPPORTED(setDesc(op.get(), CUDNN_ATTR_OPERATION_REDUCTION_XDESC, *x));
    KILN_CUDNN_TRY_UNSUPPORTED(setDesc(op.get(), CUDNN_ATTR_OPERATION_REDUCTION_YDESC, *y));
    KILN_CUDNN_TRY_UNSUPPORTED(setDesc(op.get(), CUDNN_ATTR_OPERATION_REDUCTION_DESC, rd));
    KILN_CUDNN_TRY_UNSUPPORTED(cudnnBackendFinalize(op.get()));
    ops.push_back(op.get());
    return Status::ok();
  }

  // c = a b (batched over the leading dims, broadcast where a dim is 1 or divides), float
  // accumulation.
  Status matmul(const BackendDesc* a, const BackendDesc* b, const BackendDesc* c) {
    BackendDesc& md = descs.emplace_back();
    const cudnnDataType_t f = CUDNN_DATA_FLOAT;
    KILN_CUDNN_TRY_UNSUPPORTED(md.create(CUDNN_BACKEND_MATMUL_DESCRIPTOR));
    KILN_CUDNN_TRY_UNSUPPORTED(cudnnBackendSetAttribute(md.get(), CUDNN_ATTR_MATMUL_COMP_TYPE,
                                                        CUDNN_TYPE_DATA_TYPE, 1, &f));
    KILN_CUDNN_TRY_UNSUPPORTED(cudnnBackendFinalize(md.get()));
    BackendDesc& op = descs.emplace_back();
    KILN_CUDNN_TRY_UNSUPPORTED(op.create(CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR));
    KILN_CUDNN_TRY_UNSUPPORTED(setDesc(op.get(), CUDNN_ATTR_OPERATION_MATMUL_ADESC, *a));
    KILN_CUDNN_TRY_UNSUPPORTED(setDesc(op.get(), CUDNN_ATTR_OPERATION_MATMUL_BDESC, *b));
    KILN_CUDNN_TRY_UNSUPPORTED(setDesc(op.get(), CUDNN_ATTR_OPERATION_MATMUL_CDESC, *c));
    KILN_CUDNN_TRY_UNSUPPORTED(setDesc(op.get(), CUDNN_ATTR_OPERATION_MATMUL_DESC, md));
    KILN_CUDNN_TRY_UNSUPPORTED(cudnnBackendFinalize(op.get()));
    ops.push_back(op.get());
    return Status::ok();
  }
};

CudnnSdpa::CudnnSdpa() = default;
CudnnSdpa::~CudnnSdpa() = default;

bool CudnnSdpa::aligned(const void* p) { return pointerAlignment(p) >= kAlignment; }

Status CudnnSdpa::build(cudnnContext* handleCtx, const SdpaProblem& p, const std::string& whoArg) {
  mImpl = std::make_unique<Impl>();
  Impl& im = *mImpl;
  im.who = whoArg;
  im.problem = p;
  const std::string& who = im.who;
  cudnnHandle_t handle = handleCtx;

  cudnnDataType_t io;
  switch (p.dtype) {
    case DataType::kHALF: io = CUDNN_DATA_HALF; break;
    case DataType::kBF16: io = CUDNN_DATA_BFLOAT16; break;
    default:
      return unsupported("%s: cuDNN fused attention for data type %s", who.c_str(),
                         dataTypeName(p.dtype));
  }
  cudnnDataType_t biasIo = CUDNN_DATA_FLOAT;
  if (p.hasBias) {
    if (p.biasType == p.dtype) {
      biasIo = io;
    } else if (p.biasType != DataType::kFLOAT) {
      return unsupported("%s: cuDNN fused attention with a %s bias", who.c_str(),
                         dataTypeName(p.biasType));
    }
  }
  if (p.d % 8 != 0 || p.d > 256)
    return unsupported(
        "%s: cuDNN fused attention needs a head size that is a multiple of 8 and "
        "at most 256 (D = %lld)",
        who.c_str(), static_cast<long long>(p.d));
  if (p.batch < 1 || p.hq < 1 || p.hkv < 1 || p.hq % p.hkv != 0 || p.sq < 1 || p.skv < 1)
    return unsupported("%s: cuDNN fused attention on an empty or inconsistent problem",
                       who.c_str());
  // The frontend's masking value: the lowest float before 9.10, -inf from then on.
  im.negInf = cudnnGetVersion() < 91000 ? std::numeric_limits<float>::lowest()
                                        : -std::numeric_limits<float>::infinity();
  im.scale = p.scale;

  const cudnnDataType_t f32 = CUDNN_DATA_FLOAT;
  const int64_t b = p.batch, hq = p.hq, hkv = p.hkv, sq = p.sq, skv = p.skv, d = p.d;
  const std::vector<int64_t> sDims{b, hq, sq, skv}, sStrides{hq * sq * skv, sq * skv, skv, 1};
  const std::vector<int64_t> rDims{b, hq, sq, 1}, rStrides{hq * sq, sq, 1, 1};
  const std::vector<int64_t> one{1, 1, 1, 1};

  // Real tensors. K enters Q K^T as K^T: its dims 2 and 3 and their strides swapped.
  const BackendDesc *q = nullptr, *kt = nullptr, *v = nullptr, *o = nullptr, *scale = nullptr;
  KILN_RETURN_IF_ERROR(im.tensor(q, kUidQ, io, {b, hq, sq, d}, {p.q[0], p.q[1], p.q[2], 1}, false));
  KILN_RETURN_IF_ERROR(
      im.tensor(kt, kUidK, io, {b, hkv, d, skv}, {p.k[0], p.k[1], 1, p.k[2]}, false));
  KILN_RETURN_IF_ERROR(
      im.tensor(v, kUidV, io, {b, hkv, skv, d}, {p.v[0], p.v[1], p.v[2], 1}, false));
  KILN_RETURN_IF_ERROR(im.tensor(o, kUidO, io, {b, hq, sq, d}, {p.o[0], p.o[1], p.o[2], 1}, false));
  KILN_RETURN_IF_ERROR(im.tensor(scale, kUidScale, f32, one, one, false, /*byValue=*/true));

  // S = Q K^T, then S * scale.
  const BackendDesc *s0 = nullptr, *s1 = nullptr;
  KILN_RETURN_IF_ERROR(im.tensor(s0, 0, f32, sDims, sStrides, true));
  KILN_RETURN_IF_ERROR(im.matmul(q, kt, s0));
  KILN_RETURN_IF_ERROR(im.tensor(s1, 0, f32, sDims, sStrides, true));
  KILN_RETURN_IF_ERROR(im.pointwise(CUDNN_POINTWISE_MUL, f32, s0, scale, nullptr, s1));
  const BackendDesc* last = s1;

  // + bias (the additive mask), after the scale as in the frontend.
  if (p.hasBias) {
    const int64_t b0 = p.biasDims[0], b1 = p.biasDims[1], b2 = p.biasDims[2];
    const BackendDesc *bias = nullptr, *s2 = nullptr;
    KILN_RETURN_IF_ERROR(im.tensor(bias, kUidBias, biasIo, {b0, b1, b2, skv},
                                   {b1 * b2 * skv, b2 * skv, skv, 1}, false));
    KILN_RETURN_IF_ERROR(im.tensor(s2, 0, f32, sDims, sStrides, true));
    KILN_RETURN_IF_ERROR(im.pointwise(CUDNN_POINTWISE_ADD, f32, last, bias, nullptr, s2));
    last = s2;
  }

  // Causal (upper-left): keep = row >= col; S = keep ? S : -inf.
  if (p.causal) {
    const BackendDesc *row = nullptr, *col = nullptr, *keep = nullptr, *negInf = nullptr,
                      *s3 = nullptr;
    KILN_RETURN_IF_ERROR(im.tensor(row, 0, CUDNN_DATA_INT32, sDims, sStrides, true));
    KILN_RETURN_IF_ERROR(
        im.pointwise(CUDNN_POINTWISE_GEN_INDEX, f32, last, nullptr, nullptr, row, 2));
    KILN_RETURN_IF_ERROR(im.tensor(col, 0, CUDNN_DATA_INT32, sDims, sStrides, true));
    KILN_RETURN_IF_ERROR(
        im.pointwise(CUDNN_POINTWISE_GEN_INDEX, f32, last, nullptr, nullptr, col, 3));
    KILN_RETURN_IF_ERROR(im.tensor(keep, 0, CUDNN_DATA_BOOLEAN, sDims, sStrides, true));
    KILN_RETURN_IF_ERROR(
        im.pointwise(CUDNN_POINTWISE_CMP_GE, CUDNN_DATA_BOOLEAN, row, col, nullptr, keep));
    KILN_RETURN_IF_ERROR(im.tensor(negInf, kUidNegInf, f32, one, one, false, /*byValue=*/true));
    KILN_RETURN_IF_ERROR(im.tensor(s3, 0, f32, sDims, sStrides, true));
    KILN_RETURN_IF_ERROR(im.pointwise(CUDNN_POINTWISE_BINARY_SELECT, f32, last, negInf, keep, s3));
    last = s3;
  }

  // Softmax as the frontend writes it (with the virtual stats branch it always adds).
  {
    const BackendDesc *mx = nullptr, *sub = nullptr, *ex = nullptr, *sum = nullptr, *lg = nullptr,
                      *stats = nullptr, *pr = nullptr;
    KILN_RETURN_IF_ERROR(im.tensor(mx, 0, f32, rDims, rStrides, true));
    KILN_RETURN_IF_ERROR(im.reduction(CUDNN_REDUCE_TENSOR_MAX, last, mx));
    KILN_RETURN_IF_ERROR(im.tensor(sub, 0, f32, sDims, sStrides, true));
    KILN_RETURN_IF_ERROR(im.pointwise(CUDNN_POINTWISE_SUB, f32, last, mx, nullptr, sub));
    KILN_RETURN_IF_ERROR(im.tensor(ex, 0, f32, sDims, sStrides, true));
    KILN_RETURN_IF_ERROR(im.pointwise(CUDNN_POINTWISE_EXP, f32, sub, nullptr, nullptr, ex));
    KILN_RETURN_IF_ERROR(im.tensor(sum, 0, f32, rDims, rStrides, true));
    KILN_RETURN_IF_ERROR(im.reduction(CUDNN_REDUCE_TENSOR_ADD, ex, sum));
    KILN_RETURN_IF_ERROR(im.tensor(lg, 0, f32, rDims, rStrides, true));
    KILN_RETURN_IF_ERROR(im.pointwise(CUDNN_POINTWISE_LOG, f32, sum, nullptr, nullptr, lg));
    KILN_RETURN_IF_ERROR(im.tensor(stats, 0, f32, rDims, rStrides, true));
    KILN_RETURN_IF_ERROR(im.pointwise(CUDNN_POINTWISE_ADD, f32, mx, lg, nullptr, stats));
    // P in the input type ("requirement by cudnn backend" in the frontend).
    KILN_RETURN_IF_ERROR(im.tensor(pr, 0, io, sDims, sStrides, true));
    KILN_RETURN_IF_ERROR(im.pointwise(CUDNN_POINTWISE_DIV, f32, ex, sum, nullptr, pr));
    last = pr;
  }

  // O = P V.
  KILN_RETURN_IF_ERROR(im.matmul(last, v, o));

  KILN_RETURN_IF_ERROR(
      finalizeOperationGraph(im.graph, im.ops, handle, who, kCudnnUnsupported, "attention"));

  // Heuristics: mode A, then FALLBACK; the first config whose plan finalizes wins.
  std::string reasons;
  auto note = [&](const std::string& s) { appendReason(reasons, s); };
  for (const auto& [mode, modeName] : kHeuristicModes) {
    if (im.plan) break;
    std::vector<BackendDesc> cfgs;
    std::vector<cudnnBackendDescriptor_t> raw;
    std::string why;
    KILN_RETURN_IF_ERROR(heuristicConfigs(im.graph, mode, who, kCudnnUnsupported, cfgs, raw, why));
    if (!why.empty()) {
      note(strFormat("%s: %s", modeName, why.c_str()));
      continue;
    }
    for (size_t i = 0; i < raw.size() && i < size_t{kMaxAttempts} && !im.plan; ++i) {
      int64_t engineIndex = -1;
      {
        BackendDesc engine;
        KILN_RETURN_IF_ERROR(engineOf(raw[i], who, kCudnnUnsupported, engine, engineIndex));
      }
      BackendDesc plan;
      int64_t ws = 0;
      KILN_RETURN_IF_ERROR(finalizePlan(handle, raw[i], who, kCudnnUnsupported, plan, ws, why));
      if (!why.empty()) {
        note(strFormat("%s engine %lld: %s", modeName, static_cast<long long>(engineIndex),
                       why.c_str()));
        continue;
      }
      im.config = std::move(cfgs[i]);
      im.plan = std::move(plan);
      im.engine = engineIndex;
      im.workspace = ws;
      im.mode = modeName;
    }
  }
  if (!im.plan)
    return unsupported("%s: cuDNN has no engine for this attention graph (%s)", who.c_str(),
                       reasons.empty() ? "no configs" : reasons.c_str());
  return Status::ok();
}

size_t CudnnSdpa::workspaceSize() const {
  return mImpl && mImpl->plan ? static_cast<size_t>(mImpl->workspace) : 0;
}

std::string CudnnSdpa::describe() const {
  if (!mImpl || !mImpl->plan) return "cuDNN fused attention (no plan)";
  const SdpaProblem& p = mImpl->problem;
  return strFormat("cuDNN fused attention (engine %lld, %s, cuDNN %zu%s%s, workspace %lld)",
                   static_cast<long long>(mImpl->engine), mImpl->mode, cudnnGetVersion(),
                   p.causal ? ", causal" : "", p.hasBias ? ", additive mask" : "",
                   static_cast<long long>(mImpl->workspace));
}

Status CudnnSdpa::run(cudnnContext* handleCtx, const void* q, const void* k, const void* v,
                      const void* bias, void* o, void* workspace, size_t workspaceBytes,
                      cudaStream_t stream) {
  if (!mImpl || !mImpl->plan) return internalError("CudnnSdpa::run without a plan");
  Impl& im = *mImpl;
  const std::string& who = im.who;
  cudnnHandle_t handle = handleCtx;
  if (im.workspace > 0 &&
      (workspace == nullptr || workspaceBytes < static_cast<size_t>(im.workspace)))
    return internalError("%s: cuDNN attention plan needs %lld bytes of workspace, got %zu",
                         who.c_str(), static_cast<long long>(im.workspace), workspaceBytes);
  const bool hasBias = im.problem.hasBias;
  if (!aligned(q) || !aligned(k) || !aligned(v) || !aligned(o) || (hasBias && !aligned(bias)))
    return internalError("%s: cuDNN attention plan was built for %u-byte aligned tensors",
                         who.c_str(), kAlignment);
  void* ws = im.workspace > 0 ? workspace : nullptr;
  const std::array<const void*, 6> ptrs{q, k, v, o, hasBias ? bias : nullptr, ws};
  if (!im.variantPack || ptrs != im.vpPointers) {
    std::vector<int64_t> uids{kUidQ, kUidK, kUidV, kUidO, kUidScale};
    std::vector<void*> data{const_cast<void*>(q), const_cast<void*>(k), const_cast<void*>(v), o,
                            &im.scale};
    if (hasBias) {
      uids.push_back(kUidBias);
      data.push_back(const_cast<void*>(bias));
    }
    if (im.problem.causal) {
      uids.push_back(kUidNegInf);
      data.push_back(&im.negInf);
    }
    BackendDesc vp;
    KILN_CUDNN_TRY(vp.create(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR));
    KILN_CUDNN_TRY(cudnnBackendSetAttribute(vp.get(), CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS,
                                            CUDNN_TYPE_INT64, static_cast<int64_t>(uids.size()),
                                            uids.data()));
    KILN_CUDNN_TRY(cudnnBackendSetAttribute(vp.get(), CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS,
                                            CUDNN_TYPE_VOID_PTR, static_cast<int64_t>(data.size()),
                                            data.data()));
    KILN_CUDNN_TRY(cudnnBackendSetAttribute(vp.get(), CUDNN_ATTR_VARIANT_PACK_WORKSPACE,
                                            CUDNN_TYPE_VOID_PTR, 1, &ws));
    KILN_CUDNN_TRY(cudnnBackendFinalize(vp.get()));
    im.variantPack = std::move(vp);
    im.vpPointers = ptrs;
  }
  KILN_CUDNN_TRY(cudnnSetStream(handle, stream));
  KILN_CUDNN_TRY(cudnnBackendExecute(handle, im.plan.get(), im.variantPack.get()));
  return Status::ok();
}

}  // namespace kiln::cuda
