#include "backends/cuda/cublaslt_gemm.h"

#include <cublasLt.h>

#include <algorithm>
#include <vector>

namespace kiln::cuda {

namespace {

// Largest power of two (<= 256) dividing the address; null counts as fully aligned.
uint32_t pointerAlignment(const void* p) {
  const auto v = reinterpret_cast<uintptr_t>(p);
  if (v == 0) return 256;
  const uintptr_t low = v & (~v + 1);
  return static_cast<uint32_t>(std::min<uintptr_t>(low, 256));
}

}  // namespace

struct LtGemm::Impl {
  std::string who;
  LtGemmSpec spec;
  size_t elemSize = 4;
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t aDesc = nullptr, bDesc = nullptr, dDesc = nullptr;
  std::vector<cublasLtMatmulHeuristicResult_t> candidates;
  bool hasSafe = false;
  cublasLtMatmulHeuristicResult_t safe{};  // for pointers less aligned than `assumedAlign`
  uint32_t assumedAlign = 256;
  int selected = 0;
  const void* biasInDesc = nullptr;  // the BIAS_POINTER value currently set in `op`
  float alphaF = 1.f, betaF = 0.f;
  double alphaD = 1.0, betaD = 0.0;
  bool lastRunSafe = false;

  ~Impl() {
    if (aDesc) cublasLtMatrixLayoutDestroy(aDesc);
    if (bDesc) cublasLtMatrixLayoutDestroy(bDesc);
    if (dDesc) cublasLtMatrixLayoutDestroy(dDesc);
    if (op) cublasLtMatmulDescDestroy(op);
  }

  Status check(cublasStatus_t st, const char* what) const {
    if (st == CUBLAS_STATUS_SUCCESS) return Status::ok();
    return internalError("%s: %s failed: %s (%d)", who.c_str(), what, cublasLtGetStatusString(st),
                         static_cast<int>(st));
  }

  // Column-major layout rows x cols (ld = rows), strided-batched when spec.batch > 1.
  Status makeLayout(cublasLtMatrixLayout_t* out, cudaDataType_t t, int64_t rows, int64_t cols,
                    int64_t stride) {
    KILN_RETURN_IF_ERROR(
        check(cublasLtMatrixLayoutCreate(out, t, static_cast<uint64_t>(rows),
                                         static_cast<uint64_t>(cols), std::max<int64_t>(rows, 1)),
              "cublasLtMatrixLayoutCreate"));
    if (spec.batch > 1) {
      const int32_t count = static_cast<int32_t>(spec.batch);
      KILN_RETURN_IF_ERROR(
          check(cublasLtMatrixLayoutSetAttribute(*out, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count,
                                                 sizeof(count)),
                "cublasLtMatrixLayoutSetAttribute(BATCH_COUNT)"));
      KILN_RETURN_IF_ERROR(
          check(cublasLtMatrixLayoutSetAttribute(*out, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                 &stride, sizeof(stride)),
                "cublasLtMatrixLayoutSetAttribute(STRIDED_BATCH_OFFSET)"));
    }
    return Status::ok();
  }

