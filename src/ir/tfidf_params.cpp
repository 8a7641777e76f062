#include "ir/tfidf_params.h"

#include <algorithm>

namespace kiln::ir {

StatusOr<TfIdfParams> parseTfIdfParams(const Attributes& a) {
  TfIdfParams p;
  const std::string mode = a.getString("mode", "");
  if (mode == "TF")
    p.mode = TfIdfParams::Mode::kTF;
  else if (mode == "IDF")
    p.mode = TfIdfParams::Mode::kIDF;
  else if (mode == "TFIDF")
    p.mode = TfIdfParams::Mode::kTFIDF;
  else
    return invalidArgument("mode must be \"TF\", \"IDF\" or \"TFIDF\", got \"%s\"", mode.c_str());
  p.minGram = a.getInt("min_gram_length", 0);
  p.maxGram = a.getInt("max_gram_length", 0);
  p.maxSkip = a.getInt("max_skip_count", 0);
  if (p.minGram < 1 || p.maxGram < p.minGram)
    return invalidArgument("need 1 <= min_gram_length <= max_gram_length, got %lld and %lld",
                           static_cast<long long>(p.minGram), static_cast<long long>(p.maxGram));
  if (p.maxSkip < 0 || p.maxSkip > (int64_t{1} << 30))
    return invalidArgument("max_skip_count must be >= 0, got %lld",
                           static_cast<long long>(p.maxSkip));
  const std::vector<int64_t> pool = a.getInts("pool_int64s");
  const std::vector<int64_t> counts = a.getInts("ngram_counts");
  const std::vector<int64_t> indexes = a.getInts("ngram_indexes");
  if (indexes.empty()) return invalidArgument("ngram_indexes must not be empty");
  for (int64_t v : indexes)
    if (v < 0 || v >= (int64_t{1} << 31))
      return invalidArgument("ngram_indexes has the out-of-range entry %lld",
                             static_cast<long long>(v));
  p.outputSize = *std::max_element(indexes.begin(), indexes.end()) + 1;
  const int64_t poolSize = static_cast<int64_t>(pool.size());
  int64_t g = 0;  // the n-gram number, over all levels
  for (size_t i = 0; i < counts.size(); ++i) {
    const int64_t begin = counts[i];
    const int64_t end = i + 1 < counts.size() ? counts[i + 1] : poolSize;
    if (begin < 0 || end < begin || end > poolSize)
      return invalidArgument(
          "ngram_counts must be non-decreasing offsets into the pool of %lld "
          "items, got %lld at level %zu",
          static_cast<long long>(poolSize), static_cast<long long>(begin), i + 1);
    const int64_t n = static_cast<int64_t>(i) + 1;
    const int64_t grams = (end - begin) / n;
    if (g + grams > static_cast<int64_t>(indexes.size()))
      return invalidArgument("the pool holds more n-grams than ngram_indexes has entries (%zu)",
                             indexes.size());
    for (int64_t k = 0; k < grams; ++k, ++g) {
      if (n < p.minGram || n > p.maxGram) continue;
      const auto first = pool.begin() + begin + k * n;
      p.column[std::vector<int64_t>(first, first + n)] = indexes[static_cast<size_t>(g)];
    }
  }
  p.weights = a.getFloats("weights");
  if (!p.weights.empty() && static_cast<int64_t>(p.weights.size()) < p.outputSize)
    return invalidArgument("weights has %zu entries; expected %lld (one per output column)",
                           p.weights.size(), static_cast<long long>(p.outputSize));
  return p;
}

}  // namespace kiln::ir
