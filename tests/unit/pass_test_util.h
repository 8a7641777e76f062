// Helpers shared by the optimizer-pass tests (fusion_passes_test, conv_fusion_test,
// matmul_fusion_test, attention_fusion_test, channels_last_test, fp16_precision_test): building
// small networks through the public API, running the pass manager on a clone of a network's
// graph, building/running a network on the CPU with a pass disabled and enabled to compare the
// outputs, and running an IR graph on the CPU kernels.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/network_impl.h"
#include "backends/cpu/cpu_kernel.h"
#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "kiln/kiln.h"
#include "optimizer/pass_manager.h"

namespace kiln::testing_passes {

// float32 relative tolerance of the equivalence checks.
inline constexpr double kTol = 1e-5;

// A logger that prints nothing and keeps the messages: errors (kERROR and worse), info (kINFO and
// worse) and verbose (kVERBOSE only).
class QuietLogger : public Logger {
 public:
  void log(Severity s, const char* msg) noexcept override {
    if (s <= Severity::kERROR) errors += std::string(msg) + "\n";
    if (s <= Severity::kINFO) info += std::string(msg) + "\n";
    if (s == Severity::kVERBOSE) verbose += std::string(msg) + "\n";
  }
  std::string errors, info, verbose;
};

// Builds a network (adds inputs, layers, outputs).
using NetFn = std::function<void(NetworkDefinition&)>;

// n values uniform in [lo, hi), reproducible from `seed`.
inline std::vector<float> randomVec(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// Constant holder: keeps host arrays alive while the network copies them.
struct Consts {
  std::vector<std::vector<float>> keep;
  std::vector<std::vector<uint8_t>> keepBool;
  // float32 Weights over `v` (kept alive here).
  Weights w(std::vector<float> v) {
    keep.push_back(std::move(v));
    return Weights{DataType::kFLOAT, keep.back().data(), static_cast<int64_t>(keep.back().size())};
  }
  // A float32 constant layer of shape `dims` holding `v`.
  Tensor* add(NetworkDefinition& net, const Dims& dims, std::vector<float> v) {
    return net.addConstant(dims, w(std::move(v)));
  }
  Tensor* scalar(NetworkDefinition& net, float v) { return add(net, Dims{}, {v}); }
  // A float32 constant of shape `dims` with randomVec values.
  Tensor* random(NetworkDefinition& net, const Dims& dims, uint32_t seed, float lo = -1.f,
                 float hi = 1.f) {
    return add(net, dims, randomVec(static_cast<size_t>(dims.volume()), seed, lo, hi));
  }
  // A bool constant of shape `dims` holding `v` (0/1 bytes).
  Tensor* boolean(NetworkDefinition& net, const Dims& dims, std::vector<uint8_t> v) {
    keepBool.push_back(std::move(v));
    return net.addConstant(dims, Weights{DataType::kBOOL, keepBool.back().data(),
                                         static_cast<int64_t>(keepBool.back().size())});
  }
};

// Adds an op by ONNX type name (NetworkDefinition::addOp) and returns its first output; a failure
// is a test failure (with the network's error) and gives nullptr.
inline Tensor* op(NetworkDefinition& net, const char* type, std::vector<Tensor*> ins,
                  std::vector<Attribute> attrs = {}) {
  Layer* l = net.addOp(type, ins, attrs);
  EXPECT_NE(l, nullptr) << type << ": " << net.getLastError();
  return l ? l->getOutput(0) : nullptr;
}

// The graph after the optimizer (every pass but `disabled`, at optimization `level`) on a clone
// of the network, with each pass verified; the optimizer's verbose log goes to `*verbose` when
// given.
inline std::unique_ptr<ir::Graph> optimized(const NetFn& fn, std::set<std::string> disabled = {},
                                            int level = 3, std::string* verbose = nullptr) {
  QuietLogger logger;
  auto builder = Builder::create(logger);
  auto net = builder->createNetwork();
  fn(*net);
  std::unique_ptr<ir::Graph> g = net->impl().graph->clone();
  EXPECT_TRUE(ir::inferGraphInPlace(*g).isOk());
  opt::PassContext ctx;
  ctx.logger = &logger;
  ctx.disabledPasses = std::move(disabled);
  ctx.verifyEachPass = true;
  ctx.optimizationLevel = level;
  Status st = opt::runPasses(*g, ctx);
  EXPECT_TRUE(st.isOk()) << st.toString();
  EXPECT_TRUE(ir::verifyGraph(*g).isOk());
  if (verbose) *verbose = logger.verbose;
  return g;
}

// The op type names of a graph's nodes.
inline std::multiset<std::string> opsOf(const ir::Graph& g) {
  std::multiset<std::string> ops;
  for (const ir::Node* n : g.nodes()) ops.insert(ir::opName(n->op));
  return ops;
}

// The op type names left after the optimizer (all passes but `disabled`).
inline std::multiset<std::string> opsAfter(const NetFn& fn, std::set<std::string> disabled = {}) {
  return opsOf(*optimized(fn, std::move(disabled)));
}

// A multiset of op type names, to compare with opsOf/opsAfter.
inline std::multiset<std::string> ops(std::initializer_list<const char*> names) {
  return std::multiset<std::string>(names.begin(), names.end());
}

// The first node of kind `op`, or nullptr.
inline const ir::Node* findOp(const ir::Graph& g, ir::OpKind op) {
  for (const ir::Node* n : g.nodes())
    if (n->op == op) return n;
  return nullptr;
}

// The single node of kind `op`: none or more than one is a test failure.
inline const ir::Node* onlyNode(const ir::Graph& g, ir::OpKind op) {
  const ir::Node* found = nullptr;
  for (const ir::Node* n : g.nodes()) {
    if (n->op != op) continue;
    EXPECT_EQ(found, nullptr) << "more than one " << ir::opName(op);
    found = n;
  }
  EXPECT_NE(found, nullptr) << "no " << ir::opName(op);
  return found;
}

struct RunResult {
  std::vector<std::vector<float>> inputs;  // in I/O tensor order
  std::vector<std::vector<float>> outputs;
  int layers = 0;
  std::string layerInfo;  // Engine::getLayerInformation(false)
  std::string layerJson;  // Engine::getLayerInformation(true)
  std::string verbose;    // the builder's and runtime's verbose and info messages (buildAndRun)
};

// Runs a deserialized engine on random inputs drawn with `seed` (float32 in [-2, 2), static
// shapes); the outputs start as NaN so that an unwritten element fails the finiteness checks.
inline void runEngine(Engine& engine, uint32_t seed, RunResult& r) {
  r.layers = engine.getNbLayers();
  r.layerInfo = engine.getLayerInformation(false);
  r.layerJson = engine.getLayerInformation(true);
  auto ctx = engine.createExecutionContext();
  std::vector<std::string> outNames;
  r.inputs.clear();
  for (int i = 0; i < engine.getNbIOTensors(); ++i) {
    const char* name = engine.getIOTensorName(i);
    if (engine.getTensorIOMode(name) == TensorIOMode::kINPUT) {
      Dims d = engine.getTensorShape(name);
      r.inputs.push_back(
          randomVec(static_cast<size_t>(d.volume()), seed + static_cast<uint32_t>(i), -2.f, 2.f));
      EXPECT_TRUE(ctx->setTensorAddress(name, r.inputs.back().data()));
    } else {
      outNames.push_back(name);
    }
  }
  r.outputs.assign(outNames.size(), {});
  for (size_t i = 0; i < outNames.size(); ++i) {
    Dims d = ctx->getTensorShape(outNames[i].c_str());
    r.outputs[i].assign(static_cast<size_t>(d.volume()), std::nanf(""));
    EXPECT_TRUE(ctx->setTensorAddress(outNames[i].c_str(), r.outputs[i].data()));
  }
  EXPECT_TRUE(ctx->executeV2()) << ctx->getLastError();
}

// Builds the network for the CPU with the `disabled` passes off (float16 when `fp16`), serializes,
// deserializes and runs it (runEngine).
inline RunResult buildAndRun(const NetFn& fn, const std::vector<std::string>& disabled,
                             uint32_t seed, bool fp16 = false) {
  RunResult r;
  QuietLogger logger;
  auto builder = Builder::create(logger);
  auto net = builder->createNetwork();
  fn(*net);
  auto config = builder->createConfig();
  config->setDeviceType(DeviceType::kCPU);
  config->setDisabledPasses(disabled);
  if (fp16) config->setFlag(BuilderFlag::kFP16);
  auto plan = builder->buildSerializedNetwork(*net, *config);
  EXPECT_NE(plan, nullptr) << builder->getLastError();
  if (!plan) return r;
  auto runtime = Runtime::create(logger);
  auto engine = runtime->deserializeEngine(plan->data(), plan->size());
  EXPECT_NE(engine, nullptr) << logger.errors;
  if (!engine) return r;
  runEngine(*engine, seed, r);
  r.verbose = logger.verbose + logger.info;
  return r;
}

// max |got - want| / max |want|.
inline double relError(const std::vector<float>& got, const std::vector<float>& want) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(got[i]) - want[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(want[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

// The network with `pass` disabled and enabled gives the same finite outputs (relative error
// <= tol) for each input draw in `seeds`, and the enabled build has `fewer` fewer layers. The
// passes in `alsoDisabled` are off in both builds.
inline void expectEquivalent(const NetFn& fn, const std::string& pass, int fewer, double tol = kTol,
                             const std::vector<uint32_t>& seeds = {11u, 97u},
                             const std::vector<std::string>& alsoDisabled = {}) {
  std::vector<std::string> offPasses = alsoDisabled;
  offPasses.push_back(pass);
  for (uint32_t seed : seeds) {
    RunResult off = buildAndRun(fn, offPasses, seed);
    RunResult on = buildAndRun(fn, alsoDisabled, seed);
    ASSERT_EQ(off.outputs.size(), on.outputs.size());
    ASSERT_FALSE(on.outputs.empty());
    for (size_t i = 0; i < on.outputs.size(); ++i) {
      ASSERT_EQ(on.outputs[i].size(), off.outputs[i].size());
      for (float v : on.outputs[i]) ASSERT_TRUE(std::isfinite(v));
      EXPECT_LE(relError(on.outputs[i], off.outputs[i]), tol) << pass << " output " << i;
    }
    EXPECT_EQ(off.layers - on.layers, fewer) << pass << "\n" << on.layerInfo;
  }
}

// A float32 IR tensor of `dims` with values uniform in [lo, hi).
inline std::shared_ptr<ir::TensorData> randomFloats(const std::vector<int64_t>& dims,
                                                    std::mt19937& rng, float lo = -1.f,
                                                    float hi = 1.f) {
  auto t = std::make_shared<ir::TensorData>(DataType::kFLOAT, dims);
  std::uniform_real_distribution<float> u(lo, hi);
  for (int64_t i = 0; i < t->numel(); ++i) t->as<float>()[i] = u(rng);
  return t;
}

// Runs an IR graph with static shapes on the CPU kernels, in topological order (feeds by input
// name); the graph outputs in order.
inline StatusOr<std::vector<ir::TensorDataPtr>> runOnCpu(
    const ir::Graph& g, const std::map<std::string, ir::TensorDataPtr>& feeds) {
  std::unordered_map<const ir::Value*, ir::TensorDataPtr> vals;
  for (const ir::Value* in : g.inputs()) vals[in] = feeds.at(in->name);
  KILN_ASSIGN_OR_RETURN(std::vector<ir::Node*> order, g.topoOrder());
  for (const ir::Node* n : order) {
    std::vector<cpu::CpuTensor> ins(n->inputs.size());
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      const ir::Value* v = n->inputs[i];
      if (!v) continue;
      ir::TensorDataPtr t = v->isConstant() ? v->constant : vals.at(v);
      ins[i].data = const_cast<void*>(t->data());
      ins[i].dtype = t->dtype();
      ins[i].dims = t->dims();
    }
    std::vector<std::shared_ptr<ir::TensorData>> outs;
    std::vector<cpu::CpuTensor> couts(n->outputs.size());
    for (size_t i = 0; i < n->outputs.size(); ++i) {
      const ir::Value* o = n->outputs[i];
      if (!ir::isStatic(o->shape))
        return internalError("%s: output shape is not static", n->describe().c_str());
      auto t = std::make_shared<ir::TensorData>(o->dtype, ir::staticDims(o->shape));
      couts[i].data = t->data();
      couts[i].dtype = t->dtype();
      couts[i].dims = t->dims();
      outs.push_back(t);
    }
    KILN_RETURN_IF_ERROR(cpu::runCpuNode(*n, ins, couts));
    for (size_t i = 0; i < n->outputs.size(); ++i) vals[n->outputs[i]] = outs[i];
  }
  std::vector<ir::TensorDataPtr> result;
  for (const ir::Value* o : g.outputs())
    result.push_back(o->isConstant() ? o->constant : vals.at(o));
  return result;
}

}  // namespace kiln::testing_passes
