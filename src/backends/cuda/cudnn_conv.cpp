#include "backends/cuda/cudnn_conv.h"

#include <cudnn.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "backends/cuda/cudnn_backend_util.h"

namespace kiln::cuda {

namespace {

constexpr int64_t kUidImg = 1, kUidW = 2, kUidCol = 3;

const char* noteName(cudnnBackendNumericalNote_t n) {
  switch (n) {
    case CUDNN_NUMERICAL_NOTE_TENSOR_CORE: return "TENSOR_CORE";
    case CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS: return "DOWN_CONVERT_INPUTS";
    case CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION: return "REDUCED_PRECISION_REDUCTION";
    case CUDNN_NUMERICAL_NOTE_FFT: return "FFT";
    case CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC: return "NONDETERMINISTIC";
    case CUDNN_NUMERICAL_NOTE_WINOGRAD:
    case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_4x4:
    case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_6x6:
    case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_13x13: return "WINOGRAD";
    default: return nullptr;
  }
}

// Why an engine's numerics would not match the CPU reference, or null when it is acceptable.
// Conservative on purpose (float32 must stay within 1e-5 relative of the CPU's float32 GEMM):
// - DOWN_CONVERT_INPUTS: inputs converted to a narrower type;
// - TENSOR_CORE on float32: TF32 products (allowed only with the builder's TF32 flag);
// - FFT / Winograd: transforms with larger rounding error than direct accumulation;
// - REDUCED_PRECISION_REDUCTION: half-precision accumulation;
// - NONDETERMINISTIC: run-to-run differences (atomics).
const char* rejectNote(cudnnBackendNumericalNote_t n, DataType t, bool allowTF32) {
  switch (n) {
    case CUDNN_NUMERICAL_NOTE_TENSOR_CORE:
      return t == DataType::kFLOAT && !allowTF32 ? "TENSOR_CORE (TF32 on float32)" : nullptr;
    case CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS:
    case CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION:
    case CUDNN_NUMERICAL_NOTE_FFT:
    case CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC:
    case CUDNN_NUMERICAL_NOTE_WINOGRAD:
    case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_4x4:
    case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_6x6:
    case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_13x13: return noteName(n);
    default: return nullptr;
  }
}

// Packed row-major (NCHW) strides.
std::vector<int64_t> packedStrides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t i = dims.size() - 1; i-- > 0;) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

// Packed channels-last strides of logical [N, C, H, W] dims (the memory order is N, H, W, C;
// for a filter [K, C, R, S] that is KRSC): [H*W*C, 1, W*C, C].
std::vector<int64_t> channelsLastStrides(const std::vector<int64_t>& dims) {
  const int64_t c = dims[1], h = dims[2], w = dims[3];
  return {h * w * c, 1, w * c, c};
}

}  // namespace

// Tactic ids of cuDNN plans: the engine's global index (stable for one cuDNN version).
constexpr const char* kTacticPrefix = "cudnn:engine=";

struct CudnnConv::Impl {
  std::string who;
  ConvProblem problem;
  BackendDesc imgT, wT, colT, conv, op, graph;
  struct Plan {
    BackendDesc config;  // kept alive as long as the plan built from it
    BackendDesc plan;
    int64_t engine = -1;
    int64_t workspace = 0;
    const char* mode = "";
  };
  std::vector<Plan> plans;
  int selected = 0;
  bool allowTF32 = false;
  // Variant pack cache: rebuilt only when a pointer changes.
  BackendDesc variantPack;
  std::array<const void*, 4> vpPointers{};  // img, w, col, workspace
  int vpPlan = -1;
};

CudnnConv::CudnnConv() = default;
CudnnConv::~CudnnConv() = default;

