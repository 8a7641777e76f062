// Running plugins on the CPU backend: CpuTensor <-> PluginTensorDesc, configure, enqueue.
#pragma once

#include <span>
#include <vector>

#include "backends/cpu/cpu_kernel.h"
#include "kiln/plugin.h"

namespace kiln::plugins {

std::vector<PluginTensorDesc> descsOf(std::span<const cpu::CpuTensor> tensors);

// configurePlugin with concrete descs; returns getWorkspaceSize() for them.
StatusOr<size_t> configureOnCpu(Plugin& plugin, const ir::Node& node,
                                std::span<const PluginTensorDesc> inputs,
                                std::span<const PluginTensorDesc> outputs);
// enqueue with host pointers and a null stream. `workspace` holds the configured size.
Status enqueueOnCpu(Plugin& plugin, const ir::Node& node, std::span<const cpu::CpuTensor> inputs,
                    std::span<cpu::CpuTensor> outputs, void* workspace);

}  // namespace kiln::plugins
