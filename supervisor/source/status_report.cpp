// funkhausd's reports: status JSON pieces and the log lines that say where to connect.
#include "funkhaus/supervisor/status_report.h"

#include "funkhaus/abi/frame_ring.h"
#include "funkhaus/abi/input_ring.h"
#include "funkhaus/abi/packet_ring.h"

#include <spdlog/spdlog.h>

namespace funkhaus::supervisor {

// Ring counters as the peers wrote them (untrusted numbers, displayed only), by ring name.
nlohmann::json ringsStatusJson(const SessionPlan& plan) {
  nlohmann::json out = nlohmann::json::object();
  for (const PlannedRing& r : plan.rings()) {
    if (r.kind == RingKind::kFrame) {
      const auto& f = *reinterpret_cast<const abi::FrameRingHeader*>(r.memory.data());
      out[std::string(r.name)] = {{"slots", f.slot_count},
                                  {"published", abi::atomicLoad(f.published)},
                                  {"consumed", abi::atomicLoad(f.consumed)},
                                  {"dropped", abi::atomicLoad(f.dropped)},
                                  {"repeated", abi::atomicLoad(f.repeated)},
                                  {"overwritten", abi::atomicLoad(f.overwritten)},
                                  {"stale_rejected", abi::atomicLoad(f.stale_rejected)},
                                  {"abandoned", abi::atomicLoad(f.abandoned)},
                                  {"generation", abi::atomicLoad(f.generation)}};
      continue;
    }
    if (r.kind == RingKind::kInput) {
      const auto& i = *reinterpret_cast<const abi::InputRingHeader*>(r.memory.data());
      out[std::string(r.name)] = {{"events", abi::atomicLoad(i.head)},
                                  {"consumed", abi::atomicLoad(i.tail)},
                                  {"overrun", abi::atomicLoad(i.overrun)},
                                  {"rejected", abi::atomicLoad(i.rejected)},
                                  {"out_of_range", abi::atomicLoad(i.out_of_range)}};
      continue;
    }
    const auto& p = *reinterpret_cast<const abi::PacketRingHeader*>(r.memory.data());
    const uint64_t head = abi::atomicLoad(p.head), tail = abi::atomicLoad(p.tail);
    const uint64_t capacity = p.capacity;  // written by funkhausd, never by a peer
    const uint64_t used = head >= tail ? std::min(head - tail, capacity) : 0;
    out[std::string(r.name)] = {
        {"capacity_bytes", capacity},
        {"used_bytes", used},
        {"occupancy", capacity != 0 ? static_cast<double>(used) / capacity : 0.0},
        {"records", abi::atomicLoad(p.records)},
        {"dropped_records", abi::atomicLoad(p.dropped_records)}};
  }
  return out;
}

nlohmann::json soundServerStatusJson(const SoundServer& sound) {
  nlohmann::json j;
  j["pulse_server"] = sound.address();
  j["env"] = sound.address().empty() ? "" : "PULSE_SERVER=" + sound.address();
  j["started_by_funkhaus"] = sound.ours();
  j["state"] = toString(sound.state());
  if (!sound.ours()) return j;
  j["pid"] = sound.pid() != 0 ? nlohmann::json(sound.pid()) : nlohmann::json(nullptr);
  j["restarts"] = sound.restarts();
  j["last_exit"] =
      sound.lastExit() ? nlohmann::json(describeExit(*sound.lastExit())) : nlohmann::json(nullptr);
  if (sound.state() == SoundServer::State::kRestarting)
    j["restart_in_ms"] =
        std::chrono::duration_cast<std::chrono::milliseconds>(sound.restartIn()).count();
  if (!sound.failure().empty()) j["failure"] = sound.failure();
  return j;
}

void logViewerUrl(const NetConfig& net, uint16_t rtsp_port, uint16_t rtp_port) {
  const std::string& bind = net.bind;
  const bool any = bind == "0.0.0.0" || bind == "::";
  const std::string host = any                                   ? "127.0.0.1"
                           : bind.find(':') != std::string::npos ? "[" + bind + "]"
                                                                 : bind;
  spdlog::info(
      "viewers: open rtsp://{}:{}{} in ffplay, VLC, mpv or GStreamer{} (RTP/RTCP on UDP "
      "{}-{}), e.g.  ffplay -fflags nobuffer -flags low_delay rtsp://{}:{}{}",
      host, rtsp_port, net.path, any ? " (or this machine's address from elsewhere)" : "", rtp_port,
      rtp_port + 1, host, rtsp_port, net.path);
  if (net.rtsp_password.empty())
    spdlog::info(
        "RTSP answers viewers on this host only: set [net] rtsp_password to let other hosts "
        "watch (they sign in as '{}' with RTSP Digest: rtsp://{}:PASSWORD@HOST:{}{})",
        net.rtsp_user, net.rtsp_user, rtsp_port, net.path);
  else
    spdlog::info("RTSP viewers from other hosts sign in as '{}' (RTSP Digest)", net.rtsp_user);
}

void logGamestream(const GamestreamConfig& g, uint16_t http_port, uint16_t https_port,
                   const std::string& state_dir) {
  spdlog::info(
      "GameStream: Moonlight finds this host on {} HTTP port {} / HTTPS port {}{}; pair it with "
      "`funkhausctl pair` (the PIN Moonlight shows); state in {}",
      g.listen_address, http_port, https_port, g.mdns ? " (and over mDNS)" : "", state_dir);
}

void logEvent(const WorkerSpec& from, const abi::EventBody& event) {
  switch (static_cast<abi::Event>(event.event)) {
    case abi::Event::kModeChanged:
      spdlog::info("{}: mode changed to {}x{}", from.name, event.arg >> 32,
                   event.arg & 0xffffffffu);
      break;
    case abi::Event::kError:
      spdlog::warn("{}: reported error {}", from.name, event.arg);
      break;
    case abi::Event::kKeyframeRequest:
    case abi::Event::kModeRequest:
    case abi::Event::kCodecRequest:
    case abi::Event::kBitrateRequest:
    case abi::Event::kFpsRequest:
    case abi::Event::kAudioRequest:
      spdlog::info("{}: event {} (arg {})", from.name, event.event, event.arg);
      break;
  }
}

}  // namespace funkhaus::supervisor