Status CudnnConv::build(cudnnContext* handleCtx, const ConvProblem& p, bool allowTF32,
                        const std::string& who, const CudnnTacticRequest& request) {
  mImpl = std::make_unique<Impl>();
  Impl& im = *mImpl;
  im.who = who;
  im.problem = p;
  im.allowTF32 = allowTF32;
  int64_t preferredEngine = -1;
  if (request.preferred.rfind(kTacticPrefix, 0) == 0) {
    const std::string num = request.preferred.substr(std::strlen(kTacticPrefix));
    char* end = nullptr;
    const long long v = std::strtoll(num.c_str(), &end, 10);
    if (!num.empty() && end && *end == '\0' && v >= 0) preferredEngine = v;
  }
  const int maxPlans = request.allCandidates ? kMaxCandidates : 1;
  cudnnHandle_t handle = handleCtx;

  cudnnDataType_t dt, compute;
  switch (p.dtype) {
    case DataType::kFLOAT: dt = compute = CUDNN_DATA_FLOAT; break;
    case DataType::kDOUBLE: dt = compute = CUDNN_DATA_DOUBLE; break;
    case DataType::kHALF:
      dt = CUDNN_DATA_HALF;
      compute = CUDNN_DATA_FLOAT;  // accumulate in float, as the CPU does
      break;
    case DataType::kBF16:
      dt = CUDNN_DATA_BFLOAT16;
      compute = CUDNN_DATA_FLOAT;
      break;
    default:
      return unsupported("%s: cuDNN convolution for data type %s", who.c_str(),
                         dataTypeName(p.dtype));
  }
  const size_t nsp = p.kernel.size();
  if (nsp < 1 || nsp > 3)
    return unsupported("%s: cuDNN convolution with %zu spatial dims", who.c_str(), nsp);
  if (p.channelsLast && (nsp != 2 || p.transposed))
    return unsupported("%s: channels-last cuDNN convolution needs a 2-D forward convolution",
                       who.c_str());

  // Post paddings: only the output size depends on them (positions past the image read or
  // receive nothing either way), so pick any value that reproduces the column size
  //   col = floor((img + pre + post - ek) / stride) + 1,
  // preferring symmetric padding, which more engines support.
  std::vector<int64_t> pre(p.padBegin), post(nsp);
  for (size_t i = 0; i < nsp; ++i) {
    const int64_t ek = p.dilations[i] * (p.kernel[i] - 1) + 1;
    const int64_t lo = (p.colSizes[i] - 1) * p.strides[i] + ek - p.imgSizes[i] - pre[i];
    const int64_t hi = lo + p.strides[i] - 1;
    if (pre[i] < 0 || hi < 0)
      return unsupported(
          "%s: cuDNN needs non-negative paddings (axis %zu: begin %lld, end in [%lld, %lld])",
          who.c_str(), i, static_cast<long long>(pre[i]), static_cast<long long>(lo),
          static_cast<long long>(hi));
    post[i] = pre[i] >= lo && pre[i] <= hi ? pre[i] : std::max<int64_t>(lo, 0);
  }

  // 1-D runs as 2-D with a unit H axis.
  std::vector<int64_t> imgSp(p.imgSizes), colSp(p.colSizes), kSp(p.kernel), strides(p.strides),
      dil(p.dilations);
  if (nsp == 1) {
    imgSp.insert(imgSp.begin(), 1);
    colSp.insert(colSp.begin(), 1);
    kSp.insert(kSp.begin(), 1);
    strides.insert(strides.begin(), 1);
    dil.insert(dil.begin(), 1);
    pre.insert(pre.begin(), 0);
    post.insert(post.begin(), 0);
  }
  auto withNC = [](int64_t n, int64_t c, const std::vector<int64_t>& sp) {
    std::vector<int64_t> d{n, c};
    d.insert(d.end(), sp.begin(), sp.end());
    return d;
  };
  const std::vector<int64_t> imgDims = withNC(p.batch, p.imgChannels, imgSp);
  const std::vector<int64_t> colDims = withNC(p.batch, p.colChannels, colSp);
  // The filter of the convolution img -> col: [col channels, img channels / group, k...] (Conv's
  // W [M, C/group, k...]; ConvTranspose's W [C, M/group, k...]).
  const std::vector<int64_t> wDims = withNC(p.colChannels, p.imgChannels / p.group, kSp);

  auto makeTensor = [&](BackendDesc& d, int64_t uid, const std::vector<int64_t>& dims) {
    return makeTensorDesc(d, uid, dt, dims,
                          p.channelsLast ? channelsLastStrides(dims) : packedStrides(dims),
                          kAlignment, /*isVirtual=*/false, /*byValue=*/false, who, kCudnnInternal);
  };
  KILN_RETURN_IF_ERROR(makeTensor(im.imgT, kUidImg, imgDims));
  KILN_RETURN_IF_ERROR(makeTensor(im.wT, kUidW, wDims));
  KILN_RETURN_IF_ERROR(makeTensor(im.colT, kUidCol, colDims));

  {
    KILN_CUDNN_TRY(im.conv.create(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR));
    const cudnnConvolutionMode_t mode =
        CUDNN_CROSS_CORRELATION;  // ONNX "convolution" does not flip the kernel
    const int64_t spatial = static_cast<int64_t>(kSp.size());
    KILN_CUDNN_TRY(cudnnBackendSetAttribute(im.conv.get(), CUDNN_ATTR_CONVOLUTION_COMP_TYPE,
                                            CUDNN_TYPE_DATA_TYPE, 1, &compute));
    KILN_CUDNN_TRY(cudnnBackendSetAttribute(im.conv.get(), CUDNN_ATTR_CONVOLUTION_CONV_MODE,
                                            CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode));
    KILN_CUDNN_TRY(cudnnBackendSetAttribute(im.conv.get(), CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS,
                                            CUDNN_TYPE_INT64, 1, &spatial));
    KILN_CUDNN_TRY(setInts(im.conv.get(), CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, pre));
    KILN_CUDNN_TRY(setInts(im.conv.get(), CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, post));
    KILN_CUDNN_TRY(setInts(im.conv.get(), CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, strides));
    KILN_CUDNN_TRY(setInts(im.conv.get(), CUDNN_ATTR_CONVOLUTION_DILATIONS, dil));
    KILN_CUDNN_TRY(cudnnBackendFinalize(im.conv.get()));
  }

  {
    // Scaling factors are float unless the tensors are double.
    const float alphaF = 1.f, betaF = 0.f;
    const double alphaD = 1.0, betaD = 0.0;
    const bool f64 = p.dtype == DataType::kDOUBLE;
    const cudnnBackendAttributeType_t scaleType = f64 ? CUDNN_TYPE_DOUBLE : CUDNN_TYPE_FLOAT;
    const void* alpha = f64 ? static_cast<const void*>(&alphaD) : static_cast<const void*>(&alphaF);
    const void* beta = f64 ? static_cast<const void*>(&betaD) : static_cast<const void*>(&betaF);
    if (!p.transposed) {
      KILN_CUDNN_TRY(im.op.create(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR));
      KILN_CUDNN_TRY(setDesc(im.op.get(), CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, im.imgT));
      KILN_CUDNN_TRY(setDesc(im.op.get(), CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, im.wT));
      KILN_CUDNN_TRY(setDesc(im.op.get(), CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, im.colT));
      KILN_CUDNN_TRY(
          setDesc(im.op.get(), CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, im.conv));
      KILN_CUDNN_TRY(cudnnBackendSetAttribute(
          im.op.get(), CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, scaleType, 1, alpha));
      KILN_CUDNN_TRY(cudnnBackendSetAttribute(
          im.op.get(), CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, scaleType, 1, beta));
    } else {
      // dX (the ConvTranspose output) = conv^T(dY (its input), W).
      KILN_CUDNN_TRY(im.op.create(CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR));
      KILN_CUDNN_TRY(setDesc(im.op.get(), CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX, im.imgT));
      KILN_CUDNN_TRY(setDesc(im.op.get(), CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, im.wT));
      KILN_CUDNN_TRY(setDesc(im.op.get(), CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY, im.colT));
      KILN_CUDNN_TRY(
          setDesc(im.op.get(), CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC, im.conv));
      KILN_CUDNN_TRY(cudnnBackendSetAttribute(
          im.op.get(), CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA, scaleType, 1, alpha));
      KILN_CUDNN_TRY(cudnnBackendSetAttribute(
          im.op.get(), CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA, scaleType, 1, beta));
    }
    KILN_CUDNN_TRY(cudnnBackendFinalize(im.op.get()));
  }

  KILN_RETURN_IF_ERROR(
      finalizeOperationGraph(im.graph, {im.op.get()}, handle, who, kCudnnInternal, "convolution"));

  // Heuristics: mode A, then FALLBACK when A gives nothing that passes the filters and finalizes.
  std::string reasons;
  auto note = [&](const std::string& s) { appendReason(reasons, s); };
  // With a preferred engine: one round looking only for it, then (if it is gone) the default.
  for (int round = preferredEngine >= 0 ? 0 : 1; round < 2 && im.plans.empty(); ++round)
    for (const auto& [mode, modeName] : kHeuristicModes) {
      if (!im.plans.empty()) break;
      const int64_t only = round == 0 ? preferredEngine : -1;
      std::vector<BackendDesc> cfgs;
      std::vector<cudnnBackendDescriptor_t> raw;
      std::string why;
      KILN_RETURN_IF_ERROR(heuristicConfigs(im.graph, mode, who, kCudnnInternal, cfgs, raw, why));
      if (!why.empty()) {
        note(strFormat("%s: %s", modeName, why.c_str()));
        continue;
      }
      int attempts = 0;
      for (size_t i = 0; i < raw.size() && attempts < kMaxCandidates; ++i) {
        BackendDesc engine;
        int64_t engineIndex = -1;
        KILN_RETURN_IF_ERROR(engineOf(raw[i], who, kCudnnInternal, engine, engineIndex));
        cudnnBackendDescriptor_t engineRaw = engine.get();
        if (only >= 0 && engineIndex != only) continue;
        std::array<cudnnBackendNumericalNote_t, CUDNN_NUMERICAL_NOTE_TYPE_COUNT> notes{};
        int64_t numNotes = 0;
        KILN_CUDNN_TRY(cudnnBackendGetAttribute(
            engineRaw, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
            static_cast<int64_t>(notes.size()), &numNotes, notes.data()));
        const char* rejected = nullptr;
        for (int64_t k = 0; k < numNotes && k < static_cast<int64_t>(notes.size()) && !rejected;
             ++k)
          rejected = rejectNote(notes[static_cast<size_t>(k)], p.dtype, allowTF32);
        if (rejected) {
          note(strFormat("%s engine %lld skipped: %s", modeName,
                         static_cast<long long>(engineIndex), rejected));
          continue;
        }
        ++attempts;
        Impl::Plan plan;
        int64_t ws = 0;
        KILN_RETURN_IF_ERROR(finalizePlan(handle, raw[i], who, kCudnnInternal, plan.plan, ws, why));
        if (!why.empty()) {
          note(strFormat("%s engine %lld: %s", modeName, static_cast<long long>(engineIndex),
                         why.c_str()));
          continue;
        }
        plan.config = std::move(cfgs[i]);
        plan.engine = engineIndex;
        plan.workspace = ws;
        plan.mode = modeName;
        im.plans.push_back(std::move(plan));
        if (static_cast<int>(im.plans.size()) >= maxPlans) break;  // tuning keeps several
      }
    }
  if (im.plans.empty())
    return unsupported("%s: cuDNN has no usable engine for this %s (%s)", who.c_str(),
                       p.transposed ? "transposed convolution" : "convolution",
                       reasons.empty() ? "no configs" : reasons.c_str());
  im.selected = 0;
  return Status::ok();
}

