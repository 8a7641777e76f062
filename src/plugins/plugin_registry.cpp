#include "plugins/plugin_registry.h"

#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <filesystem>
#include <set>
#include <tuple>

#include "common/status.h"

namespace kiln::plugins {

namespace {

std::string str(const char* s) { return s ? std::string(s) : std::string(); }

// What a library's kilnRegisterPlugins sees: registrations are collected and committed
// together after it returns, so a library with one conflicting creator registers none.
class StagingRegistry final : public PluginRegistry {
 public:
  explicit StagingRegistry(PluginRegistryImpl& real) : mReal(real) {}
  ~StagingRegistry() = default;

  PluginStatus registerCreator(std::unique_ptr<PluginCreator> creator) override {
    if (!creator) return PluginStatus::error("registerCreator: null creator");
    mStaged.push_back(std::move(creator));
    return PluginStatus::success();
  }
  PluginCreator* getCreator(std::string_view name, std::string_view version,
                            std::string_view nameSpace) const override {
    return mReal.getCreator(name, version, nameSpace);
  }
  std::vector<PluginCreator*> allCreators() const override { return mReal.allCreators(); }
  std::string getCreatorLibrary(const PluginCreator* creator) const override {
    return mReal.getCreatorLibrary(creator);
  }
  PluginStatus loadLibrary(const char*) override {
    return PluginStatus::error(
        "loadLibrary cannot be called from kilnRegisterPlugins; load both libraries from the "
        "program (--plugins=a.so,b.so)");
  }

  std::vector<std::unique_ptr<PluginCreator>> take() { return std::move(mStaged); }

