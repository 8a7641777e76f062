// CPU reference of channels-last layers (ir/channels_last.h): the 4-D inputs are transposed to
// NCHW, the op's own NCHW kernel runs on a copy of the node without the attribute, and the 4-D
// output is transposed back. Transposes are exact, so the result is exactly the NCHW one.
#include <array>
#include <cstring>
#include <vector>

#include "backends/cpu/cpu_kernel.h"
#include "ir/channels_last.h"

namespace kiln::cpu {

namespace {

std::array<CpuKernelFn, ir::kNumOps>& nchwKernels() {
  static std::array<CpuKernelFn, ir::kNumOps> fns{};
  return fns;
}

// dst = src transposed by perm (rank 4): dst dims[i] = src dims[perm[i]].
void transpose4(const void* src, const std::vector<int64_t>& srcDims, void* dst,
                const std::vector<int64_t>& perm, size_t elem) {
  const std::vector<int64_t> dstDims = ir::permuteDims(srcDims, perm);
  std::array<int64_t, 4> srcStride{};
  srcStride[3] = 1;
  for (int i = 2; i >= 0; --i)
    srcStride[i] = srcStride[i + 1] * srcDims[static_cast<size_t>(i + 1)];
  std::array<int64_t, 4> step{};  // source stride of each destination axis
  for (size_t i = 0; i < 4; ++i) step[i] = srcStride[static_cast<size_t>(perm[i])];
  const auto* s = static_cast<const unsigned char*>(src);
  auto* d = static_cast<unsigned char*>(dst);
  int64_t o = 0;
  for (int64_t a = 0; a < dstDims[0]; ++a)
    for (int64_t b = 0; b < dstDims[1]; ++b)
      for (int64_t c = 0; c < dstDims[2]; ++c)
        for (int64_t e = 0; e < dstDims[3]; ++e, ++o) {
          const int64_t from = a * step[0] + b * step[1] + c * step[2] + e * step[3];
          std::memcpy(d + static_cast<size_t>(o) * elem, s + static_cast<size_t>(from) * elem,
                      elem);
        }
}

// The table slot decides the wrapped kernel, not the node's op: FusedConv's kernel calls Conv's
// slot with its own node.
Status channelsLastKernel(CpuKernelContext& ctx, ir::OpKind slot) {
  const CpuKernelFn fn = nchwKernels()[static_cast<size_t>(slot)];
  if (!fn)
    return unsupported("%s: the CPU backend has no kernel for op %s", ctx.node.describe().c_str(),
                       ir::opName(ctx.node.op));
  if (!ir::isChannelsLast(ctx.node)) return fn(ctx);
  if (ctx.inputs.empty() || !ctx.hasInput(0) || ctx.inputs[0].rank() != 4 ||
      ctx.outputs.size() != 1 || ctx.outputs[0].rank() != 4)
    return ctx.error("channels_last needs a 4-D input X and one 4-D output");
  ir::Node nchw = ctx.node;
  nchw.attrs.erase(ir::kChannelsLastAttr);
  std::vector<std::vector<unsigned char>> buffers;
  buffers.reserve(ctx.inputs.size() + 1);
  std::vector<CpuTensor> ins(ctx.inputs.begin(), ctx.inputs.end());
  for (CpuTensor& t : ins) {
    if (!t.present() || t.rank() != 4) continue;
    const size_t elem = dataTypeSize(t.dtype);
    buffers.emplace_back(static_cast<size_t>(t.numel()) * elem);
    transpose4(t.data, t.dims, buffers.back().data(), ir::toChannelsFirstPerm(), elem);
    t.dims = ir::permuteDims(t.dims, ir::toChannelsFirstPerm());
    t.data = buffers.back().data();
  }
  CpuTensor& y = ctx.outputs[0];
  const size_t elem = dataTypeSize(y.dtype);
  buffers.emplace_back(static_cast<size_t>(y.numel()) * elem);
  std::vector<CpuTensor> outs{y};
  outs[0].dims = ir::permuteDims(y.dims, ir::toChannelsFirstPerm());
  outs[0].data = buffers.back().data();
  CpuKernelContext sub{nchw, ins, outs};
  KILN_RETURN_IF_ERROR(fn(sub));
  transpose4(outs[0].data, outs[0].dims, y.data, ir::toChannelsLastPerm(), elem);
  return Status::ok();
}

template <ir::OpKind K>
Status kernelSlot(CpuKernelContext& ctx) {
  return channelsLastKernel(ctx, K);
}

CpuKernelFn wrapperFor(ir::OpKind op) {
  switch (op) {
    case ir::OpKind::kConv: return &kernelSlot<ir::OpKind::kConv>;
    case ir::OpKind::kFusedConv: return &kernelSlot<ir::OpKind::kFusedConv>;
    case ir::OpKind::kMaxPool: return &kernelSlot<ir::OpKind::kMaxPool>;
    case ir::OpKind::kAveragePool: return &kernelSlot<ir::OpKind::kAveragePool>;
    case ir::OpKind::kGlobalAveragePool: return &kernelSlot<ir::OpKind::kGlobalAveragePool>;
    case ir::OpKind::kGlobalMaxPool: return &kernelSlot<ir::OpKind::kGlobalMaxPool>;
    default: return nullptr;
  }
}

}  // namespace

void wrapChannelsLastKernels(CpuKernelTable& t) {
  for (size_t i = 0; i < t.size(); ++i) {
    if (!ir::supportsChannelsLast(static_cast<ir::OpKind>(i)) || !t[i]) continue;
    nchwKernels()[i] = t[i];
    t[i] = wrapperFor(static_cast<ir::OpKind>(i));
  }
}

}  // namespace kiln::cpu
