#include "common/logging.h"

namespace kiln {

void logMessage(Logger* logger, Severity severity, const char* component, const std::string& msg) {
  if (!logger) return;
  std::string text = std::string(component) + ": " + msg;
  logger->log(severity, text.c_str());
}

Status logError(Logger* logger, const char* component, Status status) {
  if (!status.isOk()) logMessage(logger, Severity::kERROR, component, status.message());
  return status;
}

}  // namespace kiln
