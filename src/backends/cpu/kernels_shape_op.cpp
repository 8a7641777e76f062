// CPU reference kernels for the ShapeOp family (see ops.def).
#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu {

void registerShapeOpKernels(CpuKernelTable& t) { (void)t; }

}  // namespace kiln::cpu
