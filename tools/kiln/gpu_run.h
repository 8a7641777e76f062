// `kiln run` on a GPU engine (one built with --device=cuda): device buffers for every I/O tensor,
// pinned host staging buffers, one CUDA stream, execution context and thread per --streams,
// CUDA events around each phase, and optional CUDA graph replay.
//
// The CUDA code is compiled only with KILN_HAVE_CUDA; without it these functions return an
// error saying that the build has no CUDA backend.
#pragma once

#include <string>
#include <vector>

#include "args.h"
#include "common/status.h"
#include "kiln/kiln.h"
#include "perf_summary.h"
#include "tensor_io.h"

namespace kiln::cli {

// OK when this build has the CUDA backend and the CUDA runtime sees a GPU; otherwise an error
// (kUnsupported) saying which of the two is missing.
Status checkCudaDevice();

// Benchmarks a GPU engine. `first` is a context whose input shapes are already set to the dims
// of `inputs`; run.streams - 1 more contexts are created with the same shapes. `inputs` hold
// the input values on the host. `outputs` (dims from the context, buffers sized) receive the
// outputs of stream 0's last inference.
//
// Per stream: inputs are uploaded once; the warm-up runs plain enqueues (at least one, which
// also lets the context finish any lazy setup); with --useCudaGraph one enqueueV3() is then
// captured into a graph (a failed capture warns and falls back to enqueues); the timed loop runs
// [H2D] -> enqueue (or graph launch) -> [D2H] -> wait, each phase between CUDA events.
StatusOr<PerfReport> benchmarkOnGpu(Engine& engine, ExecutionContext& first,
                                    const std::vector<HostTensor>& inputs,
                                    std::vector<HostTensor>& outputs, const RunOptions& run);

}  // namespace kiln::cli
