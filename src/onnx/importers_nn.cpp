// Importers for the Linear, Pool and Norm families of ops.def.
#include <cstring>
#include <string>
#include <vector>

#include "onnx/model_importer.h"

namespace kiln::onnx_import {

namespace {

using ir::OpKind;

// The number of IR outputs for a node whose trailing outputs are optional: up to the last one
// that is used (a graph output or read by a node), at least 1. Unused optional outputs (Indices,
// Mean, ...) are then not computed.
int usedOutputCount(const ImportContext& ctx) {
  int n = 1;
  for (size_t i = 1; i < ctx.numOutputs(); ++i)
    if (ctx.outputUsed(i)) n = static_cast<int>(i) + 1;
  return n;
}

// MaxPool; the optional second output, Indices (int64, flat indices into X, per storage_order),
// is computed only when used.
Status importMaxPool(ImportContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(0, "X"));
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, ctx.copyAttributes());
  return ctx.addFinal(OpKind::kMaxPool, {x}, std::move(attrs), usedOutputCount(ctx));
}

// BatchNormalization with training_mode=1 (opset 14+): the statistics are the batch's, over
// every axis but the channel axis 1 (the variance is the population variance), and the optional
// outputs 1 and 2 are the updated running statistics:
//   m = ReduceMean(X), v = ReduceMean((X - m)^2)
//   Y = BatchNormalization(X, scale, B, m, v)   (the inference form with the batch statistics)
//   running_mean = input_mean * momentum + m * (1 - momentum), running_var likewise with v.
// This is a pure function of the inputs (no state is updated).
Status importBatchNormTraining(ImportContext& ctx, std::vector<ir::Value*> in) {
  ir::Value* x = in[0];
  const size_t rank = x->shape.size();
  if (rank < 2) return ctx.error("input X must have rank >= 2 ([N, C, ...]), got rank %zu", rank);
  KILN_ASSIGN_OR_RETURN(float momentum, ctx.attrFloat("momentum", 0.9f));
  KILN_ASSIGN_OR_RETURN(float epsilon, ctx.attrFloat("epsilon", 1e-5f));
  std::vector<int64_t> axes{0};
  for (size_t k = 2; k < rank; ++k) axes.push_back(static_cast<int64_t>(k));
  ir::Value* axesV = ctx.constInt64s(axes, "axes");
  ir::Attributes keep, drop;
  keep.setInt("keepdims", 1);
  drop.setInt("keepdims", 0);
  KILN_ASSIGN_OR_RETURN(ir::Value * meanKeep, ctx.addHelper(OpKind::kReduceMean, {x, axesV}, keep,
                                                            "batch_mean_keepdims"));
  KILN_ASSIGN_OR_RETURN(ir::Value * diff,
                        ctx.addHelper(OpKind::kSub, {x, meanKeep}, {}, "centered"));
  KILN_ASSIGN_OR_RETURN(ir::Value * sq, ctx.addHelper(OpKind::kMul, {diff, diff}, {}, "squared"));
  KILN_ASSIGN_OR_RETURN(ir::Value * mean,
                        ctx.addHelper(OpKind::kReduceMean, {x, axesV}, drop, "batch_mean"));
  KILN_ASSIGN_OR_RETURN(ir::Value * var,
                        ctx.addHelper(OpKind::kReduceMean, {sq, axesV}, drop, "batch_var"));
  ir::Attributes bnAttrs;
  bnAttrs.setFloat("epsilon", epsilon);
  const bool runningUsed = ctx.outputUsed(1) || ctx.outputUsed(2);
  if (!runningUsed)
    return ctx.addFinal(OpKind::kBatchNormalization, {x, in[1], in[2], mean, var}, bnAttrs);
  KILN_RETURN_IF_ERROR(ctx.addFinalOutput(0, OpKind::kBatchNormalization,
                                          {x, in[1], in[2], mean, var}, bnAttrs, ""));
  for (size_t i = 1; i <= 2; ++i) {
    if (!ctx.outputUsed(i)) continue;
    ir::Value* running = in[i + 2];
    ir::Value* batch = i == 1 ? mean : var;
    const std::string what = i == 1 ? "running_mean" : "running_var";
    KILN_ASSIGN_OR_RETURN(ir::Value * m,
                          ctx.constScalar(running->dtype, momentum, what + "_momentum"));
    KILN_ASSIGN_OR_RETURN(ir::Value * rest,
                          ctx.constScalar(batch->dtype, 1.0 - static_cast<double>(momentum),
                                          what + "_one_minus_momentum"));
    KILN_ASSIGN_OR_RETURN(ir::Value * a,
                          ctx.addHelper(OpKind::kMul, {running, m}, {}, what + "_old"));
    KILN_ASSIGN_OR_RETURN(ir::Value * b,
                          ctx.addHelper(OpKind::kMul, {batch, rest}, {}, what + "_new"));
    KILN_RETURN_IF_ERROR(ctx.addFinalOutput(i, OpKind::kAdd, {a, b}, {}, what));
  }
  return Status::ok();
}

