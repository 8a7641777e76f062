// Plugins: registry, library loading, network API, shape inference over symbols, execution
// (per-context clones, workspace), plans (round trip, missing plugins) and ONNX import.
//
// References are computed here in double precision (ScaledSwish, EmbLayerNorm, FastGelu,
// PairSum). The example plugins come from the shared library CMake builds
// (KILN_EXAMPLE_PLUGIN_LIB), loaded into the process-wide registry; registry unit tests use
// private registries with the statically linked copy (registerExamplePlugins).
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <numbers>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/half.h"
#include "example_plugins.h"
#include "kiln/kiln.h"
#include "onnx/onnx.pb.h"
#include "plan/plan.h"
#include "plugins/plugin_node.h"
#include "plugins/plugin_registry.h"

namespace kiln {
namespace {

using plugins::PluginRegistryImpl;

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

class CapturingLogger : public Logger {
 public:
  void log(Severity severity, const char* msg) noexcept override {
    if (severity <= Severity::kWARNING) mText += std::string(msg) + "\n";
  }
  const std::string& text() const { return mText; }

 private:
  std::string mText;
};

// The example library: where the build put it, or $KILN_EXAMPLE_PLUGIN_LIB (test binaries
// carried to another machine, e.g. the GPU machine, find it there).
const char* exampleLib() {
  const char* env = std::getenv("KILN_EXAMPLE_PLUGIN_LIB");
  return env && *env ? env : KILN_EXAMPLE_PLUGIN_LIB;
}
std::string exampleLibPath() { return std::filesystem::canonical(exampleLib()).string(); }

// ---- test-only plugins
// ----------------------------------------------------------------------------

// PairSum: y[..., j] = x[..., 2j] + x[..., 2j+1] (the last term only when 2j+1 < n); output last
// dim ceilDiv(n, 2), so its shape is a symbolic expression. Records configure calls and which
// instances ran, and needs a workspace (one float per output element of a row).
std::atomic<int> gPairSumConfigures{0};
std::mutex gPairSumMutex;
std::set<const void*> gPairSumInstances;

class PairSum final : public Plugin {
 public:
  const char* getPluginName() const override { return "PairSum"; }
  const char* getPluginVersion() const override { return "1"; }
  const char* getPluginNamespace() const override { return "kiln.test"; }
  int32_t getNbOutputs() const override { return 1; }
  PluginStatus getOutputDataTypes(std::span<const DataType> in,
                                  std::span<DataType> out) const override {
    out[0] = in[0];
    return PluginStatus::success();
  }
  PluginStatus getOutputShapes(std::span<const SymShape> in,
                               std::span<SymShape> out) const override {
    if (in[0].empty()) return PluginStatus::error("x must have rank >= 1");
    out[0] = in[0];
    out[0].back() = ceilDiv(in[0].back(), 2);
    return PluginStatus::success();
  }
  bool supportsFormatCombination(int32_t pos, std::span<const PluginTensorDesc> io,
                                 int32_t) const override {
    return io[static_cast<size_t>(pos)].type == DataType::kFLOAT;
  }
  PluginStatus configurePlugin(std::span<const PluginTensorDesc> in,
                               std::span<const PluginTensorDesc> out) override {
    ++gPairSumConfigures;
    if (out[0].dims.back() != (in[0].dims.back() + 1) / 2)
      return PluginStatus::error("bad output dims");
    return PluginStatus::success();
  }
  size_t getWorkspaceSize(std::span<const PluginTensorDesc>,
                          std::span<const PluginTensorDesc> out) const override {
    return static_cast<size_t>(out[0].dims.back()) * sizeof(float);
  }
  PluginStatus enqueue(std::span<const PluginTensorDesc> inDesc,
                       std::span<const PluginTensorDesc> outDesc, const void* const* inputs,
                       void* const* outputs, void* workspace, void* stream) override {
    if (stream != nullptr) return PluginStatus::error("the CPU backend passes a null stream");
    if (outDesc[0].dims.back() > 0 && workspace == nullptr)
      return PluginStatus::error("no workspace");
    {
      std::lock_guard<std::mutex> lock(gPairSumMutex);
      gPairSumInstances.insert(this);
    }
    const int64_t n = inDesc[0].dims.back(), m = outDesc[0].dims.back();
    const int64_t rows = n == 0 ? 0 : inDesc[0].volume() / n;
    const float* x = static_cast<const float*>(inputs[0]);
    float* y = static_cast<float*>(outputs[0]);
    float* row = static_cast<float*>(workspace);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < m; ++j)
        row[j] = x[r * n + 2 * j] + (2 * j + 1 < n ? x[r * n + 2 * j + 1] : 0.f);
      std::memcpy(y + r * m, row, static_cast<size_t>(m) * sizeof(float));
    }
    return PluginStatus::success();
  }
  std::unique_ptr<Plugin> clone() const override { return std::make_unique<PairSum>(*this); }
  std::vector<PluginField> getFields() const override { return {}; }
};

// A "Relu" in the default namespace: only used to check the parser's prefer-plugins switch.
class PluginRelu final : public Plugin {
 public:
  const char* getPluginName() const override { return "Relu"; }
  const char* getPluginVersion() const override { return "1"; }
  int32_t getNbOutputs() const override { return 1; }
  PluginStatus getOutputDataTypes(std::span<const DataType> in,
                                  std::span<DataType> out) const override {
    out[0] = in[0];
    return PluginStatus::success();
  }
  PluginStatus getOutputShapes(std::span<const SymShape> in,
                               std::span<SymShape> out) const override {
    out[0] = in[0];
    return PluginStatus::success();
  }
  bool supportsFormatCombination(int32_t pos, std::span<const PluginTensorDesc> io,
                                 int32_t) const override {
    return io[static_cast<size_t>(pos)].type == DataType::kFLOAT;
  }
  PluginStatus enqueue(std::span<const PluginTensorDesc> inDesc, std::span<const PluginTensorDesc>,
                       const void* const* inputs, void* const* outputs, void*, void*) override {
    const float* x = static_cast<const float*>(inputs[0]);
    float* y = static_cast<float*>(outputs[0]);
    for (int64_t i = 0; i < inDesc[0].volume(); ++i) y[i] = x[i] > 0 ? x[i] : 0.f;
    return PluginStatus::success();
  }
  std::unique_ptr<Plugin> clone() const override { return std::make_unique<PluginRelu>(*this); }
  std::vector<PluginField> getFields() const override { return {}; }
};

