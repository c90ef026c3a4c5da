// SessionPlan: per-session rings from the worker table's edges.
#include "funkhaus/supervisor/session_plan.h"

#include <algorithm>

#include "funkhaus/common/frame_ring.h"
#include "funkhaus/common/input_ring.h"
#include "funkhaus/common/packet_ring.h"

namespace funkhaus::supervisor {

namespace {

Result<SharedMemory> createFrames(const Config& config) {
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
  return createFrameRing(frames);
}

Result<SharedMemory> createVideoPackets(const Config& config) {
  PacketRingConfig packets;
  packets.name = "funkhaus-packets";
  packets.capacity = uint64_t{config.rings.packet_ring_kib} * 1024;
  packets.max_record_size = static_cast<uint32_t>(packets.capacity / 4);  // an IDR of 4K
  return createPacketRing(packets);
}

Result<SharedMemory> createDisplay(const Config& config) {
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
  return createFrameRing(driver);
}

// Opus packets are under 1.4 KB at up to 200 per second: 256 KiB hold about a second of 7.1.
Result<SharedMemory> createAudioPackets(const Config&) {
  PacketRingConfig packets;
  packets.name = "funkhaus-audio";
  packets.capacity = 256 * 1024;
  packets.max_record_size = 16 * 1024;
  return createPacketRing(packets);
}

Result<SharedMemory> createInput(const Config&) { return createInputRing(InputRingConfig{}); }

// Every ring a session may have: what flows through it and how it is made.
struct RingSpec {
  abi::RingId id;
  RingKind kind;
  std::string_view name;
  Result<SharedMemory> (*create)(const Config&);
  // Made only when a worker of the set reads it (net writes input whether or not anyone
  // listens: without an input worker the ring is not there and net drops input).
  bool needs_consumer = false;
  // Made only when a worker of the set writes it (net reads audio when there is any).
  bool needs_producer = false;
};

constexpr RingSpec kRings[] = {
    {abi::RingId::kDisplay, RingKind::kFrame, "display", createDisplay},
    {abi::RingId::kFrames, RingKind::kFrame, "frames", createFrames},
    {abi::RingId::kVideoPackets, RingKind::kPacket, "packets", createVideoPackets},
    {abi::RingId::kInput, RingKind::kInput, "input", createInput, true},
    {abi::RingId::kAudioPackets, RingKind::kPacket, "audio", createAudioPackets, true, true},
};

uint32_t tag(abi::RingId ring) { return static_cast<uint32_t>(ring); }

}  // namespace

Result<SessionPlan> SessionPlan::create(const Config& config,
                                        std::span<const std::string> workers) {
  std::vector<PlannedRing> rings;
  for (const RingSpec& spec : kRings) {
    bool used = false, read = false, written = false;
    for (const std::string& name : workers)
      if (const WorkerSpec* w = findWorker(name))
        for (const RingEdge& e : activeEdges(*w, config)) {
          used = used || e.ring == spec.id;
          read = read || (e.ring == spec.id && e.direction == EdgeDirection::kIn);
          written = written || (e.ring == spec.id && e.direction == EdgeDirection::kOut);
        }
    if (!used || (spec.needs_consumer && !read) || (spec.needs_producer && !written)) continue;
    auto memory = spec.create(config);
    if (!memory) return memory.error();
    rings.push_back({spec.id, spec.kind, spec.name, std::move(*memory)});
  }
  return SessionPlan(config, std::move(rings));
}

const PlannedRing* SessionPlan::ring(abi::RingId id) const {
  for (const PlannedRing& r : rings_)
    if (r.id == id) return &r;
  return nullptr;
}

std::vector<HandedFd> SessionPlan::ringFds(const WorkerSpec& worker) const {
  std::vector<HandedFd> fds;
  for (const RingEdge& e : activeEdges(worker, config_)) {
    const PlannedRing* r = ring(e.ring);
    if (r == nullptr || e.delivery != EdgeDelivery::kHandOver) continue;
    fds.push_back({e.direction == EdgeDirection::kIn ? abi::FdRole::kRingIn : abi::FdRole::kRingOut,
                   tag(e.ring), r->memory.handle()});
  }
  return fds;
}

const PlannedRing* SessionPlan::leasedRing(const WorkerSpec& worker) const {
  for (const RingEdge& e : activeEdges(worker, config_))
    if (e.delivery == EdgeDelivery::kLease) return ring(e.ring);
  return nullptr;
}

}  // namespace funkhaus::supervisor
