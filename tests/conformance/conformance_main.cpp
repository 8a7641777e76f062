// kiln_conformance: runs ONNX's operator conformance cases through Kiln and reports the results.
//
//   kiln_conformance --tarball=onnx-node-tests.tar.gz --unpack-dir=build/conformance
//       [--filter=REGEX] [--jobs=N] [--timeout=SECONDS] [--json=report.json]
//       [--markdown=docs/onnx_support.md] [--baseline=tests/conformance/baseline.txt]
//       [--update-baseline] [--verbose]
//   kiln_conformance --cases=DIR ...          (already unpacked: DIR holds the test_* folders)
//
// Every case runs in its own child process (this executable re-executed with --run-case), so a
// crash or a hang in one case is recorded ("crash" with the signal, "timeout") and the run goes on.
// Exit codes: 0 ok, 1 the pass count fell below the baseline (or the run failed), 2 bad usage,
// 77 the tarball is missing (ctest reports the test as skipped).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "conformance.h"

#ifndef KILN_CMAKE_COMMAND
#define KILN_CMAKE_COMMAND "cmake"
#endif

namespace fs = std::filesystem;
using namespace kiln::conformance;

namespace {

constexpr int kSkipReturnCode = 77;

struct Options {
  std::string cases, tarball, unpackDir, filter, json, markdown, baseline, runCase;
  std::string cmake = KILN_CMAKE_COMMAND;
  int jobs = 0;
  int timeoutSeconds = 20;
  long memoryLimitMb = 4096;
  std::string device = "cpu";
  bool updateBaseline = false, verbose = false;
};

void usage(FILE* f) {
  std::fprintf(
      f,
      "usage: kiln_conformance (--cases=DIR | --tarball=FILE --unpack-dir=DIR) [options]\n"
      "  --cases=DIR          folder holding the unpacked test_<name>/ case folders\n"
      "  --tarball=FILE       onnx-node-tests.tar.gz; unpacked into --unpack-dir (once)\n"
      "  --unpack-dir=DIR     where to unpack (cases land in DIR/node)\n"
      "  --filter=REGEX       run only cases whose name matches (std::regex search)\n"
      "  --jobs=N             cases run in parallel (default: number of CPUs)\n"
      "  --timeout=SECONDS    per-case time limit (default 20)\n"
      "  --memory-limit=MB    per-case address-space limit (default 4096; 0 = none)\n"
      "  --json=FILE          write the per-case JSON report\n"
      "  --markdown=FILE      write the markdown report (docs/onnx_support.md)\n"
      "  --baseline=FILE      fail (exit 1) when the pass count is below the one in FILE\n"
      "  --update-baseline    write the pass count to --baseline FILE\n"
      "  --device=cpu|gpu     backend the cases are built for (default cpu; gpu turns the\n"
      "                       memory limit off: a CUDA context reserves a large address space)\n"
      "  --verbose            print every case that does not pass\n");
}

bool startsWith(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

bool parseArgs(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&](const char* flag, std::string& out) {
      std::string f = std::string(flag) + "=";
      if (!startsWith(a, f.c_str())) return false;
      out = a.substr(f.size());
      return true;
    };
    std::string num;
    if (val("--cases", o.cases) || val("--tarball", o.tarball) ||
        val("--unpack-dir", o.unpackDir) || val("--filter", o.filter) || val("--json", o.json) ||
        val("--markdown", o.markdown) || val("--baseline", o.baseline) ||
        val("--run-case", o.runCase) || val("--cmake", o.cmake) || val("--device", o.device)) {
      continue;
    } else if (val("--jobs", num)) {
      o.jobs = std::atoi(num.c_str());
    } else if (val("--timeout", num)) {
      o.timeoutSeconds = std::max(1, std::atoi(num.c_str()));
    } else if (val("--memory-limit", num)) {
      o.memoryLimitMb = std::atol(num.c_str());
    } else if (a == "--update-baseline") {
      o.updateBaseline = true;
    } else if (a == "--verbose" || a == "-v") {
      o.verbose = true;
    } else if (a == "--help" || a == "-h") {
      usage(stdout);
      std::exit(0);
    } else {
      std::fprintf(stderr, "kiln_conformance: unknown argument '%s'\n", a.c_str());
      return false;
    }
  }
  return true;
}

