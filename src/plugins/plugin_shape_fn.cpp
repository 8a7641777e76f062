// Shape and type inference for plugin layers: asks the plugin.
//
// Input dims are handed to the plugin as kiln::SymDim: constants stay plain numbers, symbolic
// dims become handles onto ir::DimExprs held by a SymDimBuilderImpl for the duration of the
// call. The plugin combines them with + - * floorDiv ceilDiv dimMax dimMin; each combination
// is an ir::DimExpr (simplified on construction), and the handles the plugin returns are mapped
// back. At run time every input dim is a constant, so the same plugin code runs entirely on
// constants.
#include <optional>

#include "ir/shape_inference.h"
#include "plugins/plugin_node.h"

namespace kiln::plugins {

namespace {

class SymDimBuilderImpl final : public SymDimBuilder {
 public:
  ~SymDimBuilderImpl() = default;

  SymDim wrap(const ir::DimExpr& e) {
    if (e.isConst()) return SymDim(e.constValue());
    mExprs.push_back(e);
    return makeExpr(this, static_cast<int64_t>(mExprs.size()) - 1);
  }

  // The expression behind `d`; nullopt for invalid dims or handles of another builder.
  std::optional<ir::DimExpr> unwrap(const SymDim& d) const {
    if (!d.isValid()) return std::nullopt;
    if (d.isConstant()) return ir::DimExpr(d.constantValue());
    if (!isExpr(d) || builderOf(d) != this) return std::nullopt;
    int64_t h = handleOf(d);
    if (h < 0 || h >= static_cast<int64_t>(mExprs.size())) return std::nullopt;
    return mExprs[static_cast<size_t>(h)];
  }

  SymDim combine(SymDim::Op op, const SymDim& a, const SymDim& b) override {
    std::optional<ir::DimExpr> x = unwrap(a), y = unwrap(b);
    if (!x || !y) return invalidDim();
    bool divByZero = y->isConst() && y->constValue() == 0;
    switch (op) {
      case SymDim::Op::kAdd: return wrap(*x + *y);
      case SymDim::Op::kSub: return wrap(*x - *y);
      case SymDim::Op::kMul: return wrap(*x * *y);
      case SymDim::Op::kFloorDiv: return divByZero ? invalidDim() : wrap(ir::floorDiv(*x, *y));
      case SymDim::Op::kCeilDiv: return divByZero ? invalidDim() : wrap(ir::ceilDiv(*x, *y));
      case SymDim::Op::kMax: return wrap(ir::dimMax(*x, *y));
      case SymDim::Op::kMin: return wrap(ir::dimMin(*x, *y));
    }
    return invalidDim();
  }

 private:
  std::vector<ir::DimExpr> mExprs;
};

std::vector<int64_t> knownDims(const ir::Shape& s) {
  std::vector<int64_t> d;
  for (const ir::DimExpr& e : s) d.push_back(e.isConst() ? e.constValue() : -1);
  return d;
}

Status inferPlugin(ir::InferContext& ctx) {
  const ir::Node& node = ctx.node();
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<const Plugin> plugin, queryPluginForNode(node));
  const Plugin& p = *plugin;
  const size_t nIn = ctx.numInputs();
  for (size_t i = 0; i < nIn; ++i)
    if (!ctx.hasInput(i))
      return ctx.error("input %zu is absent; plugin layers take only present inputs (drop "
                       "trailing optional inputs instead)",
                       i);
  int32_t nOut = 0;
  KILN_RETURN_IF_ERROR(guardedCall(node, "getNbOutputs", [&] {
    nOut = p.getNbOutputs();
    return PluginStatus::success();
  }));
  if (nOut < 0 || static_cast<size_t>(nOut) != ctx.numOutputs())
    return pluginError(node, "getNbOutputs",
                       strFormat("returns %d, but the layer has %zu outputs", nOut, ctx.numOutputs()));

  std::vector<DataType> inTypes;
  for (size_t i = 0; i < nIn; ++i) inTypes.push_back(ctx.inType(i));
  std::vector<DataType> outTypes(static_cast<size_t>(nOut), DataType::kFLOAT);
  KILN_RETURN_IF_ERROR(guardedCall(node, "getOutputDataTypes", [&] {
    return p.getOutputDataTypes(inTypes, outTypes);
  }));

  SymDimBuilderImpl builder;
  std::vector<SymShape> inShapes(nIn);
  for (size_t i = 0; i < nIn; ++i)
    for (const ir::DimExpr& d : ctx.inShape(i)) inShapes[i].push_back(builder.wrap(d));
  std::vector<SymShape> outShapes(static_cast<size_t>(nOut));
  KILN_RETURN_IF_ERROR(guardedCall(node, "getOutputShapes", [&] {
    return p.getOutputShapes(inShapes, outShapes);
  }));
  std::vector<ir::Shape> shapes(static_cast<size_t>(nOut));
  for (size_t o = 0; o < outShapes.size(); ++o) {
    if (outShapes[o].size() > static_cast<size_t>(Dims::kMaxDims))
      return pluginError(node, "getOutputShapes",
                         strFormat("output %zu has rank %zu; Kiln supports up to %d dimensions", o,
                                   outShapes[o].size(), Dims::kMaxDims));
    for (size_t k = 0; k < outShapes[o].size(); ++k) {
      std::optional<ir::DimExpr> e = builder.unwrap(outShapes[o][k]);
      if (!e)
        return pluginError(node, "getOutputShapes",
                           strFormat("dimension %zu of output %zu is invalid (a division by a "
                                     "constant 0, or a SymDim kept from another call)",
                                     k, o));
      shapes[o].push_back(*e);
    }
  }

  // Type/format negotiation: the CPU backend runs every layer in the types the graph has, so
  // each position must accept its type in linear format.
  std::vector<PluginTensorDesc> io;
  for (size_t i = 0; i < nIn; ++i)
    io.push_back({inTypes[i], TensorFormat::kLINEAR, knownDims(ctx.inShape(i))});
  for (size_t o = 0; o < static_cast<size_t>(nOut); ++o)
    io.push_back({outTypes[o], TensorFormat::kLINEAR, knownDims(shapes[o])});
  for (size_t pos = 0; pos < io.size(); ++pos) {
    bool ok = false;
    KILN_RETURN_IF_ERROR(guardedCall(node, "supportsFormatCombination", [&] {
      ok = p.supportsFormatCombination(static_cast<int32_t>(pos), io, static_cast<int32_t>(nIn));
      return PluginStatus::success();
    }));
    if (!ok) {
      std::string where = pos < nIn ? strFormat("input %zu", pos) : strFormat("output %zu", pos - nIn);
      return pluginError(node, "supportsFormatCombination",
                         strFormat("the plugin does not accept %s for %s (linear format)",
                                   dataTypeName(io[pos].type), where.c_str()));
    }
  }
  for (size_t o = 0; o < static_cast<size_t>(nOut); ++o) ctx.setOutput(o, outTypes[o], shapes[o]);
  return Status::ok();
}

}  // namespace

}  // namespace kiln::plugins

namespace kiln::ir {

void registerPluginShapeFns(ShapeFnTable& t) {
  t[static_cast<size_t>(OpKind::kPlugin)] = plugins::inferPlugin;
}

}  // namespace kiln::ir