// BatchNormalization in inference form. Opsets 9-13 list up to four training outputs (running
// and saved statistics); 14+ has training_mode (importBatchNormTraining). In inference form only
// output 0 may be used.
Status importBatchNorm(ImportContext& ctx) {
  KILN_ASSIGN_OR_RETURN(int64_t training, ctx.attrInt("training_mode", 0));
  std::vector<ir::Value*> inputs;
  static const char* kNames[] = {"X", "scale", "B", "input_mean", "input_var"};
  for (size_t i = 0; i < 5; ++i) {
    KILN_ASSIGN_OR_RETURN(ir::Value * v, ctx.requiredInput(i, kNames[i]));
    inputs.push_back(v);
  }
  if (training != 0) {
    KILN_RETURN_IF_ERROR(ctx.requireUnusedOutputs(3, "BatchNormalization has three outputs"));
    return importBatchNormTraining(ctx, std::move(inputs));
  }
  KILN_RETURN_IF_ERROR(ctx.requireUnusedOutputs(
      1, "the running/saved mean and variance outputs exist only in training"));
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs,
                        ctx.copyAttributes({"momentum", "training_mode", "spatial"}));
  return ctx.addFinal(OpKind::kBatchNormalization, std::move(inputs), std::move(attrs));
}

// LayerNormalization (opset 17); the optional Mean and InvStdDev outputs (in the stash type) are
// computed only when used.
Status importLayerNorm(ImportContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, ctx.copyAttributes());
  KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(0, "X"));
  KILN_ASSIGN_OR_RETURN(ir::Value * scale, ctx.requiredInput(1, "Scale"));
  std::vector<ir::Value*> inputs{x, scale};
  if (ir::Value* b = ctx.input(2)) inputs.push_back(b);
  return ctx.addFinal(OpKind::kLayerNormalization, std::move(inputs), std::move(attrs),
                      usedOutputCount(ctx));
}

// GroupNormalization opset 18-20 takes scale and bias per group ([G]); opset 21 (the IR's form)
// per channel ([C]). Channel c belongs to group c / (C/G), so the per-channel vector repeats each
// group's value C/G times: [s0, s1] with C=4 -> [s0, s0, s1, s1].
StatusOr<ir::Value*> perGroupToPerChannel(ImportContext& ctx, ir::Value* v, int64_t groups,
                                          int64_t channels, const std::string& what) {
  const int64_t rep = channels / groups;
  if (v->isConstant()) {
    const ir::TensorData& src = *v->constant;
    if (src.numel() != groups)
      return ctx.error("%s has %lld elements; opset %lld GroupNormalization expects one per group "
                       "(num_groups=%lld)",
                       what.c_str(), static_cast<long long>(src.numel()),
                       static_cast<long long>(ctx.opset()), static_cast<long long>(groups));
    auto out = std::make_shared<ir::TensorData>(src.dtype(), std::vector<int64_t>{channels});
    const size_t es = dataTypeSize(src.dtype());
    const auto* in = static_cast<const uint8_t*>(src.data());
    auto* dst = static_cast<uint8_t*>(out->data());
    for (int64_t c = 0; c < channels; ++c)
      std::memcpy(dst + static_cast<size_t>(c) * es, in + static_cast<size_t>(c / rep) * es, es);
    return ctx.constant(out, what + "_per_channel");
  }
  // Computed in the graph: [G] -> Unsqueeze [G,1] -> Expand [G,C/G] -> Reshape [C].
  ir::Attributes none;
  KILN_ASSIGN_OR_RETURN(ir::Value * u, ctx.addHelper(OpKind::kUnsqueeze,
                                                     {v, ctx.constInt64s({1}, what + "_axes")},
                                                     none, what + "_unsqueeze"));
  KILN_ASSIGN_OR_RETURN(ir::Value * e,
                        ctx.addHelper(OpKind::kExpand, {u, ctx.constInt64s({groups, rep}, what + "_expand_shape")},
                                      none, what + "_expand"));
  return ctx.addHelper(OpKind::kReshape, {e, ctx.constInt64s({channels}, what + "_shape")}, none,
                       what + "_per_channel");
}

