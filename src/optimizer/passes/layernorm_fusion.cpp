// LayerNorm fusion: the decomposed LayerNorm that exporters emit (opset < 17, or by hand),
// over the last axis, becomes one LayerNormalization layer.
//
//   before: m = ReduceMean(x, [-1]); d = Sub(x, m)
//           v = ReduceMean(Pow(d, 2) | Mul(d, d), [-1])
//           n = Div(d, Sqrt(Add(v, eps)))  |  Mul(d, Reciprocal(Sqrt(Add(v, eps))))
//           y = Add(Mul(n, gamma), beta)                  (gamma and beta optional)
//   after:  y = LayerNormalization(x, gamma, beta) axis=-1 epsilon=eps
//
// Both ReduceMeans reduce only the last axis (axes as attribute or constant input, -1 or
// rank-1) with keepdims=1; eps is a one-element constant; Add/Mul take their operands in
// either order. gamma and beta are absorbed when they are constants of x's type whose shape is
// [C] or [1,...,1,C] (C the last dim, static) or one element (replicated to [C]); otherwise the
// Mul/Add stays after the fused layer. Without gamma the Scale is ones; without beta the
// optional B is absent (zero). Every intermediate value must be used only inside the pattern.
#include "common/logging.h"
#include "optimizer/pass_manager.h"
#include "optimizer/passes/pass_util.h"

