// funkhausd's recent log lines kept in memory (an spdlog ring buffer sink on its logger) for
// `funkhausctl logs` and the console. Any thread (the sink has its own lock); read on the event
// loop thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <nlohmann/json.hpp>

namespace funkhaus::supervisor {

// At most this many lines are kept, and none older than kLogMemoryAge is answered.
inline constexpr size_t kLogMemoryLines = 10'000;
inline constexpr std::chrono::minutes kLogMemoryAge{60};

// Adds the memory sink to spdlog's default logger (once, at start-up; later calls do nothing).
void keepRecentLogLines();

// The kept lines of the last `seconds` before `now`, oldest first:
// [{"unix_ms", "level", "text"}]. Empty when keepRecentLogLines() was never called.
nlohmann::json recentLogLines(
    std::chrono::seconds seconds,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// The newest of `lines` (as recentLogLines gives them) whose JSON fits in `max_bytes` in all,
// oldest first; `left_out` counts the older lines that did not fit.
nlohmann::json newestLinesWithin(const nlohmann::json& lines, size_t max_bytes, size_t* left_out);

}  // namespace funkhaus::supervisor