// A creator for tests: given identity, making plugins with `make`.
class TestCreator final : public PluginCreator {
 public:
  using Make = std::unique_ptr<Plugin> (*)();
  TestCreator(std::string name, std::string version, std::string ns, Make make)
      : mName(std::move(name)), mVersion(std::move(version)), mNs(std::move(ns)), mMake(make) {}
  const char* getPluginName() const override { return mName.c_str(); }
  const char* getPluginVersion() const override { return mVersion.c_str(); }
  const char* getPluginNamespace() const override { return mNs.c_str(); }
  std::vector<PluginFieldSpec> getFieldSchema() const override { return {}; }
  PluginStatus createPlugin(const char*, std::span<const PluginField>,
                            std::unique_ptr<Plugin>* out) override {
    *out = mMake();
    return PluginStatus::success();
  }

 private:
  std::string mName, mVersion, mNs;
  Make mMake;
};

std::unique_ptr<Plugin> makePairSum() { return std::make_unique<PairSum>(); }
std::unique_ptr<Plugin> makePluginRelu() { return std::make_unique<PluginRelu>(); }

// Loads the example library and registers the test plugins in the global registry, once.
void setUpGlobalRegistry() {
  static std::once_flag once;
  std::call_once(once, [] {
    PluginStatus st = getPluginRegistry().loadLibrary(exampleLib());
    ASSERT_TRUE(st.isOk()) << st.message();
    st = getPluginRegistry().registerCreator(
        std::make_unique<TestCreator>("PairSum", "1", "kiln.test", &makePairSum));
    ASSERT_TRUE(st.isOk()) << st.message();
    st = getPluginRegistry().registerCreator(
        std::make_unique<TestCreator>("Relu", "1", "", &makePluginRelu));
    ASSERT_TRUE(st.isOk()) << st.message();
  });
}

// ---- helpers: build and run
// -----------------------------------------------------------------------

std::unique_ptr<HostMemory> buildPlan(Builder& builder, NetworkDefinition& net,
                                      const char* input = nullptr, Dims mn = {}, Dims opt = {},
                                      Dims mx = {}) {
  auto config = builder.createConfig();
  if (input) {
    OptimizationProfile* p = builder.createOptimizationProfile();
    EXPECT_TRUE(p->setShape(input, mn, opt, mx));
    config->addOptimizationProfile(p);
  }
  auto plan = builder.buildSerializedNetwork(net, *config);
  EXPECT_NE(plan, nullptr) << builder.getLastError();
  return plan;
}

// Runs one inference with float/any inputs given as byte vectors; returns the output bytes.
struct RunResult {
  bool ok = false;
  std::string error;
  std::vector<uint8_t> output;
  Dims outputDims;
};

RunResult runOnce(ExecutionContext& ctx,
                  const std::map<std::string, std::pair<Dims, std::vector<uint8_t>>>& inputs,
                  const char* outputName, DataType outType) {
  RunResult r;
  for (const auto& [name, in] : inputs) {
    if (!ctx.setInputShape(name.c_str(), in.first)) {
      r.error = ctx.getLastError();
      return r;
    }
    ctx.setTensorAddress(name.c_str(), const_cast<uint8_t*>(in.second.data()));
  }
  r.outputDims = ctx.getTensorShape(outputName);
  r.output.assign(
      static_cast<size_t>(std::max<int64_t>(r.outputDims.volume(), 0)) * dataTypeSize(outType),
      0xAB);
  ctx.setTensorAddress(outputName, r.output.data());
  r.ok = ctx.executeV2();
  if (!r.ok) r.error = ctx.getLastError();
  return r;
}

template <typename T>
std::vector<uint8_t> bytesOf(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}
template <typename T>
std::vector<T> valuesOf(const std::vector<uint8_t>& b) {
  std::vector<T> v(b.size() / sizeof(T));
  std::memcpy(v.data(), b.data(), v.size() * sizeof(T));
  return v;
}

