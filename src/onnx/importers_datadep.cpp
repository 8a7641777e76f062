// ONNX importers of the ops with data-dependent output shapes: NonZero, Compress, Unique,
// NonMaxSuppression. All four map 1:1 onto their IR ops (inputs, outputs and attributes keep
// their ONNX names and positions).
//
// Schema history (opsets 9-28) and what changes for the importer:
//   NonZero 9/13: type lists only                                          -> direct
//   Compress 9/11/28: 11 allows a negative axis (the IR accepts it for every opset), 28 adds
//     bfloat16                                                             -> direct
//   Unique 11/28: 28 adds bfloat16                                         -> direct
//   NonMaxSuppression 10/11: 11 changes only the documentation of the box format -> direct
#include "onnx/model_importer.h"

namespace kiln::onnx_import {

void registerDataDepImporters(OpImporterTable& t) {
  t["NonZero"] = [](ImportContext& c) { return importDirect(c, ir::OpKind::kNonZero); };
  t["Compress"] = [](ImportContext& c) { return importDirect(c, ir::OpKind::kCompress); };
  t["Unique"] = [](ImportContext& c) { return importDirect(c, ir::OpKind::kUnique); };
  t["NonMaxSuppression"] = [](ImportContext& c) {
    return importDirect(c, ir::OpKind::kNonMaxSuppression);
  };
}

}  // namespace kiln::onnx_import
