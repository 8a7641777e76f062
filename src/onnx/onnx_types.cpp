#include "onnx/onnx_types.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <vector>

#include "common/small_float.h"

namespace kiln::onnx_import {

static_assert(std::endian::native == std::endian::little,
              "raw_data and external data are little-endian; a big-endian host needs byte swaps");

namespace fs = std::filesystem;

std::string onnxTypeName(int32_t t) {
  switch (t) {
    case onnx::TensorProto::UNDEFINED: return "UNDEFINED";
    case onnx::TensorProto::FLOAT: return "FLOAT";
    case onnx::TensorProto::UINT8: return "UINT8";
    case onnx::TensorProto::INT8: return "INT8";
    case onnx::TensorProto::UINT16: return "UINT16";
    case onnx::TensorProto::INT16: return "INT16";
    case onnx::TensorProto::INT32: return "INT32";
    case onnx::TensorProto::INT64: return "INT64";
    case onnx::TensorProto::STRING: return "STRING";
    case onnx::TensorProto::BOOL: return "BOOL";
    case onnx::TensorProto::FLOAT16: return "FLOAT16";
    case onnx::TensorProto::DOUBLE: return "DOUBLE";
    case onnx::TensorProto::UINT32: return "UINT32";
    case onnx::TensorProto::UINT64: return "UINT64";
    case onnx::TensorProto::COMPLEX64: return "COMPLEX64";
    case onnx::TensorProto::COMPLEX128: return "COMPLEX128";
    case onnx::TensorProto::BFLOAT16: return "BFLOAT16";
    // Newer than the schema compiled here (IR 8); the numbers are fixed by the ONNX spec.
    case 17: return "FLOAT8E4M3FN";
    case 18: return "FLOAT8E4M3FNUZ";
    case 19: return "FLOAT8E5M2";
    case 20: return "FLOAT8E5M2FNUZ";
    case 21: return "UINT4";
    case 22: return "INT4";
    case 23: return "FLOAT4E2M1";
    case 24: return "FLOAT8E8M0";
    case 25: return "UINT2";
    case 26: return "INT2";
    case 27: return "FLOAT6E2M3";
    case 28: return "FLOAT6E3M2";
    default: return "type " + std::to_string(t);
  }
}

StatusOr<DataType> dataTypeFromOnnx(int32_t t, const std::string& what) {
  switch (t) {
    case onnx::TensorProto::FLOAT: return DataType::kFLOAT;
    case onnx::TensorProto::UINT8: return DataType::kUINT8;
    case onnx::TensorProto::INT8: return DataType::kINT8;
    case onnx::TensorProto::UINT16: return DataType::kUINT16;
    case onnx::TensorProto::INT16: return DataType::kINT16;
    case onnx::TensorProto::INT32: return DataType::kINT32;
    case onnx::TensorProto::INT64: return DataType::kINT64;
    case onnx::TensorProto::BOOL: return DataType::kBOOL;
    case onnx::TensorProto::FLOAT16: return DataType::kHALF;
    case onnx::TensorProto::DOUBLE: return DataType::kDOUBLE;
    case onnx::TensorProto::UINT32: return DataType::kUINT32;
    case onnx::TensorProto::UINT64: return DataType::kUINT64;
    case onnx::TensorProto::BFLOAT16: return DataType::kBF16;
    // Newer than the schema compiled here: the numbers are fixed by the ONNX spec.
    case 17: return DataType::kFP8E4M3FN;
    case 18: return DataType::kFP8E4M3FNUZ;
    case 19: return DataType::kFP8E5M2;
    case 20: return DataType::kFP8E5M2FNUZ;
    case 21: return DataType::kUINT4;
    case 22: return DataType::kINT4;
    case 23: return DataType::kFP4E2M1;
    case 24: return DataType::kFP8E8M0;
    case 25: return DataType::kUINT2;
    case 26: return DataType::kINT2;
    case onnx::TensorProto::UNDEFINED:
      return invalidArgument("%s has no element type (data_type is UNDEFINED)", what.c_str());
    default:
      return unsupported("%s has element type %s, which Kiln does not support (supported: "
                         "float32/16, bfloat16, float64, int8/16/32/64, uint8/16/32/64, bool, "
                         "float8e4m3fn(uz), float8e5m2(fnuz), float8e8m0, float4e2m1, int4/uint4, "
                         "int2/uint2)",
                         what.c_str(), onnxTypeName(t).c_str());
  }
}

namespace {

// Validated dims and sizes of a tensor, computed without trusting the product not to overflow.
struct TensorLayout {
  std::vector<int64_t> dims;
  int64_t numel = 1;
  size_t bytes = 0;
};

StatusOr<TensorLayout> layoutOf(const onnx::TensorProto& t, DataType dtype, const std::string& what) {
  TensorLayout l;
  l.dims.assign(t.dims().begin(), t.dims().end());
  if (l.dims.size() > static_cast<size_t>(Dims::kMaxDims))
    return unsupported("%s has rank %zu; Kiln supports up to %d dimensions", what.c_str(),
                       l.dims.size(), Dims::kMaxDims);
  for (size_t i = 0; i < l.dims.size(); ++i) {
    int64_t d = l.dims[i];
    if (d < 0 || d > kMaxDim)
      return invalidArgument("%s has dimension %zu = %lld, outside [0, 2^40]", what.c_str(), i,
                             static_cast<long long>(d));
    if (__builtin_mul_overflow(l.numel, d, &l.numel))
      return invalidArgument("%s has dims %s whose element count overflows", what.c_str(),
                             ir::dimsToString(l.dims).c_str());
  }
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(l.numel),
                             static_cast<uint64_t>(dataTypeSize(dtype)), &bytes) ||
      bytes > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return invalidArgument("%s has dims %s whose byte size overflows", what.c_str(),
                           ir::dimsToString(l.dims).c_str());
  l.bytes = static_cast<size_t>(bytes);
  return l;
}

// Parses a non-negative decimal integer (external data offset/length).
bool parseNonNegative(const std::string& s, int64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  errno = 0;
  long long v = std::strtoll(s.c_str(), nullptr, 10);
  if (errno != 0 || v < 0) return false;
  *out = v;
  return true;
}

// Reads the tensor's external data, which must be exactly `bytes` bytes, into dst. `layout`
// describes the expected size for messages ("dims 2x3 of type float32").
Status readExternal(const onnx::TensorProto& t, const std::string& modelDir, const std::string& what,
                    void* dst, size_t bytes, const std::string& layout) {
  std::string location;
  int64_t offset = 0;
  int64_t length = -1;
  for (const auto& kv : t.external_data()) {
    if (kv.key() == "location") {
      location = kv.value();
    } else if (kv.key() == "offset") {
      if (!parseNonNegative(kv.value(), &offset))
        return invalidArgument("%s: external data offset '%s' is not a non-negative integer",
                               what.c_str(), kv.value().c_str());
    } else if (kv.key() == "length") {
      if (!parseNonNegative(kv.value(), &length))
        return invalidArgument("%s: external data length '%s' is not a non-negative integer",
                               what.c_str(), kv.value().c_str());
    }
    // "checksum" and unknown keys are informational.
  }
  if (location.empty())
    return invalidArgument("%s: external data has no 'location'", what.c_str());
  if (location.find('\0') != std::string::npos)
    return invalidArgument("%s: external data location contains a NUL byte", what.c_str());
  if (modelDir.empty())
    return invalidArgument("%s: the tensor's data is in external file '%s', but the model's "
                           "folder is unknown; use parseFromFile() or pass modelDir to parse()",
                           what.c_str(), location.c_str());
  fs::path rel(location);
  if (rel.is_absolute() || rel.has_root_name() || rel.has_root_directory() || location[0] == '/' ||
      location[0] == '\\')
    return invalidArgument("%s: external data location '%s' is an absolute path; ONNX requires "
                           "a path relative to the model's folder",
                           what.c_str(), location.c_str());
  for (const fs::path& part : rel) {
    if (part == "..")
      return invalidArgument("%s: external data location '%s' leaves the model's folder "
                             "('..' is not allowed)",
                             what.c_str(), location.c_str());
  }
  std::error_code ec;
  fs::path dir = fs::weakly_canonical(fs::path(modelDir), ec);
  if (ec) return ioError("%s: cannot resolve the model folder '%s': %s", what.c_str(), modelDir.c_str(), ec.message().c_str());
  fs::path full = fs::weakly_canonical(dir / rel, ec);
  if (ec) return ioError("%s: cannot resolve external data file '%s': %s", what.c_str(), location.c_str(), ec.message().c_str());
  // Symbolic links may still point outside: compare the resolved paths component-wise.
  auto [dirEnd, fullIt] = std::mismatch(dir.begin(), dir.end(), full.begin(), full.end());
  if (dirEnd != dir.end())
    return invalidArgument("%s: external data location '%s' resolves to '%s', outside the "
                           "model's folder '%s'",
                           what.c_str(), location.c_str(), full.c_str(), dir.c_str());
  if (!fs::is_regular_file(full, ec))
    return ioError("%s: external data file '%s' does not exist or is not a regular file",
                   what.c_str(), full.c_str());
  uintmax_t fileSize = fs::file_size(full, ec);
  if (ec) return ioError("%s: cannot read the size of '%s': %s", what.c_str(), full.c_str(), ec.message().c_str());
  if (static_cast<uintmax_t>(offset) > fileSize)
    return invalidArgument("%s: external data offset %lld is past the end of '%s' (%llu bytes)",
                           what.c_str(), static_cast<long long>(offset), full.c_str(),
                           static_cast<unsigned long long>(fileSize));
  if (length < 0) length = static_cast<int64_t>(fileSize - static_cast<uintmax_t>(offset));
  if (static_cast<uint64_t>(length) != bytes)
    return invalidArgument("%s: external data length is %lld bytes, but %s need %zu bytes",
                           what.c_str(), static_cast<long long>(length), layout.c_str(), bytes);
  if (static_cast<uintmax_t>(length) > fileSize - static_cast<uintmax_t>(offset))
    return invalidArgument("%s: external data needs bytes [%lld, %lld) of '%s', but the file has "
                           "%llu bytes",
                           what.c_str(), static_cast<long long>(offset),
                           static_cast<long long>(offset + length), full.c_str(),
                           static_cast<unsigned long long>(fileSize));
  if (length == 0) return Status::ok();
  FILE* f = std::fopen(full.c_str(), "rb");
  if (!f) return ioError("%s: cannot open '%s': %s", what.c_str(), full.c_str(), std::strerror(errno));
  bool ok = fseeko(f, static_cast<off_t>(offset), SEEK_SET) == 0 &&
            std::fread(dst, 1, bytes, f) == bytes;
  std::fclose(f);
  if (!ok) return ioError("%s: reading %zu bytes at offset %lld of '%s' failed", what.c_str(), bytes,
                          static_cast<long long>(offset), full.c_str());
  return Status::ok();
}

// Bools are one byte, 0 or 1; files may hold other non-zero bytes.
void normalizeBools(ir::TensorData& t) {
  if (t.dtype() != DataType::kBOOL) return;
  auto* p = t.as<uint8_t>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = p[i] ? 1 : 0;
}

template <typename Dst, typename Src>
void copyConvert(ir::TensorData& out, const Src& src) {
  Dst* p = out.as<Dst>();
  for (int i = 0; i < src.size(); ++i) p[i] = static_cast<Dst>(src.Get(i));
}

// Bytes ONNX uses for numel elements of type t: sub-byte types are packed (two 4-bit or four
// 2-bit elements per byte), every other type has dataTypeSize bytes per element.
size_t onnxStorageBytes(DataType t, int64_t numel) {
  const int bits = subByteBits(t);
  if (bits == 0) return static_cast<size_t>(numel) * dataTypeSize(t);
  const int64_t perByte = 8 / bits;
  return static_cast<size_t>((numel + perByte - 1) / perByte);
}

// Unpacks ONNX's packed sub-byte elements (first element in the lowest bits of each byte) into
// Kiln's one-element-per-byte storage: INT4/INT2 sign-extended, UINT4/UINT2 and FLOAT4E2M1 codes
// zero-extended. Padding bits of the last byte are ignored.
void unpackSubByte(const uint8_t* packed, ir::TensorData& out) {
  const DataType t = out.dtype();
  const int bits = subByteBits(t);
  const int64_t perByte = 8 / bits;
  const uint32_t mask = (1u << bits) - 1u;
  uint8_t* p = out.as<uint8_t>();
  for (int64_t i = 0; i < out.numel(); ++i) {
    const uint32_t field = (packed[i / perByte] >> (bits * (i % perByte))) & mask;
    p[i] = t == DataType::kFP4E2M1 ? static_cast<uint8_t>(field) : wrapToSubByte(t, field);
  }
}

}  // namespace

