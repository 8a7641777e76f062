// Identity elimination.
//
//   before: y = Identity(x); z = Relu(y)      (also Cast to x's own type, Reshape to x's shape)
//   after:  z = Relu(x)
//
// When y is a network output, x takes y's name (the user binds outputs by name) unless x is
// itself a network input, constant or output, in which case the layer stays.
#include "common/logging.h"
#include "optimizer/pass_manager.h"

namespace kiln::opt {

namespace {

bool isNoOp(const ir::Node* n) {
  if (n->inputs.empty() || !n->inputs[0] || n->outputs.size() != 1) return false;
  const ir::Value* in = n->inputs[0];
  const ir::Value* out = n->outputs[0];
  if (in->dtype != out->dtype || !ir::shapesEqual(in->shape, out->shape)) return false;
  switch (n->op) {
    case ir::OpKind::kIdentity:
    case ir::OpKind::kCast:
    case ir::OpKind::kReshape:
    case ir::OpKind::kFlatten:
    case ir::OpKind::kSqueeze:
    case ir::OpKind::kUnsqueeze:
    case ir::OpKind::kExpand:
      return true;
    default:
      return false;
  }
}

}  // namespace

StatusOr<bool> identityEliminationPass(ir::Graph& g, PassContext& ctx) {
  bool changed = false;
  for (ir::Node* n : g.nodes()) {
    if (!isNoOp(n)) continue;
    ir::Value* in = n->inputs[0];
    ir::Value* out = n->outputs[0];
    if (out->isGraphOutput) {
      if (in->isGraphInput || in->isConstant() || in->isGraphOutput) continue;
      std::string name = out->name;
      g.replaceAllUses(out, in);
      out->name = g.uniqueName(name + "__dead");
      in->name = name;
    } else {
      g.replaceAllUses(out, in);
    }
    logMessage(ctx.logger, Severity::kVERBOSE, "optimizer", "removed no-op " + n->describe());
    g.removeNode(n);
    changed = true;
  }
  return changed;
}

}  // namespace kiln::opt
