// Tests of the ONNX parser: models are built here with the protobuf API, serialized, and parsed;
// the resulting network's structure, shapes and constants are checked against values written by
// hand, and malformed files must fail with a message (never crash).
#include "kiln/onnx_parser.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "api/network_impl.h"
#include "common/half.h"
#include "kiln/kiln.h"
#include "onnx/onnx.pb.h"
#include "onnx/op_versions.h"

namespace kiln {
namespace {

class CapturingLogger : public Logger {
 public:
  void log(Severity s, const char* msg) noexcept override {
    if (s <= Severity::kWARNING) messages.emplace_back(msg);
  }
  std::string all() const {
    std::string out;
    for (const auto& m : messages) out += m + "\n";
    return out;
  }
  std::vector<std::string> messages;
};

using Dim = std::variant<int64_t, std::string>;  // a value, a dim_param, or "" for unknown

// Builds a ModelProto with the protobuf API.
struct ModelBuilder {
  onnx::ModelProto model;
  onnx::GraphProto* graph;

  explicit ModelBuilder(int64_t opset = 17, int64_t irVersion = 8) {
    model.set_ir_version(irVersion);
    model.set_producer_name("kiln-test");
    auto* o = model.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    graph = model.mutable_graph();
    graph->set_name("test");
  }
  void input(const std::string& name, int32_t elemType, const std::vector<Dim>& dims) {
    auto* vi = graph->add_input();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elemType);
    auto* shape = tt->mutable_shape();
    for (const Dim& d : dims) {
      auto* dim = shape->add_dim();
      if (std::holds_alternative<int64_t>(d))
        dim->set_dim_value(std::get<int64_t>(d));
      else if (!std::get<std::string>(d).empty())
        dim->set_dim_param(std::get<std::string>(d));
    }
  }
  void output(const std::string& name) { graph->add_output()->set_name(name); }
  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs, const std::string& name = "") {
    auto* n = graph->add_node();
    n->set_op_type(op);
    if (!name.empty()) n->set_name(name);
    for (const auto& i : inputs) n->add_input(i);
    for (const auto& o : outputs) n->add_output(o);
    return n;
  }
  onnx::TensorProto* floatInit(const std::string& name, const std::vector<int64_t>& dims,
                               const std::vector<float>& v) {
    auto* t = graph->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    for (float x : v) t->add_float_data(x);
    return t;
  }
  onnx::TensorProto* int64Init(const std::string& name, const std::vector<int64_t>& dims,
                               const std::vector<int64_t>& v) {
    auto* t = graph->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    for (int64_t d : dims) t->add_dims(d);
    for (int64_t x : v) t->add_int64_data(x);
    return t;
  }
  std::string bytes() const { return model.SerializeAsString(); }
};

