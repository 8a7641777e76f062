// Plugins: custom layers written by users, first-class citizens of a Kiln network.
//
// A plugin is one class implementing kiln::Plugin (the same contract as Kiln's own kernels:
// output types and symbolic shapes, supported types, configure, workspace, enqueue, tactics,
// clone per execution context), one kiln::PluginCreator that makes it from named, typed fields,
// and one registration function. The guide is docs/plugins.md; a complete example:
//
//   class ScaledSwish : public kiln::Plugin {           // y = x * sigmoid(beta * x)
//    public:
//     explicit ScaledSwish(float beta) : mBeta(beta) {}
//     const char* getPluginName() const override { return "ScaledSwish"; }
//     const char* getPluginVersion() const override { return "1"; }
//     const char* getPluginNamespace() const override { return "kiln.examples"; }
//     int32_t getNbOutputs() const override { return 1; }
//     kiln::PluginStatus getOutputDataTypes(std::span<const kiln::DataType> in,
//                                           std::span<kiln::DataType> out) const override {
//       out[0] = in[0];
//       return kiln::PluginStatus::success();
//     }
//     kiln::PluginStatus getOutputShapes(std::span<const kiln::SymShape> in,
//                                        std::span<kiln::SymShape> out) const override {
//       out[0] = in[0];                                  // same (possibly symbolic) shape
//       return kiln::PluginStatus::success();
//     }
//     bool supportsFormatCombination(int32_t pos, std::span<const kiln::PluginTensorDesc> io,
//                                    int32_t nbInputs) const override {
//       return io[pos].type == kiln::DataType::kFLOAT;
//     }
//     kiln::PluginStatus enqueue(std::span<const kiln::PluginTensorDesc> inDesc,
//                                std::span<const kiln::PluginTensorDesc> outDesc,
//                                const void* const* inputs, void* const* outputs,
//                                void* workspace, void* stream) override { ... }
//     std::unique_ptr<kiln::Plugin> clone() const override {
//       return std::make_unique<ScaledSwish>(*this);
//     }
//     std::vector<kiln::PluginField> getFields() const override { return {{"beta", mBeta}}; }
//    private:
//     float mBeta;
//   };
//
//   KILN_PLUGIN_EXPORT(registry) {                       // the library's entry point
//     registry.registerCreator(std::make_unique<ScaledSwishCreator>());
//   }
//
// Then: `kiln run --onnx=m.onnx --plugins=libmyplugins.so`, or
// `kiln::getPluginRegistry().loadLibrary("libmyplugins.so")` and
// `network->addPluginLayer(inputs, "ScaledSwish", "1", "kiln.examples", {{"beta", 1.5f}})`.
//
// Linking: this header is self-contained. Everything a plugin calls on Kiln goes through the
// virtual interfaces below or is inline here, so a plugin library links nothing from Kiln and
// loads into any program that embeds Kiln (the kiln tool, a statically linked application,
// Python). Do not call other Kiln functions from a plugin library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "kiln/types.h"

namespace kiln {

// Bumped when this header changes incompatibly; a library built against another version is
// refused at load time with a message saying so.
constexpr int32_t kPluginApiVersion = 1;

// ---- Status ---------------------------------------------------------------------------------------

// The result of a plugin call: success, or an error message. Kiln prefixes the message with the
// layer and the plugin ("Plugin 'act1' (ScaledSwish v1): <message>").
class PluginStatus {
 public:
  static PluginStatus success() { return PluginStatus(); }
  static PluginStatus error(std::string message) {
    PluginStatus s;
    s.mOk = false;
    s.mMessage = message.empty() ? std::string("unspecified error") : std::move(message);
    return s;
  }
  bool isOk() const { return mOk; }
  const std::string& message() const { return mMessage; }

