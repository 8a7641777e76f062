// CPU reference kernels for the Unary family (see ops.def).
#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu {

void registerUnaryKernels(CpuKernelTable& t) { (void)t; }

}  // namespace kiln::cpu
