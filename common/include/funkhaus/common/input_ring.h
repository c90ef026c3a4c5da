// Input ring (abi/input_ring.h): creation by the owner (funkhausd), validated attach, the producer
// (funkhaus-net: the client's input) and the consumer (funkhaus-input). Each side on one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "funkhaus/abi/input_ring.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/shared_memory.h"

namespace funkhaus {

struct InputRingConfig {
  std::string name = "funkhaus-input";
  uint32_t slot_count = 4096;  // a power of two, 2..abi::kMaxInputSlots
};

// Creates, initialises and seals an input ring. The owner keeps it and hands its fd to the
// producer (kRingOut, RingId::kInput) and the consumer (kRingIn, RingId::kInput).
Result<SharedMemory> createInputRing(const InputRingConfig& config);

// The ring's geometry as validated at attach; never re-read from shared memory afterwards.
struct InputRingLayout {
  uint32_t slot_count = 0;
  uint64_t events_offset = 0;
  uint64_t total_size = 0;
};

// Checks magic, versions, sizes, slot count and offsets of the header at `base` against a
// `size`-byte mapping. The error names the first field that is wrong.
Result<InputRingLayout> validateInputRing(const std::byte* base, size_t size);

// An event as the ABI allows it: a known kind, and its payload in range (vk 1..255, button 1..5,
// pad index < kMaxPads, a Unicode scalar value other than NUL, contact events and tools known,
// floats finite and in 0..1, ...). The GameStream decoder produces only such events, publish()
// refuses others and the consumer skips others (counted as out of range). The error names the
// field.
Result<void> checkInputEvent(const abi::InputEvent& event);

// Shared part of both sides: the mapping and the validated layout.
class InputRingView {
 public:
  abi::InputRingHeader& header() const {
    return *reinterpret_cast<abi::InputRingHeader*>(shm_.data());
  }
  const InputRingLayout& layout() const { return layout_; }

 protected:
  InputRingView(SharedMemory shm, InputRingLayout layout, uint32_t self_pid)
      : shm_(std::move(shm)), layout_(layout), self_pid_(self_pid) {}
  abi::InputEvent& slot(uint64_t n) const {
    return reinterpret_cast<abi::InputEvent*>(shm_.data() +
                                              layout_.events_offset)[n & (layout_.slot_count - 1)];
  }

  SharedMemory shm_;
  InputRingLayout layout_;
  uint32_t self_pid_;
};

// A pad whose force feedback changed (consumer -> producer -> client as control message 0x010B).
struct RumbleUpdate {
  uint8_t pad = 0;              // < abi::kMaxPads
  uint16_t low_frequency = 0;   // strong motor
  uint16_t high_frequency = 0;  // weak motor
};

// funkhaus-net's side. Never blocks: a consumer that falls behind is overrun, not waited for.
class InputProducer : public InputRingView {
 public:
  // Refused if another live producer is attached. Continues the ring's event count. A successor
  // of a producer that died cannot know what the client pressed in between: it should call
  // releaseAll() before anything else (funkhaus-net does when it takes over a stream).
  static Result<InputProducer> attach(SharedMemory shm);
  InputProducer(InputProducer&& other) noexcept;
  InputProducer& operator=(InputProducer&&) = delete;
  ~InputProducer();

  // Publishes one event into the next slot (seqlock; overwrites the oldest when the consumer is
  // behind), sets `sequence` (and `received_ns` when 0), updates `held` and wakes the consumer.
  // False (counted as rejected, nothing published) if the event fails checkInputEvent().
  bool publish(const abi::InputEvent& event);
  // Publishes kReleaseAll and clears `held`: the client is gone or we restarted.
  void releaseAll();
  // Pads whose rumble generation changed since the last poll (the first poll after attach reports
  // every pad the consumer ever set), with their motors now.
  std::vector<RumbleUpdate> pollRumble();
  // One input packet the producer dropped (it did not decode or was out of range).
  void countRejected();
  void heartbeat();

  uint64_t published() const { return head_; }  // events in the ring's life so far
  const abi::InputHeld& held() const { return held_; }

 private:
  InputProducer(SharedMemory shm, InputRingLayout layout, uint32_t self_pid)
      : InputRingView(std::move(shm), layout, self_pid) {}
  void writeHeld();
  void trackTouch(const abi::InputEvent& event);

