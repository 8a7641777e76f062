// TfIdfVectorizer's attributes, checked once and shared by its shape function and CPU kernel.
//
// The pool (pool_int64s) holds the n-grams level by level: level i (n-grams of n = i + 1 items)
// is pool[ngram_counts[i] .. ngram_counts[i + 1]) (the last level runs to the pool's end), read
// as consecutive groups of n items. N-grams are numbered in pool order over all levels; n-gram g
// counts into output column ngram_indexes[g]. Only levels with min_gram_length <= n <=
// max_gram_length are looked up.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "ir/attributes.h"

namespace kiln::ir {

struct TfIdfParams {
  enum class Mode { kTF, kIDF, kTFIDF };
  Mode mode = Mode::kTF;
  int64_t minGram = 1, maxGram = 1, maxSkip = 0;
  int64_t outputSize = 0;                          // max(ngram_indexes) + 1
  std::vector<float> weights;                      // empty: all 1
  std::map<std::vector<int64_t>, int64_t> column;  // n-gram (items) -> output column
};

// Parses and validates the attributes; errors are plain messages (the caller names the node).
StatusOr<TfIdfParams> parseTfIdfParams(const Attributes& a);

}  // namespace kiln::ir
