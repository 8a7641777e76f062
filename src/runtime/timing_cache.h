// The timing cache: what the builder's tactic timing learned, kept in a file so that a second
// build (of this or another network with the same layer problems) skips the timing and makes the
// same choices (trtexec's --timingCacheFile; BuilderConfig::setTimingCacheFile).
//
// An entry maps a key, "<GPU name>|<library versions>|<the kernel's timing key>" (the problem:
// op, data types, shapes, geometry), to the fastest tactic id and its median time. A cache from
// another GPU or library version simply has no matching keys. File format (text, one entry per
// line, fields separated by tabs; keys never contain tabs or newlines):
//
//   kiln-timing-cache 1
//   <key>\t<tactic id>\t<median ms>
#pragma once

#include <map>
#include <string>

#include "common/status.h"

namespace kiln::detail {

class TimingCache {
 public:
  struct Entry {
    std::string tactic;
    double ms = 0;
  };

  // Reads `path`; a missing file is an empty cache. A file that is not a timing cache, or a
  // malformed line, is an error naming the file and line (delete the file to start over).
  static StatusOr<TimingCache> load(const std::string& path);
  // Writes the cache (to a temporary file renamed over `path`, so a crash never leaves half a
  // file).
  Status save(const std::string& path) const;
  // Parses / prints the file contents (`where` names the source in errors).
  static StatusOr<TimingCache> parse(const std::string& text, const std::string& where);
  std::string serialize() const;

  const Entry* find(const std::string& key) const;
  // Adds or replaces an entry; keys with tabs or newlines are refused (false).
  bool insert(const std::string& key, const std::string& tactic, double ms);
  size_t size() const { return mEntries.size(); }

 private:
  std::map<std::string, Entry> mEntries;
};

}  // namespace kiln::detail
