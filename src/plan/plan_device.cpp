// Where a plan may run. Kernels and tactics in a GPU plan are chosen (and for generated kernels,
// compiled) for one compute capability, so a GPU plan needs the same SM major.minor. CPU plans
// use the portable reference kernels and run on any machine that runs Kiln. Library versions are
// recorded in the plan for `kiln inspect` and messages; the library version check in the reader
// already refuses plans from another Kiln build.
#include "plan/plan.h"

namespace kiln::plan {

namespace {

std::string describe(const TargetDevice& d) {
  if (d.type == DeviceType::kCPU) return "the CPU";
  std::string s = "GPU '" + d.name + "' (sm_" + std::to_string(d.smMajor) +
                  std::to_string(d.smMinor) + ")";
  if (!d.libraries.empty()) s += " with " + d.libraries;
  return s;
}

}  // namespace

Status checkDeviceCompatible(const TargetDevice& planDevice, const TargetDevice& here) {
  switch (planDevice.type) {
    case DeviceType::kCPU: return Status::ok();
    case DeviceType::kGPU:
      if (here.type != DeviceType::kGPU)
        return versionMismatch(
            "the plan was built for %s, but this machine runs Kiln on the CPU (no usable GPU): "
            "rebuild the plan on this machine (`kiln build --device=cpu` for a CPU plan)",
            describe(planDevice).c_str());
      if (planDevice.smMajor != here.smMajor || planDevice.smMinor != here.smMinor)
        return versionMismatch(
            "the plan was built for %s, but this machine has %s: a GPU plan only runs on the "
            "compute capability it was built for; rebuild the plan on this machine",
            describe(planDevice).c_str(), describe(here).c_str());
      return Status::ok();
  }
  return versionMismatch("the plan names an unknown device type %d: rebuild the plan on this "
                         "machine",
                         static_cast<int>(planDevice.type));
}

}  // namespace kiln::plan
