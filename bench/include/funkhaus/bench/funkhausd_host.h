// FunkhausdHost: the real funkhausd (user mode) from a build's bin directory with the workers
// beside it, its config, log and control socket in a fresh run directory, up once every worker
// runs; its control socket, its processes and its stop. Used by the pipeline benchmark's
// three-process variant and by --peers' funkhaus tool, on the bench's main thread.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "funkhaus/common/child_process.h"
#include "funkhaus/common/result.h"

namespace funkhaus::bench {

struct FunkhausdLaunch {
  std::filesystem::path bin_dir;    // funkhausd, funkhaus-capture, -encode and -net
  std::filesystem::path work_root;  // the run directory is made under it
  std::string dir_name;             // the run directory: <dir_name>-<pid>-<n>
  // The text of funkhaus.toml, given the control socket path its [control] must name.
  std::function<std::string(const std::string& control_socket)> config;
  // funkhausd's whole environment; nullopt: the bench's own.
  std::optional<std::map<std::string, std::string>> environment;
};

class FunkhausdHost {
 public:
  struct Worker {
    std::string name;
    pid_t pid = -1;
  };

  // The first of funkhausd and the three workers that is not executable in `bin_dir` (its
  // path); "" when all are.
  static std::string missingBinary(const std::filesystem::path& bin_dir);

  // Makes the run directory, writes the config, starts funkhausd (output in funkhausd.log) and
  // waits until its status shows every worker running and net's RTSP port. A funkhausd that
  // fails to come up is stopped; the error carries the end of its log.
  static Result<std::unique_ptr<FunkhausdHost>> start(const FunkhausdLaunch& launch);

  ~FunkhausdHost() { (void)stop(); }
  FunkhausdHost(const FunkhausdHost&) = delete;
  FunkhausdHost& operator=(const FunkhausdHost&) = delete;

  bool running() const { return process_ && process_->running(); }
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  // The workers of the status that showed them all running.
  const std::vector<Worker>& workers() const { return workers_; }
  uint16_t rtspPort() const { return rtsp_port_; }
  const std::string& rtspPath() const { return rtsp_path_; }

  // The run directory and the config file funkhausd reads (again on SIGHUP).
  const std::filesystem::path& runDir() const { return dir_; }
  std::filesystem::path configPath() const { return dir_ / "funkhaus.toml"; }

  // One control request, one JSON object back (the connection closes after it).
  Result<nlohmann::json> call(const std::string& request) const;
  // The end of funkhausd's log, for error messages.
  std::string logTail() const;

  // SIGTERM, then SIGKILL after 10 s (an error); an exit other than 0 is an error. funkhausd
  // waits for every worker before it exits: nothing of the run is left. The run directory is
  // removed unless this fails or `keep_files` (something else went wrong: its log tells).
  Result<void> stop(bool keep_files = false);

  // The workers of the first session of a status reply (objects only; empty if it has none).
  static std::vector<nlohmann::json> sessionWorkers(const nlohmann::json& status);

 private:
  FunkhausdHost() = default;
  Result<void> launch(const FunkhausdLaunch& launch);

  std::filesystem::path dir_, log_;
  std::string socket_;
  std::optional<ChildProcess> process_;
  std::vector<Worker> workers_;
  uint16_t rtsp_port_ = 0;
  std::string rtsp_path_;
};

}  // namespace funkhaus::bench
