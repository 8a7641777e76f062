#include "onnx/op_versions.h"

#include <algorithm>

namespace kiln::onnx_import {

const std::vector<OpVersionInfo>& opVersionTable() {
  static const std::vector<OpVersionInfo> table = [] {
    std::vector<OpVersionInfo> t;
    auto entry = [&t](const char* op) -> OpVersionInfo& {
      for (auto& e : t)
        if (e.op == op) return e;
      t.push_back(OpVersionInfo{op, 0, {}});
      return t.back();
    };
#define KILN_ONNX_OP(op, newest) entry(#op).newestHandled = newest;
#define KILN_ONNX_REFUSED(op, since, why) entry(#op).refused.push_back({since, why});
#include "onnx/op_versions.def"
#undef KILN_ONNX_OP
#undef KILN_ONNX_REFUSED
    std::sort(t.begin(), t.end(), [](const auto& a, const auto& b) { return a.op < b.op; });
    for (auto& e : t)
      std::sort(e.refused.begin(), e.refused.end(),
                [](const auto& a, const auto& b) { return a.since < b.since; });
    return t;
  }();
  return table;
}

const OpVersionInfo* findOpVersion(std::string_view op) {
  const auto& t = opVersionTable();
  auto it = std::lower_bound(t.begin(), t.end(), op,
                             [](const OpVersionInfo& e, std::string_view o) { return e.op < o; });
  return it != t.end() && it->op == op ? &*it : nullptr;
}

Status checkOpVersion(std::string_view op, int64_t opset) {
  const OpVersionInfo* info = findOpVersion(op);
  const std::string name(op);
  if (!info) {
    if (opset <= kOpsetCheckedWithoutEntry) return Status::ok();
    return unsupported("operator '%s' at opset %lld: Kiln's importer for it has been checked "
                       "against ONNX opsets up to %lld only (it has no entry in "
                       "src/onnx/op_versions.def); convert the model to opset %lld with "
                       "onnx.version_converter",
                       name.c_str(), static_cast<long long>(opset),
                       static_cast<long long>(kOpsetCheckedWithoutEntry),
                       static_cast<long long>(kOpsetCheckedWithoutEntry));
  }
  // The version a model of `opset` uses is the newest one introduced at or before it; refused
  // versions are ascending, so the last one <= opset decides.
  const OpVersionInfo::Refused* hit = nullptr;
  for (const auto& r : info->refused)
    if (r.since <= opset) hit = &r;
  if (!hit) return Status::ok();
  return unsupported("operator '%s' version %lld (used by opset %lld models) is not supported: "
                     "%s. Kiln handles '%s' up to version %lld; convert the model to opset %lld "
                     "with onnx.version_converter",
                     name.c_str(), static_cast<long long>(hit->since),
                     static_cast<long long>(opset), hit->why, name.c_str(),
                     static_cast<long long>(info->newestHandled),
                     static_cast<long long>(hit->since - 1));
}

}  // namespace kiln::onnx_import
