// Attention fusion: the scaled dot-product attention that exporters decompose becomes one ONNX
// Attention layer (4-D form: Q [B, H, Sq, D], K [B, H, Skv, D], V [B, H, Skv, Dv]).
//
//   before: s = MatMul(Q', Kt')                 Q' = Q | Mul(Q, c) | Div(Q, c)
//                                               Kt' = Kt | Mul(Kt, c) | Div(Kt, c), Kt [B,H,D,Skv]
//           s = Div(s, c) | Mul(s, c)           (any number, optional)
//           s = Add(s, mask)                    (optional; either operand order)
//           s = Where(causal, s, fill)          (optional; see below)
//           p = Softmax(s, axis = -1 | 3)
//           y = MatMul(p, V)
//   after:  K = Transpose(Kt, perm [0,1,3,2])
//           y = Attention(Q, K, V, mask?) scale = the product of every constant factor
//                                         (1.0 when there is none), is_causal = 1 with Where
//
// The heads split (Reshape/Transpose) stays outside the pattern; when Kt is itself
// Transpose(K4, [0,2,3,1]) of a [B,Skv,H,D] tensor, transpose-reshape-cancellation composes the
// inserted Transpose with it into Transpose(K4, [0,2,1,3]).
//
// Conditions: every value is 4-D of one float type; B and H of Q, Kt and V agree (no MatMul
// broadcasting), Kt's D is Q's D and V's Skv is Kt's Skv; each c is a finite, non-zero
// one-element constant that leaves the shape unchanged; the Softmax is on the last axis; every
// intermediate (scaled Q/Kt when folded, the scores after each step, the probabilities) is read
// only by the next layer of the pattern and is not a network output.
//   mask: any float tensor of rank <= 4 whose last dim is Skv (Attention pads a shorter mask
//     with -inf instead of broadcasting it) and whose other dims, right-aligned, are 1 or the
//     scores' dims; the Add must not broadcast the scores.
//   Where: the condition is exactly lower-triangular over [Sq, Skv] with Sq == Skv, either a
//     constant bool tensor [1,...,1,S,S] or a Slice starting at 0 on the last two axes of a
//     square constant lower-triangular bool tensor [1,...,1,N,N] (GPT-2's `bias` buffer; its
//     dims may read min(Sq, N), which is Sq wherever the unfused Where can run, N > 1); fill
//     is a one-element constant <= -65504 (float16's lowest, so that exp underflows to 0 as
//     with -inf). Then is_causal = 1.
// Rows whose scores are all -inf (fully masked) give NaN before the rewrite and 0 after it
// (Attention's definition); every other row agrees to float rounding.
#include <cmath>

#include "common/logging.h"
#include "optimizer/pass_manager.h"
#include "optimizer/passes/pass_util.h"

