#include "perf_summary.h"

#include <algorithm>
#include <cmath>

#include "api/cli_util.h"
#include "json_writer.h"

namespace kiln::cli {

namespace {

template <typename Get>
Stats statsOf(const PerfReport& r, Get get) {
  std::vector<double> v;
  v.reserve(r.iterations.size());
  for (const IterationTiming& t : r.iterations) v.push_back(get(t));
  return computeStats(std::move(v));
}

void printStats(std::FILE* out, const char* label, const Stats& s, const char* note = "") {
  std::fprintf(
      out,
      "%s: min = %.6g ms, max = %.6g ms, mean = %.6g ms, median = %.6g ms, "
      "percentile(90%%) = %.6g ms, percentile(95%%) = %.6g ms, percentile(99%%) = %.6g ms%s\n",
      label, s.min, s.max, s.mean, s.median, s.p90, s.p95, s.p99, note);
}

// Population standard deviation / mean of the compute times (0 for fewer than 2 or a zero mean).
double computeCv(const PerfReport& r) {
  size_t n = r.iterations.size();
  if (n < 2) return 0;
  double mean = 0;
  for (const IterationTiming& t : r.iterations) mean += t.computeMs;
  mean /= static_cast<double>(n);
  if (mean <= 0) return 0;
  double var = 0;
  for (const IterationTiming& t : r.iterations) var += (t.computeMs - mean) * (t.computeMs - mean);
  var /= static_cast<double>(n);
  return std::sqrt(var) / mean;
}

}  // namespace

void printPerfSummary(const PerfReport& r, std::FILE* out) {
  const char* compute = r.onGpu ? "GPU Compute Time" : "Compute Time";
  const char* noCopies = "";
  if (!r.onGpu)
    noCopies = " (CPU backend: no host-device transfers)";
  else if (r.noDataTransfers)
    noCopies = " (--noDataTransfers: no transfers in the timed loop)";
  size_t n = r.iterations.size();
  double qps = r.walltimeMs > 0 ? static_cast<double>(n) / (r.walltimeMs / 1000.0) : 0.0;
  double totalCompute = 0;
  for (const IterationTiming& t : r.iterations) totalCompute += t.computeMs;

  std::fprintf(out, "=== Performance summary ===\n");
  std::fprintf(out, "Timed inferences: %zu\n", n);
  if (r.streams > 1)
    std::fprintf(out,
                 "Streams: %d (one execution context and thread each; throughput is the "
                 "aggregate, statistics cover every stream)\n",
                 r.streams);
  if (r.onGpu) std::fprintf(out, "CUDA graph: %s\n", r.cudaGraph ? "yes" : "no");
  std::fprintf(out, "Throughput: %.6g qps\n", qps);
  printStats(out, "Latency", statsOf(r, [](const IterationTiming& t) { return t.latencyMs; }));
  printStats(out, "Enqueue Time", statsOf(r, [](const IterationTiming& t) { return t.enqueueMs; }));
  printStats(out, "H2D Latency", statsOf(r, [](const IterationTiming& t) { return t.h2dMs; }),
             noCopies);
  printStats(out, compute, statsOf(r, [](const IterationTiming& t) { return t.computeMs; }));
  printStats(out, "D2H Latency", statsOf(r, [](const IterationTiming& t) { return t.d2hMs; }),
             noCopies);
  std::fprintf(out, "Total Host Walltime: %.6g s\n", r.walltimeMs / 1000.0);
  std::fprintf(out, "Total %s: %.6g s\n", compute, totalCompute / 1000.0);
  // GPU only, as in trtexec: CPU timings of small models are dominated by scheduling noise.
  double cv = r.onGpu ? computeCv(r) : 0.0;
  if (cv > kUnstableCv)
    std::fprintf(out,
                 "Warning: %s is unstable: coefficient of variation = %.3g%% (> %.0f%%). Other "
                 "work on the GPU, clock changes or too short a run disturb the measurement; "
                 "try a longer --duration and --warmUp, or lock the GPU clocks.\n",
                 compute, cv * 100.0, kUnstableCv * 100.0);
  std::fprintf(
      out,
      "Explanations: Throughput = inferences / Total Host Walltime; Latency = H2D + %s"
      " + D2H; Enqueue Time = host time in %s.%s\n",
      compute, r.cudaGraph ? "cudaGraphLaunch()" : "enqueueV3()",
      r.onGpu ? " H2D, GPU Compute and D2H are CUDA event times on the inference's stream." : "");
  std::fflush(out);
}

std::string timesToJson(const PerfReport& r) {
  JsonWriter w;
  w.beginArray();
  for (const IterationTiming& t : r.iterations) {
    // Device phases run back to back on the stream: H2D, compute, D2H; their start is taken as
    // the inference's host start (the GPU's own clock is not comparable with the host's).
    double h2dEnd = t.startMs + t.h2dMs;
    double computeEnd = h2dEnd + t.computeMs;
    w.newline();
    w.beginObject();
    w.key("startMs");
    w.number(t.startMs);
    w.key("endMs");
    w.number(t.endMs);
    w.key("startEnqMs");
    w.number(t.enqStartMs);
    w.key("endEnqMs");
    w.number(t.enqStartMs + t.enqueueMs);
    w.key("startH2DMs");
    w.number(t.startMs);
    w.key("endH2DMs");
    w.number(h2dEnd);
    w.key("startComputeMs");
    w.number(h2dEnd);
    w.key("endComputeMs");
    w.number(computeEnd);
    w.key("startD2HMs");
    w.number(computeEnd);
    w.key("endD2HMs");
    w.number(computeEnd + t.d2hMs);
    w.key("h2dMs");
    w.number(t.h2dMs);
    w.key("computeMs");
    w.number(t.computeMs);
    w.key("d2hMs");
    w.number(t.d2hMs);
    w.key("latencyMs");
    w.number(t.latencyMs);
    w.key("enqueueMs");
    w.number(t.enqueueMs);
    if (r.streams > 1) {
      w.key("stream");
      w.number(static_cast<int64_t>(t.stream));
    }
    w.endObject();
  }
  w.newline();
  w.endArray();
  return w.str() + "\n";
}

void LayerProfile::reportLayerTime(const char* layerName, float ms) noexcept {
  // Layers report in execution order every run: the same name at the same position accumulates;
  // a name not seen at this position starts a new row (or finds its row by name).
  std::string name = layerName ? layerName : "";
  if (mNext < mLayers.size() && mLayers[mNext].name == name) {
    mLayers[mNext++].times.push_back(ms);
    return;
  }
  for (size_t i = 0; i < mLayers.size(); ++i) {
    if (mLayers[i].name == name) {
      mLayers[i].times.push_back(ms);
      mNext = i + 1;
      return;
    }
  }
  mLayers.push_back({name, {ms}});
  mNext = mLayers.size();
}

int64_t LayerProfile::runs() const {
  return mLayers.empty() ? 0 : static_cast<int64_t>(mLayers.front().times.size());
}

namespace {
struct LayerRow {
  std::string name;
  double total = 0, average = 0, median = 0;
};
std::vector<LayerRow> layerRows(
    const std::vector<std::pair<std::string, std::vector<float>>>& layers) {
  std::vector<LayerRow> rows;
  for (const auto& [name, times] : layers) {
    LayerRow r;
    r.name = name;
    std::vector<float> sorted = times;
    std::sort(sorted.begin(), sorted.end());
    for (float t : times) r.total += t;
    r.average = times.empty() ? 0 : r.total / static_cast<double>(times.size());
    r.median = sorted.empty() ? 0
               : sorted.size() % 2
                   ? sorted[sorted.size() / 2]
                   : 0.5 * (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]);
    rows.push_back(r);
  }
  return rows;
}
}  // namespace

