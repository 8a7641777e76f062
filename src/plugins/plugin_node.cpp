#include "plugins/plugin_node.h"

#include <map>
#include <mutex>
#include <set>

#include "plugins/plugin_registry.h"

namespace kiln::plugins {

namespace {

std::string attrString(const ir::Attributes& a, const char* name) {
  auto it = a.all().find(name);
  if (it == a.all().end()) return "";
  const std::string* s = std::get_if<std::string>(&it->second);
  return s ? *s : std::string();
}

std::string layerWhat(const ir::Node& node) {
  PluginIdentity id = identityOf(node);
  return strFormat("Plugin '%s' (%s v%s)", node.name.c_str(), id.name.c_str(), id.version.c_str());
}

template <typename T>
void appendBytes(std::string& out, const T* data, size_t n) {
  out.append(reinterpret_cast<const char*>(data), n * sizeof(T));
}

// A byte string that identifies a plugin node's instance: layer name, identity, fields.
std::string cacheKey(const ir::Node& node) {
  std::string key = node.name;
  for (const auto& [name, value] : node.attrs.all()) {
    if (name == kAttrTactic) continue;  // does not change what the creator makes
    key += '\0';
    key += name;
    key += static_cast<char>('0' + value.index());
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, float>) {
            appendBytes(key, &v, 1);
          } else if constexpr (std::is_same_v<T, std::string>) {
            int64_t n = static_cast<int64_t>(v.size());
            appendBytes(key, &n, 1);
            key += v;
          } else if constexpr (std::is_same_v<T, std::vector<int64_t>> ||
                               std::is_same_v<T, std::vector<float>>) {
            int64_t n = static_cast<int64_t>(v.size());
            appendBytes(key, &n, 1);
            appendBytes(key, v.data(), v.size());
          } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
            for (const std::string& s : v) {
              int64_t n = static_cast<int64_t>(s.size());
              appendBytes(key, &n, 1);
              key += s;
            }
          } else {  // tensor
            if (v) {
              int64_t n = static_cast<int64_t>(v->bytes());
              appendBytes(key, &n, 1);
              key.append(static_cast<const char*>(v->data()), v->bytes());
            }
          }
        },
        value);
  }
  return key;
}

}  // namespace

PluginIdentity identityOf(const ir::Node& node) {
  return {attrString(node.attrs, kAttrName), attrString(node.attrs, kAttrVersion),
          attrString(node.attrs, kAttrNamespace), attrString(node.attrs, kAttrLibrary)};
}

Status pluginError(const ir::Node& node, const char* call, const std::string& message) {
  return invalidArgument("%s: %s: %s", layerWhat(node).c_str(), call, message.c_str());
}

void setFieldAttributes(ir::Attributes& attrs, std::span<const PluginField> fields) {
  for (const PluginField& f : fields) {
    std::string key = std::string(kFieldPrefix) + f.name;
    switch (f.type()) {
      case PluginFieldType::kINT64: attrs.setInt(key, *f.get<int64_t>()); break;
      case PluginFieldType::kFLOAT32: attrs.setFloat(key, *f.get<float>()); break;
      case PluginFieldType::kSTRING: attrs.setString(key, *f.get<std::string>()); break;
      case PluginFieldType::kINT64S: attrs.setInts(key, *f.get<std::vector<int64_t>>()); break;
      case PluginFieldType::kFLOAT32S: attrs.setFloats(key, *f.get<std::vector<float>>()); break;
      case PluginFieldType::kBYTES: {
        const auto& b = *f.get<std::vector<uint8_t>>();
        attrs.setTensor(key, ir::TensorData::fromBytes(DataType::kUINT8,
                                                       {static_cast<int64_t>(b.size())}, b.data()));
        break;
      }
    }
  }
}

