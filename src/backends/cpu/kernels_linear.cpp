// CPU reference kernels for the Linear family (see ops.def): MatMul, Gemm, Einsum, Conv,
// ConvTranspose.
//
// float32/float64 GEMMs go through OpenBLAS; float16/bfloat16 are widened to float32, computed,
// and rounded back once; integer products use plain loops with wrap-around arithmetic.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "backends/cpu/conv_util.h"
#include "backends/cpu/cpu_kernel.h"
#include "common/small_float.h"
#include "ir/einsum_equation.h"
#include "ir/window_params.h"

namespace kiln::cpu {

namespace {

std::string dimsStr(const std::vector<int64_t>& d) { return ir::dimsToString(d); }

// ---------------------------------------------------------------------------------------------
// MatMul

// Batched matrix geometry after 1-D promotion and batch broadcasting: batch b multiplies the
// [M,K] matrix at A + aOffset[b]*M*K with the [K,N] matrix at B + bOffset[b]*K*N.
struct MatMulGeom {
  int64_t m = 0, n = 0, k = 0;
  std::vector<int64_t> aOffset, bOffset;  // in matrices
};

StatusOr<MatMulGeom> matmulGeometry(const CpuKernelContext& ctx) {
  std::vector<int64_t> ad = ctx.inputs[0].dims, bd = ctx.inputs[1].dims;
  if (ad.empty() || bd.empty()) return ctx.error("inputs must have rank >= 1");
  if (ad.size() == 1) ad.insert(ad.begin(), 1);
  if (bd.size() == 1) bd.push_back(1);
  MatMulGeom g;
  g.m = ad[ad.size() - 2];
  g.k = ad[ad.size() - 1];
  g.n = bd[bd.size() - 1];
  if (bd[bd.size() - 2] != g.k)
    return ctx.error("inner dimensions do not match: A %s has K=%lld but B %s has K=%lld",
                     dimsStr(ctx.inputs[0].dims).c_str(), static_cast<long long>(g.k),
                     dimsStr(ctx.inputs[1].dims).c_str(), static_cast<long long>(bd[bd.size() - 2]));
  const size_t ra = ad.size() - 2, rb = bd.size() - 2, r = std::max(ra, rb);
  std::vector<int64_t> outBatch(r), aStride(r, 0), bStride(r, 0);
  int64_t sa = 1, sb = 1;
  for (size_t i = r; i-- > 0;) {
    const int64_t da = i >= r - ra ? ad[i - (r - ra)] : 1;
    const int64_t db = i >= r - rb ? bd[i - (r - rb)] : 1;
    if (da != db && da != 1 && db != 1)
      return ctx.error("batch dimensions of A %s and B %s do not broadcast", dimsStr(ctx.inputs[0].dims).c_str(),
                       dimsStr(ctx.inputs[1].dims).c_str());
    outBatch[i] = std::max(da, db);
    if (da == 0 || db == 0) outBatch[i] = 0;
    aStride[i] = da == 1 ? 0 : sa;
    bStride[i] = db == 1 ? 0 : sb;
    sa *= da;
    sb *= db;
  }
  int64_t count = 1;
  for (int64_t d : outBatch) count *= d;
  std::vector<int64_t> idx(r, 0);
  for (int64_t b = 0; b < count; ++b) {
    int64_t oa = 0, ob = 0;
    for (size_t i = 0; i < r; ++i) {
      oa += idx[i] * aStride[i];
      ob += idx[i] * bStride[i];
    }
    g.aOffset.push_back(oa);
    g.bOffset.push_back(ob);
    for (size_t i = r; i-- > 0;) {
      if (++idx[i] < outBatch[i]) break;
      idx[i] = 0;
    }
  }
  return g;
}

template <typename T>
void matmulBlas(const MatMulGeom& g, const T* a, const T* b, T* y) {
  const int64_t batches = static_cast<int64_t>(g.aOffset.size());
  // A stack of A matrices against one B is a single GEMM with batches*M rows.
  bool oneB = true, contiguousA = true;
  for (int64_t i = 0; i < batches; ++i) {
    oneB = oneB && g.bOffset[static_cast<size_t>(i)] == 0;
    contiguousA = contiguousA && g.aOffset[static_cast<size_t>(i)] == i;
  }
  if (batches > 0 && oneB && contiguousA) {
    gemm<T>(false, false, batches * g.m, g.n, g.k, T(1), a, g.k, b, g.n, T(0), y, g.n);
    return;
  }
  for (int64_t i = 0; i < batches; ++i) {
    gemm<T>(false, false, g.m, g.n, g.k, T(1), a + g.aOffset[static_cast<size_t>(i)] * g.m * g.k, g.k,
            b + g.bOffset[static_cast<size_t>(i)] * g.k * g.n, g.n, T(0), y + i * g.m * g.n, g.n);
  }
}

// Integer products wrap around (two's complement), computed in uint64 to avoid signed overflow.
template <typename T>
void matmulInt(const MatMulGeom& g, const T* a, const T* b, T* y) {
  for (size_t bi = 0; bi < g.aOffset.size(); ++bi) {
    const T* am = a + g.aOffset[bi] * g.m * g.k;
    const T* bm = b + g.bOffset[bi] * g.k * g.n;
    T* ym = y + static_cast<int64_t>(bi) * g.m * g.n;
    for (int64_t i = 0; i < g.m; ++i)
      for (int64_t j = 0; j < g.n; ++j) {
        uint64_t acc = 0;
        for (int64_t p = 0; p < g.k; ++p)
          acc += static_cast<uint64_t>(am[i * g.k + p]) * static_cast<uint64_t>(bm[p * g.n + j]);
        ym[i * g.n + j] = static_cast<T>(acc);
      }
  }
}

Status matmulKernel(CpuKernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(MatMulGeom g, matmulGeometry(ctx));
  if (!gemmSizesFit({g.m, g.n, g.k})) return ctx.error("matrix dimensions are too large for BLAS");
  const CpuTensor& a = ctx.inputs[0];
  const CpuTensor& b = ctx.inputs[1];
  CpuTensor& y = ctx.outputs[0];
  switch (a.dtype) {
    case DataType::kFLOAT: matmulBlas(g, a.as<const float>(), b.as<const float>(), y.as<float>()); return Status::ok();
    case DataType::kDOUBLE: matmulBlas(g, a.as<const double>(), b.as<const double>(), y.as<double>()); return Status::ok();
    case DataType::kHALF:
    case DataType::kBF16: {
      std::vector<float> af = halfTensorToFloats(a), bf = halfTensorToFloats(b);
      std::vector<float> yf(static_cast<size_t>(y.numel()));
      matmulBlas(g, af.data(), bf.data(), yf.data());
      storeFloatsToHalfTensor(yf, y);
      return Status::ok();
    }
    case DataType::kINT32: matmulInt(g, a.as<const int32_t>(), b.as<const int32_t>(), y.as<int32_t>()); return Status::ok();
    case DataType::kINT64: matmulInt(g, a.as<const int64_t>(), b.as<const int64_t>(), y.as<int64_t>()); return Status::ok();
    case DataType::kUINT32: matmulInt(g, a.as<const uint32_t>(), b.as<const uint32_t>(), y.as<uint32_t>()); return Status::ok();
    case DataType::kUINT64: matmulInt(g, a.as<const uint64_t>(), b.as<const uint64_t>(), y.as<uint64_t>()); return Status::ok();
    case DataType::kINT8:
    case DataType::kBOOL:
    case DataType::kUINT8:
    case DataType::kINT16:
    case DataType::kUINT16:
    KILN_CASE_LOW_PRECISION_TYPES: break;
  }
  return ctx.unsupportedType(a.dtype);
}

// ---------------------------------------------------------------------------------------------
// Gemm: Y = alpha * op(A) * op(B) + beta * C

struct GemmGeom {
  bool transA = false, transB = false;
  int64_t m = 0, n = 0, k = 0;
  int64_t cRows = 1, cCols = 1;  // C's broadcast shape (1 = broadcast)
  bool hasC = false;
};

StatusOr<GemmGeom> gemmGeometry(const CpuKernelContext& ctx) {
  const CpuTensor& a = ctx.inputs[0];
  const CpuTensor& b = ctx.inputs[1];
  GemmGeom g;
  g.transA = ctx.attrs().getInt("transA", 0) != 0;
  g.transB = ctx.attrs().getInt("transB", 0) != 0;
  if (a.rank() != 2 || b.rank() != 2) return ctx.error("A and B must be 2-D");
  g.m = g.transA ? a.dims[1] : a.dims[0];
  g.k = g.transA ? a.dims[0] : a.dims[1];
  const int64_t kb = g.transB ? b.dims[1] : b.dims[0];
  g.n = g.transB ? b.dims[0] : b.dims[1];
  if (kb != g.k)
    return ctx.error("inner dimensions do not match: op(A) is [%lld,%lld] and op(B) is [%lld,%lld]",
                     static_cast<long long>(g.m), static_cast<long long>(g.k), static_cast<long long>(kb),
                     static_cast<long long>(g.n));
  if (ctx.hasInput(2)) {
    const CpuTensor& c = ctx.inputs[2];
    g.hasC = true;
    if (c.rank() > 2) return ctx.error("C must have rank <= 2");
    g.cRows = c.rank() == 2 ? c.dims[0] : 1;
    g.cCols = c.rank() >= 1 ? c.dims.back() : 1;
    if ((g.cRows != 1 && g.cRows != g.m) || (g.cCols != 1 && g.cCols != g.n))
      return ctx.error("C of shape %s cannot be broadcast to the output [%lld,%lld]", dimsStr(c.dims).c_str(),
                       static_cast<long long>(g.m), static_cast<long long>(g.n));
  }
  return g;
}

int64_t gemmCIndex(const GemmGeom& g, int64_t i, int64_t j) {
  return (g.cRows == 1 ? 0 : i) * g.cCols + (g.cCols == 1 ? 0 : j);
}

template <typename T>
void gemmBlas(const GemmGeom& g, T alpha, T beta, const T* a, const T* b, const T* c, T* y) {
  gemm<T>(g.transA, g.transB, g.m, g.n, g.k, alpha, a, g.transA ? g.m : g.k, b, g.transB ? g.k : g.n, T(0), y, g.n);
  if (!c) return;
  for (int64_t i = 0; i < g.m; ++i)
    for (int64_t j = 0; j < g.n; ++j) y[i * g.n + j] += beta * c[gemmCIndex(g, i, j)];
}

template <typename T>
void gemmInt(const GemmGeom& g, int64_t alpha, int64_t beta, const T* a, const T* b, const T* c, T* y) {
  for (int64_t i = 0; i < g.m; ++i)
    for (int64_t j = 0; j < g.n; ++j) {
      uint64_t acc = 0;
      for (int64_t p = 0; p < g.k; ++p) {
        const T av = g.transA ? a[p * g.m + i] : a[i * g.k + p];
        const T bv = g.transB ? b[j * g.k + p] : b[p * g.n + j];
        acc += static_cast<uint64_t>(av) * static_cast<uint64_t>(bv);
      }
      acc *= static_cast<uint64_t>(alpha);
      if (c) acc += static_cast<uint64_t>(beta) * static_cast<uint64_t>(c[gemmCIndex(g, i, j)]);
      y[i * g.n + j] = static_cast<T>(acc);
    }
}

Status gemmKernel(CpuKernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(GemmGeom g, gemmGeometry(ctx));
  if (!gemmSizesFit({g.m, g.n, g.k})) return ctx.error("matrix dimensions are too large for BLAS");
  const float alpha = ctx.attrs().getFloat("alpha", 1.f), beta = ctx.attrs().getFloat("beta", 1.f);
  const CpuTensor& a = ctx.inputs[0];
  const CpuTensor& b = ctx.inputs[1];
  const void* c = g.hasC ? ctx.inputs[2].data : nullptr;
  CpuTensor& y = ctx.outputs[0];
  auto intGemm = [&](auto tag) -> Status {
    using T = decltype(tag);
    if (alpha != static_cast<float>(static_cast<int64_t>(alpha)) || beta != static_cast<float>(static_cast<int64_t>(beta)))
      return unsupported("%s: alpha and beta must be whole numbers for integer Gemm (got %g, %g)",
                         ctx.node.describe().c_str(), alpha, beta);
    gemmInt(g, static_cast<int64_t>(alpha), static_cast<int64_t>(beta), a.as<const T>(), b.as<const T>(),
            static_cast<const T*>(c), y.as<T>());
    return Status::ok();
  };
  switch (a.dtype) {
    case DataType::kFLOAT:
      gemmBlas(g, alpha, beta, a.as<const float>(), b.as<const float>(), static_cast<const float*>(c), y.as<float>());
      return Status::ok();
    case DataType::kDOUBLE:
      gemmBlas<double>(g, alpha, beta, a.as<const double>(), b.as<const double>(), static_cast<const double*>(c),
                       y.as<double>());
      return Status::ok();
    case DataType::kHALF:
    case DataType::kBF16: {
      std::vector<float> af = halfTensorToFloats(a), bf = halfTensorToFloats(b), cf;
      if (g.hasC) cf = halfTensorToFloats(ctx.inputs[2]);
      std::vector<float> yf(static_cast<size_t>(y.numel()));
      gemmBlas(g, alpha, beta, af.data(), bf.data(), g.hasC ? cf.data() : nullptr, yf.data());
      storeFloatsToHalfTensor(yf, y);
      return Status::ok();
    }
    case DataType::kINT32: return intGemm(int32_t{});
    case DataType::kINT64: return intGemm(int64_t{});
    case DataType::kUINT32: return intGemm(uint32_t{});
    case DataType::kUINT64: return intGemm(uint64_t{});
    case DataType::kINT8:
    case DataType::kBOOL:
    case DataType::kUINT8:
    case DataType::kINT16:
    case DataType::kUINT16:
    KILN_CASE_LOW_PRECISION_TYPES: break;
  }
  return ctx.unsupportedType(a.dtype);
}

// ---------------------------------------------------------------------------------------------
// Einsum: a direct loop over every label. For each output element, sum over the labels that are
// not in the output of the product of the operands' elements (each operand addressed through
// per-label strides; a label repeated in one operand adds its strides, which walks a diagonal;
// a broadcast ellipsis dim of size 1 has stride 0).

template <typename T>
Status einsumTyped(const CpuKernelContext& ctx, const ir::EinsumSpec& spec, const std::vector<int64_t>& sizes) {
  using Acc = std::conditional_t<std::is_integral_v<T>, uint64_t, double>;
  const size_t numIn = spec.inputs.size();
  const size_t numLabels = static_cast<size_t>(spec.numLabels);
  // strides[i][label]
  std::vector<std::vector<int64_t>> strides(numIn, std::vector<int64_t>(numLabels, 0));
  for (size_t i = 0; i < numIn; ++i) {
    const std::vector<int64_t>& d = ctx.inputs[i].dims;
    int64_t s = 1;
    for (size_t ax = d.size(); ax-- > 0;) {
      if (d[ax] != 1) strides[i][static_cast<size_t>(spec.inputs[i][ax])] += s;
      s *= d[ax];
    }
  }
  std::vector<bool> inOutput(numLabels, false);
  for (int l : spec.output) inOutput[static_cast<size_t>(l)] = true;
  std::vector<int> summed;
  for (size_t l = 0; l < numLabels; ++l)
    if (!inOutput[l]) summed.push_back(static_cast<int>(l));
  int64_t sumCount = 1;
  for (int l : summed) sumCount *= sizes[static_cast<size_t>(l)];
  CpuTensor& y = ctx.outputs[0];
  const int64_t outCount = y.numel();
  std::vector<int64_t> outIdx(spec.output.size(), 0), sumIdx(summed.size(), 0);
  std::vector<int64_t> base(numIn), off(numIn);
  std::vector<const T*> ptr(numIn);
  for (size_t i = 0; i < numIn; ++i) ptr[i] = ctx.inputs[i].as<const T>();
  for (int64_t o = 0; o < outCount; ++o) {
    for (size_t i = 0; i < numIn; ++i) {
      base[i] = 0;
      for (size_t k = 0; k < spec.output.size(); ++k) base[i] += outIdx[k] * strides[i][static_cast<size_t>(spec.output[k])];
    }
    std::fill(sumIdx.begin(), sumIdx.end(), 0);
    Acc acc = 0;
    for (int64_t s = 0; s < sumCount; ++s) {
      Acc prod = 1;
      for (size_t i = 0; i < numIn; ++i) {
        int64_t at = base[i];
        for (size_t k = 0; k < summed.size(); ++k) at += sumIdx[k] * strides[i][static_cast<size_t>(summed[k])];
        if constexpr (std::is_integral_v<T>) {
          prod *= static_cast<uint64_t>(ptr[i][at]);
        } else {
          prod *= loadAsDouble(ptr[i][at]);
        }
      }
      acc += prod;
      for (size_t k = summed.size(); k-- > 0;) {
        if (++sumIdx[k] < sizes[static_cast<size_t>(summed[k])]) break;
        sumIdx[k] = 0;
      }
    }
    if constexpr (std::is_integral_v<T>) {
      y.as<T>()[o] = static_cast<T>(acc);
    } else {
      y.as<T>()[o] = storeFromDouble<T>(acc);
    }
    for (size_t k = spec.output.size(); k-- > 0;) {
      if (++outIdx[k] < sizes[static_cast<size_t>(spec.output[k])]) break;
      outIdx[k] = 0;
    }
  }
  return Status::ok();
}

Status einsumKernel(CpuKernelContext& ctx) {
  std::vector<size_t> ranks;
  for (const CpuTensor& t : ctx.inputs) ranks.push_back(static_cast<size_t>(t.rank()));
  KILN_ASSIGN_OR_RETURN(ir::EinsumSpec spec,
                        ir::parseEinsum(ctx.attrs().getString("equation"), ranks, ctx.node.describe()));
  // Label sizes: named labels must agree; ellipsis labels broadcast (1 against n).
  std::vector<int64_t> sizes(static_cast<size_t>(spec.numLabels), -1);
  for (size_t i = 0; i < spec.inputs.size(); ++i) {
    for (size_t ax = 0; ax < ctx.inputs[i].dims.size(); ++ax) {
      const int l = spec.inputs[i][ax];
      const int64_t d = ctx.inputs[i].dims[ax];
      int64_t& cur = sizes[static_cast<size_t>(l)];
      if (cur < 0 || (l >= spec.firstEllipsisLabel && cur == 1)) {
        cur = d;
      } else if (d != cur && !(l >= spec.firstEllipsisLabel && d == 1)) {
        return ctx.error("label '%s' has size %lld in one place and %lld in another (input %zu)",
                         spec.labelName(l).c_str(), static_cast<long long>(cur), static_cast<long long>(d), i);
      }
    }
  }
  for (int64_t& s : sizes)
    if (s < 0) s = 1;
  switch (ctx.inputs[0].dtype) {
    case DataType::kFLOAT: return einsumTyped<float>(ctx, spec, sizes);
    case DataType::kDOUBLE: return einsumTyped<double>(ctx, spec, sizes);
    case DataType::kHALF: return einsumTyped<Half>(ctx, spec, sizes);
    case DataType::kBF16: return einsumTyped<BFloat16>(ctx, spec, sizes);
    case DataType::kINT32: return einsumTyped<int32_t>(ctx, spec, sizes);
    case DataType::kINT64: return einsumTyped<int64_t>(ctx, spec, sizes);
    case DataType::kUINT32: return einsumTyped<uint32_t>(ctx, spec, sizes);
    case DataType::kUINT64: return einsumTyped<uint64_t>(ctx, spec, sizes);
    case DataType::kINT8:
    case DataType::kBOOL:
    case DataType::kUINT8:
    case DataType::kINT16:
    case DataType::kUINT16:
    KILN_CASE_LOW_PRECISION_TYPES: break;
  }
  return ctx.unsupportedType(ctx.inputs[0].dtype);
}

// ---------------------------------------------------------------------------------------------
// Conv and ConvTranspose

// Concrete geometry of a convolution (or of the convolution a ConvTranspose is the adjoint of):
// the "image" side has `imgSizes`, the "column" side `colSizes`, related by
//   img = col*stride - padBegin + k*dilation
// For Conv the image is the input and the columns are the output; for ConvTranspose the reverse.
struct ConvGeom {
  int64_t batch = 0, group = 1;
  int64_t inChannels = 0, outChannels = 0;
  std::vector<int64_t> imgSizes, colSizes, kernel, strides, dilations, padBegin;
  int64_t imgVol() const { return volume(imgSizes); }
  int64_t colVol() const { return volume(colSizes); }
  int64_t kernelVol() const { return volume(kernel); }
  static int64_t volume(const std::vector<int64_t>& v) {
    int64_t n = 1;
    for (int64_t d : v) n *= d;
    return n;
  }
};

// For each column position and kernel offset, the flat image position or -1 (padding). Built
// per kernel offset: table[kk * colVol + o].
std::vector<int64_t> buildImageIndex(const ConvGeom& g) {
  const size_t nsp = g.kernel.size();
  const int64_t colVol = g.colVol(), kVol = g.kernelVol();
  std::vector<int64_t> table(static_cast<size_t>(kVol * colVol));
  std::vector<int64_t> kc(nsp, 0), oc(nsp, 0);
  for (int64_t kk = 0; kk < kVol; ++kk) {
    std::fill(oc.begin(), oc.end(), 0);
    for (int64_t o = 0; o < colVol; ++o) {
      int64_t flat = 0;
      bool inside = true;
      for (size_t d = 0; d < nsp; ++d) {
        const int64_t p = oc[d] * g.strides[d] - g.padBegin[d] + kc[d] * g.dilations[d];
        if (p < 0 || p >= g.imgSizes[d]) {
          inside = false;
          break;
        }
        flat = flat * g.imgSizes[d] + p;
      }
      table[static_cast<size_t>(kk * colVol + o)] = inside ? flat : -1;
      for (size_t d = nsp; d-- > 0;) {
        if (++oc[d] < g.colSizes[d]) break;
        oc[d] = 0;
      }
    }
    for (size_t d = nsp; d-- > 0;) {
      if (++kc[d] < g.kernel[d]) break;
      kc[d] = 0;
    }
  }
  return table;
}

// Conv: Y[n, g] (Mg x colVol) = W[g] (Mg x Cg*K) * im2col(X[n, g]) (Cg*K x colVol) + B.
template <typename T>
void convForward(const ConvGeom& g, const T* x, const T* w, const T* bias, T* y) {
  const int64_t cg = g.inChannels / g.group, mg = g.outChannels / g.group;
  const int64_t kVol = g.kernelVol(), colVol = g.colVol(), imgVol = g.imgVol();
  bool identity = colVol == imgVol;  // 1x1 kernel, stride 1, no padding: im2col(X) is X itself
  for (size_t d = 0; d < g.kernel.size(); ++d)
    identity = identity && g.kernel[d] == 1 && g.strides[d] == 1 && g.padBegin[d] == 0;
  const std::vector<int64_t> table = identity ? std::vector<int64_t>{} : buildImageIndex(g);
  std::vector<T> col(identity ? 0 : static_cast<size_t>(cg * kVol * colVol));
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t gi = 0; gi < g.group; ++gi) {
      const T* xg = x + (n * g.inChannels + gi * cg) * imgVol;
      const T* cols = xg;
      if (!identity) {
        for (int64_t c = 0; c < cg; ++c)
          for (int64_t kk = 0; kk < kVol; ++kk) {
            T* dst = col.data() + (c * kVol + kk) * colVol;
            const int64_t* idx = table.data() + kk * colVol;
            const T* src = xg + c * imgVol;
            for (int64_t o = 0; o < colVol; ++o) dst[o] = idx[o] >= 0 ? src[idx[o]] : T(0);
          }
        cols = col.data();
      }
      T* yg = y + (n * g.outChannels + gi * mg) * colVol;
      gemm<T>(false, false, mg, colVol, cg * kVol, T(1), w + gi * mg * cg * kVol, cg * kVol, cols, colVol, T(0), yg,
              colVol);
      if (bias)
        for (int64_t m = 0; m < mg; ++m)
          for (int64_t o = 0; o < colVol; ++o) yg[m * colVol + o] += bias[gi * mg + m];
    }
  }
}

