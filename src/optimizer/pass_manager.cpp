#include "optimizer/pass_manager.h"

#include "common/logging.h"
#include "ir/shape_inference.h"

namespace kiln::opt {

const std::vector<PassInfo>& allPasses() {
  static const std::vector<PassInfo> kPasses = {
      {"constant-folding", &constantFoldingPass, 1,
       "evaluates layers whose inputs are all constants (and shape computations whose values "
       "are known) on the CPU and replaces them by constants"},
      {"identity-elimination", &identityEliminationPass, 1,
       "removes Identity layers, casts to the same type and reshapes to the same shape"},
      {"batchnorm-folding", &batchNormFoldingPass, 2,
       "folds BatchNormalization, and Mul/Add/Sub/Div by per-channel constants, into the "
       "weights and bias of the Conv, ConvTranspose or Gemm before it"},
      {"layernorm-fusion", &layerNormFusionPass, 2,
       "replaces the decomposed LayerNorm (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, "
       "Mul, Add) over the last axis by one LayerNormalization"},
      {"gelu-fusion", &geluFusionPass, 2,
       "replaces the decomposed GELU (Erf form, or Tanh form) by one Gelu"},
      {"attention-fusion", &attentionFusionPass, 2,
       "replaces MatMul(Q, K^T), optional scale and additive mask (or causal Where), Softmax "
       "and MatMul with V by one Attention"},
      {"attention-layout", &attentionLayoutPass, 2,
       "folds the Transpose/Reshape layers that split the heads before a 4-D Attention and merge "
       "them after it into one FusedAttention that reads Q/K/V and writes Y in the BHSD, BSHD or "
       "SBHD layout"},
      {"transpose-reshape-cancellation", &transposeReshapeCancellationPass, 2,
       "composes back-to-back Transposes into one (or an Identity) and collapses back-to-back "
       "Reshapes into one"},
      {"matmul-epilogue-fusion", &matmulEpilogueFusionPass, 2,
       "replaces MatMul/Gemm followed by a bias Add, a residual Add and/or an activation (Relu, "
       "LeakyRelu, Clip, Sigmoid, Tanh, Gelu, HardSwish, Silu) by one FusedMatMul"},
      {"conv-epilogue-fusion", &convEpilogueFusionPass, 2,
       "replaces Conv followed by a residual Add and/or an activation (Relu, LeakyRelu, Clip, "
       "Sigmoid, Tanh, HardSwish, Gelu, SiLU) by one FusedConv; per-channel constant Adds fold "
       "into its bias"},
      {"dead-layer-elimination", &deadLayerEliminationPass, 0,
       "removes layers whose outputs are never used"},
  };
  return kPasses;
}

Status checkPassNames(const std::set<std::string>& names) {
  for (const std::string& name : names) {
    bool known = name == kFp16PassName || name == kChannelsLastPassName;
    for (const PassInfo& p : allPasses()) known = known || name == p.name;
    if (known) continue;
    std::string list;
    for (const PassInfo& p : allPasses()) list += std::string(p.name) + ", ";
    list += kFp16PassName;
    list += std::string(", ") + kChannelsLastPassName;
    return invalidArgument("unknown optimizer pass '%s' (known passes: %s)", name.c_str(),
                           list.c_str());
  }
  return Status::ok();
}

Status runPasses(ir::Graph& g, PassContext& ctx) {
  constexpr int kMaxRounds = 4;
  for (int round = 0; round < kMaxRounds; ++round) {
    bool anyChange = false;
    for (const PassInfo& p : allPasses()) {
      if (ctx.optimizationLevel < p.minLevel || ctx.disabledPasses.count(p.name)) continue;
      StatusOr<bool> changed = p.fn(g, ctx);
      if (!changed.isOk()) return changed.status().withContext(std::string("pass ") + p.name);
      if (!*changed) continue;
      anyChange = true;
      logMessage(ctx.logger, Severity::kVERBOSE, "optimizer",
                 std::string("pass ") + p.name + " changed the graph (" +
                     std::to_string(g.nodes().size()) + " layers left)");
      KILN_RETURN_IF_ERROR(ir::inferGraphInPlace(g));
      if (ctx.verifyEachPass) {
        Status v = ir::verifyGraph(g);
        if (!v.isOk())
          return internalError("graph invalid after pass %s: %s", p.name, v.message().c_str());
      }
    }
    if (!anyChange) break;
  }
  return Status::ok();
}

}  // namespace kiln::opt
