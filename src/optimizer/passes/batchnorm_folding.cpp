// BatchNorm folding and scale folding: a per-output-channel affine map after a Conv,
// ConvTranspose or Gemm with constant weights becomes part of that layer's weights and bias.
//
//   before: y = Conv(x, W, b); z = BatchNormalization(y, scale, B, mean, var)
//   after:  z = Conv(x, W', b')   W'[m] = W[m] * s[m], b'[m] = (b[m] - mean[m]) * s[m] + B[m],
//                                  s = scale / sqrt(var + epsilon)
//
//   before: y = Gemm(a, W, c); z = Mul(y, k)        k constant, per output channel (or scalar)
//   after:  z = Gemm(a, W', c')
//
// Matches when the layer's weights (and bias, if any) are constants, its output has no other
// use (and is no network output), and every BN parameter is a constant (inference form). Scale
// folding takes Mul, Add, Sub(y, k) and Div(y, k) by a constant k whose shape, aligned to the
// output's, is 1 everywhere except at the channel axis (1): [C,1,1] or [1,C,1,1] after a 2-D
// Conv, [C] or [1,C] after a Gemm, or one element. Gemm's alpha stays, beta becomes 1 (beta*C is
// folded into the new C); transB decides which axis of B holds the output channels. The new
// weights are computed in double and rounded once to the weights' type.
#include "common/logging.h"
#include "optimizer/pass_manager.h"
#include "optimizer/passes/pass_util.h"

