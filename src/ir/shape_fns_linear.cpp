// Shape functions for the Linear family (see ops.def).
#include "ir/shape_inference.h"

namespace kiln::ir {

void registerLinearShapeFns(ShapeFnTable& t) { (void)t; }

}  // namespace kiln::ir
