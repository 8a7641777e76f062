// Convolution epilogue fusion: a Conv followed by a residual Add and/or an activation becomes one
// FusedConv (Y = act(Conv(X, W) + B + Z)), so the GPU writes the convolution's output once.
//
//   before: y = Conv(x, W, B); s = Add(y, z); r = Relu(s)           (ResNet's block, BN folded)
//   after:  r = FusedConv(x, W, B, z) activation="Relu"
//
//   before: y = Conv(x, W, B); c = Add(y, k)    k constant [C,1,1] / [1,C,1,1] / one element
//   after:  c = Conv(x, W, B + k)               (FusedConv when an activation or residual follows)
//
// The chain after the Conv: any number of Adds (either operand order), each of
//   - a per-output-channel constant k (its shape, aligned to the output's, is 1 everywhere but
//     the channel axis): folded into B (created when absent; B must be a constant), computed in
//     double and rounded once;
//   - at most one residual z with exactly the output's shape and type (never a broadcast);
// then at most one activation: Relu, LeakyRelu, Clip with constant bounds (min <= max; absent
// bounds are +-inf; MobileNetV2's Relu6 is Clip(0, 6)), Sigmoid, Tanh, HardSwish, Gelu
// (approximate none/tanh) or SiLU written Mul(v, Sigmoid(v)) (either operand order). Every
// intermediate value must have no other consumer and be no network output; the last value of the
// chain may be anything. A layer whose precision the user set (Layer::setPrecision) joins only a
// Conv with the same setting, which the fused layer keeps. A FusedConv is made when a residual or
// an activation is present; a chain of constant Adds alone only updates the Conv's bias.
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "common/logging.h"
#include "ir/fused_activation.h"
#include "optimizer/pass_manager.h"
#include "optimizer/passes/pass_util.h"

