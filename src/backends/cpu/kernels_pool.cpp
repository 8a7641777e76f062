// CPU reference kernels for the Pool family (see ops.def): MaxPool, AveragePool and the global
// pools. Windows follow src/ir/window_params.h; values are read in their storage type and
// averaged in double.
#include <cmath>
#include <limits>
#include <type_traits>

#include "backends/cpu/conv_util.h"
#include "backends/cpu/cpu_kernel.h"
#include "ir/window_params.h"

namespace kiln::cpu {

namespace {

struct PoolGeom {
  int64_t planes = 0;  // N*C
  std::vector<int64_t> in, out, kernel, strides, dilations, padBegin, padEnd;
  int64_t inVol = 1, outVol = 1, kernelVol = 1;
};

StatusOr<PoolGeom> poolGeometry(const CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  if (x.rank() < 3) return ctx.error("input must have rank >= 3, got %s", ir::dimsToString(x.dims).c_str());
  const size_t nsp = static_cast<size_t>(x.rank() - 2);
  KILN_ASSIGN_OR_RETURN(ir::WindowParams p, ir::parseWindowParams(ctx.attrs(), nsp, {}, true, ctx.node.describe()));
  PoolGeom g;
  g.planes = x.dims[0] * x.dims[1];
  g.in.assign(x.dims.begin() + 2, x.dims.end());
  g.out.assign(ctx.outputs[0].dims.begin() + 2, ctx.outputs[0].dims.end());
  for (size_t i = 0; i < nsp; ++i) {
    const ir::DimExpr o = ir::windowOutputDim(p, i, ir::DimExpr(g.in[i]));
    if (!o.isConst() || o.constValue() != g.out[i])
      return internalError("%s: output dims %s disagree with the pooling geometry", ctx.node.describe().c_str(),
                           ir::dimsToString(ctx.outputs[0].dims).c_str());
  }
  g.kernel = p.kernel;
  g.strides = p.strides;
  g.dilations = p.dilations;
  const std::vector<int64_t> pads = ir::resolveWindowPads(p, g.in);
  g.padBegin.assign(pads.begin(), pads.begin() + static_cast<std::ptrdiff_t>(nsp));
  g.padEnd.assign(pads.begin() + static_cast<std::ptrdiff_t>(nsp), pads.end());
  for (size_t i = 0; i < nsp; ++i) {
    g.inVol *= g.in[i];
    g.outVol *= g.out[i];
    g.kernelVol *= g.kernel[i];
  }
  return g;
}

// Calls visit(outFlat, start[]) for every output position of one plane; start[d] is the first
// tap's input coordinate (may be negative: padding).
template <typename Visit>
void forEachWindow(const PoolGeom& g, Visit&& visit) {
  const size_t nsp = g.in.size();
  std::vector<int64_t> oc(nsp, 0), start(nsp);
  for (int64_t o = 0; o < g.outVol; ++o) {
    for (size_t d = 0; d < nsp; ++d) start[d] = oc[d] * g.strides[d] - g.padBegin[d];
    visit(o, start);
    for (size_t d = nsp; d-- > 0;) {
      if (++oc[d] < g.out[d]) break;
      oc[d] = 0;
    }
  }
}

// The value a window that sees only padding yields: -inf for floats, the minimum for integers.
template <typename T>
T lowestValue() {
  if constexpr (std::is_integral_v<T>) {
    return std::numeric_limits<T>::lowest();
  } else {
    return storeFromDouble<T>(-std::numeric_limits<double>::infinity());
  }
}

template <typename T>
void maxPoolTyped(const PoolGeom& g, bool columnMajor, const T* x, T* y, int64_t* indices) {
  const size_t nsp = g.in.size();
  // Column-major strides of the spatial dims for storage_order=1 (first spatial axis fastest).
  std::vector<int64_t> colStride(nsp, 1);
  for (size_t d = 1; d < nsp; ++d) colStride[d] = colStride[d - 1] * g.in[d - 1];
  std::vector<int64_t> kc(nsp);
  for (int64_t plane = 0; plane < g.planes; ++plane) {
    const T* xp = x + plane * g.inVol;
    forEachWindow(g, [&](int64_t o, const std::vector<int64_t>& start) {
      double best = -std::numeric_limits<double>::infinity();
      int64_t bestRow = -1, bestCol = -1;
      std::fill(kc.begin(), kc.end(), 0);
      for (int64_t k = 0; k < g.kernelVol; ++k) {
        int64_t row = 0, col = 0;
        bool inside = true;
        for (size_t d = 0; d < nsp && inside; ++d) {
          const int64_t p = start[d] + kc[d] * g.dilations[d];
          inside = p >= 0 && p < g.in[d];
          row = row * g.in[d] + p;
          col += p * colStride[d];
        }
        if (inside) {
          const double v = loadAsDouble(xp[row]);
          if (bestRow < 0 || v > best || (std::isnan(v) && !std::isnan(best))) {
            best = v;
            bestRow = row;
            bestCol = col;
          }
        }
        for (size_t d = nsp; d-- > 0;) {
          if (++kc[d] < g.kernel[d]) break;
          kc[d] = 0;
        }
      }
      // A window that sees only padding (possible with dilations) yields the lowest value.
      y[plane * g.outVol + o] = bestRow >= 0 ? xp[bestRow] : lowestValue<T>();
      if (indices) indices[plane * g.outVol + o] = bestRow < 0 ? -1 : plane * g.inVol + (columnMajor ? bestCol : bestRow);
    });
  }
}

template <typename T>
void averagePoolTyped(const PoolGeom& g, bool countIncludePad, const T* x, T* y) {
  const size_t nsp = g.in.size();
  std::vector<int64_t> kc(nsp);
  for (int64_t plane = 0; plane < g.planes; ++plane) {
    const T* xp = x + plane * g.inVol;
    forEachWindow(g, [&](int64_t o, const std::vector<int64_t>& start) {
      double sum = 0;
      int64_t inside = 0, padded = 0;
      std::fill(kc.begin(), kc.end(), 0);
      for (int64_t k = 0; k < g.kernelVol; ++k) {
        int64_t row = 0;
        bool in = true, inPadded = true;
        for (size_t d = 0; d < nsp; ++d) {
          const int64_t p = start[d] + kc[d] * g.dilations[d];
          in = in && p >= 0 && p < g.in[d];
          // Taps past the end padding (ceil_mode windows) are not counted even with
          // count_include_pad.
          inPadded = inPadded && p >= -g.padBegin[d] && p < g.in[d] + g.padEnd[d];
          row = row * g.in[d] + p;
        }
        if (in) {
          sum += loadAsDouble(xp[row]);
          ++inside;
        }
        if (inPadded) ++padded;
        for (size_t d = nsp; d-- > 0;) {
          if (++kc[d] < g.kernel[d]) break;
          kc[d] = 0;
        }
      }
      const int64_t count = countIncludePad ? padded : inside;
      y[plane * g.outVol + o] = storeFromDouble<T>(count > 0 ? sum / static_cast<double>(count)
                                                             : std::numeric_limits<double>::quiet_NaN());
    });
  }
}

Status maxPoolKernel(CpuKernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(PoolGeom g, poolGeometry(ctx));
  const bool columnMajor = ctx.attrs().getInt("storage_order", 0) == 1;
  int64_t* indices = ctx.outputs.size() > 1 && ctx.outputs[1].present() ? ctx.outputs[1].as<int64_t>() : nullptr;
  const CpuTensor& x = ctx.inputs[0];
  CpuTensor& y = ctx.outputs[0];
  if (x.dtype == DataType::kINT8) {
    maxPoolTyped(g, columnMajor, x.as<const int8_t>(), y.as<int8_t>(), indices);
    return Status::ok();
  }
  if (x.dtype == DataType::kUINT8) {
    maxPoolTyped(g, columnMajor, x.as<const uint8_t>(), y.as<uint8_t>(), indices);
    return Status::ok();
  }
  return dispatchFloatTypes(ctx, x.dtype, [&](auto tag) {
    using T = decltype(tag);
    maxPoolTyped(g, columnMajor, x.as<const T>(), y.as<T>(), indices);
    return Status::ok();
  });
}

Status averagePoolKernel(CpuKernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(PoolGeom g, poolGeometry(ctx));
  const bool countIncludePad = ctx.attrs().getInt("count_include_pad", 0) != 0;
  const CpuTensor& x = ctx.inputs[0];
  CpuTensor& y = ctx.outputs[0];
  return dispatchFloatTypes(ctx, x.dtype, [&](auto tag) {
    using T = decltype(tag);
    averagePoolTyped(g, countIncludePad, x.as<const T>(), y.as<T>());
    return Status::ok();
  });
}

// Global pools reduce each (n, c) plane to one value.
Status globalPoolKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  CpuTensor& y = ctx.outputs[0];
  if (x.rank() < 3) return ctx.error("input must have rank >= 3, got %s", ir::dimsToString(x.dims).c_str());
  const bool isMax = ctx.node.op == ir::OpKind::kGlobalMaxPool;
  const int64_t planes = x.dims[0] * x.dims[1];
  const int64_t vol = planes == 0 ? 0 : x.numel() / planes;
  return dispatchFloatTypes(ctx, x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.as<const T>();
    for (int64_t p = 0; p < planes; ++p) {
      double acc = isMax ? -std::numeric_limits<double>::infinity() : 0.0;
      for (int64_t i = 0; i < vol; ++i) {
        const double v = loadAsDouble(xp[p * vol + i]);
        if (isMax) {
          acc = (v > acc || std::isnan(v)) && !std::isnan(acc) ? v : acc;
        } else {
          acc += v;
        }
      }
      if (!isMax) acc = vol > 0 ? acc / static_cast<double>(vol) : std::numeric_limits<double>::quiet_NaN();
      y.as<T>()[p] = storeFromDouble<T>(acc);
    }
    return Status::ok();
  });
}

}  // namespace

void registerPoolKernels(CpuKernelTable& t) {
  t[static_cast<size_t>(ir::OpKind::kMaxPool)] = &maxPoolKernel;
  t[static_cast<size_t>(ir::OpKind::kAveragePool)] = &averagePoolKernel;
  t[static_cast<size_t>(ir::OpKind::kGlobalAveragePool)] = &globalPoolKernel;
  t[static_cast<size_t>(ir::OpKind::kGlobalMaxPool)] = &globalPoolKernel;
}

}  // namespace kiln::cpu
