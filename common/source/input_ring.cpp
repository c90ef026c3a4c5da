// Input ring: seqlocked event slots that overwrite the oldest, the producer's `held`, the
// consumer's `applied` and rumble back. Every access to a word a peer may write at the same time
// is an 8-byte (or 4-byte) std::atomic_ref access: release stores of the payload after the odd
// sequence, acquire loads before the second sequence check (no fences, so TSan sees it all).
#include "funkhaus/common/input_ring.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>

#include "funkhaus/common/clock.h"
#include "funkhaus/common/peer.h"
#include "funkhaus/platform/cpu_relax.h"
#include "funkhaus/platform/wait_word.h"

namespace funkhaus {

using abi::atomicLoad;
using abi::atomicRef;
using abi::InputEvent;
using abi::InputHeld;
using abi::InputKind;
using abi::InputRingHeader;

namespace {

constexpr size_t kEventWords = sizeof(InputEvent) / 8;  // word 0 is the sequence
constexpr size_t kHeldWords = sizeof(InputHeld) / 8;
static_assert(sizeof(InputEvent) % 8 == 0 && sizeof(InputHeld) % 8 == 0, "copied as words");
static_assert(sizeof(abi::InputRumble) == 8, "one rumble entry is one atomic word");
static_assert(offsetof(InputRingHeader, held) % 8 == 0 &&
                  offsetof(InputRingHeader, applied) % 8 == 0 &&
                  offsetof(InputRingHeader, rumble) % 8 == 0,
              "word copies need 8-aligned areas");

// A seqlock reader takes its writer for dead after this many attempts that found the sequence at
// one odd value (the writer in the middle of a write) while the writer's process is gone. Else it
// waits, up to InputConsumer's patience (kDefaultSeqlockPatienceNs).
constexpr uint32_t kStuckAttempts = 20000;

uint64_t* words(void* p) { return static_cast<uint64_t*>(p); }

// Payload words in: release stores, so a reader that sees any of them also sees the odd sequence
// stored before them.
void storeWords(uint64_t* dst, const void* src, size_t first, size_t count) {
  const auto* bytes = static_cast<const unsigned char*>(src);
  for (size_t i = first; i < first + count; ++i) {
    uint64_t w;
    std::memcpy(&w, bytes + i * 8, 8);
    std::atomic_ref<uint64_t>(dst[i]).store(w, std::memory_order_release);
  }
}

// Payload words out: acquire loads, so the sequence re-read after them is at least as new as the
// writer's state when it stored the last word read.
void loadWords(void* dst, uint64_t* src, size_t first, size_t count) {
  auto* bytes = static_cast<unsigned char*>(dst);
  for (size_t i = first; i < first + count; ++i) {
    const uint64_t w = std::atomic_ref<uint64_t>(src[i]).load(std::memory_order_acquire);
    std::memcpy(bytes + i * 8, &w, 8);
  }
}

// The next odd value of a seqlock word, whatever its writer's predecessor left in it.
uint64_t nextOdd(uint64_t sequence) { return (sequence | 1) + ((sequence & 1) ? 2 : 0); }

void writeSeqlocked(uint64_t& sequence, void* area, const void* value, size_t count) {
  auto seq = atomicRef(sequence);
  const uint64_t odd = nextOdd(seq.load(std::memory_order_relaxed));
  seq.store(odd, std::memory_order_relaxed);
  storeWords(words(area), value, 0, count);
  seq.store(odd + 1, std::memory_order_release);
}

// A consistent copy, or false when none could be read (`out` then holds a maybe torn copy). While
// the sequence is odd the area is not copied (the writer is in it): the reader waits on the
// sequence word alone instead of pulling the writer's lines over on every attempt. Only attempts
// that find the sequence stuck at one odd value count towards a dead writer, and only while the
// writer's process is gone: a fixed number of attempts in all gave up on a live producer that was
// writing as fast as it could (in CI's sanitizer stage; instrumented under TSan here, the reader
// needed up to 93 000 attempts, 13.5 ms). A live writer stalled in a write is waited for with 1 ms
// sleeps. After `patience_ns` it gives up whatever the writer does. `writer_pid` is the writer's
// role field, or null when the reader knows its writer is gone.
bool readSeqlocked(uint64_t& sequence, void* area, void* out, size_t count, uint32_t* writer_pid,
                   uint64_t patience_ns) {
  auto seq = atomicRef(sequence);
  uint64_t start = 0;        // the first round that did not succeed
  uint64_t stuck_value = 0;  // even: not stuck
  uint32_t stuck_attempts = 0;
  for (uint32_t attempt = 1;; ++attempt) {
    const uint64_t before = seq.load(std::memory_order_acquire);
    if ((before & 1) == 0) {
      loadWords(out, words(area), 0, count);
      if (seq.load(std::memory_order_relaxed) == before) return true;
      stuck_value = 0;
      stuck_attempts = 0;
    } else if (before == stuck_value) {
      ++stuck_attempts;
    } else {
      stuck_value = before;
      stuck_attempts = 1;
    }
    if (attempt % 64 != 0) {
      platform::cpuRelax();
      continue;
    }
    if (stuck_attempts < kStuckAttempts) {
      std::this_thread::yield();
    } else if (writer_pid == nullptr ||
               processGone(atomicRef(*writer_pid).load(std::memory_order_relaxed))) {
      break;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // let the stalled writer run
    }
    const uint64_t now = monotonicNs();
    if (start == 0) start = now;
    if (now - start >= patience_ns) break;
  }
  loadWords(out, words(area), 0, count);  // what the writer left
  return false;
}

bool unitRange(float v) { return std::isfinite(v) && v >= 0.0f && v <= 1.0f; }

bool rotationOk(uint16_t r) { return r <= 360 || r == abi::kRotationUnknown; }

// Contact events whose position and shape the client does not fill (§8: ignored fields).
bool positionless(uint8_t event) {
  const auto e = static_cast<abi::ContactEvent>(event);
  return e == abi::ContactEvent::kCancel || e == abi::ContactEvent::kCancelAll ||
         e == abi::ContactEvent::kButtonOnly;
}

Result<void> checkContact(const char* what, uint8_t event, uint16_t rotation, float x, float y,
                          float pressure, float major, float minor) {
  if (event > abi::kMaxContactEvent) return makeError("{} event {} unknown", what, event);
  if (positionless(event)) return {};
  if (!rotationOk(rotation)) return makeError("{} rotation {} not 0..360", what, rotation);
  if (!unitRange(x) || !unitRange(y)) return makeError("{} position {},{} not in 0..1", what, x, y);
  if (!unitRange(pressure)) return makeError("{} pressure {} not in 0..1", what, pressure);
  if (!unitRange(major) || !unitRange(minor))
    return makeError("{} contact area {}x{} not in 0..1", what, major, minor);
  return {};
}

bool isPadEvent(InputKind kind) {
  return kind == InputKind::kPadState || kind == InputKind::kPadArrival ||
         kind == InputKind::kPadRemoved;
}

void setBit(uint64_t (&bits)[4], uint32_t n, bool on) {
  const uint64_t mask = uint64_t{1} << (n % 64);
  if (on)
    bits[n / 64] |= mask;
  else
    bits[n / 64] &= ~mask;
}

// What `held` becomes after a valid event; touches are the caller's (it knows the pointer ids).
void fold(InputHeld& held, const InputEvent& e) {
  switch (static_cast<InputKind>(e.kind)) {
    case InputKind::kKeyDown:
    case InputKind::kKeyUp:
      setBit(held.keys, e.key.vk, e.kind == static_cast<uint16_t>(InputKind::kKeyDown));
      break;
    case InputKind::kButtonDown:
      held.buttons |= 1u << e.button.button;
      break;
    case InputKind::kButtonUp:
      held.buttons &= ~(1u << e.button.button);
      break;
    case InputKind::kPadArrival:
      held.pads |= 1u << e.index;
      break;
    case InputKind::kPadState:
      held.pads |= 1u << e.index;
      held.pad[e.index] = e.pad;
      break;
    case InputKind::kPadRemoved:
      held.pads &= ~(1u << e.index);
      held.pad[e.index] = {};
      break;
    case InputKind::kPen:
      switch (static_cast<abi::ContactEvent>(e.pen.event)) {
        case abi::ContactEvent::kDown:
          held.pen = 1;
          break;
        case abi::ContactEvent::kUp:
        case abi::ContactEvent::kCancel:
        case abi::ContactEvent::kCancelAll:
        case abi::ContactEvent::kHover:
        case abi::ContactEvent::kHoverLeave:
          held.pen = 0;
          break;
        default:
          break;  // move and button-only keep the pen where it is
      }
      break;
    case InputKind::kReleaseAll:
      held = {};
      break;
    default:
      break;  // motion, scroll, text and touch hold nothing here
  }
}

}  // namespace

Result<void> checkInputEvent(const InputEvent& e) {
  if (e.kind == 0 || e.kind > abi::kMaxInputKind) return makeError("kind {} unknown", e.kind);
  const auto kind = static_cast<InputKind>(e.kind);
  if (isPadEvent(kind) && e.index >= abi::kMaxPads)
    return makeError("pad index {} not below {}", e.index, abi::kMaxPads);
  switch (kind) {
    case InputKind::kKeyDown:
    case InputKind::kKeyUp:
      if (e.key.vk == 0 || e.key.vk > 255) return makeError("key vk {} not 1..255", e.key.vk);
      if (e.key.modifiers & ~0x0Fu) return makeError("key modifiers 0x{:x}", e.key.modifiers);
      if (e.key.flags & ~uint32_t{abi::kKeyNotNormalised})
        return makeError("key flags 0x{:x}", e.key.flags);
      return {};
    case InputKind::kMousePosition: {
      const abi::InputPointer& p = e.pointer;
      if (p.ref_width == 0 || p.ref_height == 0 || p.ref_width > 65536 || p.ref_height > 65536)
        return makeError("pointer reference area {}x{} not 1..65536", p.ref_width, p.ref_height);
      if (p.x < 0 || p.y < 0 || static_cast<uint32_t>(p.x) >= p.ref_width ||
          static_cast<uint32_t>(p.y) >= p.ref_height)
        return makeError("pointer position {},{} outside {}x{}", p.x, p.y, p.ref_width,
                         p.ref_height);
      return {};
    }
    case InputKind::kButtonDown:
    case InputKind::kButtonUp:
      if (e.button.button == 0 || e.button.button > abi::kMaxMouseButton)
        return makeError("mouse button {} not 1..{}", e.button.button, abi::kMaxMouseButton);
      return {};
    case InputKind::kText: {
      const uint32_t c = e.text.code_point;
      if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return makeError("code point U+{:X} is not a Unicode scalar value", c);
      if (c == 0) return makeError("code point NUL");
      return {};
    }
    case InputKind::kPadState:
      if (e.pad.buttons & ~abi::kPadButtonsKnown)
        return makeError("pad buttons 0x{:x} unknown", e.pad.buttons & ~abi::kPadButtonsKnown);
      return {};
    case InputKind::kPadArrival:
      if (e.pad_arrival.type > static_cast<uint8_t>(abi::PadType::kNintendo))
        return makeError("pad type {} unknown", e.pad_arrival.type);
      return {};
    case InputKind::kTouch: {
      const abi::InputTouch& t = e.touch;
      return checkContact("touch", t.event, t.rotation, t.x, t.y, t.pressure, t.major, t.minor);
    }
    case InputKind::kPen: {
      const abi::InputPen& p = e.pen;
      if (auto ok =
              checkContact("pen", p.event, p.rotation, p.x, p.y, p.pressure, p.major, p.minor);
          !ok)
        return ok;
      if (p.tool > abi::kPenToolEraser) return makeError("pen tool {} unknown", p.tool);
      if (p.buttons & ~0x07u) return makeError("pen buttons 0x{:x} unknown", p.buttons);
      if (p.tilt > 90 && p.tilt != abi::kTiltUnknown)
        return makeError("pen tilt {} not 0..90", p.tilt);
      return {};
    }
    default:
      return {};  // motion, scroll, removal and release-all: every value is valid
  }
}

Result<SharedMemory> createInputRing(const InputRingConfig& config) {
  const uint32_t n = config.slot_count;
  if (n < 2 || n > abi::kMaxInputSlots || (n & (n - 1)) != 0)
    return makeError("input ring '{}': slot_count {} must be a power of two in 2..{}", config.name,
                     n, abi::kMaxInputSlots);
  const uint64_t events_offset = sizeof(InputRingHeader);
  const uint64_t total = events_offset + uint64_t{n} * sizeof(InputEvent);
  auto shm = SharedMemory::create(config.name, total);
  if (!shm) return shm.error();
  auto* h = reinterpret_cast<InputRingHeader*>(shm->data());
  h->magic = abi::kInputRingMagic;
  h->abi_version = abi::kAbiVersion;
  h->ring_version = abi::kInputRingVersion;
  h->header_size = sizeof(InputRingHeader);
  h->event_size = sizeof(InputEvent);
  h->slot_count = n;
  h->events_offset = events_offset;
  h->total_size = total;
  return shm;
}

Result<InputRingLayout> validateInputRing(const std::byte* base, size_t size) {
  if (size < sizeof(InputRingHeader))
    return makeError("input ring: mapping of {} bytes is smaller than its {}-byte header", size,
                     sizeof(InputRingHeader));
  // The owner wrote these before any peer attached; a copy is what the checks and we use.
  InputRingHeader h;
  std::memcpy(&h, base, offsetof(InputRingHeader, head));
  if (h.magic != abi::kInputRingMagic)
    return makeError("input ring: bad magic 0x{:08x} (expected 0x{:08x})", h.magic,
                     abi::kInputRingMagic);
  if (h.abi_version != abi::kAbiVersion)
    return makeError("input ring: ABI version {} (this build speaks {})", h.abi_version,
                     abi::kAbiVersion);
  if (h.ring_version != abi::kInputRingVersion)
    return makeError("input ring: ring_version {} (this build speaks {})", h.ring_version,
                     abi::kInputRingVersion);
  if (h.header_size != sizeof(InputRingHeader))
    return makeError("input ring: header_size {} (expected {})", h.header_size,
                     sizeof(InputRingHeader));
  if (h.event_size != sizeof(InputEvent))
    return makeError("input ring: event_size {} (expected {})", h.event_size, sizeof(InputEvent));
  if (h.slot_count < 2 || h.slot_count > abi::kMaxInputSlots ||
      (h.slot_count & (h.slot_count - 1)) != 0)
    return makeError("input ring: slot_count {} must be a power of two in 2..{}", h.slot_count,
                     abi::kMaxInputSlots);
  if (h.events_offset < sizeof(InputRingHeader) || h.events_offset % abi::kCacheLine != 0)
    return makeError("input ring: events_offset {} must be >= {} and a multiple of {}",
                     h.events_offset, sizeof(InputRingHeader), abi::kCacheLine);
  if (h.total_size != size)
    return makeError("input ring: total_size {} does not match the mapping's {} bytes",
                     h.total_size, size);
  const uint64_t events_bytes = uint64_t{h.slot_count} * sizeof(InputEvent);
  if (h.events_offset > size || events_bytes > size - h.events_offset)
    return makeError(
        "input ring: events_offset {} + slot_count {} slots do not fit the {}-byte mapping",
        h.events_offset, h.slot_count, size);
  return InputRingLayout{h.slot_count, h.events_offset, h.total_size};
}

Result<void> releaseInputRingPeer(const SharedMemory& ring, uint32_t pid) {
  auto layout = validateInputRing(ring.data(), ring.size());
  if (!layout) return layout.error();
  auto& h = *reinterpret_cast<InputRingHeader*>(ring.data());
  releaseRole(h.producer_pid, pid);
  releaseRole(h.consumer_pid, pid);
  return {};
}

// ---- producer --------------------------------------------------------------------------------

Result<InputProducer> InputProducer::attach(SharedMemory shm) {
  auto layout = validateInputRing(shm.data(), shm.size());
  if (!layout) return layout.error();
  const auto self = platform::currentProcessId();
  auto* h = reinterpret_cast<InputRingHeader*>(shm.data());
  if (auto claimed = claimRole(h->producer_pid, self, "input ring producer"); !claimed)
    return claimed.error();
  InputProducer p(std::move(shm), *layout, self);
  p.head_ = atomicLoad(p.header().head);
  p.attached_ = true;
  p.heartbeat();
  return p;
}

InputProducer::InputProducer(InputProducer&& o) noexcept
    : InputRingView(std::move(o)),
      head_(o.head_),
      held_(o.held_),
      touches_(std::move(o.touches_)),
      attached_(std::exchange(o.attached_, false)) {
  std::copy(std::begin(o.rumble_seen_), std::end(o.rumble_seen_), std::begin(rumble_seen_));
}

InputProducer::~InputProducer() {
  if (attached_) releaseRole(header().producer_pid, self_pid_);
}

void InputProducer::heartbeat() {
  atomicRef(header().producer_heartbeat_ns).store(monotonicNs(), std::memory_order_relaxed);
}

void InputProducer::countRejected() {
  atomicRef(header().rejected).fetch_add(1, std::memory_order_relaxed);
}

void InputProducer::trackTouch(const InputEvent& e) {
  const uint32_t id = e.touch.pointer_id;
  const auto it = std::find(touches_.begin(), touches_.end(), id);
  switch (static_cast<abi::ContactEvent>(e.touch.event)) {
    case abi::ContactEvent::kDown:
      if (it == touches_.end() && touches_.size() < 64) touches_.push_back(id);
      break;
    case abi::ContactEvent::kUp:
    case abi::ContactEvent::kCancel:
    case abi::ContactEvent::kHoverLeave:
      if (it != touches_.end()) touches_.erase(it);
      break;
    case abi::ContactEvent::kCancelAll:
      touches_.clear();
      break;
    default:
      break;
  }
  held_.touches = static_cast<uint32_t>(touches_.size());
}

void InputProducer::writeHeld() {
  InputRingHeader& h = header();
  writeSeqlocked(h.held_sequence, &h.held, &held_, kHeldWords);
}

bool InputProducer::publish(const InputEvent& event) {
  if (!checkInputEvent(event)) {
    countRejected();
    return false;
  }
  InputRingHeader& h = header();
  const uint64_t now = monotonicNs();
  InputEvent e = event;
  if (e.received_ns == 0) e.received_ns = now;
  const uint64_t n = head_;
  InputEvent& s = slot(n);
  auto sequence = atomicRef(s.sequence);
  sequence.store(2 * n + 1, std::memory_order_relaxed);
  storeWords(words(&s), &e, 1, kEventWords - 1);
  sequence.store(2 * n + 2, std::memory_order_release);

  // `held` before head: a consumer that saw head n+1 finds event n in `held` (overrun resync).
  if (e.kind == static_cast<uint16_t>(InputKind::kTouch)) trackTouch(e);
  if (e.kind == static_cast<uint16_t>(InputKind::kReleaseAll)) touches_.clear();
  fold(held_, e);
  writeHeld();

  head_ = n + 1;
  atomicRef(h.head).store(head_, std::memory_order_release);
  atomicRef(h.producer_heartbeat_ns).store(now, std::memory_order_relaxed);
  atomicRef(h.commit_futex).fetch_add(1, std::memory_order_seq_cst);
  if (atomicRef(h.consumer_waiting).load(std::memory_order_seq_cst) != 0)
    platform::wakeWord(&h.commit_futex, 1);
  return true;
}

void InputProducer::releaseAll() {
  InputEvent e{};
  e.kind = static_cast<uint16_t>(InputKind::kReleaseAll);
  publish(e);
}

std::vector<RumbleUpdate> InputProducer::pollRumble() {
  std::vector<RumbleUpdate> changed;
  InputRingHeader& h = header();
  for (uint32_t pad = 0; pad < abi::kMaxPads; ++pad) {
    const uint64_t w =
        std::atomic_ref<uint64_t>(*words(&h.rumble[pad])).load(std::memory_order_acquire);
    abi::InputRumble r;
    std::memcpy(&r, &w, sizeof r);
    if (r.generation == rumble_seen_[pad]) continue;
    rumble_seen_[pad] = r.generation;
    changed.push_back(RumbleUpdate{static_cast<uint8_t>(pad), r.low_frequency, r.high_frequency});
  }
  return changed;
}

// ---- consumer --------------------------------------------------------------------------------

Result<InputConsumer> InputConsumer::attach(SharedMemory shm) {
  auto layout = validateInputRing(shm.data(), shm.size());
  if (!layout) return layout.error();
  const auto self = platform::currentProcessId();
  auto* h = reinterpret_cast<InputRingHeader*>(shm.data());
  if (auto claimed = claimRole(h->consumer_pid, self, "input ring consumer"); !claimed)
    return claimed.error();
  InputConsumer c(std::move(shm), *layout, self);
  InputRingHeader& hdr = c.header();
  c.attached_ = true;
  // Starts at head: what arrived before this consumer is not replayed (see the header).
  c.tail_ = atomicLoad(hdr.head);
  atomicRef(hdr.tail).store(c.tail_, std::memory_order_release);
  atomicRef(hdr.consumer_waiting).store(0, std::memory_order_relaxed);
  c.heartbeat();
  return c;
}

InputConsumer::InputConsumer(InputConsumer&& o) noexcept
    : InputRingView(std::move(o)),
      tail_(o.tail_),
      consumed_(o.consumed_),
      overrun_(o.overrun_),
      out_of_range_(o.out_of_range_),
      seqlock_patience_ns_(o.seqlock_patience_ns_),
      attached_(std::exchange(o.attached_, false)) {}

InputConsumer::~InputConsumer() {
  if (attached_) releaseRole(header().consumer_pid, self_pid_);
}

void InputConsumer::heartbeat() {
  atomicRef(header().consumer_heartbeat_ns).store(monotonicNs(), std::memory_order_relaxed);
}

void InputConsumer::countOutOfRange() {
  ++out_of_range_;
  atomicRef(header().out_of_range).fetch_add(1, std::memory_order_relaxed);
}

InputOverrun InputConsumer::resync(bool slot_unreadable) {
  InputRingHeader& h = header();
  const uint64_t head = atomicRef(h.head).load(std::memory_order_acquire);
  const uint64_t n = layout_.slot_count;
  InputOverrun o;
  uint64_t next;
  if (static_cast<int64_t>(head - tail_) < 0) {
    next = head;  // head went back (a broken producer): nothing to count, start at head
  } else {
    // The producer may be writing event `head` right now, into the slot of head - n.
    next = head - tail_ >= n ? head - n + 1 : tail_;
    if (slot_unreadable && next == tail_) ++next;  // a slot that never reads right is skipped
    if (static_cast<int64_t>(head - next) < 0) next = head;
    o.lost = next - tail_;
  }
  // Read after head: `held` is at least as new as the events before head (publish order).
  o.held_consistent = readSeqlocked(h.held_sequence, &h.held, &o.held, kHeldWords, &h.producer_pid,
                                    seqlock_patience_ns_);
  if (!o.held_consistent) o.held = {};
  tail_ = next;
  overrun_ += o.lost;
  atomicRef(h.overrun).fetch_add(o.lost, std::memory_order_relaxed);
  atomicRef(h.tail).store(tail_, std::memory_order_release);
  return o;
}

InputNext InputConsumer::next(int64_t timeout_ns) {
  InputRingHeader& h = header();
  uint64_t now = monotonicNs();
  const uint64_t deadline = now + static_cast<uint64_t>(std::max<int64_t>(timeout_ns, 0));
  atomicRef(h.consumer_heartbeat_ns).store(now, std::memory_order_relaxed);
  for (;;) {
    const uint32_t seen = atomicRef(h.commit_futex).load(std::memory_order_acquire);
    const uint64_t head = atomicRef(h.head).load(std::memory_order_acquire);
    if (head != tail_) {
      if (head - tail_ > layout_.slot_count) return resync(false);
      InputEvent& s = slot(tail_);
      auto sequence = atomicRef(s.sequence);
      const uint64_t expected = 2 * tail_ + 2;
      const uint64_t before = sequence.load(std::memory_order_acquire);
      InputEvent e;
      loadWords(&e, words(&s), 1, kEventWords - 1);
      if (before != expected || sequence.load(std::memory_order_relaxed) != before)
        return resync(true);  // overwritten before or while we read it
      e.sequence = before;
      ++tail_;
      atomicRef(h.tail).store(tail_, std::memory_order_release);
      if (!checkInputEvent(e)) {
        countOutOfRange();
        continue;
      }
      ++consumed_;
      return e;
    }
    if (now >= deadline) return InputTimeout{};
    atomicRef(h.consumer_waiting).store(1, std::memory_order_seq_cst);
    if (atomicRef(h.head).load(std::memory_order_seq_cst) == tail_)
      platform::waitOnWord(&h.commit_futex, seen, static_cast<int64_t>(deadline - now));
    atomicRef(h.consumer_waiting).store(0, std::memory_order_relaxed);
    now = monotonicNs();
    atomicRef(h.consumer_heartbeat_ns).store(now, std::memory_order_relaxed);
  }
}

abi::InputHeld InputConsumer::readApplied(bool* consistent) const {
  InputRingHeader& h = header();
  InputHeld out{};
  // Only a consumer writes `applied`; funkhaus-input reads it once, at attach (InputPump), when its
  // writer is gone. A live writer elsewhere that stalls in a write may be reported as torn.
  const bool ok = readSeqlocked(h.applied_sequence, &h.applied, &out, kHeldWords, nullptr,
                                seqlock_patience_ns_);
  if (consistent != nullptr) *consistent = ok;
  return out;
}

void InputConsumer::writeApplied(const abi::InputHeld& applied) {
  InputRingHeader& h = header();
  writeSeqlocked(h.applied_sequence, &h.applied, &applied, kHeldWords);
}

void InputConsumer::setRumble(uint8_t pad, uint16_t low_frequency, uint16_t high_frequency) {
  if (pad >= abi::kMaxPads) return;
  auto word = std::atomic_ref<uint64_t>(*words(&header().rumble[pad]));
  abi::InputRumble r;
  const uint64_t old = word.load(std::memory_order_relaxed);
  std::memcpy(&r, &old, sizeof r);
  ++r.generation;
  if (r.generation == 0) r.generation = 1;  // 0 is "never set": a producer would miss it
  r.low_frequency = low_frequency;
  r.high_frequency = high_frequency;
  uint64_t w;
  std::memcpy(&w, &r, sizeof w);
  word.store(w, std::memory_order_release);
}

}  // namespace funkhaus
