// funkhaus-net: serves the packet ring to viewers (RTSP/RTP); started by funkhausd with the
// channel at fd 3 (see net-worker/README.md for its arguments and the fds it expects).
#include <spdlog/cfg/env.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/net/net_worker.h"

int main(int argc, char** argv) {
  auto logger = spdlog::stderr_logger_mt("net");  // the ring reader thread logs too
  logger->set_pattern("%l: %v");
  spdlog::set_default_logger(logger);
  spdlog::flush_on(spdlog::level::info);
  spdlog::cfg::load_env_levels();  // SPDLOG_LEVEL=debug shows every request and PLI/FIR
  auto options = funkhaus::net::parseNetOptions(argc, argv);
  if (!options) {
    spdlog::critical("{}", options.error().message);
    return funkhaus::abi::kExitBadConfig;
  }
  if (!options->has_value()) return funkhaus::abi::kExitStopped;
  return funkhaus::net::runNetWorker(**options);
}
