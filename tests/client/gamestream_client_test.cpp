// GameStream end to end (label client): a real funkhausd (user mode) starts funkhaus-web as a
// host worker on the sockets it holds; the real funkhausctl enters the PIN; the real Moonlight
// Embedded pairs, lists the apps, survives a kill -9 of funkhaus-web and a restart of funkhausd,
// and is refused once unpaired. Loopback only, ports of the test's own.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "../../supervisor/test/funkhausd_process.h"
#include "funkhaus/test/moonlight.h"
#include "funkhaus/test/shell.h"

namespace funkhaus {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;
using test::Funkhausd;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

bool bindable(uint16_t port) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
}

bool bindableUdp(uint16_t port) {
  UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
}

// A base port (not GameStream's default) whose other ports (HTTPS, RTSP, media) are free too.
uint16_t freeBasePort() {
  for (int attempt = 0; attempt < 100; ++attempt) {
    UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
      continue;
    const uint16_t port = ntohs(a.sin_port);
    fd.reset();
    if (port <= 2000 || port > 65000 || port == 47989) continue;
    // HTTP, HTTPS (base - 5), RTSP (+21), video, control, audio (+9..+11).
    bool free = true;
    for (int offset : {0, -5, 21, 9, 10, 11})
      free = free && bindable(static_cast<uint16_t>(port + offset)) &&
             bindableUdp(static_cast<uint16_t>(port + offset));
    if (free) return port;
  }
  return 0;
}

using Output = funkhaus::test::ShellRun;

// The real funkhausctl on funkhausd's socket (stdout and stderr).
Output funkhausctl(const Funkhausd& d, const std::string& args) {
  return funkhaus::test::runShell(std::string(FUNKHAUS_BIN_DIR) + "/funkhausctl --socket '" +
                                  d.socket() + "' " + args + " 2>&1");
}

class GamestreamClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto moonlight = test::findMoonlight();
    if (!moonlight) GTEST_SKIP() << moonlight.error().message;
    moonlight_ = *moonlight;
    base_port_ = freeBasePort();
    ASSERT_NE(base_port_, 0) << "no free port pair on loopback";
    dir_ = fs::temp_directory_path() / ("funkhaus-gamestream-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    Funkhausd::state_home = dir_ / "state";
  }

  void TearDown() override {
    if (funkhausd_ && HasFailure()) std::printf("funkhausd log:\n%s\n", funkhausd_->log().c_str());
    funkhausd_.reset();
    Funkhausd::state_home.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // App 2 stands in for a game: it notes its pid and display, then waits to be stopped.
  std::string config() const {
    return "[gamestream]\nbase_port = " + std::to_string(base_port_) +
           "\nlisten_address = \"127.0.0.1\"\nname = \"funkhaus-e2e\"\nmdns = false\n"
           "[[gamestream.apps]]\ntitle = \"Steam Big Picture\"\ncommand = \"echo $$ "
           "${DISPLAY:-none} > '" +
           (dir_ / "app.pid").string() + "'; exec sleep 600\"\n";
  }

  // funkhausd with light session workers (one, or a streaming set); waits for funkhaus-web.
  void startFunkhausd(std::vector<std::string> workers = {"capture"}) {
    funkhausd_.emplace(config(), false, "user", false, std::move(workers));
    ASSERT_TRUE(Funkhausd::waitFor(20s, [&] { return webState() == "running"; }))
        << funkhausd_->status().dump();
  }

  json web() const {
    const json s = funkhausd_->status();
    if (!s.is_object() || !s.contains("host_workers")) return json();
    for (const auto& w : s["host_workers"])
      if (w["name"] == "web") return w;
    return json();
  }
  std::string webState() const {
    const json w = web();
    return w.is_object() && w["state"].is_string() ? w["state"].get<std::string>() : "";
  }

  std::vector<std::string> args(const std::string& action, std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {action, "-keydir", (dir_ / "client/keys").string(), "-port",
                                  std::to_string(base_port_)};
    a.insert(a.end(), extra.begin(), extra.end());
    a.push_back("127.0.0.1");
    return a;
  }
  std::string moonlight(const std::string& action) {
    return test::runMoonlight(moonlight_, args(action), dir_ / "client", 60s);
  }

  // Moonlight Embedded pairs with PIN `pin`, entered through funkhausctl.
  void pair(const std::string& pin) {
    auto run = test::MoonlightRun::start(moonlight_, args("pair", {"-pin", pin}), dir_ / "client");
    ASSERT_TRUE(run.ok()) << run.error().message;
    ASSERT_TRUE(Funkhausd::waitFor(30s, [&] {
      return has(funkhausctl(*funkhausd_, "pair").out, "waiting for the PIN");
    })) << run->output();
    EXPECT_EQ(funkhausctl(*funkhausd_, "pair " + pin).exit_code, 0);
    ASSERT_TRUE(run->wait(60s).has_value()) << run->output();
    ASSERT_TRUE(has(run->output(), "Succesfully paired")) << run->output();
  }

  // `moonlight stream` (fake platform: the whole protocol, no decoder) with `extra` options.
  Result<test::MoonlightRun> stream(const std::string& app, std::vector<std::string> extra) {
    std::ofstream(dir_ / "client/gamecontrollerdb.txt") << "";  // stream wants a mapping file
    std::vector<std::string> options = {
        "-app", app,        "-platform",
        "fake", "-mapping", (dir_ / "client/gamecontrollerdb.txt").string()};
    options.insert(options.end(), extra.begin(), extra.end());
    // Line-buffered: its log file is read while it runs.
    std::vector<std::string> line_buffered = {"-oL", moonlight_};
    for (std::string& a : args("stream", options)) line_buffered.push_back(std::move(a));
    return test::MoonlightRun::start("/usr/bin/stdbuf", line_buffered, dir_ / "client");
  }

  std::string moonlight_;
  uint16_t base_port_ = 0;
  fs::path dir_;
  std::optional<Funkhausd> funkhausd_;
};

