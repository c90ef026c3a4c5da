// funkhausctl's views of captures: the series table, CSV with empty cells for null, the list,
// log lines; any shape from funkhausd is survived.
#include "funkhaus/supervisor/stats_view.h"

#include <gtest/gtest.h>

namespace funkhaus::supervisor {
namespace {

using json = nlohmann::json;

const json kCapture = json::parse(R"({
  "format": "funkhaus-stats/1", "id": "20261203-100000-x", "name": "x", "host": "h",
  "started_unix_ms": 1796292000000, "stopped_unix_ms": 1796292004000, "interval_ms": 1000,
  "truncated": false, "complete": true, "t": [1, 2, 3, 4],
  "series": {"encode.fps": [60.0, null, 30.0, 59.5], "net,odd\"name": [null, null, null, null]}
})");

TEST(StatsView, SeriesTableHasMinMedianMax) {
  const auto lines = statsSeriesLines(kCapture);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_NE(lines[0].find("20261203-100000-x"), std::string::npos);
  EXPECT_NE(lines[0].find("4 samples"), std::string::npos);
  EXPECT_NE(lines[2].find("encode.fps"), std::string::npos);
  EXPECT_NE(lines[2].find(" 3 "), std::string::npos) << lines[2];
  EXPECT_NE(lines[2].find("30.00"), std::string::npos) << lines[2];
  EXPECT_NE(lines[2].find("59.50"), std::string::npos) << lines[2];
  EXPECT_NE(lines[2].find("60.00"), std::string::npos) << lines[2];
  EXPECT_NE(lines[3].find(" 0 "), std::string::npos) << "all null: no values, no made-up min";
  EXPECT_EQ(statsSeriesLines(json("nonsense")).size(), 1u);
}

TEST(StatsView, CsvOneRowPerSecondEmptyCellForNull) {
  auto csv = statsCsv(kCapture);
  ASSERT_TRUE(csv.ok()) << csv.error().message;
  EXPECT_EQ(*csv,
            "t,encode.fps,\"net,odd\"\"name\"\n"
            "1,60.0,\n"
            "2,,\n"
            "3,30.0,\n"
            "4,59.5,\n");
  json bad = kCapture;
  bad["series"]["encode.fps"].erase(0);
  EXPECT_FALSE(statsCsv(bad).ok()) << "a series shorter than t is no capture";
  EXPECT_FALSE(statsCsv(json::object()).ok());
}

TEST(StatsView, ListMarksArmedAndIncomplete) {
  const json reply = {
      {"ok", true},
      {"armed", "b"},
      {"captures",
       json::array({{{"id", "a"}, {"samples", 75}, {"complete", false}, {"truncated", false}},
                    {{"id", "b"}, {"samples", 3}, {"complete", false}}})}};
  const auto lines = statsListLines(reply);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[1].find("incomplete"), std::string::npos);
  EXPECT_NE(lines[1].find("1:15"), std::string::npos);
  EXPECT_NE(lines[2].find("armed"), std::string::npos);
  EXPECT_NE(statsListLines(json::object())[0].find("no captures"), std::string::npos);
}

TEST(StatsView, LogLinesWithoutControlCharacters) {
  const json reply = {
      {"lines",
       json::array(
           {{{"unix_ms", 1796292000123}, {"level", "warning"}, {"text", "a\x1b[2Jb"}}, "junk"})}};
  const auto lines = logLines(reply);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(".123 warning"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("a?[2Jb"), std::string::npos) << lines[0];
}

}  // namespace
}  // namespace funkhaus::supervisor
