// Float16 precision (BuilderFlag::kFP16, `kiln build --fp16`).
//
//   before: x:f32 -> Conv(W) -> Relu -> GlobalAveragePool -> Flatten -> Gemm(B, C) -> y:f32
//   after:  x:f32 -> Cast(to=HALF) -> Conv(W') -> Relu -> GlobalAveragePool -> Flatten
//                 -> Gemm(B', C') -> Cast(to=FLOAT) -> y:f32         (W', B', C': float16 copies)
//
// Like TensorRT's --fp16 with PyTorch autocast's op lists. Every layer is a half layer or a
// float layer:
//
// - Compute layers (Conv, ConvTranspose, MatMul, Gemm, Einsum, Attention, FusedAttention,
//   FusedMatMul, FusedConv)
//   run in float16 whenever they have a float32 data input: that is where float16 pays (tensor
//   cores, half the bytes).
// - The other layers on the allow-list (activations, elementwise arithmetic, pooling,
//   normalization, softmax, data movement, Cast to float) follow their inputs: they run in
//   float16 when one of their float32 data inputs already is float16 (comes from a half layer)
//   or when all of them are constants. A Relu or Transpose between float32 layers stays float32:
//   converting it would cost two casts and lose precision for nothing.
// - Everything else (Pow, Exp, Log, reductions, CumSum, comparisons, quantization, plugins, ...)
//   stays float32; its inputs coming from half layers get a Cast back to float32.
// - Shape, Size and Cast to a type other than float read any type: they take their input as it
//   is (a Cast from float16 to int64 gives the same values as one from the float32 version).
// - A layer whose precision the user set to float32 (Layer::setPrecision, --layerPrecisions)
//   stays float32; one set to float16 runs in float16 whenever it has float32 data inputs,
//   whatever its rule (the user's choice overrides the accuracy lists).
//
// "Data" inputs are the float32 inputs other than parameters that keep their type: Resize's roi
// and scales (coordinates, not tensor data) and BatchNormalization's scale/B/mean/var (ONNX types
// them apart from X, the CPU kernel reads any float type, and variances near zero lose most of
// their digits in float16; cuDNN also takes float32 parameters for float16 data). Everything else
// follows its data (Clip's min/max, LayerNormalization's Scale/B, PRelu's slope, Where's X/Y,
// Pad's constant_value: the shape functions require the data's type).
//
// Constants feeding half inputs are replaced by one float16 copy each (round to nearest even,
// values beyond +-65504 become inf: warned about); a constant also read by float layers keeps
// its float32 original for them. Every other float32 value crossing a boundary gets exactly one
// Cast per (value, target type), shared by all its consumers. Network inputs and outputs keep
// their types: an output produced in float16 is renamed and a Cast back to float32 takes its name.
//
// Cast's "to" attribute is Kiln's DataType number (kFLOAT = 0, kHALF = 1), as the ONNX importer
// stores it, not ONNX's TensorProto numbering.
#include <cmath>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/half.h"
#include "common/logging.h"
#include "ir/shape_inference.h"
#include "optimizer/pass_manager.h"

