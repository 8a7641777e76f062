// CPU reference kernels for the Recurrent family (see ops.def): RNN, GRU, LSTM.
//
// Shapes are in src/ir/shape_fns_recurrent.cpp; attributes and activations in
// src/ir/recurrent_params.h. Every dtype (float32, float64, float16, bfloat16) is read into
// double, computed in double and rounded once when stored. Per direction, with x_t the input at
// step t, H the previous hidden state, C the previous cell state, (.) the elementwise product and
// clip(v) = min(max(v, -clip), clip) when the clip attribute is set (identity otherwise):
//
//   RNN   H' = f(clip(x_t W^T + H R^T + Wb + Rb))
//   GRU   (gate blocks z, r, h of W, R, Wb, Rb, in that order)
//         z = f(clip(x_t Wz^T + H Rz^T + Wbz + Rbz))      r = f(clip(x_t Wr^T + H Rr^T + Wbr +
//         Rbr)) n = g(clip(x_t Wh^T + (r (.) H) Rh^T + Rbh + Wbh))           linear_before_reset =
//         0 n = g(clip(x_t Wh^T + r (.) (H Rh^T + Rbh) + Wbh))           linear_before_reset = 1 H'
//         = (1 - z) (.) n + z (.) H
//   LSTM  (gate blocks i, o, f, c; peepholes P = [Pi, Po, Pf], zero when absent)
//         i = f(clip(x_t Wi^T + H Ri^T + Pi (.) C + Wbi + Rbi))
//         f = f(clip(x_t Wf^T + H Rf^T + Pf (.) C + Wbf + Rbf))    (input_forget: f = 1 - i)
//         c = g(clip(x_t Wc^T + H Rc^T + Wbc + Rbc))
//         C' = f (.) C + i (.) c
//         o = f(clip(x_t Wo^T + H Ro^T + Po (.) C' + Wbo + Rbo))
//         H' = o (.) h(C')
// (clip bounds the gates' pre-activations, as onnxruntime does; the cell state C' given to h is
// not clipped.)
//
// The forward direction runs steps 0 .. len-1, the reverse one len-1 .. 0, where len is the batch
// entry's sequence_lens value (default: the sequence length). Y is zero at steps >= len; Y_h
// (Y_c) is the state after the entry's last step, and zero for an entry of length 0 (as
// onnxruntime's LSTM and GRU give).
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/cpu/conv_util.h"
#include "backends/cpu/cpu_kernel.h"
#include "ir/recurrent_params.h"

namespace kiln::cpu {

namespace {

using ir::RecurrentActivationFn;
using ir::RecurrentParams;

std::vector<double> readDoubles(const CpuTensor& t) {
  std::vector<double> out(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) out[static_cast<size_t>(i)] = t.doubleAt(i);
  return out;
}

// Writes doubles into a float tensor of any float dtype (one rounding per element).
void storeDoubles(CpuTensor& t, const std::vector<double>& v) {
  const int64_t n = t.numel();
  switch (t.dtype) {
    case DataType::kFLOAT:
      for (int64_t i = 0; i < n; ++i)
        t.as<float>()[i] = static_cast<float>(v[static_cast<size_t>(i)]);
      return;
    case DataType::kDOUBLE:
      for (int64_t i = 0; i < n; ++i) t.as<double>()[i] = v[static_cast<size_t>(i)];
      return;
    case DataType::kHALF:
      for (int64_t i = 0; i < n; ++i)
        t.as<Half>()[i] = Half(static_cast<float>(v[static_cast<size_t>(i)]));
      return;
    case DataType::kBF16:
      for (int64_t i = 0; i < n; ++i)
        t.as<BFloat16>()[i] = BFloat16(static_cast<float>(v[static_cast<size_t>(i)]));
      return;
    default: KILN_CHECK_MSG(false, "storeDoubles: not a float tensor");
  }
}

// The sizes of one run: S steps, N batch entries, I inputs, H hidden, D directions, G gates.
struct Dims {
  int64_t S, N, I, H, D, G;
};

// One direction's weights and initial state, and the buffers its steps fill.
struct DirectionData {
  const double* w;           // [G*H, I]
  const double* r;           // [G*H, H]
  const double* wb;          // [G*H] or null
  const double* rb;          // [G*H] or null
  const double* p;           // [3*H] or null (LSTM peepholes i, o, f)
  std::vector<double> h, c;  // [N, H] running state, initialised from initial_h / initial_c
};

class RecurrentRunner {
 public:
  RecurrentRunner(const RecurrentParams& p, const Dims& d, const std::vector<int64_t>& lens)
      : mP(p), mD(d), mLens(lens) {}

