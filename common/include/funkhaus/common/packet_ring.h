// Packet ring (Linux): single-producer single-consumer ring of variable-length records.
// Producer: funkhaus-encode (access units). Consumer: funkhaus-net. Owner: funkhausd.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "funkhaus/abi/packet_ring.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/shared_memory.h"

namespace funkhaus {

struct PacketRingConfig {
  std::string name = "funkhaus-packets";
  uint64_t capacity = 8u << 20;         // record area; rounded up to kRecordAlign
  uint32_t max_record_size = 2u << 20;  // must be <= capacity / 2
};

Result<SharedMemory> createPacketRing(const PacketRingConfig& config);

// The ring's geometry as validated at attach; never re-read from shared memory afterwards.
struct PacketRingLayout {
  uint64_t data_offset = 0;
  uint64_t capacity = 0;
  uint32_t max_record_size = 0;
};

// Checks magic, version, sizes and offsets of the header at `base` against a `size`-byte
// mapping. The error names the first field that is wrong.
Result<PacketRingLayout> validatePacketRing(const std::byte* base, size_t size);

class PacketRingView {
 public:
  abi::PacketRingHeader& header() const {
    return *reinterpret_cast<abi::PacketRingHeader*>(shm_.data());
  }
  const PacketRingLayout& layout() const { return layout_; }

 protected:
  PacketRingView(SharedMemory shm, PacketRingLayout layout, uint32_t self_pid)
      : shm_(std::move(shm)), layout_(layout), self_pid_(self_pid) {}
  std::byte* data() const { return shm_.data() + layout_.data_offset; }

  SharedMemory shm_;
  PacketRingLayout layout_;
  uint32_t self_pid_;
};

struct PacketMeta {
  uint64_t frame_number = 0;
  uint64_t capture_time_ns = 0;
  // kRecordFlagKeyframe, kRecordFlagRepeat (a re-encoded static picture), and
  // kRecordFlagDiscontinuity for a gap the producer knows of (audio samples lost); the ring adds
  // kRecordFlagDiscontinuity itself after its own drops.
  uint32_t flags = 0;
  uint32_t codec = 0;
  uint32_t format = 0;  // abi::opusFormat() for kOpus records
};

class PacketProducer : public PacketRingView {
 public:
  enum class PushResult {
    kCommitted,
    kDropped,   // not enough free space: the whole record dropped, the next one is flagged
    kTooLarge,  // larger than max_record_size: dropped, the next one is flagged
  };

  // Refused if another live producer is attached. The first record after attach carries
  // kRecordFlagDiscontinuity (a restarted encoder cannot know what the consumer missed).
  static Result<PacketProducer> attach(SharedMemory shm);
  PacketProducer(PacketProducer&& other) noexcept;
  PacketProducer& operator=(PacketProducer&&) = delete;
  ~PacketProducer();

  // Copies the record in and commits it with a release-store of head. Never blocks.
  PushResult push(const PacketMeta& meta, std::span<const std::byte> payload);

 private:
  PacketProducer(SharedMemory shm, PacketRingLayout layout, uint32_t self_pid)
      : PacketRingView(std::move(shm), layout, self_pid) {}
  void dropRecord(size_t size);

  uint64_t head_ = 0;
  bool discontinuity_ = true;
  bool attached_ = false;
};

class PacketConsumer : public PacketRingView {
 public:
  enum class WaitMode { kFutex, kBusyPoll };
  enum class Status {
    kRecord,  // a record is ready: peek() it
    kTimeout,
    kProducerGone,  // the producer died (reported once per producer pid)
  };

  struct Record {
    abi::PacketRecordHeader header{};    // a copy, validated
    std::span<const std::byte> payload;  // points into the ring until pop()
  };

  static Result<PacketConsumer> attach(SharedMemory shm, WaitMode mode = WaitMode::kFutex);
  PacketConsumer(PacketConsumer&& other) noexcept;
  PacketConsumer& operator=(PacketConsumer&&) = delete;
  ~PacketConsumer();

  // Waits up to timeout_ns until a record is available.
  Status wait(int64_t timeout_ns);
  // The oldest unread record, or nullopt if none. A record header that no honest producer
  // could have written is an error: the consumer then skips everything committed so far, and
  // the next record it returns carries kRecordFlagDiscontinuity.
  Result<std::optional<Record>> peek();
  // Consumes the record peek() returned, freeing its space for the producer.
  void pop();

  uint64_t corruptions() const { return corruptions_; }

 private:
  PacketConsumer(SharedMemory shm, PacketRingLayout layout, uint32_t self_pid, WaitMode mode)
      : PacketRingView(std::move(shm), layout, self_pid), wait_mode_(mode) {}
  Error resync(uint64_t head, std::string why);

  WaitMode wait_mode_;
  uint64_t tail_ = 0;
  uint64_t peeked_bytes_ = 0;  // bytes pop() will consume, 0 = nothing peeked
  bool discontinuity_ = false;
  uint64_t corruptions_ = 0;
  uint32_t reported_dead_producer_ = 0;
  uint64_t next_peer_check_ns_ = 0;
  bool attached_ = false;
};

const char* toString(PacketConsumer::Status status);

// The owner's side (funkhausd), after it reaped `pid`: clears the producer and consumer roles
// `pid` holds, so that its successor attaches at once whatever became of the number `pid`.
// The header is validated first.
Result<void> releasePacketRingPeer(const SharedMemory& ring, uint32_t pid);

}  // namespace funkhaus