  // Runs the heuristic assuming every pointer is `align`-byte aligned; returns up to `count`
  // usable results (empty when cuBLASLt has none).
  StatusOr<std::vector<cublasLtMatmulHeuristicResult_t>> queryOnce(cublasLtHandle_t lt,
                                                                   uint32_t align, int count,
                                                                   bool restrictReduction) {
    cublasLtMatmulPreference_t pref = nullptr;
    KILN_RETURN_IF_ERROR(
        check(cublasLtMatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate"));
    struct PrefGuard {
      cublasLtMatmulPreference_t p;
      ~PrefGuard() { cublasLtMatmulPreferenceDestroy(p); }
    } guard{pref};
    const uint64_t ws = kMaxWorkspace;
    KILN_RETURN_IF_ERROR(check(cublasLtMatmulPreferenceSetAttribute(
                                   pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)),
                               "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)"));
    // Split-K partial sums only in the compute type (float32/float64), reduced in a separate,
    // fixed-order step: INPLACE and OUTPUT_TYPE keep partials in the output type (extra float16
    // roundings the CPU reference does not have) and INPLACE's order may vary run to run.
    const uint32_t reductions = restrictReduction ? uint32_t{CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE}
                                                  : uint32_t{CUBLASLT_REDUCTION_SCHEME_MASK};
    KILN_RETURN_IF_ERROR(
        check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
                                                   &reductions, sizeof(reductions)),
              "cublasLtMatmulPreferenceSetAttribute(REDUCTION_SCHEME_MASK)"));
    for (cublasLtMatmulPreferenceAttributes_t attr :
         {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
          CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES}) {
      KILN_RETURN_IF_ERROR(
          check(cublasLtMatmulPreferenceSetAttribute(pref, attr, &align, sizeof(align)),
                "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT)"));
    }
    if (spec.cMode == LtGemmSpec::CMode::kBiasRow) {
      // The heuristic reads the bias pointer's value (never dereferenced) to learn its
      // alignment: give it a stand-in with exactly the alignment assumed; run() sets the real one.
      const void* stand = reinterpret_cast<const void*>(static_cast<uintptr_t>(align));
      KILN_RETURN_IF_ERROR(check(cublasLtMatmulDescSetAttribute(
                                     op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &stand, sizeof(stand)),
                                 "cublasLtMatmulDescSetAttribute(BIAS_POINTER)"));
      biasInDesc = stand;
    }
    std::vector<cublasLtMatmulHeuristicResult_t> results(static_cast<size_t>(count));
    int returned = 0;
    const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(
        lt, op, aDesc, bDesc, dDesc, dDesc, pref, count, results.data(), &returned);
    // NOT_SUPPORTED: no heuristic for this configuration; INVALID_VALUE: a combination cuBLASLt
    // rejects (e.g. an epilogue for the type). Both mean "no algorithm" to the caller.
    if (st == CUBLAS_STATUS_NOT_SUPPORTED || st == CUBLAS_STATUS_INVALID_VALUE)
      return unsupported("%s: cublasLtMatmulAlgoGetHeuristic: %s (%d)", who.c_str(),
                         cublasLtGetStatusString(st), static_cast<int>(st));
    KILN_RETURN_IF_ERROR(check(st, "cublasLtMatmulAlgoGetHeuristic"));
    std::vector<cublasLtMatmulHeuristicResult_t> usable;
    for (int i = 0; i < returned; ++i) {
      const cublasLtMatmulHeuristicResult_t& r = results[static_cast<size_t>(i)];
      if (r.state == CUBLAS_STATUS_SUCCESS && r.workspaceSize <= kMaxWorkspace) usable.push_back(r);
    }
    return usable;
  }

  // The restricted reduction schemes first; any scheme if that leaves nothing.
  StatusOr<std::vector<cublasLtMatmulHeuristicResult_t>> query(cublasLtHandle_t lt, uint32_t align,
                                                               int count) {
    StatusOr<std::vector<cublasLtMatmulHeuristicResult_t>> r = queryOnce(lt, align, count, true);
    if (r.isOk() && !r->empty()) return r;
    if (!r.isOk() && r.status().code() != StatusCode::kUnsupported) return r;
    return queryOnce(lt, align, count, false);
  }
};

LtGemm::LtGemm() = default;
LtGemm::~LtGemm() = default;

