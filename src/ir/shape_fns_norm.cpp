// Shape functions for the Norm family (see ops.def).
#include "ir/shape_inference.h"

namespace kiln::ir {

void registerNormShapeFns(ShapeFnTable& t) { (void)t; }

}  // namespace kiln::ir
