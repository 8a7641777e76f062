// Attribute parsing and activation functions of the recurrent ops (see recurrent_params.h).
#include "ir/recurrent_params.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <variant>

namespace kiln::ir {

namespace {

struct ActivationInfo {
  const char* name;
  RecurrentActivation kind;
  bool usesAlpha;
  bool usesBeta;
  float defaultAlpha;
  float defaultBeta;
};

constexpr ActivationInfo kActivations[] = {
    {"Relu", RecurrentActivation::kRelu, false, false, 0.f, 0.f},
    {"Tanh", RecurrentActivation::kTanh, false, false, 0.f, 0.f},
    {"Sigmoid", RecurrentActivation::kSigmoid, false, false, 0.f, 0.f},
    {"Affine", RecurrentActivation::kAffine, true, true, 1.f, 0.f},
    {"LeakyRelu", RecurrentActivation::kLeakyRelu, true, false, 0.01f, 0.f},
    {"ThresholdedRelu", RecurrentActivation::kThresholdedRelu, true, false, 1.f, 0.f},
    {"ScaledTanh", RecurrentActivation::kScaledTanh, true, true, 1.f, 1.f},
    {"HardSigmoid", RecurrentActivation::kHardSigmoid, true, true, 0.2f, 0.5f},
    {"Elu", RecurrentActivation::kElu, true, false, 1.f, 0.f},
    {"Softsign", RecurrentActivation::kSoftsign, false, false, 0.f, 0.f},
    {"Softplus", RecurrentActivation::kSoftplus, false, false, 0.f, 0.f},
};

const ActivationInfo* findActivation(const std::string& name) {
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  const std::string want = lower(name);
  for (const ActivationInfo& a : kActivations)
    if (lower(a.name) == want) return &a;
  return nullptr;
}

const ActivationInfo& infoOf(RecurrentActivation kind) {
  for (const ActivationInfo& a : kActivations)
    if (a.kind == kind) return a;
  return kActivations[1];
}

// Fills alpha (or beta) of `fns` from `values` per the rule in recurrent_params.h.
Status assignParameter(std::vector<RecurrentActivationFn>& fns, const std::vector<float>& values,
                       bool alpha, const std::string& who) {
  const char* what = alpha ? "activation_alpha" : "activation_beta";
  auto uses = [&](const RecurrentActivationFn& f) {
    return alpha ? infoOf(f.kind).usesAlpha : infoOf(f.kind).usesBeta;
  };
  auto set = [&](RecurrentActivationFn& f, float v) { (alpha ? f.alpha : f.beta) = v; };
  if (values.size() == fns.size()) {
    for (size_t k = 0; k < fns.size(); ++k)
      if (uses(fns[k])) set(fns[k], values[k]);
    return Status::ok();
  }
  const size_t users = static_cast<size_t>(std::count_if(fns.begin(), fns.end(), uses));
  if (values.size() > users)
    return invalidArgument("%s: %s has %zu values, but the %zu activations take %zu of them",
                           who.c_str(), what, values.size(), fns.size(), users);
  size_t next = 0;
  for (RecurrentActivationFn& f : fns)
    if (uses(f) && next < values.size()) set(f, values[next++]);
  return Status::ok();
}

// Typed attribute reads: a present attribute of the wrong type is an error, not a default.
template <typename T>
StatusOr<const T*> typedAttr(const Attributes& attrs, const char* name, const char* type,
                             const std::string& who) {
  auto it = attrs.all().find(name);
  if (it == attrs.all().end()) return static_cast<const T*>(nullptr);
  const T* v = std::get_if<T>(&it->second);
  if (!v) return invalidArgument("%s: attribute '%s' must be %s", who.c_str(), name, type);
  return v;
}

}  // namespace

const char* recurrentActivationName(RecurrentActivation a) { return infoOf(a).name; }

double applyRecurrentActivation(const RecurrentActivationFn& fn, double x) {
  const double a = fn.alpha, b = fn.beta;
  switch (fn.kind) {
    case RecurrentActivation::kRelu: return x > 0 ? x : 0.0;
    case RecurrentActivation::kTanh: return std::tanh(x);
    case RecurrentActivation::kSigmoid:
      // Both branches avoid exp overflow: e^-|x| <= 1.
      return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x));
    case RecurrentActivation::kAffine: return a * x + b;
    case RecurrentActivation::kLeakyRelu: return x >= 0 ? x : a * x;
    case RecurrentActivation::kThresholdedRelu: return x > a ? x : 0.0;
    case RecurrentActivation::kScaledTanh: return a * std::tanh(b * x);
    case RecurrentActivation::kHardSigmoid: return std::min(std::max(a * x + b, 0.0), 1.0);
    case RecurrentActivation::kElu: return x >= 0 ? x : a * std::expm1(x);
    case RecurrentActivation::kSoftsign: return x / (1.0 + std::fabs(x));
    case RecurrentActivation::kSoftplus:
      // log(1 + e^x) = max(x, 0) + log1p(e^-|x|), exact for large |x|.
      return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x)));
  }
  return x;
}