StatusOr<ir::TensorDataPtr> tensorFromProto(const onnx::TensorProto& t, const std::string& modelDir,
                                            const std::string& what) {
  KILN_ASSIGN_OR_RETURN(DataType dtype, dataTypeFromOnnx(t.data_type(), what));
  if (t.has_segment())
    return unsupported("%s is a segment of a larger tensor; segmented tensors are not supported",
                       what.c_str());
  KILN_ASSIGN_OR_RETURN(TensorLayout l, layoutOf(t, dtype, what));
  const bool packed = subByteBits(dtype) != 0;
  // Bytes of ONNX's representation (raw_data, external data): packed for sub-byte types.
  const size_t storedBytes = onnxStorageBytes(dtype, l.numel);
  const std::string layoutDesc = "dims " + ir::dimsToString(l.dims) + " of type " +
                                 dataTypeName(dtype) + (packed ? " (packed)" : "");

  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    auto out = std::make_shared<ir::TensorData>(dtype, l.dims);
    if (packed) {
      std::vector<uint8_t> buf(storedBytes);
      KILN_RETURN_IF_ERROR(readExternal(t, modelDir, what, buf.data(), storedBytes, layoutDesc));
      unpackSubByte(buf.data(), *out);
    } else {
      KILN_RETURN_IF_ERROR(readExternal(t, modelDir, what, out->data(), out->bytes(), layoutDesc));
    }
    normalizeBools(*out);
    return ir::TensorDataPtr(out);
  }
  if (t.has_raw_data()) {
    if (t.raw_data().size() != storedBytes)
      return invalidArgument("%s: raw_data holds %zu bytes, but %s need %zu bytes", what.c_str(),
                             t.raw_data().size(), layoutDesc.c_str(), storedBytes);
    auto out = std::make_shared<ir::TensorData>(dtype, l.dims);
    if (packed) {
      unpackSubByte(reinterpret_cast<const uint8_t*>(t.raw_data().data()), *out);
    } else if (l.bytes) {
      std::memcpy(out->data(), t.raw_data().data(), l.bytes);
    }
    normalizeBools(*out);
    return ir::TensorDataPtr(out);
  }

  // Sub-byte types in int32_data: one packed byte per int32 (ONNX's convention).
  if (packed) {
    const int64_t need = static_cast<int64_t>(storedBytes);
    if (t.int32_data_size() != need)
      return invalidArgument(
          "%s: %s need %lld packed bytes, but int32_data holds %d values (and "
          "there is no raw_data)",
          what.c_str(), layoutDesc.c_str(), static_cast<long long>(need), t.int32_data_size());
    std::vector<uint8_t> buf(storedBytes);
    for (int64_t i = 0; i < need; ++i) {
      const int32_t v = t.int32_data(static_cast<int>(i));
      if (v < 0 || v > 255)
        return invalidArgument("%s: int32_data[%lld] = %d is not a packed byte (0..255)",
                               what.c_str(), static_cast<long long>(i), v);
      buf[static_cast<size_t>(i)] = static_cast<uint8_t>(v);
    }
    auto out = std::make_shared<ir::TensorData>(dtype, l.dims);
    unpackSubByte(buf.data(), *out);
    return ir::TensorDataPtr(out);
  }

  // Typed fields (the ONNX spec fixes which field holds which type).
  int64_t have = 0;
  const char* field = "";
  switch (dtype) {
    case DataType::kFLOAT: have = t.float_data_size(); field = "float_data"; break;
    case DataType::kDOUBLE: have = t.double_data_size(); field = "double_data"; break;
    case DataType::kINT64: have = t.int64_data_size(); field = "int64_data"; break;
    case DataType::kUINT32:
    case DataType::kUINT64: have = t.uint64_data_size(); field = "uint64_data"; break;
    case DataType::kINT32:
    case DataType::kINT16:
    case DataType::kINT8:
    case DataType::kUINT16:
    case DataType::kUINT8:
    case DataType::kBOOL:
    case DataType::kHALF:
    case DataType::kBF16:
    case DataType::kFP8E4M3FN:
    case DataType::kFP8E4M3FNUZ:
    case DataType::kFP8E5M2:
    case DataType::kFP8E5M2FNUZ:
    case DataType::kFP8E8M0: have = t.int32_data_size(); field = "int32_data"; break;
    case DataType::kINT4:  // handled above (packed)
    case DataType::kUINT4:
    case DataType::kINT2:
    case DataType::kUINT2:
    case DataType::kFP4E2M1: break;
  }
  if (have != l.numel)
    return invalidArgument("%s: dims %s need %lld values, but %s holds %lld (and there is no "
                           "raw_data)",
                           what.c_str(), ir::dimsToString(l.dims).c_str(),
                           static_cast<long long>(l.numel), field, static_cast<long long>(have));
  auto out = std::make_shared<ir::TensorData>(dtype, l.dims);
  switch (dtype) {
    case DataType::kFLOAT: copyConvert<float>(*out, t.float_data()); break;
    case DataType::kDOUBLE: copyConvert<double>(*out, t.double_data()); break;
    case DataType::kINT64: copyConvert<int64_t>(*out, t.int64_data()); break;
    case DataType::kUINT32: copyConvert<uint32_t>(*out, t.uint64_data()); break;
    case DataType::kUINT64: copyConvert<uint64_t>(*out, t.uint64_data()); break;
    case DataType::kINT32: copyConvert<int32_t>(*out, t.int32_data()); break;
    case DataType::kINT16: copyConvert<int16_t>(*out, t.int32_data()); break;
    case DataType::kINT8: copyConvert<int8_t>(*out, t.int32_data()); break;
    case DataType::kUINT16: copyConvert<uint16_t>(*out, t.int32_data()); break;
    case DataType::kUINT8: copyConvert<uint8_t>(*out, t.int32_data()); break;
    case DataType::kBOOL: {
      auto* p = out->as<uint8_t>();
      for (int i = 0; i < t.int32_data_size(); ++i) p[i] = t.int32_data(i) != 0 ? 1 : 0;
      break;
    }
    // float16 and bfloat16 keep their bit patterns in the low 16 bits of each int32.
    case DataType::kHALF:
    case DataType::kBF16: copyConvert<uint16_t>(*out, t.int32_data()); break;
    // float8 codes: one per int32, in its low 8 bits.
    case DataType::kFP8E4M3FN:
    case DataType::kFP8E4M3FNUZ:
    case DataType::kFP8E5M2:
    case DataType::kFP8E5M2FNUZ:
    case DataType::kFP8E8M0: copyConvert<uint8_t>(*out, t.int32_data()); break;
    case DataType::kINT4:
    case DataType::kUINT4:
    case DataType::kINT2:
    case DataType::kUINT2:
    case DataType::kFP4E2M1: break;
  }
  return ir::TensorDataPtr(out);
}