  // Runs direction `dir` over xw = X W^T ([S, N, G*H], step-major), writing y ([S, D, N, H],
  // layout 0) and leaving the final state in dd.h / dd.c.
  void run(int64_t dir, DirectionData& dd, const std::vector<double>& xw, std::vector<double>& y) {
    const int64_t S = mD.S, N = mD.N, H = mD.H, G = mD.G, D = mD.D;
    const int64_t GH = G * H;
    const RecurrentActivationFn* acts =
        &mP.activations[static_cast<size_t>(dir * mP.numActivations)];
    const bool reverse = mP.reversed(dir);
    std::vector<double> hr(static_cast<size_t>(N * GH));  // H R^T for every entry
    std::vector<double> rh(static_cast<size_t>(N * H));   // GRU: r (.) H
    std::vector<double> rhr(static_cast<size_t>(N * H));  // GRU: (r (.) H) Rh^T
    std::vector<double> gate(static_cast<size_t>(GH));
    for (int64_t step = 0; step < S; ++step) {
      gemm<double>(false, true, N, GH, H, 1.0, dd.h.data(), H, dd.r, H, 0.0, hr.data(), GH);
      if (mP.op == ir::OpKind::kGRU && !mP.linearBeforeReset) {
        // r depends on H only through H Rr^T, so it is computed here for every entry first; then
        // (r (.) H) Rh^T is one product.
        for (int64_t b = 0; b < N; ++b) {
          const int64_t t = timeOf(b, step, reverse);
          for (int64_t k = 0; k < H; ++k) {
            const double r = t < 0 ? 0.0 : act(acts[0], preActivation(dd, xw, hr, t, b, H + k));
            rh[static_cast<size_t>(b * H + k)] = r * dd.h[static_cast<size_t>(b * H + k)];
          }
        }
        gemm<double>(false, true, N, H, H, 1.0, rh.data(), H, dd.r + 2 * H * H, H, 0.0, rhr.data(),
                     H);
      }
      for (int64_t b = 0; b < N; ++b) {
        const int64_t t = timeOf(b, step, reverse);
        if (t < 0) continue;  // past this entry's length: its state stays as it is
        double* h = &dd.h[static_cast<size_t>(b * H)];
        double* c = dd.c.empty() ? nullptr : &dd.c[static_cast<size_t>(b * H)];
        switch (mP.op) {
          case ir::OpKind::kRNN:
            for (int64_t k = 0; k < H; ++k)
              gate[static_cast<size_t>(k)] = act(acts[0], preActivation(dd, xw, hr, t, b, k));
            for (int64_t k = 0; k < H; ++k) h[k] = gate[static_cast<size_t>(k)];
            break;
          case ir::OpKind::kGRU:
            for (int64_t k = 0; k < H; ++k) {
              const double z = act(acts[0], preActivation(dd, xw, hr, t, b, k));
              const double r = act(acts[0], preActivation(dd, xw, hr, t, b, H + k));
              const size_t hk = static_cast<size_t>(2 * H + k);
              const double xPart =
                  xw[static_cast<size_t>((t * N + b) * GH) + hk] + (dd.wb ? dd.wb[hk] : 0.0);
              const double rb = dd.rb ? dd.rb[hk] : 0.0;
              const double n =
                  mP.linearBeforeReset
                      ? act(acts[1], xPart + r * (hr[static_cast<size_t>(b * GH) + hk] + rb))
                      : act(acts[1], xPart + rhr[static_cast<size_t>(b * H + k)] + rb);
              gate[static_cast<size_t>(k)] = (1.0 - z) * n + z * h[k];
            }
            for (int64_t k = 0; k < H; ++k) h[k] = gate[static_cast<size_t>(k)];
            break;
          case ir::OpKind::kLSTM:
            for (int64_t k = 0; k < H; ++k) {
              const double pi = dd.p ? dd.p[k] : 0.0, po = dd.p ? dd.p[H + k] : 0.0,
                           pf = dd.p ? dd.p[2 * H + k] : 0.0;
              const double i = act(acts[0], preActivation(dd, xw, hr, t, b, k) + pi * c[k]);
              const double f =
                  mP.inputForget
                      ? 1.0 - i
                      : act(acts[0], preActivation(dd, xw, hr, t, b, 2 * H + k) + pf * c[k]);
              const double cand = act(acts[1], preActivation(dd, xw, hr, t, b, 3 * H + k));
              const double cNew = f * c[k] + i * cand;
              const double o = act(acts[0], preActivation(dd, xw, hr, t, b, H + k) + po * cNew);
              c[k] = cNew;
              gate[static_cast<size_t>(k)] = o * applyRecurrentActivation(acts[2], cNew);
            }
            for (int64_t k = 0; k < H; ++k) h[k] = gate[static_cast<size_t>(k)];
            break;
          default: KILN_CHECK_MSG(false, "RecurrentRunner: not a recurrent op");
        }
        std::copy(h, h + H, y.begin() + ((t * D + dir) * N + b) * H);
      }
    }
  }

