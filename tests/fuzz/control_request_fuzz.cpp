// Fuzz target: a line a client writes to funkhausd's control socket. What parses encodes back to
// the same request, which funkhausd judges as mutating or not the same way.
// fuzz-parser: supervisor/source/control_protocol.cpp
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "funkhaus/supervisor/control_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace funkhaus::supervisor;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  auto r = parseControlRequest(line);
  if (r) {
    auto again = parseControlRequest(encodeControlRequest(*r));
    if (!again || again->kind != r->kind || again->worker != r->worker ||
        again->width != r->width || again->height != r->height ||
        again->refresh_hz != r->refresh_hz || again->id != r->id || again->name != r->name ||
        again->seconds != r->seconds || again->from != r->from || again->count != r->count ||
        again->command != r->command || again->pin != r->pin || again->address != r->address ||
        again->password != r->password || isMutating(*again) != isMutating(*r))
      __builtin_trap();
  }
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  std::vector<std::vector<uint8_t>> out;
  for (std::string s :
       {R"({"cmd":"status"})", R"({"cmd":"restart","worker":"encode"})",
        R"({"cmd":"stop","worker":"net"})",
        R"({"cmd":"mode","width":1280,"height":720,"refresh_hz":60})",
        R"({"cmd":"stats-start","name":"run 1"})", R"({"cmd":"stats-stop"})",
        R"({"cmd":"stats-list"})",
        R"({"cmd":"stats-show","id":"20261203-1","from":100,"count":50})",
        R"({"cmd":"stats-rm","id":"a.b_c-d"})", R"({"cmd":"logs","seconds":60})",
        R"({"cmd":"start","worker":"audio"})",
        R"({"cmd":"pair","pin":"1234","address":"::ffff:127.0.0.2"})",
        R"({"cmd":"unpair","id":"0123456789abcdef"})",
        R"({"cmd":"set-password","password":"correct horse"})",
        R"({"cmd":"stats-show","id":"20261203-1","from":-1})", R"({"cmd":"logs","seconds":0})",
        R"({"cmd":"unpair","id":"0123456789abcdef","pin":"1234"})",
        R"({"cmd":"pair","pin":"1234","password":"correct horse"})"})
    out.emplace_back(s.begin(), s.end());
  // One byte over kMaxControlRequest.
  std::string long_line = R"({"cmd":"stats-start","name":")";
  long_line.append(funkhaus::supervisor::kMaxControlRequest + 1 - long_line.size() - 2, 'x')
      .append("\"}");
  out.emplace_back(long_line.begin(), long_line.end());
  return out;
}
