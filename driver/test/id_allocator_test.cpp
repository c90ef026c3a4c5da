// Monitor ids: lowest free first, reused after release, bounded.
#include "funkhaus/vdisplay/id_allocator.h"

#include <gtest/gtest.h>

namespace funkhaus::vdisplay {
namespace {

TEST(IdAllocator, LowestFreeFirstAndReuse) {
  IdAllocator ids(4);
  EXPECT_EQ(ids.allocate(), 0u);
  EXPECT_EQ(ids.allocate(), 1u);
  EXPECT_EQ(ids.allocate(), 2u);
  ids.release(1);
  EXPECT_FALSE(ids.inUse(1));
  EXPECT_EQ(ids.allocate(), 1u);  // the hole, not 3
  ids.release(0);
  ids.release(2);
  EXPECT_EQ(ids.allocate(), 0u);
  EXPECT_EQ(ids.allocate(), 2u);
  EXPECT_EQ(ids.allocate(), 3u);
  EXPECT_EQ(ids.inUseCount(), 4u);
  EXPECT_FALSE(ids.allocate().has_value());  // exhausted
  ids.release(3);
  EXPECT_EQ(ids.allocate(), 3u);
}

TEST(IdAllocator, ThousandsOfCyclesStayBounded) {
  IdAllocator ids(8);
  for (int cycle = 0; cycle < 10000; ++cycle) {
    auto a = ids.allocate();
    auto b = ids.allocate();
    ASSERT_EQ(a, 0u);
    ASSERT_EQ(b, 1u);
    ids.release(*a);
    ids.release(*b);
  }
  EXPECT_EQ(ids.inUseCount(), 0u);
}

TEST(IdAllocatorDeathTest, ReleasingAFreeIdIsABrokenInvariant) {
  IdAllocator ids(2);
  EXPECT_DEATH(ids.release(0), "");
  EXPECT_DEATH(ids.release(5), "");
}

}  // namespace
}  // namespace funkhaus::vdisplay
