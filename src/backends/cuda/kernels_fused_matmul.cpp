// CUDA kernel of FusedMatMul (see ops.def and docs/optimizer.md).
#include "backends/cuda/cuda_kernel.h"

namespace kiln::cuda {

void registerFusedMatMulKernels(CudaKernelTable& t) { (void)t; }

}  // namespace kiln::cuda
