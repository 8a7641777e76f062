// Plan writer: PlanContents -> bytes. Layout in docs/plan_format.md and plan_format.h.
//
// The graph is written as Graph::compact() leaves it (on a clone, so the caller's graph is not
// touched): values are numbered inputs first, then constants, then node outputs in execution
// order, so the reader can rebuild it with the same ids by replaying additions in id order.
#include <algorithm>
#include <bit>
#include <cstring>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "ir/graph.h"
#include "plan/byte_io.h"
#include "plan/checksum.h"
#include "plan/plan.h"
#include "plan/plan_format.h"

static_assert(std::endian::native == std::endian::little,
              "plan files are little-endian; constant data is copied as-is");

namespace kiln::plan {

namespace {

using namespace format;  // NOLINT(google-build-using-namespace): layout constants

size_t alignUp(size_t n, size_t a) { return (n + a - 1) / a * a; }

Status cannotSerialize(const std::string& why) {
  return invalidArgument("cannot serialize the plan: %s", why.c_str());
}

// Writes `e` in postfix order: u32 token count, then tokens (u8 kind; kConst: i64 value;
// kSymbol: string; binary kinds: no payload, they pop two operands). Iterative so deep
// expressions cannot overflow the stack.
Status writeExpr(ByteWriter& w, std::vector<uint8_t>& buf, const ir::DimExpr& root) {
  using Kind = ir::DimExpr::Kind;
  size_t countAt = buf.size();
  w.u32(0);
  uint32_t tokens = 0;
  struct Item {
    ir::DimExpr e;
    size_t depth;
    bool expanded;
  };
  std::vector<Item> stack;
  stack.push_back({root, 1, false});
  while (!stack.empty()) {
    Item it = std::move(stack.back());
    stack.pop_back();
    if (it.depth > kMaxExprDepth)
      return cannotSerialize("a shape expression is nested deeper than " +
                             std::to_string(kMaxExprDepth) + " levels");
    Kind k = it.e.kind();
    if (k == Kind::kConst || k == Kind::kSymbol || it.expanded) {
      if (++tokens > kMaxExprTokens)
        return cannotSerialize("a shape expression has more than " +
                               std::to_string(kMaxExprTokens) + " terms when written out");
      w.u8(static_cast<uint8_t>(k));
      if (k == Kind::kConst) w.i64(it.e.constValue());
      if (k == Kind::kSymbol) w.str(it.e.symbolName());
      continue;
    }
    // Postfix: lhs, rhs, then the operator. The stack pops in reverse.
    stack.push_back({it.e, it.depth, true});
    stack.push_back({it.e.rhs(), it.depth + 1, false});
    stack.push_back({it.e.lhs(), it.depth + 1, false});
  }
  storeU32(buf.data() + countAt, tokens);
  return Status::ok();
}

Status writeShape(ByteWriter& w, std::vector<uint8_t>& buf, const std::vector<ir::DimExpr>& s) {
  w.u32(static_cast<uint32_t>(s.size()));
  for (const auto& d : s) KILN_RETURN_IF_ERROR(writeExpr(w, buf, d));
  return Status::ok();
}

// Tensor attribute: i32 dtype, u32 rank, i64 dims, u64 byte count, bytes.
void writeInlineTensor(ByteWriter& w, const ir::TensorData& t) {
  w.i32(static_cast<int32_t>(t.dtype()));
  w.u32(static_cast<uint32_t>(t.dims().size()));
  for (int64_t d : t.dims()) w.i64(d);
  w.u64(t.bytes());
  w.bytes(t.data(), t.bytes());
}

void writeAttr(ByteWriter& w, const ir::AttrValue& v) {
  ir::AttrType type = ir::Attributes::typeOf(v);
  w.u8(static_cast<uint8_t>(type));
  switch (type) {
    case ir::AttrType::kInt: w.i64(std::get<int64_t>(v)); return;
    case ir::AttrType::kFloat: w.f32(std::get<float>(v)); return;
    case ir::AttrType::kString: w.str(std::get<std::string>(v)); return;
    case ir::AttrType::kInts: {
      const auto& l = std::get<std::vector<int64_t>>(v);
      w.u32(static_cast<uint32_t>(l.size()));
      for (int64_t x : l) w.i64(x);
      return;
    }
    case ir::AttrType::kFloats: {
      const auto& l = std::get<std::vector<float>>(v);
      w.u32(static_cast<uint32_t>(l.size()));
      for (float x : l) w.f32(x);
      return;
    }
    case ir::AttrType::kStrings: {
      const auto& l = std::get<std::vector<std::string>>(v);
      w.u32(static_cast<uint32_t>(l.size()));
      for (const auto& s : l) w.str(s);
      return;
    }
    case ir::AttrType::kTensor: {
      const auto& t = std::get<ir::TensorDataPtr>(v);
      w.u8(t ? 1 : 0);
      if (t) writeInlineTensor(w, *t);
      return;
    }
  }
}

// Checks what the reader will insist on, so a plan that was written can always be read back.
Status validateGraph(const ir::Graph& g) {
  std::vector<ir::Value*> values = g.values();
  for (size_t i = 0; i < values.size(); ++i)
    if (values[i]->id != static_cast<int>(i))
      return internalError("serializePlan: value ids are not dense after compact()");
  auto isLive = [&](const ir::Value* v) {
    return v->id >= 0 && static_cast<size_t>(v->id) < g.valueCapacity() && g.valueById(v->id) == v;
  };
  std::unordered_set<const ir::Value*> inputs(g.inputs().begin(), g.inputs().end());
  for (const ir::Value* v : g.inputs()) {
    if (!isLive(v)) return cannotSerialize("a network input refers to a removed tensor");
    if (v->isConstant() || v->producer)
      return cannotSerialize("network input '" + v->name +
                             "' is also a constant or a layer output");
  }
  for (const ir::Value* v : g.outputs())
    if (!isLive(v)) return cannotSerialize("a network output refers to a removed tensor");
  for (const ir::Value* v : values) {
    if (!v->isConstant()) continue;
    if (v->producer)
      return cannotSerialize("tensor '" + v->name + "' is both a constant and the output of " +
                             v->producer->describe());
    const ir::TensorData& t = *v->constant;
    bool sameShape = ir::isStatic(v->shape) && ir::staticDims(v->shape) == t.dims();
    if (v->dtype != t.dtype() || !sameShape)
      return cannotSerialize("constant '" + v->name + "' is declared " + dataTypeName(v->dtype) +
                             ir::shapeToString(v->shape) + " but holds " +
                             dataTypeName(t.dtype()) + ir::dimsToString(t.dims()));
  }
  // Every node input must be defined before the node: a network input, a constant, or the
  // output of an earlier node.
  std::unordered_set<const ir::Value*> defined(inputs);
  for (const ir::Value* v : values)
    if (v->isConstant()) defined.insert(v);
  for (const ir::Node* n : g.nodes()) {
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      const ir::Value* in = n->inputs[i];
      if (!in) continue;
      if (!isLive(in))
        return cannotSerialize(n->describe() + ": input " + std::to_string(i) +
                               " refers to a removed tensor");
      if (!defined.count(in))
        return cannotSerialize(n->describe() + ": input " + std::to_string(i) + " ('" + in->name +
                               "') is not produced by an earlier layer, not a network input and "
                               "not a constant");
    }
    for (const ir::Value* o : n->outputs) {
      if (!isLive(o) || o->producer != n)
        return cannotSerialize(n->describe() + ": output '" + o->name +
                               "' is not registered as produced by it");
      defined.insert(o);
    }
  }
  return Status::ok();
}

Status writeGraphSection(const ir::Graph& g,
                         const std::unordered_map<const ir::TensorData*, uint32_t>& constIndex,
                         std::vector<uint8_t>& buf) {
  ByteWriter w(&buf);
  std::unordered_set<const ir::Value*> inputs(g.inputs().begin(), g.inputs().end());
  std::unordered_set<const ir::Value*> outputs(g.outputs().begin(), g.outputs().end());
  std::vector<ir::Value*> values = g.values();
  w.u32(static_cast<uint32_t>(values.size()));
  for (const ir::Value* v : values) {
    uint32_t flags = 0;
    if (inputs.count(v)) flags |= kValueInput;
    if (outputs.count(v)) flags |= kValueOutput;
    if (v->isConstant()) flags |= kValueConstant;
    if (v->shapeValue) flags |= kValueHasShapeValue;
    if (v->isShapeTensor) flags |= kValueShapeTensor;
    w.str(v->name);
    w.i32(static_cast<int32_t>(v->dtype));
    w.u32(flags);
    KILN_RETURN_IF_ERROR(writeShape(w, buf, v->shape));
    if (v->isConstant()) w.u32(constIndex.at(v->constant.get()));
    if (v->shapeValue) KILN_RETURN_IF_ERROR(writeShape(w, buf, *v->shapeValue));
  }
  std::vector<ir::Node*> nodes = g.nodes();
  w.u32(static_cast<uint32_t>(nodes.size()));
  for (const ir::Node* n : nodes) {
    w.str(ir::opName(n->op));
    w.str(n->name);
    const auto& attrs = n->attrs.all();  // std::map: sorted by name, so the bytes are stable
    w.u32(static_cast<uint32_t>(attrs.size()));
    for (const auto& [name, value] : attrs) {
      w.str(name);
      writeAttr(w, value);
    }
    w.u32(static_cast<uint32_t>(n->inputs.size()));
    for (const ir::Value* in : n->inputs) w.i32(in ? in->id : -1);
    w.u32(static_cast<uint32_t>(n->outputs.size()));
    for (const ir::Value* o : n->outputs) w.i32(o->id);
    w.u8(n->precision ? 1 : 0);
    if (n->precision) w.i32(static_cast<int32_t>(*n->precision));
  }
  w.u32(static_cast<uint32_t>(g.inputs().size()));
  for (const ir::Value* v : g.inputs()) w.i32(v->id);
  w.u32(static_cast<uint32_t>(g.outputs().size()));
  for (const ir::Value* v : g.outputs()) w.i32(v->id);
  return Status::ok();
}

void writeProfilesSection(const std::vector<Profile>& profiles, std::vector<uint8_t>& buf) {
  ByteWriter w(&buf);
  auto dims = [&](const std::vector<int64_t>& d) {
    w.u32(static_cast<uint32_t>(d.size()));
    for (int64_t x : d) w.i64(x);
  };
  w.u32(static_cast<uint32_t>(profiles.size()));
  for (const Profile& p : profiles) {
    w.u32(static_cast<uint32_t>(p.inputs.size()));
    for (const ProfileInput& in : p.inputs) {
      w.str(in.name);
      dims(in.min);
      dims(in.opt);
      dims(in.max);
      dims(in.minValues);
      dims(in.optValues);
      dims(in.maxValues);
    }
  }
}

}  // namespace

