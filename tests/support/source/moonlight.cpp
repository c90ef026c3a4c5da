// Moonlight Embedded as a test tool (moonlight.h).
#include "funkhaus/test/moonlight.h"

#include <fcntl.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "funkhaus/common/unique_fd.h"
#include "funkhaus/test/fake_supervisor.h"
#include "funkhaus/test/shell.h"

namespace funkhaus::test {

namespace fs = std::filesystem;

namespace {

// shared/tools/build-moonlight-embedded.sh in a parent of the source tree, or $FUNKHAUS_TEST_TOOLS.
std::optional<fs::path> buildScript() {
  if (const char* tools = std::getenv("FUNKHAUS_TEST_TOOLS"); tools && *tools) {
    fs::path p = fs::path(tools) / "build-moonlight-embedded.sh";
    if (fs::exists(p)) return p;
    return std::nullopt;
  }
  for (fs::path dir = FUNKHAUS_SOURCE_DIR; !dir.empty(); dir = dir.parent_path()) {
    const fs::path p = dir / "shared/tools/build-moonlight-embedded.sh";
    if (fs::exists(p)) return p;
    if (dir == dir.parent_path()) break;
  }
  return std::nullopt;
}

}  // namespace

Result<std::string> findMoonlight() {
  if (const char* given = std::getenv("FUNKHAUS_MOONLIGHT"); given && *given) {
    if (::access(given, X_OK) == 0) return std::string(given);
    return makeError("FUNKHAUS_MOONLIGHT={} is not an executable", given);
  }
  const auto script = buildScript();
  if (!script)
    return makeError(
        "Moonlight Embedded is not available: no shared/tools/build-moonlight-embedded.sh above "
        "the source tree (set FUNKHAUS_TEST_TOOLS or FUNKHAUS_MOONLIGHT)");
  // The script prints the binary's path, building it first when absent.
  const ShellRun run = runShell("'" + script->string() + "' 2>/dev/null");
  std::string out = run.out;
  const int status = run.exit_code;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  if (status != 0 || out.empty() || ::access(out.c_str(), X_OK) != 0)
    return makeError("Moonlight Embedded could not be built by {} (exit status {})",
                     script->string(), status);
  return out;
}

Result<MoonlightRun> MoonlightRun::start(const std::string& binary, std::vector<std::string> args,
                                         const fs::path& home) {
  static int counter = 0;
  fs::create_directories(home);
  const fs::path log = home / ("moonlight-" + std::to_string(++counter) + ".log");
  UniqueFd out(::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!out.valid()) return makeError("cannot create {}", log.string());
  ChildSpec spec;
  spec.program = binary;
  spec.args = std::move(args);
  spec.environment =
      environmentWith({"HOME=" + home.string(), "XDG_CACHE_HOME=" + (home / ".cache").string(),
                       "XDG_CONFIG_HOME=" + (home / ".config").string()});
  spec.stdout_fd = out.get();
  auto process = ChildProcess::spawn(spec);
  if (!process) return process.error();
  return MoonlightRun(std::move(*process), log);
}

std::optional<ExitStatus> MoonlightRun::wait(std::chrono::milliseconds timeout) {
  return process_.wait(timeout);
}

std::string MoonlightRun::output() const {
  std::ifstream in(log_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string runMoonlight(const std::string& binary, std::vector<std::string> args,
                         const fs::path& home, std::chrono::milliseconds timeout) {
  auto run = MoonlightRun::start(binary, std::move(args), home);
  if (!run) return "[could not start moonlight: " + run.error().message + "]";
  if (!run->wait(timeout)) {
    run->process().stop(std::chrono::seconds(1));
    return run->output() + "\n[moonlight timed out]";
  }
  return run->output();
}

}  // namespace funkhaus::test
