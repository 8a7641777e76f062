// ONNX protobuf -> Kiln conversions: element types, tensors (initializers, attribute tensors,
// external data) and attributes.
//
// Every function here checks its input: a malformed TensorProto (bad dims, byte counts that do
// not match, external files that escape the model's folder) is an error, never a crash and
// never a large allocation made on the word of an untrusted header.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "ir/attributes.h"
#include "ir/tensor_data.h"
#include "kiln/types.h"
#include "onnx/onnx.pb.h"

namespace kiln::onnx_import {

// Largest single dimension accepted (2^40): anything larger is a corrupted file, not a model.
constexpr int64_t kMaxDim = int64_t{1} << 40;

// "FLOAT", "INT64", "FLOAT8E4M3FN", ... (ONNX TensorProto.DataType names) or "type <n>".
std::string onnxTypeName(int32_t onnxType);

// ONNX TensorProto.DataType -> Kiln DataType; an unsupported-type error (naming `what`) for
// string, complex, float8/float4/int4 and unknown numbers.
StatusOr<DataType> dataTypeFromOnnx(int32_t onnxType, const std::string& what);

// Converts a TensorProto (any data form, or EXTERNAL data relative to `modelDir`) into a host
// tensor. `what` names the tensor in errors ("initializer 'conv1.weight'").
StatusOr<ir::TensorDataPtr> tensorFromProto(const onnx::TensorProto& t, const std::string& modelDir,
                                            const std::string& what);

// The attribute's type, inferred from the set field for old files that leave `type` unset.
onnx::AttributeProto::AttributeType attributeType(const onnx::AttributeProto& a);
const char* attributeTypeName(onnx::AttributeProto::AttributeType t);

// Converts one attribute into an ir::AttrValue (INT, FLOAT, STRING, INTS, FLOATS, STRINGS,
// TENSOR); graphs, sparse tensors and type protos are unsupported.
StatusOr<ir::AttrValue> attributeValue(const onnx::AttributeProto& a, const std::string& modelDir);

}  // namespace kiln::onnx_import
