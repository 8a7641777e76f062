// kiln::OnnxParser: the public face of src/onnx/ (see include/kiln/onnx_parser.h).
#include "kiln/onnx_parser.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/logging.h"
#include "onnx/model_importer.h"

namespace kiln {

std::string ParserError::toString() const {
  if (nodeName.empty() && opType.empty()) return message;
  std::string out = "node '" + nodeName + "' (" + opType;
  if (opset > 0) out += ", opset " + std::to_string(opset);
  out += ", domain " + (domain.empty() ? std::string("ai.onnx") : domain) + "): " + message;
  return out;
}

struct OnnxParser::Impl {
  Impl(NetworkDefinition& n, Logger& l) : network(n), logger(l) {}
  NetworkDefinition& network;
  Logger& logger;
  std::vector<ParserError> errors;
  bool preferPlugins = false;

  void ioError(std::string message) {
    ParserError e;
    e.code = ParserError::Code::kIO;
    e.message = std::move(message);
    logMessage(&logger, Severity::kERROR, "onnx", e.message);
    errors.push_back(std::move(e));
  }
};

std::unique_ptr<OnnxParser> OnnxParser::create(NetworkDefinition& network, Logger& logger) {
  return std::unique_ptr<OnnxParser>(new OnnxParser(network, logger));
}

OnnxParser::OnnxParser(NetworkDefinition& network, Logger& logger)
    : mImpl(std::make_unique<Impl>(network, logger)) {}
OnnxParser::~OnnxParser() = default;

bool OnnxParser::parse(const void* data, size_t size, const char* modelDir) {
  onnx_import::ModelImporter importer(mImpl->network.impl(), mImpl->errors);
  importer.setPreferPlugins(mImpl->preferPlugins);
  return importer.import(data, size, modelDir ? modelDir : "");
}

bool OnnxParser::parseFromFile(const char* path) {
  namespace fs = std::filesystem;
  if (!path || !*path) {
    mImpl->ioError("parseFromFile: no path given");
    return false;
  }
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    mImpl->ioError(strFormat("cannot read model '%s': the file does not exist", path));
    return false;
  }
  if (!fs::is_regular_file(path, ec)) {
    mImpl->ioError(strFormat("cannot read model '%s': not a regular file", path));
    return false;
  }
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) {
    mImpl->ioError(strFormat("cannot open model '%s': %s", path, std::strerror(errno)));
    return false;
  }
  std::streamoff size = in.tellg();
  if (size < 0) {
    mImpl->ioError(strFormat("cannot read the size of model '%s'", path));
    return false;
  }
  std::vector<char> bytes(static_cast<size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(bytes.data(), size)) {
    mImpl->ioError(strFormat("reading model '%s' failed after %lld of %lld bytes", path,
                             static_cast<long long>(in.gcount()), static_cast<long long>(size)));
    return false;
  }
  fs::path dir = fs::path(path).parent_path();
  std::string modelDir = dir.empty() ? std::string(".") : dir.string();
  return parse(bytes.data(), bytes.size(), modelDir.c_str());
}

int OnnxParser::getNbErrors() const { return static_cast<int>(mImpl->errors.size()); }

const ParserError& OnnxParser::getError(int index) const {
  static const ParserError kNone{ParserError::Code::kINVALID_MODEL, "", -1, "", "", 0,
                                 "no error at this index"};
  if (index < 0 || static_cast<size_t>(index) >= mImpl->errors.size()) return kNone;
  return mImpl->errors[static_cast<size_t>(index)];
}

void OnnxParser::clearErrors() { mImpl->errors.clear(); }

void OnnxParser::setPreferPlugins(bool prefer) { mImpl->preferPlugins = prefer; }
bool OnnxParser::getPreferPlugins() const { return mImpl->preferPlugins; }

std::vector<std::string> OnnxParser::supportedOps() {
  std::vector<std::string> out;
  for (const auto& [name, fn] : onnx_import::opImporters()) out.push_back(name);
  return out;
}

}  // namespace kiln
