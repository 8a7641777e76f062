// Channels-last layout (GPU builds, after fp16-precision; docs/optimizer.md "channels-last").
//
// cuDNN's fast float16/bfloat16 tensor-core convolutions want NHWC activations and KRSC weights.
// This pass grows regions of layers that can run channels-last, connected through their 4-D
// activations, marks the layout layers `channels_last = 1` (ir/channels_last.h: their IR shapes
// become [N, H, W, C]) and puts one Transpose at each region boundary:
//
//   before: x -> Conv -> FusedConv(Relu) -> MaxPool -> ... -> GlobalAveragePool -> Flatten -> Gemm
//   after:  x -> Transpose[0,2,3,1] -> Conv* -> FusedConv* -> MaxPool* -> ... -> GlobalAveragePool*
//             -> Reshape [N,1,1,C] to [N,C,1,1] -> Flatten -> Gemm               (* channels_last)
//
// Members of a region:
// - layout layers: 2-D (4-D X) Conv and FusedConv with a constant 4-D weight (the weight is
//   replaced by a KRSC copy [M, kh, kw, C/group]), MaxPool (one output), AveragePool,
//   GlobalAveragePool and GlobalMaxPool, whose X is float16 or bfloat16;
// - layout-agnostic layers with a 4-D float16/bfloat16 output: unary elementwise ops (Clip with
//   constant one-element bounds), and binary elementwise ops (Add, Sub, Mul, Div, Pow, Max, Min,
//   Sum, Mean with two inputs, PRelu) whose operands are 4-D activations, one-element constants,
//   or per-channel constants [1, C, 1, 1] / [C, 1, 1] (replaced by a [1, 1, 1, C] copy: the same
//   values in the same order).
// Regions are the connected components of members linked by a member output that a member reads
// as data; a region without a Conv/FusedConv is left alone. Every value a region reads from
// outside (a network input, a non-member layer's output) gets one Transpose [0, 2, 3, 1], shared
// by every member that reads it; every member output that a non-member (or the network's output
// list) reads gets one Transpose [0, 3, 1, 2], shared by all those readers (a network output
// keeps its name). A boundary Transpose that moves only unit dims (GlobalAveragePool's
// [N, 1, 1, C] -> [N, C, 1, 1]) becomes a Reshape, which the runtime runs as a free view; an exit
// Transpose followed by Reshape [N, C, H*W] and Transpose [0, 2, 1] (ViT's patch embedding)
// becomes one Reshape [N, H*W, C].
#include "ir/channels_last.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/logging.h"
#include "ir/shape_inference.h"
#include "optimizer/pass_manager.h"
#include "optimizer/passes/pass_util.h"

