// The chaos soak's funkhausd configuration (GameStream on or off, the [session] whose change is
// a session switch) and what its GameStream viewer, gamestream_probe, reports. Pure functions
// except writeFileAtomically. Bench main thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "funkhaus/bench/variant.h"
#include "funkhaus/common/result.h"

namespace funkhaus::bench {

// The variable whose value the soak alternates in [session.environment]: a SIGHUP with another
// value makes funkhausd's fixed session source report another session (SessionInfo differs).
inline constexpr const char* kSoakSessionVariable = "FUNKHAUS_SOAK_SESSION";

struct SoakHostOptions {
  std::string session_value;          // "": no [session] table (the config of before)
  uint16_t gamestream_base_port = 0;  // 0: GameStream off
};

// hostConfigToml() with the soak's [restart] (the crash-loop guards off), then, when asked,
// [gamestream] on 127.0.0.1 at the base port (no mDNS) instead of "enabled = false" and
// [session.environment] FUNKHAUS_SOAK_SESSION = value. Without either it is the text of before.
Result<std::string> soakConfigToml(const BenchSettings& settings, const std::string& control_socket,
                                   const SoakHostOptions& options);

// Writes `text` to `file` through a temporary beside it and a rename, so a reader (funkhausd on
// SIGHUP) sees the old or the new file, never half of one.
Result<void> writeFileAtomically(const std::filesystem::path& file, const std::string& text);

// The summary line gamestream_probe prints last ({"type":"summary",...}; with --picture-luma).
struct ProbeSummary {
  bool connected = false;
  int exit_code = -1;
  std::string error;             // "" when null
  std::string terminated_error;  // "" when the host never ended the stream
  uint64_t frames_decoded = 0, frames_lost = 0, idr_frames = 0;
  std::vector<uint64_t> pictures_ns;  // CLOCK_MONOTONIC after each picture was decoded, sorted
};

// The last summary line of the probe's stdout; an error when there is none or it is not the
// probe's JSON.
Result<ProbeSummary> parseProbeSummary(std::string_view output);

}  // namespace funkhaus::bench