StatusOr<RecurrentParams> parseRecurrentParams(OpKind op, const Attributes& attrs,
                                               const std::string& who) {
  RecurrentParams p;
  p.op = op;
  std::vector<RecurrentActivation> defaults;
  switch (op) {
    case OpKind::kRNN:
      p.numGates = 1;
      defaults = {RecurrentActivation::kTanh};
      break;
    case OpKind::kGRU:
      p.numGates = 3;
      defaults = {RecurrentActivation::kSigmoid, RecurrentActivation::kTanh};
      break;
    case OpKind::kLSTM:
      p.numGates = 4;
      defaults = {RecurrentActivation::kSigmoid, RecurrentActivation::kTanh,
                  RecurrentActivation::kTanh};
      break;
    default: return internalError("%s: parseRecurrentParams on a non-recurrent op", who.c_str());
  }
  p.numActivations = static_cast<int64_t>(defaults.size());

  KILN_ASSIGN_OR_RETURN(const std::string* direction,
                        typedAttr<std::string>(attrs, "direction", "a string", who));
  const std::string dir = direction ? *direction : "forward";
  if (dir == "forward") {
    p.direction = RecurrentDirection::kForward;
  } else if (dir == "reverse") {
    p.direction = RecurrentDirection::kReverse;
  } else if (dir == "bidirectional") {
    p.direction = RecurrentDirection::kBidirectional;
  } else {
    return invalidArgument("%s: direction '%s' is not forward, reverse or bidirectional",
                           who.c_str(), dir.c_str());
  }
  p.numDirections = p.direction == RecurrentDirection::kBidirectional ? 2 : 1;

  KILN_ASSIGN_OR_RETURN(const int64_t* hidden,
                        typedAttr<int64_t>(attrs, "hidden_size", "an int", who));
  if (hidden) {
    if (*hidden <= 0)
      return invalidArgument("%s: hidden_size must be positive, got %lld", who.c_str(),
                             static_cast<long long>(*hidden));
    p.hiddenSize = *hidden;
  }
  KILN_ASSIGN_OR_RETURN(const int64_t* layout, typedAttr<int64_t>(attrs, "layout", "an int", who));
  p.layout = layout ? *layout : 0;
  if (p.layout != 0 && p.layout != 1)
    return invalidArgument("%s: layout must be 0 or 1, got %lld", who.c_str(),
                           static_cast<long long>(p.layout));

  // clip is a float; an int is accepted too (hand-written models).
  if (auto it = attrs.all().find("clip"); it != attrs.all().end()) {
    if (const float* f = std::get_if<float>(&it->second)) {
      p.clip = *f;
    } else if (const int64_t* i = std::get_if<int64_t>(&it->second)) {
      p.clip = static_cast<float>(*i);
    } else {
      return invalidArgument("%s: attribute 'clip' must be a float", who.c_str());
    }
    if (!(p.clip > 0.f))
      return invalidArgument("%s: clip must be positive, got %g", who.c_str(),
                             static_cast<double>(p.clip));
    p.hasClip = true;
  }

  KILN_ASSIGN_OR_RETURN(const int64_t* lbr,
                        typedAttr<int64_t>(attrs, "linear_before_reset", "an int", who));
  KILN_ASSIGN_OR_RETURN(const int64_t* inf,
                        typedAttr<int64_t>(attrs, "input_forget", "an int", who));
  if (lbr && op != OpKind::kGRU && *lbr != 0)
    return invalidArgument("%s: linear_before_reset is a GRU attribute", who.c_str());
  if (inf && op != OpKind::kLSTM && *inf != 0)
    return invalidArgument("%s: input_forget is an LSTM attribute", who.c_str());
  p.linearBeforeReset = lbr && *lbr != 0;
  p.inputForget = inf && *inf != 0;

  // Activations: the given list (one direction's or all), else the defaults.
  KILN_ASSIGN_OR_RETURN(
      const std::vector<std::string>* names,
      typedAttr<std::vector<std::string>>(attrs, "activations", "a list of strings", who));
  std::vector<RecurrentActivationFn> fns;
  if (names && !names->empty()) {
    const size_t n = names->size(), perDir = static_cast<size_t>(p.numActivations);
    if (n != perDir && n != perDir * static_cast<size_t>(p.numDirections))
      return invalidArgument(
          "%s: activations has %zu entries; expected %zu per direction (%lld direction%s)",
          who.c_str(), n, perDir, static_cast<long long>(p.numDirections),
          p.numDirections == 1 ? "" : "s");
    for (const std::string& name : *names) {
      const ActivationInfo* info = findActivation(name);
      if (!info)
        return invalidArgument(
            "%s: unknown activation '%s' (expected Relu, Tanh, Sigmoid, Affine, LeakyRelu, "
            "ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign or Softplus)",
            who.c_str(), name.c_str());
      fns.push_back({info->kind, info->defaultAlpha, info->defaultBeta});
    }
    KILN_ASSIGN_OR_RETURN(
        const std::vector<float>* alphas,
        typedAttr<std::vector<float>>(attrs, "activation_alpha", "a list of floats", who));
    KILN_ASSIGN_OR_RETURN(
        const std::vector<float>* betas,
        typedAttr<std::vector<float>>(attrs, "activation_beta", "a list of floats", who));
    if (alphas) KILN_RETURN_IF_ERROR(assignParameter(fns, *alphas, true, who));
    if (betas) KILN_RETURN_IF_ERROR(assignParameter(fns, *betas, false, who));
  } else {
    for (RecurrentActivation a : defaults) fns.push_back({a, 0.f, 0.f});
  }
  if (fns.size() == static_cast<size_t>(p.numActivations) && p.numDirections == 2) {
    const std::vector<RecurrentActivationFn> forward = fns;
    fns.insert(fns.end(), forward.begin(), forward.end());
  }
  p.activations = std::move(fns);
  return p;
}

}  // namespace kiln::ir