size_t CudnnConv::workspaceSize() const {
  if (!mImpl) return 0;
  int64_t ws = 0;
  for (const Impl::Plan& pl : mImpl->plans) ws = std::max(ws, pl.workspace);
  return static_cast<size_t>(ws);
}

std::string CudnnConv::tactic() const {
  if (!mImpl || mImpl->plans.empty()) return "cudnn (no plan)";
  const Impl::Plan& pl = mImpl->plans[static_cast<size_t>(mImpl->selected)];
  return strFormat("cudnn engine %lld (%s%s)", static_cast<long long>(pl.engine), pl.mode,
                   mImpl->problem.channelsLast ? ", NHWC" : "");
}

int CudnnConv::tacticCount() const { return mImpl ? static_cast<int>(mImpl->plans.size()) : 0; }

std::string CudnnConv::tacticId(int i) const {
  if (!mImpl || i < 0 || i >= tacticCount()) return "";
  return strFormat("%s%lld", kTacticPrefix,
                   static_cast<long long>(mImpl->plans[static_cast<size_t>(i)].engine));
}

Status CudnnConv::selectTactic(int i) {
  if (!mImpl || i < 0 || i >= tacticCount())
    return internalError("cuDNN tactic %d of %d", i, tacticCount());
  mImpl->selected = i;
  return Status::ok();
}

