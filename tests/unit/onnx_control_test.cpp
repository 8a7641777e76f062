// ONNX If, Loop and Scan, expanded by the importer (src/onnx/importers_control.cpp): models are
// built here with the protobuf API, parsed, built and run through the public API, and their
// outputs are compared with values computed by hand in the comments; refusals must name the
// reason.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "api/network_impl.h"
#include "kiln/kiln.h"
#include "kiln/onnx_parser.h"
#include "onnx/onnx.pb.h"

namespace kiln {
namespace {

class QuietLogger : public Logger {
 public:
  void log(Severity, const char*) noexcept override {}
};

// ---- model building -----------------------------------------------------------------------------

void setInfo(onnx::ValueInfoProto* v, const std::string& name, int32_t type,
             const std::vector<int64_t>& dims) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(type);
  auto* shape = tt->mutable_shape();
  for (int64_t d : dims) {
    if (d < 0)
      shape->add_dim()->set_dim_param("batch");
    else
      shape->add_dim()->set_dim_value(d);
  }
}
void input(onnx::GraphProto& g, const std::string& name, int32_t type,
           const std::vector<int64_t>& dims) {
  setInfo(g.add_input(), name, type, dims);
}
void output(onnx::GraphProto& g, const std::string& name) { g.add_output()->set_name(name); }

onnx::NodeProto* node(onnx::GraphProto& g, const std::string& op,
                      const std::vector<std::string>& ins, const std::vector<std::string>& outs,
                      const std::string& name = "") {
  auto* n = g.add_node();
  n->set_op_type(op);
  if (!name.empty()) n->set_name(name);
  for (const auto& i : ins) n->add_input(i);
  for (const auto& o : outs) n->add_output(o);
  return n;
}
void graphAttr(onnx::NodeProto* n, const std::string& name, const onnx::GraphProto& g) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::GRAPH);
  *a->mutable_g() = g;
}
void intAttr(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
void intsAttr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
void floatInit(onnx::GraphProto& g, const std::string& name, const std::vector<int64_t>& dims,
               const std::vector<float>& v) {
  auto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->add_dims(d);
  for (float x : v) t->add_float_data(x);
}
void int64Init(onnx::GraphProto& g, const std::string& name, const std::vector<int64_t>& dims,
               const std::vector<int64_t>& v) {
  auto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  for (int64_t d : dims) t->add_dims(d);
  for (int64_t x : v) t->add_int64_data(x);
}
void boolInit(onnx::GraphProto& g, const std::string& name, bool v) {
  auto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::BOOL);
  t->add_int32_data(v ? 1 : 0);
}

struct Model {
  onnx::ModelProto proto;
  onnx::GraphProto& g;
  explicit Model(int64_t opset = 17) : g(*proto.mutable_graph()) {
    proto.set_ir_version(8);
    auto* o = proto.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    g.set_name("control");
  }
};

// ---- parse, build, run --------------------------------------------------------------------------

struct ControlRun {
  QuietLogger logger;
  std::unique_ptr<Builder> builder = Builder::create(logger);
  std::unique_ptr<NetworkDefinition> network = builder->createNetwork();
  std::unique_ptr<OnnxParser> parser = OnnxParser::create(*network, logger);

  bool parse(const Model& m) {
    std::string bytes = m.proto.SerializeAsString();
    return parser->parse(bytes.data(), bytes.size());
  }
  std::string errors() const {
    std::string out;
    for (int i = 0; i < parser->getNbErrors(); ++i) out += parser->getError(i).toString() + "\n";
    return out;
  }
  bool hasLayerOfType(const std::string& type) const {
    for (int i = 0; i < network->getNbLayers(); ++i)
      if (type == network->getLayer(i)->getType()) return true;
    return false;
  }
  // Builds for the CPU, runs once; "" on success, else what failed.
  std::string run(const std::vector<std::pair<std::string, void*>>& io) {
    auto config = builder->createConfig();
    auto plan = builder->buildSerializedNetwork(*network, *config);
    if (!plan) return "build: " + builder->getLastError();
    auto runtime = Runtime::create(logger);
    auto engine = runtime->deserializeEngine(plan->data(), plan->size());
    if (!engine) return "deserialize: " + runtime->getLastError();
    auto ctx = engine->createExecutionContext();
    for (const auto& [name, ptr] : io)
      if (!ctx->setTensorAddress(name.c_str(), ptr))
        return "setTensorAddress " + name + ": " + ctx->getLastError();
    if (!ctx->executeV2()) return "execute: " + ctx->getLastError();
    return "";
  }
  std::string shapeOf(const std::string& tensor) {
    Tensor* t = network->getTensor(tensor.c_str());
    return t ? t->getShapeString() : "<no tensor '" + tensor + "'>";
  }
};

