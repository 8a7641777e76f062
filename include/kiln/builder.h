// Builder, BuilderConfig and OptimizationProfile: turn a NetworkDefinition into a plan.
//
//   auto builder = kiln::Builder::create(logger);
//   auto network = builder->createNetwork();           // fill by hand or with OnnxParser
//   auto config = builder->createConfig();
//   config->setMemoryPoolLimit(kiln::MemoryPoolType::kWORKSPACE, 1 << 30);
//   kiln::OptimizationProfile* p = builder->createOptimizationProfile();
//   p->setShape("x", {1, 3, 224, 224}, {8, 3, 224, 224}, {32, 3, 224, 224});
//   config->addOptimizationProfile(p);
//   std::unique_ptr<kiln::HostMemory> plan = builder->buildSerializedNetwork(*network, *config);
//
// A network with dynamic input dims needs a profile giving min/opt/max for each such input;
// execution contexts accept only shapes inside the profile.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/network.h"
#include "kiln/types.h"

namespace kiln {

// A byte buffer owned by Kiln (a serialized plan).
class HostMemory {
 public:
  explicit HostMemory(std::vector<uint8_t> bytes) : mBytes(std::move(bytes)) {}
  const void* data() const { return mBytes.data(); }
  size_t size() const { return mBytes.size(); }
  const std::vector<uint8_t>& bytes() const { return mBytes; }

 private:
  std::vector<uint8_t> mBytes;
};

enum class OptProfileSelector : int32_t { kMIN = 0, kOPT = 1, kMAX = 2 };

class OptimizationProfile {
 public:
  // Sets one of min/opt/max for an input. Returns false on a rank mismatch with earlier calls.
  bool setDimensions(const char* inputName, OptProfileSelector select, const Dims& dims);
  Dims getDimensions(const char* inputName, OptProfileSelector select) const;
  // Sets min, opt and max at once.
  bool setShape(const char* inputName, const Dims& min, const Dims& opt, const Dims& max);
  // Shape tensor inputs (Engine::isShapeInferenceIO; TensorRT's setShapeValues): one of
  // min/opt/max of the input's element values, elementwise. Optional: without them any values
  // are accepted at run time. Returns false on a count mismatch with earlier calls.
  bool setShapeValues(const char* inputName, OptProfileSelector select, const int64_t* values,
                      int32_t nbValues);
  // Empty when not set.
  std::vector<int64_t> getShapeValues(const char* inputName, OptProfileSelector select) const;
  // True when every input given has min <= opt <= max elementwise.
  bool isValid() const;
  std::vector<std::string> getInputNames() const;

 private:
  struct Entry {
    std::string name;
    Dims dims[3];
    bool set[3] = {false, false, false};
    std::vector<int64_t> values[3];
    bool valuesSet[3] = {false, false, false};
  };
  std::vector<Entry> mEntries;
  Entry* find(const char* name);
  const Entry* find(const char* name) const;
};

enum class BuilderFlag : int32_t {
  kFP16 = 0,   // allow float16 kernels
  kBF16 = 1,   // allow bfloat16 kernels
  kINT8 = 2,   // allow int8 kernels
  kTF32 = 3,   // allow TF32 tensor cores for float32 (off by default: float32 stays within 1e-5
               // of the CPU reference; the CUDA backend does not use TF32 yet even when set)
  kDEBUG = 4,  // verify the graph after every optimizer pass
};

enum class MemoryPoolType : int32_t { kWORKSPACE = 0 };

// How much per-layer detail a plan keeps for Engine::getLayerInformation, `kiln inspect` and NVTX
// ranges (TensorRT's ProfilingVerbosity, trtexec --profilingVerbosity; same numbering):
// kDETAILED (Kiln's default) keeps everything (inputs, outputs, shapes, precision, fused nodes,
// tactic); kLAYER_NAMES_ONLY only the layer names; kNONE no per-layer information (the layers
// still run; fused-node lists are dropped from the plan).
enum class ProfilingVerbosity : int32_t { kLAYER_NAMES_ONLY = 0, kNONE = 1, kDETAILED = 2 };
// "layer_names_only", "none", "detailed" (the spellings of --profilingVerbosity).
const char* profilingVerbosityName(ProfilingVerbosity v);

class BuilderConfig {
 public:
  void setFlag(BuilderFlag flag);
  void clearFlag(BuilderFlag flag);
  bool getFlag(BuilderFlag flag) const;
  void setMemoryPoolLimit(MemoryPoolType pool, size_t bytes);
  size_t getMemoryPoolLimit(MemoryPoolType pool) const;
  // Adds a copy of `profile`; returns its index, or -1 if it is invalid.
  int addOptimizationProfile(const OptimizationProfile* profile);
  int getNbOptimizationProfiles() const;
  const OptimizationProfile* getOptimizationProfile(int index) const;
  // The backend the plan targets (the GPU when one is available, otherwise the CPU).
  void setDeviceType(DeviceType type);
  DeviceType getDeviceType() const;
  // 0 (fastest build) .. 5 (most optimization); default 3.
  void setBuilderOptimizationLevel(int level);
  int getBuilderOptimizationLevel() const;
  // Optimizer passes to skip, by name (docs/optimizer.md lists them; `kiln build
  // --disablePasses`). Replaces the previous list; unknown names fail the build.
  void setDisabledPasses(const std::vector<std::string>& names);
  const std::vector<std::string>& getDisabledPasses() const;
  // Tactic timing (GPU builds at optimization level >= 3) reads known results from this file and
  // writes new ones back (trtexec's --timingCacheFile); "" (the default) keeps none. A file that
  // is not a timing cache fails the build.
  void setTimingCacheFile(const std::string& path);
  const std::string& getTimingCacheFile() const;
  // Per-layer detail the plan keeps (default kDETAILED).
  void setProfilingVerbosity(ProfilingVerbosity verbosity);
  ProfilingVerbosity getProfilingVerbosity() const;

 private:
  uint32_t mFlags = 0;
  size_t mWorkspace = size_t{1} << 32;
  std::vector<OptimizationProfile> mProfiles;
  DeviceType mDevice = DeviceType::kCPU;
  int mOptLevel = 3;
  std::vector<std::string> mDisabledPasses;
  std::string mTimingCacheFile;
  ProfilingVerbosity mProfilingVerbosity = ProfilingVerbosity::kDETAILED;
};

class Builder {
 public:
  static std::unique_ptr<Builder> create(Logger& logger);
  ~Builder();

  std::unique_ptr<NetworkDefinition> createNetwork();
  std::unique_ptr<BuilderConfig> createConfig();
  // Profiles are owned by the builder and live as long as it does.
  OptimizationProfile* createOptimizationProfile();

  // Optimizes the network and serializes the plan. Null on error (see getLastError()).
  std::unique_ptr<HostMemory> buildSerializedNetwork(NetworkDefinition& network,
                                                     const BuilderConfig& config);
  const std::string& getLastError() const { return mLastError; }
  Logger& getLogger() const { return mLogger; }

 private:
  explicit Builder(Logger& logger) : mLogger(logger) {}
  Logger& mLogger;
  std::vector<std::unique_ptr<OptimizationProfile>> mProfiles;
  std::string mLastError;
};

}  // namespace kiln
