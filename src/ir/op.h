// OpKind: the enum generated from ops.def, with names and families.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace kiln::ir {

enum class OpKind : uint16_t {
#define KILN_OP(name, family) k##name,
#include "ir/ops.def"
#undef KILN_OP
};

constexpr int kNumOps = 0
#define KILN_OP(name, family) +1
#include "ir/ops.def"
#undef KILN_OP
    ;

enum class OpFamily : uint8_t {
  Binary,
  Unary,
  Linear,
  Pool,
  Norm,
  Reduce,
  Shape,
  Recurrent,
  Plugin
};

const char* opName(OpKind op);
OpFamily opFamily(OpKind op);
std::optional<OpKind> opFromName(std::string_view name);
// Ops whose output shapes depend on input DATA (NonZero, Compress, Unique, NonMaxSuppression):
// their shape functions give exact shapes only when those inputs are constants (run-time symbols
// otherwise), so an executor binds the node's input data before inferring it.
bool hasDataDependentShape(OpKind op);
// Internal ops the optimizer creates (FusedMatMul, FusedConv, FusedAttention): no ONNX importer.
bool isInternalOp(OpKind op);

}  // namespace kiln::ir