Status LtGemm::init(cublasLtContext* ltCtx, const LtGemmSpec& spec, const std::string& who) {
  mImpl = std::make_unique<Impl>();
  Impl& im = *mImpl;
  im.who = who;
  im.spec = spec;
  cublasLtHandle_t lt = ltCtx;
  if (spec.m <= 0 || spec.n <= 0 || spec.k <= 0)
    return internalError("%s: cuBLASLt GEMM needs M, N, K > 0 (got %lld, %lld, %lld)", who.c_str(),
                         static_cast<long long>(spec.m), static_cast<long long>(spec.n),
                         static_cast<long long>(spec.k));
  if (spec.batch < 1 || spec.batch > INT32_MAX)
    return unsupported("%s: cuBLASLt batch count %lld out of range", who.c_str(),
                       static_cast<long long>(spec.batch));

  cudaDataType_t dt;
  cublasComputeType_t ct;
  cudaDataType_t scaleType = CUDA_R_32F;
  switch (spec.dtype) {
    case DataType::kFLOAT:
      dt = CUDA_R_32F;
      // Plain COMPUTE_32F never uses TF32; the CPU reference (and the 1e-5 tolerance) needs full
      // float32 products unless the builder allowed TF32.
      ct = spec.allowTF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
      break;
    case DataType::kHALF:
      dt = CUDA_R_16F;
      ct = CUBLAS_COMPUTE_32F;
      break;
    case DataType::kBF16:
      dt = CUDA_R_16BF;
      ct = CUBLAS_COMPUTE_32F;
      break;
    case DataType::kDOUBLE:
      dt = CUDA_R_64F;
      ct = CUBLAS_COMPUTE_64F;
      scaleType = CUDA_R_64F;
      break;
    default:
      return unsupported("%s: cuBLASLt GEMM for data type %s", who.c_str(),
                         dataTypeName(spec.dtype));
  }
  im.elemSize = dataTypeSize(spec.dtype);
  im.alphaF = static_cast<float>(spec.alpha);
  im.alphaD = spec.alpha;
  if (spec.residual && spec.cMode == LtGemmSpec::CMode::kFull)
    return internalError("%s: cuBLASLt GEMM with both a full C and a residual", who.c_str());
  // kBiasRow: D = alpha*A*B + bias, C unused; kNone: beta = 0 so C is never read; a residual is C.
  const double beta = spec.cMode == LtGemmSpec::CMode::kFull || spec.residual ? spec.beta : 0.0;
  im.betaF = static_cast<float>(beta);
  im.betaD = beta;

  KILN_RETURN_IF_ERROR(
      im.check(cublasLtMatmulDescCreate(&im.op, ct, scaleType), "cublasLtMatmulDescCreate"));
  // Row-major Y = op(A) op(B) as column-major Yᵀ = op(B)ᵀ op(A)ᵀ: cuBLASLt's A is our B.
  const cublasOperation_t opLtA = spec.transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t opLtB = spec.transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  KILN_RETURN_IF_ERROR(im.check(
      cublasLtMatmulDescSetAttribute(im.op, CUBLASLT_MATMUL_DESC_TRANSA, &opLtA, sizeof(opLtA)),
      "cublasLtMatmulDescSetAttribute(TRANSA)"));
  KILN_RETURN_IF_ERROR(im.check(
      cublasLtMatmulDescSetAttribute(im.op, CUBLASLT_MATMUL_DESC_TRANSB, &opLtB, sizeof(opLtB)),
      "cublasLtMatmulDescSetAttribute(TRANSB)"));
  if (spec.act != LtGemmSpec::Act::kNone &&
      (spec.cMode == LtGemmSpec::CMode::kFull || spec.dtype == DataType::kDOUBLE))
    return unsupported("%s: cuBLASLt activation epilogue with C or for %s", who.c_str(),
                       dataTypeName(spec.dtype));
  const bool biasEpi = spec.cMode == LtGemmSpec::CMode::kBiasRow;
  cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_DEFAULT;
  switch (spec.act) {
    case LtGemmSpec::Act::kNone:
      epi = biasEpi ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
      break;
    case LtGemmSpec::Act::kRelu:
      epi = biasEpi ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
      break;
    case LtGemmSpec::Act::kGeluTanh:
      epi = biasEpi ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
      break;
  }
  if (epi != CUBLASLT_EPILOGUE_DEFAULT) {
    // Bias type defaults to D's type (C and Y share the dtype); length N = rows of D.
    KILN_RETURN_IF_ERROR(im.check(
        cublasLtMatmulDescSetAttribute(im.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)),
        "cublasLtMatmulDescSetAttribute(EPILOGUE)"));
  }
  // cuBLASLt A = our B: stored [K,N] row-major = N x K column-major (op N), or [N,K] = K x N (op
  // T).
  KILN_RETURN_IF_ERROR(im.makeLayout(&im.aDesc, dt, spec.transB ? spec.k : spec.n,
                                     spec.transB ? spec.n : spec.k, spec.strideB));
  // cuBLASLt B = our A: stored [M,K] = K x M column-major (op N), or [K,M] = M x K (op T).
  KILN_RETURN_IF_ERROR(im.makeLayout(&im.bDesc, dt, spec.transA ? spec.m : spec.k,
                                     spec.transA ? spec.k : spec.m, spec.strideA));
  KILN_RETURN_IF_ERROR(im.makeLayout(&im.dDesc, dt, spec.n, spec.m, spec.strideY));

  im.assumedAlign = std::min<uint32_t>(
      256, std::max<uint32_t>(spec.structAlign, static_cast<uint32_t>(im.elemSize)));
  KILN_ASSIGN_OR_RETURN(im.candidates, im.query(lt, im.assumedAlign, kMaxCandidates));
  if (im.candidates.empty())
    return unsupported(
        "%s: cuBLASLt has no algorithm for %s GEMM M=%lld N=%lld K=%lld batch=%lld%s", who.c_str(),
        dataTypeName(spec.dtype), static_cast<long long>(spec.m), static_cast<long long>(spec.n),
        static_cast<long long>(spec.k), static_cast<long long>(spec.batch),
        epi != CUBLASLT_EPILOGUE_DEFAULT
            ? strFormat(" with the %s epilogue", epilogueName(spec)).c_str()
            : "");
  const uint32_t minAlign = static_cast<uint32_t>(im.elemSize);
  if (im.assumedAlign > minAlign) {
    StatusOr<std::vector<cublasLtMatmulHeuristicResult_t>> safe = im.query(lt, minAlign, 1);
    if (!safe.isOk() && safe.status().code() != StatusCode::kUnsupported) return safe.status();
    if (safe.isOk() && !safe->empty()) {
      im.hasSafe = true;
      im.safe = (*safe)[0];
    }
  }
  im.selected = 0;
  return Status::ok();
}