std::vector<float> randomFloats(size_t n, std::mt19937& rng, float lo = -4.f, float hi = 4.f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

double swish(double x, double beta) { return x / (1.0 + std::exp(-beta * x)); }

// ---- registry
// -------------------------------------------------------------------------------------

TEST(PluginRegistry, RegistersLooksUpByNameVersionAndNamespace) {
  PluginRegistryImpl reg;
  ASSERT_TRUE(kiln_examples::registerExamplePlugins(reg).isOk());
  EXPECT_EQ(reg.allCreators().size(), 3u);
  PluginCreator* c = reg.getCreator("ScaledSwish", "1", "kiln.examples");
  ASSERT_NE(c, nullptr);
  EXPECT_STREQ(c->getPluginName(), "ScaledSwish");
  EXPECT_EQ(reg.getCreatorLibrary(c), "");                           // registered by the program
  EXPECT_EQ(reg.getCreator("ScaledSwish", "", "kiln.examples"), c);  // "" = highest version
  EXPECT_EQ(reg.getCreator("ScaledSwish", "1", ""), nullptr);        // the namespace matters
  EXPECT_EQ(reg.getCreator("ScaledSwish", "2", "kiln.examples"), nullptr);
  EXPECT_EQ(reg.getCreator("Missing", "", ""), nullptr);
  ASSERT_NE(reg.getCreator("FastGelu", "1", "com.microsoft"), nullptr);
}

TEST(PluginRegistry, DuplicateIsAnErrorNamingBothLibraries) {
  PluginRegistryImpl reg;
  ASSERT_TRUE(kiln_examples::registerExamplePlugins(reg).isOk());
  PluginStatus st = reg.registerCreator(kiln_examples::makeScaledSwishCreator());
  ASSERT_FALSE(st.isOk());
  EXPECT_TRUE(contains(st.message(), "ScaledSwish (version 1, namespace 'kiln.examples')"))
      << st.message();
  EXPECT_TRUE(contains(st.message(), "already registered by the program itself")) << st.message();
  EXPECT_EQ(reg.allCreators().size(), 3u);

  PluginRegistryImpl reg2;
  std::vector<std::unique_ptr<PluginCreator>> a, b;
  a.push_back(kiln_examples::makeFastGeluCreator());
  b.push_back(kiln_examples::makeFastGeluCreator());
  ASSERT_TRUE(reg2.registerAll(std::move(a), "/opt/a/libA.so").isOk());
  st = reg2.registerAll(std::move(b), "/opt/b/libB.so");
  ASSERT_FALSE(st.isOk());
  EXPECT_TRUE(contains(
      st.message(), "library '/opt/b/libB.so' is already registered by library '/opt/a/libA.so'"))
      << st.message();
  EXPECT_EQ(reg2.getCreatorLibrary(reg2.getCreator("FastGelu", "1", "com.microsoft")),
            "/opt/a/libA.so");
}

TEST(PluginRegistry, VersionsLiveSideBySideAndEmptyPicksTheHighest) {
  PluginRegistryImpl reg;
  for (const char* v : {"1.9", "2", "1.10", "1"})
    ASSERT_TRUE(
        reg.registerCreator(std::make_unique<TestCreator>("Op", v, "ns", &makePairSum)).isOk())
        << v;
  EXPECT_STREQ(reg.getCreator("Op", "", "ns")->getPluginVersion(), "2");
  EXPECT_STREQ(reg.getCreator("Op", "1.10", "ns")->getPluginVersion(), "1.10");
  EXPECT_STREQ(reg.getCreator("Op", "1.9", "ns")->getPluginVersion(), "1.9");
  EXPECT_TRUE(plugins::versionLess("1.9", "1.10"));
  EXPECT_FALSE(plugins::versionLess("1.10", "1.9"));
  EXPECT_TRUE(plugins::versionLess("1", "1.0.1"));
  EXPECT_FALSE(plugins::versionLess("2", "2.0"));
}

TEST(PluginRegistry, ALibrarysCreatorsRegisterAllOrNone) {
  PluginRegistryImpl reg;
  ASSERT_TRUE(kiln_examples::registerExamplePlugins(reg).isOk());
  std::vector<std::unique_ptr<PluginCreator>> batch;
  batch.push_back(std::make_unique<TestCreator>("Fresh", "1", "", &makePairSum));
  batch.push_back(kiln_examples::makeFastGeluCreator());  // conflicts
  batch.push_back(
      std::make_unique<TestCreator>("Fresh", "1", "", &makePairSum));  // twice in one library
  PluginStatus st = reg.registerAll(std::move(batch), "/x/libX.so");
  ASSERT_FALSE(st.isOk());
  EXPECT_TRUE(contains(st.message(), "none of its creators was registered")) << st.message();
  EXPECT_TRUE(contains(st.message(), "FastGelu (version 1, namespace 'com.microsoft')"))
      << st.message();
  EXPECT_TRUE(contains(st.message(), "Fresh (version 1) is registered twice")) << st.message();
  EXPECT_EQ(reg.getCreator("Fresh", "", ""), nullptr);
  EXPECT_EQ(reg.allCreators().size(), 3u);
}

// ---- library loading
// ------------------------------------------------------------------------------

TEST(PluginLibrary, LoadsTheExampleLibraryOnceAndRecordsItsPath) {
  setUpGlobalRegistry();
  PluginStatus again = getPluginRegistry().loadLibrary(exampleLib());
  EXPECT_TRUE(again.isOk()) << again.message();
  int swishes = 0;
  for (PluginCreator* c : getPluginRegistry().allCreators())
    swishes += std::string(c->getPluginName()) == "ScaledSwish";
  EXPECT_EQ(swishes, 1);
  PluginCreator* c = getPluginRegistry().getCreator("EmbLayerNorm", "1", "kiln.examples");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(getPluginRegistry().getCreatorLibrary(c), exampleLibPath());
  // KILN_PLUGIN_PATH form: colon-separated, empty entries skipped, loading twice is a no-op.
  std::string list = std::string("::") + exampleLib() + ":";
  EXPECT_TRUE(loadPluginLibraries(list.c_str()).isOk());
}

TEST(PluginLibrary, ReportsMissingFilesNonPluginLibrariesAndCopies) {
  setUpGlobalRegistry();
  size_t before = getPluginRegistry().allCreators().size();
  PluginStatus st = getPluginRegistry().loadLibrary("/nonexistent/libnothing.so");
  ASSERT_FALSE(st.isOk());
  EXPECT_TRUE(contains(st.message(), "cannot load plugin library '/nonexistent/libnothing.so'"))
      << st.message();
  EXPECT_FALSE(getPluginRegistry().loadLibrary(nullptr).isOk());

  st = getPluginRegistry().loadLibrary("libm.so.6");
  ASSERT_FALSE(st.isOk());
  EXPECT_TRUE(contains(st.message(), "is not a Kiln plugin library")) << st.message();
  EXPECT_TRUE(contains(st.message(), "KILN_PLUGIN_EXPORT")) << st.message();

  // The same plugins from another file: every creator conflicts; none is registered twice.
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("kiln_plugin_copy_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::filesystem::path copy = dir / "libcopy.so";
  std::filesystem::copy_file(exampleLib(), copy, std::filesystem::copy_options::overwrite_existing);
  st = getPluginRegistry().loadLibrary(copy.c_str());
  ASSERT_FALSE(st.isOk());
  EXPECT_TRUE(contains(st.message(), "library '" + std::filesystem::canonical(copy).string() +
                                         "' is already registered by library '" + exampleLibPath() +
                                         "'"))
      << st.message();
  EXPECT_TRUE(contains(st.message(), "ScaledSwish")) << st.message();
  EXPECT_TRUE(contains(st.message(), "EmbLayerNorm")) << st.message();
  EXPECT_TRUE(contains(st.message(), "FastGelu")) << st.message();
  EXPECT_EQ(getPluginRegistry().allCreators().size(), before);
  std::filesystem::remove_all(dir);

  PluginStatus bad =
      loadPluginLibraries(("/nonexistent/a.so:" + std::string(exampleLib())).c_str());
  ASSERT_FALSE(bad.isOk());
  EXPECT_TRUE(contains(bad.message(), "/nonexistent/a.so")) << bad.message();
}

// ---- network API
// ----------------------------------------------------------------------------------

TEST(PluginNetwork, AddPluginLayerRecordsIdentityFieldsAndLibrary) {
  setUpGlobalRegistry();
  CapturingLogger log;
  auto builder = Builder::create(log);
  auto net = builder->createNetwork();
  Tensor* x = net->addInput("x", DataType::kFLOAT, {-1, 8}, {"batch", ""});
  Tensor* in[] = {x};
  std::vector<PluginField> fields{{"beta", 1.5f}};
  Layer* l = net->addPluginLayer(in, "ScaledSwish", "1", "kiln.examples", fields);
  ASSERT_NE(l, nullptr) << net->getLastError();
  EXPECT_STREQ(l->getType(), "Plugin");
  EXPECT_STREQ(l->getPluginName(), "ScaledSwish");
  EXPECT_STREQ(l->getPluginVersion(), "1");
  EXPECT_STREQ(l->getPluginNamespace(), "kiln.examples");
  EXPECT_EQ(std::string(l->getPluginLibrary()), exampleLibPath());
  std::vector<PluginField> got = l->getPluginFields();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].name, "beta");
  ASSERT_NE(got[0].get<float>(), nullptr);
  EXPECT_EQ(*got[0].get<float>(), 1.5f);
  EXPECT_EQ(l->getOutput(0)->getShapeString(), "[batch,8]");
  EXPECT_EQ(l->getOutput(0)->getType(), DataType::kFLOAT);

  // An empty version picks the highest registered one.
  Layer* l2 = net->addPluginLayer(in, "ScaledSwish", "", "kiln.examples", fields);
  ASSERT_NE(l2, nullptr) << net->getLastError();
  EXPECT_STREQ(l2->getPluginVersion(), "1");
  // Built-in layers have no plugin identity.
  Layer* relu = net->addActivation(*x, ActivationType::kRELU);
  EXPECT_EQ(relu->getPluginName(), nullptr);
  EXPECT_TRUE(relu->getPluginFields().empty());
}

