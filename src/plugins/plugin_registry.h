// The plugin registry behind kiln::getPluginRegistry(): creators by (name, version, namespace),
// the library each came from, and library loading (dlopen + kilnRegisterPlugins).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/plugin.h"

namespace kiln::plugins {

class PluginRegistryImpl final : public PluginRegistry {
 public:
  PluginRegistryImpl() = default;
  ~PluginRegistryImpl() = default;
  PluginRegistryImpl(const PluginRegistryImpl&) = delete;
  PluginRegistryImpl& operator=(const PluginRegistryImpl&) = delete;

  PluginStatus registerCreator(std::unique_ptr<PluginCreator> creator) override;
  PluginCreator* getCreator(std::string_view name, std::string_view version,
                            std::string_view nameSpace) const override;
  std::vector<PluginCreator*> allCreators() const override;
  std::string getCreatorLibrary(const PluginCreator* creator) const override;
  PluginStatus loadLibrary(const char* path) override;

  // Registers creators that came from `library` ("" for the program), all or none: every
  // conflict (with registered creators or within the batch) is listed in the error.
  PluginStatus registerAll(std::vector<std::unique_ptr<PluginCreator>> creators,
                           const std::string& library);
  // Versions registered for (name, namespace), for "not found" messages.
  std::vector<std::string> versionsOf(std::string_view name, std::string_view nameSpace) const;
  // Libraries loaded so far (as recorded: absolute paths for paths with a '/').
  std::vector<std::string> loadedLibraries() const;

 private:
  struct Entry {
    std::unique_ptr<PluginCreator> creator;
    std::string name, version, nameSpace, library;
  };
  mutable std::mutex mMutex;
  std::vector<Entry> mEntries;  // only grows: creators live as long as the registry
  mutable std::mutex mLoadMutex;  // one loadLibrary at a time (keeps "already loaded" exact)
  std::vector<std::string> mLoaded;
};

// "ScaledSwish (version 1, namespace 'kiln.examples')"; the namespace part only when non-empty.
std::string describeCreator(std::string_view name, std::string_view version,
                            std::string_view nameSpace);
// "library '/x/libp.so'" or "the program itself (registered in-process)".
std::string describeLibrary(const std::string& library);
// Orders version strings numerically by dot-separated parts ("1.10" > "1.9"); true if a < b.
bool versionLess(std::string_view a, std::string_view b);

// The process-wide registry as the implementation type (never destroyed: creators may live in
// libraries whose code must not run during static destruction).
PluginRegistryImpl& globalRegistry();

}  // namespace kiln::plugins
