// CPU reference kernels for the transformer and quantization ops (see ops.def): RMSNormalization,
// Attention, RotaryEmbedding, GridSample, QuantizeLinear, DequantizeLinear,
// DynamicQuantizeLinear, MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv.
//
// Floating-point kernels read their elements in the storage type and compute in double, then
// round once. Quantization follows ONNX's reference arithmetic exactly where it decides integer
// results: the quotient x / scale is formed in the inputs' float type, rounding is half to even
// (std::nearbyint in the default rounding mode) and results saturate to the target type's range.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "backends/cpu/conv_util.h"
#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/elementwise_util.h"
#include "common/small_float.h"
#include "ir/window_params.h"

namespace kiln::cpu {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

int64_t product(const std::vector<int64_t>& d, size_t from, size_t to) {
  int64_t n = 1;
  for (size_t i = from; i < to; ++i) n *= d[i];
  return n;
}

std::string dimsStr(const std::vector<int64_t>& d) { return ir::dimsToString(d); }

// Writes v into element i of a float tensor of any float dtype (one rounding).
void storeDoubleAt(CpuTensor& t, int64_t i, double v) {
  switch (t.dtype) {
    case DataType::kFLOAT: t.as<float>()[i] = static_cast<float>(v); return;
    case DataType::kDOUBLE: t.as<double>()[i] = v; return;
    case DataType::kHALF: t.as<Half>()[i] = Half(static_cast<float>(v)); return;
    case DataType::kBF16: t.as<BFloat16>()[i] = BFloat16(static_cast<float>(v)); return;
    default: KILN_CHECK_MSG(false, "storeDoubleAt: not a float tensor");
  }
}

// Writes an integer already in range into element i of an integer tensor.
void storeIntAt(CpuTensor& t, int64_t i, int64_t v) {
  switch (t.dtype) {
    case DataType::kINT8: t.as<int8_t>()[i] = static_cast<int8_t>(v); return;
    case DataType::kUINT8: t.as<uint8_t>()[i] = static_cast<uint8_t>(v); return;
    case DataType::kINT16: t.as<int16_t>()[i] = static_cast<int16_t>(v); return;
    case DataType::kUINT16: t.as<uint16_t>()[i] = static_cast<uint16_t>(v); return;
    case DataType::kINT32: t.as<int32_t>()[i] = static_cast<int32_t>(v); return;
    case DataType::kINT64: t.as<int64_t>()[i] = v; return;
    case DataType::kINT4:
    case DataType::kUINT4:
    case DataType::kINT2:
    case DataType::kUINT2: t.as<uint8_t>()[i] = wrapToSubByte(t.dtype, v); return;  // unpacked
    default: KILN_CHECK_MSG(false, "storeIntAt: not an integer tensor");
  }
}

// [lo, hi] of a quantized integer type.
void intRange(DataType t, int64_t* lo, int64_t* hi) {
  switch (t) {
    case DataType::kINT8: *lo = -128, *hi = 127; return;
    case DataType::kUINT8: *lo = 0, *hi = 255; return;
    case DataType::kINT16: *lo = -32768, *hi = 32767; return;
    case DataType::kUINT16: *lo = 0, *hi = 65535; return;
    case DataType::kINT32: *lo = std::numeric_limits<int32_t>::min(), *hi = std::numeric_limits<int32_t>::max(); return;
    case DataType::kINT4:
    case DataType::kUINT4:
    case DataType::kINT2:
    case DataType::kUINT2: subByteRange(t, lo, hi); return;
    default: *lo = 0, *hi = 0; return;
  }
}

// v rounded to the precision of float type t (what storing it in a tensor of type t keeps).
double roundToType(DataType t, double v) {
  switch (t) {
    case DataType::kFLOAT: return static_cast<float>(v);
    case DataType::kHALF: return static_cast<float>(Half(static_cast<float>(v)));
    case DataType::kBF16: return static_cast<float>(BFloat16(static_cast<float>(v)));
    default: return v;
  }
}

// Round half to even, then saturate to [lo, hi]; NaN maps to 0 before the zero point is added.
int64_t roundSaturate(double v, double zeroPoint, int64_t lo, int64_t hi) {
  double r = std::isnan(v) ? 0.0 : std::nearbyint(v);
  r += zeroPoint;
  if (r < static_cast<double>(lo)) return lo;
  if (r > static_cast<double>(hi)) return hi;
  return static_cast<int64_t>(r);
}

// All elements of an integer tensor as int64.
std::vector<int64_t> tensorToInts(const CpuTensor& t) {
  std::vector<int64_t> out(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) out[static_cast<size_t>(i)] = t.intAt(i);
  return out;
}

// ---------------------------------------------------------------------------------------------
// RMSNormalization: per row over axes [axis, rank),  y = x / sqrt(mean(x^2) + eps) * scale.

Status rmsNormKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const CpuTensor& s = ctx.inputs[1];
  CpuTensor& y = ctx.outputs[0];
  int64_t axis = ctx.attrs().getInt("axis", -1);
  if (axis < 0) axis += x.rank();
  if (axis < 0 || axis >= x.rank()) return ctx.error("axis is out of range for X %s", dimsStr(x.dims).c_str());
  const size_t ax = static_cast<size_t>(axis);
  const int64_t outer = product(x.dims, 0, ax), inner = product(x.dims, ax, x.dims.size());
  // Scale broadcast (right-aligned) to the normalized dims x.dims[axis:].
  const std::vector<int64_t> norm(x.dims.begin() + axis, x.dims.end());
  if (s.dims.size() > norm.size()) return ctx.error("scale %s has more dims than the normalized shape", dimsStr(s.dims).c_str());
  const size_t off = norm.size() - s.dims.size();
  for (size_t d = 0; d < s.dims.size(); ++d)
    if (s.dims[d] != 1 && s.dims[d] != norm[off + d])
      return ctx.error("scale %s cannot be broadcast to the normalized shape %s", dimsStr(s.dims).c_str(),
                       dimsStr(norm).c_str());
  const std::vector<double> sv = tensorToDoubles(s);
  std::vector<double> scale(static_cast<size_t>(inner));
  std::vector<int64_t> idx(norm.size(), 0);
  for (int64_t i = 0; i < inner; ++i) {
    int64_t si = 0;
    for (size_t d = 0; d < s.dims.size(); ++d) si = si * s.dims[d] + (s.dims[d] == 1 ? 0 : idx[off + d]);
    scale[static_cast<size_t>(i)] = sv[static_cast<size_t>(si)];
    for (size_t d = norm.size(); d-- > 0;) {
      if (++idx[d] < norm[d]) break;
      idx[d] = 0;
    }
  }
  const double eps = ctx.attrs().getFloat("epsilon", 1e-5f);
  std::vector<double> row(static_cast<size_t>(inner));
  for (int64_t o = 0; o < outer; ++o) {
    double ss = 0;
    for (int64_t i = 0; i < inner; ++i) {
      row[static_cast<size_t>(i)] = x.doubleAt(o * inner + i);
      ss += row[static_cast<size_t>(i)] * row[static_cast<size_t>(i)];
    }
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(inner) + eps);
    for (int64_t i = 0; i < inner; ++i)
      storeDoubleAt(y, o * inner + i, row[static_cast<size_t>(i)] * inv * scale[static_cast<size_t>(i)]);
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Attention (opset 23/24, ONNX 1.23 reference semantics). Per batch b, query head h (key/value
// head h / (Hq/Hkv)), query i and key j over the Lp+Lkv keys of [past_key; K]:
//   s_ij   = scale * q_i . k_j                              (scale = 1/sqrt(D) by default)
//   c_ij   = softcap > 0 ? softcap * tanh(s_ij / softcap) : s_ij
//   bias_ij = mask (bool: 0 / -inf; float: added; columns past the mask's length: -inf)
//           + causal (-inf where j > i + offset; offset = Lp with a past, else
//             nonpad_kv_seqlen[b] - Lq with nonpad_kv_seqlen, else 0)
//           + sliding window (opset 25; -inf where i + offset - j > left_window_size or
//             j - (i + offset) > right_window_size, each when >= 0)
//           + padding (-inf where j >= nonpad_kv_seqlen[b])
//   p_ij   = softmax_j(c_ij + bias_ij), or 0 for a row whose bias is -inf everywhere
//   Y_i    = sum_j p_ij v_j
// qk_matmul_output is s (mode 0), c (1), c + bias (2) or p (3).

// Element (b, h, i, d) of a 4-D [B, H, L, D] tensor or a 3-D [B, L, H*D] one.
struct HeadView {
  std::vector<double> data;
  int64_t sb = 0, sh = 0, si = 0;
  double at(int64_t b, int64_t h, int64_t i, int64_t d) const {
    return data[static_cast<size_t>(b * sb + h * sh + i * si + d)];
  }
};

HeadView headView(const CpuTensor& t, int64_t heads, int64_t len, int64_t headSize) {
  HeadView v;
  v.data = tensorToDoubles(t);
  if (t.rank() == 4) {
    v.sb = heads * len * headSize, v.sh = len * headSize, v.si = headSize;
  } else {
    v.sb = len * heads * headSize, v.sh = headSize, v.si = heads * headSize;
  }
  return v;
}

Status attentionKernel(CpuKernelContext& ctx) {
  const CpuTensor& q = ctx.inputs[0];
  const CpuTensor& k = ctx.inputs[1];
  const CpuTensor& v = ctx.inputs[2];
  const bool is4d = q.rank() == 4;
  const int64_t batch = q.dims[0];
  int64_t hq, hkv, lq, lkv, d, dv;
  if (is4d) {
    hq = q.dims[1], lq = q.dims[2], d = q.dims[3];
    hkv = k.dims[1], lkv = k.dims[2], dv = v.dims[3];
  } else {
    hq = ctx.attrs().getInt("q_num_heads", 0), hkv = ctx.attrs().getInt("kv_num_heads", 0);
    if (hq <= 0 || hkv <= 0) return ctx.error("3-D inputs need q_num_heads and kv_num_heads");
    lq = q.dims[1], lkv = k.dims[1], d = q.dims[2] / hq, dv = v.dims[2] / hkv;
  }
  if (hkv <= 0 || hq % hkv != 0)
    return ctx.error("query heads %lld must be a multiple of key/value heads %lld", static_cast<long long>(hq),
                     static_cast<long long>(hkv));
  const int64_t groupSize = hq / hkv;
  const HeadView qv = headView(q, hq, lq, d), kv = headView(k, hkv, lkv, d), vv = headView(v, hkv, lkv, dv);
  const bool hasPast = ctx.hasInput(4) && ctx.hasInput(5);
  const int64_t lp = hasPast ? ctx.inputs[4].dims[2] : 0, total = lp + lkv;
  HeadView pk, pv;
  if (hasPast) {
    pk = headView(ctx.inputs[4], hkv, lp, d);
    pv = headView(ctx.inputs[5], hkv, lp, dv);
  }
  // present_key / present_value = concat(past, new) along the sequence: [B, Hkv, total, D].
  std::vector<double> keys(static_cast<size_t>(batch * hkv * total * d)), vals(static_cast<size_t>(batch * hkv * total * dv));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < hkv; ++h)
      for (int64_t j = 0; j < total; ++j) {
        for (int64_t e = 0; e < d; ++e)
          keys[static_cast<size_t>(((b * hkv + h) * total + j) * d + e)] = j < lp ? pk.at(b, h, j, e) : kv.at(b, h, j - lp, e);
        for (int64_t e = 0; e < dv; ++e)
          vals[static_cast<size_t>(((b * hkv + h) * total + j) * dv + e)] = j < lp ? pv.at(b, h, j, e) : vv.at(b, h, j - lp, e);
      }

  // Mask broadcast right-aligned to [B, Hq, Lq, maskLen].
  const bool hasMask = ctx.hasInput(3);
  std::vector<double> maskVals;
  std::vector<int64_t> mdims(4, 1);
  if (hasMask) {
    const CpuTensor& m = ctx.inputs[3];
    if (m.rank() < 1 || m.rank() > 4) return ctx.error("attn_mask must have rank 1 to 4");
    for (int64_t i = 0; i < m.rank(); ++i) mdims[static_cast<size_t>(4 - m.rank() + i)] = m.dims[static_cast<size_t>(i)];
    const int64_t want[3] = {batch, hq, lq};
    for (size_t i = 0; i < 3; ++i)
      if (mdims[i] != 1 && mdims[i] != want[i])
        return ctx.error("attn_mask %s cannot be broadcast to [batch=%lld, heads=%lld, q_len=%lld, kv_len]",
                         dimsStr(m.dims).c_str(), static_cast<long long>(batch), static_cast<long long>(hq),
                         static_cast<long long>(lq));
    if (mdims[3] > total)
      return ctx.error("attn_mask %s is longer than the %lld keys", dimsStr(m.dims).c_str(), static_cast<long long>(total));
    maskVals.resize(static_cast<size_t>(m.numel()));
    const bool isBool = m.dtype == DataType::kBOOL;
    for (int64_t i = 0; i < m.numel(); ++i)
      maskVals[static_cast<size_t>(i)] = isBool ? (m.intAt(i) != 0 ? 0.0 : kNegInf) : m.doubleAt(i);
  }
  const bool hasNonpad = ctx.hasInput(6);
  std::vector<int64_t> nonpad;
  if (hasNonpad) {
    nonpad = tensorToInts(ctx.inputs[6]);
    if (static_cast<int64_t>(nonpad.size()) != batch)
      return ctx.error("nonpad_kv_seqlen has %zu values, expected one per batch (%lld)", nonpad.size(),
                       static_cast<long long>(batch));
    for (int64_t n : nonpad)
      if (n < 0 || n > total)
        return ctx.error("nonpad_kv_seqlen value %lld is outside [0, %lld]", static_cast<long long>(n),
                         static_cast<long long>(total));
  }
  const bool causal = ctx.attrs().getInt("is_causal", 0) != 0;
  const double scale = ctx.attrs().has("scale") ? static_cast<double>(ctx.attrs().getFloat("scale", 1.f))
                                                : 1.0 / std::sqrt(static_cast<double>(d));
  const double softcap = ctx.attrs().getFloat("softcap", 0.f);
  const int64_t mode = ctx.attrs().getInt("qk_matmul_output_mode", 0);
  const int64_t left = ctx.attrs().getInt("left_window_size", -1), right = ctx.attrs().getInt("right_window_size", -1);

  CpuTensor& y = ctx.outputs[0];
  std::vector<double> s(static_cast<size_t>(total)), c(static_cast<size_t>(total)), bias(static_cast<size_t>(total)),
      p(static_cast<size_t>(total));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t h = 0; h < hq; ++h) {
      const int64_t hk = h / groupSize;
      const double* kb = keys.data() + (b * hkv + hk) * total * d;
      const double* vb = vals.data() + (b * hkv + hk) * total * dv;
      for (int64_t i = 0; i < lq; ++i) {
        double biasMax = kNegInf;
        const int64_t offset = hasPast ? lp : (hasNonpad ? nonpad[static_cast<size_t>(b)] - lq : 0);
        for (int64_t j = 0; j < total; ++j) {
          double acc = 0;
          for (int64_t e = 0; e < d; ++e) acc += qv.at(b, h, i, e) * kb[j * d + e];
          s[static_cast<size_t>(j)] = acc * scale;
          c[static_cast<size_t>(j)] = softcap > 0 ? softcap * std::tanh(acc * scale / softcap) : acc * scale;
          double bj = 0;
          if (hasMask) {
            if (j >= mdims[3]) {
              bj = kNegInf;
            } else {
              const int64_t mi = (((mdims[0] == 1 ? 0 : b) * mdims[1] + (mdims[1] == 1 ? 0 : h)) * mdims[2] +
                                  (mdims[2] == 1 ? 0 : i)) * mdims[3] + j;
              bj = maskVals[static_cast<size_t>(mi)];
            }
          }
          // Query i sits at absolute position i + offset among the keys.
          const int64_t diff = i + offset - j;
          if (causal && diff < 0) bj += kNegInf;
          if ((left >= 0 && diff > left) || (right >= 0 && -diff > right)) bj += kNegInf;
          if (hasNonpad && j >= nonpad[static_cast<size_t>(b)]) bj += kNegInf;
          bias[static_cast<size_t>(j)] = bj;
          biasMax = std::max(biasMax, bj);
        }
        // Softmax over j of c + bias; a fully masked row gets zero probabilities.
        double mx = kNegInf;
        for (int64_t j = 0; j < total; ++j) mx = std::max(mx, c[static_cast<size_t>(j)] + bias[static_cast<size_t>(j)]);
        if (biasMax == kNegInf) {
          std::fill(p.begin(), p.end(), 0.0);
        } else {
          double sum = 0;
          for (int64_t j = 0; j < total; ++j) {
            const double z = c[static_cast<size_t>(j)] + bias[static_cast<size_t>(j)];
            p[static_cast<size_t>(j)] = z == kNegInf ? 0.0 : std::exp(z - mx);
            sum += p[static_cast<size_t>(j)];
          }
          for (int64_t j = 0; j < total; ++j) p[static_cast<size_t>(j)] /= sum;
        }
        for (int64_t e = 0; e < dv; ++e) {
          double acc = 0;
          for (int64_t j = 0; j < total; ++j) acc += p[static_cast<size_t>(j)] * vb[j * dv + e];
          const int64_t yi = is4d ? ((b * hq + h) * lq + i) * dv + e : (b * lq + i) * hq * dv + h * dv + e;
          storeDoubleAt(y, yi, acc);
        }
        if (ctx.outputs.size() > 3) {
          CpuTensor& qk = ctx.outputs[3];
          for (int64_t j = 0; j < total; ++j) {
            const size_t js = static_cast<size_t>(j);
            const double val = mode == 0 ? s[js] : mode == 1 ? c[js] : mode == 2 ? c[js] + bias[js] : p[js];
            storeDoubleAt(qk, ((b * hq + h) * lq + i) * total + j, val);
          }
        }
      }
    }
  }
  if (ctx.outputs.size() > 1)
    for (size_t i = 0; i < keys.size(); ++i) storeDoubleAt(ctx.outputs[1], static_cast<int64_t>(i), keys[i]);
  if (ctx.outputs.size() > 2)
    for (size_t i = 0; i < vals.size(); ++i) storeDoubleAt(ctx.outputs[2], static_cast<int64_t>(i), vals[i]);
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// RotaryEmbedding. For each (b, head, s) the first R dims of the head (R = rotary_embedding_dim,
// default the head size) are rotated pairwise by the angle whose cos/sin are
// cache[position_ids[b, s], k] (or cache[b, s, k] without position_ids), k < R/2:
//   pairs (x[k], x[k + R/2]) (default) or (x[2k], x[2k+1]) (interleaved)
//   x1' = cos * x1 - sin * x2,  x2' = sin * x1 + cos * x2.
// The dims past R are copied.
Status rotaryEmbeddingKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const CpuTensor& cosT = ctx.inputs[1];
  const CpuTensor& sinT = ctx.inputs[2];
  const bool hasPos = ctx.hasInput(3);
  CpuTensor& y = ctx.outputs[0];
  const bool is4d = x.rank() == 4;
  const int64_t batch = x.dims[0];
  int64_t heads, seq, headSize;
  if (is4d) {
    heads = x.dims[1], seq = x.dims[2], headSize = x.dims[3];
  } else {
    seq = x.dims[1];
    heads = ctx.attrs().getInt("num_heads", 0);
    if (heads <= 0) {
      // Without num_heads the head size follows from a full-size cache: 2 * cache's last dim.
      const int64_t hs = 2 * cosT.dims.back();
      if (hs <= 0 || x.dims[2] % hs != 0)
        return ctx.error("3-D input %s needs the num_heads attribute", dimsStr(x.dims).c_str());
      heads = x.dims[2] / hs;
    }
    if (x.dims[2] % heads != 0) return ctx.error("hidden size is not divisible by num_heads");
    headSize = x.dims[2] / heads;
  }
  int64_t rot = ctx.attrs().getInt("rotary_embedding_dim", 0);
  if (rot == 0) rot = headSize;
  if (rot > headSize || rot % 2 != 0)
    return ctx.error("rotary_embedding_dim %lld must be even and <= the head size %lld", static_cast<long long>(rot),
                     static_cast<long long>(headSize));
  const int64_t half = rot / 2;
  if (cosT.dims.back() != half || sinT.dims != cosT.dims)
    return ctx.error("cos_cache %s and sin_cache %s must end in rotary_embedding_dim/2 = %lld",
                     dimsStr(cosT.dims).c_str(), dimsStr(sinT.dims).c_str(), static_cast<long long>(half));
  std::vector<int64_t> pos;
  int64_t maxPos = 0;
  if (hasPos) {
    const CpuTensor& pt = ctx.inputs[3];
    if (pt.rank() != 2 || pt.dims[0] != batch || pt.dims[1] != seq)
      return ctx.error("position_ids %s must be [batch=%lld, seq=%lld]", dimsStr(pt.dims).c_str(),
                       static_cast<long long>(batch), static_cast<long long>(seq));
    pos = tensorToInts(pt);
    maxPos = cosT.dims[0];
    for (int64_t p : pos)
      if (p < 0 || p >= maxPos)
        return ctx.error("position id %lld is outside the cache [0, %lld)", static_cast<long long>(p),
                         static_cast<long long>(maxPos));
  } else if (cosT.rank() != 3 || cosT.dims[0] != batch || cosT.dims[1] != seq) {
    return ctx.error("without position_ids the caches must be [batch=%lld, seq=%lld, %lld], got %s",
                     static_cast<long long>(batch), static_cast<long long>(seq), static_cast<long long>(half),
                     dimsStr(cosT.dims).c_str());
  }
  const std::vector<double> cv = tensorToDoubles(cosT), sv = tensorToDoubles(sinT);
  const bool interleaved = ctx.attrs().getInt("interleaved", 0) != 0;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t s = 0; s < seq; ++s) {
        const int64_t base = is4d ? ((b * heads + h) * seq + s) * headSize : (b * seq + s) * heads * headSize + h * headSize;
        const int64_t row = hasPos ? pos[static_cast<size_t>(b * seq + s)] : b * seq + s;
        for (int64_t kk = 0; kk < half; ++kk) {
          const double co = cv[static_cast<size_t>(row * half + kk)], si = sv[static_cast<size_t>(row * half + kk)];
          const int64_t i1 = interleaved ? 2 * kk : kk, i2 = interleaved ? 2 * kk + 1 : kk + half;
          const double x1 = x.doubleAt(base + i1), x2 = x.doubleAt(base + i2);
          storeDoubleAt(y, base + i1, co * x1 - si * x2);
          storeDoubleAt(y, base + i2, si * x1 + co * x2);
        }
        for (int64_t e = rot; e < headSize; ++e) storeDoubleAt(y, base + e, x.doubleAt(base + e));
      }
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// GridSample (N-D). grid[n, o..., :] holds normalized coordinates in [-1, 1], the last entry for
// the first spatial dim reversed (x = width first). Denormalized coordinate for a dim of size L:
//   align_corners:  x = (g + 1) / 2 * (L - 1)       borders [0, L - 1]
//   otherwise:      x = ((g + 1) * L - 1) / 2        borders [-0.5, L - 0.5]
// computed in the grid's float type as ONNX's reference does. Nearest rounds half to even first.
// Coordinates outside the borders are clamped (border) or reflected (reflection); then each
// interpolation tap reads X with the padding rule: zeros -> 0 outside, border -> clamped index,
// reflection -> reflected index.

