// The real funkhaus-console under the real funkhausd, over real HTTPS with curl: the password
// set through funkhausctl, login, each refusal of issue 16's "Bad input" list, API calls that
// reach funkhausd's control handler, /metrics with and without its token, and kill -9 of the
// console (funkhausd restarts it on the same port; the session and the event stream come back).
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <thread>

#include "../../supervisor/test/funkhausd_process.h"

namespace funkhaus::test {
namespace {

std::string run(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

json hostWorker(const Funkhausd& f, const std::string& name) {
  const json s = f.status();
  if (!s.is_object() || !s.contains("host_workers")) return json::object();
  for (const auto& w : s["host_workers"])
    if (w["name"] == name) return w;
  return json::object();
}

class ConsoleProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    if (run("command -v curl").empty()) GTEST_SKIP() << "needs curl";
    f_ = std::make_unique<Funkhausd>("", false, "user", false, std::vector<std::string>{"capture"});
    ASSERT_TRUE(Funkhausd::waitFor(10s, [&] {
      return hostWorker(*f_, "console").value("state", "") == "running";
    })) << f_->log();
    port_ = f_->status()["console"]["port"].get<int>();
    url_ = "https://127.0.0.1:" + std::to_string(port_);
    jar_ = (f_->dir() / "jar").string();
    ctl_ = std::string(FUNKHAUS_BIN_DIR) + "/funkhausctl --socket " + f_->socket();
  }
  // "<body> <status>" of curl over HTTPS (the self-signed host certificate: -k).
  std::string curl(const std::string& args) const {
    return run("curl -sk --max-time 10 -w ' %{http_code}' " + args + " 2>&1");
  }
  static std::string code(const std::string& out) { return out.substr(out.size() - 3); }
  void setPasswordAndLogIn() {
    ASSERT_EQ(run("printf 'hunter22hunter\\n' | " + ctl_ + " console-password --stdin 2>&1"),
              "console password set: every console session is logged out\n");
    const std::string login = curl("-c " + jar_ +
                                   " -H 'Content-Type: application/json' -d "
                                   "'{\"password\":\"hunter22hunter\"}' " +
                                   url_ + "/api/login");
    ASSERT_EQ(code(login), "200") << login;
    csrf_ = json::parse(login.substr(0, login.size() - 4))["csrf"].get<std::string>();
  }
  std::string withSession(const std::string& args) const {
    return curl("-b " + jar_ + " -H 'X-CSRF-Token: " + csrf_ + "' " + args);
  }