namespace kiln::opt {

namespace {

using ir::OpKind;

enum class OpRule {
  kCompute,      // half whenever it has a float32 data input
  kFollow,       // half when its float32 data inputs are float16 already (or all constants)
  kPassThrough,  // reads any type: left alone
  kFloat,        // stays float32
};

OpRule ruleOf(const ir::Node& n) {
  switch (n.op) {
    case OpKind::kConv:
    case OpKind::kConvTranspose:
    case OpKind::kFusedConv:  // Z (the residual) follows as a data input
    case OpKind::kMatMul:
    case OpKind::kGemm:
    case OpKind::kFusedMatMul:
    case OpKind::kEinsum:
    case OpKind::kAttention:
    case OpKind::kFusedAttention: return OpRule::kCompute;
    case OpKind::kAdd:
    case OpKind::kSub:
    case OpKind::kMul:
    case OpKind::kDiv:
    case OpKind::kMax:
    case OpKind::kMin:
    case OpKind::kSum:
    case OpKind::kMean:
    case OpKind::kWhere:
    case OpKind::kPRelu:
    case OpKind::kRelu:
    case OpKind::kLeakyRelu:
    case OpKind::kSigmoid:
    case OpKind::kTanh:
    case OpKind::kHardSigmoid:
    case OpKind::kHardSwish:
    case OpKind::kGelu:
    case OpKind::kErf:
    case OpKind::kElu:
    case OpKind::kSelu:
    case OpKind::kCelu:
    case OpKind::kMish:
    case OpKind::kSoftplus:
    case OpKind::kSoftsign:
    case OpKind::kClip:
    case OpKind::kNeg:
    case OpKind::kAbs:
    case OpKind::kSqrt:
    case OpKind::kReciprocal:
    case OpKind::kIdentity:
    case OpKind::kMaxPool:
    case OpKind::kAveragePool:
    case OpKind::kGlobalAveragePool:
    case OpKind::kGlobalMaxPool:
    case OpKind::kBatchNormalization:
    case OpKind::kLayerNormalization:
    case OpKind::kInstanceNormalization:
    case OpKind::kGroupNormalization:
    case OpKind::kRMSNormalization:
    case OpKind::kSoftmax:
    case OpKind::kLogSoftmax:
    case OpKind::kTranspose:
    case OpKind::kReshape:
    case OpKind::kFlatten:
    case OpKind::kSqueeze:
    case OpKind::kUnsqueeze:
    case OpKind::kConcat:
    case OpKind::kSplit:
    case OpKind::kSlice:
    case OpKind::kGather:
    case OpKind::kGatherElements:
    case OpKind::kExpand:
    case OpKind::kTile:
    case OpKind::kPad:
    case OpKind::kResize:
    case OpKind::kDepthToSpace:
    case OpKind::kSpaceToDepth:
    case OpKind::kRotaryEmbedding: return OpRule::kFollow;
    case OpKind::kCast:
      return n.attrs.getInt("to", -1) == static_cast<int64_t>(DataType::kFLOAT)
                 ? OpRule::kFollow
                 : OpRule::kPassThrough;
    case OpKind::kShape:
    case OpKind::kSize: return OpRule::kPassThrough;
    default: return OpRule::kFloat;
  }
}

// Why an op outside the allow-list stays float32 (for the summary).
const char* floatReason(OpKind op) {
  switch (op) {
    case OpKind::kPow:
    case OpKind::kExp:
    case OpKind::kLog:
    case OpKind::kReduceSum:
    case OpKind::kReduceMean:
    case OpKind::kReduceMax:
    case OpKind::kReduceMin:
    case OpKind::kReduceProd:
    case OpKind::kReduceL1:
    case OpKind::kReduceL2:
    case OpKind::kReduceSumSquare:
    case OpKind::kReduceLogSum:
    case OpKind::kReduceLogSumExp:
    case OpKind::kCumSum:
    case OpKind::kLpNormalization:
    case OpKind::kMeanVarianceNormalization:
    case OpKind::kLRN:
    case OpKind::kLpPool:
    case OpKind::kMod:
    case OpKind::kRange:
    case OpKind::kSin:
    case OpKind::kCos:
    case OpKind::kTan:
    case OpKind::kAsin:
    case OpKind::kAcos:
    case OpKind::kAtan:
    case OpKind::kSinh:
    case OpKind::kCosh:
    case OpKind::kAsinh:
    case OpKind::kAcosh:
    case OpKind::kAtanh: return "accuracy";
    case OpKind::kQuantizeLinear:
    case OpKind::kDequantizeLinear:
    case OpKind::kDynamicQuantizeLinear:
    case OpKind::kMatMulInteger:
    case OpKind::kConvInteger:
    case OpKind::kQLinearMatMul:
    case OpKind::kQLinearConv: return "quantization keeps float32 scales";
    case OpKind::kPlugin: return "plugin: runs in the types it was built for";
    default: return "not on the float16 list";
  }
}

// Inputs that keep float32 in a half layer.
bool isParameterSlot(OpKind op, size_t i) {
  if (op == OpKind::kResize) return i == 1 || i == 2;    // roi, scales
  if (op == OpKind::kBatchNormalization) return i >= 1;  // scale, B, input_mean, input_var
  return false;
}

class Fp16Converter {
 public:
  Fp16Converter(ir::Graph& g, PassContext& ctx) : mG(g), mCtx(ctx) {}

