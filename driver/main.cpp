// funkhaus-vdisplay: the virtual-display driver (thin main; see driver_loop.h).
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/vdisplay/driver_loop.h"

int main(int argc, char** argv) {
  funkhaus::vdisplay::VdisplayOptions options;
  uint32_t serial_seed = 0;
  std::string log_level = "info";
  CLI::App app{"funkhaus-vdisplay: virtual monitors (Xvfb screens) publishing into frame rings"};
  app.add_option("--listen", options.listen_path,
                 "standalone: accept hosts on this Unix SOCK_SEQPACKET socket");
  app.add_option("--watchdog-ms", options.watchdog_ms,
                 "a host silent this long loses its monitors (100..600000)")
      ->capture_default_str();
  app.add_option("--max-monitors", options.max_monitors, "monitors at once (1..16)")
      ->capture_default_str();
  app.add_option("--xvfb", options.xvfb_binary, "the Xvfb program")->capture_default_str();
  app.add_option("--runtime-dir", options.runtime_dir,
                 "where the private directory with the Xauthority files goes "
                 "(default $XDG_RUNTIME_DIR, else /tmp)");
  auto* seed = app.add_option("--serial-seed", serial_seed,
                              "instance part of the EDID serial numbers (24 bits)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : funkhaus::abi::kExitBadConfig;
  }
  if (seed->count() > 0) options.serial_seed = serial_seed;
  spdlog::set_pattern("[%H:%M:%S.%e] vdisplay %l: %v");
  spdlog::set_level(spdlog::level::from_str(log_level));
  return funkhaus::vdisplay::runVdisplay(options);
}
