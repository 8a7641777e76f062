// Helpers shared by `kiln compare` (cmd_compare.cpp) and `kiln debug precision` (cmd_debug.cpp),
// and the dynamic-shape test of the other commands: a model's inputs and their values, one
// inference of a loaded engine on host tensors, and the element-wise tolerance check.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "args.h"
#include "common/status.h"
#include "kiln/kiln.h"
#include "tensor_io.h"

namespace kiln::cli {

// True when a dim is negative (unknown).
bool isDynamic(const Dims& d);

// Element i of a tensor of any dtype, in double: 8-bit and 4-bit floats decoded, sub-byte
// integers read unpacked (one byte each), bools 0/1.
double elementAsDouble(DataType t, const void* data, int64_t i);

// A network input as the parser declared it.
struct ModelInput {
  std::string name;
  DataType type = DataType::kFLOAT;
  Dims declared;
};
std::vector<ModelInput> networkInputs(const NetworkDefinition& net);

// The input values of a run, shared by `kiln compare` and `kiln debug precision`:
// - shapes: --shapes (must fit the declared shape), else the declared shape with dynamic dims 1
//   (with a warning); every dynamic input's shape is appended to *buildShapes (so the builds get
//   min = opt = max);
// - values: random with `seed` (fillRandom, drawn for every input in order, loaded or not, so
//   that loading one input does not change the values of the others), replaced by the file of
//   --loadInputs where one names the input.
// Names in `shapes` or `loadInputs` that are no input are errors. With `announce`, one line per
// input says where its values come from.
StatusOr<std::vector<HostTensor>> makeInputValues(const std::vector<ModelInput>& inputs,
                                                  const std::vector<ShapeSpec>& shapes,
                                                  const std::vector<InputFileSpec>& loadInputs,
                                                  unsigned seed, bool announce,
                                                  std::vector<ShapeSpec>* buildShapes);

// Host tensors for every output of `engine`, shapes resolved by `ctx` from the input shapes.
// With `dataDependentOk` (the CPU backend), an output whose shape depends on the data keeps its
// dynamic dims and no buffer (the caller gives it an output allocator, HostOutputAllocator);
// otherwise such an output is kUnsupported ("... not supported by <tool> yet").
StatusOr<std::vector<HostTensor>> makeOutputTensors(const Engine& engine,
                                                    const ExecutionContext& ctx,
                                                    bool dataDependentOk, const char* tool);

// Runs `engine` once on `inputs` (on the GPU through benchmarkOnGpu, else the CPU backend in
// place) and returns every output. On the CPU, outputs whose shape depends on the data are placed
// by output allocators; otherwise such outputs are kUnsupported ("... not supported by <tool>").
StatusOr<std::vector<HostTensor>> runEngineOnce(Engine& engine,
                                                const std::vector<HostTensor>& inputs, bool gpu,
                                                const char* tool);

// One element a against the reference b: err = |a - b| (0 when equal or both NaN; HUGE_VAL for
// a NaN or infinity mismatch), tol = atol + rtol |b|, ok when err <= tol (NaN matches only NaN,
// an infinity only the same infinity), score = err / tol (0 for a match with tol 0, HUGE_VAL for
// a mismatch without a finite ratio): the largest score is the worst element.
struct ElementCheck {
  bool ok = true;
  double err = 0;
  double tol = 0;
  double score = 0;
};
ElementCheck checkElement(double a, double b, double atol, double rtol);

}  // namespace kiln::cli