  Status run() {
    KILN_RETURN_IF_ERROR(ir::inferGraphInPlace(mG));
    mOrigType.resize(mG.valueCapacity());
    for (const ir::Value* v : mG.values()) mOrigType[static_cast<size_t>(v->id)] = v->dtype;
    KILN_ASSIGN_OR_RETURN(std::vector<ir::Node*> order, mG.topoOrder());
    for (ir::Node* n : order) KILN_RETURN_IF_ERROR(convertNode(*n));
    KILN_RETURN_IF_ERROR(ir::inferGraphInPlace(mG));
    Status v = ir::verifyGraph(mG);
    if (!v.isOk())
      return internalError("graph invalid after the float16 pass: %s", v.message().c_str());
    logSummary();
    return Status::ok();
  }

  bool changed() const { return mHalfLayers > 0 || mCasts > 0; }

 private:
  DataType origType(const ir::Value* v) const {
    const size_t id = static_cast<size_t>(v->id);
    return id < mOrigType.size() ? mOrigType[id] : v->dtype;
  }
  bool isF32(const ir::Value* v) const { return v && origType(v) == DataType::kFLOAT; }

  Status convertNode(ir::Node& n) {
    const OpRule rule = ruleOf(n);
    std::vector<size_t> dataSlots;
    bool anyFloat = false;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (!isF32(n.inputs[i])) continue;
      anyFloat = true;
      if (!isParameterSlot(n.op, i)) dataSlots.push_back(i);
    }
    for (const ir::Value* o : n.outputs) anyFloat = anyFloat || isF32(o);
    const bool pinnedFloat = n.precision && *n.precision == DataType::kFLOAT;
    const bool pinnedHalf = n.precision && *n.precision == DataType::kHALF;

    if (rule == OpRule::kPassThrough) return fixOutputs(n);

    bool half = false;
    const char* reason = nullptr;
    if (pinnedFloat) {
      reason = "layer precision set to float32";
    } else if (pinnedHalf && !dataSlots.empty()) {
      half = true;
    } else if (rule == OpRule::kFloat) {
      reason = floatReason(n.op);
    } else if (dataSlots.empty()) {
      reason = "no float32 data input";
    } else if (rule == OpRule::kCompute) {
      half = true;
    } else {
      bool anyHalf = false, allConst = true;
      for (size_t i : dataSlots) {
        anyHalf = anyHalf || n.inputs[i]->dtype == DataType::kHALF;
        allConst = allConst && n.inputs[i]->isConstant();
      }
      half = anyHalf || allConst;
      reason = "its inputs are float32";
    }

