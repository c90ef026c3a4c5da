// SoundServer against the real pulseaudio: started in its own directory, answering pactl,
// restarted with backoff after SIGKILL, gone with its directory after stop. Skips (saying why)
// without pulseaudio and pactl (Debian packages pulseaudio and pulseaudio-utils).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "funkhaus/common/child_process.h"
#include "funkhaus/common/unique_fd.h"
#include "funkhaus/supervisor/sound_server.h"

namespace funkhaus::supervisor {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// `pactl -s SERVER args...`: its stdout, or nullopt when it failed.
std::optional<std::string> pactl(const std::string& server, std::vector<std::string> args,
                                 const fs::path& scratch) {
  const std::string out_path = (scratch / "pactl.out").string();
  UniqueFd out(open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  ChildSpec spec;
  spec.program = "/usr/bin/pactl";
  spec.args = {"-s", server};
  spec.args.insert(spec.args.end(), args.begin(), args.end());
  // Its own HOME: no cookie or client.conf of whoever runs the test.
  spec.environment =
      std::map<std::string, std::string>{{"HOME", scratch.string()}, {"PATH", "/usr/bin:/bin"}};
  spec.stdout_fd = out.get();
  auto child = ChildProcess::spawn(spec);
  if (!child) return std::nullopt;
  auto status = child->wait(10s);
  if (!status || status->signaled || status->code != 0) return std::nullopt;
  std::ifstream in(out_path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

template <class Pred>
bool tickUntil(SoundServer& sound, std::chrono::milliseconds timeout, Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    sound.tick();
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

TEST(SoundServerProcess, StartsAnswersComesBackAfterSigkillAndLeavesNothing) {
  if (access("/usr/bin/pulseaudio", X_OK) != 0 || access("/usr/bin/pactl", X_OK) != 0)
    GTEST_SKIP() << "pulseaudio or pactl not installed (scripts/install-deps.sh installs them)";
  const fs::path scratch =
      fs::temp_directory_path() / ("funkhaus-sound-process-" + std::to_string(getpid()));
  fs::remove_all(scratch);
  fs::create_directories(scratch);
  const auto clock = Clock::createSteady();
  RestartPolicyConfig backoff;
  backoff.initial_backoff = 200ms;
  SoundServer sound(*clock, backoff, 2s);
  SoundServerLaunch launch;
  launch.dir = (scratch / "pulse").string();
  ASSERT_TRUE(sound.start(launch).ok()) << sound.failure();
  EXPECT_TRUE(sound.ours());
  EXPECT_EQ(sound.address(), "unix:" + launch.dir + "/native");
  EXPECT_EQ(fs::status(launch.dir).permissions() & fs::perms::all, fs::perms::owner_all);
  ASSERT_TRUE(tickUntil(sound, 10s, [&] { return sound.state() == SoundServer::State::kRunning; }))
      << toString(sound.state()) << " " << sound.failure();
  const pid_t first = sound.pid();
  ASSERT_GT(first, 0);
  auto info = pactl(sound.address(), {"info"}, scratch);
  ASSERT_TRUE(info.has_value()) << "pactl info must answer";
  EXPECT_NE(info->find("Server String: " + sound.address()), std::string::npos) << *info;
  auto sinks = pactl(sound.address(), {"list", "short", "sinks"}, scratch);
  ASSERT_TRUE(sinks.has_value());
  EXPECT_NE(sinks->find("auto_null"), std::string::npos) << "module-always-sink: " << *sinks;

  // SIGKILL: reported, restarted after the backoff, answering at the same address.
  ASSERT_EQ(kill(first, SIGKILL), 0);
  ASSERT_TRUE(
      tickUntil(sound, 5s, [&] { return sound.state() == SoundServer::State::kRestarting; }));
  EXPECT_EQ(sound.restarts(), 1);
  ASSERT_TRUE(sound.lastExit().has_value());
  EXPECT_EQ(describeExit(*sound.lastExit()), "killed by SIGKILL");
  const auto killed_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(tickUntil(sound, 10s, [&] { return sound.state() == SoundServer::State::kRunning; }))
      << toString(sound.state()) << " " << sound.failure();
  const auto back_after = std::chrono::steady_clock::now() - killed_at;
  EXPECT_GE(back_after, 150ms) << "restarted after its backoff, not at once";
  EXPECT_NE(sound.pid(), first);
  EXPECT_TRUE(pactl(sound.address(), {"info"}, scratch).has_value());
  std::printf("[figures] pulseaudio answered again %lld ms after SIGKILL (backoff 200 ms)\n",
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(back_after).count()));

  // Killed again before it stayed up stable_after: the backoff has doubled (never an
  // escalation: the server has no set to restart and video goes on).
  const pid_t again = sound.pid();
  ASSERT_EQ(kill(again, SIGKILL), 0);
  ASSERT_TRUE(
      tickUntil(sound, 5s, [&] { return sound.state() == SoundServer::State::kRestarting; }));
  EXPECT_GT(sound.restartIn(), 250ms) << "400 ms after 200 ms";
  EXPECT_LE(sound.restartIn(), 400ms);
  EXPECT_EQ(sound.restarts(), 2);
  ASSERT_TRUE(tickUntil(sound, 10s, [&] { return sound.state() == SoundServer::State::kRunning; }));

  const pid_t second = sound.pid();
  sound.stop("the test ends");
  EXPECT_EQ(sound.state(), SoundServer::State::kNone);
  EXPECT_NE(kill(second, 0), 0) << "pulseaudio is gone (and reaped)";
  EXPECT_FALSE(fs::exists(launch.dir)) << "its directory goes with it";
  EXPECT_FALSE(pactl("unix:" + launch.dir + "/native", {"info"}, scratch).has_value());
  fs::remove_all(scratch);
}

}  // namespace
}  // namespace funkhaus::supervisor
