// Prometheus text from the status JSON.
#include "funkhaus/console/metrics.h"

#include <gtest/gtest.h>

namespace funkhaus::console {
namespace {

using nlohmann::json;

bool has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(Metrics, WorkersStagesAndCountersAsExposition) {
  const json status = json::parse(R"({
    "ok": true,
    "host_workers": [{"name":"web","state":"running","restarts":0,"pid":5}],
    "sessions": [{"id":"c2","workers":[
      {"name":"encode","state":"running","restarts":2,"uptime_s":10.5,"fps":59.94,
       "latency_p50_ms":8.25,"latency_p99_ms":12.0,"stage_p50_ms":3.5,"stage_p99_ms":null,
       "counters":{"frames_in":100,"frames_out":99,"drops":1,"errors":0,"bytes_out":12345,
                   "keyframes":3}},
      {"name":"net","state":"backoff","restarts":1,"viewers":2,"counters":{"frames_out":7}}],
     "latency":{"stages":[{"stage":"encode","worker":"encode","p50_ms":3.5,"p99_ms":null}],
                "total":{"p50_ms":9.0,"p99_ms":null}}}]
  })");
  const std::string t = prometheusText(status);
  EXPECT_TRUE(has(t, "funkhaus_up 1")) << t;
  EXPECT_TRUE(has(t, "# TYPE funkhaus_worker_fps gauge"));
  EXPECT_TRUE(has(t, R"(funkhaus_worker_fps{worker="encode",session="c2"} 59.94)")) << t;
  EXPECT_TRUE(has(t, R"(funkhaus_worker_up{worker="web",session="host"} 1)"));
  EXPECT_TRUE(has(t, R"(funkhaus_worker_up{worker="net",session="c2"} 0)"));
  EXPECT_TRUE(has(t, R"(funkhaus_worker_restarts_total{worker="encode",session="c2"} 2)"));
  EXPECT_TRUE(has(t, "# TYPE funkhaus_worker_restarts_total counter"));
  EXPECT_TRUE(has(t, R"(funkhaus_worker_frames_out_total{worker="encode",session="c2"} 99)"));
  EXPECT_TRUE(has(t, R"(funkhaus_worker_bytes_out_total{worker="encode",session="c2"} 12345)"));
  EXPECT_TRUE(has(t, R"(funkhaus_worker_viewers{worker="net",session="c2"} 2)"));
  EXPECT_TRUE(has(t, R"(funkhaus_worker_stage_p50_ms{worker="encode",session="c2"} 3.5)"));
  EXPECT_TRUE(
      has(t, R"(funkhaus_stage_latency_p50_ms{stage="encode",worker="encode",session="c2"} 3.5)"));
  EXPECT_TRUE(has(t, R"(funkhaus_total_latency_p50_ms{session="c2"} 9)"));
  // Not measured or not exposed: absent, never a made-up zero.
  EXPECT_EQ(t.find("funkhaus_worker_stage_p99_ms{worker=\"encode\""), std::string::npos);
  EXPECT_EQ(t.find("funkhaus_total_latency_p99_ms{"), std::string::npos);
  EXPECT_EQ(t.find("funkhaus_worker_drops_total{worker=\"net\""), std::string::npos);
  EXPECT_EQ(t.find("funkhaus_worker_repeats_total"), std::string::npos);
  // Each family's HELP and TYPE once.
  size_t count = 0;
  for (size_t at = t.find("# TYPE funkhaus_worker_fps "); at != std::string::npos;
       at = t.find("# TYPE funkhaus_worker_fps ", at + 1))
    ++count;
  EXPECT_EQ(count, 1u);
}

TEST(Metrics, NoStatusIsUpZeroAndLabelsAreEscaped) {
  EXPECT_EQ(prometheusText(json()),
            "# HELP funkhaus_up 1 when funkhausd answered the status\n# TYPE funkhaus_up "
            "gauge\nfunkhaus_up 0\n");
  EXPECT_EQ(labelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  const json weird = {{"ok", true},
                      {"sessions", json::array({{{"id", "x\"}"}, {"workers", json::array()}}})}};
  EXPECT_TRUE(has(prometheusText(weird), "funkhaus_sessions 1"));
}

}  // namespace
}  // namespace funkhaus::console
