// CPU reference kernels for the Binary family (see ops.def).
#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu {

void registerBinaryKernels(CpuKernelTable& t) { (void)t; }

}  // namespace kiln::cpu