Status importGroupNorm(ImportContext& ctx) {
  if (ctx.opset() >= 21) return importDirect(ctx, OpKind::kGroupNormalization);
  KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(0, "X"));
  KILN_ASSIGN_OR_RETURN(ir::Value * scale, ctx.requiredInput(1, "scale"));
  KILN_ASSIGN_OR_RETURN(ir::Value * bias, ctx.requiredInput(2, "bias"));
  if (!ctx.hasAttr("num_groups")) return ctx.error("attribute 'num_groups' is required");
  KILN_ASSIGN_OR_RETURN(int64_t groups, ctx.attrInt("num_groups", 0));
  if (x->shape.size() < 2 || !x->shape[1].isConst())
    return ctx.error("input X has shape %s; opset %lld GroupNormalization needs a static channel "
                     "dimension (dim 1) to expand per-group scale and bias to per-channel",
                     ir::shapeToString(x->shape).c_str(), static_cast<long long>(ctx.opset()));
  int64_t channels = x->shape[1].constValue();
  if (groups <= 0 || channels % groups != 0)
    return ctx.error("num_groups=%lld must be positive and divide the %lld channels",
                     static_cast<long long>(groups), static_cast<long long>(channels));
  KILN_ASSIGN_OR_RETURN(ir::Value * s, perGroupToPerChannel(ctx, scale, groups, channels, "scale"));
  KILN_ASSIGN_OR_RETURN(ir::Value * b, perGroupToPerChannel(ctx, bias, groups, channels, "bias"));
  KILN_ASSIGN_OR_RETURN(ir::Attributes attrs, ctx.copyAttributes());
  return ctx.addFinal(OpKind::kGroupNormalization, {x, s, b}, std::move(attrs));
}

// Softmax/LogSoftmax before opset 13 coerce the input to 2-D at `axis` (default 1): the
// softmax runs over all dims from `axis` on together. In opset-13 terms:
//   y = Reshape(Softmax(Flatten(x, axis), axis=-1), Shape(x))
// Shape(x) keeps dynamic dims working. When axis is the last dim the two forms agree.
Status importSoftmaxLike(ImportContext& ctx, OpKind op) {
  if (ctx.opset() >= 13) return importDirect(ctx, op);
  KILN_ASSIGN_OR_RETURN(ir::Value * x, ctx.requiredInput(0, "input"));
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.attrInt("axis", 1));
  const auto rank = static_cast<int64_t>(x->shape.size());
  if (rank == 0 || axis < -rank || axis >= rank)
    return ctx.error("axis %lld is out of range for input '%s' of rank %lld",
                     static_cast<long long>(axis), x->name.c_str(), static_cast<long long>(rank));
  if (axis < 0) axis += rank;
  ir::Attributes last;
  last.setInt("axis", -1);
  if (axis == rank - 1) return ctx.addFinal(op, {x}, last);
  ir::Attributes flattenAttrs;
  flattenAttrs.setInt("axis", axis);
  KILN_ASSIGN_OR_RETURN(ir::Value * flat, ctx.addHelper(OpKind::kFlatten, {x}, flattenAttrs, "flatten"));
  KILN_ASSIGN_OR_RETURN(ir::Value * sm, ctx.addHelper(op, {flat}, last, op == OpKind::kSoftmax ? "softmax" : "log_softmax"));
  KILN_ASSIGN_OR_RETURN(ir::Value * shape, ctx.addHelper(OpKind::kShape, {x}, {}, "shape"));
  return ctx.addFinal(OpKind::kReshape, {sm, shape}, {});
}

}  // namespace

#define KILN_DIRECT(name) \
  t[#name] = [](ImportContext& c) { return importDirect(c, OpKind::k##name); };

void registerNnImporters(OpImporterTable& t) {
  KILN_DIRECT(MatMul) KILN_DIRECT(Gemm) KILN_DIRECT(Einsum) KILN_DIRECT(Conv)
  KILN_DIRECT(ConvTranspose) KILN_DIRECT(AveragePool) KILN_DIRECT(GlobalAveragePool)
  KILN_DIRECT(GlobalMaxPool) KILN_DIRECT(InstanceNormalization)
  t["MaxPool"] = importMaxPool;
  t["BatchNormalization"] = importBatchNorm;
  t["LayerNormalization"] = importLayerNorm;
  t["GroupNormalization"] = importGroupNorm;
  t["Softmax"] = [](ImportContext& c) { return importSoftmaxLike(c, OpKind::kSoftmax); };
  t["LogSoftmax"] = [](ImportContext& c) { return importSoftmaxLike(c, OpKind::kLogSoftmax); };
}

#undef KILN_DIRECT

}  // namespace kiln::onnx_import
