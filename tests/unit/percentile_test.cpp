// The one percentile definition (nearest rank): exact ranks on known samples, the edges, and
// that the sorted and the unsorted forms agree.
#include "funkhaus/common/percentile.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace funkhaus {
namespace {

TEST(Percentile, NearestRankOnOneToHundred) {
  std::vector<uint64_t> v;
  for (uint64_t i = 100; i >= 1; --i) v.push_back(i);
  EXPECT_EQ(percentile(std::span<uint64_t>(v), 0.50), 50u);  // rank ceil(50) = 50
  EXPECT_EQ(percentile(std::span<uint64_t>(v), 0.99), 99u);
  EXPECT_EQ(percentile(std::span<uint64_t>(v), 0.995), 100u);  // rank ceil(99.5) = 100
  EXPECT_EQ(percentile(std::span<uint64_t>(v), 0.01), 1u);
  EXPECT_EQ(percentile(std::span<uint64_t>(v), 1.0), 100u);
  EXPECT_EQ(percentile(std::span<uint64_t>(v), 0.0), 1u);
}

TEST(Percentile, SmallCounts) {
  // Ten samples: p50 is the 5th, p99 the 10th (ceil(9.9)); one sample is every percentile.
  EXPECT_EQ(nearestRankIndex(10, 0.50), 4u);
  EXPECT_EQ(nearestRankIndex(10, 0.99), 9u);
  EXPECT_EQ(nearestRankIndex(3, 0.50), 1u);
  EXPECT_EQ(nearestRankIndex(2, 0.50), 0u);
  EXPECT_EQ(nearestRankIndex(1, 0.99), 0u);
  const std::vector<double> one = {7.5};
  EXPECT_EQ(percentileOfSorted(std::span<const double>(one), 0.5), 7.5);
  EXPECT_EQ(percentileOfSorted(std::span<const double>(), 0.5), 0.0);
}

TEST(Percentile, SortedAndUnsortedFormsAgree) {
  std::mt19937_64 rng(42);
  for (size_t n : {1u, 2u, 7u, 100u, 1001u}) {
    std::vector<uint64_t> v(n);
    for (auto& x : v) x = rng() % 1000;
    std::vector<uint64_t> sorted = v;
    std::sort(sorted.begin(), sorted.end());
    for (double q : {0.0, 0.1, 0.5, 0.9, 0.99, 1.0}) {
      std::vector<uint64_t> copy = v;
      EXPECT_EQ(percentile(std::span<uint64_t>(copy), q),
                percentileOfSorted(std::span<const uint64_t>(sorted), q))
          << n << " samples, q " << q;
    }
  }
}

}  // namespace
}  // namespace funkhaus
