// gamestream_probe's input script (see input_script.h): parser and the LiSend* calls.
#include "input_script.h"

#include <Limelight.h>
#include <unistd.h>

#include <cctype>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <sstream>

namespace funkhaus::probe {
namespace {

using Kind = InputAction::Kind;

struct Verb {
  const char* name;
  Kind kind;
};
constexpr Verb kVerbs[] = {
    {"key", Kind::kKey},       {"text", Kind::kText},         {"text-packet", Kind::kTextPacket},
    {"move", Kind::kMove},     {"position", Kind::kPosition}, {"button", Kind::kButton},
    {"scroll", Kind::kScroll}, {"hscroll", Kind::kHScroll},   {"sleep", Kind::kSleep},
    {"mark", Kind::kMark},     {"wait-file", Kind::kWaitFile}};

const char* verbName(Kind kind) {
  for (const Verb& v : kVerbs)
    if (v.kind == kind) return v.name;
  return "?";
}

// A decimal or 0x-hex integer, optionally negative, in lo..hi.
Result<int32_t> number(const std::string& word, int64_t lo, int64_t hi) {
  std::string_view s = word;
  const bool negative = !s.empty() && s.front() == '-';
  if (negative) s.remove_prefix(1);
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  }
  int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value, base);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size())
    return makeError(ErrorCode::kBadConfig, "'{}' is no number", word);
  if (negative) value = -value;
  if (value < lo || value > hi)
    return makeError(ErrorCode::kBadConfig, "{} is outside {}..{}", word, lo, hi);
  return static_cast<int32_t>(value);
}

Result<bool> direction(const std::string& word) {
  if (word == "down") return true;
  if (word == "up") return false;
  return makeError(ErrorCode::kBadConfig, "expected down or up, got '{}'", word);
}

Result<int32_t> modifiers(const std::string& word) {
  if (!word.empty() && std::isdigit(static_cast<unsigned char>(word[0])) != 0)
    return number(word, 0, 0xFF);
  int32_t mask = 0;
  std::istringstream parts(word);
  for (std::string part; std::getline(parts, part, '+');) {
    if (part == "shift")
      mask |= MODIFIER_SHIFT;
    else if (part == "ctrl")
      mask |= MODIFIER_CTRL;
    else if (part == "alt")
      mask |= MODIFIER_ALT;
    else if (part == "meta")
      mask |= MODIFIER_META;
    else
      return makeError(ErrorCode::kBadConfig, "unknown modifier '{}'", part);
  }
  return mask;
}

// The code points of valid UTF-8, each as its own byte sequence.
Result<std::vector<std::string>> splitUtf8(const std::string& text) {
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<uint8_t>(text[i]);
    const size_t n = c < 0x80             ? 1
                     : (c & 0xE0) == 0xC0 ? 2
                     : (c & 0xF0) == 0xE0 ? 3
                     : (c & 0xF8) == 0xF0 ? 4
                                          : 0;
    if (n == 0 || i + n > text.size())
      return makeError(ErrorCode::kBadConfig, "invalid UTF-8 at byte {}", i);
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<uint8_t>(text[i + k]) & 0xC0) != 0x80)
        return makeError(ErrorCode::kBadConfig, "invalid UTF-8 at byte {}", i + k);
    out.push_back(text.substr(i, n));
    i += n;
  }
  return out;
}

