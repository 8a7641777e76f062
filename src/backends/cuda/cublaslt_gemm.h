// Row-major GEMMs on cuBLASLt, plus the small GEMM-side CUDA helpers of the Linear family
// (launchers defined in kernels_linear_util.cu).
//
// cuBLASLt is column-major. A row-major [R,C] buffer read as column-major is its transpose, so
// Y = op(A)·op(B) (row-major) is computed as Yᵀ = op(B)ᵀ·op(A)ᵀ (column-major): cuBLASLt's A
// operand is our B, its B operand is our A, and D is N×M with ld N. The bias epilogue then adds one
// value per row of D, i.e. per output column of the row-major Y: exactly Gemm's row-vector C.
//
// The cuBLASLt types stay out of this header (pimpl) so .cu files can include it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "backends/cuda/cuda_kernel.h"

namespace kiln::cuda {

// Y[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b] for b < batch, all row-major and contiguous
// within a matrix: op(A) is [M,K] (A stored [M,K], or [K,M] when transA), op(B) is [K,N], Y is
// [M,N]. Batch b starts at base + b*stride (elements); a stride of 0 broadcasts the operand.
struct LtGemmSpec {
  enum class CMode : uint8_t {
    kNone,     // Y = alpha*op(A)*op(B)
    kFull,     // C has Y's layout (it may be Y itself: in-place accumulate)
    kBiasRow,  // C is a vector of N values added to every row (BIAS epilogue); beta is taken as 1
  };
  DataType dtype = DataType::kFLOAT;
  int64_t m = 0, n = 0, k = 0;  // all > 0 (callers handle empty products)
  bool transA = false, transB = false;
  int64_t batch = 1;
  int64_t strideA = 0, strideB = 0, strideY = 0;
  CMode cMode = CMode::kNone;
  // With cMode kNone or kBiasRow: also add beta * R, R a second operand with Y's layout (the
  // residual, passed to run() as `residual`; cuBLASLt's C with D's layout). cuBLASLt adds it
  // before the bias and the activation: D = act(alpha*op(A)*op(B) + beta*R + bias).
  bool residual = false;
  // An activation cuBLASLt applies in its epilogue, after the bias (kBiasRow) or directly to the
  // product (kNone), and after the residual; not with kFull or float64. kGeluTanh is cuBLASLt's
  // GELU epilogue, the tanh approximation (ONNX Gelu approximate="tanh").
  enum class Act : uint8_t { kNone, kRelu, kGeluTanh };
  Act act = Act::kNone;
  double alpha = 1.0, beta = 0.0;
  bool allowTF32 = false;
  // Byte alignment that every matrix start keeps relative to its base pointer (batch strides and
  // the caller's per-call offsets), at most 256. The heuristic assumes base pointers aligned to
  // min(256, structAlign); a call with less aligned pointers uses a second, alignment-safe algo.
  uint32_t structAlign = 256;
};

class LtGemm {
 public:
  static constexpr int kMaxCandidates = 8;
  static constexpr size_t kMaxWorkspace = size_t{32} << 20;  // NVIDIA's recommendation for Hopper

  LtGemm();
  ~LtGemm();
  LtGemm(const LtGemm&) = delete;
  LtGemm& operator=(const LtGemm&) = delete;

  // Creates the descriptors and runs the heuristic (host work, prepare time only). kUnsupported
  // when cuBLASLt offers no algorithm for the problem. `who` prefixes errors (the node).
  Status init(cublasLtContext* lt, const LtGemmSpec& spec, const std::string& who);

  // Device workspace for the largest kept candidate (and the alignment-safe algo).
  size_t workspaceSize() const;
  // The top heuristic results are kept so a tuner can time them; candidate 0 runs by default.
  int numCandidates() const;
  void selectCandidate(int i);
  int selectedCandidate() const;
  std::string tactic() const;
  // The problem (types, sizes, transposes, batch strides, epilogue, scalars, TF32, alignment):
  // the timing cache key of the candidates. The candidate list of one problem is the same in
  // every process with the same cuBLASLt, so candidate indices are stable tactic ids.
  std::string timingKey() const;
  // The cuBLASLt epilogue of the spec: "DEFAULT", "BIAS", "RELU", "RELU_BIAS", "GELU",
  // "GELU_BIAS".
  static const char* epilogueName(const LtGemmSpec& spec);

