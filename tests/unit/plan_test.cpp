// Plan files: round trip, byte stability, alignment, and refusal of damaged or foreign plans.
//
// The graph is built by hand with every feature the format carries (symbolic dims of every
// expression kind, constants of several dtypes incl. 1000 floats, every attribute kind, an absent
// optional input, a multi-output node, a shape value, a precision). Damage tests check that the
// reader returns an error, never crashes, and says what is wrong; "crafted" damage re-computes
// the checksum so the structural checks behind it are exercised too.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common/half.h"
#include "ir/graph.h"
#include "plan/byte_io.h"
#include "plan/checksum.h"
#include "plan/plan.h"
#include "plan/plan_format.h"

namespace kiln::plan {
namespace {

using ir::DimExpr;
namespace fmt = format;

// ---- helpers ----------------------------------------------------------------------------------

std::vector<float> randomFloats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-3.f, 3.f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

struct TestGraph {
  std::unique_ptr<ir::Graph> graph;
  std::vector<float> weights;  // the 1000-float constant, as the test made it
};

TestGraph buildGraph() {
  TestGraph t;
  t.graph = std::make_unique<ir::Graph>();
  ir::Graph& g = *t.graph;
  DimExpr batch = DimExpr::symbol("batch"), seq = DimExpr::symbol("seq");
  DimExpr h = DimExpr::symbol("H"), w = DimExpr::symbol("W");

  ir::Value* images = g.addInput("images", DataType::kFLOAT, {batch, 3, h, w});
  ir::Value* tokens = g.addInput("tokens", DataType::kINT64, {batch, seq});

  t.weights = randomFloats(1000, 42);
  ir::Value* weight =
      g.addConstant("weight", ir::TensorData::fromVector(DataType::kFLOAT, {10, 100}, t.weights));
  // Another value sharing the same data: stored once, shared again after loading.
  ir::Value* weightAlias = g.addConstant("weight_alias", weight->constant);
  std::vector<uint16_t> halfBits = {0x3C00, 0xC000, 0x3555};  // 1.0, -2.0, ~0.333
  g.addConstant("bias_h", ir::TensorData::fromVector(DataType::kHALF, {3}, halfBits));
  ir::Value* shape = g.addConstant("target_shape", ir::TensorData::vectorInt64({-1, 40}));
  std::vector<uint8_t> mask = {1, 0, 0, 1};
  g.addConstant("mask", ir::TensorData::fromVector(DataType::kBOOL, {2, 2}, mask));
  std::vector<int8_t> q = {-128, -1, 0, 1, 127};
  g.addConstant("q_i8", ir::TensorData::fromVector(DataType::kINT8, {5}, q));
  g.addConstant("empty", std::make_shared<ir::TensorData>(DataType::kFLOAT,
                                                          std::vector<int64_t>{0, 4}));
  std::vector<double> dbl = {3.141592653589793};
  ir::Value* scalar =
      g.addConstant("pi", ir::TensorData::fromVector(DataType::kDOUBLE, {}, dbl));
  std::vector<int32_t> i32 = {7, -7, 1 << 30};
  g.addConstant("i32s", ir::TensorData::fromVector(DataType::kINT32, {3}, i32));

  // Conv with an absent optional bias and a symbolic spatial size.
  ir::Attributes convAttrs;
  convAttrs.setInts("kernel_shape", {3, 3});
  convAttrs.setInts("strides", {2, 2});
  convAttrs.setInts("pads", {1, 1, 1, 1});
  convAttrs.setInt("group", 1);
  convAttrs.setString("auto_pad", "NOTSET");
  ir::Node* conv = g.addNode(ir::OpKind::kConv, "conv1", {images, weightAlias, nullptr}, convAttrs);
  DimExpr oh = floorDiv(h + 2 - 3, DimExpr(2)) + 1;
  DimExpr ow = ceilDiv(w, DimExpr(2));
  conv->outputs[0]->shape = {batch, 10, oh, ow};

  // Three outputs.
  ir::Attributes splitAttrs;
  splitAttrs.setInt("axis", 1);
  splitAttrs.setInt("num_outputs", 3);
  ir::Node* split = g.addNode(ir::OpKind::kSplit, "split", {conv->outputs[0], nullptr},
                              splitAttrs, 3);
  split->outputs[0]->shape = {batch, 4, oh, ow};
  split->outputs[1]->shape = {batch, 3, oh, ow};
  split->outputs[2]->shape = {batch, 3, oh % 4, dimMax(ow, seq)};

  ir::Attributes actAttrs;
  actAttrs.setFloat("alpha", 0.125f);
  ir::Node* act = g.addNode(ir::OpKind::kLeakyRelu, "act", {split->outputs[0]}, actAttrs);
  act->outputs[0]->shape = split->outputs[0]->shape;

  // Resize: absent roi and scales, float list, string list (with an empty string).
  ir::Attributes resizeAttrs;
  resizeAttrs.setString("mode", "linear");
  resizeAttrs.setString("coordinate_transformation_mode", "half_pixel");
  resizeAttrs.setFloat("extrapolation_value", -1.5f);
  resizeAttrs.setFloats("scales_hint", {1.f, 1.f, 2.f, 0.5f});
  resizeAttrs.setInts("axes", {});
  resizeAttrs.set("tags", std::vector<std::string>{"upsample", "", "layer \"7\""});
  ir::Node* resize =
      g.addNode(ir::OpKind::kResize, "resize", {act->outputs[0], nullptr, nullptr, shape},
                resizeAttrs);
  resize->outputs[0]->shape = {batch, 4, oh * 2, dimMin(ow, seq) - 1};
  resize->precision = DataType::kHALF;

  // Tensor attributes: a value and a null tensor.
  ir::Attributes cosAttrs;
  std::vector<float> fill = {1.5f, -2.25f};
  cosAttrs.setTensor("value", ir::TensorData::fromVector(DataType::kFLOAT, {2}, fill));
  cosAttrs.setTensor("unset", nullptr);
  ir::Node* cos = g.addNode(ir::OpKind::kConstantOfShape, "fill", {shape}, cosAttrs);
  cos->outputs[0]->shape = {DimExpr(2), DimExpr(40)};

  ir::Node* gather = g.addNode(ir::OpKind::kGather, "gather", {weight, tokens}, {});
  gather->outputs[0]->dtype = DataType::kFLOAT;
  gather->outputs[0]->shape = {batch, seq, 100};
  gather->outputs[0]->shapeValue = std::vector<DimExpr>{batch, seq * 2, DimExpr(5)};

  ir::Node* sum = g.addNode(ir::OpKind::kAdd, "sum", {split->outputs[1], split->outputs[2]}, {});
  sum->outputs[0]->dtype = DataType::kHALF;
  sum->outputs[0]->shape = split->outputs[1]->shape;

  g.markOutput(resize->outputs[0]);
  g.markOutput(gather->outputs[0]);
  g.markOutput(sum->outputs[0]);
  g.markOutput(cos->outputs[0]);
  g.markOutput(scalar);
  EXPECT_TRUE(g.compact().isOk());
  return t;
}

PlanContents makePlan(TestGraph* t) {
  PlanContents p;
  p.networkName = "hand built network";
  p.graph = std::move(t->graph);
  Profile p0;
  p0.inputs.push_back({"images", {1, 3, 32, 32}, {8, 3, 224, 224}, {16, 3, 512, 512}, {}, {}, {}});
  p0.inputs.push_back({"tokens", {1, 1}, {8, 128}, {16, 1024}, {}, {}, {}});
  Profile p1;
  p1.inputs.push_back({"images", {1, 3, 8, 8}, {1, 3, 8, 8}, {1, 3, 8, 8}, {}, {}, {}});
  // Value bounds (shape tensor inputs, format 2) travel with the profile.
  p1.inputs.push_back({"tokens", {2, 3}, {2, 3}, {2, 3}, {1, 1}, {4, 8}, {9, 64}});
  p.profiles = {p0, p1};
  p.device.type = DeviceType::kGPU;
  p.device.name = "NVIDIA H100 80GB HBM3";
  p.device.smMajor = 9;
  p.device.smMinor = 0;
  p.device.libraries = "cuda=13.0 cudnn=9.19.0";
  return p;
}

std::vector<uint8_t> serializeOrDie(const PlanContents& p) {
  auto bytes = serializePlan(p);
  EXPECT_TRUE(bytes.isOk()) << bytes.status().toString();
  return bytes.isOk() ? *bytes : std::vector<uint8_t>{};
}

// A plan made once for all damage tests.
const std::vector<uint8_t>& samplePlan() {
  static const std::vector<uint8_t> kBytes = [] {
    TestGraph t = buildGraph();
    return serializeOrDie(makePlan(&t));
  }();
  return kBytes;
}

// Recomputes the checksum after a deliberate patch, so the reader gets past it.
void rechecksum(std::vector<uint8_t>& b) {
  uint32_t crc = crc32c(std::span<const uint8_t>(b).subspan(fmt::kChecksummedFrom));
  storeU32(b.data() + fmt::kChecksumOffset, crc);
}

// Encoded string (u32 length + bytes), as the plan stores names.
std::vector<uint8_t> enc(const std::string& s) {
  std::vector<uint8_t> out;
  ByteWriter(&out).str(s);
  return out;
}

// Offset of the first occurrence of `needle` at or after `from`; fails the test if absent.
size_t find(const std::vector<uint8_t>& b, const std::vector<uint8_t>& needle, size_t from = 0) {
  auto it = std::search(b.begin() + static_cast<long>(from), b.end(), needle.begin(),
                        needle.end());
  EXPECT_NE(it, b.end());
  return it == b.end() ? 0 : static_cast<size_t>(it - b.begin());
}

std::vector<uint8_t> concat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

struct SectionRef {
  uint64_t offset = 0, size = 0;
  size_t entryAt = 0;  // where its table entry is
};

// Walks the header (as docs/plan_format.md describes it) to a section's table entry.
SectionRef findSection(const std::vector<uint8_t>& b, fmt::SectionType type) {
  size_t p = fmt::kFixedHeaderSize;
  auto skipStr = [&] { p += 4 + loadU32(b.data() + p); };
  skipStr();  // library version
  p += 4;     // device type
  skipStr();  // device name
  p += 8;     // sm major, minor
  skipStr();  // libraries
  uint32_t n = loadU32(b.data() + p);
  p += 4;
  for (uint32_t i = 0; i < n; ++i, p += fmt::kSectionEntrySize) {
    if (loadU32(b.data() + p) == static_cast<uint32_t>(type))
      return {loadU64(b.data() + p + 8), loadU64(b.data() + p + 16), p};
  }
  ADD_FAILURE() << "section not found";
  return {};
}

void expectAttrEqual(const ir::AttrValue& a, const ir::AttrValue& b, const std::string& where) {
  ASSERT_EQ(a.index(), b.index()) << where;
  if (auto* fa = std::get_if<float>(&a)) {
    EXPECT_EQ(std::memcmp(fa, std::get_if<float>(&b), 4), 0) << where;  // bit-exact
  } else if (auto* ta = std::get_if<ir::TensorDataPtr>(&a)) {
    const auto& tb = std::get<ir::TensorDataPtr>(b);
    ASSERT_EQ(*ta == nullptr, tb == nullptr) << where;
    if (!*ta) return;
    EXPECT_EQ((*ta)->dtype(), tb->dtype()) << where;
    EXPECT_EQ((*ta)->dims(), tb->dims()) << where;
    ASSERT_EQ((*ta)->bytes(), tb->bytes()) << where;
    EXPECT_EQ(std::memcmp((*ta)->data(), tb->data(), tb->bytes()), 0) << where;
  } else {
    EXPECT_TRUE(a == b) << where;
  }
}

// Structural equality: same ids, names, ops, attributes, shapes (as strings), constant bytes.
void expectGraphsEqual(const ir::Graph& a, const ir::Graph& b) {
  std::vector<ir::Value*> va = a.values(), vb = b.values();
  ASSERT_EQ(va.size(), vb.size());
  for (size_t i = 0; i < va.size(); ++i) {
    const ir::Value& x = *va[i];
    const ir::Value& y = *vb[i];
    SCOPED_TRACE("value " + x.name);
    EXPECT_EQ(x.id, y.id);
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.dtype, y.dtype);
    EXPECT_EQ(ir::shapeToString(x.shape), ir::shapeToString(y.shape));
    EXPECT_TRUE(ir::shapesEqual(x.shape, y.shape));
    EXPECT_EQ(x.isGraphInput, y.isGraphInput);
    EXPECT_EQ(x.isGraphOutput, y.isGraphOutput);
    EXPECT_EQ(x.producer ? x.producer->name : "", y.producer ? y.producer->name : "");
    ASSERT_EQ(x.isConstant(), y.isConstant());
    if (x.isConstant()) {
      EXPECT_EQ(x.constant->dtype(), y.constant->dtype());
      EXPECT_EQ(x.constant->dims(), y.constant->dims());
      ASSERT_EQ(x.constant->bytes(), y.constant->bytes());
      EXPECT_EQ(std::memcmp(x.constant->data(), y.constant->data(), x.constant->bytes()), 0);
    }
    ASSERT_EQ(x.shapeValue.has_value(), y.shapeValue.has_value());
    if (x.shapeValue) {
      EXPECT_EQ(ir::shapeToString(*x.shapeValue), ir::shapeToString(*y.shapeValue));
    }
  }
  std::vector<ir::Node*> na = a.nodes(), nb = b.nodes();
  ASSERT_EQ(na.size(), nb.size());
  auto ids = [](const std::vector<ir::Value*>& vs) {
    std::vector<int> out;
    for (const ir::Value* v : vs) out.push_back(v ? v->id : -1);
    return out;
  };
  for (size_t i = 0; i < na.size(); ++i) {
    const ir::Node& x = *na[i];
    const ir::Node& y = *nb[i];
    SCOPED_TRACE("node " + x.name);
    EXPECT_EQ(x.id, y.id);
    EXPECT_EQ(x.op, y.op);
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(ids(x.inputs), ids(y.inputs));
    EXPECT_EQ(ids(x.outputs), ids(y.outputs));
    EXPECT_EQ(x.precision, y.precision);
    ASSERT_EQ(x.attrs.all().size(), y.attrs.all().size());
    for (const auto& [name, value] : x.attrs.all()) {
      auto it = y.attrs.all().find(name);
      ASSERT_NE(it, y.attrs.all().end()) << name;
      expectAttrEqual(value, it->second, name);
    }
  }
  EXPECT_EQ(ids(a.inputs()), ids(b.inputs()));
  EXPECT_EQ(ids(a.outputs()), ids(b.outputs()));
}

// ---- checksum ---------------------------------------------------------------------------------

TEST(PlanChecksum, Crc32cKnownAnswers) {
  // Check value of the CRC catalogue and RFC 3720 (iSCSI) appendix B.4 vectors.
  std::string digits = "123456789";
  std::span<const uint8_t> d(reinterpret_cast<const uint8_t*>(digits.data()), digits.size());
  EXPECT_EQ(crc32c(d), 0xE3069283u);
  EXPECT_EQ(crc32cSoftware(d), 0xE3069283u);
  std::vector<uint8_t> zeros(32, 0), ones(32, 0xFF), inc(32);
  for (size_t i = 0; i < 32; ++i) inc[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(crc32c(zeros), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones), 0x62A8AB43u);
  EXPECT_EQ(crc32c(inc), 0x46DD794Eu);
  EXPECT_EQ(crc32cSoftware(inc), 0x46DD794Eu);
  EXPECT_EQ(crc32c({}), 0u);
}

TEST(PlanChecksum, HardwareMatchesSoftwareAndChains) {
  std::mt19937 rng(7);
  for (size_t n : {1u, 7u, 8u, 9u, 63u, 64u, 1000u, 4099u}) {
    std::vector<uint8_t> b(n);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    std::span<const uint8_t> s(b);
    EXPECT_EQ(crc32c(s), crc32cSoftware(s)) << n;
    size_t cut = n / 3;
    EXPECT_EQ(crc32c(s.subspan(cut), crc32c(s.first(cut))), crc32c(s)) << n;
  }
}

// ---- round trip -------------------------------------------------------------------------------

TEST(Plan, RoundTripPreservesEverything) {
  TestGraph t = buildGraph();
  std::unique_ptr<ir::Graph> reference = t.graph->clone();
  std::vector<float> weights = t.weights;
  PlanContents plan = makePlan(&t);
  std::vector<uint8_t> bytes = serializeOrDie(plan);
  ASSERT_FALSE(bytes.empty());
  EXPECT_EQ(std::memcmp(bytes.data(), "KILNPLAN", 8), 0);
  EXPECT_EQ(loadU32(bytes.data() + 8), kPlanFormatVersion);
  EXPECT_EQ(loadU64(bytes.data() + 16), bytes.size());

  auto loaded = deserializePlan(bytes);
  ASSERT_TRUE(loaded.isOk()) << loaded.status().toString();
  expectGraphsEqual(*reference, *loaded->graph);
  EXPECT_TRUE(ir::verifyGraph(*loaded->graph).isOk());

  const ir::Graph& g = *loaded->graph;
  // Hand-known facts, independent of the writer.
  EXPECT_EQ(g.inputs().size(), 2u);
  EXPECT_EQ(g.inputs()[0]->name, "images");
  EXPECT_EQ(ir::shapeToString(g.inputs()[0]->shape), "[batch,3,H,W]");
  const ir::Value* convOut = g.findValue("conv1");
  ASSERT_NE(convOut, nullptr);
  EXPECT_EQ(ir::shapeToString(convOut->shape), "[batch,10,(floordiv(((H+2)-3),2)+1),ceildiv(W,2)]");
  EXPECT_EQ(convOut->shape[2].substitute({{"H", 31}}).constValue(), 16);  // (31+2-3)//2+1
  const ir::Node* conv = g.findNode("conv1");
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->op, ir::OpKind::kConv);
  EXPECT_EQ(conv->inputs.size(), 3u);
  EXPECT_EQ(conv->inputs[2], nullptr);  // absent bias
  EXPECT_EQ(conv->attrs.getInts("pads"), (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(conv->attrs.getString("auto_pad"), "NOTSET");
  const ir::Node* split = g.findNode("split");
  ASSERT_NE(split, nullptr);
  ASSERT_EQ(split->outputs.size(), 3u);
  EXPECT_EQ(split->outputs[2]->name, "split_out2");
  EXPECT_EQ(split->outputs[2]->producer, split);
  EXPECT_EQ(g.findNode("act")->attrs.getFloat("alpha"), 0.125f);
  const ir::Node* resize = g.findNode("resize");
  EXPECT_EQ(resize->precision, DataType::kHALF);
  EXPECT_EQ(std::get<std::vector<std::string>>(resize->attrs.all().at("tags")),
            (std::vector<std::string>{"upsample", "", "layer \"7\""}));
  EXPECT_EQ(resize->attrs.getFloats("scales_hint"), (std::vector<float>{1.f, 1.f, 2.f, 0.5f}));
  ir::TensorDataPtr fill = g.findNode("fill")->attrs.getTensor("value");
  ASSERT_NE(fill, nullptr);
  EXPECT_EQ(fill->as<float>()[1], -2.25f);
  EXPECT_EQ(g.findNode("fill")->attrs.getTensor("unset"), nullptr);
  EXPECT_TRUE(g.findNode("fill")->attrs.has("unset"));
  const ir::Value* gatherOut = g.findValue("gather");
  ASSERT_TRUE(gatherOut->shapeValue.has_value());
  EXPECT_EQ(ir::shapeToString(*gatherOut->shapeValue), "[batch,seq*2,5]");
  // Constants: bytes equal to what the test generated; shared data stays shared.
  const ir::Value* w = g.findValue("weight");
  ASSERT_TRUE(w && w->isConstant());
  ASSERT_EQ(w->constant->numel(), 1000);
  EXPECT_EQ(std::memcmp(w->constant->data(), weights.data(), 4000), 0);
  EXPECT_EQ(g.findValue("weight_alias")->constant, w->constant);
  EXPECT_EQ(g.findValue("bias_h")->constant->as<uint16_t>()[1], 0xC000);
  EXPECT_EQ(g.findValue("q_i8")->constant->as<int8_t>()[0], -128);
  EXPECT_EQ(g.findValue("i32s")->constant->as<int32_t>()[2], 1 << 30);
  EXPECT_EQ(g.findValue("pi")->constant->as<double>()[0], 3.141592653589793);
  EXPECT_TRUE(g.findValue("pi")->isGraphOutput);
  EXPECT_EQ(g.findValue("empty")->constant->numel(), 0);
  EXPECT_EQ(ir::shapeToString(g.findValue("empty")->shape), "[0,4]");

  EXPECT_EQ(loaded->networkName, "hand built network");
  EXPECT_EQ(loaded->libraryVersion, versionString());
  EXPECT_EQ(loaded->device.type, DeviceType::kGPU);
  EXPECT_EQ(loaded->device.name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(loaded->device.smMajor, 9);
  EXPECT_EQ(loaded->device.smMinor, 0);
  EXPECT_EQ(loaded->device.libraries, "cuda=13.0 cudnn=9.19.0");
  ASSERT_EQ(loaded->profiles.size(), 2u);
  ASSERT_EQ(loaded->profiles[0].inputs.size(), 2u);
  EXPECT_EQ(loaded->profiles[0].inputs[0].name, "images");
  EXPECT_EQ(loaded->profiles[0].inputs[0].min, (std::vector<int64_t>{1, 3, 32, 32}));
  EXPECT_EQ(loaded->profiles[0].inputs[0].opt, (std::vector<int64_t>{8, 3, 224, 224}));
  EXPECT_EQ(loaded->profiles[0].inputs[1].max, (std::vector<int64_t>{16, 1024}));
  EXPECT_EQ(loaded->profiles[1].inputs[1].min, (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(loaded->profiles[0].inputs[1].minValues.empty());
  EXPECT_EQ(loaded->profiles[1].inputs[1].minValues, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(loaded->profiles[1].inputs[1].optValues, (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(loaded->profiles[1].inputs[1].maxValues, (std::vector<int64_t>{9, 64}));

  // Writing what was read gives the same bytes.
  EXPECT_EQ(serializeOrDie(*loaded), bytes);
}

TEST(Plan, WriterDoesNotTouchTheCallersGraph) {
  TestGraph t = buildGraph();
  PlanContents plan = makePlan(&t);
  // A dead node leaves a hole in the ids; the writer compacts a copy.
  ir::Node* dead = plan.graph->addNode(ir::OpKind::kRelu, "dead", {plan.graph->inputs()[0]}, {});
  plan.graph->removeNode(dead);
  size_t capacity = plan.graph->valueCapacity();
  auto bytes = serializePlan(plan);
  ASSERT_TRUE(bytes.isOk()) << bytes.status().toString();
  EXPECT_EQ(plan.graph->valueCapacity(), capacity);
  auto loaded = deserializePlan(*bytes);
  ASSERT_TRUE(loaded.isOk()) << loaded.status().toString();
  EXPECT_EQ(loaded->graph->valueCapacity(), capacity - 1);
  EXPECT_EQ(loaded->graph->findNode("dead"), nullptr);
}

TEST(Plan, MinimalGraphAndCpuDevice) {
  PlanContents p;
  p.graph = std::make_unique<ir::Graph>();
  ir::Value* x = p.graph->addInput("x", DataType::kUINT8, {DimExpr::symbol("n")});
  p.graph->markOutput(x);
  auto bytes = serializePlan(p);
  ASSERT_TRUE(bytes.isOk()) << bytes.status().toString();
  auto loaded = deserializePlan(*bytes);
  ASSERT_TRUE(loaded.isOk()) << loaded.status().toString();
  EXPECT_EQ(loaded->device.type, DeviceType::kCPU);
  EXPECT_EQ(loaded->device.name, "cpu");
  EXPECT_EQ(loaded->networkName, "");
  EXPECT_TRUE(loaded->profiles.empty());
  ASSERT_EQ(loaded->graph->outputs().size(), 1u);
  EXPECT_EQ(loaded->graph->outputs()[0], loaded->graph->inputs()[0]);
  EXPECT_EQ(serializeOrDie(*loaded), *bytes);
}

TEST(Plan, ConstantsAndSectionsAre64ByteAligned) {
  const std::vector<uint8_t>& b = samplePlan();
  for (auto type : {fmt::SectionType::kMetadata, fmt::SectionType::kGraph,
                    fmt::SectionType::kProfiles, fmt::SectionType::kConstants})
    EXPECT_EQ(findSection(b, type).offset % 64, 0u);
  SectionRef cs = findSection(b, fmt::SectionType::kConstants);
  size_t p = cs.offset;
  uint32_t n = loadU32(b.data() + p);
  p += 4;
  EXPECT_EQ(n, 8u);  // weight (shared by weight_alias), bias_h, target_shape, mask, q_i8, ...
  std::vector<float> weights = randomFloats(1000, 42);
  bool sawWeights = false;
  for (uint32_t i = 0; i < n; ++i) {
    int32_t dtype = static_cast<int32_t>(loadU32(b.data() + p));
    uint32_t rank = loadU32(b.data() + p + 4);
    p += 8 + 8 * rank;
    uint64_t offset = loadU64(b.data() + p), size = loadU64(b.data() + p + 8);
    p += 16;
    EXPECT_EQ(offset % 64, 0u) << "constant " << i;
    EXPECT_LE(offset + size, cs.offset + cs.size);
    if (dtype == static_cast<int32_t>(DataType::kFLOAT) && size == 4000) {
      sawWeights = true;
      EXPECT_EQ(std::memcmp(b.data() + offset, weights.data(), 4000), 0);
    }
  }
  EXPECT_TRUE(sawWeights);
}

TEST(Plan, SerializingTwiceIsDeterministic) {
  TestGraph a = buildGraph(), b = buildGraph();
  EXPECT_EQ(serializeOrDie(makePlan(&a)), serializeOrDie(makePlan(&b)));
}

// ---- damage -----------------------------------------------------------------------------------

TEST(PlanDamage, TruncatedAtEveryLength) {
  const std::vector<uint8_t>& b = samplePlan();
  ASSERT_GT(b.size(), 4000u);
  for (size_t len = 0; len < b.size(); ++len) {
    auto r = deserializePlan(std::span<const uint8_t>(b.data(), len));
    ASSERT_FALSE(r.isOk()) << len;
    ASSERT_EQ(r.status().code(), StatusCode::kDataLoss) << len << ": " << r.status().toString();
    if (len >= fmt::kFixedHeaderSize) {
      std::string want = "expected " + std::to_string(b.size()) + " bytes, got " +
                         std::to_string(len);
      ASSERT_NE(r.status().message().find(want), std::string::npos) << r.status().message();
      ASSERT_NE(r.status().message().find("truncated"), std::string::npos);
    }
  }
  EXPECT_NE(deserializePlan(std::span<const uint8_t>(b.data(), 0)).status().message().find("empty"),
            std::string::npos);
}

TEST(PlanDamage, TrailingBytes) {
  std::vector<uint8_t> b = samplePlan();
  b.push_back(0);
  auto r = deserializePlan(b);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("1 unexpected trailing bytes"), std::string::npos)
      << r.status().message();
}

TEST(PlanDamage, EveryFlippedByteIsCaught) {
  const std::vector<uint8_t>& original = samplePlan();
  std::vector<uint8_t> b = original;
  for (size_t i = 0; i < b.size(); ++i) {
    b[i] ^= 0x5A;
    auto r = deserializePlan(b);
    b[i] = original[i];
    ASSERT_FALSE(r.isOk()) << "flipping byte " << i << " went unnoticed";
    if (i >= fmt::kChecksumOffset) {
      ASSERT_EQ(r.status().code(), StatusCode::kDataLoss) << i;
      ASSERT_EQ(r.status().message(),
                "the plan file is corrupted (checksum mismatch): rebuild it with `kiln build`")
          << i;
    }
  }
  b[9] ^= 1;  // format version
  EXPECT_EQ(deserializePlan(b).status().code(), StatusCode::kVersionMismatch);
}

TEST(PlanDamage, WrongMagic) {
  // The first bytes of an ONNX ModelProto (field 1, ir_version).
  std::vector<uint8_t> onnx = {0x08, 0x07, 0x12, 0x07, 'p', 'y', 't', 'o', 'r', 'c', 'h'};
  onnx.resize(200, 0);
  auto r = deserializePlan(onnx);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("not a Kiln plan (bad magic"), std::string::npos);
  EXPECT_NE(r.status().message().find("ONNX"), std::string::npos);
  EXPECT_NE(r.status().message().find("--onnx="), std::string::npos);
  EXPECT_NE(r.status().message().find("08071207"), std::string::npos) << r.status().message();
  std::vector<uint8_t> b = samplePlan();
  b[3] = 'X';
  EXPECT_EQ(deserializePlan(b).status().code(), StatusCode::kInvalidArgument);
}

TEST(PlanDamage, OtherFormatVersion) {
  std::vector<uint8_t> b = samplePlan();
  storeU32(b.data() + fmt::kFormatVersionOffset, kPlanFormatVersion + 1);
  auto r = deserializePlan(b);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kVersionMismatch);
  std::string want = "plan format version " + std::to_string(kPlanFormatVersion + 1) +
                     ", this Kiln reads version " + std::to_string(kPlanFormatVersion) +
                     ": rebuild the plan with this version";
  EXPECT_NE(r.status().message().find(want), std::string::npos) << r.status().message();
}

TEST(PlanDamage, OtherLibraryVersion) {
  std::vector<uint8_t> b = samplePlan();
  std::string mine = versionString();
  std::string other(mine.size(), '9');
  other[1] = '.';
  size_t at = find(b, enc(mine));
  ASSERT_EQ(at, fmt::kFixedHeaderSize);
  std::memcpy(b.data() + at + 4, other.data(), other.size());
  rechecksum(b);
  auto r = deserializePlan(b);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kVersionMismatch);
  EXPECT_NE(r.status().message().find("built by Kiln " + other + ", this is Kiln " + mine),
            std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("rebuild the plan"), std::string::npos);
}

// Patches a plan, fixes the checksum, and expects a clean kDataLoss whose message contains
// `want`.
void expectCrafted(const char* what, const std::function<void(std::vector<uint8_t>&)>& patch,
                   const std::string& want) {
  SCOPED_TRACE(what);
  std::vector<uint8_t> b = samplePlan();
  patch(b);
  rechecksum(b);
  auto r = deserializePlan(b);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << r.status().toString();
  EXPECT_NE(r.status().message().find("the plan is corrupted"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find(want), std::string::npos) << r.status().message();
}

TEST(PlanDamage, CraftedCountsAndIdsAreRefused) {
  using Bytes = std::vector<uint8_t>;
  const Bytes& b0 = samplePlan();
  SectionRef graph = findSection(b0, fmt::SectionType::kGraph);
  SectionRef consts = findSection(b0, fmt::SectionType::kConstants);
  // The "sum" node record: str "Add", str "sum", u32 attrs (0), u32 #inputs, i32 ids...,
  // u32 #outputs, i32 ids.
  size_t sum = find(b0, concat(enc("Add"), enc("sum")), graph.offset) + 4 + 3 + 4 + 3;
  // The "images" value record: str name, i32 dtype, u32 flags, u32 rank, dims (u32 tokens, ...).
  size_t images = find(b0, enc("images"), graph.offset) + 4 + 6;
  int32_t sumOut = static_cast<int32_t>(loadU32(b0.data() + sum + 20));

  expectCrafted("value count", [&](Bytes& b) { storeU32(b.data() + graph.offset, 0xFFFFFFFFu); },
                "value count 4294967295");
  expectCrafted("input count", [&](Bytes& b) { storeU32(b.data() + sum + 4, 0x40000000u); },
                "node input count");
  expectCrafted("input id out of range", [&](Bytes& b) { storeU32(b.data() + sum + 8, 9999); },
                "refers to tensor #9999");
  expectCrafted("negative input id", [&](Bytes& b) { storeU32(b.data() + sum + 8, 0xFFFFFFF9u); },
                "refers to tensor #-7");
  expectCrafted("input defined later",
                [&](Bytes& b) { storeU32(b.data() + sum + 8, static_cast<uint32_t>(sumOut)); },
                "not defined before the node");
  expectCrafted("output id elsewhere", [&](Bytes& b) { storeU32(b.data() + sum + 20, 0); },
                "is a network input or a constant");
  expectCrafted("unknown op",
                [&](Bytes& b) { b[find(b, concat(enc("Add"), enc("sum"))) + 5] = 'x'; },
                "op 'Axd', which this Kiln does not know");
  expectCrafted("unknown dtype", [&](Bytes& b) { storeU32(b.data() + images, 6); },
                "unknown data type 6 for tensor 'images'");
  expectCrafted("bad flags", [&](Bytes& b) { storeU32(b.data() + images + 4, 0x100); },
                "invalid flags");
  expectCrafted("huge rank", [&](Bytes& b) { storeU32(b.data() + images + 8, 0xFFFFFFF0u); },
                "dimension count");
  expectCrafted("huge token count",
                [&](Bytes& b) { storeU32(b.data() + images + 12, 0x7FFFFFFFu); },
                "shape expression token count");
  expectCrafted("unknown expression kind", [&](Bytes& b) { b[images + 16] = 42; },
                "unknown shape expression kind 42");
  expectCrafted("huge name", [&](Bytes& b) {
    storeU32(b.data() + find(b, enc("images"), graph.offset), 0xFFFFFFF0u);
  }, "graph section ends early");
  expectCrafted("unknown attribute kind",
                [&](Bytes& b) { b[find(b, enc("alpha"), graph.offset) + 9] = 9; },
                "unknown attribute kind 9");
  expectCrafted("huge attribute list",
                [&](Bytes& b) { storeU32(b.data() + find(b, enc("pads"), graph.offset) + 9,
                                         0x20000000u); },
                "attribute list element count");
  // Constants: count, dims (a dim of 2^40 floats must not be allocated), data offset.
  expectCrafted("constant count",
                [&](Bytes& b) { storeU32(b.data() + consts.offset, 0x7FFFFFFFu); },
                "constant count");
  expectCrafted("constant dims",
                [&](Bytes& b) { storeU64(b.data() + consts.offset + 12, uint64_t{1} << 40); },
                "holds 4000 bytes but float32[1099511627776,100] needs");
  expectCrafted("constant dims overflow",
                [&](Bytes& b) { storeU64(b.data() + consts.offset + 12, uint64_t{1} << 62); },
                "overflows");
  expectCrafted("constant offset", [&](Bytes& b) {
    storeU64(b.data() + consts.offset + 28, (b.size() / 64 + 2) * 64);
  }, "lies outside the constants section");
  expectCrafted("constant index", [&](Bytes& b) {
    // The "weight" value record: str, dtype, flags, rank 2 with two one-token constant dims
    // (4 + 1 + 8 each), then the constant index.
    storeU32(b.data() + find(b, enc("weight"), graph.offset) + 10 + 12 + 2 * 13, 77);
  }, "refers to constant #77, but the plan has 8 constants");
  expectCrafted("section offset", [&](Bytes& b) {
    storeU64(b.data() + graph.entryAt + 8, uint64_t{1} << 60);
  }, "lies outside the plan");
  expectCrafted("section type", [&](Bytes& b) { storeU32(b.data() + graph.entryAt, 99); },
                "unknown section type 99");
  expectCrafted("header flags", [&](Bytes& b) { storeU32(b.data() + fmt::kFlagsOffset, 1); },
                "unknown header flags");
}

// Random damage with a valid checksum: the reader may accept (a changed weight is still a
// plan) but must never crash, and what it accepts must be writable again.
TEST(PlanDamage, RandomCraftedPatchesNeverCrash) {
  const std::vector<uint8_t>& original = samplePlan();
  std::mt19937 rng(1234);
  int accepted = 0, refused = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<uint8_t> b = original;
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      size_t at = fmt::kChecksummedFrom + rng() % (b.size() - fmt::kChecksummedFrom - 4);
      switch (rng() % 4) {
        case 0: b[at] = static_cast<uint8_t>(rng()); break;
        case 1: b[at] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
        case 2: storeU32(b.data() + at, rng()); break;
        default: storeU32(b.data() + at, static_cast<uint32_t>(rng() % 16)); break;
      }
    }
    rechecksum(b);
    auto r = deserializePlan(b);
    if (r.isOk()) {
      ++accepted;
      ASSERT_TRUE(serializePlan(*r).isOk()) << "iteration " << iter;
      continue;
    }
    ++refused;
    StatusCode c = r.status().code();
    ASSERT_TRUE(c == StatusCode::kDataLoss || c == StatusCode::kVersionMismatch)
        << iter << ": " << r.status().toString();
  }
  EXPECT_GT(refused, 1000);
  EXPECT_GT(accepted, 10);  // the constant data is most of the plan
}

// ---- device ----------------------------------------------------------------------------------

TEST(PlanDevice, Compatibility) {
  TargetDevice cpu;
  TargetDevice h100{DeviceType::kGPU, "NVIDIA H100 80GB HBM3", 9, 0, "cuda=13.0"};
  TargetDevice h200{DeviceType::kGPU, "NVIDIA H200", 9, 0, "cuda=13.0"};
  TargetDevice a100{DeviceType::kGPU, "NVIDIA A100-SXM4-80GB", 8, 0, "cuda=12.4"};
  EXPECT_TRUE(checkDeviceCompatible(cpu, cpu).isOk());
  EXPECT_TRUE(checkDeviceCompatible(cpu, h100).isOk());  // CPU plans run on the CPU anywhere
  EXPECT_TRUE(checkDeviceCompatible(h100, h200).isOk());  // same SM

  Status s = checkDeviceCompatible(h100, a100);
  ASSERT_FALSE(s.isOk());
  EXPECT_EQ(s.code(), StatusCode::kVersionMismatch);
  for (const char* part : {"NVIDIA H100 80GB HBM3", "sm_90", "NVIDIA A100-SXM4-80GB", "sm_80",
                           "rebuild the plan on this machine"})
    EXPECT_NE(s.message().find(part), std::string::npos) << part << " in: " << s.message();

  s = checkDeviceCompatible(h100, cpu);
  ASSERT_FALSE(s.isOk());
  EXPECT_EQ(s.code(), StatusCode::kVersionMismatch);
  for (const char* part : {"NVIDIA H100 80GB HBM3", "sm_90", "CPU", "rebuild the plan on this machine"})
    EXPECT_NE(s.message().find(part), std::string::npos) << part << " in: " << s.message();
}

// ---- writer refusals --------------------------------------------------------------------------

TEST(PlanWriter, RefusesWhatItCouldNotReadBack) {
  PlanContents empty;
  EXPECT_EQ(serializePlan(empty).status().code(), StatusCode::kInvalidArgument);

  PlanContents orphan;
  orphan.graph = std::make_unique<ir::Graph>();
  ir::Value* dangling = orphan.graph->addValue("dangling", DataType::kFLOAT, {2});
  ir::Node* n = orphan.graph->addNode(ir::OpKind::kRelu, "relu", {dangling}, {});
  orphan.graph->markOutput(n->outputs[0]);
  auto r = serializePlan(orphan);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("Relu 'relu': input 0 ('dangling')"), std::string::npos)
      << r.status().message();

  PlanContents deep;
  deep.graph = std::make_unique<ir::Graph>();
  DimExpr e = DimExpr::symbol("n");
  for (size_t i = 0; i < fmt::kMaxExprDepth + 5; ++i) e = e * DimExpr::symbol("m") + 1;
  deep.graph->markOutput(deep.graph->addInput("x", DataType::kFLOAT, {e}));
  r = serializePlan(deep);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("nested deeper than"), std::string::npos);
}

TEST(PlanWriter, DeepButLegalExpressionRoundTrips) {
  PlanContents p;
  p.graph = std::make_unique<ir::Graph>();
  DimExpr e = DimExpr::symbol("h");
  for (int i = 0; i < 300; ++i) e = floorDiv(e + 2 - 3, DimExpr(2)) + 1;  // 300 strided convs
  p.graph->markOutput(p.graph->addInput("x", DataType::kFLOAT, {e}));
  auto bytes = serializePlan(p);
  ASSERT_TRUE(bytes.isOk()) << bytes.status().toString();
  auto loaded = deserializePlan(*bytes);
  ASSERT_TRUE(loaded.isOk()) << loaded.status().toString();
  EXPECT_TRUE(loaded->graph->inputs()[0]->shape[0].equals(e));
  // Independent evaluation: iterate h -> (h - 1) // 2 + 1 in the test.
  int64_t h = 1 << 20;
  for (int i = 0; i < 300; ++i) h = (h - 1) / 2 + 1;  // h >= 1 throughout: floor == trunc
  EXPECT_EQ(loaded->graph->inputs()[0]->shape[0].substitute({{"h", 1 << 20}}).constValue(), h);
}

}  // namespace
}  // namespace kiln::plan
