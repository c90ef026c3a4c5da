// funkhausd: parses the command line and the config, picks the mode and session source, and
// runs the supervisor.
#include <unistd.h>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <filesystem>

#include "funkhaus/supervisor/config.h"
#include "funkhaus/supervisor/log_memory.h"
#include "funkhaus/supervisor/session_source.h"
#include "funkhaus/supervisor/supervisor.h"

namespace {

using namespace funkhaus::supervisor;

// "<N>" journald/syslog priority prefix, so systemd files each line at its level.
class PriorityFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    static constexpr char kPriority[] = {'7', '7', '6', '4', '3', '2', '6'};
    const char p[] = {'<', kPriority[msg.level], '>'};
    dest.append(p, p + 3);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<PriorityFlag>();
  }
};

void setupLogging() {
  auto logger = spdlog::stderr_logger_mt("funkhausd");
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<PriorityFlag>('*');
  formatter->set_pattern(getenv("JOURNAL_STREAM") != nullptr ? "%*%v" : "%*%H:%M:%S.%e %v");
  logger->set_formatter(std::move(formatter));
  spdlog::set_default_logger(logger);
  spdlog::flush_on(spdlog::level::info);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "funkhausd: the funkhaus supervisor. Spawns, watches and restarts the capture, "
      "encode and net workers of the active session."};
  std::string config_path;
  std::string mode_name;
  std::string worker_dir;
  bool check = false;
  app.add_option("--config", config_path,
                 std::string("Config file (default: ") + kDefaultConfigPath + " if it exists)");
  app.add_option("--mode", mode_name,
                 "system (workers run as the session user) or user "
                 "(workers run as funkhausd's user); default: system as "
                 "root, user otherwise")
      ->check(CLI::IsMember({"system", "user"}));
  app.add_option("--worker-dir", worker_dir,
                 "Directory of the worker binaries (default: funkhausd's own directory)");
  app.add_flag("--check-config", check, "Parse and validate the config, then exit");
  CLI11_PARSE(app, argc, argv);
  setupLogging();
  keepRecentLogLines();  // funkhausctl logs

  const bool explicit_config = !config_path.empty();
  if (!explicit_config) config_path = kDefaultConfigPath;
  auto config = loadConfig(config_path, explicit_config);
  if (!config) {
    spdlog::critical("{}", config.error().message);
    return 65;
  }
  if (check) {
    std::printf("%s: ok\n", config_path.c_str());
    return 0;
  }
  RunMode mode = geteuid() == 0 ? RunMode::kSystem : RunMode::kUser;
  if (config->mode) mode = *config->mode;
  if (!mode_name.empty()) mode = mode_name == "system" ? RunMode::kSystem : RunMode::kUser;
  if (mode == RunMode::kSystem && geteuid() != 0) {
    spdlog::critical("--mode system needs root (workers are started as the session's user)");
    return 65;
  }
  auto sessions = makeSessionSource(*config, mode);
  if (!sessions) {
    spdlog::critical("{}", sessions.error().message);
    return 65;
  }
  SupervisorOptions options;
  options.config = *config;
  options.mode = mode;
  options.config_path = config_path;
  options.config_required = explicit_config;
  std::error_code ec;
  options.worker_dir =
      !worker_dir.empty()
          ? worker_dir
          : std::filesystem::read_symlink("/proc/self/exe", ec).parent_path().string();
  resolveDefaults(options.config, options.worker_dir);
  options.control_socket =
      config->control_socket.empty() ? defaultControlSocket(mode) : config->control_socket;
  spdlog::info("funkhausd {} mode, config {}{}, workers from {}", toString(mode), config_path,
               explicit_config || std::filesystem::exists(config_path) ? "" : " (absent: defaults)",
               options.worker_dir);
  Supervisor supervisor(std::move(options), std::move(*sessions));
  return supervisor.run();
}