StatusOr<std::vector<PluginField>> fieldsFromAttributes(const ir::Attributes& attrs,
                                                        const std::string& where) {
  std::vector<PluginField> out;
  const std::string prefix = kFieldPrefix;
  for (const auto& [key, value] : attrs.all()) {
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    std::string name = key.substr(prefix.size());
    switch (ir::Attributes::typeOf(value)) {
      case ir::AttrType::kInt: out.emplace_back(name, std::get<int64_t>(value)); break;
      case ir::AttrType::kFloat: out.emplace_back(name, std::get<float>(value)); break;
      case ir::AttrType::kString: out.emplace_back(name, std::get<std::string>(value)); break;
      case ir::AttrType::kInts: out.emplace_back(name, std::get<std::vector<int64_t>>(value)); break;
      case ir::AttrType::kFloats: out.emplace_back(name, std::get<std::vector<float>>(value)); break;
      case ir::AttrType::kTensor: {
        const ir::TensorDataPtr& t = std::get<ir::TensorDataPtr>(value);
        if (!t || t->dtype() != DataType::kUINT8 || t->dims().size() != 1)
          return invalidArgument("%s: field '%s' is stored as a tensor that is not a 1-D uint8 "
                                 "byte string",
                                 where.c_str(), name.c_str());
        const auto* p = t->as<uint8_t>();
        out.emplace_back(name, std::vector<uint8_t>(p, p + t->numel()));
        break;
      }
      case ir::AttrType::kStrings:
        return invalidArgument("%s: field '%s' is a list of strings, which plugin fields cannot be",
                               where.c_str(), name.c_str());
    }
  }
  return out;
}

std::string schemaToString(const std::vector<PluginFieldSpec>& schema) {
  if (schema.empty()) return "no fields";
  std::string out;
  for (const PluginFieldSpec& s : schema) {
    if (!out.empty()) out += ", ";
    out += s.name + " (" + pluginFieldTypeName(s.type) + (s.required ? ", required)" : ")");
  }
  return out;
}

Status checkFields(PluginCreator& creator, std::span<const PluginField> fields,
                   const std::string& where) {
  std::vector<PluginFieldSpec> schema = creator.getFieldSchema();
  std::string plugin = describeCreator(creator.getPluginName(), creator.getPluginVersion(),
                                       creator.getPluginNamespace());
  std::set<std::string> seen;
  for (const PluginField& f : fields) {
    if (!seen.insert(f.name).second)
      return invalidArgument("%s: field '%s' is given twice", where.c_str(), f.name.c_str());
    const PluginFieldSpec* spec = nullptr;
    for (const PluginFieldSpec& s : schema)
      if (s.name == f.name) spec = &s;
    if (!spec)
      return invalidArgument("%s: plugin %s has no field '%s'; its fields are: %s", where.c_str(),
                             plugin.c_str(), f.name.c_str(), schemaToString(schema).c_str());
    if (spec->type != f.type())
      return invalidArgument("%s: field '%s' of plugin %s must be %s, got %s", where.c_str(),
                             f.name.c_str(), plugin.c_str(), pluginFieldTypeName(spec->type),
                             pluginFieldTypeName(f.type()));
  }
  for (const PluginFieldSpec& s : schema) {
    if (s.required && !seen.count(s.name))
      return invalidArgument("%s: plugin %s needs field '%s' (%s); its fields are: %s",
                             where.c_str(), plugin.c_str(), s.name.c_str(),
                             pluginFieldTypeName(s.type), schemaToString(schema).c_str());
  }
  return Status::ok();
}

StatusOr<PluginCreator*> findCreator(const std::string& name, const std::string& version,
                                     const std::string& nameSpace, const std::string& where,
                                     const std::string& library) {
  PluginRegistryImpl& reg = globalRegistry();
  if (PluginCreator* c = reg.getCreator(name, version, nameSpace)) return c;
  std::string msg = strFormat("%s: plugin %s is not registered", where.c_str(),
                              describeCreator(name, version.empty() ? "any" : version, nameSpace).c_str());
  std::vector<std::string> versions = reg.versionsOf(name, nameSpace);
  if (!versions.empty()) {
    msg += " (registered versions:";
    for (const std::string& v : versions) msg += " " + v;
    msg += ")";
  }
  if (!library.empty())
    msg += strFormat("; it was provided by library '%s': load it with --plugins=%s or "
                     "kiln::getPluginRegistry().loadLibrary()",
                     library.c_str(), library.c_str());
  else
    msg += "; load the library that provides it (--plugins=<lib>, KILN_PLUGIN_PATH or "
           "kiln::getPluginRegistry().loadLibrary()) or register its creator";
  return notFound("%s", msg.c_str());
}