enum class PadMode { kZeros, kBorder, kReflection };

// Reflects x into [lo, hi] by bouncing off the borders.
double reflectCoord(double x, double lo, double hi) {
  const double range = hi - lo;
  if (range <= 0) return lo;
  if (x < lo) {
    const double dx = lo - x;
    const int64_t n = static_cast<int64_t>(dx / range);
    const double r = dx - static_cast<double>(n) * range;
    return n % 2 == 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    const double dx = x - hi;
    const int64_t n = static_cast<int64_t>(dx / range);
    const double r = dx - static_cast<double>(n) * range;
    return n % 2 == 0 ? hi - r : lo + r;
  }
  return x;
}

// Keys cubic convolution weights (a = -0.75) for taps at floor(x) - 1 .. floor(x) + 2, t = x - floor(x).
void cubicWeights(double t, double w[4]) {
  const double a = -0.75;
  auto far = [a](double u) { return ((a * u - 5 * a) * u + 8 * a) * u - 4 * a; };     // 1 < |u| < 2
  auto near = [a](double u) { return ((a + 2) * u - (a + 3)) * u * u + 1; };         // |u| <= 1
  w[0] = far(t + 1);
  w[1] = near(t);
  w[2] = near(1 - t);
  w[3] = far(2 - t);
}

