// funkhaus-console: the web console and /metrics; started by funkhausd with the channel at fd 3,
// or standalone (see console-worker/README.md for its arguments and requests).
#include <spdlog/cfg/env.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/console/console_stage.h"

int main(int argc, char** argv) {
  auto logger = spdlog::stderr_logger_mt("console");
  logger->set_pattern("%l: %v");
  spdlog::set_default_logger(logger);
  spdlog::flush_on(spdlog::level::info);
  spdlog::cfg::load_env_levels();
  auto options = funkhaus::console::parseConsoleOptions(argc, argv);
  if (!options) {
    spdlog::critical("{}", options.error().message);
    return funkhaus::abi::kExitBadConfig;
  }
  if (!options->has_value()) return funkhaus::abi::kExitStopped;
  return funkhaus::console::runConsoleWorker(**options);
}
