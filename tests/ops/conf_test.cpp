// Conformance-breadth ops (helper H8): BitCast and TfIdfVectorizer. BitCast against hand-computed
// bit patterns (IEEE-754 encodings written out by hand); TfIdfVectorizer against n-gram counts
// worked out by hand below (and confirmed offline with onnx.reference); plus error cases.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "ir/tensor_data.h"
#include "op_test_util.h"

namespace kiln::test {
namespace {

using ir::OpKind;
using ir::TensorData;
using Dims = std::vector<int64_t>;

void expectErrorContains(const StatusOr<OpResult>& r, const std::string& text) {
  ASSERT_FALSE(r.isOk()) << "expected an error containing: " << text;
  EXPECT_NE(r.status().message().find(text), std::string::npos) << r.status().message();
}

ir::Attributes toAttr(DataType t) {
  ir::Attributes a;
  a.setInt("to", static_cast<int64_t>(t));
  return a;
}

template <typename T>
std::shared_ptr<TensorData> makeTyped(DataType t, const Dims& dims, const std::vector<T>& v) {
  auto d = std::make_shared<TensorData>(t, dims);
  std::memcpy(d->data(), v.data(), v.size() * sizeof(T));
  return d;
}

template <typename T>
std::vector<T> valuesOf(const TensorData& t) {
  std::vector<T> v(static_cast<size_t>(t.numel()));
  std::memcpy(v.data(), t.data(), v.size() * sizeof(T));
  return v;
}

TEST(ConfBitCast, Float32ToInt32AndBack) {
  // 1.0f = 0x3f800000, -2.0f = 0xc0000000, 0.5f = 0x3f000000, -0.0f = 0x80000000.
  auto x = makeFloat({2, 2}, {1.0f, -2.0f, 0.5f, -0.0f});
  auto r = runOp(OpKind::kBitCast, toAttr(DataType::kINT32), {OpInput::value(x)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->at(0).dtype(), DataType::kINT32);
  EXPECT_EQ(r->at(0).dims(), (Dims{2, 2}));
  EXPECT_EQ(valuesOf<int32_t>(r->at(0)),
            (std::vector<int32_t>{0x3f800000, static_cast<int32_t>(0xc0000000u), 0x3f000000,
                                  static_cast<int32_t>(0x80000000u)}));
  auto back = runOp(OpKind::kBitCast, toAttr(DataType::kFLOAT),
                    {OpInput::value(makeInt32({2}, {0x40490fdb, 0x7f800000}))});
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  const std::vector<float> f = valuesOf<float>(back->at(0));
  EXPECT_EQ(f[0], 3.14159274101257324219f);  // float32 pi
  EXPECT_TRUE(std::isinf(f[1]) && f[1] > 0);
}

TEST(ConfBitCast, DoubleToInt64AndSixteenBit) {
  // 1.0 = 0x3ff0000000000000, -1.5 = 0xbff8000000000000.
  auto d = makeTyped<double>(DataType::kDOUBLE, {2}, {1.0, -1.5});
  auto r = runOp(OpKind::kBitCast, toAttr(DataType::kINT64), {OpInput::value(d)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(
      valuesOf<int64_t>(r->at(0)),
      (std::vector<int64_t>{0x3ff0000000000000LL, static_cast<int64_t>(0xbff8000000000000ULL)}));
  // uint16 0xffff -> int16 -1; 0x8000 -> -32768; float16 bits of 1.0 = 0x3c00.
  auto u = makeTyped<uint16_t>(DataType::kUINT16, {3}, {0xffff, 0x8000, 0x3c00});
  auto s = runOp(OpKind::kBitCast, toAttr(DataType::kINT16), {OpInput::value(u)});
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  EXPECT_EQ(valuesOf<int16_t>(s->at(0)), (std::vector<int16_t>{-1, -32768, 0x3c00}));
  auto h = runOp(OpKind::kBitCast, toAttr(DataType::kHALF), {OpInput::value(u)});
  ASSERT_TRUE(h.isOk()) << h.status().toString();
  EXPECT_EQ(toDoubles(h->at(0))[2], 1.0);
}

TEST(ConfBitCast, ByteTypesAndBool) {
  auto i8 = makeTyped<int8_t>(DataType::kINT8, {3}, {-1, -128, 5});
  auto r = runOp(OpKind::kBitCast, toAttr(DataType::kUINT8), {OpInput::value(i8)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(valuesOf<uint8_t>(r->at(0)), (std::vector<uint8_t>{255, 128, 5}));
  auto b = runOp(OpKind::kBitCast, toAttr(DataType::kUINT8),
                 {OpInput::value(makeBool({3}, {true, false, true}))});
  ASSERT_TRUE(b.isOk()) << b.status().toString();
  EXPECT_EQ(valuesOf<uint8_t>(b->at(0)), (std::vector<uint8_t>{1, 0, 1}));
  // uint8 -> bool: Kiln's bools are 0/1, so a nonzero byte reads as true.
  auto u8 = makeTyped<uint8_t>(DataType::kUINT8, {3}, {0, 1, 7});
  auto tb = runOp(OpKind::kBitCast, toAttr(DataType::kBOOL), {OpInput::value(u8)});
  ASSERT_TRUE(tb.isOk()) << tb.status().toString();
  EXPECT_EQ(valuesOf<uint8_t>(tb->at(0)), (std::vector<uint8_t>{0, 1, 1}));
  // uint8 -> float8e4m3fn keeps the code: 0x38 is 1.0.
  auto f8 = runOp(OpKind::kBitCast, toAttr(DataType::kFP8E4M3FN),
                  {OpInput::value(makeTyped<uint8_t>(DataType::kUINT8, {1}, {0x38}))});
  ASSERT_TRUE(f8.isOk()) << f8.status().toString();
  EXPECT_EQ(valuesOf<uint8_t>(f8->at(0))[0], 0x38);
}

TEST(ConfBitCast, SubByteTypes) {
  // uint4 15 = 0b1111 -> int4 -1; uint4 8 -> int4 -8; 7 -> 7. int4 -1 -> float4 code 0xf (-6).
  auto u4 = makeTyped<uint8_t>(DataType::kUINT4, {3}, {15, 8, 7});
  auto r = runOp(OpKind::kBitCast, toAttr(DataType::kINT4), {OpInput::value(u4)});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(valuesOf<int8_t>(r->at(0)), (std::vector<int8_t>{-1, -8, 7}));
  auto i4 = makeTyped<int8_t>(DataType::kINT4, {2}, {-1, 3});
  auto f4 = runOp(OpKind::kBitCast, toAttr(DataType::kFP4E2M1), {OpInput::value(i4)});
  ASSERT_TRUE(f4.isOk()) << f4.status().toString();
  EXPECT_EQ(valuesOf<uint8_t>(f4->at(0)), (std::vector<uint8_t>{0x0f, 0x03}));
  auto back = runOp(OpKind::kBitCast, toAttr(DataType::kUINT4), {OpInput::value(i4)});
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  EXPECT_EQ(valuesOf<uint8_t>(back->at(0)), (std::vector<uint8_t>{15, 3}));
  // int2 -2 = 0b10 -> uint2 2.
  auto i2 = makeTyped<int8_t>(DataType::kINT2, {2}, {-2, 1});
  auto u2 = runOp(OpKind::kBitCast, toAttr(DataType::kUINT2), {OpInput::value(i2)});
  ASSERT_TRUE(u2.isOk()) << u2.status().toString();
  EXPECT_EQ(valuesOf<uint8_t>(u2->at(0)), (std::vector<uint8_t>{2, 1}));
}

TEST(ConfBitCast, Errors) {
  auto x = makeFloat({2}, {1.0f, 2.0f});
  expectErrorContains(runOp(OpKind::kBitCast, toAttr(DataType::kINT64), {OpInput::value(x)}),
                      "bit widths must be equal");
  expectErrorContains(runOp(OpKind::kBitCast, toAttr(DataType::kUINT8),
                            {OpInput::value(makeTyped<uint8_t>(DataType::kUINT4, {1}, {1}))}),
                      "bit widths must be equal");
  expectErrorContains(runOp(OpKind::kBitCast, {}, {OpInput::value(x)}), "'to'");
  ir::Attributes bad;
  bad.setInt("to", 99);
  expectErrorContains(runOp(OpKind::kBitCast, bad, {OpInput::value(x)}), "not a Kiln data type");
}

// --- TfIdfVectorizer
// ------------------------------------------------------------------------------ Pool: unigrams
// {1}, {3} (columns 0, 1); bigrams {1,2}, {2,3}, {1,3} (columns 2, 3, 4). X = [1, 2, 3, 1, 2]:
// unigram 1 twice, 3 once; adjacent bigrams (1,2) (2,3) (3,1) (1,2) give {1,2} x2, {2,3} x1; with
// max_skip_count=1 the distance-2 bigrams (1,3) (2,1) (3,2) add {1,3} x1. Unigrams count once
// whatever the skip.
ir::Attributes tfidfAttrs(const std::string& mode, int64_t minGram, int64_t maxGram, int64_t skip,
                          const std::vector<float>& weights = {}) {
  ir::Attributes a;
  a.setString("mode", mode);
  a.setInt("min_gram_length", minGram);
  a.setInt("max_gram_length", maxGram);
  a.setInt("max_skip_count", skip);
  a.setInts("ngram_counts", {0, 2});
  a.setInts("ngram_indexes", {0, 1, 2, 3, 4});
  a.setInts("pool_int64s", {1, 3, 1, 2, 2, 3, 1, 3});
  if (!weights.empty()) a.setFloats("weights", weights);
  return a;
}

std::vector<float> runTfIdf(const ir::Attributes& a, std::shared_ptr<TensorData> x,
                            Dims expectDims) {
  auto r = runOp(OpKind::kTfIdfVectorizer, a, {OpInput::value(std::move(x))});
  EXPECT_TRUE(r.isOk()) << r.status().toString();
  if (!r.isOk()) return {};
  EXPECT_EQ(r->at(0).dtype(), DataType::kFLOAT);
  EXPECT_EQ(r->at(0).dims(), expectDims);
  return valuesOf<float>(r->at(0));
}

TEST(ConfTfIdfVectorizer, CountsUnigramsBigramsAndSkips) {
  auto x = makeInt64({5}, {1, 2, 3, 1, 2});
  EXPECT_EQ(runTfIdf(tfidfAttrs("TF", 1, 2, 0), x, {5}), (std::vector<float>{2, 1, 2, 1, 0}));
  EXPECT_EQ(runTfIdf(tfidfAttrs("TF", 1, 2, 1), x, {5}), (std::vector<float>{2, 1, 2, 1, 1}));
  // Bigrams only.
  EXPECT_EQ(runTfIdf(tfidfAttrs("TF", 2, 2, 1), x, {5}), (std::vector<float>{0, 0, 2, 1, 1}));
  // Unigrams only: skips change nothing.
  EXPECT_EQ(runTfIdf(tfidfAttrs("TF", 1, 1, 3), x, {5}), (std::vector<float>{2, 1, 0, 0, 0}));
}

TEST(ConfTfIdfVectorizer, WeightingModesAndBatches) {
  auto x = makeInt64({5}, {1, 2, 3, 1, 2});
  const std::vector<float> w{0.5f, 1, 2, 3, 4};
  EXPECT_EQ(runTfIdf(tfidfAttrs("TFIDF", 1, 2, 1, w), x, {5}), (std::vector<float>{1, 1, 4, 3, 4}));
  EXPECT_EQ(runTfIdf(tfidfAttrs("IDF", 1, 2, 0, w), x, {5}),
            (std::vector<float>{0.5f, 1, 2, 3, 0}));
  EXPECT_EQ(runTfIdf(tfidfAttrs("IDF", 1, 2, 1), x, {5}), (std::vector<float>{1, 1, 1, 1, 1}));
  // Two rows (int32 input): rows are counted separately.
  auto b = std::make_shared<TensorData>(DataType::kINT32, Dims{2, 5});
  const int32_t bv[10] = {1, 2, 3, 1, 2, 3, 3, 0, 0, 0};
  std::memcpy(b->data(), bv, sizeof(bv));
  EXPECT_EQ(runTfIdf(tfidfAttrs("TF", 1, 2, 1), b, {2, 5}),
            (std::vector<float>{2, 1, 2, 1, 1, 0, 2, 0, 0, 0}));
}

TEST(ConfTfIdfVectorizer, Errors) {
  auto x = makeInt64({5}, {1, 2, 3, 1, 2});
  expectErrorContains(
      runOp(OpKind::kTfIdfVectorizer, tfidfAttrs("BM25", 1, 2, 0), {OpInput::value(x)}),
      "mode must be");
  expectErrorContains(
      runOp(OpKind::kTfIdfVectorizer, tfidfAttrs("TF", 3, 2, 0), {OpInput::value(x)}),
      "min_gram_length");
  ir::Attributes a = tfidfAttrs("TF", 1, 2, 0);
  a.setInts("ngram_indexes", {0, 1});
  expectErrorContains(runOp(OpKind::kTfIdfVectorizer, a, {OpInput::value(x)}),
                      "more n-grams than ngram_indexes");
  ir::Attributes c = tfidfAttrs("TF", 1, 2, 0);
  c.setInts("ngram_counts", {0, 9});
  expectErrorContains(runOp(OpKind::kTfIdfVectorizer, c, {OpInput::value(x)}), "ngram_counts");
  expectErrorContains(
      runOp(OpKind::kTfIdfVectorizer, tfidfAttrs("TFIDF", 1, 2, 0, {1, 2}), {OpInput::value(x)}),
      "weights has 2 entries");
  expectErrorContains(runOp(OpKind::kTfIdfVectorizer, tfidfAttrs("TF", 1, 2, 0),
                            {OpInput::value(makeFloat({2}, {1, 2}))}),
                      "input 0 (X)");
  expectErrorContains(runOp(OpKind::kTfIdfVectorizer, tfidfAttrs("TF", 1, 2, 0),
                            {OpInput::value(makeInt64({1, 1, 2}, {1, 2}))}),
                      "1-D [C] or 2-D");
}

}  // namespace
}  // namespace kiln::test
