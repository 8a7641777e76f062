// ONNX import of the ai.onnx.ml ops Kiln handles (Binarizer, ArrayFeatureExtractor) and of
// TfIdfVectorizer's string form (refused): models built with the protobuf API, parsed, and the
// resulting layers, types and shapes checked against values written by hand. Their numbers are
// checked end to end by the ONNX conformance suite (test_ai_onnx_ml_*, test_tfidfvectorizer_*).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "kiln/kiln.h"
#include "onnx/onnx.pb.h"

namespace kiln {
namespace {

class QuietLogger : public Logger {
 public:
  void log(Severity, const char*) noexcept override {}
};

struct MlModel {
  onnx::ModelProto model;
  onnx::GraphProto* graph;
  explicit MlModel(int64_t mlOpset, int64_t defaultOpset = 0) {
    model.set_ir_version(8);
    auto* o = model.add_opset_import();
    o->set_domain("ai.onnx.ml");
    o->set_version(mlOpset);
    if (defaultOpset > 0) {
      auto* d = model.add_opset_import();
      d->set_domain("");
      d->set_version(defaultOpset);
    }
    graph = model.mutable_graph();
    graph->set_name("ml");
  }
  void input(const std::string& name, int32_t type, const std::vector<int64_t>& dims) {
    auto* tt = graph->add_input();
    tt->set_name(name);
    auto* t = tt->mutable_type()->mutable_tensor_type();
    t->set_elem_type(type);
    for (int64_t d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
  }
  onnx::NodeProto* node(const std::string& op, const std::string& domain,
                        const std::vector<std::string>& ins, const std::string& out) {
    auto* n = graph->add_node();
    n->set_op_type(op);
    n->set_domain(domain);
    for (const auto& i : ins) n->add_input(i);
    n->add_output(out);
    graph->add_output()->set_name(out);
    return n;
  }
};

struct ParseResult {
  QuietLogger logger;
  std::unique_ptr<Builder> builder;
  std::unique_ptr<NetworkDefinition> network;
  std::unique_ptr<OnnxParser> parser;
  bool ok = false;
  explicit ParseResult(const onnx::ModelProto& m) {
    builder = Builder::create(logger);
    network = builder->createNetwork();
    parser = OnnxParser::create(*network, logger);
    const std::string bytes = m.SerializeAsString();
    ok = parser->parse(bytes.data(), bytes.size(), nullptr);
  }
  std::string errors() const {
    std::string out;
    for (int i = 0; i < parser->getNbErrors(); ++i) out += parser->getError(i).toString() + "\n";
    return out;
  }
  std::vector<std::string> layerTypes() const {
    std::vector<std::string> out;
    for (int i = 0; i < network->getNbLayers(); ++i)
      out.emplace_back(network->getLayer(i)->getType());
    return out;
  }
  std::string shapeOf(const char* name) const {
    Tensor* t = network->getTensor(name);
    return t ? t->getShapeString() : "<none>";
  }
};

TEST(OnnxMlImport, BinarizerIsGreaterThenCastToTheInputType) {
  MlModel m(1);
  m.input("x", onnx::TensorProto::FLOAT, {3, 4});
  auto* n = m.node("Binarizer", "ai.onnx.ml", {"x"}, "y");
  auto* a = n->add_attribute();
  a->set_name("threshold");
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(0.5f);
  ParseResult p(m.model);
  ASSERT_TRUE(p.ok) << p.errors();
  EXPECT_EQ(p.layerTypes(), (std::vector<std::string>{"Greater", "Cast"}));
  EXPECT_EQ(p.network->getTensor("y")->getType(), DataType::kFLOAT);
  EXPECT_EQ(p.shapeOf("y"), "[3,4]");

  MlModel mi(1);  // integer input: compared in float64, cast back to int64
  mi.input("x", onnx::TensorProto::INT64, {2});
  mi.node("Binarizer", "ai.onnx.ml", {"x"}, "y");
  ParseResult pi(mi.model);
  ASSERT_TRUE(pi.ok) << pi.errors();
  EXPECT_EQ(pi.layerTypes(), (std::vector<std::string>{"Cast", "Greater", "Cast"}));
  EXPECT_EQ(pi.network->getTensor("y")->getType(), DataType::kINT64);
}

TEST(OnnxMlImport, ArrayFeatureExtractorGathersTheLastAxis) {
  MlModel m(3);
  m.input("x", onnx::TensorProto::FLOAT, {3, 4});
  m.input("i", onnx::TensorProto::INT64, {2});
  m.node("ArrayFeatureExtractor", "ai.onnx.ml", {"x", "i"}, "z");
  ParseResult p(m.model);
  ASSERT_TRUE(p.ok) << p.errors();
  EXPECT_EQ(p.shapeOf("z"), "[3,2]");

  MlModel v(1);  // a 1-D X gives one row
  v.input("x", onnx::TensorProto::FLOAT, {4});
  v.input("i", onnx::TensorProto::INT64, {1, 3});
  v.node("ArrayFeatureExtractor", "ai.onnx.ml", {"x", "i"}, "z");
  ParseResult pv(v.model);
  ASSERT_TRUE(pv.ok) << pv.errors();
  EXPECT_EQ(pv.shapeOf("z"), "[1,3]");

  MlModel bad(1);  // indices must be int64
  bad.input("x", onnx::TensorProto::FLOAT, {4});
  bad.input("i", onnx::TensorProto::INT32, {2});
  bad.node("ArrayFeatureExtractor", "ai.onnx.ml", {"x", "i"}, "z");
  ParseResult pb(bad.model);
  EXPECT_FALSE(pb.ok);
  EXPECT_NE(pb.errors().find("expected int64"), std::string::npos) << pb.errors();
}

TEST(OnnxMlImport, UnknownMlOpsAndNewerMlOpsetsAreRefused) {
  MlModel m(99);
  m.input("x", onnx::TensorProto::FLOAT, {2});
  m.node("Binarizer", "ai.onnx.ml", {"x"}, "y");
  ParseResult p(m.model);
  EXPECT_FALSE(p.ok);
  EXPECT_NE(p.errors().find("unsupported operator 'Binarizer'"), std::string::npos) << p.errors();

  MlModel s(1);
  s.input("x", onnx::TensorProto::FLOAT, {2});
  s.node("Scaler", "ai.onnx.ml", {"x"}, "y");
  ParseResult ps(s.model);
  EXPECT_FALSE(ps.ok);
  EXPECT_NE(ps.errors().find("unsupported operator 'Scaler'"), std::string::npos) << ps.errors();
}

TEST(OnnxMlImport, TfIdfVectorizerWithStringPoolIsRefused) {
  MlModel m(1, 9);
  m.input("x", onnx::TensorProto::INT64, {6});
  auto* n = m.node("TfIdfVectorizer", "", {"x"}, "y");
  auto* a = n->add_attribute();
  a->set_name("pool_strings");
  a->set_type(onnx::AttributeProto::STRINGS);
  a->add_strings("a");
  ParseResult p(m.model);
  EXPECT_FALSE(p.ok);
  EXPECT_NE(p.errors().find("no string tensors"), std::string::npos) << p.errors();
}

}  // namespace
}  // namespace kiln
