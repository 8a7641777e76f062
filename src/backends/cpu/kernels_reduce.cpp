// CPU reference kernels for the Reduce family (see ops.def).
#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu {

void registerReduceKernels(CpuKernelTable& t) { (void)t; }

}  // namespace kiln::cpu
