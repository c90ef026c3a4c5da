// SessionApps with real processes: a launched app runs its command in a process group of its
// own with the session's environment; stopping it takes the whole group (SIGTERM, then SIGKILL
// once the grace period on the fake clock is over); Desktop runs nothing; unknown apps are errors.
#include "funkhaus/supervisor/session_apps.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

namespace funkhaus::supervisor {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

bool groupAlive(pid_t pgid) { return ::kill(-pgid, 0) == 0 || errno != ESRCH; }

// Ticks until `done` or 10 s (real time: the processes are real).
template <class Pred>
bool tickUntil(SessionApps& apps, Pred done) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    apps.tick();
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

class Apps : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("funkhaus-apps-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    config_.apps = {{"Writer", "echo \"$FUNKHAUS_TEST $DISPLAY\" > " + (dir_ / "out").string() +
                                   "; sleep 30 & wait"},
                    {"Stubborn", "trap '' TERM; sleep 30 & wait; wait"}};
    session_.id = "7";
    session_.environment = {{"FUNKHAUS_TEST", "hello"}};
  }
  void TearDown() override { fs::remove_all(dir_); }

  AppLaunch launch(uint32_t id) {
    auto l = appLaunch(config_, id, session_, std::nullopt, ":5", "");
    EXPECT_TRUE(l.ok() && l->has_value());
    return **l;
  }

  fs::path dir_;
  GamestreamConfig config_;
  SessionInfo session_;
  FakeClock clock_;
};

TEST_F(Apps, TheCommandRunsWithTheSessionsEnvironmentAndStopsWithItsGroup) {
  SessionApps apps(clock_, 1s);
  ASSERT_TRUE(apps.start(launch(2)).ok());
  EXPECT_EQ(apps.runningTitle(), "Writer");
  EXPECT_TRUE(apps.runs(2, "7"));
  EXPECT_FALSE(apps.runs(2, "8")) << "another session";
  ASSERT_TRUE(
      tickUntil(apps, [&] { return fs::exists(dir_ / "out") && fs::file_size(dir_ / "out") > 0; }));
  std::ifstream in(dir_ / "out");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "hello :5") << "session environment and the virtual monitor's display";
  ASSERT_NE(apps.runningId(), 0u);
  const pid_t pgid = apps.runningPid();
  apps.stop("the client cancelled");
  EXPECT_EQ(apps.runningId(), 0u);
  EXPECT_TRUE(apps.runningTitle().empty());
  EXPECT_TRUE(tickUntil(apps, [&] { return !groupAlive(pgid); })) << "the shell and its sleep";
}

TEST_F(Apps, AnAppThatIgnoresSigtermIsKilledAfterTheGracePeriodWithItsChildren) {
  SessionApps apps(clock_, 1s);
  AppLaunch stubborn = launch(3);
  ASSERT_TRUE(apps.start(stubborn).ok());
  const pid_t pgid = apps.runningPid();  // the shell leads the app's group
  ASSERT_GT(pgid, 0);
  std::this_thread::sleep_for(200ms);  // its trap is set and its child started
  apps.stop("the session ends");
  std::this_thread::sleep_for(200ms);
  apps.tick();
  EXPECT_TRUE(groupAlive(pgid)) << "SIGTERM is ignored; the grace period runs";
  clock_.advance(1001ms);
  EXPECT_TRUE(tickUntil(apps, [&] { return !groupAlive(pgid); }))
      << "killed with its children after the grace period";
}

TEST_F(Apps, DesktopRunsNothingAndUnknownAppsAreErrors) {
  auto desktop = appLaunch(config_, 1, session_, std::nullopt, "", "");
  ASSERT_TRUE(desktop.ok());
  EXPECT_FALSE(desktop->has_value());
  auto unknown = appLaunch(config_, 9, session_, std::nullopt, "", "");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message, "this host has no app 9");
  auto with_path = appLaunch(config_, 2, session_, std::nullopt, "", "");
  ASSERT_TRUE(with_path.ok());
  EXPECT_TRUE((*with_path)->environment.contains("PATH"));
  EXPECT_FALSE((*with_path)->environment.contains("DISPLAY"));
  EXPECT_FALSE((*with_path)->environment.contains("PULSE_SERVER"));
  // The sound server funkhausd started for the session: the app plays into it.
  auto with_sound = appLaunch(config_, 2, session_, std::nullopt, "", "",
                              "unix:/run/user/1000/funkhaus-pulse/native");
  ASSERT_TRUE(with_sound.ok());
  EXPECT_EQ((*with_sound)->environment.at("PULSE_SERVER"),
            "unix:/run/user/1000/funkhaus-pulse/native");
}

}  // namespace
}  // namespace funkhaus::supervisor
