// Frame ring (Linux): creation by the owner, validated attach, and the producer and consumer
// sides. One producer process (capture/driver) and one consumer process (capture/encode).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "funkhaus/abi/frame_ring.h"
#include "funkhaus/common/keyed_mutex.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/shared_memory.h"

namespace funkhaus {

// Packed planes for `format` at width x height, strides rounded up to kPayloadAlign.
Result<abi::FrameGeometry> makeGeometry(abi::PixelFormat format, uint32_t width, uint32_t height);

// Bytes of payload a frame of this geometry occupies, after checking that the format is known,
// sizes are in range (1..16384) and planes do not overlap or overflow.
Result<uint64_t> framePayloadSize(const abi::FrameGeometry& geometry);

struct FrameRingConfig {
  std::string name = "funkhaus-frames";
  uint32_t slot_count = 4;  // >= 3 gives depth 2 (one being written, one being read) + latest
  abi::FrameGeometry mode{};
  uint64_t payload_capacity = 0;  // 0: exactly what `mode` needs
};

// Creates, initialises and seals a frame ring. The owner (funkhausd) keeps the result and
// hands its fd to the producer and the consumer.
Result<SharedMemory> createFrameRing(const FrameRingConfig& config);

// The ring's geometry as validated at attach. Peers never re-read these fields from shared
// memory afterwards, so a peer that rewrites the header cannot move our bounds.
struct FrameRingLayout {
  uint32_t slot_count = 0;
  uint32_t payload_offset = 0;
  uint64_t slot_stride = 0;
  uint64_t slots_offset = 0;
  uint64_t payload_capacity = 0;
  uint64_t total_size = 0;
};

// Checks magic, ABI version, every size and every offset of the header at `base` against a
// mapping of `size` bytes. The error names the first field that is wrong.
Result<FrameRingLayout> validateFrameRing(const std::byte* base, size_t size);

// Shared part of both sides: the mapping, the validated layout and slot accessors.
class FrameRingView {
 public:
  abi::FrameRingHeader& header() const { return *reinterpret_cast<abi::FrameRingHeader*>(base()); }
  abi::FrameSlotHeader& slot(uint32_t index) const;
  std::byte* payload(uint32_t index) const;
  const FrameRingLayout& layout() const { return layout_; }
  uint32_t slotCount() const { return layout_.slot_count; }
  platform::NativeHandle handle() const { return shm_.handle(); }
  KeyedMutex mutex(uint32_t index) const { return KeyedMutex(slot(index).mutex, self_pid_); }

  // Recovers every slot held by a process that is gone: the slot is returned empty, flagged
  // abandoned and counted; its contents are never handed on. Returns how many were recovered.
  uint32_t recoverAbandonedSlots();

 protected:
  FrameRingView(SharedMemory shm, FrameRingLayout layout, uint32_t self_pid)
      : shm_(std::move(shm)), layout_(layout), self_pid_(self_pid) {}
  std::byte* base() const { return shm_.data(); }

  SharedMemory shm_;
  FrameRingLayout layout_;
  uint32_t self_pid_;
};

struct FrameMeta {
  uint64_t capture_time_ns = 0;
  uint64_t payload_size = 0;  // 0: the geometry's size
  abi::FrameGeometry geometry{};
  uint32_t flags = 0;
  // What the samples mean (the slot header's colour): the producer says it, the consumer
  // honours it (common/media/colour.h).
  abi::ColourSpace colour = abi::ColourSpace::kUnspecified;
};

// The producer side. Never blocks: beginFrame() tries each slot once (0 ms) and drops the frame
// (counted) when none is free.
class FrameProducer : public FrameRingView {
 public:
  struct WriteSlot {
    uint32_t slot = 0;
    std::span<std::byte> payload;
  };

  // Attaches as the ring's producer: refused if another live producer is attached. Bumps the
  // generation (a consumer then rejects frames of the previous producer) and recovers slots
  // left held by dead processes.
  static Result<FrameProducer> attach(SharedMemory shm);

  FrameProducer(FrameProducer&& other) noexcept;
  FrameProducer& operator=(FrameProducer&&) = delete;
  ~FrameProducer();

  // A free slot to write the next frame into, or nullopt: frame dropped (header.dropped++).
  // Takes, in order: an empty slot; a published slot nobody took that is not the latest
  // (header.overwritten++); a slot whose holder died (header.abandoned++).
  std::optional<WriteSlot> beginFrame();
  // Publishes the slot as the latest frame; returns its token.
  uint64_t publish(const WriteSlot& slot, const FrameMeta& meta);
  // Gives the slot back empty without publishing.
  void cancel(const WriteSlot& slot);
  // Publishes the last picture again with kSlotFlagRepeat, copying nothing: the slot that holds
  // it is re-published in place under a new token; while the consumer holds that slot, a fresh
  // slot goes out with kSlotFlagNoPayload (its payload is not written). nullopt if nothing was
  // published yet, the picture's slot was recycled, or no slot is free (counted as dropped).
  std::optional<uint64_t> repeatLast(uint64_t capture_time_ns);
  // Whether repeatLast() has a picture to repeat (published, and its slot not recycled since).
  bool canRepeat() const;
  // Starts a new generation for a mode change: frames published before are rejected by the
  // consumer. Fails if the mode does not fit the slot capacity.
  Result<void> setMode(const abi::FrameGeometry& mode);

