// OnnxParser: imports an ONNX model into a NetworkDefinition.
//
//   auto network = builder->createNetwork();
//   auto parser = kiln::OnnxParser::create(*network, logger);
//   if (!parser->parseFromFile("model.onnx")) {
//     for (int i = 0; i < parser->getNbErrors(); ++i)
//       std::cerr << parser->getError(i).toString() << "\n";
//   }
//
// Opsets 9 through 28 of the default domain (each op's version checked against the versions
// Kiln handles, src/onnx/op_versions.def). Before importing, the whole model is checked and
// every unsupported node is reported at once (op type, node name, opset, domain). Initializers
// and external data (relative to the model's folder) are supported; graph inputs keep their
// named dynamic dims (dim_param); Constant and Shape computations fold where shapes are static.
// Nodes Kiln lacks can be implemented as plugins (kiln/plugin.h, docs/plugins.md).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kiln/network.h"
#include "kiln/types.h"

namespace kiln {

struct ParserError {
  enum class Code : int32_t { kINVALID_MODEL, kUNSUPPORTED_NODE, kINVALID_NODE, kIO };
  Code code = Code::kINVALID_MODEL;
  std::string nodeName;   // empty for model-level errors
  int nodeIndex = -1;
  std::string opType;
  std::string domain;
  int64_t opset = 0;
  std::string message;
  // "node 'conv1' (Conv, opset 13, domain ai.onnx): message"
  std::string toString() const;
};

class OnnxParser {
 public:
  static std::unique_ptr<OnnxParser> create(NetworkDefinition& network, Logger& logger);
  ~OnnxParser();
  // Parses serialized ModelProto bytes. `modelDir` locates external data files.
  bool parse(const void* data, size_t size, const char* modelDir = nullptr);
  bool parseFromFile(const char* path);
  int getNbErrors() const;
  const ParserError& getError(int index) const;
  void clearErrors();
  // Ops the parser can import (ONNX op types of the default domain).
  static std::vector<std::string> supportedOps();
  // Plugins: a node whose (op type, domain) matches a registered plugin creator's (name,
  // namespace) becomes a plugin layer, its attributes its fields ("ai.onnx" / "" matches the
  // namespace ""). Nodes of the default domain use Kiln's built-in importer when one exists;
  // with preferPlugins set they use a plugin of the same name instead (docs/plugins.md).
  void setPreferPlugins(bool prefer);
  bool getPreferPlugins() const;

 private:
  OnnxParser(NetworkDefinition& network, Logger& logger);
  struct Impl;
  std::unique_ptr<Impl> mImpl;
};

}  // namespace kiln