onnx::AttributeProto::AttributeType attributeType(const onnx::AttributeProto& a) {
  if (a.type() != onnx::AttributeProto::UNDEFINED) return a.type();
  // IR version 1 files may omit the type; infer it from the field that is set.
  if (a.has_f()) return onnx::AttributeProto::FLOAT;
  if (a.has_i()) return onnx::AttributeProto::INT;
  if (a.has_s()) return onnx::AttributeProto::STRING;
  if (a.has_t()) return onnx::AttributeProto::TENSOR;
  if (a.has_g()) return onnx::AttributeProto::GRAPH;
  if (a.floats_size()) return onnx::AttributeProto::FLOATS;
  if (a.ints_size()) return onnx::AttributeProto::INTS;
  if (a.strings_size()) return onnx::AttributeProto::STRINGS;
  return onnx::AttributeProto::UNDEFINED;
}

const char* attributeTypeName(onnx::AttributeProto::AttributeType t) {
  switch (t) {
    case onnx::AttributeProto::UNDEFINED: return "UNDEFINED";
    case onnx::AttributeProto::FLOAT: return "FLOAT";
    case onnx::AttributeProto::INT: return "INT";
    case onnx::AttributeProto::STRING: return "STRING";
    case onnx::AttributeProto::TENSOR: return "TENSOR";
    case onnx::AttributeProto::GRAPH: return "GRAPH";
    case onnx::AttributeProto::SPARSE_TENSOR: return "SPARSE_TENSOR";
    case onnx::AttributeProto::TYPE_PROTO: return "TYPE_PROTO";
    case onnx::AttributeProto::FLOATS: return "FLOATS";
    case onnx::AttributeProto::INTS: return "INTS";
    case onnx::AttributeProto::STRINGS: return "STRINGS";
    case onnx::AttributeProto::TENSORS: return "TENSORS";
    case onnx::AttributeProto::GRAPHS: return "GRAPHS";
    case onnx::AttributeProto::SPARSE_TENSORS: return "SPARSE_TENSORS";
    case onnx::AttributeProto::TYPE_PROTOS: return "TYPE_PROTOS";
  }
  return "UNKNOWN";
}

