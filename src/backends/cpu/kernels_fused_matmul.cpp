// CPU reference kernel of FusedMatMul (see ops.def and docs/optimizer.md).
#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu {

void registerFusedMatMulKernels(CpuKernelTable& t) { (void)t; }

}  // namespace kiln::cpu
