// CPU reference kernels for the newer sequence-model ops (see ops.def): LinearAttention,
// CausalConvWithState and TensorScatter.
//
// Floating-point kernels read their elements into double, compute in double and round once
// when storing (CausalConvWithState rounds the convolution to the tensor type before its fused
// activation, as ONNX's definition does).
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/kernel_util.h"

namespace kiln::cpu {

namespace {

// v rounded to the precision of float type t.
double roundToType(DataType t, double v) {
  switch (t) {
    case DataType::kFLOAT: return static_cast<float>(v);
    case DataType::kHALF: return static_cast<float>(Half(static_cast<float>(v)));
    case DataType::kBF16: return static_cast<float>(BFloat16(static_cast<float>(v)));
    default: return v;
  }
}

// ---------------------------------------------------------------------------------------------
// LinearAttention. Per batch b and kv head h, the state S (d_k x d_v) evolves over time t:
//   gated:  S *= exp(decay_t)              (decay per head, or per key dimension: row-wise)
//   delta:  v_t = beta_t * (v_t - S^T (erase_t * k_t))
//   write:  S += k_t v_t^T
//   read:   o_t[hq] = scale * q_t[hq]^T S    for each query head hq of kv head h (hq / group)
Status linearAttentionKernel(CpuKernelContext& ctx) {
  const CpuTensor& q = ctx.inputs[0];
  const CpuTensor& k = ctx.inputs[1];
  const CpuTensor& v = ctx.inputs[2];
  const int64_t hq = ctx.attrs().getInt("q_num_heads", 1);
  const int64_t hkv = ctx.attrs().getInt("kv_num_heads", 1);
  const std::string rule = ctx.attrs().getString("update_rule", "gated_delta");
  const bool gating = rule == "gated" || rule == "gated_delta";
  const bool delta = rule == "delta" || rule == "gated_delta";
  const int64_t B = q.dims[0], T = q.dims[1];
  const int64_t dk = q.dims[2] / hq, dv = v.dims[2] / hkv;
  const int64_t group = hq / hkv;
  double scale = ctx.attrs().getFloat("scale", 0.f);
  if (scale == 0.0) scale = 1.0 / std::sqrt(static_cast<double>(dk));

  const std::vector<double> Q = toDoubles(q), K = toDoubles(k), V = toDoubles(v);
  std::vector<double> decay, beta, erase;
  int64_t decayLast = 0, betaLast = 0;
  if (gating) decay = toDoubles(ctx.inputs[4]), decayLast = ctx.inputs[4].dims[2];
  if (delta) beta = toDoubles(ctx.inputs[5]), betaLast = ctx.inputs[5].dims[2];
  if (ctx.hasInput(6)) erase = toDoubles(ctx.inputs[6]);

  // state[b][h][i][j], initialized from past_state or zeros.
  std::vector<double> S(static_cast<size_t>(B * hkv * dk * dv), 0.0);
  if (ctx.hasInput(3)) S = toDoubles(ctx.inputs[3]);

  CpuTensor& out = ctx.outputs[0];
  std::vector<double> vt(static_cast<size_t>(dv)), ke(static_cast<size_t>(dk));
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < hkv; ++h) {
      double* s = S.data() + (b * hkv + h) * dk * dv;
      for (int64_t t = 0; t < T; ++t) {
        const int64_t row = b * T + t;  // (b, t) row of every (B, T, X) input
        const double* kt = K.data() + row * hkv * dk + h * dk;
        const double* vIn = V.data() + row * hkv * dv + h * dv;
        if (gating) {
          for (int64_t i = 0; i < dk; ++i) {
            const int64_t idx = decayLast == hkv && decayLast != hkv * dk
                                    ? row * hkv + h
                                    : row * decayLast + h * dk + i;
            const double g = std::exp(decay[static_cast<size_t>(idx)]);
            for (int64_t j = 0; j < dv; ++j) s[i * dv + j] *= g;
          }
        }
        for (int64_t j = 0; j < dv; ++j) vt[static_cast<size_t>(j)] = vIn[j];
        if (delta) {
          for (int64_t i = 0; i < dk; ++i)
            ke[static_cast<size_t>(i)] =
                erase.empty() ? kt[i]
                              : kt[i] * erase[static_cast<size_t>(row * hkv * dk + h * dk + i)];
          const double bt = beta[static_cast<size_t>(row * betaLast + (betaLast == 1 ? 0 : h))];
          for (int64_t j = 0; j < dv; ++j) {
            double r = 0.0;
            for (int64_t i = 0; i < dk; ++i) r += s[i * dv + j] * ke[static_cast<size_t>(i)];
            vt[static_cast<size_t>(j)] = bt * (vt[static_cast<size_t>(j)] - r);
          }
        }
        for (int64_t i = 0; i < dk; ++i)
          for (int64_t j = 0; j < dv; ++j) s[i * dv + j] += kt[i] * vt[static_cast<size_t>(j)];
        for (int64_t g = 0; g < group; ++g) {
          const int64_t qh = h * group + g;
          const double* qt = Q.data() + row * hq * dk + qh * dk;
          for (int64_t j = 0; j < dv; ++j) {
            double o = 0.0;
            for (int64_t i = 0; i < dk; ++i) o += qt[i] * s[i * dv + j];
            storeDouble(out, row * hq * dv + qh * dv + j, scale * o);
          }
        }
      }
    }
  }
  if (ctx.outputs.size() > 1) {
    CpuTensor& present = ctx.outputs[1];
    for (int64_t i = 0; i < present.numel(); ++i)
      storeDouble(present, i, S[static_cast<size_t>(i)]);
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// CausalConvWithState: depthwise causal 1-D convolution over [past_state | input] (zeros when no
// past_state), optional SiLU; present_state is the last k-1 positions of that padded sequence.
Status causalConvWithStateKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const CpuTensor& w = ctx.inputs[1];
  const int64_t B = x.dims[0], C = x.dims[1], L = x.dims[2], K = w.dims[2];
  const int64_t P = K - 1, padded = L + P;
  const bool silu = ctx.attrs().getString("activation", "none") != "none";
  const std::vector<double> X = toDoubles(x), W = toDoubles(w);
  std::vector<double> bias, past;
  if (ctx.hasInput(2)) bias = toDoubles(ctx.inputs[2]);
  if (ctx.hasInput(3)) past = toDoubles(ctx.inputs[3]);
  CpuTensor& out = ctx.outputs[0];
  std::vector<double> seq(static_cast<size_t>(padded));
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t p = 0; p < P; ++p)
        seq[static_cast<size_t>(p)] =
            past.empty() ? 0.0 : past[static_cast<size_t>((b * C + c) * P + p)];
      for (int64_t l = 0; l < L; ++l)
        seq[static_cast<size_t>(P + l)] = X[static_cast<size_t>((b * C + c) * L + l)];
      for (int64_t l = 0; l < L; ++l) {
        double acc = bias.empty() ? 0.0 : bias[static_cast<size_t>(c)];
        for (int64_t j = 0; j < K; ++j)
          acc += W[static_cast<size_t>(c * K + j)] * seq[static_cast<size_t>(l + j)];
        if (silu) {
          const double y = roundToType(out.dtype, acc);
          acc = y / (1.0 + std::exp(-y));
        }
        storeDouble(out, (b * C + c) * L + l, acc);
      }
      if (ctx.outputs.size() > 1) {
        CpuTensor& present = ctx.outputs[1];
        for (int64_t p = 0; p < P; ++p)
          storeDouble(present, (b * C + c) * P + p, seq[static_cast<size_t>(L + p)]);
      }
    }
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// TensorScatter: present = past, then update's rows along `axis` are written at
// write_indices[batch] + s (modulo the cache length in circular mode). Type-agnostic byte copies.
Status tensorScatterKernel(CpuKernelContext& ctx) {
  const CpuTensor& past = ctx.inputs[0];
  const CpuTensor& upd = ctx.inputs[1];
  CpuTensor& out = ctx.outputs[0];
  const int64_t rank = past.rank();
  int64_t axis = ctx.attrs().getInt("axis", -2);
  if (axis < 0) axis += rank;
  const bool circular = ctx.attrs().getString("mode", "linear") == "circular";
  const size_t es = dataTypeSize(past.dtype);
  std::memcpy(out.data, past.data, static_cast<size_t>(past.numel()) * es);
  const int64_t maxLen = past.dims[static_cast<size_t>(axis)];
  const int64_t seqLen = upd.dims[static_cast<size_t>(axis)];
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < rank; ++d) inner *= past.dims[static_cast<size_t>(d)];
  int64_t outer = 1;  // prefixes (dims before axis); the batch index is prefix / perBatch
  for (int64_t d = 0; d < axis; ++d) outer *= past.dims[static_cast<size_t>(d)];
  const int64_t perBatch = past.dims[0] == 0 ? 1 : outer / past.dims[0];
  const size_t rowBytes = static_cast<size_t>(inner) * es;
  for (int64_t p = 0; p < outer; ++p) {
    const int64_t b = p / perBatch;
    const int64_t start = ctx.hasInput(2) ? ctx.inputs[2].as<int64_t>()[b] : 0;
    for (int64_t s = 0; s < seqLen; ++s) {
      int64_t idx = start + s;
      if (circular) {
        idx %= maxLen;
        if (idx < 0) idx += maxLen;
      } else if (idx < 0 || idx >= maxLen) {
        return ctx.error(
            "write index %lld + %lld for batch %lld is outside the cache length %lld (mode linear)",
            ll(start), ll(s), ll(b), ll(maxLen));
      }
      std::memcpy(
          static_cast<char*>(out.data) + static_cast<size_t>(p * maxLen + idx) * rowBytes,
          static_cast<const char*>(upd.data) + static_cast<size_t>(p * seqLen + s) * rowBytes,
          rowBytes);
    }
  }
  return Status::ok();
}

}  // namespace

void registerAttentionExtKernels(CpuKernelTable& t) {
  t[static_cast<size_t>(ir::OpKind::kLinearAttention)] = &linearAttentionKernel;
  t[static_cast<size_t>(ir::OpKind::kCausalConvWithState)] = &causalConvWithStateKernel;
  t[static_cast<size_t>(ir::OpKind::kTensorScatter)] = &tensorScatterKernel;
}

}  // namespace kiln::cpu
