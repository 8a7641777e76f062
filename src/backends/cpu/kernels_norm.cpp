// CPU reference kernels for the Norm family (see ops.def).
#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu {

void registerNormKernels(CpuKernelTable& t) { (void)t; }

}  // namespace kiln::cpu