const char* LtGemm::epilogueName(const LtGemmSpec& spec) {
  const bool bias = spec.cMode == LtGemmSpec::CMode::kBiasRow;
  switch (spec.act) {
    case LtGemmSpec::Act::kNone: return bias ? "BIAS" : "DEFAULT";
    case LtGemmSpec::Act::kRelu: return bias ? "RELU_BIAS" : "RELU";
    case LtGemmSpec::Act::kGeluTanh: return bias ? "GELU_BIAS" : "GELU";
  }
  return "?";
}

size_t LtGemm::workspaceSize() const {
  if (!mImpl) return 0;
  size_t ws = mImpl->hasSafe ? mImpl->safe.workspaceSize : 0;
  for (const cublasLtMatmulHeuristicResult_t& r : mImpl->candidates)
    ws = std::max(ws, r.workspaceSize);
  return ws;
}

int LtGemm::numCandidates() const { return mImpl ? static_cast<int>(mImpl->candidates.size()) : 0; }

void LtGemm::selectCandidate(int i) {
  if (mImpl && i >= 0 && i < numCandidates()) mImpl->selected = i;
}

int LtGemm::selectedCandidate() const { return mImpl ? mImpl->selected : 0; }

std::string LtGemm::timingKey() const {
  if (!mImpl) return "";
  const LtGemmSpec& s = mImpl->spec;
  return strFormat(
      "cublaslt %s m%lld n%lld k%lld t%d%d b%lld sa%lld sb%lld sy%lld c%d act%d alpha%.17g "
      "beta%.17g%s align%u%s",
      dataTypeName(s.dtype), static_cast<long long>(s.m), static_cast<long long>(s.n),
      static_cast<long long>(s.k), s.transA ? 1 : 0, s.transB ? 1 : 0,
      static_cast<long long>(s.batch), static_cast<long long>(s.strideA),
      static_cast<long long>(s.strideB), static_cast<long long>(s.strideY),
      static_cast<int>(s.cMode), static_cast<int>(s.act), s.alpha, s.beta,
      s.allowTF32 ? " tf32" : "", s.structAlign, s.residual ? " residual" : "");
}

