#include "ir/op.h"

#include <array>

namespace kiln::ir {

namespace {
constexpr std::array<const char*, kNumOps> kNames = {
#define KILN_OP(name, family) #name,
#include "ir/ops.def"
#undef KILN_OP
};
constexpr std::array<OpFamily, kNumOps> kFamilies = {
#define KILN_OP(name, family) OpFamily::family,
#include "ir/ops.def"
#undef KILN_OP
};
}  // namespace

const char* opName(OpKind op) { return kNames[static_cast<size_t>(op)]; }
OpFamily opFamily(OpKind op) { return kFamilies[static_cast<size_t>(op)]; }

std::optional<OpKind> opFromName(std::string_view name) {
  for (int i = 0; i < kNumOps; ++i)
    if (name == kNames[static_cast<size_t>(i)]) return static_cast<OpKind>(i);
  return std::nullopt;
}

bool hasDataDependentShape(OpKind op) {
  switch (op) {
    case OpKind::kNonZero:
    case OpKind::kCompress:
    case OpKind::kUnique:
    case OpKind::kNonMaxSuppression: return true;
    default: return false;
  }
}

bool isInternalOp(OpKind op) {
  return op == OpKind::kFusedMatMul || op == OpKind::kFusedConv || op == OpKind::kFusedAttention;
}

}  // namespace kiln::ir