TEST(PluginNetwork, FieldsAreCheckedAgainstTheSchema) {
  setUpGlobalRegistry();
  CapturingLogger log;
  auto builder = Builder::create(log);
  auto net = builder->createNetwork();
  Tensor* x = net->addInput("x", DataType::kFLOAT, {2, 3});
  Tensor* in[] = {x};
  struct Case {
    std::vector<PluginField> fields;
    std::string expect;
  };
  std::vector<Case> cases = {
      {{}, "needs field 'beta' (float32)"},
      {{{"beta", int64_t{2}}},
       "field 'beta' of plugin ScaledSwish (version 1, namespace 'kiln.examples') must be float32, "
       "got int64"},
      {{{"beta", 1.f}, {"gamma", 1.f}},
       "has no field 'gamma'; its fields are: beta (float32, required)"},
      {{{"beta", 1.f}, {"beta", 2.f}}, "field 'beta' is given twice"},
      {{{"beta", std::numeric_limits<float>::infinity()}}, "beta must be finite"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(net->addPluginLayer(in, "ScaledSwish", "1", "kiln.examples", c.fields), nullptr);
    EXPECT_TRUE(contains(net->getLastError(), c.expect)) << net->getLastError();
  }
  EXPECT_EQ(net->addPluginLayer(in, "NoSuchPlugin", "1", "kiln.examples", {}), nullptr);
  EXPECT_TRUE(
      contains(net->getLastError(),
               "plugin NoSuchPlugin (version 1, namespace 'kiln.examples') is not registered"))
      << net->getLastError();
  EXPECT_EQ(net->addPluginLayer(in, "ScaledSwish", "3", "kiln.examples",
                                std::vector<PluginField>{{"beta", 1.f}}),
            nullptr);
  EXPECT_TRUE(contains(net->getLastError(), "(registered versions: 1)")) << net->getLastError();
  // Type negotiation: ScaledSwish takes float32/float16 only.
  Tensor* xi = net->addInput("xi", DataType::kINT32, {2, 3});
  Tensor* ini[] = {xi};
  EXPECT_EQ(net->addPluginLayer(ini, "ScaledSwish", "1", "kiln.examples",
                                std::vector<PluginField>{{"beta", 1.f}}),
            nullptr);
  EXPECT_TRUE(contains(net->getLastError(), "does not accept int32 for input 0"))
      << net->getLastError();
  // Input count errors come from the plugin, prefixed with the layer.
  Tensor* two[] = {x, x};
  EXPECT_EQ(net->addPluginLayer(two, "ScaledSwish", "1", "kiln.examples",
                                std::vector<PluginField>{{"beta", 1.f}}),
            nullptr);
  EXPECT_TRUE(
      contains(net->getLastError(), "(ScaledSwish v1): getOutputDataTypes: expects 1 input, got 2"))
      << net->getLastError();
  EXPECT_EQ(net->getNbLayers(), 0);
}

TEST(PluginNetwork, AddPluginV3RecordsTheInstancesFields) {
  setUpGlobalRegistry();
  CapturingLogger log;
  auto builder = Builder::create(log);
  auto net = builder->createNetwork();
  Tensor* x = net->addInput("x", DataType::kFLOAT, {4});
  PluginCreator* c = getPluginRegistry().getCreator("ScaledSwish", "1", "kiln.examples");
  ASSERT_NE(c, nullptr);
  std::unique_ptr<Plugin> p;
  std::vector<PluginField> f{{"beta", 0.25f}};
  ASSERT_TRUE(c->createPlugin("mine", f, &p).isOk());
  Tensor* in[] = {x};
  Layer* l = net->addPluginV3(in, *p);
  ASSERT_NE(l, nullptr) << net->getLastError();
  ASSERT_EQ(l->getPluginFields().size(), 1u);
  EXPECT_EQ(*l->getPluginFields()[0].get<float>(), 0.25f);
}

// ---- engines
// --------------------------------------------------------------------------------------

TEST(PluginEngine, ScaledSwishMatchesReferenceWithDynamicShapesAndRoundTripsThroughAPlan) {
  setUpGlobalRegistry();
  CapturingLogger log;
  auto builder = Builder::create(log);
  auto net = builder->createNetwork();
  const float beta = 1.75f;
  Tensor* x = net->addInput("x", DataType::kFLOAT, {-1, 5});
  Tensor* in[] = {x};
  Layer* l = net->addPluginLayer(in, "ScaledSwish", "1", "kiln.examples",
                                 std::vector<PluginField>{{"beta", beta}});
  ASSERT_NE(l, nullptr) << net->getLastError();
  l->getOutput(0)->setName("y");
  net->markOutput(*l->getOutput(0));
  auto plan = buildPlan(*builder, *net, "x", {1, 5}, {3, 5}, {8, 5});
  ASSERT_NE(plan, nullptr);
  auto runtime = Runtime::create(log);
  auto engine = runtime->deserializeEngine(plan->data(), plan->size());
  ASSERT_NE(engine, nullptr) << runtime->getLastError();
  EXPECT_TRUE(contains(engine->getLayerInformation(false), "Plugin '"))
      << engine->getLayerInformation(false);
  EXPECT_TRUE(contains(engine->getLayerInformation(true), "plugin_name=\\\"ScaledSwish\\\""))
      << engine->getLayerInformation(true);

  // A second engine from the first one's serialized plan: the fields recreate the plugin.
  auto again = engine->serialize();
  ASSERT_NE(again, nullptr);
  auto engine2 = runtime->deserializeEngine(again->data(), again->size());
  ASSERT_NE(engine2, nullptr) << runtime->getLastError();

  std::mt19937 rng(11);
  for (int64_t batch : {3, 7}) {
    std::vector<float> xs = randomFloats(static_cast<size_t>(batch * 5), rng);
    auto ctx = engine->createExecutionContext();
    RunResult r = runOnce(*ctx, {{"x", {Dims{batch, 5}, bytesOf(xs)}}}, "y", DataType::kFLOAT);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.outputDims, (Dims{batch, 5}));
    std::vector<float> y = valuesOf<float>(r.output);
    for (size_t i = 0; i < xs.size(); ++i) {
      double want = swish(xs[i], beta);
      EXPECT_LE(std::fabs(y[i] - want), 1e-6 * std::fabs(want) + 1e-7) << i << " x=" << xs[i];
    }
    auto ctx2 = engine2->createExecutionContext();
    RunResult r2 = runOnce(*ctx2, {{"x", {Dims{batch, 5}, bytesOf(xs)}}}, "y", DataType::kFLOAT);
    ASSERT_TRUE(r2.ok) << r2.error;
    EXPECT_EQ(r2.output, r.output);  // the same plugin, the same bits
  }
}

