// The chaos soak's figures: /proc parsing, the pause around a fault, the verdict; its
// funkhausd config (GameStream, the [session] a switch changes) and the probe's summary.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "funkhaus/bench/soak.h"
#include "funkhaus/bench/soak_host.h"
#include "funkhaus/supervisor/config.h"

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

// Without GameStream or sessions the config is the one of before: the host's, the guards off.
TEST(SoakConfig, PlainIsTheHostConfigWithTheGuardsOff) {
  const BenchSettings b{320, 180, 30, false};
  const auto text = soakConfigToml(b, "/tmp/x.sock", {});
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_EQ(*text, hostConfigToml(b, "/tmp/x.sock") +
                       "[restart]\nmax_restarts = 1000\nstable_after_ms = 0\n");
  const auto config = supervisor::parseConfig(*text, "soak.toml");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_FALSE(config->gamestream.enabled);
  EXPECT_TRUE(config->session.environment.empty());
  EXPECT_EQ(config->restart.max_restarts, 1000);
}

// What funkhausd parses: GameStream on loopback at the base port, the session's variable; the
// two session values give configs that differ only there.
TEST(SoakConfig, GamestreamAndTheSessionValueParseAsFunkhausdReadsThem) {
  const BenchSettings b{320, 180, 30, false};
  const auto a = soakConfigToml(b, "/tmp/x.sock", {"a", 41234});
  const auto other = soakConfigToml(b, "/tmp/x.sock", {"b", 41234});
  ASSERT_TRUE(a && other);
  const auto ca = supervisor::parseConfig(*a, "soak.toml");
  const auto cb = supervisor::parseConfig(*other, "soak.toml");
  ASSERT_TRUE(ca) << ca.error().message << "\n" << *a;
  ASSERT_TRUE(cb) << cb.error().message;
  EXPECT_TRUE(ca->gamestream.enabled);
  EXPECT_EQ(ca->gamestream.base_port, 41234);
  EXPECT_EQ(ca->gamestream.listen_address, "127.0.0.1");
  EXPECT_FALSE(ca->gamestream.mdns);
  EXPECT_EQ(ca->session.environment.at(kSoakSessionVariable), "a");
  EXPECT_EQ(cb->session.environment.at(kSoakSessionVariable), "b");
  EXPECT_EQ(ca->capture.width, 320u);
  EXPECT_EQ(ca->restart.max_restarts, 1000);
  EXPECT_EQ(ca->control_socket, "/tmp/x.sock");
  // A value TOML would need escaped is refused, not written.
  EXPECT_FALSE(soakConfigToml(b, "/tmp/x.sock", {"a\"b", 0}));
}

TEST(SoakConfig, WritesAtomicallyOverTheOldFile) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("funkhaus-soak-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "funkhaus.toml";
  ASSERT_TRUE(writeFileAtomically(file, "old\n"));
  ASSERT_TRUE(writeFileAtomically(file, "new\n"));
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "new\n");
  size_t entries = 0;  // no temporary left beside it
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++entries;
  EXPECT_EQ(entries, 1u);
  EXPECT_FALSE(writeFileAtomically(dir / "missing" / "x.toml", "x"));
  std::filesystem::remove_all(dir);
}

// The probe's stdout: per-second lines, then the summary (pictures with --picture-luma).
TEST(ProbeSummary, ReadsTheLastSummaryLine) {
  const std::string out =
      "{\"t\":1,\"decoded\":30,\"fps\":30.0,\"type\":\"second\"}\n"
      "{\"type\":\"summary\",\"connected\":true,\"exit_code\":0,\"error\":null,"
      "\"terminated_error\":null,\"frames_decoded\":3,\"frames_lost\":1,\"idr_frames\":2,"
      "\"pictures\":{\"decoded_ns\":[300,100,200],\"mean_luma\":[1.0,2.0,3.0]}}\n";
  const auto s = parseProbeSummary(out);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(s->connected);
  EXPECT_EQ(s->exit_code, 0);
  EXPECT_EQ(s->error, "");
  EXPECT_EQ(s->terminated_error, "");
  EXPECT_EQ(s->frames_decoded, 3u);
  EXPECT_EQ(s->frames_lost, 1u);
  EXPECT_EQ(s->idr_frames, 2u);
  EXPECT_EQ(s->pictures_ns, (std::vector<uint64_t>{100, 200, 300}));  // sorted
}

TEST(ProbeSummary, NamesAStreamTheHostEndedAndAFailedRun) {
  const auto ended = parseProbeSummary(
      "{\"type\":\"summary\",\"connected\":true,\"exit_code\":1,\"error\":null,"
      "\"terminated_error\":-100,\"frames_decoded\":0}");
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->terminated_error, "-100");
  EXPECT_EQ(ended->exit_code, 1);
  EXPECT_TRUE(ended->pictures_ns.empty());  // no --picture-luma list
  const auto failed = parseProbeSummary(
      "{\"type\":\"summary\",\"connected\":false,\"exit_code\":1,\"error\":\"launch: 503\"}");
  ASSERT_TRUE(failed);
  EXPECT_FALSE(failed->connected);
  EXPECT_EQ(failed->error, "launch: 503");
  EXPECT_FALSE(parseProbeSummary("{\"t\":1,\"type\":\"second\"}\n"));
  EXPECT_FALSE(parseProbeSummary("{\"type\":\"summary\",\"connected\":"));  // cut short
}

}  // namespace
}  // namespace funkhaus::bench