namespace {

// Creates a plugin through `creator` with exceptions and null results turned into errors.
StatusOr<std::unique_ptr<Plugin>> createChecked(PluginCreator& creator, const std::string& layer,
                                                std::span<const PluginField> fields,
                                                const std::string& where) {
  std::unique_ptr<Plugin> plugin;
  std::string error;
  try {
    PluginStatus st = creator.createPlugin(layer.c_str(), fields, &plugin);
    if (!st.isOk()) error = st.message();
  } catch (const std::exception& e) {
    error = std::string("threw an exception: ") + e.what();
  } catch (...) {
    error = "threw an exception";
  }
  if (error.empty() && !plugin) error = "returned success but no plugin";
  if (!error.empty())
    return invalidArgument("%s: createPlugin of %s: %s", where.c_str(),
                           describeCreator(creator.getPluginName(), creator.getPluginVersion(),
                                           creator.getPluginNamespace()).c_str(),
                           error.c_str());
  if (std::string(plugin->getPluginName()) != creator.getPluginName())
    return invalidArgument("%s: the creator of plugin '%s' made a plugin named '%s'", where.c_str(),
                           creator.getPluginName(), plugin->getPluginName());
  return plugin;
}

}  // namespace

StatusOr<PluginLayerSpec> makePluginLayer(const std::string& layerName, const std::string& name,
                                          const std::string& version, const std::string& nameSpace,
                                          std::span<const PluginField> fields) {
  std::string where = strFormat("plugin layer '%s'", layerName.c_str());
  KILN_ASSIGN_OR_RETURN(PluginCreator * creator, findCreator(name, version, nameSpace, where));
  KILN_RETURN_IF_ERROR(checkFields(*creator, fields, where));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Plugin> plugin,
                        createChecked(*creator, layerName, fields, where));
  std::vector<PluginField> stored;
  int32_t numOutputs = 0;
  try {
    stored = plugin->getFields();
    numOutputs = plugin->getNbOutputs();
  } catch (...) {
    return invalidArgument("%s: getFields or getNbOutputs of plugin '%s' threw an exception",
                           where.c_str(), name.c_str());
  }
  Status st = checkFields(*creator, stored, where);
  if (!st.isOk())
    return invalidArgument("plugin '%s': getFields() returns fields its own creator does not "
                           "accept, so a plan could not recreate it: %s",
                           name.c_str(), st.message().c_str());
  if (numOutputs < 1 || numOutputs > 1024)
    return invalidArgument("%s: plugin '%s' says it has %d outputs (expected 1 to 1024)",
                           where.c_str(), name.c_str(), numOutputs);
  PluginLayerSpec spec;
  spec.numOutputs = numOutputs;
  spec.attrs.setString(kAttrName, creator->getPluginName());
  spec.attrs.setString(kAttrVersion, creator->getPluginVersion());
  spec.attrs.setString(kAttrNamespace, creator->getPluginNamespace());
  spec.attrs.setString(kAttrLibrary, globalRegistry().getCreatorLibrary(creator));
  setFieldAttributes(spec.attrs, stored);
  return spec;
}

StatusOr<std::unique_ptr<Plugin>> createPluginForNode(const ir::Node& node) {
  PluginIdentity id = identityOf(node);
  std::string where = strFormat("Plugin '%s'", node.name.c_str());
  if (id.name.empty() || id.version.empty())
    return invalidArgument("%s: the layer has no plugin_name/plugin_version attributes (plugin "
                           "layers are made with addPluginLayer or from an ONNX node)",
                           where.c_str());
  KILN_ASSIGN_OR_RETURN(PluginCreator * creator,
                        findCreator(id.name, id.version, id.nameSpace, where, id.library));
  KILN_ASSIGN_OR_RETURN(std::vector<PluginField> fields, fieldsFromAttributes(node.attrs, where));
  KILN_RETURN_IF_ERROR(checkFields(*creator, fields, where));
  return createChecked(*creator, node.name, fields, where);
}

StatusOr<std::shared_ptr<const Plugin>> queryPluginForNode(const ir::Node& node) {
  // The cache is keyed by content (not node pointers, which are reused), so every network,
  // engine and context asking about the same layer shares one instance for const queries.
  static std::mutex mutex;
  static auto* cache = new std::map<std::string, std::shared_ptr<const Plugin>>();  // never freed:
  // its plugins' code may live in libraries that must not run during static destruction
  constexpr size_t kMaxCached = 4096;
  std::string key = cacheKey(node);
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache->find(key);
    if (it != cache->end()) return it->second;
  }
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Plugin> plugin, createPluginForNode(node));
  std::shared_ptr<const Plugin> shared(std::move(plugin));
  std::lock_guard<std::mutex> lock(mutex);
  if (cache->size() >= kMaxCached) cache->clear();  // bound the memory of long-lived processes
  auto [it, inserted] = cache->emplace(key, shared);
  return it->second;
}