TEST(PluginEngine, ScaledSwishFloat16) {
  setUpGlobalRegistry();
  CapturingLogger log;
  auto builder = Builder::create(log);
  auto net = builder->createNetwork();
  const float beta = 0.5f;
  Tensor* x = net->addInput("x", DataType::kHALF, {4, 6});
  Tensor* in[] = {x};
  Layer* l = net->addPluginLayer(in, "ScaledSwish", "1", "kiln.examples",
                                 std::vector<PluginField>{{"beta", beta}});
  ASSERT_NE(l, nullptr) << net->getLastError();
  EXPECT_EQ(l->getOutput(0)->getType(), DataType::kHALF);
  l->getOutput(0)->setName("y");
  net->markOutput(*l->getOutput(0));
  auto plan = buildPlan(*builder, *net);
  ASSERT_NE(plan, nullptr);
  auto runtime = Runtime::create(log);
  auto engine = runtime->deserializeEngine(plan->data(), plan->size());
  ASSERT_NE(engine, nullptr) << runtime->getLastError();
  std::mt19937 rng(5);
  std::vector<float> xf = randomFloats(24, rng, -6.f, 6.f);
  std::vector<Half> xh;
  for (float v : xf) xh.push_back(Half(v));
  auto ctx = engine->createExecutionContext();
  RunResult r = runOnce(*ctx, {{"x", {Dims{4, 6}, bytesOf(xh)}}}, "y", DataType::kHALF);
  ASSERT_TRUE(r.ok) << r.error;
  std::vector<Half> y = valuesOf<Half>(r.output);
  for (size_t i = 0; i < xh.size(); ++i) {
    double want = swish(static_cast<float>(xh[i]), beta);
    // One float16 rounding of the result (2^-11 relative, 2^-25 absolute near 0) plus float math.
    EXPECT_LE(std::fabs(static_cast<float>(y[i]) - want),
              std::ldexp(std::fabs(want), -10) + std::ldexp(1.0, -24))
        << i;
  }
}

