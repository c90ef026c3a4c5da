// The screen-to-wire latency split: status pages -> status JSON (funkhausd), status JSON ->
// funkhausctl's lines.
#include "funkhaus/supervisor/latency_split.h"

#include <fmt/format.h>

#include <algorithm>

namespace funkhaus::supervisor {

namespace {

constexpr double kMaxShownMs = static_cast<double>(kMaxShownLatencyNs) / 1e6;

// One JSON value as a millisecond cell: "-" unless it is a number above 0.
std::string msCell(const nlohmann::json& j) {
  if (!j.is_number()) return "-";
  const double ms = j.get<double>();
  if (!(ms > 0)) return "-";  // also NaN
  if (ms >= kMaxShownMs) return fmt::format(">{:.0f}", kMaxShownMs);
  return fmt::format("{:.2f}", ms);
}

std::string textCell(const nlohmann::json& j) {
  if (!j.is_string()) return "?";
  std::string text = j.get<std::string>().substr(0, 16);
  for (char& c : text)  // no control characters reach the terminal
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return text;
}

}  // namespace

nlohmann::json latencyMs(uint64_t ns) {
  if (ns == 0) return nullptr;
  return static_cast<double>(std::min(ns, kMaxShownLatencyNs)) / 1e6;
}

std::vector<ChainStage> videoChain(
    std::span<const std::string> workers, const Config& config,
    const std::function<const abi::WorkerStatusPage*(std::string_view)>& page_of) {
  std::vector<ChainStage> out;
  for (const VideoStage& s : kVideoChain) {
    const WorkerSpec* w = s.direction == EdgeDirection::kOut ? producerOf(s.ring, workers, &config)
                                                             : consumerOf(s.ring, workers, &config);
    if (w != nullptr) out.push_back({s.stage, std::string(w->name), page_of(w->name)});
  }
  return out;
}

nlohmann::json latencySplitJson(std::span<const ChainStage> chain) {
  nlohmann::json stages = nlohmann::json::array();
  for (const ChainStage& c : chain) {
    const uint64_t p50 = c.page ? abi::atomicLoad(c.page->stage_p50_ns) : 0;
    const uint64_t p99 = c.page ? abi::atomicLoad(c.page->stage_p99_ns) : 0;
    stages.push_back({{"stage", c.stage},
                      {"worker", c.worker},
                      {"p50_ms", latencyMs(p50)},
                      {"p99_ms", latencyMs(p99)}});
  }
  const abi::WorkerStatusPage* last = chain.empty() ? nullptr : chain.back().page;
  return {{"stages", stages},
          {"total",
           {{"p50_ms", latencyMs(last ? abi::atomicLoad(last->latency_p50_ns) : 0)},
            {"p99_ms", latencyMs(last ? abi::atomicLoad(last->latency_p99_ns) : 0)}}}};
}

std::vector<std::string> latencySplitLines(const nlohmann::json& split) {
  std::vector<std::string> out;
  if (!split.is_object() || !split.contains("stages") || !split["stages"].is_array() ||
      split["stages"].empty())
    return out;
  const auto at = [](const nlohmann::json& j, const char* key) {
    return j.is_object() && j.contains(key) ? j[key] : nlohmann::json();
  };
  out.push_back(fmt::format("  {:<26} {:>8} {:>8}", "latency, screen to wire", "P50_MS", "P99_MS"));
  for (const auto& s : split["stages"])
    out.push_back(fmt::format("    {:<8} {:<15} {:>8} {:>8}", textCell(at(s, "stage")),
                              "(" + textCell(at(s, "worker")) + ")", msCell(at(s, "p50_ms")),
                              msCell(at(s, "p99_ms"))));
  const auto total = at(split, "total");
  out.push_back(fmt::format("    {:<24} {:>8} {:>8}", "total", msCell(at(total, "p50_ms")),
                            msCell(at(total, "p99_ms"))));
  return out;
}

}  // namespace funkhaus::supervisor