namespace kiln::opt {

namespace {

using ir::FusedActivation;
using ir::OpKind;
using passutil::UseMap;

bool constFloat(const ir::Value* v) {
  return v && v->isConstant() && passutil::isFloatType(v->constant->dtype());
}

// The per-channel values of constant `k` added to an output of shape `out` (channels on axis 1),
// or nullopt when k is not a constant of `dtype` varying along the channel axis only.
std::optional<std::vector<double>> perChannel(const ir::Value* k, const ir::Shape& out,
                                              DataType dtype) {
  if (!constFloat(k) || k->constant->dtype() != dtype || out.size() < 2 || !out[1].isConst())
    return std::nullopt;
  const int64_t channels = out[1].constValue();
  const std::vector<int64_t>& kd = k->constant->dims();
  if (kd.size() > out.size()) return std::nullopt;
  const size_t off = out.size() - kd.size();
  bool varies = false;
  for (size_t i = 0; i < kd.size(); ++i) {
    if (kd[i] == 1) continue;
    if (off + i != 1 || kd[i] != channels) return std::nullopt;
    varies = true;
  }
  std::vector<double> v = passutil::toDoubles(*k->constant);
  if (v.empty()) return std::nullopt;
  if (!varies) v.assign(static_cast<size_t>(channels), v[0]);
  if (v.size() != static_cast<size_t>(channels)) return std::nullopt;
  return v;
}

// A one-element float constant that `dtype` data compares against exactly as a float attribute.
std::optional<float> clipBound(const ir::Value* v, DataType dtype) {
  std::optional<double> c = passutil::scalarConstant(v);
  if (!c || std::isnan(*c)) return std::nullopt;
  const float f = static_cast<float>(*c);
  if (dtype == DataType::kDOUBLE && static_cast<double>(f) != *c) return std::nullopt;
  return f;
}

// The activation applied to `v` (whose consumers are in `uses`): its parameters, its output and
// the nodes it consists of; nullopt when none matches.
struct Activation {
  ir::FusedActivationParams params;
  ir::Value* out = nullptr;
  std::vector<ir::Node*> nodes;
};

std::optional<Activation> activationOf(ir::Value* v, const UseMap& uses,
                                       const std::optional<DataType>& precision) {
  if (v->isGraphOutput) return std::nullopt;
  const std::vector<ir::Node*>& cons = uses.consumers(v);
  auto oneOut = [&](const ir::Node* n) {
    return n->outputs.size() == 1 && n->outputs[0] && n->outputs[0]->dtype == v->dtype;
  };
  Activation a;
  if (cons.size() == 2) {
    // SiLU: Mul(v, Sigmoid(v)) in either order.
    ir::Node* sig = cons[0]->op == OpKind::kSigmoid ? cons[0] : cons[1];
    ir::Node* mul = sig == cons[0] ? cons[1] : cons[0];
    if (sig->op != OpKind::kSigmoid || mul->op != OpKind::kMul || sig->inputs.size() != 1 ||
        !oneOut(sig) || !oneOut(mul) || mul->inputs.size() != 2)
      return std::nullopt;
    ir::Value* s = sig->outputs[0];
    const bool operands = (mul->inputs[0] == v && mul->inputs[1] == s) ||
                          (mul->inputs[0] == s && mul->inputs[1] == v);
    if (!operands || uses.soleConsumer(s) != mul ||
        !ir::shapesEqual(mul->outputs[0]->shape, v->shape) || sig->precision != precision ||
        mul->precision != precision)
      return std::nullopt;
    a.params.kind = FusedActivation::kSilu;
    a.out = mul->outputs[0];
    a.nodes = {sig, mul};
    return a;
  }
  if (cons.size() != 1) return std::nullopt;
  ir::Node* n = cons[0];
  if (!oneOut(n) || n->inputs.empty() || n->inputs[0] != v || n->precision != precision)
    return std::nullopt;
  a.out = n->outputs[0];
  a.nodes = {n};
  const bool unary = n->inputs.size() == 1;
  switch (n->op) {
    case OpKind::kRelu:
      if (!unary) return std::nullopt;
      a.params.kind = FusedActivation::kRelu;
      return a;
    case OpKind::kLeakyRelu:
      if (!unary) return std::nullopt;
      a.params.kind = FusedActivation::kLeakyRelu;
      a.params.alpha = n->attrs.getFloat("alpha", 0.01f);
      return a;
    case OpKind::kSigmoid:
      if (!unary) return std::nullopt;
      a.params.kind = FusedActivation::kSigmoid;
      return a;
    case OpKind::kTanh:
      if (!unary) return std::nullopt;
      a.params.kind = FusedActivation::kTanh;
      return a;
    case OpKind::kHardSwish:
      if (!unary) return std::nullopt;
      a.params.kind = FusedActivation::kHardSwish;
      return a;
    case OpKind::kGelu: {
      if (!unary) return std::nullopt;
      const std::string approx = n->attrs.getString("approximate", "none");
      if (approx == "none") {
        a.params.kind = FusedActivation::kGelu;
      } else if (approx == "tanh") {
        a.params.kind = FusedActivation::kGeluTanh;
      } else {
        return std::nullopt;
      }
      return a;
    }
    case OpKind::kClip: {
      if (n->inputs.size() > 3) return std::nullopt;
      float lo = -std::numeric_limits<float>::infinity();
      float hi = std::numeric_limits<float>::infinity();
      if (n->hasInput(1)) {
        std::optional<float> b = clipBound(n->inputs[1], v->dtype);
        if (!b) return std::nullopt;
        lo = *b;
      }
      if (n->hasInput(2)) {
        std::optional<float> b = clipBound(n->inputs[2], v->dtype);
        if (!b) return std::nullopt;
        hi = *b;
      }
      if (lo > hi) return std::nullopt;  // Clip then gives max everywhere
      a.params.kind = FusedActivation::kClip;
      a.params.alpha = lo;
      a.params.beta = hi;
      return a;
    }
    default: return std::nullopt;
  }
}

bool tryFuse(ir::Graph& g, const UseMap& uses, ir::Node& conv, PassContext& ctx) {
  if (conv.outputs.size() != 1 || conv.inputs.size() < 2 || conv.inputs.size() > 3 ||
      !conv.hasInput(0) || !conv.hasInput(1))
    return false;
  ir::Value* y = conv.outputs[0];
  const DataType dtype = y->dtype;
  if (!passutil::isFloatType(dtype) || y->shape.size() < 3) return false;
  const bool biasConst = !conv.hasInput(2) || constFloat(conv.inputs[2]);

  // The Add chain.
  ir::Value* cur = y;
  ir::Value* z = nullptr;
  std::optional<std::vector<double>> biasAdd;
  while (uses.soleUse(cur)) {
    ir::Node* add = uses.soleConsumer(cur);
    if (add->op != OpKind::kAdd || add->inputs.size() != 2 || add->outputs.size() != 1 ||
        add->precision != conv.precision)
      break;
    ir::Value* other = add->inputs[0] == cur ? add->inputs[1] : add->inputs[0];
    ir::Value* out = add->outputs[0];
    if (!other || other == cur || out->dtype != dtype || !ir::shapesEqual(out->shape, y->shape))
      break;
    if (std::optional<std::vector<double>> k = perChannel(other, y->shape, dtype)) {
      if (!biasConst) break;
      if (!biasAdd) biasAdd = std::vector<double>(k->size(), 0.0);
      for (size_t c = 0; c < k->size(); ++c) (*biasAdd)[c] += (*k)[c];
    } else if (!z && other->dtype == dtype && ir::shapesEqual(other->shape, y->shape)) {
      z = other;
    } else {
      break;
    }
    cur = out;
  }
  std::optional<Activation> act = activationOf(cur, uses, conv.precision);
  if (!z && !act && !biasAdd) return false;

  // The new bias: B + the folded constants (rounded once to B's type).
  ir::Value* bias = conv.hasInput(2) ? conv.inputs[2] : nullptr;
  if (biasAdd) {
    std::vector<double> b =
        bias ? passutil::toDoubles(*bias->constant) : std::vector<double>(biasAdd->size(), 0.0);
    if (b.size() != biasAdd->size()) return false;
    for (size_t c = 0; c < b.size(); ++c) b[c] += (*biasAdd)[c];
    const DataType bt = bias ? bias->constant->dtype() : dtype;
    bias = g.addConstant(g.uniqueName(conv.name + ".fused_bias"),
                         passutil::floatTensor(bt, {static_cast<int64_t>(b.size())}, b));
  }
  ir::Value* last = act ? act->out : cur;
  // The replacement takes the Conv's layer name (profiles and reports keep naming "conv1").
  const std::string layerName = conv.name;
  conv.name = g.uniqueName(layerName + "__unfused");
  ir::Node* fused = nullptr;
  std::string what;
  if (!z && !act) {
    // Constant Adds only: the Conv with the new bias.
    fused = g.addNode(OpKind::kConv, layerName, {conv.inputs[0], conv.inputs[1], bias}, conv.attrs);
    what = "per-channel constant Add";
  } else {
    ir::Attributes attrs = conv.attrs;
    ir::FusedActivationParams p = act ? act->params : ir::FusedActivationParams{};
    ir::setFusedActivation(attrs, p);
    std::vector<ir::Value*> ins{conv.inputs[0], conv.inputs[1], bias};
    if (z) ins.push_back(z);
    while (ins.size() > 2 && ins.back() == nullptr) ins.pop_back();
    fused = g.addNode(OpKind::kFusedConv, layerName, ins, attrs);
    what = std::string(z ? "residual Add" : "") + (z && act ? " and " : "") +
           (act ? std::string("activation ") + ir::fusedActivationName(p.kind) : "");
    if (biasAdd) what += " (and a per-channel constant Add)";
  }
  fused->precision = conv.precision;
  fused->outputs[0]->dtype = last->dtype;
  fused->outputs[0]->shape = last->shape;
  passutil::replaceOutput(g, last, fused->outputs[0]);
  logMessage(ctx.logger, Severity::kVERBOSE, "optimizer",
             "fused Conv '" + layerName + "' with its " + what + " into " + fused->describe());
  return true;
}

}  // namespace

StatusOr<bool> convEpilogueFusionPass(ir::Graph& g, PassContext& ctx) {
  return passutil::rewriteNodes(
      g, [](const ir::Node& n) { return n.op == OpKind::kConv; },
      [&](ir::Node& n, const UseMap& uses) { return tryFuse(g, uses, n, ctx); });
}

}  // namespace kiln::opt
