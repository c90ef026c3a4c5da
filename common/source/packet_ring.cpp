// Packet ring: SPSC variable-length records, commit by release-store of head.
#include "funkhaus/common/packet_ring.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "funkhaus/common/clock.h"
#include "funkhaus/common/keyed_mutex.h"
#include "funkhaus/common/peer.h"
#include "funkhaus/platform/cpu_relax.h"
#include "funkhaus/platform/wait_word.h"

namespace funkhaus {

using abi::atomicLoad;
using abi::atomicRef;
using abi::kRecordAlign;
using abi::PacketRecordHeader;
using abi::PacketRingHeader;

namespace {

constexpr uint64_t kPageSize = 4096;
constexpr uint64_t kMaxCapacity = uint64_t{1} << 32;

constexpr uint64_t alignUp(uint64_t value, uint64_t align) {
  return (value + align - 1) / align * align;
}

constexpr uint64_t recordBytes(uint64_t payload) {
  return alignUp(sizeof(PacketRecordHeader) + payload, kRecordAlign);
}

void bump(uint64_t& counter, uint64_t by = 1) {
  atomicRef(counter).fetch_add(by, std::memory_order_relaxed);
}

}  // namespace

Result<SharedMemory> createPacketRing(const PacketRingConfig& config) {
  const uint64_t capacity = alignUp(config.capacity, kRecordAlign);
  if (capacity < 4 * kRecordAlign || capacity > kMaxCapacity)
    return makeError("packet ring '{}': capacity {} is out of range ({}..{})", config.name,
                     config.capacity, 4 * kRecordAlign, kMaxCapacity);
  if (config.max_record_size == 0 || recordBytes(config.max_record_size) > capacity / 2)
    return makeError("packet ring '{}': max_record_size {} must be 1..capacity/2 (capacity {})",
                     config.name, config.max_record_size, capacity);
  const uint64_t data_offset = alignUp(sizeof(PacketRingHeader), kPageSize);
  auto shm = SharedMemory::create(config.name, data_offset + capacity);
  if (!shm) return shm.error();
  auto* h = reinterpret_cast<PacketRingHeader*>(shm->data());
  h->magic = abi::kPacketRingMagic;
  h->abi_version = abi::kAbiVersion;
  h->header_size = sizeof(PacketRingHeader);
  h->record_header_size = sizeof(PacketRecordHeader);
  h->data_offset = data_offset;
  h->capacity = capacity;
  h->total_size = data_offset + capacity;
  h->record_align = kRecordAlign;
  h->max_record_size = config.max_record_size;
  return shm;
}

Result<PacketRingLayout> validatePacketRing(const std::byte* base, size_t size) {
  if (size < sizeof(PacketRingHeader))
    return makeError("packet ring: mapping of {} bytes is smaller than its {}-byte header", size,
                     sizeof(PacketRingHeader));
  PacketRingHeader h;
  std::memcpy(&h, base, sizeof h);
  if (h.magic != abi::kPacketRingMagic)
    return makeError("packet ring: bad magic 0x{:08x} (expected 0x{:08x})", h.magic,
                     abi::kPacketRingMagic);
  if (h.abi_version != abi::kAbiVersion)
    return makeError("packet ring: ABI version {} (this build speaks {})", h.abi_version,
                     abi::kAbiVersion);
  if (h.header_size != sizeof(PacketRingHeader))
    return makeError("packet ring: header_size {} (expected {})", h.header_size,
                     sizeof(PacketRingHeader));
  if (h.record_header_size != sizeof(PacketRecordHeader))
    return makeError("packet ring: record_header_size {} (expected {})", h.record_header_size,
                     sizeof(PacketRecordHeader));
  if (h.record_align != kRecordAlign)
    return makeError("packet ring: record_align {} (expected {})", h.record_align, kRecordAlign);
  if (h.data_offset < sizeof(PacketRingHeader) || h.data_offset % kRecordAlign != 0)
    return makeError("packet ring: data_offset {} must be >= {} and a multiple of {}",
                     h.data_offset, sizeof(PacketRingHeader), kRecordAlign);
  if (h.capacity < 4 * kRecordAlign || h.capacity > kMaxCapacity || h.capacity % kRecordAlign)
    return makeError("packet ring: capacity {} must be a multiple of {} in {}..{}", h.capacity,
                     kRecordAlign, 4 * kRecordAlign, kMaxCapacity);
  if (h.max_record_size == 0 || recordBytes(h.max_record_size) > h.capacity / 2)
    return makeError("packet ring: max_record_size {} must be 1..capacity/2 (capacity {})",
                     h.max_record_size, h.capacity);
  if (h.total_size != size)
    return makeError("packet ring: total_size {} does not match the mapping's {} bytes",
                     h.total_size, size);
  if (h.data_offset > size || h.capacity > size - h.data_offset)
    return makeError("packet ring: data area {}+{} does not fit the {}-byte mapping", h.data_offset,
                     h.capacity, size);
  return PacketRingLayout{h.data_offset, h.capacity, h.max_record_size};
}

// ---------------------------------------------------------------------------------------------

Result<PacketProducer> PacketProducer::attach(SharedMemory shm) {
  auto layout = validatePacketRing(shm.data(), shm.size());
  if (!layout) return layout.error();
  const auto self = platform::currentProcessId();
  auto* h = reinterpret_cast<PacketRingHeader*>(shm.data());
  const uint64_t head = atomicLoad(h->head);
  if (head % kRecordAlign != 0)
    return makeError("packet ring: head {} is not a multiple of {}", head, kRecordAlign);
  if (auto claimed = claimRole(h->producer_pid, self, "packet ring producer"); !claimed)
    return claimed.error();
  PacketProducer p(std::move(shm), *layout, self);
  PacketRingHeader& hdr = p.header();
  p.head_ = head;
  p.attached_ = true;
  atomicRef(hdr.producer_heartbeat_ns).store(monotonicNs(), std::memory_order_relaxed);
  return p;
}

PacketProducer::PacketProducer(PacketProducer&& o) noexcept
    : PacketRingView(std::move(o)),
      head_(o.head_),
      discontinuity_(o.discontinuity_),
      attached_(std::exchange(o.attached_, false)) {}

PacketProducer::~PacketProducer() {
  if (!attached_) return;
  releaseRole(header().producer_pid, self_pid_);
}

void PacketProducer::dropRecord(size_t size) {
  bump(header().dropped_records);
  bump(header().dropped_bytes, size);
  discontinuity_ = true;
}

PacketProducer::PushResult PacketProducer::push(const PacketMeta& meta,
                                                std::span<const std::byte> payload) {
  PacketRingHeader& h = header();
  atomicRef(h.producer_heartbeat_ns).store(monotonicNs(), std::memory_order_relaxed);
  if (payload.size() > layout_.max_record_size) {
    dropRecord(payload.size());
    return PushResult::kTooLarge;
  }
  const uint64_t cap = layout_.capacity;
  const uint64_t need = recordBytes(payload.size());
  const uint64_t tail = atomicRef(h.tail).load(std::memory_order_acquire);
  const uint64_t used = head_ - tail;  // a tail beyond head or too far back reads as "full"
  const uint64_t pos = head_ % cap;
  const uint64_t to_end = cap - pos;
  const uint64_t pad = need > to_end ? to_end : 0;
  if (used > cap || pad + need > cap - used) {
    dropRecord(payload.size());
    return PushResult::kDropped;
  }
  std::byte* area = data();
  if (pad != 0) {
    PacketRecordHeader filler{};
    filler.size = static_cast<uint32_t>(pad - sizeof(PacketRecordHeader));
    filler.flags = abi::kRecordFlagPadding;
    std::memcpy(area + pos, &filler, sizeof filler);
  }
  const uint64_t at = (head_ + pad) % cap;
  PacketRecordHeader rec{};
  rec.size = static_cast<uint32_t>(payload.size());
  rec.flags = (meta.flags & (abi::kRecordFlagKeyframe | abi::kRecordFlagDiscontinuity |
                             abi::kRecordFlagRepeat)) |
              (discontinuity_ ? abi::kRecordFlagDiscontinuity : 0);
  rec.frame_number = meta.frame_number;
  rec.capture_time_ns = meta.capture_time_ns;
  rec.codec = meta.codec;
  rec.format = meta.format;
  std::memcpy(area + at, &rec, sizeof rec);
  if (!payload.empty()) std::memcpy(area + at + sizeof rec, payload.data(), payload.size());
  head_ += pad + need;
  atomicRef(h.head).store(head_, std::memory_order_release);  // the commit
  discontinuity_ = false;
  bump(h.records);
  atomicRef(h.commit_futex).fetch_add(1, std::memory_order_seq_cst);
  if (atomicRef(h.consumer_waiting).load(std::memory_order_seq_cst) != 0)
    platform::wakeWord(&h.commit_futex, 1);
  return PushResult::kCommitted;
}

// ---------------------------------------------------------------------------------------------

Result<void> releasePacketRingPeer(const SharedMemory& ring, uint32_t pid) {
  auto layout = validatePacketRing(ring.data(), ring.size());
  if (!layout) return layout.error();
  auto& h = *reinterpret_cast<PacketRingHeader*>(ring.data());
  releaseRole(h.producer_pid, pid);
  releaseRole(h.consumer_pid, pid);
  return {};
}

const char* toString(PacketConsumer::Status status) {
  switch (status) {
    case PacketConsumer::Status::kRecord:
      return "record";
    case PacketConsumer::Status::kTimeout:
      return "timeout";
    case PacketConsumer::Status::kProducerGone:
      return "producer-gone";
  }
  return "?";
}

Result<PacketConsumer> PacketConsumer::attach(SharedMemory shm, WaitMode mode) {
  auto layout = validatePacketRing(shm.data(), shm.size());
  if (!layout) return layout.error();
  const auto self = platform::currentProcessId();
  auto* h = reinterpret_cast<PacketRingHeader*>(shm.data());
  if (auto claimed = claimRole(h->consumer_pid, self, "packet ring consumer"); !claimed)
    return claimed.error();
  PacketConsumer c(std::move(shm), *layout, self, mode);
  PacketRingHeader& hdr = c.header();
  c.attached_ = true;
  c.tail_ = atomicLoad(hdr.tail);
  const uint64_t head = atomicLoad(hdr.head);
  if (head - c.tail_ > c.layout_.capacity || c.tail_ % kRecordAlign != 0) {
    (void)c.resync(head, "bad tail at attach");  // start from what comes next
  }
  atomicRef(hdr.consumer_heartbeat_ns).store(monotonicNs(), std::memory_order_relaxed);
  return c;
}

PacketConsumer::PacketConsumer(PacketConsumer&& o) noexcept
    : PacketRingView(std::move(o)),
      wait_mode_(o.wait_mode_),
      tail_(o.tail_),
      peeked_bytes_(o.peeked_bytes_),
      discontinuity_(o.discontinuity_),
      corruptions_(o.corruptions_),
      reported_dead_producer_(o.reported_dead_producer_),
      next_peer_check_ns_(o.next_peer_check_ns_),
      attached_(std::exchange(o.attached_, false)) {}

PacketConsumer::~PacketConsumer() {
  if (!attached_) return;
  releaseRole(header().consumer_pid, self_pid_);
}

Error PacketConsumer::resync(uint64_t head, std::string why) {
  ++corruptions_;
  Error e = makeError("packet ring: {} (tail {}, head {}); skipped to head", why, tail_, head);
  // Only whole records are ever skipped; an unaligned head can't be trusted as a start either.
  tail_ = head % kRecordAlign == 0 ? head : tail_;
  peeked_bytes_ = 0;
  discontinuity_ = true;
  atomicRef(header().tail).store(tail_, std::memory_order_release);
  return e;
}

Result<std::optional<PacketConsumer::Record>> PacketConsumer::peek() {
  PacketRingHeader& h = header();
  const uint64_t cap = layout_.capacity;
  for (;;) {
    const uint64_t head = atomicRef(h.head).load(std::memory_order_acquire);
    if (head == tail_) return std::optional<Record>();
    const uint64_t avail = head - tail_;
    if (avail > cap || head % kRecordAlign != 0) return resync(head, "head out of range");
    const uint64_t pos = tail_ % cap;
    PacketRecordHeader rec;
    std::memcpy(&rec, data() + pos, sizeof rec);  // copy first: the checks must see what we use
    if (rec.flags & ~abi::kRecordFlagsKnown) return resync(head, "unknown record flags");
    if (rec.flags & abi::kRecordFlagPadding) {
      const uint64_t skip = cap - pos;
      if (rec.size != skip - sizeof rec || skip > avail)
        return resync(head, "padding record does not end at the wrap point");
      tail_ += skip;
      atomicRef(h.tail).store(tail_, std::memory_order_release);
      continue;
    }
    const uint64_t need = recordBytes(rec.size);
    if (rec.size > layout_.max_record_size || need > avail || need > cap - pos)
      return resync(head, fmt::format("record of {} bytes does not fit", rec.size));
    if (discontinuity_) rec.flags |= abi::kRecordFlagDiscontinuity;
    peeked_bytes_ = need;
    return std::optional<Record>(
        Record{rec, std::span<const std::byte>(data() + pos + sizeof rec, rec.size)});
  }
}

void PacketConsumer::pop() {
  if (peeked_bytes_ == 0) return;
  tail_ += peeked_bytes_;
  peeked_bytes_ = 0;
  discontinuity_ = false;
  PacketRingHeader& h = header();
  atomicRef(h.tail).store(tail_, std::memory_order_release);
  atomicRef(h.consumer_heartbeat_ns).store(monotonicNs(), std::memory_order_relaxed);
}

PacketConsumer::Status PacketConsumer::wait(int64_t timeout_ns) {
  PacketRingHeader& h = header();
  uint64_t now = monotonicNs();
  const uint64_t deadline = now + static_cast<uint64_t>(std::max<int64_t>(timeout_ns, 0));
  for (;;) {
    atomicRef(h.consumer_heartbeat_ns).store(now, std::memory_order_relaxed);
    const uint32_t seen = atomicRef(h.commit_futex).load(std::memory_order_acquire);
    if (atomicRef(h.head).load(std::memory_order_acquire) != tail_) return Status::kRecord;
    if (now >= next_peer_check_ns_) {
      next_peer_check_ns_ = now + KeyedMutex::kLivenessSliceNs;
      uint32_t pid = atomicLoad(h.producer_pid);
      if (pid != 0 && pid != reported_dead_producer_ && processGone(pid)) {
        reported_dead_producer_ = pid;
        return Status::kProducerGone;
      }
    }
    if (now >= deadline) return Status::kTimeout;
    if (wait_mode_ == WaitMode::kBusyPoll) {
      platform::cpuRelax();
    } else {
      atomicRef(h.consumer_waiting).store(1, std::memory_order_seq_cst);
      if (atomicRef(h.head).load(std::memory_order_seq_cst) == tail_) {
        const uint64_t until = std::min(deadline, next_peer_check_ns_);
        platform::waitOnWord(&h.commit_futex, seen,
                             static_cast<int64_t>(until > now ? until - now : 0));
      }
      atomicRef(h.consumer_waiting).store(0, std::memory_order_relaxed);
    }
    now = monotonicNs();
  }
}

}  // namespace funkhaus
