// funkhausd's recent log lines: spdlog's ringbuffer sink on the default logger.
#include "funkhaus/supervisor/log_memory.h"

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <memory>
#include <mutex>
#include <string>

namespace funkhaus::supervisor {

namespace {

std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt>& memorySink() {
  static std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink;
  return sink;
}

}  // namespace

void keepRecentLogLines() {
  static std::once_flag once;
  std::call_once(once, [] {
    memorySink() = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(kLogMemoryLines);
    memorySink()->set_level(spdlog::level::debug);
    spdlog::default_logger()->sinks().push_back(memorySink());
  });
}

nlohmann::json recentLogLines(std::chrono::seconds seconds,
                              std::chrono::system_clock::time_point now) {
  nlohmann::json lines = nlohmann::json::array();
  const auto& sink = memorySink();
  if (!sink) return lines;
  const auto since = now - std::min<std::chrono::system_clock::duration>(seconds, kLogMemoryAge);
  for (const auto& msg : sink->last_raw()) {
    if (msg.time < since) continue;
    const auto level = spdlog::level::to_string_view(msg.level);
    lines.push_back({{"unix_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                     msg.time.time_since_epoch())
                                     .count()},
                     {"level", std::string(level.data(), level.size())},
                     {"text", std::string(msg.payload.data(), msg.payload.size())}});
  }
  return lines;
}

nlohmann::json newestLinesWithin(const nlohmann::json& lines, size_t max_bytes, size_t* left_out) {
  size_t used = 2;  // []
  size_t first = lines.size();
  while (first > 0) {
    const size_t size = lines[first - 1].dump().size() + 1;  // and its comma
    if (used + size > max_bytes) break;
    used += size;
    --first;
  }
  if (left_out != nullptr) *left_out = first;
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = first; i < lines.size(); ++i) out.push_back(lines[i]);
  return out;
}

}  // namespace funkhaus::supervisor
