// Plan reader: bytes -> PlanContents, refusing anything it cannot fully vouch for.
//
// Order of checks (each failure returns at once, with what differs and what to do):
//   1. magic            -> "not a Kiln plan"           (kInvalidArgument)
//   2. format version   -> "plan format version X ..." (kVersionMismatch)
//   3. total size       -> truncated / trailing bytes  (kDataLoss)
//   4. CRC-32C          -> checksum mismatch           (kDataLoss)
//   5. library version  -> built by another Kiln      (kVersionMismatch)
//   6. section table, constants, graph, profiles, metadata: every read bounds-checked, every
//      count checked against the bytes left, every id and enum value range-checked
//                       -> "the plan is corrupted: ..." (kDataLoss)
// Only after the checksum passes does the reader trust structure; the structural checks still
// run because a plan can be crafted with a valid checksum (tests/fuzz/plan_fuzz.cpp).
#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "plan/byte_io.h"
#include "plan/checksum.h"
#include "plan/plan.h"
#include "plan/plan_format.h"

namespace kiln::plan {

namespace {

using namespace format;  // NOLINT(google-build-using-namespace): layout constants
using ir::DimExpr;

bool isKnownDataType(int32_t v) {
  // The stable numbering of kiln::DataType; 6 is unused.
  return v >= 0 && v <= kNumDataTypes && v != 6;
}

std::string hexPrefix(std::span<const uint8_t> bytes) {
  std::string s;
  for (size_t i = 0; i < bytes.size() && i < 8; ++i) s += strFormat("%02x", bytes[i]);
  return s;
}

Status checkFixedHeader(std::span<const uint8_t> bytes) {
  size_t n = bytes.size();
  if (n == 0)
    return dataLoss("the plan is empty (0 bytes); expected a plan file written by `kiln build`");
  size_t m = std::min(n, sizeof(kPlanMagic));
  if (std::memcmp(bytes.data(), kPlanMagic, m) != 0)
    return invalidArgument(
        "not a Kiln plan (bad magic: the file starts with bytes %s, a plan starts with "
        "\"KILNPLAN\"); did you pass an ONNX file? use --onnx=<model.onnx> to build a plan from "
        "it",
        hexPrefix(bytes).c_str());
  if (n < kFixedHeaderSize)
    return dataLoss("the plan is truncated: expected at least %zu bytes for the header, got %zu",
                    kFixedHeaderSize, n);
  uint32_t version = loadU32(bytes.data() + kFormatVersionOffset);
  if (version != kPlanFormatVersion)
    return versionMismatch(
        "plan format version %u, this Kiln reads version %u: rebuild the plan with this version "
        "(`kiln build`)",
        version, kPlanFormatVersion);
  uint64_t total = loadU64(bytes.data() + kTotalSizeOffset);
  if (total > n)
    return dataLoss("the plan is truncated: expected %llu bytes, got %zu; was the file cut short "
                    "while copying? rebuild it with `kiln build`",
                    static_cast<unsigned long long>(total), n);
  if (total < n)
    return dataLoss("the plan has %zu bytes but its header says %llu (%llu unexpected trailing "
                    "bytes); the file is damaged: rebuild it with `kiln build`",
                    n, static_cast<unsigned long long>(total),
                    static_cast<unsigned long long>(n - total));
  uint32_t stored = loadU32(bytes.data() + kChecksumOffset);
  if (crc32c(bytes.subspan(kChecksummedFrom)) != stored)
    return dataLoss("the plan file is corrupted (checksum mismatch): rebuild it with `kiln build`");
  if (loadU32(bytes.data() + kFlagsOffset) != 0)
    return corrupted("unknown header flags 0x%08x", loadU32(bytes.data() + kFlagsOffset));
  return Status::ok();
}

// Postfix expression (see writeExpr in plan_writer.cpp), rebuilt through DimExpr's own
// operators with an explicit stack. Each stack entry carries its tree height so a crafted plan
// cannot build an expression deeper than kMaxExprDepth.
StatusOr<DimExpr> readExpr(ByteReader& r) {
  using Kind = DimExpr::Kind;
  KILN_ASSIGN_OR_RETURN(uint32_t tokens, r.count(1, "shape expression token"));
  struct Entry {
    DimExpr e;
    size_t height;
  };
  std::vector<Entry> stack;
  for (uint32_t t = 0; t < tokens; ++t) {
    size_t at = r.offset();
    KILN_ASSIGN_OR_RETURN(uint8_t k, r.u8());
    if (k > static_cast<uint8_t>(Kind::kMin))
      return corrupted("unknown shape expression kind %u at offset %zu", k, at);
    auto kind = static_cast<Kind>(k);
    if (kind == Kind::kConst) {
      KILN_ASSIGN_OR_RETURN(int64_t v, r.i64());
      stack.push_back({DimExpr(v), 1});
      continue;
    }
    if (kind == Kind::kSymbol) {
      KILN_ASSIGN_OR_RETURN(std::string name, r.str());
      stack.push_back({DimExpr::symbol(name), 1});
      continue;
    }
    if (stack.size() < 2)
      return corrupted("shape expression at offset %zu has an operator without operands", at);
    Entry b = std::move(stack.back());
    stack.pop_back();
    Entry a = std::move(stack.back());
    stack.pop_back();
    size_t height = std::max(a.height, b.height) + 1;
    if (height > kMaxExprDepth)
      return corrupted("shape expression at offset %zu is nested deeper than %zu levels", at,
                       kMaxExprDepth);
    // The writer never stores an operation on two constants (DimExpr folds them) except a
    // division by zero, which stays unfolded. Refusing the rest also keeps crafted constants
    // out of the folding arithmetic, where they could overflow.
    if (a.e.isConst() && b.e.isConst()) {
      bool division = kind == Kind::kFloorDiv || kind == Kind::kCeilDiv || kind == Kind::kMod;
      if (!division || b.e.constValue() != 0)
        return corrupted("shape expression at offset %zu combines two constants", at);
    }
    DimExpr e;
    switch (kind) {
      case Kind::kAdd: e = a.e + b.e; break;
      case Kind::kSub: e = a.e - b.e; break;
      case Kind::kMul: e = a.e * b.e; break;
      case Kind::kFloorDiv: e = floorDiv(a.e, b.e); break;
      case Kind::kCeilDiv: e = ceilDiv(a.e, b.e); break;
      case Kind::kMod: e = a.e % b.e; break;
      case Kind::kMax: e = dimMax(a.e, b.e); break;
      case Kind::kMin: e = dimMin(a.e, b.e); break;
      case Kind::kConst:
      case Kind::kSymbol: break;  // handled above
    }
    stack.push_back({std::move(e), height});
  }
  if (stack.size() != 1)
    return corrupted("a shape expression ending at offset %zu leaves %zu results instead of 1",
                     r.offset(), stack.size());
  return std::move(stack.back().e);
}

StatusOr<std::vector<DimExpr>> readShape(ByteReader& r, const char* what) {
  // Each dimension is at least a token count (4) and one token (1 + 8 for a constant, 1 + 4
  // for a symbol).
  KILN_ASSIGN_OR_RETURN(uint32_t rank, r.count(9, what));
  std::vector<DimExpr> s;
  s.reserve(rank);
  for (uint32_t i = 0; i < rank; ++i) {
    KILN_ASSIGN_OR_RETURN(DimExpr d, readExpr(r));
    s.push_back(std::move(d));
  }
  return s;
}

StatusOr<DataType> readDataType(ByteReader& r, const char* what) {
  size_t at = r.offset();
  KILN_ASSIGN_OR_RETURN(int32_t v, r.i32());
  if (!isKnownDataType(v))
    return corrupted("unknown data type %d for %s at offset %zu", v, what, at);
  return static_cast<DataType>(v);
}

// dims, with the element count checked for overflow and the byte count returned.
StatusOr<std::vector<int64_t>> readDims(ByteReader& r, DataType dtype, uint64_t* byteCount,
                                        const char* what) {
  KILN_ASSIGN_OR_RETURN(uint32_t rank, r.count(8, "tensor dimension"));
  std::vector<int64_t> dims(rank);
  uint64_t numel = 1;
  bool overflow = false;
  for (uint32_t i = 0; i < rank; ++i) {
    KILN_ASSIGN_OR_RETURN(dims[i], r.i64());
    if (dims[i] < 0) return corrupted("%s has a negative dimension %lld", what,
                                      static_cast<long long>(dims[i]));
    overflow |= __builtin_mul_overflow(numel, static_cast<uint64_t>(dims[i]), &numel);
  }
  overflow |= __builtin_mul_overflow(numel, static_cast<uint64_t>(dataTypeSize(dtype)), byteCount);
  if (overflow || numel > static_cast<uint64_t>(INT64_MAX))
    return corrupted("%s has dimensions %s whose size overflows", what,
                     ir::dimsToString(dims).c_str());
  return dims;
}

StatusOr<ir::TensorDataPtr> readInlineTensor(ByteReader& r, const std::string& where) {
  KILN_ASSIGN_OR_RETURN(DataType dtype, readDataType(r, where.c_str()));
  uint64_t expected = 0;
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> dims, readDims(r, dtype, &expected, where.c_str()));
  KILN_ASSIGN_OR_RETURN(uint64_t nbytes, r.u64());
  if (nbytes != expected)
    return corrupted("%s holds %llu bytes but %s%s needs %llu", where.c_str(),
                     static_cast<unsigned long long>(nbytes), dataTypeName(dtype),
                     ir::dimsToString(dims).c_str(), static_cast<unsigned long long>(expected));
  KILN_ASSIGN_OR_RETURN(const uint8_t* data, r.bytes(nbytes));
  return ir::TensorDataPtr(ir::TensorData::fromBytes(dtype, std::move(dims), data));
}

StatusOr<ir::AttrValue> readAttr(ByteReader& r, const std::string& where) {
  size_t at = r.offset();
  KILN_ASSIGN_OR_RETURN(uint8_t type, r.u8());
  if (type > static_cast<uint8_t>(ir::AttrType::kTensor))
    return corrupted("%s has unknown attribute kind %u at offset %zu", where.c_str(), type, at);
  switch (static_cast<ir::AttrType>(type)) {
    case ir::AttrType::kInt: {
      KILN_ASSIGN_OR_RETURN(int64_t v, r.i64());
      return ir::AttrValue(v);
    }
    case ir::AttrType::kFloat: {
      KILN_ASSIGN_OR_RETURN(float v, r.f32());
      return ir::AttrValue(v);
    }
    case ir::AttrType::kString: {
      KILN_ASSIGN_OR_RETURN(std::string v, r.str());
      return ir::AttrValue(std::move(v));
    }
    case ir::AttrType::kInts: {
      KILN_ASSIGN_OR_RETURN(uint32_t n, r.count(8, "attribute list element"));
      std::vector<int64_t> v(n);
      for (auto& x : v) {
        KILN_ASSIGN_OR_RETURN(x, r.i64());
      }
      return ir::AttrValue(std::move(v));
    }
    case ir::AttrType::kFloats: {
      KILN_ASSIGN_OR_RETURN(uint32_t n, r.count(4, "attribute list element"));
      std::vector<float> v(n);
      for (auto& x : v) {
        KILN_ASSIGN_OR_RETURN(x, r.f32());
      }
      return ir::AttrValue(std::move(v));
    }
    case ir::AttrType::kStrings: {
      KILN_ASSIGN_OR_RETURN(uint32_t n, r.count(4, "attribute list element"));
      std::vector<std::string> v(n);
      for (auto& x : v) {
        KILN_ASSIGN_OR_RETURN(x, r.str());
      }
      return ir::AttrValue(std::move(v));
    }
    case ir::AttrType::kTensor: {
      KILN_ASSIGN_OR_RETURN(uint8_t present, r.u8());
      if (present > 1) return corrupted("%s: bad tensor presence flag %u", where.c_str(), present);
      if (!present) return ir::AttrValue(ir::TensorDataPtr());
      KILN_ASSIGN_OR_RETURN(ir::TensorDataPtr t, readInlineTensor(r, where));
      return ir::AttrValue(std::move(t));
    }
  }
  return corrupted("%s has unknown attribute kind %u", where.c_str(), type);
}

struct Section {
  uint64_t offset = 0, size = 0;
  bool present = false;
};

StatusOr<std::vector<ir::TensorDataPtr>> readConstants(std::span<const uint8_t> plan,
                                                       const Section& s) {
  ByteReader r(plan.subspan(s.offset, s.size), s.offset, "constants section");
  struct Entry {
    DataType dtype;
    std::vector<int64_t> dims;
    uint64_t offset, nbytes;
  };
  // Per constant at least: dtype 4, rank 4, offset 8, size 8.
  KILN_ASSIGN_OR_RETURN(uint32_t n, r.count(24, "constant"));
  std::vector<Entry> entries;
  entries.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    std::string what = "constant #" + std::to_string(i);
    Entry e;
    KILN_ASSIGN_OR_RETURN(e.dtype, readDataType(r, what.c_str()));
    uint64_t expected = 0;
    KILN_ASSIGN_OR_RETURN(e.dims, readDims(r, e.dtype, &expected, what.c_str()));
    KILN_ASSIGN_OR_RETURN(e.offset, r.u64());
    KILN_ASSIGN_OR_RETURN(e.nbytes, r.u64());
    if (e.nbytes != expected)
      return corrupted("%s holds %llu bytes but %s%s needs %llu", what.c_str(),
                       static_cast<unsigned long long>(e.nbytes), dataTypeName(e.dtype),
                       ir::dimsToString(e.dims).c_str(),
                       static_cast<unsigned long long>(expected));
    entries.push_back(std::move(e));
  }
  // The data follows the table in table order without overlapping, each 64-byte aligned. Not
  // overlapping is what bounds the memory the constants take by the size of the file: a crafted
  // table could otherwise point many entries at the same large block.
  uint64_t cursor = r.offset();
  uint64_t sectionEnd = s.offset + s.size;
  for (uint32_t i = 0; i < n; ++i) {
    const Entry& e = entries[i];
    if (e.offset % kAlignment != 0)
      return corrupted("constant #%u data offset %llu is not %zu-byte aligned", i,
                       static_cast<unsigned long long>(e.offset), kAlignment);
    if (e.offset < cursor || e.offset > sectionEnd || e.nbytes > sectionEnd - e.offset)
      return corrupted("constant #%u data [%llu, +%llu) overlaps other data or lies outside the "
                       "constants section [%llu, %llu)",
                       i, static_cast<unsigned long long>(e.offset),
                       static_cast<unsigned long long>(e.nbytes),
                       static_cast<unsigned long long>(cursor),
                       static_cast<unsigned long long>(sectionEnd));
    cursor = e.offset + e.nbytes;
  }
  if (n > 0 ? cursor != sectionEnd : !r.atEnd())
    return corrupted("the constants section has %llu unexpected bytes at its end",
                     static_cast<unsigned long long>(n > 0 ? sectionEnd - cursor : r.remaining()));
  std::vector<ir::TensorDataPtr> out;
  out.reserve(n);
  for (Entry& e : entries)
    out.push_back(ir::TensorData::fromBytes(e.dtype, std::move(e.dims), plan.data() + e.offset));
  return out;
}

