#include "ir/data_dependent.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "common/small_float.h"
#include "ir/tensor_data.h"

namespace kiln::ir::datadep {

namespace {

bool isFloatLike(DataType t) {
  return t == DataType::kFLOAT || t == DataType::kHALF || t == DataType::kBF16 ||
         t == DataType::kDOUBLE || isSmallFloatType(t);
}

// Orders for the element keys: doubles with NaN after every number and equal to other NaNs.
struct DoubleOrder {
  static bool less(double a, double b) {
    if (std::isnan(a)) return false;
    if (std::isnan(b)) return true;
    return a < b;
  }
  static bool equal(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }
};
template <typename K>
struct PlainOrder {
  static bool less(K a, K b) { return a < b; }
  static bool equal(K a, K b) { return a == b; }
};

template <typename K, typename Order>
UniqueGroups groupSlices(const std::vector<K>& keys, int64_t outer, int64_t n, int64_t inner,
                         bool sorted) {
  // -1, 0, 1 as slice a is before, equal to, after slice b.
  auto compare = [&](int64_t a, int64_t b) {
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        const K& x = keys[static_cast<size_t>((o * n + a) * inner + i)];
        const K& y = keys[static_cast<size_t>((o * n + b) * inner + i)];
        if (Order::equal(x, y)) continue;
        return Order::less(x, y) ? -1 : 1;
      }
    }
    return 0;
  };
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  // Stable: equal slices keep their order, so each run starts with its first occurrence.
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return compare(a, b) < 0; });
  UniqueGroups g;
  std::vector<int64_t> groupOf(static_cast<size_t>(n));  // slice -> group (sorted order)
  for (size_t k = 0; k < order.size(); ++k) {
    if (k == 0 || compare(order[k - 1], order[k]) != 0) {
      g.first.push_back(order[k]);
      g.counts.push_back(0);
    }
    g.counts.back() += 1;
    groupOf[static_cast<size_t>(order[k])] = static_cast<int64_t>(g.first.size()) - 1;
  }
  std::vector<int64_t> rank(g.first.size());  // group (sorted order) -> output index
  std::iota(rank.begin(), rank.end(), int64_t{0});
  if (!sorted) {
    std::vector<int64_t> byFirst(g.first.size());
    std::iota(byFirst.begin(), byFirst.end(), int64_t{0});
    std::sort(byFirst.begin(), byFirst.end(), [&](int64_t a, int64_t b) {
      return g.first[static_cast<size_t>(a)] < g.first[static_cast<size_t>(b)];
    });
    UniqueGroups reordered;
    for (size_t k = 0; k < byFirst.size(); ++k) {
      const auto grp = static_cast<size_t>(byFirst[k]);
      reordered.first.push_back(g.first[grp]);
      reordered.counts.push_back(g.counts[grp]);
      rank[grp] = static_cast<int64_t>(k);
    }
    g.first = std::move(reordered.first);
    g.counts = std::move(reordered.counts);
  }
  g.inverse.resize(static_cast<size_t>(n));
  for (int64_t s = 0; s < n; ++s)
    g.inverse[static_cast<size_t>(s)] = rank[static_cast<size_t>(groupOf[static_cast<size_t>(s)])];
  return g;
}

// A box as its corners (xmin, ymin, xmax, ymax).
struct Corners {
  double x0, y0, x1, y1;
  double area() const { return (x1 - x0) * (y1 - y0); }
};

Corners cornersOf(const float* b, bool centerPointBox) {
  if (centerPointBox) {
    const double xc = b[0], yc = b[1], w = b[2], h = b[3];
    return {xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2};
  }
  // [y1, x1, y2, x2]: any diagonal pair of corners.
  return {std::min<double>(b[1], b[3]), std::min<double>(b[0], b[2]), std::max<double>(b[1], b[3]),
          std::max<double>(b[0], b[2])};
}

// IoU(a, b) > threshold; never for disjoint boxes or boxes without a positive area.
bool suppresses(const Corners& a, const Corners& b, double threshold) {
  const double ix = std::min(a.x1, b.x1) - std::max(a.x0, b.x0);
  const double iy = std::min(a.y1, b.y1) - std::max(a.y0, b.y0);
  if (!(ix > 0) || !(iy > 0)) return false;
  const double inter = ix * iy;
  const double areaA = a.area(), areaB = b.area();
  const double uni = areaA + areaB - inter;
  if (!(areaA > 0) || !(areaB > 0) || !(uni > 0)) return false;
  return inter / uni > threshold;
}

}  // namespace