 private:
  // The time index entry b processes at `step`, or -1 once the entry's sequence has ended.
  int64_t timeOf(int64_t b, int64_t step, bool reverse) const {
    const int64_t len = mLens[static_cast<size_t>(b)];
    if (step >= len) return -1;
    return reverse ? len - 1 - step : step;
  }
  // x_t W^T + H R^T + Wb + Rb for gate row j of entry b (time t), before peepholes and clip.
  double preActivation(const DirectionData& dd, const std::vector<double>& xw,
                       const std::vector<double>& hr, int64_t t, int64_t b, int64_t j) const {
    const int64_t GH = mD.G * mD.H;
    double v =
        xw[static_cast<size_t>((t * mD.N + b) * GH + j)] + hr[static_cast<size_t>(b * GH + j)];
    if (dd.wb) v += dd.wb[j] + dd.rb[j];
    return v;
  }
  // clip then the activation.
  double act(const RecurrentActivationFn& fn, double v) const {
    if (mP.hasClip)
      v = std::min(std::max(v, -static_cast<double>(mP.clip)), static_cast<double>(mP.clip));
    return ir::applyRecurrentActivation(fn, v);
  }

  const RecurrentParams& mP;
  const Dims& mD;
  const std::vector<int64_t>& mLens;
};

Status recurrentKernel(CpuKernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(RecurrentParams p,
                        ir::parseRecurrentParams(ctx.node.op, ctx.attrs(), ctx.node.describe()));
  const CpuTensor& X = ctx.inputs[0];
  switch (X.dtype) {
    case DataType::kFLOAT:
    case DataType::kDOUBLE:
    case DataType::kHALF:
    case DataType::kBF16: break;
    default: return ctx.unsupportedType(X.dtype);
  }
  const CpuTensor& R = ctx.inputs[2];
  Dims d{};
  d.S = p.layout == 0 ? X.dims[0] : X.dims[1];
  d.N = p.layout == 0 ? X.dims[1] : X.dims[0];
  d.I = X.dims[2];
  d.H = R.dims[2];
  d.D = p.numDirections;
  d.G = p.numGates;
  const int64_t GH = d.G * d.H;
  if (!gemmSizesFit({d.S * d.N, d.N, GH, d.H, d.I}))
    return ctx.error("is too large for the CPU backend (seq*batch %lld, %lld gate rows)",
                     static_cast<long long>(d.S * d.N), static_cast<long long>(GH));

  std::vector<int64_t> lens(static_cast<size_t>(d.N), d.S);
  if (ctx.hasInput(4)) {
    for (int64_t b = 0; b < d.N; ++b) {
      const int64_t len = ctx.inputs[4].intAt(b);
      if (len < 0 || len > d.S)
        return ctx.error("sequence_lens[%lld] is %lld; expected 0 to the sequence length %lld",
                         static_cast<long long>(b), static_cast<long long>(len),
                         static_cast<long long>(d.S));
      lens[static_cast<size_t>(b)] = len;
    }
  }

  // X as [S, N, I] (step-major) whatever the layout.
  std::vector<double> x = readDoubles(X);
  if (p.layout == 1) {
    std::vector<double> sx(x.size());
    for (int64_t b = 0; b < d.N; ++b)
      for (int64_t t = 0; t < d.S; ++t)
        std::copy_n(x.begin() + (b * d.S + t) * d.I, d.I, sx.begin() + (t * d.N + b) * d.I);
    x = std::move(sx);
  }
  const std::vector<double> w = readDoubles(ctx.inputs[1]);
  const std::vector<double> r = readDoubles(R);
  const std::vector<double> bias =
      ctx.hasInput(3) ? readDoubles(ctx.inputs[3]) : std::vector<double>{};
  const std::vector<double> h0 =
      ctx.hasInput(5) ? readDoubles(ctx.inputs[5]) : std::vector<double>{};
  const std::vector<double> c0 =
      ctx.hasInput(6) ? readDoubles(ctx.inputs[6]) : std::vector<double>{};
  const std::vector<double> peep =
      ctx.hasInput(7) ? readDoubles(ctx.inputs[7]) : std::vector<double>{};
  const bool isLstm = p.op == ir::OpKind::kLSTM;

  // Index of state element (dir, b, k) in initial_h / Y_h for the layout.
  auto stateIndex = [&](int64_t dir, int64_t b, int64_t k) {
    return static_cast<size_t>(p.layout == 0 ? (dir * d.N + b) * d.H + k
                                             : (b * d.D + dir) * d.H + k);
  };

  std::vector<double> y(static_cast<size_t>(d.S * d.D * d.N * d.H), 0.0);  // [S, D, N, H]
  std::vector<double> yh(static_cast<size_t>(d.D * d.N * d.H), 0.0);
  std::vector<double> yc(isLstm ? yh.size() : 0, 0.0);
  std::vector<double> xw(static_cast<size_t>(d.S * d.N * GH));
  RecurrentRunner runner(p, d, lens);
  for (int64_t dir = 0; dir < d.D; ++dir) {
    DirectionData dd;
    dd.w = w.data() + dir * GH * d.I;
    dd.r = r.data() + dir * GH * d.H;
    dd.wb = bias.empty() ? nullptr : bias.data() + dir * 2 * GH;
    dd.rb = bias.empty() ? nullptr : bias.data() + dir * 2 * GH + GH;
    dd.p = peep.empty() ? nullptr : peep.data() + dir * 3 * d.H;
    dd.h.assign(static_cast<size_t>(d.N * d.H), 0.0);
    if (isLstm) dd.c.assign(static_cast<size_t>(d.N * d.H), 0.0);
    for (int64_t b = 0; b < d.N; ++b)
      for (int64_t k = 0; k < d.H; ++k) {
        if (!h0.empty()) dd.h[static_cast<size_t>(b * d.H + k)] = h0[stateIndex(dir, b, k)];
        if (isLstm && !c0.empty())
          dd.c[static_cast<size_t>(b * d.H + k)] = c0[stateIndex(dir, b, k)];
      }
    // X W^T for all steps at once: [S*N, I] x [I, G*H].
    gemm<double>(false, true, d.S * d.N, GH, d.I, 1.0, x.data(), d.I, dd.w, d.I, 0.0, xw.data(),
                 GH);
    runner.run(dir, dd, xw, y);
    for (int64_t b = 0; b < d.N; ++b) {
      if (lens[static_cast<size_t>(b)] == 0) continue;  // an empty sequence has zero final state
      for (int64_t k = 0; k < d.H; ++k) {
        yh[stateIndex(dir, b, k)] = dd.h[static_cast<size_t>(b * d.H + k)];
        if (isLstm) yc[stateIndex(dir, b, k)] = dd.c[static_cast<size_t>(b * d.H + k)];
      }
    }
  }

  if (!ctx.outputs.empty()) {
    if (p.layout == 0) {
      storeDoubles(ctx.outputs[0], y);
    } else {
      // [S, D, N, H] -> [N, S, D, H]
      std::vector<double> by(y.size());
      for (int64_t t = 0; t < d.S; ++t)
        for (int64_t dir = 0; dir < d.D; ++dir)
          for (int64_t b = 0; b < d.N; ++b)
            std::copy_n(y.begin() + ((t * d.D + dir) * d.N + b) * d.H, d.H,
                        by.begin() + ((b * d.S + t) * d.D + dir) * d.H);
      storeDoubles(ctx.outputs[0], by);
    }
  }
  if (ctx.outputs.size() > 1) storeDoubles(ctx.outputs[1], yh);
  if (ctx.outputs.size() > 2) storeDoubles(ctx.outputs[2], yc);
  return Status::ok();
}

}  // namespace

void registerRecurrentKernels(CpuKernelTable& t) {
  t[static_cast<size_t>(ir::OpKind::kRNN)] = &recurrentKernel;
  t[static_cast<size_t>(ir::OpKind::kGRU)] = &recurrentKernel;
  t[static_cast<size_t>(ir::OpKind::kLSTM)] = &recurrentKernel;
}

}  // namespace kiln::cpu
