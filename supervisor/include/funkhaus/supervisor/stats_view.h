// funkhausctl's views of the stats recorder's replies: the capture list, a capture's series as
// a table (min/median/max), a capture as CSV, and log lines. What funkhausd sent is read as any
// shape (untrusted); control characters never reach the terminal. funkhausctl.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "funkhaus/common/result.h"

namespace funkhaus::supervisor {

// The stats-list reply as a table, one capture a line (the armed one marked).
std::vector<std::string> statsListLines(const nlohmann::json& reply);

// A capture's header and one line per series: samples with a value, min, median, max.
std::vector<std::string> statsSeriesLines(const nlohmann::json& capture);

// A capture as CSV: a header "t,<series>...", one row per t, an empty cell for null.
Result<std::string> statsCsv(const nlohmann::json& capture);

// The logs reply's lines: "HH:MM:SS.mmm level text" (local time).
std::vector<std::string> logLines(const nlohmann::json& reply);

}  // namespace funkhaus::supervisor
