// CUDA kernel of FusedMatMul (see ops.def and docs/optimizer.md): Y = act(A @ B + bias + Z).
//
// A [..., M, K] is contiguous, so its leading dims fold into M: one row-major [M', K] x [K, N]
// cuBLASLt GEMM (no batch), with the bias and activation in its epilogue where cuBLASLt has one:
//
//   bias  activation   cuBLASLt epilogue   then
//   no    none         DEFAULT             -
//   yes   none         BIAS                -
//   yes   Relu         RELU_BIAS           -
//   no    Relu         RELU                -
//   yes   GeluTanh     GELU_BIAS           -    (cuBLASLt's GELU is the tanh approximation;
//   no    GeluTanh     GELU                -     float16/bfloat16 only, float32 as "other")
//   yes   other        BIAS                the activation in place (launchMatMulEpilogue)
//   no    other        DEFAULT             the activation in place
//
// If cuBLASLt offers no algorithm for the epilogue, the GEMM runs with DEFAULT and
// launchMatMulEpilogue adds the bias and applies the activation; if it offers none even then
// (or for float64, which takes no epilogue), the direct GEMM kernel does the product. K = 0 is a
// memset and the epilogue kernel (act(bias), or act(0)). The tactic names the path taken.
//
// The residual Z (optional 4th input, Y's shape) is always added with the product, before the
// bias and the activation: cuBLASLt's C operand (C = Z with D's layout, beta = 1; cuBLASLt
// computes D = act(A·B + beta·C + bias)), the direct GEMM kernel's C (beta = 1), or, for K = 0,
// a copy of Z into Y. So launchMatMulEpilogue never sees Z: it runs on Y = A·B + Z already.
// kLtActivationWithResidual = false would keep the activation out of cuBLASLt when Z is present
// (bias epilogue only, the activation in launchMatMulEpilogue) should a device ever disagree.
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/cublaslt_gemm.h"
#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/fused_epilogue.h"
#include "ir/fused_activation.h"

namespace kiln::cuda {

namespace {

// cuBLASLt applies its RELU/GELU epilogues after adding beta·C (see the header comment).
constexpr bool kLtActivationWithResidual = true;

bool isFusedMatMulType(DataType t) {
  return t == DataType::kFLOAT || t == DataType::kHALF || t == DataType::kBF16 ||
         t == DataType::kDOUBLE;
}

class FusedMatMulKernel final : public LtGemmKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    mGemm.reset();
    mMode = Mode::kEmpty;
    mKernelBias = false;
    mKernelAct = ir::FusedActivationParams{};
    mLtEpilogue.clear();
    mFallbackReason.clear();
    const CudaTensor& a = ctx.inputs[0];
    const CudaTensor& b = ctx.inputs[1];
    mType = a.dtype;
    if (!isFusedMatMulType(mType))
      return ctx.unsupportedHere(strFormat("data type %s for this op", dataTypeName(mType)));
    mHasBias = ctx.hasInput(2);
    mHasZ = ctx.hasInput(3);
    if (b.dtype != mType || (mHasBias && ctx.inputs[2].dtype != mType) ||
        (mHasZ && ctx.inputs[3].dtype != mType))
      return ctx.error("A, B, bias and Z must have the same data type");
    StatusOr<ir::FusedActivationParams> act = ir::parseFusedActivation(ctx.attrs());
    if (!act.isOk()) return ctx.error("%s", act.status().message().c_str());
    mAct = *act;
    if (a.rank() < 2 || b.rank() != 2)
      return ctx.error("A must have rank >= 2 and B rank 2, got shapes %s and %s",
                       ir::dimsToString(a.dims).c_str(), ir::dimsToString(b.dims).c_str());
    const int64_t k = a.dims.back(), n = b.dims[1];
    if (b.dims[0] != k)
      return ctx.error("inner dimensions do not match: A %s has K=%lld but B %s has K=%lld",
                       ir::dimsToString(a.dims).c_str(), static_cast<long long>(k),
                       ir::dimsToString(b.dims).c_str(), static_cast<long long>(b.dims[0]));
    if (mHasBias && (ctx.inputs[2].rank() != 1 || ctx.inputs[2].dims[0] != n))
      return ctx.error("bias must be 1-D with N=%lld elements, got shape %s",
                       static_cast<long long>(n), ir::dimsToString(ctx.inputs[2].dims).c_str());
    int64_t rows = 1;
    for (size_t i = 0; i + 1 < a.dims.size(); ++i) rows *= a.dims[i];
    if (ctx.outputs[0].numel() != rows * n)
      return ctx.error("output has %lld elements, expected %lld",
                       static_cast<long long>(ctx.outputs[0].numel()),
                       static_cast<long long>(rows * n));
    if (mHasZ) {
      std::vector<int64_t> want(a.dims.begin(), a.dims.end() - 1);
      want.push_back(n);
      if (ctx.inputs[3].dims != want)
        return ctx.error("residual Z must have exactly the output's shape %s, got %s",
                         ir::dimsToString(want).c_str(),
                         ir::dimsToString(ctx.inputs[3].dims).c_str());
    }
    mRows = rows;
    mN = n;
    if (rows == 0 || n == 0) return Status::ok();  // kEmpty
    if (k == 0) {
      // An empty sum: Y = act(0 + bias + Z) (Z copied into Y first).
      mMode = Mode::kZeroK;
      mKernelBias = mHasBias;
      mKernelAct = mAct;
      return Status::ok();
    }