namespace kiln::opt {

namespace {

using ir::OpKind;
using passutil::UseMap;

constexpr int kMaxScaleSteps = 4;
// Where's fill must be at most this (float16's lowest finite value; float32/bfloat16's lowest
// and -inf are below it).
constexpr double kMaxFill = -65504.0;

bool dimEq(const ir::DimExpr& a, const ir::DimExpr& b) { return a.equals(b); }

bool isOne(const ir::DimExpr& d) { return d.isConst() && d.constValue() == 1; }

// A finite non-zero one-element constant, or nullopt.
std::optional<double> scaleConstant(const ir::Value* v) {
  std::optional<double> c = passutil::scalarConstant(v);
  if (!c || !std::isfinite(*c) || *c == 0.0) return std::nullopt;
  return c;
}

// If `v` is Mul(x, c) / Mul(c, x) / Div(x, c) with a scale constant c and the same shape as x:
// the node, x and the factor (1/c for Div). Else null.
ir::Node* scaleStep(ir::Value* v, ir::Value** x, double* factor) {
  ir::Node* n = v ? v->producer : nullptr;
  if (!n || n->outputs.size() != 1 || n->inputs.size() != 2 || !n->inputs[0] || !n->inputs[1])
    return nullptr;
  if (n->op != OpKind::kMul && n->op != OpKind::kDiv) return nullptr;
  for (int side = 0; side < 2; ++side) {
    if (n->op == OpKind::kDiv && side == 1) break;  // Div(c, x) is not a scale
    ir::Value* in = n->inputs[static_cast<size_t>(side)];
    std::optional<double> c = scaleConstant(n->inputs[static_cast<size_t>(1 - side)]);
    if (!c || in->isConstant() || !ir::shapesEqual(in->shape, v->shape) || in->dtype != v->dtype)
      continue;
    *x = in;
    *factor = n->op == OpKind::kDiv ? 1.0 / *c : *c;
    return n;
  }
  return nullptr;
}

// Strips scale steps off `v` while each step's output is read only by the pattern; multiplies
// their factors into `scale`.
ir::Value* stripScales(ir::Value* v, const UseMap& uses, double& scale) {
  for (int i = 0; i < kMaxScaleSteps; ++i) {
    ir::Value* x = nullptr;
    double f = 1.0;
    if (!uses.soleUse(v) || !scaleStep(v, &x, &f)) break;
    scale *= f;
    v = x;
  }
  return v;
}

bool rank4(const ir::Value* v) { return v && v->shape.size() == 4; }

// A constant bool [1,...,1,N,N] tensor that is exactly lower-triangular (true on and below the
// diagonal, false above). Returns N, or -1.
int64_t lowerTriangularSize(const ir::Value* v) {
  if (!v || !v->isConstant() || v->constant->dtype() != DataType::kBOOL) return -1;
  const std::vector<int64_t>& d = v->constant->dims();
  if (d.size() < 2) return -1;
  for (size_t i = 0; i + 2 < d.size(); ++i)
    if (d[i] != 1) return -1;
  const int64_t n = d[d.size() - 1];
  if (d[d.size() - 2] != n) return -1;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      if ((v->constant->intAt(i * n + j) != 0) != (j <= i)) return -1;
  return n;
}

std::optional<std::vector<int64_t>> constInts(const ir::Value* v) {
  if (!v || !v->isConstant()) return std::nullopt;
  const DataType t = v->constant->dtype();
  if (t != DataType::kINT64 && t != DataType::kINT32) return std::nullopt;
  return v->constant->toInt64Vector();
}

// A dim `c` of the condition that broadcasts exactly onto the scores' dim `d`: d itself, or
// min(d, N) with a constant N > 1 (a Slice of an [N, N] buffer up to d): wherever the Where runs
// (d <= N, or the broadcast fails) that is d.
bool sliceDimFits(const ir::DimExpr& c, const ir::DimExpr& d) {
  if (dimEq(c, d)) return true;
  if (c.kind() != ir::DimExpr::Kind::kMin) return false;
  const ir::DimExpr a = c.lhs(), b = c.rhs();
  return (dimEq(a, d) && b.isConst() && b.constValue() > 1) ||
         (dimEq(b, d) && a.isConst() && a.constValue() > 1);
}

// `cond` (Where's condition over scores of shape `s`, [B, H, Sq, Skv]) is the causal mask:
// lower-triangular over the last two dims with Sq == Skv, broadcast over the others.
bool isCausalCondition(const ir::Value* cond, const ir::Shape& s) {
  if (!cond || cond->dtype != DataType::kBOOL || cond->shape.size() < 2 || cond->shape.size() > 4)
    return false;
  if (!dimEq(s[2], s[3])) return false;
  const ir::Shape& c = cond->shape;
  for (size_t i = 0; i + 2 < c.size(); ++i)
    if (!isOne(c[i])) return false;
  if (!sliceDimFits(c[c.size() - 2], s[2]) || !sliceDimFits(c[c.size() - 1], s[3])) return false;
  if (lowerTriangularSize(cond) >= 0) return true;
  // Slice(tril [1,..,1,N,N], starts 0, ends, axes = the last two) of the square constant: its
  // top-left corner, lower-triangular too (its shape, checked above, is [.., Sq, Sq]).
  const ir::Node* sl = passutil::producerOf(cond, OpKind::kSlice);
  if (!sl || sl->inputs.size() < 3 || !sl->inputs[0]) return false;
  const int64_t n = lowerTriangularSize(sl->inputs[0]);
  if (n < 0 || sl->inputs[0]->shape.size() != c.size()) return false;
  const int64_t rank = static_cast<int64_t>(c.size());
  std::optional<std::vector<int64_t>> starts = constInts(sl->inputs[1]);
  if (!starts) return false;
  std::vector<int64_t> axes(starts->size());
  for (size_t i = 0; i < axes.size(); ++i) axes[i] = static_cast<int64_t>(i);
  if (sl->hasInput(3)) {
    std::optional<std::vector<int64_t>> a = constInts(sl->inputs[3]);
    if (!a || a->size() != starts->size()) return false;
    axes = *a;
  }
  if (sl->hasInput(4)) {
    std::optional<std::vector<int64_t>> steps = constInts(sl->inputs[4]);
    if (!steps || steps->size() != starts->size()) return false;
    for (int64_t st : *steps)
      if (st != 1) return false;
  }
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t ax = axes[i] < 0 ? axes[i] + rank : axes[i];
    if (ax < 0 || ax >= rank) return false;
    // Leading axes have size 1: any start there either keeps or empties them, and the shape
    // check above says they were kept. The last two must start at 0.
    if (ax >= rank - 2 && (*starts)[i] != 0) return false;
  }
  return true;
}

// The additive mask `m` fits Attention's attn_mask for scores of shape `s`.
bool maskFits(const ir::Value* m, const ir::Shape& s) {
  if (!m || !passutil::isFloatType(m->dtype) || m->shape.empty() || m->shape.size() > 4)
    return false;
  const size_t r = m->shape.size();
  if (!dimEq(m->shape[r - 1], s[3])) return false;
  for (size_t i = 0; i + 1 < r; ++i) {
    const ir::DimExpr& d = m->shape[i];
    if (!isOne(d) && !dimEq(d, s[4 - r + i])) return false;
  }
  return true;
}

bool tryFuse(ir::Graph& g, const UseMap& uses, ir::Node& softmax, PassContext& ctx) {
  if (softmax.inputs.size() != 1 || softmax.outputs.size() != 1 || !softmax.inputs[0]) return false;
  const int64_t axis = softmax.attrs.getInt("axis", -1);
  ir::Value* probs = softmax.outputs[0];
  ir::Value* s = softmax.inputs[0];
  if (!rank4(s) || (axis != -1 && axis != 3) || !passutil::isFloatType(s->dtype)) return false;
  const DataType dtype = s->dtype;
  ir::Shape shape = s->shape;  // the scores' shape [B, H, Sq, Skv]
  // y = MatMul(probs, V)
  ir::Node* pv = uses.soleConsumer(probs);
  if (!pv || pv->op != OpKind::kMatMul || pv->inputs.size() != 2 || pv->inputs[0] != probs ||
      pv->outputs.size() != 1)
    return false;
  ir::Value* v = pv->inputs[1];
  ir::Value* y = pv->outputs[0];
  if (!rank4(v) || v->dtype != dtype || !rank4(y)) return false;

  // Where(causal, s, fill)
  bool causal = false;
  if (ir::Node* w = passutil::producerOf(s, OpKind::kWhere)) {
    if (!uses.soleUse(s) || w->inputs.size() != 3 || !w->inputs[1]) return false;
    std::optional<double> fill = passutil::scalarConstant(w->inputs[2]);
    // The Where's own shape may read max(min(Sq, N), Sq) for a sliced condition: the scores'
    // shape is the reference from here on.
    if (!fill || !(*fill <= kMaxFill) || w->inputs[2]->shape.size() > 4 || !rank4(w->inputs[1]) ||
        w->inputs[1]->dtype != dtype)
      return false;
    shape = w->inputs[1]->shape;
    if (!isCausalCondition(w->inputs[0], shape)) return false;
    causal = true;
    s = w->inputs[1];
  }
  // Add(s, mask) | Add(mask, s): each reading (scores side, mask) is tried.
  struct Reading {
    ir::Value* scores;
    ir::Value* mask;
  };
  std::vector<Reading> readings = {{s, nullptr}};
  if (ir::Node* add = passutil::producerOf(s, OpKind::kAdd)) {
    readings.clear();
    if (add->inputs.size() == 2 && add->inputs[0] && add->inputs[1] && uses.soleUse(s)) {
      for (int side = 0; side < 2; ++side) {
        ir::Value* sc = add->inputs[static_cast<size_t>(side)];
        ir::Value* m = add->inputs[static_cast<size_t>(1 - side)];
        if (sc != m && ir::shapesEqual(sc->shape, shape) && sc->dtype == dtype &&
            maskFits(m, shape))
          readings.push_back({sc, m});
      }
    }
  }
  for (const Reading& r : readings) {
    ir::Value* scores = r.scores;
    ir::Value* mask = r.mask;
    double scale = 1.0;
    ir::Value* raw = stripScales(scores, uses, scale);
    ir::Node* qk = passutil::producerOf(raw, OpKind::kMatMul);
    if (!qk || !uses.soleUse(raw) || qk->inputs.size() != 2 || !qk->inputs[0] || !qk->inputs[1])
      continue;
    ir::Value* q = stripScales(qk->inputs[0], uses, scale);
    ir::Value* kt = stripScales(qk->inputs[1], uses, scale);
    if (!std::isfinite(scale) || scale == 0.0) continue;
    if (!rank4(q) || !rank4(kt) || q->dtype != dtype || kt->dtype != dtype) continue;
    const ir::Shape& qs = q->shape;
    const ir::Shape& ks = kt->shape;
    const ir::Shape& vs = v->shape;
    // Q [B,H,Sq,D], Kt [B,H,D,Skv], V [B,H,Skv,Dv]: no broadcasting between them.
    if (!dimEq(qs[0], ks[0]) || !dimEq(qs[1], ks[1]) || !dimEq(qs[3], ks[2]) ||
        !dimEq(vs[0], qs[0]) || !dimEq(vs[1], qs[1]) || !dimEq(vs[2], ks[3]) ||
        !dimEq(shape[0], qs[0]) || !dimEq(shape[1], qs[1]) || !dimEq(shape[2], qs[2]) ||
        !dimEq(shape[3], ks[3]))
      continue;

    const std::string name = g.uniqueName(pv->name + "/Attention");
    ir::Attributes tattrs;
    tattrs.setInts("perm", {0, 1, 3, 2});
    ir::Node* tr = g.addNode(OpKind::kTranspose, g.uniqueName(name + "/K"), {kt}, tattrs);
    tr->outputs[0]->dtype = dtype;
    tr->outputs[0]->shape = {ks[0], ks[1], ks[3], ks[2]};
    ir::Attributes attrs;
    attrs.setFloat("scale", static_cast<float>(scale));
    if (causal) attrs.setInt("is_causal", 1);
    std::vector<ir::Value*> ins = {q, tr->outputs[0], v};
    if (mask) ins.push_back(mask);
    ir::Node* att = g.addNode(OpKind::kAttention, name, ins, attrs);
    att->outputs[0]->dtype = y->dtype;
    att->outputs[0]->shape = {qs[0], qs[1], qs[2], vs[3]};
    const std::string from = qk->describe();
    passutil::replaceOutput(g, y, att->outputs[0]);
    logMessage(ctx.logger, Severity::kVERBOSE, "optimizer",
               "fused the decomposed attention from " + from + " to " + pv->describe() + " into " +
                   att->describe() + " scale=" + std::to_string(scale) +
                   (mask ? " with mask '" + mask->name + "'" : "") +
                   (causal ? " is_causal=1" : ""));
    return true;
  }
  return false;
}

}  // namespace

StatusOr<bool> attentionFusionPass(ir::Graph& g, PassContext& ctx) {
  return passutil::rewriteNodes(
      g, [](const ir::Node& n) { return n.op == OpKind::kSoftmax; },
      [&](ir::Node& n, const UseMap& uses) { return tryFuse(g, uses, n, ctx); });
}

}  // namespace kiln::opt
