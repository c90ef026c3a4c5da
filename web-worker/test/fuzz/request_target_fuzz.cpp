// Fuzz target: the GameStream request target parser and the typed getters. Any input gives a
// target or a clear error, never a crash.
// fuzz-parser: web-worker/source/request_target.cpp
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "funkhaus/web/request_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace funkhaus::web;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto target = RequestTarget::parse(text);
  if (!target) {
    if (target.error().message.empty()) __builtin_trap();
    return 0;
  }
  if (target->path().empty() || target->path().front() != '/') __builtin_trap();
  if (target->query().size() > kMaxQueryPairs) __builtin_trap();
  for (const auto& [name, value] : target->query()) {
    if (name.empty()) __builtin_trap();
    for (char c : value)
      if (c == '\0') __builtin_trap();
    auto n = target->integer(name, INT32_MIN, INT32_MAX);
    if (n && (*n < INT32_MIN || *n > INT32_MAX)) __builtin_trap();
  }
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  const std::vector<std::string> seeds = {
      "/pair?uniqueid=0123456789ABCDEF&uuid=6a2b&devicename=roth&updateState=1&phrase="
      "getservercert&salt=00112233445566778899AABBCCDDEEFF&clientcert=2D2D2D2D2D",
      "/launch?uniqueid=0123456789ABCDEF&appid=1&mode=1920x1080x60&additionalStates=1&sops=0&"
      "rikey=00112233445566778899AABBCCDDEEFF&rikeyid=-12345&surroundAudioInfo=196610",
      "/serverinfo?uniqueid=%30%31&uuid=a+b"};
  std::vector<std::vector<uint8_t>> out;
  for (const auto& s : seeds) out.emplace_back(s.begin(), s.end());
  return out;
}
