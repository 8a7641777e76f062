// GELU fusion: the decomposed GELU that exporters emit becomes one Gelu layer.
//
//   before: y = x * 0.5 * (1 + Erf(x / sqrt(2)))
//   after:  y = Gelu(x) approximate="none"
//
//   before: y = 0.5 * x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
//   after:  y = Gelu(x) approximate="tanh"
//
// Sums may be Add or two-input Sum (ONNX's own function bodies use Sum). Products are matched
// as trees, in any operand order and grouping: a Mul tree (Div by a
// constant counts as Mul by its inverse, Pow(v, 2|3) as v repeated) whose leaves are x once, the
// `1 + Erf|Tanh(...)` sum once, and one-element constants multiplying to 0.5, so
// Mul(Mul(x, t), 0.5), Mul(Mul(x, 0.5), t), Mul(Div(x, 2), t), Mul(0.5, Mul(t, x)), ... all
// match. Likewise x / sqrt(2) may be Div(x, 1.4142...) or Mul(x, 0.7071...), and x^3 may be
// Pow(x, 3), Mul(x, Mul(x, x)) or Mul(Pow(x, 2), x). Constants must be within 1e-6 of the
// exact values. Every intermediate value must be used only inside the pattern, and the result
// must have x's shape (no broadcasting by the constants).
#include <map>

#include "common/logging.h"
#include "optimizer/pass_manager.h"
#include "optimizer/passes/pass_util.h"

