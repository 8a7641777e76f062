// The `kiln._kiln` extension: types, Logger, Builder, BuilderConfig, OptimizationProfile,
// OnnxParser, Runtime, Engine and ExecutionContext over the public C++ API. The network classes
// are in bind_network.cpp; array handling (numpy, DLPack, infer()) is in kiln/_arrays.py.
//
// Lifetimes: every object keeps alive what its C++ counterpart refers to (a builder its logger,
// a network its builder, a parser its network and logger, an engine its runtime, a context its
// engine) through py::keep_alive, so Python's garbage collection can never leave a dangling
// reference behind.
//
// Errors: a failed call raises kiln.Error (a RuntimeError) with the C++ message
// (getLastError() or the parser's errors); nothing aborts the interpreter. Long calls (build,
// parse, deserialize, execute) release the GIL; the logger re-acquires it to call Python.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "common.h"

namespace kiln_py {
namespace {

PyObject* gParseError = nullptr;  // kiln.OnnxParseError (a kiln.Error subclass), never freed

// A logger whose messages go to a Python callable, to an overriding `log` method of a Python
// subclass, or (neither given) to stderr in Kiln's usual format. Messages less severe than
// `min_severity` are dropped before Python is involved.
class PyLogger : public kiln::Logger {
 public:
  PyLogger(kiln::Severity minSeverity, py::object callback)
      : mMin(minSeverity), mCallback(std::move(callback)) {}
  ~PyLogger() override {
    // The callback may be released without the GIL held (a logger freed late); do it safely.
    if (mCallback && Py_IsInitialized()) {
      py::gil_scoped_acquire gil;
      mCallback = py::object();
    } else {
      mCallback.release();
    }
  }

  void log(kiln::Severity severity, const char* msg) noexcept override {
    if (static_cast<int>(severity) > static_cast<int>(mMin)) return;
    if (!Py_IsInitialized()) return;
    py::gil_scoped_acquire gil;
    try {
      py::function override = py::get_override(static_cast<const PyLogger*>(this), "log");
      if (override) {
        override(severity, msg);
      } else if (mCallback && !mCallback.is_none()) {
        mCallback(severity, msg);
      } else {
        mStderr.log(severity, msg);
      }
    } catch (py::error_already_set& e) {
      // A Python exception cannot cross the C++ library; report it the way Python reports
      // exceptions in callbacks it cannot propagate (sys.unraisablehook).
      e.discard_as_unraisable("kiln.Logger callback");
    } catch (...) {
    }
  }

  kiln::Severity minSeverity() const { return mMin; }
  void setMinSeverity(kiln::Severity s) { mMin = s; }
  py::object callback() const { return mCallback ? mCallback : py::none(); }
  void setCallback(py::object cb) { mCallback = std::move(cb); }

 private:
  kiln::Severity mMin;
  py::object mCallback;
  kiln::StderrLogger mStderr{kiln::Severity::kVERBOSE};
};

kiln::Logger& loggerOrDefault(PyLogger* logger) {
  return logger ? static_cast<kiln::Logger&>(*logger) : kiln::defaultLogger();
}

// A read-only, contiguous view of any bytes-like object (bytes, bytearray, memoryview,
// HostMemory, a uint8 numpy array). Holding it pins the memory while the GIL is released.
class BufferView {
 public:
  BufferView(const py::object& obj, const char* what) {
    if (PyObject_GetBuffer(obj.ptr(), &mView, PyBUF_SIMPLE) != 0) {
      PyErr_Clear();
      throw py::type_error(std::string(what) +
                           ": expected a bytes-like object (bytes, bytearray, memoryview, "
                           "HostMemory), got " +
                           py::str(py::type::of(obj).attr("__name__")).cast<std::string>());
    }
  }
  ~BufferView() { PyBuffer_Release(&mView); }
  BufferView(const BufferView&) = delete;
  BufferView& operator=(const BufferView&) = delete;
  const void* data() const { return mView.buf; }
  size_t size() const { return static_cast<size_t>(mView.len); }

