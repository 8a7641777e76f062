// Node attributes: a small typed map (name -> int, float, string, or lists of them, or a tensor).
//
// Attribute names and meanings follow the ONNX operator of the same name in its newest opset;
// the ONNX importer rewrites older opsets into that form, and the network API fills the same
// names. Each op's accepted attributes are documented next to its line in ops.def.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "common/status.h"
#include "ir/tensor_data.h"

namespace kiln::ir {

using AttrValue = std::variant<int64_t, float, std::string, std::vector<int64_t>,
                               std::vector<float>, std::vector<std::string>, TensorDataPtr>;

enum class AttrType : uint8_t { kInt = 0, kFloat, kString, kInts, kFloats, kStrings, kTensor };

class Attributes {
 public:
  bool has(const std::string& name) const { return mMap.count(name) != 0; }
  void set(const std::string& name, AttrValue v) { mMap[name] = std::move(v); }
  void setInt(const std::string& name, int64_t v) { mMap[name] = v; }
  void setFloat(const std::string& name, float v) { mMap[name] = v; }
  void setString(const std::string& name, std::string v) { mMap[name] = std::move(v); }
  void setInts(const std::string& name, std::vector<int64_t> v) { mMap[name] = std::move(v); }
  void setFloats(const std::string& name, std::vector<float> v) { mMap[name] = std::move(v); }
  void setTensor(const std::string& name, TensorDataPtr v) { mMap[name] = std::move(v); }
  void erase(const std::string& name) { mMap.erase(name); }

  // Getters with defaults. An attribute of the wrong type is treated as absent by these; use
  // `check*` in shape functions to report type errors.
  int64_t getInt(const std::string& name, int64_t def = 0) const;
  float getFloat(const std::string& name, float def = 0.f) const;
  std::string getString(const std::string& name, const std::string& def = "") const;
  std::vector<int64_t> getInts(const std::string& name, std::vector<int64_t> def = {}) const;
  std::vector<float> getFloats(const std::string& name, std::vector<float> def = {}) const;
  TensorDataPtr getTensor(const std::string& name) const;

  const std::map<std::string, AttrValue>& all() const { return mMap; }
  static AttrType typeOf(const AttrValue& v) { return static_cast<AttrType>(v.index()); }
  // "group=1 strides=[2,2] ..." for logs and `kiln inspect`.
  std::string toString() const;

 private:
  std::map<std::string, AttrValue> mMap;
};

}  // namespace kiln::ir
