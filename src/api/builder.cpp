#include "kiln/builder.h"

#include <algorithm>
#include <cstring>

#include "builder/build.h"
#include "common/logging.h"

namespace kiln {

// ---- OptimizationProfile ------------------------------------------------------------------------

OptimizationProfile::Entry* OptimizationProfile::find(const char* name) {
  if (!name) return nullptr;
  for (auto& e : mEntries)
    if (e.name == name) return &e;
  return nullptr;
}
const OptimizationProfile::Entry* OptimizationProfile::find(const char* name) const {
  if (!name) return nullptr;
  for (const auto& e : mEntries)
    if (e.name == name) return &e;
  return nullptr;
}

bool OptimizationProfile::setDimensions(const char* inputName, OptProfileSelector select,
                                        const Dims& dims) {
  if (!inputName || dims.nbDims < 0 || dims.nbDims > Dims::kMaxDims) return false;
  Entry* e = find(inputName);
  if (!e) {
    mEntries.push_back({});
    e = &mEntries.back();
    e->name = inputName;
  }
  for (int k = 0; k < 3; ++k)
    if (e->set[k] && e->dims[k].nbDims != dims.nbDims) return false;
  int k = static_cast<int>(select);
  e->dims[k] = dims;
  e->set[k] = true;
  return true;
}

Dims OptimizationProfile::getDimensions(const char* inputName, OptProfileSelector select) const {
  const Entry* e = find(inputName);
  int k = static_cast<int>(select);
  if (!e || !e->set[k]) {
    Dims d;
    d.nbDims = -1;
    return d;
  }
  return e->dims[k];
}

bool OptimizationProfile::setShape(const char* inputName, const Dims& min, const Dims& opt,
                                   const Dims& max) {
  return setDimensions(inputName, OptProfileSelector::kMIN, min) &&
         setDimensions(inputName, OptProfileSelector::kOPT, opt) &&
         setDimensions(inputName, OptProfileSelector::kMAX, max);
}

bool OptimizationProfile::setShapeValues(const char* inputName, OptProfileSelector select,
                                         const int64_t* values, int32_t nbValues) {
  if (!inputName || nbValues < 0 || (nbValues > 0 && !values)) return false;
  Entry* e = find(inputName);
  if (!e) {
    mEntries.push_back({});
    e = &mEntries.back();
    e->name = inputName;
  }
  for (int k = 0; k < 3; ++k)
    if (e->valuesSet[k] && e->values[k].size() != static_cast<size_t>(nbValues)) return false;
  int k = static_cast<int>(select);
  e->values[k].assign(values, values + nbValues);
  e->valuesSet[k] = true;
  return true;
}

std::vector<int64_t> OptimizationProfile::getShapeValues(const char* inputName,
                                                         OptProfileSelector select) const {
  const Entry* e = find(inputName);
  int k = static_cast<int>(select);
  if (!e || !e->valuesSet[k]) return {};
  return e->values[k];
}

bool OptimizationProfile::isValid() const {
  for (const auto& e : mEntries) {
    if (e.valuesSet[0] || e.valuesSet[1] || e.valuesSet[2]) {
      if (!e.valuesSet[0] || !e.valuesSet[1] || !e.valuesSet[2]) return false;
      for (size_t i = 0; i < e.values[0].size(); ++i)
        if (e.values[0][i] > e.values[1][i] || e.values[1][i] > e.values[2][i]) return false;
    }
    if (!e.set[0] && !e.set[1] && !e.set[2] && e.valuesSet[0]) continue;  // values only
    if (!e.set[0] || !e.set[1] || !e.set[2]) return false;
    for (int i = 0; i < e.dims[0].nbDims; ++i)
      if (e.dims[0].d[i] < 0 || e.dims[0].d[i] > e.dims[1].d[i] || e.dims[1].d[i] > e.dims[2].d[i])
        return false;
  }
  return true;
}

std::vector<std::string> OptimizationProfile::getInputNames() const {
  std::vector<std::string> out;
  for (const auto& e : mEntries) out.push_back(e.name);
  return out;
}

// ---- BuilderConfig ------------------------------------------------------------------------------

void BuilderConfig::setFlag(BuilderFlag flag) { mFlags |= 1u << static_cast<int>(flag); }
void BuilderConfig::clearFlag(BuilderFlag flag) { mFlags &= ~(1u << static_cast<int>(flag)); }
bool BuilderConfig::getFlag(BuilderFlag flag) const {
  return (mFlags >> static_cast<int>(flag)) & 1u;
}
void BuilderConfig::setMemoryPoolLimit(MemoryPoolType pool, size_t bytes) {
  if (pool == MemoryPoolType::kWORKSPACE) mWorkspace = bytes;
}
size_t BuilderConfig::getMemoryPoolLimit(MemoryPoolType pool) const {
  return pool == MemoryPoolType::kWORKSPACE ? mWorkspace : 0;
}
int BuilderConfig::addOptimizationProfile(const OptimizationProfile* profile) {
  if (!profile || !profile->isValid()) return -1;
  mProfiles.push_back(*profile);
  return static_cast<int>(mProfiles.size()) - 1;
}
int BuilderConfig::getNbOptimizationProfiles() const { return static_cast<int>(mProfiles.size()); }
const OptimizationProfile* BuilderConfig::getOptimizationProfile(int index) const {
  if (index < 0 || static_cast<size_t>(index) >= mProfiles.size()) return nullptr;
  return &mProfiles[static_cast<size_t>(index)];
}
void BuilderConfig::setDeviceType(DeviceType type) { mDevice = type; }
DeviceType BuilderConfig::getDeviceType() const { return mDevice; }
void BuilderConfig::setBuilderOptimizationLevel(int level) { mOptLevel = std::clamp(level, 0, 5); }
int BuilderConfig::getBuilderOptimizationLevel() const { return mOptLevel; }
void BuilderConfig::setDisabledPasses(const std::vector<std::string>& names) {
  mDisabledPasses = names;
}
void BuilderConfig::setTimingCacheFile(const std::string& path) { mTimingCacheFile = path; }
const std::string& BuilderConfig::getTimingCacheFile() const { return mTimingCacheFile; }
const std::vector<std::string>& BuilderConfig::getDisabledPasses() const { return mDisabledPasses; }
void BuilderConfig::setProfilingVerbosity(ProfilingVerbosity verbosity) {
  mProfilingVerbosity = verbosity;
}
ProfilingVerbosity BuilderConfig::getProfilingVerbosity() const { return mProfilingVerbosity; }

const char* profilingVerbosityName(ProfilingVerbosity v) {
  switch (v) {
    case ProfilingVerbosity::kLAYER_NAMES_ONLY: return "layer_names_only";
    case ProfilingVerbosity::kNONE: return "none";
    case ProfilingVerbosity::kDETAILED: return "detailed";
  }
  return "unknown";
}

// ---- Builder -----------------------------------------------------------------------------------

std::unique_ptr<Builder> Builder::create(Logger& logger) {
  return std::unique_ptr<Builder>(new Builder(logger));
}
Builder::~Builder() = default;

std::unique_ptr<NetworkDefinition> Builder::createNetwork() {
  return std::unique_ptr<NetworkDefinition>(new NetworkDefinition(mLogger));
}
std::unique_ptr<BuilderConfig> Builder::createConfig() { return std::make_unique<BuilderConfig>(); }
OptimizationProfile* Builder::createOptimizationProfile() {
  mProfiles.push_back(std::make_unique<OptimizationProfile>());
  return mProfiles.back().get();
}

std::unique_ptr<HostMemory> Builder::buildSerializedNetwork(NetworkDefinition& network,
                                                            const BuilderConfig& config) {
  auto fail = [&](const Status& s) -> std::unique_ptr<HostMemory> {
    mLastError = s.message();
    logMessage(&mLogger, Severity::kERROR, "builder", s.message());
    return nullptr;
  };
  auto plan = build::buildPlan(network, config, mLogger);
  if (!plan.isOk()) return fail(plan.status());
  auto bytes = plan::serializePlan(*plan);
  if (!bytes.isOk()) return fail(bytes.status());
  mLastError.clear();
  return std::make_unique<HostMemory>(std::move(bytes).value());
}

}  // namespace kiln
