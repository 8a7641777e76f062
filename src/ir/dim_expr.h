// Symbolic dimensions.
//
// A DimExpr is a constant or an expression over named symbols ("batch", "seq"):
//   e ::= c | sym | e + e | e - e | e * e | floordiv(e, e) | ceildiv(e, e) | e % e | max | min
// Shape inference works on DimExprs at build time; at run time the context re-runs it with every
// input dimension bound to a constant, so every expression folds to a number. Expressions are
// immutable and shared; constructors fold constants and the neutral elements (x+0, x*1, x*0,
// x/1) so static shapes stay plain numbers.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kiln::ir {

class DimExpr {
 public:
  enum class Kind : uint8_t { kConst, kSymbol, kAdd, kSub, kMul, kFloorDiv, kCeilDiv, kMod, kMax, kMin };

  DimExpr() : DimExpr(int64_t{0}) {}
  DimExpr(int64_t value);  // NOLINT(google-explicit-constructor): constants convert freely
  DimExpr(int value) : DimExpr(static_cast<int64_t>(value)) {}  // NOLINT
  static DimExpr symbol(const std::string& name);

  Kind kind() const;
  bool isConst() const { return kind() == Kind::kConst; }
  int64_t constValue() const;  // valid when isConst()
  const std::string& symbolName() const;  // valid when kind() == kSymbol
  DimExpr lhs() const;  // operands of binary kinds
  DimExpr rhs() const;

  // Structural equality after simplification.
  bool equals(const DimExpr& other) const;
  // Readable form: "batch*3", "floordiv(H+2,2)".
  std::string toString() const;
  // Replaces symbols by values; returns the folded result (constant when all symbols are bound).
  DimExpr substitute(const std::map<std::string, int64_t>& values) const;
  // Collects the symbol names used.
  void collectSymbols(std::vector<std::string>* out) const;

  friend DimExpr operator+(const DimExpr& a, const DimExpr& b);
  friend DimExpr operator-(const DimExpr& a, const DimExpr& b);
  friend DimExpr operator*(const DimExpr& a, const DimExpr& b);
  friend DimExpr floorDiv(const DimExpr& a, const DimExpr& b);
  friend DimExpr ceilDiv(const DimExpr& a, const DimExpr& b);
  friend DimExpr operator%(const DimExpr& a, const DimExpr& b);
  friend DimExpr dimMax(const DimExpr& a, const DimExpr& b);
  friend DimExpr dimMin(const DimExpr& a, const DimExpr& b);

 private:
  struct Node;
  explicit DimExpr(std::shared_ptr<const Node> node) : mNode(std::move(node)) {}
  static DimExpr make(Kind k, const DimExpr& a, const DimExpr& b);
  std::shared_ptr<const Node> mNode;
};

DimExpr floorDiv(const DimExpr& a, const DimExpr& b);
DimExpr ceilDiv(const DimExpr& a, const DimExpr& b);
DimExpr dimMax(const DimExpr& a, const DimExpr& b);
DimExpr dimMin(const DimExpr& a, const DimExpr& b);

using Shape = std::vector<DimExpr>;

// "[batch,3,224,224]"
std::string shapeToString(const Shape& s);
bool shapesEqual(const Shape& a, const Shape& b);
// True when every dim is constant.
bool isStatic(const Shape& s);
// Constant dims (caller ensures isStatic).
std::vector<int64_t> staticDims(const Shape& s);
Shape shapeFromDims(const std::vector<int64_t>& dims);
// Product of all dims as an expression.
DimExpr shapeVolume(const Shape& s);

}  // namespace kiln::ir