 private:
  PluginRegistryImpl& mReal;
  std::vector<std::unique_ptr<PluginCreator>> mStaged;
};

// The path recorded for a library: absolute and normalized when it names a file (contains a
// '/'), else as given (the dynamic loader searches LD_LIBRARY_PATH and the system folders).
std::string recordedPath(const std::string& path) {
  if (path.find('/') == std::string::npos) return path;
  std::error_code ec;
  std::filesystem::path p = std::filesystem::weakly_canonical(std::filesystem::absolute(path, ec), ec);
  return ec ? path : p.string();
}

}  // namespace

std::string describeCreator(std::string_view name, std::string_view version,
                            std::string_view nameSpace) {
  std::string out = std::string(name) + " (version " + std::string(version);
  if (!nameSpace.empty()) out += ", namespace '" + std::string(nameSpace) + "'";
  return out + ")";
}

std::string describeLibrary(const std::string& library) {
  return library.empty() ? std::string("the program itself (registered in-process)")
                         : "library '" + library + "'";
}

bool versionLess(std::string_view a, std::string_view b) {
  // Split at dots; compare numeric parts as numbers, others as strings.
  auto parts = [](std::string_view v) {
    std::vector<std::string> out(1);
    for (char c : v) {
      if (c == '.') out.emplace_back();
      else out.back() += c;
    }
    return out;
  };
  auto isNum = [](const std::string& s) {
    return !s.empty() && s.size() < 19 &&
           std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
  };
  std::vector<std::string> pa = parts(a), pb = parts(b);
  for (size_t i = 0; i < std::max(pa.size(), pb.size()); ++i) {
    std::string x = i < pa.size() ? pa[i] : "0", y = i < pb.size() ? pb[i] : "0";
    if (isNum(x) && isNum(y)) {
      long long nx = std::stoll(x), ny = std::stoll(y);
      if (nx != ny) return nx < ny;
    } else if (x != y) {
      return x < y;
    }
  }
  return false;
}

PluginStatus PluginRegistryImpl::registerCreator(std::unique_ptr<PluginCreator> creator) {
  std::vector<std::unique_ptr<PluginCreator>> one;
  one.push_back(std::move(creator));
  return registerAll(std::move(one), "");
}

PluginStatus PluginRegistryImpl::registerAll(std::vector<std::unique_ptr<PluginCreator>> creators,
                                             const std::string& library) {
  std::lock_guard<std::mutex> lock(mMutex);
  std::vector<std::string> problems;
  std::set<std::tuple<std::string, std::string, std::string>> batch;
  for (const auto& c : creators) {
    if (!c) {
      problems.push_back("a null creator was registered");
      continue;
    }
    std::string name = str(c->getPluginName()), version = str(c->getPluginVersion()),
                ns = str(c->getPluginNamespace());
    if (name.empty() || version.empty()) {
      problems.push_back("a creator has an empty " + std::string(name.empty() ? "name" : "version") +
                         (name.empty() ? "" : " (plugin '" + name + "')"));
      continue;
    }
    std::string what = describeCreator(name, version, ns);
    if (!batch.insert({name, version, ns}).second) {
      problems.push_back(what + " is registered twice by " + describeLibrary(library));
      continue;
    }
    for (const Entry& e : mEntries) {
      if (e.name == name && e.version == version && e.nameSpace == ns)
        problems.push_back(what + " from " + describeLibrary(library) +
                           " is already registered by " + describeLibrary(e.library));
    }
  }
  if (!problems.empty()) {
    std::string msg = "plugin registration failed";
    if (!library.empty()) msg += " for library '" + library + "' (none of its creators was registered)";
    if (problems.size() == 1) return PluginStatus::error(msg + ": " + problems[0]);
    msg += ":";
    for (const std::string& p : problems) msg += "\n  - " + p;
    return PluginStatus::error(msg);
  }
  for (auto& c : creators) {
    Entry e;
    e.name = str(c->getPluginName());
    e.version = str(c->getPluginVersion());
    e.nameSpace = str(c->getPluginNamespace());
    e.library = library;
    e.creator = std::move(c);
    mEntries.push_back(std::move(e));
  }
  return PluginStatus::success();
}

PluginCreator* PluginRegistryImpl::getCreator(std::string_view name, std::string_view version,
                                              std::string_view nameSpace) const {
  std::lock_guard<std::mutex> lock(mMutex);
  const Entry* best = nullptr;
  for (const Entry& e : mEntries) {
    if (e.name != name || e.nameSpace != nameSpace) continue;
    if (!version.empty()) {
      if (e.version == version) return e.creator.get();
      continue;
    }
    if (!best || versionLess(best->version, e.version)) best = &e;
  }
  return best ? best->creator.get() : nullptr;
}

std::vector<PluginCreator*> PluginRegistryImpl::allCreators() const {
  std::lock_guard<std::mutex> lock(mMutex);
  std::vector<PluginCreator*> out;
  for (const Entry& e : mEntries) out.push_back(e.creator.get());
  return out;
}

std::string PluginRegistryImpl::getCreatorLibrary(const PluginCreator* creator) const {
  std::lock_guard<std::mutex> lock(mMutex);
  for (const Entry& e : mEntries)
    if (e.creator.get() == creator) return e.library;
  return "";
}

std::vector<std::string> PluginRegistryImpl::versionsOf(std::string_view name,
                                                        std::string_view nameSpace) const {
  std::lock_guard<std::mutex> lock(mMutex);
  std::vector<std::string> out;
  for (const Entry& e : mEntries)
    if (e.name == name && e.nameSpace == nameSpace) out.push_back(e.version);
  return out;
}

std::vector<std::string> PluginRegistryImpl::loadedLibraries() const {
  std::lock_guard<std::mutex> lock(mLoadMutex);
  return mLoaded;
}

PluginStatus PluginRegistryImpl::loadLibrary(const char* pathArg) {
  std::string path = str(pathArg);
  if (path.empty()) return PluginStatus::error("loadLibrary: no path given");
  std::string recorded = recordedPath(path);
  std::lock_guard<std::mutex> loadLock(mLoadMutex);
  if (std::find(mLoaded.begin(), mLoaded.end(), recorded) != mLoaded.end())
    return PluginStatus::success();
  // RTLD_LOCAL: two plugin libraries never resolve each other's symbols. RTLD_NOW: a library
  // with unresolved symbols fails here, with the loader's message, rather than mid-inference.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* err = dlerror();
    return PluginStatus::error(strFormat("cannot load plugin library '%s': %s", path.c_str(),
                                         err ? err : "unknown error"));
  }
  auto fail = [&](std::string message) {
    dlclose(handle);
    return PluginStatus::error(std::move(message));
  };
  using VersionFn = int32_t (*)();
  using RegisterFn = void (*)(PluginRegistry&);
  auto versionFn = reinterpret_cast<VersionFn>(dlsym(handle, "kilnPluginApiVersion"));
  auto registerFn = reinterpret_cast<RegisterFn>(dlsym(handle, "kilnRegisterPlugins"));
  if (!versionFn || !registerFn)
    return fail(strFormat("'%s' is not a Kiln plugin library: it does not export %s; define its "
                          "entry point with KILN_PLUGIN_EXPORT (kiln/plugin.h, docs/plugins.md)",
                          path.c_str(), !versionFn ? "kilnPluginApiVersion" : "kilnRegisterPlugins"));
  int32_t apiVersion = versionFn();
  if (apiVersion != kPluginApiVersion)
    return fail(strFormat("plugin library '%s' was built against plugin API version %d; this Kiln "
                          "(%s) has version %d: rebuild the library against this Kiln's "
                          "kiln/plugin.h",
                          path.c_str(), apiVersion, versionString(), kPluginApiVersion));
  StagingRegistry staging(*this);
  // A throwing registration function must not take the program down (errors are values).
  // Creators staged before a throw are destroyed before the library is closed.
  std::string thrown;
  try {
    registerFn(staging);
  } catch (const std::exception& e) {
    thrown = e.what();
    if (thrown.empty()) thrown = "std::exception";
  } catch (...) {
    thrown = "an unknown exception";
  }
  if (!thrown.empty()) {
    staging.take().clear();
    return fail(strFormat("plugin library '%s': kilnRegisterPlugins threw %s", path.c_str(),
                          thrown.c_str()));
  }
  std::vector<std::unique_ptr<PluginCreator>> creators = staging.take();
  PluginStatus st = registerAll(std::move(creators), recorded);
  // On failure the staged creators are destroyed (inside registerAll's argument) before the
  // library is closed, so their destructors' code is still mapped.
  if (!st.isOk()) return fail(st.message());
  // Success: never dlclose. The creators (and plugins they make) run the library's code for
  // the rest of the process.
  mLoaded.push_back(recorded);
  return PluginStatus::success();
}

PluginRegistryImpl& globalRegistry() {
  static PluginRegistryImpl* registry = new PluginRegistryImpl();  // intentionally never freed
  return *registry;
}

}  // namespace kiln::plugins

namespace kiln {

PluginRegistry& getPluginRegistry() { return plugins::globalRegistry(); }

PluginStatus loadPluginLibraries(const char* pathList) {
  if (!pathList) return PluginStatus::success();
  std::string list = pathList, errors;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(':', start);
    if (end == std::string::npos) end = list.size();
    std::string path = list.substr(start, end - start);
    if (!path.empty()) {
      PluginStatus st = getPluginRegistry().loadLibrary(path.c_str());
      if (!st.isOk()) errors += (errors.empty() ? "" : "\n") + st.message();
    }
    start = end + 1;
  }
  return errors.empty() ? PluginStatus::success() : PluginStatus::error(errors);
}

}  // namespace kiln