  // Enqueues the GEMM (launch only: no allocation, no sync). `c` is C for kFull (may equal y),
  // the bias vector for kBiasRow, ignored for kNone; `residual` is R for spec.residual (may equal
  // y), ignored otherwise.
  Status run(cublasLtContext* lt, const void* a, const void* b, const void* c, void* y,
             void* workspace, size_t workspaceBytes, cudaStream_t stream,
             const void* residual = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> mImpl;
};

// Base of the kernels that run one LtGemm (MatMul, Gemm, FusedMatMul): its workspace, and its
// candidates as the kernel's tactics (ids "cublaslt:candidate=<i>"). mGemm is null when the
// kernel does not run cuBLASLt for the prepared shapes (one tactic then).
class LtGemmKernel : public CudaKernel {
 public:
  size_t workspaceSize() const override { return mGemm ? mGemm->workspaceSize() : 0; }
  int tacticCount() const override;
  std::string tacticId(int i) const override;
  Status selectTactic(int i) override;
  std::string timingKey() const override { return mGemm ? mGemm->timingKey() : ""; }

 protected:
  std::unique_ptr<LtGemm> mGemm;
};

// ---------------------------------------------------------------------------------------------
// Helpers in kernels_linear_util.cu

constexpr int kNaiveGemmMaxBatchRank = 8;

// Direct (one thread per output element) batched GEMM for the integer types (wrap-around, as the
// CPU kernel) and as a last resort for the float types (float accumulation; double for double):
//   Y[b, i, j] = alpha * sum_p A(b, i, p) * B(b, p, j) + beta * C(i, j)
// with Y contiguous [batch..., M, N], A(b,i,p) = a[aOff(b) + i*aRs + p*aCs], B likewise, and
// C(i,j) = c[i*cRs + j*cCs] (strides 0 broadcast). Integer alpha/beta are exact whole numbers.
struct NaiveGemmParams {
  int64_t m = 0, n = 0, k = 0;
  int64_t aRs = 0, aCs = 0, bRs = 0, bCs = 0;
  int32_t batchRank = 0;
  int64_t batchDims[kNaiveGemmMaxBatchRank] = {};
  int64_t aBatchStride[kNaiveGemmMaxBatchRank] = {};  // elements
  int64_t bBatchStride[kNaiveGemmMaxBatchRank] = {};
  bool hasC = false;
  int64_t cRs = 0, cCs = 0;
  double alpha = 1.0, beta = 0.0;
};
Status launchNaiveGemm(DataType t, const NaiveGemmParams& p, const void* a, const void* b,
                       const void* c, void* y, cudaStream_t stream, const DeviceProps& props);

// D[i, j] = scale * C[(cRows == 1 ? 0 : i) * cCols + (cCols == 1 ? 0 : j)] for D [M, N] (computed
// in float, double for double; scale 1 copies exactly). Gemm's C broadcast.
Status launchBroadcastC(DataType t, const void* c, int64_t cRows, int64_t cCols, double scale,
                        void* d, int64_t m, int64_t n, cudaStream_t stream,
                        const DeviceProps& props);

// Einsum by direct loops (the CPU kernel's algorithm): every output element sums, over the summed
// labels, the product of the inputs addressed through per-label strides. Floats accumulate in
// double and round once (as the CPU); integers wrap around in uint64.
constexpr int kEinsumMaxInputs = 8;
constexpr int kEinsumMaxLabels = 16;
struct EinsumParams {
  int32_t numInputs = 0, numOut = 0, numSum = 0;
  int64_t outSizes[kEinsumMaxLabels] = {};
  int64_t sumSizes[kEinsumMaxLabels] = {};
  int64_t outStrides[kEinsumMaxInputs][kEinsumMaxLabels] =
      {};  // elements, per input per output axis
  int64_t sumStrides[kEinsumMaxInputs][kEinsumMaxLabels] = {};  // per input per summed label
  int64_t outCount = 0, sumCount = 0;
  const void* in[kEinsumMaxInputs] = {};
};
Status launchEinsum(DataType t, const EinsumParams& p, void* y, cudaStream_t stream,
                    const DeviceProps& props);

}  // namespace kiln::cuda