void expectFloats(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_FLOAT_EQ(got[i], want[i]) << "element " << i;
}

// ---- If -----------------------------------------------------------------------------------------

// y = If(cond) then Add(x, c) else Mul(x, x); the branches read x and c from the main graph.
Model ifModel(bool cond) {
  Model m;
  input(m.g, "x", onnx::TensorProto::FLOAT, {3});
  floatInit(m.g, "c", {3}, {10.f, 20.f, 30.f});
  boolInit(m.g, "cond", cond);
  onnx::GraphProto thenG, elseG;
  thenG.set_name("then");
  node(thenG, "Add", {"x", "c"}, {"t"}, "add");
  output(thenG, "t");
  elseG.set_name("else");
  node(elseG, "Mul", {"x", "x"}, {"e"}, "mul");
  output(elseG, "e");
  auto* n = node(m.g, "If", {"cond"}, {"y"}, "if");
  graphAttr(n, "then_branch", thenG);
  graphAttr(n, "else_branch", elseG);
  output(m.g, "y");
  return m;
}

TEST(OnnxControl, IfWithConstantConditionImportsTheChosenBranch) {
  for (bool cond : {true, false}) {
    ControlRun r;
    ASSERT_TRUE(r.parse(ifModel(cond))) << r.errors();
    EXPECT_FALSE(r.hasLayerOfType("If"));
    std::vector<float> x{1.f, -2.f, 3.f}, y(3, -1.f);
    ASSERT_EQ(r.run({{"x", x.data()}, {"y", y.data()}}), "");
    // then: x + c = [11, 18, 33]; else: x * x = [1, 4, 9].
    expectFloats(y,
                 cond ? std::vector<float>{11.f, 18.f, 33.f} : std::vector<float>{1.f, 4.f, 9.f});
  }
}

// cond = Equal(Shape(x)[1], k): known from x's static dim 1 (3) although dim 0 is dynamic.
Model shapeIfModel(int64_t k) {
  Model m;
  input(m.g, "x", onnx::TensorProto::FLOAT, {-1, 3});
  int64Init(m.g, "one", {}, {1});
  int64Init(m.g, "k", {}, {k});
  node(m.g, "Shape", {"x"}, {"s"});
  auto* gather = node(m.g, "Gather", {"s", "one"}, {"d1"});
  intAttr(gather, "axis", 0);
  node(m.g, "Equal", {"d1", "k"}, {"is3"});
  onnx::GraphProto thenG, elseG;
  node(thenG, "Relu", {"x"}, {"t"});
  output(thenG, "t");
  node(elseG, "Neg", {"x"}, {"e"});
  output(elseG, "e");
  auto* n = node(m.g, "If", {"is3"}, {"y"}, "if");
  graphAttr(n, "then_branch", thenG);
  graphAttr(n, "else_branch", elseG);
  output(m.g, "y");
  return m;
}

TEST(OnnxControl, IfWithConditionFromShapesImportsTheChosenBranch) {
  for (int64_t k : {3, 4}) {
    ControlRun r;
    ASSERT_TRUE(r.parse(shapeIfModel(k))) << r.errors();
    EXPECT_EQ(r.shapeOf("y"), "[batch,3]");
    // Only the chosen branch's layer is in the network.
    EXPECT_EQ(r.hasLayerOfType("Relu"), k == 3);
    EXPECT_EQ(r.hasLayerOfType("Neg"), k != 3);
  }
}

