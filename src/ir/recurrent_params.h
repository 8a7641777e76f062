// Attributes of the recurrent ops (RNN, GRU, LSTM), parsed once for the shape function
// (src/ir/shape_fns_recurrent.cpp) and the CPU kernel (src/backends/cpu/kernels_recurrent.cpp),
// so both accept exactly the same nodes.
//
// Activations (ONNX names, matched without regard to case) with their alpha/beta defaults, which
// are those of the ONNX operators of the same name (Affine and ScaledTanh, which have none now,
// take the old experimental ops' alpha=1 beta=0 and alpha=1 beta=1):
//   Relu max(0,x)            Tanh tanh(x)                 Sigmoid 1/(1+e^-x)
//   Affine a*x+b             LeakyRelu x>=0 ? x : a*x     ThresholdedRelu x>a ? x : 0 (a=1)
//   ScaledTanh a*tanh(b*x)   HardSigmoid min(max(a*x+b,0),1) (a=0.2, b=0.5)
//   Elu x>=0 ? x : a*(e^x-1) (a=1)    Softsign x/(1+|x|)    Softplus log(1+e^x)
// `activations` lists the per-direction functions (RNN f; GRU f, g; LSTM f, g, h), forward
// direction first; a bidirectional node given one direction's list uses it for both.
// `activation_alpha`/`activation_beta`: the spec says the values "are consumed in the order of
// activation functions". A list with one value per listed activation is read positionally
// (value k belongs to activation k, as onnxruntime reads it); any other length is consumed in
// order by the activations that take the parameter, the rest keeping their defaults.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "ir/attributes.h"
#include "ir/op.h"

namespace kiln::ir {

enum class RecurrentActivation : uint8_t {
  kRelu,
  kTanh,
  kSigmoid,
  kAffine,
  kLeakyRelu,
  kThresholdedRelu,
  kScaledTanh,
  kHardSigmoid,
  kElu,
  kSoftsign,
  kSoftplus
};

struct RecurrentActivationFn {
  RecurrentActivation kind = RecurrentActivation::kTanh;
  float alpha = 0.f;
  float beta = 0.f;
};

enum class RecurrentDirection : uint8_t { kForward, kReverse, kBidirectional };

struct RecurrentParams {
  OpKind op = OpKind::kRNN;
  int64_t numGates = 1;        // rows of W/R per direction, in units of hidden_size: 1, 3, 4
  int64_t numActivations = 1;  // activations per direction: 1, 2, 3
  RecurrentDirection direction = RecurrentDirection::kForward;
  int64_t numDirections = 1;
  int64_t hiddenSize = -1;  // -1: attribute absent (taken from R's last dim)
  int64_t layout = 0;       // 0: X [seq, batch, in]; 1: X [batch, seq, in]
  bool hasClip = false;
  float clip = 0.f;                // pre-activation values are clamped to [-clip, clip]
  bool linearBeforeReset = false;  // GRU
  bool inputForget = false;        // LSTM: f = 1 - i
  // numActivations * numDirections entries: direction d's k-th is [d * numActivations + k].
  std::vector<RecurrentActivationFn> activations;

  int64_t maxInputs() const { return op == OpKind::kLSTM ? 8 : 6; }
  int64_t maxOutputs() const { return op == OpKind::kLSTM ? 3 : 2; }
  // True when direction d (0 or 1) runs from the last step to the first.
  bool reversed(int64_t d) const {
    return direction == RecurrentDirection::kReverse ||
           (direction == RecurrentDirection::kBidirectional && d == 1);
  }
};

// Parses and checks the attributes of an RNN, GRU or LSTM node. Errors are prefixed with `who`
// ("LSTM 'lstm1'").
StatusOr<RecurrentParams> parseRecurrentParams(OpKind op, const Attributes& attrs,
                                               const std::string& who);

// The activation applied to x (computed in double).
double applyRecurrentActivation(const RecurrentActivationFn& fn, double x);

const char* recurrentActivationName(RecurrentActivation a);

}  // namespace kiln::ir
