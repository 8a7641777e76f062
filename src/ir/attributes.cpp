#include "ir/attributes.h"

#include <sstream>

namespace kiln::ir {

int64_t Attributes::getInt(const std::string& name, int64_t def) const {
  auto it = mMap.find(name);
  if (it == mMap.end()) return def;
  if (auto* v = std::get_if<int64_t>(&it->second)) return *v;
  return def;
}

float Attributes::getFloat(const std::string& name, float def) const {
  auto it = mMap.find(name);
  if (it == mMap.end()) return def;
  if (auto* v = std::get_if<float>(&it->second)) return *v;
  if (auto* v = std::get_if<int64_t>(&it->second)) return static_cast<float>(*v);
  return def;
}

std::string Attributes::getString(const std::string& name, const std::string& def) const {
  auto it = mMap.find(name);
  if (it == mMap.end()) return def;
  if (auto* v = std::get_if<std::string>(&it->second)) return *v;
  return def;
}

std::vector<int64_t> Attributes::getInts(const std::string& name, std::vector<int64_t> def) const {
  auto it = mMap.find(name);
  if (it == mMap.end()) return def;
  if (auto* v = std::get_if<std::vector<int64_t>>(&it->second)) return *v;
  return def;
}

std::vector<float> Attributes::getFloats(const std::string& name, std::vector<float> def) const {
  auto it = mMap.find(name);
  if (it == mMap.end()) return def;
  if (auto* v = std::get_if<std::vector<float>>(&it->second)) return *v;
  return def;
}

TensorDataPtr Attributes::getTensor(const std::string& name) const {
  auto it = mMap.find(name);
  if (it == mMap.end()) return nullptr;
  if (auto* v = std::get_if<TensorDataPtr>(&it->second)) return *v;
  return nullptr;
}

std::string Attributes::toString() const {
  std::ostringstream os;
  bool first = true;
  for (const auto& [name, value] : mMap) {
    if (!first) os << ' ';
    first = false;
    os << name << '=';
    std::visit(
        [&os](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, float>) {
            os << v;
          } else if constexpr (std::is_same_v<T, std::string>) {
            os << '"' << v << '"';
          } else if constexpr (std::is_same_v<T, TensorDataPtr>) {
            os << "tensor(" << (v ? dataTypeName(v->dtype()) : "null") << ","
               << (v ? dimsToString(v->dims()) : "") << ")";
          } else {
            os << '[';
            for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
            os << ']';
          }
        },
        value);
  }
  return os.str();
}

}  // namespace kiln::ir
