#include <gtest/gtest.h>

#include "ir/dim_expr.h"

namespace kiln::ir {
namespace {

TEST(DimExpr, ConstantsFold) {
  DimExpr a(6), b(4);
  EXPECT_EQ((a + b).constValue(), 10);
  EXPECT_EQ((a - b).constValue(), 2);
  EXPECT_EQ((a * b).constValue(), 24);
  EXPECT_EQ(floorDiv(DimExpr(-7), DimExpr(2)).constValue(), -4);  // python semantics
  EXPECT_EQ(ceilDiv(DimExpr(7), DimExpr(2)).constValue(), 4);
  EXPECT_EQ((DimExpr(-7) % DimExpr(3)).constValue(), 2);
  EXPECT_EQ(dimMax(a, b).constValue(), 6);
  EXPECT_EQ(dimMin(a, b).constValue(), 4);
}

TEST(DimExpr, SymbolsSimplifyAndSubstitute) {
  DimExpr n = DimExpr::symbol("batch");
  EXPECT_TRUE((n + 0).equals(n));
  EXPECT_TRUE((n * 1).equals(n));
  EXPECT_TRUE((n * 0).isConst());
  EXPECT_TRUE(floorDiv(n * 3, DimExpr(3)).equals(n));
  EXPECT_TRUE((n * 3).equals(DimExpr(3) * n));  // commutative equality
  DimExpr e = floorDiv(n + 2 - 3, DimExpr(2)) + 1;
  EXPECT_FALSE(e.isConst());
  DimExpr v = e.substitute({{"batch", 9}});
  ASSERT_TRUE(v.isConst());
  EXPECT_EQ(v.constValue(), 5);  // (9+2-3)//2+1
  std::vector<std::string> syms;
  e.collectSymbols(&syms);
  EXPECT_EQ(syms, std::vector<std::string>{"batch"});
  EXPECT_EQ(n.toString(), "batch");
}

}  // namespace
}  // namespace kiln::ir