StatusOr<std::vector<uint8_t>> serializePlan(const PlanContents& plan) {
  if (!plan.graph) return invalidArgument("cannot serialize the plan: it has no graph");
  std::unique_ptr<ir::Graph> graph = plan.graph->clone();
  KILN_RETURN_IF_ERROR(graph->compact());
  KILN_RETURN_IF_ERROR(validateGraph(*graph));

  // Constants, each stored once even when several values share the same data.
  std::vector<const ir::TensorData*> constants;
  std::unordered_map<const ir::TensorData*, uint32_t> constIndex;
  for (const ir::Value* v : graph->values()) {
    if (!v->isConstant()) continue;
    if (constIndex.emplace(v->constant.get(), static_cast<uint32_t>(constants.size())).second)
      constants.push_back(v->constant.get());
  }

  std::vector<uint8_t> meta, graphBytes, profiles;
  ByteWriter mw(&meta);
  mw.str(plan.networkName);
  mw.u32(static_cast<uint32_t>(plan.profilingVerbosity));
  KILN_RETURN_IF_ERROR(writeGraphSection(*graph, constIndex, graphBytes));
  writeProfilesSection(plan.profiles, profiles);

  // Header: fixed part (patched at the end), library version, device, section table.
  std::vector<uint8_t> header(kFixedHeaderSize, 0);
  ByteWriter hw(&header);
  hw.str(versionString());
  hw.i32(static_cast<int32_t>(plan.device.type));
  hw.str(plan.device.name);
  hw.i32(plan.device.smMajor);
  hw.i32(plan.device.smMinor);
  hw.str(plan.device.libraries);
  constexpr uint32_t kNumSections = kNumSectionTypes;
  hw.u32(kNumSections);
  size_t tableAt = header.size();
  header.resize(header.size() + kNumSections * kSectionEntrySize, 0);
  size_t headerSize = header.size();

  // Section placement: each section starts 64-byte aligned.
  struct Placed {
    SectionType type;
    size_t offset, size;
  };
  std::vector<Placed> sections;
  size_t cursor = alignUp(headerSize, kAlignment);
  for (auto [type, bytes] : {std::pair{SectionType::kMetadata, &meta},
                             std::pair{SectionType::kGraph, &graphBytes},
                             std::pair{SectionType::kProfiles, &profiles}}) {
    sections.push_back({type, cursor, bytes->size()});
    cursor = alignUp(cursor + bytes->size(), kAlignment);
  }
  // Constants: table (u32 count; per constant i32 dtype, u32 rank, i64 dims, u64 offset,
  // u64 bytes), then each constant's bytes at a 64-byte aligned offset from the plan start.
  size_t constStart = cursor;
  size_t tableSize = 4;
  for (const ir::TensorData* t : constants) tableSize += 4 + 4 + 8 * t->dims().size() + 8 + 8;
  std::vector<size_t> dataOffsets;
  size_t dataCursor = alignUp(constStart + tableSize, kAlignment);
  size_t constEnd = constStart + tableSize;
  for (const ir::TensorData* t : constants) {
    dataOffsets.push_back(dataCursor);
    constEnd = dataCursor + t->bytes();
    dataCursor = alignUp(constEnd, kAlignment);
  }
  sections.push_back({SectionType::kConstants, constStart, constEnd - constStart});
  size_t total = constEnd;

  for (size_t i = 0; i < sections.size(); ++i) {
    uint8_t* e = header.data() + tableAt + i * kSectionEntrySize;
    storeU32(e, static_cast<uint32_t>(sections[i].type));
    storeU32(e + 4, 0);
    storeU64(e + 8, sections[i].offset);
    storeU64(e + 16, sections[i].size);
  }
  std::memcpy(header.data() + kMagicOffset, kPlanMagic, sizeof(kPlanMagic));
  storeU32(header.data() + kFormatVersionOffset, kPlanFormatVersion);
  storeU32(header.data() + kHeaderSizeOffset, static_cast<uint32_t>(headerSize));
  storeU64(header.data() + kTotalSizeOffset, total);
  storeU32(header.data() + kFlagsOffset, 0);

  std::vector<uint8_t> out(total, 0);  // zero padding between parts
  std::memcpy(out.data(), header.data(), header.size());
  std::memcpy(out.data() + sections[0].offset, meta.data(), meta.size());
  std::memcpy(out.data() + sections[1].offset, graphBytes.data(), graphBytes.size());
  std::memcpy(out.data() + sections[2].offset, profiles.data(), profiles.size());
  std::vector<uint8_t> table;
  ByteWriter tw(&table);
  tw.u32(static_cast<uint32_t>(constants.size()));
  for (size_t i = 0; i < constants.size(); ++i) {
    const ir::TensorData* t = constants[i];
    tw.i32(static_cast<int32_t>(t->dtype()));
    tw.u32(static_cast<uint32_t>(t->dims().size()));
    for (int64_t d : t->dims()) tw.i64(d);
    tw.u64(dataOffsets[i]);
    tw.u64(t->bytes());
    if (t->bytes() > 0) std::memcpy(out.data() + dataOffsets[i], t->data(), t->bytes());
  }
  std::memcpy(out.data() + constStart, table.data(), table.size());

  uint32_t crc = crc32c(std::span<const uint8_t>(out).subspan(kChecksummedFrom));
  storeU32(out.data() + kChecksumOffset, crc);
  return out;
}

}  // namespace kiln::plan
