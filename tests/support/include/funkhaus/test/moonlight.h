// Moonlight Embedded, the real GameStream client, as a test tool: found (or built by
// shared/tools/build-moonlight-embedded.sh when absent) and run with its own key directory and
// HOME, its output captured. Test processes only, one thread.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "funkhaus/common/child_process.h"
#include "funkhaus/common/result.h"

namespace funkhaus::test {

// The moonlight binary: $FUNKHAUS_MOONLIGHT if set, else the one the build script makes in its
// cache (building it when absent: ~15 s). The error says why there is none (a test skips with it).
Result<std::string> findMoonlight();

// One run of moonlight (its stdout and stderr go to a file, read by output()).
class MoonlightRun {
 public:
  // `args` come after the binary; `home` is its HOME (moonlight writes there).
  static Result<MoonlightRun> start(const std::string& binary, std::vector<std::string> args,
                                    const std::filesystem::path& home);
  // Waits up to `timeout` for it to exit; nullopt on timeout.
  std::optional<ExitStatus> wait(std::chrono::milliseconds timeout);
  bool running() { return !process_.poll().has_value(); }
  std::string output() const;
  ChildProcess& process() { return process_; }

 private:
  MoonlightRun(ChildProcess process, std::filesystem::path log)
      : process_(std::move(process)), log_(std::move(log)) {}
  ChildProcess process_;
  std::filesystem::path log_;
};

// Runs moonlight to the end (at most `timeout`) and returns its output (with a note when it
// timed out or could not start).
std::string runMoonlight(const std::string& binary, std::vector<std::string> args,
                         const std::filesystem::path& home,
                         std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace funkhaus::test
