// Helpers for per-op tests: run one op through shape inference and its CPU kernel.
//
//   auto x = randomTensor(DataType::kFLOAT, {2, 3}, rng);
//   auto out = runOp(OpKind::kRelu, {}, {OpInput::data(x)});
//   ASSERT_TRUE(out.isOk()) << out.status().toString();
//   expectClose(out->at(0), expected, 1e-6);
//
// Inputs are graph inputs (shapes bound concretely) unless given with OpInput::constant(...),
// which makes them constants (as ONNX initializers are); shape-like inputs (Reshape's shape,
// Slice's starts...) must usually be constants. Outputs are poisoned before the kernel runs so
// unwritten elements show (floats: NaN; integers: 0x5A bytes).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/cpu_kernel.h"
#include "ir/attributes.h"
#include "ir/op.h"
#include "ir/tensor_data.h"

namespace kiln::test {

struct OpInput {
  ir::TensorDataPtr data;  // null: absent optional input
  bool isConstant = false;
  static OpInput value(ir::TensorDataPtr d) { return {std::move(d), false}; }
  static OpInput constant(ir::TensorDataPtr d) { return {std::move(d), true}; }
  static OpInput absent() { return {nullptr, false}; }
};

struct OpResult {
  std::vector<std::shared_ptr<ir::TensorData>> outputs;
  const ir::TensorData& at(size_t i) const { return *outputs.at(i); }
};

// Runs `op` once: builds a one-node graph, infers shapes symbolically (inputs declared with
// their concrete shapes), runs the CPU kernel. Errors from inference or the kernel come back.
StatusOr<OpResult> runOp(ir::OpKind op, const ir::Attributes& attrs,
                         const std::vector<OpInput>& inputs, int numOutputs = 1);

// GPU checks: runOp also runs the op on the CUDA backend when Kiln was built with CUDA and a GPU
// is present (KILN_TEST_NO_GPU=1 turns this off) and compares with the CPU output: exact for
// integers and booleans, relative 1e-5 for float32 (1e-3 float16, 8e-3 bfloat16) with an absolute
// floor scaled by the output's largest magnitude. An op the GPU does not support is noted and
// reported at exit (KILN_GPU_STRICT=1 makes it a failure).
bool gpuTestsEnabled();
void noteGpuUnsupported(const std::string& op, const std::string& message);
void expectGpuMatchesCpu(const ir::TensorData& gpu, const ir::TensorData& cpu,
                         const std::string& op, size_t output);

// Random tensors (fixed-seed generator owned by the caller). Floats uniform in [lo, hi];
// integers uniform in [lo, hi] (rounded); bools 0/1.
std::shared_ptr<ir::TensorData> randomTensor(DataType dtype, const std::vector<int64_t>& dims,
                                             std::mt19937& rng, double lo = -1.0, double hi = 1.0);
std::shared_ptr<ir::TensorData> makeFloat(const std::vector<int64_t>& dims,
                                          const std::vector<float>& v);
std::shared_ptr<ir::TensorData> makeInt64(const std::vector<int64_t>& dims,
                                          const std::vector<int64_t>& v);
std::shared_ptr<ir::TensorData> makeInt32(const std::vector<int64_t>& dims,
                                          const std::vector<int32_t>& v);
std::shared_ptr<ir::TensorData> makeBool(const std::vector<int64_t>& dims,
                                         const std::vector<bool>& v);

// Index helpers for references written in tests (row-major, std::vector dims).
std::vector<double> toDoubles(const ir::TensorData& t);
int64_t volume(const std::vector<int64_t>& dims);
// Row-major flat offset of `idx` in `dims`.
int64_t flatIndex(const std::vector<int64_t>& dims, const std::vector<int64_t>& idx);
// Advances an odometer over `dims`; returns false after the last index.
bool nextIndex(std::vector<int64_t>& idx, const std::vector<int64_t>& dims);

// Conv in double with ONNX's geometry (x [N, C, spatial...], w [M, C/group, k...]; strides,
// dilations and pads empty = defaults; autoPad "", "NOTSET", "VALID", "SAME_UPPER" or
// "SAME_LOWER"); b (optional) per output channel. *outDims receives the output dims.
std::vector<double> referenceConv(const ir::TensorData& x, const ir::TensorData& w,
                                  const ir::TensorData* b, int64_t group,
                                  const std::vector<int64_t>& strides,
                                  const std::vector<int64_t>& dilations,
                                  const std::vector<int64_t>& pads, const std::string& autoPad,
                                  std::vector<int64_t>* outDims);

// Elementwise comparison: |got - want| <= atol + rtol * |want| for every element, dims and
// dtype equal; failures report the first bad index. NaN matches NaN.
void expectClose(const ir::TensorData& got, const ir::TensorData& want, double rtol = 1e-5,
                 double atol = 1e-6);
// Same, against doubles (for references computed in double precision in the test).
void expectCloseTo(const ir::TensorData& got, const std::vector<int64_t>& dims,
                   const std::vector<double>& want, double rtol = 1e-5, double atol = 1e-6);
// Exact comparison (integers, bools, and data movement ops on floats).
void expectEqual(const ir::TensorData& got, const ir::TensorData& want);

}  // namespace kiln::test