// A condition known only at run time: both branches run and Where picks each output (exact for
// ONNX's side-effect-free branches); branches with different output shapes are refused.
TEST(OnnxControl, IfWithRuntimeConditionSelectsBetweenBothBranches) {
  {
    Model m = ifModel(true);
    m.g.clear_initializer();
    floatInit(m.g, "c", {3}, {10.f, 20.f, 30.f});
    input(m.g, "cond", onnx::TensorProto::BOOL, {});
    ControlRun r;
    ASSERT_TRUE(r.parse(m)) << r.errors();
    EXPECT_TRUE(r.hasLayerOfType("Add"));
    EXPECT_TRUE(r.hasLayerOfType("Mul"));
    EXPECT_TRUE(r.hasLayerOfType("Where"));
    for (bool cond : {true, false}) {
      std::vector<float> x{1.f, -2.f, 3.f}, y(3, -1.f);
      bool c = cond;
      ASSERT_EQ(r.run({{"x", x.data()}, {"cond", &c}, {"y", y.data()}}), "");
      // then: x + c = [11, 18, 33]; else: x * x = [1, 4, 9].
      expectFloats(y, cond ? std::vector<float>{11.f, 18.f, 33.f}
                           : std::vector<float>{1.f, 4.f, 9.f});
    }
  }
  {
    // cond = Greater(ReduceSum(x), 0): computed from tensor data.
    Model m = ifModel(true);
    m.g.clear_initializer();
    floatInit(m.g, "c", {3}, {10.f, 20.f, 30.f});
    floatInit(m.g, "zero", {}, {0.f});
    auto* rs = m.g.add_node();
    rs->set_op_type("ReduceSum");
    rs->add_input("x");
    rs->add_output("sum");
    intAttr(rs, "keepdims", 0);
    node(m.g, "Greater", {"sum", "zero"}, {"cond"});
    // The If must come after its condition's producers: move it last.
    m.g.mutable_node()->SwapElements(0, 2);
    ControlRun r;
    ASSERT_TRUE(r.parse(m)) << r.errors();
    std::vector<float> pos{1.f, 2.f, 3.f}, neg{-1.f, -2.f, 0.5f}, y(3, -1.f);
    ASSERT_EQ(r.run({{"x", pos.data()}, {"y", y.data()}}), "");
    expectFloats(y, {11.f, 22.f, 33.f});  // sum 6 > 0: x + c
    ASSERT_EQ(r.run({{"x", neg.data()}, {"y", y.data()}}), "");
    expectFloats(y, {1.f, 4.f, 0.25f});  // sum -2.5: x * x
  }
  {
    // The else branch gives a scalar, the then branch [3]: refused, naming both shapes.
    Model m;
    input(m.g, "x", onnx::TensorProto::FLOAT, {3});
    input(m.g, "cond", onnx::TensorProto::BOOL, {});
    onnx::GraphProto thenG, elseG;
    node(thenG, "Relu", {"x"}, {"t"});
    output(thenG, "t");
    auto* rs = elseG.add_node();
    rs->set_op_type("ReduceSum");
    rs->add_input("x");
    rs->add_output("e");
    intAttr(rs, "keepdims", 0);
    output(elseG, "e");
    auto* n = node(m.g, "If", {"cond"}, {"y"}, "if");
    graphAttr(n, "then_branch", thenG);
    graphAttr(n, "else_branch", elseG);
    output(m.g, "y");
    ControlRun r;
    EXPECT_FALSE(r.parse(m));
    EXPECT_NE(r.errors().find("If 'if': the condition is a graph input"), std::string::npos)
        << r.errors();
    EXPECT_NE(r.errors().find("float32[3] (then) and float32[] (else)"), std::string::npos)
        << r.errors();
  }
}

