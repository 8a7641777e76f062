// Plugin layers in the IR: one op, Plugin, whose attributes say which plugin it is and carry
// its fields.
//
//   plugin_name, plugin_version, plugin_namespace   which creator makes it
//   plugin_library                                  the library that provided it at build time
//                                                   ("" when the program registered it)
//   plugin_tactic                                   the tactic the builder chose (set by it)
//   field.<name>                                    one per field: int64 -> int, float32 ->
//                                                   float, string -> string, int64 list ->
//                                                   ints, float32 list -> floats, bytes -> a
//                                                   uint8 tensor
//
// The plan stores these like any attributes, so a plan recreates each plugin through its
// creator from the same fields. Everything that needs a plugin instance gets it here.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "ir/graph.h"
#include "kiln/plugin.h"

namespace kiln::plugins {

inline constexpr const char* kAttrName = "plugin_name";
inline constexpr const char* kAttrVersion = "plugin_version";
inline constexpr const char* kAttrNamespace = "plugin_namespace";
inline constexpr const char* kAttrLibrary = "plugin_library";
inline constexpr const char* kAttrTactic = "plugin_tactic";
inline constexpr const char* kFieldPrefix = "field.";

struct PluginIdentity {
  std::string name, version, nameSpace, library;
};
PluginIdentity identityOf(const ir::Node& node);

// Fields <-> attributes (see the table above).
void setFieldAttributes(ir::Attributes& attrs, std::span<const PluginField> fields);
StatusOr<std::vector<PluginField>> fieldsFromAttributes(const ir::Attributes& attrs,
                                                        const std::string& where);

// Checks fields against the creator's schema: unknown or repeated names, wrong types, missing
// required fields; the error shows the schema. `where` names the layer.
Status checkFields(PluginCreator& creator, std::span<const PluginField> fields,
                   const std::string& where);
// "beta (float32, required), mode (string)"
std::string schemaToString(const std::vector<PluginFieldSpec>& schema);

// The creator of (name, version, namespace) in the global registry, or a not-found error that
// lists the registered versions and, when given, the library the plugin came from.
StatusOr<PluginCreator*> findCreator(const std::string& name, const std::string& version,
                                     const std::string& nameSpace, const std::string& where,
                                     const std::string& library = "");

// A new plugin layer's attributes: finds the creator, checks the fields, creates an instance
// and records *its* getFields() (checked again), so what the plan stores is what the plugin
// says recreates it. `numOutputs` receives getNbOutputs().
struct PluginLayerSpec {
  ir::Attributes attrs;
  int numOutputs = 1;
};
StatusOr<PluginLayerSpec> makePluginLayer(const std::string& layerName, const std::string& name,
                                          const std::string& version, const std::string& nameSpace,
                                          std::span<const PluginField> fields);

// A fresh instance for a plugin node, made by its creator from the node's fields (tactic not
// set). Errors name the layer and plugin.
StatusOr<std::unique_ptr<Plugin>> createPluginForNode(const ir::Node& node);
// A shared instance for const queries (shape inference, kernels without per-context state),
// cached by the node's attributes and name so repeated inference does not recreate it.
StatusOr<std::shared_ptr<const Plugin>> queryPluginForNode(const ir::Node& node);
// clone() with errors as values.
StatusOr<std::unique_ptr<Plugin>> clonePlugin(const Plugin& plugin, const ir::Node& node);

// Every plugin layer's creator must be registered; otherwise one error lists every missing
// plugin, the layers using it and the library that provided it at build time.
Status checkPluginsAvailable(const ir::Graph& graph);

// Lowering for `device`: the plugin must support it; records the chosen tactic (0: the CPU
// backend does not time tactics) in plugin_tactic.
Status lowerPluginNode(ir::Node& node, DeviceType device);
// The engine's instance of a plugin node: created, device checked, tactic set.
StatusOr<std::unique_ptr<Plugin>> instantiateForEngine(const ir::Node& node, DeviceType device);

// An error from a plugin call, prefixed with the layer and plugin:
// "Plugin 'act1' (ScaledSwish v1): getOutputShapes: <message>".
Status pluginError(const ir::Node& node, const char* call, const std::string& message);
// Runs a plugin call, turning a thrown exception into an error (plugins are user code).
template <typename Fn>
Status guardedCall(const ir::Node& node, const char* call, Fn&& fn) {
  try {
    PluginStatus st = fn();
    if (st.isOk()) return Status::ok();
    return pluginError(node, call, st.message());
  } catch (const std::exception& e) {
    return pluginError(node, call, std::string("threw an exception: ") + e.what());
  } catch (...) {
    return pluginError(node, call, "threw an exception");
  }
}

}  // namespace kiln::plugins
