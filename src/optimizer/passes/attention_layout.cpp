// Attention layout: the Transpose/Reshape layers that split the heads before a 4-D Attention and
// merge them after it fold into the attention layer, which then reads Q/K/V and writes Y through
// strides (the internal op FusedAttention; layouts in src/ir/fused_attention.h).
//
//   before: q4 = Reshape(Xq [B,S,E], [B,S,H,D]);  Q = Transpose(q4, [0,2,1,3])      (same for K, V)
//           Y  = Attention(Q, K, V, mask?)                    [B,H,S,D]
//           Z  = Reshape(Transpose(Y, [0,2,1,3]), [B,S,E])
//   after:  Z  = FusedAttention(Xq, Xk, Xv, mask?) q/k/v/y_layout = "BSHD", y_rank = 3
//
// For each of Q, K, V the pass walks back through a chain of Transpose / Reshape layers (each
// output read only by the next link, not a network output; Reshapes with a constant target and
// static shapes) and computes the operand [B, H, S, D] as a strided view of the contiguous
// memory of each value X on the way (a Transpose permutes the strides; a Reshape is a view when
// each new dim group maps onto old dims whose strides chain). The farthest X whose view is one
// of the layouts BHSD / BSHD / SBHD is taken; X is fed through a Reshape to the layout's 3-D
// shape ([B,S,H*D] / [S,B,H*D]; 4-D [B,H,S,D] for BHSD) unless it already has the layout's 3-D
// or 4-D shape. Y likewise walks forward to Z through the single-consumer chain (the view of Y
// in Z's memory comes from the inverted chain); FusedAttention writes Z's memory, with a Reshape
// to Z's shape after it when Z is not 3-D/4-D in the layout.
//
// Conditions: an Attention in the 4-D form with inputs (Q, K, V, attn_mask?) only and one
// output, softcap 0, no sliding window, qk_matmul_output_mode 0, static shapes (a layer with
// symbolic dims is skipped, logged at verbose level), a float type. scale = the attribute, or
// 1/sqrt(D). A layer where no Transpose would be removed is left alone.
#include <algorithm>
#include <cmath>
#include <optional>

#include "common/logging.h"
#include "ir/fused_attention.h"
#include "optimizer/pass_manager.h"
#include "optimizer/passes/pass_util.h"

