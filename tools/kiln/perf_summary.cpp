#include "perf_summary.h"

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
  std::fprintf(out,
               "%s: min = %.6g ms, max = %.6g ms, mean = %.6g ms, median = %.6g ms, "
               "percentile(90%%) = %.6g ms, percentile(95%%) = %.6g ms, percentile(99%%) = %.6g ms%s\n",
               label, s.min, s.max, s.mean, s.median, s.p90, s.p95, s.p99, note);
}

}  // namespace

void printPerfSummary(const PerfReport& r, std::FILE* out) {
  const char* compute = r.onGpu ? "GPU Compute Time" : "Compute Time";
  const char* noCopies = r.onGpu ? "" : " (CPU backend: no host-device transfers)";
  size_t n = r.iterations.size();
  double qps = r.walltimeMs > 0 ? static_cast<double>(n) / (r.walltimeMs / 1000.0) : 0.0;
  double totalCompute = 0;
  for (const IterationTiming& t : r.iterations) totalCompute += t.computeMs;

  std::fprintf(out, "=== Performance summary ===\n");
  std::fprintf(out, "Timed inferences: %zu\n", n);
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
  std::fprintf(out,
               "Explanations: Throughput = inferences / Total Host Walltime; Latency = H2D + %s"
               " + D2H; Enqueue Time = host time in enqueueV3().\n",
               compute);
  std::fflush(out);
}

std::string timesToJson(const PerfReport& r) {
  JsonWriter w;
  w.beginArray();
  for (const IterationTiming& t : r.iterations) {
    // Phases run back to back: H2D, compute, D2H.
    double h2dEnd = t.startMs + t.h2dMs;
    double computeEnd = h2dEnd + t.computeMs;
    w.newline();
    w.beginObject();
    w.key("startEnqMs"); w.number(t.startMs);
    w.key("endEnqMs"); w.number(t.startMs + t.enqueueMs);
    w.key("startH2DMs"); w.number(t.startMs);
    w.key("endH2DMs"); w.number(h2dEnd);
    w.key("startComputeMs"); w.number(h2dEnd);
    w.key("endComputeMs"); w.number(computeEnd);
    w.key("startD2HMs"); w.number(computeEnd);
    w.key("endD2HMs"); w.number(computeEnd + t.d2hMs);
    w.key("h2dMs"); w.number(t.h2dMs);
    w.key("computeMs"); w.number(t.computeMs);
    w.key("d2hMs"); w.number(t.d2hMs);
    w.key("latencyMs"); w.number(t.latencyMs);
    w.key("enqueueMs"); w.number(t.enqueueMs);
    w.endObject();
  }
  w.newline();
  w.endArray();
  return w.str() + "\n";
}

}  // namespace kiln::cli
