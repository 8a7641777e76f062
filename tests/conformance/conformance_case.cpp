// Runs one conformance case in-process: parse, build for the CPU, run every data set, compare.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "conformance.h"

#ifdef KILN_HAVE_CUDA
#include <cuda_runtime.h>
#endif
#include "common/small_float.h"
#include "kiln/kiln.h"
#include "onnx/onnx.pb.h"
#include "onnx/onnx_types.h"

namespace kiln::conformance {

namespace fs = std::filesystem;

namespace {

// Collects Kiln's log messages instead of printing them (the result carries the errors).
class QuietLogger : public Logger {
 public:
  void log(Severity severity, const char* msg) noexcept override {
    if (severity <= Severity::kERROR) mErrors.emplace_back(msg);
  }
  std::string lastError() const { return mErrors.empty() ? "" : mErrors.back(); }

 private:
  std::vector<std::string> mErrors;
};

// Messages of valid input Kiln cannot handle (builder and runtime report kUnsupported only in
// their text: "no kernel", "not supported", "Kiln supports opsets 9 to 28", ...).
bool looksUnsupported(const std::string& msg) {
  std::string m = msg;
  std::transform(m.begin(), m.end(), m.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* key :
       {"unsupported", "not supported", "does not support", "no kernel", "no cpu kernel",
        "kiln supports", "not implemented", "cannot run on the gpu"})
    if (m.find(key) != std::string::npos) return true;
  return false;
}

struct CaseError {
  CaseStatus status;
  std::string message;
};

StatusOr<std::string> readFile(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return ioError("cannot open '%s'", p.string().c_str());
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Reads a serialized TensorProto with the ONNX parser's own conversion (onnx_types.h).
StatusOr<ir::TensorDataPtr> readTensor(const fs::path& p, const std::string& what) {
  KILN_ASSIGN_OR_RETURN(std::string bytes, readFile(p));
  onnx::TensorProto t;
  if (!t.ParseFromString(bytes))
    return dataLoss("%s: '%s' is not a TensorProto", what.c_str(), p.filename().string().c_str());
  return onnx_import::tensorFromProto(t, p.parent_path().string(), what);
}

std::string shapeString(const std::vector<int64_t>& dims) { return ir::dimsToString(dims); }

std::vector<int64_t> dimsVector(const Dims& d) {
  return std::vector<int64_t>(d.d, d.d + std::max(d.nbDims, 0));
}

bool isFloatType(DataType t) {
  return t == DataType::kFLOAT || t == DataType::kHALF || t == DataType::kBF16 ||
         t == DataType::kDOUBLE;
}

Tolerance toleranceFor(DataType t) {
  switch (t) {
    case DataType::kHALF: return {1e-3, 1e-3};
    case DataType::kBF16: return {1e-2, 1e-2};
    default: return {1e-3, 1e-5};
  }
}

std::string formatValue(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// Compares one output; returns an empty string when it matches. Updates the error maxima.
std::string compareOutput(const std::string& name, const ir::TensorData& got,
                          const ir::TensorData& want, CaseResult& r) {
  const std::string desc =
      "output '" + name + "' (" + dataTypeName(want.dtype()) + " " + shapeString(want.dims()) + ")";
  if (got.dtype() != want.dtype())
    return desc + ": dtype mismatch, got " + dataTypeName(got.dtype());
  if (got.dims() != want.dims()) return desc + ": shape mismatch, got " + shapeString(got.dims());
  const int64_t n = want.numel();
  int64_t bad = 0, firstBad = -1;
  double worstExcess = -1.0;
  int64_t worst = -1;
  if (isSmallFloatType(want.dtype())) {
    // float8/float4/e8m0: bit-exact codes, except that any NaN matches any NaN. (Sub-byte
    // integers are unpacked by tensorFromProto and compared exactly below.)
    const auto* pg = static_cast<const uint8_t*>(got.data());
    const auto* pe = static_cast<const uint8_t*>(want.data());
    for (int64_t i = 0; i < n; ++i) {
      const float g = smallFloatToFloat(want.dtype(), pg[i]);
      const float e = smallFloatToFloat(want.dtype(), pe[i]);
      if (pg[i] == pe[i] || (std::isnan(g) && std::isnan(e))) continue;
      ++bad;
      if (firstBad < 0) firstBad = i;
      if (!std::isnan(g) && !std::isnan(e)) {
        r.maxAbsErr = std::max(r.maxAbsErr, std::fabs(static_cast<double>(g) - e));
      }
    }
    if (bad == 0) return "";
    char codes[64];
    std::snprintf(codes, sizeof codes, " (code 0x%02x, expected 0x%02x)", pg[firstBad],
                  pe[firstBad]);
    return desc + ": " + std::to_string(bad) + " of " + std::to_string(n) +
           " elements differ; first at flat index " + std::to_string(firstBad) + ": got " +
           formatValue(smallFloatToFloat(want.dtype(), pg[firstBad])) + ", expected " +
           formatValue(smallFloatToFloat(want.dtype(), pe[firstBad])) + codes;
  }
  if (isFloatType(want.dtype())) {
    const Tolerance tol = toleranceFor(want.dtype());
    for (int64_t i = 0; i < n; ++i) {
      double g = got.doubleAt(i), e = want.doubleAt(i);
      bool ok;
      if (std::isnan(e) || std::isnan(g)) {
        ok = std::isnan(e) && std::isnan(g);
      } else if (std::isinf(e) || std::isinf(g)) {
        ok = g == e;
      } else {
        double abs = std::fabs(g - e);
        r.maxAbsErr = std::max(r.maxAbsErr, abs);
        if (e != 0.0) r.maxRelErr = std::max(r.maxRelErr, abs / std::fabs(e));
        double limit = tol.atol + tol.rtol * std::fabs(e);
        ok = abs <= limit;
        if (!ok && abs - limit > worstExcess) {
          worstExcess = abs - limit;
          worst = i;
        }
      }
      if (!ok) {
        ++bad;
        if (firstBad < 0) firstBad = i;
      }
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      if (got.intAt(i) != want.intAt(i)) {
        ++bad;
        if (firstBad < 0) firstBad = i;
        double abs =
            std::fabs(static_cast<double>(got.intAt(i)) - static_cast<double>(want.intAt(i)));
        r.maxAbsErr = std::max(r.maxAbsErr, abs);
      }
    }
  }
  if (bad == 0) return "";
  const int64_t at = worst >= 0 ? worst : firstBad;
  std::string msg =
      desc + ": " + std::to_string(bad) + " of " + std::to_string(n) + " elements differ; ";
  if (isFloatType(want.dtype())) {
    msg += (worst >= 0 ? "worst at flat index " : "first at flat index ") + std::to_string(at) +
           ": got " + formatValue(got.doubleAt(at)) + ", expected " +
           formatValue(want.doubleAt(at));
  } else {
    msg += "first at flat index " + std::to_string(at) + ": got " + std::to_string(got.intAt(at)) +
           ", expected " + std::to_string(want.intAt(at));
  }
  return msg;
}

std::vector<fs::path> dataSets(const fs::path& caseDir) {
  std::vector<fs::path> sets;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(caseDir, ec))
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0)
      sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  return sets;
}

// input_K.pb / output_K.pb files of a data set, in K order.
std::vector<fs::path> numbered(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> files;
  for (int k = 0;; ++k) {
    fs::path p = dir / (prefix + std::to_string(k) + ".pb");
    if (!fs::exists(p)) break;
    files.push_back(p);
  }
  return files;
}

struct DataSet {
  std::vector<ir::TensorDataPtr> inputs, outputs;
};

// Shorthand for a case that did not pass.
CaseError fail(CaseStatus s, std::string m) { return CaseError{s, std::move(m)}; }

// A case read from disk: the model, its graph input/output names and the test data.
struct LoadedCase {
  fs::path dir;
  onnx::ModelProto model;
  std::vector<std::string> inputNames, outputNames;  // graph inputs without initializers
  std::vector<DataSet> sets;
};

std::optional<CaseError> loadCase(const fs::path& dir, LoadedCase& c, CaseResult& r) {
  c.dir = dir;

  // Model metadata (op types, opset, I/O names) straight from the protobuf.
  auto modelBytes = readFile(dir / "model.onnx");
  if (!modelBytes.isOk()) return fail(CaseStatus::kError, modelBytes.status().message());
  onnx::ModelProto& model = c.model;
  if (!model.ParseFromString(*modelBytes))
    return fail(CaseStatus::kError, "model.onnx is not a ModelProto");
  for (const auto& o : model.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") r.opset = o.version();
  for (const auto& n : model.graph().node())
    r.ops.push_back(n.domain().empty() || n.domain() == "ai.onnx" ? n.op_type()
                                                                  : n.domain() + "." + n.op_type());
  std::vector<std::string>& inputNames = c.inputNames;
  std::vector<std::string>& outputNames = c.outputNames;
  {
    std::vector<std::string> inits;
    for (const auto& t : model.graph().initializer()) inits.push_back(t.name());
    for (const auto& i : model.graph().input())
      if (std::find(inits.begin(), inits.end(), i.name()) == inits.end())
        inputNames.push_back(i.name());
    for (const auto& o : model.graph().output()) outputNames.push_back(o.name());
  }

  // Test data first: a dtype Kiln cannot hold (string, float8, ...) makes the case unsupported.
  std::vector<DataSet>& sets = c.sets;
  for (const fs::path& ds : dataSets(dir)) {
    DataSet set;
    auto inFiles = numbered(ds, "input_"), outFiles = numbered(ds, "output_");
    if (inFiles.size() > inputNames.size())
      return fail(CaseStatus::kError, ds.filename().string() + " has " +
                                          std::to_string(inFiles.size()) + " inputs, the model " +
                                          std::to_string(inputNames.size()));
    if (outFiles.size() != outputNames.size())
      return fail(CaseStatus::kError, ds.filename().string() + " has " +
                                          std::to_string(outFiles.size()) + " outputs, the model " +
                                          std::to_string(outputNames.size()));
    for (size_t k = 0; k < inFiles.size(); ++k) {
      auto t = readTensor(inFiles[k], "input '" + inputNames[k] + "'");
      if (!t.isOk())
        return fail(t.status().code() == StatusCode::kUnsupported ? CaseStatus::kUnsupported
                                                                  : CaseStatus::kError,
                    "test data: " + t.status().message());
      set.inputs.push_back(*t);
    }
    for (size_t k = 0; k < outFiles.size(); ++k) {
      auto t = readTensor(outFiles[k], "output '" + outputNames[k] + "'");
      if (!t.isOk())
        return fail(t.status().code() == StatusCode::kUnsupported ? CaseStatus::kUnsupported
                                                                  : CaseStatus::kError,
                    "test data: " + t.status().message());
      set.outputs.push_back(*t);
    }
    sets.push_back(std::move(set));
  }
  if (sets.empty()) return fail(CaseStatus::kError, "no test_data_set_* folder");
  return std::nullopt;
}

// Parses, builds and runs `c` with the graph inputs named in `constants` turned into
// initializers. Their values come from data set 0 (every case of the suite has one data set).
// Sets `parseFailed` when the parser refused the model. Returns why the case did not pass, or
// nullopt when it passed.
namespace {
DeviceType gCaseDevice = DeviceType::kCPU;

// Device buffers of one data set on the GPU, freed on every exit path.
// An OutputAllocator that keeps each output in host memory (poisoned, so unwritten elements
// show) and records the shape the context reports.
struct CaseAllocator : OutputAllocator {
  explicit CaseAllocator(DataType t) : dtype(t) {}
  void* reallocateOutput(const char*, void*, uint64_t size, uint64_t) noexcept override {
    buffer.assign(static_cast<size_t>(size) + 1, 0xA5);
    return buffer.data();
  }
  void notifyShape(const char*, const Dims& dims) noexcept override {
    shape.assign(dims.d, dims.d + dims.nbDims);
    shaped = true;
  }
  // The output after execution (null when the context never placed it).
  std::shared_ptr<ir::TensorData> result() const {
    if (!shaped || buffer.empty()) return nullptr;
    return ir::TensorData::fromBytes(dtype, shape, buffer.data());
  }
  DataType dtype;
  std::vector<uint8_t> buffer;
  std::vector<int64_t> shape;
  bool shaped = false;
};

struct DeviceIO {
  std::vector<void*> ptrs;
  DeviceIO() = default;
  DeviceIO(const DeviceIO&) = delete;
  DeviceIO& operator=(const DeviceIO&) = delete;
  ~DeviceIO() {
#ifdef KILN_HAVE_CUDA
    for (void* p : ptrs) cudaFree(p);
#endif
  }
  // A device copy of `bytes` host bytes (poisoned with 0xA5 when `src` is null); null on failure.
  void* upload(const void* src, size_t bytes) {
#ifdef KILN_HAVE_CUDA
    void* p = nullptr;
    if (cudaMalloc(&p, std::max<size_t>(bytes, 64)) != cudaSuccess) return nullptr;
    ptrs.push_back(p);
    cudaError_t err = src ? cudaMemcpy(p, src, bytes, cudaMemcpyHostToDevice)
                          : cudaMemset(p, 0xA5, std::max<size_t>(bytes, 1));
    // cudaMemset is asynchronous: finish the poison before the run so it cannot land afterwards.
    if (err == cudaSuccess) err = cudaDeviceSynchronize();
    return err == cudaSuccess ? p : nullptr;
#else
    (void)src;
    (void)bytes;
    return nullptr;
#endif
  }
  bool download(void* dst, const void* src, size_t bytes) {
#ifdef KILN_HAVE_CUDA
    return bytes == 0 || cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost) == cudaSuccess;
#else
    (void)dst;
    (void)src;
    (void)bytes;
    return false;
#endif
  }
};
}  // namespace

std::optional<CaseError> attempt(const LoadedCase& c, const std::set<std::string>& constants,
                                 CaseResult& r, bool& parseFailed) {
  const fs::path& dir = c.dir;
  const std::vector<std::string>& inputNames = c.inputNames;
  const std::vector<std::string>& outputNames = c.outputNames;
  const std::vector<DataSet>& sets = c.sets;
  parseFailed = false;
  onnx::ModelProto model = c.model;
  if (!constants.empty()) {
    auto* inputs = model.mutable_graph()->mutable_input();
    for (int i = inputs->size() - 1; i >= 0; --i) {
      const std::string& name = inputs->Get(i).name();
      if (!constants.count(name)) continue;
      size_t k = std::find(inputNames.begin(), inputNames.end(), name) - inputNames.begin();
      auto bytes = readFile(dir / "test_data_set_0" / ("input_" + std::to_string(k) + ".pb"));
      onnx::TensorProto* t = model.mutable_graph()->add_initializer();
      if (!bytes.isOk() || !t->ParseFromString(*bytes))
        return fail(CaseStatus::kError, "cannot read the data of input '" + name + "'");
      t->set_name(name);
      inputs->DeleteSubrange(i, 1);
    }
  }
  std::string modelBytes = model.SerializeAsString();

  // Parse.
  QuietLogger logger;
  auto builder = Builder::create(logger);
  auto network = builder->createNetwork();
  auto parser = OnnxParser::create(*network, logger);
  if (!parser->parse(modelBytes.data(), modelBytes.size(), dir.string().c_str())) {
    parseFailed = true;
    bool unsupported = false;
    std::string msg;
    for (int i = 0; i < parser->getNbErrors(); ++i) {
      const ParserError& e = parser->getError(i);
      if (e.code == ParserError::Code::kUNSUPPORTED_NODE || looksUnsupported(e.message))
        unsupported = true;
      msg += (i ? "; " : "") + e.toString();
    }
    if (msg.empty()) msg = network->getLastError();
    return fail(unsupported ? CaseStatus::kUnsupported : CaseStatus::kError, "parser: " + msg);
  }

  // Build for the CPU. Dynamic input dims get a profile spanning the test data's shapes.
  auto config = builder->createConfig();
  config->setDeviceType(gCaseDevice);
  const bool onGpu = gCaseDevice == DeviceType::kGPU;
  OptimizationProfile* profile = builder->createOptimizationProfile();
  bool dynamic = false;
  for (int i = 0; i < network->getNbInputs(); ++i) {
    Tensor* in = network->getInput(i);
    Dims declared = in->getDimensions();
    bool inputDynamic = false;
    for (int d = 0; d < declared.nbDims; ++d) inputDynamic |= declared.d[d] < 0;
    if (!inputDynamic) continue;
    auto k = std::find(inputNames.begin(), inputNames.end(), in->getName()) - inputNames.begin();
    if (k >= static_cast<long>(sets[0].inputs.size()))
      return fail(CaseStatus::kError,
                  std::string("dynamic input '") + in->getName() + "' has no test data");
    Dims mn, opt, mx;
    for (size_t s = 0; s < sets.size(); ++s) {
      const auto& dims = sets[s].inputs[k]->dims();
      if (static_cast<int>(dims.size()) != declared.nbDims)
        return fail(CaseStatus::kError, std::string("input '") + in->getName() +
                                            "': test data has rank " + std::to_string(dims.size()) +
                                            ", the model " + std::to_string(declared.nbDims));
      Dims d;
      d.nbDims = declared.nbDims;
      for (int j = 0; j < d.nbDims; ++j) d.d[j] = dims[j];
      if (s == 0) {
        mn = opt = mx = d;
      } else {
        for (int j = 0; j < d.nbDims; ++j) {
          mn.d[j] = std::min(mn.d[j], d.d[j]);
          mx.d[j] = std::max(mx.d[j], d.d[j]);
        }
      }
    }
    profile->setShape(in->getName(), mn, opt, mx);
    dynamic = true;
  }
  if (dynamic && config->addOptimizationProfile(profile) < 0)
    return fail(CaseStatus::kError, "the optimization profile built from the test data is invalid");
  auto plan = builder->buildSerializedNetwork(*network, *config);
  if (!plan) {
    std::string msg = builder->getLastError();
    return fail(looksUnsupported(msg) ? CaseStatus::kUnsupported : CaseStatus::kError,
                "builder: " + msg);
  }

  // Load and run every data set.
  auto runtime = Runtime::create(logger);
  auto engine = runtime->deserializeEngine(plan->data(), plan->size());
  if (!engine) {
    std::string msg = runtime->getLastError();
    return fail(looksUnsupported(msg) ? CaseStatus::kUnsupported : CaseStatus::kError,
                "runtime: " + msg);
  }
  for (size_t s = 0; s < sets.size(); ++s) {
    const std::string where = sets.size() > 1 ? "data set " + std::to_string(s) + ": " : "";
    auto ctx = engine->createExecutionContext();
    DeviceIO dio;
    std::vector<void*> outDevice;
    if (!ctx)
      return fail(CaseStatus::kError,
                  "could not create an execution context: " + logger.lastError());
    static uint8_t empty[64];
    for (size_t k = 0; k < sets[s].inputs.size(); ++k) {
      const char* name = inputNames[k].c_str();
      // Unused inputs (and those turned into constants) are not engine inputs.
      if (engine->getTensorIOMode(name) != TensorIOMode::kINPUT) continue;
      const ir::TensorData& t = *sets[s].inputs[k];
      if (engine->getTensorDataType(name) != t.dtype())
        return fail(CaseStatus::kError, where + "input '" + inputNames[k] +
                                            "': the engine expects " +
                                            dataTypeName(engine->getTensorDataType(name)) +
                                            ", the test data is " + dataTypeName(t.dtype()));
      if (t.dims().size() > static_cast<size_t>(Dims::kMaxDims))
        return fail(CaseStatus::kUnsupported,
                    "input '" + inputNames[k] + "' has rank " + std::to_string(t.dims().size()));
      Dims d;
      d.nbDims = static_cast<int32_t>(t.dims().size());
      for (int j = 0; j < d.nbDims; ++j) d.d[j] = t.dims()[j];
      if (!ctx->setInputShape(name, d))
        return fail(CaseStatus::kError,
                    where + "setInputShape('" + inputNames[k] + "'): " + ctx->getLastError());
      // The context only reads inputs; the const_cast is for the void* binding API.
      void* data = t.numel() ? const_cast<void*>(t.data()) : empty;
      // Shape tensor inputs stay in host memory, also on the GPU (TensorRT's rule).
      if (onGpu && !engine->isShapeInferenceIO(name) && !(data = dio.upload(t.data(), t.bytes())))
        return fail(CaseStatus::kError,
                    where + "could not copy input '" + inputNames[k] + "' to the GPU");
      if (!ctx->setTensorAddress(name, data))
        return fail(CaseStatus::kError,
                    where + "setTensorAddress('" + inputNames[k] + "'): " + ctx->getLastError());
    }
    std::vector<std::shared_ptr<ir::TensorData>> gots;
    // Outputs whose shape depends on the data (-1 dims) go through an output allocator.
    std::vector<std::unique_ptr<CaseAllocator>> allocators(outputNames.size());
    for (size_t k = 0; k < outputNames.size(); ++k) {
      const char* name = outputNames[k].c_str();
      if (engine->getTensorIOMode(name) != TensorIOMode::kOUTPUT)
        return fail(CaseStatus::kError, "the engine has no output '" + outputNames[k] + "'");
      Dims d = ctx->getTensorShape(name);
      if (d.nbDims < 0)
        return fail(CaseStatus::kError,
                    where + "output '" + outputNames[k] + "' has no resolved shape");
      bool dataDependent = false;
      for (int j = 0; j < d.nbDims; ++j) dataDependent = dataDependent || d.d[j] < 0;
      if (dataDependent && !onGpu) {
        allocators[k] = std::make_unique<CaseAllocator>(engine->getTensorDataType(name));
        if (!ctx->setOutputAllocator(name, allocators[k].get()))
          return fail(CaseStatus::kError, where + "setOutputAllocator('" + outputNames[k] +
                                              "'): " + ctx->getLastError());
        gots.push_back(nullptr);
        outDevice.push_back(nullptr);
        continue;
      }
      if (dataDependent)
        return fail(CaseStatus::kError, where + "output '" + outputNames[k] +
                                            "' has unresolved shape " + d.toString() +
                                            (ctx->getLastError().empty() ? "" : ": " + ctx->getLastError()));
      auto buf = std::make_shared<ir::TensorData>(engine->getTensorDataType(name), dimsVector(d));
      // Poison: an output the kernels never write must not pass by luck.
      if (buf->bytes()) std::memset(buf->data(), 0xA5, buf->bytes());
      void* outAddr = buf->numel() ? buf->data() : empty;
      if (onGpu && !(outAddr = dio.upload(nullptr, buf->bytes())))
        return fail(CaseStatus::kError,
                    where + "could not allocate output '" + outputNames[k] + "' on the GPU");
      outDevice.push_back(outAddr);
      if (!ctx->setTensorAddress(name, outAddr))
        return fail(CaseStatus::kError,
                    where + "setTensorAddress('" + outputNames[k] + "'): " + ctx->getLastError());
      gots.push_back(std::move(buf));
    }
    if (!ctx->executeV2()) {
      std::string msg = ctx->getLastError();
      return fail(looksUnsupported(msg) ? CaseStatus::kUnsupported : CaseStatus::kError,
                  where + "execute: " + msg);
    }
    for (size_t k = 0; k < gots.size(); ++k) {
      if (!allocators[k]) continue;
      gots[k] = allocators[k]->result();
      if (!gots[k])
        return fail(CaseStatus::kError,
                    where + "output '" + outputNames[k] + "' was never allocated or shaped");
    }
    if (onGpu)
      for (size_t k = 0; k < gots.size(); ++k)
        if (!dio.download(gots[k]->data(), outDevice[k], gots[k]->bytes()))
          return fail(CaseStatus::kError,
                      where + "could not copy output '" + outputNames[k] + "' from the GPU");
    std::string mismatches;
    for (size_t k = 0; k < outputNames.size(); ++k) {
      std::string m = compareOutput(outputNames[k], *gots[k], *sets[s].outputs[k], r);
      if (!m.empty()) mismatches += (mismatches.empty() ? where : "; ") + m;
    }
    if (!mismatches.empty()) return fail(CaseStatus::kFail, mismatches);
  }
  return std::nullopt;
}

// Graph inputs named in "(input 'x') must be a constant" parser errors.
std::set<std::string> inputsNeededConstant(const std::string& msg, const LoadedCase& c) {
  // Both parser phrasings: "(input 'x') must be a constant" and "input 'x' of node 'n' (Op) must
  // be a constant".
  static const std::regex re(
      "input '([^']+)'(\\)| of node '[^']*' \\([^)]*\\)) must be a constant");
  std::set<std::string> names;
  for (auto it = std::sregex_iterator(msg.begin(), msg.end(), re); it != std::sregex_iterator();
       ++it) {
    std::string name = (*it)[1];
    if (std::find(c.inputNames.begin(), c.inputNames.end(), name) != c.inputNames.end())
      names.insert(name);
  }
  return names;
}

// Runs the case as given. Kiln needs some inputs (Resize scales, Reduce axes, Slice starts, ...)
// to be constants while the suite feeds them at run time; such a case is unsupported as given,
// and is retried with those inputs turned into initializers so the kernels still get checked:
// wrong numbers or an error there are reported ("fail"/"error"), a pass keeps it "unsupported"
// with a note.
std::optional<CaseError> runCaseImpl(const fs::path& dir, CaseResult& r) {
  LoadedCase c;
  if (auto e = loadCase(dir, c, r)) return e;
  bool parseFailed = false;
  std::set<std::string> constants;
  std::optional<CaseError> first = attempt(c, constants, r, parseFailed);
  if (!first || !parseFailed || first->message.find("must be a constant") == std::string::npos)
    return first;
  first->status = CaseStatus::kUnsupported;
  std::optional<CaseError> e = first;
  // Each retry makes more inputs constant: those named, else (the value that must be constant
  // is computed inside the graph) every input.
  // (The parser names one such input per node, so a node may need several rounds.)
  for (int round = 0;
       round < 8 && e && parseFailed && e->message.find("must be a constant") != std::string::npos;
       ++round) {
    std::set<std::string> more = inputsNeededConstant(e->message, c);
    size_t before = constants.size();
    constants.insert(more.begin(), more.end());
    if (constants.size() == before) constants.insert(c.inputNames.begin(), c.inputNames.end());
    if (constants.size() == before) break;
    std::fprintf(stderr, "retrying with constant inputs\n");  // context for a crash report
    r.maxAbsErr = r.maxRelErr = 0.0;
    e = attempt(c, constants, r, parseFailed);
  }
  r.constantInputs.assign(constants.begin(), constants.end());
  std::string names;
  for (const std::string& n : constants) names += (names.empty() ? "'" : ", '") + n + "'";
  if (!e)
    return CaseError{CaseStatus::kUnsupported,
                     first->message + " [passes with inputs " + names + " as constants]"};
  const bool stillNeedsConstants = e->message.find("must be a constant") != std::string::npos;
  if (e->status == CaseStatus::kFail || (e->status == CaseStatus::kError && !stillNeedsConstants))
    return CaseError{e->status, "with inputs " + names + " as constants: " + e->message};
  return CaseError{first->status, first->message + " [with inputs " + names + " as constants: " +
                                      statusName(e->status) + ": " + e->message + "]"};
}

}  // namespace

void setCaseDevice(DeviceType device) { gCaseDevice = device; }

CaseResult runCase(const std::string& caseDir) {
  CaseResult r;
  fs::path dir(caseDir);
  r.name = dir.filename().string();
  // Kiln reports errors as values; an exception escaping it (std::bad_alloc, ...) is recorded too.
  try {
    std::optional<CaseError> e = runCaseImpl(dir, r);
    r.status = e ? e->status : CaseStatus::kPass;
    if (e) r.message = e->message;
  } catch (const std::exception& e) {
    r.status = CaseStatus::kError;
    r.message = std::string("exception: ") + e.what();
  }
  // Reports must not depend on where the cases were unpacked.
  std::string prefix = dir.string();
  for (size_t p; !prefix.empty() && (p = r.message.find(prefix)) != std::string::npos;)
    r.message.replace(p, prefix.size(), "<case>");
  return r;
}

}  // namespace kiln::conformance
