// Shape functions for the Recurrent family (see ops.def): RNN, GRU, LSTM.
//
// With G gates (RNN 1, GRU 3, LSTM 4), D directions (2 when bidirectional), hidden size H:
//   X [S, N, I] (layout 0) or [N, S, I] (layout 1)
//   W [D, G*H, I]   R [D, G*H, H]   B [D, 2*G*H]   sequence_lens [N] (int32; int64 accepted)
//   initial_h, initial_c [D, N, H] (layout 0) or [N, D, H] (layout 1)   P [D, 3*H] (LSTM)
//   -> Y [S, D, N, H] (layout 0) or [N, S, D, H] (layout 1); Y_h, Y_c like initial_h.
// H is the hidden_size attribute, or R's last dim when the attribute is absent.
#include <string>

#include "ir/recurrent_params.h"
#include "ir/shape_fns_elementwise_util.h"
#include "ir/shape_inference.h"

namespace kiln::ir {

namespace {

// Checks input i has X's float type and the expected shape (dims compared where both are known).
Status checkInput(const InferContext& ctx, size_t i, const char* what, const Shape& want) {
  if (ctx.inType(i) != ctx.inType(0))
    return ctx.error("%s has data type %s, but X has %s", what, dataTypeName(ctx.inType(i)),
                     dataTypeName(ctx.inType(0)));
  const Shape& s = ctx.inShape(i);
  bool ok = s.size() == want.size();
  for (size_t k = 0; ok && k < s.size(); ++k)
    if (constNe(s[k], want[k])) ok = false;
  if (!ok)
    return ctx.error("%s has shape %s; expected %s", what, shapeToString(s).c_str(),
                     shapeToString(want).c_str());
  return Status::ok();
}

Status inferRecurrent(InferContext& ctx) {
  KILN_ASSIGN_OR_RETURN(RecurrentParams p,
                        parseRecurrentParams(ctx.node().op, ctx.attrs(), ctx.node().describe()));
  KILN_RETURN_IF_ERROR(ctx.expectInputs(3, static_cast<size_t>(p.maxInputs())));
  if (ctx.numOutputs() < 1 || ctx.numOutputs() > static_cast<size_t>(p.maxOutputs()))
    return ctx.error("has 1 to %lld outputs (%s), got %zu", static_cast<long long>(p.maxOutputs()),
                     p.op == OpKind::kLSTM ? "Y, Y_h, Y_c" : "Y, Y_h", ctx.numOutputs());
  const DataType dt = ctx.inType(0);
  if (!typeInSet(dt, kTypesFloat))
    return ctx.error("X has data type %s; expected float32, float64, float16 or bfloat16",
                     dataTypeName(dt));
  if (ctx.inRank(0) != 3)
    return ctx.error(
        "X must have rank 3 ([seq, batch, input] with layout=0, [batch, seq, input] with "
        "layout=1), got shape %s",
        shapeToString(ctx.inShape(0)).c_str());
  const Shape& x = ctx.inShape(0);
  const DimExpr seq = p.layout == 0 ? x[0] : x[1];
  const DimExpr batch = p.layout == 0 ? x[1] : x[0];
  const DimExpr input = x[2];
  const DimExpr dirs = p.numDirections;

  if (ctx.inRank(2) != 3)
    return ctx.error(
        "R must have rank 3 [num_directions, %lld*hidden_size, hidden_size], got shape %s",
        static_cast<long long>(p.numGates), shapeToString(ctx.inShape(2)).c_str());
  const DimExpr hidden = p.hiddenSize > 0 ? DimExpr(p.hiddenSize) : ctx.inShape(2)[2];
  const DimExpr gates = DimExpr(p.numGates) * hidden;
  KILN_RETURN_IF_ERROR(checkInput(ctx, 1, "W", {dirs, gates, input}));
  KILN_RETURN_IF_ERROR(checkInput(ctx, 2, "R", {dirs, gates, hidden}));
  if (ctx.hasInput(3))
    KILN_RETURN_IF_ERROR(checkInput(ctx, 3, "B", {dirs, DimExpr(2 * p.numGates) * hidden}));
  if (ctx.hasInput(4)) {
    const DataType st = ctx.inType(4);
    if (st != DataType::kINT32 && st != DataType::kINT64)
      return ctx.error("sequence_lens has data type %s; expected int32", dataTypeName(st));
    if (ctx.inRank(4) != 1 || constNe(ctx.inShape(4)[0], batch))
      return ctx.error("sequence_lens has shape %s; expected [%s] (the batch size)",
                       shapeToString(ctx.inShape(4)).c_str(), batch.toString().c_str());
  }
  const Shape state = p.layout == 0 ? Shape{dirs, batch, hidden} : Shape{batch, dirs, hidden};
  if (ctx.hasInput(5)) KILN_RETURN_IF_ERROR(checkInput(ctx, 5, "initial_h", state));
  if (ctx.hasInput(6)) KILN_RETURN_IF_ERROR(checkInput(ctx, 6, "initial_c", state));
  if (ctx.hasInput(7)) KILN_RETURN_IF_ERROR(checkInput(ctx, 7, "P", {dirs, DimExpr(3) * hidden}));

  ctx.setOutput(0, dt,
                p.layout == 0 ? Shape{seq, dirs, batch, hidden} : Shape{batch, seq, dirs, hidden});
  for (size_t i = 1; i < ctx.numOutputs(); ++i) ctx.setOutput(i, dt, state);
  return Status::ok();
}

}  // namespace

void registerRecurrentShapeFns(ShapeFnTable& t) {
  t[static_cast<size_t>(OpKind::kRNN)] = &inferRecurrent;
  t[static_cast<size_t>(OpKind::kGRU)] = &inferRecurrent;
  t[static_cast<size_t>(OpKind::kLSTM)] = &inferRecurrent;
}

}  // namespace kiln::ir
