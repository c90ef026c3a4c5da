// Driver control logic: request dispatch, bounds, ownership, ids, watchdog.
#include "funkhaus/vdisplay/driver.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

namespace funkhaus::vdisplay {
namespace {

template <size_t N>
void copyText(char (&out)[N], const std::string& text) {
  std::memset(out, 0, N);
  std::memcpy(out, text.data(), std::min(text.size(), N - 1));
}

Reply okReply(const Request& r) {
  Reply reply;
  reply.type = r.type;
  reply.request_id = r.request_id;
  return reply;
}

Reply refuse(const Request& r, VdisplayStatusCode code, std::string message) {
  return refusal(static_cast<uint16_t>(r.type), r.request_id, code, std::move(message));
}

}  // namespace

abi::FrameGeometry bgraGeometry(uint32_t width, uint32_t height) {
  abi::FrameGeometry g{};
  g.format = static_cast<uint32_t>(abi::PixelFormat::kBgra);
  g.width = width;
  g.height = height;
  g.plane_count = 1;
  g.stride[0] = width * 4;
  g.plane_offset[0] = 0;
  return g;
}

Driver::Driver(const DriverOptions& options, std::unique_ptr<MonitorBackend> backend,
               const Clock& clock)
    : options_(options),
      backend_(std::move(backend)),
      watchdog_(clock, options.watchdog),
      ids_(std::clamp<uint32_t>(options.max_monitors, 1, abi::kVdisplayMaxMonitors)) {
  options_.max_monitors = ids_.capacity();
}

Driver::~Driver() {
  while (!monitors_.empty()) destroy(monitors_.begin()->first);
}

uint64_t Driver::addHost() {
  const uint64_t host = next_host_++;
  hosts_[host] = true;
  watchdog_.add(host);
  return host;
}

void Driver::removeHost(uint64_t host) {
  if (hosts_.erase(host) == 0) return;
  watchdog_.remove(host);
  if (const uint32_t n = removeAllOf(host); n > 0)
    spdlog::info("host {} disconnected: removed its {} monitor(s)", host, n);
}

std::vector<uint64_t> Driver::expireHosts() {
  auto expired = watchdog_.expired();
  for (uint64_t host : expired) {
    watchdog_.remove(host);
    const uint32_t n = removeAllOf(host);
    spdlog::warn("host {} silent for {} ms: watchdog removed its {} monitor(s)", host,
                 std::chrono::duration_cast<std::chrono::milliseconds>(watchdog_.timeout()).count(),
                 n);
  }
  return expired;
}

std::vector<Monitor*> Driver::monitors() const {
  std::vector<Monitor*> out;
  for (const auto& [id, e] : monitors_)
    if (e.monitor) out.push_back(e.monitor.get());
  return out;
}

size_t Driver::monitorCountOf(uint64_t host) const {
  return static_cast<size_t>(std::count_if(monitors_.begin(), monitors_.end(),
                                           [&](const auto& m) { return m.second.owner == host; }));
}

MonitorCounters Driver::totals() const {
  MonitorCounters total = retired_;
  for (const auto& [id, e] : monitors_)
    if (e.monitor) total += e.monitor->counters();
  return total;
}

void Driver::destroy(uint32_t id) {
  auto it = monitors_.find(id);
  if (it == monitors_.end()) return;
  if (it->second.monitor) retired_ += it->second.monitor->counters();
  it->second.monitor.reset();  // stops its X server, detaches the ring
  monitors_.erase(it);
  ids_.release(id);
}

uint32_t Driver::removeAllOf(uint64_t host) {
  std::vector<uint32_t> ids;
  for (const auto& [id, e] : monitors_)
    if (e.owner == host) ids.push_back(id);
  for (uint32_t id : ids) destroy(id);
  return static_cast<uint32_t>(ids.size());
}

Reply Driver::handle(uint64_t host, Request request) {
  if (!hasHost(host)) std::abort();  // the loop only passes hosts it registered
  watchdog_.feed(host);
  Reply reply = dispatch(host, request);
  watchdog_.feed(host);  // an X server start may have taken a while; the host waited for us
  return reply;
}

Reply Driver::dispatch(uint64_t host, Request& request) {
  switch (request.type) {
    case VdisplayMessageType::kGetInfo:
      return getInfo(request);
    case VdisplayMessageType::kAddMonitor:
      return addMonitor(host, request);
    case VdisplayMessageType::kRemoveMonitor:
      return removeMonitor(host, request);
    case VdisplayMessageType::kClearAll:
      return clearAll(host, request);
    case VdisplayMessageType::kPing:
      return ping(host, request);
    case VdisplayMessageType::kSetMode:
      return setMode(host, request);
    case VdisplayMessageType::kGetMonitor:
      return getMonitor(host, request);
  }
  std::abort();  // parseRequest admits known types only
}

Reply Driver::getInfo(const Request& r) const {
  abi::VdisplayInfoReply info{};
  info.driver_version = kDriverVersion;
  info.abi_version = abi::kAbiVersion;
  info.protocol_version = abi::kVdisplayProtocolVersion;
  info.max_monitors = options_.max_monitors;
  info.watchdog_ms = static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.watchdog).count());
  info.capabilities = backend_->capabilities();
  info.max_width = abi::kVdisplayMaxWidth;
  info.max_height = abi::kVdisplayMaxHeight;
  info.min_refresh_millihz = abi::kVdisplayMinRefreshMilliHz;
  info.max_refresh_millihz = abi::kVdisplayMaxRefreshMilliHz;
  copyText(info.backend, backend_->name());
  Reply reply = okReply(r);
  reply.body = info;
  return reply;
}

