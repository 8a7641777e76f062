#include "ir/dim_expr.h"

#include <algorithm>
#include <cstdint>

#include "common/status.h"

namespace kiln::ir {

struct DimExpr::Node {
  Kind kind = Kind::kConst;
  int64_t value = 0;
  std::string name;
  std::shared_ptr<const Node> a, b;  // operands of binary kinds; null otherwise
};

namespace {

// Floor division and modulo with Python's sign convention (shape arithmetic never divides by 0:
// callers check the divisor first).
int64_t floorDivInt(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
int64_t modInt(int64_t a, int64_t b) { return a - floorDivInt(a, b) * b; }

// Shape arithmetic saturates instead of overflowing (signed overflow is UB): a saturated dim is
// absurdly large, and the size checks downstream (allocation limits, shape validation) report
// it as an error.
int64_t saturate(bool overflow, int64_t value, bool positive) {
  if (!overflow) return value;
  return positive ? INT64_MAX : INT64_MIN;
}
int64_t addSat(int64_t x, int64_t y) {
  int64_t r;
  bool o = __builtin_add_overflow(x, y, &r);
  return saturate(o, r, y > 0);
}
int64_t subSat(int64_t x, int64_t y) {
  int64_t r;
  bool o = __builtin_sub_overflow(x, y, &r);
  return saturate(o, r, y < 0);
}
int64_t mulSat(int64_t x, int64_t y) {
  int64_t r;
  bool o = __builtin_mul_overflow(x, y, &r);
  return saturate(o, r, (x < 0) == (y < 0));
}

}  // namespace

DimExpr::DimExpr(int64_t value) {
  auto n = std::make_shared<Node>();
  n->kind = Kind::kConst;
  n->value = value;
  mNode = std::move(n);
}

DimExpr DimExpr::symbol(const std::string& name) {
  auto n = std::make_shared<Node>();
  n->kind = Kind::kSymbol;
  n->name = name;
  return DimExpr(std::shared_ptr<const Node>(std::move(n)));
}

DimExpr::Kind DimExpr::kind() const { return mNode->kind; }
int64_t DimExpr::constValue() const { return mNode->value; }
const std::string& DimExpr::symbolName() const { return mNode->name; }
DimExpr DimExpr::lhs() const { return DimExpr(mNode->a); }
DimExpr DimExpr::rhs() const { return DimExpr(mNode->b); }

DimExpr DimExpr::make(Kind k, const DimExpr& a, const DimExpr& b) {
  if (a.isConst() && b.isConst()) {
    int64_t x = a.constValue(), y = b.constValue();
    switch (k) {
      case Kind::kAdd: return DimExpr(addSat(x, y));
      case Kind::kSub: return DimExpr(subSat(x, y));
      case Kind::kMul: return DimExpr(mulSat(x, y));
      case Kind::kFloorDiv:
        if (y != 0 && !(x == INT64_MIN && y == -1)) return DimExpr(floorDivInt(x, y));
        break;
      case Kind::kCeilDiv:
        if (y != 0 && x != INT64_MIN && !(x == INT64_MIN && y == -1)) return DimExpr(-floorDivInt(-x, y));
        break;
      case Kind::kMod:
        if (y != 0 && y != -1) return DimExpr(modInt(x, y));
        if (y == -1) return DimExpr(int64_t{0});
        break;
      case Kind::kMax: return DimExpr(std::max(x, y));
      case Kind::kMin: return DimExpr(std::min(x, y));
      case Kind::kConst:
      case Kind::kSymbol: break;
    }
  }
  // Neutral and absorbing elements.
  auto isC = [](const DimExpr& e, int64_t v) { return e.isConst() && e.constValue() == v; };
  switch (k) {
    case Kind::kAdd:
      if (isC(a, 0)) return b;
      if (isC(b, 0)) return a;
      break;
    case Kind::kSub:
      if (isC(b, 0)) return a;
      if (a.equals(b)) return DimExpr(int64_t{0});
      // (x + y) - y -> x
      if (a.kind() == Kind::kAdd && a.rhs().equals(b)) return a.lhs();
      if (a.kind() == Kind::kAdd && a.lhs().equals(b)) return a.rhs();
      break;
    case Kind::kMul:
      if (isC(a, 1)) return b;
      if (isC(b, 1)) return a;
      if (isC(a, 0) || isC(b, 0)) return DimExpr(int64_t{0});
      break;
    case Kind::kFloorDiv:
    case Kind::kCeilDiv:
      if (isC(b, 1)) return a;
      if (a.equals(b)) return DimExpr(int64_t{1});
      // (x * y) / y -> x and (y * x) / y -> x
      if (a.kind() == Kind::kMul && a.rhs().equals(b)) return a.lhs();
      if (a.kind() == Kind::kMul && a.lhs().equals(b)) return a.rhs();
      break;
    case Kind::kMod:
      if (isC(b, 1)) return DimExpr(int64_t{0});
      break;
    case Kind::kMax:
    case Kind::kMin:
      if (a.equals(b)) return a;
      break;
    case Kind::kConst:
    case Kind::kSymbol: break;
  }
  auto n = std::make_shared<Node>();
  n->kind = k;
  n->a = a.mNode;
  n->b = b.mNode;
  return DimExpr(std::shared_ptr<const Node>(std::move(n)));
}

DimExpr operator+(const DimExpr& a, const DimExpr& b) { return DimExpr::make(DimExpr::Kind::kAdd, a, b); }
DimExpr operator-(const DimExpr& a, const DimExpr& b) { return DimExpr::make(DimExpr::Kind::kSub, a, b); }
DimExpr operator*(const DimExpr& a, const DimExpr& b) { return DimExpr::make(DimExpr::Kind::kMul, a, b); }
DimExpr floorDiv(const DimExpr& a, const DimExpr& b) { return DimExpr::make(DimExpr::Kind::kFloorDiv, a, b); }
DimExpr ceilDiv(const DimExpr& a, const DimExpr& b) { return DimExpr::make(DimExpr::Kind::kCeilDiv, a, b); }
DimExpr operator%(const DimExpr& a, const DimExpr& b) { return DimExpr::make(DimExpr::Kind::kMod, a, b); }
DimExpr dimMax(const DimExpr& a, const DimExpr& b) { return DimExpr::make(DimExpr::Kind::kMax, a, b); }
DimExpr dimMin(const DimExpr& a, const DimExpr& b) { return DimExpr::make(DimExpr::Kind::kMin, a, b); }

bool DimExpr::equals(const DimExpr& o) const {
  if (mNode == o.mNode) return true;
  if (kind() != o.kind()) return false;
  switch (kind()) {
    case Kind::kConst: return constValue() == o.constValue();
    case Kind::kSymbol: return symbolName() == o.symbolName();
    default: break;
  }
  bool same = lhs().equals(o.lhs()) && rhs().equals(o.rhs());
  if (same) return true;
  bool commutative = kind() == Kind::kAdd || kind() == Kind::kMul || kind() == Kind::kMax ||
                     kind() == Kind::kMin;
  return commutative && lhs().equals(o.rhs()) && rhs().equals(o.lhs());
}

std::string DimExpr::toString() const {
  switch (kind()) {
    case Kind::kConst: return std::to_string(constValue());
    case Kind::kSymbol: return symbolName();
    case Kind::kAdd: return "(" + lhs().toString() + "+" + rhs().toString() + ")";
    case Kind::kSub: return "(" + lhs().toString() + "-" + rhs().toString() + ")";
    case Kind::kMul: return lhs().toString() + "*" + rhs().toString();
    case Kind::kFloorDiv: return "floordiv(" + lhs().toString() + "," + rhs().toString() + ")";
    case Kind::kCeilDiv: return "ceildiv(" + lhs().toString() + "," + rhs().toString() + ")";
    case Kind::kMod: return "mod(" + lhs().toString() + "," + rhs().toString() + ")";
    case Kind::kMax: return "max(" + lhs().toString() + "," + rhs().toString() + ")";
    case Kind::kMin: return "min(" + lhs().toString() + "," + rhs().toString() + ")";
  }
  return "?";
}

DimExpr DimExpr::substitute(const std::map<std::string, int64_t>& values) const {
  switch (kind()) {
    case Kind::kConst: return *this;
    case Kind::kSymbol: {
      auto it = values.find(symbolName());
      return it == values.end() ? *this : DimExpr(it->second);
    }
    default: return make(kind(), lhs().substitute(values), rhs().substitute(values));
  }
}

void DimExpr::collectSymbols(std::vector<std::string>* out) const {
  switch (kind()) {
    case Kind::kConst: return;
    case Kind::kSymbol:
      if (std::find(out->begin(), out->end(), symbolName()) == out->end()) out->push_back(symbolName());
      return;
    default:
      lhs().collectSymbols(out);
      rhs().collectSymbols(out);
  }
}

std::string shapeToString(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ",";
    out += s[i].toString();
  }
  return out + "]";
}

bool shapesEqual(const Shape& a, const Shape& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!a[i].equals(b[i])) return false;
  return true;
}

bool isStatic(const Shape& s) {
  return std::all_of(s.begin(), s.end(), [](const DimExpr& d) { return d.isConst(); });
}

std::vector<int64_t> staticDims(const Shape& s) {
  std::vector<int64_t> out;
  out.reserve(s.size());
  for (const auto& d : s) {
    KILN_CHECK(d.isConst());
    out.push_back(d.constValue());
  }
  return out;
}

Shape shapeFromDims(const std::vector<int64_t>& dims) { return Shape(dims.begin(), dims.end()); }

DimExpr shapeVolume(const Shape& s) {
  DimExpr v(int64_t{1});
  for (const auto& d : s) v = v * d;
  return v;
}

}  // namespace kiln::ir
