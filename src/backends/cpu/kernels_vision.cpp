// CPU reference kernels for the vision ops (see ops.def): AffineGrid, Col2Im, CenterCropPad,
// MaxUnpool, RoiAlign, DeformConv.
//
// Floating-point kernels read elements into double, compute in double and round once when
// storing. CenterCropPad copies bytes (any type).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/kernel_util.h"
#include "ir/window_params.h"

namespace kiln::cpu {

namespace {

std::vector<int64_t> ints(const CpuTensor& t) {
  std::vector<int64_t> out(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) out[static_cast<size_t>(i)] = t.intAt(i);
  return out;
}

// Row-major multi-index of flat index i over dims.
void unravel(int64_t i, const std::vector<int64_t>& dims, std::vector<int64_t>& idx) {
  idx.resize(dims.size());
  for (size_t d = dims.size(); d-- > 0;) {
    idx[d] = dims[d] == 0 ? 0 : i % dims[d];
    i = dims[d] == 0 ? 0 : i / dims[d];
  }
}

// ---------------------------------------------------------------------------------------------
// AffineGrid: grid[n, (d,) h, w, :] = theta[n] @ [x_w, y_h, (z_d,) 1], where the base coordinate
// of index i along an axis of size s is -1 + 2i/(s-1) with align_corners (0 when s == 1), else
// -1 + (2i+1)/s.
Status affineGridKernel(CpuKernelContext& ctx) {
  const CpuTensor& theta = ctx.inputs[0];
  CpuTensor& out = ctx.outputs[0];
  const bool align = ctx.attrs().getInt("align_corners", 0) != 0;
  const int64_t nd = out.dims.back();  // 2 or 3
  const int64_t N = out.dims[0];
  const std::vector<int64_t> spatial(out.dims.begin() + 1, out.dims.end() - 1);  // (D,) H, W
  int64_t points = 1;
  for (int64_t s : spatial) points *= s;
  auto base = [&](int64_t i, int64_t s) {
    if (align)
      return s <= 1 ? 0.0 : -1.0 + 2.0 * static_cast<double>(i) / static_cast<double>(s - 1);
    return -1.0 + (2.0 * static_cast<double>(i) + 1.0) / static_cast<double>(s);
  };
  const std::vector<double> T = toDoubles(theta);
  std::vector<int64_t> idx;
  std::vector<double> h(static_cast<size_t>(nd + 1));
  for (int64_t n = 0; n < N; ++n) {
    const double* th = T.data() + n * nd * (nd + 1);
    for (int64_t p = 0; p < points; ++p) {
      unravel(p, spatial, idx);
      // Homogeneous point: x from the last spatial axis (W), y from H, z from D.
      for (int64_t c = 0; c < nd; ++c) {
        const size_t axis = static_cast<size_t>(nd - 1 - c);
        h[static_cast<size_t>(c)] = base(idx[axis], spatial[axis]);
      }
      h[static_cast<size_t>(nd)] = 1.0;
      for (int64_t r = 0; r < nd; ++r) {
        double acc = 0.0;
        for (int64_t c = 0; c <= nd; ++c) acc += th[r * (nd + 1) + c] * h[static_cast<size_t>(c)];
        storeDouble(out, (n * points + p) * nd + r, acc);
      }
    }
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Col2Im: output[n, c, pos] += input[n, c*K + k, b] where k runs over the block's offsets, b over
// the sliding blocks (both row-major) and pos = block_index * stride - pad_begin + offset *
// dilation along each axis (positions outside the image are dropped).
Status col2ImKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  CpuTensor& out = ctx.outputs[0];
  const std::vector<int64_t> block = ints(ctx.inputs[2]);
  const size_t ns = block.size();
  KILN_ASSIGN_OR_RETURN(ir::WindowParams p,
                        ir::parseWindowParams(ctx.attrs(), ns, block, false, ctx.node.describe()));
  const std::vector<int64_t> image(out.dims.begin() + 2, out.dims.end());
  std::vector<int64_t> blocks(ns);
  int64_t K = 1, L = 1, P = 1;
  for (size_t i = 0; i < ns; ++i) {
    blocks[i] = (image[i] + p.pads[i] + p.pads[i + ns] - p.effectiveKernel(i)) / p.strides[i] + 1;
    K *= block[i], L *= blocks[i], P *= image[i];
  }
  if (L != x.dims[2])
    return ctx.error("input has %lld blocks; expected %lld", ll(x.dims[2]), ll(L));
  const int64_t N = out.dims[0], C = out.dims[1];
  std::vector<double> acc(static_cast<size_t>(N * C * P), 0.0);
  std::vector<int64_t> off, pos;
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t k = 0; k < K; ++k) {
        unravel(k, block, off);
        for (int64_t b = 0; b < L; ++b) {
          unravel(b, blocks, pos);
          int64_t flat = 0;
          bool inside = true;
          for (size_t i = 0; i < ns && inside; ++i) {
            const int64_t q = pos[i] * p.strides[i] - p.pads[i] + off[i] * p.dilations[i];
            inside = q >= 0 && q < image[i];
            flat = flat * image[i] + q;
          }
          if (inside)
            acc[static_cast<size_t>((n * C + c) * P + flat)] +=
                x.doubleAt(((n * C + c) * K + k) * L + b);
        }
      }
    }
  }
  for (int64_t i = 0; i < out.numel(); ++i) storeDouble(out, i, acc[static_cast<size_t>(i)]);
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// CenterCropPad: along each axis, out[i] = in[i + crop] where crop = (in - out) / 2 (floor) when
// cropping, and out[i] = in[i - pad] (zero outside) where pad = (out - in) / 2 when padding.
Status centerCropPadKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  CpuTensor& out = ctx.outputs[0];
  const size_t r = x.dims.size();
  const size_t es = dataTypeSize(x.dtype);
  std::vector<int64_t> shift(r);  // in index = out index + shift
  for (size_t d = 0; d < r; ++d) {
    const int64_t in = x.dims[d], o = out.dims[d];
    shift[d] = in >= o ? (in - o) / 2 : -((o - in) / 2);
  }
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < out.numel(); ++i) {
    unravel(i, out.dims, idx);
    int64_t src = 0;
    bool inside = true;
    for (size_t d = 0; d < r && inside; ++d) {
      const int64_t q = idx[d] + shift[d];
      inside = q >= 0 && q < x.dims[d];
      src = src * x.dims[d] + q;
    }
    char* dst = static_cast<char*>(out.data) + static_cast<size_t>(i) * es;
    if (inside)
      std::memcpy(dst, static_cast<const char*>(x.data) + static_cast<size_t>(src) * es, es);
    else
      std::memset(dst, 0, es);
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// MaxUnpool: I holds flat indices into the default unpooled shape [N, C, (in-1)*s - pads + k...]
// (MaxPool's Indices); each X element goes to that position, every other element is 0. With
// output_shape, the unpooled tensor sits at the start of each (larger) output axis.
Status maxUnpoolKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const CpuTensor& ind = ctx.inputs[1];
  CpuTensor& out = ctx.outputs[0];
  const size_t ns = x.dims.size() - 2;
  KILN_ASSIGN_OR_RETURN(ir::WindowParams p,
                        ir::parseWindowParams(ctx.attrs(), ns, {}, false, ctx.node.describe()));
  std::vector<int64_t> unpooled = {x.dims[0], x.dims[1]};
  int64_t total = x.dims[0] * x.dims[1];
  for (size_t i = 0; i < ns; ++i) {
    unpooled.push_back((x.dims[i + 2] - 1) * p.strides[i] - p.pads[i] - p.pads[i + ns] +
                       p.kernel[i]);
    total *= unpooled.back();
  }
  for (int64_t i = 0; i < out.numel(); ++i) storeDouble(out, i, 0.0);
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t flat = ind.as<int64_t>()[i];
    if (flat < 0 || flat >= total)
      return ctx.error("index %lld at position %lld is outside the unpooled tensor %s", ll(flat),
                       ll(i), ir::dimsToString(unpooled).c_str());
    unravel(flat, unpooled, idx);
    int64_t dst = 0;
    for (size_t d = 0; d < idx.size(); ++d) {
      if (idx[d] >= out.dims[d])
        return ctx.error("index %lld lands outside the output shape %s", ll(flat),
                         ir::dimsToString(out.dims).c_str());
      dst = dst * out.dims[d] + idx[d];
    }
    storeDouble(out, dst, x.doubleAt(i));
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// RoiAlign: each output bin averages (or takes the max of) sampling_ratio^2 bilinear samples
// (sampling_ratio 0: ceil(bin size) per axis) of the region of interest, as ONNX defines it:
// coordinates scaled by spatial_scale, shifted by -0.5 with half_pixel; regions at least 1x1
// with output_half_pixel; samples past [-1, size] are 0; max mode takes the largest weighted
// corner of each sample.
Status roiAlignKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const CpuTensor& rois = ctx.inputs[1];
  const CpuTensor& bi = ctx.inputs[2];
  CpuTensor& out = ctx.outputs[0];
  const ir::Attributes& a = ctx.attrs();
  const bool halfPixel =
      a.getString("coordinate_transformation_mode", "half_pixel") == "half_pixel";
  const bool maxMode = a.getString("mode", "avg") == "max";
  const int64_t sampling = a.getInt("sampling_ratio", 0);
  const double scale = a.getFloat("spatial_scale", 1.0f);
  const int64_t N = x.dims[0], C = x.dims[1], H = x.dims[2], W = x.dims[3];
  const int64_t R = out.dims[0], PH = out.dims[2], PW = out.dims[3];
  if (R > 0 && (H == 0 || W == 0))
    return ctx.error("X has an empty image (%lld x %lld)", ll(H), ll(W));
  const std::vector<double> X = toDoubles(x);
  struct Sample {
    int64_t pos[4];
    double w[4];
  };
  std::vector<Sample> samples;
  for (int64_t r = 0; r < R; ++r) {
    const int64_t b = bi.intAt(r);
    if (b < 0 || b >= N)
      return ctx.error("batch_indices[%lld] = %lld is outside [0, %lld)", ll(r), ll(b), ll(N));
    const double shift = halfPixel ? 0.5 : 0.0;
    const double x0 = rois.doubleAt(r * 4 + 0) * scale - shift,
                 y0 = rois.doubleAt(r * 4 + 1) * scale - shift;
    const double x1 = rois.doubleAt(r * 4 + 2) * scale - shift,
                 y1 = rois.doubleAt(r * 4 + 3) * scale - shift;
    if (!std::isfinite(x0) || !std::isfinite(y0) || !std::isfinite(x1) || !std::isfinite(y1))
      return ctx.error("region %lld has non-finite coordinates", ll(r));
    double rw = x1 - x0, rh = y1 - y0;
    if (!halfPixel) rw = std::max(rw, 1.0), rh = std::max(rh, 1.0);
    const double bh = rh / static_cast<double>(PH), bw = rw / static_cast<double>(PW);
    // Samples per bin and axis: sampling_ratio, else ceil(bin size) (bounded: a region that
    // large is a bad input, not a workload).
    const double autoH = std::ceil(bh), autoW = std::ceil(bw);
    if (sampling <= 0 && (autoH > 65536.0 || autoW > 65536.0))
      return ctx.error("region %lld is too large for sampling_ratio 0 (%g x %g samples per bin)",
                       ll(r), autoH, autoW);
    const int64_t gh = sampling > 0 ? sampling : static_cast<int64_t>(autoH);
    const int64_t gw = sampling > 0 ? sampling : static_cast<int64_t>(autoW);
    const double count = static_cast<double>(std::max<int64_t>(gh * gw, 1));
    for (int64_t ph = 0; ph < PH; ++ph) {
      for (int64_t pw = 0; pw < PW; ++pw) {
        samples.clear();
        for (int64_t iy = 0; iy < gh; ++iy) {
          const double yy = y0 + static_cast<double>(ph) * bh +
                            (static_cast<double>(iy) + 0.5) * bh / static_cast<double>(gh);
          for (int64_t ix = 0; ix < gw; ++ix) {
            const double xx = x0 + static_cast<double>(pw) * bw +
                              (static_cast<double>(ix) + 0.5) * bw / static_cast<double>(gw);
            Sample s{{0, 0, 0, 0}, {0.0, 0.0, 0.0, 0.0}};
            if (!(yy < -1.0 || yy > static_cast<double>(H) || xx < -1.0 ||
                  xx > static_cast<double>(W))) {
              double y = std::max(yy, 0.0), xv = std::max(xx, 0.0);
              int64_t yl = static_cast<int64_t>(y), xl = static_cast<int64_t>(xv), yhi, xhi;
              if (yl >= H - 1)
                yhi = yl = H - 1, y = static_cast<double>(yl);
              else
                yhi = yl + 1;
              if (xl >= W - 1)
                xhi = xl = W - 1, xv = static_cast<double>(xl);
              else
                xhi = xl + 1;
              const double ly = y - static_cast<double>(yl), lx = xv - static_cast<double>(xl);
              const double hy = 1.0 - ly, hx = 1.0 - lx;
              s = {{yl * W + xl, yl * W + xhi, yhi * W + xl, yhi * W + xhi},
                   {hy * hx, hy * lx, ly * hx, ly * lx}};
            }
            samples.push_back(s);
          }
        }
        for (int64_t c = 0; c < C; ++c) {
          const double* plane = X.data() + (b * C + c) * H * W;
          double v = 0.0;
          for (size_t k = 0; k < samples.size(); ++k) {
            const Sample& s = samples[k];
            if (maxMode) {
              double m = s.w[0] * plane[s.pos[0]];
              for (int q = 1; q < 4; ++q) m = std::max(m, s.w[q] * plane[s.pos[q]]);
              v = k == 0 ? m : std::max(v, m);
            } else {
              for (int q = 0; q < 4; ++q) v += s.w[q] * plane[s.pos[q]];
            }
          }
          if (!maxMode) v /= count;
          storeDouble(out, ((r * C + c) * PH + ph) * PW + pw, v);
        }
      }
    }
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// DeformConv (2-D): Y[n, oc, i, j] = B[oc] + sum over the group's input channels ic and kernel
// taps (a, b) of W[oc, ic, a, b] * mask * X_bilinear(n, ic, h, w), sampled at
//   h = i*stride_h - pad_top + a*dilation_h + offset_h,  w = j*stride_w - pad_left + b*dilation_w +
//   offset_w
// with the offsets/mask of ic's offset group; samples outside the image read zeros.
Status deformConvKernel(CpuKernelContext& ctx) {
  const CpuTensor& x = ctx.inputs[0];
  const CpuTensor& w = ctx.inputs[1];
  const CpuTensor& offset = ctx.inputs[2];
  CpuTensor& out = ctx.outputs[0];
  KILN_ASSIGN_OR_RETURN(
      ir::WindowParams p,
      ir::parseWindowParams(ctx.attrs(), 2, {w.dims[2], w.dims[3]}, false, ctx.node.describe()));
  const int64_t group = ctx.attrs().getInt("group", 1), og = ctx.attrs().getInt("offset_group", 1);
  const int64_t N = x.dims[0], C = x.dims[1], H = x.dims[2], Wd = x.dims[3];
  const int64_t OC = out.dims[1], OH = out.dims[2], OW = out.dims[3];
  const int64_t KH = p.kernel[0], KW = p.kernel[1];
  const int64_t icPerGroup = C / group, ocPerGroup = OC / group, icPerOffsetGroup = C / og;
  const std::vector<double> X = toDoubles(x), Wt = toDoubles(w), O = toDoubles(offset);
  std::vector<double> B, M;
  if (ctx.hasInput(3)) B = toDoubles(ctx.inputs[3]);
  if (ctx.hasInput(4)) M = toDoubles(ctx.inputs[4]);
  auto sample = [&](const double* plane, double h, double ww) {
    // Every corner is outside past [-1, size] (and NaN offsets read nothing).
    if (!(h > -1.0 && h < static_cast<double>(H) && ww > -1.0 && ww < static_cast<double>(Wd)))
      return 0.0;
    const double hf = std::floor(h), wf = std::floor(ww);
    const int64_t h0 = static_cast<int64_t>(hf), w0 = static_cast<int64_t>(wf);
    const double lh = h - hf, lw = ww - wf;
    double v = 0.0;
    for (int dy = 0; dy < 2; ++dy)
      for (int dx = 0; dx < 2; ++dx) {
        const int64_t yy = h0 + dy, xx = w0 + dx;
        if (yy < 0 || yy >= H || xx < 0 || xx >= Wd) continue;
        v += (dy ? lh : 1.0 - lh) * (dx ? lw : 1.0 - lw) * plane[yy * Wd + xx];
      }
    return v;
  };
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t oc = 0; oc < OC; ++oc) {
      const int64_t g = oc / ocPerGroup;
      for (int64_t i = 0; i < OH; ++i) {
        for (int64_t j = 0; j < OW; ++j) {
          double acc = B.empty() ? 0.0 : B[static_cast<size_t>(oc)];
          for (int64_t icg = 0; icg < icPerGroup; ++icg) {
            const int64_t ic = g * icPerGroup + icg;
            const int64_t o = ic / icPerOffsetGroup;
            const double* plane = X.data() + (n * C + ic) * H * Wd;
            for (int64_t ka = 0; ka < KH; ++ka) {
              for (int64_t kb = 0; kb < KW; ++kb) {
                const int64_t tap = (o * KH + ka) * KW + kb;
                const double dh =
                    O[static_cast<size_t>(((n * og * KH * KW * 2 + tap * 2) * OH + i) * OW + j)];
                const double dw = O[static_cast<size_t>(
                    ((n * og * KH * KW * 2 + tap * 2 + 1) * OH + i) * OW + j)];
                const double h =
                    static_cast<double>(i * p.strides[0] - p.pads[0] + ka * p.dilations[0]) + dh;
                const double ww =
                    static_cast<double>(j * p.strides[1] - p.pads[1] + kb * p.dilations[1]) + dw;
                double v = sample(plane, h, ww) *
                           Wt[static_cast<size_t>(((oc * icPerGroup + icg) * KH + ka) * KW + kb)];
                if (!M.empty())
                  v *= M[static_cast<size_t>(((n * og * KH * KW + tap) * OH + i) * OW + j)];
                acc += v;
              }
            }
          }
          storeDouble(out, ((n * OC + oc) * OH + i) * OW + j, acc);
        }
      }
    }
  }
  return Status::ok();
}

}  // namespace

void registerVisionKernels(CpuKernelTable& t) {
  t[static_cast<size_t>(ir::OpKind::kAffineGrid)] = &affineGridKernel;
  t[static_cast<size_t>(ir::OpKind::kCol2Im)] = &col2ImKernel;
  t[static_cast<size_t>(ir::OpKind::kCenterCropPad)] = &centerCropPadKernel;
  t[static_cast<size_t>(ir::OpKind::kMaxUnpool)] = &maxUnpoolKernel;
  t[static_cast<size_t>(ir::OpKind::kRoiAlign)] = &roiAlignKernel;
  t[static_cast<size_t>(ir::OpKind::kDeformConv)] = &deformConvKernel;
}

}  // namespace kiln::cpu
