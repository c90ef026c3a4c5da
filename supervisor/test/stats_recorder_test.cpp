// The stats recorder on fake time and a fake status: boundaries, nulls, deltas, the bound,
// atomic saves, reloading an incomplete capture, ids. And the log memory.
#include "funkhaus/supervisor/stats_recorder.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "funkhaus/supervisor/log_memory.h"

namespace funkhaus::supervisor {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

class StatsRecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("stats-recorder-test-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  StatsRecorderOptions options(const fs::path& dir) {
    StatsRecorderOptions o;
    o.dir = dir.string();
    o.host = "testhost";
    o.unix_ms = [this] { return unix_ms_; };
    o.process_usage = [this](int pid) -> std::optional<ProcessUsage> {
      if (pid != 100) return std::nullopt;
      return ProcessUsage{cpu_seconds_, 64.0 * 1024 * 1024};
    };
    return o;
  }

  // A status with one session worker "encode" (pid 100 unless stopped) and its counters.
  json status() const {
    json encode = {{"name", "encode"}, {"restarts", restarts_}};
    if (running_) {
      encode["pid"] = 100;
      encode["fps"] = 60.0;
      encode["latency_p50_ms"] = 9.5;
      encode["latency_p99_ms"] = 12.0;
      encode["stage_p50_ms"] = 8.0;
      encode["stage_p99_ms"] = nullptr;  // not measured
      encode["counters"] = {{"drops", drops_}, {"errors", 0}, {"bytes_out", bytes_}};
    } else {
      encode["pid"] = nullptr;
    }
    json session = {{"workers", json::array({encode})},
                    {"latency",
                     {{"stages", json::array({{{"stage", "encode"}, {"p50_ms", 8.0}}})},
                      {"total", {{"p50_ms", 10.0}, {"p99_ms", nullptr}}}}},
                    {"rings", {{"packets", {{"occupancy", 0.25}}}}}};
    return {{"ok", true}, {"sessions", json::array({session})}, {"host_workers", json::array()}};
  }

  // Ticks every 50 ms for `d` (as funkhausd does).
  void run(StatsRecorder& r, Duration d) {
    const TimePoint end = clock_.now() + d;
    while (clock_.now() < end) {
      clock_.advance(50ms);
      r.tick(clock_.now(), [this] {
        ++status_calls_;
        return status();
      });
    }
  }

  fs::path root_;
  FakeClock clock_;
  int64_t unix_ms_ = 1'796'292'000'000;  // 2026-12-03
  double cpu_seconds_ = 10.0;
  bool running_ = true;
  uint64_t drops_ = 5, bytes_ = 1000;
  int restarts_ = 0;
  int status_calls_ = 0;
};

std::vector<std::optional<double>> values(const json& capture, const std::string& series) {
  std::vector<std::optional<double>> out;
  for (const auto& v : capture["series"][series])
    out.push_back(v.is_null() ? std::nullopt : std::optional<double>(v.get<double>()));
  return out;
}

TEST(StatsIds, ValidAndMade) {
  for (const char* ok : {"a", "20261203-141500", "x.y_z-1", "..a", "A"})
    EXPECT_TRUE(validStatsId(ok)) << ok;
  for (const char* bad : {"", ".", "..", "a/b", "../a", "a b", "a\n", "é"})
    EXPECT_FALSE(validStatsId(bad)) << bad;
  EXPECT_FALSE(validStatsId(std::string(65, 'a')));
  EXPECT_TRUE(validStatsId(std::string(64, 'a')));
  EXPECT_EQ(statsId(1'796'292'000'000, ""), "20261203-100000");
  EXPECT_EQ(statsId(1'796'292'000'000, "boss fight/../2"), "20261203-100000-boss-fight----2");
  EXPECT_EQ(statsId(1'796'292'000'000, std::string(100, 'n')).size(), 64u);
  EXPECT_TRUE(validStatsId(statsId(0, "\x01\xff weird")));
}

TEST_F(StatsRecorderTest, NotArmedTheTickReadsNothing) {
  StatsRecorder r(options(root_ / "stats"));
  ASSERT_TRUE(r.open().ok());
  run(r, 5s);
  EXPECT_EQ(status_calls_, 0);
  EXPECT_FALSE(r.armed());
  EXPECT_TRUE(r.list()["armed"].is_null());
  EXPECT_FALSE(r.stop().ok());
}