    if (half) {
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        if (!isF32(n.inputs[i])) continue;
        const DataType want = isParameterSlot(n.op, i) ? DataType::kFLOAT : DataType::kHALF;
        KILN_ASSIGN_OR_RETURN(n.inputs[i], versionOf(n.inputs[i], want));
      }
      if (n.op == OpKind::kCast) n.attrs.setInt("to", static_cast<int64_t>(DataType::kHALF));
      ++mHalfLayers;
      logMessage(mCtx.logger, Severity::kVERBOSE, "optimizer", n.describe() + " runs in float16");
    } else {
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        if (!isF32(n.inputs[i])) continue;
        KILN_ASSIGN_OR_RETURN(n.inputs[i], versionOf(n.inputs[i], DataType::kFLOAT));
      }
      if (anyFloat) {
        ++mFloatLayers;
        auto& entry = mKeptFloat[{ir::opName(n.op), reason}];
        ++entry;
      }
    }
    return fixOutputs(n);
  }

  // Re-infers the node's outputs; a network output whose type changed is renamed and a Cast
  // back to its original type takes its name (and its place in the output list).
  Status fixOutputs(ir::Node& n) {
    KILN_RETURN_IF_ERROR(ir::inferNodeInPlace(mG, n, mScratch));
    for (ir::Value* o : n.outputs) {
      if (!o->isGraphOutput || o->dtype == origType(o)) continue;
      const DataType want = origType(o);
      const std::string name = o->name;
      o->name = mG.uniqueName(name + (o->dtype == DataType::kHALF ? "_fp16" : "_converted"));
      ir::Node* cast = addCast(o, want, name + "_cast");
      ir::Value* out = cast->outputs[0];
      mG.replaceAllUses(o, out);  // the network output and later readers ...
      cast->inputs[0] = o;        // ... but not the cast itself
      out->name = name;
      KILN_RETURN_IF_ERROR(ir::inferNodeInPlace(mG, *cast, mScratch));
      mCastOf[{out->id, o->dtype}] = o;
      mCastOf[{o->id, want}] = out;
    }
    return Status::ok();
  }

  ir::Node* addCast(ir::Value* v, DataType to, const std::string& base) {
    ir::Attributes a;
    a.setInt("to", static_cast<int64_t>(to));
    ++mCasts;
    return mG.addNode(OpKind::kCast, mG.uniqueName(base), {v}, std::move(a));
  }

  // `v` (float32 originally) as a value of type `to`: itself, a float16 copy of a constant, or
  // the output of a (shared) Cast.
  StatusOr<ir::Value*> versionOf(ir::Value* v, DataType to) {
    if (v->dtype == to) return v;
    if (v->isConstant() && to == DataType::kHALF && v->dtype == DataType::kFLOAT)
      return halfConstant(v);
    auto it = mCastOf.find({v->id, to});
    if (it != mCastOf.end()) return it->second;
    ir::Node* cast = addCast(v, to, v->name + (to == DataType::kHALF ? "_to_fp16" : "_to_fp32"));
    KILN_RETURN_IF_ERROR(ir::inferNodeInPlace(mG, *cast, mScratch));
    mCastOf[{v->id, to}] = cast->outputs[0];
    return cast->outputs[0];
  }

  ir::Value* halfConstant(ir::Value* c) {
    auto it = mHalfConst.find(c->id);
    if (it != mHalfConst.end()) return it->second;
    const ir::TensorData& src = *c->constant;
    auto t = std::make_shared<ir::TensorData>(DataType::kHALF, src.dims());
    const float* in = src.as<float>();
    Half* out = t->as<Half>();
    int64_t overflow = 0, flushed = 0;
    for (int64_t i = 0; i < src.numel(); ++i) {
      out[i] = Half(in[i]);
      const float back = out[i];
      if (std::isfinite(in[i]) && std::isinf(back)) ++overflow;
      if (in[i] != 0.f && back == 0.f) ++flushed;
    }
    if (overflow > 0)
      logMessage(
          mCtx.logger, Severity::kWARNING, "optimizer",
          strFormat(
              "constant '%s': %lld of %lld values exceed float16's range (+-65504) and become inf",
              c->name.c_str(), static_cast<long long>(overflow),
              static_cast<long long>(src.numel())));
    if (flushed > 0)
      logMessage(mCtx.logger, Severity::kVERBOSE, "optimizer",
                 strFormat("constant '%s': %lld nonzero values are below float16's smallest "
                           "subnormal and become 0",
                           c->name.c_str(), static_cast<long long>(flushed)));
    ir::Value* h = mG.addConstant(mG.uniqueName(c->name + "_fp16"), std::move(t));
    mHalfConst[c->id] = h;
    ++mHalfConstants;
    return h;
  }

  void logSummary() const {
    logMessage(mCtx.logger, Severity::kINFO, "optimizer",
               strFormat("fp16: %d layers run in float16, %d stay in float32; %d casts inserted, "
                         "%d constants converted to float16",
                         mHalfLayers, mFloatLayers, mCasts, mHalfConstants));
    for (const auto& [key, count] : mKeptFloat)
      logMessage(mCtx.logger, Severity::kINFO, "optimizer",
                 strFormat("fp16: %s (%d layer%s): kept in float32 (%s)", key.first.c_str(), count,
                           count == 1 ? "" : "s", key.second.c_str()));
  }

  ir::Graph& mG;
  PassContext& mCtx;
  ir::ShapeTable mScratch;
  std::vector<DataType> mOrigType;  // by value id, before the pass
  std::map<std::pair<int, DataType>, ir::Value*> mCastOf;
  std::unordered_map<int, ir::Value*> mHalfConst;
  std::map<std::pair<std::string, std::string>, int> mKeptFloat;  // (op, reason) -> layers
  int mHalfLayers = 0, mFloatLayers = 0, mCasts = 0, mHalfConstants = 0;
};

}  // namespace

StatusOr<bool> fp16PrecisionPass(ir::Graph& g, PassContext& ctx) {
  if (!ctx.fp16) return false;
  Fp16Converter conv(g, ctx);
  KILN_RETURN_IF_ERROR(conv.run());
  return conv.changed();
}

}  // namespace kiln::opt
