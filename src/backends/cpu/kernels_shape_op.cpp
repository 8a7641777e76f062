// CPU reference kernels for the ShapeOp family (see ops.def).
//
// Data movement is dtype-agnostic: elements are copied by their byte size, so every op here
// works for every data type. Most ops are one "table copy": for an output coordinate c,
//   src offset = sum over axes a of table_a[c_a]
// where table_a maps an output index on axis a to an input offset (in elements). Transpose,
// Slice, Expand, Tile, Pad, Gather, DepthToSpace and SpaceToDepth differ only in their tables;
// a negative table entry marks a padded position (filled with the pad value).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/resize_kernel.h"
#include "common/half.h"

namespace kiln::cpu {

namespace {

using Tables = std::vector<std::vector<int64_t>>;

inline void copyElem(uint8_t* dst, const uint8_t* src, size_t es) {
  switch (es) {
    case 1: *dst = *src; return;
    case 2: std::memcpy(dst, src, 2); return;
    case 4: std::memcpy(dst, src, 4); return;
    case 8: std::memcpy(dst, src, 8); return;
    default: std::memcpy(dst, src, es);
  }
}

std::vector<int64_t> stridesOf(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) s[i - 1] = s[i] * dims[i];
  return s;
}

// out[c] = src[sum_a tables[a][c_a]] (or *pad when any entry is negative). tables[a] has
// outDims[a] entries. Rank 0 copies the single element.
void tableCopy(void* dstV, const void* srcV, size_t es, const std::vector<int64_t>& outDims,
               const Tables& tables, const void* pad = nullptr) {
  auto* dst = static_cast<uint8_t*>(dstV);
  const auto* src = static_cast<const uint8_t*>(srcV);
  const size_t rank = outDims.size();
  if (rank == 0) {
    copyElem(dst, src, es);
    return;
  }
  const int64_t total = ir::volumeOf(outDims);
  if (total == 0) return;
  const int64_t inner = outDims[rank - 1];
  const std::vector<int64_t>& last = tables[rank - 1];
  const int64_t outer = total / inner;
  parallelFor(outer, [&](int64_t b, int64_t e) {
    // Coordinates of outer row b over axes [0, rank-1).
    std::vector<int64_t> coord(rank, 0);
    int64_t rem = b;
    for (size_t a = rank - 1; a-- > 0;) {
      coord[a] = rem % outDims[a];
      rem /= outDims[a];
    }
    for (int64_t row = b; row < e; ++row) {
      int64_t base = 0;
      bool padded = false;
      for (size_t a = 0; a + 1 < rank; ++a) {
        const int64_t t = tables[a][static_cast<size_t>(coord[a])];
        if (t < 0) padded = true;
        base += t;
      }
      uint8_t* d = dst + static_cast<size_t>(row * inner) * es;
      for (int64_t j = 0; j < inner; ++j) {
        const int64_t t = last[static_cast<size_t>(j)];
        if (padded || t < 0) {
          copyElem(d + static_cast<size_t>(j) * es, static_cast<const uint8_t*>(pad), es);
        } else {
          copyElem(d + static_cast<size_t>(j) * es, src + static_cast<size_t>(base + t) * es, es);
        }
      }
      for (size_t a = rank - 1; a-- > 0;) {
        if (++coord[a] < outDims[a]) break;
        coord[a] = 0;
      }
    }
  }, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)));
}

// Tables for "output = transpose(reshape(input, viewDims), perm)".
Tables transposeTables(const std::vector<int64_t>& viewDims, const std::vector<int64_t>& perm,
                       std::vector<int64_t>* outDims) {
  const std::vector<int64_t> strides = stridesOf(viewDims);
  Tables t(perm.size());
  outDims->clear();
  for (size_t k = 0; k < perm.size(); ++k) {
    const size_t p = static_cast<size_t>(perm[k]);
    outDims->push_back(viewDims[p]);
    for (int64_t c = 0; c < viewDims[p]; ++c) t[k].push_back(c * strides[p]);
  }
  return t;
}