namespace kiln::opt {

namespace {

using ir::AttnLayout;
using ir::OpKind;
using passutil::UseMap;

constexpr size_t kMaxLinks = 8;
// Marks the Reshapes this pass adds (removed at its end): they get no fused_nodes list.
constexpr const char* kHelperAttr = "attention_layout_view";

// A strided view over some value's contiguous memory.
struct View {
  std::vector<int64_t> dims, strides;
};

View contiguous(const std::vector<int64_t>& dims) {
  View v{dims, std::vector<int64_t>(dims.size(), 1)};
  for (size_t i = dims.size(); i-- > 1;) v.strides[i - 1] = v.strides[i] * dims[i];
  return v;
}

bool staticPositive(const ir::Value* v) {
  if (!v || !ir::isStatic(v->shape)) return false;
  for (int64_t d : ir::staticDims(v->shape))
    if (d <= 0) return false;
  return true;
}

// A Transpose or Reshape the walk may pass: one output, static positive shapes, a valid perm or
// a constant target.
bool isLink(const ir::Node* n) {
  if (!n || n->outputs.size() != 1 || n->inputs.empty() || !n->inputs[0]) return false;
  if (!staticPositive(n->inputs[0]) || !staticPositive(n->outputs[0])) return false;
  if (n->op == OpKind::kTranspose)
    return n->inputs.size() == 1 && !passutil::transposePerm(*n).empty();
  if (n->op == OpKind::kReshape)
    return n->inputs.size() == 2 && n->inputs[1] && n->inputs[1]->isConstant();
  return false;
}

View transposed(const View& v, const std::vector<int64_t>& perm) {
  View out;
  for (int64_t p : perm) {
    out.dims.push_back(v.dims[static_cast<size_t>(p)]);
    out.strides.push_back(v.strides[static_cast<size_t>(p)]);
  }
  return out;
}

// `v` reshaped to `shape` as a view (same element order), or nullopt when the new dims do not
// each map onto old dims whose strides chain.
std::optional<View> reshaped(const View& v, const std::vector<int64_t>& shape) {
  int64_t n = 1, m = 1;
  for (int64_t d : v.dims) n *= d;
  for (int64_t d : shape) m *= d;
  if (n != m || v.dims.empty() || shape.empty()) return std::nullopt;
  View out{shape, std::vector<int64_t>(shape.size(), 0)};
  int64_t viewD = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunkBase = v.strides.back(), tensorNumel = 1, viewNumel = 1;
  for (int64_t td = static_cast<int64_t>(v.dims.size()) - 1; td >= 0; --td) {
    tensorNumel *= v.dims[static_cast<size_t>(td)];
    // The end of a chunk of old dims that are contiguous with each other.
    const bool chunkEnd =
        td == 0 || (v.dims[static_cast<size_t>(td - 1)] != 1 &&
                    v.strides[static_cast<size_t>(td - 1)] != tensorNumel * chunkBase);
    if (!chunkEnd) continue;
    while (viewD >= 0 && (viewNumel < tensorNumel || shape[static_cast<size_t>(viewD)] == 1)) {
      out.strides[static_cast<size_t>(viewD)] = viewNumel * chunkBase;
      viewNumel *= shape[static_cast<size_t>(viewD)];
      --viewD;
    }
    if (viewNumel != tensorNumel) return std::nullopt;
    if (td > 0) {
      chunkBase = v.strides[static_cast<size_t>(td - 1)];
      tensorNumel = 1;
      viewNumel = 1;
    }
  }
  if (viewD != -1) return std::nullopt;
  return out;
}

// The layout whose strides the 4-D view [B, H, S, D] has (strides of size-1 dims do not matter).
std::optional<AttnLayout> layoutOfView(const View& v) {
  if (v.dims.size() != 4) return std::nullopt;
  const int64_t b = v.dims[0], h = v.dims[1], s = v.dims[2], d = v.dims[3];
  for (AttnLayout l : {AttnLayout::kBHSD, AttnLayout::kBSHD, AttnLayout::kSBHD}) {
    std::string why;
    std::optional<ir::AttnOperand> o =
        ir::attnOperand(l, ir::attnBufferDims(l, b, h, s, d, 4), h, &why);
    if (!o) continue;
    const int64_t want[4] = {o->sb, o->sh, o->ss, 1};
    bool ok = true;
    for (size_t i = 0; i < 4; ++i) ok = ok && (v.dims[i] == 1 || v.strides[i] == want[i]);
    if (ok) return l;
  }
  return std::nullopt;
}

// Where an operand comes from: the value whose memory the layer reads (or writes, for Y), its
// layout, and the Transposes the choice removes.
struct Endpoint {
  ir::Value* value = nullptr;
  AttnLayout layout = AttnLayout::kBHSD;
  int transposes = 0;
};

int countTransposes(const std::vector<ir::Node*>& chain, size_t k) {
  int n = 0;
  for (size_t i = 0; i < k; ++i) n += chain[i]->op == OpKind::kTranspose ? 1 : 0;
  return n;
}

// Q, K or V (`v`, [B, H, S, D], read only by the Attention): the farthest value back through the
// Transpose/Reshape chain whose memory holds it in one of the layouts.
Endpoint planInput(ir::Value* v, const UseMap& uses) {
  std::vector<ir::Node*> chain;  // chain[0] produces v, chain[i + 1] produces chain[i]'s input
  ir::Value* w = v;
  while (chain.size() < kMaxLinks && uses.soleUse(w) && isLink(w->producer)) {
    chain.push_back(w->producer);
    w = w->producer->inputs[0];
  }
  Endpoint best{v, AttnLayout::kBHSD, 0};
  for (size_t k = 1; k <= chain.size(); ++k) {
    ir::Value* x = chain[k - 1]->inputs[0];
    std::optional<View> view = contiguous(ir::staticDims(x->shape));
    for (size_t j = k; j-- > 0 && view;) {
      const ir::Node* link = chain[j];
      if (link->op == OpKind::kTranspose)
        view = transposed(*view, passutil::transposePerm(*link));
      else
        view = reshaped(*view, ir::staticDims(link->outputs[0]->shape));
    }
    if (!view) continue;
    if (std::optional<AttnLayout> l = layoutOfView(*view))
      best = {x, *l, countTransposes(chain, k)};
  }
  return best;
}

// Y (`y`, [B, H, S, Dv]): the farthest value forward through the single-consumer
// Transpose/Reshape chain whose memory holds it in one of the layouts.
Endpoint planOutput(ir::Value* y, const UseMap& uses) {
  std::vector<ir::Node*> chain;  // chain[0] reads y, chain[i + 1] reads chain[i]'s output
  ir::Value* w = y;
  while (chain.size() < kMaxLinks) {
    ir::Node* c = uses.soleConsumer(w);
    if (!isLink(c) || c->inputs[0] != w) break;
    for (size_t i = 1; i < c->inputs.size(); ++i)
      if (c->inputs[i] == w) return {y, AttnLayout::kBHSD, 0};
    chain.push_back(c);
    w = c->outputs[0];
  }
  Endpoint best{y, AttnLayout::kBHSD, 0};
  for (size_t k = 1; k <= chain.size(); ++k) {
    ir::Value* z = chain[k - 1]->outputs[0];
    // Y as a view of Z: the chain inverted, from Z back to Y.
    std::optional<View> view = contiguous(ir::staticDims(z->shape));
    for (size_t j = k; j-- > 0 && view;) {
      const ir::Node* link = chain[j];
      if (link->op == OpKind::kTranspose) {
        const std::vector<int64_t> p = passutil::transposePerm(*link);
        std::vector<int64_t> inv(p.size());
        for (size_t i = 0; i < p.size(); ++i)
          inv[static_cast<size_t>(p[i])] = static_cast<int64_t>(i);
        view = transposed(*view, inv);
      } else {
        view = reshaped(*view, ir::staticDims(link->inputs[0]->shape));
      }
    }
    if (!view) continue;
    if (std::optional<AttnLayout> l = layoutOfView(*view))
      best = {z, *l, countTransposes(chain, k)};
  }
  return best;
}

// The rank of `dims` when they are the layout's 3-D or 4-D buffer shape of [b, h, s, d], else 0.
int canonicalRank(AttnLayout l, const std::vector<int64_t>& dims, int64_t b, int64_t h, int64_t s,
                  int64_t d) {
  if (dims == ir::attnBufferDims(l, b, h, s, d, 4)) return 4;
  if (l != AttnLayout::kBHSD && dims == ir::attnBufferDims(l, b, h, s, d, 3)) return 3;
  return 0;
}

ir::Value* addReshape(ir::Graph& g, ir::Value* x, const std::vector<int64_t>& dims,
                      const std::string& name) {
  ir::Value* shape =
      g.addConstant(g.uniqueName(name + ".shape"), ir::TensorData::vectorInt64(dims));
  ir::Attributes attrs;
  attrs.setInt(kHelperAttr, 1);
  ir::Node* r = g.addNode(OpKind::kReshape, g.uniqueName(name), {x, shape}, attrs);
  r->outputs[0]->dtype = x->dtype;
  r->outputs[0]->shape = ir::Shape(dims.begin(), dims.end());
  return r->outputs[0];
}

bool tryRewrite(ir::Graph& g, const UseMap& uses, ir::Node& att, PassContext& ctx) {
  auto skip = [&](const std::string& why) {
    logMessage(ctx.logger, Severity::kVERBOSE, "optimizer",
               "attention-layout: skipped " + att.describe() + ": " + why);
    return false;
  };
  if (att.inputs.size() < 3 || att.inputs.size() > 7 || att.outputs.size() != 1) return false;
  for (size_t i = 0; i < 3; ++i)
    if (!att.inputs[i] || att.inputs[i]->shape.size() != 4) return false;
  for (size_t i = 4; i < att.inputs.size(); ++i)
    if (att.inputs[i]) return false;  // past_key / past_value / nonpad_kv_seqlen
  if (att.attrs.getFloat("softcap", 0.f) != 0.f ||
      att.attrs.getInt("qk_matmul_output_mode", 0) != 0 ||
      att.attrs.getInt("left_window_size", -1) >= 0 ||
      att.attrs.getInt("right_window_size", -1) >= 0)
    return false;
  // FusedAttention takes masks of rank 2 to 4 (Attention also 1).
  if (att.hasInput(3) && (att.inputs[3]->shape.size() < 2 || att.inputs[3]->shape.size() > 4))
    return skip("its attn_mask has rank " + std::to_string(att.inputs[3]->shape.size()));
  ir::Value* y = att.outputs[0];
  if (!passutil::isFloatType(y->dtype)) return false;
  for (const ir::Value* v : {att.inputs[0], att.inputs[1], att.inputs[2], y})
    if (!staticPositive(v))
      return skip("its shapes are not static (" + v->name + " " + ir::shapeToString(v->shape) +
                  ")");
  const std::vector<int64_t> qd = ir::staticDims(att.inputs[0]->shape);
  const std::vector<int64_t> kd = ir::staticDims(att.inputs[1]->shape);
  const std::vector<int64_t> vd = ir::staticDims(att.inputs[2]->shape);
  const std::vector<int64_t> yd = ir::staticDims(y->shape);
  const int64_t hq = qd[1], hkv = kd[1];
  if (hkv <= 0 || hq % hkv != 0) return false;

  Endpoint ins[3];
  for (size_t i = 0; i < 3; ++i) ins[i] = planInput(att.inputs[i], uses);
  const Endpoint out = planOutput(y, uses);
  const int removed = ins[0].transposes + ins[1].transposes + ins[2].transposes + out.transposes;
  if (removed == 0) return false;

  const std::string name = g.uniqueName(att.name + "/FusedAttention");
  std::vector<ir::Value*> inputs;
  const std::vector<int64_t>* dims[3] = {&qd, &kd, &vd};
  for (size_t i = 0; i < 3; ++i) {
    const std::vector<int64_t>& d = *dims[i];
    ir::Value* x = ins[i].value;
    const std::vector<int64_t> xd = ir::staticDims(x->shape);
    if (canonicalRank(ins[i].layout, xd, d[0], d[1], d[2], d[3]) == 0)
      x = addReshape(g, x, ir::attnBufferDims(ins[i].layout, d[0], d[1], d[2], d[3], 3),
                     name + "/in" + std::to_string(i));
    inputs.push_back(x);
  }
  if (att.hasInput(3)) inputs.push_back(att.inputs[3]);

  const std::vector<int64_t> zd = ir::staticDims(out.value->shape);
  int yRank = canonicalRank(out.layout, zd, yd[0], yd[1], yd[2], yd[3]);
  const bool reshapeAfter = yRank == 0;
  if (reshapeAfter) yRank = out.layout == AttnLayout::kBHSD ? 4 : 3;

  ir::Attributes attrs;
  attrs.setString("q_layout", ir::attnLayoutName(ins[0].layout));
  attrs.setString("k_layout", ir::attnLayoutName(ins[1].layout));
  attrs.setString("v_layout", ir::attnLayoutName(ins[2].layout));
  attrs.setString("y_layout", ir::attnLayoutName(out.layout));
  attrs.setInt("q_num_heads", hq);
  attrs.setInt("kv_num_heads", hkv);
  const double scale = att.attrs.has("scale")
                           ? static_cast<double>(att.attrs.getFloat("scale", 1.f))
                           : 1.0 / std::sqrt(static_cast<double>(qd[3]));
  attrs.setFloat("scale", static_cast<float>(scale));
  attrs.setInt("is_causal", att.attrs.getInt("is_causal", 0) != 0 ? 1 : 0);
  attrs.setInt("y_rank", yRank);
  ir::Node* fused = g.addNode(OpKind::kFusedAttention, name, inputs, attrs);
  const std::vector<int64_t> fd = ir::attnBufferDims(out.layout, yd[0], yd[1], yd[2], yd[3], yRank);
  fused->outputs[0]->dtype = y->dtype;
  fused->outputs[0]->shape = ir::Shape(fd.begin(), fd.end());
  ir::Value* result = fused->outputs[0];
  if (reshapeAfter) result = addReshape(g, result, zd, name + "/out");
  passutil::replaceOutput(g, out.value, result);
  logMessage(ctx.logger, Severity::kVERBOSE, "optimizer",
             "folded " + std::to_string(removed) + " Transpose layer(s) into " + fused->describe() +
                 " (Q " + attrs.getString("q_layout", "") + ", K " +
                 attrs.getString("k_layout", "") + ", V " + attrs.getString("v_layout", "") +
                 ", Y " + attrs.getString("y_layout", "") + ")");
  return true;
}

}  // namespace

StatusOr<bool> attentionLayoutPass(ir::Graph& g, PassContext& ctx) {
  KILN_ASSIGN_OR_RETURN(
      bool changed,
      passutil::rewriteNodes(
          g, [](const ir::Node& n) { return n.op == OpKind::kAttention; },
          [&](ir::Node& n, const UseMap& uses) { return tryRewrite(g, uses, n, ctx); }));
  if (!changed) return false;
  // rewriteNodes labels every new layer with the removed ones: keep the list on the
  // FusedAttention only (the Reshapes around it are views), each name once (attention-fusion's
  // inserted K Transpose carries the Attention's own list).
  for (ir::Node* n : g.nodes()) {
    if (n->op == OpKind::kReshape && n->attrs.getInt(kHelperAttr, 0) != 0) {
      n->attrs.erase(kHelperAttr);
      n->attrs.erase(passutil::kFusedNodesAttr);
    }
    if (n->op != OpKind::kFusedAttention || !n->attrs.has(passutil::kFusedNodesAttr)) continue;
    const std::string list = n->attrs.getString(passutil::kFusedNodesAttr, "");
    std::vector<std::string> names;
    for (size_t pos = 0; pos <= list.size();) {
      size_t end = list.find(" + ", pos);
      if (end == std::string::npos) end = list.size();
      std::string name = list.substr(pos, end - pos);
      if (!name.empty() && std::find(names.begin(), names.end(), name) == names.end())
        names.push_back(std::move(name));
      pos = end + 3;
    }
    std::string out;
    for (const std::string& name : names) out += (out.empty() ? "" : " + ") + name;
    n->attrs.setString(passutil::kFusedNodesAttr, out);
  }
  return true;
}

}  // namespace kiln::opt