 private:
  bool mOk = true;
  std::string mMessage;
};

// ---- Symbolic dimensions --------------------------------------------------------------------------

class SymDimBuilder;

// A dimension in getOutputShapes(): a constant, or an expression over the network's symbolic
// input dims ("batch", "seq"). Combine them with + - * floorDiv ceilDiv dimMax dimMin and integer
// constants; the result is evaluated when the execution context knows the input shapes. At run
// time (and for static shapes) every SymDim is a constant, so the same code computes concrete
// shapes. SymDims are valid only during the getOutputShapes() call that received them.
class SymDim {
 public:
  SymDim() = default;                             // the constant 0
  SymDim(int64_t value) : mValue(value) {}        // NOLINT: constants convert freely
  SymDim(int value) : mValue(value) {}            // NOLINT

  // True for a constant (always the case at run time and for static dims).
  bool isConstant() const { return mKind == Kind::kConst; }
  // The value of a constant; 0 otherwise.
  int64_t constantValue() const { return isConstant() ? mValue : 0; }
  // False after an invalid operation (a constant division by zero, mixing SymDims of two calls).
  bool isValid() const { return mKind != Kind::kInvalid; }

  enum class Op : int32_t { kAdd, kSub, kMul, kFloorDiv, kCeilDiv, kMax, kMin };
  friend SymDim operator+(const SymDim& a, const SymDim& b) { return combine(Op::kAdd, a, b); }
  friend SymDim operator-(const SymDim& a, const SymDim& b) { return combine(Op::kSub, a, b); }
  friend SymDim operator*(const SymDim& a, const SymDim& b) { return combine(Op::kMul, a, b); }
  friend SymDim floorDiv(const SymDim& a, const SymDim& b) { return combine(Op::kFloorDiv, a, b); }
  friend SymDim ceilDiv(const SymDim& a, const SymDim& b) { return combine(Op::kCeilDiv, a, b); }
  friend SymDim dimMax(const SymDim& a, const SymDim& b) { return combine(Op::kMax, a, b); }
  friend SymDim dimMin(const SymDim& a, const SymDim& b) { return combine(Op::kMin, a, b); }

 private:
  friend class SymDimBuilder;
  enum class Kind : int32_t { kConst, kExpr, kInvalid };
  static SymDim combine(Op op, const SymDim& a, const SymDim& b);
  static SymDim invalid() {
    SymDim d;
    d.mKind = Kind::kInvalid;
    return d;
  }
  Kind mKind = Kind::kConst;
  int64_t mValue = 0;                 // the constant, or the builder's handle
  SymDimBuilder* mBuilder = nullptr;  // set for expressions
};

using SymShape = std::vector<SymDim>;

// Implemented by Kiln: holds the expressions behind non-constant SymDims during one
// getOutputShapes() call. Plugins never implement or call it directly.
class SymDimBuilder {
 public:
  virtual SymDim combine(SymDim::Op op, const SymDim& a, const SymDim& b) = 0;