int LtGemmKernel::tacticCount() const { return mGemm ? std::max(1, mGemm->numCandidates()) : 1; }

std::string LtGemmKernel::tacticId(int i) const {
  if (!mGemm || i < 0 || i >= mGemm->numCandidates()) return "";
  return strFormat("cublaslt:candidate=%d", i);
}

Status LtGemmKernel::selectTactic(int i) {
  if (!mGemm) return CudaKernel::selectTactic(i);
  if (i < 0 || i >= mGemm->numCandidates())
    return internalError("cuBLASLt tactic %d of %d", i, mGemm->numCandidates());
  mGemm->selectCandidate(i);
  return Status::ok();
}

std::string LtGemm::tactic() const {
  if (!mImpl) return "cublasLt (not initialized)";
  std::string t = strFormat("cublasLt algo #%d", mImpl->selected);
  if (mImpl->lastRunSafe) t += " (alignment-safe algo for the last call)";
  return t;
}

Status LtGemm::run(cublasLtContext* ltCtx, const void* a, const void* b, const void* c, void* y,
                   void* workspace, size_t workspaceBytes, cudaStream_t stream,
                   const void* residual) {
  if (!mImpl) return internalError("LtGemm::run before init");
  Impl& im = *mImpl;
  const bool bias = im.spec.cMode == LtGemmSpec::CMode::kBiasRow;
  const bool full = im.spec.cMode == LtGemmSpec::CMode::kFull;
  uint32_t align = std::min({pointerAlignment(a), pointerAlignment(b), pointerAlignment(y)});
  if (full || bias) align = std::min(align, pointerAlignment(c));
  const bool res = im.spec.residual;
  if (res) {
    if (residual == nullptr)
      return internalError("%s: cuBLASLt GEMM without its residual", im.who.c_str());
    align = std::min(align, pointerAlignment(residual));
  }
  const cublasLtMatmulHeuristicResult_t* r = &im.candidates[static_cast<size_t>(im.selected)];
  im.lastRunSafe = false;
  if (align < im.assumedAlign) {
    if (!im.hasSafe)
      return internalError(
          "%s: operand pointers are only %u-byte aligned and cuBLASLt offered no algorithm for "
          "that",
          im.who.c_str(), align);
    r = &im.safe;
    im.lastRunSafe = true;
  }
  if (r->workspaceSize > 0 && (workspace == nullptr || workspaceBytes < r->workspaceSize))
    return internalError("%s: cuBLASLt algo needs %zu bytes of workspace, got %zu", im.who.c_str(),
                         r->workspaceSize, workspaceBytes);
  if (bias && c != im.biasInDesc) {
    // A host-side descriptor update (no allocation, no sync).
    KILN_RETURN_IF_ERROR(im.check(
        cublasLtMatmulDescSetAttribute(im.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &c, sizeof(c)),
        "cublasLtMatmulDescSetAttribute(BIAS_POINTER)"));
    im.biasInDesc = c;
  }
  const bool f64 = im.spec.dtype == DataType::kDOUBLE;
  const void* alpha =
      f64 ? static_cast<const void*>(&im.alphaD) : static_cast<const void*>(&im.alphaF);
  const void* beta =
      f64 ? static_cast<const void*>(&im.betaD) : static_cast<const void*>(&im.betaF);
  // C shares D's layout; with beta = 0 (kNone, kBiasRow without a residual) it is not read, so
  // pass y.
  const void* cPtr = full ? c : res ? residual : y;
  return im.check(
      cublasLtMatmul(ltCtx, im.op, alpha, b, im.aDesc, a, im.bDesc, beta, cPtr, im.dDesc, y,
                     im.dDesc, &r->algo, r->workspaceSize > 0 ? workspace : nullptr,
                     r->workspaceSize, stream),
      "cublasLtMatmul");
}

}  // namespace kiln::cuda
