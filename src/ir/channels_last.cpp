// Channels-last layers: the central shape-function wrapper (see channels_last.h).
#include "ir/channels_last.h"

#include <array>

namespace kiln::ir {

namespace {

// The ops' own (NCHW) shape functions, saved by wrapChannelsLastShapeFns.
std::array<ShapeFn, kNumOps>& nchwShapeFns() {
  static std::array<ShapeFn, kNumOps> fns{};
  return fns;
}

// The table slot decides the wrapped function, not the node's op: FusedConv's shape function
// calls Conv's slot with its own node.
Status inferMaybeChannelsLast(InferContext& ctx, OpKind slot) {
  const Node& node = ctx.node();
  const ShapeFn fn = nchwShapeFns()[static_cast<size_t>(slot)];
  if (!fn) return ctx.unsupportedError("no shape function for op %s", opName(node.op));
  if (!node.attrs.has(kChannelsLastAttr)) return fn(ctx);
  const int64_t flag = node.attrs.getInt(kChannelsLastAttr, -1);
  if (flag != 0 && flag != 1) return ctx.error("%s must be an int 0 or 1", kChannelsLastAttr);
  if (flag == 0) return fn(ctx);
  if (ctx.numInputs() < 1 || !ctx.hasInput(0) || ctx.inRank(0) != 4)
    return ctx.error(
        "channels_last needs a 4-D input X [N, H, W, C], got %s",
        ctx.numInputs() > 0 && ctx.hasInput(0) ? shapeToString(ctx.inShape(0)).c_str() : "none");
  if (ctx.numOutputs() != 1)
    return ctx.error("channels_last layers have exactly one output, got %zu", ctx.numOutputs());

  // The NCHW problem on a scratch copy of the node (same op and name, so messages name it).
  const size_t nin = ctx.numInputs();
  std::vector<Value> scratch(nin + 1);
  ShapeTable table(nin + 1);
  Node nchw;
  nchw.op = node.op;  // the node's own op: its messages name it
  nchw.name = node.name;
  nchw.attrs = node.attrs;
  nchw.attrs.erase(kChannelsLastAttr);
  for (size_t i = 0; i < nin; ++i) {
    if (!ctx.hasInput(i)) {
      nchw.inputs.push_back(nullptr);
      continue;
    }
    scratch[i].id = static_cast<int>(i);
    ValueInfo& info = table[static_cast<int>(i)];
    info.known = true;
    info.dtype = ctx.inType(i);
    if (ctx.inRank(i) == 4) {
      // Permuted: the constant data (in NHWC order) does not describe the NCHW view.
      info.shape = permuteDims(ctx.inShape(i), toChannelsFirstPerm());
    } else {
      info.shape = ctx.inShape(i);
      info.constant = ctx.inConstant(i);
      if (const std::vector<DimExpr>* v = ctx.inValue(i)) info.value = *v;
    }
    nchw.inputs.push_back(&scratch[i]);
  }
  scratch[nin].id = static_cast<int>(nin);
  nchw.outputs.push_back(&scratch[nin]);
  InferContext sub(nchw, table);
  KILN_RETURN_IF_ERROR(fn(sub));
  if (sub.deferredReads() != 0) ctx.noteValueInputs(sub.deferredReads());
  const ValueInfo& y = table[static_cast<int>(nin)];
  if (!y.known)
    return internalError("%s: the NCHW shape function set no output", node.describe().c_str());
  if (y.shape.size() != 4)
    return internalError("%s: channels_last output of rank %zu", node.describe().c_str(),
                         y.shape.size());
  ctx.setOutput(0, y.dtype, permuteDims(y.shape, toChannelsLastPerm()));
  return Status::ok();
}

template <OpKind K>
Status inferSlot(InferContext& ctx) {
  return inferMaybeChannelsLast(ctx, K);
}

ShapeFn wrapperFor(OpKind op) {
  switch (op) {
    case OpKind::kConv: return &inferSlot<OpKind::kConv>;
    case OpKind::kFusedConv: return &inferSlot<OpKind::kFusedConv>;
    case OpKind::kMaxPool: return &inferSlot<OpKind::kMaxPool>;
    case OpKind::kAveragePool: return &inferSlot<OpKind::kAveragePool>;
    case OpKind::kGlobalAveragePool: return &inferSlot<OpKind::kGlobalAveragePool>;
    case OpKind::kGlobalMaxPool: return &inferSlot<OpKind::kGlobalMaxPool>;
    default: return nullptr;
  }
}

}  // namespace

bool supportsChannelsLast(OpKind op) {
  switch (op) {
    case OpKind::kConv:
    case OpKind::kFusedConv:
    case OpKind::kMaxPool:
    case OpKind::kAveragePool:
    case OpKind::kGlobalAveragePool:
    case OpKind::kGlobalMaxPool: return true;
    default: return false;
  }
}

bool isChannelsLast(const Node& n) {
  return supportsChannelsLast(n.op) && n.attrs.getInt(kChannelsLastAttr, 0) == 1;
}

void wrapChannelsLastShapeFns(ShapeFnTable& t) {
  for (size_t i = 0; i < t.size(); ++i) {
    if (!supportsChannelsLast(static_cast<OpKind>(i)) || !t[i]) continue;
    nchwShapeFns()[i] = t[i];
    t[i] = wrapperFor(static_cast<OpKind>(i));
  }
}

}  // namespace kiln::ir