  std::unique_ptr<Funkhausd> f_;
  int port_ = 0;
  std::string url_, jar_, ctl_, csrf_;
};

TEST_F(ConsoleProcess, BadInputIsRefusedOverRealHttps) {
  EXPECT_EQ(code(curl("-H 'Content-Type: application/json' -d '{\"password\":\"x\"}' " + url_ +
                      "/api/login")),
            "409")
      << "no password yet";
  setPasswordAndLogIn();
  // Without a valid session every API answers 401.
  for (const char* api : {"/api/status", "/api/events", "/api/pairing", "/api/clients",
                          "/api/stats", "/api/stats/x1", "/api/logs?seconds=5", "/api/session"})
    EXPECT_EQ(code(curl(url_ + api)), "401") << api;
  for (const char* api : {"/api/workers/capture/restart", "/api/mode", "/api/pair", "/api/unpair",
                          "/api/stats/start", "/api/logout"})
    EXPECT_EQ(code(curl("-X POST -H 'X-CSRF-Token: " + csrf_ + "' " + url_ + api)), "401") << api;
  EXPECT_EQ(code(curl("-X DELETE " + url_ + "/api/stats/x1")), "401");
  EXPECT_EQ(code(curl("-b 'fh_session=" + std::string(64, 'a') + "' " + url_ + "/api/status")),
            "401");
  // A cross-site POST is refused, so is a change without (or with a wrong) CSRF token.
  const json before = f_->worker("capture");
  EXPECT_EQ(code(withSession("-X POST -H 'Origin: https://evil.example' " + url_ +
                             "/api/workers/capture/restart")),
            "403");
  EXPECT_EQ(code(withSession("-X POST -H 'Sec-Fetch-Site: cross-site' " + url_ +
                             "/api/workers/capture/restart")),
            "403");
  EXPECT_EQ(code(curl("-b " + jar_ + " -X POST " + url_ + "/api/workers/capture/restart")), "403");
  EXPECT_EQ(code(curl("-b " + jar_ + " -X POST -H 'X-CSRF-Token: " + std::string(64, '0') + "' " +
                      url_ + "/api/workers/capture/restart")),
            "403");
  EXPECT_EQ(f_->worker("capture")["pid"], before["pid"]) << "nothing restarted";
  // Path traversal.
  for (const char* path : {"/assets/../../../etc/passwd", "/assets/%2e%2e/%2e%2e/x",
                           "/assets/..%2fx", "/assets/a%00.js", "/assets/..%5c..%5cx"}) {
    const std::string out = curl("--path-as-is " + url_ + path);
    EXPECT_EQ(code(out), "400") << path << ": " << out;
    EXPECT_EQ(out.find("root:"), std::string::npos);
  }
  // Oversized body.
  const fs::path big = f_->dir() / "big.json";
  std::ofstream(big) << "{\"pin\":\"" << std::string(80 * 1024, '1') << "\"}";
  EXPECT_EQ(code(withSession("-H 'Content-Type: application/json' --data-binary @" + big.string() +
                             " " + url_ + "/api/pair")),
            "413");
  // A change through the console reaches funkhausd's control handler.
  const std::string restart =
      withSession("-X POST -H 'Origin: " + url_ + "' " + url_ + "/api/workers/capture/restart");
  EXPECT_EQ(restart, "{\"ok\":true} 200");
  EXPECT_TRUE(Funkhausd::waitFor(5s, [&] {
    const json w = f_->worker("capture");
    return w["pid"] != before["pid"] && w["state"] == "running";
  }));
  const std::string status = withSession(url_ + "/api/status");
  EXPECT_EQ(code(status), "200");
  EXPECT_EQ(json::parse(status.substr(0, status.size() - 4))["console"]["port"], port_);
  const std::string unknown = withSession("-X POST " + url_ + "/api/workers/gpu/restart");
  EXPECT_EQ(code(unknown), "400") << unknown;
  // Login attempts are rate-limited: 5 failures a minute, then even the right password waits.
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(code(curl("-H 'Content-Type: application/json' -d '{\"password\":\"wrong\"}' " +
                        url_ + "/api/login")),
              "401");
  EXPECT_EQ(code(curl("-H 'Content-Type: application/json' -d "
                      "'{\"password\":\"hunter22hunter\"}' " +
                      url_ + "/api/login")),
            "429");
}

TEST_F(ConsoleProcess, AStatsCaptureStartedAndStoppedThroughTheConsoleComesBackWhole) {
  setPasswordAndLogIn();
  const std::string started = withSession(
      "-H 'Content-Type: application/json' -d "
      "'{\"name\":\"console\"}' " +
      url_ + "/api/stats/start");
  ASSERT_EQ(code(started), "200") << started;
  const std::string id =
      json::parse(started.substr(0, started.size() - 4))["id"].get<std::string>();
  std::this_thread::sleep_for(2500ms);
  const std::string stopped = withSession("-X POST " + url_ + "/api/stats/stop");
  ASSERT_EQ(code(stopped), "200") << stopped;
  const std::string list = withSession(url_ + "/api/stats");
  EXPECT_NE(list.find(id), std::string::npos) << list;
  const std::string shown = withSession(url_ + "/api/stats/" + id);
  ASSERT_EQ(code(shown), "200") << shown.substr(0, 300);
  const json capture = json::parse(shown.substr(0, shown.size() - 4))["capture"];
  EXPECT_EQ(capture["id"], id);
  EXPECT_GE(capture["t"].size(), 2u);
  EXPECT_EQ(capture["t"].size(), capture["samples"].get<size_t>());
  for (const auto& [name, values] : capture["series"].items())
    EXPECT_EQ(values.size(), capture["t"].size()) << name;
  EXPECT_EQ(code(withSession("-X DELETE " + url_ + "/api/stats/" + id)), "200");
  EXPECT_EQ(code(withSession(url_ + "/api/stats/" + id)), "400") << "removed";
}

TEST_F(ConsoleProcess, MetricsWithAndWithoutTheToken) {
  // On loopback no token is needed; a token from funkhausctl works too and is printed once.
  const std::string plain = curl(url_ + "/metrics");
  EXPECT_EQ(code(plain), "200");
  EXPECT_NE(plain.find("funkhaus_up 1"), std::string::npos) << plain;
  EXPECT_NE(plain.find("funkhaus_worker_up{worker=\"capture\""), std::string::npos) << plain;
  const std::string token = run(ctl_ + " metrics-token 2>/dev/null");
  ASSERT_TRUE(std::regex_match(token, std::regex("[0-9a-f]{64}\n"))) << token;
  const std::string stored = run("cat " + (f_->dir() / "state/funkhaus/metrics-token").string());
  EXPECT_EQ(stored.find(token.substr(0, 64)), std::string::npos) << "only its hash is kept";
  EXPECT_EQ(
      code(curl("-H 'Authorization: Bearer " + token.substr(0, 64) + "' " + url_ + "/metrics")),
      "200");
}

TEST_F(ConsoleProcess, KillNineRestartsItOnTheSamePortAndTheEventStreamComesBack) {
  setPasswordAndLogIn();
  const int pid = hostWorker(*f_, "console")["pid"].get<int>();
  std::string first;
  std::thread reader(
      [&] { first = run("curl -sk -N --max-time 20 -b " + jar_ + " " + url_ + "/api/events"); });
  std::this_thread::sleep_for(1s);
  const auto killed = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  reader.join();  // the stream ends with the process
  EXPECT_NE(first.find("event: status\ndata: {"), std::string::npos) << first;
  ASSERT_TRUE(Funkhausd::waitFor(10s, [&] {
    const json w = hostWorker(*f_, "console");
    return w.value("state", "") == "running" && w["pid"] != pid;
  })) << f_->log();
  std::printf("[figures] console kill -9 -> running again (new pid) in %lld ms\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - killed)
                                         .count()));
  EXPECT_EQ(f_->status()["console"]["port"], port_);
  // The browser reconnects with its cookie: same port, same session, events again.
  const std::string again = run("curl -sk -N --max-time 2 -b " + jar_ + " " + url_ + "/api/events");
  EXPECT_NE(again.find("event: status\ndata: {"), std::string::npos) << again;
  const json status =
      json::parse(again.substr(again.find("data: ") + 6,
                               again.find('\n', again.find("data: ")) - again.find("data: ") - 6),
                  nullptr, false);
  EXPECT_EQ(status.value("ok", false), true);
  EXPECT_EQ(code(withSession(url_ + "/api/session")), "200") << "the session survived";
}

}  // namespace
}  // namespace funkhaus::test