void embLayerNormCase(DataType idType) {
  setUpGlobalRegistry();
  CapturingLogger log;
  auto builder = Builder::create(log);
  auto net = builder->createNetwork();
  const int64_t vocab = 11, hidden = 7;
  const float eps = 1e-3f;
  std::mt19937 rng(idType == DataType::kINT32 ? 21 : 22);
  std::vector<float> table = randomFloats(static_cast<size_t>(vocab * hidden), rng, -2.f, 2.f);
  std::vector<float> gamma = randomFloats(hidden, rng, 0.5f, 1.5f),
                     beta = randomFloats(hidden, rng);
  Tensor* ids = net->addInput("ids", idType, {-1, -1}, {"batch", "seq"});
  Tensor* t =
      net->addConstant({vocab, hidden}, {DataType::kFLOAT, table.data(), vocab * hidden}, "table");
  Tensor* g = net->addConstant({hidden}, {DataType::kFLOAT, gamma.data(), hidden}, "gamma");
  Tensor* b = net->addConstant({hidden}, {DataType::kFLOAT, beta.data(), hidden}, "beta");
  Tensor* in[] = {ids, t, g, b};
  Layer* l = net->addPluginLayer(in, "EmbLayerNorm", "1", "kiln.examples",
                                 std::vector<PluginField>{{"epsilon", eps}});
  ASSERT_NE(l, nullptr) << net->getLastError();
  EXPECT_EQ(l->getOutput(0)->getShapeString(), "[batch,seq,7]");
  l->getOutput(0)->setName("y");
  net->markOutput(*l->getOutput(0));
  auto plan = buildPlan(*builder, *net, "ids", {1, 1}, {2, 5}, {4, 16});
  ASSERT_NE(plan, nullptr);
  auto runtime = Runtime::create(log);
  auto engine = runtime->deserializeEngine(plan->data(), plan->size());
  ASSERT_NE(engine, nullptr) << runtime->getLastError();
  std::uniform_int_distribution<int64_t> pick(0, vocab - 1);
  std::vector<int64_t> id64(2 * 5);
  for (int64_t& v : id64) v = pick(rng);
  std::vector<uint8_t> idBytes;
  if (idType == DataType::kINT64) {
    idBytes = bytesOf(id64);
  } else {
    idBytes = bytesOf(std::vector<int32_t>(id64.begin(), id64.end()));
  }
  auto ctx = engine->createExecutionContext();
  RunResult r = runOnce(*ctx, {{"ids", {Dims{2, 5}, idBytes}}}, "y", DataType::kFLOAT);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.outputDims, (Dims{2, 5, hidden}));
  std::vector<float> y = valuesOf<float>(r.output);
  for (size_t tok = 0; tok < id64.size(); ++tok) {
    const float* row = &table[static_cast<size_t>(id64[tok] * hidden)];
    double mean = 0, var = 0;
    for (int64_t h = 0; h < hidden; ++h) mean += row[h];
    mean /= hidden;
    for (int64_t h = 0; h < hidden; ++h) var += (row[h] - mean) * (row[h] - mean);
    var /= hidden;
    for (int64_t h = 0; h < hidden; ++h) {
      double want = (row[h] - mean) / std::sqrt(var + eps) * gamma[static_cast<size_t>(h)] +
                    beta[static_cast<size_t>(h)];
      EXPECT_LE(std::fabs(y[tok * hidden + static_cast<size_t>(h)] - want),
                1e-6 * std::fabs(want) + 1e-6);
    }
  }
  // An id outside the table: the plugin's enqueue error names the layer and plugin.
  id64[3] = vocab;
  idBytes = idType == DataType::kINT64 ? bytesOf(id64)
                                       : bytesOf(std::vector<int32_t>(id64.begin(), id64.end()));
  RunResult bad = runOnce(*ctx, {{"ids", {Dims{2, 5}, idBytes}}}, "y", DataType::kFLOAT);
  EXPECT_FALSE(bad.ok);
  EXPECT_TRUE(contains(
      bad.error, "(EmbLayerNorm v1): enqueue: token 3 has id 11, outside the table's [0, 11)"))
      << bad.error;
}

TEST(PluginEngine, EmbLayerNormInt32Ids) { embLayerNormCase(DataType::kINT32); }
TEST(PluginEngine, EmbLayerNormInt64Ids) { embLayerNormCase(DataType::kINT64); }

TEST(PluginEngine, SymbolicOutputShapesAndOneConfiguredCloneperContext) {
  setUpGlobalRegistry();
  CapturingLogger log;
  auto builder = Builder::create(log);
  auto net = builder->createNetwork();
  Tensor* x = net->addInput("x", DataType::kFLOAT, {2, -1}, {"", "n"});
  Tensor* in[] = {x};
  Layer* l = net->addPluginLayer(in, "PairSum", "1", "kiln.test", {});
  ASSERT_NE(l, nullptr) << net->getLastError();
  EXPECT_EQ(l->getOutput(0)->getShapeString(), "[2,ceildiv(n,2)]");
  EXPECT_STREQ(l->getPluginLibrary(), "");
  l->getOutput(0)->setName("y");
  net->markOutput(*l->getOutput(0));
  auto plan = buildPlan(*builder, *net, "x", {2, 1}, {2, 5}, {2, 9});
  ASSERT_NE(plan, nullptr);
  auto runtime = Runtime::create(log);
  auto engine = runtime->deserializeEngine(plan->data(), plan->size());
  ASSERT_NE(engine, nullptr) << runtime->getLastError();
  EXPECT_EQ(engine->getTensorShapeString("y"), "[2,ceildiv(n,2)]");

  gPairSumInstances.clear();
  int configuresBefore = gPairSumConfigures.load();
  auto a = engine->createExecutionContext();
  auto b = engine->createExecutionContext();
  std::mt19937 rng(3);
  for (int round = 0; round < 2; ++round) {
    for (auto [ctx, n] : {std::pair{a.get(), int64_t{5}}, std::pair{b.get(), int64_t{8}}}) {
      std::vector<float> xs = randomFloats(static_cast<size_t>(2 * n), rng);
      RunResult r = runOnce(*ctx, {{"x", {Dims{2, n}, bytesOf(xs)}}}, "y", DataType::kFLOAT);
      ASSERT_TRUE(r.ok) << r.error;
      int64_t m = (n + 1) / 2;
      ASSERT_EQ(r.outputDims, (Dims{2, m}));
      std::vector<float> y = valuesOf<float>(r.output);
      for (int64_t row = 0; row < 2; ++row)
        for (int64_t j = 0; j < m; ++j) {
          double want = static_cast<double>(xs[static_cast<size_t>(row * n + 2 * j)]) +
                        (2 * j + 1 < n ? xs[static_cast<size_t>(row * n + 2 * j + 1)] : 0.0);
          EXPECT_NEAR(y[static_cast<size_t>(row * m + j)], want, 1e-6 * std::fabs(want) + 1e-7);
        }
    }
  }
  // Each context configured its own clone once (shapes did not change in the second round).
  EXPECT_EQ(gPairSumConfigures.load() - configuresBefore, 2);
  EXPECT_EQ(gPairSumInstances.size(), 2u);
  // Outside the profile: refused before the plugin runs.
  std::vector<float> big(2 * 10, 1.f);
  RunResult r = runOnce(*a, {{"x", {Dims{2, 10}, bytesOf(big)}}}, "y", DataType::kFLOAT);
  EXPECT_FALSE(r.ok);
}

