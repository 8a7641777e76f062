// CPU kernels of the conformance-breadth ops (ops.def, helper H8 section): BitCast,
// TfIdfVectorizer.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "backends/cpu/cpu_kernel.h"
#include "common/small_float.h"
#include "ir/tfidf_params.h"

namespace kiln::cpu {
namespace {

// BitCast: the same bytes under another type of the same bit width (little endian, as the host).
// Sub-byte types are stored unpacked (kiln/types.h): their low 4 (or 2) bits are the bits that
// move; a signed target sign-extends them. A bool output is 0 or 1 in Kiln, so a nonzero byte
// becomes 1 (ONNX leaves bool values other than 0 and 1 undefined).
Status bitCastKernel(CpuKernelContext& ctx) {
  const CpuTensor& in = ctx.inputs[0];
  CpuTensor& out = ctx.outputs[0];
  const int64_t n = in.numel();
  const int bits = subByteBits(in.dtype);
  if (bits != 0) {
    if (subByteBits(out.dtype) != bits) return ctx.error("bit widths of input and output differ");
    const uint8_t* px = in.as<uint8_t>();
    uint8_t* po = out.as<uint8_t>();
    const uint8_t mask = static_cast<uint8_t>((1u << bits) - 1u);
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t code = px[i] & mask;
      po[i] = isSubByteIntType(out.dtype) ? wrapToSubByte(out.dtype, code) : code;
    }
    return Status::ok();
  }
  if (dataTypeSize(in.dtype) != dataTypeSize(out.dtype) || subByteBits(out.dtype) != 0)
    return ctx.error("bit widths of input and output differ");
  if (out.dtype == DataType::kBOOL) {
    const uint8_t* px = in.as<uint8_t>();
    bool* po = out.as<bool>();
    for (int64_t i = 0; i < n; ++i) po[i] = px[i] != 0;
    return Status::ok();
  }
  if (n > 0) std::memcpy(out.data, in.data, static_cast<size_t>(n) * dataTypeSize(in.dtype));
  return Status::ok();
}

// TfIdfVectorizer, row by row (ir/tfidf_params.h for the pool). For each skip distance d = 1 ..
// max_skip_count + 1 and each start position, the n-grams X[s], X[s + d], ..., X[s + (n-1) d]
// for n in [min_gram_length, max_gram_length] that are in the pool count into their column;
// unigrams count at d = 1 only (they do not depend on d). Then TF: the count; IDF: weight (or 1)
// where the count is > 0; TFIDF: count * weight (or the count).
Status tfIdfVectorizerKernel(CpuKernelContext& ctx) {
  StatusOr<ir::TfIdfParams> parsed = ir::parseTfIdfParams(ctx.attrs());
  if (!parsed.isOk()) return ctx.error("%s", parsed.status().message().c_str());
  const ir::TfIdfParams& p = *parsed;
  const CpuTensor& x = ctx.inputs[0];
  const int64_t rows = x.rank() == 2 ? x.dims[0] : 1;
  const int64_t c = x.dims.back();
  float* y = ctx.outputs[0].as<float>();
  std::vector<int64_t> counts(static_cast<size_t>(p.outputSize));
  std::vector<int64_t> gram;
  for (int64_t r = 0; r < rows; ++r) {
    std::fill(counts.begin(), counts.end(), 0);
    auto item = [&](int64_t k) { return x.intAt(r * c + k); };
    for (int64_t d = 1; d <= p.maxSkip + 1; ++d) {
      const int64_t firstN = d == 1 ? p.minGram : std::max<int64_t>(p.minGram, 2);
      if (firstN > p.maxGram) break;
      for (int64_t s = 0; s < c; ++s) {
        for (int64_t n = firstN; n <= p.maxGram && s + d * (n - 1) < c; ++n) {
          gram.clear();
          for (int64_t k = 0; k < n; ++k) gram.push_back(item(s + d * k));
          auto it = p.column.find(gram);
          if (it != p.column.end()) ++counts[static_cast<size_t>(it->second)];
        }
      }
    }
    for (int64_t j = 0; j < p.outputSize; ++j) {
      const double cnt = static_cast<double>(counts[static_cast<size_t>(j)]);
      const double w = p.weights.empty() ? 1.0 : p.weights[static_cast<size_t>(j)];
      double v = cnt;
      if (p.mode == ir::TfIdfParams::Mode::kIDF) v = cnt > 0 ? w : 0.0;
      if (p.mode == ir::TfIdfParams::Mode::kTFIDF) v = cnt * w;
      y[r * p.outputSize + j] = static_cast<float>(v);
    }
  }
  return Status::ok();
}

}  // namespace

void registerConfKernels(CpuKernelTable& t) {
  t[static_cast<size_t>(ir::OpKind::kBitCast)] = &bitCastKernel;
  t[static_cast<size_t>(ir::OpKind::kTfIdfVectorizer)] = &tfIdfVectorizerKernel;
}

}  // namespace kiln::cpu
