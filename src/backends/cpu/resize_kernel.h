// Resize's CPU kernel (kernels_resize.cpp), registered with the ShapeOp family.
#pragma once

#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu {

Status resizeKernel(CpuKernelContext& ctx);

}  // namespace kiln::cpu