namespace kiln::opt {

namespace {

using ir::OpKind;
using passutil::UseMap;

constexpr double kHalf = 0.5;
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kCubicCoeff = 0.044715;
constexpr int kMaxProductDepth = 4;

// A product of values: leaf -> multiplicity, and the product of the scalar constants.
struct Product {
  std::map<ir::Value*, int> leaves;
  double constant = 1.0;
  bool ok = true;
};

// Flattens the Mul/Div/Pow tree producing `v`. Nodes below the root are expanded only when
// their output is used by that tree alone; other values are leaves.
void flatten(ir::Value* v, int power, const UseMap& uses, bool isRoot, int depth, Product& p) {
  if (!v) p.ok = false;
  if (!p.ok) return;
  if (std::optional<double> c = passutil::scalarConstant(v)) {
    p.constant *= std::pow(*c, power);
    return;
  }
  ir::Node* n = v->producer;
  const bool expandable = n && n->outputs.size() == 1 && n->inputs.size() == 2 &&
                          depth < kMaxProductDepth && (isRoot || uses.soleUse(v));
  if (expandable && n->op == OpKind::kMul) {
    flatten(n->inputs[0], power, uses, false, depth + 1, p);
    flatten(n->inputs[1], power, uses, false, depth + 1, p);
    return;
  }
  if (expandable && n->op == OpKind::kDiv) {
    std::optional<double> c = passutil::scalarConstant(n->inputs[1]);
    if (c && *c != 0.0) {
      flatten(n->inputs[0], power, uses, false, depth + 1, p);
      p.constant /= std::pow(*c, power);
      return;
    }
  }
  if (expandable && n->op == OpKind::kPow && n->inputs[1] && n->inputs[1]->isConstant() &&
      n->inputs[1]->constant->numel() == 1) {
    const double e = n->inputs[1]->constant->doubleAt(0);
    if (e == 2.0 || e == 3.0) {
      flatten(n->inputs[0], power * static_cast<int>(e), uses, false, depth + 1, p);
      return;
    }
  }
  p.leaves[v] += power;
}

// Product of exactly one leaf `x` (once) and a constant near `want`.
ir::Value* singleLeafTimes(ir::Value* v, double want, const UseMap& uses) {
  Product p;
  flatten(v, 1, uses, true, 0, p);
  if (!p.ok || p.leaves.size() != 1 || p.leaves.begin()->second != 1 ||
      !passutil::near(p.constant, want))
    return nullptr;
  return p.leaves.begin()->first;
}

// The Add (or two-input Sum, as ONNX's function bodies spell it) producing v, or null.
ir::Node* addProducer(const ir::Value* v) {
  ir::Node* n = passutil::producerOf(v, OpKind::kAdd);
  if (!n) n = passutil::producerOf(v, OpKind::kSum);
  return n && n->inputs.size() == 2 && n->inputs[0] && n->inputs[1] ? n : nullptr;
}

// For t = 1 + Erf(x / sqrt 2) (approximate "none") or 1 + Tanh(sqrt(2/pi) (x + 0.044715 x^3))
// ("tanh"), with every intermediate used once: sets `approx` and returns x; else null.
ir::Value* geluArgument(ir::Value* t, const UseMap& uses, std::string& approx) {
  ir::Node* add = addProducer(t);
  if (!add) return nullptr;
  for (int side = 0; side < 2; ++side) {
    std::optional<double> one =
        passutil::scalarConstant(add->inputs[static_cast<size_t>(1 - side)]);
    ir::Value* e = add->inputs[static_cast<size_t>(side)];
    if (!one || !passutil::near(*one, 1.0) || !uses.soleUse(e) || !e->producer) continue;
    ir::Node* f = e->producer;
    if (f->inputs.size() != 1 || f->outputs.size() != 1 || !uses.soleUse(f->inputs[0])) continue;
    if (f->op == OpKind::kErf) {
      approx = "none";
      return singleLeafTimes(f->inputs[0], kInvSqrt2, uses);
    }
    if (f->op != OpKind::kTanh) continue;
    // u = sqrt(2/pi) * s, s = x + c, c = 0.044715 * x^3
    ir::Value* s = singleLeafTimes(f->inputs[0], kSqrt2OverPi, uses);
    ir::Node* sum = addProducer(s);
    if (!sum || !uses.soleUse(s)) continue;
    for (int k = 0; k < 2; ++k) {
      ir::Value* x = sum->inputs[static_cast<size_t>(k)];
      ir::Value* cubic = sum->inputs[static_cast<size_t>(1 - k)];
      if (!uses.soleUse(cubic) || x == cubic) continue;
      Product p;
      flatten(cubic, 1, uses, true, 0, p);
      if (p.ok && p.leaves.size() == 1 && p.leaves.begin()->first == x &&
          p.leaves.begin()->second == 3 && passutil::near(p.constant, kCubicCoeff)) {
        approx = "tanh";
        return x;
      }
    }
  }
  return nullptr;
}

bool tryFuse(ir::Graph& g, const UseMap& uses, ir::Node& root, PassContext& ctx) {
  if (root.outputs.size() != 1) return false;
  ir::Value* y = root.outputs[0];
  if (!passutil::isFloatType(y->dtype)) return false;
  Product p;
  flatten(y, 1, uses, true, 0, p);
  if (!p.ok || p.leaves.size() != 2 || !passutil::near(p.constant, kHalf)) return false;
  for (auto [t, count] : p.leaves) {
    if (count != 1) return false;
    (void)t;
  }
  auto first = p.leaves.begin();
  auto second = std::next(first);
  for (int order = 0; order < 2; ++order) {
    ir::Value* x = order == 0 ? first->first : second->first;
    ir::Value* t = order == 0 ? second->first : first->first;
    if (!uses.soleUse(t)) continue;
    std::string approx;
    ir::Value* arg = geluArgument(t, uses, approx);
    if (arg != x || x->dtype != y->dtype || !ir::shapesEqual(x->shape, y->shape)) continue;
    ir::Attributes attrs;
    attrs.setString("approximate", approx);
    ir::Node* gelu = g.addNode(OpKind::kGelu, g.uniqueName(root.name + "/Gelu"), {x}, attrs);
    gelu->outputs[0]->dtype = x->dtype;
    gelu->outputs[0]->shape = x->shape;
    passutil::replaceOutput(g, y, gelu->outputs[0]);
    logMessage(ctx.logger, Severity::kVERBOSE, "optimizer",
               "fused the decomposed GELU ending at " + root.describe() + " into " +
                   gelu->describe() + " approximate=" + approx);
    return true;
  }
  return false;
}

}  // namespace

StatusOr<bool> geluFusionPass(ir::Graph& g, PassContext& ctx) {
  return passutil::rewriteNodes(
      g, [](const ir::Node& n) { return n.op == OpKind::kMul || n.op == OpKind::kDiv; },
      [&](ir::Node& n, const UseMap& uses) { return tryFuse(g, uses, n, ctx); });
}

}  // namespace kiln::opt