StatusOr<std::vector<Profile>> readProfiles(std::span<const uint8_t> plan, const Section& s) {
  ByteReader r(plan.subspan(s.offset, s.size), s.offset, "profiles section");
  auto dims = [&](std::vector<int64_t>* out) -> Status {
    KILN_ASSIGN_OR_RETURN(uint32_t n, r.count(8, "profile dimension"));
    out->resize(n);
    for (auto& d : *out) {
      KILN_ASSIGN_OR_RETURN(d, r.i64());
    }
    return Status::ok();
  };
  KILN_ASSIGN_OR_RETURN(uint32_t n, r.count(4, "profile"));
  std::vector<Profile> profiles(n);
  for (Profile& p : profiles) {
    // Per input at least: name 4, six counts 4 each.
    KILN_ASSIGN_OR_RETURN(uint32_t ni, r.count(28, "profile input"));
    p.inputs.resize(ni);
    for (ProfileInput& in : p.inputs) {
      KILN_ASSIGN_OR_RETURN(in.name, r.str());
      KILN_RETURN_IF_ERROR(dims(&in.min));
      KILN_RETURN_IF_ERROR(dims(&in.opt));
      KILN_RETURN_IF_ERROR(dims(&in.max));
      KILN_RETURN_IF_ERROR(dims(&in.minValues));
      KILN_RETURN_IF_ERROR(dims(&in.optValues));
      KILN_RETURN_IF_ERROR(dims(&in.maxValues));
      if (in.minValues.size() != in.optValues.size() || in.minValues.size() != in.maxValues.size())
        return corrupted("profile values of input '%s' have different lengths", in.name.c_str());
    }
  }
  KILN_RETURN_IF_ERROR(r.expectEnd());
  return profiles;
}