// ConvTranspose: cols (Mg*K x inVol) = W[g]^T * X[n, g] (W[g] is Cg x Mg*K), then col2im
// scatter-adds every column entry into the output position it maps to, then + B.
template <typename T>
void convTransposeForward(const ConvGeom& g, const T* x, const T* w, const T* bias, T* y) {
  const int64_t cg = g.inChannels / g.group, mg = g.outChannels / g.group;
  const int64_t kVol = g.kernelVol(), colVol = g.colVol(), imgVol = g.imgVol();
  const std::vector<int64_t> table = buildImageIndex(g);
  std::vector<T> col(static_cast<size_t>(mg * kVol * colVol));
  std::fill(y, y + g.batch * g.outChannels * imgVol, T(0));
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t gi = 0; gi < g.group; ++gi) {
      const T* xg = x + (n * g.inChannels + gi * cg) * colVol;
      gemm<T>(true, false, mg * kVol, colVol, cg, T(1), w + gi * cg * mg * kVol, mg * kVol, xg, colVol, T(0),
              col.data(), colVol);
      T* yg = y + (n * g.outChannels + gi * mg) * imgVol;
      for (int64_t m = 0; m < mg; ++m)
        for (int64_t kk = 0; kk < kVol; ++kk) {
          const T* src = col.data() + (m * kVol + kk) * colVol;
          const int64_t* idx = table.data() + kk * colVol;
          T* dst = yg + m * imgVol;
          for (int64_t o = 0; o < colVol; ++o)
            if (idx[o] >= 0) dst[idx[o]] += src[o];
        }
      if (bias)
        for (int64_t m = 0; m < mg; ++m)
          for (int64_t p = 0; p < imgVol; ++p) yg[m * imgVol + p] += bias[gi * mg + m];
    }
  }
}

