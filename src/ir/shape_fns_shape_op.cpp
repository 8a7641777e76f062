// Shape functions for the ShapeOp family (see ops.def).
#include "ir/shape_inference.h"

namespace kiln::ir {

void registerShapeOpShapeFns(ShapeFnTable& t) { (void)t; }

}  // namespace kiln::ir
