// Activation memory planning, shared by the GPU executor and the builder's report.
//
// Each activation is written by one step and read until its last consumer step; values whose
// [first, last] step intervals do not overlap may share bytes. planOffsets places them in one
// arena: largest first, each at the lowest aligned offset that does not overlap (in memory) any
// already placed value whose interval overlaps its own (first fit). Two values live at the same
// step never share a byte, including a layer's inputs and its outputs.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "ir/graph.h"
#include "ir/shape_inference.h"

namespace kiln::detail {

struct ActivationRequest {
  int valueId = -1;
  size_t bytes = 0;  // > 0
  int first = 0;     // step that writes it
  int last = 0;      // last step that reads it (>= first)
};

struct ActivationPlan {
  std::vector<size_t> offsets;  // per request, in request order; multiples of the alignment
  size_t totalBytes = 0;        // arena size
  size_t naiveBytes = 0;        // one aligned buffer per request, no reuse
};

ActivationPlan planOffsets(std::span<const ActivationRequest> requests, size_t alignment = 256);

// The arena's requests for steps `run` (in execution order): every output of a step that is not
// `external` (network inputs/outputs, constants, host-resolved values) and has bytes > 0, with
// its liveness interval. `bytes` and `external` are indexed by value id.
// With `aliasRoot` (from foldAliases), a read of an alias counts as a read of its root.
std::vector<ActivationRequest> activationRequests(std::span<const ir::Node* const> run,
                                                  const std::vector<size_t>& bytes,
                                                  const std::vector<bool>& external,
                                                  const std::vector<int>* aliasRoot = nullptr);

// Layers that only reinterpret their input's bytes (Reshape, Flatten, Squeeze, Unsqueeze,
// Identity) need no kernel: when input and output are both arena activations (not `external`)
// of the same size, the output aliases the input's memory. Such nodes are removed from `run`;
// the result maps each value id to the value whose memory it uses (its root, never itself an
// alias), or -1.
std::vector<int> foldAliases(std::vector<const ir::Node*>& run, const std::vector<size_t>& bytes,
                             const std::vector<bool>& external);

// True when inference resolved every output of `n` to concrete element values (shape
// computations): such a node never runs as a kernel on the GPU; its values are written once.
bool resolvedOnHost(const ir::Node& n, const ir::ShapeTable& table);

}  // namespace kiln::detail