namespace kiln::opt {

namespace {

using ir::OpKind;

bool halfType(DataType t) { return t == DataType::kHALF || t == DataType::kBF16; }

bool isUnaryAgnostic(OpKind op) {
  switch (op) {
    case OpKind::kRelu:
    case OpKind::kLeakyRelu:
    case OpKind::kElu:
    case OpKind::kSelu:
    case OpKind::kCelu:
    case OpKind::kSigmoid:
    case OpKind::kHardSigmoid:
    case OpKind::kHardSwish:
    case OpKind::kTanh:
    case OpKind::kSoftplus:
    case OpKind::kSoftsign:
    case OpKind::kMish:
    case OpKind::kThresholdedRelu:
    case OpKind::kShrink:
    case OpKind::kClip:
    case OpKind::kGelu:
    case OpKind::kErf:
    case OpKind::kExp:
    case OpKind::kLog:
    case OpKind::kSqrt:
    case OpKind::kReciprocal:
    case OpKind::kNeg:
    case OpKind::kAbs:
    case OpKind::kSign:
    case OpKind::kFloor:
    case OpKind::kCeil:
    case OpKind::kRound:
    case OpKind::kIdentity:
    case OpKind::kSwish: return true;
    default: return false;
  }
}

bool isBinaryAgnostic(OpKind op) {
  switch (op) {
    case OpKind::kAdd:
    case OpKind::kSub:
    case OpKind::kMul:
    case OpKind::kDiv:
    case OpKind::kPow:
    case OpKind::kMax:
    case OpKind::kMin:
    case OpKind::kSum:
    case OpKind::kMean:
    case OpKind::kPRelu: return true;
    default: return false;
  }
}

bool isConv(OpKind op) { return op == OpKind::kConv || op == OpKind::kFusedConv; }

// How a member takes part: which inputs are region data (4-D activations), which are
// per-channel constants to reshape to [1, 1, 1, C].
struct Role {
  bool layout = false;
  std::vector<size_t> data;
  std::vector<size_t> channelConsts;
};

bool oneElementConst(const ir::Value* v) {
  return v && v->isConstant() && v->constant->numel() == 1 && v->constant->dims().size() <= 4;
}

std::optional<Role> roleOf(const ir::Node& n) {
  if (n.outputs.size() != 1 || !n.outputs[0]) return std::nullopt;
  const ir::Value* y = n.outputs[0];
  if (y->shape.size() != 4 || !halfType(y->dtype)) return std::nullopt;
  if (n.attrs.has(ir::kChannelsLastAttr)) return std::nullopt;  // decided already
  Role r;
  if (ir::supportsChannelsLast(n.op)) {
    if (!n.hasInput(0) || n.inputs[0]->isConstant() || n.inputs[0]->shape.size() != 4 ||
        !halfType(n.inputs[0]->dtype))
      return std::nullopt;
    r.layout = true;
    r.data.push_back(0);
    if (isConv(n.op)) {
      if (!n.hasInput(1) || !n.inputs[1]->isConstant() || n.inputs[1]->constant->dims().size() != 4)
        return std::nullopt;
      if (n.op == OpKind::kFusedConv && n.hasInput(3)) {
        if (n.inputs[3]->isConstant() || n.inputs[3]->shape.size() != 4) return std::nullopt;
        r.data.push_back(3);
      }
    } else if (n.inputs.size() != 1) {
      return std::nullopt;
    }
    return r;
  }
  if (isUnaryAgnostic(n.op)) {
    if (!n.hasInput(0) || n.inputs[0]->isConstant() || n.inputs[0]->shape.size() != 4)
      return std::nullopt;
    for (size_t i = 1; i < n.inputs.size(); ++i)
      if (n.inputs[i] && !oneElementConst(n.inputs[i])) return std::nullopt;
    r.data.push_back(0);
    return r;
  }
  if (isBinaryAgnostic(n.op)) {
    if (n.inputs.size() != 2 || !n.hasInput(0) || !n.hasInput(1)) return std::nullopt;
    for (size_t i = 0; i < 2; ++i) {
      const ir::Value* v = n.inputs[i];
      if (!v->isConstant()) {
        if (v->shape.size() != 4) return std::nullopt;
        r.data.push_back(i);
        continue;
      }
      if (oneElementConst(v)) continue;
      const std::vector<int64_t>& d = v->constant->dims();
      const bool nc11 = d.size() == 4 && d[0] == 1 && d[2] == 1 && d[3] == 1;
      const bool c11 = d.size() == 3 && d[1] == 1 && d[2] == 1;
      const int64_t c = nc11 ? d[1] : c11 ? d[0] : -1;
      if (c < 1 || !y->shape[1].isConst() || y->shape[1].constValue() != c) return std::nullopt;
      r.channelConsts.push_back(i);
    }
    if (r.data.empty()) return std::nullopt;
    return r;
  }
  return std::nullopt;
}

// Union-find over node ids.
struct Components {
  std::vector<int> parent;
  explicit Components(size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0); }
  int find(int x) {
    while (parent[static_cast<size_t>(x)] != x) {
      parent[static_cast<size_t>(x)] = parent[static_cast<size_t>(parent[static_cast<size_t>(x)])];
      x = parent[static_cast<size_t>(x)];
    }
    return x;
  }
  void unite(int a, int b) { parent[static_cast<size_t>(find(a))] = find(b); }
};

// A copy of `t` with other dims (same bytes: only the shape changes).
ir::TensorDataPtr reshapedCopy(const ir::TensorData& t, std::vector<int64_t> dims) {
  return ir::TensorData::fromBytes(t.dtype(), std::move(dims), t.data());
}

// W [M, C/g, kh, kw] -> [M, kh, kw, C/g].
ir::TensorDataPtr krscCopy(const ir::TensorData& w) {
  const std::vector<int64_t>& d = w.dims();
  const std::vector<int64_t> out = ir::permuteDims(d, ir::toChannelsLastPerm());
  auto t = std::make_shared<ir::TensorData>(w.dtype(), out);
  const size_t elem = dataTypeSize(w.dtype());
  const auto* src = static_cast<const unsigned char*>(w.data());
  auto* dst = static_cast<unsigned char*>(t->data());
  const int64_t m = d[0], c = d[1], kh = d[2], kw = d[3];
  for (int64_t o = 0; o < m; ++o)
    for (int64_t i = 0; i < c; ++i)
      for (int64_t h = 0; h < kh; ++h)
        for (int64_t x = 0; x < kw; ++x) {
          const int64_t from = ((o * c + i) * kh + h) * kw + x;
          const int64_t to = ((o * kh + h) * kw + x) * c + i;
          std::copy_n(src + static_cast<size_t>(from) * elem, elem,
                      dst + static_cast<size_t>(to) * elem);
        }
  return t;
}

// A Transpose that keeps every non-unit dim in order moves no data: the Reshape target it equals,
// or nullopt (a symbolic dim that cannot be written as 0 or -1).
std::optional<std::vector<int64_t>> transposeAsReshape(const ir::Shape& in,
                                                       const std::vector<int64_t>& perm) {
  if (in.size() != perm.size()) return std::nullopt;
  int64_t last = -1;
  for (int64_t p : perm) {
    const ir::DimExpr& d = in[static_cast<size_t>(p)];
    if (d.isConst() && d.constValue() == 1) continue;
    if (p < last) return std::nullopt;
    last = p;
  }
  std::vector<int64_t> target;
  bool inferred = false;
  for (size_t i = 0; i < perm.size(); ++i) {
    const ir::DimExpr& d = in[static_cast<size_t>(perm[i])];
    if (d.isConst()) {
      if (d.constValue() == 0) return std::nullopt;  // 0 would mean "copy" in a Reshape
      target.push_back(d.constValue());
    } else if (perm[i] == static_cast<int64_t>(i)) {
      target.push_back(0);  // copies the input's dim i
    } else if (!inferred) {
      inferred = true;
      target.push_back(-1);
    } else {
      return std::nullopt;
    }
  }
  return target;
}

}  // namespace

