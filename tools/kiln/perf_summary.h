// Per-iteration timings of `kiln run` and the trtexec-style performance summary.
//
// For one inference: Latency = H2D + Compute + D2H (what one request waits for), Enqueue Time =
// host time spent in enqueueV3() (or cudaGraphLaunch with --useCudaGraph). Throughput = timed
// inferences / Total Host Walltime (all streams together). On the CPU backend nothing is copied
// (inputs and outputs are bound in place), so H2D = D2H = 0 and the synchronous enqueue is the
// compute. On the GPU the three phases are measured with CUDA events on the inference's stream.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "kiln/runtime.h"

namespace kiln::cli {

struct IterationTiming {
  double startMs = 0;     // host: from the start of the timed phase to the start of the inference
  double endMs = 0;       // host: ... to the moment its results were ready (after the sync)
  double enqStartMs = 0;  // host: when enqueueV3() (or the graph launch) was called
  double enqueueMs = 0;
  double h2dMs = 0;
  double computeMs = 0;
  double d2hMs = 0;
  double latencyMs = 0;  // h2d + compute + d2h
  int stream = 0;        // which stream (context) ran it, with --streams
};

struct PerfReport {
  std::vector<IterationTiming> iterations;  // sorted by startMs
  double walltimeMs = 0;                    // first start to last end, over all streams
  bool onGpu = false;
  bool noDataTransfers = false;  // GPU: --noDataTransfers (H2D = D2H = 0)
  bool cudaGraph = false;        // GPU: timed iterations launched a CUDA graph
  int streams = 1;
};

// Coefficient of variation (stddev / mean) above which the summary calls the GPU compute time
// unstable.
constexpr double kUnstableCv = 0.10;

// Prints the "=== Performance summary ===" block.
void printPerfSummary(const PerfReport& report, std::FILE* out);

// trtexec's --exportTimes layout: a JSON list, one object per timed inference, with
// startEnqMs/endEnqMs, startComputeMs/endComputeMs, startH2DMs/endH2DMs, startD2HMs/endD2HMs,
// h2dMs, computeMs, d2hMs, latencyMs and enqueueMs; plus Kiln's startMs/endMs (host walltime of
// the inference) and, with several streams, "stream".
std::string timesToJson(const PerfReport& report);

// Collects per-layer times over several profiled runs (kiln::Profiler), in execution order.
class LayerProfile final : public Profiler {
 public:
  void reportLayerTime(const char* layerName, float ms) noexcept override;
  // Runs recorded: each layer's count (the first layer's count when all ran every time).
  int64_t runs() const;
  bool empty() const { return mLayers.empty(); }
  // "=== Profile (N iterations) ===" then one row per layer: average and median ms, % of total.
  void print(std::FILE* out) const;
  // trtexec's --exportProfile layout: [{"count": N}, {"name", "timeMs", "averageMs", "medianMs",
  // "percentage"}, ...].
  std::string toJson() const;

 private:
  struct Layer {
    std::string name;
    std::vector<float> times;
  };
  std::vector<Layer> mLayers;
  std::vector<size_t> mIndex;  // per report within one run: position in mLayers
  size_t mNext = 0;            // next layer position expected in the current run
};

}  // namespace kiln::cli