    LtGemmSpec spec;
    spec.dtype = mType;
    spec.m = rows;
    spec.n = n;
    spec.k = k;
    spec.allowTF32 = ctx.allowTF32;
    spec.residual = mHasZ;
    spec.beta = 1.0;  // read only with the residual (C = Z)
    KILN_ASSIGN_OR_RETURN(cublasLtContext * lt, ctx.libs.cublasLt());
    const std::string who = ctx.node.describe();
    // Creates the GEMM for `spec`; kUnsupported when cuBLASLt has no algorithm for it.
    auto tryLt = [&]() -> Status {
      auto gemm = std::make_unique<LtGemm>();
      KILN_RETURN_IF_ERROR(gemm->init(lt, spec, who));
      mGemm = std::move(gemm);
      mMode = Mode::kLt;
      mLtEpilogue = LtGemm::epilogueName(spec);
      return Status::ok();
    };

    // 1. The epilogue that does the most (float64: none).
    if (mType != DataType::kDOUBLE) {
      spec.cMode = mHasBias ? LtGemmSpec::CMode::kBiasRow : LtGemmSpec::CMode::kNone;
      // cuBLASLt's GELU epilogue only for float16/bfloat16: its accuracy in float32 is not
      // documented, and float32 must match the CPU to 1e-5 (the epilogue kernel computes the
      // same formula as the CPU in float).
      spec.act = mHasZ && !kLtActivationWithResidual       ? LtGemmSpec::Act::kNone
                 : mAct.kind == ir::FusedActivation::kRelu ? LtGemmSpec::Act::kRelu
                 : mAct.kind == ir::FusedActivation::kGeluTanh && mType != DataType::kFLOAT
                     ? LtGemmSpec::Act::kGeluTanh
                     : LtGemmSpec::Act::kNone;
      const Status st = tryLt();
      if (st.isOk()) {
        mKernelBias = false;
        mKernelAct = spec.act == LtGemmSpec::Act::kNone ? mAct : ir::FusedActivationParams{};
        return Status::ok();
      }
      if (st.code() != StatusCode::kUnsupported) return st;
      mFallbackReason = st.message();
    }
    // 2. DEFAULT, the bias and activation in the epilogue kernel.
    spec.cMode = LtGemmSpec::CMode::kNone;
    spec.act = LtGemmSpec::Act::kNone;
    mKernelBias = mHasBias;
    mKernelAct = mAct;
    const Status st = tryLt();
    if (st.isOk()) return Status::ok();
    if (st.code() != StatusCode::kUnsupported) return st;
    // 3. The direct GEMM kernel (float accumulation; double for double).
    if (!mFallbackReason.empty()) mFallbackReason += "; ";
    mFallbackReason += st.message();
    mNaive = NaiveGemmParams{};
    mNaive.m = rows;
    mNaive.n = n;
    mNaive.k = k;
    mNaive.aRs = k;
    mNaive.aCs = 1;
    mNaive.bRs = n;
    mNaive.bCs = 1;
    mNaive.batchRank = 0;
    mNaive.hasC = mHasZ;  // Z [rows, n] row-major
    mNaive.cRs = n;
    mNaive.cCs = 1;
    mNaive.beta = 1.0;
    mMode = Mode::kNaive;
    return Status::ok();
  }