std::vector<int64_t> readInts(const CpuTensor& t) {
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = t.intAt(i);
  return v;
}

// --- reshape-like: the bytes do not move ---------------------------------------------------------

Status copyKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  CpuTensor& y = ctx.outputs[0];
  if (x.numel() != y.numel())
    return ctx.error("input has %lld elements but the output has %lld",
                     static_cast<long long>(x.numel()), static_cast<long long>(y.numel()));
  if (x.data != y.data) std::memcpy(y.data, x.data, static_cast<size_t>(x.numel()) * dataTypeSize(x.dtype));
  return Status::ok();
}

Status transposeKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  std::vector<int64_t> perm = ctx.attrs().getInts("perm");
  if (perm.empty() && !ctx.attrs().has("perm")) {
    for (int64_t i = x.rank() - 1; i >= 0; --i) perm.push_back(i);
  }
  if (static_cast<int64_t>(perm.size()) != x.rank()) return ctx.error("perm does not match the input rank");
  std::vector<int64_t> outDims;
  Tables t = transposeTables(x.dims, perm, &outDims);
  tableCopy(ctx.outputs[0].data, x.data, dataTypeSize(x.dtype), outDims, t);
  return Status::ok();
}

// --- Concat and Split ------------------------------------------------------------------------

Status concatKernel(CpuKernelContext& ctx) {
  CpuTensor& y = ctx.outputs[0];
  const int64_t rank = y.rank();
  int64_t axis = ctx.attrs().getInt("axis", 0);
  if (axis < 0) axis += rank;
  const size_t es = dataTypeSize(y.dtype);
  int64_t outer = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= y.dims[static_cast<size_t>(i)];
  const int64_t outBlock = outer ? y.numel() / std::max<int64_t>(outer, 1) : 0;
  auto* dst = static_cast<uint8_t*>(y.data);
  int64_t offset = 0;  // element offset of this input's block inside an output block
  for (const CpuTensor& x : ctx.inputs) {
    const int64_t block = outer ? x.numel() / std::max<int64_t>(outer, 1) : 0;
    const auto* src = static_cast<const uint8_t*>(x.data);
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(dst + static_cast<size_t>(o * outBlock + offset) * es,
                  src + static_cast<size_t>(o * block) * es, static_cast<size_t>(block) * es);
    offset += block;
  }
  return Status::ok();
}

Status splitKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const int64_t rank = x.rank();
  int64_t axis = ctx.attrs().getInt("axis", 0);
  if (axis < 0) axis += rank;
  const size_t es = dataTypeSize(x.dtype);
  int64_t outer = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x.dims[static_cast<size_t>(i)];
  const int64_t inBlock = outer ? x.numel() / outer : 0;
  const auto* src = static_cast<const uint8_t*>(x.data);
  int64_t offset = 0;
  for (CpuTensor& y : ctx.outputs) {
    const int64_t block = outer ? y.numel() / outer : 0;
    if (offset + block > inBlock) return ctx.error("split sizes exceed the input");
    auto* dst = static_cast<uint8_t*>(y.data);
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(dst + static_cast<size_t>(o * block) * es,
                  src + static_cast<size_t>(o * inBlock + offset) * es, static_cast<size_t>(block) * es);
    offset += block;
  }
  return Status::ok();
}

// --- Slice ---------------------------------------------------------------------------------------

// ONNX clamping for one axis (see the shape function): returns the clamped start.
int64_t clampedSliceStart(int64_t d, int64_t s, int64_t step) {
  if (step > 0) {
    if (s < 0) s = std::max<int64_t>(0, s + d);
    return std::min(s, d);
  }
  // Negative steps clamp to [-1, d-1] like Python's slice.indices (-1: empty slice).
  if (s < 0) s = std::max<int64_t>(-1, s + d);  // s + d never overflows: d >= 0
  return std::min(s, d - 1);
}