// Child mode: run one case, print the result on stdout.
int runChild(const Options& o) {
  alarm(static_cast<unsigned>(o.timeoutSeconds));  // SIGALRM ends a hung case: "timeout"
#if !defined(__SANITIZE_ADDRESS__)
  if (o.memoryLimitMb > 0) {
    rlimit lim{};
    lim.rlim_cur = lim.rlim_max = static_cast<rlim_t>(o.memoryLimitMb) << 20;
    setrlimit(RLIMIT_AS, &lim);
  }
#endif
  CaseResult r = runCase(o.runCase);
  std::string text = serializeResult(r);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
  return 0;
}

// Runs a command (argv) in `dir` and waits; returns its exit code (-1 if it could not start).
int runCommand(const std::vector<std::string>& args, const std::string& dir) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (chdir(dir.c_str()) != 0) _exit(127);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Unpacks the tarball into unpackDir unless a stamp says this very tarball is already there.
// Returns the cases folder, or an empty string (with a message) on failure.
std::string unpackCases(const Options& o) {
  std::error_code ec;
  fs::path dir = fs::absolute(o.unpackDir);
  fs::path node = dir / "node", stamp = dir / ".kiln_unpacked";
  std::string id = std::to_string(fs::file_size(o.tarball, ec)) + " " +
                   std::to_string(fs::last_write_time(o.tarball, ec).time_since_epoch().count());
  {
    std::ifstream f(stamp);
    std::string have;
    std::getline(f, have);
    if (have == id && fs::is_directory(node)) return node.string();
  }
  std::fprintf(stderr, "kiln_conformance: unpacking %s into %s\n", o.tarball.c_str(),
               dir.string().c_str());
  fs::remove_all(node, ec);
  fs::remove(stamp, ec);
  fs::create_directories(dir, ec);
  int rc =
      runCommand({o.cmake, "-E", "tar", "xzf", fs::absolute(o.tarball).string()}, dir.string());
  if (rc != 0 || !fs::is_directory(node)) {
    std::fprintf(stderr, "kiln_conformance: '%s -E tar xzf %s' failed (exit %d) or made no node/\n",
                 o.cmake.c_str(), o.tarball.c_str(), rc);
    return "";
  }
  std::ofstream(stamp) << id << "\n";
  return node.string();
}

struct Child {
  size_t index;
  pid_t pid;
  int outFd, errFd;
  std::string out, err;
  std::chrono::steady_clock::time_point start;
  bool killed = false;
};

std::string selfExe() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.string();
}

bool spawn(const Options& o, const std::string& exe, const std::string& caseDir, size_t index,
           Child& c) {
  int outPipe[2], errPipe[2];
  if (pipe(outPipe) != 0) return false;
  if (pipe(errPipe) != 0) {
    close(outPipe[0]);
    close(outPipe[1]);
    return false;
  }
  std::string timeout = "--timeout=" + std::to_string(o.timeoutSeconds);
  std::string memory = "--memory-limit=" + std::to_string(o.memoryLimitMb);
  std::string run = "--run-case=" + caseDir;
  std::string device = "--device=" + o.device;
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    dup2(outPipe[1], 1);
    dup2(errPipe[1], 2);
    close(outPipe[0]);
    close(outPipe[1]);
    close(errPipe[0]);
    close(errPipe[1]);
    char* argv[] = {const_cast<char*>(exe.c_str()),     const_cast<char*>(run.c_str()),
                    const_cast<char*>(timeout.c_str()), const_cast<char*>(memory.c_str()),
                    const_cast<char*>(device.c_str()),  nullptr};
    execv(exe.c_str(), argv);
    _exit(127);
  }
  close(outPipe[1]);
  close(errPipe[1]);
  c = Child{index, pid, outPipe[0], errPipe[0], {}, {}, std::chrono::steady_clock::now()};
  return true;
}

