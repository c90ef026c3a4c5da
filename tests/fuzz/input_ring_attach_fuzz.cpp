// Fuzz target: an input ring whose header, slots, held state and rumble come from an untrusted
// peer. Attach must refuse or succeed; after it, both sides must survive whatever the ring holds
// and hand out only events that pass checkInputEvent().
// fuzz-parser: common/source/input_ring.cpp
#include <cstddef>
#include <cstdint>
#include <variant>
#include <vector>

#include "funkhaus/common/input_ring.h"
#include "fuzz_memfd.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace funkhaus;
  // The layout first, on the input itself: most mutants fail it, and need no memfd.
  auto layout = validateInputRing(reinterpret_cast<const std::byte*>(data), size);
  if (!layout) return 0;
  SharedMemory* shm = fuzz::memfdFrom(data, size);
  if (shm == nullptr) return 0;
  auto* h = reinterpret_cast<abi::InputRingHeader*>(shm->data());
  // Pids in the input are arbitrary; clear them so attach is not refused for a live stranger.
  h->producer_pid = 0;
  h->consumer_pid = 0;
  // The harness's own knobs, in the first byte of reserved0 (no side reads it): bit 0 keeps
  // held_sequence and bit 1 applied_sequence as the input has them, otherwise they are made even.
  // An odd sequence is a writer that died mid-write: every read of that area then spins through
  // the seqlock's whole patience (milliseconds), so it is the input's explicit choice rather than
  // what half of all mutants hit. The other bits say how far the producer moved head.
  const auto knobs = static_cast<uint8_t>(h->reserved0[0]);
  if ((knobs & 1) == 0) h->held_sequence &= ~uint64_t{1};
  if ((knobs & 2) == 0) h->applied_sequence &= ~uint64_t{1};
  auto consumer = InputConsumer::attach(*SharedMemory::attachDup(shm->handle()));
  if (!consumer) return 0;
  // A producer that moved head past the consumer: the input's own slots are read as events.
  const uint64_t start = abi::atomicLoad(h->head);
  abi::atomicRef(h->head).store(start + 1 + (knobs >> 2) % (2 * layout->slot_count));
  for (int i = 0; i < 8; ++i) {
    auto next = consumer->next(0);
    if (auto* ev = std::get_if<abi::InputEvent>(&next); ev && !checkInputEvent(*ev))
      __builtin_trap();  // the consumer let a bad one through
    // A torn `held` came back: each further overrun would spin through the same patience again
    // and reach nothing new (the events after it are read the same with knob bit 0 clear).
    if (auto* o = std::get_if<InputOverrun>(&next); o && !o->held_consistent) break;
  }
  bool consistent = false;
  (void)consumer->readApplied(&consistent);
  auto producer = InputProducer::attach(*SharedMemory::attachDup(shm->handle()));
  if (!producer) return 0;
  (void)producer->pollRumble();
  abi::InputEvent e{};
  e.kind = static_cast<uint16_t>(abi::InputKind::kKeyDown);
  e.key.vk = 0x41;
  for (int i = 0; i < 3; ++i) producer->publish(e);
  producer->releaseAll();
  for (int i = 0; i < 8; ++i) {
    auto next = consumer->next(0);
    if (auto* ev = std::get_if<abi::InputEvent>(&next)) {
      if (!checkInputEvent(*ev)) __builtin_trap();  // the consumer let a bad one through
    } else if (std::holds_alternative<InputTimeout>(next)) {
      break;
    }
  }
  consumer->setRumble(1, 2, 3);
  (void)producer->pollRumble();
  return 0;
}

// A valid ring with events, held state, applied state and rumble, so mutations reach past attach
// (knobs 0: sequences even, head one past the consumer).
std::vector<std::vector<uint8_t>> fuzzSeeds() {
  using namespace funkhaus;
  InputRingConfig config;
  config.slot_count = 16;
  auto ring = createInputRing(config);
  {
    auto producer = InputProducer::attach(*SharedMemory::attachDup(ring->handle()));
    auto consumer = InputConsumer::attach(*SharedMemory::attachDup(ring->handle()));
    abi::InputEvent e{};
    e.kind = static_cast<uint16_t>(abi::InputKind::kPadState);
    e.index = 3;
    e.pad.buttons = abi::kPadA;
    for (int i = 0; i < 20; ++i) producer->publish(e);
    abi::InputHeld applied{};
    applied.keys[1] = 2;
    consumer->writeApplied(applied);
    consumer->setRumble(3, 100, 200);
  }
  auto* p = reinterpret_cast<const uint8_t*>(ring->data());
  return {std::vector<uint8_t>(p, p + ring->size())};
}