 protected:
  ~SymDimBuilder() = default;
  static SymDim makeExpr(SymDimBuilder* builder, int64_t handle) {
    SymDim d;
    d.mKind = SymDim::Kind::kExpr;
    d.mValue = handle;
    d.mBuilder = builder;
    return d;
  }
  static bool isExpr(const SymDim& d) { return d.mKind == SymDim::Kind::kExpr; }
  static int64_t handleOf(const SymDim& d) { return d.mValue; }
  static SymDimBuilder* builderOf(const SymDim& d) { return d.mBuilder; }
  static SymDim invalidDim() { return SymDim::invalid(); }
};

inline SymDim SymDim::combine(Op op, const SymDim& a, const SymDim& b) {
  if (!a.isValid() || !b.isValid()) return invalid();
  if (a.isConstant() && b.isConstant()) {
    // Integer math on constants, here so static shapes never leave the plugin. floorDiv rounds
    // toward -inf, ceilDiv toward +inf: ceilDiv(x, y) = -floorDiv(-x, y).
    int64_t x = a.mValue, y = b.mValue;
    auto floorDivInt = [](int64_t p, int64_t q) {
      int64_t d = p / q;
      return (p % q != 0 && ((p < 0) != (q < 0))) ? d - 1 : d;
    };
    switch (op) {
      case Op::kAdd: return SymDim(x + y);
      case Op::kSub: return SymDim(x - y);
      case Op::kMul: return SymDim(x * y);
      case Op::kFloorDiv: return y == 0 ? invalid() : SymDim(floorDivInt(x, y));
      case Op::kCeilDiv: return y == 0 ? invalid() : SymDim(-floorDivInt(-x, y));
      case Op::kMax: return SymDim(x > y ? x : y);
      case Op::kMin: return SymDim(x < y ? x : y);
    }
    return invalid();
  }
  SymDimBuilder* builder = a.mBuilder ? a.mBuilder : b.mBuilder;
  return builder->combine(op, a, b);
}

// ---- Tensors --------------------------------------------------------------------------------------

// Memory layouts. Only row-major (linear) tensors exist for now.
enum class TensorFormat : int32_t { kLINEAR = 0 };

// One input or output of a plugin. In supportsFormatCombination() dims may be -1 (not known at
// build time); in configurePlugin(), getWorkspaceSize() and enqueue() they are concrete.
struct PluginTensorDesc {
  DataType type = DataType::kFLOAT;
  TensorFormat format = TensorFormat::kLINEAR;
  std::vector<int64_t> dims;

  int64_t rank() const { return static_cast<int64_t>(dims.size()); }
  // Number of elements (-1 when a dim is unknown).
  int64_t volume() const {
    int64_t n = 1;
    for (int64_t d : dims) {
      if (d < 0) return -1;
      n *= d;
    }
    return n;
  }
};

// Bytes per element (inline: plugins link nothing from Kiln).
inline size_t pluginElementSize(DataType t) { return dataTypeSize(t); }

// ---- Fields ---------------------------------------------------------------------------------------

// The types a field can have. The numeric values are stable (plans rely on the mapping).
enum class PluginFieldType : int32_t { kINT64 = 0, kFLOAT32, kSTRING, kINT64S, kFLOAT32S, kBYTES };

inline const char* pluginFieldTypeName(PluginFieldType t) {
  switch (t) {
    case PluginFieldType::kINT64: return "int64";
    case PluginFieldType::kFLOAT32: return "float32";
    case PluginFieldType::kSTRING: return "string";
    case PluginFieldType::kINT64S: return "int64 list";
    case PluginFieldType::kFLOAT32S: return "float32 list";
    case PluginFieldType::kBYTES: return "bytes";
  }
  return "?";
}

// The alternatives are in PluginFieldType order.
using PluginFieldData = std::variant<int64_t, float, std::string, std::vector<int64_t>,
                                     std::vector<float>, std::vector<uint8_t>>;

// A named, typed value. The same fields create a plugin when the network is built and again
// when a plan is loaded: Kiln stores what getFields() returns, so there is no byte packing.
struct PluginField {
  std::string name;
  PluginFieldData data;

  PluginField() = default;
  PluginField(std::string n, int64_t v) : name(std::move(n)), data(v) {}
  PluginField(std::string n, int v) : name(std::move(n)), data(int64_t{v}) {}
  PluginField(std::string n, float v) : name(std::move(n)), data(v) {}
  // Double literals ({"beta", 1.5}) become float32 fields.
  PluginField(std::string n, double v) : name(std::move(n)), data(static_cast<float>(v)) {}
  PluginField(std::string n, std::string v) : name(std::move(n)), data(std::move(v)) {}
  PluginField(std::string n, const char* v) : name(std::move(n)), data(std::string(v ? v : "")) {}
  PluginField(std::string n, std::vector<int64_t> v) : name(std::move(n)), data(std::move(v)) {}
  PluginField(std::string n, std::vector<float> v) : name(std::move(n)), data(std::move(v)) {}
  PluginField(std::string n, std::vector<uint8_t> v) : name(std::move(n)), data(std::move(v)) {}