template <typename C>
Status gridSampleTyped(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const CpuTensor& grid = ctx.inputs[1];
  CpuTensor& y = ctx.outputs[0];
  const size_t r = static_cast<size_t>(x.rank() - 2);
  const std::string modeStr = ctx.attrs().getString("mode", "linear");
  const std::string padStr = ctx.attrs().getString("padding_mode", "zeros");
  const bool align = ctx.attrs().getInt("align_corners", 0) != 0;
  const PadMode pad = padStr == "border" ? PadMode::kBorder : padStr == "reflection" ? PadMode::kReflection : PadMode::kZeros;
  const int mode = modeStr == "nearest" ? 0 : modeStr == "cubic" ? 2 : 1;
  const int64_t batch = x.dims[0], channels = x.dims[1];
  if (grid.dims[0] != batch || grid.dims.back() != static_cast<int64_t>(r))
    return ctx.error("grid %s does not match X %s", dimsStr(grid.dims).c_str(), dimsStr(x.dims).c_str());
  std::vector<int64_t> in(x.dims.begin() + 2, x.dims.end());
  const int64_t inVol = product(in, 0, r);
  const int64_t outVol = product(grid.dims, 1, grid.dims.size() - 1);
  std::vector<double> lo(r), hi(r);
  for (size_t dd = 0; dd < r; ++dd) {
    lo[dd] = align ? 0.0 : -0.5;
    hi[dd] = align ? static_cast<double>(in[dd] - 1) : static_cast<double>(in[dd]) - 0.5;
  }
  // Resolves a tap index under the padding rule; -1 means "reads zero".
  auto resolve = [&](size_t dd, int64_t i) -> int64_t {
    if (i >= 0 && i < in[dd]) return i;
    switch (pad) {
      case PadMode::kZeros: return -1;
      case PadMode::kBorder: return std::clamp<int64_t>(i, 0, in[dd] - 1);
      case PadMode::kReflection: {
        const int64_t ri = static_cast<int64_t>(reflectCoord(static_cast<double>(i), lo[dd], hi[dd]));
        return std::clamp<int64_t>(ri, 0, in[dd] - 1);
      }
    }
    return -1;
  };
  const std::vector<double> xv = tensorToDoubles(x);
  const int taps = mode == 0 ? 1 : mode == 1 ? 2 : 4;
  std::vector<std::vector<int64_t>> tapIdx(r, std::vector<int64_t>(static_cast<size_t>(taps)));
  std::vector<std::vector<double>> tapW(r, std::vector<double>(static_cast<size_t>(taps)));
  int64_t combos = 1;
  for (size_t dd = 0; dd < r; ++dd) combos *= taps;
  std::vector<int64_t> strides(r, 1);
  for (size_t dd = r; dd-- > 1;) strides[dd - 1] = strides[dd] * in[dd];
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t o = 0; o < outVol; ++o) {
      for (size_t dd = 0; dd < r; ++dd) {
        const C g = static_cast<C>(grid.doubleAt((n * outVol + o) * static_cast<int64_t>(r) + static_cast<int64_t>(r - 1 - dd)));
        const C len = static_cast<C>(in[dd]);
        C xc = align ? (g + C(1)) / C(2) * (len - C(1)) : ((g + C(1)) * len - C(1)) / C(2);
        if (mode == 0) xc = std::nearbyint(xc);
        double xd = static_cast<double>(xc);
        if (xd < lo[dd] || xd > hi[dd]) {
          if (pad == PadMode::kBorder) xd = std::clamp(xd, 0.0, static_cast<double>(in[dd] - 1));
          if (pad == PadMode::kReflection) xd = static_cast<double>(static_cast<C>(reflectCoord(xd, lo[dd], hi[dd])));
        }
        if (mode == 0) {
          tapIdx[dd][0] = std::isfinite(xd) ? resolve(dd, static_cast<int64_t>(xd)) : -1;
          tapW[dd][0] = 1.0;
          continue;
        }
        if (!std::isfinite(xd)) {
          for (int t = 0; t < taps; ++t) tapIdx[dd][static_cast<size_t>(t)] = -1, tapW[dd][static_cast<size_t>(t)] = 0;
          continue;
        }
        const double fl = std::floor(xd);
        const double t = xd - fl;
        const int64_t x0 = static_cast<int64_t>(fl);
        if (mode == 1) {
          tapIdx[dd][0] = resolve(dd, x0), tapW[dd][0] = 1 - t;
          tapIdx[dd][1] = resolve(dd, x0 + 1), tapW[dd][1] = t;
        } else {
          double w[4];
          cubicWeights(t, w);
          for (int k = 0; k < 4; ++k) tapIdx[dd][static_cast<size_t>(k)] = resolve(dd, x0 - 1 + k), tapW[dd][static_cast<size_t>(k)] = w[k];
        }
      }
      for (int64_t ch = 0; ch < channels; ++ch) {
        const double* plane = xv.data() + (n * channels + ch) * inVol;
        double acc = 0;
        for (int64_t cmb = 0; cmb < combos; ++cmb) {
          int64_t rem = cmb, flat = 0;
          double w = 1;
          bool zero = false;
          for (size_t dd = r; dd-- > 0;) {
            const size_t t = static_cast<size_t>(rem % taps);
            rem /= taps;
            const int64_t idx = tapIdx[dd][t];
            w *= tapW[dd][t];
            if (idx < 0) zero = true;
            else flat += idx * strides[dd];
          }
          if (!zero && w != 0) acc += w * plane[flat];
        }
        storeDoubleAt(y, (n * channels + ch) * outVol + o, acc);
      }
    }
  }
  return Status::ok();
}

