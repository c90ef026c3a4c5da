// What the end-to-end GameStream tests share: the GameStream probe built at test time,
// funkhausctl on a test funkhausd's socket, pairing Moonlight Embedded through it, and the
// configuration of a small virtual-monitor session. Test processes only.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "../../supervisor/test/funkhausd_process.h"
#include "funkhaus/common/result.h"
#include "funkhaus/test/moonlight.h"
#include "funkhaus/test/shell.h"

namespace funkhaus::test {

// The GameStream probe (tests/client/gamestream_probe, moonlight-common-c) built into the
// test-client cache: its path, or why it could not be built (the caller skips with it).
inline Result<std::string> buildGamestreamProbe() {
  const ShellRun built =
      runShell(std::string(FUNKHAUS_SOURCE_DIR) + "/tests/client/gamestream_probe/build.sh 2>&1");
  if (!built.ok() || built.out.empty())
    return Error{"the GameStream probe could not be built: " + built.out, ErrorCode::kUnsupported};
  // build.sh prints the probe's path as its last line.
  std::string path = built.out.substr(built.out.find_last_of('\n', built.out.size() - 2) + 1);
  while (!path.empty() && path.back() == '\n') path.pop_back();
  return path;
}

// The real funkhausctl on `d`'s control socket (stdout and stderr).
inline ShellRun funkhausctl(const Funkhausd& d, const std::string& args) {
  return runShell(std::string(FUNKHAUS_BIN_DIR) + "/funkhausctl --socket '" + d.socket() + "' " +
                  args + " 2>&1");
}

// Moonlight Embedded (`moonlight`, keys in `client_dir`/keys) pairs with `d`'s GameStream host
// at `base_port` with `pin`, entered through funkhausctl once the host waits for it.
inline void pairMoonlight(const std::filesystem::path& moonlight,
                          const std::filesystem::path& client_dir, uint16_t base_port,
                          const Funkhausd& d, const std::string& pin) {
  using namespace std::chrono_literals;
  auto run = MoonlightRun::start(moonlight,
                                 {"pair", "-keydir", (client_dir / "keys").string(), "-port",
                                  std::to_string(base_port), "-pin", pin, "127.0.0.1"},
                                 client_dir);
  ASSERT_TRUE(run.ok()) << run.error().message;
  ASSERT_TRUE(Funkhausd::waitFor(30s, [&] {
    return funkhausctl(d, "pair").out.find("waiting for the PIN") != std::string::npos;
  })) << run->output();
  EXPECT_EQ(funkhausctl(d, "pair " + pin).exit_code, 0);
  ASSERT_TRUE(run->wait(60s).has_value()) << run->output();
  ASSERT_NE(run->output().find("Succesfully paired"), std::string::npos) << run->output();
}

// GameStream on loopback at `base_port` (host `name`, no mDNS).
inline std::string gamestreamConfig(uint16_t base_port, const std::string& name) {
  return "[gamestream]\nbase_port = " + std::to_string(base_port) +
         "\nlisten_address = \"127.0.0.1\"\nname = \"" + name + "\"\nmdns = false\n";
}

// A virtual monitor of `width` x `height` at 30 Hz captured at 30 fps, rings for up to
// 1024x768, 2000 kbit/s: small, the picture is not what these tests look at.
inline std::string smallMonitorConfig(int width, int height) {
  return "[capture]\nsource = \"vdisplay\"\nfps = 30\n[vdisplay]\nwidth = " +
         std::to_string(width) + "\nheight = " + std::to_string(height) +
         "\nrefresh_hz = 30\nfb_width = 1024\nfb_height = 768\n"
         "[rings]\nmax_width = 1024\nmax_height = 768\n[encode]\nbitrate_kbps = 2000\n";
}

}  // namespace funkhaus::test
