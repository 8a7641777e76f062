// Constant folding.
//
//   before: c1 = Constant, c2 = Constant, y = Add(c1, c2), z = Relu(y)
//   after:  z = Relu(y') where y' is a constant holding c1 + c2
//
// A layer is folded when every present input is a constant, or when all its outputs have
// known, fully constant element values from shape inference (Shape of a static tensor, Gather
// of it, ...). Evaluation uses the CPU reference kernels, so folding is exact. Outputs bigger
// than PassContext::maxFoldedBytes are left alone (folding would only grow the plan).
#include "backends/cpu/cpu_kernel.h"
#include "common/logging.h"
#include "ir/shape_inference.h"
#include "optimizer/pass_manager.h"

namespace kiln::opt {

namespace {

bool valuesKnown(const ir::Value* v) {
  if (!v->shapeValue || !ir::isStatic(v->shape)) return false;
  for (const auto& d : *v->shapeValue)
    if (!d.isConst()) return false;
  return static_cast<int64_t>(v->shapeValue->size()) == ir::volumeOf(ir::staticDims(v->shape));
}

ir::TensorDataPtr constantFromValues(const ir::Value* v) {
  auto t = std::make_shared<ir::TensorData>(v->dtype, ir::staticDims(v->shape));
  for (size_t i = 0; i < v->shapeValue->size(); ++i) {
    int64_t x = (*v->shapeValue)[i].constValue();
    if (v->dtype == DataType::kINT64) t->as<int64_t>()[i] = x;
    else t->as<int32_t>()[i] = static_cast<int32_t>(x);
  }
  return t;
}

}  // namespace

StatusOr<bool> constantFoldingPass(ir::Graph& g, PassContext& ctx) {
  bool changed = false;
  KILN_ASSIGN_OR_RETURN(std::vector<ir::Node*> order, g.topoOrder());
  for (ir::Node* n : order) {
    bool byValues = !n->outputs.empty();
    for (const ir::Value* o : n->outputs)
      byValues = byValues && (o->dtype == DataType::kINT64 || o->dtype == DataType::kINT32) && valuesKnown(o);
    bool allConstInputs = !n->inputs.empty();
    for (const ir::Value* in : n->inputs)
      if (in && !in->isConstant()) allConstInputs = false;
    if (!byValues && !allConstInputs) continue;

    std::vector<ir::TensorDataPtr> results;
    if (byValues) {
      for (const ir::Value* o : n->outputs) results.push_back(constantFromValues(o));
    } else {
      size_t bytes = 0;
      bool staticOut = true;
      for (const ir::Value* o : n->outputs) {
        staticOut = staticOut && ir::isStatic(o->shape);
        if (staticOut) bytes += static_cast<size_t>(ir::volumeOf(ir::staticDims(o->shape))) * dataTypeSize(o->dtype);
      }
      if (!staticOut || bytes > ctx.maxFoldedBytes) continue;
      if (!cpu::cpuKernels()[static_cast<size_t>(n->op)]) continue;
      std::vector<cpu::CpuTensor> ins(n->inputs.size());
      for (size_t i = 0; i < n->inputs.size(); ++i) {
        if (!n->inputs[i]) continue;
        const ir::TensorData& c = *n->inputs[i]->constant;
        ins[i].data = const_cast<void*>(c.data());
        ins[i].dtype = c.dtype();
        ins[i].dims = c.dims();
      }
      std::vector<std::shared_ptr<ir::TensorData>> outs;
      std::vector<cpu::CpuTensor> couts(n->outputs.size());
      for (size_t i = 0; i < n->outputs.size(); ++i) {
        auto t = std::make_shared<ir::TensorData>(n->outputs[i]->dtype, ir::staticDims(n->outputs[i]->shape));
        couts[i].data = t->data();
        couts[i].dtype = t->dtype();
        couts[i].dims = t->dims();
        outs.push_back(t);
      }
      Status st = cpu::runCpuNode(*n, ins, couts);
      if (!st.isOk()) return st;  // the same layer would fail at run time: report it now
      results.assign(outs.begin(), outs.end());
    }
    for (size_t i = 0; i < n->outputs.size(); ++i) {
      ir::Value* old = n->outputs[i];
      std::string name = old->name;
      ir::Value* c = g.addConstant(name + "__folded", results[i]);
      g.replaceAllUses(old, c);
      old->name = g.uniqueName(name + "__dead");
      c->name = name;
    }
    logMessage(ctx.logger, Severity::kVERBOSE, "optimizer", "folded " + n->describe());
    changed = true;
  }
  // Removal only after the walk: `order` must stay valid while we iterate.
  if (changed) g.removeDeadNodes();
  return changed;
}

}  // namespace kiln::opt
