// The timing cache file (src/runtime/timing_cache.h): round trip, a missing file, and damaged or
// foreign files refused with the file and line named.
#include "runtime/timing_cache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace kiln::detail {
namespace {

TEST(TimingCache, RoundTripThroughAFile) {
  TimingCache c;
  EXPECT_TRUE(c.insert("H100|cudnn=9.19|cudnn-conv float32 n2", "cudnn:engine=12", 0.125));
  EXPECT_TRUE(c.insert("H100|cudnn=9.19|cublaslt float16 m128", "cublaslt:algo=3", 2.5e-3));
  EXPECT_TRUE(
      c.insert("H100|cudnn=9.19|cudnn-conv float32 n2", "cudnn:engine=7", 0.1));  // replaces
  EXPECT_FALSE(c.insert("bad\tkey", "x", 1));
  EXPECT_FALSE(c.insert("key", "bad\ntactic", 1));
  EXPECT_FALSE(c.insert("key", "t", -1));
  EXPECT_EQ(c.size(), 2u);
  const std::string path = ::testing::TempDir() + "kiln_tc_" + std::to_string(::getpid()) + ".txt";
  ASSERT_TRUE(c.save(path).isOk());
  StatusOr<TimingCache> back = TimingCache::load(path);
  ASSERT_TRUE(back.isOk()) << back.status().message();
  ASSERT_EQ(back->size(), 2u);
  const TimingCache::Entry* e = back->find("H100|cudnn=9.19|cudnn-conv float32 n2");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->tactic, "cudnn:engine=7");
  EXPECT_DOUBLE_EQ(e->ms, 0.1);
  e = back->find("H100|cudnn=9.19|cublaslt float16 m128");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->tactic, "cublaslt:algo=3");
  EXPECT_DOUBLE_EQ(e->ms, 2.5e-3);
  EXPECT_EQ(back->find("A100|cudnn=9.19|cudnn-conv float32 n2"), nullptr);
  std::remove(path.c_str());
}

TEST(TimingCache, MissingFileIsEmpty) {
  StatusOr<TimingCache> c = TimingCache::load(::testing::TempDir() + "no_such_kiln_cache.txt");
  ASSERT_TRUE(c.isOk()) << c.status().message();
  EXPECT_EQ(c->size(), 0u);
}

TEST(TimingCache, RefusesForeignAndDamagedFiles) {
  StatusOr<TimingCache> c = TimingCache::parse("kiln-plan\n", "f.txt");
  ASSERT_FALSE(c.isOk());
  EXPECT_NE(c.status().message().find("f.txt is not a Kiln timing cache"), std::string::npos)
      << c.status().message();
  c = TimingCache::parse("", "empty.txt");
  EXPECT_FALSE(c.isOk());
  c = TimingCache::parse("kiln-timing-cache 1\nk\tt\t0.5\nbroken line\n", "f.txt");
  ASSERT_FALSE(c.isOk());
  EXPECT_NE(c.status().message().find("f.txt line 3"), std::string::npos) << c.status().message();
  for (const char* bad : {"k\tt\tabc\n", "k\tt\t-1\n", "k\tt\tnan\n", "\tt\t1\n", "k\t\t1\n",
                          "k\tt\t1\textra\n", "k\tt\t\n"}) {
    c = TimingCache::parse(std::string("kiln-timing-cache 1\n") + bad, "f.txt");
    EXPECT_FALSE(c.isOk()) << bad;
  }
  c = TimingCache::parse("kiln-timing-cache 1\n\nk\tt\t1e-3\n", "f.txt");
  ASSERT_TRUE(c.isOk()) << c.status().message();
  ASSERT_NE(c->find("k"), nullptr);
  EXPECT_DOUBLE_EQ(c->find("k")->ms, 1e-3);
}

}  // namespace
}  // namespace kiln::detail