std::string lastLines(const std::string& s, size_t maxChars) {
  std::string t = s;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  if (t.size() > maxChars) t = "..." + t.substr(t.size() - maxChars);
  return t;
}

// Turns a finished child into a result.
CaseResult finish(Child& c, int status, const std::string& name, int timeoutSeconds) {
  CaseResult r;
  r.name = name;
  bool parsed = parseResult(c.out, &r);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - c.start).count();
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && parsed) return r;
  std::string tail = lastLines(c.err, 300);
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    if (sig == SIGALRM || c.killed) {
      r.status = CaseStatus::kTimeout;
      r.message = "over the " + std::to_string(timeoutSeconds) + " s time limit";
    } else {
      r.status = CaseStatus::kCrash;
      r.message = "signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
      if (!tail.empty()) r.message += ": " + tail;
    }
  } else {
    r.status = CaseStatus::kCrash;
    r.message = "the case's process exited with code " +
                std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + " without a result" +
                (tail.empty() ? "" : ": " + tail);
  }
  return r;
}

class Progress {
 public:
  explicit Progress(size_t total) : mTotal(total), mTty(isatty(2)) {}
  void update(size_t done, const std::vector<CaseResult>& results) {
    int pct = mTotal ? static_cast<int>(100 * done / mTotal) : 100;
    if (mTty) {
      int n[kNumStatuses] = {};
      for (const CaseResult& r : results)
        if (!r.name.empty()) ++n[static_cast<int>(r.status)];
      std::fprintf(stderr,
                   "\r[%3d%%] %zu/%zu  pass %d fail %d unsupported %d error %d crash %d "
                   "timeout %d   ",
                   pct, done, mTotal, n[0], n[1], n[2], n[3], n[4], n[5]);
      if (done == mTotal) std::fprintf(stderr, "\n");
    } else if (pct / 10 != mLastTenth || done == mTotal) {
      mLastTenth = pct / 10;
      std::fprintf(stderr, "[%3d%%] %zu/%zu cases\n", pct, done, mTotal);
    }
  }

 private:
  size_t mTotal;
  bool mTty;
  int mLastTenth = -1;
};

