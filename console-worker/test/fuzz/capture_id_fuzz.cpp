// Fuzz target: the capture-id check and the paths built from untrusted names. An id passes
// exactly when it is 1 to 64 of [A-Za-z0-9._-] and not "." or ".."; a stats route carries only
// such an id; a worker route only a worker name (1 to 32 of [a-z0-9-]); an asset path never
// leaves its root.
// fuzz-parser: console-worker/source/request.cpp
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "funkhaus/console/request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace funkhaus::console;
  // Every name here comes out of a request target, which parseTarget refuses beyond kMaxTarget
  // bytes; longer inputs would only time the route table on paths it never sees.
  if (size > kMaxTarget) return 0;
  const std::string id(reinterpret_cast<const char*>(data), size);
  bool expected = !id.empty() && id.size() <= 64 && id != "." && id != "..";
  for (char c : id)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      expected = false;
  if (isCaptureId(id) != expected) __builtin_trap();
  // Built once: the route checks and parseTarget below read the same path.
  const std::string stats_path = "/api/stats/" + id;
  for (const char* method : {"GET", "DELETE"}) {
    const Route r = route(method, stats_path);
    if ((r.kind == Route::Kind::kStatsShow || r.kind == Route::Kind::kStatsRm) &&
        !isCaptureId(r.arg))
      __builtin_trap();
  }
  const Route worker = route("POST", "/api/workers/" + id + "/restart");
  if (worker.kind == Route::Kind::kWorker && (worker.arg != id || !isWorkerName(id)))
    __builtin_trap();
  if (auto target = parseTarget(stats_path)) {
    const Route r = route("GET", target->path);
    if (r.kind == Route::Kind::kStatsShow && !isCaptureId(r.arg)) __builtin_trap();
  }
  if (auto path = assetPath("/srv/root/assets", id)) {
    const std::string p = path->string();
    if (!p.starts_with("/srv/root/assets/") || p.find("/..") != std::string::npos ||
        p.find("/.") != std::string::npos)
      __builtin_trap();
  }
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  const std::vector<std::string> seeds = {"20261203-140000-run_1", "a.b", "..", "x/../y",
                                          "fonts/a.woff2"};
  std::vector<std::vector<uint8_t>> out;
  for (const auto& s : seeds) out.emplace_back(s.begin(), s.end());
  return out;
}