Status sliceKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  CpuTensor& y = ctx.outputs[0];
  const int64_t rank = x.rank();
  const std::vector<int64_t> starts = readInts(ctx.inputs[1]);
  std::vector<int64_t> axes, steps;
  if (ctx.hasInput(3)) {
    axes = readInts(ctx.inputs[3]);
  } else {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  steps = ctx.hasInput(4) ? readInts(ctx.inputs[4]) : std::vector<int64_t>(starts.size(), 1);
  if (axes.size() != starts.size() || steps.size() != starts.size())
    return ctx.error("starts, axes and steps differ in length");
  std::vector<int64_t> start(static_cast<size_t>(rank), 0), step(static_cast<size_t>(rank), 1);
  for (size_t k = 0; k < axes.size(); ++k) {
    int64_t a = axes[k] < 0 ? axes[k] + rank : axes[k];
    if (a < 0 || a >= rank) return ctx.error("slice axis %lld is out of range", static_cast<long long>(axes[k]));
    if (steps[k] == 0) return ctx.error("steps must not be 0");
    step[static_cast<size_t>(a)] = steps[k];
    start[static_cast<size_t>(a)] = clampedSliceStart(x.dims[static_cast<size_t>(a)], starts[k], steps[k]);
  }
  const std::vector<int64_t> strides = stridesOf(x.dims);
  Tables t(static_cast<size_t>(rank));
  for (size_t a = 0; a < static_cast<size_t>(rank); ++a) {
    for (int64_t c = 0; c < y.dims[a]; ++c) {
      const int64_t i = start[a] + c * step[a];
      if (i < 0 || i >= x.dims[a]) return internalError("%s: slice index out of range", ctx.node.describe().c_str());
      t[a].push_back(i * strides[a]);
    }
  }
  tableCopy(y.data, x.data, dataTypeSize(x.dtype), y.dims, t);
  return Status::ok();
}

// --- Gather, GatherElements ---------------------------------------------------------------------

Status gatherKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const CpuTensor& idx = ctx.inputs[1];
  const int64_t rank = x.rank();
  int64_t axis = ctx.attrs().getInt("axis", 0);
  if (axis < 0) axis += rank;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x.dims[static_cast<size_t>(i)];
  for (int64_t i = axis + 1; i < rank; ++i) inner *= x.dims[static_cast<size_t>(i)];
  const int64_t n = x.dims[static_cast<size_t>(axis)];
  // View the output as [outer, numIndices, inner].
  Tables t(3);
  for (int64_t o = 0; o < outer; ++o) t[0].push_back(o * n * inner);
  for (int64_t j = 0; j < idx.numel(); ++j) {
    int64_t i = idx.intAt(j);
    if (i < -n || i >= n)
      return ctx.error("index %lld (at position %lld of the indices) is out of range for axis "
                       "%lld of size %lld",
                       static_cast<long long>(i), static_cast<long long>(j),
                       static_cast<long long>(axis), static_cast<long long>(n));
    t[1].push_back((i < 0 ? i + n : i) * inner);
  }
  for (int64_t k = 0; k < inner; ++k) t[2].push_back(k);
  tableCopy(ctx.outputs[0].data, x.data, dataTypeSize(x.dtype), {outer, idx.numel(), inner}, t);
  return Status::ok();
}

Status gatherElementsKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const CpuTensor& idx = ctx.inputs[1];
  CpuTensor& y = ctx.outputs[0];
  const int64_t rank = x.rank();
  int64_t axis = ctx.attrs().getInt("axis", 0);
  if (axis < 0) axis += rank;
  const size_t es = dataTypeSize(x.dtype);
  const std::vector<int64_t> xs = stridesOf(x.dims);
  const int64_t n = x.dims[static_cast<size_t>(axis)];
  std::vector<int64_t> coord(static_cast<size_t>(rank), 0);
  for (int64_t k = 0; k < idx.numel(); ++k) {
    int64_t i = idx.intAt(k);
    if (i < -n || i >= n)
      return ctx.error("index %lld is out of range for axis %lld of size %lld",
                       static_cast<long long>(i), static_cast<long long>(axis),
                       static_cast<long long>(n));
    int64_t off = 0;
    for (size_t a = 0; a < static_cast<size_t>(rank); ++a) {
      const int64_t c = static_cast<int64_t>(a) == axis ? (i < 0 ? i + n : i) : coord[a];
      if (c >= x.dims[a]) return ctx.error("indices shape exceeds the data shape on axis %zu", a);
      off += c * xs[a];
    }
    copyElem(static_cast<uint8_t*>(y.data) + static_cast<size_t>(k) * es,
             static_cast<const uint8_t*>(x.data) + static_cast<size_t>(off) * es, es);
    for (size_t a = static_cast<size_t>(rank); a-- > 0;) {
      if (++coord[a] < idx.dims[a]) break;
      coord[a] = 0;
    }
  }
  return Status::ok();
}