TEST(OnnxControl, SubgraphReferencesAreCheckedAndOrdered) {
  {
    // The then branch reads 'nowhere', which no graph defines.
    Model m = ifModel(true);
    m.g.mutable_node(0)->mutable_attribute(0)->mutable_g()->mutable_node(0)->set_input(1,
                                                                                       "nowhere");
    ControlRun r;
    EXPECT_FALSE(r.parse(m));
    EXPECT_NE(r.errors().find("dangling input 'nowhere' read inside a subgraph of node 'if'"),
              std::string::npos)
        << r.errors();
  }
  {
    // The branch reads 'c2', produced by a node stored after the If: sorted like an explicit input.
    Model m = ifModel(true);
    m.g.mutable_node(0)->mutable_attribute(0)->mutable_g()->mutable_node(0)->set_input(1, "c2");
    node(m.g, "Neg", {"c"}, {"c2"}, "neg");
    ControlRun r;
    ASSERT_TRUE(r.parse(m)) << r.errors();
    std::vector<float> x{1.f, -2.f, 3.f}, y(3, -1.f);
    ASSERT_EQ(r.run({{"x", x.data()}, {"y", y.data()}}), "");
    expectFloats(y, {-9.f, -22.f, -27.f});  // x - c
  }
}

// ---- Loop ---------------------------------------------------------------------------------------

// Loop(M, cond, y0): body y = y * two + float(i) (two from the main graph); scan output y.
Model loopModel(const std::string& tripCount, const std::string& cond) {
  Model m;
  input(m.g, "y0", onnx::TensorProto::FLOAT, {2});
  floatInit(m.g, "two", {}, {2.f});
  onnx::GraphProto body;
  body.set_name("body");
  input(body, "i", onnx::TensorProto::INT64, {});
  input(body, "cond_in", onnx::TensorProto::BOOL, {});
  input(body, "y_in", onnx::TensorProto::FLOAT, {2});
  node(body, "Identity", {"cond_in"}, {"cond_out"});
  auto* cast = node(body, "Cast", {"i"}, {"fi"});
  intAttr(cast, "to", onnx::TensorProto::FLOAT);
  node(body, "Mul", {"y_in", "two"}, {"y2"});
  node(body, "Add", {"y2", "fi"}, {"y_out"});
  node(body, "Identity", {"y_out"}, {"scan"});
  output(body, "cond_out");
  output(body, "y_out");
  output(body, "scan");
  auto* n = node(m.g, "Loop", {tripCount, cond, "y0"}, {"y", "ys"}, "loop");
  graphAttr(n, "body", body);
  output(m.g, "y");
  output(m.g, "ys");
  return m;
}

TEST(OnnxControl, LoopIsUnrolledWithCarriedValueAndScanOutput) {
  Model m = loopModel("M", "");
  int64Init(m.g, "M", {}, {3});
  ControlRun r;
  ASSERT_TRUE(r.parse(m)) << r.errors();
  EXPECT_FALSE(r.hasLayerOfType("Loop"));
  EXPECT_EQ(r.shapeOf("ys"), "[3,2]");
  std::vector<float> y0{1.f, -2.f}, y(2, -1.f), ys(6, -1.f);
  ASSERT_EQ(r.run({{"y0", y0.data()}, {"y", y.data()}, {"ys", ys.data()}}), "");
  // i=0: 2*[1,-2]+0 = [2,-4]; i=1: 2*[2,-4]+1 = [5,-7]; i=2: 2*[5,-7]+2 = [12,-12].
  expectFloats(y, {12.f, -12.f});
  expectFloats(ys, {2.f, -4.f, 5.f, -7.f, 12.f, -12.f});
}

