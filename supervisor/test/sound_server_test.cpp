// The sound server's logic: which server a session already has, and how funkhausd's own runs.
#include "funkhaus/supervisor/sound_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "funkhaus/common/unique_fd.h"

namespace funkhaus::supervisor {
namespace {

TEST(SoundServer, TheSessionsOwnServerIsItsPulseServerOrItsDefaultSocketThatAnswers) {
  std::vector<std::string> asked;
  bool answering = true;
  auto answers = [&](const std::string& path) {
    asked.push_back(path);
    return answering;
  };
  EXPECT_EQ(
      sessionSoundServer(
          {{"PULSE_SERVER", "tcp:10.0.0.2:4713"}, {"XDG_RUNTIME_DIR", "/run/user/1000"}}, answers),
      "tcp:10.0.0.2:4713");
  EXPECT_TRUE(asked.empty()) << "a PULSE_SERVER is taken as the session's choice";
  EXPECT_EQ(sessionSoundServer({{"XDG_RUNTIME_DIR", "/run/user/1000"}}, answers),
            "unix:/run/user/1000/pulse/native");
  EXPECT_EQ(asked, std::vector<std::string>{"/run/user/1000/pulse/native"});
  answering = false;  // a stale socket of a server that is gone
  EXPECT_EQ(sessionSoundServer({{"XDG_RUNTIME_DIR", "/run/user/1000"}}, answers), std::nullopt);
  EXPECT_EQ(sessionSoundServer({{"PULSE_SERVER", ""}, {"HOME", "/home/a"}}, answers), std::nullopt);
  EXPECT_EQ(sessionSoundServer({{"XDG_RUNTIME_DIR", "relative"}}, answers), std::nullopt);
}

TEST(SoundServer, UnixSocketAnswersOnlyWhileSomethingListens) {
  const std::string path = std::filesystem::temp_directory_path() /
                           ("funkhaus-sound-" + std::to_string(getpid()) + ".sock");
  unlink(path.c_str());
  EXPECT_FALSE(unixSocketAnswers(path)) << "no socket file";
  UniqueFd listener(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_FALSE(unixSocketAnswers(path)) << "bound, not listening";
  ASSERT_EQ(listen(listener.get(), 4), 0);
  EXPECT_TRUE(unixSocketAnswers(path));
  listener.reset();
  EXPECT_FALSE(unixSocketAnswers(path)) << "the file of a server that is gone";
  unlink(path.c_str());
  EXPECT_FALSE(unixSocketAnswers(std::string(200, 'x'))) << "too long for sun_path";
}

TEST(SoundServer, PulseaudioRunsWithEverythingInItsOwnDirectory) {
  SoundServerLaunch launch;
  launch.dir = "/run/user/1000/funkhaus-pulse";
  launch.credentials = Credentials{1000, 1000, {1000, 29}};
  launch.path = "/usr/bin:/bin";
  const ChildSpec spec = pulseaudioSpec(launch);
  if (access("/usr/bin/pulseaudio", X_OK) == 0) {
    EXPECT_EQ(spec.program, "/usr/bin/pulseaudio");
  }
  const auto has = [&](const std::string& arg) {
    return std::find(spec.args.begin(), spec.args.end(), arg) != spec.args.end();
  };
  EXPECT_TRUE(has("--daemonize=no"));
  EXPECT_TRUE(has("--exit-idle-time=-1"));
  EXPECT_TRUE(has("--disallow-exit"));
  EXPECT_TRUE(has("-n")) << "no default.pa: no module we did not ask for";
  EXPECT_TRUE(
      has("module-native-protocol-unix socket=/run/user/1000/funkhaus-pulse/native "
          "auth-anonymous=1"));
  EXPECT_TRUE(has("module-always-sink"));
  ASSERT_TRUE(spec.environment.has_value());
  for (const char* name :
       {"HOME", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"}) {
    ASSERT_TRUE(spec.environment->contains(name)) << name;
    EXPECT_EQ(spec.environment->at(name).rfind(launch.dir, 0), 0u)
        << name << " must be inside the server's directory, not " << spec.environment->at(name);
  }
  EXPECT_FALSE(spec.environment->contains("DBUS_SESSION_BUS_ADDRESS"));
  ASSERT_TRUE(spec.credentials.has_value());
  EXPECT_EQ(spec.credentials->uid, 1000u);
  EXPECT_TRUE(spec.drop_privileges);
  EXPECT_EQ(spec.death_signal, SIGKILL) << "it goes when funkhausd goes";
}

TEST(SoundServer, WithoutPulseaudioItFailsWithAReasonAndStartsNothing) {
  FakeClock clock;
  SoundServer sound(clock, RestartPolicyConfig{}, std::chrono::seconds(1));
  SoundServerLaunch launch;
  launch.dir = std::filesystem::temp_directory_path() /
               ("funkhaus-sound-missing-" + std::to_string(getpid()));
  launch.path = "/nonexistent";
  auto started = sound.start(launch);
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(sound.state(), SoundServer::State::kFailed);
  EXPECT_NE(sound.failure().find("pulseaudio is not installed"), std::string::npos);
  EXPECT_EQ(sound.address(), "");
  EXPECT_FALSE(std::filesystem::exists(launch.dir));
  sound.tick();
  EXPECT_EQ(sound.pid(), 0);
  sound.useExternal("unix:/run/user/1000/pulse/native");
  EXPECT_EQ(sound.state(), SoundServer::State::kExternal);
  EXPECT_FALSE(sound.ours());
  EXPECT_EQ(sound.address(), "unix:/run/user/1000/pulse/native");
  sound.stop("the session ends");
  EXPECT_EQ(sound.state(), SoundServer::State::kNone);
  EXPECT_EQ(sound.address(), "");
}

}  // namespace
}  // namespace funkhaus::supervisor