// --- Expand, Tile, Pad ---------------------------------------------------------------------------

Status expandKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  CpuTensor& y = ctx.outputs[0];
  if (x.rank() > y.rank()) return ctx.error("the output rank is smaller than the input's");
  const size_t off = static_cast<size_t>(y.rank() - x.rank());
  const std::vector<int64_t> xs = stridesOf(x.dims);
  Tables t(y.dims.size());
  for (size_t a = 0; a < y.dims.size(); ++a) {
    const bool fromInput = a >= off;
    const int64_t d = fromInput ? x.dims[a - off] : 1;
    if (d != 1 && d != y.dims[a])
      return ctx.error("cannot broadcast input dim %lld to %lld", static_cast<long long>(d),
                       static_cast<long long>(y.dims[a]));
    for (int64_t c = 0; c < y.dims[a]; ++c) t[a].push_back(d == 1 ? 0 : c * xs[a - off]);
  }
  tableCopy(y.data, x.data, dataTypeSize(x.dtype), y.dims, t);
  return Status::ok();
}

Status tileKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  CpuTensor& y = ctx.outputs[0];
  const std::vector<int64_t> xs = stridesOf(x.dims);
  Tables t(y.dims.size());
  for (size_t a = 0; a < y.dims.size(); ++a)
    for (int64_t c = 0; c < y.dims[a]; ++c) t[a].push_back((c % x.dims[a]) * xs[a]);
  tableCopy(y.data, x.data, dataTypeSize(x.dtype), y.dims, t);
  return Status::ok();
}

// Source index on an axis of size d for padded position i (i < 0 or i >= d), or -1 for the
// constant value. reflect mirrors without repeating the edge (period 2(d-1)); edge clamps;
// wrap is periodic (period d).
int64_t padSource(int64_t i, int64_t d, const std::string& mode) {
  if (i >= 0 && i < d) return i;
  if (mode == "constant") return -1;
  if (mode == "edge") return std::clamp<int64_t>(i, 0, d - 1);
  if (mode == "wrap") return ((i % d) + d) % d;
  if (d == 1) return 0;  // reflect of a single element
  const int64_t period = 2 * (d - 1);
  int64_t m = ((i % period) + period) % period;
  return m < d ? m : period - m;
}

Status padKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  CpuTensor& y = ctx.outputs[0];
  const int64_t rank = x.rank();
  const std::string mode = ctx.attrs().getString("mode", "constant");
  const std::vector<int64_t> pads = readInts(ctx.inputs[1]);
  std::vector<int64_t> axes;
  if (ctx.hasInput(3)) {
    axes = readInts(ctx.inputs[3]);
  } else {
    for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
  }
  if (pads.size() != 2 * axes.size()) return ctx.error("pads has the wrong length");
  std::vector<int64_t> begin(static_cast<size_t>(rank), 0);
  for (size_t k = 0; k < axes.size(); ++k) {
    int64_t a = axes[k] < 0 ? axes[k] + rank : axes[k];
    if (a < 0 || a >= rank) return ctx.error("pad axis %lld is out of range", static_cast<long long>(axes[k]));
    begin[static_cast<size_t>(a)] = pads[k];
  }
  const size_t es = dataTypeSize(x.dtype);
  std::vector<uint8_t> padValue(es, 0);
  if (ctx.hasInput(2) && ctx.inputs[2].numel() > 0) std::memcpy(padValue.data(), ctx.inputs[2].data, es);
  const std::vector<int64_t> xs = stridesOf(x.dims);
  Tables t(static_cast<size_t>(rank));
  for (size_t a = 0; a < static_cast<size_t>(rank); ++a) {
    for (int64_t c = 0; c < y.dims[a]; ++c) {
      // Negative begin pads crop: c - begin is then always inside the input.
      const int64_t src = padSource(c - begin[a], x.dims[a], mode);
      if (src < 0 && mode != "constant") return ctx.error("cannot pad an empty axis in mode %s", mode.c_str());
      t[a].push_back(src < 0 ? -1 : src * xs[a]);  // -1: the constant value
    }
  }
  tableCopy(y.data, x.data, es, y.dims, t, padValue.data());
  return Status::ok();
}

