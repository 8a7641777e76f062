// CPU reference kernel of FusedAttention (see ops.def, src/ir/fused_attention.h and
// docs/optimizer.md, attention-layout).
//
// Gathers the logical Q/K/V ([B, H, S, D], read through each layout's strides) into contiguous
// float64 BHSD scratch tensors, runs the CPU Attention kernel on them (the conformance-tested
// ONNX Attention math, accumulating in double) with this layer's scale / is_causal / attn_mask,
// and scatters its float64 [B, Hq, Sq, Dv] result into Y in y_layout (one rounding).
#include <string>
#include <vector>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/kernel_util.h"
#include "ir/fused_attention.h"

namespace kiln::cpu {

namespace {

bool isAttnFloat(DataType t) {
  return t == DataType::kFLOAT || t == DataType::kHALF || t == DataType::kBF16 ||
         t == DataType::kDOUBLE;
}

StatusOr<ir::AttnLayout> layoutOf(const CpuKernelContext& ctx, const char* name) {
  std::optional<ir::AttnLayout> l = ir::parseAttnLayout(ctx.attrs().getString(name, ""));
  if (!l) return ctx.error("%s must be \"BHSD\", \"BSHD\" or \"SBHD\"", name);
  return *l;
}

StatusOr<ir::AttnOperand> operandOf(const CpuKernelContext& ctx, const CpuTensor& t,
                                    const char* what, ir::AttnLayout l, int64_t heads) {
  std::string why;
  std::optional<ir::AttnOperand> o = ir::attnOperand(l, t.dims, heads, &why);
  if (!o)
    return ctx.error("%s %s in layout %s: %s", what, ir::dimsToString(t.dims).c_str(),
                     ir::attnLayoutName(l), why.c_str());
  return *o;
}

// The logical operand `o` of `t` as a contiguous float64 [B, H, S, D] tensor.
std::vector<double> gather(const CpuTensor& t, const ir::AttnOperand& o) {
  std::vector<double> out(static_cast<size_t>(o.b * o.h * o.s * o.d));
  size_t i = 0;
  for (int64_t b = 0; b < o.b; ++b)
    for (int64_t h = 0; h < o.h; ++h)
      for (int64_t s = 0; s < o.s; ++s)
        for (int64_t d = 0; d < o.d; ++d) out[i++] = t.doubleAt(o.offset(b, h, s, d));
  return out;
}

Status fusedAttentionKernel(CpuKernelContext& ctx) {
  if (ctx.inputs.size() < 3 || ctx.outputs.size() != 1)
    return ctx.error("expects inputs (Q, K, V, attn_mask?) and one output");
  const CpuTensor& q = ctx.inputs[0];
  const CpuTensor& k = ctx.inputs[1];
  const CpuTensor& v = ctx.inputs[2];
  CpuTensor& y = ctx.outputs[0];
  if (!isAttnFloat(q.dtype) || k.dtype != q.dtype || v.dtype != q.dtype || y.dtype != q.dtype)
    return ctx.error("Q, K, V and Y must share one float type");
  KILN_ASSIGN_OR_RETURN(ir::AttnLayout ql, layoutOf(ctx, "q_layout"));
  KILN_ASSIGN_OR_RETURN(ir::AttnLayout kl, layoutOf(ctx, "k_layout"));
  KILN_ASSIGN_OR_RETURN(ir::AttnLayout vl, layoutOf(ctx, "v_layout"));
  KILN_ASSIGN_OR_RETURN(ir::AttnLayout yl, layoutOf(ctx, "y_layout"));
  const int64_t hq = ctx.attrs().getInt("q_num_heads", 0);
  const int64_t hkv = ctx.attrs().getInt("kv_num_heads", 0);
  if (hq <= 0 || hkv <= 0 || hq % hkv != 0)
    return ctx.error("q_num_heads (%lld) must be a positive multiple of kv_num_heads (%lld)",
                     ll(hq), ll(hkv));
  if (!ctx.attrs().has("scale")) return ctx.error("the scale attribute is required");
  KILN_ASSIGN_OR_RETURN(ir::AttnOperand qo, operandOf(ctx, q, "Q", ql, hq));
  KILN_ASSIGN_OR_RETURN(ir::AttnOperand ko, operandOf(ctx, k, "K", kl, hkv));
  KILN_ASSIGN_OR_RETURN(ir::AttnOperand vo, operandOf(ctx, v, "V", vl, hkv));
  if (ko.b != qo.b || vo.b != qo.b || ko.d != qo.d || vo.s != ko.s)
    return ctx.error("Q %s, K %s and V %s do not agree on batch, head size or key length",
                     ir::dimsToString(q.dims).c_str(), ir::dimsToString(k.dims).c_str(),
                     ir::dimsToString(v.dims).c_str());
  KILN_ASSIGN_OR_RETURN(ir::AttnOperand yo, operandOf(ctx, y, "Y", yl, hq));
  if (yo.b != qo.b || yo.s != qo.s || yo.d != vo.d)
    return ctx.error("Y %s does not hold [B, Hq, Sq, Dv] = [%lld, %lld, %lld, %lld]",
                     ir::dimsToString(y.dims).c_str(), ll(qo.b), ll(hq), ll(qo.s), ll(vo.d));
  if (ctx.hasInput(3) && (ctx.inputs[3].rank() < 2 || ctx.inputs[3].rank() > 4))
    return ctx.error("attn_mask must have rank 2 to 4, got shape %s",
                     ir::dimsToString(ctx.inputs[3].dims).c_str());

  // ONNX Attention (4-D form) on the gathered operands, in float64.
  std::vector<double> qd = gather(q, qo), kd = gather(k, ko), vd = gather(v, vo);
  std::vector<double> yd(static_cast<size_t>(qo.b * hq * qo.s * vo.d));
  ir::Node att;
  att.op = ir::OpKind::kAttention;
  att.name = ctx.node.name;
  att.attrs.setFloat("scale", ctx.attrs().getFloat("scale", 1.f));
  att.attrs.setInt("is_causal", ctx.attrs().getInt("is_causal", 0));
  std::vector<CpuTensor> ins = {
      CpuTensor{qd.data(), DataType::kDOUBLE, {qo.b, hq, qo.s, qo.d}},
      CpuTensor{kd.data(), DataType::kDOUBLE, {ko.b, hkv, ko.s, ko.d}},
      CpuTensor{vd.data(), DataType::kDOUBLE, {vo.b, hkv, vo.s, vo.d}},
  };
  if (ctx.hasInput(3)) ins.push_back(ctx.inputs[3]);
  std::vector<CpuTensor> outs = {CpuTensor{yd.data(), DataType::kDOUBLE, {qo.b, hq, qo.s, vo.d}}};
  Status st = runCpuNode(att, ins, outs);
  if (!st.isOk()) return ctx.error("%s", st.message().c_str());

  size_t i = 0;
  for (int64_t b = 0; b < yo.b; ++b)
    for (int64_t h = 0; h < yo.h; ++h)
      for (int64_t s = 0; s < yo.s; ++s)
        for (int64_t d = 0; d < yo.d; ++d) storeDouble(y, yo.offset(b, h, s, d), yd[i++]);
  return Status::ok();
}

}  // namespace

void registerFusedAttentionKernels(CpuKernelTable& t) {
  t[static_cast<size_t>(ir::OpKind::kFusedAttention)] = &fusedAttentionKernel;
}

}  // namespace kiln::cpu