void LayerProfile::print(std::FILE* out) const {
  std::vector<std::pair<std::string, std::vector<float>>> layers;
  for (const Layer& l : mLayers) layers.push_back({l.name, l.times});
  std::vector<LayerRow> rows = layerRows(layers);
  double sumAvg = 0;
  for (const LayerRow& r : rows) sumAvg += r.average;
  std::fprintf(out, "=== Profile (%lld iterations) ===\n", static_cast<long long>(runs()));
  std::fprintf(out, "%10s %10s %7s  %s\n", "avg ms", "median ms", "%", "layer");
  for (const LayerRow& r : rows)
    std::fprintf(out, "%10.4f %10.4f %6.1f%%  %s\n", r.average, r.median,
                 sumAvg > 0 ? 100.0 * r.average / sumAvg : 0.0, r.name.c_str());
  std::fprintf(out, "%10.4f %10s %6.1f%%  total (sum of layer averages)\n", sumAvg, "", 100.0);
}

std::string LayerProfile::toJson() const {
  std::vector<std::pair<std::string, std::vector<float>>> layers;
  for (const Layer& l : mLayers) layers.push_back({l.name, l.times});
  std::vector<LayerRow> rows = layerRows(layers);
  double sumAvg = 0;
  for (const LayerRow& r : rows) sumAvg += r.average;
  JsonWriter w;
  w.beginArray();
  w.newline();
  w.beginObject();
  w.key("count");
  w.number(runs());
  w.endObject();
  for (const LayerRow& r : rows) {
    w.newline();
    w.beginObject();
    w.key("name");
    w.string(r.name);
    w.key("timeMs");
    w.number(r.total);
    w.key("averageMs");
    w.number(r.average);
    w.key("medianMs");
    w.number(r.median);
    w.key("percentage");
    w.number(sumAvg > 0 ? 100.0 * r.average / sumAvg : 0.0);
    w.endObject();
  }
  w.newline();
  w.endArray();
  return w.str() + "\n";
}

}  // namespace kiln::cli
