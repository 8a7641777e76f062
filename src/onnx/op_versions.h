// Which ONNX versions of each default-domain op Kiln's importers handle (op_versions.def), and
// the check that refuses a node whose op version is newer than that.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kiln::onnx_import {

// An op with an importer but no op_versions.def line is accepted up to this opset only: the
// opset the importers were last checked against before the table existed.
constexpr int64_t kOpsetCheckedWithoutEntry = 24;

struct OpVersionInfo {
  std::string op;
  int64_t newestHandled = 0;  // since_version of the newest ONNX version Kiln handles
  struct Refused {
    int64_t since;
    const char* why;
  };
  std::vector<Refused> refused;  // newer ONNX versions Kiln refuses, ascending
};

// The table entry of a default-domain op, or null when it has none.
const OpVersionInfo* findOpVersion(std::string_view op);
// Every entry, sorted by op name.
const std::vector<OpVersionInfo>& opVersionTable();

// Ok when Kiln handles the version of `op` that a model of default-domain `opset` uses;
// otherwise an unsupported error naming the op, the version and what changed.
Status checkOpVersion(std::string_view op, int64_t opset);

}  // namespace kiln::onnx_import