// Runs `fn(geom, x, w, b, y)` in the tensor's type (float16/bfloat16 through float32).
template <typename Fn>
Status runConvTyped(const CpuKernelContext& ctx, const ConvGeom& g, Fn&& fn) {
  const CpuTensor& x = ctx.inputs[0];
  const CpuTensor& w = ctx.inputs[1];
  const bool hasB = ctx.hasInput(2);
  CpuTensor& y = ctx.outputs[0];
  switch (x.dtype) {
    case DataType::kFLOAT:
      fn(g, x.as<const float>(), w.as<const float>(), hasB ? ctx.inputs[2].as<const float>() : nullptr, y.as<float>());
      return Status::ok();
    case DataType::kDOUBLE:
      fn(g, x.as<const double>(), w.as<const double>(), hasB ? ctx.inputs[2].as<const double>() : nullptr,
         y.as<double>());
      return Status::ok();
    case DataType::kHALF:
    case DataType::kBF16: {
      std::vector<float> xf = halfTensorToFloats(x), wf = halfTensorToFloats(w), bf;
      if (hasB) bf = halfTensorToFloats(ctx.inputs[2]);
      std::vector<float> yf(static_cast<size_t>(y.numel()));
      fn(g, xf.data(), wf.data(), hasB ? bf.data() : nullptr, yf.data());
      storeFloatsToHalfTensor(yf, y);
      return Status::ok();
    }
    case DataType::kINT8:
    case DataType::kINT32:
    case DataType::kINT64:
    case DataType::kUINT32:
    case DataType::kUINT64:
    case DataType::kBOOL:
    case DataType::kUINT8:
    case DataType::kINT16:
    case DataType::kUINT16:
    KILN_CASE_LOW_PRECISION_TYPES: break;
  }
  return ctx.unsupportedType(x.dtype);
}