TEST_F(GamestreamClientTest, PairListRestartAndUnpairThroughFunkhausctl) {
  ASSERT_NO_FATAL_FAILURE(startFunkhausd());
  // The host's sockets: HTTP at the base, HTTPS five below, in the status.
  const json status = json::parse(funkhausctl(*funkhausd_, "status --json").out, nullptr, false);
  ASSERT_TRUE(status.contains("gamestream")) << status.dump();
  EXPECT_EQ(status["gamestream"]["http_port"], base_port_);
  EXPECT_EQ(status["gamestream"]["https_port"], base_port_ - 5);
  EXPECT_EQ(status["gamestream"]["name"], "funkhaus-e2e");
  EXPECT_EQ(status["gamestream"]["paired_clients"], 0);
  EXPECT_TRUE(has(funkhausctl(*funkhausd_, "pair").out, "no pairing request waits"));

  // Moonlight asks to pair; funkhausctl shows who waits, then enters the PIN.
  auto run = test::MoonlightRun::start(moonlight_, args("pair", {"-pin", "4321"}), dir_ / "client");
  ASSERT_TRUE(run.ok()) << run.error().message;
  Output pending;
  ASSERT_TRUE(Funkhausd::waitFor(30s,
                                 [&] {
                                   pending = funkhausctl(*funkhausd_, "pair");
                                   return has(pending.out, "waiting for the PIN");
                                 }))
      << pending.out << run->output();
  EXPECT_TRUE(has(pending.out, "127.0.0.1")) << pending.out;
  EXPECT_TRUE(has(pending.out, "roth")) << pending.out;  // Moonlight Embedded's name
  EXPECT_EQ(funkhausctl(*funkhausd_, "pair 12x4").exit_code, 2) << "checked before it is sent";
  const auto t0 = std::chrono::steady_clock::now();
  const Output entered = funkhausctl(*funkhausd_, "pair 4321");
  EXPECT_EQ(entered.exit_code, 0) << entered.out;
  ASSERT_TRUE(run->wait(60s).has_value()) << run->output();
  const double took_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(has(run->output(), "Succesfully paired")) << run->output();
  std::printf(
      "[figures] funkhausctl pair PIN -> moonlight printed \"Succesfully paired\" and exited: "
      "%.0f ms (funkhausctl -> funkhausd -> funkhaus-web -> Moonlight's remaining phases)\n",
      took_ms);

  std::string list = moonlight("list");
  EXPECT_TRUE(has(list, "Desktop")) << list;
  EXPECT_TRUE(has(list, "Steam Big Picture")) << list;
  const Output clients = funkhausctl(*funkhausd_, "clients");
  EXPECT_TRUE(has(clients.out, "roth")) << clients.out;
  const json clients_json =
      json::parse(funkhausctl(*funkhausd_, "clients --json").out, nullptr, false);
  ASSERT_TRUE(clients_json.contains("clients") && clients_json["clients"].size() == 1)
      << clients_json.dump();
  const std::string id = clients_json["clients"][0]["id"];
  EXPECT_TRUE(has(clients.out, id.substr(0, 16))) << clients.out;
  const json after_pair =
      json::parse(funkhausctl(*funkhausd_, "status --json").out, nullptr, false);
  EXPECT_EQ(after_pair["gamestream"]["paired_clients"], 1) << after_pair.dump();
  EXPECT_TRUE(has(funkhausctl(*funkhausd_, "status").out, "1 paired client(s)"));

  // kill -9 of funkhaus-web: funkhausd starts it again on the same sockets.
  const int old_pid = web()["pid"].get<int>();
  ASSERT_EQ(::kill(old_pid, SIGKILL), 0);
  ASSERT_TRUE(Funkhausd::waitFor(20s, [&] {
    const json w = web();
    return w.is_object() && w["state"] == "running" && w["pid"].is_number() &&
           w["pid"].get<int>() != old_pid;
  })) << funkhausd_->status().dump();
  EXPECT_EQ(web()["restarts"], 1);
  list = moonlight("list");
  EXPECT_TRUE(has(list, "Steam Big Picture")) << "after the kill: " << list;

  // funkhausd restarted: the pairing is in the state directory.
  funkhausd_.reset();
  ASSERT_NO_FATAL_FAILURE(startFunkhausd());
  list = moonlight("list");
  EXPECT_TRUE(has(list, "Steam Big Picture")) << "after funkhausd's restart: " << list;

  // Unpaired at the host: refused at once.
  const Output unpaired = funkhausctl(*funkhausd_, "unpair " + id.substr(0, 8));
  EXPECT_EQ(unpaired.exit_code, 0) << unpaired.out;
  EXPECT_TRUE(has(unpaired.out, "unpaired roth")) << unpaired.out;
  list = moonlight("list");
  EXPECT_TRUE(has(list, "You must pair with the PC first")) << list;
  EXPECT_FALSE(has(list, "Steam Big Picture")) << list;
  EXPECT_TRUE(has(funkhausctl(*funkhausd_, "clients").out, "no paired clients"));
  const Output again = funkhausctl(*funkhausd_, "unpair " + id.substr(0, 8));
  EXPECT_EQ(again.exit_code, 1) << again.out;

  // Without funkhaus-web: a clear error, not a hang.
  EXPECT_EQ(funkhausctl(*funkhausd_, "stop web").exit_code, 0);
  ASSERT_TRUE(Funkhausd::waitFor(10s, [&] { return webState() == "stopped"; }));
  const Output stopped = funkhausctl(*funkhausd_, "clients");
  EXPECT_EQ(stopped.exit_code, 1);
  EXPECT_TRUE(has(stopped.out, "funkhaus-web is not running (stopped)")) << stopped.out;
  EXPECT_TRUE(has(funkhausctl(*funkhausd_, "status").out, "funkhaus-web is stopped"));
}

