// The one percentile definition of funkhaus: nearest rank. The q-quantile of n samples is the
// sample of 1-based rank ceil(q * n) in ascending order (the smallest sample at least a fraction
// q of the samples are not above). The status page (StageStats), the benchmarks and the tests
// all use it, so their p50 and p99 compare. Pure functions; any thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>

namespace funkhaus {

// The 0-based index of the q-quantile among n sorted samples (n > 0): ceil(q * n) - 1, clamped
// to 0..n-1 (q <= 0 gives the minimum, q >= 1 the maximum).
inline size_t nearestRankIndex(size_t n, double q) {
  const double exact = q * static_cast<double>(n);
  if (!(exact > 0)) return 0;  // also NaN
  if (exact >= static_cast<double>(n)) return n - 1;
  auto rank = static_cast<size_t>(exact);
  if (static_cast<double>(rank) < exact) ++rank;  // ceil
  return std::clamp<size_t>(rank, 1, n) - 1;
}

// The q-quantile of samples sorted in ascending order; T{} when there are none.
template <class T>
T percentileOfSorted(std::span<const T> sorted, double q) {
  if (sorted.empty()) return T{};
  return sorted[nearestRankIndex(sorted.size(), q)];
}

// The q-quantile of unsorted samples, found by partial ordering (the samples are reordered);
// T{} when there are none.
template <class T>
T percentile(std::span<T> samples, double q) {
  if (samples.empty()) return T{};
  const size_t k = nearestRankIndex(samples.size(), q);
  std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(k),
                   samples.end());
  return samples[k];
}

}  // namespace funkhaus
