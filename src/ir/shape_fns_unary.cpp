// Shape functions for the Unary family (see ops.def).
#include "ir/shape_inference.h"

namespace kiln::ir {

void registerUnaryShapeFns(ShapeFnTable& t) { (void)t; }

}  // namespace kiln::ir