  PluginFieldType type() const { return static_cast<PluginFieldType>(data.index()); }
  // The value when it has type T, else null: field.get<float>(), field.get<std::vector<int64_t>>().
  template <typename T>
  const T* get() const { return std::get_if<T>(&data); }
};

// The field named `name`, or null.
inline const PluginField* findPluginField(std::span<const PluginField> fields,
                                          std::string_view name) {
  for (const PluginField& f : fields)
    if (f.name == name) return &f;
  return nullptr;
}

// One entry of a creator's field schema. Kiln checks fields against it before createPlugin():
// unknown names, wrong types and missing required fields are reported with the schema.
struct PluginFieldSpec {
  std::string name;
  PluginFieldType type = PluginFieldType::kINT64;
  bool required = false;
};

// ---- Plugin ---------------------------------------------------------------------------------------

// One plugin layer. Lifecycle (docs/plugins.md):
//   build time: the creator makes an instance from the fields; Kiln asks getNbOutputs,
//     getOutputDataTypes, getOutputShapes (symbolic) and supportsFormatCombination.
//   plan load:  the creator makes the instance again from the stored fields; setTactic(chosen).
//   per execution context: clone(); then configurePlugin + getWorkspaceSize whenever the input
//     shapes change, and enqueue for every inference.
// Const methods may be called from several threads at once (one instance answers shape queries
// for every context); enqueue is called on one context's own clone only.
class Plugin {
 public:
  virtual ~Plugin() = default;

  // Identity: (name, version, namespace) selects the creator.
  virtual const char* getPluginName() const = 0;
  virtual const char* getPluginVersion() const = 0;
  virtual const char* getPluginNamespace() const { return ""; }

  virtual int32_t getNbOutputs() const = 0;
  // Output types from the input types (spans sized by the layer's input and output counts).
  virtual PluginStatus getOutputDataTypes(std::span<const DataType> inputTypes,
                                          std::span<DataType> outputTypes) const = 0;
  // Output shapes as expressions over the input dims; `outputs` has getNbOutputs() empty shapes.
  virtual PluginStatus getOutputShapes(std::span<const SymShape> inputs,
                                       std::span<SymShape> outputs) const = 0;
  // Whether io[pos] may have io[pos].type and io[pos].format, given io[0..pos) (inputs first,
  // then outputs; nbInputs says where outputs start). Asked for every position; a false answer
  // is reported naming the position and type.
  virtual bool supportsFormatCombination(int32_t pos, std::span<const PluginTensorDesc> io,
                                         int32_t nbInputs) const = 0;
  // Backends the plugin runs on. The CPU backend passes host pointers and a null stream.
  virtual bool supportsDevice(DeviceType device) const { return device == DeviceType::kCPU; }

  // Called with concrete shapes before the first enqueue and whenever input shapes change.
  virtual PluginStatus configurePlugin(std::span<const PluginTensorDesc> /*inputs*/,
                                       std::span<const PluginTensorDesc> /*outputs*/) {
    return PluginStatus::success();
  }
  // Scratch bytes enqueue needs for these shapes; Kiln allocates it once per context, so enqueue
  // never allocates.
  virtual size_t getWorkspaceSize(std::span<const PluginTensorDesc> /*inputs*/,
                                  std::span<const PluginTensorDesc> /*outputs*/) const {
    return 0;
  }
  // Computes the outputs. CPU backend: host pointers, `stream` is null, runs synchronously.
  // Must not allocate memory or synchronize; `workspace` holds getWorkspaceSize() bytes (may be
  // null when that is 0).
  virtual PluginStatus enqueue(std::span<const PluginTensorDesc> inputDescs,
                               std::span<const PluginTensorDesc> outputDescs,
                               const void* const* inputs, void* const* outputs, void* workspace,
                               void* stream) = 0;

