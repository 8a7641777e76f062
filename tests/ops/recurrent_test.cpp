// Recurrent ops: RNN, GRU, LSTM against a straightforward double-precision loop written here
// from the ONNX operator spec (one batch entry and one step at a time, every product a plain
// sum), plus hand-computed values and error cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include "op_test_util.h"

namespace kiln::test {
namespace {

using ir::OpKind;
using Dims = std::vector<int64_t>;

// An activation as the reference applies it (name as in the spec, alpha, beta).
struct RefAct {
  std::string name;
  double alpha = 0, beta = 0;
};

double refActivation(const RefAct& a, double x) {
  const std::string& n = a.name;
  if (n == "Relu") return std::max(x, 0.0);
  if (n == "Tanh") return std::tanh(x);
  if (n == "Sigmoid") return 1.0 / (1.0 + std::exp(-x));
  if (n == "Affine") return a.alpha * x + a.beta;
  if (n == "LeakyRelu") return x >= 0 ? x : a.alpha * x;
  if (n == "ThresholdedRelu") return x > a.alpha ? x : 0.0;
  if (n == "ScaledTanh") return a.alpha * std::tanh(a.beta * x);
  if (n == "HardSigmoid") return std::min(1.0, std::max(0.0, a.alpha * x + a.beta));
  if (n == "Elu") return x >= 0 ? x : a.alpha * (std::exp(x) - 1.0);
  if (n == "Softsign") return x / (1.0 + std::fabs(x));
  if (n == "Softplus") return std::log(1.0 + std::exp(x));
  ADD_FAILURE() << "unknown activation " << n;
  return 0;
}

struct Config {
  OpKind op = OpKind::kLSTM;
  int64_t S = 3, N = 2, I = 4, H = 3;
  std::string direction = "forward";
  int64_t layout = 0;
  bool bias = true, initH = false, initC = false, peepholes = false;
  std::vector<int64_t> lens;  // empty: sequence_lens absent
  std::optional<float> clip;
  bool linearBeforeReset = false, inputForget = false;
  std::vector<std::string> activations;  // attribute (empty: absent)
  std::vector<float> alpha, beta;        // attributes (empty: absent)
  std::vector<RefAct> refActs;           // what the reference applies (empty: the defaults)
  DataType dtype = DataType::kFLOAT;
  int numOutputs = 0;       // 0: all (RNN/GRU 2, LSTM 3)
  double inputScale = 1.0;  // X drawn from [-scale, scale]
};

int64_t gatesOf(OpKind op) { return op == OpKind::kRNN ? 1 : op == OpKind::kGRU ? 3 : 4; }

std::vector<RefAct> defaultActs(OpKind op) {
  if (op == OpKind::kRNN) return {{"Tanh"}};
  if (op == OpKind::kGRU) return {{"Sigmoid"}, {"Tanh"}};
  return {{"Sigmoid"}, {"Tanh"}, {"Tanh"}};
}

struct Inputs {
  std::shared_ptr<ir::TensorData> x, w, r, b, lens, h0, c0, p;
};

struct RefOut {
  std::vector<double> y, yh, yc;
};

// The spec's equations, literally: for each direction, batch entry and step.
RefOut reference(const Config& c, const Inputs& in) {
  const int64_t G = gatesOf(c.op), D = c.direction == "bidirectional" ? 2 : 1;
  const int64_t S = c.S, N = c.N, I = c.I, H = c.H;
  auto X = [&](int64_t t, int64_t b, int64_t i) {
    return in.x->doubleAt(c.layout == 0 ? (t * N + b) * I + i : (b * S + t) * I + i);
  };
  auto stateIdx = [&](int64_t d, int64_t b, int64_t k) {
    return c.layout == 0 ? (d * N + b) * H + k : (b * D + d) * H + k;
  };
  auto yIdx = [&](int64_t t, int64_t d, int64_t b, int64_t k) {
    return static_cast<size_t>(c.layout == 0 ? ((t * D + d) * N + b) * H + k
                                             : ((b * S + t) * D + d) * H + k);
  };
  std::vector<RefAct> acts = c.refActs.empty() ? defaultActs(c.op) : c.refActs;
  const size_t perDir = defaultActs(c.op).size();
  if (acts.size() == perDir && D == 2) {
    const std::vector<RefAct> forward = acts;
    acts.insert(acts.end(), forward.begin(), forward.end());
  }

  RefOut out;
  out.y.assign(static_cast<size_t>(S * D * N * H), 0.0);
  out.yh.assign(static_cast<size_t>(D * N * H), 0.0);
  out.yc.assign(static_cast<size_t>(D * N * H), 0.0);
  for (int64_t d = 0; d < D; ++d) {
    const bool reverse = c.direction == "reverse" || d == 1;
    const RefAct* fa = &acts[static_cast<size_t>(d) * perDir];
    auto clip = [&](double v) {
      return c.clip ? std::min(std::max(v, -double(*c.clip)), double(*c.clip)) : v;
    };
    auto f = [&](double v) { return refActivation(fa[0], clip(v)); };
    auto g = [&](double v) { return refActivation(fa[1], clip(v)); };
    auto h = [&](double v) { return refActivation(fa[2], v); };
    // Row j of W x_t, R hp, and the biases of direction d.
    auto wx = [&](int64_t j, int64_t t, int64_t b) {
      double s = 0;
      for (int64_t i = 0; i < I; ++i) s += in.w->doubleAt((d * G * H + j) * I + i) * X(t, b, i);
      return s;
    };
    auto rh = [&](int64_t j, const std::vector<double>& hp) {
      double s = 0;
      for (int64_t k = 0; k < H; ++k)
        s += in.r->doubleAt((d * G * H + j) * H + k) * hp[static_cast<size_t>(k)];
      return s;
    };
    auto wb = [&](int64_t j) { return in.b ? in.b->doubleAt(d * 2 * G * H + j) : 0.0; };
    auto rb = [&](int64_t j) { return in.b ? in.b->doubleAt(d * 2 * G * H + G * H + j) : 0.0; };
    auto pp = [&](int64_t j) { return in.p ? in.p->doubleAt(d * 3 * H + j) : 0.0; };
    for (int64_t b = 0; b < N; ++b) {
      const int64_t len = c.lens.empty() ? S : c.lens[static_cast<size_t>(b)];
      std::vector<double> hs(static_cast<size_t>(H), 0.0), cs(static_cast<size_t>(H), 0.0);
      for (int64_t k = 0; k < H; ++k) {
        if (in.h0) hs[static_cast<size_t>(k)] = in.h0->doubleAt(stateIdx(d, b, k));
        if (in.c0) cs[static_cast<size_t>(k)] = in.c0->doubleAt(stateIdx(d, b, k));
      }
      for (int64_t step = 0; step < len; ++step) {
        const int64_t t = reverse ? len - 1 - step : step;
        std::vector<double> hn(static_cast<size_t>(H)), cn(static_cast<size_t>(H));
        if (c.op == OpKind::kRNN) {
          for (int64_t k = 0; k < H; ++k)
            hn[size_t(k)] = f(wx(k, t, b) + rh(k, hs) + wb(k) + rb(k));
        } else if (c.op == OpKind::kGRU) {
          const size_t hn0 = static_cast<size_t>(H);
          std::vector<double> z(hn0), r(hn0), rhs(hn0);
          for (int64_t k = 0; k < H; ++k) {
            z[size_t(k)] = f(wx(k, t, b) + rh(k, hs) + wb(k) + rb(k));
            r[size_t(k)] = f(wx(H + k, t, b) + rh(H + k, hs) + wb(H + k) + rb(H + k));
            rhs[size_t(k)] = r[size_t(k)] * hs[size_t(k)];
          }
          for (int64_t k = 0; k < H; ++k) {
            const int64_t j = 2 * H + k;
            const double n = c.linearBeforeReset
                                 ? g(wx(j, t, b) + r[size_t(k)] * (rh(j, hs) + rb(j)) + wb(j))
                                 : g(wx(j, t, b) + rh(j, rhs) + rb(j) + wb(j));
            hn[size_t(k)] = (1 - z[size_t(k)]) * n + z[size_t(k)] * hs[size_t(k)];
          }
        } else {
          for (int64_t k = 0; k < H; ++k) {
            const double cp = cs[size_t(k)];
            const double i = f(wx(k, t, b) + rh(k, hs) + pp(k) * cp + wb(k) + rb(k));
            const int64_t fj = 2 * H + k, cj = 3 * H + k, oj = H + k;
            const double fg =
                c.inputForget ? 1 - i
                              : f(wx(fj, t, b) + rh(fj, hs) + pp(2 * H + k) * cp + wb(fj) + rb(fj));
            const double cc = g(wx(cj, t, b) + rh(cj, hs) + wb(cj) + rb(cj));
            cn[size_t(k)] = fg * cp + i * cc;
            const double o =
                f(wx(oj, t, b) + rh(oj, hs) + pp(H + k) * cn[size_t(k)] + wb(oj) + rb(oj));
            hn[size_t(k)] = o * h(cn[size_t(k)]);
          }
          cs = cn;
        }
        hs = hn;
        for (int64_t k = 0; k < H; ++k) out.y[yIdx(t, d, b, k)] = hs[size_t(k)];
      }
      if (len == 0) continue;
      for (int64_t k = 0; k < H; ++k) {
        out.yh[static_cast<size_t>(stateIdx(d, b, k))] = hs[size_t(k)];
        out.yc[static_cast<size_t>(stateIdx(d, b, k))] = cs[size_t(k)];
      }
    }
  }
  return out;
}

ir::Attributes attrsOf(const Config& c, bool withHiddenSize = true) {
  ir::Attributes a;
  if (withHiddenSize) a.setInt("hidden_size", c.H);
  if (c.direction != "forward") a.setString("direction", c.direction);
  if (c.layout != 0) a.setInt("layout", c.layout);
  if (c.clip) a.setFloat("clip", *c.clip);
  if (c.linearBeforeReset) a.setInt("linear_before_reset", 1);
  if (c.inputForget) a.setInt("input_forget", 1);
  if (!c.activations.empty()) a.set("activations", c.activations);
  if (!c.alpha.empty()) a.setFloats("activation_alpha", c.alpha);
  if (!c.beta.empty()) a.setFloats("activation_beta", c.beta);
  return a;
}

Inputs makeInputs(const Config& c, std::mt19937& rng) {
  const int64_t G = gatesOf(c.op), D = c.direction == "bidirectional" ? 2 : 1;
  const Dims state = c.layout == 0 ? Dims{D, c.N, c.H} : Dims{c.N, D, c.H};
  Inputs in;
  in.x = randomTensor(c.dtype, c.layout == 0 ? Dims{c.S, c.N, c.I} : Dims{c.N, c.S, c.I}, rng,
                      -c.inputScale, c.inputScale);
  in.w = randomTensor(c.dtype, {D, G * c.H, c.I}, rng, -0.8, 0.8);
  in.r = randomTensor(c.dtype, {D, G * c.H, c.H}, rng, -0.8, 0.8);
  if (c.bias) in.b = randomTensor(c.dtype, {D, 2 * G * c.H}, rng, -0.5, 0.5);
  if (!c.lens.empty()) {
    std::vector<int32_t> l(c.lens.begin(), c.lens.end());
    in.lens = makeInt32({c.N}, l);
  }
  if (c.initH) in.h0 = randomTensor(c.dtype, state, rng);
  if (c.initC) in.c0 = randomTensor(c.dtype, state, rng);
  if (c.peepholes) in.p = randomTensor(c.dtype, {D, 3 * c.H}, rng, -0.5, 0.5);
  return in;
}

std::vector<OpInput> opInputs(const Config& c, const Inputs& in) {
  auto opt = [](const std::shared_ptr<ir::TensorData>& t) {
    return t ? OpInput::value(t) : OpInput::absent();
  };
  std::vector<OpInput> v = {OpInput::value(in.x),
                            OpInput::constant(in.w),
                            OpInput::constant(in.r),
                            in.b ? OpInput::constant(in.b) : OpInput::absent(),
                            opt(in.lens),
                            opt(in.h0)};
  if (c.op == OpKind::kLSTM) {
    v.push_back(opt(in.c0));
    v.push_back(in.p ? OpInput::constant(in.p) : OpInput::absent());
  }
  while (!v.back().data) v.pop_back();
  return v;
}

// Runs the op on random inputs and compares every requested output with the reference.
void check(const Config& c, uint32_t seed, double rtol = 1e-5, double atol = 1e-6) {
  SCOPED_TRACE(std::string(ir::opName(c.op)) + " " + c.direction +
               " layout=" + std::to_string(c.layout));
  std::mt19937 rng(seed);
  const Inputs in = makeInputs(c, rng);
  const int64_t D = c.direction == "bidirectional" ? 2 : 1;
  const int outs = c.numOutputs > 0 ? c.numOutputs : (c.op == OpKind::kLSTM ? 3 : 2);
  auto r = runOp(c.op, attrsOf(c), opInputs(c, in), outs);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  const RefOut want = reference(c, in);
  const Dims state = c.layout == 0 ? Dims{D, c.N, c.H} : Dims{c.N, D, c.H};
  expectCloseTo(r->at(0), c.layout == 0 ? Dims{c.S, D, c.N, c.H} : Dims{c.N, c.S, D, c.H}, want.y,
                rtol, atol);
  if (outs > 1) expectCloseTo(r->at(1), state, want.yh, rtol, atol);
  if (outs > 2) expectCloseTo(r->at(2), state, want.yc, rtol, atol);
}

const OpKind kAllOps[] = {OpKind::kRNN, OpKind::kGRU, OpKind::kLSTM};

// ---------------------------------------------------------------------------------------------

TEST(Recurrent, ForwardDefaults) {
  uint32_t seed = 1;
  for (OpKind op : kAllOps) {
    Config c;
    c.op = op;
    check(c, seed++);
    c.bias = false;  // all optional inputs absent
    check(c, seed++);
  }
}

TEST(Recurrent, ForwardWithInitialState) {
  uint32_t seed = 10;
  for (OpKind op : kAllOps) {
    Config c;
    c.op = op;
    c.S = 5, c.N = 3, c.I = 2, c.H = 4;
    c.initH = true;
    c.initC = op == OpKind::kLSTM;
    check(c, seed++);
  }
}

TEST(Recurrent, Reverse) {
  uint32_t seed = 20;
  for (OpKind op : kAllOps) {
    Config c;
    c.op = op;
    c.direction = "reverse";
    c.S = 4;
    c.initH = true;
    c.initC = op == OpKind::kLSTM;
    check(c, seed++);
  }
}

TEST(Recurrent, Bidirectional) {
  uint32_t seed = 30;
  for (OpKind op : kAllOps) {
    Config c;
    c.op = op;
    c.direction = "bidirectional";
    c.S = 4, c.N = 3, c.H = 5;
    c.initH = true;
    c.initC = op == OpKind::kLSTM;
    check(c, seed++);
  }
}

TEST(Recurrent, SequenceLensLeaveZerosAndKeepTheLastValidState) {
  uint32_t seed = 40;
  for (OpKind op : kAllOps) {
    for (const char* dir : {"forward", "reverse", "bidirectional"}) {
      Config c;
      c.op = op;
      c.direction = dir;
      c.S = 4, c.N = 4;
      c.lens = {4, 1, 0, 2};
      c.initH = true;
      c.initC = op == OpKind::kLSTM;
      check(c, seed++);
    }
  }
}

TEST(Recurrent, SequenceLensZeroGivesZeroOutputs) {
  // Hand-checked: a batch entry of length 0 has Y and Y_h (Y_c) all zero whatever initial_h is.
  std::mt19937 rng(45);
  Config c;
  c.op = OpKind::kLSTM;
  c.N = 2;
  c.lens = {0, 3};
  c.initH = c.initC = true;
  const Inputs in = makeInputs(c, rng);
  auto r = runOp(c.op, attrsOf(c), opInputs(c, in), 3);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  for (int64_t t = 0; t < c.S; ++t)
    for (int64_t k = 0; k < c.H; ++k) EXPECT_EQ(r->at(0).doubleAt((t * 2 + 0) * c.H + k), 0.0);
  for (int64_t k = 0; k < c.H; ++k) {
    EXPECT_EQ(r->at(1).doubleAt(k), 0.0);
    EXPECT_EQ(r->at(2).doubleAt(k), 0.0);
    EXPECT_NE(r->at(1).doubleAt(c.H + k), 0.0);
  }
}

TEST(Recurrent, BatchwiseLayout) {
  uint32_t seed = 50;
  for (OpKind op : kAllOps) {
    for (const char* dir : {"forward", "bidirectional"}) {
      Config c;
      c.op = op;
      c.direction = dir;
      c.layout = 1;
      c.S = 3, c.N = 4, c.I = 3, c.H = 2;
      c.initH = true;
      c.initC = op == OpKind::kLSTM;
      c.lens = {3, 2, 3, 1};
      check(c, seed++);
    }
  }
}

TEST(Recurrent, ClipBoundsThePreActivations) {
  uint32_t seed = 60;
  for (OpKind op : kAllOps) {
    Config c;
    c.op = op;
    c.clip = 0.4f;
    c.inputScale = 4.0;  // most pre-activations exceed the clip
    c.initH = true;
    check(c, seed++);
  }
}

TEST(Recurrent, LstmPeepholes) {
  Config c;
  c.op = OpKind::kLSTM;
  c.peepholes = true;
  c.initH = c.initC = true;
  c.S = 4;
  check(c, 70);
  c.direction = "bidirectional";
  c.lens = {2, 4};
  check(c, 71);
}

TEST(Recurrent, LstmInputForget) {
  Config c;
  c.op = OpKind::kLSTM;
  c.inputForget = true;
  c.peepholes = true;
  c.initC = true;
  check(c, 72);
}

TEST(Recurrent, GruLinearBeforeReset) {
  Config c;
  c.op = OpKind::kGRU;
  c.linearBeforeReset = true;
  c.initH = true;
  c.S = 4;
  check(c, 80);
  c.direction = "bidirectional";
  c.clip = 0.5f;
  check(c, 81);
}

TEST(Recurrent, EveryActivationWithItsDefaultsAndGivenParameters) {
  // RNN applies its one activation to the whole pre-activation: each spec function in turn, first
  // with the ONNX defaults (no alpha/beta attributes), then with given values.
  struct Act {
    const char* name;
    double defAlpha, defBeta;
    bool usesAlpha, usesBeta;
  };
  const Act acts[] = {{"Relu", 0, 0, false, false},        {"Tanh", 0, 0, false, false},
                      {"Sigmoid", 0, 0, false, false},     {"Affine", 1, 0, true, true},
                      {"LeakyRelu", 0.01, 0, true, false}, {"ThresholdedRelu", 1, 0, true, false},
                      {"ScaledTanh", 1, 1, true, true},    {"HardSigmoid", 0.2, 0.5, true, true},
                      {"Elu", 1, 0, true, false},          {"Softsign", 0, 0, false, false},
                      {"Softplus", 0, 0, false, false}};
  uint32_t seed = 90;
  for (const Act& a : acts) {
    SCOPED_TRACE(a.name);
    Config c;
    c.op = OpKind::kRNN;
    c.S = 2;  // unbounded activations (Affine, Relu...) stay small over two steps
    c.inputScale = 2.0;
    c.activations = {a.name};
    c.refActs = {{a.name, double(float(a.defAlpha)), double(float(a.defBeta))}};
    check(c, seed++);
    c.alpha = {0.7f};
    c.beta = {-0.3f};
    c.refActs = {{a.name, a.usesAlpha ? double(0.7f) : 0.0, a.usesBeta ? double(-0.3f) : 0.0}};
    check(c, seed++);
  }
}

TEST(Recurrent, ActivationParametersPositionalOrConsumedInOrder) {
  // One value per listed activation: positional (value k belongs to activation k).
  Config c;
  c.op = OpKind::kLSTM;
  c.activations = {"HardSigmoid", "Tanh", "ScaledTanh"};
  c.alpha = {0.3f, 9.f, 0.8f};
  c.beta = {0.45f, 9.f, 1.5f};
  c.refActs = {{"HardSigmoid", 0.3f, 0.45f}, {"Tanh"}, {"ScaledTanh", 0.8f, 1.5f}};
  check(c, 100);
  // Fewer values: consumed in order by the activations that take one.
  c.activations = {"Tanh", "LeakyRelu", "Elu"};
  c.alpha = {0.25f};
  c.beta = {};
  c.refActs = {{"Tanh"}, {"LeakyRelu", 0.25f, 0}, {"Elu", 1.0, 0}};
  check(c, 101);
  // Bidirectional, one list per direction; names are matched without regard to case.
  Config g;
  g.op = OpKind::kGRU;
  g.direction = "bidirectional";
  g.activations = {"sigmoid", "tanh", "HardSigmoid", "Softsign"};
  g.alpha = {0, 0, 0.15f, 0};
  g.beta = {0, 0, 0.55f, 0};
  g.refActs = {{"Sigmoid"}, {"Tanh"}, {"HardSigmoid", 0.15f, 0.55f}, {"Softsign"}};
  check(g, 102);
  // Bidirectional with one direction's list: both directions use it.
  g.activations = {"HardSigmoid", "Softsign"};
  g.alpha = {0.15f};
  g.beta = {0.55f};
  g.refActs = {{"HardSigmoid", 0.15f, 0.55f}, {"Softsign"}};
  check(g, 103);
}

TEST(Recurrent, OptionalOutputsAndHiddenSizeFromR) {
  // Only Y (one output), and LSTM without Y_c.
  Config c;
  c.op = OpKind::kGRU;
  c.numOutputs = 1;
  check(c, 110);
  c.op = OpKind::kLSTM;
  c.numOutputs = 2;
  check(c, 111);
  // hidden_size absent: taken from R.
  std::mt19937 rng(112);
  Config r;
  r.op = OpKind::kRNN;
  const Inputs in = makeInputs(r, rng);
  auto out = runOp(r.op, attrsOf(r, false), opInputs(r, in), 2);
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  expectCloseTo(out->at(1), {1, r.N, r.H}, reference(r, in).yh);
}

TEST(Recurrent, Float64AndFloat16) {
  uint32_t seed = 120;
  for (OpKind op : kAllOps) {
    Config c;
    c.op = op;
    c.direction = "bidirectional";
    c.initH = true;
    c.dtype = DataType::kDOUBLE;
    check(c, seed++, 1e-12, 1e-13);
    // float16: the inputs are float16 values, the result is rounded once to float16.
    c.dtype = DataType::kHALF;
    check(c, seed++, 1e-3, 1e-3);
  }
}

TEST(Recurrent, HandComputedRnnStep) {
  // X = [[[1, 2]]], W = [[[0.5, -0.25]]], R = [[[2]]], B = [[0.1, 0.2]], hidden 1, two steps with
  // X_1 = [[[0, 1]]] and initial_h 0.5:
  //   h1 = tanh(0.5*1 - 0.25*2 + 2*0.5 + 0.3) = tanh(1.3)
  //   h2 = tanh(-0.25 + 2*tanh(1.3) + 0.3)
  auto x = makeFloat({2, 1, 2}, {1, 2, 0, 1});
  auto w = makeFloat({1, 1, 2}, {0.5f, -0.25f});
  auto r = makeFloat({1, 1, 1}, {2});
  auto b = makeFloat({1, 2}, {0.1f, 0.2f});
  auto h0 = makeFloat({1, 1, 1}, {0.5f});
  ir::Attributes a;
  a.setInt("hidden_size", 1);
  auto out = runOp(OpKind::kRNN, a,
                   {OpInput::value(x), OpInput::constant(w), OpInput::constant(r),
                    OpInput::constant(b), OpInput::absent(), OpInput::value(h0)},
                   2);
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  const double h1 = std::tanh(0.5 - 0.5 + 1.0 + double(0.1f) + double(0.2f));
  const double h2 = std::tanh(-0.25 + 2 * h1 + double(0.1f) + double(0.2f));
  expectCloseTo(out->at(0), {2, 1, 1, 1}, {h1, h2});
  expectCloseTo(out->at(1), {1, 1, 1}, {h2});
}

TEST(Recurrent, Errors) {
  std::mt19937 rng(130);
  Config c;
  c.op = OpKind::kLSTM;
  const Inputs in = makeInputs(c, rng);
  auto expectError = [&](const ir::Attributes& a, const std::vector<OpInput>& ins,
                         const char* text) {
    auto r = runOp(c.op, a, ins, 3);
    ASSERT_FALSE(r.isOk()) << text;
    EXPECT_NE(r.status().toString().find(text), std::string::npos) << r.status().toString();
  };
  ir::Attributes a = attrsOf(c);
  a.setString("direction", "sideways");
  expectError(a, opInputs(c, in), "direction 'sideways'");
  a = attrsOf(c);
  a.set("activations", std::vector<std::string>{"Sigmoid", "Tanh", "Swish"});
  expectError(a, opInputs(c, in), "unknown activation 'Swish'");
  a = attrsOf(c);
  a.set("activations", std::vector<std::string>{"Sigmoid", "Tanh"});
  expectError(a, opInputs(c, in), "activations has 2 entries");
  a = attrsOf(c);
  a.setInt("hidden_size", c.H + 1);
  expectError(a, opInputs(c, in), "has shape");
  a = attrsOf(c);
  a.setInt("layout", 2);
  expectError(a, opInputs(c, in), "layout must be 0 or 1");
  a = attrsOf(c);
  a.setFloat("clip", -1.f);
  expectError(a, opInputs(c, in), "clip must be positive");
  a = attrsOf(c);
  a.setInt("linear_before_reset", 1);
  expectError(a, opInputs(c, in), "linear_before_reset is a GRU attribute");
  // W with the wrong number of gate rows.
  std::vector<OpInput> bad = opInputs(c, in);
  bad[1] = OpInput::constant(randomTensor(DataType::kFLOAT, {1, 3 * c.H, c.I}, rng));
  expectError(attrsOf(c), bad, "W has shape");
  // sequence_lens beyond the sequence length (checked by the kernel: the input is data).
  bad = opInputs(c, in);
  while (bad.size() < 5) bad.push_back(OpInput::absent());
  bad[4] = OpInput::value(makeInt32({c.N}, {1, static_cast<int32_t>(c.S + 1)}));
  expectError(attrsOf(c), bad, "sequence_lens[1] is 4");
  // Integer X.
  bad = opInputs(c, in);
  bad[0] =
      OpInput::value(makeInt32({c.S, c.N, c.I}, std::vector<int32_t>(size_t(c.S * c.N * c.I), 1)));
  expectError(attrsOf(c), bad, "X has data type");
}

}  // namespace
}  // namespace kiln::test