TEST_F(StatsRecorderTest, OneSamplePerBoundaryWithDeltasAndNulls) {
  StatsRecorder r(options(root_ / "stats"));
  ASSERT_TRUE(r.open().ok());
  auto id = r.start("run", clock_.now(), status());
  ASSERT_TRUE(id.ok()) << id.error().message;
  EXPECT_EQ(*id, "20261203-100000-run");
  EXPECT_TRUE(r.armed());
  EXPECT_FALSE(r.start("again", clock_.now(), status()).ok()) << "one armed at a time";
  run(r, 950ms);
  EXPECT_EQ(status_calls_, 0) << "no boundary yet";
  // Interval 1: 3 drops, 1000 bytes (8 kbit/s), half a core.
  drops_ = 8;
  bytes_ = 2000;
  cpu_seconds_ = 10.5;
  run(r, 50ms);
  EXPECT_EQ(status_calls_, 1);
  run(r, 1s);  // interval 2: nothing moved
  // Interval 3: encode stopped (no pid, no page). Interval 4: back, restarted once.
  running_ = false;
  run(r, 1s);
  running_ = true;
  restarts_ = 1;
  drops_ = 0;  // a new page counts from zero
  run(r, 1s);
  EXPECT_EQ(status_calls_, 4);
  auto shown = r.show(*id);
  ASSERT_TRUE(shown.ok());
  const json& c = *shown;
  EXPECT_EQ(c["t"], json({1, 2, 3, 4}));
  EXPECT_EQ(c["complete"], false);
  EXPECT_TRUE(c["stopped_unix_ms"].is_null());
  using V = std::vector<std::optional<double>>;
  EXPECT_EQ(values(c, "encode.fps"), V({60.0, 60.0, std::nullopt, 60.0}));
  EXPECT_EQ(values(c, "encode.drops"), V({3.0, 0.0, std::nullopt, std::nullopt}));
  EXPECT_EQ(values(c, "encode.bitrate_kbps"), V({8.0, 0.0, std::nullopt, std::nullopt}));
  EXPECT_EQ(values(c, "encode.restarts"), V({0.0, 0.0, 0.0, 1.0}));
  EXPECT_EQ(values(c, "encode.cpu_percent"), V({50.0, 0.0, std::nullopt, std::nullopt}));
  EXPECT_EQ(values(c, "encode.rss_mb"), V({64.0, 64.0, std::nullopt, 64.0}));
  EXPECT_EQ(values(c, "split.encode_ms"), V({8.0, 8.0, 8.0, 8.0}));
  EXPECT_EQ(values(c, "total.p50_ms"), V({10.0, 10.0, 10.0, 10.0}));
  EXPECT_EQ(values(c, "ring-packets.ring_occupancy"), V({0.25, 0.25, 0.25, 0.25}));
  // Never exposed: no series at all, rather than one of invented numbers.
  EXPECT_FALSE(c["series"].contains("encode.stage_p99_ms"));
  EXPECT_FALSE(c["series"].contains("total.p99_ms"));
  EXPECT_FALSE(c["series"].contains("encode.viewers"));
  for (const auto& [name, v] : c["series"].items()) EXPECT_EQ(v.size(), 4u) << name;
  auto stopped = r.stop();
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->samples, 4u);
  EXPECT_FALSE(r.armed());
}

TEST_F(StatsRecorderTest, ASeriesThatAppearsLaterIsNullBefore) {
  running_ = false;
  StatsRecorder r(options(root_ / "stats"));
  ASSERT_TRUE(r.open().ok());
  auto id = r.start("", clock_.now(), status());
  ASSERT_TRUE(id.ok());
  run(r, 2s);
  running_ = true;
  run(r, 1s);
  auto c = r.show(*id);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(values(*c, "encode.fps"),
            (std::vector<std::optional<double>>{std::nullopt, std::nullopt, 60.0}));
}

TEST_F(StatsRecorderTest, BoundedKeepsTheStartAndMarksTruncated) {
  auto o = options(root_ / "stats");
  o.max_samples = 5;
  StatsRecorder r(o);
  ASSERT_TRUE(r.open().ok());
  auto id = r.start("long", clock_.now(), status());
  ASSERT_TRUE(id.ok());
  run(r, 9s);
  auto c = r.show(*id);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)["t"], json({1, 2, 3, 4, 5}));
  EXPECT_EQ((*c)["truncated"], true);
  EXPECT_EQ((*c)["series"]["encode.fps"].size(), 5u);
  EXPECT_EQ(status_calls_, 5) << "nothing more is read once full";
  ASSERT_TRUE(r.stop().ok());
  auto listed = r.list()["captures"];
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["truncated"], true);
  EXPECT_EQ(listed[0]["samples"], 5);
}

