// SessionPlan: per-session rings and worker arguments.
#include "funkhaus/supervisor/session_plan.h"

#include <algorithm>

#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/packet_ring.h"

namespace funkhaus::supervisor {

namespace {
uint32_t tag(abi::RingId ring) { return static_cast<uint32_t>(ring); }
}  // namespace

Result<SessionPlan> SessionPlan::create(const Config& config) {
  const uint32_t width = std::max(config.capture.width, config.rings.max_width);
  const uint32_t height = std::max(config.capture.height, config.rings.max_height);
  auto largest = makeGeometry(abi::PixelFormat::kI420, width, height);
  if (!largest) return makeError("frame ring: {}", largest.error().message);
  auto largest_size = framePayloadSize(*largest);
  auto mode = makeGeometry(abi::PixelFormat::kI420, config.capture.width, config.capture.height);
  if (!mode || !largest_size) return makeError("frame ring: bad capture mode");
  FrameRingConfig frames;
  frames.name = "funkhaus-frames";
  frames.slot_count = config.rings.frame_slots;
  frames.mode = *mode;
  // Room for the largest mode (and BGRA at the capture mode, which a source may publish).
  frames.payload_capacity =
      std::max<uint64_t>(*largest_size, uint64_t{config.capture.width} * config.capture.height * 4);
  auto frame_ring = createFrameRing(frames);
  if (!frame_ring) return frame_ring.error();
  PacketRingConfig packets;
  packets.name = "funkhaus-packets";
  packets.capacity = uint64_t{config.rings.packet_ring_kib} * 1024;
  packets.max_record_size = static_cast<uint32_t>(packets.capacity / 4);  // an IDR of 4K
  auto packet_ring = createPacketRing(packets);
  if (!packet_ring) return packet_ring.error();
  std::optional<SharedMemory> driver_ring;
  if (config.capture.source == "vdisplay") {
    const VdisplayConfig& v = config.vdisplay;
    auto monitor_mode = makeGeometry(abi::PixelFormat::kBgra, v.width, v.height);
    if (!monitor_mode) return makeError("driver ring: {}", monitor_mode.error().message);
    FrameRingConfig driver;
    driver.name = "funkhaus-display";
    driver.slot_count = 3;
    driver.mode = *monitor_mode;
    // BGRA frames (stride width * 4) of any mode up to the framebuffer reserved in place.
    driver.payload_capacity =
        uint64_t{std::max(v.fb_width, v.width)} * std::max(v.fb_height, v.height) * 4;
    auto ring = createFrameRing(driver);
    if (!ring) return ring.error();
    driver_ring.emplace(std::move(*ring));
  }
  return SessionPlan(std::move(*frame_ring), std::move(*packet_ring), std::move(driver_ring));
}

std::vector<HandedFd> SessionPlan::ringFds(const std::string& worker) const {
  if (worker == "capture") {
    std::vector<HandedFd> fds = {
        {abi::FdRole::kRingOut, tag(abi::RingId::kFrames), frame_ring_.fd()}};
    if (driver_ring_)
      fds.push_back({abi::FdRole::kRingIn, tag(abi::RingId::kDisplay), driver_ring_->fd()});
    return fds;
  }
  if (worker == "encode")
    return {{abi::FdRole::kRingIn, tag(abi::RingId::kFrames), frame_ring_.fd()},
            {abi::FdRole::kRingOut, tag(abi::RingId::kVideoPackets), packet_ring_.fd()}};
  if (worker == "net")
    return {{abi::FdRole::kRingIn, tag(abi::RingId::kVideoPackets), packet_ring_.fd()}};
  return {};
}

std::vector<std::string> workerArgs(const std::string& worker, const Config& config) {
  if (worker == "capture" && config.capture.source == "vdisplay")
    // The monitor's own size; the ring's capacity bounds it.
    return {"--source", "vdisplay", "--fps", std::to_string(config.capture.fps)};
  if (worker == "capture")
    return {"--source", config.capture.source,
            "--width",  std::to_string(config.capture.width),
            "--height", std::to_string(config.capture.height),
            "--fps",    std::to_string(config.capture.fps)};
  if (worker == "encode")
    return {"--encoder", config.encode.encoder,
            "--bitrate", std::to_string(uint64_t{config.encode.bitrate_kbps} * 1000),
            "--fps",     std::to_string(config.capture.fps),
            "--preset",  config.encode.preset};
  if (worker == "net")
    return {"--path",
            config.net.path,
            "--max-viewers",
            std::to_string(config.net.max_viewers),
            "--mtu",
            std::to_string(config.net.mtu),
            "--session-timeout",
            std::to_string(config.net.session_timeout_s)};
  return {};
}

}  // namespace funkhaus::supervisor
