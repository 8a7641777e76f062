// Conformance results: the child/parent protocol, op attribution and the JSON/markdown reports.
#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "conformance.h"

namespace kiln::conformance {

namespace {

constexpr const char* kStatusNames[kNumStatuses] = {"pass",  "fail",  "unsupported",
                                                    "error", "crash", "timeout"};

std::string escapeLine(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string unescapeLine(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      ++i;
      out += s[i] == 'n' ? '\n' : s[i];
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string jsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string jsonNumber(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  std::string s = buf;
  // JSON has no inf/nan.
  if (s.find_first_of("ni") != std::string::npos) return "null";
  return s;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// "test_layer_normalization_2d" -> "layernormalization2d"
std::string squash(const std::string& s) {
  std::string out;
  for (char c : lower(s))
    if (c != '_') out += c;
  return out;
}

// The op type without its domain prefix ("ai.onnx.ml.LabelEncoder" -> "LabelEncoder").
std::string bareOp(const std::string& op) {
  size_t dot = op.rfind('.');
  return dot == std::string::npos ? op : op.substr(dot + 1);
}

// First line of a message, cut to `n` characters, with table-breaking characters escaped.
std::string oneLine(const std::string& msg, size_t n = 240) {
  std::string s = msg.substr(0, msg.find('\n'));
  if (s.size() > n) s = s.substr(0, n - 3) + "...";
  std::string out;
  for (char c : s) {
    if (c == '|')
      out += "\\|";
    else if (c == '`')
      out += '\'';
    else
      out += c;
  }
  return out;
}

// A short cause for an unsupported case, shared by the cases it applies to.
std::string unsupportedCause(const std::string& msg) {
  std::smatch m;
  static const std::regex op("unsupported operator '([^']+)' \\(domain '([^']*)'");
  static const std::regex dtype("element type (\\w+), which Kiln does not support");
  if (msg.find("Kiln supports IR versions") != std::string::npos ||
      msg.find("Kiln supports opsets") != std::string::npos)
    return "model opset or IR version outside Kiln's range (opsets 9-28, IR 3-14)";
  if (std::regex_search(msg, m, op)) {
    std::string domain = m[2];
    return "op not implemented: " + (domain == "ai.onnx" ? "" : domain + ".") + std::string(m[1]);
  }
  if (std::regex_search(msg, m, dtype)) return "data type " + std::string(m[1]);
  if (msg.find("passes with inputs") != std::string::npos)
    return "needs constant inputs (passes with them as constants)";
  if (msg.find("must be a constant") != std::string::npos) return "needs constant inputs";
  // Otherwise the message without the node prefix ("parser: node 'x' (Op, opset n, domain d): ").
  std::string s = msg;
  static const std::regex prefix("node '[^']*' \\([^)]*\\): ");
  s = std::regex_replace(s, prefix, "");
  static const std::regex name("'[A-Za-z]+_[0-9]+'");
  s = std::regex_replace(s, name, "'...'");
  return oneLine(s, 160);
}

}  // namespace

const char* statusName(CaseStatus s) { return kStatusNames[static_cast<int>(s)]; }

bool parseStatusName(const std::string& s, CaseStatus* out) {
  for (int i = 0; i < kNumStatuses; ++i)
    if (s == kStatusNames[i]) {
      *out = static_cast<CaseStatus>(i);
      return true;
    }
  return false;
}

std::string serializeResult(const CaseResult& r) {
  std::ostringstream ss;
  ss << "name " << r.name << "\n";
  ss << "status " << statusName(r.status) << "\n";
  ss << "opset " << r.opset << "\n";
  for (const std::string& op : r.ops) ss << "op " << op << "\n";
  for (const std::string& in : r.constantInputs) ss << "const " << in << "\n";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", r.maxAbsErr);
  ss << "abs " << buf << "\n";
  std::snprintf(buf, sizeof buf, "%.9g", r.maxRelErr);
  ss << "rel " << buf << "\n";
  ss << "msg " << escapeLine(r.message) << "\n";
  ss << "end\n";
  return ss.str();
}

bool parseResult(const std::string& text, CaseResult* r) {
  std::istringstream ss(text);
  std::string line;
  bool ended = false, hasStatus = false;
  while (std::getline(ss, line)) {
    size_t sp = line.find(' ');
    std::string key = line.substr(0, sp),
                value = sp == std::string::npos ? "" : line.substr(sp + 1);
    if (key == "name")
      r->name = value;
    else if (key == "status")
      hasStatus = parseStatusName(value, &r->status);
    else if (key == "opset")
      r->opset = std::atoll(value.c_str());
    else if (key == "op")
      r->ops.push_back(value);
    else if (key == "const")
      r->constantInputs.push_back(value);
    else if (key == "abs")
      r->maxAbsErr = std::atof(value.c_str());
    else if (key == "rel")
      r->maxRelErr = std::atof(value.c_str());
    else if (key == "msg")
      r->message = unescapeLine(value);
    else if (key == "end")
      ended = true;
  }
  return ended && hasStatus;
}

void assignPrimaryOps(std::vector<CaseResult>& results) {
  std::map<std::string, const CaseResult*> byName;
  for (const CaseResult& r : results) byName[r.name] = &r;
  std::vector<std::string> primary(results.size());
  for (size_t i = 0; i < results.size(); ++i) {
    const CaseResult& r = results[i];
    std::string base = r.name;
    std::vector<std::string> candidates = r.ops;
    // Function-body expansions test the op of the case they expand.
    size_t ex = r.name.find("_expanded");
    if (ex != std::string::npos) {
      base = r.name.substr(0, ex);
      auto it = byName.find(base);
      if (it != byName.end() && !it->second->ops.empty()) candidates = it->second->ops;
    }
    std::string name = base.rfind("test_", 0) == 0 ? base.substr(5) : base;
    std::set<std::string> unique(candidates.begin(), candidates.end());
    if (unique.empty()) {
      primary[i] = "(unknown)";
    } else if (unique.size() == 1) {
      primary[i] = *unique.begin();
    } else {
      // The op whose name is the longest prefix of the case name ("test_gather_elements_0" ->
      // GatherElements over Gather), else the longest contained in it, else the last node's.
      std::string sq = squash(name), best;
      for (const std::string& op : unique) {
        std::string o = lower(bareOp(op));
        if (sq.rfind(o, 0) == 0 && o.size() > lower(bareOp(best)).size()) best = op;
      }
      if (best.empty())
        for (const std::string& op : unique) {
          std::string o = lower(bareOp(op));
          if (sq.find(o) != std::string::npos && o.size() > lower(bareOp(best)).size()) best = op;
        }
      primary[i] = best.empty() ? candidates.back() : best;
    }
  }
  for (size_t i = 0; i < results.size(); ++i) results[i].op = primary[i];
}

int countStatus(const std::vector<CaseResult>& results, CaseStatus s) {
  return static_cast<int>(std::count_if(results.begin(), results.end(),
                                        [s](const CaseResult& r) { return r.status == s; }));
}

std::string summaryLine(const std::vector<CaseResult>& results) {
  std::string s = std::to_string(results.size()) + " cases:";
  for (int i = 0; i < kNumStatuses; ++i)
    s += std::string(i ? "," : "") + " " + kStatusNames[i] + " " +
         std::to_string(countStatus(results, static_cast<CaseStatus>(i)));
  return s;
}

std::string jsonReport(const std::vector<CaseResult>& results) {
  std::ostringstream ss;
  ss << "{\n  \"summary\": {\"cases\": " << results.size();
  for (int i = 0; i < kNumStatuses; ++i)
    ss << ", \"" << kStatusNames[i] << "\": " << countStatus(results, static_cast<CaseStatus>(i));
  ss << "},\n  \"cases\": [";
  for (size_t i = 0; i < results.size(); ++i) {
    const CaseResult& r = results[i];
    ss << (i ? ",\n" : "\n") << "    {\"name\": " << jsonString(r.name)
       << ", \"status\": " << jsonString(statusName(r.status)) << ", \"op\": " << jsonString(r.op)
       << ", \"ops\": [";
    std::set<std::string> seen;
    bool first = true;
    for (const std::string& op : r.ops) {
      if (!seen.insert(op).second) continue;
      ss << (first ? "" : ", ") << jsonString(op);
      first = false;
    }
    ss << "], \"constant_inputs\": [";
    for (size_t k = 0; k < r.constantInputs.size(); ++k)
      ss << (k ? ", " : "") << jsonString(r.constantInputs[k]);
    ss << "], \"opset\": " << r.opset << ", \"message\": " << jsonString(r.message)
       << ", \"max_abs_err\": " << jsonNumber(r.maxAbsErr)
       << ", \"max_rel_err\": " << jsonNumber(r.maxRelErr)
       << ", \"seconds\": " << jsonNumber(r.seconds) << "}";
  }
  ss << "\n  ]\n}\n";
  return ss.str();
}

std::string markdownReport(const std::vector<CaseResult>& results, const std::string& filter) {
  std::ostringstream ss;
  const int total = static_cast<int>(results.size());
  auto pct = [total](int n) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.1f%%", total ? 100.0 * n / total : 0.0);
    return std::string(buf);
  };
  ss << "# ONNX operator support (conformance)\n\n"
     << "<!-- Generated by kiln_conformance --markdown; do not edit by hand. -->\n\n"
     << "Kiln's CPU backend against ONNX's own operator conformance suite "
        "(`onnx.backend.test.case.node`, the node test cases of onnx 1.23.1; the 14 cases with "
        "sequence, map or optional inputs are not in the suite's tarball). Each case is parsed by "
        "`kiln::OnnxParser`, built by `kiln::Builder` for the CPU, run by the runtime and every "
        "output is compared with the reference output.\n\n"
     << "Comparison: float32/float64 `|got - expected| <= 1e-5 + 1e-3 * |expected|` (the suite's "
        "rtol 1e-3, with atol 1e-5), float16 atol 1e-3 / rtol 1e-3, bfloat16 atol 1e-2 / rtol "
        "1e-2; NaN matches NaN, infinities must be equal; integers and booleans exact; shapes and "
        "dtypes must match.\n\n"
     << "Statuses: **pass**; **fail** (wrong numbers, shape or dtype); **unsupported** (the "
        "parser, builder or runtime reports an op, attribute, opset or dtype Kiln does not "
        "handle); **error** (any other failure, with its message); **crash** (the case's process "
        "died on a signal: always a bug); **timeout** (over the per-case time limit).\n\n"
     << "Inputs that must be constants: Kiln needs some op inputs (Resize scales/sizes, Reduce "
        "axes, Slice starts, Split split, TopK k, ...) at build time, while the suite feeds them "
        "at run time. Such a case is **unsupported** as given; it is then retried with those "
        "inputs turned into initializers so the kernels are still checked: a wrong result or an "
        "error in the retry makes it **fail**/**error** (marked \"with inputs ... as "
        "constants\"), a pass is noted as \"[passes with inputs ... as constants]\".\n\n"
     << "Regenerate: `tests/conformance/update_report.sh <build-dir>` (see "
        "tests/conformance/README.md).\n\n";
  if (!filter.empty()) ss << "Filter: `" << filter << "` (not the whole suite).\n\n";

  ss << "## Summary\n\n| status | cases | share |\n|---|---:|---:|\n";
  for (int i = 0; i < kNumStatuses; ++i) {
    int n = countStatus(results, static_cast<CaseStatus>(i));
    ss << "| " << kStatusNames[i] << " | " << n << " | " << pct(n) << " |\n";
  }
  ss << "| **total** | " << total << " | |\n\n";

  // Per operator.
  std::map<std::string, std::array<int, kNumStatuses>> perOp;
  for (const CaseResult& r : results) {
    auto& counts = perOp.try_emplace(r.op, std::array<int, kNumStatuses>{}).first->second;
    ++counts[static_cast<int>(r.status)];
  }
  int fullyPassing = 0;
  for (const auto& [op, c] : perOp) {
    int n = 0;
    for (int v : c) n += v;
    if (c[0] == n) ++fullyPassing;
  }
  ss << "## Per operator\n\n"
     << perOp.size() << " operators, " << fullyPassing
     << " passing every case. A case counts under the op it tests (`_expanded` cases, which run "
        "the op's function body, count under the op they expand).\n\n"
     << "| op | cases | pass | fail | unsupported | error | crash | timeout |\n"
     << "|---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& [op, c] : perOp) {
    int n = 0;
    for (int v : c) n += v;
    ss << "| " << op << " | " << n;
    for (int v : c) ss << " | " << (v ? std::to_string(v) : "");
    ss << " |\n";
  }

  // Not passing: every case with its one-line reason, grouped by status.
  auto listCases = [&](CaseStatus s, const char* title) {
    std::vector<const CaseResult*> list;
    for (const CaseResult& r : results)
      if (r.status == s) list.push_back(&r);
    if (list.empty()) return;
    std::sort(list.begin(), list.end(), [](const CaseResult* a, const CaseResult* b) {
      return a->op != b->op ? a->op < b->op : a->name < b->name;
    });
    ss << "\n## " << title << " (" << list.size() << ")\n\n";
    for (const CaseResult* r : list)
      ss << "- `" << r->name << "` (" << r->op << "): " << oneLine(r->message) << "\n";
  };
  listCases(CaseStatus::kCrash, "Crashes");
  listCases(CaseStatus::kTimeout, "Timeouts");
  listCases(CaseStatus::kFail, "Failing cases");
  listCases(CaseStatus::kError, "Errors");

  // Unsupported: causes over the suite, then per op (case names and messages are in the JSON).
  std::map<std::string, int> causes;
  std::map<std::string, std::map<std::string, int>> opCauses;
  int unsupported = 0;
  for (const CaseResult& r : results) {
    if (r.status != CaseStatus::kUnsupported) continue;
    ++unsupported;
    std::string c = unsupportedCause(r.message);
    ++causes[c];
    ++opCauses[r.op][c];
  }
  if (unsupported == 0) return ss.str();
  std::vector<std::pair<std::string, int>> sorted(causes.begin(), causes.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  ss << "\n## Unsupported (" << unsupported << "): causes\n\n| cause | cases |\n|---|---:|\n";
  for (const auto& [c, n] : sorted) ss << "| " << c << " | " << n << " |\n";
  ss << "\n## Unsupported cases by op\n\n";
  for (const auto& [op, cs] : opCauses) {
    int n = 0;
    for (const auto& [c, k] : cs) n += k;
    ss << "- **" << op << "** (" << n << "): ";
    bool first = true;
    for (const auto& [c, k] : cs) {
      ss << (first ? "" : "; ") << c << " (" << k << ")";
      first = false;
    }
    ss << "\n";
  }
  return ss.str();
}

}  // namespace kiln::conformance
