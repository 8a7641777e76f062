#include "runtime/memory_plan.h"

#include <algorithm>
#include <numeric>
#include <utility>

namespace kiln::detail {

ActivationPlan planOffsets(std::span<const ActivationRequest> requests, size_t alignment) {
  auto alignUp = [alignment](size_t n) { return (n + alignment - 1) / alignment * alignment; };
  ActivationPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].bytes > requests[b].bytes; });
  std::vector<size_t> placed;  // request indices, in placement order
  std::vector<std::pair<size_t, size_t>> busy;
  for (size_t r : order) {
    const ActivationRequest& q = requests[r];
    const size_t size = alignUp(q.bytes);
    plan.naiveBytes += size;
    busy.clear();  // [offset, end) of placed values live at the same time
    for (size_t p : placed) {
      const ActivationRequest& o = requests[p];
      if (o.last < q.first || q.last < o.first) continue;
      busy.push_back({plan.offsets[p], plan.offsets[p] + alignUp(o.bytes)});
    }
    std::sort(busy.begin(), busy.end());
    size_t offset = 0;
    for (const auto& [b, e] : busy) {
      if (offset + size <= b) break;
      offset = std::max(offset, e);
    }
    plan.offsets[r] = offset;
    plan.totalBytes = std::max(plan.totalBytes, offset + size);
    placed.push_back(r);
  }
  return plan;
}

std::vector<ActivationRequest> activationRequests(std::span<const ir::Node* const> run,
                                                  const std::vector<size_t>& bytes,
                                                  const std::vector<bool>& external,
                                                  const std::vector<int>* aliasRoot) {
  const size_t n = bytes.size();
  std::vector<int> first(n, -1), last(n, -1);
  for (size_t s = 0; s < run.size(); ++s) {
    for (const ir::Value* out : run[s]->outputs) {
      size_t id = static_cast<size_t>(out->id);
      if (id >= n || external[id]) continue;
      first[id] = last[id] = static_cast<int>(s);
    }
    for (const ir::Value* in : run[s]->inputs) {
      if (!in) continue;
      size_t id = static_cast<size_t>(in->id);
      if (aliasRoot && id < aliasRoot->size() && (*aliasRoot)[id] >= 0)
        id = static_cast<size_t>((*aliasRoot)[id]);
      if (id < n && first[id] >= 0) last[id] = static_cast<int>(s);
    }
  }
  std::vector<ActivationRequest> out;
  for (size_t id = 0; id < n; ++id)
    if (first[id] >= 0 && bytes[id] > 0)
      out.push_back({static_cast<int>(id), bytes[id], first[id], last[id]});
  return out;
}

std::vector<int> foldAliases(std::vector<const ir::Node*>& run, const std::vector<size_t>& bytes,
                             const std::vector<bool>& external) {
  std::vector<int> root(bytes.size(), -1);
  std::vector<const ir::Node*> kept;
  kept.reserve(run.size());
  for (const ir::Node* node : run) {
    bool alias = false;
    switch (node->op) {
      case ir::OpKind::kReshape:
      case ir::OpKind::kFlatten:
      case ir::OpKind::kSqueeze:
      case ir::OpKind::kUnsqueeze:
      case ir::OpKind::kIdentity: alias = true; break;
      default: break;
    }
    const ir::Value* in = node->inputs.empty() ? nullptr : node->inputs[0];
    const ir::Value* out = node->outputs.size() == 1 ? node->outputs[0] : nullptr;
    if (alias && in && out) {
      const size_t i = static_cast<size_t>(in->id), o = static_cast<size_t>(out->id);
      alias = i < bytes.size() && o < bytes.size() && !external[i] && !external[o] &&
              bytes[i] > 0 && bytes[i] == bytes[o] && in->dtype == out->dtype;
      if (alias) {
        root[o] = root[i] >= 0 ? root[i] : static_cast<int>(i);
        continue;
      }
    }
    kept.push_back(node);
  }
  run = std::move(kept);
  return root;
}

bool resolvedOnHost(const ir::Node& n, const ir::ShapeTable& table) {
  if (n.op == ir::OpKind::kPlugin || n.outputs.empty()) return false;
  for (const ir::Value* out : n.outputs) {
    const ir::ValueInfo& info = table[out->id];
    if (!info.known || !info.value || !ir::isStatic(info.shape)) return false;
    if (static_cast<int64_t>(info.value->size()) != ir::volumeOf(ir::staticDims(info.shape)))
      return false;
    for (const ir::DimExpr& d : *info.value)
      if (!d.isConst()) return false;
  }
  return true;
}

}  // namespace kiln::detail