Status gridSampleKernel(CpuKernelContext& ctx) {
  if (ctx.inputs[0].rank() < 3) return ctx.error("X must have rank >= 3");
  // Coordinates are computed in the grid's type (float32 for float16/bfloat16 grids).
  if (ctx.inputs[1].dtype == DataType::kDOUBLE) return gridSampleTyped<double>(ctx);
  return gridSampleTyped<float>(ctx);
}

// ---------------------------------------------------------------------------------------------
// Quantization parameter layout: for element i of x, the index of its scale / zero point.

struct QuantLayout {
  enum Kind { kPerTensor, kPerAxis, kBlocked } kind = kPerTensor;
  int64_t axisLen = 1, inner = 1, block = 0, paramAxisLen = 1;
  int64_t index(int64_t i) const {
    if (kind == kPerTensor) return 0;
    const int64_t a = (i / inner) % axisLen;
    if (kind == kPerAxis) return a;
    const int64_t outer = i / (inner * axisLen), in = i % inner;
    return (outer * paramAxisLen + a / block) * inner + in;
  }
};

StatusOr<QuantLayout> quantLayout(const CpuKernelContext& ctx, const CpuTensor& x, const CpuTensor& param,
                                  const char* what) {
  QuantLayout l;
  const int64_t block = ctx.attrs().getInt("block_size", 0);
  if (block <= 0 && param.numel() == 1 && param.rank() <= 1) return l;
  int64_t axis = ctx.attrs().getInt("axis", 1);
  if (axis < 0) axis += x.rank();
  if (axis < 0 || axis >= x.rank()) return ctx.error("axis is out of range for x %s", dimsStr(x.dims).c_str());
  const size_t ax = static_cast<size_t>(axis);
  l.axisLen = x.dims[ax];
  l.inner = product(x.dims, ax + 1, x.dims.size());
  if (block > 0) {
    bool ok = param.rank() == x.rank();
    for (size_t d = 0; ok && d < x.dims.size(); ++d)
      ok = param.dims[d] == (d == ax ? (x.dims[d] + block - 1) / block : x.dims[d]);
    if (!ok)
      return ctx.error("%s %s does not fit blocked quantization of x %s (axis=%lld, block_size=%lld)", what,
                       dimsStr(param.dims).c_str(), dimsStr(x.dims).c_str(), static_cast<long long>(axis),
                       static_cast<long long>(block));
    l.kind = QuantLayout::kBlocked;
    l.block = block;
    l.paramAxisLen = param.dims[ax];
    return l;
  }
  if (param.rank() != 1 || param.dims[0] != l.axisLen)
    return ctx.error("%s %s must be a scalar or have x.shape[axis] = %lld elements", what, dimsStr(param.dims).c_str(),
                     static_cast<long long>(l.axisLen));
  l.kind = QuantLayout::kPerAxis;
  return l;
}