StatusOr<ir::AttrValue> attributeValue(const onnx::AttributeProto& a, const std::string& modelDir) {
  if (!a.ref_attr_name().empty())
    return unsupported("attribute '%s' refers to a function attribute ('%s'); functions are not "
                       "supported",
                       a.name().c_str(), a.ref_attr_name().c_str());
  auto type = attributeType(a);
  switch (type) {
    case onnx::AttributeProto::INT: return ir::AttrValue(static_cast<int64_t>(a.i()));
    case onnx::AttributeProto::FLOAT: return ir::AttrValue(a.f());
    case onnx::AttributeProto::STRING: return ir::AttrValue(a.s());
    case onnx::AttributeProto::INTS:
      return ir::AttrValue(std::vector<int64_t>(a.ints().begin(), a.ints().end()));
    case onnx::AttributeProto::FLOATS:
      return ir::AttrValue(std::vector<float>(a.floats().begin(), a.floats().end()));
    case onnx::AttributeProto::STRINGS:
      return ir::AttrValue(std::vector<std::string>(a.strings().begin(), a.strings().end()));
    case onnx::AttributeProto::TENSOR: {
      KILN_ASSIGN_OR_RETURN(ir::TensorDataPtr t,
                            tensorFromProto(a.t(), modelDir, "attribute '" + a.name() + "'"));
      return ir::AttrValue(std::move(t));
    }
    case onnx::AttributeProto::UNDEFINED:
      return invalidArgument("attribute '%s' has no type and no value", a.name().c_str());
    case onnx::AttributeProto::GRAPH:
    case onnx::AttributeProto::SPARSE_TENSOR:
    case onnx::AttributeProto::TYPE_PROTO:
    case onnx::AttributeProto::TENSORS:
    case onnx::AttributeProto::GRAPHS:
    case onnx::AttributeProto::SPARSE_TENSORS:
    case onnx::AttributeProto::TYPE_PROTOS:
      break;
  }
  return unsupported("attribute '%s' has type %s, which Kiln does not support", a.name().c_str(),
                     attributeTypeName(type));
}

}  // namespace kiln::onnx_import