  // Checks whether the consumer died; if so recovers the slots it held. Called by beginFrame()
  // at most every KeyedMutex::kLivenessSliceNs; an idle producer may call it itself.
  bool checkConsumer();
  // How many dead consumers this producer has detected (and recovered slots from).
  uint64_t consumerDeaths() const { return consumer_deaths_; }

  uint32_t generation() const { return generation_; }
  const abi::FrameGeometry& mode() const { return mode_; }

 private:
  FrameProducer(SharedMemory shm, FrameRingLayout layout, uint32_t self_pid)
      : FrameRingView(std::move(shm), layout, self_pid) {}
  std::optional<uint32_t> takeSlot();
  void tick();
  uint64_t publishSlot(uint32_t slot, const FrameMeta& meta, uint64_t payload_size,
                       uint64_t content_token);

  uint32_t generation_ = 0;
  uint32_t sequence_ = 0;
  uint32_t next_slot_ = 0;
  std::optional<uint32_t> writing_;
  uint64_t last_token_ = 0;     // newest token of the slot that holds the last picture
  uint64_t content_token_ = 0;  // token the last picture was first published as
  uint64_t next_peer_check_ns_ = 0;
  uint32_t reported_dead_consumer_ = 0;
  uint64_t consumer_deaths_ = 0;
  abi::FrameGeometry mode_{};
  bool attached_ = false;
};

// The consumer side: takes the latest frame, never an older one than it already had.
class FrameConsumer : public FrameRingView {
 public:
  enum class WaitMode { kFutex, kBusyPoll };
  enum class Status {
    kFrame,         // *out holds a frame; call release() when done with it
    kTimeout,       // no new frame within the timeout
    kProducerGone,  // the producer died (reported once per producer pid); slots recovered
  };

  struct Frame {
    uint64_t token = 0;
    uint32_t slot = 0;
    uint32_t flags = 0;
    uint64_t capture_time_ns = 0;
    abi::FrameGeometry geometry{};
    uint32_t colour = 0;  // abi::ColourSpace as the producer wrote it: untrusted, check it
    // The picture's identity: equal to the content_token of the consumer's previous frame when
    // this is a repeat of it (kSlotFlagRepeat). A kSlotFlagNoPayload frame (empty payload) is
    // only handed out when it is such a repeat.
    uint64_t content_token = 0;
    std::span<const std::byte> payload;
  };

  // Attaches as the ring's consumer: refused if another live consumer is attached.
  static Result<FrameConsumer> attach(SharedMemory shm, WaitMode mode = WaitMode::kFutex);

  FrameConsumer(FrameConsumer&& other) noexcept;
  FrameConsumer& operator=(FrameConsumer&&) = delete;
  ~FrameConsumer();

  // At most this many frames held at once: an encoder keeps the last frame (to repeat it while
  // its producer restarts) until the next one is in hand.
  static constexpr uint32_t kMaxHeld = 2;

  // Waits up to timeout_ns for a frame newer than the last one returned and takes the latest.
  // The caller may still hold one earlier frame (kMaxHeld).
  Status acquireLatest(int64_t timeout_ns, Frame* out);
  // Returns the slot empty to the producer.
  void release(const Frame& frame);
  uint32_t heldCount() const { return held_count_; }

 private:
  FrameConsumer(SharedMemory shm, FrameRingLayout layout, uint32_t self_pid, WaitMode mode)
      : FrameRingView(std::move(shm), layout, self_pid), wait_mode_(mode) {}
  bool isNewer(uint64_t token, uint32_t generation) const;
  bool takeSlot(uint64_t token, uint32_t generation, Frame* out);
  bool producerGone();

  WaitMode wait_mode_;
  uint32_t last_generation_ = 0;
  uint32_t last_sequence_ = 0;
  uint32_t held_[kMaxHeld] = {};
  uint32_t held_count_ = 0;
  uint32_t reported_dead_producer_ = 0;
  uint64_t next_peer_check_ns_ = 0;
  uint64_t rejected_token_ = 0;  // a latest token already refused: don't retry or recount it
  uint64_t last_content_ = 0;    // content_token of the last frame handed out
  bool attached_ = false;
};

const char* toString(FrameConsumer::Status status);

// The owner's side (funkhausd), after it reaped `pid`: clears the producer and consumer roles
// `pid` holds and returns every slot `pid` held empty (flagged abandoned, counted), so that its
// successor attaches at once whatever became of the number `pid`. The header is validated
// first (a peer may have scribbled on it). Returns how many slots were released.
Result<uint32_t> releaseFrameRingPeer(const SharedMemory& ring, uint32_t pid);

}  // namespace funkhaus