Result<InputAction> parseLine(const std::string& raw, int line_number) {
  std::istringstream in(raw);
  std::string verb;
  in >> verb;
  InputAction a;
  a.line = line_number;
  bool known = false;
  for (const Verb& v : kVerbs)
    if (verb == v.name) {
      a.kind = v.kind;
      known = true;
    }
  if (!known) return makeError(ErrorCode::kBadConfig, "unknown action '{}'", verb);

  if (a.kind == Kind::kText || a.kind == Kind::kTextPacket) {
    // The rest of the line after one space, spaces kept.
    const size_t at = raw.find(verb) + verb.size();
    a.text = at < raw.size() ? raw.substr(at + 1) : "";
    if (a.text.empty()) return makeError(ErrorCode::kBadConfig, "{}: no text", verb);
    auto points = splitUtf8(a.text);
    if (!points) return points.error();
    if (a.kind == Kind::kTextPacket && a.text.size() > 1000)
      return makeError(ErrorCode::kBadConfig, "text-packet: over 1000 bytes");
    return a;
  }
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  auto need = [&](size_t lo, size_t hi) -> Result<void> {
    if (words.size() < lo || words.size() > hi)
      return makeError(ErrorCode::kBadConfig, "{} takes {}..{} arguments, got {}", verb, lo, hi,
                       words.size());
    return {};
  };
  auto num = [&](size_t i, int64_t lo, int64_t hi, int32_t& out) -> Result<void> {
    auto n = number(words[i], lo, hi);
    if (!n) return n.error();
    out = *n;
    return {};
  };
  Result<void> ok;
  switch (a.kind) {
    case Kind::kKey: {
      if (ok = need(2, 4); !ok) return ok.error();
      if (ok = num(0, 0, 0xFF, a.a); !ok) return ok.error();
      auto d = direction(words[1]);
      if (!d) return d.error();
      a.down = *d;
      for (size_t i = 2; i < words.size(); ++i) {
        if (words[i] == "nonnormalized") {
          a.c = SS_KBE_FLAG_NON_NORMALIZED;
          continue;
        }
        auto m = modifiers(words[i]);
        if (!m) return m.error();
        a.b = *m;
      }
      break;
    }
    case Kind::kMove:
      if (ok = need(2, 2); !ok) return ok.error();
      if (ok = num(0, INT16_MIN, INT16_MAX, a.a); !ok) return ok.error();
      if (ok = num(1, INT16_MIN, INT16_MAX, a.b); !ok) return ok.error();
      break;
    case Kind::kPosition:
      if (ok = need(4, 4); !ok) return ok.error();
      if (ok = num(0, 0, INT16_MAX, a.a); !ok) return ok.error();
      if (ok = num(1, 0, INT16_MAX, a.b); !ok) return ok.error();
      if (ok = num(2, 1, INT16_MAX, a.c); !ok) return ok.error();
      if (ok = num(3, 1, INT16_MAX, a.d); !ok) return ok.error();
      break;
    case Kind::kButton: {
      if (ok = need(2, 2); !ok) return ok.error();
      if (ok = num(0, BUTTON_LEFT, BUTTON_X2, a.a); !ok) return ok.error();
      auto d = direction(words[1]);
      if (!d) return d.error();
      a.down = *d;
      break;
    }
    case Kind::kScroll:
    case Kind::kHScroll:
      if (ok = need(1, 1); !ok) return ok.error();
      if (ok = num(0, INT16_MIN, INT16_MAX, a.a); !ok) return ok.error();
      break;
    case Kind::kSleep:
      if (ok = need(1, 1); !ok) return ok.error();
      if (ok = num(0, 0, 3'600'000, a.a); !ok) return ok.error();
      break;
    case Kind::kMark:
      if (ok = need(1, 1); !ok) return ok.error();
      a.text = words[0];
      break;
    case Kind::kWaitFile:
      if (ok = need(1, 2); !ok) return ok.error();
      a.text = words[0];
      a.a = 30'000;
      if (words.size() == 2)
        if (ok = num(1, 0, 3'600'000, a.a); !ok) return ok.error();
      break;
    case Kind::kText:
    case Kind::kTextPacket:
      break;
  }
  return a;
}

int64_t monotonicNow() { return now().monotonic_ns; }

}  // namespace

Result<std::vector<InputAction>> parseInputScript(const std::string& text) {
  std::vector<InputAction> actions;
  std::istringstream in(text);
  int line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    auto a = parseLine(line.substr(first), line_number);
    if (!a) return makeError(ErrorCode::kBadConfig, "line {}: {}", line_number, a.error().message);
    actions.push_back(std::move(*a));
  }
  return actions;
}

