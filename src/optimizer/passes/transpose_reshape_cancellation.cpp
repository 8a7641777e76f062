// Transpose/Reshape cancellation: back-to-back Transposes compose into one, back-to-back
// Reshapes collapse into the outer one.
//
//   before: t = Transpose(x, p1); y = Transpose(t, p2)
//   after:  y = Transpose(x, q), q[i] = p1[p2[i]]     (y = Identity(x) when q is the identity;
//                                                      identity-elimination then removes it)
//
//   before: r = Reshape(x, s1); y = Reshape(r, s2)
//   after:  y = Reshape(x, s2)
//
// Transposes: the outer one reads x directly; the inner one stays only if something else reads
// it. Reshapes: r must have no other use, and s2 must be a constant without 0 entries (0 copies a
// dim of r, which x may not have); otherwise, when y's shape is fully static, s2 becomes that
// shape as a constant. The inner Reshape stays when its target is read from a network input (a
// shape tensor): its values must still be checked at run time.
#include <algorithm>
#include <unordered_set>

#include "common/logging.h"
#include "optimizer/pass_manager.h"
#include "optimizer/passes/pass_util.h"

namespace kiln::opt {

namespace {

using ir::OpKind;
using passutil::UseMap;

bool tryTranspose(ir::Node& outer, PassContext& ctx) {
  if (outer.inputs.size() != 1 || !outer.inputs[0]) return false;
  ir::Node* inner = passutil::producerOf(outer.inputs[0], OpKind::kTranspose);
  if (!inner || inner->inputs.size() != 1 || !inner->inputs[0]) return false;
  const std::vector<int64_t> p1 = passutil::transposePerm(*inner),
                             p2 = passutil::transposePerm(outer);
  if (p1.empty() || p1.size() != p2.size()) return false;
  std::vector<int64_t> q(p2.size());
  bool identity = true;
  for (size_t i = 0; i < q.size(); ++i) {
    q[i] = p1[static_cast<size_t>(p2[i])];
    identity = identity && q[i] == static_cast<int64_t>(i);
  }
  const std::string before = inner->describe() + " + " + outer.describe();
  outer.inputs[0] = inner->inputs[0];
  if (identity) {
    outer.op = OpKind::kIdentity;
    outer.attrs = ir::Attributes{};
  } else {
    outer.attrs.setInts("perm", q);
  }
  logMessage(ctx.logger, Severity::kVERBOSE, "optimizer",
             "composed " + before + (identity ? " into an Identity" : " into one Transpose"));
  return true;
}

// True when `v` is, or is computed from, a shape tensor network input (or the search gives up):
// a Reshape whose target comes from one must stay, so that the user's values are still checked.
bool fromShapeTensorInput(const ir::Value* v) {
  std::vector<const ir::Value*> stack = {v};
  std::unordered_set<const ir::Value*> seen;
  while (!stack.empty()) {
    const ir::Value* cur = stack.back();
    stack.pop_back();
    if (!cur || !seen.insert(cur).second) continue;
    if (cur->isShapeTensor || seen.size() > 256) return true;
    // Shape and Size read only their input's dims.
    if (cur->producer && cur->producer->op != OpKind::kShape && cur->producer->op != OpKind::kSize)
      for (const ir::Value* in : cur->producer->inputs) stack.push_back(in);
  }
  return false;
}

bool tryReshape(ir::Graph& g, const UseMap& uses, ir::Node& outer, PassContext& ctx) {
  if (outer.inputs.size() != 2 || !outer.inputs[0] || !outer.inputs[1]) return false;
  ir::Node* inner = passutil::producerOf(outer.inputs[0], OpKind::kReshape);
  if (!inner || inner->inputs.size() != 2 || !inner->inputs[0] || !uses.soleUse(outer.inputs[0]))
    return false;
  if (fromShapeTensorInput(inner->inputs[1])) return false;
  ir::Value* target = outer.inputs[1];
  bool keepTarget = false;
  if (target->isConstant()) {
    const std::vector<int64_t> s = target->constant->toInt64Vector();
    keepTarget = std::find(s.begin(), s.end(), 0) == s.end();
  }
  const ir::Shape& outShape = outer.outputs[0]->shape;
  if (!keepTarget && !ir::isStatic(outShape)) return false;
  const std::string before = inner->describe() + " + " + outer.describe();
  outer.inputs[0] = inner->inputs[0];
  if (!keepTarget) {
    const std::vector<int64_t> dims = ir::staticDims(outShape);
    outer.inputs[1] =
        g.addConstant(g.uniqueName(outer.name + ".shape"), ir::TensorData::vectorInt64(dims));
    // A 0 in a static shape is a real 0 (an empty tensor), not "copy the input's dim".
    if (std::find(dims.begin(), dims.end(), 0) != dims.end()) outer.attrs.setInt("allowzero", 1);
  }
  logMessage(ctx.logger, Severity::kVERBOSE, "optimizer",
             "collapsed " + before + " into one Reshape");
  return true;
}

}  // namespace

StatusOr<bool> transposeReshapeCancellationPass(ir::Graph& g, PassContext& ctx) {
  return passutil::rewriteNodes(
      g, [](const ir::Node& n) { return n.op == OpKind::kTranspose || n.op == OpKind::kReshape; },
      [&](ir::Node& n, const UseMap& uses) {
        return n.op == OpKind::kTranspose ? tryTranspose(n, ctx) : tryReshape(g, uses, n, ctx);
      });
}

}  // namespace kiln::opt