Status checkConvTensors(const CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const CpuTensor& w = ctx.inputs[1];
  if (x.rank() < 3 || w.rank() != x.rank())
    return ctx.error("X %s and W %s must have the same rank >= 3", dimsStr(x.dims).c_str(), dimsStr(w.dims).c_str());
  if (ctx.attrs().getInt("group", 1) < 1) return ctx.error("group must be >= 1");
  return Status::ok();
}

Status convKernel(CpuKernelContext& ctx) {
  KILN_RETURN_IF_ERROR(checkConvTensors(ctx));
  const CpuTensor& x = ctx.inputs[0];
  const CpuTensor& w = ctx.inputs[1];
  ConvGeom g;
  g.group = ctx.attrs().getInt("group", 1);
  g.batch = x.dims[0];
  g.inChannels = x.dims[1];
  g.outChannels = w.dims[0];
  if (g.outChannels % g.group != 0 || g.inChannels != w.dims[1] * g.group)
    return ctx.error("channels mismatch: X %s, W %s, group=%lld (need C = W[1]*group and group | W[0])",
                     dimsStr(x.dims).c_str(), dimsStr(w.dims).c_str(), static_cast<long long>(g.group));
  if (ctx.hasInput(2) && ctx.inputs[2].numel() != g.outChannels)
    return ctx.error("bias has %lld values, expected %lld", static_cast<long long>(ctx.inputs[2].numel()),
                     static_cast<long long>(g.outChannels));
  const size_t nsp = static_cast<size_t>(x.rank() - 2);
  KILN_ASSIGN_OR_RETURN(ir::WindowParams p,
                        ir::parseWindowParams(ctx.attrs(), nsp, std::vector<int64_t>(w.dims.begin() + 2, w.dims.end()),
                                              false, ctx.node.describe()));
  g.imgSizes.assign(x.dims.begin() + 2, x.dims.end());
  g.colSizes.assign(ctx.outputs[0].dims.begin() + 2, ctx.outputs[0].dims.end());
  for (size_t i = 0; i < nsp; ++i) {
    const ir::DimExpr out = ir::windowOutputDim(p, i, ir::DimExpr(g.imgSizes[i]));
    if (!out.isConst() || out.constValue() != g.colSizes[i])
      return internalError("%s: output dims %s disagree with the convolution geometry", ctx.node.describe().c_str(),
                           dimsStr(ctx.outputs[0].dims).c_str());
  }
  g.kernel = p.kernel;
  g.strides = p.strides;
  g.dilations = p.dilations;
  const std::vector<int64_t> pads = ir::resolveWindowPads(p, g.imgSizes);
  g.padBegin.assign(pads.begin(), pads.begin() + static_cast<std::ptrdiff_t>(nsp));
  const int64_t cgk = g.inChannels / g.group * g.kernelVol();
  if (!gemmSizesFit({g.outChannels, g.colVol(), cgk})) return ctx.error("convolution is too large for BLAS");
  return runConvTyped(ctx, g, [](const ConvGeom& gg, auto x, auto w, auto b, auto y) { convForward(gg, x, w, b, y); });
}

