// The operand layouts of the internal op FusedAttention (ops.def; created by the
// attention-layout pass, docs/optimizer.md). Shared by the shape function, the CPU kernel and
// the CUDA kernel (host code only).
//
// FusedAttention(Q, K, V, attn_mask?) -> Y computes ONNX Attention (opset 23) on the LOGICAL
// operands Q[b, h, s, d] (and K, V; Y likewise) read through strides from buffers laid out as:
//   "BHSD": 4-D [B, H, S, D]                  sb = H*S*D, sh = S*D, ss = D
//   "BSHD": 3-D [B, S, H*D] or 4-D [B, S, H, D] sb = S*H*D, sh = D,   ss = H*D
//   "SBHD": 3-D [S, B, H*D] or 4-D [S, B, H, D] sb = H*D,   sh = D,   ss = B*H*D
// element (b, h, s, d) at b*sb + h*sh + s*ss + d (D's stride is always 1). The number of heads
// comes from q_num_heads (Q, Y) / kv_num_heads (K, V): a 3-D buffer's last dim is H*D.
// Attributes: q_layout, k_layout, v_layout, y_layout (strings), q_num_heads, kv_num_heads,
// scale (float, required), is_causal (0/1, default 0), y_rank (3 or 4; 4 for BHSD).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::ir {

enum class AttnLayout { kBHSD, kBSHD, kSBHD };

inline std::optional<AttnLayout> parseAttnLayout(std::string_view s) {
  if (s == "BHSD") return AttnLayout::kBHSD;
  if (s == "BSHD") return AttnLayout::kBSHD;
  if (s == "SBHD") return AttnLayout::kSBHD;
  return std::nullopt;
}

inline const char* attnLayoutName(AttnLayout l) {
  switch (l) {
    case AttnLayout::kBHSD: return "BHSD";
    case AttnLayout::kBSHD: return "BSHD";
    case AttnLayout::kSBHD: return "SBHD";
  }
  return "?";
}

// The positions of B and S among a buffer's dims (H and D follow as the last one or two).
inline int attnBatchAxis(AttnLayout l) { return l == AttnLayout::kSBHD ? 1 : 0; }
inline int attnSeqAxis(AttnLayout l) {
  return l == AttnLayout::kBHSD ? 2 : (l == AttnLayout::kBSHD ? 1 : 0);
}

// One operand's logical dims [B, H, S, D] and element strides (D's is 1).
struct AttnOperand {
  int64_t b = 0, h = 0, s = 0, d = 0;
  int64_t sb = 0, sh = 0, ss = 0;
  int64_t offset(int64_t bi, int64_t hi, int64_t si, int64_t di) const {
    return bi * sb + hi * sh + si * ss + di;
  }
};

// The logical operand of a buffer with `dims` in `layout` with `heads` heads, or nullopt with
// *why set when the dims do not fit (rank, heads, H*D not divisible by heads).
inline std::optional<AttnOperand> attnOperand(AttnLayout layout, const std::vector<int64_t>& dims,
                                              int64_t heads, std::string* why) {
  const size_t rank = dims.size();
  auto fail = [&](const std::string& w) -> std::optional<AttnOperand> {
    if (why) *why = w;
    return std::nullopt;
  };
  if (heads <= 0) return fail("the number of heads must be positive");
  if (layout == AttnLayout::kBHSD && rank != 4)
    return fail("a BHSD buffer must be 4-D [B, H, S, D]");
  if (rank != 3 && rank != 4) return fail("a BSHD/SBHD buffer must be 3-D or 4-D");
  AttnOperand o;
  o.b = dims[static_cast<size_t>(attnBatchAxis(layout))];
  o.s = dims[static_cast<size_t>(attnSeqAxis(layout))];
  if (layout == AttnLayout::kBHSD) {
    o.h = dims[1], o.d = dims[3];
  } else if (rank == 4) {
    o.h = dims[2], o.d = dims[3];
  } else {
    if (dims[2] % heads != 0) return fail("the last dim (H*D) is not divisible by the heads");
    o.h = heads, o.d = dims[2] / heads;
  }
  if (o.h != heads) return fail("the heads dim does not match the number of heads");
  switch (layout) {
    case AttnLayout::kBHSD: o.ss = o.d, o.sh = o.s * o.d, o.sb = o.h * o.s * o.d; break;
    case AttnLayout::kBSHD: o.sh = o.d, o.ss = o.h * o.d, o.sb = o.s * o.h * o.d; break;
    case AttnLayout::kSBHD: o.sh = o.d, o.sb = o.h * o.d, o.ss = o.b * o.h * o.d; break;
  }
  return o;
}

// The dims of a buffer holding logical [B, H, S, D] in `layout` with rank `rank` (4 for BHSD).
inline std::vector<int64_t> attnBufferDims(AttnLayout layout, int64_t b, int64_t h, int64_t s,
                                           int64_t d, int rank) {
  switch (layout) {
    case AttnLayout::kBHSD: return {b, h, s, d};
    case AttnLayout::kBSHD:
      return rank == 3 ? std::vector<int64_t>{b, s, h * d} : std::vector<int64_t>{b, s, h, d};
    case AttnLayout::kSBHD:
      return rank == 3 ? std::vector<int64_t>{s, b, h * d} : std::vector<int64_t>{s, b, h, d};
  }
  return {};
}

}  // namespace kiln::ir
