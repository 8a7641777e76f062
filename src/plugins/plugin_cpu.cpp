#include "plugins/plugin_cpu.h"

#include "ir/tensor_data.h"
#include "plugins/plugin_node.h"

namespace kiln::plugins {

std::vector<PluginTensorDesc> descsOf(std::span<const cpu::CpuTensor> tensors) {
  std::vector<PluginTensorDesc> out;
  out.reserve(tensors.size());
  for (const cpu::CpuTensor& t : tensors) out.push_back({t.dtype, TensorFormat::kLINEAR, t.dims});
  return out;
}

StatusOr<size_t> configureOnCpu(Plugin& plugin, const ir::Node& node,
                                std::span<const PluginTensorDesc> inputs,
                                std::span<const PluginTensorDesc> outputs) {
  KILN_RETURN_IF_ERROR(guardedCall(node, "configurePlugin", [&] {
    return plugin.configurePlugin(inputs, outputs);
  }));
  size_t bytes = 0;
  KILN_RETURN_IF_ERROR(guardedCall(node, "getWorkspaceSize", [&] {
    bytes = plugin.getWorkspaceSize(inputs, outputs);
    return PluginStatus::success();
  }));
  // A corrupt answer (e.g. a negative size cast to size_t) would otherwise abort in malloc.
  constexpr size_t kMaxWorkspace = size_t{1} << 40;
  if (bytes > kMaxWorkspace)
    return pluginError(node, "getWorkspaceSize",
                       strFormat("asks for %zu bytes, more than the 1 TiB limit", bytes));
  return bytes;
}

Status enqueueOnCpu(Plugin& plugin, const ir::Node& node, std::span<const cpu::CpuTensor> inputs,
                    std::span<cpu::CpuTensor> outputs, void* workspace) {
  std::vector<PluginTensorDesc> inDescs = descsOf(inputs);
  std::vector<PluginTensorDesc> outDescs =
      descsOf(std::span<const cpu::CpuTensor>(outputs.data(), outputs.size()));
  std::vector<const void*> in;
  for (const cpu::CpuTensor& t : inputs) in.push_back(t.data);
  std::vector<void*> out;
  for (const cpu::CpuTensor& t : outputs) out.push_back(t.data);
  return guardedCall(node, "enqueue", [&] {
    return plugin.enqueue(inDescs, outDescs, in.data(), out.data(), workspace, nullptr);
  });
}

namespace {

// The table entry used by runCpuNode (constant folding, op tests): a transient clone per call.
// The runtime's executor does not come here; it keeps configured clones per context.
Status pluginKernel(cpu::CpuKernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<const Plugin> proto, queryPluginForNode(ctx.node));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Plugin> plugin, clonePlugin(*proto, ctx.node));
  int64_t tactic = ctx.node.attrs.getInt(kAttrTactic, 0);
  Plugin* p = plugin.get();
  KILN_RETURN_IF_ERROR(guardedCall(ctx.node, "setTactic", [&] {
    return p->setTactic(static_cast<int32_t>(tactic));
  }));
  std::vector<PluginTensorDesc> ins = descsOf(ctx.inputs);
  std::vector<PluginTensorDesc> outs =
      descsOf(std::span<const cpu::CpuTensor>(ctx.outputs.data(), ctx.outputs.size()));
  KILN_ASSIGN_OR_RETURN(size_t bytes, configureOnCpu(*plugin, ctx.node, ins, outs));
  ir::AlignedBuffer workspace(bytes);
  return enqueueOnCpu(*plugin, ctx.node, ctx.inputs, ctx.outputs, bytes ? workspace.data() : nullptr);
}

}  // namespace

}  // namespace kiln::plugins

namespace kiln::cpu {

void registerPluginKernels(CpuKernelTable& t) {
  t[static_cast<size_t>(ir::OpKind::kPlugin)] = plugins::pluginKernel;
}

}  // namespace kiln::cpu
