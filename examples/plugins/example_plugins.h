// Kiln's example plugins (docs/plugins.md):
//
//   ScaledSwish   (kiln.examples, v1)  y = x * sigmoid(beta * x); float32 and float16; field beta
//   EmbLayerNorm  (kiln.examples, v1)  fused embedding lookup + layer normalization:
//                                      (ids int32|int64 [..], table [V,H], gamma [H], beta [H])
//                                      -> float32 [.., H]; field epsilon
//   FastGelu      (com.microsoft, v1)  onnxruntime's contrib op, which Kiln has no built-in
//                                      kernel for: (X, bias?) -> tanh-approximated GELU of X + bias
//
// Built twice by CMake: as libkiln_example_plugins.so (entry point in plugin_entry.cpp, loaded
// with `kiln --plugins=...`), and as a static library whose registerExamplePlugins() tests
// call directly. The sources include only kiln/plugin.h and link nothing from Kiln.
#pragma once

#include "kiln/plugin.h"

namespace kiln_examples {

// Registers the creators of all three plugins; returns the first error.
kiln::PluginStatus registerExamplePlugins(kiln::PluginRegistry& registry);

std::unique_ptr<kiln::PluginCreator> makeScaledSwishCreator();
std::unique_ptr<kiln::PluginCreator> makeEmbLayerNormCreator();
std::unique_ptr<kiln::PluginCreator> makeFastGeluCreator();

}  // namespace kiln_examples