 private:
  Py_buffer mView{};
};

std::string fspath(const py::object& path) {
  return py::str(py::module_::import("os").attr("fspath")(path)).cast<std::string>();
}

std::vector<kiln::ParserError> parserErrors(const kiln::OnnxParser& p) {
  std::vector<kiln::ParserError> out;
  for (int i = 0; i < p.getNbErrors(); ++i) out.push_back(p.getError(i));
  return out;
}

// Raises kiln.OnnxParseError whose message lists every error and whose `.errors` holds them.
[[noreturn]] void raiseParseError(const kiln::OnnxParser& p, const std::string& what) {
  std::vector<kiln::ParserError> errors = parserErrors(p);
  std::string msg = what + " failed with " + std::to_string(errors.size()) + " error(s)";
  for (const kiln::ParserError& e : errors) msg += "\n  " + e.toString();
  py::object exc = py::reinterpret_borrow<py::object>(gParseError)(msg);
  exc.attr("errors") = py::cast(errors);
  PyErr_SetObject(gParseError, exc.ptr());
  throw py::error_already_set();
}

void requireKnownTensor(const kiln::Engine& e, const std::string& name) {
  if (e.getTensorIOMode(name.c_str()) == kiln::TensorIOMode::kNONE) {
    std::string names;
    for (int i = 0; i < e.getNbIOTensors(); ++i)
      names += std::string(i ? ", " : "") + "'" + e.getIOTensorName(i) + "'";
    throw KilnError("unknown tensor name '" + name + "' (the engine's I/O tensors are " + names +
                    ")");
  }
}

std::unique_ptr<kiln::HostMemory> checkedPlan(std::unique_ptr<kiln::HostMemory> plan,
                                              const char* what, const std::string& err) {
  if (!plan) raiseError(what, err.empty() ? "see the logger for details" : err);
  return plan;
}

}  // namespace
}  // namespace kiln_py

// Python subclasses of kiln.Profiler: the run calls back with the GIL released, so take it.
class PyProfiler : public kiln::Profiler {
 public:
  void reportLayerTime(const char* layerName, float ms) noexcept override {
    py::gil_scoped_acquire gil;
    try {
      py::function f =
          py::get_override(static_cast<const kiln::Profiler*>(this), "report_layer_time");
      if (f) f(layerName, ms);
    } catch (py::error_already_set& e) {
      e.discard_as_unraisable("kiln.Profiler.report_layer_time");
    }
  }
};

// Host memory for one data-dependent output (kiln.HostOutputAllocator).
struct HostOutputAllocator : kiln::OutputAllocator {
  void* reallocateOutput(const char*, void*, uint64_t size, uint64_t) noexcept override {
    try {
      bytes.assign(static_cast<size_t>(size) + 1, 0);
    } catch (...) {
      return nullptr;
    }
    used = static_cast<size_t>(size);
    return bytes.data();
  }
  void notifyShape(const char*, const kiln::Dims& d) noexcept override {
    shape.assign(d.d, d.d + d.nbDims);
  }
  std::vector<uint8_t> bytes;
  size_t used = 0;
  std::vector<int64_t> shape;
};

