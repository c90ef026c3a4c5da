// Fuzz target: a line a client writes to funkhausd's control socket.
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
        again->refresh_hz != r->refresh_hz)
      __builtin_trap();
  }
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  std::vector<std::vector<uint8_t>> out;
  for (std::string s : {R"({"cmd":"status"})", R"({"cmd":"restart","worker":"encode"})",
                        R"({"cmd":"stop","worker":"net"})",
                        R"({"cmd":"mode","width":1280,"height":720,"refresh_hz":60})"})
    out.emplace_back(s.begin(), s.end());
  return out;
}
