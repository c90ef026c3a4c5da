// funkhausd with the logind session source against a real systemd-logind: systemd booted in a
// PID + mount namespace, funkhausd started in it as a systemd service (Type=notify), sessions
// opened the way a display manager opens them (CreateSession). The workers follow the active
// session of seat0: user A, user B, back to A, the login screen (greeter), and no session.
// Needs root; skips with the reason otherwise.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "../../tests/system/systemd_namespace.h"

namespace funkhaus {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using test::SystemdNamespace;
using namespace std::chrono_literals;

template <class Pred>
bool waitFor(std::chrono::milliseconds timeout, Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

double msSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

class LogindSessions : public ::testing::Test {
 protected:
  static constexpr const char* kUnit = "funkhaus-logind-test";

  void SetUp() override {
    if (std::string why = SystemdNamespace::unavailableReason(); !why.empty()) GTEST_SKIP() << why;
    dir_ = fs::path(FUNKHAUS_BIN_DIR).parent_path() / ("logind-test-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "overlay");
    fs::permissions(dir_, fs::perms::all);
    // On an overlay of the host's root, with only dbus and logind: the test users and whatever
    // systemd writes stay in the namespace, and no service of the host's image starts.
    SystemdNamespace::Options options;
    options.overlay_mountpoint = dir_ / "overlay";
    options.shared = {dir_};
    options.minimal = true;
    std::string why;
    ns_ = SystemdNamespace::boot(&why, options);
    if (!ns_) GTEST_SKIP() << "no real systemd here: " << why;
    socket_ = (dir_ / "control.sock").string();
    std::ofstream(dir_ / "funkhaus.toml")
        << "[session]\nsource = \"logind\"\n[control]\nsocket = \"" << socket_
        << "\"\n[workers]\nheartbeat_timeout_ms = 1000\nstart = [\"capture\", \"encode\", "
           "\"net\"]\n[net]\nport = 0\n"
        << "[gamestream]\nbase_port = 0\nlisten_address = \"127.0.0.1\"\nmdns = false\n"
        << "[rings]\nmax_width = 320\nmax_height = 180\n"
        << "[capture]\nwidth = 320\nheight = 180\nfps = 30\n";
  }

  void TearDown() override {
    if (ns_) {
      for (const auto& id : sessions_) (void)ns_->run("loginctl terminate-session " + id);
      (void)ns_->run(std::string("systemctl stop ") + kUnit);
      ns_.reset();  // powers the namespace off
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  bool startFunkhausd() {
    const std::string bin = FUNKHAUS_BIN_DIR;
    auto r = ns_->run(std::string("systemd-run --unit=") + kUnit +
                      " --service-type=notify --property=TimeoutStartSec=30 " + bin +
                      "/funkhausd --mode system --config " + (dir_ / "funkhaus.toml").string() +
                      " --worker-dir " + bin);
    if (!r.ok()) ADD_FAILURE() << r.output;
    return r.ok();
  }

  std::string journal() const {
    return ns_->run(std::string("journalctl --no-pager -o cat -u ") + kUnit).output;
  }

  json status() const {
    auto r = ns_->run(std::string(FUNKHAUS_BIN_DIR) + "/funkhausctl --socket " + socket_ +
                      " status --json");
    return json::parse(r.output, nullptr, false);
  }

  // Opens a session (a display manager's CreateSession) and returns its id.
  std::string openSession(uid_t uid, const std::string& type, const std::string& klass,
                          const std::string& display) {
    const std::string leader = std::string(FUNKHAUS_TEST_BIN_DIR) + "/logind_session_leader";
    const std::string out = (dir_ / ("leader-" + std::to_string(sessions_.size()))).string();
    // The leader keeps running (it holds the session open) until the session is terminated.
    auto r = ns_->run("setsid " + leader + " " + std::to_string(uid) + " " + type + " " + klass +
                      " '" + display + "' > " + out +
                      " 2>&1 < /dev/null & "
                      "for i in $(seq 100); do [ -s " +
                      out + " ] && break; sleep 0.05; done; cat " + out);
    std::string id = r.output.substr(0, r.output.find('\n'));
    EXPECT_FALSE(id.empty() || id.find(' ') != std::string::npos) << r.output;
    sessions_.push_back(id);
    return id;
  }

  // A system user created inside the namespace only.
  uid_t addUser(const std::string& name) {
    auto r = ns_->run("useradd --system --no-create-home --shell /usr/sbin/nologin " + name +
                      " && id -u " + name);
    EXPECT_TRUE(r.ok()) << r.output;
    return r.ok() ? static_cast<uid_t>(std::stoul(r.output)) : 0;
  }

  // The workers of the status, each running as `uid` (read from /proc in the namespace).
  bool workersRunAs(const json& s, uid_t uid, const std::string& session_id) const {
    if (!s.is_object() || s["sessions"].empty()) return false;
    const json& session = s["sessions"][0];
    if (session["id"] != session_id || session["uid"] != uid) return false;
    for (const auto& w : session["workers"]) {
      if (w["state"] != "running" || !w["pid"].is_number()) return false;
      auto st = ns_->run("grep ^Uid: /proc/" + std::to_string(w["pid"].get<int>()) + "/status");
      if (st.output.find("\t" + std::to_string(uid) + "\t") == std::string::npos) return false;
    }
    return true;
  }

  std::string environOf(int pid) const {
    return ns_->run("tr '\\0' '\\n' < /proc/" + std::to_string(pid) + "/environ").output;
  }

  std::unique_ptr<SystemdNamespace> ns_;
  fs::path dir_;
  std::string socket_;
  std::vector<std::string> sessions_;
};

TEST_F(LogindSessions, WorkersFollowTheActiveSessionOfSeat0) {
  struct User {
    std::string name;
    uid_t id;
    uid_t uid() const { return id; }
  };
  const User a{"fhla", addUser("fhla")}, b{"fhlb", addUser("fhlb")},
      greeter{"fhlg", addUser("fhlg")};
  ASSERT_TRUE(a.id != 0 && b.id != 0 && greeter.id != 0);
  ASSERT_TRUE(startFunkhausd());
  // Type=notify: active only after READY=1; with nobody at seat0 there is nothing to wait for.
  auto active = ns_->run(std::string("systemctl show -P ActiveState,StatusText ") + kUnit);
  EXPECT_NE(active.output.find("active"), std::string::npos) << active.output << journal();
  EXPECT_NE(active.output.find("waiting for a session"), std::string::npos) << active.output;
  json s = status();
  ASSERT_TRUE(s.is_object()) << journal();
  EXPECT_TRUE(s["sessions"].empty()) << s.dump();

  // User A logs in at seat0 (an X11 session on display :7).
  auto t = std::chrono::steady_clock::now();
  const std::string session_a = openSession(a.uid(), "x11", "user", ":7");
  ASSERT_TRUE(waitFor(10s, [&] { return workersRunAs(s = status(), a.uid(), session_a); }))
      << s.dump() << journal();
  std::printf("[figures] logind: no session -> workers running as user A in %.0f ms\n", msSince(t));
  EXPECT_EQ(s["sessions"][0]["user"], a.name);
  EXPECT_EQ(s["sessions"][0]["type"], "x11");
  const std::string env = environOf(s["sessions"][0]["workers"][0]["pid"].get<int>());
  EXPECT_NE(env.find("DISPLAY=:7\n"), std::string::npos) << env;
  EXPECT_NE(env.find("XDG_SESSION_ID=" + session_a + "\n"), std::string::npos) << env;
  EXPECT_NE(env.find("USER=" + a.name + "\n"), std::string::npos) << env;
  EXPECT_NE(env.find("XDG_RUNTIME_DIR=/run/user/" + std::to_string(a.uid()) + "\n"),
            std::string::npos)
      << env;

  // User B logs in on the same seat and becomes the active session (a user switch).
  t = std::chrono::steady_clock::now();
  const std::string session_b = openSession(b.uid(), "x11", "user", ":8");
  ASSERT_TRUE(waitFor(10s, [&] { return workersRunAs(s = status(), b.uid(), session_b); }))
      << s.dump() << journal();
  std::printf("[figures] logind: user switch A -> B, workers moved in %.0f ms\n", msSince(t));

  // Back to A.
  t = std::chrono::steady_clock::now();
  ASSERT_TRUE(ns_->run("loginctl activate " + session_a).ok());
  ASSERT_TRUE(waitFor(10s, [&] { return workersRunAs(s = status(), a.uid(), session_a); }))
      << s.dump() << journal();
  std::printf("[figures] logind: switch back B -> A, workers moved in %.0f ms\n", msSince(t));

  // The login screen is a session too.
  t = std::chrono::steady_clock::now();
  const std::string login_screen = openSession(greeter.uid(), "x11", "greeter", ":9");
  ASSERT_TRUE(waitFor(10s, [&] { return workersRunAs(s = status(), greeter.uid(), login_screen); }))
      << s.dump() << journal();
  std::printf("[figures] logind: -> login screen (greeter), workers moved in %.0f ms\n",
              msSince(t));
  EXPECT_EQ(s["sessions"][0]["class"], "greeter");

  // Everybody logs out: no session, no workers; funkhausd keeps running.
  for (const auto& id : sessions_) ASSERT_TRUE(ns_->run("loginctl terminate-session " + id).ok());
  ASSERT_TRUE(waitFor(10s,
                      [&] {
                        s = status();
                        return s.is_object() && s["sessions"].empty();
                      }))
      << s.dump() << journal();
  sessions_.clear();
  auto still = ns_->run(std::string("systemctl is-active ") + kUnit);
  EXPECT_EQ(still.output, "active\n") << journal();
  const std::string log = journal();
  EXPECT_NE(log.find("no active session: stopping the workers"), std::string::npos) << log;
}

}  // namespace
}  // namespace funkhaus
