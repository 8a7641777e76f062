// Shape functions for the Binary family (see ops.def).
#include "ir/shape_inference.h"

namespace kiln::ir {

void registerBinaryShapeFns(ShapeFnTable& t) { (void)t; }

}  // namespace kiln::ir
