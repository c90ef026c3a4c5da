// The one host configuration every variant runs, the workers' arguments from it, and the
// in-process variants' stage figures.
#include <fmt/format.h>

#include "funkhaus/bench/variant.h"
#include "funkhaus/supervisor/session_plan.h"

namespace funkhaus::bench {

std::string hostConfigToml(const BenchSettings& s, const std::string& control_socket) {
  std::string text = fmt::format(
      "# funkhaus_pipeline_bench: the host configuration of every variant. Everything not\n"
      "# named here is funkhausd's default (encode: libx264, preset superfast, 8000 kbit/s).\n"
      "[capture]\nsource = \"synthetic\"\nwidth = {}\nheight = {}\nfps = {}\n"
      "[net]\nbind = \"127.0.0.1\"\nport = 0\n"
      "# No GameStream and no console: their fixed ports would collide with any other funkhausd\n"
      "# on this host.\n"
      "[gamestream]\nenabled = false\n[console]\nenabled = false\n"
      "[workers]\nstart = [\"capture\", \"encode\", \"net\"]\n",
      s.width, s.height, s.fps);
  // A TOML literal string: the caller checked that the path holds no quote or control byte.
  if (!control_socket.empty()) text += fmt::format("[control]\nsocket = '{}'\n", control_socket);
  return text;
}

Result<supervisor::Config> hostConfig(const BenchSettings& settings) {
  return supervisor::parseConfig(hostConfigToml(settings, ""), "pipeline-bench.toml");
}

std::vector<std::string> workerArgv(const std::string& worker, const supervisor::Config& config) {
  std::vector<std::string> argv = {"funkhaus-" + worker};
  for (std::string& a : supervisor::workerArgs(worker, config)) argv.push_back(std::move(a));
  return argv;
}

std::vector<StageFigure> stageFigures(const std::array<abi::WorkerStatusPage, 3>& pages) {
  std::vector<StageFigure> out;
  const char* names[3] = {"capture", "encode", "net"};
  for (size_t i = 0; i < pages.size(); ++i) {
    const abi::WorkerStatusPage& p = pages[i];
    out.push_back({names[i], static_cast<double>(abi::atomicLoad(p.fps_milli)) / 1000.0,
                   static_cast<double>(abi::atomicLoad(p.latency_p50_ns)) / 1e6,
                   static_cast<double>(abi::atomicLoad(p.latency_p99_ns)) / 1e6,
                   static_cast<double>(abi::atomicLoad(p.stage_p50_ns)) / 1e6,
                   static_cast<double>(abi::atomicLoad(p.stage_p99_ns)) / 1e6});
  }
  return out;
}

std::vector<char*> argvOf(std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return argv;
}

}  // namespace funkhaus::bench