// The float type x / scale is computed in: the wider of the two (float16/bfloat16 mixes use
// float32), or the `precision` attribute (Kiln numbering) when set.
DataType quotientType(const CpuKernelContext& ctx, DataType a, DataType b) {
  if (ctx.attrs().getInt("precision", 0) != 0) return static_cast<DataType>(ctx.attrs().getInt("precision", 0));
  if (a == DataType::kDOUBLE || b == DataType::kDOUBLE) return DataType::kDOUBLE;
  if (a == b) return a;
  return DataType::kFLOAT;
}

// Float8/float4 targets: y = cast(x / y_scale + y_zero_point) with round to nearest even and the
// `saturate` attribute (float4 always saturates). The quotient is formed as for integers; the
// zero point is added in float32 (float8/float4 zero points are normally 0; ONNX's reference
// ignores them for float8).
Status quantizeSmallFloat(CpuKernelContext& ctx, const QuantLayout& ls, const QuantLayout& lz,
                          bool hasZp) {
  const CpuTensor& x = ctx.inputs[0];
  const CpuTensor& s = ctx.inputs[1];
  CpuTensor& y = ctx.outputs[0];
  const bool saturate = ctx.attrs().getInt("saturate", 1) != 0;
  const DataType qt = quotientType(ctx, x.dtype, s.dtype);
  const std::vector<double> sv = tensorToDoubles(s);
  const std::vector<double> zv = hasZp ? tensorToDoubles(ctx.inputs[2]) : std::vector<double>{};
  uint8_t* py = y.as<uint8_t>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double xi = roundToType(qt, x.doubleAt(i)),
                 si = roundToType(qt, sv[static_cast<size_t>(ls.index(i))]);
    const double quot = qt == DataType::kDOUBLE
                            ? xi / si
                            : roundToType(qt, static_cast<float>(xi) / static_cast<float>(si));
    // float32 of the quotient: exact for float32/16/bf16 quotients, round-to-odd for float64 so
    // that the float8 rounding below is the only one that matters.
    float v = qt == DataType::kDOUBLE ? ew::doubleToFloatRoundOdd(quot) : static_cast<float>(quot);
    // The zero point (default +0) is always added, so -0 / scale gives +0 as in the formula.
    v += hasZp ? static_cast<float>(zv[static_cast<size_t>(lz.index(i))]) : 0.0f;
    py[i] = floatToSmallFloat(y.dtype, v, saturate);
  }
  return Status::ok();
}

