// MatMul/Gemm epilogue fusion: a MatMul (or a plain Gemm) with the bias Add and the activation
// after it becomes one FusedMatMul layer, which the CUDA backend runs as one cuBLASLt GEMM with
// an epilogue (docs/optimizer.md).
//
//   before: y = act(Add(MatMul(A, B), bias))      B 2-D, A rank >= 2, bias constant
//   after:  y = FusedMatMul(A, B, bias') activation=act
//
//   before: y = act(Gemm(A, B, C))                alpha = beta = 1, transA = 0, A 2-D
//   after:  y = FusedMatMul(A, B', C')            B' = B (transB = 0) or the transposed constant
//
//   before: y = act(Add(Add(MatMul(A, B), bias), R))   R exactly the output's shape (residual)
//   after:  y = FusedMatMul(A, B, bias', R)       (the bias, the residual and act each optional)
//
// - The bias: a constant with N elements whose shape, aligned to the MatMul's output, is 1 on
//   every axis but the last ([N], [1, N], [1, 1, N], ...) and whose rank is at most the output's;
//   Add(mm, bias) or Add(bias, mm). It becomes a [N] constant. Gemm's C: 1-D [N] (any tensor), or
//   a constant [N] / [1, N].
// - The residual: an Add of the product (after the bias, if any) and any value R of the output's
//   exact shape and type (no broadcasting; either operand order), R not the product itself. It
//   must come before the activation: act(AB + b) + R is not act(AB + b + R), so an Add after the
//   activation is left alone (MatMul -> Add bias -> Add R -> Relu fuses whole).
// - The activation: Relu; LeakyRelu; Clip with constant (or absent) min <= max; Sigmoid; Tanh;
//   Gelu (approximate none or tanh); HardSwish; Swish with alpha 1; Silu spelled
//   Mul(x, Sigmoid(x)) (x read by exactly those two layers).
// - Every intermediate value must be read by the next layer of the pattern alone and be no
//   network output; where that fails the fusion stops before (MatMul + Add when the Add's output
//   has another reader). A MatMul with neither a bias nor an activation is left alone.
// - Float types only (float32, float16, bfloat16, float64), one type throughout.
// - A precision the user set on the MatMul/Gemm (Layer::setPrecision) carries over to the
//   FusedMatMul; an Add or activation with a setting of its own that differs from the
//   MatMul's stops the fusion before it.
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "common/logging.h"
#include "ir/fused_activation.h"
#include "optimizer/pass_manager.h"
#include "optimizer/passes/pass_util.h"

