// ONNX operator conformance runner: shared types.
//
// Each case of ONNX's node test suite (node/test_<name>/model.onnx with
// test_data_set_N/{input,output}_K.pb) is run through the public pipeline (OnnxParser ->
// Builder for the CPU -> Runtime -> ExecutionContext) in its own child process, and every output
// is compared with the expected one. See tests/conformance/README.md.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "kiln/types.h"

namespace kiln::conformance {

// Order matters: it is the column order of the reports.
enum class CaseStatus { kPass, kFail, kUnsupported, kError, kCrash, kTimeout };
constexpr int kNumStatuses = 6;

const char* statusName(CaseStatus s);  // "pass", "fail", ...
bool parseStatusName(const std::string& s, CaseStatus* out);

struct CaseResult {
  std::string name;  // "test_abs"
  CaseStatus status = CaseStatus::kError;
  std::string message;           // why it did not pass (empty for passes)
  std::vector<std::string> ops;  // op types of the model's nodes, in node order (domain-qualified
                                 // for non-default domains: "ai.onnx.ml.LabelEncoder")
  long long opset = 0;           // opset of the default domain
  double maxAbsErr = 0.0;        // over all float outputs of all data sets (0 if none)
  double maxRelErr = 0.0;
  std::vector<std::string> constantInputs;  // inputs made initializers for a retry (see runCase)
  double seconds = 0.0;                     // wall time of the child process
  std::string op;                           // the op the case tests (filled by assignPrimaryOps)
};

// Comparison tolerances: |got - expected| <= atol + rtol * |expected|, NaN matches NaN, infinities
// must match exactly. float32/float64 follow the suite's convention (rtol 1e-3, atol 1e-5);
// float16 is looser (atol 1e-3), bfloat16 looser still (8-bit significand: rtol = atol = 1e-2).
struct Tolerance {
  double rtol;
  double atol;
};

// Runs one case in this process: parses, builds, runs every data set and compares. A case the
// parser refuses because an input must be a constant (Kiln needs Resize scales, Reduce axes, ...
// at build time; the suite feeds them at run time) is unsupported, and is retried with those
// inputs as initializers so the kernels are still checked: a wrong result there is a "fail".
// Never throws; a crash is the caller's concern (the parent runs this in a child process).
CaseResult runCase(const std::string& caseDir);
// Backend the cases are built for and run on (default the CPU). On the GPU, inputs and outputs
// are copied through device buffers.
void setCaseDevice(kiln::DeviceType device);

// Child <-> parent protocol: one "key value" line per field, messages escaped onto one line.
std::string serializeResult(const CaseResult& r);
bool parseResult(const std::string& text, CaseResult* r);

// Sets CaseResult::op for every result: the op each case is about (the single node's op, or for
// "_expanded" function-body cases the op of the matching non-expanded case, or the model op whose
// name best matches the case name).
void assignPrimaryOps(std::vector<CaseResult>& results);

// Reports.
std::string jsonReport(const std::vector<CaseResult>& results);
std::string markdownReport(const std::vector<CaseResult>& results, const std::string& filter);
// "pass 812, fail 10, ..." for the console.
std::string summaryLine(const std::vector<CaseResult>& results);
int countStatus(const std::vector<CaseResult>& results, CaseStatus s);

}  // namespace kiln::conformance
