// funkhausd in system mode as root with the `fixed` session source and users created by the
// test: workers run as the session user with no privileges, a SIGHUP that names another user
// moves every worker, and a user outside the control group is refused. Skips unless root.
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>

#include "funkhausd_process.h"
#include "test_user.h"

namespace funkhaus {
namespace {

using test::Funkhausd;
using test::json;
using test::TestUser;
using namespace std::chrono_literals;

// Fields of /proc/PID/status.
std::map<std::string, std::string> procStatus(pid_t pid) {
  std::map<std::string, std::string> out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    out[line.substr(0, colon)] = value;
  }
  return out;
}

std::string firstField(const std::string& s) { return s.substr(0, s.find_first_of(" \t")); }

class AsRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (creates users, runs funkhausd --mode system)";
    if (std::system("command -v useradd > /dev/null") != 0) GTEST_SKIP() << "useradd missing";
  }
};

std::string fixedUser(const std::string& user) {
  return "[session]\nsource = \"fixed\"\nuser = \"" + user + "\"\n";
}

TEST_F(AsRoot, WorkersRunAsTheSessionUserWithoutPrivileges) {
  TestUser user("a");
  ASSERT_TRUE(user.ok());
  Funkhausd d(fixedUser(user.name()), false, "system");
  ASSERT_TRUE(d.waitAllRunning()) << d.log();
  const nlohmann::json status_before = d.status();  // the loop must not range over a temporary
  for (const auto& w : status_before["sessions"][0]["workers"]) {
    const auto st = procStatus(w["pid"].get<pid_t>());
    EXPECT_EQ(firstField(st.at("Uid")), std::to_string(user.uid())) << w["name"];
    EXPECT_EQ(firstField(st.at("Gid")), std::to_string(user.gid())) << w["name"];
    EXPECT_EQ(st.at("NoNewPrivs"), "1") << w["name"];
    EXPECT_EQ(st.at("CapEff"), "0000000000000000") << w["name"];
    EXPECT_EQ(st.at("CapPrm"), "0000000000000000") << w["name"];
  }
  EXPECT_EQ(d.status()["sessions"][0]["user"], user.name());
}

TEST_F(AsRoot, ReloadNamingAnotherUserMovesEveryWorker) {
  TestUser first("b"), second("c");
  ASSERT_TRUE(first.ok() && second.ok());
  Funkhausd d(fixedUser(first.name()), false, "system");
  ASSERT_TRUE(d.waitAllRunning()) << d.log();
  d.rewriteConfig(fixedUser(second.name()));
  const auto sent = std::chrono::steady_clock::now();
  kill(d.pid(), SIGHUP);
  ASSERT_TRUE(Funkhausd::waitFor(5s, [&] {
    const json s = d.status();
    if (!s.is_object() || s["sessions"].empty() || s["sessions"][0]["user"] != second.name())
      return false;
    for (const auto& w : s["sessions"][0]["workers"]) {
      if (w["state"] != "running") return false;
      if (firstField(procStatus(w["pid"].get<pid_t>())["Uid"]) != std::to_string(second.uid()))
        return false;
    }
    return true;
  })) << d.log();
  std::printf(
      "[figures] session user change -> every worker running as the new user in %.0f ms\n",
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent).count());
}