// ---- graph ------------------------------------------------------------------------------------

struct ValueRec {
  std::string name;
  DataType dtype = DataType::kFLOAT;
  uint32_t flags = 0;
  ir::Shape shape;
  ir::TensorDataPtr constant;
  std::optional<std::vector<DimExpr>> shapeValue;
};

struct NodeRec {
  ir::OpKind op = ir::OpKind::kIdentity;
  std::string name;
  ir::Attributes attrs;
  std::vector<int32_t> inputs, outputs;
  std::optional<DataType> precision;
};

StatusOr<std::unique_ptr<ir::Graph>> readGraph(std::span<const uint8_t> plan, const Section& s,
                                               const std::vector<ir::TensorDataPtr>& constants) {
  ByteReader r(plan.subspan(s.offset, s.size), s.offset, "graph section");

  // Values: name 4, dtype 4, flags 4, rank 4 at least.
  KILN_ASSIGN_OR_RETURN(uint32_t nv, r.count(16, "value"));
  std::vector<ValueRec> values(nv);
  for (uint32_t i = 0; i < nv; ++i) {
    ValueRec& v = values[i];
    KILN_ASSIGN_OR_RETURN(v.name, r.str());
    std::string what = "tensor '" + v.name + "'";
    KILN_ASSIGN_OR_RETURN(v.dtype, readDataType(r, what.c_str()));
    KILN_ASSIGN_OR_RETURN(v.flags, r.u32());
    if ((v.flags & ~kValueKnownFlags) != 0 ||
        ((v.flags & kValueInput) && (v.flags & kValueConstant)) ||
        ((v.flags & kValueShapeTensor) && !(v.flags & kValueInput)))
      return corrupted("%s has invalid flags 0x%x", what.c_str(), v.flags);
    KILN_ASSIGN_OR_RETURN(v.shape, readShape(r, "dimension"));
    if (v.flags & kValueConstant) {
      KILN_ASSIGN_OR_RETURN(uint32_t ci, r.u32());
      if (ci >= constants.size())
        return corrupted("%s refers to constant #%u, but the plan has %zu constants",
                         what.c_str(), ci, constants.size());
      v.constant = constants[ci];
      bool sameShape = ir::isStatic(v.shape) && ir::staticDims(v.shape) == v.constant->dims();
      if (v.constant->dtype() != v.dtype || !sameShape)
        return corrupted("%s is declared %s%s but its data is %s%s", what.c_str(),
                         dataTypeName(v.dtype), ir::shapeToString(v.shape).c_str(),
                         dataTypeName(v.constant->dtype()),
                         ir::dimsToString(v.constant->dims()).c_str());
    }
    if (v.flags & kValueHasShapeValue) {
      KILN_ASSIGN_OR_RETURN(v.shapeValue, readShape(r, "shape value element"));
      // A constant's element values must be its data (shape functions read the values, kernels
      // the data).
      if (v.constant) {
        const auto& sv = *v.shapeValue;
        bool same = static_cast<int64_t>(sv.size()) == v.constant->numel() &&
                    (v.constant->dtype() == DataType::kINT64 || v.constant->dtype() == DataType::kINT32);
        for (size_t k = 0; same && k < sv.size(); ++k)
          same = sv[k].isConst() && sv[k].constValue() == v.constant->intAt(static_cast<int64_t>(k));
        if (!same) return corrupted("%s: its recorded element values differ from its data", what.c_str());
      }
    }
  }

  auto checkId = [&](int32_t id, bool allowAbsent, const std::string& what) -> Status {
    if ((allowAbsent && id == -1) || (id >= 0 && static_cast<uint32_t>(id) < nv))
      return Status::ok();
    return corrupted("%s refers to tensor #%d, but the plan has %u tensors", what.c_str(), id, nv);
  };

  // Nodes: op 4, name 4, attribute count 4, input count 4, output count 4, precision flag 1.
  KILN_ASSIGN_OR_RETURN(uint32_t nn, r.count(21, "node"));
  std::vector<NodeRec> nodes(nn);
  std::vector<int32_t> producer(nv, -1);
  for (uint32_t i = 0; i < nn; ++i) {
    NodeRec& n = nodes[i];
    KILN_ASSIGN_OR_RETURN(std::string op, r.str());
    KILN_ASSIGN_OR_RETURN(n.name, r.str());
    std::optional<ir::OpKind> kind = ir::opFromName(op);
    if (!kind)
      return corrupted("node '%s' has op '%s', which this Kiln does not know", n.name.c_str(),
                       op.c_str());
    n.op = *kind;
    std::string what = std::string(op) + " '" + n.name + "'";
    KILN_ASSIGN_OR_RETURN(uint32_t na, r.count(5, "attribute"));
    std::string previous;
    for (uint32_t a = 0; a < na; ++a) {
      KILN_ASSIGN_OR_RETURN(std::string name, r.str());
      // Attributes are written sorted by name (std::map order); anything else is damage.
      if (a > 0 && name <= previous)
        return corrupted("%s: attribute '%s' is out of order or repeated", what.c_str(),
                         name.c_str());
      KILN_ASSIGN_OR_RETURN(ir::AttrValue value, readAttr(r, what + " attribute '" + name + "'"));
      n.attrs.set(name, std::move(value));
      previous = std::move(name);
    }
    KILN_ASSIGN_OR_RETURN(uint32_t ni, r.count(4, "node input"));
    n.inputs.resize(ni);
    for (uint32_t j = 0; j < ni; ++j) {
      KILN_ASSIGN_OR_RETURN(n.inputs[j], r.i32());
      KILN_RETURN_IF_ERROR(checkId(n.inputs[j], true, what + " input " + std::to_string(j)));
    }
    KILN_ASSIGN_OR_RETURN(uint32_t no, r.count(4, "node output"));
    n.outputs.resize(no);
    for (uint32_t j = 0; j < no; ++j) {
      KILN_ASSIGN_OR_RETURN(n.outputs[j], r.i32());
      std::string where = what + " output " + std::to_string(j);
      KILN_RETURN_IF_ERROR(checkId(n.outputs[j], false, where));
      auto o = static_cast<size_t>(n.outputs[j]);
      if (producer[o] >= 0)
        return corrupted("%s: tensor #%d is already produced by node #%d", where.c_str(),
                         n.outputs[j], producer[o]);
      if (values[o].flags & (kValueInput | kValueConstant))
        return corrupted("%s: tensor '%s' is a network input or a constant", where.c_str(),
                         values[o].name.c_str());
      producer[o] = static_cast<int32_t>(i);
    }
    KILN_ASSIGN_OR_RETURN(uint8_t hasPrecision, r.u8());
    if (hasPrecision > 1) return corrupted("%s: bad precision flag %u", what.c_str(), hasPrecision);
    if (hasPrecision) {
      KILN_ASSIGN_OR_RETURN(n.precision, readDataType(r, (what + " precision").c_str()));
    }
  }

  KILN_ASSIGN_OR_RETURN(uint32_t nIn, r.count(4, "network input"));
  std::vector<int32_t> inputIds(nIn);
  for (uint32_t i = 0; i < nIn; ++i) {
    KILN_ASSIGN_OR_RETURN(inputIds[i], r.i32());
    KILN_RETURN_IF_ERROR(checkId(inputIds[i], false, "network input " + std::to_string(i)));
  }
  KILN_ASSIGN_OR_RETURN(uint32_t nOut, r.count(4, "network output"));
  std::vector<int32_t> outputIds(nOut);
  std::vector<bool> isOutput(nv, false);
  for (uint32_t i = 0; i < nOut; ++i) {
    KILN_ASSIGN_OR_RETURN(outputIds[i], r.i32());
    KILN_RETURN_IF_ERROR(checkId(outputIds[i], false, "network output " + std::to_string(i)));
    if (isOutput[static_cast<size_t>(outputIds[i])])
      return corrupted("network output %u (tensor #%d) is listed twice", i, outputIds[i]);
    isOutput[static_cast<size_t>(outputIds[i])] = true;
  }
  KILN_RETURN_IF_ERROR(r.expectEnd());

  // The input and output lists must agree with the flags; inputs are numbered first, in order.
  std::vector<int32_t> flaggedInputs;
  for (uint32_t i = 0; i < nv; ++i) {
    if (values[i].flags & kValueInput) flaggedInputs.push_back(static_cast<int32_t>(i));
    if (static_cast<bool>(values[i].flags & kValueOutput) != isOutput[i])
      return corrupted("tensor '%s' output flag disagrees with the network output list",
                       values[i].name.c_str());
  }
  if (flaggedInputs != inputIds)
    return corrupted("the network input list disagrees with the tensors marked as inputs");

  // Rebuild by replaying additions in id order. A node is added when its first output's id is
  // reached; Graph::addNode creates its outputs with the next ids, so they must be consecutive.
  // A node's inputs must already exist and be defined (input, constant or produced earlier).
  auto g = std::make_unique<ir::Graph>();
  std::vector<bool> defined(nv, false);
  uint32_t created = 0;
  uint32_t nextNode = 0;
  auto fill = [&](ir::Value* v, const ValueRec& rec) {
    v->name = rec.name;
    v->dtype = rec.dtype;
    v->shape = rec.shape;
    v->constant = rec.constant;
    v->shapeValue = rec.shapeValue;
    v->isShapeTensor = (rec.flags & kValueShapeTensor) != 0;
  };
  auto addNode = [&](uint32_t k) -> Status {
    const NodeRec& n = nodes[k];
    std::string what = std::string(ir::opName(n.op)) + " '" + n.name + "'";
    std::vector<ir::Value*> ins;
    for (size_t j = 0; j < n.inputs.size(); ++j) {
      int32_t id = n.inputs[j];
      if (id < 0) {
        ins.push_back(nullptr);
        continue;
      }
      if (static_cast<uint32_t>(id) >= created || !defined[static_cast<size_t>(id)])
        return corrupted("%s input %zu refers to tensor #%d, which is not defined before the node",
                         what.c_str(), j, id);
      ins.push_back(g->valueById(id));
    }
    for (size_t j = 0; j < n.outputs.size(); ++j)
      if (n.outputs[j] != static_cast<int32_t>(created + j))
        return corrupted("%s output %zu is tensor #%d; expected #%zu (tensors are out of order)",
                         what.c_str(), j, n.outputs[j], created + j);
    ir::Node* node = g->addNode(n.op, n.name, std::move(ins), n.attrs,
                                static_cast<int>(n.outputs.size()));
    node->precision = n.precision;
    for (size_t j = 0; j < n.outputs.size(); ++j) {
      fill(node->outputs[j], values[created]);
      defined[created] = true;
      ++created;
    }
    return Status::ok();
  };
  while (created < nv) {
    int32_t p = producer[created];
    if (p < 0) {
      const ValueRec& rec = values[created];
      ir::Value* v = (rec.flags & kValueInput) ? g->addInput(rec.name, rec.dtype, rec.shape)
                                               : g->addValue(rec.name, rec.dtype, rec.shape);
      fill(v, rec);
      defined[created] = (rec.flags & (kValueInput | kValueConstant)) != 0;
      ++created;
      continue;
    }
    // Nodes without outputs that come before this one are added first.
    while (nextNode < static_cast<uint32_t>(p) && nodes[nextNode].outputs.empty())
      KILN_RETURN_IF_ERROR(addNode(nextNode++));
    if (static_cast<uint32_t>(p) != nextNode)
      return corrupted("node '%s' (#%d) comes out of order: expected node #%u next",
                       nodes[static_cast<size_t>(p)].name.c_str(), p, nextNode);
    KILN_RETURN_IF_ERROR(addNode(nextNode++));
  }
  while (nextNode < nn) {
    if (!nodes[nextNode].outputs.empty())
      return corrupted("node '%s' (#%u) comes out of order", nodes[nextNode].name.c_str(),
                       nextNode);
    KILN_RETURN_IF_ERROR(addNode(nextNode++));
  }
  for (int32_t id : outputIds) g->markOutput(g->valueById(id));
  return g;
}

}  // namespace