std::vector<CaseResult> runAll(const Options& o, const std::vector<fs::path>& cases) {
  const std::string exe = selfExe();
  std::vector<CaseResult> results(cases.size());
  std::vector<Child> running;
  size_t next = 0, done = 0;
  int jobs = o.jobs > 0 ? o.jobs : std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  Progress progress(cases.size());
  // One thread per case process: the parallelism is across cases.
  setenv("OPENBLAS_NUM_THREADS", "1", 1);
  setenv("OMP_NUM_THREADS", "1", 1);
  while (done < cases.size()) {
    while (static_cast<int>(running.size()) < jobs && next < cases.size()) {
      Child c{};
      if (exe.empty() || !spawn(o, exe, cases[next].string(), next, c)) {
        results[next].name = cases[next].filename().string();
        results[next].status = CaseStatus::kError;
        results[next].message =
            "could not start the case's process: " + std::string(strerror(errno));
        ++next;
        ++done;
        continue;
      }
      running.push_back(std::move(c));
      ++next;
    }
    std::vector<pollfd> fds;
    for (const Child& c : running) {
      if (c.outFd >= 0) fds.push_back({c.outFd, POLLIN, 0});
      if (c.errFd >= 0) fds.push_back({c.errFd, POLLIN, 0});
    }
    if (!fds.empty()) poll(fds.data(), fds.size(), 200);
    for (const pollfd& p : fds) {
      if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
      for (Child& c : running) {
        int* fd = p.fd == c.outFd ? &c.outFd : p.fd == c.errFd ? &c.errFd : nullptr;
        if (!fd) continue;
        std::string& into = fd == &c.outFd ? c.out : c.err;
        char buf[4096];
        ssize_t n = read(*fd, buf, sizeof buf);
        if (n > 0) {
          into.append(buf, static_cast<size_t>(n));
          if (into.size() > (1u << 20)) into.erase(0, into.size() - (1u << 19));
        } else if (n == 0 || errno != EINTR) {
          close(*fd);
          *fd = -1;
        }
      }
    }
    auto now = std::chrono::steady_clock::now();
    for (size_t i = 0; i < running.size();) {
      Child& c = running[i];
      // The child's alarm() ends hung cases; this catches one that blocks SIGALRM.
      if (!c.killed && now - c.start > std::chrono::seconds(o.timeoutSeconds + 10)) {
        kill(c.pid, SIGKILL);
        c.killed = true;
      }
      if (c.outFd >= 0 || c.errFd >= 0) {
        ++i;
        continue;
      }
      int status = 0;
      while (waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
      }
      results[c.index] = finish(c, status, cases[c.index].filename().string(), o.timeoutSeconds);
      if (o.verbose && results[c.index].status != CaseStatus::kPass)
        std::fprintf(stderr, "%s%s: %s: %s\n", isatty(2) ? "\r" : "", results[c.index].name.c_str(),
                     statusName(results[c.index].status), results[c.index].message.c_str());
      running.erase(running.begin() + static_cast<long>(i));
      ++done;
      progress.update(done, results);
    }
  }
  return results;
}

bool writeFile(const std::string& path, const std::string& text) {
  std::error_code ec;
  fs::path p(path);
  if (p.has_parent_path()) fs::create_directories(p.parent_path(), ec);
  std::ofstream f(path, std::ios::binary);
  f << text;
  f.close();
  if (!f) {
    std::fprintf(stderr, "kiln_conformance: cannot write '%s'\n", path.c_str());
    return false;
  }
  return true;
}

// The baseline file: comment lines (#) and one line "pass <N>".
bool readBaseline(const std::string& path, int* pass) {
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    std::string key;
    if (ss >> key >> *pass && key == "pass") return true;
  }
  return false;
}

