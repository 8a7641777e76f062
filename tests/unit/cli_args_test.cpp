// Unit tests of the kiln CLI's parsers and formatters (src/api/cli_util.h). Expected values are
// written out by hand.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "api/cli_util.h"
#include "common/half.h"

namespace kiln::cli {
namespace {

using V = std::vector<int64_t>;

// ---- Shape specs ------------------------------------------------------------------------------

TEST(CliShapeSpec, ParsesSeveralInputs) {
  auto s = parseShapeSpecs("x:1x3x224x224,other:4x8");
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  ASSERT_EQ(s->size(), 2u);
  EXPECT_EQ((*s)[0].name, "x");
  EXPECT_EQ((*s)[0].dims, (V{1, 3, 224, 224}));
  EXPECT_EQ((*s)[1].name, "other");
  EXPECT_EQ((*s)[1].dims, (V{4, 8}));
}

TEST(CliShapeSpec, SingleDimAndZeroAndSpaces) {
  auto s = parseShapeSpecs(" a : 7 , b:0x5 ");
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  EXPECT_EQ((*s)[0].name, "a");
  EXPECT_EQ((*s)[0].dims, (V{7}));
  EXPECT_EQ((*s)[1].dims, (V{0, 5}));
}

TEST(CliShapeSpec, NameWithColonsSplitsAtLastColon) {
  auto s = parseShapeSpecs("input:0:1x3");
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  EXPECT_EQ((*s)[0].name, "input:0");
  EXPECT_EQ((*s)[0].dims, (V{1, 3}));
}

TEST(CliShapeSpec, QuotedName) {
  auto s = parseShapeSpecs("'in:0':2x2,'plain':5");
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  EXPECT_EQ((*s)[0].name, "in:0");
  EXPECT_EQ((*s)[0].dims, (V{2, 2}));
  EXPECT_EQ((*s)[1].name, "plain");
}

TEST(CliShapeSpec, RejectsBadSpecs) {
  const char* bad[] = {
      "x:1x-3",                     // negative dim
      "x:",                         // empty dims
      "1x3",                        // no name
      ":1x3",                       // empty name
      "x:1xx3",                     // empty dim
      "x:1x3x",                     // trailing x
      "x:a",                        // not a number
      "x:1.5",                      // not an integer
      "x:1x3,",                     // empty entry
      "x:1,x:2",                    // repeated name
      "'x:1",                       // unclosed quote
      "'x'1",                       // no colon after quoted name
      "x:1x2x3x4x5x6x7x8x9",        // more than Dims::kMaxDims
      "x:99999999999999999999999",  // overflow
  };
  for (const char* spec : bad) {
    auto s = parseShapeSpecs(spec);
    EXPECT_FALSE(s.isOk()) << "accepted '" << spec << "'";
    if (!s.isOk()) {
      EXPECT_FALSE(s.status().message().empty());
    }
  }
}

TEST(CliShapeSpec, ErrorNamesTheProblem) {
  auto s = parseShapeSpecs("x:1x-3");
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.status().message().find("-3"), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("'x'"), std::string::npos) << s.status().message();
  auto t = parseShapeSpecs("1x3");
  ASSERT_FALSE(t.isOk());
  EXPECT_NE(t.status().message().find("name"), std::string::npos) << t.status().message();
}

TEST(CliShapeSpec, ToDims) {
  Dims d = toDims({2, 3, 4});
  EXPECT_EQ(d.nbDims, 3);
  EXPECT_EQ(d.d[0], 2);
  EXPECT_EQ(d.d[2], 4);
  EXPECT_EQ(d.volume(), 24);
}

// ---- Sizes ------------------------------------------------------------------------------------

TEST(CliSize, Suffixes) {
  EXPECT_EQ(*parseSize("1G"), 1073741824ull);
  EXPECT_EQ(*parseSize("2g"), 2147483648ull);
  EXPECT_EQ(*parseSize("512M"), 536870912ull);
  EXPECT_EQ(*parseSize("64K"), 65536ull);
  EXPECT_EQ(*parseSize("0K"), 0ull);
  // No suffix means MiB, as in trtexec.
  EXPECT_EQ(*parseSize("100"), 104857600ull);
  // Decimals: 0.25 MiB = 262144 bytes, 1.5 KiB = 1536 bytes.
  EXPECT_EQ(*parseSize("0.25M"), 262144ull);
  EXPECT_EQ(*parseSize("1.5K"), 1536ull);
}

TEST(CliSize, RejectsGarbage) {
  for (const char* bad : {"", "G", "-1G", "1T", "1.2.3M", "abc", "1e3", "+5", "1 G x", "."})
    EXPECT_FALSE(parseSize(bad).isOk()) << "accepted '" << bad << "'";
  EXPECT_FALSE(parseSize("99999999999G").isOk());
}

TEST(CliMemPool, Workspace) {
  auto p = parseMemPoolSpec("workspace:2G");
  ASSERT_TRUE(p.isOk()) << p.status().toString();
  EXPECT_EQ(p->at("workspace"), 2147483648ull);
  auto q = parseMemPoolSpec("workspace:16");
  ASSERT_TRUE(q.isOk());
  EXPECT_EQ(q->at("workspace"), 16ull << 20);
}

TEST(CliMemPool, RejectsUnknownPoolAndBadSize) {
  auto p = parseMemPoolSpec("dlaSRAM:1M");
  ASSERT_FALSE(p.isOk());
  EXPECT_NE(p.status().message().find("dlaSRAM"), std::string::npos);
  EXPECT_FALSE(parseMemPoolSpec("workspace:").isOk());
  EXPECT_FALSE(parseMemPoolSpec("workspace:lots").isOk());
  EXPECT_FALSE(parseMemPoolSpec("1G").isOk());
}

// ---- Layer precisions (trtexec --layerPrecisions) ----------------------------------------------

TEST(CliLayerPrecisions, ParsesSpecAndFile) {
  auto p = parseLayerPrecisions("*:fp16, /enc/MatMul:fp32,a:b:FP16,pow:float32");
  ASSERT_TRUE(p.isOk()) << p.status().toString();
  ASSERT_EQ(p->size(), 4u);
  EXPECT_EQ((*p)[0], (std::pair<std::string, DataType>{"*", DataType::kHALF}));
  EXPECT_EQ((*p)[1], (std::pair<std::string, DataType>{"/enc/MatMul", DataType::kFLOAT}));
  EXPECT_EQ((*p)[2], (std::pair<std::string, DataType>{"a:b", DataType::kHALF}));  // last ':'
  EXPECT_EQ((*p)[3], (std::pair<std::string, DataType>{"pow", DataType::kFLOAT}));
  const std::string path = ::testing::TempDir() + "kiln_layer_precisions.txt";
  {
    std::ofstream f(path);
    f << "# keep the softmax exact\nsoftmax:fp32\n\nconv1:fp16, conv2:fp16  # two\n";
  }
  auto q = parseLayerPrecisions("@" + path);
  ASSERT_TRUE(q.isOk()) << q.status().toString();
  ASSERT_EQ(q->size(), 3u);
  EXPECT_EQ((*q)[0].first, "softmax");
  EXPECT_EQ((*q)[0].second, DataType::kFLOAT);
  EXPECT_EQ((*q)[2].first, "conv2");
  EXPECT_EQ((*q)[2].second, DataType::kHALF);
  std::remove(path.c_str());
}

TEST(CliLayerPrecisions, RejectsBadEntries) {
  // Empty, no precision, no layer, an unknown precision, an entry without ':' after a good one.
  for (const char* bad : {"", " , ", "conv1", "conv1:", ":fp16", "conv1:int8", "conv1:fp16,,x"})
    EXPECT_FALSE(parseLayerPrecisions(bad).isOk()) << bad;
  auto p = parseLayerPrecisions("conv1:int8");
  ASSERT_FALSE(p.isOk());
  EXPECT_NE(p.status().message().find("'int8' of layer 'conv1' is not fp32 or fp16"),
            std::string::npos)
      << p.status().message();
  auto f = parseLayerPrecisions("@/no/such/kiln/file.txt");
  ASSERT_FALSE(f.isOk());
  EXPECT_NE(f.status().message().find("cannot read the file"), std::string::npos);
}

// ---- Load inputs ------------------------------------------------------------------------------

TEST(CliLoadInputs, Parses) {
  auto s = parseLoadInputsSpec("x:/tmp/x.bin,'in:0':data/in0.raw");
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  ASSERT_EQ(s->size(), 2u);
  EXPECT_EQ((*s)[0].name, "x");
  EXPECT_EQ((*s)[0].path, "/tmp/x.bin");
  EXPECT_EQ((*s)[1].name, "in:0");
  EXPECT_EQ((*s)[1].path, "data/in0.raw");
}

TEST(CliLoadInputs, RejectsBad) {
  for (const char* bad : {"x.bin", "x:", ":x.bin", "x:a.bin,x:b.bin", "x:a.bin,,y:b.bin"})
    EXPECT_FALSE(parseLoadInputsSpec(bad).isOk()) << "accepted '" << bad << "'";
}

// ---- Flags ------------------------------------------------------------------------------------

const FlagDef kDefs[] = {
    {"onnx", FlagKind::kValue, "<file>", ""},    {"saveEngine", FlagKind::kValue, "<file>", ""},
    {"fp16", FlagKind::kBool, "", ""},           {"shapes", FlagKind::kList, "<spec>", ""},
    {"iterations", FlagKind::kValue, "<N>", ""},
};

StatusOr<ParsedArgs> parse(std::vector<std::string> args) { return parseArgs(args, kDefs); }

TEST(CliFlags, NormalizeSpellings) {
  EXPECT_EQ(normalizeFlagName("saveEngine"), "saveengine");
  EXPECT_EQ(normalizeFlagName("save-engine"), "saveengine");
  EXPECT_EQ(normalizeFlagName("save_engine"), "saveengine");
  EXPECT_EQ(normalizeFlagName("SAVEENGINE"), "saveengine");
}

TEST(CliFlags, EqualsAndSpaceForms) {
  auto a = parse({"--onnx=m.onnx", "--save-engine", "m.plan", "--fp16"});
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  EXPECT_EQ(a->get("onnx"), "m.onnx");
  EXPECT_EQ(a->get("saveEngine"), "m.plan");
  EXPECT_TRUE(a->flag("fp16"));
  EXPECT_FALSE(a->has("iterations"));
  EXPECT_EQ(a->get("iterations", "10"), "10");
  EXPECT_TRUE(a->positional.empty());
}

TEST(CliFlags, ValueMayContainEquals) {
  auto a = parse({"--onnx=dir=x/m.onnx"});
  ASSERT_TRUE(a.isOk());
  EXPECT_EQ(a->get("onnx"), "dir=x/m.onnx");
}

TEST(CliFlags, BoolForms) {
  auto a = parse({"--fp16=false"});
  ASSERT_TRUE(a.isOk());
  EXPECT_TRUE(a->has("fp16"));
  EXPECT_FALSE(a->flag("fp16"));
  auto b = parse({"--fp16=1"});
  ASSERT_TRUE(b.isOk());
  EXPECT_TRUE(b->flag("fp16"));
  EXPECT_FALSE(parse({"--fp16=maybe"}).isOk());
  // A bool never consumes the next argument.
  auto c = parse({"--fp16", "model.onnx"});
  ASSERT_TRUE(c.isOk());
  EXPECT_TRUE(c->flag("fp16"));
  ASSERT_EQ(c->positional.size(), 1u);
  EXPECT_EQ(c->positional[0], "model.onnx");
}

TEST(CliFlags, ListsAccumulateValuesOverwrite) {
  auto a = parse({"--shapes=a:1", "--shapes", "b:2", "--iterations=3", "--iterations=5"});
  ASSERT_TRUE(a.isOk());
  EXPECT_EQ(a->get("shapes"), "a:1,b:2");
  EXPECT_EQ(a->get("iterations"), "5");
}

TEST(CliFlags, UnknownFlagNamesItAndSuggests) {
  auto a = parse({"--saveEngin=x"});
  ASSERT_FALSE(a.isOk());
  const std::string& m = a.status().message();
  EXPECT_NE(m.find("--saveEngin"), std::string::npos) << m;
  EXPECT_NE(m.find("did you mean --saveEngine"), std::string::npos) << m;
  auto b = parse({"--completelyDifferent"});
  ASSERT_FALSE(b.isOk());
  EXPECT_NE(b.status().message().find("--completelyDifferent"), std::string::npos);
  EXPECT_EQ(b.status().message().find("did you mean"), std::string::npos);
}

TEST(CliFlags, MissingOrEmptyValue) {
  EXPECT_FALSE(parse({"--onnx"}).isOk());
  EXPECT_FALSE(parse({"--onnx="}).isOk());
  EXPECT_FALSE(parse({"--onnx", "--fp16"}).isOk());
}

TEST(CliFlags, PositionalsAndDoubleDash) {
  auto a = parse({"m.onnx", "--", "--fp16"});
  ASSERT_TRUE(a.isOk());
  ASSERT_EQ(a->positional.size(), 2u);
  EXPECT_EQ(a->positional[1], "--fp16");
  EXPECT_FALSE(a->has("fp16"));
}

TEST(CliFlags, SuggestFlag) {
  EXPECT_EQ(suggestFlag("iteration", kDefs), "iterations");
  EXPECT_EQ(suggestFlag("save-engin", kDefs), "saveEngine");
  EXPECT_EQ(suggestFlag("zzzzzzzzzz", kDefs), "");
}

// ---- Tensor files, random fill, formatting -----------------------------------------------------

class CliTensorFile : public ::testing::Test {
 protected:
  void SetUp() override {
    mPath = (std::filesystem::temp_directory_path() /
             ("kiln_cli_test_" + std::to_string(::getpid()) + ".bin"))
                .string();
  }
  void TearDown() override { std::filesystem::remove(mPath); }
  void write(const void* data, size_t n) {
    std::ofstream out(mPath, std::ios::binary);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  }
  std::string mPath;
};

TEST_F(CliTensorFile, ReadsExactSize) {
  const float v[6] = {1.5f, -2.f, 3.25f, 0.f, 7.f, -0.5f};
  write(v, sizeof(v));
  auto bytes = readTensorFile(mPath, "x", Dims{2, 3}, DataType::kFLOAT);
  ASSERT_TRUE(bytes.isOk()) << bytes.status().toString();
  ASSERT_EQ(bytes->size(), 24u);
  float back[6];
  std::memcpy(back, bytes->data(), 24);
  EXPECT_EQ(back[2], 3.25f);
  EXPECT_EQ(back[5], -0.5f);
}

TEST_F(CliTensorFile, WrongSizeSaysExpectedAndActual) {
  const float v[5] = {};
  write(v, sizeof(v));
  auto bytes = readTensorFile(mPath, "x", Dims{2, 3}, DataType::kFLOAT);
  ASSERT_FALSE(bytes.isOk());
  const std::string& m = bytes.status().message();
  EXPECT_NE(m.find("20 bytes"), std::string::npos) << m;
  EXPECT_NE(m.find("expected 24"), std::string::npos) << m;
  EXPECT_NE(m.find("2x3"), std::string::npos) << m;
}

TEST_F(CliTensorFile, MissingFile) {
  auto bytes = readTensorFile(mPath + ".nope", "x", Dims{1}, DataType::kFLOAT);
  ASSERT_FALSE(bytes.isOk());
  EXPECT_NE(bytes.status().message().find("does not exist"), std::string::npos);
}

TEST(CliTensorBytes, SizesAndOverflow) {
  EXPECT_EQ(*tensorBytes(Dims{2, 3}, DataType::kFLOAT, "x"), 24u);
  EXPECT_EQ(*tensorBytes(Dims{5}, DataType::kINT64, "x"), 40u);
  EXPECT_EQ(*tensorBytes(Dims{0, 7}, DataType::kHALF, "x"), 0u);
  EXPECT_EQ(*tensorBytes(Dims{}, DataType::kBOOL, "x"), 1u);  // a scalar
  // 2^62 * 4 bytes overflows int64; 2^31 * 2^31 * 4 = 2^64 bytes too.
  auto big = tensorBytes(Dims{int64_t{1} << 62, 4}, DataType::kFLOAT, "x");
  ASSERT_FALSE(big.isOk());
  EXPECT_NE(big.status().message().find("'x'"), std::string::npos);
  EXPECT_FALSE(tensorBytes(Dims{int64_t{1} << 31, int64_t{1} << 31}, DataType::kFLOAT, "x").isOk());
  EXPECT_FALSE(tensorBytes(Dims{-1, 3}, DataType::kFLOAT, "x").isOk());
}

TEST(CliRandom, RangesAndReproducibility) {
  std::mt19937 a(7), b(7);
  std::vector<float> f1(1000), f2(1000);
  fillRandom(DataType::kFLOAT, f1.data(), 1000, a);
  fillRandom(DataType::kFLOAT, f2.data(), 1000, b);
  EXPECT_EQ(f1, f2);
  float lo = 1, hi = -1;
  for (float v : f1) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  EXPECT_GE(lo, -1.f);
  EXPECT_LE(hi, 1.f);
  EXPECT_LT(lo, -0.9f);  // spread over the whole range
  EXPECT_GT(hi, 0.9f);

  std::vector<int64_t> ints(1000);
  fillRandom(DataType::kINT64, ints.data(), 1000, a);
  bool seen[4] = {};
  for (int64_t v : ints) {
    ASSERT_GE(v, 0);
    ASSERT_LT(v, 4);
    seen[v] = true;
  }
  EXPECT_TRUE(seen[0] && seen[1] && seen[2] && seen[3]);

  std::vector<uint8_t> bools(200);
  fillRandom(DataType::kBOOL, bools.data(), 200, a);
  int ones = 0;
  for (uint8_t v : bools) {
    ASSERT_LE(v, 1);
    ones += v;
  }
  EXPECT_GT(ones, 0);
  EXPECT_LT(ones, 200);
}

TEST(CliFormat, Elements) {
  const float f[] = {0.1f, -2.f, 1e-20f, std::numeric_limits<float>::quiet_NaN(),
                     std::numeric_limits<float>::infinity()};
  EXPECT_EQ(formatElement(DataType::kFLOAT, f, 0), "0.100000001");  // 9 significant digits
  EXPECT_EQ(formatElement(DataType::kFLOAT, f, 1), "-2");
  EXPECT_EQ(formatElement(DataType::kFLOAT, f, 2), "9.99999968e-21");
  EXPECT_EQ(formatElement(DataType::kFLOAT, f, 3), "NaN");
  EXPECT_EQ(formatElement(DataType::kFLOAT, f, 4), "Infinity");
  // %.9g round-trips every float32.
  float x = 0.333333343f;
  EXPECT_EQ(std::strtof(formatElement(DataType::kFLOAT, &x, 0).c_str(), nullptr), x);
  const int64_t i[] = {-5, int64_t{1} << 40};
  EXPECT_EQ(formatElement(DataType::kINT64, i, 0), "-5");
  EXPECT_EQ(formatElement(DataType::kINT64, i, 1), "1099511627776");
  const int32_t i32[] = {2147483647};
  EXPECT_EQ(formatElement(DataType::kINT32, i32, 0), "2147483647");
  const uint8_t b[] = {0, 1};
  EXPECT_EQ(formatElement(DataType::kBOOL, b, 0), "0");
  EXPECT_EQ(formatElement(DataType::kBOOL, b, 1), "1");
  const int8_t i8[] = {-128};
  EXPECT_EQ(formatElement(DataType::kINT8, i8, 0), "-128");
  const uint16_t h[] = {0x3C00, 0xC000};  // float16 1.0 and -2.0
  EXPECT_EQ(formatElement(DataType::kHALF, h, 0), "1");
  EXPECT_EQ(formatElement(DataType::kHALF, h, 1), "-2");
  const double d[] = {0.1};
  EXPECT_EQ(formatElement(DataType::kDOUBLE, d, 0), "0.10000000000000001");
}

// ---- Statistics -------------------------------------------------------------------------------

TEST(CliStats, HandComputed) {
  // 1..10 shuffled: mean 5.5, median (5+6)/2, nearest-rank p90 = ceil(9) = 9th = 9,
  // p95 = ceil(9.5) = 10th = 10, p99 = 10.
  Stats s = computeStats({3, 7, 1, 10, 5, 2, 9, 4, 8, 6});
  EXPECT_EQ(s.count, 10u);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 10);
  EXPECT_DOUBLE_EQ(s.mean, 5.5);
  EXPECT_DOUBLE_EQ(s.median, 5.5);
  EXPECT_DOUBLE_EQ(s.p90, 9);
  EXPECT_DOUBLE_EQ(s.p95, 10);
  EXPECT_DOUBLE_EQ(s.p99, 10);
}

TEST(CliStats, HundredValuesAndOdd) {
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);
  Stats s = computeStats(v);
  EXPECT_DOUBLE_EQ(s.p90, 90);
  EXPECT_DOUBLE_EQ(s.p95, 95);
  EXPECT_DOUBLE_EQ(s.p99, 99);
  EXPECT_DOUBLE_EQ(s.median, 50.5);
  Stats odd = computeStats({4, 1, 3});
  EXPECT_DOUBLE_EQ(odd.median, 3);
  EXPECT_DOUBLE_EQ(odd.p90, 4);  // ceil(2.7) = 3rd
  EXPECT_NEAR(odd.mean, 8.0 / 3.0, 1e-15);
  Stats one = computeStats({2.5});
  EXPECT_DOUBLE_EQ(one.p99, 2.5);
  EXPECT_DOUBLE_EQ(one.median, 2.5);
  Stats none = computeStats({});
  EXPECT_EQ(none.count, 0u);
}

}  // namespace
}  // namespace kiln::cli