StatusOr<PlanContents> deserializePlan(std::span<const uint8_t> bytes) {
  KILN_RETURN_IF_ERROR(checkFixedHeader(bytes));
  uint32_t headerSize = loadU32(bytes.data() + kHeaderSizeOffset);
  if (headerSize < kFixedHeaderSize || headerSize > bytes.size())
    return corrupted("header size %u is outside [%zu, %zu]", headerSize, kFixedHeaderSize,
                     bytes.size());

  PlanContents plan;
  ByteReader h(bytes.subspan(kFixedHeaderSize, headerSize - kFixedHeaderSize), kFixedHeaderSize,
               "plan header");
  KILN_ASSIGN_OR_RETURN(plan.libraryVersion, h.str());
  if (plan.libraryVersion != versionString())
    return versionMismatch(
        "the plan was built by Kiln %s, this is Kiln %s: plans only load in the version that "
        "built them; rebuild the plan with this version (`kiln build`)",
        plan.libraryVersion.c_str(), versionString());
  KILN_ASSIGN_OR_RETURN(int32_t deviceType, h.i32());
  if (deviceType != static_cast<int32_t>(DeviceType::kCPU) &&
      deviceType != static_cast<int32_t>(DeviceType::kGPU))
    return corrupted("unknown device type %d", deviceType);
  plan.device.type = static_cast<DeviceType>(deviceType);
  KILN_ASSIGN_OR_RETURN(plan.device.name, h.str());
  KILN_ASSIGN_OR_RETURN(plan.device.smMajor, h.i32());
  KILN_ASSIGN_OR_RETURN(plan.device.smMinor, h.i32());
  KILN_ASSIGN_OR_RETURN(plan.device.libraries, h.str());

  KILN_ASSIGN_OR_RETURN(uint32_t ns, h.count(kSectionEntrySize, "section"));
  Section sections[kNumSectionTypes + 1];
  std::vector<std::pair<uint64_t, uint64_t>> extents;
  for (uint32_t i = 0; i < ns; ++i) {
    KILN_ASSIGN_OR_RETURN(uint32_t type, h.u32());
    KILN_ASSIGN_OR_RETURN(uint32_t reserved, h.u32());
    KILN_ASSIGN_OR_RETURN(uint64_t offset, h.u64());
    KILN_ASSIGN_OR_RETURN(uint64_t size, h.u64());
    if (type == 0 || type > kNumSectionTypes)
      return corrupted("unknown section type %u", type);
    if (reserved != 0) return corrupted("section %u has reserved field %u", type, reserved);
    if (sections[type].present) return corrupted("section %u appears twice", type);
    if (offset % kAlignment != 0 || offset < headerSize || offset > bytes.size() ||
        size > bytes.size() - offset)
      return corrupted("section %u [%llu, +%llu) lies outside the plan's %zu bytes or is "
                       "misaligned",
                       type, static_cast<unsigned long long>(offset),
                       static_cast<unsigned long long>(size), bytes.size());
    sections[type] = {offset, size, true};
    extents.emplace_back(offset, size);
  }
  KILN_RETURN_IF_ERROR(h.expectEnd());
  for (uint32_t t = 1; t <= kNumSectionTypes; ++t)
    if (!sections[t].present) return corrupted("section %u is missing", t);
  std::sort(extents.begin(), extents.end());
  for (size_t i = 1; i < extents.size(); ++i)
    if (extents[i - 1].first + extents[i - 1].second > extents[i].first)
      return corrupted("sections overlap at offset %llu",
                       static_cast<unsigned long long>(extents[i].first));

  auto sec = [&](SectionType t) -> const Section& { return sections[static_cast<uint32_t>(t)]; };
  KILN_ASSIGN_OR_RETURN(std::vector<ir::TensorDataPtr> constants,
                        readConstants(bytes, sec(SectionType::kConstants)));
  KILN_ASSIGN_OR_RETURN(plan.graph, readGraph(bytes, sec(SectionType::kGraph), constants));
  KILN_ASSIGN_OR_RETURN(plan.profiles, readProfiles(bytes, sec(SectionType::kProfiles)));
  const Section& meta = sec(SectionType::kMetadata);
  ByteReader m(bytes.subspan(meta.offset, meta.size), meta.offset, "metadata section");
  KILN_ASSIGN_OR_RETURN(plan.networkName, m.str());
  // Profiling verbosity: added within format version 2, so plans written before it (whose
  // metadata ends after the name) keep loading, as kDETAILED (all they could hold).
  if (!m.atEnd()) {
    KILN_ASSIGN_OR_RETURN(uint32_t verbosity, m.u32());
    if (verbosity > static_cast<uint32_t>(ProfilingVerbosity::kDETAILED))
      return corrupted("unknown profiling verbosity %u in the metadata section", verbosity);
    plan.profilingVerbosity = static_cast<ProfilingVerbosity>(verbosity);
  }
  KILN_RETURN_IF_ERROR(m.expectEnd());
  return plan;
}

}  // namespace kiln::plan