// y = saturate(round_half_even(x / y_scale) + y_zero_point).
Status quantizeKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const CpuTensor& s = ctx.inputs[1];
  CpuTensor& y = ctx.outputs[0];
  KILN_ASSIGN_OR_RETURN(QuantLayout ls, quantLayout(ctx, x, s, "y_scale"));
  QuantLayout lz;
  const bool hasZp = ctx.hasInput(2);
  if (hasZp) {
    KILN_ASSIGN_OR_RETURN(lz, quantLayout(ctx, x, ctx.inputs[2], "y_zero_point"));
  }
  if (isSmallFloatType(y.dtype) && y.dtype != DataType::kFP8E8M0) return quantizeSmallFloat(ctx, ls, lz, hasZp);
  int64_t lo, hi;
  intRange(y.dtype, &lo, &hi);
  if (lo == hi) return ctx.unsupportedType(y.dtype);
  const DataType qt = quotientType(ctx, x.dtype, s.dtype);
  const std::vector<double> sv = tensorToDoubles(s);
  const std::vector<int64_t> zv = hasZp ? tensorToInts(ctx.inputs[2]) : std::vector<int64_t>{};
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double xi = roundToType(qt, x.doubleAt(i)), si = roundToType(qt, sv[static_cast<size_t>(ls.index(i))]);
    // float32 division is correctly rounded; float16/bfloat16 quotients come from float32 and are
    // rounded once more, which equals the correctly rounded narrow quotient.
    const double quot = qt == DataType::kDOUBLE ? xi / si : roundToType(qt, static_cast<float>(xi) / static_cast<float>(si));
    const double zp = hasZp ? static_cast<double>(zv[static_cast<size_t>(lz.index(i))]) : 0.0;
    storeIntAt(y, i, roundSaturate(quot, zp, lo, hi));
  }
  return Status::ok();
}

// y = (x - x_zero_point) * x_scale, in float32 (float64 when the scale or output is float64).
Status dequantizeKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const CpuTensor& s = ctx.inputs[1];
  CpuTensor& y = ctx.outputs[0];
  KILN_ASSIGN_OR_RETURN(QuantLayout ls, quantLayout(ctx, x, s, "x_scale"));
  QuantLayout lz;
  const bool hasZp = ctx.hasInput(2);
  if (hasZp) {
    KILN_ASSIGN_OR_RETURN(lz, quantLayout(ctx, x, ctx.inputs[2], "x_zero_point"));
  }
  const std::vector<double> sv = tensorToDoubles(s);
  const bool wide = s.dtype == DataType::kDOUBLE || y.dtype == DataType::kDOUBLE;
  if (isSmallFloatType(x.dtype)) {
    // float8/float4: the codes' exact float32 values (NaN stays NaN), same arithmetic.
    const std::vector<double> zf = hasZp ? tensorToDoubles(ctx.inputs[2]) : std::vector<double>{};
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double xv = x.doubleAt(i);
      const double zp = hasZp ? zf[static_cast<size_t>(lz.index(i))] : 0.0;
      const double sc = sv[static_cast<size_t>(ls.index(i))];
      const double v = wide
                           ? (xv - zp) * sc
                           : static_cast<double>((static_cast<float>(xv) - static_cast<float>(zp)) *
                                                 static_cast<float>(sc));
      storeDoubleAt(y, i, v);
    }
    return Status::ok();
  }
  const std::vector<int64_t> zv = hasZp ? tensorToInts(ctx.inputs[2]) : std::vector<int64_t>{};
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t xi = x.intAt(i);
    const int64_t zp = hasZp ? zv[static_cast<size_t>(lz.index(i))] : 0;
    const double sc = sv[static_cast<size_t>(ls.index(i))];
    double v;
    if (wide) {
      v = static_cast<double>(xi - zp) * sc;
    } else {
      const float dx = static_cast<float>(xi) - static_cast<float>(zp);
      v = static_cast<double>(dx * static_cast<float>(sc));
    }
    storeDoubleAt(y, i, v);
  }
  return Status::ok();
}

// uint8 quantization with a computed range, in float32 as ONNX's reference:
//   max = max(0, max(x)), min = min(0, min(x)), scale = (max == min ? 1 : max - min) / 255,
//   zero_point = round_half_even(clamp(-min / scale, 0, 255)),
//   y = clamp(round_half_even(x / scale) + zero_point, 0, 255).
Status dynamicQuantizeKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  float mx = 0.f, mn = 0.f;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float v = static_cast<float>(x.doubleAt(i));
    if (std::isnan(v)) return ctx.error("x contains NaN; the quantization range is undefined");
    mx = std::max(mx, v);
    mn = std::min(mn, v);
  }
  const float scale = (mx == mn ? 1.f : mx - mn) / 255.f;
  const float zpf = std::clamp(0.f - mn / scale, 0.f, 255.f);
  const float zp = std::nearbyint(zpf);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float q = static_cast<float>(x.doubleAt(i)) / scale;
    storeIntAt(ctx.outputs[0], i, roundSaturate(q, zp, 0, 255));
  }
  ctx.outputs[1].as<float>()[0] = scale;
  ctx.outputs[2].as<uint8_t>()[0] = static_cast<uint8_t>(zp);
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Integer matmul: C[b, m, n] = sum_k (A[b', m, k] - za[m]) * (B[b'', k, n] - zb[n]) in int64,
// numpy matmul broadcasting and 1-D promotion.

struct IntMatMul {
  int64_t m = 0, n = 0, k = 0;
  std::vector<int64_t> aOffset, bOffset;  // per output batch, in matrices
};

StatusOr<IntMatMul> intMatMulGeometry(const CpuKernelContext& ctx, const CpuTensor& a, const CpuTensor& b,
                                      const std::vector<int64_t>& outDims) {
  std::vector<int64_t> ad = a.dims, bd = b.dims;
  if (ad.size() == 1) ad.insert(ad.begin(), 1);
  if (bd.size() == 1) bd.push_back(1);
  IntMatMul g;
  g.m = ad[ad.size() - 2], g.k = ad.back(), g.n = bd.back();
  if (bd[bd.size() - 2] != g.k)
    return ctx.error("inner dimensions differ: A %s, B %s", dimsStr(a.dims).c_str(), dimsStr(b.dims).c_str());
  const std::vector<int64_t> ab(ad.begin(), ad.end() - 2), bb(bd.begin(), bd.end() - 2);
  const size_t nb = std::max(ab.size(), bb.size());
  std::vector<int64_t> batch(nb, 1);
  for (size_t i = 0; i < nb; ++i) {
    const int64_t x = i + ab.size() >= nb ? ab[i + ab.size() - nb] : 1;
    const int64_t y = i + bb.size() >= nb ? bb[i + bb.size() - nb] : 1;
    if (x != y && x != 1 && y != 1)
      return ctx.error("batch dims of A %s and B %s do not broadcast", dimsStr(a.dims).c_str(), dimsStr(b.dims).c_str());
    batch[i] = std::max(x, y);
  }
  const int64_t total = product(batch, 0, nb);
  if (total * g.m * g.n != ir::volumeOf(outDims))
    return internalError("%s: output dims %s disagree with the matmul geometry", ctx.node.describe().c_str(),
                         dimsStr(outDims).c_str());
  std::vector<int64_t> idx(nb, 0);
  for (int64_t t = 0; t < total; ++t) {
    int64_t ao = 0, bo = 0;
    for (size_t i = 0; i < nb; ++i) {
      if (i + ab.size() >= nb) {
        const int64_t dimA = ab[i + ab.size() - nb];
        ao = ao * dimA + (dimA == 1 ? 0 : idx[i]);
      }
      if (i + bb.size() >= nb) {
        const int64_t dimB = bb[i + bb.size() - nb];
        bo = bo * dimB + (dimB == 1 ? 0 : idx[i]);
      }
    }
    g.aOffset.push_back(ao);
    g.bOffset.push_back(bo);
    for (size_t i = nb; i-- > 0;) {
      if (++idx[i] < batch[i]) break;
      idx[i] = 0;
    }
  }
  return g;
}

// Zero point per row (A) or per column (B): a scalar or m / n values.
StatusOr<std::vector<int64_t>> zeroPoints(const CpuKernelContext& ctx, size_t i, int64_t count, const char* what) {
  if (!ctx.hasInput(i)) return std::vector<int64_t>(static_cast<size_t>(count), 0);
  const CpuTensor& z = ctx.inputs[i];
  if (z.numel() == 1) return std::vector<int64_t>(static_cast<size_t>(count), z.intAt(0));
  if (z.numel() != count)
    return ctx.error("%s has %lld values; expected 1 or %lld", what, static_cast<long long>(z.numel()),
                     static_cast<long long>(count));
  return tensorToInts(z);
}

// int64 accumulators of the integer product, [batch, m, n] flattened.
std::vector<int64_t> intMatMul(const IntMatMul& g, const std::vector<int64_t>& a, const std::vector<int64_t>& za,
                               const std::vector<int64_t>& b, const std::vector<int64_t>& zb) {
  std::vector<int64_t> c(g.aOffset.size() * static_cast<size_t>(g.m * g.n));
  for (size_t t = 0; t < g.aOffset.size(); ++t) {
    const int64_t* ap = a.data() + g.aOffset[t] * g.m * g.k;
    const int64_t* bp = b.data() + g.bOffset[t] * g.k * g.n;
    int64_t* cp = c.data() + static_cast<int64_t>(t) * g.m * g.n;
    for (int64_t i = 0; i < g.m; ++i)
      for (int64_t j = 0; j < g.n; ++j) {
        int64_t acc = 0;
        for (int64_t kk = 0; kk < g.k; ++kk)
          acc += (ap[i * g.k + kk] - za[static_cast<size_t>(i)]) * (bp[kk * g.n + j] - zb[static_cast<size_t>(j)]);
        cp[i * g.n + j] = acc;
      }
  }
  return c;
}

Status matMulIntegerKernel(CpuKernelContext& ctx) {
  const CpuTensor& a = ctx.inputs[0];
  const CpuTensor& b = ctx.inputs[1];
  CpuTensor& y = ctx.outputs[0];
  KILN_ASSIGN_OR_RETURN(IntMatMul g, intMatMulGeometry(ctx, a, b, y.dims));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> za, zeroPoints(ctx, 2, g.m, "a_zero_point"));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> zb, zeroPoints(ctx, 3, g.n, "b_zero_point"));
  const std::vector<int64_t> c = intMatMul(g, tensorToInts(a), za, tensorToInts(b), zb);
  // int32 results wrap like the int32 accumulators of ONNX's definition.
  for (size_t i = 0; i < c.size(); ++i) y.as<int32_t>()[i] = static_cast<int32_t>(static_cast<uint32_t>(c[i]));
  return Status::ok();
}