TEST_F(StatsRecorderTest, SavedAtomicallyPrivateAndReloaded) {
  const fs::path dir = root_ / "state" / "stats";
  std::string id;
  json shown;
  {
    StatsRecorder r(options(dir));
    ASSERT_TRUE(r.open().ok());
    id = *r.start("a", clock_.now(), status());
    run(r, 3s);
    unix_ms_ += 3000;
    ASSERT_TRUE(r.stop().ok());
    shown = *r.show(id);
  }
  struct stat st {};
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat((dir / (id + ".json")).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string(), id + ".json") << "no temp file is left";
  std::ifstream in(dir / (id + ".json"));
  const json file = json::parse(in);
  EXPECT_EQ(file["format"], "funkhaus-stats/1");
  EXPECT_EQ(file["host"], "testhost");
  EXPECT_EQ(file["interval_ms"], 1000);
  EXPECT_EQ(file["complete"], true);
  EXPECT_EQ(file["stopped_unix_ms"], unix_ms_);
  EXPECT_EQ(file["t"], json({1, 2, 3}));

  StatsRecorder again(options(dir));  // funkhausd started anew
  ASSERT_TRUE(again.open().ok());
  const json list = again.list();
  ASSERT_EQ(list["captures"].size(), 1u);
  EXPECT_EQ(list["captures"][0]["id"], id);
  EXPECT_EQ(list["captures"][0]["complete"], true);
  EXPECT_EQ(list["captures"][0]["samples"], 3);
  auto reloaded = again.show(id);
  ASSERT_TRUE(reloaded.ok());
  EXPECT_EQ(*reloaded, shown);
  // A second capture in the same second gets its own id.
  unix_ms_ -= 3000;
  auto second = again.start("a", clock_.now(), status());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, id + "-2");
}

TEST_F(StatsRecorderTest, AnArmedCaptureSurvivesACrashUpToItsLastSave) {
  const fs::path live = root_ / "live", crashed = root_ / "crashed";
  auto o = options(live);
  o.flush_every = 2;
  StatsRecorder r(o);
  ASSERT_TRUE(r.open().ok());
  const std::string id = *r.start("crash", clock_.now(), status());
  run(r, 3s);  // 3 samples, saved at the 2nd
  // What a SIGKILL leaves on disk now: the files as they are, plus a save that did not finish.
  fs::create_directories(crashed);
  fs::copy_file(live / (id + ".json"), crashed / (id + ".json"));
  std::ofstream(crashed / ("." + id + ".json.tmp")) << "{\"half";
  StatsRecorder after(options(crashed));
  ASSERT_TRUE(after.open().ok());
  const json list = after.list();
  EXPECT_TRUE(list["armed"].is_null());
  ASSERT_EQ(list["captures"].size(), 1u);
  EXPECT_EQ(list["captures"][0]["complete"], false);
  EXPECT_EQ(list["captures"][0]["samples"], 2);
  EXPECT_TRUE(list["captures"][0]["stopped_unix_ms"].is_null());
  auto c = after.show(id);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)["t"], json({1, 2}));
  EXPECT_EQ((*c)["series"]["encode.fps"], json({60.0, 60.0}));
  EXPECT_FALSE(fs::exists(crashed / ("." + id + ".json.tmp"))) << "the torn temp file is gone";
  EXPECT_TRUE(after.remove(id).ok());
  EXPECT_FALSE(fs::exists(crashed / (id + ".json")));
}

TEST_F(StatsRecorderTest, IdsAreCheckedBeforeAnyPath) {
  StatsRecorder r(options(root_ / "stats"));
  ASSERT_TRUE(r.open().ok());
  std::ofstream(root_ / "secret.json") << "{}";
  for (const char* bad : {"../secret", "..", "a/b", ""}) {
    EXPECT_FALSE(r.show(bad).ok()) << bad;
    EXPECT_FALSE(r.remove(bad).ok()) << bad;
  }
  EXPECT_TRUE(fs::exists(root_ / "secret.json"));
  EXPECT_NE(r.show("nothere").error().message.find("no capture"), std::string::npos);
  const std::string id = *r.start("x", clock_.now(), status());
  EXPECT_NE(r.remove(id).error().message.find("armed"), std::string::npos);
  ASSERT_TRUE(r.stop().ok());
  EXPECT_TRUE(r.remove(id).ok());
  EXPECT_FALSE(r.show(id).ok());
  // A file that is no capture of ours is not listed.
  std::ofstream(root_ / "stats" / "junk.json") << "[1,2]";
  StatsRecorder again(options(root_ / "stats"));
  ASSERT_TRUE(again.open().ok());
  EXPECT_TRUE(again.list()["captures"].empty());
}