PYBIND11_MODULE(_kiln, m) {
  using namespace kiln_py;
  using kiln::Dims;
  constexpr auto kInternal = py::return_value_policy::reference_internal;

  m.doc() = "Kiln: inference optimizer and runtime (TensorRT-style Python API).";
  m.def("version_string", &kiln::versionString, "The library version, e.g. '0.1.0'.");
  m.attr("__version__") = kiln::versionString();

  auto& error = py::register_exception<KilnError>(m, "Error", PyExc_RuntimeError);
  gParseError = PyErr_NewExceptionWithDoc("kiln.OnnxParseError",
                                          "ONNX import failed; `.errors` lists every ParserError.",
                                          error.ptr(), nullptr);
  m.attr("OnnxParseError") = py::reinterpret_borrow<py::object>(gParseError);

  // --- Enums -------------------------------------------------------------------------------
  py::enum_<kiln::DataType>(m, "DataType")
      .value("FLOAT", kiln::DataType::kFLOAT)
      .value("HALF", kiln::DataType::kHALF)
      .value("INT8", kiln::DataType::kINT8)
      .value("INT32", kiln::DataType::kINT32)
      .value("BOOL", kiln::DataType::kBOOL)
      .value("UINT8", kiln::DataType::kUINT8)
      .value("BF16", kiln::DataType::kBF16)
      .value("INT64", kiln::DataType::kINT64)
      .value("DOUBLE", kiln::DataType::kDOUBLE)
      .value("INT16", kiln::DataType::kINT16)
      .value("UINT16", kiln::DataType::kUINT16)
      .value("UINT32", kiln::DataType::kUINT32)
      .value("UINT64", kiln::DataType::kUINT64)
      // Low-precision types, stored one element per byte (sub-byte types unpacked).
      .value("FP8E4M3FN", kiln::DataType::kFP8E4M3FN)
      .value("FP8E4M3FNUZ", kiln::DataType::kFP8E4M3FNUZ)
      .value("FP8E5M2", kiln::DataType::kFP8E5M2)
      .value("FP8E5M2FNUZ", kiln::DataType::kFP8E5M2FNUZ)
      .value("FP8E8M0", kiln::DataType::kFP8E8M0)
      .value("INT4", kiln::DataType::kINT4)
      .value("UINT4", kiln::DataType::kUINT4)
      .value("INT2", kiln::DataType::kINT2)
      .value("UINT2", kiln::DataType::kUINT2)
      .value("FP4E2M1", kiln::DataType::kFP4E2M1)
      .def_property_readonly("itemsize", &kiln::dataTypeSize, "Bytes per element.")
      .def_property_readonly("type_name", &kiln::dataTypeName, "'float32', 'float16', ...");

  py::enum_<kiln::Severity>(m, "Severity", py::arithmetic(),
                            "Lower is more severe: ERROR < WARNING < INFO.")
      .value("INTERNAL_ERROR", kiln::Severity::kINTERNAL_ERROR)
      .value("ERROR", kiln::Severity::kERROR)
      .value("WARNING", kiln::Severity::kWARNING)
      .value("INFO", kiln::Severity::kINFO)
      .value("VERBOSE", kiln::Severity::kVERBOSE);

  py::enum_<kiln::TensorIOMode>(m, "TensorIOMode")
      .value("NONE", kiln::TensorIOMode::kNONE)
      .value("INPUT", kiln::TensorIOMode::kINPUT)
      .value("OUTPUT", kiln::TensorIOMode::kOUTPUT);

  py::enum_<kiln::DeviceType>(m, "DeviceType")
      .value("CPU", kiln::DeviceType::kCPU)
      .value("GPU", kiln::DeviceType::kGPU);

  py::enum_<kiln::ProfilingVerbosity>(m, "ProfilingVerbosity",
                                      "How much per-layer detail a plan keeps (trtexec "
                                      "--profilingVerbosity; TensorRT's numbering).")
      .value("LAYER_NAMES_ONLY", kiln::ProfilingVerbosity::kLAYER_NAMES_ONLY)
      .value("NONE", kiln::ProfilingVerbosity::kNONE)
      .value("DETAILED", kiln::ProfilingVerbosity::kDETAILED);

  py::enum_<kiln::BuilderFlag>(m, "BuilderFlag")
      .value("FP16", kiln::BuilderFlag::kFP16)
      .value("BF16", kiln::BuilderFlag::kBF16)
      .value("INT8", kiln::BuilderFlag::kINT8)
      .value("TF32", kiln::BuilderFlag::kTF32)
      .value("DEBUG", kiln::BuilderFlag::kDEBUG);

  py::enum_<kiln::MemoryPoolType>(m, "MemoryPoolType")
      .value("WORKSPACE", kiln::MemoryPoolType::kWORKSPACE);

  py::enum_<kiln::OptProfileSelector>(m, "OptProfileSelector")
      .value("MIN", kiln::OptProfileSelector::kMIN)
      .value("OPT", kiln::OptProfileSelector::kOPT)
      .value("MAX", kiln::OptProfileSelector::kMAX);

  // Accepted by create_network() so TensorRT code ports unchanged; every Kiln network is
  // explicit-batch.
  enum class NetworkCreationFlag : int32_t { kEXPLICIT_BATCH = 0 };
  py::enum_<NetworkCreationFlag>(m, "NetworkDefinitionCreationFlag")
      .value("EXPLICIT_BATCH", NetworkCreationFlag::kEXPLICIT_BATCH);

  // --- Logger ------------------------------------------------------------------------------
  py::class_<PyLogger> logger(m, "Logger", R"doc(
Receives Kiln's messages at or above `min_severity`.

    kiln.Logger()                                   # stderr, WARNING and worse
    kiln.Logger(kiln.Logger.INFO, callback=fn)      # fn(severity, message)

or subclass it and override `log(self, severity, message)` (call super().__init__()).)doc");
  logger
      .def(py::init<kiln::Severity, py::object>(),
           py::arg("min_severity") = kiln::Severity::kWARNING, py::arg("callback") = py::none())
      .def_property("min_severity", &PyLogger::minSeverity, &PyLogger::setMinSeverity)
      .def_property("callback", &PyLogger::callback, &PyLogger::setCallback)
      .def(
          "log",
          [](PyLogger& l, kiln::Severity s, const std::string& msg) { l.log(s, msg.c_str()); },
          py::arg("severity"), py::arg("message"),
          "Delivers one message (as the library does); override in a subclass to redirect.");
  logger.attr("Severity") = m.attr("Severity");
  for (const char* name : {"INTERNAL_ERROR", "ERROR", "WARNING", "INFO", "VERBOSE"})
    logger.attr(name) = m.attr("Severity").attr(name);

  // --- Profiler ----------------------------------------------------------------------------
  // Subclass and override report_layer_time(layer_name, ms); set it as context.profiler.
  // Reports arrive after each run (execute_v2 / execute_async_v3), with the GIL taken here
  // because the run itself releases it.
  py::class_<kiln::Profiler, PyProfiler> profiler(m, "Profiler", R"doc(
Per-layer timing of an execution context's runs (TensorRT's IProfiler).

    class Times(kiln.Profiler):
        def __init__(self):
            super().__init__()
            self.ms = {}
        def report_layer_time(self, layer_name, ms):
            self.ms[layer_name] = self.ms.get(layer_name, 0.0) + ms

    context.profiler = Times())doc");
  profiler.def(py::init<>())
      .def(
          "report_layer_time", [](kiln::Profiler&, const std::string&, float) {},
          py::arg("layer_name"), py::arg("ms"),
          "Called once per layer per run, in execution order; override it (the base does "
          "nothing).");
  m.attr("IProfiler") = profiler;

  // --- Builder side ------------------------------------------------------------------------
  py::class_<kiln::HostMemory, std::unique_ptr<kiln::HostMemory>>(
      m, "HostMemory", py::buffer_protocol(),
      "Bytes owned by Kiln (a serialized plan). Supports the buffer protocol: bytes(plan), "
      "memoryview(plan), open(...).write(plan).")
      .def_buffer([](kiln::HostMemory& h) {
        return py::buffer_info(const_cast<void*>(h.data()), 1,
                               py::format_descriptor<uint8_t>::format(), 1,
                               {static_cast<py::ssize_t>(h.size())}, {py::ssize_t{1}},
                               /*readonly=*/true);
      })
      .def_property_readonly("nbytes", &kiln::HostMemory::size)
      .def("__len__", &kiln::HostMemory::size)
      .def("__repr__", [](const kiln::HostMemory& h) {
        return "<kiln.HostMemory " + std::to_string(h.size()) + " bytes>";
      });

  py::class_<HostOutputAllocator>(
      m, "HostOutputAllocator",
      "Host memory for one output whose shape depends on the data (NonZero, Unique, ...): set it "
      "with ExecutionContext.set_output_allocator; after a run, `shape` and `to_numpy(dtype)` "
      "give the output (ExecutionContext.infer does this itself).")
      .def(py::init<>())
      .def_property_readonly(
          "shape", [](const HostOutputAllocator& a) { return py::tuple(py::cast(a.shape)); })
      .def(
          "to_numpy",
          [](const HostOutputAllocator& a, py::object dtype) {
            py::module_ np = py::module_::import("numpy");
            py::object flat = np.attr("frombuffer")(
                py::bytes(reinterpret_cast<const char*>(a.bytes.data()), a.used), dtype);
            return flat.attr("reshape")(py::cast(a.shape)).attr("copy")();
          },
          py::arg("dtype"));

  py::class_<kiln::OptimizationProfile>(
      m, "OptimizationProfile",
      "min/opt/max shapes for dynamic inputs. Create with Builder.create_optimization_profile().")
      .def(
          "set_shape",
          [](kiln::OptimizationProfile& p, const std::string& name, const Dims& min,
             const Dims& opt, const Dims& max) {
            if (!p.setShape(name.c_str(), min, opt, max))
              raiseError("set_shape('" + name + "') failed",
                         "min " + min.toString() + ", opt " + opt.toString() + ", max " +
                             max.toString() + " must have one rank and min <= opt <= max");
          },
          py::arg("input"), py::arg("min"), py::arg("opt"), py::arg("max"))
      .def(
          "get_shape",
          [](const kiln::OptimizationProfile& p, const std::string& name) {
            std::vector<Dims> out;
            for (auto s : {kiln::OptProfileSelector::kMIN, kiln::OptProfileSelector::kOPT,
                           kiln::OptProfileSelector::kMAX})
              out.push_back(p.getDimensions(name.c_str(), s));
            return out;
          },
          py::arg("input"), "[min, opt, max] for an input.")
      .def(
          "set_shape_values",
          [](kiln::OptimizationProfile& p, const std::string& name, const std::vector<int64_t>& min,
             const std::vector<int64_t>& opt, const std::vector<int64_t>& max) {
            const int32_t n = static_cast<int32_t>(opt.size());
            if (min.size() != opt.size() || max.size() != opt.size() ||
                !p.setShapeValues(name.c_str(), kiln::OptProfileSelector::kMIN, min.data(), n) ||
                !p.setShapeValues(name.c_str(), kiln::OptProfileSelector::kOPT, opt.data(), n) ||
                !p.setShapeValues(name.c_str(), kiln::OptProfileSelector::kMAX, max.data(), n))
              raiseError("set_shape_values('" + name + "') failed",
                         "min, opt and max must have the same number of values");
          },
          py::arg("input"), py::arg("min"), py::arg("opt"), py::arg("max"),
          "Value bounds of a shape tensor input (TensorRT's set_shape_input).")
      .def(
          "set_dimensions",
          [](kiln::OptimizationProfile& p, const std::string& name, kiln::OptProfileSelector sel,
             const Dims& dims) {
            if (!p.setDimensions(name.c_str(), sel, dims))
              raiseError("set_dimensions('" + name + "') failed", "rank mismatch");
          },
          py::arg("input"), py::arg("select"), py::arg("dims"))
      .def(
          "get_dimensions",
          [](const kiln::OptimizationProfile& p, const std::string& name,
             kiln::OptProfileSelector sel) { return p.getDimensions(name.c_str(), sel); },
          py::arg("input"), py::arg("select"))
      .def("is_valid", &kiln::OptimizationProfile::isValid)
      .def_property_readonly("input_names", &kiln::OptimizationProfile::getInputNames);

  py::class_<kiln::BuilderConfig, std::unique_ptr<kiln::BuilderConfig>>(
      m, "BuilderConfig", "Build options. Create with Builder.create_builder_config().")
      .def("set_flag", &kiln::BuilderConfig::setFlag, py::arg("flag"))
      .def("clear_flag", &kiln::BuilderConfig::clearFlag, py::arg("flag"))
      .def("get_flag", &kiln::BuilderConfig::getFlag, py::arg("flag"))
      .def("set_memory_pool_limit", &kiln::BuilderConfig::setMemoryPoolLimit, py::arg("pool"),
           py::arg("pool_size"))
      .def("get_memory_pool_limit", &kiln::BuilderConfig::getMemoryPoolLimit, py::arg("pool"))
      .def(
          "add_optimization_profile",
          [](kiln::BuilderConfig& c, const kiln::OptimizationProfile& p) {
            int index = c.addOptimizationProfile(&p);
            if (index < 0)
              raiseError("add_optimization_profile failed",
                         "the profile is invalid (each input needs min <= opt <= max)");
            return index;
          },
          py::arg("profile"), "Adds a copy of `profile`; returns its index.")
      .def_property_readonly("num_optimization_profiles",
                             &kiln::BuilderConfig::getNbOptimizationProfiles)
      .def_property("default_device_type", &kiln::BuilderConfig::getDeviceType,
                    &kiln::BuilderConfig::setDeviceType)
      .def_property("builder_optimization_level", &kiln::BuilderConfig::getBuilderOptimizationLevel,
                    &kiln::BuilderConfig::setBuilderOptimizationLevel)
      .def_property("timing_cache_file", &kiln::BuilderConfig::getTimingCacheFile,
                    &kiln::BuilderConfig::setTimingCacheFile,
                    "GPU builds: file of tactic timings read before and written after the build "
                    "(trtexec --timingCacheFile); empty: none")
      .def_property("profiling_verbosity", &kiln::BuilderConfig::getProfilingVerbosity,
                    &kiln::BuilderConfig::setProfilingVerbosity,
                    "Per-layer detail stored in the plan (default DETAILED)")
      .def_property("disabled_passes", &kiln::BuilderConfig::getDisabledPasses,
                    &kiln::BuilderConfig::setDisabledPasses,
                    "Optimizer passes to skip, by name (docs/optimizer.md; kiln build "
                    "--disablePasses). An unknown name fails the build with the known ones.");

  py::class_<kiln::Builder, std::unique_ptr<kiln::Builder>>(
      m, "Builder", "Creates networks, configs and profiles, and builds plans.")
      .def(
          py::init([](PyLogger* logger) { return kiln::Builder::create(loggerOrDefault(logger)); }),
          py::arg("logger") = nullptr, py::keep_alive<1, 2>())
      .def(
          "create_network", [](kiln::Builder& b, int64_t /*flags*/) { return b.createNetwork(); },
          py::arg("flags") = 0, py::keep_alive<0, 1>(),
          "A new, empty network (`flags` is accepted for TensorRT compatibility).")
      .def("create_builder_config", &kiln::Builder::createConfig)
      .def("create_config", &kiln::Builder::createConfig)
      .def("create_optimization_profile", &kiln::Builder::createOptimizationProfile, kInternal,
           "A profile owned by the builder.")
      .def(
          "build_serialized_network",
          [](kiln::Builder& b, kiln::NetworkDefinition& n, const kiln::BuilderConfig& c) {
            std::unique_ptr<kiln::HostMemory> plan;
            {
              py::gil_scoped_release release;
              plan = b.buildSerializedNetwork(n, c);
            }
            return checkedPlan(std::move(plan), "build_serialized_network failed",
                               b.getLastError());
          },
          py::arg("network"), py::arg("config"),
          "Optimizes the network and returns the plan (HostMemory); raises kiln.Error on failure.")
      .def_property_readonly("last_error", &kiln::Builder::getLastError);

  // --- ONNX parser -------------------------------------------------------------------------
  py::enum_<kiln::ParserError::Code>(m, "ParserErrorCode")
      .value("INVALID_MODEL", kiln::ParserError::Code::kINVALID_MODEL)
      .value("UNSUPPORTED_NODE", kiln::ParserError::Code::kUNSUPPORTED_NODE)
      .value("INVALID_NODE", kiln::ParserError::Code::kINVALID_NODE)
      .value("IO", kiln::ParserError::Code::kIO);

  py::class_<kiln::ParserError>(m, "ParserError", "One ONNX import error.")
      .def_readonly("code", &kiln::ParserError::code)
      .def_readonly("node", &kiln::ParserError::nodeName, "Node name ('' for model errors).")
      .def_readonly("node_index", &kiln::ParserError::nodeIndex)
      .def_readonly("op", &kiln::ParserError::opType)
      .def_readonly("domain", &kiln::ParserError::domain)
      .def_readonly("opset", &kiln::ParserError::opset)
      .def_readonly("reason", &kiln::ParserError::message)
      .def("desc", [](const kiln::ParserError& e) { return e.message; })
      .def("__str__", &kiln::ParserError::toString)
      .def("__repr__",
           [](const kiln::ParserError& e) { return "<kiln.ParserError " + e.toString() + ">"; });

  py::class_<kiln::OnnxParser, std::unique_ptr<kiln::OnnxParser>>(
      m, "OnnxParser", "Imports an ONNX model into a NetworkDefinition.")
      .def(py::init([](kiln::NetworkDefinition& n, PyLogger* logger) {
             return kiln::OnnxParser::create(n, loggerOrDefault(logger));
           }),
           py::arg("network"), py::arg("logger") = nullptr, py::keep_alive<1, 2>(),
           py::keep_alive<1, 3>())
      .def(
          "parse",
          [](kiln::OnnxParser& p, const py::object& model, const py::object& path) {
            // An onnx.ModelProto is serialized first; anything else must be bytes-like.
            py::object bytes =
                py::hasattr(model, "SerializeToString") ? model.attr("SerializeToString")() : model;
            std::string dir = path.is_none() ? std::string() : fspath(path);
            bool ok;
            {
              BufferView view(bytes, "OnnxParser.parse");
              py::gil_scoped_release release;
              ok = p.parse(view.data(), view.size(), dir.empty() ? nullptr : dir.c_str());
            }
            if (!ok) raiseParseError(p, "OnnxParser.parse");
            return true;
          },
          py::arg("model"), py::arg("path") = py::none(),
          "Parses serialized ModelProto bytes (or an onnx.ModelProto). `path` is the folder of "
          "external data files. Returns True; raises kiln.OnnxParseError with `.errors`.")
      .def(
          "parse_from_file",
          [](kiln::OnnxParser& p, const py::object& path) {
            std::string file = fspath(path);
            bool ok;
            {
              py::gil_scoped_release release;
              ok = p.parseFromFile(file.c_str());
            }
            if (!ok) raiseParseError(p, "OnnxParser.parse_from_file('" + file + "')");
            return true;
          },
          py::arg("path"))
      .def_property_readonly("errors", &parserErrors, "Errors of the last parse.")
      .def_property_readonly("num_errors", &kiln::OnnxParser::getNbErrors)
      .def(
          "get_error",
          [](const kiln::OnnxParser& p, int i) {
            if (i < 0 || i >= p.getNbErrors()) throw py::index_error("parser error index");
            return p.getError(i);
          },
          py::arg("index"))
      .def("clear_errors", &kiln::OnnxParser::clearErrors)
      .def_static("supported_ops", &kiln::OnnxParser::supportedOps);

  // --- Runtime -----------------------------------------------------------------------------
  py::class_<kiln::Engine, std::unique_ptr<kiln::Engine>>(
      m, "Engine", "An optimized network, shared by any number of execution contexts.")
      .def_property_readonly("num_io_tensors", &kiln::Engine::getNbIOTensors)
      .def(
          "get_tensor_name",
          [](const kiln::Engine& e, int i) {
            const char* name = e.getIOTensorName(i);
            if (!name)
              throw py::index_error("I/O tensor index " + std::to_string(i) + " out of range (" +
                                    std::to_string(e.getNbIOTensors()) + " tensors)");
            return std::string(name);
          },
          py::arg("index"))
      .def_property_readonly("io_tensor_names",
                             [](const kiln::Engine& e) {
                               std::vector<std::string> names;
                               for (int i = 0; i < e.getNbIOTensors(); ++i)
                                 names.emplace_back(e.getIOTensorName(i));
                               return names;
                             })
      .def(
          "get_tensor_mode",
          [](const kiln::Engine& e, const std::string& n) { return e.getTensorIOMode(n.c_str()); },
          py::arg("name"), "INPUT, OUTPUT, or NONE for unknown names.")
      .def(
          "get_tensor_dtype",
          [](const kiln::Engine& e, const std::string& n) {
            requireKnownTensor(e, n);
            return e.getTensorDataType(n.c_str());
          },
          py::arg("name"))
      .def(
          "get_tensor_shape",
          [](const kiln::Engine& e, const std::string& n) {
            requireKnownTensor(e, n);
            return e.getTensorShape(n.c_str());
          },
          py::arg("name"), "Shape with -1 for dynamic dims.")
      .def(
          "is_shape_inference_io",
          [](const kiln::Engine& e, const std::string& n) {
            requireKnownTensor(e, n);
            return e.isShapeInferenceIO(n.c_str());
          },
          py::arg("name"),
          "True for shape tensor inputs: bind them to host memory (a numpy array).")
      .def(
          "get_tensor_shape_string",
          [](const kiln::Engine& e, const std::string& n) {
            requireKnownTensor(e, n);
            return e.getTensorShapeString(n.c_str());
          },
          py::arg("name"), "Symbolic shape, e.g. '[batch,3,224,224]'.")
      .def_property_readonly("num_optimization_profiles", &kiln::Engine::getNbOptimizationProfiles)
      .def(
          "get_tensor_profile_shape",
          [](const kiln::Engine& e, const std::string& n, int profile) {
            requireKnownTensor(e, n);
            if (profile < 0 || profile >= e.getNbOptimizationProfiles())
              throw py::index_error("profile index " + std::to_string(profile) + " out of range (" +
                                    std::to_string(e.getNbOptimizationProfiles()) + " profiles)");
            std::vector<Dims> out;
            for (auto s : {kiln::OptProfileSelector::kMIN, kiln::OptProfileSelector::kOPT,
                           kiln::OptProfileSelector::kMAX})
              out.push_back(e.getProfileShape(n.c_str(), profile, s));
            return out;
          },
          py::arg("name"), py::arg("profile_index"), "[min, opt, max] of an input.")
      .def_property_readonly("num_layers", &kiln::Engine::getNbLayers)
      .def_property_readonly("device_type", &kiln::Engine::getDeviceType)
      .def_property_readonly("profiling_verbosity", &kiln::Engine::getProfilingVerbosity)
      .def("get_layer_information", &kiln::Engine::getLayerInformation, py::arg("json") = false,
           "One line per layer, or a JSON document.")
      .def("create_execution_context", &kiln::Engine::createExecutionContext,
           py::keep_alive<0, 1>())
      .def("serialize", &kiln::Engine::serialize, "The plan (HostMemory).");

  py::class_<kiln::Runtime, std::unique_ptr<kiln::Runtime>> runtime(m, "Runtime", "Loads plans.");
  runtime.def(
      py::init([](PyLogger* logger) { return kiln::Runtime::create(loggerOrDefault(logger)); }),
      py::arg("logger") = nullptr, py::keep_alive<1, 2>());
  auto deserialize = [](kiln::Runtime& r, const py::object& plan) {
    std::unique_ptr<kiln::Engine> engine;
    {
      BufferView view(plan, "Runtime.deserialize_cuda_engine");
      py::gil_scoped_release release;
      engine = r.deserializeEngine(view.data(), view.size());
    }
    if (!engine) raiseError("deserialize_cuda_engine failed", r.getLastError());
    return engine;
  };
  runtime
      .def("deserialize_cuda_engine", deserialize, py::arg("serialized_engine"),
           py::keep_alive<0, 1>(),
           "Loads a plan from any bytes-like object (HostMemory, bytes, memoryview, ...).")
      .def("deserialize_engine", deserialize, py::arg("serialized_engine"), py::keep_alive<0, 1>())
      .def_property_readonly("last_error", &kiln::Runtime::getLastError);

  py::class_<kiln::ExecutionContext, std::unique_ptr<kiln::ExecutionContext>>(
      m, "ExecutionContext", py::dynamic_attr(),
      "Runs an engine: set input shapes, bind memory, execute. One per thread.")
      .def_property_readonly("engine", &kiln::ExecutionContext::getEngine,
                             py::return_value_policy::reference)
      .def(
          "set_optimization_profile",
          [](kiln::ExecutionContext& c, int index) {
            if (!c.setOptimizationProfile(index))
              raiseError("set_optimization_profile(" + std::to_string(index) + ") failed",
                         c.getLastError());
            return true;
          },
          py::arg("index"))
      .def_property_readonly("active_optimization_profile",
                             &kiln::ExecutionContext::getOptimizationProfile)
      .def_property(
          "nvtx_verbosity", &kiln::ExecutionContext::getNvtxVerbosity,
          [](kiln::ExecutionContext& c, kiln::ProfilingVerbosity v) {
            if (!c.setNvtxVerbosity(v))
              raiseError("setting nvtx_verbosity failed", c.getLastError());
          },
          "Per-layer NVTX ranges on the GPU (NONE: off; at most the engine's "
          "profiling_verbosity)")
      .def(
          "set_input_shape",
          [](kiln::ExecutionContext& c, const std::string& name, const Dims& dims) {
            if (!c.setInputShape(name.c_str(), dims))
              raiseError("set_input_shape('" + name + "', " + dims.toString() + ") failed",
                         c.getLastError());
            return true;
          },
          py::arg("name"), py::arg("shape"),
          "Sets an input's shape; raises kiln.Error outside the profile.")
      .def(
          "get_tensor_shape",
          [](const kiln::ExecutionContext& c, const std::string& name) {
            requireKnownTensor(c.getEngine(), name);
            return c.getTensorShape(name.c_str());
          },
          py::arg("name"), "Resolved shape (-1 dims until all input shapes are set).")
      .def_property_readonly("all_input_dimensions_specified",
                             &kiln::ExecutionContext::allInputDimensionsSpecified)
      .def(
          "_set_tensor_address_ptr",
          [](kiln::ExecutionContext& c, const std::string& name, uintptr_t ptr) {
            if (!c.setTensorAddress(name.c_str(), reinterpret_cast<void*>(ptr)))
              raiseError("set_tensor_address('" + name + "') failed", c.getLastError());
            return true;
          },
          py::arg("name"), py::arg("ptr"))
      .def(
          "get_tensor_address",
          [](const kiln::ExecutionContext& c, const std::string& name) {
            return reinterpret_cast<uintptr_t>(c.getTensorAddress(name.c_str()));
          },
          py::arg("name"))
      .def("_execute_v2",
           [](kiln::ExecutionContext& c) {
             bool ok;
             {
               py::gil_scoped_release release;
               ok = c.executeV2();
             }
             if (!ok) raiseError("execute_v2 failed", c.getLastError());
             return true;
           })
      .def(
          "_execute_async_v3",
          [](kiln::ExecutionContext& c, uintptr_t stream) {
            bool ok;
            {
              py::gil_scoped_release release;
              ok = c.enqueueV3(reinterpret_cast<void*>(stream));
            }
            if (!ok) raiseError("execute_async_v3 failed", c.getLastError());
            return true;
          },
          py::arg("stream_handle") = 0)
      .def(
          "set_output_allocator",
          [](kiln::ExecutionContext& c, const std::string& name, HostOutputAllocator* a) {
            if (!c.setOutputAllocator(name.c_str(), a))
              raiseError("set_output_allocator('" + name + "') failed", c.getLastError());
            return true;
          },
          py::arg("name"), py::arg("allocator"), py::keep_alive<1, 3>(),
          "Places an output with a data-dependent shape (-1 dims) in `allocator` during runs.")
      .def_property_readonly("last_error", &kiln::ExecutionContext::getLastError)
      .def_property(
          "profiler",
          [](py::object self) -> py::object {
            if (!py::hasattr(self, "_profiler_ref")) return py::none();
            return py::object(self.attr("_profiler_ref"));
          },
          [](py::object self, py::object p) {
            kiln::ExecutionContext& c = self.cast<kiln::ExecutionContext&>();
            c.setProfiler(p.is_none() ? nullptr : p.cast<kiln::Profiler*>());
            self.attr("_profiler_ref") = p;  // the context keeps its profiler alive
          },
          "Per-layer timing of later runs (a kiln.Profiler), or None.");

  bindNetwork(m);
}
