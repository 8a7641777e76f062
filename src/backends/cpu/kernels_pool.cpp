// CPU reference kernels for the Pool family (see ops.def).
#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu {

void registerPoolKernels(CpuKernelTable& t) { (void)t; }

}  // namespace kiln::cpu
