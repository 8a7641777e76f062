// Plan files: the serialized, optimized network plus everything needed to run it.
//
// Format (documented in docs/plan_format.md): a fixed header (magic, format version, library
// version, target device, section table, checksum) followed by sections (graph, constants
// aligned to 64 bytes, profiles, metadata). Every read is bounds-checked; a truncated,
// corrupted, foreign-version or foreign-device plan is refused with a message that says what
// differs and what to do.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "ir/graph.h"
#include "kiln/builder.h"
#include "kiln/types.h"

namespace kiln::plan {

// Magic bytes at offset 0: "KILNPLAN".
constexpr char kPlanMagic[8] = {'K', 'I', 'L', 'N', 'P', 'L', 'A', 'N'};
// Bumped on any incompatible change to the layout.
// 2: shape tensor inputs (value flag, profile values).
constexpr uint32_t kPlanFormatVersion = 2;

// min/opt/max for one input of one optimization profile: its dims and, for shape tensor
// inputs, its element values (empty when the profile gives none).
struct ProfileInput {
  std::string name;
  std::vector<int64_t> min, opt, max;
  std::vector<int64_t> minValues, optValues, maxValues;
};
struct Profile {
  std::vector<ProfileInput> inputs;
};

// What the plan was built for. A CPU plan runs on any x86-64 CPU; a GPU plan only on a GPU with
// the same compute capability and compatible library versions.
struct TargetDevice {
  DeviceType type = DeviceType::kCPU;
  std::string name = "cpu";   // "cpu", or the GPU name ("NVIDIA H100 80GB HBM3")
  int smMajor = 0, smMinor = 0;
  std::string libraries;      // e.g. "cuda=13.0 cudnn=9.19.0 cublasLt=13.1"; empty on the CPU
};

struct PlanContents {
  std::string networkName;
  std::unique_ptr<ir::Graph> graph;  // optimized and compacted; constants hold the weights
  std::vector<Profile> profiles;
  TargetDevice device;
  std::string libraryVersion;        // Kiln's version that wrote it (filled by the writer)
  // Per-layer detail kept (metadata section; plans written before it existed read as kDETAILED).
  ProfilingVerbosity profilingVerbosity = ProfilingVerbosity::kDETAILED;
};

StatusOr<std::vector<uint8_t>> serializePlan(const PlanContents& plan);
// Refuses (with what differs and what to do) empty, truncated, corrupted (checksum or
// structure: kDataLoss), non-plan (kInvalidArgument) and other-version (kVersionMismatch)
// input. Device compatibility is checked separately with checkDeviceCompatible.
StatusOr<PlanContents> deserializePlan(std::span<const uint8_t> bytes);
// Checks that a loaded plan can run on `here`; the message says what differs.
Status checkDeviceCompatible(const TargetDevice& planDevice, const TargetDevice& here);

}  // namespace kiln::plan