Result<MonitorSpec> Driver::makeSpec(uint32_t id, const Mode& mode, uint32_t flags,
                                     uint32_t fb_width, uint32_t fb_height) const {
  auto timing = cvtReducedBlanking(mode.width, mode.height, mode.refresh_millihz);
  if (!timing) return timing.error();
  EdidParams params;
  params.timing = *timing;
  params.serial = (options_.serial_seed << 8) | (id & 0xFF);
  params.hdr = (flags & abi::kVdisplayMonitorHdr) != 0;
  params.name = params.hdr ? "funkhaus HDR" : "funkhaus";
  auto edid = buildEdid(params);
  if (!edid) return edid.error();
  MonitorSpec spec;
  spec.id = id;
  spec.mode = mode;
  spec.flags = flags;
  spec.fb_width = std::max(fb_width, mode.width);
  spec.fb_height = std::max(fb_height, mode.height);
  spec.timing = *timing;
  spec.edid = std::move(*edid);
  return spec;
}

abi::VdisplayMonitorReply Driver::describe(uint32_t id, const Entry& e,
                                           uint32_t mode_change) const {
  abi::VdisplayMonitorReply m{};
  m.monitor_id = id;
  m.display_number = e.monitor->displayNumber();
  m.generation = e.monitor->generation();
  m.width = e.spec.mode.width;
  m.height = e.spec.mode.height;
  m.refresh_millihz = e.spec.mode.refresh_millihz;
  m.flags = e.spec.flags;
  m.mode_change = mode_change;
  m.fb_width = e.monitor->fbWidth();
  m.fb_height = e.monitor->fbHeight();
  m.edid_size = static_cast<uint32_t>(e.spec.edid.size());
  copyText(m.display_name, ":" + std::to_string(m.display_number));
  copyText(m.xauthority, e.monitor->xauthority());
  std::memcpy(m.edid, e.spec.edid.data(), std::min(e.spec.edid.size(), sizeof m.edid));
  return m;
}

Reply Driver::addMonitor(uint64_t host, Request& r) {
  const auto& b = std::get<abi::VdisplayAddMonitorRequest>(r.body);
  const Mode mode{b.width, b.height, b.refresh_millihz};
  if (auto ok = validateMode(mode); !ok)
    return refuse(r, VdisplayStatusCode::kBadMode, ok.error().message);
  if (auto ok = validateFramebuffer(b.fb_width, b.fb_height, mode); !ok)
    return refuse(r, VdisplayStatusCode::kBadMode, ok.error().message);
  if (monitors_.size() >= options_.max_monitors)
    return refuse(
        r, VdisplayStatusCode::kTooManyMonitors,
        fmt::format("all {} monitors are in use (--max-monitors)", options_.max_monitors));
  struct stat ring_stat {};
  if (!r.ring.valid() || fstat(r.ring.get(), &ring_stat) != 0)
    return refuse(r, VdisplayStatusCode::kBadRing, "the frame-ring fd cannot be examined");
  for (const auto& [other_id, other] : monitors_)
    if (other.ring_device == ring_stat.st_dev && other.ring_inode == ring_stat.st_ino)
      return refuse(r, VdisplayStatusCode::kBadRing,
                    fmt::format("this frame ring already feeds monitor {}", other_id));
  auto shm = SharedMemory::attach(std::move(r.ring), sizeof(abi::FrameRingHeader));
  if (!shm) return refuse(r, VdisplayStatusCode::kBadRing, shm.error().message);
  auto producer = FrameProducer::attach(std::move(*shm));
  if (!producer) return refuse(r, VdisplayStatusCode::kBadRing, producer.error().message);
  if (producer->slotCount() < 2)
    return refuse(
        r, VdisplayStatusCode::kBadRing,
        fmt::format("frame ring has {} slot; the driver needs at least 2", producer->slotCount()));
  const uint64_t capacity = producer->layout().payload_capacity;
  const uint64_t need = bgraFrameBytes(mode.width, mode.height);
  if (capacity < need)
    return refuse(r, VdisplayStatusCode::kRingTooSmall,
                  fmt::format("frame ring slots hold {} bytes; {}x{} BGRA needs {}", capacity,
                              mode.width, mode.height, need));
  const auto id = ids_.allocate();
  if (!id) std::abort();  // monitors_.size() < capacity implies a free id
  auto spec = makeSpec(*id, mode, b.flags, b.fb_width, b.fb_height);
  if (!spec) {
    ids_.release(*id);
    return refuse(r, VdisplayStatusCode::kBadMode, spec.error().message);
  }
  auto monitor = backend_->create(*spec, std::move(*producer));
  if (!monitor) {
    ids_.release(*id);
    return refuse(r, VdisplayStatusCode::kBackendFailed, monitor.error().message);
  }
  Entry& e = monitors_[*id];
  e.owner = host;
  e.spec = std::move(*spec);
  e.ring_capacity = capacity;
  e.ring_device = ring_stat.st_dev;
  e.ring_inode = ring_stat.st_ino;
  e.monitor = std::move(*monitor);
  spdlog::info("monitor {} ({}x{} @ {} mHz{}) on :{} for host {}", *id, mode.width, mode.height,
               mode.refresh_millihz, (b.flags & abi::kVdisplayMonitorHdr) ? ", HDR" : "",
               e.monitor->displayNumber(), host);
  Reply reply = okReply(r);
  reply.body = describe(*id, e, 0);
  return reply;
}

