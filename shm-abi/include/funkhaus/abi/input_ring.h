// Layout of the input ring: InputRingHeader at offset 0 of a sealed memfd, then `slot_count`
// InputEvent slots. Created by funkhausd per session; written by one producer (funkhaus-net: the
// launched client's input, decoded from its authenticated control stream) and read by one
// consumer (funkhaus-input, which turns it into input of the session).
//
// The ring never blocks the producer: event n goes into slot n % slot_count, overwriting what
// the consumer has not read (a flood costs events, never the control stream). Each slot is a
// seqlock: `sequence` is 2n+1 while event n is written and 2n+2 once it is complete. A consumer
// that finds a sequence past the one it expects was overrun: it counts the events it lost and
// resynchronises from `held`, the producer's picture of what the client holds right now, so a
// lost key-up never leaves a key stuck.
//
// The consumer writes `applied` (what it has pressed into the session) so that its successor
// can release it after a crash, and `rumble` (force feedback a game played on a pad), which the
// producer sends back to the client.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "funkhaus/abi/abi.h"

namespace funkhaus::abi {

inline constexpr uint32_t kInputRingMagic = 0x52494846;  // "FHIR" as little-endian bytes
// The input ring's own version: bump on any change to a struct or enum in this file (the golden
// layout test fails until you do).
inline constexpr uint32_t kInputRingVersion = 1;

inline constexpr uint32_t kMaxPads = 16;  // GameStream's controller numbers 0..15
inline constexpr uint32_t kMaxInputSlots = 1u << 16;

enum class InputKind : uint16_t {
  kKeyDown = 1,        // key: Windows virtual-key code (0..255) and modifiers
  kKeyUp = 2,          // key
  kMouseMove = 3,      // pointer: x, y = relative motion
  kMousePosition = 4,  // pointer: x, y in a ref_width x ref_height area (scale to the screen)
  kButtonDown = 5,     // button: 1 left, 2 middle, 3 right, 4 back (X1), 5 forward (X2)
  kButtonUp = 6,       // button
  kScroll = 7,         // scroll: vertical, 120 per notch, + = up (high-resolution wheels less)
  kHScroll = 8,        // scroll: horizontal, 120 per notch, + = right
  kText = 9,           // text: one Unicode code point, typed into the focused window
  kPadState = 10,      // pad (index = controller): the whole state of one pad
  kPadArrival = 11,    // pad_arrival (index = controller): a pad was plugged in
  kPadRemoved = 12,    // (index = controller): its pad is gone
  kTouch = 13,         // touch: one contact of the touch screen
  kPen = 14,           // pen: the pen tablet's pen
  // No payload: the client is gone, or the producer restarted and cannot know what arrived in
  // between: release every key, button and contact, remove every pad.
  kReleaseAll = 15,
};
inline constexpr uint16_t kMaxInputKind = static_cast<uint16_t>(InputKind::kReleaseAll);

// InputKey::modifiers (GameStream's own bits).
inline constexpr uint8_t kModifierShift = 0x01;
inline constexpr uint8_t kModifierCtrl = 0x02;
inline constexpr uint8_t kModifierAlt = 0x04;
inline constexpr uint8_t kModifierMeta = 0x08;

// InputKey::flags
inline constexpr uint8_t kKeyNotNormalised = 0x01;  // the client did not map the key to US

inline constexpr uint32_t kMaxMouseButton = 5;

// Pad buttons (InputPad::buttons, low 16 bits as GameStream sends them; bits 16..21 are its
// second word: paddles 1..4, touchpad click, misc).
inline constexpr uint32_t kPadUp = 0x0001, kPadDown = 0x0002, kPadLeft = 0x0004, kPadRight = 0x0008,
                          kPadStart = 0x0010, kPadBack = 0x0020, kPadLeftStick = 0x0040,
                          kPadRightStick = 0x0080, kPadLeftShoulder = 0x0100,
                          kPadRightShoulder = 0x0200, kPadGuide = 0x0400, kPadA = 0x1000,
                          kPadB = 0x2000, kPadX = 0x4000, kPadY = 0x8000, kPadPaddle1 = 0x10000,
                          kPadPaddle2 = 0x20000, kPadPaddle3 = 0x40000, kPadPaddle4 = 0x80000,
                          kPadTouchpadClick = 0x100000, kPadMisc = 0x200000;
inline constexpr uint32_t kPadButtonsKnown = 0x3FF7FF;

// Touch and pen events (InputTouch::event, InputPen::event), GameStream's numbers.
enum class ContactEvent : uint8_t {
  kHover = 0,
  kDown = 1,
  kUp = 2,
  kMove = 3,
  kCancel = 4,
  kButtonOnly = 5,
  kHoverLeave = 6,
  kCancelAll = 7,
};
inline constexpr uint8_t kMaxContactEvent = static_cast<uint8_t>(ContactEvent::kCancelAll);

inline constexpr uint8_t kPenToolPen = 1, kPenToolEraser = 2;
inline constexpr uint8_t kPenButtonPrimary = 1, kPenButtonSecondary = 2, kPenButtonTertiary = 4;
inline constexpr uint16_t kRotationUnknown = 0xFFFF;
inline constexpr uint8_t kTiltUnknown = 0xFF;

struct InputKey {
  uint32_t vk;        // Windows virtual-key code, 1..255
  uint8_t modifiers;  // kModifier*
  uint8_t flags;      // kKeyNotNormalised
  uint16_t reserved;
};

struct InputPointer {
  int32_t x;  // kMouseMove: delta; kMousePosition: 0..ref_width-1
  int32_t y;
  uint32_t ref_width;  // kMousePosition: the client's reference area (>= 1)
  uint32_t ref_height;
};

struct InputButton {
  uint32_t button;  // 1..kMaxMouseButton
};

struct InputScroll {
  int32_t amount;  // 120 per notch
};

struct InputText {
  uint32_t code_point;  // a Unicode scalar value (no surrogates, <= 0x10FFFF)
};

struct InputPad {
  uint32_t buttons;      // kPad* bits
  uint16_t active_mask;  // bit n: pad n is connected
  uint8_t left_trigger;  // 0..255
  uint8_t right_trigger;
  int16_t left_x;  // -32768..32767, + = right
  int16_t left_y;  // + = up (GameStream's sense; evdev's is down)
  int16_t right_x;
  int16_t right_y;
};

enum class PadType : uint8_t { kUnknown = 0, kXbox = 1, kPlayStation = 2, kNintendo = 3 };

struct InputPadArrival {
  uint8_t type;  // PadType
  uint8_t reserved;
  uint16_t capabilities;  // GameStream's: 0x01 analog triggers, 0x02 rumble, ...
  uint32_t supported_buttons;
};

struct InputTouch {
  uint8_t event;  // ContactEvent
  uint8_t reserved;
  uint16_t rotation;    // degrees 0..359, kRotationUnknown
  uint32_t pointer_id;  // the client's contact id
  float x;              // 0..1 of the video area
  float y;
  float pressure;  // 0..1 (distance while hovering)
  float major;     // contact ellipse, 0..1 of the video area
  float minor;
};

struct InputPen {
  uint8_t event;    // ContactEvent
  uint8_t tool;     // kPenTool*
  uint8_t buttons;  // kPenButton*
  uint8_t tilt;     // degrees 0..90, kTiltUnknown
  uint16_t rotation;
  uint16_t reserved;
  float x;  // 0..1 of the video area
  float y;
  float pressure;  // 0..1 (distance while hovering)
  float major;
  float minor;
};

// One slot of the ring.
struct InputEvent {
  uint64_t sequence;     // (atomic) seqlock: 2n+1 while event n is written, 2n+2 when complete
  uint64_t received_ns;  // CLOCK_MONOTONIC when net decoded it (input latency is measured from it)
  uint16_t kind;         // InputKind
  uint8_t index;         // pad events: the controller, < kMaxPads
  uint8_t reserved0;
  uint32_t reserved1;
  union {
    InputKey key;
    InputPointer pointer;
    InputButton button;
    InputScroll scroll;
    InputText text;
    InputPad pad;
    InputPadArrival pad_arrival;
    InputTouch touch;
    InputPen pen;
    uint8_t bytes[40];
  };
};

static_assert(sizeof(InputEvent) == 64, "one slot per cache line");
static_assert(offsetof(InputEvent, sequence) == 0, "the seqlock word first, 8-aligned");
static_assert(offsetof(InputEvent, kind) == 16, "layout drift");
static_assert(offsetof(InputEvent, key) == 24, "layout drift");
static_assert(sizeof(InputTouch) == 28 && sizeof(InputPen) == 28 && sizeof(InputPad) == 16,
              "payload sizes are part of the ABI");
static_assert(std::is_standard_layout_v<InputEvent> && std::is_trivially_copyable_v<InputEvent>,
              "no constructor runs in shared memory: the bytes are the object");

// What the client holds (the producer's `held`), or what the consumer has pressed into the
// session (its `applied`).
struct InputHeld {
  uint64_t keys[4];        // bit vk: key vk is down
  uint32_t buttons;        // bit b: mouse button b (1..5) is down
  uint32_t pads;           // bit n: pad n is present
  uint32_t touches;        // contacts down on the touch screen
  uint32_t pen;            // 1: the pen touches
  InputPad pad[kMaxPads];  // each present pad's last state
};

static_assert(sizeof(InputHeld) == 48 + kMaxPads * sizeof(InputPad), "layout drift");
static_assert(sizeof(InputHeld) % 8 == 0, "copied as 8-byte words");

// Force feedback of one pad (consumer -> producer): the game's effect, as the two motors.
struct InputRumble {
  uint32_t generation;      // (atomic) bumped by the consumer after each change
  uint16_t low_frequency;   // strong motor, 0..65535
  uint16_t high_frequency;  // weak motor
};

static_assert(sizeof(InputRumble) == 8, "layout drift");

struct InputRingHeader {
  // --- cache line 0: written once by the owner before any peer attaches ---
  uint32_t magic;          // kInputRingMagic
  uint32_t abi_version;    // kAbiVersion
  uint32_t ring_version;   // kInputRingVersion
  uint32_t header_size;    // sizeof(InputRingHeader)
  uint32_t event_size;     // sizeof(InputEvent)
  uint32_t slot_count;     // a power of two, <= kMaxInputSlots
  uint64_t events_offset;  // the first slot, a multiple of kCacheLine
  uint64_t total_size;     // size of the whole mapping
  uint64_t reserved0[3];

