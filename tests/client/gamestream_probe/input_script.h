// InputScript: the actions of gamestream_probe's --input-script (keys, text, pointer, buttons,
// wheels, sleeps, marks, waits for a file), parsed up front and performed with moonlight-common-c's
// LiSend* calls. Parsed on the main thread; performed on the probe's input thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "funkhaus/common/result.h"
#include "stream_stats.h"

namespace funkhaus::probe {

// One line of a script. One action a line; '#' starts a comment; numbers are decimal or 0x-hex.
//   key VK down|up [MODIFIERS] [nonnormalized]
//       LiSendKeyboardEvent(0x8000 | VK, ...), as Moonlight clients send keys: VK is the Windows
//       virtual-key code 0..0xFF (0x41 'A', 0xA0 left Shift); MODIFIERS: shift, ctrl, alt, meta
//       joined by '+', or a number; nonnormalized: LiSendKeyboardEvent2 with
//       SS_KBE_FLAG_NON_NORMALIZED
//   text UTF8         LiSendUtf8TextEvent, one call (= one packet) per code point, as the host
//                     takes them (the rest of the line, spaces kept)
//   text-packet UTF8  LiSendUtf8TextEvent once with the whole string
//   move DX DY        LiSendMouseMoveEvent
//   position X Y REFW REFH  LiSendMousePositionEvent
//   button N down|up  LiSendMouseButtonEvent; N: 1 left, 2 middle, 3 right, 4 X1, 5 X2
//   scroll AMOUNT     LiSendHighResScrollEvent (120 = one notch, + = up)
//   hscroll AMOUNT    LiSendHighResHScrollEvent (+ = right)
//   sleep MS          waits
//   mark NAME         only prints its line (a point in time for the reader)
//   wait-file PATH [TIMEOUT_MS]  waits until PATH exists (default 30000 ms)
struct InputAction {
  enum class Kind {
    kKey,
    kText,
    kTextPacket,
    kMove,
    kPosition,
    kButton,
    kScroll,
    kHScroll,
    kSleep,
    kMark,
    kWaitFile
  };
  Kind kind = Kind::kMark;
  int line = 0;       // 1-based line in the script
  bool down = false;  // key, button
  // The numbers, by kind: key vk, modifiers, flags; move dx, dy; position x, y, refw, refh;
  // button n; scroll and hscroll amount; sleep ms; wait-file timeout ms.
  int32_t a = 0, b = 0, c = 0, d = 0;
  std::string text;  // text (UTF-8), mark name, file path
};

// Parses a whole script; the error names the line.
Result<std::vector<InputAction>> parseInputScript(const std::string& text);
Result<std::vector<InputAction>> loadInputScript(const std::string& path);

// Waits up to a duration unless the stream ends first; false if it ended. The probe's own wait,
// so a sleep or wait-file never outlives the stream.
using InputWait = std::function<bool(std::chrono::nanoseconds)>;

// Performs one action and returns its JSON line: {"type":"input","line","action",...,
// "sent_ns" (CLOCK_MONOTONIC right before the first LiSend* call, or when the action began),
// "rc" (the LiSend* result, 0 = queued; the first non-zero one of several calls)}.
Json performInputAction(const InputAction& action, const InputWait& wait);

}  // namespace funkhaus::probe
