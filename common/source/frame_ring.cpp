// Frame ring: owner creation, validated attach, producer and consumer.
#include "funkhaus/common/frame_ring.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "funkhaus/abi/keyed_mutex_word.h"
#include "funkhaus/abi/token.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/peer.h"
#include "funkhaus/platform/cpu_relax.h"
#include "funkhaus/platform/wait_word.h"

namespace funkhaus {

using abi::atomicLoad;
using abi::atomicRef;
using abi::FrameGeometry;
using abi::FrameRingHeader;
using abi::FrameSlotHeader;
using abi::PixelFormat;

namespace {

constexpr uint64_t kPageSize = 4096;
constexpr uint32_t kMaxDimension = 16384;

constexpr uint64_t alignUp(uint64_t value, uint64_t align) {
  return (value + align - 1) / align * align;
}

struct PlaneShape {
  uint32_t row_bytes;
  uint32_t rows;
};

// Per-plane minimum row size and row count for a format, or 0 planes if the format is unknown.
uint32_t planeShapes(PixelFormat format, uint32_t w, uint32_t h, PlaneShape* shapes) {
  const uint32_t cw = (w + 1) / 2;
  const uint32_t ch = (h + 1) / 2;
  switch (format) {
    case PixelFormat::kBgra:
      shapes[0] = {w * 4, h};
      return 1;
    case PixelFormat::kNv12:
      shapes[0] = {w, h};
      shapes[1] = {cw * 2, ch};
      return 2;
    case PixelFormat::kI420:
      shapes[0] = {w, h};
      shapes[1] = {cw, ch};
      shapes[2] = {cw, ch};
      return 3;
    case PixelFormat::kUnknown:
      break;
  }
  return 0;
}

void storeHeartbeat(uint64_t& field) {
  atomicRef(field).store(monotonicNs(), std::memory_order_relaxed);
}

void bump(uint64_t& counter) { atomicRef(counter).fetch_add(1, std::memory_order_relaxed); }

uint32_t selfPid() { return platform::currentProcessId(); }

}  // namespace

Result<FrameGeometry> makeGeometry(PixelFormat format, uint32_t width, uint32_t height) {
  if (width == 0 || height == 0 || width > kMaxDimension || height > kMaxDimension)
    return makeError("frame size {}x{} is out of range (1..{} each)", width, height, kMaxDimension);
  PlaneShape shapes[abi::kMaxPlanes]{};
  uint32_t planes = planeShapes(format, width, height, shapes);
  if (planes == 0) return makeError("unknown pixel format {}", static_cast<uint32_t>(format));
  FrameGeometry g{};
  g.format = static_cast<uint32_t>(format);
  g.width = width;
  g.height = height;
  g.plane_count = planes;
  uint64_t offset = 0;
  for (uint32_t i = 0; i < planes; ++i) {
    g.stride[i] = static_cast<uint32_t>(alignUp(shapes[i].row_bytes, abi::kPayloadAlign));
    g.plane_offset[i] = static_cast<uint32_t>(offset);
    offset += uint64_t{g.stride[i]} * shapes[i].rows;
  }
  return g;
}

Result<uint64_t> framePayloadSize(const FrameGeometry& g) {
  if (g.width == 0 || g.height == 0 || g.width > kMaxDimension || g.height > kMaxDimension)
    return makeError("frame size {}x{} is out of range (1..{} each)", g.width, g.height,
                     kMaxDimension);
  PlaneShape shapes[abi::kMaxPlanes]{};
  uint32_t planes = planeShapes(static_cast<PixelFormat>(g.format), g.width, g.height, shapes);
  if (planes == 0) return makeError("unknown pixel format {}", g.format);
  if (g.plane_count != planes)
    return makeError("pixel format {} has {} planes, geometry says {}", g.format, planes,
                     g.plane_count);
  uint64_t end = 0;
  for (uint32_t i = 0; i < abi::kMaxPlanes; ++i) {
    if (i >= planes) {
      if (g.stride[i] != 0 || g.plane_offset[i] != 0)
        return makeError("plane {} is unused by format {} but has stride/offset set", i, g.format);
      continue;
    }
    if (g.stride[i] < shapes[i].row_bytes)
      return makeError("plane {} stride {} is smaller than its row of {} bytes", i, g.stride[i],
                       shapes[i].row_bytes);
    if (g.plane_offset[i] < end)
      return makeError("plane {} offset {} overlaps the previous plane (ends at {})", i,
                       g.plane_offset[i], end);
    end = uint64_t{g.plane_offset[i]} + uint64_t{g.stride[i]} * (shapes[i].rows - 1) +
          shapes[i].row_bytes;
  }
  return end;
}

Result<SharedMemory> createFrameRing(const FrameRingConfig& config) {
  if (config.slot_count < 2 || config.slot_count > abi::kMaxFrameSlots)
    return makeError("frame ring '{}': slot_count {} is out of range (2..{})", config.name,
                     config.slot_count, abi::kMaxFrameSlots);
  auto frame_size = framePayloadSize(config.mode);
  if (!frame_size)
    return makeError("frame ring '{}': mode: {}", config.name, frame_size.error().message);
  const uint64_t capacity = std::max(config.payload_capacity, *frame_size);
  const uint32_t payload_offset =
      static_cast<uint32_t>(alignUp(sizeof(FrameSlotHeader), abi::kPayloadAlign));
  const uint64_t stride = alignUp(payload_offset + capacity, kPageSize);
  const uint64_t slots_offset = alignUp(sizeof(FrameRingHeader), kPageSize);
  const uint64_t total = slots_offset + stride * config.slot_count;

  auto shm = SharedMemory::create(config.name, total);
  if (!shm) return shm.error();
  auto* h = reinterpret_cast<FrameRingHeader*>(shm->data());
  h->magic = abi::kFrameRingMagic;
  h->abi_version = abi::kAbiVersion;
  h->header_size = sizeof(FrameRingHeader);
  h->slot_header_size = sizeof(FrameSlotHeader);
  h->slot_count = config.slot_count;
  h->payload_offset = payload_offset;
  h->slot_stride = stride;
  h->slots_offset = slots_offset;
  h->payload_capacity = capacity;
  h->total_size = total;
  h->mode = config.mode;
  // Slots start zeroed: mutex word 0 = free, released with kKeyEmpty; token 0 = none.
  return shm;
}

Result<FrameRingLayout> validateFrameRing(const std::byte* base, size_t size) {
  if (size < sizeof(FrameRingHeader))
    return makeError("frame ring: mapping of {} bytes is smaller than its {}-byte header", size,
                     sizeof(FrameRingHeader));
  FrameRingHeader h;
  std::memcpy(&h, base, sizeof h);  // one snapshot: a peer rewriting the header can't race us
  if (h.magic != abi::kFrameRingMagic)
    return makeError("frame ring: bad magic 0x{:08x} (expected 0x{:08x})", h.magic,
                     abi::kFrameRingMagic);
  if (h.abi_version != abi::kAbiVersion)
    return makeError("frame ring: ABI version {} (this build speaks {})", h.abi_version,
                     abi::kAbiVersion);
  if (h.header_size != sizeof(FrameRingHeader))
    return makeError("frame ring: header_size {} (expected {})", h.header_size,
                     sizeof(FrameRingHeader));
  if (h.slot_header_size != sizeof(FrameSlotHeader))
    return makeError("frame ring: slot_header_size {} (expected {})", h.slot_header_size,
                     sizeof(FrameSlotHeader));
  if (h.slot_count == 0 || h.slot_count > abi::kMaxFrameSlots)
    return makeError("frame ring: slot_count {} is out of range (1..{})", h.slot_count,
                     abi::kMaxFrameSlots);
  if (h.payload_offset < sizeof(FrameSlotHeader) || h.payload_offset % abi::kPayloadAlign != 0)
    return makeError("frame ring: payload_offset {} must be >= {} and a multiple of {}",
                     h.payload_offset, sizeof(FrameSlotHeader), abi::kPayloadAlign);
  if (h.payload_capacity == 0) return makeError("frame ring: payload_capacity is 0");
  if (h.slots_offset < sizeof(FrameRingHeader) || h.slots_offset % abi::kCacheLine != 0)
    return makeError("frame ring: slots_offset {} must be >= {} and a multiple of {}",
                     h.slots_offset, sizeof(FrameRingHeader), abi::kCacheLine);
  uint64_t slot_need = 0;
  if (__builtin_add_overflow(uint64_t{h.payload_offset}, h.payload_capacity, &slot_need) ||
      h.slot_stride < slot_need || h.slot_stride % abi::kCacheLine != 0)
    return makeError(
        "frame ring: slot_stride {} must be a multiple of {} holding payload_offset {} + "
        "payload_capacity {}",
        h.slot_stride, abi::kCacheLine, h.payload_offset, h.payload_capacity);
  if (h.total_size != size)
    return makeError("frame ring: total_size {} does not match the mapping's {} bytes",
                     h.total_size, size);
  uint64_t slots_bytes = 0;
  uint64_t end = 0;
  if (__builtin_mul_overflow(h.slot_stride, uint64_t{h.slot_count}, &slots_bytes) ||
      __builtin_add_overflow(h.slots_offset, slots_bytes, &end) || end > size)
    return makeError(
        "frame ring: {} slots of {} bytes from offset {} do not fit the {}-byte mapping",
        h.slot_count, h.slot_stride, h.slots_offset, size);
  if (h.mode.format != 0) {
    auto mode_size = framePayloadSize(h.mode);
    if (!mode_size) return makeError("frame ring: mode: {}", mode_size.error().message);
    if (*mode_size > h.payload_capacity)
      return makeError("frame ring: mode needs {} bytes, payload_capacity is {}", *mode_size,
                       h.payload_capacity);
  }
  return FrameRingLayout{h.slot_count,   h.payload_offset,   h.slot_stride,
                         h.slots_offset, h.payload_capacity, h.total_size};
}

// ---------------------------------------------------------------------------------------------

FrameSlotHeader& FrameRingView::slot(uint32_t index) const {
  if (index >= layout_.slot_count) std::abort();  // callers check untrusted indices first
  return *reinterpret_cast<FrameSlotHeader*>(base() + layout_.slots_offset +
                                             layout_.slot_stride * index);
}

std::byte* FrameRingView::payload(uint32_t index) const {
  return reinterpret_cast<std::byte*>(&slot(index)) + layout_.payload_offset;
}

uint32_t FrameRingView::recoverAbandonedSlots() {
  uint32_t recovered = 0;
  for (uint32_t i = 0; i < layout_.slot_count; ++i) {
    KeyedMutex m = mutex(i);
    if (!m.recoverIfAbandoned()) continue;
    FrameSlotHeader& s = slot(i);
    s.flags |= abi::kSlotFlagAbandoned;
    atomicRef(s.token).store(abi::kNoToken, std::memory_order_relaxed);
    (void)m.release(abi::kKeyEmpty);  // we hold it: cannot fail
    bump(header().abandoned);
    ++recovered;
  }
  return recovered;
}

// ---------------------------------------------------------------------------------------------

Result<FrameProducer> FrameProducer::attach(SharedMemory shm) {
  auto layout = validateFrameRing(shm.data(), shm.size());
  if (!layout) return layout.error();
  const uint32_t self = selfPid();
  auto* h = reinterpret_cast<FrameRingHeader*>(shm.data());
  if (auto claimed = claimRole(h->producer_pid, self, "frame ring producer"); !claimed)
    return claimed.error();
  FrameProducer p(std::move(shm), *layout, self);
  p.attached_ = true;
  p.recoverAbandonedSlots();
  FrameRingHeader& hdr = p.header();
  p.generation_ = abi::nextGeneration(atomicLoad(hdr.generation));
  atomicRef(hdr.generation).store(p.generation_, std::memory_order_release);
  p.sequence_ = abi::tokenSequence(atomicLoad(hdr.latest));
  p.mode_ = hdr.mode;
  storeHeartbeat(hdr.producer_heartbeat_ns);
  return p;
}

FrameProducer::FrameProducer(FrameProducer&& o) noexcept
    : FrameRingView(std::move(o)),
      generation_(o.generation_),
      sequence_(o.sequence_),
      next_slot_(o.next_slot_),
      writing_(std::exchange(o.writing_, std::nullopt)),
      last_token_(o.last_token_),
      content_token_(o.content_token_),
      next_peer_check_ns_(o.next_peer_check_ns_),
      reported_dead_consumer_(o.reported_dead_consumer_),
      consumer_deaths_(o.consumer_deaths_),
      mode_(o.mode_),
      attached_(std::exchange(o.attached_, false)) {}

FrameProducer::~FrameProducer() {
  if (!attached_) return;
  if (writing_) (void)mutex(*writing_).release(abi::kKeyEmpty);
  releaseRole(header().producer_pid, self_pid_);
}

std::optional<uint32_t> FrameProducer::takeSlot() {
  FrameRingHeader& h = header();
  const uint64_t latest = atomicLoad(h.latest);
  const uint32_t latest_slot = latest != abi::kNoToken ? abi::tokenSlot(latest) : UINT32_MAX;
  const uint32_t n = layout_.slot_count;
  auto scan = [&](auto&& tryTake) -> std::optional<uint32_t> {
    for (uint32_t i = 0; i < n; ++i) {
      uint32_t s = (next_slot_ + i) % n;
      if (s != latest_slot && tryTake(s)) return s;
    }
    if (latest_slot < n && tryTake(latest_slot)) return latest_slot;
    return std::nullopt;
  };
  // 1: an empty slot. 2: a published frame nobody took (the latest one last). 3: a dead holder's.
  auto s = scan(
      [&](uint32_t i) { return mutex(i).tryAcquire(abi::kKeyEmpty) == AcquireResult::kAcquired; });
  if (!s) {
    s = scan(
        [&](uint32_t i) { return mutex(i).tryAcquire(abi::kKeyFull) == AcquireResult::kAcquired; });
    if (s) bump(h.overwritten);
  }
  if (!s) {
    s = scan([&](uint32_t i) { return mutex(i).recoverIfAbandoned(); });
    if (s) {
      slot(*s).flags |= abi::kSlotFlagAbandoned;
      bump(h.abandoned);
    }
  }
  if (s) next_slot_ = (*s + 1) % n;
  return s;
}

void FrameProducer::tick() {
  const uint64_t now = monotonicNs();
  atomicRef(header().producer_heartbeat_ns).store(now, std::memory_order_relaxed);
  if (now >= next_peer_check_ns_) {
    next_peer_check_ns_ = now + KeyedMutex::kLivenessSliceNs;
    checkConsumer();
  }
}

std::optional<FrameProducer::WriteSlot> FrameProducer::beginFrame() {
  if (writing_) std::abort();  // one frame at a time: publish() or cancel() the previous one
  FrameRingHeader& h = header();
  tick();
  auto s = takeSlot();
  if (!s) {
    bump(h.dropped);
    return std::nullopt;
  }
  atomicRef(slot(*s).token).store(abi::kNoToken, std::memory_order_relaxed);
  writing_ = *s;
  return WriteSlot{*s, std::span<std::byte>(payload(*s), layout_.payload_capacity)};
}

uint64_t FrameProducer::publish(const WriteSlot& ws, const FrameMeta& meta) {
  if (!writing_ || *writing_ != ws.slot) std::abort();  // not the slot beginFrame() gave out
  const FrameGeometry& geometry = meta.geometry.format != 0 ? meta.geometry : mode_;
  uint64_t size = meta.payload_size;
  if (size == 0) {
    auto needed = framePayloadSize(geometry);
    size = needed ? *needed : 0;
  }
  if (size > layout_.payload_capacity) std::abort();  // producer bug: wrote past its slot
  FrameMeta fresh = meta;
  fresh.geometry = geometry;
  fresh.flags &= ~(abi::kSlotFlagRepeat | abi::kSlotFlagNoPayload);  // repeats: repeatLast()
  const uint64_t token = publishSlot(ws.slot, fresh, size, 0);
  if (token != abi::kNoToken) {
    last_token_ = token;
    content_token_ = token;
  }
  return token;
}

// Publishes the slot we hold (writing_) under a new token; content_token 0: the new token.
uint64_t FrameProducer::publishSlot(uint32_t index, const FrameMeta& meta, uint64_t payload_size,
                                    uint64_t content_token) {
  FrameRingHeader& h = header();
  FrameSlotHeader& s = slot(index);
  sequence_ = abi::nextSequence(sequence_);
  const uint64_t token = abi::packToken(generation_, sequence_, index);
  s.capture_time_ns = meta.capture_time_ns;
  s.payload_size = payload_size;
  s.geometry = meta.geometry;
  s.colour = static_cast<uint32_t>(meta.colour);
  s.flags = meta.flags & ~abi::kSlotFlagAbandoned;
  s.content_token = content_token != abi::kNoToken ? content_token : token;
  atomicRef(s.token).store(token, std::memory_order_relaxed);
  writing_.reset();
  if (!mutex(index).release(abi::kKeyFull)) {
    bump(h.dropped);  // somebody declared us dead and took the slot: the frame is lost
    return abi::kNoToken;
  }
  atomicRef(h.latest).store(token, std::memory_order_release);
  bump(h.published);
  atomicRef(h.publish_futex).fetch_add(1, std::memory_order_seq_cst);
  if (atomicRef(h.consumer_waiting).load(std::memory_order_seq_cst) != 0)
    platform::wakeWord(&h.publish_futex, 1);
  return token;
}

void FrameProducer::cancel(const WriteSlot& ws) {
  if (!writing_ || *writing_ != ws.slot) std::abort();
  writing_.reset();
  (void)mutex(ws.slot).release(abi::kKeyEmpty);
}

bool FrameProducer::canRepeat() const {
  return last_token_ != abi::kNoToken &&
         atomicLoad(slot(abi::tokenSlot(last_token_)).token) == last_token_;
}

std::optional<uint64_t> FrameProducer::repeatLast(uint64_t capture_time_ns) {
  if (writing_) std::abort();             // one frame at a time
  if (!canRepeat()) return std::nullopt;  // nothing published, or its slot recycled since
  const uint32_t src = abi::tokenSlot(last_token_);
  tick();
  // Only this process writes slot headers and payloads (under the keyed mutex or before the
  // first publish), so the picture's slot header is stable while we read it.
  const FrameSlotHeader& from = slot(src);
  FrameMeta meta;
  meta.capture_time_ns = capture_time_ns;
  meta.geometry = from.geometry;
  meta.colour = static_cast<abi::ColourSpace>(from.colour);
  meta.flags = abi::kSlotFlagRepeat;
  const uint64_t size = from.payload_size;
  KeyedMutex m = mutex(src);
  uint64_t token = abi::kNoToken;
  if (m.tryAcquire(abi::kKeyEmpty) == AcquireResult::kAcquired ||
      m.tryAcquire(abi::kKeyFull) == AcquireResult::kAcquired) {
    // The picture's own slot, taken back (or never taken): publish it again as it is.
    if (atomicLoad(slot(src).token) != last_token_) {  // recovered from a dead peer meanwhile
      (void)m.release(abi::kKeyEmpty);
      return std::nullopt;
    }
    writing_ = src;
    token = publishSlot(src, meta, size, content_token_);
    if (token != abi::kNoToken) last_token_ = token;
  } else {
    // The consumer holds the picture: a fresh slot says "the same again", payload untouched.
    auto s = takeSlot();
    if (!s) {
      bump(header().dropped);
      return std::nullopt;
    }
    writing_ = *s;
    meta.flags |= abi::kSlotFlagNoPayload;
    token = publishSlot(*s, meta, 0, content_token_);
  }
  if (token != abi::kNoToken) bump(header().repeated);
  return token;
}

Result<void> FrameProducer::setMode(const FrameGeometry& mode) {
  auto size = framePayloadSize(mode);
  if (!size) return makeError("frame ring mode: {}", size.error().message);
  if (*size > layout_.payload_capacity)
    return makeError("frame ring mode {}x{} needs {} bytes per slot, capacity is {}", mode.width,
                     mode.height, *size, layout_.payload_capacity);
  mode_ = mode;
  last_token_ = content_token_ = abi::kNoToken;  // the old picture is not one of the new mode
  generation_ = abi::nextGeneration(generation_);
  atomicRef(header().generation).store(generation_, std::memory_order_release);
  return {};
}

bool FrameProducer::checkConsumer() {
  uint32_t pid = atomicLoad(header().consumer_pid);
  if (pid == 0 || pid == reported_dead_consumer_ || !processGone(pid)) return false;
  reported_dead_consumer_ = pid;
  ++consumer_deaths_;
  recoverAbandonedSlots();
  return true;
}

// ---------------------------------------------------------------------------------------------

Result<uint32_t> releaseFrameRingPeer(const SharedMemory& ring, uint32_t pid) {
  auto layout = validateFrameRing(ring.data(), ring.size());
  if (!layout) return layout.error();
  auto& h = *reinterpret_cast<FrameRingHeader*>(ring.data());
  releaseRole(h.producer_pid, pid);
  releaseRole(h.consumer_pid, pid);
  uint32_t released = 0;
  for (uint32_t i = 0; i < layout->slot_count; ++i) {
    auto& s = *reinterpret_cast<FrameSlotHeader*>(ring.data() + layout->slots_offset +
                                                  i * layout->slot_stride);
    // Marked before the release: whoever takes the slot next sees the flag.
    const uint32_t word = atomicLoad(s.mutex);
    if (!(word & abi::kMutexHeld) || (word & abi::kMutexValueMask) != pid) continue;
    atomicRef(s.token).store(abi::kNoToken, std::memory_order_relaxed);
    s.flags |= abi::kSlotFlagAbandoned;
    if (!KeyedMutex::releaseDeadHolder(s.mutex, pid, abi::kKeyEmpty)) continue;
    bump(h.abandoned);
    ++released;
  }
  return released;
}

const char* toString(FrameConsumer::Status status) {
  switch (status) {
    case FrameConsumer::Status::kFrame:
      return "frame";
    case FrameConsumer::Status::kTimeout:
      return "timeout";
    case FrameConsumer::Status::kProducerGone:
      return "producer-gone";
  }
  return "?";
}

Result<FrameConsumer> FrameConsumer::attach(SharedMemory shm, WaitMode mode) {
  auto layout = validateFrameRing(shm.data(), shm.size());
  if (!layout) return layout.error();
  const uint32_t self = selfPid();
  auto* h = reinterpret_cast<FrameRingHeader*>(shm.data());
  if (auto claimed = claimRole(h->consumer_pid, self, "frame ring consumer"); !claimed)
    return claimed.error();
  FrameConsumer c(std::move(shm), *layout, self, mode);
  c.attached_ = true;
  c.recoverAbandonedSlots();
  storeHeartbeat(c.header().consumer_heartbeat_ns);
  return c;
}

FrameConsumer::FrameConsumer(FrameConsumer&& o) noexcept
    : FrameRingView(std::move(o)),
      wait_mode_(o.wait_mode_),
      last_generation_(o.last_generation_),
      last_sequence_(o.last_sequence_),
      held_count_(std::exchange(o.held_count_, 0)),
      reported_dead_producer_(o.reported_dead_producer_),
      next_peer_check_ns_(o.next_peer_check_ns_),
      rejected_token_(o.rejected_token_),
      last_content_(o.last_content_),
      attached_(std::exchange(o.attached_, false)) {
  std::copy(std::begin(o.held_), std::end(o.held_), std::begin(held_));
}

FrameConsumer::~FrameConsumer() {
  if (!attached_) return;
  for (uint32_t i = 0; i < held_count_; ++i) (void)mutex(held_[i]).release(abi::kKeyEmpty);
  releaseRole(header().consumer_pid, self_pid_);
}

bool FrameConsumer::isNewer(uint64_t token, uint32_t generation) const {
  if (token == abi::kNoToken || abi::tokenGeneration(token) != generation) return false;
  if (last_generation_ != generation) return true;
  return abi::sequenceNewer(abi::tokenSequence(token), last_sequence_);
}

bool FrameConsumer::takeSlot(uint64_t token, uint32_t generation, Frame* out) {
  FrameRingHeader& h = header();
  const uint32_t index = abi::tokenSlot(token);
  if (index >= layout_.slot_count) {
    bump(h.stale_rejected);
    rejected_token_ = token;
    return false;
  }
  KeyedMutex m = mutex(index);
  if (m.tryAcquire(abi::kKeyFull) != AcquireResult::kAcquired) return false;
  // We hold the slot: the producer wrote these fields before releasing it with kKeyFull.
  const FrameSlotHeader& s = slot(index);
  const uint64_t held_token = atomicLoad(s.token, std::memory_order_relaxed);
  const FrameGeometry geometry = s.geometry;
  const uint64_t size = s.payload_size;
  const uint32_t flags = s.flags;
  const uint64_t capture_time = s.capture_time_ns;
  const uint32_t colour = s.colour;
  const uint64_t content = s.content_token != abi::kNoToken ? s.content_token : held_token;
  auto needed = framePayloadSize(geometry);
  // A frame without payload is only a picture for a consumer that has just had that picture.
  const bool no_payload = (flags & abi::kSlotFlagNoPayload) != 0;
  const bool sized = no_payload ? size == 0 && (flags & abi::kSlotFlagRepeat) != 0 &&
                                      content == last_content_ && needed
                                : size <= layout_.payload_capacity && needed && *needed <= size;
  const bool valid = abi::tokenSlot(held_token) == index && isNewer(held_token, generation) &&
                     (flags & abi::kSlotFlagAbandoned) == 0 && sized;
  if (!valid) {
    // Old generation, a frame we already had, or a header no producer of ours would write:
    // never hand it on. The slot goes back empty.
    bump(h.stale_rejected);
    rejected_token_ = token;
    (void)m.release(abi::kKeyEmpty);
    return false;
  }
  out->token = held_token;
  out->slot = index;
  out->flags = flags;
  out->capture_time_ns = capture_time;
  out->geometry = geometry;
  out->colour = colour;
  out->content_token = content;
  out->payload = std::span<const std::byte>(payload(index), size);
  last_content_ = content;
  held_[held_count_++] = index;
  last_generation_ = generation;
  last_sequence_ = abi::tokenSequence(held_token);
  bump(h.consumed);
  return true;
}

bool FrameConsumer::producerGone() {
  uint32_t pid = atomicLoad(header().producer_pid);
  if (pid == 0 || pid == reported_dead_producer_ || !processGone(pid)) return false;
  reported_dead_producer_ = pid;
  recoverAbandonedSlots();
  return true;
}

FrameConsumer::Status FrameConsumer::acquireLatest(int64_t timeout_ns, Frame* out) {
  if (held_count_ == kMaxHeld) std::abort();  // release() an earlier frame first
  FrameRingHeader& h = header();
  uint64_t now = monotonicNs();
  const uint64_t deadline = now + static_cast<uint64_t>(std::max<int64_t>(timeout_ns, 0));
  for (;;) {
    atomicRef(h.consumer_heartbeat_ns).store(now, std::memory_order_relaxed);
    const uint32_t seen = atomicRef(h.publish_futex).load(std::memory_order_acquire);
    const uint64_t token = atomicRef(h.latest).load(std::memory_order_acquire);
    const uint32_t generation = atomicRef(h.generation).load(std::memory_order_acquire);
    if (token != rejected_token_ && isNewer(token, generation) && takeSlot(token, generation, out))
      return Status::kFrame;
    if (now >= next_peer_check_ns_) {
      next_peer_check_ns_ = now + KeyedMutex::kLivenessSliceNs;
      if (producerGone()) return Status::kProducerGone;
    }
    if (now >= deadline) return Status::kTimeout;
    if (wait_mode_ == WaitMode::kBusyPoll) {
      platform::cpuRelax();
    } else {
      atomicRef(h.consumer_waiting).store(1, std::memory_order_seq_cst);
      if (atomicRef(h.latest).load(std::memory_order_seq_cst) == token) {
        const uint64_t until = std::min(deadline, next_peer_check_ns_);
        platform::waitOnWord(&h.publish_futex, seen,
                             static_cast<int64_t>(until > now ? until - now : 0));
      }
      atomicRef(h.consumer_waiting).store(0, std::memory_order_relaxed);
    }
    now = monotonicNs();
  }
}

void FrameConsumer::release(const Frame& frame) {
  uint32_t i = 0;
  while (i < held_count_ && held_[i] != frame.slot) ++i;
  if (i == held_count_) std::abort();  // not a frame we hold
  held_[i] = held_[--held_count_];
  (void)mutex(frame.slot).release(abi::kKeyEmpty);  // fails only if a peer stole it: ring goes on
}

}  // namespace funkhaus