  // --- cache line 1: written by the producer ---
  uint64_t head;           // (atomic) events ever published; release-stored after each
  uint32_t commit_futex;   // (atomic) bumped on every publish; the consumer sleeps on it
  uint32_t producer_pid;   // (atomic) 0 = none
  uint64_t rejected;       // (atomic) input packets the producer dropped (out of range, unknown)
  uint64_t held_sequence;  // (atomic) seqlock of `held`: odd while written
  uint64_t producer_heartbeat_ns;  // (atomic)
  uint64_t reserved1[3];

  // --- cache line 2: written by the consumer ---
  uint64_t tail;                   // (atomic) events ever consumed (or skipped)
  uint32_t consumer_waiting;       // (atomic) the consumer may sleep on commit_futex
  uint32_t consumer_pid;           // (atomic) 0 = none
  uint64_t overrun;                // (atomic) events overwritten before the consumer read them
  uint64_t out_of_range;           // (atomic) events the consumer refused (range checks)
  uint64_t consumer_heartbeat_ns;  // (atomic)
  uint64_t applied_sequence;       // (atomic) seqlock of `applied`: odd while written
  uint64_t reserved2[2];

  // --- producer: what the client holds now (seqlock held_sequence) ---
  InputHeld held;
  // --- consumer: what it has pressed into the session (seqlock applied_sequence) ---
  InputHeld applied;
  // --- consumer: force feedback per pad ---
  InputRumble rumble[kMaxPads];
  uint64_t reserved3[12];
};

static_assert(offsetof(InputRingHeader, magic) == 0, "magic first, so it is checked first");
static_assert(offsetof(InputRingHeader, abi_version) == 4, "version right after the magic");
static_assert(offsetof(InputRingHeader, head) == kCacheLine, "producer line");
static_assert(offsetof(InputRingHeader, commit_futex) == 72, "futex words must be 4-aligned");
static_assert(offsetof(InputRingHeader, tail) == 2 * kCacheLine, "consumer line");
static_assert(offsetof(InputRingHeader, held) == 3 * kCacheLine, "layout drift");
static_assert(sizeof(InputRingHeader) % kCacheLine == 0, "slots start on a cache line");
static_assert(alignof(InputRingHeader) == 8, "8-byte atomics inside need 8-byte alignment");
static_assert(std::is_standard_layout_v<InputRingHeader> &&
                  std::is_trivially_copyable_v<InputRingHeader>,
              "no constructor runs in shared memory: the bytes are the object");

}  // namespace funkhaus::abi