Status convTransposeKernel(CpuKernelContext& ctx) {
  KILN_RETURN_IF_ERROR(checkConvTensors(ctx));
  const CpuTensor& x = ctx.inputs[0];
  const CpuTensor& w = ctx.inputs[1];
  ConvGeom g;
  g.group = ctx.attrs().getInt("group", 1);
  g.batch = x.dims[0];
  g.inChannels = x.dims[1];
  g.outChannels = w.dims[1] * g.group;
  if (g.inChannels != w.dims[0] || g.inChannels % g.group != 0)
    return ctx.error("channels mismatch: X %s, W %s, group=%lld (need C = W[0] and group | C)",
                     dimsStr(x.dims).c_str(), dimsStr(w.dims).c_str(), static_cast<long long>(g.group));
  if (ctx.hasInput(2) && ctx.inputs[2].numel() != g.outChannels)
    return ctx.error("bias has %lld values, expected %lld", static_cast<long long>(ctx.inputs[2].numel()),
                     static_cast<long long>(g.outChannels));
  const size_t nsp = static_cast<size_t>(x.rank() - 2);
  KILN_ASSIGN_OR_RETURN(
      ir::ConvTransposeParams p,
      ir::parseConvTransposeParams(ctx.attrs(), nsp, std::vector<int64_t>(w.dims.begin() + 2, w.dims.end()),
                                   ctx.node.describe()));
  // The transposed convolution is the adjoint of a convolution from the output (image side) to
  // the input (column side).
  g.colSizes.assign(x.dims.begin() + 2, x.dims.end());
  g.imgSizes.assign(ctx.outputs[0].dims.begin() + 2, ctx.outputs[0].dims.end());
  for (size_t i = 0; i < nsp; ++i) {
    const ir::DimExpr out = ir::convTransposeOutputDim(p, i, ir::DimExpr(g.colSizes[i]));
    if (!out.isConst() || out.constValue() != g.imgSizes[i])
      return internalError("%s: output dims %s disagree with the transposed convolution geometry",
                           ctx.node.describe().c_str(), dimsStr(ctx.outputs[0].dims).c_str());
  }
  g.kernel = p.window.kernel;
  g.strides = p.window.strides;
  g.dilations = p.window.dilations;
  const std::vector<int64_t> pads = ir::resolveConvTransposePads(p, g.colSizes);
  g.padBegin.assign(pads.begin(), pads.begin() + static_cast<std::ptrdiff_t>(nsp));
  const int64_t mgk = g.outChannels / g.group * g.kernelVol();
  if (!gemmSizesFit({mgk, g.colVol(), g.inChannels})) return ctx.error("convolution is too large for BLAS");
  return runConvTyped(ctx, g,
                      [](const ConvGeom& gg, auto x, auto w, auto b, auto y) { convTransposeForward(gg, x, w, b, y); });
}

}  // namespace

void registerLinearKernels(CpuKernelTable& t) {
  t[static_cast<size_t>(ir::OpKind::kMatMul)] = &matmulKernel;
  t[static_cast<size_t>(ir::OpKind::kGemm)] = &gemmKernel;
  t[static_cast<size_t>(ir::OpKind::kEinsum)] = &einsumKernel;
  t[static_cast<size_t>(ir::OpKind::kConv)] = &convKernel;
  t[static_cast<size_t>(ir::OpKind::kConvTranspose)] = &convTransposeKernel;
}

}  // namespace kiln::cpu