// A client launches an app: funkhausd runs its command in the session (funkhaus-web asked over
// the channel), and the client's quit stops it.
TEST_F(GamestreamClientTest, LaunchRunsTheAppsCommandAndQuitStopsIt) {
  ASSERT_NO_FATAL_FAILURE(startFunkhausd({"capture", "encode", "net"}));
  ASSERT_TRUE(funkhausd_->waitAllRunning(20s)) << funkhausd_->status().dump();
  ASSERT_NO_FATAL_FAILURE(pair("2468"));
  auto stream = this->stream("Steam Big Picture", {});
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  std::string pid_line;
  ASSERT_TRUE(Funkhausd::waitFor(10s,
                                 [&] {
                                   std::ifstream in(dir_ / "app.pid");
                                   return static_cast<bool>(std::getline(in, pid_line)) &&
                                          !pid_line.empty();
                                 }))
      << stream->output() << "\n"
      << funkhausd_->log();
  const pid_t app = std::stoi(pid_line);
  EXPECT_EQ(::kill(app, 0), 0) << "the app runs";
  const json status = json::parse(funkhausctl(*funkhausd_, "status --json").out, nullptr, false);
  EXPECT_EQ(status["gamestream"]["app_process"], "Steam Big Picture") << status.dump();

  // End the client, then quit the app.
  if (!stream->wait(5s)) stream->process().stop(1s);
  const std::string quit = moonlight("quit");
  EXPECT_TRUE(Funkhausd::waitFor(10s, [&] { return ::kill(app, 0) != 0; }))
      << "quit stops the app\n"
      << quit << "\n"
      << funkhausd_->log();
}

