// The chaos soak's GameStream viewer (soak_gamestream.h).
#include "funkhaus/bench/soak_gamestream.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "../../tests/client/gamestream_ports.h"
#include "funkhaus/bench/run_dir.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/unique_fd.h"
#include "funkhaus/test/moonlight.h"
#include "funkhaus/test/shell.h"

namespace funkhaus::bench {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kPin = "1842";
constexpr uint64_t kWebWaitNs = 30'000'000'000;
constexpr uint64_t kPinWaitNs = 30'000'000'000;

std::string readAll(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool webRunning(const FunkhausdHost& host) {
  auto s = host.call(R"({"cmd":"status"})");
  if (!s || !s->contains("host_workers") || !(*s)["host_workers"].is_array()) return false;
  for (const json& w : (*s)["host_workers"])
    if (w.is_object() && w.value("name", "") == "web" && w.value("state", "") == "running")
      return true;
  return false;
}

}  // namespace

Result<GamestreamTools> prepareGamestreamTools() {
  GamestreamTools tools;
  auto moonlight = test::findMoonlight();
  if (!moonlight)
    return makeError("Moonlight Embedded (for pairing): {}", moonlight.error().message);
  tools.moonlight = *moonlight;
  // build.sh prints the probe's path as its last line (build output goes to stderr).
  const test::ShellRun built = test::runShell("'" + std::string(FUNKHAUS_SOURCE_DIR) +
                                              "/tests/client/gamestream_probe/build.sh' 2>&1");
  std::string out = built.out;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  const std::string path = out.substr(out.find_last_of('\n') + 1);
  if (!built.ok() || path.empty() || access(path.c_str(), X_OK) != 0)
    return makeError(
        "gamestream_probe could not be built by tests/client/gamestream_probe/"
        "build.sh (exit status {}):\n{}",
        built.exit_code, out.size() > 2000 ? "..." + out.substr(out.size() - 2000) : out);
  tools.probe = path;
  return tools;
}

uint16_t freeSoakGamestreamPort() { return test::freeGamestreamBasePort(); }

Result<void> pairGamestreamClient(const GamestreamTools& tools, const FunkhausdHost& host,
                                  uint16_t base_port, const fs::path& client_dir) {
  for (const uint64_t until = monotonicNs() + kWebWaitNs; !webRunning(host);) {
    if (monotonicNs() > until) return makeError("funkhaus-web was not running after 30 s");
    std::this_thread::sleep_for(50ms);
  }
  auto run = test::MoonlightRun::start(tools.moonlight,
                                       {"pair", "-keydir", (client_dir / "keys").string(), "-port",
                                        std::to_string(base_port), "-pin", kPin, "127.0.0.1"},
                                       client_dir);
  if (!run) return makeError("starting moonlight pair: {}", run.error().message);
  bool entered = false;
  for (const uint64_t until = monotonicNs() + kPinWaitNs; !entered && monotonicNs() < until;) {
    auto r = host.call(std::string(R"({"cmd":"pair","pin":")") + kPin + "\"}");
    entered = r && r->value("ok", false);
    if (!entered) std::this_thread::sleep_for(100ms);
    if (!run->running()) break;
  }
  const auto exited = run->wait(60s);
  const std::string output = run->output();
  if (!exited) run->process().stop(1s);
  if (!entered || output.find("Succesfully paired") == std::string::npos)
    return makeError("Moonlight Embedded did not pair (PIN {}):\n{}",
                     entered ? "entered" : "never entered", output);
  return {};
}

Result<ProbeRun> ProbeRun::start(const GamestreamTools& tools, uint16_t base_port,
                                 const fs::path& client_dir, const BenchSettings& settings,
                                 uint32_t seconds) {
  static int counter = 0;
  const int n = ++counter;
  const fs::path out = client_dir / ("probe-" + std::to_string(n) + ".out");
  const fs::path err = client_dir / ("probe-" + std::to_string(n) + ".log");
  UniqueFd out_fd(::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  UniqueFd err_fd(::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!out_fd.valid() || !err_fd.valid()) return makeError("cannot create {}", out.string());
  ChildSpec spec;
  spec.program = tools.probe;
  spec.args = {"--host",         "127.0.0.1",
               "--http-port",    std::to_string(base_port),
               "--keydir",       (client_dir / "keys").string(),
               "--width",        std::to_string(settings.width),
               "--height",       std::to_string(settings.height),
               "--fps",          std::to_string(settings.fps),
               "--seconds",      std::to_string(seconds),
               "--picture-luma", "--quit"};
  spec.stdout_fd = out_fd.get();
  spec.stderr_fd = err_fd.get();
  const uint64_t started = monotonicNs();
  auto process = ChildProcess::spawn(spec);
  if (!process) return makeError("starting gamestream_probe: {}", process.error().message);
  return ProbeRun(std::move(*process), out, err, started);
}

Result<ProbeSummary> ProbeRun::finish() {
  if (!process_.poll()) {
    process_.signal(SIGTERM);
    if (!process_.wait(10s)) process_.stop(0ms);
  }
  auto summary = parseProbeSummary(readAll(out_));
  if (!summary) return makeError("{}; its log ends:\n{}", summary.error().message, stderrTail());
  return summary;
}

std::string ProbeRun::stderrTail() const { return fileTail(err_, 1500); }

}  // namespace funkhaus::bench