std::string commandLine(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--update-baseline") continue;
    s += (i ? " " : "") + a;
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parseArgs(argc, argv, o)) {
    usage(stderr);
    return 2;
  }
  if (o.device != "cpu" && o.device != "gpu" && o.device != "cuda") {
    std::fprintf(stderr, "kiln_conformance: --device must be cpu or gpu, got '%s'\n",
                 o.device.c_str());
    return 2;
  }
  if (o.device != "cpu") o.memoryLimitMb = 0;
  setCaseDevice(o.device == "cpu" ? kiln::DeviceType::kCPU : kiln::DeviceType::kGPU);
  if (!o.runCase.empty()) return runChild(o);

  std::string casesDir = o.cases;
  if (casesDir.empty()) {
    if (o.tarball.empty() || o.unpackDir.empty()) {
      std::fprintf(stderr,
                   "kiln_conformance: give --cases=DIR, or --tarball=FILE and --unpack-dir=DIR\n");
      usage(stderr);
      return 2;
    }
    if (!fs::exists(o.tarball)) {
      std::printf(
          "SKIP: the ONNX conformance tarball '%s' does not exist. Set the CMake variable "
          "KILN_CONFORMANCE_TARBALL to onnx-node-tests.tar.gz (see "
          "tests/conformance/README.md) to run the conformance suite.\n",
          o.tarball.c_str());
      return kSkipReturnCode;
    }
    casesDir = unpackCases(o);
    if (casesDir.empty()) return 1;
  }
  if (o.updateBaseline && o.baseline.empty()) {
    std::fprintf(stderr, "kiln_conformance: --update-baseline needs --baseline=FILE\n");
    return 2;
  }
  if (o.updateBaseline && !o.filter.empty()) {
    std::fprintf(stderr,
                 "kiln_conformance: --update-baseline needs the whole suite (no --filter)\n");
    return 2;
  }

  // Cases: sub-folders holding a model.onnx (also accepts the folder above node/).
  fs::path root(casesDir);
  if (!fs::exists(root / "test_abs") && fs::is_directory(root / "node")) root /= "node";
  std::vector<fs::path> cases;
  std::error_code ec;
  std::regex re;
  try {
    re = std::regex(o.filter.empty() ? ".*" : o.filter);
  } catch (const std::regex_error& e) {
    std::fprintf(stderr, "kiln_conformance: bad --filter regex '%s': %s\n", o.filter.c_str(),
                 e.what());
    return 2;
  }
  for (const auto& e : fs::directory_iterator(root, ec)) {
    if (!e.is_directory() || !fs::exists(e.path() / "model.onnx")) continue;
    if (!o.filter.empty() && !std::regex_search(e.path().filename().string(), re)) continue;
    cases.push_back(fs::absolute(e.path()));
  }
  if (ec) {
    std::fprintf(stderr, "kiln_conformance: cannot list '%s': %s\n", root.string().c_str(),
                 ec.message().c_str());
    return 1;
  }
  std::sort(cases.begin(), cases.end());
  if (cases.empty()) {
    std::fprintf(stderr, "kiln_conformance: no cases in '%s'%s\n", root.string().c_str(),
                 o.filter.empty() ? "" : " match the filter");
    return 1;
  }

  auto t0 = std::chrono::steady_clock::now();
  std::vector<CaseResult> results = runAll(o, cases);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  assignPrimaryOps(results);

  bool ok = true;
  if (!o.json.empty()) ok &= writeFile(o.json, jsonReport(results));
  if (!o.markdown.empty()) ok &= writeFile(o.markdown, markdownReport(results, o.filter));

  const int pass = countStatus(results, CaseStatus::kPass);
  std::printf("%s (%.1f s)\n", summaryLine(results).c_str(), seconds);
  for (const CaseResult& r : results)
    if (r.status == CaseStatus::kCrash)
      std::printf("CRASH %s (%s): %s\n", r.name.c_str(), r.op.c_str(), r.message.c_str());

  if (!o.baseline.empty()) {
    if (o.updateBaseline) {
      std::string text =
          "# Conformance pass count (kiln_conformance over the whole ONNX node suite on the CPU).\n"
          "# The ctest entry 'conformance' fails when fewer cases pass. Update after "
          "improvements:\n"
          "#   tests/conformance/update_report.sh <build-dir> --update-baseline\n"
          "pass " +
          std::to_string(pass) + "\n";
      if (!writeFile(o.baseline, text)) return 1;
      std::printf("baseline updated: pass %d -> %s\n", pass, o.baseline.c_str());
    } else if (!o.filter.empty()) {
      std::printf("baseline not checked: --filter runs only part of the suite\n");
    } else {
      int want = 0;
      if (!readBaseline(o.baseline, &want)) {
        std::fprintf(stderr, "kiln_conformance: cannot read a 'pass <N>' line from '%s'\n",
                     o.baseline.c_str());
        return 1;
      }
      if (pass < want) {
        std::printf(
            "FAILED: %d cases pass, the baseline (%s) says %d. A regression: see the cases "
            "above or run with --verbose/--json. If the drop is intended, update the "
            "baseline:\n  %s --update-baseline\n",
            pass, o.baseline.c_str(), want, commandLine(argc, argv).c_str());
        return 1;
      }
      if (pass > want)
        std::printf(
            "%d cases pass, more than the baseline's %d: raise it with\n  %s "
            "--update-baseline\n",
            pass, want, commandLine(argc, argv).c_str());
      else
        std::printf("pass count matches the baseline (%d)\n", want);
    }
  }
  return ok ? 0 : 1;
}