// --- Shape, Size, ConstantOfShape, Range --------------------------------------------------------

Status shapeKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const int64_t rank = x.rank();
  auto clampIndex = [rank](int64_t v) {
    if (v < 0) v += rank;
    return std::clamp<int64_t>(v, 0, rank);
  };
  const int64_t start = clampIndex(ctx.attrs().getInt("start", 0));
  int64_t* y = ctx.outputs[0].as<int64_t>();
  for (int64_t i = 0; i < ctx.outputs[0].numel(); ++i) y[i] = x.dims[static_cast<size_t>(start + i)];
  return Status::ok();
}

Status sizeKernel(CpuKernelContext& ctx) {
  ctx.outputs[0].as<int64_t>()[0] = ctx.inputs[0].numel();
  return Status::ok();
}

Status constantOfShapeKernel(CpuKernelContext& ctx) {
  CpuTensor& y = ctx.outputs[0];
  const size_t es = dataTypeSize(y.dtype);
  std::vector<uint8_t> value(es, 0);  // default: float 0
  if (ir::TensorDataPtr v = ctx.attrs().getTensor("value")) {
    if (v->dtype() != y.dtype || v->numel() != 1) return ctx.error("attribute 'value' does not match the output");
    std::memcpy(value.data(), v->data(), es);
  }
  auto* dst = static_cast<uint8_t*>(y.data);
  for (int64_t i = 0; i < y.numel(); ++i) copyElem(dst + static_cast<size_t>(i) * es, value.data(), es);
  return Status::ok();
}

template <typename T>
void fillRange(CpuTensor& y, const CpuKernelContext& ctx) {
  T* out = y.as<T>();
  if constexpr (std::is_integral_v<T>) {
    const T start = static_cast<T>(ctx.inputs[0].intAt(0)), delta = static_cast<T>(ctx.inputs[2].intAt(0));
    for (int64_t i = 0; i < y.numel(); ++i) out[i] = static_cast<T>(start + static_cast<T>(i) * delta);
  } else {
    // ONNX defines the values as start + i * delta (accumulation would drift).
    const double start = ctx.inputs[0].doubleAt(0), delta = ctx.inputs[2].doubleAt(0);
    for (int64_t i = 0; i < y.numel(); ++i) out[i] = T(static_cast<float>(start + static_cast<double>(i) * delta));
  }
}

Status rangeKernel(CpuKernelContext& ctx) {
  CpuTensor& y = ctx.outputs[0];
  switch (y.dtype) {
    case DataType::kINT64: fillRange<int64_t>(y, ctx); break;
    case DataType::kINT32: fillRange<int32_t>(y, ctx); break;
    case DataType::kINT16: fillRange<int16_t>(y, ctx); break;
    case DataType::kFLOAT: {
      const double start = ctx.inputs[0].doubleAt(0), delta = ctx.inputs[2].doubleAt(0);
      for (int64_t i = 0; i < y.numel(); ++i) y.as<float>()[i] = static_cast<float>(start + static_cast<double>(i) * delta);
      break;
    }
    case DataType::kDOUBLE: {
      const double start = ctx.inputs[0].doubleAt(0), delta = ctx.inputs[2].doubleAt(0);
      for (int64_t i = 0; i < y.numel(); ++i) y.as<double>()[i] = start + static_cast<double>(i) * delta;
      break;
    }
    case DataType::kHALF: fillRange<Half>(y, ctx); break;
    case DataType::kBF16: fillRange<BFloat16>(y, ctx); break;
    default: return ctx.unsupportedType(y.dtype);
  }
  return Status::ok();
}

