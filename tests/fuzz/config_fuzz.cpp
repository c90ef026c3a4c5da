// Fuzz target: funkhausd's TOML config parser. Any input gives a Config or a clear error.
// fuzz-parser: supervisor/source/config.cpp
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "funkhaus/supervisor/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = funkhaus::supervisor::parseConfig(text, "fuzz.toml");
  if (!config && config.error().message.rfind("fuzz.toml:", 0) != 0) __builtin_trap();
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  const std::string full = R"(mode = "user"
[session]
source = "fixed"
user = "alice"
[session.environment]
DISPLAY = ":0"
XDG_RUNTIME_DIR = "/run/user/1000"
[restart]
initial_backoff_ms = 100
max_backoff_ms = 10000
stable_after_ms = 5000
max_restarts = 5
window_s = 30
max_session_restarts = 2
[workers]
start = ["capture", "encode", "net"]
heartbeat_timeout_ms = 1000
stop_grace_ms = 1000
[control]
socket = "/run/funkhaus/control.sock"
group = "funkhaus"
)";
  return {std::vector<uint8_t>(full.begin(), full.end())};
}