void attrInt(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
void attrFloat(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}
void attrString(onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}
void attrInts(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

// A parsed network with its builder, logger and parser kept alive.
struct Parsed {
  CapturingLogger logger;
  std::unique_ptr<Builder> builder;
  std::unique_ptr<NetworkDefinition> network;
  std::unique_ptr<OnnxParser> parser;
  bool ok = false;

  Parsed() {
    builder = Builder::create(logger);
    network = builder->createNetwork();
    parser = OnnxParser::create(*network, logger);
  }
  bool parse(const std::string& bytes, const char* dir = nullptr) {
    ok = parser->parse(bytes.data(), bytes.size(), dir);
    return ok;
  }
  std::string errors() const {
    std::string out;
    for (int i = 0; i < parser->getNbErrors(); ++i) out += parser->getError(i).toString() + "\n";
    return out;
  }
  ir::Graph& graph() { return *network->impl().graph; }
  Layer* layer(const std::string& name) {
    for (int i = 0; i < network->getNbLayers(); ++i)
      if (name == network->getLayer(i)->getName()) return network->getLayer(i);
    return nullptr;
  }
  std::vector<std::string> layerTypes() {
    std::vector<std::string> out;
    for (int i = 0; i < network->getNbLayers(); ++i)
      out.emplace_back(network->getLayer(i)->getType());
    return out;
  }
  std::string shapeOf(const std::string& tensor) {
    Tensor* t = network->getTensor(tensor.c_str());
    return t ? t->getShapeString() : "<no tensor '" + tensor + "'>";
  }
};

std::vector<int64_t> constInts(const Tensor* t, NetworkDefinition& net) {
  const ir::Value* v = net.impl().graph->findValue(t->getName());
  if (!v || !v->constant) return {};
  return v->constant->toInt64Vector();
}

std::vector<double> constDoubles(const ir::Value* v) {
  std::vector<double> out;
  if (!v || !v->constant) return out;
  for (int64_t i = 0; i < v->constant->numel(); ++i) out.push_back(v->constant->doubleAt(i));
  return out;
}

// ---- structure ----------------------------------------------------------------------------------

TEST(OnnxParser, SupportedOpsCoverEveryIrOpAndTheRewrittenOnes) {
  std::vector<std::string> ops = OnnxParser::supportedOps();
  for (int i = 0; i < ir::kNumOps; ++i) {
    // Plugin layers come from nodes that match a registered plugin, not from an op named Plugin.
    if (static_cast<ir::OpKind>(i) == ir::OpKind::kPlugin) continue;
    // Fused layers come from the optimizer's passes (ir::isInternalOp), not from ONNX nodes.
    if (ir::isInternalOp(static_cast<ir::OpKind>(i))) continue;
    const char* name = ir::opName(static_cast<ir::OpKind>(i));
    EXPECT_NE(std::find(ops.begin(), ops.end(), name), ops.end()) << name << " has no importer";
  }
  for (const char* extra : {"Constant", "Dropout", "Upsample"})
    EXPECT_NE(std::find(ops.begin(), ops.end(), extra), ops.end()) << extra;
}

TEST(OnnxParser, ConvReluNetworkKeepsNamesTypesAndSymbolicShapes) {
  ModelBuilder mb(13);
  mb.input("x", onnx::TensorProto::FLOAT,
           {std::string("batch"), int64_t{3}, int64_t{8}, int64_t{8}});
  std::vector<float> w(4 * 3 * 3 * 3);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.01f * static_cast<float>(i);
  mb.floatInit("W", {4, 3, 3, 3}, w);
  // Bias as little-endian raw_data.
  auto* b = mb.graph->add_initializer();
  b->set_name("B");
  b->set_data_type(onnx::TensorProto::FLOAT);
  b->add_dims(4);
  std::vector<float> bias{0.5f, -1.f, 2.f, 0.25f};
  b->set_raw_data(std::string(reinterpret_cast<const char*>(bias.data()), 16));
  auto* conv = mb.node("Conv", {"x", "W", "B"}, {"c"}, "conv1");
  attrInts(conv, "kernel_shape", {3, 3});
  attrInts(conv, "pads", {1, 1, 1, 1});
  mb.node("Relu", {"c"}, {"y"});
  mb.output("y");

  Parsed p;
  ASSERT_TRUE(p.parse(mb.bytes())) << p.errors() << p.logger.all();
  EXPECT_EQ(p.parser->getNbErrors(), 0);
  ASSERT_EQ(p.network->getNbInputs(), 1);
  Tensor* x = p.network->getInput(0);
  EXPECT_STREQ(x->getName(), "x");
  EXPECT_EQ(x->getType(), DataType::kFLOAT);
  EXPECT_EQ(x->getShapeString(), "[batch,3,8,8]");
  EXPECT_EQ(x->getDimensions(), (Dims{-1, 3, 8, 8}));
  ASSERT_EQ(p.network->getNbLayers(), 2);
  EXPECT_STREQ(p.network->getLayer(0)->getName(), "conv1");
  EXPECT_STREQ(p.network->getLayer(0)->getType(), "Conv");
  EXPECT_STREQ(p.network->getLayer(1)->getName(), "Relu_1");  // generated: <OpType>_<index>
  EXPECT_STREQ(p.network->getLayer(1)->getType(), "Relu");
  EXPECT_STREQ(p.network->getLayer(0)->getOutput(0)->getName(), "c");
  ASSERT_EQ(p.network->getNbOutputs(), 1);
  EXPECT_STREQ(p.network->getOutput(0)->getName(), "y");
  EXPECT_EQ(p.shapeOf("y"), "[batch,4,8,8]");
  Tensor* wt = p.network->getTensor("W");
  ASSERT_NE(wt, nullptr);
  EXPECT_TRUE(wt->isConstant());
  std::vector<double> bv = constDoubles(p.graph().findValue("B"));
  EXPECT_EQ(bv, (std::vector<double>{0.5, -1.0, 2.0, 0.25}));
  std::vector<double> wv = constDoubles(p.graph().findValue("W"));
  ASSERT_EQ(wv.size(), w.size());
  EXPECT_EQ(wv[17], static_cast<double>(0.01f * 17));
}

TEST(OnnxParser, UnknownDimsGetFreshSymbolsAndInitializerInputsAreConstants) {
  ModelBuilder mb(13, 3);  // IR 3 lists initializers among the inputs
  mb.input("x", onnx::TensorProto::FLOAT, {std::string(""), int64_t{4}});
  mb.input("w", onnx::TensorProto::FLOAT, {int64_t{4}, int64_t{2}});
  mb.floatInit("w", {4, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  mb.node("MatMul", {"x", "w"}, {"y"}, "mm");
  mb.output("y");
  Parsed p;
  ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
  ASSERT_EQ(p.network->getNbInputs(), 1);
  EXPECT_EQ(p.network->getInput(0)->getShapeString(), "[x_d0,4]");
  EXPECT_TRUE(p.network->getTensor("w")->isConstant());
  EXPECT_FALSE(p.network->getTensor("w")->isNetworkInput());
  EXPECT_EQ(p.shapeOf("y"), "[x_d0,2]");
}

TEST(OnnxParser, NodesOutOfOrderAreSorted) {
  ModelBuilder mb(13);
  mb.input("x", onnx::TensorProto::FLOAT, {int64_t{2}, int64_t{3}});
  mb.node("Neg", {"r"}, {"y"}, "second");
  mb.node("Relu", {"x"}, {"r"}, "first");
  mb.output("y");
  Parsed p;
  ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
  ASSERT_EQ(p.network->getNbLayers(), 2);
  EXPECT_STREQ(p.network->getLayer(0)->getName(), "first");
  EXPECT_STREQ(p.network->getLayer(1)->getName(), "second");
}

TEST(OnnxParser, NodeNamesEqualToTensorNamesAndDuplicateNodeNamesAreKept) {
  ModelBuilder mb(13);
  mb.input("x", onnx::TensorProto::FLOAT, {int64_t{2}});
  mb.node("Relu", {"x"}, {"a"}, "a");  // node and tensor share a name (tf2onnx does this)
  mb.node("Neg", {"a"}, {"b"}, "n");
  mb.node("Abs", {"b"}, {"c"}, "n");  // duplicate node name
  mb.output("c");
  Parsed p;
  ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
  ASSERT_EQ(p.network->getNbLayers(), 3);
  EXPECT_STREQ(p.network->getLayer(0)->getName(), "a");
  EXPECT_STREQ(p.network->getLayer(1)->getName(), "n");
  EXPECT_STREQ(p.network->getLayer(2)->getName(), "n_1");
  EXPECT_STREQ(p.network->getLayer(0)->getOutput(0)->getName(), "a");
}

// ---- old-opset rewrites -------------------------------------------------------------------------

TEST(OnnxParser, SoftmaxOpset11On3DInputCoercesTo2DAndRestoresTheShape) {
  ModelBuilder mb(11);
  mb.input("x", onnx::TensorProto::FLOAT, {std::string("n"), int64_t{3}, int64_t{4}});
  auto* sm = mb.node("Softmax", {"x"}, {"y"}, "sm");
  attrInt(sm, "axis", 1);
  mb.output("y");
  Parsed p;
  ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
  EXPECT_EQ(p.layerTypes(), (std::vector<std::string>{"Flatten", "Softmax", "Shape", "Reshape"}));
  // The softmax runs over the flattened [n, 12].
  EXPECT_EQ(p.network->getLayer(1)->getOutput(0)->getShapeString(), "[n,12]");
  EXPECT_EQ(p.network->getLayer(1)->getAttributesString(), "axis=-1");
  EXPECT_EQ(p.shapeOf("y"), "[n,3,4]");
  EXPECT_STREQ(p.network->getLayer(3)->getName(), "sm");
}

TEST(OnnxParser, SoftmaxOldOpsetOnLastAxisAndNewOpsetAreOneLayer) {
  for (int64_t opset : {9, 13}) {
    ModelBuilder mb(opset);
    mb.input("x", onnx::TensorProto::FLOAT, {int64_t{2}, int64_t{5}});
    mb.node("LogSoftmax", {"x"}, {"y"}, "lsm");  // opset 9 default axis=1 = last axis here
    mb.output("y");
    Parsed p;
    ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
    EXPECT_EQ(p.layerTypes(), (std::vector<std::string>{"LogSoftmax"})) << opset;
    EXPECT_EQ(p.shapeOf("y"), "[2,5]");
  }
}

TEST(OnnxParser, SqueezeAndUnsqueezeAxesAttributesBecomeInputs) {
  ModelBuilder mb(11);
  mb.input("x", onnx::TensorProto::FLOAT, {int64_t{1}, int64_t{3}, int64_t{1}, int64_t{4}});
  attrInts(mb.node("Squeeze", {"x"}, {"s"}, "sq"), "axes", {0, 2});
  attrInts(mb.node("Unsqueeze", {"s"}, {"u"}, "usq"), "axes", {-1});
  mb.output("u");
  Parsed p;
  ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
  EXPECT_EQ(p.shapeOf("s"), "[3,4]");
  EXPECT_EQ(p.shapeOf("u"), "[3,4,1]");
  Layer* sq = p.layer("sq");
  ASSERT_NE(sq, nullptr);
  ASSERT_EQ(sq->getNbInputs(), 2);
  EXPECT_TRUE(sq->getInput(1)->isConstant());
  EXPECT_EQ(constInts(sq->getInput(1), *p.network), (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(sq->getAttributesString(), "");
}

TEST(OnnxParser, SplitAttributeBecomesInputAndEqualSplitsUseNumOutputs) {
  {
    ModelBuilder mb(11);
    mb.input("x", onnx::TensorProto::FLOAT, {int64_t{3}, int64_t{6}});
    auto* s = mb.node("Split", {"x"}, {"a", "b"}, "split");
    attrInt(s, "axis", 1);
    attrInts(s, "split", {2, 4});
    mb.output("a");
    mb.output("b");
    Parsed p;
    ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
    EXPECT_EQ(p.shapeOf("a"), "[3,2]");
    EXPECT_EQ(p.shapeOf("b"), "[3,4]");
    EXPECT_EQ(constInts(p.layer("split")->getInput(1), *p.network), (std::vector<int64_t>{2, 4}));
  }
  {
    ModelBuilder mb(13);
    mb.input("x", onnx::TensorProto::FLOAT, {int64_t{3}, int64_t{6}});
    attrInt(mb.node("Split", {"x"}, {"a", "b", "c"}, "split"), "axis", 1);
    mb.output("c");
    Parsed p;
    ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
    EXPECT_EQ(p.shapeOf("a"), "[3,2]");
    EXPECT_EQ(p.shapeOf("c"), "[3,2]");
    EXPECT_EQ(p.layer("split")->getAttributesString(), "axis=1 num_outputs=3");
  }
}

TEST(OnnxParser, ClipOpset9MinMaxAttributesBecomeScalarInputs) {
  ModelBuilder mb(9);
  mb.input("x", onnx::TensorProto::FLOAT, {int64_t{2}, int64_t{3}});
  auto* c = mb.node("Clip", {"x"}, {"y"}, "clip");
  attrFloat(c, "min", -0.5f);
  attrFloat(c, "max", 6.f);
  mb.output("y");
  Parsed p;
  ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
  Layer* l = p.layer("clip");
  ASSERT_NE(l, nullptr);
  ASSERT_EQ(l->getNbInputs(), 3);
  EXPECT_EQ(constDoubles(p.graph().findValue(l->getInput(1)->getName())),
            std::vector<double>{-0.5});
  EXPECT_EQ(constDoubles(p.graph().findValue(l->getInput(2)->getName())), std::vector<double>{6.0});
  EXPECT_EQ(l->getInput(1)->getDimensions().nbDims, 0);
  EXPECT_EQ(p.shapeOf("y"), "[2,3]");

  // Only max given: min is absent (null), not a made-up bound.
  ModelBuilder mb2(9);
  mb2.input("x", onnx::TensorProto::FLOAT, {int64_t{2}});
  attrFloat(mb2.node("Clip", {"x"}, {"y"}, "clip"), "max", 1.f);
  mb2.output("y");
  Parsed p2;
  ASSERT_TRUE(p2.parse(mb2.bytes())) << p2.errors();
  ASSERT_EQ(p2.layer("clip")->getNbInputs(), 3);
  EXPECT_EQ(p2.layer("clip")->getInput(1), nullptr);
}

TEST(OnnxParser, PadOpset9AttributesBecomeInputs) {
  ModelBuilder mb(9);
  mb.input("x", onnx::TensorProto::FLOAT, {int64_t{2}, int64_t{3}});
  auto* n = mb.node("Pad", {"x"}, {"y"}, "pad");
  attrInts(n, "pads", {0, 1, 1, 2});
  attrFloat(n, "value", 1.5f);
  mb.output("y");
  Parsed p;
  ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
  EXPECT_EQ(p.shapeOf("y"), "[3,6]");
  Layer* l = p.layer("pad");
  ASSERT_EQ(l->getNbInputs(), 3);
  EXPECT_EQ(constInts(l->getInput(1), *p.network), (std::vector<int64_t>{0, 1, 1, 2}));
  EXPECT_EQ(constDoubles(p.graph().findValue(l->getInput(2)->getName())), std::vector<double>{1.5});
  EXPECT_EQ(l->getAttributesString(), "");  // mode defaults to constant
}

TEST(OnnxParser, UpsampleOpset9BecomesAsymmetricFloorResize) {
  ModelBuilder mb(9);
  mb.input("x", onnx::TensorProto::FLOAT, {int64_t{1}, int64_t{1}, int64_t{2}, int64_t{3}});
  mb.floatInit("scales", {4}, {1, 1, 2, 2});
  attrString(mb.node("Upsample", {"x", "scales"}, {"y"}, "up"), "mode", "nearest");
  mb.output("y");
  Parsed p;
  ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
  EXPECT_EQ(p.layerTypes(), std::vector<std::string>{"Resize"});
  EXPECT_EQ(p.shapeOf("y"), "[1,1,4,6]");
  Layer* l = p.layer("up");
  EXPECT_EQ(l->getInput(1), nullptr);  // roi absent
  EXPECT_STREQ(l->getInput(2)->getName(), "scales");
  std::string attrs = l->getAttributesString();
  EXPECT_NE(attrs.find("coordinate_transformation_mode=\"asymmetric\""), std::string::npos)
      << attrs;
  EXPECT_NE(attrs.find("nearest_mode=\"floor\""), std::string::npos) << attrs;
  EXPECT_NE(attrs.find(" mode=\"nearest\""), std::string::npos) << attrs;
}

TEST(OnnxParser, ResizeOpset13EmptyRoiAndScalesBecomeAbsent) {
  ModelBuilder mb(13);
  mb.input("x", onnx::TensorProto::FLOAT, {int64_t{1}, int64_t{2}, int64_t{4}, int64_t{4}});
  mb.floatInit("roi", {0}, {});
  mb.floatInit("scales", {0}, {});
  mb.int64Init("sizes", {4}, {1, 2, 8, 6});
  attrString(mb.node("Resize", {"x", "roi", "scales", "sizes"}, {"y"}, "rs"), "mode", "linear");
  mb.output("y");
  Parsed p;
  ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
  Layer* l = p.layer("rs");
  ASSERT_EQ(l->getNbInputs(), 4);
  EXPECT_EQ(l->getInput(1), nullptr);
  EXPECT_EQ(l->getInput(2), nullptr);
  EXPECT_STREQ(l->getInput(3)->getName(), "sizes");
  EXPECT_EQ(p.shapeOf("y"), "[1,2,8,6]");
}

TEST(OnnxParser, OldAttributeFormsOfSliceTopKAndReduce) {
  ModelBuilder mb(9);
  mb.input("x", onnx::TensorProto::FLOAT, {int64_t{4}, int64_t{10}});
  auto* s = mb.node("Slice", {"x"}, {"s"}, "slice");
  attrInts(s, "starts", {1, 2});
  attrInts(s, "ends", {3, 100});
  attrInts(s, "axes", {0, 1});
  auto* t = mb.node("TopK", {"s"}, {"v", "i"}, "topk");
  attrInt(t, "k", 3);
  auto* r = mb.node("ReduceMean", {"v"}, {"m"}, "mean");
  attrInts(r, "axes", {1});
  attrInt(r, "keepdims", 0);
  auto* rs = mb.node("ReduceSum", {"x"}, {"rs"}, "sum");
  attrInts(rs, "axes", {0});
  mb.output("m");
  mb.output("i");
  mb.output("rs");
  Parsed p;
  ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
  EXPECT_EQ(p.shapeOf("s"), "[2,8]");
  EXPECT_EQ(p.shapeOf("v"), "[2,3]");
  EXPECT_EQ(p.network->getTensor("i")->getType(), DataType::kINT64);
  EXPECT_EQ(p.shapeOf("m"), "[2]");
  EXPECT_EQ(p.shapeOf("rs"), "[1,10]");
  EXPECT_EQ(constInts(p.layer("topk")->getInput(1), *p.network), std::vector<int64_t>{3});
  EXPECT_EQ(constInts(p.layer("mean")->getInput(1), *p.network), std::vector<int64_t>{1});
  EXPECT_EQ(p.layer("mean")->getAttributesString(), "keepdims=0");
}

TEST(OnnxParser, CastMapsOnnxTypesAndRefusesStrings) {
  ModelBuilder mb(13);
  mb.input("x", onnx::TensorProto::FLOAT, {int64_t{2}});
  attrInt(mb.node("Cast", {"x"}, {"h"}, "cast"), "to", onnx::TensorProto::FLOAT16);
  mb.output("h");
  Parsed p;
  ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
  EXPECT_EQ(p.network->getTensor("h")->getType(), DataType::kHALF);
  EXPECT_EQ(p.layer("cast")->getAttributesString(),
            "to=" + std::to_string(static_cast<int>(DataType::kHALF)));

  ModelBuilder bad(13);
  bad.input("x", onnx::TensorProto::FLOAT, {int64_t{2}});
  attrInt(bad.node("Cast", {"x"}, {"s"}, "to_string"), "to", onnx::TensorProto::STRING);
  bad.output("s");
  Parsed q;
  EXPECT_FALSE(q.parse(bad.bytes()));
  ASSERT_EQ(q.parser->getNbErrors(), 1);
  EXPECT_EQ(q.parser->getError(0).nodeName, "to_string");
  EXPECT_NE(q.parser->getError(0).message.find("STRING"), std::string::npos) << q.errors();
}

TEST(OnnxParser, ConstantNodesBecomeConstantsAndFeedShapes) {
  ModelBuilder mb(13);
  mb.input("x", onnx::TensorProto::FLOAT, {std::string("b"), int64_t{2}, int64_t{3}});
  auto* c = mb.node("Constant", {}, {"shape"}, "const_shape");
  attrInts(c, "value_ints", {0, -1});
  mb.node("Reshape", {"x", "shape"}, {"y"}, "reshape");
  auto* f = mb.node("Constant", {}, {"two"});
  auto* a = f->add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  a->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
  a->mutable_t()->add_float_data(2.f);
  mb.node("Mul", {"y", "two"}, {"z"}, "mul");
  mb.output("z");
  Parsed p;
  ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
  EXPECT_EQ(p.layerTypes(), (std::vector<std::string>{"Reshape", "Mul"}));
  EXPECT_TRUE(p.network->getTensor("shape")->isConstant());
  EXPECT_EQ(p.shapeOf("y"), "[b,6]");
  EXPECT_EQ(constDoubles(p.graph().findValue("two")), std::vector<double>{2.0});
}

// Conditions on dims (ONNX's Attention function body: Not(Equal(..)) And Equal(Mod(..), 0) ->
// Where) are shape computations too: Not/And/Or/Xor carry their constant values, so the Reshape
// target stays known ([b,3,8]) instead of being refused as computed from tensor data.
TEST(OnnxParser, LogicalOpsOnShapeConditionsKeepValuesKnown) {
  ModelBuilder mb(17);
  mb.input("x", onnx::TensorProto::FLOAT, {std::string("b"), int64_t{4}, int64_t{6}});
  onnx::NodeProto* heads = mb.node("Shape", {"x"}, {"s"});  // [4]
  attrInt(heads, "start", 1);
  attrInt(heads, "end", 2);
  mb.int64Init("c4", {1}, {4});
  mb.int64Init("one", {1}, {1});
  mb.int64Init("c2", {1}, {2});
  mb.int64Init("c3", {1}, {3});
  mb.int64Init("cm1", {1}, {-1});
  attrInt(mb.node("Cast", {"one"}, {"t"}), "to", onnx::TensorProto::BOOL);
  mb.node("Equal", {"s", "c4"}, {"e"});         // [1]
  mb.node("Not", {"e"}, {"n"});                 // [0]
  mb.node("And", {"n", "t"}, {"a"});            // [0]
  mb.node("Or", {"a", "e"}, {"o"});             // [1]
  mb.node("Xor", {"o", "t"}, {"xo"});           // [0]
  mb.node("Where", {"xo", "c2", "c3"}, {"w"});  // [3]
  attrInt(mb.node("Shape", {"x"}, {"b"}), "end", 1);
  attrInt(mb.node("Concat", {"b", "w", "cm1"}, {"target"}), "axis", 0);
  mb.node("Reshape", {"x", "target"}, {"y"}, "reshape");
  mb.output("y");
  Parsed p;
  ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
  EXPECT_EQ(p.shapeOf("y"), "[b,3,8]");
}

TEST(OnnxParser, BatchNormTrainingOutputsAndDropoutMask) {
  auto bn = [](bool useMean) {
    ModelBuilder mb(9);
    mb.input("x", onnx::TensorProto::FLOAT, {int64_t{1}, int64_t{2}, int64_t{3}});
    for (const char* n : {"s", "b", "m", "v"}) mb.floatInit(n, {2}, {1.f, 2.f});
    mb.node("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y", "mean_out", "var_out"}, "bn");
    mb.output("y");
    if (useMean) mb.output("mean_out");
    return mb.bytes();
  };
  Parsed ok;
  ASSERT_TRUE(ok.parse(bn(false))) << ok.errors();
  EXPECT_EQ(ok.layerTypes(), std::vector<std::string>{"BatchNormalization"});
  EXPECT_EQ(ok.shapeOf("y"), "[1,2,3]");
  Parsed bad;
  EXPECT_FALSE(bad.parse(bn(true)));
  ASSERT_GE(bad.parser->getNbErrors(), 1);
  EXPECT_EQ(bad.parser->getError(0).code, ParserError::Code::kUNSUPPORTED_NODE);
  EXPECT_NE(bad.parser->getError(0).message.find("mean_out"), std::string::npos) << bad.errors();
  EXPECT_EQ(bad.network->getNbLayers(), 0);  // nothing half-imported stays behind

  auto dropout = [](bool useMask) {
    ModelBuilder mb(13);
    mb.input("x", onnx::TensorProto::FLOAT, {int64_t{4}});
    mb.node("Dropout", {"x"}, {"y", "mask"}, "drop");
    mb.output("y");
    if (useMask) mb.output("mask");
    return mb.bytes();
  };
  Parsed d;
  ASSERT_TRUE(d.parse(dropout(false))) << d.errors();
  EXPECT_EQ(d.layerTypes(), std::vector<std::string>{"Identity"});
  // The mask is all true at inference: ConstantOfShape(Shape(x)) of bool.
  Parsed dm;
  ASSERT_TRUE(dm.parse(dropout(true))) << dm.errors();
  EXPECT_EQ(dm.layerTypes(), (std::vector<std::string>{"Identity", "Shape", "ConstantOfShape"}));
  EXPECT_EQ(dm.shapeOf("mask"), "[4]");
  EXPECT_EQ(dm.graph().findValue("mask")->dtype, DataType::kBOOL);
}

TEST(OnnxParser, GroupNormOpset18ScaleAndBiasExpandPerChannel) {
  ModelBuilder mb(18);
  mb.input("x", onnx::TensorProto::FLOAT, {int64_t{2}, int64_t{6}, int64_t{5}});
  mb.floatInit("scale", {3}, {1.f, 2.f, 3.f});
  mb.floatInit("bias", {3}, {-1.f, 0.f, 1.f});
  auto* n = mb.node("GroupNormalization", {"x", "scale", "bias"}, {"y"}, "gn");
  attrInt(n, "num_groups", 3);
  mb.output("y");
  Parsed p;
  ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
  Layer* l = p.layer("gn");
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(constDoubles(p.graph().findValue(l->getInput(1)->getName())),
            (std::vector<double>{1, 1, 2, 2, 3, 3}));
  EXPECT_EQ(constDoubles(p.graph().findValue(l->getInput(2)->getName())),
            (std::vector<double>{-1, -1, 0, 0, 1, 1}));
  EXPECT_EQ(p.shapeOf("y"), "[2,6,5]");
}

TEST(OnnxParser, ConstantOfShapeValueTensorAttributeIsKept) {
  ModelBuilder mb(13);
  mb.input("x", onnx::TensorProto::FLOAT, {std::string("b"), int64_t{3}});
  mb.node("Shape", {"x"}, {"s"}, "shape");
  auto* n = mb.node("ConstantOfShape", {"s"}, {"y"}, "fill");
  auto* a = n->add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  a->mutable_t()->set_data_type(onnx::TensorProto::INT64);
  a->mutable_t()->add_dims(1);
  a->mutable_t()->add_int64_data(7);
  mb.output("y");
  Parsed p;
  ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
  EXPECT_EQ(p.network->getTensor("y")->getType(), DataType::kINT64);
  EXPECT_EQ(p.shapeOf("y"), "[b,3]");
  const ir::Node* fill = p.graph().findNode("fill");
  ASSERT_NE(fill, nullptr);
  ir::TensorDataPtr v = fill->attrs.getTensor("value");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->dtype(), DataType::kINT64);
  EXPECT_EQ(v->toInt64Vector(), std::vector<int64_t>{7});
}

TEST(OnnxParser, InvalidNodeFormsAndInputsAreReported) {
  {  // Dropout in training mode.
    ModelBuilder mb(13);
    mb.input("x", onnx::TensorProto::FLOAT, {int64_t{4}});
    mb.floatInit("r", {}, {0.5f});
    auto* t = mb.graph->add_initializer();
    t->set_name("train");
    t->set_data_type(onnx::TensorProto::BOOL);
    t->add_int32_data(1);
    mb.node("Dropout", {"x", "r", "train"}, {"y"}, "drop");
    mb.output("y");
    Parsed p;
    EXPECT_FALSE(p.parse(mb.bytes()));
    EXPECT_EQ(p.parser->getError(0).code, ParserError::Code::kUNSUPPORTED_NODE);
    EXPECT_NE(p.errors().find("training_mode is true"), std::string::npos) << p.errors();
  }
  {  // Unsqueeze before opset 13 without axes.
    ModelBuilder mb(11);
    mb.input("x", onnx::TensorProto::FLOAT, {int64_t{4}});
    mb.node("Unsqueeze", {"x"}, {"y"}, "u");
    mb.output("y");
    Parsed p;
    EXPECT_FALSE(p.parse(mb.bytes()));
    EXPECT_EQ(p.parser->getError(0).nodeName, "u");
    EXPECT_NE(p.errors().find("'axes' is required"), std::string::npos) << p.errors();
  }
  {  // An input without a shape, and one that is not a tensor.
    ModelBuilder mb(13);
    auto* vi = mb.graph->add_input();
    vi->set_name("x");
    vi->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    mb.node("Relu", {"x"}, {"y"});
    mb.output("y");
    Parsed p;
    EXPECT_FALSE(p.parse(mb.bytes()));
    EXPECT_NE(p.errors().find("graph input 'x' has no shape"), std::string::npos) << p.errors();
    mb.graph->mutable_input(0)->mutable_type()->mutable_sequence_type();
    Parsed q;
    EXPECT_FALSE(q.parse(mb.bytes()));
    EXPECT_NE(q.errors().find("is not a tensor"), std::string::npos) << q.errors();
  }
}

// ---- data forms ---------------------------------------------------------------------------------

TEST(OnnxParser, InitializerTypedFieldsFollowTheSpec) {
  ModelBuilder mb(13);
  mb.input("x", onnx::TensorProto::FLOAT, {int64_t{1}});
  auto add = [&](const char* name, int32_t type) {
    auto* t = mb.graph->add_initializer();
    t->set_name(name);
    t->set_data_type(type);
    t->add_dims(2);
    return t;
  };
  auto* h = add("h", onnx::TensorProto::FLOAT16);
  h->add_int32_data(0x3C00);  // 1.0
  h->add_int32_data(0xC000);  // -2.0
  auto* bo = add("bo", onnx::TensorProto::BOOL);
  bo->add_int32_data(0);
  bo->add_int32_data(7);
  auto* i8 = add("i8", onnx::TensorProto::INT8);
  i8->add_int32_data(-128);
  i8->add_int32_data(127);
  auto* u64 = add("u64", onnx::TensorProto::UINT64);
  u64->add_uint64_data(1);
  u64->add_uint64_data(uint64_t{1} << 40);
  auto* d = add("d", onnx::TensorProto::DOUBLE);
  d->add_double_data(0.1);
  d->add_double_data(-3.5);
  auto* bf = add("bf", onnx::TensorProto::BFLOAT16);
  bf->add_int32_data(0x3F80);  // 1.0
  bf->add_int32_data(0x4040);  // 3.0
  mb.node("Identity", {"x"}, {"y"});
  mb.output("y");
  Parsed p;
  ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
  EXPECT_EQ(constDoubles(p.graph().findValue("h")), (std::vector<double>{1.0, -2.0}));
  EXPECT_EQ(p.graph().findValue("h")->dtype, DataType::kHALF);
  EXPECT_EQ(constDoubles(p.graph().findValue("bo")), (std::vector<double>{0, 1}));
  EXPECT_EQ(constDoubles(p.graph().findValue("i8")), (std::vector<double>{-128, 127}));
  EXPECT_EQ(constDoubles(p.graph().findValue("u64")), (std::vector<double>{1, 1099511627776.0}));
  EXPECT_EQ(constDoubles(p.graph().findValue("d")), (std::vector<double>{0.1, -3.5}));
  EXPECT_EQ(constDoubles(p.graph().findValue("bf")), (std::vector<double>{1.0, 3.0}));
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("kiln_onnx_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  static int& counter() {
    static int c = 0;
    return c;
  }
  void write(const std::string& name, const std::string& bytes) const {
    std::ofstream(path / name, std::ios::binary) << bytes;
  }
};

std::string externalModel(const std::string& location, int64_t offset, int64_t length) {
  ModelBuilder mb(13);
  mb.input("x", onnx::TensorProto::FLOAT, {int64_t{3}});
  auto* t = mb.graph->add_initializer();
  t->set_name("w");
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(3);
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  auto kv = [&](const char* k, const std::string& v) {
    auto* e = t->add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  kv("location", location);
  if (offset >= 0) kv("offset", std::to_string(offset));
  if (length >= 0) kv("length", std::to_string(length));
  mb.node("Add", {"x", "w"}, {"y"}, "add");
  mb.output("y");
  return mb.bytes();
}

TEST(OnnxParser, ExternalDataIsReadRelativeToTheModel) {
  TempDir dir;
  std::vector<float> w{1.5f, -2.f, 4.25f};
  std::string data(8, 'z');  // 8 bytes of padding before the tensor
  data.append(reinterpret_cast<const char*>(w.data()), 12);
  std::filesystem::create_directories(dir.path / "weights");
  dir.write("weights/w.bin", data);
  dir.write("model.onnx", externalModel("weights/w.bin", 8, 12));
  Parsed p;
  ASSERT_TRUE(p.parser->parseFromFile((dir.path / "model.onnx").c_str())) << p.errors();
  EXPECT_EQ(constDoubles(p.graph().findValue("w")), (std::vector<double>{1.5, -2.0, 4.25}));

  // Without a model folder (bytes parsed from memory) the parser says what is missing.
  Parsed mem;
  EXPECT_FALSE(mem.parse(externalModel("weights/w.bin", 8, 12)));
  EXPECT_NE(mem.errors().find("folder"), std::string::npos) << mem.errors();
  Parsed withDir;
  EXPECT_TRUE(withDir.parse(externalModel("weights/w.bin", 8, -1), dir.path.c_str()))
      << withDir.errors();
}

TEST(OnnxParser, ExternalDataPathsMayNotEscapeAndMustFit) {
  TempDir dir;
  std::filesystem::create_directories(dir.path / "m");
  dir.write("secret.bin", std::string(12, '\0'));
  dir.write("m/short.bin", std::string(8, '\0'));
  struct Case {
    std::string location;
    int64_t offset, length;
    std::string expect;
  } cases[] = {
      {"../secret.bin", -1, -1, "leaves the model's folder"},
      {"a/../../secret.bin", -1, -1, "leaves the model's folder"},
      {(dir.path / "secret.bin").string(), -1, -1, "absolute path"},
      {"missing.bin", -1, -1, "does not exist"},
      {"short.bin", -1, -1, "need 12 bytes"},
      {"short.bin", 4, 12, "need"},
      {"short.bin", 100, -1, "past the end"},
      {"", -1, -1, "no 'location'"},
  };
  for (const Case& c : cases) {
    Parsed p;
    EXPECT_FALSE(p.parse(externalModel(c.location, c.offset, c.length), (dir.path / "m").c_str()))
        << c.location;
    EXPECT_NE(p.errors().find(c.expect), std::string::npos) << c.location << ": " << p.errors();
    EXPECT_EQ(p.network->getNbInputs(), 0);
  }
  // A symbolic link inside the folder that points outside is refused too.
  std::error_code ec;
  std::filesystem::create_symlink(dir.path / "secret.bin", dir.path / "m" / "link.bin", ec);
  if (!ec) {
    Parsed p;
    EXPECT_FALSE(p.parse(externalModel("link.bin", -1, -1), (dir.path / "m").c_str()));
    EXPECT_NE(p.errors().find("outside the model's folder"), std::string::npos) << p.errors();
  }
}

// ---- errors -------------------------------------------------------------------------------------

TEST(OnnxParser, EveryUnsupportedNodeIsReportedAtOnceAndNothingIsImported) {
  ModelBuilder mb(17);
  auto* o = mb.model.add_opset_import();
  o->set_domain("com.example");
  o->set_version(3);
  mb.input("x", onnx::TensorProto::FLOAT, {int64_t{2}, int64_t{3}});
  mb.node("Relu", {"x"}, {"a"}, "relu");
  auto* foo = mb.node("Foo", {"a"}, {"b"}, "my_foo");
  foo->set_domain("com.example");
  mb.node("StringNormalizer", {"b"}, {"c"});  // default domain, no importer (string op)
  auto* bar = mb.node("Bar", {"c"}, {"d"}, "bar");
  bar->set_domain("org.undeclared");
  mb.node("Relu", {"d"}, {"y"});
  mb.output("y");
  Parsed p;
  EXPECT_FALSE(p.parse(mb.bytes()));
  ASSERT_EQ(p.parser->getNbErrors(), 3) << p.errors();
  const ParserError& e0 = p.parser->getError(0);
  EXPECT_EQ(e0.code, ParserError::Code::kUNSUPPORTED_NODE);
  EXPECT_EQ(e0.nodeName, "my_foo");
  EXPECT_EQ(e0.nodeIndex, 1);
  EXPECT_EQ(e0.opType, "Foo");
  EXPECT_EQ(e0.domain, "com.example");
  EXPECT_EQ(e0.opset, 3);
  EXPECT_EQ(e0.message,
            "unsupported operator 'Foo' (domain 'com.example', opset 3). Kiln has no built-in "
            "implementation; add one as a plugin (see docs/plugins.md) or replace the node.");
  EXPECT_EQ(e0.toString(), "node 'my_foo' (Foo, opset 3, domain com.example): " + e0.message);
  const ParserError& e1 = p.parser->getError(1);
  EXPECT_EQ(e1.nodeName, "StringNormalizer_2");
  EXPECT_EQ(e1.domain, "ai.onnx");
  EXPECT_EQ(e1.opset, 17);
  EXPECT_NE(e1.message.find("'StringNormalizer' (domain 'ai.onnx', opset 17)"), std::string::npos);
  const ParserError& e2 = p.parser->getError(2);
  EXPECT_EQ(e2.opType, "Bar");
  EXPECT_NE(e2.message.find("org.undeclared"), std::string::npos);
  EXPECT_EQ(p.network->getNbLayers(), 0);
  EXPECT_EQ(p.network->getNbInputs(), 0);
  // Every error also went to the logger.
  EXPECT_GE(p.logger.messages.size(), 3u);
  EXPECT_NE(p.logger.all().find("my_foo"), std::string::npos);
  p.parser->clearErrors();
  EXPECT_EQ(p.parser->getNbErrors(), 0);
}

TEST(OnnxParser, VersionsOutsideTheRangeAreRefused) {
  {
    ModelBuilder mb(29);
    mb.input("x", onnx::TensorProto::FLOAT, {int64_t{2}});
    mb.node("Relu", {"x"}, {"y"});
    mb.output("y");
    Parsed p;
    EXPECT_FALSE(p.parse(mb.bytes()));
    EXPECT_NE(p.errors().find("opset 29"), std::string::npos) << p.errors();
    EXPECT_NE(p.errors().find("9 to 28"), std::string::npos) << p.errors();
  }
  // Opsets 1..8: imported as opset 9 when no op of the model changed in between (Relu: version
  // 6, And: 7); a node whose op changed (BatchNormalization: 9) is refused by name.
  {
    ModelBuilder mb(7);
    mb.input("x", onnx::TensorProto::FLOAT, {int64_t{2}});
    mb.input("b", onnx::TensorProto::BOOL, {int64_t{2}});
    mb.node("Relu", {"x"}, {"y"});
    mb.node("And", {"b", "b"}, {"z"});
    mb.output("y");
    mb.output("z");
    Parsed p;
    EXPECT_TRUE(p.parse(mb.bytes())) << p.errors();
  }
  {
    ModelBuilder mb(8);
    mb.input("x", onnx::TensorProto::FLOAT, {int64_t{1}, int64_t{2}});
    for (const char* n : {"s", "bb", "m", "v"}) mb.floatInit(n, {2}, {1.f, 1.f});
    mb.node("BatchNormalization", {"x", "s", "bb", "m", "v"}, {"y"}, "bn");
    mb.output("y");
    Parsed p;
    EXPECT_FALSE(p.parse(mb.bytes()));
    EXPECT_NE(p.errors().find("opset 8"), std::string::npos) << p.errors();
    EXPECT_NE(p.errors().find("BatchNormalization changed in opset 9"), std::string::npos)
        << p.errors();
    EXPECT_NE(p.errors().find("version_converter"), std::string::npos) << p.errors();
  }
  // The newest opset and IR version of the conformance suite (onnx 1.23) are accepted.
  {
    ModelBuilder mb(28, 14);
    mb.input("x", onnx::TensorProto::FLOAT, {int64_t{2}});
    mb.node("Relu", {"x"}, {"y"});
    mb.output("y");
    Parsed p;
    EXPECT_TRUE(p.parse(mb.bytes())) << p.errors();
  }
  {
    ModelBuilder mb(28, 15);
    mb.input("x", onnx::TensorProto::FLOAT, {int64_t{2}});
    mb.node("Relu", {"x"}, {"y"});
    mb.output("y");
    Parsed p;
    EXPECT_FALSE(p.parse(mb.bytes()));
    EXPECT_NE(p.errors().find("IR versions 3 to 14"), std::string::npos) << p.errors();
  }
  ModelBuilder mb(13, 99);
  mb.input("x", onnx::TensorProto::FLOAT, {int64_t{2}});
  mb.node("Relu", {"x"}, {"y"});
  mb.output("y");
  Parsed p;
  EXPECT_FALSE(p.parse(mb.bytes()));
  EXPECT_NE(p.errors().find("IR version 99"), std::string::npos) << p.errors();
  ModelBuilder noDefault(13);
  noDefault.model.clear_opset_import();
  noDefault.input("x", onnx::TensorProto::FLOAT, {int64_t{2}});
  noDefault.node("Relu", {"x"}, {"y"}, "relu");
  noDefault.output("y");
  Parsed q;
  EXPECT_FALSE(q.parse(noDefault.bytes()));
  EXPECT_NE(q.errors().find("node 'relu' (Relu) is in the default ONNX domain, but the model does "
                            "not import that domain"),
            std::string::npos)
      << q.errors();
  // A model of another domain only is a list of unsupported nodes, not a version error
  // (Scaler: an ai.onnx.ml op Kiln does not import; Binarizer and ArrayFeatureExtractor it does).
  ModelBuilder mlOnly(13);
  mlOnly.model.mutable_opset_import(0)->set_domain("ai.onnx.ml");
  mlOnly.model.mutable_opset_import(0)->set_version(3);
  mlOnly.input("x", onnx::TensorProto::FLOAT, {int64_t{2}});
  mlOnly.node("Scaler", {"x"}, {"y"}, "scale")->set_domain("ai.onnx.ml");
  mlOnly.output("y");
  Parsed r;
  EXPECT_FALSE(r.parse(mlOnly.bytes()));
  ASSERT_EQ(r.parser->getNbErrors(), 1) << r.errors();
  EXPECT_EQ(r.parser->getError(0).code, ParserError::Code::kUNSUPPORTED_NODE);
  EXPECT_EQ(r.parser->getError(0).domain, "ai.onnx.ml");
}

std::string smallValidModel() {
  ModelBuilder mb(13);
  mb.input("x", onnx::TensorProto::FLOAT, {std::string("n"), int64_t{4}});
  mb.floatInit("w", {4, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  mb.node("MatMul", {"x", "w"}, {"h"}, "mm");
  mb.node("Relu", {"h"}, {"y"}, "relu");
  mb.output("y");
  return mb.bytes();
}

TEST(OnnxParser, MalformedBytesFailWithAMessageAndNeverCrash) {
  Parsed p;
  EXPECT_FALSE(p.parser->parse(nullptr, 0));
  EXPECT_FALSE(p.parse(""));
  EXPECT_NE(p.errors().find("empty"), std::string::npos);

  const std::string valid = smallValidModel();
  {
    Parsed ok;
    ASSERT_TRUE(ok.parse(valid)) << ok.errors();
  }
  // Every truncation of a valid model fails, with a message, and leaves the network untouched.
  for (size_t len = 1; len < valid.size(); ++len) {
    int before = p.parser->getNbErrors();
    EXPECT_FALSE(p.parse(valid.substr(0, len))) << "truncated at " << len;
    EXPECT_GT(p.parser->getNbErrors(), before) << len;
    EXPECT_FALSE(p.parser->getError(p.parser->getNbErrors() - 1).message.empty());
  }
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 300; ++trial) {
    std::string junk(static_cast<size_t>(rng() % 512 + 1), '\0');
    for (char& c : junk) c = static_cast<char>(rng() & 0xFF);
    int before = p.parser->getNbErrors();
    EXPECT_FALSE(p.parse(junk)) << trial;
    EXPECT_GT(p.parser->getNbErrors(), before);
  }
  // Random single-byte corruptions of a valid model: may parse or not, but never crash, and a
  // success must leave a consistent network.
  for (int trial = 0; trial < 300; ++trial) {
    std::string bad = valid;
    bad[rng() % bad.size()] = static_cast<char>(rng() & 0xFF);
    Parsed q;
    if (q.parse(bad))
      EXPECT_GE(q.network->getNbOutputs(), 1);
    else
      EXPECT_GE(q.parser->getNbErrors(), 1);
  }
  EXPECT_EQ(p.network->getNbLayers(), 0);
  EXPECT_EQ(p.network->getNbInputs(), 0);
}

TEST(OnnxParser, MissingGraphAndNotAFile) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  Parsed p;
  EXPECT_FALSE(p.parse(m.SerializeAsString()));
  EXPECT_NE(p.errors().find("no graph"), std::string::npos) << p.errors();

  Parsed f;
  EXPECT_FALSE(f.parser->parseFromFile("/nonexistent/dir/model.onnx"));
  ASSERT_EQ(f.parser->getNbErrors(), 1);
  EXPECT_EQ(f.parser->getError(0).code, ParserError::Code::kIO);
  EXPECT_NE(f.parser->getError(0).message.find("does not exist"), std::string::npos);
  TempDir dir;
  Parsed d;
  EXPECT_FALSE(d.parser->parseFromFile(dir.path.c_str()));
  EXPECT_EQ(d.parser->getError(0).code, ParserError::Code::kIO);
}

TEST(OnnxParser, DanglingDuplicateAndCyclicGraphsAreRejected) {
  {
    ModelBuilder mb(13);
    mb.input("x", onnx::TensorProto::FLOAT, {int64_t{2}});
    mb.node("Add", {"x", "nowhere"}, {"y"}, "n");
    mb.output("y");
    Parsed p;
    EXPECT_FALSE(p.parse(mb.bytes()));
    ASSERT_EQ(p.parser->getNbErrors(), 1);
    EXPECT_EQ(p.parser->getError(0).code, ParserError::Code::kINVALID_NODE);
    EXPECT_NE(p.parser->getError(0).message.find("dangling input 'nowhere' of node 'n'"),
              std::string::npos)
        << p.errors();
  }
  {
    ModelBuilder mb(13);
    mb.input("x", onnx::TensorProto::FLOAT, {int64_t{2}});
    mb.node("Relu", {"x"}, {"y"}, "a");
    mb.node("Neg", {"x"}, {"y"}, "b");
    mb.output("y");
    Parsed p;
    EXPECT_FALSE(p.parse(mb.bytes()));
    EXPECT_NE(p.errors().find(
                  "duplicate tensor name: output 'y' of node 'b' is also produced by node 'a'"),
              std::string::npos)
        << p.errors();
  }
  {
    ModelBuilder mb(13);
    mb.input("x", onnx::TensorProto::FLOAT, {int64_t{2}});
    mb.node("Add", {"x", "c"}, {"a"}, "first");
    mb.node("Relu", {"a"}, {"b"}, "second");
    mb.node("Neg", {"b"}, {"c"}, "third");
    mb.node("Abs", {"x"}, {"y"}, "fine");
    mb.output("y");
    Parsed p;
    EXPECT_FALSE(p.parse(mb.bytes()));
    EXPECT_NE(p.errors().find("cycle"), std::string::npos) << p.errors();
    EXPECT_NE(p.errors().find("'first', 'second', 'third'"), std::string::npos) << p.errors();
  }
  {
    ModelBuilder mb(13);
    mb.input("x", onnx::TensorProto::FLOAT, {int64_t{2}});
    mb.node("Relu", {"x"}, {"y"});
    mb.output("not_there");
    Parsed p;
    EXPECT_FALSE(p.parse(mb.bytes()));
    EXPECT_NE(p.errors().find("graph output 'not_there'"), std::string::npos) << p.errors();
  }
}

TEST(OnnxParser, WrongAttributeTypesAndShapeContradictionsNameTheNode) {
  {
    ModelBuilder mb(13);
    mb.input("x", onnx::TensorProto::FLOAT, {int64_t{1}, int64_t{1}, int64_t{4}, int64_t{4}});
    mb.floatInit("w", {1, 1, 1, 1}, {1.f});
    attrInt(mb.node("Conv", {"x", "w"}, {"y"}, "conv"), "strides", 2);
    mb.output("y");
    Parsed p;
    EXPECT_FALSE(p.parse(mb.bytes()));
    ASSERT_EQ(p.parser->getNbErrors(), 1);
    const ParserError& e = p.parser->getError(0);
    EXPECT_EQ(e.code, ParserError::Code::kINVALID_NODE);
    EXPECT_EQ(e.nodeName, "conv");
    EXPECT_EQ(e.opType, "Conv");
    EXPECT_EQ(e.opset, 13);
    EXPECT_EQ(e.message, "attribute 'strides' must be INTS, but it is INT");
  }
  {
    ModelBuilder mb(13);
    mb.input("a", onnx::TensorProto::FLOAT, {int64_t{2}, int64_t{3}});
    mb.input("b", onnx::TensorProto::FLOAT, {int64_t{4}, int64_t{5}});
    mb.node("Add", {"a", "b"}, {"y"}, "add_bad");
    mb.output("y");
    Parsed p;
    EXPECT_FALSE(p.parse(mb.bytes()));
    ASSERT_EQ(p.parser->getNbErrors(), 1);
    const ParserError& e = p.parser->getError(0);
    EXPECT_EQ(e.code, ParserError::Code::kINVALID_NODE);
    EXPECT_EQ(e.nodeName, "add_bad");
    EXPECT_EQ(e.nodeIndex, 0);
    EXPECT_NE(e.toString().find("node 'add_bad' (Add, opset 13, domain ai.onnx): "),
              std::string::npos)
        << e.toString();
    EXPECT_NE(e.message.find("broadcast"), std::string::npos) << e.message;
    EXPECT_EQ(p.network->getNbInputs(), 0);  // the network is restored on failure
  }
}

TEST(OnnxParser, HugeDimsAndMismatchedByteCountsAreErrorsWithoutAllocation) {
  {
    ModelBuilder mb(13);
    mb.input("x", onnx::TensorProto::FLOAT, {(int64_t{1} << 41), int64_t{2}});
    mb.node("Relu", {"x"}, {"y"});
    mb.output("y");
    Parsed p;
    EXPECT_FALSE(p.parse(mb.bytes()));
    EXPECT_NE(p.errors().find("outside [0, 2^40]"), std::string::npos) << p.errors();
  }
  auto withInit = [](const std::vector<int64_t>& dims, const std::string& raw) {
    ModelBuilder mb(13);
    mb.input("x", onnx::TensorProto::FLOAT, {int64_t{1}});
    auto* t = mb.graph->add_initializer();
    t->set_name("w");
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    t->set_raw_data(raw);
    mb.node("Identity", {"x"}, {"y"});
    mb.output("y");
    return mb.bytes();
  };
  const int64_t big = int64_t{1} << 40;
  Parsed overflow;
  EXPECT_FALSE(overflow.parse(withInit({big, big, big}, "")));
  EXPECT_NE(overflow.errors().find("overflows"), std::string::npos) << overflow.errors();
  Parsed large;  // 2^40 floats claimed, 4 bytes given: refused before any allocation
  EXPECT_FALSE(large.parse(withInit({big}, "abcd")));
  EXPECT_NE(large.errors().find("raw_data holds 4 bytes"), std::string::npos) << large.errors();
  Parsed negative;
  EXPECT_FALSE(negative.parse(withInit({-3}, "")));
  EXPECT_NE(negative.errors().find("-3"), std::string::npos) << negative.errors();
  Parsed mismatch;
  EXPECT_FALSE(mismatch.parse(withInit({2, 2}, std::string(12, '\0'))));
  EXPECT_NE(mismatch.errors().find("need 16 bytes"), std::string::npos) << mismatch.errors();
  ModelBuilder typed(13);
  typed.input("x", onnx::TensorProto::FLOAT, {int64_t{1}});
  typed.floatInit("w", {3}, {1.f, 2.f});
  typed.node("Identity", {"x"}, {"y"});
  typed.output("y");
  Parsed t;
  EXPECT_FALSE(t.parse(typed.bytes()));
  EXPECT_NE(t.errors().find("float_data holds 2"), std::string::npos) << t.errors();
}

// ---- end to end ---------------------------------------------------------------------------------

// x[2,3,2] -> Softmax(axis=1, opset 11: over the flattened last two dims) -> y; checked against
// a softmax over each row of 6 computed in double precision here.
// ---- op versions (op_versions.def) and the ops/outputs added for the opset 25-28 suite -------

TEST(OnnxParser, EveryImportedOpHasAVersionEntry) {
  // An op without an entry would be refused above opset 24; the Python test
  // (tests/python/test_opset_coverage.py) checks the entries against ONNX's schema history.
  for (const std::string& op : OnnxParser::supportedOps())
    EXPECT_NE(onnx_import::findOpVersion(op), nullptr)
        << op << " has an importer but no line in src/onnx/op_versions.def";
  const auto* s2d = onnx_import::findOpVersion("SpaceToDepth");
  ASSERT_NE(s2d, nullptr);
  EXPECT_EQ(s2d->newestHandled, 28);
  EXPECT_EQ(onnx_import::findOpVersion("NoSuchOp"), nullptr);
}

TEST(OnnxParser, OpVersionCheckRefusesNewerVersionsByName) {
  // Ops without an entry: accepted up to opset 24 only.
  EXPECT_TRUE(onnx_import::checkOpVersion("NoSuchOp", 24).isOk());
  Status s = onnx_import::checkOpVersion("NoSuchOp", 25);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("checked against ONNX opsets up to 24"), std::string::npos)
      << s.message();
  // Every listed op is accepted at every supported opset unless a newer version is refused.
  for (const auto& e : onnx_import::opVersionTable())
    for (int64_t opset = 9; opset <= 28; ++opset) {
      bool refused = false;
      for (const auto& r : e.refused) refused = refused || r.since <= opset;
      EXPECT_EQ(onnx_import::checkOpVersion(e.op, opset).isOk(), !refused) << e.op << " " << opset;
    }
}

// Builds `p`'s network (static shapes), runs it once and returns false with a message on failure.
// `io` maps tensor names to host buffers (inputs read, outputs written).
std::string buildAndRun(Parsed& p, const std::vector<std::pair<std::string, void*>>& io) {
  auto config = p.builder->createConfig();
  auto plan = p.builder->buildSerializedNetwork(*p.network, *config);
  if (!plan) return "build: " + p.builder->getLastError() + p.logger.all();
  auto runtime = Runtime::create(p.logger);
  auto engine = runtime->deserializeEngine(plan->data(), plan->size());
  if (!engine) return "deserialize: " + runtime->getLastError();
  auto ctx = engine->createExecutionContext();
  for (const auto& [name, ptr] : io)
    if (!ctx->setTensorAddress(name.c_str(), ptr))
      return "setTensorAddress " + name + ": " + ctx->getLastError();
  if (!ctx->executeV2()) return "execute: " + ctx->getLastError();
  return "";
}

std::vector<float> randomFloats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-2.f, 2.f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

TEST(OnnxParser, CastLikeBecomesCastToTheTargetsType) {
  ModelBuilder mb(25, 13);
  mb.input("x", onnx::TensorProto::FLOAT, {int64_t{5}});
  auto* like = mb.graph->add_initializer();
  like->set_name("like");
  like->set_data_type(onnx::TensorProto::INT32);
  like->add_dims(1);
  like->add_int32_data(0);
  mb.node("CastLike", {"x", "like"}, {"y"}, "castlike");
  mb.output("y");
  Parsed p;
  ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
  EXPECT_EQ(p.layerTypes(), std::vector<std::string>{"Cast"});
  EXPECT_EQ(p.network->getTensor("y")->getType(), DataType::kINT32);
  // Float to int truncates toward zero.
  std::vector<float> x{1.f, -2.f, 3.75f, -4.5f, 100.f};
  std::vector<int32_t> y(5, -77);
  ASSERT_EQ(buildAndRun(p, {{"x", x.data()}, {"y", y.data()}}), "");
  EXPECT_EQ(y, (std::vector<int32_t>{1, -2, 3, -4, 100}));
}

TEST(OnnxParser, SpaceToDepthModesDcrAndCrdOfOpset28) {
  const int64_t N = 2, C = 3, H = 4, W = 6, b = 2;
  const std::vector<float> x = randomFloats(static_cast<size_t>(N * C * H * W), 7);
  for (const char* mode : {"DCR", "CRD"}) {
    ModelBuilder mb(28, 14);
    mb.input("x", onnx::TensorProto::FLOAT, {N, C, H, W});
    auto* n = mb.node("SpaceToDepth", {"x"}, {"y"}, "s2d");
    attrInt(n, "blocksize", b);
    attrString(n, "mode", mode);
    mb.output("y");
    Parsed p;
    ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
    EXPECT_EQ(p.shapeOf("y"), "[2,12,2,3]");
    std::vector<float> y(x.size(), std::nanf(""));
    ASSERT_EQ(buildAndRun(p, {{"x", const_cast<float*>(x.data())}, {"y", y.data()}}), "");
    // y[n, ch, h, w] = x[n, c, h*b + bh, w*b + bw] with ch = (bh*b + bw)*C + c (DCR) or
    // c*b*b + bh*b + bw (CRD).
    const bool crd = std::string(mode) == "CRD";
    for (int64_t in = 0; in < N; ++in)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t bh = 0; bh < b; ++bh)
          for (int64_t bw = 0; bw < b; ++bw)
            for (int64_t h = 0; h < H / b; ++h)
              for (int64_t w = 0; w < W / b; ++w) {
                const int64_t ch = crd ? c * b * b + bh * b + bw : (bh * b + bw) * C + c;
                const float want =
                    x[static_cast<size_t>(((in * C + c) * H + h * b + bh) * W + w * b + bw)];
                const float got =
                    y[static_cast<size_t>(((in * C * b * b + ch) * (H / b) + h) * (W / b) + w)];
                ASSERT_EQ(got, want)
                    << mode << " n" << in << " c" << c << " bh" << bh << " bw" << bw;
              }
  }
  ModelBuilder bad(28, 14);
  bad.input("x", onnx::TensorProto::FLOAT, {N, C, H, W});
  auto* n = bad.node("SpaceToDepth", {"x"}, {"y"}, "s2d");
  attrInt(n, "blocksize", b);
  attrString(n, "mode", "XYZ");
  bad.output("y");
  Parsed q;
  EXPECT_FALSE(q.parse(bad.bytes()));
  EXPECT_NE(q.errors().find("mode 'XYZ' is not valid"), std::string::npos) << q.errors();
}

TEST(OnnxParser, LayerNormMeanAndInvStdDevOutputsAreComputed) {
  const int64_t R = 3, D = 5;
  ModelBuilder mb(17);
  mb.input("x", onnx::TensorProto::FLOAT, {R, D});
  std::vector<float> scale = randomFloats(D, 3), bias = randomFloats(D, 4);
  mb.floatInit("s", {D}, scale);
  mb.floatInit("b", {D}, bias);
  attrFloat(mb.node("LayerNormalization", {"x", "s", "b"}, {"y", "mean", "inv"}, "ln"), "epsilon",
            1e-3f);
  mb.output("y");
  mb.output("mean");
  mb.output("inv");
  Parsed p;
  ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
  EXPECT_EQ(p.shapeOf("mean"), "[3,1]");
  const std::vector<float> x = randomFloats(static_cast<size_t>(R * D), 5);
  std::vector<float> y(x.size(), std::nanf("")), mean(R, std::nanf("")), inv(R, std::nanf(""));
  ASSERT_EQ(buildAndRun(p, {{"x", const_cast<float*>(x.data())},
                            {"y", y.data()},
                            {"mean", mean.data()},
                            {"inv", inv.data()}}),
            "");
  for (int64_t r = 0; r < R; ++r) {
    double m = 0, v = 0;
    for (int64_t d = 0; d < D; ++d) m += x[static_cast<size_t>(r * D + d)];
    m /= D;
    for (int64_t d = 0; d < D; ++d) v += std::pow(x[static_cast<size_t>(r * D + d)] - m, 2);
    const double is = 1.0 / std::sqrt(v / D + 1e-3);
    EXPECT_NEAR(mean[static_cast<size_t>(r)], m, 1e-6);
    EXPECT_NEAR(inv[static_cast<size_t>(r)], is, 1e-5 * is);
    for (int64_t d = 0; d < D; ++d) {
      const double want =
          (x[static_cast<size_t>(r * D + d)] - m) * is * scale[static_cast<size_t>(d)] +
          bias[static_cast<size_t>(d)];
      EXPECT_NEAR(y[static_cast<size_t>(r * D + d)], want, 1e-5 + 1e-5 * std::abs(want));
    }
  }
}

TEST(OnnxParser, MaxPoolIndicesOutputIsComputed) {
  ModelBuilder mb(12);
  mb.input("x", onnx::TensorProto::FLOAT, {int64_t{1}, int64_t{2}, int64_t{4}, int64_t{4}});
  auto* n = mb.node("MaxPool", {"x"}, {"y", "idx"}, "pool");
  attrInts(n, "kernel_shape", {2, 2});
  attrInts(n, "strides", {2, 2});
  mb.output("y");
  mb.output("idx");
  Parsed p;
  ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
  const std::vector<float> x = randomFloats(32, 11);
  std::vector<float> y(8, std::nanf(""));
  std::vector<int64_t> idx(8, -1);
  ASSERT_EQ(
      buildAndRun(p, {{"x", const_cast<float*>(x.data())}, {"y", y.data()}, {"idx", idx.data()}}),
      "");
  // Indices are flat into X (row-major, storage_order 0), including the channel offset.
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t oh = 0; oh < 2; ++oh)
      for (int64_t ow = 0; ow < 2; ++ow) {
        int64_t best = -1;
        for (int64_t kh = 0; kh < 2; ++kh)
          for (int64_t kw = 0; kw < 2; ++kw) {
            const int64_t i = (c * 4 + oh * 2 + kh) * 4 + ow * 2 + kw;
            if (best < 0 || x[static_cast<size_t>(i)] > x[static_cast<size_t>(best)]) best = i;
          }
        const size_t o = static_cast<size_t>((c * 2 + oh) * 2 + ow);
        EXPECT_EQ(idx[o], best) << o;
        EXPECT_EQ(y[o], x[static_cast<size_t>(best)]) << o;
      }
}

TEST(OnnxParser, ReduceMaxAndMinOnBoolAreAnyAndAll) {
  ModelBuilder mb(20);
  mb.input("x", onnx::TensorProto::BOOL, {int64_t{3}, int64_t{2}});
  mb.int64Init("axes", {1}, {1});
  attrInt(mb.node("ReduceMax", {"x", "axes"}, {"any"}, "rmax"), "keepdims", 0);
  attrInt(mb.node("ReduceMin", {"x", "axes"}, {"all"}, "rmin"), "keepdims", 0);
  mb.output("any");
  mb.output("all");
  Parsed p;
  ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
  EXPECT_EQ(p.network->getTensor("any")->getType(), DataType::kBOOL);
  std::vector<uint8_t> x{1, 1, 0, 1, 0, 0};
  std::vector<uint8_t> any(3, 7), all(3, 7);
  ASSERT_EQ(buildAndRun(p, {{"x", x.data()}, {"any", any.data()}, {"all", all.data()}}), "");
  EXPECT_EQ(any, (std::vector<uint8_t>{1, 1, 0}));
  EXPECT_EQ(all, (std::vector<uint8_t>{1, 0, 0}));

  // Empty reductions: any of nothing is false, all of nothing is true.
  ModelBuilder empty(20);
  empty.input("x", onnx::TensorProto::BOOL, {int64_t{2}, int64_t{0}});
  empty.int64Init("axes", {1}, {1});
  empty.node("ReduceMax", {"x", "axes"}, {"any"}, "rmax");
  empty.node("ReduceMin", {"x", "axes"}, {"all"}, "rmin");
  empty.output("any");
  empty.output("all");
  Parsed q;
  ASSERT_TRUE(q.parse(empty.bytes())) << q.errors();
  uint8_t dummy = 0;
  std::vector<uint8_t> any0(2, 7), all0(2, 7);
  ASSERT_EQ(buildAndRun(q, {{"x", &dummy}, {"any", any0.data()}, {"all", all0.data()}}), "");
  EXPECT_EQ(any0, (std::vector<uint8_t>{0, 0}));
  EXPECT_EQ(all0, (std::vector<uint8_t>{1, 1}));
}

TEST(OnnxParser, ReduceMaxAndMinOnNarrowIntegersKeepTheirRange) {
  ModelBuilder mb(18);
  mb.input("x", onnx::TensorProto::INT8, {int64_t{2}, int64_t{3}});
  mb.input("e", onnx::TensorProto::INT8, {int64_t{2}, int64_t{0}});
  mb.int64Init("axes", {1}, {1});
  attrInt(mb.node("ReduceMax", {"x", "axes"}, {"mx"}, "rmax"), "keepdims", 0);
  attrInt(mb.node("ReduceMin", {"x", "axes"}, {"mn"}, "rmin"), "keepdims", 0);
  attrInt(mb.node("ReduceMax", {"e", "axes"}, {"emx"}, "emax"), "keepdims", 0);
  attrInt(mb.node("ReduceMin", {"e", "axes"}, {"emn"}, "emin"), "keepdims", 0);
  for (const char* o : {"mx", "mn", "emx", "emn"}) mb.output(o);
  Parsed p;
  ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
  EXPECT_EQ(p.network->getTensor("mx")->getType(), DataType::kINT8);
  std::vector<int8_t> x{-128, 5, 127, -3, -7, -100}, mx(2, 1), mn(2, 1), emx(2, 1), emn(2, 1);
  int8_t dummy = 0;
  ASSERT_EQ(buildAndRun(p, {{"x", x.data()},
                            {"e", &dummy},
                            {"mx", mx.data()},
                            {"mn", mn.data()},
                            {"emx", emx.data()},
                            {"emn", emn.data()}}),
            "");
  EXPECT_EQ(mx, (std::vector<int8_t>{127, -3}));
  EXPECT_EQ(mn, (std::vector<int8_t>{-128, -100}));
  // Empty sets give the type's lowest (max) and highest (min) value.
  EXPECT_EQ(emx, (std::vector<int8_t>{-128, -128}));
  EXPECT_EQ(emn, (std::vector<int8_t>{127, 127}));
}

TEST(OnnxParser, RangeStashTypeOfOpset27) {
  for (int64_t stash : {1, 0}) {
    ModelBuilder mb(27, 13);
    for (const char* name : {"start", "limit", "delta"}) {
      auto* t = mb.graph->add_initializer();
      t->set_name(name);
      t->set_data_type(onnx::TensorProto::FLOAT16);
      const float v = std::string(name) == "start"   ? 1.f
                      : std::string(name) == "limit" ? 4.f
                                                     : 0.5f;
      t->add_int32_data(Half(v).bits);
    }
    attrInt(mb.node("Range", {"start", "limit", "delta"}, {"y"}, "range"), "stash_type", stash);
    mb.output("y");
    Parsed p;
    if (stash == 1) {
      ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
      EXPECT_EQ(p.shapeOf("y"), "[6]");
    } else {
      EXPECT_FALSE(p.parse(mb.bytes()));
      EXPECT_EQ(p.parser->getError(0).code, ParserError::Code::kUNSUPPORTED_NODE);
      EXPECT_NE(p.errors().find("stash_type=0 is not supported"), std::string::npos) << p.errors();
    }
  }
}

// Resize-19 with align_corners and scales: x_orig = x * (in - 1) / (in * scale - 1), with the
// real in * scale (2.4 for 4 * 0.6), not the output length 2.
TEST(OnnxParser, ResizeAlignCornersWithScalesUsesTheUnroundedLength) {
  ModelBuilder mb(19);
  mb.input("x", onnx::TensorProto::FLOAT, {int64_t{1}, int64_t{4}});
  mb.floatInit("scales", {2}, {1.f, 0.6f});
  auto* n = mb.node("Resize", {"x", "", "scales"}, {"y"}, "resize");
  attrString(n, "mode", "linear");
  attrString(n, "coordinate_transformation_mode", "align_corners");
  mb.output("y");
  Parsed p;
  ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();
  EXPECT_EQ(p.shapeOf("y"), "[1,2]");
  std::vector<float> x{1.f, 2.f, 4.f, 8.f}, y(2, std::nanf(""));
  ASSERT_EQ(buildAndRun(p, {{"x", x.data()}, {"y", y.data()}}), "");
  // y[1]: x_orig = 3 / 1.4 = 2.142857; between x[2] = 4 and x[3] = 8.
  const double xo = 3.0 / (4 * static_cast<double>(0.6f) - 1);
  EXPECT_FLOAT_EQ(y[0], 1.f);
  EXPECT_NEAR(y[1], 4.0 + (xo - 2.0) * 4.0, 1e-5);
}

// Inputs whose values decide shapes: a graph input there becomes a shape tensor input (read on
// the host at run time); the same input after a computation on tensor data (Abs here) is
// unsupported (not invalid), with one message naming the input and the node.
TEST(OnnxParser, ShapeInputsFromGraphInputsAreShapeTensorsAndFromDataUnsupported) {
  struct Case {
    const char* op;
    int64_t opset;
    const char* input;
    const char* shape;  // of y when `input` is a graph input
  };
  for (bool viaData : {false, true}) {
    for (const Case& c : {Case{"Resize", 19, "scales", "[n:0:d0,n:0:d1,n:0:d2,n:0:d3]"},
                          Case{"Resize", 19, "sizes", "[sizes[0],sizes[1],sizes[2],sizes[3]]"},
                          Case{"Upsample", 9, "scales", "[n:0:d0,n:0:d1,n:0:d2,n:0:d3]"},
                          Case{"Range", 11, "limit", "[n:0:d0]"},
                          Case{"Reshape", 13, "shape", "[shape[0],shape[1],shape[2],shape[3]]"}}) {
      ModelBuilder mb(c.opset);
      std::string in = c.input;
      // The node reads `fed`: the graph input itself, or Abs of it (a computation on data).
      std::string fed = viaData ? in + "_abs" : in;
      if (std::string(c.op) == "Range") {
        mb.input("limit", onnx::TensorProto::FLOAT, {});
        mb.floatInit("start", {}, {0.f});
        mb.floatInit("delta", {}, {1.f});
        if (viaData) mb.node("Abs", {in}, {fed});
        mb.node("Range", {"start", fed, "delta"}, {"y"}, "n");
      } else {
        mb.input("x", onnx::TensorProto::FLOAT, {int64_t{1}, int64_t{1}, int64_t{2}, int64_t{2}});
        const bool ints = in == "sizes" || in == "shape";
        mb.input(in, ints ? onnx::TensorProto::INT64 : onnx::TensorProto::FLOAT, {int64_t{4}});
        if (viaData) mb.node("Abs", {in}, {fed});
        if (std::string(c.op) == "Resize")
          mb.node("Resize",
                  in == "scales" ? std::vector<std::string>{"x", "", fed}
                                 : std::vector<std::string>{"x", "", "", fed},
                  {"y"}, "n");
        else
          mb.node(c.op, {"x", fed}, {"y"}, "n");
      }
      mb.output("y");
      Parsed p;
      if (!viaData) {
        ASSERT_TRUE(p.parse(mb.bytes())) << c.op << ": " << p.errors();
        EXPECT_TRUE(p.network->getTensor(c.input)->isShapeTensor()) << c.op;
        EXPECT_EQ(p.shapeOf("y"), c.shape) << c.op;
        continue;
      }
      EXPECT_FALSE(p.parse(mb.bytes())) << c.op;
      ASSERT_GE(p.parser->getNbErrors(), 1) << c.op;
      EXPECT_EQ(p.parser->getError(0).code, ParserError::Code::kUNSUPPORTED_NODE) << p.errors();
      EXPECT_NE(p.errors().find("input '" + fed + "' of node 'n' (" + c.op +
                                ") must be a constant or computed from shapes; it is computed "
                                "from tensor data, which Kiln does not support yet"),
                std::string::npos)
          << p.errors();
    }
  }
}

TEST(OnnxParser, ImportedOpset11SoftmaxBuildsRunsAndMatchesHandComputedValues) {
  ModelBuilder mb(11);
  mb.input("x", onnx::TensorProto::FLOAT, {std::string("n"), int64_t{3}, int64_t{2}});
  attrInt(mb.node("Softmax", {"x"}, {"s"}, "sm"), "axis", 1);
  mb.floatInit("k", {1}, {2.f});
  mb.node("Mul", {"s", "k"}, {"y"}, "scale");
  mb.output("y");
  Parsed p;
  ASSERT_TRUE(p.parse(mb.bytes())) << p.errors();

  auto config = p.builder->createConfig();
  OptimizationProfile* prof = p.builder->createOptimizationProfile();
  ASSERT_TRUE(prof->setShape("x", {1, 3, 2}, {2, 3, 2}, {4, 3, 2}));
  ASSERT_EQ(config->addOptimizationProfile(prof), 0);
  auto plan = p.builder->buildSerializedNetwork(*p.network, *config);
  ASSERT_NE(plan, nullptr) << p.builder->getLastError() << p.logger.all();
  auto runtime = Runtime::create(p.logger);
  auto engine = runtime->deserializeEngine(plan->data(), plan->size());
  ASSERT_NE(engine, nullptr) << runtime->getLastError();
  auto ctx = engine->createExecutionContext();
  std::vector<float> x{0.1f, -1.f, 2.f, 0.5f, 0.f, 1.f, 3.f, -2.f, 0.25f, 0.75f, -0.5f, 1.5f};
  std::vector<float> y(12, std::nanf(""));
  ASSERT_TRUE(ctx->setInputShape("x", {2, 3, 2})) << ctx->getLastError();
  ASSERT_TRUE(ctx->setTensorAddress("x", x.data()));
  ASSERT_TRUE(ctx->setTensorAddress("y", y.data()));
  ASSERT_TRUE(ctx->executeV2()) << ctx->getLastError();
  for (int row = 0; row < 2; ++row) {
    double sum = 0;
    for (int j = 0; j < 6; ++j)
      sum += std::exp(static_cast<double>(x[static_cast<size_t>(row * 6 + j)]));
    for (int j = 0; j < 6; ++j) {
      size_t i = static_cast<size_t>(row * 6 + j);
      double want = 2.0 * std::exp(static_cast<double>(x[i])) / sum;
      EXPECT_NEAR(y[i], want, 1e-6 + 1e-5 * want) << i;
    }
  }
}

}  // namespace
}  // namespace kiln
