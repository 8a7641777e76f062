// CUDA kernel of FusedConv (see ops.def and docs/optimizer.md): Y = act(Conv(X, W) + B + Z).
//
// The convolution is the Conv kernel itself (kernels_linear.cpp: cuDNN's graph API, or Kiln's
// direct kernel where cuDNN has no plan), run on a copy of the node reduced to (X, W); then ONE
// epilogue kernel (kernels_fused_epilogue.cu) adds B per channel and the residual Z and applies
// the activation in place, in float (double for float64). Channels-last layers
// (ir/channels_last.h) run the NHWC convolution and the same epilogue with the channel as the
// last dim (outer = N*OH*OW, inner = 1).
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/fused_epilogue.h"
#include "ir/channels_last.h"
#include "ir/fused_activation.h"
#include "ir/tensor_data.h"

namespace kiln::cuda {

namespace {

class FusedConvKernel final : public CudaKernel {
 public:
  Status prepare(const PrepareContext& ctx) override {
    if (ctx.inputs.size() < 2 || ctx.outputs.size() != 1)
      return ctx.error("expects 2 to 4 inputs and 1 output, got %zu and %zu", ctx.inputs.size(),
                       ctx.outputs.size());
    StatusOr<ir::FusedActivationParams> act = ir::parseFusedActivation(ctx.attrs());
    if (!act.isOk()) return ctx.error("%s", act.status().message().c_str());
    mAct = *act;
    const CudaTensor& x = ctx.inputs[0];
    const CudaTensor& y = ctx.outputs[0];
    mType = x.dtype;
    for (size_t i = 1; i < ctx.inputs.size(); ++i) {
      if (ctx.hasInput(i) && ctx.inputs[i].dtype != mType)
        return ctx.error("input %zu has data type %s, expected %s like X", i,
                         dataTypeName(ctx.inputs[i].dtype), dataTypeName(mType));
    }
    if (y.dtype != mType || y.rank() < 3)
      return ctx.error("output %s of type %s does not match X of type %s",
                       ir::dimsToString(y.dims).c_str(), dataTypeName(y.dtype),
                       dataTypeName(mType));
    mHasBias = ctx.hasInput(2);
    mHasZ = ctx.hasInput(3);
    if (ir::isChannelsLast(ctx.node)) {
      // Y [N, OH, OW, M] (ir/channels_last.h): the channel is the last dim.
      if (y.rank() != 4) return ctx.error("channels_last needs a 4-D output");
      mOuter = y.dims[0] * y.dims[1] * y.dims[2];
      mChannels = y.dims[3];
      mInner = 1;
    } else {
      mOuter = y.dims[0];
      mChannels = y.dims[1];
      mInner = 1;
      for (size_t i = 2; i < y.dims.size(); ++i) mInner *= y.dims[i];
    }
    if (mHasBias && ctx.inputs[2].numel() != mChannels)
      return ctx.error("bias has %lld values, expected %lld",
                       static_cast<long long>(ctx.inputs[2].numel()),
                       static_cast<long long>(mChannels));
    if (mHasZ && ctx.inputs[3].dims != y.dims)
      return ctx.error("residual Z %s must have exactly the output's shape %s",
                       ir::dimsToString(ctx.inputs[3].dims).c_str(),
                       ir::dimsToString(y.dims).c_str());

    // The convolution alone: the node with its inputs reduced to X and W (messages still name
    // this FusedConv; B and Z go to the epilogue).
    if (!mConvNode) {
      mConvNode = std::make_unique<ir::Node>(ctx.node);
      mConvNode->inputs.resize(2);
    }
    if (!mConv) {
      const CudaKernelFactory make = cudaKernels()[static_cast<size_t>(ir::OpKind::kConv)];
      if (!make) return ctx.unsupportedHere("FusedConv without a Conv kernel");
      KILN_ASSIGN_OR_RETURN(mConv, make(*mConvNode));
    }
    // The copied node keeps the plan's "tactic" attribute; tuning prepares every alternative.
    const PrepareContext convCtx{*mConvNode, ctx.table,     ctx.inputs.first(2), ctx.outputs,
                                 ctx.libs,   ctx.allowTF32, ctx.tuning};
    return mConv->prepare(convCtx);
  }

  size_t workspaceSize() const override { return mConv ? mConv->workspaceSize() : 0; }
  // The convolution's tactics are this layer's (the epilogue has one implementation).
  int tacticCount() const override { return mConv ? mConv->tacticCount() : 1; }
  std::string tacticId(int i) const override { return mConv ? mConv->tacticId(i) : ""; }
  Status selectTactic(int i) override {
    return mConv ? mConv->selectTactic(i) : CudaKernel::selectTactic(i);
  }
  std::string timingKey() const override { return mConv ? mConv->timingKey() : ""; }

  Status enqueue(const LaunchContext& ctx) override {
    if (!mConv || !mConvNode) return internalError("FusedConv: enqueue before prepare");
    CudaTensor& y = ctx.outputs[0];
    if (y.numel() == 0) return Status::ok();
    const LaunchContext convCtx{*mConvNode,    ctx.inputs.first(2), ctx.outputs, ctx.stream,
                                ctx.workspace, ctx.workspaceBytes,  ctx.libs};
    KILN_RETURN_IF_ERROR(mConv->enqueue(convCtx));
    const void* bias = mHasBias ? ctx.inputs[2].data : nullptr;
    const void* z = mHasZ ? ctx.inputs[3].data : nullptr;
    return launchConvEpilogue(mType, y.data, bias, z, mOuter, mChannels, mInner, mAct, ctx.stream,
                              ctx.libs.props());
  }

  std::string tactic() const override {
    std::string act = ir::fusedActivationName(mAct.kind);
    std::string t = (mConv ? mConv->tactic() : std::string("?")) + " + kiln epilogue(" +
                    (act.empty() ? "no activation" : act);
    if (mHasBias) t += ", bias";
    if (mHasZ) t += ", residual";
    return t + ")";
  }

 private:
  std::unique_ptr<ir::Node> mConvNode;
  std::unique_ptr<CudaKernel> mConv;
  ir::FusedActivationParams mAct;
  DataType mType = DataType::kFLOAT;
  bool mHasBias = false, mHasZ = false;
  int64_t mOuter = 0, mChannels = 0, mInner = 0;
};

StatusOr<std::unique_ptr<CudaKernel>> makeFusedConv(const ir::Node&) {
  return std::unique_ptr<CudaKernel>(new FusedConvKernel());
}

}  // namespace

void registerFusedConvKernels(CudaKernelTable& t) {
  t[static_cast<size_t>(ir::OpKind::kFusedConv)] = &makeFusedConv;
}

}  // namespace kiln::cuda