StatusOr<bool> channelsLastPass(ir::Graph& g, PassContext& ctx) {
  KILN_ASSIGN_OR_RETURN(std::vector<ir::Node*> order, g.topoOrder());
  std::map<int, Role> roles;
  for (ir::Node* n : order)
    if (std::optional<Role> r = roleOf(*n)) roles.emplace(n->id, *r);
  if (roles.empty()) return false;

  Components comp(g.nodeCapacity());
  auto memberProducer = [&](const ir::Value* v) -> ir::Node* {
    if (!v || !v->producer || !roles.count(v->producer->id)) return nullptr;
    return v->producer;
  };
  for (const auto& [id, role] : roles) {
    const ir::Node* n = g.nodeById(id);
    for (size_t i : role.data)
      if (ir::Node* p = memberProducer(n->inputs[i])) comp.unite(id, p->id);
  }
  std::set<int> withConv;
  for (const auto& [id, role] : roles)
    if (isConv(g.nodeById(id)->op)) withConv.insert(comp.find(id));
  std::set<int> members;
  for (const auto& [id, role] : roles)
    if (withConv.count(comp.find(id))) members.insert(id);
  if (members.empty()) return false;
  auto inRegion = [&](const ir::Value* v) {
    return v && v->producer && members.count(v->producer->id) != 0;
  };

  // Outputs leaving the regions, decided on the graph before any rewrite.
  passutil::UseMap uses(g);
  std::vector<ir::Value*> leaving;
  for (ir::Node* n : order) {
    if (!members.count(n->id)) continue;
    ir::Value* v = n->outputs[0];
    bool leaves = v->isGraphOutput;
    for (const ir::Node* c : uses.consumers(v)) leaves = leaves || !members.count(c->id);
    if (leaves) leaving.push_back(v);
  }

  std::vector<ir::Node*> boundary;  // inserted Transposes
  std::map<ir::Value*, ir::Value*> entries;
  int layouts = 0;
  for (ir::Node* n : order) {
    if (!members.count(n->id)) continue;
    const Role& role = roles.at(n->id);
    for (size_t i : role.data) {
      ir::Value* v = n->inputs[i];
      if (inRegion(v)) continue;
      auto it = entries.find(v);
      if (it == entries.end()) {
        ir::Attributes a;
        a.setInts("perm", ir::toChannelsLastPerm());
        ir::Node* t = g.addNode(OpKind::kTranspose, g.uniqueName(v->name + ".to_nhwc"), {v}, a);
        boundary.push_back(t);
        it = entries.emplace(v, t->outputs[0]).first;
      }
      n->inputs[i] = it->second;
    }
    for (size_t i : role.channelConsts) {
      const ir::Value* k = n->inputs[i];
      const int64_t c = k->constant->numel();
      n->inputs[i] =
          g.addConstant(g.uniqueName(k->name + ".nhwc"), reshapedCopy(*k->constant, {1, 1, 1, c}));
    }
    if (role.layout) {
      ++layouts;
      n->attrs.setInt(ir::kChannelsLastAttr, 1);
      if (isConv(n->op)) {
        const ir::Value* w = n->inputs[1];
        n->inputs[1] = g.addConstant(g.uniqueName(w->name + ".krsc"), krscCopy(*w->constant));
      }
    }
  }
  for (ir::Value* v : leaving) {
    const std::vector<ir::Node*> readers = uses.consumers(v);
    ir::Attributes a;
    a.setInts("perm", ir::toChannelsFirstPerm());
    const std::string name = v->name;
    ir::Node* t = g.addNode(OpKind::kTranspose, g.uniqueName(name + ".to_nchw"), {v}, a);
    boundary.push_back(t);
    ir::Value* out = t->outputs[0];
    for (ir::Node* r : readers) {
      if (members.count(r->id)) continue;
      for (ir::Value*& in : r->inputs)
        if (in == v) in = out;
    }
    if (v->isGraphOutput) {
      // The network output keeps its place and name; the NHWC value is renamed.
      std::vector<ir::Node*> memberReaders;
      for (ir::Node* r : readers)
        if (members.count(r->id)) memberReaders.push_back(r);
      g.replaceAllUses(v, out);
      t->inputs[0] = v;
      for (ir::Node* r : memberReaders)
        for (ir::Value*& in : r->inputs)
          if (in == out) in = v;
      v->name = g.uniqueName(name + ".nhwc");
      out->name = name;
    }
  }
  KILN_RETURN_IF_ERROR(ir::inferGraphInPlace(g));

  // Boundary Transposes that move only unit dims are Reshapes (free views at run time).
  int reshapes = 0;
  for (ir::Node* t : boundary) {
    const std::optional<std::vector<int64_t>> target =
        transposeAsReshape(t->inputs[0]->shape, t->attrs.getInts("perm"));
    if (!target) continue;
    t->op = OpKind::kReshape;
    t->attrs = ir::Attributes{};
    t->inputs.push_back(
        g.addConstant(g.uniqueName(t->name + ".shape"), ir::TensorData::vectorInt64(*target)));
    ++reshapes;
  }
  // An exit Transpose read only by a Reshape to [N, C, H*W], itself read only by a Transpose
  // [0, 2, 1] (ViT's patch embedding: Conv -> flatten(2) -> transpose(1, 2)): the two Transposes
  // cancel, and the chain is one Reshape of the NHWC value to [N, H*W, C].
  int flattens = 0;
  passutil::UseMap after(g);
  for (ir::Node* t : boundary) {
    if (t->op != OpKind::kTranspose || t->attrs.getInts("perm") != ir::toChannelsFirstPerm())
      continue;
    ir::Node* r = after.soleConsumer(t->outputs[0]);
    if (!r || r->op != OpKind::kReshape || r->inputs[0] != t->outputs[0]) continue;
    ir::Node* t2 = after.soleConsumer(r->outputs[0]);
    if (!t2 || t2->op != OpKind::kTranspose || t2->inputs.size() != 1 ||
        t2->attrs.getInts("perm") != std::vector<int64_t>{0, 2, 1})
      continue;
    const ir::Shape& in = t->inputs[0]->shape;   // [N, H, W, C]
    const ir::Shape& rs = r->outputs[0]->shape;  // [N, C, H*W] (same count: the first is N)
    if (in.size() != 4 || rs.size() != 3 || !in[1].isConst() || !in[2].isConst() ||
        !in[3].isConst() || !rs[1].isConst() || !rs[2].isConst())
      continue;
    const int64_t hw = in[1].constValue() * in[2].constValue(), c = in[3].constValue();
    if (rs[1].constValue() != c || rs[2].constValue() != hw || hw == 0 || c == 0) continue;
    t2->op = OpKind::kReshape;
    t2->attrs = ir::Attributes{};
    t2->inputs = {t->inputs[0], g.addConstant(g.uniqueName(t2->name + ".shape"),
                                              ir::TensorData::vectorInt64({0, hw, c}))};
    ++flattens;
  }
  if (reshapes > 0 || flattens > 0) {
    g.removeDeadNodes();
    KILN_RETURN_IF_ERROR(ir::inferGraphInPlace(g));
  }
  logMessage(ctx.logger, Severity::kVERBOSE, "optimizer",
             strFormat("channels-last: %d layers channels-last (%zu in their regions), %zu "
                       "boundary layers (%d of them Reshapes, %d Transpose pairs cancelled)",
                       layouts, members.size(), boundary.size(), reshapes, flattens));
  return true;
}

}  // namespace kiln::opt
