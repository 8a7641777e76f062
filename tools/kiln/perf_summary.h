// Per-iteration timings of `kiln run` and the trtexec-style performance summary.
//
// For one inference: Latency = H2D + Compute + D2H (what one request waits for), Enqueue Time =
// host time spent in enqueueV3(). Throughput = timed inferences / Total Host Walltime. On the
// CPU backend nothing is copied (inputs and outputs are bound in place), so H2D = D2H = 0 and
// the synchronous enqueue is the compute.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace kiln::cli {

struct IterationTiming {
  double startMs = 0;    // from the start of the timed phase
  double endMs = 0;
  double enqueueMs = 0;
  double h2dMs = 0;
  double computeMs = 0;
  double d2hMs = 0;
  double latencyMs = 0;  // h2d + compute + d2h
};

struct PerfReport {
  std::vector<IterationTiming> iterations;
  double walltimeMs = 0;  // first start to last end
  bool onGpu = false;
};

// Prints the "=== Performance summary ===" block.
void printPerfSummary(const PerfReport& report, std::FILE* out);

// trtexec's --exportTimes layout: a JSON list, one object per timed inference, with
// startEnqMs/endEnqMs, startComputeMs/endComputeMs, startH2DMs/endH2DMs, startD2HMs/endD2HMs,
// h2dMs, computeMs, d2hMs, latencyMs and enqueueMs.
std::string timesToJson(const PerfReport& report);

}  // namespace kiln::cli
