// The screen-to-wire latency split: which worker is which stage, the status JSON from status
// pages (0 = not measured, absurd values clamped) and funkhausctl's lines from any JSON.
#include "funkhaus/supervisor/latency_split.h"

#include <gtest/gtest.h>

#include <map>

#include "funkhaus/supervisor/config.h"

namespace funkhaus::supervisor {
namespace {

using json = nlohmann::json;

Config configWith(const std::string& source) {
  auto c = parseConfig("[capture]\nsource = \"" + source + "\"\n", "t.toml");
  EXPECT_TRUE(c.ok()) << c.error().message;
  return *c;
}

abi::WorkerStatusPage pageWith(uint64_t stage_p50, uint64_t stage_p99, uint64_t p50 = 0,
                               uint64_t p99 = 0) {
  abi::WorkerStatusPage page{};
  abi::storeRelaxed(page.stage_p50_ns, stage_p50);
  abi::storeRelaxed(page.stage_p99_ns, stage_p99);
  abi::storeRelaxed(page.latency_p50_ns, p50);
  abi::storeRelaxed(page.latency_p99_ns, p99);
  return page;
}

TEST(LatencySplit, TheChainFollowsTheRingEdgesInOrder) {
  std::map<std::string, abi::WorkerStatusPage> pages;
  for (const char* w : {"vdisplay", "capture", "encode", "net", "input"}) pages[w] = {};
  const auto page_of = [&](std::string_view name) { return &pages.at(std::string(name)); };
  const std::vector<std::string> all = {"net", "input", "encode", "capture", "vdisplay"};
  const auto chain = videoChain(all, configWith("vdisplay"), page_of);
  ASSERT_EQ(chain.size(), 4u);
  const std::pair<const char*, const char*> want[] = {
      {"grab", "vdisplay"}, {"convert", "capture"}, {"encode", "encode"}, {"send", "net"}};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(chain[i].stage, want[i].first);
    EXPECT_EQ(chain[i].worker, want[i].second);
    EXPECT_EQ(chain[i].page, &pages.at(want[i].second));
  }
  // The synthetic picture: no driver, so no grab stage.
  const std::vector<std::string> three = {"capture", "encode", "net"};
  const auto synthetic = videoChain(three, configWith("synthetic"), page_of);
  ASSERT_EQ(synthetic.size(), 3u);
  EXPECT_EQ(synthetic.front().stage, "convert");
  EXPECT_TRUE(videoChain({}, configWith("synthetic"), page_of).empty());
}

TEST(LatencySplit, JsonHasEachStageAndTheLastStagesLatencyAsTotal) {
  const auto grab = pageWith(1'500'000, 3'000'000, 1'500'000, 3'000'000);
  const auto convert = pageWith(2'000'000, 4'000'000);
  const auto encode = pageWith(0, 0);  // not measured (an older worker: reserved bytes)
  const auto send = pageWith(250'000, 20'000'000'000, 9'000'000, UINT64_MAX);
  const ChainStage chain[] = {{"grab", "vdisplay", &grab},
                              {"convert", "capture", &convert},
                              {"encode", "encode", &encode},
                              {"send", "net", &send},
                              {"late", "x", nullptr}};
  json j = latencySplitJson(std::span(chain, 4));
  ASSERT_EQ(j["stages"].size(), 4u);
  EXPECT_EQ(j["stages"][0]["stage"], "grab");
  EXPECT_EQ(j["stages"][0]["worker"], "vdisplay");
  EXPECT_DOUBLE_EQ(j["stages"][0]["p50_ms"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(j["stages"][1]["p99_ms"].get<double>(), 4.0);
  EXPECT_TRUE(j["stages"][2]["p50_ms"].is_null());
  EXPECT_TRUE(j["stages"][2]["p99_ms"].is_null());
  EXPECT_DOUBLE_EQ(j["stages"][3]["p50_ms"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(j["stages"][3]["p99_ms"].get<double>(), 10'000.0) << "clamped";
  EXPECT_DOUBLE_EQ(j["total"]["p50_ms"].get<double>(), 9.0);
  EXPECT_DOUBLE_EQ(j["total"]["p99_ms"].get<double>(), 10'000.0) << "clamped";
  // A stage without a page (its worker not started): nothing measured, total included.
  j = latencySplitJson(chain);
  EXPECT_TRUE(j["stages"][4]["p50_ms"].is_null());
  EXPECT_TRUE(j["total"]["p50_ms"].is_null());
  EXPECT_TRUE(latencyMs(0).is_null());
  EXPECT_DOUBLE_EQ(latencyMs(1).get<double>(), 1e-6);
}

TEST(LatencySplit, LinesShowMillisecondsADashWhenNotMeasuredAndTheClamp) {
  const auto grab = pageWith(1'500'000, 3'000'000);
  const auto convert = pageWith(2'000'000, 4'250'000);
  const auto encode = pageWith(0, 0);
  const auto send = pageWith(250'000, UINT64_MAX, 9'130'000, 20'000'000'000);
  const ChainStage chain[] = {{"grab", "vdisplay", &grab},
                              {"convert", "capture", &convert},
                              {"encode", "encode", &encode},
                              {"send", "net", &send}};
  const auto lines = latencySplitLines(latencySplitJson(chain));
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0], "  latency, screen to wire      P50_MS   P99_MS");
  EXPECT_EQ(lines[1], "    grab     (vdisplay)          1.50     3.00");
  EXPECT_EQ(lines[2], "    convert  (capture)           2.00     4.25");
  EXPECT_EQ(lines[3], "    encode   (encode)               -        -");
  EXPECT_EQ(lines[4], "    send     (net)               0.25   >10000");
  EXPECT_EQ(lines[5], "    total                        9.13   >10000");
}

TEST(LatencySplit, LinesFromJsonOfAnyShapeNeverThrow) {
  EXPECT_TRUE(latencySplitLines(json()).empty());
  EXPECT_TRUE(latencySplitLines(json::array()).empty());
  EXPECT_TRUE(latencySplitLines(json{{"stages", json::array()}}).empty());
  EXPECT_TRUE(latencySplitLines(json{{"stages", "grab"}}).empty());
  const json odd = {
      {"stages",
       {1,
        {{"stage", "conv\x1b[2Jert"}, {"worker", 7}, {"p50_ms", -3.0}, {"p99_ms", "fast"}},
        {{"stage", "send"}, {"p50_ms", 1e300}, {"p99_ms", nullptr}}}},
      {"total", "none"}};
  const auto lines = latencySplitLines(odd);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[1], "    ?        (?)                    -        -");
  EXPECT_EQ(lines[2], "    conv?[2Jert (?)                    -        -");
  EXPECT_EQ(lines[3], "    send     (?)               >10000        -");
  EXPECT_EQ(lines[4], "    total                           -        -");
}

}  // namespace
}  // namespace funkhaus::supervisor