  // Tactics: alternative implementations the builder may time. The chosen index is stored in
  // the plan and passed to setTactic() on load. (The CPU backend always chooses tactic 0.)
  virtual int32_t getNbTactics() const { return 1; }
  virtual PluginStatus setTactic(int32_t tactic) {
    return tactic == 0 ? PluginStatus::success()
                       : PluginStatus::error("tactic " + std::to_string(tactic) + " does not exist");
  }

  // An independent copy for one execution context (state set by configurePlugin included).
  virtual std::unique_ptr<Plugin> clone() const = 0;
  // The fields that recreate this plugin through its creator (stored in the plan).
  virtual std::vector<PluginField> getFields() const = 0;
};

// Makes plugins of one (name, version, namespace) from fields.
class PluginCreator {
 public:
  virtual ~PluginCreator() = default;
  virtual const char* getPluginName() const = 0;
  virtual const char* getPluginVersion() const = 0;
  virtual const char* getPluginNamespace() const { return ""; }
  // The fields createPlugin accepts. Fields are checked against it before createPlugin is called.
  virtual std::vector<PluginFieldSpec> getFieldSchema() const = 0;
  // Sets `*plugin` on success. `layerName` is for messages.
  virtual PluginStatus createPlugin(const char* layerName, std::span<const PluginField> fields,
                                    std::unique_ptr<Plugin>* plugin) = 0;
};

// The process-wide table of plugin creators (getPluginRegistry()). Thread-safe.
class PluginRegistry {
 public:
  // Registers a creator (the registry owns it). A creator with the same name, version and
  // namespace is an error naming the libraries of both; another version of the same name is
  // kept beside the first.
  virtual PluginStatus registerCreator(std::unique_ptr<PluginCreator> creator) = 0;
  // The creator of (name, version, namespace), or null. An empty version picks the highest.
  virtual PluginCreator* getCreator(std::string_view name, std::string_view version = "",
                                    std::string_view nameSpace = "") const = 0;
  virtual std::vector<PluginCreator*> allCreators() const = 0;
  // The library that registered `creator` ("" for creators registered by the program itself).
  virtual std::string getCreatorLibrary(const PluginCreator* creator) const = 0;
  // Loads a plugin library (dlopen) and calls its kilnRegisterPlugins (see KILN_PLUGIN_EXPORT).
  // Loading the same file twice does nothing. All of a library's creators are registered, or
  // none (the error lists every conflict).
  virtual PluginStatus loadLibrary(const char* path) = 0;

 protected:
  ~PluginRegistry() = default;
};

// The process-wide registry (part of libkiln; plugins receive it as an argument instead).
PluginRegistry& getPluginRegistry();
// Loads every library in `pathList` (colon-separated, empty entries skipped). Used with the
// KILN_PLUGIN_PATH environment variable: loadPluginLibraries(getenv("KILN_PLUGIN_PATH")).
PluginStatus loadPluginLibraries(const char* pathList);

}  // namespace kiln

// Defines a plugin library's entry points. Use once per library:
//
//   KILN_PLUGIN_EXPORT(registry) {
//     registry.registerCreator(std::make_unique<MyCreator>());
//   }
//
// loadLibrary() checks kilnPluginApiVersion() against kPluginApiVersion, then calls
// kilnRegisterPlugins with the registry. Explicit registration: no static initializers.
#define KILN_PLUGIN_EXPORT(registryName)                                                       \
  extern "C" __attribute__((visibility("default"))) int32_t kilnPluginApiVersion() {           \
    return ::kiln::kPluginApiVersion;                                                          \
  }                                                                                            \
  extern "C" __attribute__((visibility("default"))) void kilnRegisterPlugins(                  \
      ::kiln::PluginRegistry& registryName)