Result<std::vector<InputAction>> loadInputScript(const std::string& path) {
  std::ifstream in(path);
  if (!in) return makeError(ErrorCode::kBadConfig, "cannot read '{}'", path);
  std::stringstream text;
  text << in.rdbuf();
  auto actions = parseInputScript(text.str());
  if (!actions) return makeError(ErrorCode::kBadConfig, "{}: {}", path, actions.error().message);
  return actions;
}

Json performInputAction(const InputAction& a, const InputWait& wait) {
  Json j{{"type", "input"}, {"line", a.line}, {"action", verbName(a.kind)}};
  int rc = 0;
  const int64_t started = monotonicNow();
  int64_t sent = started;
  switch (a.kind) {
    case Kind::kKey: {
      const auto code = static_cast<short>(0x8000 | a.a);
      const char action = a.down ? KEY_ACTION_DOWN : KEY_ACTION_UP;
      j["vk"] = a.a;
      j["down"] = a.down;
      j["modifiers"] = a.b;
      sent = monotonicNow();
      rc = a.c != 0
               ? LiSendKeyboardEvent2(code, action, static_cast<char>(a.b), static_cast<char>(a.c))
               : LiSendKeyboardEvent(code, action, static_cast<char>(a.b));
      if (a.c != 0) j["flags"] = a.c;
      break;
    }
    case Kind::kText: {
      j["text"] = a.text;
      const auto points = splitUtf8(a.text);  // valid: parsed before
      sent = monotonicNow();
      for (const std::string& p : *points) {
        const int r = LiSendUtf8TextEvent(p.data(), static_cast<unsigned>(p.size()));
        if (rc == 0) rc = r;
      }
      j["packets"] = points->size();
      break;
    }
    case Kind::kTextPacket:
      j["text"] = a.text;
      sent = monotonicNow();
      rc = LiSendUtf8TextEvent(a.text.data(), static_cast<unsigned>(a.text.size()));
      break;
    case Kind::kMove:
      j["dx"] = a.a;
      j["dy"] = a.b;
      sent = monotonicNow();
      rc = LiSendMouseMoveEvent(static_cast<short>(a.a), static_cast<short>(a.b));
      break;
    case Kind::kPosition:
      j["x"] = a.a;
      j["y"] = a.b;
      j["ref_width"] = a.c;
      j["ref_height"] = a.d;
      sent = monotonicNow();
      rc = LiSendMousePositionEvent(static_cast<short>(a.a), static_cast<short>(a.b),
                                    static_cast<short>(a.c), static_cast<short>(a.d));
      break;
    case Kind::kButton:
      j["button"] = a.a;
      j["down"] = a.down;
      sent = monotonicNow();
      rc = LiSendMouseButtonEvent(a.down ? BUTTON_ACTION_PRESS : BUTTON_ACTION_RELEASE, a.a);
      break;
    case Kind::kScroll:
      j["amount"] = a.a;
      sent = monotonicNow();
      rc = LiSendHighResScrollEvent(static_cast<short>(a.a));
      break;
    case Kind::kHScroll:
      j["amount"] = a.a;
      sent = monotonicNow();
      rc = LiSendHighResHScrollEvent(static_cast<short>(a.a));
      break;
    case Kind::kSleep:
      j["ms"] = a.a;
      if (!wait(std::chrono::milliseconds(a.a))) rc = -1;
      break;
    case Kind::kMark:
      j["name"] = a.text;
      break;
    case Kind::kWaitFile: {
      j["path"] = a.text;
      const int64_t deadline = started + int64_t{a.a} * 1'000'000;
      bool found = access(a.text.c_str(), F_OK) == 0;
      while (!found && monotonicNow() < deadline) {
        if (!wait(std::chrono::milliseconds(5))) break;
        found = access(a.text.c_str(), F_OK) == 0;
      }
      j["found"] = found;
      j["waited_ms"] = (monotonicNow() - started) / 1'000'000;
      if (!found) rc = -1;
      break;
    }
  }
  j["sent_ns"] = sent;
  j["rc"] = rc;
  return j;
}

}  // namespace funkhaus::probe