  Status enqueue(const LaunchContext& ctx) override {
    const CudaTensor& y = ctx.outputs[0];
    const void* bias = mHasBias ? ctx.inputs[2].data : nullptr;
    const void* z = mHasZ ? ctx.inputs[3].data : nullptr;
    switch (mMode) {
      case Mode::kEmpty: return Status::ok();
      case Mode::kZeroK:
        if (z != nullptr) {
          if (z != y.data) {
            KILN_CUDA_RETURN_IF_ERROR(
                cudaMemcpyAsync(y.data, z, y.bytes(), cudaMemcpyDeviceToDevice, ctx.stream));
          }
        } else {
          KILN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(y.data, 0, y.bytes(), ctx.stream));
        }
        break;
      case Mode::kNaive:
        KILN_RETURN_IF_ERROR(launchNaiveGemm(mType, mNaive, ctx.inputs[0].data, ctx.inputs[1].data,
                                             z, y.data, ctx.stream, ctx.libs.props()));
        break;
      case Mode::kLt: {
        KILN_ASSIGN_OR_RETURN(cublasLtContext * lt, ctx.libs.cublasLt());
        KILN_RETURN_IF_ERROR(mGemm->run(lt, ctx.inputs[0].data, ctx.inputs[1].data, bias, y.data,
                                        ctx.workspace, ctx.workspaceBytes, ctx.stream, z));
        break;
      }
    }
    if (!mKernelBias && mKernelAct.kind == ir::FusedActivation::kNone) return Status::ok();
    return launchMatMulEpilogue(mType, y.data, mKernelBias ? bias : nullptr, mRows, mN, mKernelAct,
                                ctx.stream, ctx.libs.props());
  }

  std::string tactic() const override {
    std::string t;
    switch (mMode) {
      case Mode::kEmpty: return "empty";
      case Mode::kZeroK: t = mHasZ ? "copy of Z (K = 0)" : "memset (K = 0)"; break;
      case Mode::kNaive: t = mHasZ ? "kiln direct GEMM, C = Z" : "kiln direct GEMM"; break;
      case Mode::kLt:
        t = mGemm->tactic() + ", epilogue " + mLtEpilogue + (mHasZ ? ", C = Z" : "");
        break;
    }
    if (mKernelBias || mKernelAct.kind != ir::FusedActivation::kNone) {
      t += " + kiln epilogue (";
      if (mKernelBias) t += mKernelAct.kind != ir::FusedActivation::kNone ? "bias, " : "bias";
      if (mKernelAct.kind != ir::FusedActivation::kNone)
        t += ir::fusedActivationName(mKernelAct.kind);
      t += ")";
    }
    if (!mFallbackReason.empty()) t += " [" + mFallbackReason + "]";
    return t;
  }

 private:
  enum class Mode { kEmpty, kZeroK, kNaive, kLt };
  Mode mMode = Mode::kEmpty;
  DataType mType = DataType::kFLOAT;
  bool mHasBias = false;
  bool mHasZ = false;  // the residual: cuBLASLt's / the direct GEMM's C, or copied (K = 0)
  ir::FusedActivationParams mAct;
  int64_t mRows = 0, mN = 0;
  std::string mLtEpilogue;
  // What launchMatMulEpilogue does after the GEMM (nothing when neither is set).
  bool mKernelBias = false;
  ir::FusedActivationParams mKernelAct;
  NaiveGemmParams mNaive;
  std::string mFallbackReason;
};

StatusOr<std::unique_ptr<CudaKernel>> makeFusedMatMul(const ir::Node&) {
  return std::unique_ptr<CudaKernel>(new FusedMatMulKernel());
}

}  // namespace

void registerFusedMatMulKernels(CudaKernelTable& t) {
  t[static_cast<size_t>(ir::OpKind::kFusedMatMul)] = &makeFusedMatMul;
}

}  // namespace kiln::cuda
