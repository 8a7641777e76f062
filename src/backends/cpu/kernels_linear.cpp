// CPU reference kernels for the Linear family (see ops.def).
#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu {

void registerLinearKernels(CpuKernelTable& t) { (void)t; }

}  // namespace kiln::cpu