TEST(PluginPlan, MissingPluginsAreAllListedWithTheirLibraries) {
  setUpGlobalRegistry();
  CapturingLogger log;
  auto builder = Builder::create(log);
  auto net = builder->createNetwork();
  Tensor* x = net->addInput("x", DataType::kFLOAT, {2, 6});
  Tensor* in[] = {x};
  std::vector<PluginField> beta{{"beta", 1.f}};
  Layer* s1 = net->addPluginLayer(in, "ScaledSwish", "1", "kiln.examples", beta);
  ASSERT_NE(s1, nullptr) << net->getLastError();
  s1->setName("swish_a");
  Tensor* in2[] = {s1->getOutput(0)};
  Layer* s2 = net->addPluginLayer(in2, "ScaledSwish", "1", "kiln.examples", beta);
  ASSERT_NE(s2, nullptr);
  s2->setName("swish_b");
  Tensor* in3[] = {s2->getOutput(0)};
  Layer* p = net->addPluginLayer(in3, "PairSum", "1", "kiln.test", {});
  ASSERT_NE(p, nullptr);
  p->setName("pairs");
  net->markOutput(*p->getOutput(0));
  auto planBytes = buildPlan(*builder, *net);
  ASSERT_NE(planBytes, nullptr);

  // Simulate a process without these plugins: the plan asks for a ScaledSwish version and a
  // plugin name that nothing registered.
  auto contents = plan::deserializePlan(planBytes->bytes());
  ASSERT_TRUE(contents.isOk()) << contents.status().toString();
  for (ir::Node* n : contents->graph->nodes()) {
    if (n->op != ir::OpKind::kPlugin) continue;
    if (n->attrs.getString(plugins::kAttrName) == "ScaledSwish")
      n->attrs.setString(plugins::kAttrVersion, "9");
    else
      n->attrs.setString(plugins::kAttrName, "PairSumGone");
  }
  auto edited = plan::serializePlan(*contents);
  ASSERT_TRUE(edited.isOk());
  auto runtime = Runtime::create(log);
  EXPECT_EQ(runtime->deserializeEngine(edited->data(), edited->size()), nullptr);
  const std::string& err = runtime->getLastError();
  EXPECT_TRUE(contains(err, "the network uses 2 plugins that are not registered in this process"))
      << err;
  EXPECT_TRUE(contains(
      err,
      "ScaledSwish (version 9, namespace 'kiln.examples'), used by layers 'swish_a', 'swish_b'; "
      "provided at build time by library '" +
          exampleLibPath() + "' (this process has version 1)"))
      << err;
  EXPECT_TRUE(
      contains(err,
               "PairSumGone (version 1, namespace 'kiln.test'), used by layer 'pairs'; provided at "
               "build time by the program itself"))
      << err;
  EXPECT_TRUE(contains(err, "--plugins=" + exampleLibPath())) << err;

  // The unedited plan loads and records the tactic the builder chose.
  auto engine = runtime->deserializeEngine(planBytes->data(), planBytes->size());
  ASSERT_NE(engine, nullptr) << runtime->getLastError();
  EXPECT_TRUE(contains(engine->getLayerInformation(true), "plugin_tactic=0"))
      << engine->getLayerInformation(true);
}

// ---- ONNX
// -----------------------------------------------------------------------------------------

struct OnnxModel {
  onnx::ModelProto model;
  onnx::GraphProto* graph;
  OnnxModel() {
    model.set_ir_version(8);
    auto* op = model.add_opset_import();
    op->set_domain("");
    op->set_version(17);
    graph = model.mutable_graph();
    graph->set_name("g");
  }
  void domain(const std::string& d) {
    auto* op = model.add_opset_import();
    op->set_domain(d);
    op->set_version(1);
  }
  void input(const std::string& name, int elemType, const std::vector<int64_t>& dims) {
    auto* vi = graph->add_input();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elemType);
    auto* shape = tt->mutable_shape();
    for (int64_t d : dims) {
      if (d < 0)
        shape->add_dim()->set_dim_param("batch");
      else
        shape->add_dim()->set_dim_value(d);
    }
  }
  void output(const std::string& name) { graph->add_output()->set_name(name); }
  onnx::NodeProto* node(const std::string& op, const std::string& domain,
                        std::vector<std::string> ins, std::vector<std::string> outs,
                        const std::string& name) {
    auto* n = graph->add_node();
    n->set_op_type(op);
    n->set_domain(domain);
    n->set_name(name);
    for (auto& i : ins) n->add_input(i);
    for (auto& o : outs) n->add_output(o);
    return n;
  }
  std::string bytes() const { return model.SerializeAsString(); }
};

