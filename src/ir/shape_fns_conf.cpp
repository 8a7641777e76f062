// Shape functions of the conformance-breadth ops (ops.def, helper H8 section): BitCast,
// TfIdfVectorizer.
#include <cstdint>

#include "common/small_float.h"
#include "ir/shape_fns_elementwise_util.h"
#include "ir/shape_inference.h"
#include "ir/tfidf_params.h"

namespace kiln::ir {
namespace {

bool isValidKilnDataType(int64_t v) { return v >= 0 && v <= kNumDataTypes && v != 6; }

// ONNX bit width of an element type (bool is 8 bits; the sub-byte types 4 or 2).
int bitWidth(DataType t) {
  const int sub = subByteBits(t);
  return sub != 0 ? sub : static_cast<int>(dataTypeSize(t)) * 8;
}

// BitCast(input) to: the input's bits as type `to`, which must have the same bit width.
Status inferBitCast(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  if (!ctx.attrs().has("to")) return ctx.error("attribute 'to' (the target data type) is required");
  const int64_t to = ctx.attrs().getInt("to", -1);
  if (!isValidKilnDataType(to))
    return ctx.error("attribute to=%lld is not a Kiln data type", ll(to));
  const DataType from = ctx.inType(0), out = static_cast<DataType>(to);
  if (bitWidth(from) != bitWidth(out))
    return ctx.error("cannot bitcast %s (%d bits) to %s (%d bits): the bit widths must be equal",
                     dataTypeName(from), bitWidth(from), dataTypeName(out), bitWidth(out));
  ctx.setOutput(0, out, ctx.inShape(0));
  return Status::ok();
}

// TfIdfVectorizer(X) -> float32 [outputSize] (X [C]) or [N, outputSize] (X [N, C]).
Status inferTfIdfVectorizer(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1, 1));
  KILN_RETURN_IF_ERROR(checkType(ctx, 0, kTypesSigned32_64, "X"));
  if (ctx.inRank(0) != 1 && ctx.inRank(0) != 2)
    return ctx.error("X must be 1-D [C] or 2-D [N, C], got shape %s",
                     shapeToString(ctx.inShape(0)).c_str());
  StatusOr<TfIdfParams> p = parseTfIdfParams(ctx.attrs());
  if (!p.isOk()) return ctx.error("%s", p.status().message().c_str());
  Shape out;
  if (ctx.inRank(0) == 2) out.push_back(ctx.inShape(0)[0]);
  out.emplace_back(p->outputSize);
  ctx.setOutput(0, DataType::kFLOAT, std::move(out));
  return Status::ok();
}

}  // namespace

void registerConfShapeFns(ShapeFnTable& t) {
  t[static_cast<size_t>(OpKind::kBitCast)] = &inferBitCast;
  t[static_cast<size_t>(OpKind::kTfIdfVectorizer)] = &inferTfIdfVectorizer;
}

}  // namespace kiln::ir
