// Host watchdog on fake time: silent hosts expire, fed hosts do not.
#include "funkhaus/vdisplay/watchdog.h"

#include <gtest/gtest.h>

namespace funkhaus::vdisplay {
namespace {

using namespace std::chrono_literals;

TEST(HostWatchdog, SilentHostsExpireFedHostsDoNot) {
  FakeClock clock;
  HostWatchdog w(clock, 3000ms);
  EXPECT_FALSE(w.nextDeadline().has_value());
  w.add(1);
  clock.advance(1000ms);
  w.add(2);
  EXPECT_EQ(w.nextDeadline(), clock.now() + 2000ms);
  clock.advance(1999ms);
  EXPECT_TRUE(w.expired().empty());
  w.feed(1);  // host 1 pings
  clock.advance(1ms);
  EXPECT_TRUE(w.expired().empty());  // t=3000: host 2 (added at 1000) is due at 4000
  clock.advance(1000ms);
  EXPECT_EQ(w.expired(), std::vector<uint64_t>{2});
  clock.advance(2000ms);
  EXPECT_EQ(w.expired(), (std::vector<uint64_t>{1, 2}));  // still watched until removed
  w.remove(2);
  w.remove(1);
  EXPECT_TRUE(w.expired().empty());
  EXPECT_FALSE(w.nextDeadline().has_value());
}

TEST(HostWatchdog, DeadlineIsInclusiveAndFeedOfUnknownHostIsIgnored) {
  FakeClock clock;
  HostWatchdog w(clock, 100ms);
  w.add(7);
  w.feed(8);  // a host that is not watched (already expired and removed)
  clock.advance(99ms);
  EXPECT_TRUE(w.expired().empty());
  clock.advance(1ms);
  EXPECT_EQ(w.expired(), std::vector<uint64_t>{7});
}

TEST(HostWatchdog, RegularPingsKeepAHostForever) {
  FakeClock clock;
  HostWatchdog w(clock, 3000ms);
  w.add(1);
  for (int i = 0; i < 10000; ++i) {
    clock.advance(2999ms);
    w.feed(1);
    ASSERT_TRUE(w.expired().empty()) << "after " << i << " pings";
  }
}

}  // namespace
}  // namespace funkhaus::vdisplay
