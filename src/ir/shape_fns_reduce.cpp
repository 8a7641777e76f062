// Shape functions for the Reduce family (see ops.def).
#include "ir/shape_inference.h"

namespace kiln::ir {

void registerReduceShapeFns(ShapeFnTable& t) { (void)t; }

}  // namespace kiln::ir