Driver::Entry* Driver::owned(uint64_t host, uint32_t id, const Request& r, Reply* refused) {
  auto it = monitors_.find(id);
  if (it == monitors_.end()) {
    *refused = refuse(r, VdisplayStatusCode::kUnknownMonitor, fmt::format("no monitor {}", id));
    return nullptr;
  }
  if (it->second.owner != host) {
    *refused = refuse(r, VdisplayStatusCode::kNotOwner,
                      fmt::format("monitor {} belongs to another host connection", id));
    return nullptr;
  }
  return &it->second;
}

Reply Driver::removeMonitor(uint64_t host, const Request& r) {
  const uint32_t id = std::get<abi::VdisplayMonitorRequest>(r.body).monitor_id;
  Reply refused;
  if (owned(host, id, r, &refused) == nullptr) return refused;
  destroy(id);
  spdlog::info("monitor {} removed by host {}", id, host);
  return okReply(r);
}

Reply Driver::clearAll(uint64_t host, const Request& r) {
  Reply reply = okReply(r);
  reply.body = abi::VdisplayClearReply{removeAllOf(host), 0};
  return reply;
}

Reply Driver::ping(uint64_t host, const Request& r) {
  abi::VdisplayPingReply p{};
  p.nonce = std::get<abi::VdisplayPingRequest>(r.body).nonce;
  p.monitors = static_cast<uint32_t>(monitorCountOf(host));
  p.watchdog_ms = static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.watchdog).count());
  Reply reply = okReply(r);
  reply.body = p;
  return reply;
}

Reply Driver::setMode(uint64_t host, const Request& r) {
  const auto& b = std::get<abi::VdisplaySetModeRequest>(r.body);
  Reply refused;
  Entry* e = owned(host, b.monitor_id, r, &refused);
  if (e == nullptr) return refused;
  const Mode mode{b.width, b.height, b.refresh_millihz};
  if (auto ok = validateMode(mode); !ok)
    return refuse(r, VdisplayStatusCode::kBadMode, ok.error().message);
  const uint64_t need = bgraFrameBytes(mode.width, mode.height);
  if (e->ring_capacity < need)
    return refuse(r, VdisplayStatusCode::kRingTooSmall,
                  fmt::format("frame ring slots hold {} bytes; {}x{} BGRA needs {}",
                              e->ring_capacity, mode.width, mode.height, need));
  auto spec =
      makeSpec(b.monitor_id, mode, e->spec.flags, e->monitor->fbWidth(), e->monitor->fbHeight());
  if (!spec) return refuse(r, VdisplayStatusCode::kBadMode, spec.error().message);
  const uint32_t generation = e->monitor->generation();
  auto changed = e->monitor->setMode(*spec);
  if (!changed) {
    // A monitor that started the new generation is in the new mode, even if broken for now.
    if (e->monitor->generation() != generation) e->spec = std::move(*spec);
    return refuse(r, VdisplayStatusCode::kBackendFailed, changed.error().message);
  }
  e->spec = std::move(*spec);
  spdlog::info("monitor {} now {}x{} @ {} mHz ({})", b.monitor_id, mode.width, mode.height,
               mode.refresh_millihz,
               (*changed & abi::kVdisplayModeInPlace) ? "in place" : "X server restarted");
  Reply reply = okReply(r);
  reply.body = describe(b.monitor_id, *e, *changed);
  return reply;
}

Reply Driver::getMonitor(uint64_t host, const Request& r) {
  const uint32_t id = std::get<abi::VdisplayMonitorRequest>(r.body).monitor_id;
  Reply refused;
  Entry* e = owned(host, id, r, &refused);
  if (e == nullptr) return refused;
  Reply reply = okReply(r);
  reply.body = describe(id, *e, 0);
  return reply;
}

}  // namespace funkhaus::vdisplay