namespace kiln::opt {

namespace {

using ir::OpKind;
using passutil::UseMap;

// The ReduceMean node producing v over the last axis of its input with keepdims=1.
ir::Node* lastAxisMean(const ir::Value* v) {
  ir::Node* r = passutil::producerOf(v, OpKind::kReduceMean);
  if (!r || r->inputs.empty() || !r->inputs[0]) return nullptr;
  if (r->attrs.getInt("keepdims", 1) != 1) return nullptr;
  std::vector<int64_t> axes;
  if (r->hasInput(1)) {
    if (!r->inputs[1]->isConstant()) return nullptr;
    axes = r->inputs[1]->constant->toInt64Vector();
  } else {
    axes = r->attrs.getInts("axes");
  }
  const int64_t rank = static_cast<int64_t>(r->inputs[0]->shape.size());
  if (axes.size() != 1 || rank < 1 || (axes[0] != -1 && axes[0] != rank - 1)) return nullptr;
  return r;
}

// For a commutative binary node `n` with `v` as one input: the other input, or null.
ir::Value* otherOperand(const ir::Node* n, const ir::Value* v) {
  if (!n || n->inputs.size() != 2 || n->outputs.size() != 1) return nullptr;
  if (n->inputs[0] == v) return n->inputs[1];
  if (n->inputs[1] == v) return n->inputs[0];
  return nullptr;
}

// gamma/beta as a [C] constant, or null when `p` is not a constant of an accepted shape.
ir::TensorDataPtr channelParam(const ir::Value* p, const ir::Value* x, int64_t c) {
  if (!p || !p->isConstant() || p->dtype != x->dtype) return nullptr;
  const std::vector<int64_t>& d = p->constant->dims();
  if (d.size() > x->shape.size()) return nullptr;
  for (size_t i = 0; i + 1 < d.size(); ++i)
    if (d[i] != 1) return nullptr;
  const int64_t n = p->constant->numel();
  if (n != c && n != 1) return nullptr;
  if (d.size() == 1 && n == c) return p->constant;
  std::vector<double> v(static_cast<size_t>(c), p->constant->doubleAt(0));
  if (n == c) v = passutil::toDoubles(*p->constant);
  return passutil::floatTensor(p->dtype, {c}, v);
}

bool tryFuse(ir::Graph& g, const UseMap& uses, ir::Node& mean, PassContext& ctx) {
  if (!lastAxisMean(mean.outputs.empty() ? nullptr : mean.outputs[0])) return false;
  ir::Value* x = mean.inputs[0];
  if (!passutil::isFloatType(x->dtype) || x->shape.empty() || !x->shape.back().isConst())
    return false;
  const int64_t c = x->shape.back().constValue();
  // d = x - mean
  ir::Node* sub = uses.soleConsumer(mean.outputs[0]);
  if (!sub || sub->op != OpKind::kSub || sub->inputs.size() != 2 || sub->inputs[0] != x ||
      sub->inputs[1] != mean.outputs[0])
    return false;
  ir::Value* d = sub->outputs[0];
  if (d->isGraphOutput || uses.count(d) != 2) return false;
  // The two users of d: the square and the normalizing Div/Mul.
  ir::Node* square = nullptr;
  ir::Node* norm = nullptr;
  for (ir::Node* u : uses.consumers(d)) {
    const bool isPow = u->op == OpKind::kPow && u->inputs.size() == 2 && u->inputs[0] == d &&
                       u->inputs[1] && u->inputs[1]->isConstant() &&
                       u->inputs[1]->constant->numel() == 1 &&
                       u->inputs[1]->constant->doubleAt(0) == 2.0;
    const bool isSelfMul =
        u->op == OpKind::kMul && u->inputs.size() == 2 && u->inputs[0] == d && u->inputs[1] == d;
    if (isPow || isSelfMul)
      square = u;
    else
      norm = u;
  }
  if (!square || !norm) return false;
  ir::Node* var = uses.soleConsumer(square->outputs[0]);
  if (!var || var->op != OpKind::kReduceMean || !lastAxisMean(var->outputs[0]) ||
      var->inputs[0] != square->outputs[0])
    return false;
  ir::Node* addEps = uses.soleConsumer(var->outputs[0]);
  if (!addEps || addEps->op != OpKind::kAdd) return false;
  std::optional<double> eps = passutil::scalarConstant(otherOperand(addEps, var->outputs[0]));
  if (!eps || !(*eps >= 0)) return false;
  ir::Node* sqrt = uses.soleConsumer(addEps->outputs[0]);
  if (!sqrt || sqrt->op != OpKind::kSqrt) return false;
  ir::Value* stdv = sqrt->outputs[0];
  if (norm->op == OpKind::kDiv) {
    if (norm->inputs.size() != 2 || norm->inputs[0] != d || norm->inputs[1] != stdv ||
        !uses.soleUse(stdv))
      return false;
  } else if (norm->op == OpKind::kMul) {
    ir::Node* recip = uses.soleConsumer(stdv);
    if (!recip || recip->op != OpKind::kReciprocal || !uses.soleUse(recip->outputs[0]) ||
        otherOperand(norm, d) != recip->outputs[0])
      return false;
  } else {
    return false;
  }
  ir::Value* y = norm->outputs[0];
  if (!ir::shapesEqual(y->shape, x->shape)) return false;
  // Optional Mul(gamma) and Add(beta).
  ir::TensorDataPtr gamma, beta;
  if (ir::Node* mul = uses.soleConsumer(y); mul && mul->op == OpKind::kMul) {
    if ((gamma = channelParam(otherOperand(mul, y), x, c)) &&
        ir::shapesEqual(mul->outputs[0]->shape, x->shape))
      y = mul->outputs[0];
    else
      gamma = nullptr;
  }
  if (ir::Node* add = uses.soleConsumer(y); add && add->op == OpKind::kAdd) {
    if ((beta = channelParam(otherOperand(add, y), x, c)) &&
        ir::shapesEqual(add->outputs[0]->shape, x->shape))
      y = add->outputs[0];
    else
      beta = nullptr;
  }
  if (!gamma)
    gamma = passutil::floatTensor(x->dtype, {c}, std::vector<double>(static_cast<size_t>(c), 1.0));

  const std::string name = g.uniqueName(y->producer->name + "/LayerNorm");
  ir::Value* scaleV = g.addConstant(g.uniqueName(name + ".scale"), gamma);
  ir::Value* biasV = beta ? g.addConstant(g.uniqueName(name + ".bias"), beta) : nullptr;
  ir::Attributes attrs;
  attrs.setInt("axis", -1);
  attrs.setFloat("epsilon", static_cast<float>(*eps));
  std::vector<ir::Value*> ins = {x, scaleV};
  if (biasV) ins.push_back(biasV);
  ir::Node* ln = g.addNode(OpKind::kLayerNormalization, name, ins, attrs);
  ln->outputs[0]->dtype = x->dtype;
  ln->outputs[0]->shape = x->shape;
  passutil::replaceOutput(g, y, ln->outputs[0]);
  logMessage(ctx.logger, Severity::kVERBOSE, "optimizer",
             "fused the decomposed LayerNorm from " + mean.describe() + " into " + ln->describe() +
                 (beta ? "" : " (no beta)"));
  return true;
}

}  // namespace

StatusOr<bool> layerNormFusionPass(ir::Graph& g, PassContext& ctx) {
  return passutil::rewriteNodes(
      g, [](const ir::Node& n) { return n.op == OpKind::kReduceMean; },
      [&](ir::Node& n, const UseMap& uses) { return tryFuse(g, uses, n, ctx); });
}

}  // namespace kiln::opt
