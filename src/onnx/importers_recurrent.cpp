// Importers for the recurrent ops (the Recurrent family of ops.def): RNN, GRU and LSTM.
//
// ONNX versions 7, 14 and 22 of each (the ones inside Kiln's opsets 9-28) share one form: 14 adds
// the `layout` attribute (absent before, i.e. layout 0) and 22 only bfloat16. The IR form is the
// ONNX one, so the import is 1:1: inputs positional (an absent optional input, "", stays absent),
// every attribute copied, and one IR output per ONNX output; an ONNX output named "" (Y absent
// while Y_h is used) gets a fresh, unused name. Attribute checks are the shape function's
// (src/ir/recurrent_params.cpp), so errors read the same for the network API.
#include "onnx/model_importer.h"

namespace kiln::onnx_import {

void registerRecurrentImporters(OpImporterTable& t) {
  t["RNN"] = [](ImportContext& c) { return importDirect(c, ir::OpKind::kRNN); };
  t["GRU"] = [](ImportContext& c) { return importDirect(c, ir::OpKind::kGRU); };
  t["LSTM"] = [](ImportContext& c) { return importDirect(c, ir::OpKind::kLSTM); };
}

}  // namespace kiln::onnx_import