namespace kiln::opt {

namespace {

using ir::FusedActivation;
using ir::FusedActivationParams;
using ir::OpKind;
using passutil::UseMap;

ir::Value* otherOperand(const ir::Node* n, const ir::Value* v) {
  if (n->inputs.size() != 2) return nullptr;
  if (n->inputs[0] == v && n->inputs[1] != v) return n->inputs[1];
  if (n->inputs[1] == v && n->inputs[0] != v) return n->inputs[0];
  return nullptr;
}

// A one-element float constant's value, or nullopt.
std::optional<double> scalarOf(const ir::Value* v) { return passutil::scalarConstant(v); }

// The [N] bias that `c` (an Add operand next to the product y, output rank `rank`) adds along
// the last axis, or null.
ir::TensorDataPtr biasConstant(const ir::Value* c, DataType dtype, int64_t n, size_t rank) {
  if (!c || !c->isConstant() || c->constant->dtype() != dtype) return nullptr;
  const std::vector<int64_t>& d = c->constant->dims();
  if (d.empty() || d.size() > rank || d.back() != n || c->constant->numel() != n) return nullptr;
  if (d.size() == 1) return c->constant;
  return ir::TensorData::fromBytes(dtype, {n}, c->constant->data());
}

// The activation layer reading `x` alone (or the Silu pair Mul(x, Sigmoid(x))): sets `act` and
// returns the activation's output, or null.
ir::Value* matchActivation(ir::Value* x, const UseMap& uses, FusedActivationParams& act) {
  if (!x || x->isGraphOutput) return nullptr;
  const std::vector<ir::Node*>& readers = uses.consumers(x);
  if (readers.size() == 2) {
    // Silu: Mul(x, Sigmoid(x)) in either operand order.
    ir::Node* sig = readers[0]->op == OpKind::kSigmoid ? readers[0] : readers[1];
    ir::Node* mul = sig == readers[0] ? readers[1] : readers[0];
    if (sig->op != OpKind::kSigmoid || mul->op != OpKind::kMul || sig->inputs.size() != 1 ||
        sig->outputs.size() != 1 || mul->outputs.size() != 1)
      return nullptr;
    ir::Value* s = sig->outputs[0];
    if (!uses.soleUse(s) || uses.soleConsumer(s) != mul || otherOperand(mul, x) != s)
      return nullptr;
    ir::Value* y = mul->outputs[0];
    if (y->dtype != x->dtype || !ir::shapesEqual(y->shape, x->shape)) return nullptr;
    act.kind = FusedActivation::kSilu;
    return y;
  }
  if (readers.size() != 1) return nullptr;
  ir::Node* n = readers[0];
  if (n->outputs.size() != 1 || n->inputs.empty() || n->inputs[0] != x) return nullptr;
  for (size_t i = 1; i < n->inputs.size(); ++i)
    if (n->inputs[i] == x) return nullptr;
  act = FusedActivationParams{};
  switch (n->op) {
    case OpKind::kRelu: act.kind = FusedActivation::kRelu; break;
    case OpKind::kLeakyRelu:
      act.kind = FusedActivation::kLeakyRelu;
      act.alpha = n->attrs.getFloat("alpha", 0.01f);
      break;
    case OpKind::kSigmoid: act.kind = FusedActivation::kSigmoid; break;
    case OpKind::kTanh: act.kind = FusedActivation::kTanh; break;
    case OpKind::kHardSwish: act.kind = FusedActivation::kHardSwish; break;
    case OpKind::kSwish:
      if (n->attrs.getFloat("alpha", 1.f) != 1.f) return nullptr;
      act.kind = FusedActivation::kSilu;
      break;
    case OpKind::kGelu: {
      const std::string approx = n->attrs.getString("approximate", "none");
      if (approx == "none")
        act.kind = FusedActivation::kGelu;
      else if (approx == "tanh")
        act.kind = FusedActivation::kGeluTanh;
      else
        return nullptr;
      break;
    }
    case OpKind::kClip: {
      double lo = -std::numeric_limits<double>::infinity();
      double hi = std::numeric_limits<double>::infinity();
      for (size_t i = 1; i <= 2; ++i) {
        if (!n->hasInput(i)) continue;
        std::optional<double> v = scalarOf(n->inputs[i]);
        if (!v || n->inputs[i]->constant->dtype() != x->dtype) return nullptr;
        (i == 1 ? lo : hi) = *v;
      }
      if (!(lo <= hi)) return nullptr;  // min > max (or NaN): Clip's own rule, not ours
      act.kind = FusedActivation::kClip;
      act.alpha = static_cast<float>(lo);
      act.beta = static_cast<float>(hi);
      // The float attributes must hold the bounds exactly (float16/bfloat16/float32 do).
      if (static_cast<double>(act.alpha) != lo || static_cast<double>(act.beta) != hi)
        return nullptr;
      break;
    }
    default: return nullptr;
  }
  ir::Value* y = n->outputs[0];
  if (y->dtype != x->dtype || !ir::shapesEqual(y->shape, x->shape)) return nullptr;
  return y;
}

// B [N, K] -> [K, N] (any element type).
ir::TensorDataPtr transposed(const ir::TensorData& b) {
  const int64_t rows = b.dims()[0], cols = b.dims()[1];
  auto t = std::make_shared<ir::TensorData>(b.dtype(), std::vector<int64_t>{cols, rows});
  const size_t es = dataTypeSize(b.dtype());
  const auto* src = static_cast<const unsigned char*>(b.data());
  auto* dst = static_cast<unsigned char*>(t->data());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      std::memcpy(dst + static_cast<size_t>(c * rows + r) * es,
                  src + static_cast<size_t>(r * cols + c) * es, es);
  return t;
}

bool tryFuse(ir::Graph& g, const UseMap& uses, ir::Node& root, PassContext& ctx) {
  if (root.outputs.size() != 1 || root.inputs.size() < 2 || !root.inputs[0] || !root.inputs[1])
    return false;
  ir::Value* a = root.inputs[0];
  ir::Value* b = root.inputs[1];
  ir::Value* y = root.outputs[0];
  const DataType dt = y->dtype;
  if (!passutil::isFloatType(dt) || a->dtype != dt || b->dtype != dt) return false;
  if (a->shape.size() < 2 || b->shape.size() != 2) return false;

  ir::Value* bOperand = b;  // B as FusedMatMul reads it ([K, N])
  ir::TensorDataPtr bNew;   // a transposed constant, for Gemm with transB
  ir::Value* biasValue = nullptr;
  ir::TensorDataPtr biasNew;
  bool hasEpilogue = false;  // anything beyond the plain product
  if (root.op == OpKind::kGemm) {
    if (a->shape.size() != 2 || root.attrs.getInt("transA", 0) != 0 ||
        root.attrs.getFloat("alpha", 1.f) != 1.f)
      return false;
    if (root.attrs.getInt("transB", 0) != 0) {
      if (!b->isConstant() || b->constant->dims().size() != 2) return false;
      bNew = transposed(*b->constant);
    }
    if (root.hasInput(2)) {
      if (root.attrs.getFloat("beta", 1.f) != 1.f) return false;
      ir::Value* c = root.inputs[2];
      const ir::DimExpr& n = y->shape[1];
      if (c->dtype != dt || !n.isConst()) return false;
      if (c->isConstant()) {
        biasNew = biasConstant(c, dt, n.constValue(), 2);
        if (!biasNew) return false;
        if (biasNew == c->constant) {
          biasValue = c;
          biasNew = nullptr;
        }
      } else {
        if (c->shape.size() != 1 || !c->shape[0].isConst() ||
            c->shape[0].constValue() != n.constValue())
          return false;
        biasValue = c;
      }
    }
    hasEpilogue = true;  // a Gemm always becomes a FusedMatMul
  } else if (root.op != OpKind::kMatMul || root.inputs.size() != 2) {
    return false;
  }

  // The bias Add (MatMul, or a Gemm without C).
  ir::Value* cur = y;
  if (!biasValue && !biasNew && y->shape.back().isConst()) {
    ir::Node* add = uses.soleConsumer(y);
    if (add && add->op == OpKind::kAdd && add->outputs.size() == 1 &&
        (!add->precision || add->precision == root.precision)) {
      ir::Value* c = otherOperand(add, y);
      ir::TensorDataPtr bias = biasConstant(c, dt, y->shape.back().constValue(), y->shape.size());
      ir::Value* out = add->outputs[0];
      if (bias && out->dtype == dt && ir::shapesEqual(out->shape, y->shape)) {
        if (bias == c->constant)
          biasValue = c;
        else
          biasNew = bias;
        cur = out;
        hasEpilogue = true;
      }
    }
  }
  // The residual Add: the product (+ bias) plus a value of exactly its shape and type.
  ir::Value* residual = nullptr;
  if (!cur->isGraphOutput) {
    ir::Node* add = uses.soleConsumer(cur);
    if (add && add->op == OpKind::kAdd && add->outputs.size() == 1 &&
        (!add->precision || add->precision == root.precision)) {
      ir::Value* r = otherOperand(add, cur);
      ir::Value* out = add->outputs[0];
      if (r && r != y && r->producer != &root && r->dtype == dt &&
          ir::shapesEqual(r->shape, cur->shape) && out->dtype == dt &&
          ir::shapesEqual(out->shape, cur->shape)) {
        residual = r;
        cur = out;
        hasEpilogue = true;
      }
    }
  }
  FusedActivationParams act;
  ir::Value* actOut = matchActivation(cur, uses, act);
  if (actOut && actOut->producer &&
      (!actOut->producer->precision || actOut->producer->precision == root.precision)) {
    cur = actOut;
    hasEpilogue = true;
  } else {
    act = FusedActivationParams{};
  }
  if (!hasEpilogue) return false;

  if (bNew) bOperand = g.addConstant(g.uniqueName(b->name + ".transposed"), bNew);
  if (biasNew) biasValue = g.addConstant(g.uniqueName(root.name + ".bias"), biasNew);
  std::vector<ir::Value*> inputs{a, bOperand};
  if (biasValue || residual) inputs.push_back(biasValue);  // null: no bias
  if (residual) inputs.push_back(residual);
  ir::Attributes attrs;
  ir::setFusedActivation(attrs, act);
  ir::Node* fm = g.addNode(OpKind::kFusedMatMul, g.uniqueName(root.name + "/FusedMatMul"),
                           std::move(inputs), attrs);
  fm->precision = root.precision;  // a user's Layer::setPrecision carries over
  fm->outputs[0]->dtype = dt;
  fm->outputs[0]->shape = cur->shape;
  passutil::replaceOutput(g, cur, fm->outputs[0]);
  logMessage(ctx.logger, Severity::kVERBOSE, "optimizer",
             "fused " + root.describe() + (biasValue ? " + bias" : "") +
                 (residual ? " + residual " + residual->name : std::string()) +
                 (act.kind != FusedActivation::kNone
                      ? std::string(" + ") + ir::fusedActivationName(act.kind)
                      : std::string()) +
                 " into " + fm->describe());
  return true;
}

}  // namespace

StatusOr<bool> matmulEpilogueFusionPass(ir::Graph& g, PassContext& ctx) {
  return passutil::rewriteNodes(
      g, [](const ir::Node& n) { return n.op == OpKind::kMatMul || n.op == OpKind::kGemm; },
      [&](ir::Node& n, const UseMap& uses) { return tryFuse(g, uses, n, ctx); });
}

}  // namespace kiln::opt