// The black-box check: Moonlight streams Desktop at 1280x720@60 for 20 s, and a kill -9
// of encode, capture and net (4 s apart) never ends its stream: it is still running at the end
// and never printed a termination.
TEST_F(GamestreamClientTest, MoonlightStreamsThroughKillsOfEncodeCaptureAndNet) {
  funkhausd_.emplace(config() +
                         "[rings]\nmax_width = 1280\nmax_height = 720\n"
                         "[capture]\nwidth = 1280\nheight = 720\nfps = 60\n",
                     false, "user", true, std::vector<std::string>{"capture", "encode", "net"});
  ASSERT_TRUE(Funkhausd::waitFor(20s, [&] { return webState() == "running"; }));
  ASSERT_TRUE(funkhausd_->waitAllRunning(20s)) << funkhausd_->status().dump();
  ASSERT_NO_FATAL_FAILURE(pair("1357"));

  const auto t0 = std::chrono::steady_clock::now();
  auto run = stream(
      "Desktop", {"-width", "1280", "-height", "720", "-fps", "60", "-bitrate", "10000", "-debug"});
  ASSERT_TRUE(run.ok()) << run.error().message;
  ASSERT_TRUE(Funkhausd::waitFor(
      20s, [&] { return has(run->output(), "Received first video packet") || !run->running(); }));
  ASSERT_TRUE(run->running()) << run->output() << "\n" << funkhausd_->log();
  ASSERT_TRUE(has(run->output(), "Received first video packet")) << run->output();
  std::printf(
      "[figures] moonlight stream -> first video packet: %.0f ms\n",
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  std::this_thread::sleep_for(4s);
  for (const char* name : {"encode", "capture", "net"}) {
    const json w = funkhausd_->worker(name);
    ASSERT_TRUE(w.is_object() && w["pid"].is_number()) << funkhausd_->status().dump();
    const int pid = w["pid"].get<int>();
    ASSERT_EQ(::kill(pid, SIGKILL), 0) << name;
    std::this_thread::sleep_for(4s);
    EXPECT_TRUE(run->running()) << "after kill -9 of " << name << "\n" << run->output();
    const json again = funkhausd_->worker(name);
    EXPECT_TRUE(again.is_object() && again["pid"] != pid && again["state"] == "running")
        << name << " came back: " << again.dump();
  }
  std::this_thread::sleep_for(4s);
  const std::string out = run->output();
  EXPECT_TRUE(run->running()) << out;
  EXPECT_FALSE(has(out, "terminated")) << out;
  EXPECT_FALSE(has(out, "No video received")) << out;
  const json net = funkhausd_->worker("net");
  std::printf("[figures] after 3 kills: net %s\n", net.dump().c_str());
  run->process().stop(2s);
  moonlight("quit");
}

}  // namespace
}  // namespace funkhaus