TEST(OnnxControl, LoopTripCountComputedFromConstantsIsEvaluatedAtImport) {
  // M = Cast<int64>(Ceil((limit - start) / delta)) = ceil((5 - 1) / 1.5) = ceil(2.67) = 3, as
  // in Range's function body.
  Model m = loopModel("M", "");
  floatInit(m.g, "start", {}, {1.f});
  floatInit(m.g, "limit", {}, {5.f});
  floatInit(m.g, "delta", {}, {1.5f});
  node(m.g, "Sub", {"limit", "start"}, {"span"});
  node(m.g, "Div", {"span", "delta"}, {"steps"});
  node(m.g, "Ceil", {"steps"}, {"ceil"});
  intAttr(node(m.g, "Cast", {"ceil"}, {"M"}), "to", onnx::TensorProto::INT64);
  ControlRun r;
  ASSERT_TRUE(r.parse(m)) << r.errors();
  EXPECT_EQ(r.shapeOf("ys"), "[3,2]");
  std::vector<float> y0{1.f, -2.f}, y(2, -1.f), ys(6, -1.f);
  ASSERT_EQ(r.run({{"y0", y0.data()}, {"y", y.data()}, {"ys", ys.data()}}), "");
  expectFloats(y, {12.f, -12.f});
  expectFloats(ys, {2.f, -4.f, 5.f, -7.f, 12.f, -12.f});
}

TEST(OnnxControl, LoopWithConditionFromTheIterationNumberStopsWhenItTurnsFalse) {
  // No trip count; cond_out = Less(i, 2): iterations 0, 1, 2 run, the third makes it false.
  Model m = loopModel("", "go");
  boolInit(m.g, "go", true);
  onnx::GraphProto& body = *m.g.mutable_node(0)->mutable_attribute(0)->mutable_g();
  int64Init(body, "limit", {}, {2});
  body.mutable_node(0)->set_op_type("Less");
  body.mutable_node(0)->set_input(0, "i");
  body.mutable_node(0)->add_input("limit");
  ControlRun r;
  ASSERT_TRUE(r.parse(m)) << r.errors();
  std::vector<float> y0{1.f, -2.f}, y(2, -1.f), ys(6, -1.f);
  ASSERT_EQ(r.run({{"y0", y0.data()}, {"y", y.data()}, {"ys", ys.data()}}), "");
  expectFloats(y, {12.f, -12.f});
  expectFloats(ys, {2.f, -4.f, 5.f, -7.f, 12.f, -12.f});
}

TEST(OnnxControl, LoopWithZeroIterationsPassesTheInitialValuesThrough) {
  Model m = loopModel("M", "");
  int64Init(m.g, "M", {}, {0});
  m.g.mutable_output()->RemoveLast();  // the scan output has no shape after 0 iterations
  ControlRun r;
  ASSERT_TRUE(r.parse(m)) << r.errors();
  std::vector<float> y0{1.f, -2.f}, y(2, -1.f);
  ASSERT_EQ(r.run({{"y0", y0.data()}, {"y", y.data()}}), "");
  expectFloats(y, {1.f, -2.f});
}

TEST(OnnxControl, LoopsThatCannotBeUnrolledAreRefusedClearly) {
  {
    Model m = loopModel("M", "");
    input(m.g, "M", onnx::TensorProto::INT64, {});
    ControlRun r;
    EXPECT_FALSE(r.parse(m));
    EXPECT_NE(r.errors().find("Loop 'loop': the trip count is a graph input"), std::string::npos)
        << r.errors();
    EXPECT_NE(r.errors().find("input 'M' of node 'loop' (Loop) must be a constant"),
              std::string::npos)
        << r.errors();
  }
  {
    Model m = loopModel("M", "");
    int64Init(m.g, "M", {}, {5000});
    ControlRun r;
    EXPECT_FALSE(r.parse(m));
    EXPECT_NE(r.errors().find("runs 5000 iterations; Kiln unrolls loops of at most 1024"),
              std::string::npos)
        << r.errors();
  }
  {
    // 1000 iterations of a 5-node body: over the 20000-node cap.
    Model m = loopModel("M", "");
    int64Init(m.g, "M", {}, {1000});
    onnx::GraphProto& body = *m.g.mutable_node(0)->mutable_attribute(0)->mutable_g();
    for (int k = 0; k < 20; ++k) node(body, "Identity", {"y_in"}, {"pad" + std::to_string(k)});
    ControlRun r;
    EXPECT_FALSE(r.parse(m));
    EXPECT_NE(r.errors().find("more than 20000 nodes"), std::string::npos) << r.errors();
  }
  {
    // cond_out = Less(ReduceSum(y_in), 100): data-dependent termination.
    Model m = loopModel("M", "");
    int64Init(m.g, "M", {}, {3});
    onnx::GraphProto& body = *m.g.mutable_node(0)->mutable_attribute(0)->mutable_g();
    floatInit(body, "hundred", {}, {100.f});
    auto* rs = node(body, "ReduceSum", {"y_in"}, {"sum"});
    intAttr(rs, "keepdims", 0);
    node(body, "Less", {"sum", "hundred"}, {"keep_going"});
    body.mutable_output(0)->set_name("keep_going");
    ControlRun r;
    EXPECT_FALSE(r.parse(m));
    EXPECT_NE(r.errors().find("the condition the body computes (output 'keep_going') is not known"),
              std::string::npos)
        << r.errors();
  }
}

