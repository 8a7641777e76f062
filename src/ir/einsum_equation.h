// Parsing of Einsum equations ("bij,bjk->bik", "ij->ji", "...ij,...jk", "i,i->").
//
// Shared by the Einsum shape function and its CPU kernel. Every distinct letter becomes a label
// id; the dims an ellipsis stands for become extra labels (right-aligned across operands, so
// they broadcast like numpy batch dims). Without "->" the output is the ellipsis dims followed by
// the letters that appear exactly once, in ASCII order (numpy's and ONNX's implicit mode).
// A letter repeated inside one operand takes its diagonal; letters absent from the output are
// summed over.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace kiln::ir {

struct EinsumSpec {
  int numLabels = 0;
  int firstEllipsisLabel = 0;         // labels >= this stand for ellipsis dims
  std::vector<char> letters;          // letters[id] for id < firstEllipsisLabel
  std::vector<std::vector<int>> inputs;  // label id of each axis of each input
  std::vector<int> output;            // label id of each output axis

  std::string labelName(int id) const {
    if (id < firstEllipsisLabel) return std::string(1, letters[static_cast<size_t>(id)]);
    return "...#" + std::to_string(id - firstEllipsisLabel);
  }
};

// `ranks` are the input ranks; errors are prefixed with `who`.
StatusOr<EinsumSpec> parseEinsum(const std::string& equation, const std::vector<size_t>& ranks,
                                 const std::string& who);

}  // namespace kiln::ir