StatusOr<std::unique_ptr<Plugin>> clonePlugin(const Plugin& plugin, const ir::Node& node) {
  std::unique_ptr<Plugin> copy;
  KILN_RETURN_IF_ERROR(guardedCall(node, "clone", [&] {
    copy = plugin.clone();
    return copy ? PluginStatus::success() : PluginStatus::error("returned null");
  }));
  return copy;
}

Status checkPluginsAvailable(const ir::Graph& graph) {
  struct Missing {
    PluginIdentity id;
    std::vector<std::string> layers;
  };
  std::vector<Missing> missing;
  for (const ir::Node* n : graph.nodes()) {
    if (n->op != ir::OpKind::kPlugin) continue;
    PluginIdentity id = identityOf(*n);
    if (globalRegistry().getCreator(id.name, id.version, id.nameSpace)) continue;
    Missing* m = nullptr;
    for (Missing& x : missing)
      if (x.id.name == id.name && x.id.version == id.version && x.id.nameSpace == id.nameSpace)
        m = &x;
    if (!m) {
      missing.push_back({id, {}});
      m = &missing.back();
    }
    m->layers.push_back(n->name);
  }
  if (missing.empty()) return Status::ok();
  std::string msg = strFormat("the network uses %zu plugin%s that %s not registered in this process:",
                              missing.size(), missing.size() == 1 ? "" : "s",
                              missing.size() == 1 ? "is" : "are");
  std::set<std::string> libraries;
  for (const Missing& m : missing) {
    msg += "\n  - " + describeCreator(m.id.name, m.id.version, m.id.nameSpace) + ", used by layer";
    msg += m.layers.size() == 1 ? " " : "s ";
    for (size_t i = 0; i < m.layers.size() && i < 5; ++i) msg += (i ? ", '" : "'") + m.layers[i] + "'";
    if (m.layers.size() > 5) msg += strFormat(" and %zu more", m.layers.size() - 5);
    msg += "; provided at build time by " + describeLibrary(m.id.library);
    std::vector<std::string> versions = globalRegistry().versionsOf(m.id.name, m.id.nameSpace);
    if (!versions.empty()) {
      msg += " (this process has version";
      msg += versions.size() == 1 ? "" : "s";
      for (const std::string& v : versions) msg += " " + v;
      msg += ")";
    }
    if (!m.id.library.empty()) libraries.insert(m.id.library);
  }
  msg += "\nLoad the plugin libraries first: kiln --plugins=";
  if (libraries.empty()) {
    msg += "<library.so>";
  } else {
    bool first = true;
    for (const std::string& l : libraries) {
      msg += (first ? "" : ",") + l;
      first = false;
    }
  }
  msg += " (or KILN_PLUGIN_PATH), or kiln::getPluginRegistry().loadLibrary(path) in a program.";
  return notFound("%s", msg.c_str());
}

Status lowerPluginNode(ir::Node& node, DeviceType device) {
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<const Plugin> plugin, queryPluginForNode(node));
  if (!plugin->supportsDevice(device))
    return unsupported("%s: the plugin does not run on the %s (supportsDevice returned false)",
                       layerWhat(node).c_str(), device == DeviceType::kCPU ? "CPU" : "GPU");
  // Tactic selection hook: the CUDA backend times getNbTactics() alternatives here; the CPU
  // reference backend has nothing to time and always takes tactic 0.
  node.attrs.setInt(kAttrTactic, 0);
  return Status::ok();
}

StatusOr<std::unique_ptr<Plugin>> instantiateForEngine(const ir::Node& node, DeviceType device) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Plugin> plugin, createPluginForNode(node));
  if (!plugin->supportsDevice(device))
    return unsupported("%s: the plugin does not run on the %s (supportsDevice returned false)",
                       layerWhat(node).c_str(), device == DeviceType::kCPU ? "CPU" : "GPU");
  int64_t tactic = node.attrs.getInt(kAttrTactic, 0);
  int32_t nbTactics = plugin->getNbTactics();
  if (tactic < 0 || tactic >= std::max<int32_t>(nbTactics, 1))
    return invalidArgument("%s: the plan chose tactic %lld, but the plugin has %d tactics",
                           layerWhat(node).c_str(), static_cast<long long>(tactic), nbTactics);
  Plugin* p = plugin.get();
  KILN_RETURN_IF_ERROR(guardedCall(node, "setTactic", [&] {
    return p->setTactic(static_cast<int32_t>(tactic));
  }));
  return plugin;
}

}  // namespace kiln::plugins