  uint64_t head_ = 0;
  abi::InputHeld held_{};
  std::vector<uint32_t> touches_;  // pointer ids of the contacts down
  uint32_t rumble_seen_[abi::kMaxPads] = {};
  bool attached_ = false;
};

// A consumer's default patience with a writer of `held` or `applied` that is in the middle of a
// write: past it, the copy is reported inconsistent (release all) rather than input stalling.
inline constexpr uint64_t kDefaultSeqlockPatienceNs = 250'000'000;

// What InputConsumer::next() found.
struct InputTimeout {};
// The consumer was overrun: `lost` events are gone. `held` is a consistent copy of what the client
// holds now (the producer's `held`); apply it, then go on with the events next() returns (some of
// them may already be part of `held`: each key, button, pad and contact event sets a state, so
// applying it again changes nothing). `held_consistent` is false only when no consistent copy
// could be read: its producer died while writing it, or for the consumer's patience (a quarter of
// a second) every look found it mid-write (a producer stalled in a write, one whose death cannot
// be seen, one rewriting it back to back). `held` is then empty: release all.
struct InputOverrun {
  uint64_t lost = 0;
  abi::InputHeld held{};
  bool held_consistent = true;
};
using InputNext = std::variant<InputTimeout, abi::InputEvent, InputOverrun>;

// funkhaus-input's side.
class InputConsumer : public InputRingView {
 public:
  // Refused if another live consumer is attached. Starts at the ring's head: a restarted input
  // worker does not replay input that arrived before it (its predecessor applied it or missed
  // it); it reads readApplied() to release what its predecessor pressed, then goes on.
  static Result<InputConsumer> attach(SharedMemory shm);
  InputConsumer(InputConsumer&& other) noexcept;
  InputConsumer& operator=(InputConsumer&&) = delete;
  ~InputConsumer();

  // Waits up to timeout_ns (futex; 0 = just look) for the next event. Events that fail
  // checkInputEvent() are skipped and counted as out of range. On an overrun the tail moves to
  // the oldest event still in the ring; reading `held` then may take up to the patience below
  // beyond timeout_ns (a producer in the middle of writing it). Heartbeats while it waits.
  InputNext next(int64_t timeout_ns);
  // How long a read of `held` or `applied` waits for a writer that is in the middle of writing it
  // and not known to be dead (kDefaultSeqlockPatienceNs).
  void setSeqlockPatience(uint64_t ns) { seqlock_patience_ns_ = ns; }

  // What the consumer pressed into the session (seqlock `applied`): written after each change,
  // read by a successor at attach. A copy its writer died in the middle of is returned as it is
  // (releasing too much is harmless); `consistent` says which.
  abi::InputHeld readApplied(bool* consistent = nullptr) const;
  void writeApplied(const abi::InputHeld& applied);
  // Force feedback of pad `pad` (< kMaxPads; others are ignored): the producer sends it on.
  void setRumble(uint8_t pad, uint16_t low_frequency, uint16_t high_frequency);
  // One event the consumer could not apply (besides those next() skipped itself).
  void countOutOfRange();
  void heartbeat();

  uint64_t consumed() const { return consumed_; }        // events returned by next()
  uint64_t overrun() const { return overrun_; }          // events lost to overruns
  uint64_t outOfRange() const { return out_of_range_; }  // events skipped or counted
  uint64_t position() const { return tail_; }            // the next event's number

 private:
  InputConsumer(SharedMemory shm, InputRingLayout layout, uint32_t self_pid)
      : InputRingView(std::move(shm), layout, self_pid) {}
  InputOverrun resync(bool slot_unreadable);

  uint64_t tail_ = 0;
  uint64_t consumed_ = 0;
  uint64_t overrun_ = 0;
  uint64_t out_of_range_ = 0;
  uint64_t seqlock_patience_ns_ = kDefaultSeqlockPatienceNs;
  bool attached_ = false;
};

// The owner's side (funkhausd), after it reaped `pid`: clears the producer and consumer roles
// `pid` holds. The header is validated first.
Result<void> releaseInputRingPeer(const SharedMemory& ring, uint32_t pid);

}  // namespace funkhaus