bool isNonZero(DataType dtype, const void* data, int64_t i) {
  if (isFloatLike(dtype)) return elementAsDouble(dtype, data, i) != 0.0;  // NaN != 0
  return elementAsInt64(dtype, data, i) != 0;
}

int64_t countNonZero(DataType dtype, const void* data, int64_t numel) {
  int64_t n = 0;
  for (int64_t i = 0; i < numel; ++i) n += isNonZero(dtype, data, i) ? 1 : 0;
  return n;
}

int64_t countKept(const void* condition, int64_t condLen, int64_t axisLen) {
  const auto* c = static_cast<const uint8_t*>(condition);
  int64_t n = 0;
  for (int64_t i = 0; i < std::min(condLen, axisLen); ++i) n += c[i] != 0 ? 1 : 0;
  return n;
}

bool uniqueSupportsType(DataType dtype) {
  switch (dtype) {
    case DataType::kFLOAT:
    case DataType::kHALF:
    case DataType::kBF16:
    case DataType::kDOUBLE:
    case DataType::kINT8:
    case DataType::kINT16:
    case DataType::kINT32:
    case DataType::kINT64:
    case DataType::kUINT8:
    case DataType::kUINT16:
    case DataType::kUINT32:
    case DataType::kUINT64:
    case DataType::kBOOL: return true;
    default: return false;
  }
}

UniqueGroups uniqueSlices(DataType dtype, const void* data, int64_t outer, int64_t numSlices,
                          int64_t inner, bool sorted) {
  const int64_t numel = outer * numSlices * inner;
  if (isFloatLike(dtype)) {
    std::vector<double> keys(static_cast<size_t>(numel));
    for (int64_t i = 0; i < numel; ++i)
      keys[static_cast<size_t>(i)] = elementAsDouble(dtype, data, i);
    return groupSlices<double, DoubleOrder>(keys, outer, numSlices, inner, sorted);
  }
  if (dtype == DataType::kUINT64) {
    std::vector<uint64_t> keys(static_cast<size_t>(numel));
    if (numel > 0) std::memcpy(keys.data(), data, keys.size() * sizeof(uint64_t));
    return groupSlices<uint64_t, PlainOrder<uint64_t>>(keys, outer, numSlices, inner, sorted);
  }
  std::vector<int64_t> keys(static_cast<size_t>(numel));
  for (int64_t i = 0; i < numel; ++i) keys[static_cast<size_t>(i)] = elementAsInt64(dtype, data, i);
  return groupSlices<int64_t, PlainOrder<int64_t>>(keys, outer, numSlices, inner, sorted);
}

std::vector<std::array<int64_t, 3>> nonMaxSuppression(const float* boxes, const float* scores,
                                                      int64_t batches, int64_t classes,
                                                      int64_t numBoxes, const NmsOptions& opt) {
  std::vector<std::array<int64_t, 3>> out;
  if (opt.maxPerClass <= 0) return out;
  std::vector<int64_t> candidates;
  std::vector<Corners> selected;
  for (int64_t b = 0; b < batches; ++b) {
    const float* bb = boxes + b * numBoxes * 4;
    for (int64_t c = 0; c < classes; ++c) {
      const float* sc = scores + (b * classes + c) * numBoxes;
      candidates.clear();
      for (int64_t i = 0; i < numBoxes; ++i)
        if (!opt.hasScoreThreshold || sc[i] > opt.scoreThreshold) candidates.push_back(i);
      // Descending score, ties by index (stable sort over ascending indices). NaN scores last.
      std::stable_sort(candidates.begin(), candidates.end(), [&](int64_t x, int64_t y) {
        const float sx = sc[x], sy = sc[y];
        if (std::isnan(sy)) return !std::isnan(sx);
        return sx > sy;
      });
      selected.clear();
      for (int64_t i : candidates) {
        if (static_cast<int64_t>(selected.size()) >= opt.maxPerClass) break;
        const Corners box = cornersOf(bb + i * 4, opt.centerPointBox);
        bool keep = true;
        for (const Corners& s : selected) {
          if (suppresses(s, box, opt.iouThreshold)) {
            keep = false;
            break;
          }
        }
        if (!keep) continue;
        selected.push_back(box);
        out.push_back({b, c, i});
      }
    }
  }
  return out;
}

}  // namespace kiln::ir::datadep
