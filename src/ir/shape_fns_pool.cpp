// Shape functions for the Pool family (see ops.def).
#include "ir/shape_inference.h"

namespace kiln::ir {

void registerPoolShapeFns(ShapeFnTable& t) { (void)t; }

}  // namespace kiln::ir