std::string CudnnConv::timingKey() const {
  if (!mImpl) return "";
  const ConvProblem& p = mImpl->problem;
  auto list = [](const std::vector<int64_t>& v) {
    std::string s;
    for (int64_t x : v) s += (s.empty() ? "" : "x") + std::to_string(x);
    return s;
  };
  return strFormat("cudnn-conv%s%s %s n%lld c%lld->%lld g%lld img %s col %s k %s s %s d %s p %s%s",
                   p.transposed ? "-transposed" : "", p.channelsLast ? "-nhwc" : "",
                   dataTypeName(p.dtype), static_cast<long long>(p.batch),
                   static_cast<long long>(p.imgChannels), static_cast<long long>(p.colChannels),
                   static_cast<long long>(p.group), list(p.imgSizes).c_str(),
                   list(p.colSizes).c_str(), list(p.kernel).c_str(), list(p.strides).c_str(),
                   list(p.dilations).c_str(), list(p.padBegin).c_str(),
                   mImpl->allowTF32 ? " tf32" : "");
}

Status CudnnConv::run(cudnnContext* handleCtx, const void* x, const void* w, void* y,
                      void* workspace, size_t workspaceBytes, cudaStream_t stream) {
  if (!mImpl || mImpl->plans.empty()) return internalError("CudnnConv::run without a plan");
  Impl& im = *mImpl;
  const std::string& who = im.who;
  cudnnHandle_t handle = handleCtx;
  const Impl::Plan& pl = im.plans[static_cast<size_t>(im.selected)];
  if (pl.workspace > 0 &&
      (workspace == nullptr || workspaceBytes < static_cast<size_t>(pl.workspace)))
    return internalError("%s: cuDNN plan needs %lld bytes of workspace, got %zu", who.c_str(),
                         static_cast<long long>(pl.workspace), workspaceBytes);
  if (pointerAlignment(x) < kAlignment || pointerAlignment(w) < kAlignment ||
      pointerAlignment(y) < kAlignment)
    return internalError("%s: cuDNN plan was built for %u-byte aligned tensors", who.c_str(),
                         kAlignment);
  // The image side is Conv's input / ConvTranspose's output.
  const void* img = im.problem.transposed ? static_cast<const void*>(y) : x;
  const void* col = im.problem.transposed ? x : static_cast<const void*>(y);
  void* ws = pl.workspace > 0 ? workspace : nullptr;
  const std::array<const void*, 4> ptrs{img, w, col, ws};
  if (!im.variantPack || ptrs != im.vpPointers || im.vpPlan != im.selected) {
    BackendDesc vp;
    KILN_CUDNN_TRY(vp.create(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR));
    const std::array<int64_t, 3> uids{kUidImg, kUidW, kUidCol};
    std::array<void*, 3> data{const_cast<void*>(img), const_cast<void*>(w), const_cast<void*>(col)};
    KILN_CUDNN_TRY(cudnnBackendSetAttribute(vp.get(), CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS,
                                            CUDNN_TYPE_INT64, 3, uids.data()));
    KILN_CUDNN_TRY(cudnnBackendSetAttribute(vp.get(), CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS,
                                            CUDNN_TYPE_VOID_PTR, 3, data.data()));
    KILN_CUDNN_TRY(cudnnBackendSetAttribute(vp.get(), CUDNN_ATTR_VARIANT_PACK_WORKSPACE,
                                            CUDNN_TYPE_VOID_PTR, 1, &ws));
    KILN_CUDNN_TRY(cudnnBackendFinalize(vp.get()));
    im.variantPack = std::move(vp);
    im.vpPointers = ptrs;
    im.vpPlan = im.selected;
  }
  KILN_CUDNN_TRY(cudnnSetStream(handle, stream));
  KILN_CUDNN_TRY(cudnnBackendExecute(handle, pl.plan.get(), im.variantPack.get()));
  return Status::ok();
}

}  // namespace kiln::cuda