TEST_F(AsRoot, UserOutsideTheControlGroupIsRefused) {
  TestUser session("d"), outsider("e");
  ASSERT_TRUE(session.ok() && outsider.ok());
  Funkhausd d(fixedUser(session.name()), false, "system");
  ASSERT_TRUE(d.waitAllRunning()) << d.log();
  // The outsider talks to the socket from a child process running as that user.
  auto asOutsider = [&](const std::string& request) {
    int pipefd[2];
    if (pipe(pipefd) != 0) std::abort();
    const pid_t child = fork();
    if (child == 0) {
      close(pipefd[0]);
      if (setgroups(0, nullptr) != 0 || setgid(outsider.gid()) != 0 || setuid(outsider.uid()) != 0)
        _exit(90);
      const json reply = d.call(request);
      const std::string text = reply.dump();
      (void)!write(pipefd[1], text.data(), text.size());
      _exit(0);
    }
    close(pipefd[1]);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(pipefd[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    close(pipefd[0]);
    waitpid(child, nullptr, 0);
    return json::parse(out, nullptr, false);
  };
  const json status = asOutsider(R"({"cmd":"status"})");
  EXPECT_EQ(status["ok"], true) << "anyone may read the status: " << status.dump();
  const pid_t encode = d.worker("encode")["pid"].get<pid_t>();
  const json refused = asOutsider(R"({"cmd":"restart","worker":"encode"})");
  EXPECT_EQ(refused["ok"], false) << refused.dump();
  EXPECT_NE(refused.value("error", std::string()).find("permission denied"), std::string::npos)
      << refused.dump();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(d.worker("encode")["pid"].get<pid_t>(), encode) << "nothing was restarted";
}

// System mode: the session's pulseaudio runs as the session's user in a 0700 directory of the
// user's inside the session's runtime dir, and goes with funkhausd.
TEST_F(AsRoot, TheSessionsSoundServerRunsAsItsUserInItsRuntimeDir) {
  if (access(FUNKHAUS_BIN_DIR "/funkhaus-audio", X_OK) != 0 ||
      access("/usr/bin/pulseaudio", X_OK) != 0 || access("/usr/bin/pactl", X_OK) != 0)
    GTEST_SKIP() << "needs funkhaus-audio built and pulseaudio with pactl installed";
  TestUser user("snd");
  ASSERT_TRUE(user.ok());
  // The session's runtime dir, as logind makes /run/user/UID.
  const std::filesystem::path runtime =
      std::filesystem::temp_directory_path() / ("funkhaus-run-" + std::to_string(getpid()));
  std::filesystem::create_directories(runtime);
  ASSERT_EQ(chown(runtime.c_str(), user.uid(), user.gid()), 0);
  ASSERT_EQ(chmod(runtime.c_str(), 0700), 0);
  Funkhausd d(fixedUser(user.name()) + "[session.environment]\nXDG_RUNTIME_DIR = \"" +
                  runtime.string() + "\"\n",
              false, "system", false, {"capture", "encode", "net", "audio"});
  json sound;
  ASSERT_TRUE(Funkhausd::waitFor(10s,
                                 [&] {
                                   const json s = d.status();
                                   if (!s.is_object() || s["sessions"].empty()) return false;
                                   sound = s["sessions"][0].value("sound_server", json());
                                   return sound.is_object() && sound["state"] == "running";
                                 }))
      << sound.dump() << "\n"
      << d.log();
  const std::filesystem::path dir = runtime / "funkhaus-pulse";
  EXPECT_EQ(sound["pulse_server"], "unix:" + (dir / "native").string());
  struct stat st {};
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, user.uid());
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  const pid_t pulse = sound["pid"].get<pid_t>();
  const auto proc = procStatus(pulse);
  EXPECT_EQ(firstField(proc.at("Uid")), std::to_string(user.uid()));
  EXPECT_EQ(proc.at("NoNewPrivs"), "1");
  EXPECT_EQ(proc.at("CapEff"), "0000000000000000");
  EXPECT_EQ(std::system(("HOME=" + runtime.string() +
                         " pactl -s unix:" + (dir / "native").string() + " info > /dev/null 2>&1")
                            .c_str()),
            0);
  EXPECT_TRUE(Funkhausd::waitFor(10s, [&] {
    const json a = d.worker("audio");
    return a.is_object() && a["state"] == "running";
  })) << d.log();
  d.stop(SIGTERM);
  EXPECT_TRUE(Funkhausd::waitFor(3s, [&] { return kill(pulse, 0) != 0; }));
  EXPECT_FALSE(std::filesystem::exists(dir));
  std::filesystem::remove_all(runtime);
}

}  // namespace
}  // namespace funkhaus
