// Shape function of FusedMatMul (see ops.def and docs/optimizer.md).
#include "ir/shape_inference.h"

namespace kiln::ir {

void registerFusedMatMulShapeFns(ShapeFnTable& t) { (void)t; }

}  // namespace kiln::ir