namespace kiln::opt {

namespace {

using passutil::UseMap;

// y' = y * s[c] + t[c] along output channel c.
struct ChannelAffine {
  std::vector<double> s, t;
};

bool constFloat(const ir::Value* v) {
  return v && v->isConstant() && passutil::isFloatType(v->constant->dtype());
}

// Output channels of a Conv/ConvTranspose/Gemm with constant weights, or -1 when the layer is
// not foldable.
int64_t outputChannels(const ir::Node& n) {
  if (n.outputs.size() != 1 || n.inputs.size() < 2 || !constFloat(n.inputs[1])) return -1;
  if (n.hasInput(2) && !constFloat(n.inputs[2])) return -1;
  const std::vector<int64_t>& w = n.inputs[1]->constant->dims();
  switch (n.op) {
    case ir::OpKind::kConv:
      if (w.size() < 3 || (n.hasInput(2) && n.inputs[2]->constant->numel() != w[0])) return -1;
      return w[0];
    case ir::OpKind::kConvTranspose: {
      const int64_t groups = n.attrs.getInt("group", 1);
      if (w.size() < 3 || groups < 1 || w[0] % groups != 0) return -1;
      const int64_t m = w[1] * groups;
      if (n.hasInput(2) && n.inputs[2]->constant->numel() != m) return -1;
      return m;
    }
    case ir::OpKind::kGemm:
      if (w.size() != 2) return -1;
      if (n.hasInput(2) && n.inputs[2]->constant->dims().size() > 2) return -1;
      return n.attrs.getInt("transB", 0) ? w[0] : w[1];
    default: return -1;
  }
}

// Folds `a` into the layer `n` (outputChannels(n) == a.s.size()): new weight and bias constants.
void foldInto(ir::Graph& g, ir::Node& n, const ChannelAffine& a) {
  const ir::TensorData& w = *n.inputs[1]->constant;
  std::vector<double> wv = passutil::toDoubles(w);
  const std::vector<int64_t>& wd = w.dims();
  const size_t m = a.s.size();
  ir::Value* newBias = nullptr;
  if (n.op == ir::OpKind::kConv || n.op == ir::OpKind::kConvTranspose) {
    int64_t kvol = 1;
    for (size_t i = 2; i < wd.size(); ++i) kvol *= wd[i];
    if (n.op == ir::OpKind::kConv) {
      const int64_t inner = wd[1] * kvol;  // W[m, c/g, k...]
      for (size_t i = 0; i < wv.size(); ++i) wv[i] *= a.s[i / static_cast<size_t>(inner)];
    } else {
      // W[c, m/g, k...]: input channel c of group c / (C/g) feeds outputs grp*(M/g) + j.
      const int64_t groups = n.attrs.getInt("group", 1);
      const int64_t cPerGroup = wd[0] / groups, mPerGroup = wd[1];
      for (int64_t c = 0; c < wd[0]; ++c)
        for (int64_t j = 0; j < mPerGroup; ++j) {
          const double s = a.s[static_cast<size_t>((c / cPerGroup) * mPerGroup + j)];
          for (int64_t k = 0; k < kvol; ++k)
            wv[static_cast<size_t>((c * mPerGroup + j) * kvol + k)] *= s;
        }
    }
    std::vector<double> b =
        n.hasInput(2) ? passutil::toDoubles(*n.inputs[2]->constant) : std::vector<double>(m, 0.0);
    for (size_t c = 0; c < m; ++c) b[c] = b[c] * a.s[c] + a.t[c];
    const DataType bt = n.hasInput(2) ? n.inputs[2]->constant->dtype() : w.dtype();
    newBias = g.addConstant(g.uniqueName(n.name + ".folded_bias"),
                            passutil::floatTensor(bt, {static_cast<int64_t>(m)}, b));
  } else {  // Gemm: Y = alpha * A' * B' + beta * C, output channels along axis 1
    const bool transB = n.attrs.getInt("transB", 0) != 0;
    for (int64_t r = 0; r < wd[0]; ++r)
      for (int64_t c = 0; c < wd[1]; ++c)
        wv[static_cast<size_t>(r * wd[1] + c)] *= a.s[static_cast<size_t>(transB ? r : c)];
    const double beta = n.attrs.getFloat("beta", 1.f);
    // C broadcasts to [M, N]: view it as [c0, c1] with c1 in {1, N}; the new C is [c0, N].
    int64_t c0 = 1, c1 = 1;
    std::vector<double> cv{0.0};
    DataType ct = w.dtype();
    if (n.hasInput(2)) {
      const ir::TensorData& c = *n.inputs[2]->constant;
      const std::vector<int64_t>& cd = c.dims();
      if (cd.size() == 2) c0 = cd[0];
      if (!cd.empty()) c1 = cd.back();
      cv = passutil::toDoubles(c);
      ct = c.dtype();
    }
    std::vector<double> nc(static_cast<size_t>(c0) * m);
    for (int64_t r = 0; r < c0; ++r)
      for (size_t col = 0; col < m; ++col) {
        const double cval = cv[static_cast<size_t>(r * c1) + (c1 == 1 ? 0 : col)];
        nc[static_cast<size_t>(r) * m + col] = beta * cval * a.s[col] + a.t[col];
      }
    std::vector<int64_t> dims = c0 == 1 ? std::vector<int64_t>{static_cast<int64_t>(m)}
                                        : std::vector<int64_t>{c0, static_cast<int64_t>(m)};
    newBias =
        g.addConstant(g.uniqueName(n.name + ".folded_bias"), passutil::floatTensor(ct, dims, nc));
    n.attrs.setFloat("beta", 1.f);
  }
  n.inputs[1] = g.addConstant(g.uniqueName(n.name + ".folded_weight"),
                              passutil::floatTensor(w.dtype(), wd, wv));
  if (n.inputs.size() < 3) n.inputs.resize(3, nullptr);
  n.inputs[2] = newBias;
}

// The per-channel values of constant `k` broadcast against an output of rank `rank` with
// `channels` channels on axis 1, or nullopt when k varies along another axis or would change
// the output's shape.
std::optional<std::vector<double>> perChannel(const ir::Value* k, size_t rank, int64_t channels) {
  if (!constFloat(k)) return std::nullopt;
  const std::vector<int64_t>& kd = k->constant->dims();
  if (kd.size() > rank) return std::nullopt;
  const size_t off = rank - kd.size();
  bool varies = false;
  for (size_t i = 0; i < kd.size(); ++i) {
    const size_t axis = off + i;
    if (kd[i] == 1) continue;
    if (axis != 1 || kd[i] != channels) return std::nullopt;
    varies = true;
  }
  std::vector<double> v = passutil::toDoubles(*k->constant);
  if (!varies) v.assign(static_cast<size_t>(channels), v.empty() ? 0.0 : v[0]);
  if (v.size() != static_cast<size_t>(channels)) return std::nullopt;
  return v;
}

// The affine map node `n` applies to its input `y` (a Conv/ConvTranspose/Gemm output with
// `channels` channels), or nullopt.
std::optional<ChannelAffine> affineOf(const ir::Node& n, const ir::Value* y, int64_t channels) {
  const size_t m = static_cast<size_t>(channels);
  ChannelAffine a{std::vector<double>(m, 1.0), std::vector<double>(m, 0.0)};
  if (n.op == ir::OpKind::kBatchNormalization) {
    if (n.inputs.size() != 5 || n.outputs.size() != 1 || n.inputs[0] != y) return std::nullopt;
    if (n.attrs.getInt("training_mode", 0) != 0) return std::nullopt;
    for (size_t i = 1; i < 5; ++i)
      if (!constFloat(n.inputs[i]) || n.inputs[i]->constant->numel() != channels)
        return std::nullopt;
    const double eps = n.attrs.getFloat("epsilon", 1e-5f);
    const std::vector<double> scale = passutil::toDoubles(*n.inputs[1]->constant),
                              bias = passutil::toDoubles(*n.inputs[2]->constant),
                              mean = passutil::toDoubles(*n.inputs[3]->constant),
                              var = passutil::toDoubles(*n.inputs[4]->constant);
    for (size_t c = 0; c < m; ++c) {
      if (!(var[c] + eps > 0)) return std::nullopt;  // leave a NaN-producing BN to the kernel
      a.s[c] = scale[c] / std::sqrt(var[c] + eps);
      a.t[c] = bias[c] - mean[c] * a.s[c];
    }
    return a;
  }
  const bool binary = n.op == ir::OpKind::kMul || n.op == ir::OpKind::kAdd ||
                      n.op == ir::OpKind::kSub || n.op == ir::OpKind::kDiv;
  if (!binary || n.inputs.size() != 2 || n.outputs.size() != 1) return std::nullopt;
  const bool commutes = n.op == ir::OpKind::kMul || n.op == ir::OpKind::kAdd;
  if (n.inputs[0] != y && !(commutes && n.inputs[1] == y)) return std::nullopt;
  const ir::Value* k = n.inputs[0] == y ? n.inputs[1] : n.inputs[0];
  if (!k || k == y || k->dtype != y->dtype) return std::nullopt;
  auto v = perChannel(k, y->shape.size(), channels);
  if (!v) return std::nullopt;
  for (size_t c = 0; c < m; ++c) {
    const double kc = (*v)[c];
    switch (n.op) {
      case ir::OpKind::kMul: a.s[c] = kc; break;
      case ir::OpKind::kAdd: a.t[c] = kc; break;
      case ir::OpKind::kSub: a.t[c] = -kc; break;
      default:
        if (kc == 0.0) return std::nullopt;  // keep x / 0 (inf/nan) to the kernel
        a.s[c] = 1.0 / kc;
        break;
    }
  }
  return a;
}

bool tryFold(ir::Graph& g, const UseMap& uses, ir::Node& n, PassContext& ctx) {
  if (n.inputs.empty()) return false;
  for (ir::Value* in : n.inputs) {
    if (!in || !in->producer) continue;
    ir::Node* p = in->producer;
    if (p->op != ir::OpKind::kConv && p->op != ir::OpKind::kConvTranspose &&
        p->op != ir::OpKind::kGemm)
      continue;
    const int64_t channels = outputChannels(*p);
    if (channels < 1 || !uses.soleUse(in) || in->shape.size() < 2) continue;
    if (!passutil::isFloatType(in->dtype) || n.outputs[0]->dtype != in->dtype) continue;
    if (!ir::shapesEqual(n.outputs[0]->shape, in->shape)) continue;
    if (in->shape[1].isConst() && in->shape[1].constValue() != channels) continue;
    auto a = affineOf(n, in, channels);
    if (!a) continue;
    foldInto(g, *p, *a);
    p->attrs.setString(passutil::kFusedNodesAttr,
                       passutil::fusedLabel(*p) + " + " + passutil::fusedLabel(n));
    passutil::replaceOutput(g, n.outputs[0], in);
    logMessage(ctx.logger, Severity::kVERBOSE, "optimizer",
               "folded " + n.describe() + " into " + p->describe());
    return true;
  }
  return false;
}

}  // namespace

StatusOr<bool> batchNormFoldingPass(ir::Graph& g, PassContext& ctx) {
  return passutil::rewriteNodes(
      g, [](const ir::Node&) { return true; },
      [&](ir::Node& n, const UseMap& uses) { return tryFold(g, uses, n, ctx); });
}

}  // namespace kiln::opt
