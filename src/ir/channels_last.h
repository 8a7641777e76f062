// Channels-last (NHWC) layers: the attribute `channels_last = 1` that the channels-last pass
// (src/optimizer/passes/channels_last.cpp, docs/optimizer.md) sets on 2-D Conv, FusedConv,
// MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool layers.
//
// On such a layer every 4-D input and output is stored channels-last and its IR shape says so:
// X [N, H, W, C], Y [N, OH, OW, M], FusedConv's residual Z [N, OH, OW, M], and the weight of a
// Conv/FusedConv [M, kh, kw, C/group] (KRSC); 1-D inputs (the bias) are unchanged. Every 4-D
// tensor goes from the NCHW form to the NHWC form by the permutation [0, 2, 3, 1] and back by
// [0, 3, 1, 2].
//
// Shape functions and CPU kernels of these ops are wrapped once, centrally (the tables call
// wrapChannelsLast*): a channels-last node is handled by permuting its 4-D inputs to NCHW,
// running the op's own NCHW function on a copy of the node without the attribute, and permuting
// the 4-D outputs back. The CPU results are therefore exactly the NCHW ones, transposed.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/graph.h"
#include "ir/shape_inference.h"

namespace kiln::ir {

inline constexpr const char* kChannelsLastAttr = "channels_last";

// NCHW -> NHWC ([0, 2, 3, 1]) and NHWC -> NCHW ([0, 3, 1, 2]) as Transpose perms.
inline const std::vector<int64_t>& toChannelsLastPerm() {
  static const std::vector<int64_t> kPerm{0, 2, 3, 1};
  return kPerm;
}
inline const std::vector<int64_t>& toChannelsFirstPerm() {
  static const std::vector<int64_t> kPerm{0, 3, 1, 2};
  return kPerm;
}

// The ops that accept channels_last.
bool supportsChannelsLast(OpKind op);
// The node carries channels_last = 1 (any other value but 0 is an error its shape function
// reports).
bool isChannelsLast(const Node& n);

// out[i] = in[perm[i]] for a rank-4 shape or dims vector.
template <typename D>
std::vector<D> permuteDims(const std::vector<D>& in, const std::vector<int64_t>& perm) {
  std::vector<D> out;
  out.reserve(perm.size());
  for (int64_t p : perm) out.push_back(in[static_cast<size_t>(p)]);
  return out;
}

// Replaces the shape functions of the channels-last ops by a wrapper that handles the attribute
// and otherwise calls the op's own function (called once by shapeFunctions()).
void wrapChannelsLastShapeFns(ShapeFnTable& t);

}  // namespace kiln::ir