void floatAttr(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}
void intAttr(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

struct Parsed {
  CapturingLogger log;
  std::unique_ptr<Builder> builder = Builder::create(log);
  std::unique_ptr<NetworkDefinition> net = builder->createNetwork();
  std::unique_ptr<OnnxParser> parser = OnnxParser::create(*net, log);
  bool parse(const std::string& bytes) { return parser->parse(bytes.data(), bytes.size()); }
  std::string errors() const {
    std::string s;
    for (int i = 0; i < parser->getNbErrors(); ++i) s += parser->getError(i).toString() + "\n";
    return s;
  }
};

TEST(PluginOnnx, CustomDomainNodeBecomesAPluginWithAttributesAsFields) {
  setUpGlobalRegistry();
  OnnxModel m;
  m.domain("kiln.examples");
  m.input("x", onnx::TensorProto::FLOAT, {-1, 4});
  floatAttr(m.node("ScaledSwish", "kiln.examples", {"x"}, {"y"}, "act"), "beta", 0.75f);
  m.output("y");
  Parsed p;
  ASSERT_TRUE(p.parse(m.bytes())) << p.errors();
  ASSERT_EQ(p.net->getNbLayers(), 1);
  Layer* l = p.net->getLayer(0);
  EXPECT_STREQ(l->getName(), "act");
  EXPECT_STREQ(l->getType(), "Plugin");
  EXPECT_STREQ(l->getPluginName(), "ScaledSwish");
  ASSERT_EQ(l->getPluginFields().size(), 1u);
  EXPECT_EQ(*l->getPluginFields()[0].get<float>(), 0.75f);
  EXPECT_EQ(p.net->getOutput(0)->getShapeString(), "[batch,4]");

  // An INT attribute converts to a float32 field.
  OnnxModel m2;
  m2.domain("kiln.examples");
  m2.input("x", onnx::TensorProto::FLOAT, {2, 4});
  intAttr(m2.node("ScaledSwish", "kiln.examples", {"x"}, {"y"}, "act"), "beta", 2);
  m2.output("y");
  Parsed p2;
  ASSERT_TRUE(p2.parse(m2.bytes())) << p2.errors();
  EXPECT_EQ(*p2.net->getLayer(0)->getPluginFields()[0].get<float>(), 2.f);
}

TEST(PluginOnnx, AttributeErrorsAndUnknownCustomOps) {
  setUpGlobalRegistry();
  OnnxModel m;
  m.domain("kiln.examples");
  m.input("x", onnx::TensorProto::FLOAT, {2, 4});
  auto* n = m.node("ScaledSwish", "kiln.examples", {"x"}, {"y"}, "act");
  floatAttr(n, "beta", 1.f);
  floatAttr(n, "alpha", 1.f);
  m.output("y");
  Parsed p;
  EXPECT_FALSE(p.parse(m.bytes()));
  EXPECT_TRUE(
      contains(p.errors(),
               "node 'act' (ScaledSwish, opset 1, domain kiln.examples): attribute 'alpha' is "
               "not a field of plugin ScaledSwish"))
      << p.errors();
  EXPECT_TRUE(contains(p.errors(), "its fields are: beta (float32, required)")) << p.errors();

  OnnxModel m2;
  m2.domain("kiln.examples");
  m2.input("x", onnx::TensorProto::FLOAT, {2, 4});
  m2.node("NoSuchOp", "kiln.examples", {"x"}, {"y"}, "nope");
  m2.output("y");
  Parsed p2;
  EXPECT_FALSE(p2.parse(m2.bytes()));
  EXPECT_TRUE(contains(p2.errors(), "unsupported operator 'NoSuchOp'")) << p2.errors();
  EXPECT_TRUE(contains(p2.errors(), "docs/plugins.md")) << p2.errors();
}

TEST(PluginOnnx, ContribDomainOpRunsThroughItsPlugin) {
  setUpGlobalRegistry();
  OnnxModel m;
  m.domain("com.microsoft");
  m.input("x", onnx::TensorProto::FLOAT, {2, 3});
  auto* bias = m.graph->add_initializer();
  bias->set_name("bias");
  bias->set_data_type(onnx::TensorProto::FLOAT);
  bias->add_dims(3);
  for (float b : {0.5f, -1.f, 0.25f}) bias->add_float_data(b);
  m.node("FastGelu", "com.microsoft", {"x", "bias"}, {"y"}, "gelu");
  m.output("y");
  Parsed p;
  ASSERT_TRUE(p.parse(m.bytes())) << p.errors();
  ASSERT_EQ(p.net->getNbLayers(), 1);
  EXPECT_STREQ(p.net->getLayer(0)->getPluginName(), "FastGelu");
  EXPECT_STREQ(p.net->getLayer(0)->getPluginNamespace(), "com.microsoft");
  auto plan = buildPlan(*p.builder, *p.net);
  ASSERT_NE(plan, nullptr);
  auto runtime = Runtime::create(p.log);
  auto engine = runtime->deserializeEngine(plan->data(), plan->size());
  ASSERT_NE(engine, nullptr) << runtime->getLastError();
  std::mt19937 rng(9);
  std::vector<float> xs = randomFloats(6, rng);
  auto ctx = engine->createExecutionContext();
  RunResult r = runOnce(*ctx, {{"x", {Dims{2, 3}, bytesOf(xs)}}}, "y", DataType::kFLOAT);
  ASSERT_TRUE(r.ok) << r.error;
  const double b[] = {0.5, -1.0, 0.25};
  std::vector<float> y = valuesOf<float>(r.output);
  for (size_t i = 0; i < xs.size(); ++i) {
    // y = 0.5 v (1 + tanh(sqrt(2/pi) (v + 0.044715 v^3))), v = x + bias
    double v = xs[i] + b[i % 3];
    double want =
        0.5 * v * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (v + 0.044715 * v * v * v)));
    EXPECT_LE(std::fabs(y[i] - want), 1e-6 * std::fabs(want) + 1e-7) << i;
  }
}

TEST(PluginOnnx, PreferPluginsSwitchReplacesABuiltInOp) {
  setUpGlobalRegistry();
  OnnxModel m;
  m.input("x", onnx::TensorProto::FLOAT, {3});
  m.node("Relu", "", {"x"}, {"y"}, "r");
  m.output("y");
  Parsed builtin;
  ASSERT_TRUE(builtin.parse(m.bytes())) << builtin.errors();
  EXPECT_STREQ(builtin.net->getLayer(0)->getType(), "Relu");
  EXPECT_FALSE(builtin.parser->getPreferPlugins());

  Parsed preferring;
  preferring.parser->setPreferPlugins(true);
  ASSERT_TRUE(preferring.parse(m.bytes())) << preferring.errors();
  EXPECT_STREQ(preferring.net->getLayer(0)->getType(), "Plugin");
  EXPECT_STREQ(preferring.net->getLayer(0)->getPluginName(), "Relu");
}

}  // namespace
}  // namespace kiln
