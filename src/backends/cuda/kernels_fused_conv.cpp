// CUDA kernel of FusedConv (see ops.def and docs/optimizer.md).
#include "backends/cuda/cuda_kernel.h"

namespace kiln::cuda {

void registerFusedConvKernels(CudaKernelTable& t) { (void)t; }

}  // namespace kiln::cuda