// --- TopK ------------------------------------------------------------------------------------------

// Values along the axis are compared in their own type (float16/bfloat16 as float), so 64-bit
// integers compare exactly.
template <typename T>
void topK(const T* x, T* vals, int64_t* inds, int64_t outer, int64_t n, int64_t inner, int64_t k,
          bool largest) {
  using Key = std::conditional_t<std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>, float, T>;
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::vector<Key> v(static_cast<size_t>(n));
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      for (int64_t j = 0; j < n; ++j)
        v[static_cast<size_t>(j)] = static_cast<Key>(x[(o * n + j) * inner + i]);
      std::iota(order.begin(), order.end(), 0);
      // Ties keep the lower index first (stable sort on the value only).
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        const Key va = v[static_cast<size_t>(a)], vb = v[static_cast<size_t>(b)];
        return largest ? va > vb : va < vb;
      });
      for (int64_t j = 0; j < k; ++j) {
        const int64_t src = order[static_cast<size_t>(j)];
        vals[(o * k + j) * inner + i] = x[(o * n + src) * inner + i];
        inds[(o * k + j) * inner + i] = src;
      }
    }
  }
}

Status topKKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const int64_t rank = x.rank();
  int64_t axis = ctx.attrs().getInt("axis", -1);
  if (axis < 0) axis += rank;
  const int64_t k = ctx.inputs[1].intAt(0);
  const int64_t n = x.dims[static_cast<size_t>(axis)];
  if (k < 0 || k > n)
    return ctx.error("K = %lld is out of range for axis %lld of size %lld", static_cast<long long>(k),
                     static_cast<long long>(axis), static_cast<long long>(n));
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x.dims[static_cast<size_t>(i)];
  for (int64_t i = axis + 1; i < rank; ++i) inner *= x.dims[static_cast<size_t>(i)];
  // The outputs were sized from K's value at shape inference; K read here must agree (a
  // corrupted plan can make them differ: never write past the outputs).
  for (size_t o = 0; o < 2; ++o)
    if (ctx.outputs[o].rank() != rank || ctx.outputs[o].dims[static_cast<size_t>(axis)] != k)
      return ctx.error("output %zu has shape %s, which does not hold K = %lld values along axis %lld",
                       o, ir::dimsToString(ctx.outputs[o].dims).c_str(), static_cast<long long>(k),
                       static_cast<long long>(axis));
  const bool largest = ctx.attrs().getInt("largest", 1) != 0;
  int64_t* inds = ctx.outputs[1].as<int64_t>();
  void* vals = ctx.outputs[0].data;
  switch (x.dtype) {
    case DataType::kFLOAT: topK(x.as<float>(), static_cast<float*>(vals), inds, outer, n, inner, k, largest); break;
    case DataType::kDOUBLE: topK(x.as<double>(), static_cast<double*>(vals), inds, outer, n, inner, k, largest); break;
    case DataType::kHALF: topK(x.as<Half>(), static_cast<Half*>(vals), inds, outer, n, inner, k, largest); break;
    case DataType::kBF16: topK(x.as<BFloat16>(), static_cast<BFloat16*>(vals), inds, outer, n, inner, k, largest); break;
    case DataType::kINT32: topK(x.as<int32_t>(), static_cast<int32_t*>(vals), inds, outer, n, inner, k, largest); break;
    case DataType::kINT64: topK(x.as<int64_t>(), static_cast<int64_t*>(vals), inds, outer, n, inner, k, largest); break;
    case DataType::kINT8: topK(x.as<int8_t>(), static_cast<int8_t*>(vals), inds, outer, n, inner, k, largest); break;
    case DataType::kINT16: topK(x.as<int16_t>(), static_cast<int16_t*>(vals), inds, outer, n, inner, k, largest); break;
    case DataType::kUINT8: topK(x.as<uint8_t>(), static_cast<uint8_t*>(vals), inds, outer, n, inner, k, largest); break;
    case DataType::kUINT16: topK(x.as<uint16_t>(), static_cast<uint16_t*>(vals), inds, outer, n, inner, k, largest); break;
    case DataType::kUINT32: topK(x.as<uint32_t>(), static_cast<uint32_t*>(vals), inds, outer, n, inner, k, largest); break;
    case DataType::kUINT64: topK(x.as<uint64_t>(), static_cast<uint64_t*>(vals), inds, outer, n, inner, k, largest); break;
    default: return ctx.unsupportedType(x.dtype);
  }
  return Status::ok();
}

