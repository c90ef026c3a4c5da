// /metrics: funkhausd's status JSON (what `funkhausctl status --json` prints) as Prometheus text
// exposition (format 0.0.4): per worker (label worker, session; "host" for host workers) its
// state, restarts, fps, latency and stage percentiles and counters, and the latency split per
// stage. Counters a worker does not expose are left out, never invented. Pure; any thread.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace funkhaus::console {

inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string prometheusText(const nlohmann::json& status);

// A label value escaped for the exposition format (backslash, quote, newline).
std::string labelValue(const std::string& text);

}  // namespace funkhaus::console
