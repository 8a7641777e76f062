// Shape function of FusedConv (see ops.def and docs/optimizer.md).
#include "ir/shape_inference.h"

namespace kiln::ir {

void registerFusedConvShapeFns(ShapeFnTable& t) { (void)t; }

}  // namespace kiln::ir