// --- DepthToSpace, SpaceToDepth ---------------------------------------------------------------

Status depthToSpaceKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const int64_t b = ctx.attrs().getInt("blocksize", 0);
  const int64_t n = x.dims[0], c = x.dims[1], h = x.dims[2], w = x.dims[3];
  const int64_t cc = c / (b * b);
  std::vector<int64_t> view, perm;
  if (ctx.attrs().getString("mode", "DCR") == "DCR") {
    // [N, b, b, C', H, W] -> [N, C', H, b, W, b]
    view = {n, b, b, cc, h, w};
    perm = {0, 3, 4, 1, 5, 2};
  } else {
    // CRD: [N, C', b, b, H, W] -> [N, C', H, b, W, b]
    view = {n, cc, b, b, h, w};
    perm = {0, 1, 4, 2, 5, 3};
  }
  std::vector<int64_t> outDims;
  Tables t = transposeTables(view, perm, &outDims);
  tableCopy(ctx.outputs[0].data, x.data, dataTypeSize(x.dtype), outDims, t);
  return Status::ok();
}

Status spaceToDepthKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const int64_t b = ctx.attrs().getInt("blocksize", 0);
  const int64_t n = x.dims[0], c = x.dims[1], h = x.dims[2], w = x.dims[3];
  // [N, C, H/b, b, W/b, b] -> [N, b, b, C, H/b, W/b]
  std::vector<int64_t> outDims;
  Tables t = transposeTables({n, c, h / b, b, w / b, b}, {0, 3, 5, 1, 2, 4}, &outDims);
  tableCopy(ctx.outputs[0].data, x.data, dataTypeSize(x.dtype), outDims, t);
  return Status::ok();
}

}  // namespace

void registerShapeOpKernels(CpuKernelTable& t) {
  auto set = [&t](ir::OpKind op, CpuKernelFn fn) { t[static_cast<size_t>(op)] = fn; };
  set(ir::OpKind::kReshape, &copyKernel);
  set(ir::OpKind::kFlatten, &copyKernel);
  set(ir::OpKind::kSqueeze, &copyKernel);
  set(ir::OpKind::kUnsqueeze, &copyKernel);
  set(ir::OpKind::kTranspose, &transposeKernel);
  set(ir::OpKind::kConcat, &concatKernel);
  set(ir::OpKind::kSplit, &splitKernel);
  set(ir::OpKind::kSlice, &sliceKernel);
  set(ir::OpKind::kGather, &gatherKernel);
  set(ir::OpKind::kGatherElements, &gatherElementsKernel);
  set(ir::OpKind::kExpand, &expandKernel);
  set(ir::OpKind::kTile, &tileKernel);
  set(ir::OpKind::kPad, &padKernel);
  set(ir::OpKind::kResize, &resizeKernel);
  set(ir::OpKind::kShape, &shapeKernel);
  set(ir::OpKind::kSize, &sizeKernel);
  set(ir::OpKind::kConstantOfShape, &constantOfShapeKernel);
  set(ir::OpKind::kRange, &rangeKernel);
  set(ir::OpKind::kTopK, &topKKernel);
  set(ir::OpKind::kDepthToSpace, &depthToSpaceKernel);
  set(ir::OpKind::kSpaceToDepth, &spaceToDepthKernel);
}

}  // namespace kiln::cpu
