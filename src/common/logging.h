// Internal logging: every message goes through the user's kiln::Logger, tagged by component.
#pragma once

#include <string>

#include "common/status.h"
#include "kiln/types.h"

namespace kiln {

// Logs "[component] message" at `severity`. `logger` may be null (then nothing is logged).
void logMessage(Logger* logger, Severity severity, const char* component, const std::string& msg);

// Logs a failed status as kERROR and returns it unchanged.
Status logError(Logger* logger, const char* component, Status status);

}  // namespace kiln