TEST_F(StatsRecorderTest, ASymlinkedDirectoryIsRefused) {
  fs::create_directories(root_ / "elsewhere");
  fs::create_symlink(root_ / "elsewhere", root_ / "stats");
  StatsRecorder r(options(root_ / "stats"));
  EXPECT_FALSE(r.open().ok());
  auto started = r.start("x", clock_.now(), status());
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.error().message.find("stats captures are off"), std::string::npos);
  EXPECT_TRUE(fs::is_empty(root_ / "elsewhere"));
}

TEST(StatsSlice, APageOfEverySeries) {
  const json capture = {
      {"id", "x"},
      {"t", {1, 2, 3, 4, 5}},
      {"series", {{"a.fps", {1, 2, 3, 4, 5}}, {"b.fps", {nullptr, 2, nullptr, 4, 5}}}}};
  const json page = statsSlice(capture, 1, 2);
  EXPECT_EQ(page["t"], json({2, 3}));
  EXPECT_EQ(page["series"]["a.fps"], json({2, 3}));
  EXPECT_EQ(page["series"]["b.fps"], json({2, nullptr}));
  EXPECT_EQ(page["samples"], 5);
  EXPECT_EQ(page["from"], 1);
  EXPECT_EQ(page["id"], "x");
  EXPECT_EQ(statsSlice(capture, 3, 0)["t"], json({4, 5})) << "count 0: to the end";
  EXPECT_EQ(statsSlice(capture, 9, 2)["t"], json::array()) << "past the end: empty";
}

TEST_F(StatsRecorderTest, ProcessUsageOfThisProcess) {
  auto usage = readProcessUsage(getpid());
  ASSERT_TRUE(usage.has_value());
  EXPECT_GT(usage->rss_bytes, 1024.0 * 1024);
  EXPECT_GE(usage->cpu_seconds, 0.0);
  EXPECT_FALSE(readProcessUsage(0).has_value());
}

TEST(LogMemory, KeepsRecentLinesWithTimeAndLevel) {
  keepRecentLogLines();
  keepRecentLogLines();  // once only
  spdlog::warn("log memory test line {}", 42);
  const json lines = recentLogLines(60s);
  ASSERT_FALSE(lines.empty());
  const json& last = lines.back();
  EXPECT_EQ(last["text"], "log memory test line 42");
  EXPECT_EQ(last["level"], "warning");
  EXPECT_TRUE(last["unix_ms"].is_number_integer());
  size_t copies = 0;
  for (const auto& l : lines) copies += l["text"] == "log memory test line 42";
  EXPECT_EQ(copies, 1u);
  EXPECT_TRUE(recentLogLines(1s, std::chrono::system_clock::now() + 1h).empty())
      << "older lines than asked are left out";
}

// A worker's reply is one message: the newest lines that fit, oldest first, the rest counted.
TEST(LogMemory, NewestLinesWithinABudget) {
  json lines = json::array();
  for (int i = 0; i < 100; ++i)
    lines.push_back({{"unix_ms", 1000 + i}, {"level", "info"}, {"text", std::string(90, 'a')}});
  const size_t one = lines[0].dump().size() + 1;
  size_t left_out = 0;
  const json some = newestLinesWithin(lines, 2 + 10 * one, &left_out);
  ASSERT_EQ(some.size(), 10u);
  EXPECT_EQ(left_out, 90u);
  EXPECT_EQ(some.front()["unix_ms"], 1090);
  EXPECT_EQ(some.back()["unix_ms"], 1099);
  EXPECT_LE(some.dump().size(), 2 + 10 * one);
  EXPECT_EQ(newestLinesWithin(lines, 1 << 20, &left_out).size(), 100u);
  EXPECT_EQ(left_out, 0u);
  EXPECT_TRUE(newestLinesWithin(lines, 10, &left_out).empty());
  EXPECT_EQ(left_out, 100u);
}

}  // namespace
}  // namespace funkhaus::supervisor
