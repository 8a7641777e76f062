// The build: NetworkDefinition + BuilderConfig -> optimized PlanContents.
#pragma once

#include "kiln/builder.h"
#include "plan/plan.h"

namespace kiln::build {

// Validates the network and profiles, optimizes a copy of the graph and lowers it for the
// configured device. The network itself is not modified.
StatusOr<plan::PlanContents> buildPlan(const NetworkDefinition& network, const BuilderConfig& config,
                                       Logger& logger);

}  // namespace kiln::build
