// Pictures of a graph for `kiln inspect --dot/--html`: Graphviz DOT text and a self-contained
// HTML page with an SVG drawing laid out here (no Graphviz, no scripts, no network at view
// time). One box per layer (name, type, precision, tactic, output shapes, the ONNX nodes a fused
// layer replaced), coloured by precision with a legend; one ellipse per graph input and output;
// edges labelled with the tensor's shape and dtype.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace kiln::cli {

struct GraphTensor {
  std::string name, dtype, shape;
};

struct GraphLayer {
  std::string name, type;
  std::string precision;           // e.g. "float16"; empty when unknown
  std::string tactic;              // GPU tactic the builder chose; empty for none
  std::vector<std::string> fused;  // ONNX nodes this layer replaced (empty: not fused)
  std::vector<GraphTensor> inputs, outputs;
};

struct GraphModel {
  std::string title;                         // the file drawn, and what was drawn
  std::vector<GraphTensor> inputs, outputs;  // the graph's inputs and outputs
  std::vector<GraphLayer> layers;            // in execution (topological) order
  // Only layer names are known (a plan built with --profilingVerbosity=layer_names_only): the
  // layers are drawn in execution order without edges.
  bool namesOnly = false;
};

// The model from Engine::getLayerInformation(true) (detailed or layer_names_only form) and the
// engine's I/O tensors. Fails on a document without layers (--profilingVerbosity=none).
StatusOr<GraphModel> graphFromLayerInfo(const std::string& layerInfoJson,
                                        std::vector<GraphTensor> inputs,
                                        std::vector<GraphTensor> outputs, std::string title);

std::string graphToDot(const GraphModel& g);
std::string graphToHtml(const GraphModel& g);

// Escaping, exposed for tests: text inside a DOT "quoted string", and XML/HTML text or
// attribute values (also what DOT's HTML-like labels need).
std::string dotQuote(const std::string& s);
std::string xmlEscape(const std::string& s);

}  // namespace kiln::cli
