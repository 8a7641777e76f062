// Dead-layer elimination: removes layers whose outputs reach no network output, and constants
// nothing reads.
//
//   before: a = Relu(x); b = Sigmoid(x); output a
//   after:  a = Relu(x); output a
#include "optimizer/pass_manager.h"

namespace kiln::opt {

StatusOr<bool> deadLayerEliminationPass(ir::Graph& g, PassContext& ctx) {
  (void)ctx;
  return g.removeDeadNodes() > 0;
}

}  // namespace kiln::opt
