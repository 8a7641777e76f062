// Helpers shared by the shape functions (shape_fns_binary.cpp, shape_fns_unary.cpp, and the op
// groups' shape_fns_*.cpp): dtype sets, input checks and known element values of inputs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ir/shape_inference.h"

namespace kiln::ir {

// A set of data types as a bit mask (bit = DataType's numeric value).
constexpr uint32_t typeBit(DataType t) { return 1u << static_cast<uint32_t>(t); }
constexpr uint32_t kTypesFloat = typeBit(DataType::kFLOAT) | typeBit(DataType::kDOUBLE) |
                                 typeBit(DataType::kHALF) | typeBit(DataType::kBF16);
constexpr uint32_t kTypesSigned32_64 = typeBit(DataType::kINT32) | typeBit(DataType::kINT64);
constexpr uint32_t kTypesUnsigned32_64 = typeBit(DataType::kUINT32) | typeBit(DataType::kUINT64);
constexpr uint32_t kTypesSigned = typeBit(DataType::kINT8) | typeBit(DataType::kINT16) | kTypesSigned32_64;
constexpr uint32_t kTypesUnsigned = typeBit(DataType::kUINT8) | typeBit(DataType::kUINT16) | kTypesUnsigned32_64;
constexpr uint32_t kTypesInt = kTypesSigned | kTypesUnsigned;
constexpr uint32_t kTypesNumeric = kTypesFloat | kTypesInt;
constexpr uint32_t kTypesBool = typeBit(DataType::kBOOL);
constexpr uint32_t kTypesAll = kTypesNumeric | kTypesBool;

inline bool typeInSet(DataType t, uint32_t set) { return (typeBit(t) & set) != 0; }

// "one of float32, float16, ..." for messages (a static string per distinct set).
inline std::string typeSetName(uint32_t set) {
  std::string s;
  int count = 0;
  for (int i = 0; i <= kNumDataTypes; ++i) {
    if (i == 6) continue;  // no DataType 6
    auto t = static_cast<DataType>(i);
    if (!typeInSet(t, set)) continue;
    if (count++) s += ", ";
    s += dataTypeName(t);
  }
  return count == 1 ? s : "one of " + s;
}

// Requires input i to be present and of a type in `set`.
inline Status checkType(const InferContext& ctx, size_t i, uint32_t set, const char* what) {
  if (!typeInSet(ctx.inType(i), set))
    return ctx.error("input %zu (%s) has type %s; expected %s", i, what,
                     dataTypeName(ctx.inType(i)), typeSetName(set).c_str());
  return Status::ok();
}
// Requires input i to be of a float type; `what` names the input.
inline Status checkFloat(const InferContext& ctx, size_t i, const char* what) {
  if (!typeInSet(ctx.inType(i), kTypesFloat))
    return ctx.error("%s has data type %s; expected float32, float64, float16 or bfloat16", what,
                     dataTypeName(ctx.inType(i)));
  return Status::ok();
}

// int64_t as the long long that printf's %lld takes.
inline long long ll(int64_t v) { return static_cast<long long>(v); }

// True when both dims are constants that differ.
inline bool constNe(const DimExpr& a, const DimExpr& b) {
  return a.isConst() && b.isConst() && a.constValue() != b.constValue();
}

// Requires input i to have rank `rank`; `what` names the input.
inline Status checkRank(const InferContext& ctx, size_t i, const char* what, int64_t rank) {
  if (ctx.inRank(i) != rank)
    return ctx.error("%s must have rank %lld, got shape %s", what, ll(rank),
                     shapeToString(ctx.inShape(i)).c_str());
  return Status::ok();
}

// Requires input i to have the same type as input j.
inline Status checkSameType(const InferContext& ctx, size_t i, size_t j) {
  if (ctx.inType(i) != ctx.inType(j))
    return ctx.error("inputs %zu and %zu must have the same type, got %s and %s", j, i,
                     dataTypeName(ctx.inType(j)), dataTypeName(ctx.inType(i)));
  return Status::ok();
}

// Known element values of input i: its recorded values, or those of a small integer/bool
// constant of any rank. nullopt when unknown.
inline std::optional<std::vector<DimExpr>> knownValues(const InferContext& ctx, size_t i) {
  if (!ctx.hasInput(i)) return std::nullopt;
  if (const std::vector<DimExpr>* v = ctx.inValue(i)) return *v;
  const TensorData* c = ctx.inConstant(i);
  if (!c || c->numel() > kMaxShapeValueElements) return std::nullopt;
  DataType t = c->dtype();
  if (!typeInSet(t, kTypesInt | kTypesBool)) return std::nullopt;
  std::vector<DimExpr> out;
  for (int64_t k = 0; k < c->numel(); ++k) out.emplace_back(c->intAt(k));
  return out;
}

}  // namespace kiln::ir