// Requantization multiplier a_scale * b_scale / y_scale, rounded after each step to the scales'
// float type (the reference computes it in that type).
double requantMultiplier(DataType t, double as, double bs, double ys) {
  return roundToType(t, roundToType(t, as * bs) / ys);
}

// QLinearMatMul: y = saturate(round_half_even(C * a_scale * b_scale / y_scale) + y_zero_point),
// C the integer product with zero points removed; per-row a_scale / per-column b_scale allowed.
Status qlinearMatMulKernel(CpuKernelContext& ctx) {
  const CpuTensor& a = ctx.inputs[0];
  const CpuTensor& b = ctx.inputs[3];
  CpuTensor& y = ctx.outputs[0];
  KILN_ASSIGN_OR_RETURN(IntMatMul g, intMatMulGeometry(ctx, a, b, y.dims));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> za, zeroPoints(ctx, 2, g.m, "a_zero_point"));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> zb, zeroPoints(ctx, 5, g.n, "b_zero_point"));
  const std::vector<double> as = tensorToDoubles(ctx.inputs[1]), bs = tensorToDoubles(ctx.inputs[4]);
  if ((as.size() != 1 && static_cast<int64_t>(as.size()) != g.m) || (bs.size() != 1 && static_cast<int64_t>(bs.size()) != g.n))
    return ctx.error("a_scale must have 1 or M values and b_scale 1 or N values");
  const double ys = ctx.inputs[6].doubleAt(0);
  const double yz = static_cast<double>(ctx.inputs[7].intAt(0));
  const DataType st = ctx.inputs[1].dtype;
  int64_t lo, hi;
  intRange(y.dtype, &lo, &hi);
  const std::vector<int64_t> c = intMatMul(g, tensorToInts(a), za, tensorToInts(b), zb);
  for (size_t i = 0; i < c.size(); ++i) {
    const int64_t row = static_cast<int64_t>(i) / g.n % g.m, col = static_cast<int64_t>(i) % g.n;
    const double mult = requantMultiplier(st, as[as.size() == 1 ? 0 : static_cast<size_t>(row)],
                                          bs[bs.size() == 1 ? 0 : static_cast<size_t>(col)], ys);
    storeIntAt(y, static_cast<int64_t>(i), roundSaturate(static_cast<double>(c[i]) * mult, yz, lo, hi));
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Integer convolution (direct loops, int64 accumulation):
//   acc[n, m, o] = sum_{c, k} (x[n, g*Cg + c, o*s - pb + k*d] - zx) * (w[m, c, k] - zw[m]) (+ B[m])
// with out-of-range input positions contributing zero (padding with the zero point).

struct IntConv {
  int64_t batch = 0, inC = 0, outC = 0, group = 1;
  std::vector<int64_t> in, out, kernel, strides, dilations, padBegin;
};

StatusOr<IntConv> intConvGeometry(const CpuKernelContext& ctx, const CpuTensor& x, const CpuTensor& w,
                                  const CpuTensor& y) {
  if (x.rank() < 3 || w.rank() != x.rank())
    return ctx.error("x %s and w %s must have the same rank >= 3", dimsStr(x.dims).c_str(), dimsStr(w.dims).c_str());
  IntConv g;
  g.group = ctx.attrs().getInt("group", 1);
  g.batch = x.dims[0], g.inC = x.dims[1], g.outC = w.dims[0];
  if (g.group < 1 || g.outC % g.group != 0 || g.inC != w.dims[1] * g.group)
    return ctx.error("channels mismatch: x %s, w %s, group=%lld", dimsStr(x.dims).c_str(), dimsStr(w.dims).c_str(),
                     static_cast<long long>(g.group));
  const size_t nsp = static_cast<size_t>(x.rank() - 2);
  KILN_ASSIGN_OR_RETURN(ir::WindowParams p,
                        ir::parseWindowParams(ctx.attrs(), nsp, std::vector<int64_t>(w.dims.begin() + 2, w.dims.end()),
                                              false, ctx.node.describe()));
  g.in.assign(x.dims.begin() + 2, x.dims.end());
  g.out.assign(y.dims.begin() + 2, y.dims.end());
  for (size_t i = 0; i < nsp; ++i) {
    const ir::DimExpr o = ir::windowOutputDim(p, i, ir::DimExpr(g.in[i]));
    if (!o.isConst() || o.constValue() != g.out[i])
      return internalError("%s: output dims %s disagree with the convolution geometry", ctx.node.describe().c_str(),
                           dimsStr(y.dims).c_str());
  }
  g.kernel = p.kernel, g.strides = p.strides, g.dilations = p.dilations;
  const std::vector<int64_t> pads = ir::resolveWindowPads(p, g.in);
  g.padBegin.assign(pads.begin(), pads.begin() + static_cast<std::ptrdiff_t>(nsp));
  return g;
}

std::vector<int64_t> intConv(const IntConv& g, const std::vector<int64_t>& x, int64_t zx, const std::vector<int64_t>& w,
                             const std::vector<int64_t>& zw, const std::vector<int64_t>& bias) {
  const size_t nsp = g.in.size();
  const int64_t cg = g.inC / g.group, mg = g.outC / g.group;
  const int64_t inVol = product(g.in, 0, nsp), outVol = product(g.out, 0, nsp), kVol = product(g.kernel, 0, nsp);
  std::vector<int64_t> y(static_cast<size_t>(g.batch * g.outC * outVol));
  std::vector<int64_t> oc(nsp), kc(nsp);
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t m = 0; m < g.outC; ++m) {
      const int64_t gi = m / mg;
      std::fill(oc.begin(), oc.end(), 0);
      for (int64_t o = 0; o < outVol; ++o) {
        int64_t acc = bias.empty() ? 0 : bias[static_cast<size_t>(m)];
        std::fill(kc.begin(), kc.end(), 0);
        for (int64_t kk = 0; kk < kVol; ++kk) {
          int64_t flat = 0;
          bool inside = true;
          for (size_t d = 0; d < nsp && inside; ++d) {
            const int64_t pos = oc[d] * g.strides[d] - g.padBegin[d] + kc[d] * g.dilations[d];
            inside = pos >= 0 && pos < g.in[d];
            flat = flat * g.in[d] + pos;
          }
          if (inside)
            for (int64_t c = 0; c < cg; ++c)
              acc += (x[static_cast<size_t>((n * g.inC + gi * cg + c) * inVol + flat)] - zx) *
                     (w[static_cast<size_t>((m * cg + c) * kVol + kk)] - zw[static_cast<size_t>(m)]);
          for (size_t d = nsp; d-- > 0;) {
            if (++kc[d] < g.kernel[d]) break;
            kc[d] = 0;
          }
        }
        y[static_cast<size_t>((n * g.outC + m) * outVol + o)] = acc;
        for (size_t d = nsp; d-- > 0;) {
          if (++oc[d] < g.out[d]) break;
          oc[d] = 0;
        }
      }
    }
  return y;
}

