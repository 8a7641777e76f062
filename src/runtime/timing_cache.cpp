#include "runtime/timing_cache.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace kiln::detail {

namespace {

constexpr const char* kHeader = "kiln-timing-cache 1";

bool cleanField(const std::string& s) {
  return !s.empty() && s.find_first_of("\t\n\r") == std::string::npos;
}

}  // namespace

StatusOr<TimingCache> TimingCache::parse(const std::string& text, const std::string& where) {
  TimingCache cache;
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != kHeader)
    return invalidArgument(
        "%s is not a Kiln timing cache (its first line is not \"%s\"); pass another file or "
        "delete it to start a new cache",
        where.c_str(), kHeader);
  int lineNo = 1;
  while (std::getline(in, line)) {
    ++lineNo;
    if (line.empty()) continue;
    const size_t t1 = line.find('\t');
    const size_t t2 = t1 == std::string::npos ? t1 : line.find('\t', t1 + 1);
    if (t2 == std::string::npos || line.find('\t', t2 + 1) != std::string::npos)
      return invalidArgument(
          "%s line %d: expected <key> TAB <tactic> TAB <ms>; the file is damaged (delete it to "
          "start a new cache)",
          where.c_str(), lineNo);
    std::string key = line.substr(0, t1);
    std::string tactic = line.substr(t1 + 1, t2 - t1 - 1);
    const std::string msText = line.substr(t2 + 1);
    char* end = nullptr;
    errno = 0;
    const double ms = std::strtod(msText.c_str(), &end);
    if (key.empty() || tactic.empty() || msText.empty() || !end || *end != '\0' || errno != 0 ||
        !std::isfinite(ms) || ms < 0)
      return invalidArgument(
          "%s line %d: bad entry (empty key or tactic, or time '%s' not a number >= 0); the file "
          "is damaged (delete it to start a new cache)",
          where.c_str(), lineNo, msText.c_str());
    cache.mEntries[std::move(key)] = Entry{std::move(tactic), ms};
  }
  return cache;
}

std::string TimingCache::serialize() const {
  std::string out = std::string(kHeader) + "\n";
  char ms[64];
  for (const auto& [key, e] : mEntries) {
    std::snprintf(ms, sizeof(ms), "%.6g", e.ms);
    out += key + "\t" + e.tactic + "\t" + ms + "\n";
  }
  return out;
}

StatusOr<TimingCache> TimingCache::load(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return TimingCache{};
  std::ifstream f(path, std::ios::binary);
  if (!f) return invalidArgument("cannot read the timing cache '%s'", path.c_str());
  std::ostringstream ss;
  ss << f.rdbuf();
  return parse(ss.str(), "timing cache '" + path + "'");
}

Status TimingCache::save(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return invalidArgument("cannot write the timing cache '%s'", tmp.c_str());
    const std::string text = serialize();
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!f) return invalidArgument("cannot write the timing cache '%s'", tmp.c_str());
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return invalidArgument("cannot replace the timing cache '%s'", path.c_str());
  }
  return Status::ok();
}

const TimingCache::Entry* TimingCache::find(const std::string& key) const {
  auto it = mEntries.find(key);
  return it == mEntries.end() ? nullptr : &it->second;
}

bool TimingCache::insert(const std::string& key, const std::string& tactic, double ms) {
  if (!cleanField(key) || !cleanField(tactic) || !std::isfinite(ms) || ms < 0) return false;
  mEntries[key] = Entry{tactic, ms};
  return true;
}

}  // namespace kiln::detail
