#include "ir/fused_activation.h"

#include <array>
#include <utility>

namespace kiln::ir {

namespace {

constexpr std::array<std::pair<FusedActivation, const char*>, 10> kNames = {{
    {FusedActivation::kNone, ""},
    {FusedActivation::kRelu, "Relu"},
    {FusedActivation::kLeakyRelu, "LeakyRelu"},
    {FusedActivation::kClip, "Clip"},
    {FusedActivation::kSigmoid, "Sigmoid"},
    {FusedActivation::kTanh, "Tanh"},
    {FusedActivation::kGelu, "Gelu"},
    {FusedActivation::kGeluTanh, "GeluTanh"},
    {FusedActivation::kHardSwish, "HardSwish"},
    {FusedActivation::kSilu, "Silu"},
}};

bool usesAlpha(FusedActivation k) {
  return k == FusedActivation::kLeakyRelu || k == FusedActivation::kClip;
}
bool usesBeta(FusedActivation k) { return k == FusedActivation::kClip; }

}  // namespace

const char* fusedActivationName(FusedActivation kind) {
  for (const auto& [k, name] : kNames)
    if (k == kind) return name;
  return "?";
}

StatusOr<FusedActivationParams> parseFusedActivation(const Attributes& attrs) {
  const std::string name = attrs.getString("activation", "");
  FusedActivationParams p;
  bool found = false;
  for (const auto& [k, n] : kNames) {
    if (name == n) {
      p.kind = k;
      found = true;
    }
  }
  if (!found) {
    std::string known;
    for (const auto& [k, n] : kNames)
      if (k != FusedActivation::kNone) known += std::string(known.empty() ? "" : ", ") + n;
    return invalidArgument("unknown fused activation \"%s\" (known: none, %s)", name.c_str(),
                           known.c_str());
  }
  p.alpha = attrs.getFloat("activation_alpha", 0.f);
  p.beta = attrs.getFloat("activation_beta", 0.f);
  return p;
}

void setFusedActivation(Attributes& attrs, const FusedActivationParams& p) {
  attrs.setString("activation", fusedActivationName(p.kind));
  if (usesAlpha(p.kind)) attrs.setFloat("activation_alpha", p.alpha);
  if (usesBeta(p.kind)) attrs.setFloat("activation_beta", p.beta);
}

}  // namespace kiln::ir