Status convIntegerKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const CpuTensor& w = ctx.inputs[1];
  CpuTensor& y = ctx.outputs[0];
  KILN_ASSIGN_OR_RETURN(IntConv g, intConvGeometry(ctx, x, w, y));
  if (ctx.hasInput(2) && ctx.inputs[2].numel() != 1) return ctx.error("x_zero_point must be a scalar");
  const int64_t zx = ctx.hasInput(2) ? ctx.inputs[2].intAt(0) : 0;
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> zw, zeroPoints(ctx, 3, g.outC, "w_zero_point"));
  const std::vector<int64_t> acc = intConv(g, tensorToInts(x), zx, tensorToInts(w), zw, {});
  for (size_t i = 0; i < acc.size(); ++i) y.as<int32_t>()[i] = static_cast<int32_t>(static_cast<uint32_t>(acc[i]));
  return Status::ok();
}

// QLinearConv: y = saturate(round_half_even(acc * x_scale * w_scale[m] / y_scale) + y_zero_point).
Status qlinearConvKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const CpuTensor& w = ctx.inputs[3];
  CpuTensor& y = ctx.outputs[0];
  KILN_ASSIGN_OR_RETURN(IntConv g, intConvGeometry(ctx, x, w, y));
  const int64_t zx = ctx.inputs[2].intAt(0);
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> zw, zeroPoints(ctx, 5, g.outC, "w_zero_point"));
  const std::vector<double> ws = tensorToDoubles(ctx.inputs[4]);
  if (ws.size() != 1 && static_cast<int64_t>(ws.size()) != g.outC)
    return ctx.error("w_scale has %zu values; expected 1 or %lld", ws.size(), static_cast<long long>(g.outC));
  std::vector<int64_t> bias;
  if (ctx.hasInput(8)) {
    if (ctx.inputs[8].numel() != g.outC) return ctx.error("bias B must have one value per output channel");
    bias = tensorToInts(ctx.inputs[8]);
  }
  const double xs = ctx.inputs[1].doubleAt(0), ys = ctx.inputs[6].doubleAt(0);
  const double yz = static_cast<double>(ctx.inputs[7].intAt(0));
  const DataType st = ctx.inputs[1].dtype;
  int64_t lo, hi;
  intRange(y.dtype, &lo, &hi);
  const std::vector<int64_t> acc = intConv(g, tensorToInts(x), zx, tensorToInts(w), zw, bias);
  const int64_t outVol = product(g.out, 0, g.out.size());
  for (size_t i = 0; i < acc.size(); ++i) {
    const int64_t m = static_cast<int64_t>(i) / outVol % g.outC;
    const double mult = requantMultiplier(st, xs, ws[ws.size() == 1 ? 0 : static_cast<size_t>(m)], ys);
    storeIntAt(y, static_cast<int64_t>(i), roundSaturate(static_cast<double>(acc[i]) * mult, yz, lo, hi));
  }
  return Status::ok();
}

}  // namespace

void registerTransformerQuantKernels(CpuKernelTable& t) {
  t[static_cast<size_t>(ir::OpKind::kRMSNormalization)] = &rmsNormKernel;
  t[static_cast<size_t>(ir::OpKind::kAttention)] = &attentionKernel;
  t[static_cast<size_t>(ir::OpKind::kRotaryEmbedding)] = &rotaryEmbeddingKernel;
  t[static_cast<size_t>(ir::OpKind::kGridSample)] = &gridSampleKernel;
  t[static_cast<size_t>(ir::OpKind::kQuantizeLinear)] = &quantizeKernel;
  t[static_cast<size_t>(ir::OpKind::kDequantizeLinear)] = &dequantizeKernel;
  t[static_cast<size_t>(ir::OpKind::kDynamicQuantizeLinear)] = &dynamicQuantizeKernel;
  t[static_cast<size_t>(ir::OpKind::kMatMulInteger)] = &matMulIntegerKernel;
  t[static_cast<size_t>(ir::OpKind::kConvInteger)] = &convIntegerKernel;
  t[static_cast<size_t>(ir::OpKind::kQLinearMatMul)] = &qlinearMatMulKernel;
  t[static_cast<size_t>(ir::OpKind::kQLinearConv)] = &qlinearConvKernel;
}

}  // namespace kiln::cpu