TEST(OnnxControl, IfInsideALoopBodyReadsTheBodysValues) {
  // body: y_out = If(Equal(i, 1)) then y_in * 10 else y_in + 1; scan y_out. y0 = 1, M = 3:
  // i=0: 2; i=1: 20; i=2: 21.
  Model m;
  input(m.g, "y0", onnx::TensorProto::FLOAT, {1});
  int64Init(m.g, "M", {}, {3});
  onnx::GraphProto body;
  input(body, "i", onnx::TensorProto::INT64, {});
  input(body, "cond_in", onnx::TensorProto::BOOL, {});
  input(body, "y_in", onnx::TensorProto::FLOAT, {1});
  int64Init(body, "one_i", {}, {1});
  floatInit(body, "ten", {}, {10.f});
  floatInit(body, "one_f", {}, {1.f});
  node(body, "Identity", {"cond_in"}, {"cond_out"});
  node(body, "Equal", {"i", "one_i"}, {"is1"});
  onnx::GraphProto thenG, elseG;
  node(thenG, "Mul", {"y_in", "ten"}, {"t"});
  output(thenG, "t");
  node(elseG, "Add", {"y_in", "one_f"}, {"e"});
  output(elseG, "e");
  auto* inner = node(body, "If", {"is1"}, {"y_out"}, "inner");
  graphAttr(inner, "then_branch", thenG);
  graphAttr(inner, "else_branch", elseG);
  output(body, "cond_out");
  output(body, "y_out");
  output(body, "y_out");
  auto* n = node(m.g, "Loop", {"M", "", "y0"}, {"y", "ys"}, "loop");
  graphAttr(n, "body", body);
  output(m.g, "y");
  output(m.g, "ys");
  ControlRun r;
  ASSERT_TRUE(r.parse(m)) << r.errors();
  std::vector<float> y0{1.f}, y(1, -1.f), ys(3, -1.f);
  ASSERT_EQ(r.run({{"y0", y0.data()}, {"y", y.data()}, {"ys", ys.data()}}), "");
  expectFloats(y, {21.f});
  expectFloats(ys, {2.f, 20.f, 21.f});
}

// ---- Scan ---------------------------------------------------------------------------------------

// Scan over the columns of x[2,3] (axis 1), reversed; state s = s + column; scan output s.
Model scanModel(int64_t outputDirection, int64_t outputAxis) {
  Model m(16);
  input(m.g, "s0", onnx::TensorProto::FLOAT, {2});
  input(m.g, "x", onnx::TensorProto::FLOAT, {2, 3});
  onnx::GraphProto body;
  input(body, "s_in", onnx::TensorProto::FLOAT, {2});
  input(body, "col", onnx::TensorProto::FLOAT, {2});
  node(body, "Add", {"s_in", "col"}, {"s_out"});
  node(body, "Identity", {"s_out"}, {"z"});
  output(body, "s_out");
  output(body, "z");
  auto* n = node(m.g, "Scan", {"s0", "x"}, {"s", "zs"}, "scan");
  graphAttr(n, "body", body);
  intAttr(n, "num_scan_inputs", 1);
  intsAttr(n, "scan_input_axes", {-1});
  intsAttr(n, "scan_input_directions", {1});
  intsAttr(n, "scan_output_axes", {outputAxis});
  intsAttr(n, "scan_output_directions", {outputDirection});
  output(m.g, "s");
  output(m.g, "zs");
  return m;
}

