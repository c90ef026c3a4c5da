// The screen-to-wire latency split of a session's video chain (funkhausctl status): which worker
// is which stage (by its ring edges, no names), each stage's own time as its status page
// publishes it, the total, and the lines funkhausctl prints. Status pages are written by workers
// and the JSON comes over a socket: both are untrusted numbers, shown only. funkhausd's event
// loop thread (the JSON) and funkhausctl (the lines).
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "funkhaus/abi/message.h"
#include "funkhaus/abi/status_page.h"
#include "funkhaus/supervisor/worker_table.h"

namespace funkhaus::supervisor {

// One stage of the video chain and the ring edge that makes a worker that stage.
struct VideoStage {
  std::string_view stage;  // "grab", "convert", "encode", "send"
  abi::RingId ring;
  EdgeDirection direction;
};

// The chain from the screen to the wire, in order. grab: damage seen -> driver slot published;
// convert: driver slot taken (or grab started) -> converted frame published; encode: frame taken
// -> access unit in the packet ring; send: access unit taken -> its last packet sent. The total
// is the last stage's capture -> output latency (the capture time is the damage time when the
// virtual display grabs).
inline constexpr VideoStage kVideoChain[] = {
    {"grab", abi::RingId::kDisplay, EdgeDirection::kOut},
    {"convert", abi::RingId::kFrames, EdgeDirection::kOut},
    {"encode", abi::RingId::kVideoPackets, EdgeDirection::kOut},
    {"send", abi::RingId::kVideoPackets, EdgeDirection::kIn},
};

// Larger times than this are no measurement (a worker's page is untrusted): shown clamped.
inline constexpr uint64_t kMaxShownLatencyNs = 10'000'000'000;

// Nanoseconds from a status page as milliseconds for the status JSON: null when 0 (not
// measured), at most kMaxShownLatencyNs.
nlohmann::json latencyMs(uint64_t ns);

// A stage of the chain present in the session: its worker and that worker's status page
// (nullptr while it has none, e.g. not started).
struct ChainStage {
  std::string_view stage;
  std::string worker;
  const abi::WorkerStatusPage* page = nullptr;
};

// The stages of the chain that `workers` (a session's) has for `config`, in chain order; the
// page of each comes from `page_of(worker name)`.
std::vector<ChainStage> videoChain(
    std::span<const std::string> workers, const Config& config,
    const std::function<const abi::WorkerStatusPage*(std::string_view)>& page_of);

// {"stages": [{"stage", "worker", "p50_ms", "p99_ms"}...], "total": {"p50_ms", "p99_ms"}}: each
// stage's own time and the last stage's capture -> output latency (latencyMs: null = not
// measured).
nlohmann::json latencySplitJson(std::span<const ChainStage> chain);

// funkhausctl's lines for a "latency" object of the status JSON (as funkhausd sent it: any
// shape): a header, one line per stage and the total, "-" where nothing was measured, ">10000"
// at the clamp. None when `split` has no stages.
std::vector<std::string> latencySplitLines(const nlohmann::json& split);

}  // namespace funkhaus::supervisor
