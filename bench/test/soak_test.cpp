// The chaos soak's figures: /proc parsing, the pause around a fault, the verdict.
#include <gtest/gtest.h>
#include <unistd.h>

#include "funkhaus/bench/soak.h"

namespace funkhaus::bench {
namespace {

constexpr uint64_t kMs = 1'000'000;

TEST(SoakFigures, ParsesStateAndParentEvenWithParenthesesInTheCommand) {
  const auto s = parseProcStat("4242 (funk) (x) y) Z 17 4242 17 0 -1 4194560 0");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->state, 'Z');
  EXPECT_EQ(s->ppid, 17);
  EXPECT_FALSE(parseProcStat("4242 (funk"));
  EXPECT_FALSE(parseProcStat("4242 (funk) S"));
  EXPECT_FALSE(parseProcStat("4242 (funk) S x"));
}

TEST(SoakFigures, ReadsVmRss) {
  EXPECT_EQ(parseVmRssKb("Name:\tx\nVmPeak:\t  900 kB\nVmRSS:\t    5120 kB\nRssAnon: 1 kB\n"),
            5120u);
  EXPECT_FALSE(parseVmRssKb("Name:\tx\n"));
}

TEST(SoakFigures, SamplesThisProcessAsAHostWithoutChildren) {
  const HostSample s = sampleHost(getpid(), 7);
  EXPECT_EQ(s.at_ns, 7u);
  EXPECT_GE(s.fds, 3u);  // stdin, stdout, stderr at least
  EXPECT_GT(s.rss_kb, 0u);
  EXPECT_EQ(s.zombies, 0u);
}

// Frames every 33 ms, a fault at 1000 ms, the next frame 400 ms after the last one before it.
TEST(SoakFigures, PauseIsTheGapTheFaultOpened) {
  std::vector<uint64_t> a;
  for (uint64_t t = 0; t <= 990 * kMs; t += 33 * kMs) a.push_back(t);
  const uint64_t last = a.back();
  for (uint64_t t = last + 400 * kMs; t < 3000 * kMs; t += 33 * kMs) a.push_back(t);
  EXPECT_EQ(pauseAround(a, 1000 * kMs, 2000 * kMs, 3000 * kMs), 400 * kMs);
  // A fault in steady streaming sees one frame interval.
  EXPECT_EQ(pauseAround(a, 2000 * kMs, 500 * kMs, 3000 * kMs), 33 * kMs);
}

TEST(SoakFigures, PauseTakesALaterLongerGapWithinTheWindow) {
  // Frames keep coming from the ring for 100 ms after the kill, then stop for 700 ms.
  const std::vector<uint64_t> a = {900 * kMs,  1000 * kMs, 1050 * kMs, 1100 * kMs,
                                   1800 * kMs, 1833 * kMs, 4000 * kMs};
  EXPECT_EQ(pauseAround(a, 1010 * kMs, 700 * kMs, 5000 * kMs), 700 * kMs);
  // A window reaching 1833 ms takes the next stop too (to 4000 ms).
  EXPECT_EQ(pauseAround(a, 1010 * kMs, 1000 * kMs, 5000 * kMs), 2167 * kMs);
  // The gap to 4000 ms starts after the window (1010 + 500): not this fault's.
  EXPECT_EQ(pauseAround(a, 1010 * kMs, 500 * kMs, 5000 * kMs), 700 * kMs);
  // The stop begins after 1010 + 80 ms: outside that window only the 50 ms steps are seen.
  EXPECT_EQ(pauseAround(a, 1010 * kMs, 80 * kMs, 5000 * kMs), 50 * kMs);
}

TEST(SoakFigures, AGapSpanningTheNextFaultIsThatFaults) {
  // Frames every 33 ms; a fault at 1000 ms costs nothing, the next at 1500 ms opens 300 ms.
  std::vector<uint64_t> a;
  for (uint64_t t = 0; t <= 1485 * kMs; t += 33 * kMs) a.push_back(t);
  const uint64_t last = a.back();
  for (uint64_t t = last + 300 * kMs; t < 3000 * kMs; t += 33 * kMs) a.push_back(t);
  EXPECT_EQ(pauseAround(a, 1000 * kMs, 2000 * kMs, 3000 * kMs), 300 * kMs);  // without it
  EXPECT_EQ(pauseAround(a, 1000 * kMs, 2000 * kMs, 3000 * kMs, 1500 * kMs), 33 * kMs);
  EXPECT_EQ(pauseAround(a, 1500 * kMs, 2000 * kMs, 3000 * kMs), 300 * kMs);
}

TEST(SoakFigures, PauseUntilTheEndWhenNoFrameCameBack) {
  const std::vector<uint64_t> a = {100 * kMs, 200 * kMs};
  EXPECT_EQ(pauseAround(a, 250 * kMs, 1000 * kMs, 900 * kMs), 700 * kMs);
  EXPECT_EQ(pauseAround({}, 250 * kMs, 1000 * kMs, 900 * kMs), 0u);
  // The first frame only after the fault: measured from the fault.
  EXPECT_EQ(pauseAround({600 * kMs, 633 * kMs}, 250 * kMs, 1000 * kMs, 900 * kMs), 350 * kMs);
}

HostSample sample(uint64_t fds, uint64_t rss, uint64_t shm, uint64_t memfds, uint64_t zombies) {
  HostSample s;
  s.fds = fds;
  s.rss_kb = rss;
  s.shm_files = shm;
  s.shm_bytes = shm * 4096;
  s.memfds = memfds;
  s.memfd_bytes = memfds * 1000;
  s.zombies = zombies;
  return s;
}

const VerdictRow* row(const std::vector<VerdictRow>& rows, const std::string& what) {
  for (const VerdictRow& r : rows)
    if (r.what == what) return &r;
  return nullptr;
}

TEST(SoakVerdict, MeetsEveryTargetWhenFlat) {
  const auto rows = soakVerdict({1800, 1800}, {1710, 1790},
                                {sample(40, 9000, 0, 12, 0), sample(39, 9900, 0, 12, 0)});
  for (const VerdictRow& r : rows) EXPECT_TRUE(r.met) << r.what << ": " << r.measured;
  EXPECT_EQ(row(rows, "frames viewer 0 chaos/baseline")->measured, "1710 / 1800 = 95.0 %");
}

TEST(SoakVerdict, NamesEachMissedTarget) {
  const auto rows = soakVerdict(
      {1800, 1800}, {1709, 1800},
      {sample(40, 9000, 1, 12, 0), sample(41, 10025, 2, 13, 0), sample(40, 9000, 1, 12, 1)});
  EXPECT_FALSE(row(rows, "frames viewer 0 chaos/baseline")->met);
  EXPECT_TRUE(row(rows, "frames viewer 1 chaos/baseline")->met);
  EXPECT_TRUE(row(rows, "frames all viewers chaos/baseline")->met);  // 3509 / 3600 = 97.5 %
  EXPECT_TRUE(row(rows, "funkhausd fds")->met);                      // first vs last
  EXPECT_FALSE(row(rows, "zombie children of funkhausd (most in any sample)")->met);
  const auto grown =
      soakVerdict({1}, {1}, {sample(40, 9000, 1, 12, 0), sample(41, 10025, 2, 13, 0)});
  EXPECT_FALSE(row(grown, "funkhausd fds")->met);
  EXPECT_FALSE(row(grown, "/dev/shm funkhaus* files")->met);
  EXPECT_FALSE(row(grown, "memfd links (funkhausd + workers)")->met);
  EXPECT_FALSE(row(grown, "funkhausd RSS growth")->met);  // 1025 kB
  EXPECT_EQ(row(grown, "funkhausd RSS growth")->measured, "9000 -> 10025 kB (+1025 kB)");
  EXPECT_FALSE(soakVerdict({0}, {0}, {}).front().met);  // no baseline frames: no ratio
}

}  // namespace
}  // namespace funkhaus::bench