TEST(OnnxControl, ScanIsUnrolledOverItsAxesAndDirections) {
  // x = [[1,2,3],[4,5,6]], s0 = [0,0], columns read last first: s = [3,6], [5,11], [6,15].
  struct Case {
    int64_t dir, axis;
    std::string shape;
    std::vector<float> zs;
  };
  const std::vector<Case> cases = {
      {0, 0, "[3,2]", {3.f, 6.f, 5.f, 11.f, 6.f, 15.f}},
      {0, 1, "[2,3]", {3.f, 5.f, 6.f, 6.f, 11.f, 15.f}},
      {1, -1, "[2,3]", {6.f, 5.f, 3.f, 15.f, 11.f, 6.f}},
  };
  for (const Case& c : cases) {
    ControlRun r;
    ASSERT_TRUE(r.parse(scanModel(c.dir, c.axis))) << r.errors();
    EXPECT_FALSE(r.hasLayerOfType("Scan"));
    EXPECT_EQ(r.shapeOf("zs"), c.shape);
    std::vector<float> s0{0.f, 0.f}, x{1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, s(2, -1.f), zs(6, -1.f);
    ASSERT_EQ(r.run({{"s0", s0.data()}, {"x", x.data()}, {"s", s.data()}, {"zs", zs.data()}}), "");
    expectFloats(s, {6.f, 15.f});
    expectFloats(zs, c.zs);
  }
}

TEST(OnnxControl, ScanOverADynamicLengthIsRefusedClearly) {
  Model m = scanModel(0, 0);
  m.g.mutable_input(1)
      ->mutable_type()
      ->mutable_tensor_type()
      ->mutable_shape()
      ->mutable_dim(1)
      ->set_dim_param("len");
  ControlRun r;
  EXPECT_FALSE(r.parse(m));
  EXPECT_NE(r.errors().find("Scan 'scan': the sequence length of scan input 'x' (dim 1) is not "
                            "known when the engine is built"),
            std::string::npos)
      << r.errors();
}

TEST(OnnxControl, ErrorsInsideABodyNameTheBodyAndTheNode) {
  Model m = loopModel("M", "");
  int64Init(m.g, "M", {}, {2});
  onnx::GraphProto& body = *m.g.mutable_node(0)->mutable_attribute(0)->mutable_g();
  node(body, "NoSuchOp", {"y_in"}, {"junk"}, "mystery");
  ControlRun r;
  EXPECT_FALSE(r.parse(m));
  EXPECT_NE(r.errors().find("in the body of Loop 'loop' (iteration 0), node 'mystery' (NoSuchOp): "
                            "unsupported operator"),
            std::string::npos)
      << r.errors();
}

TEST(OnnxControl, BodyNodesOfOldOpsetModelsGetTheOpset9Check) {
  // Opset 8 imports as 9 only for ops unchanged since 8: Cast changed in 9, also inside a body.
  Model m = ifModel(true);
  m.proto.mutable_opset_import(0)->set_version(8);
  onnx::GraphProto& thenG = *m.g.mutable_node(0)->mutable_attribute(0)->mutable_g();
  intAttr(node(thenG, "Cast", {"t"}, {"t2"}, "cast"), "to", onnx::TensorProto::FLOAT);
  thenG.mutable_output(0)->set_name("t2");
  ControlRun r;
  EXPECT_FALSE(r.parse(m));
  EXPECT_NE(r.errors().find("node 'cast' (Cast): the model uses opset 8"), std::string::npos)
      << r.errors();
  EXPECT_NE(r.errors().find("Cast changed in opset 9"), std::string::npos) << r.errors();
}

}  // namespace
}  // namespace kiln
