// WindowsHost (funkhausd.exe's body) with a fake console-session source, in this process under
// Wine, with the real workers beside this program: what a session change means (sessionMove),
// nobody at the console (the service runs, no worker), a log-on (the workers start), another
// session (they move), nobody again (they stop), a worker that keeps crashing (funkhausd exits
// non-zero for the service manager to restart it), and Linux's ffmpeg playing its RTSP stream
// (TCP and UDP) with every frame's barcode readable, before and after net is killed.
#include <utility>
// Asio before windows.h.
#include <boost/asio.hpp>
// Then windows.h.
#include <windows.h>

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "child_process.h"
#include "ffmpeg_client.h"
#include "funkhaus/platform/handle.h"
#include "funkhaus/supervisor/control_client.h"
#include "funkhaus/supervisor/windows_host.h"

namespace funkhaus::supervisor {
namespace {

using namespace std::chrono_literals;
using platform::UniqueHandle;
using test::waitFor;

constexpr uint32_t kConsoleConnect = 1, kConsoleDisconnect = 2, kSessionLogon = 5, kSessionLock = 7;

const ConsoleSession kAlice{1, "alice"}, kBob{2, "bob"};

TEST(SessionMove, StaysMovesOrStopsAsTheConsoleSays) {
  EXPECT_EQ(sessionMove(std::nullopt, std::nullopt, kConsoleConnect), SessionMove::kStay);
  EXPECT_EQ(sessionMove(std::nullopt, kAlice, kSessionLogon), SessionMove::kMove);
  EXPECT_EQ(sessionMove(std::nullopt, kAlice, kConsoleConnect), SessionMove::kMove);
  EXPECT_EQ(sessionMove(kAlice, kAlice, kSessionLock), SessionMove::kStay);
  EXPECT_EQ(sessionMove(kAlice, kAlice, kConsoleConnect), SessionMove::kStay);
  EXPECT_EQ(sessionMove(kAlice, kAlice, kSessionLogon), SessionMove::kMove) << "a new log-on";
  EXPECT_EQ(sessionMove(kAlice, kBob, kConsoleConnect), SessionMove::kMove);
  EXPECT_EQ(sessionMove(kAlice, ConsoleSession{1, "bob"}, kConsoleConnect), SessionMove::kMove)
      << "another user in the same session";
  EXPECT_EQ(sessionMove(kAlice, std::nullopt, kConsoleDisconnect), SessionMove::kStop);
}

class FakeSessions final : public ConsoleSessionSource {
 public:
  std::optional<ConsoleSession> current() override {
    std::lock_guard lock(mutex_);
    return now_;
  }
  void set(std::optional<ConsoleSession> now) {
    std::lock_guard lock(mutex_);
    now_ = std::move(now);
  }

 private:
  std::mutex mutex_;
  std::optional<ConsoleSession> now_;
};

class FakeNotifier final : public ServiceNotifier {
 public:
  void ready() override { ++readies; }
  void status(const std::string&) override {}
  bool watchdogEnabled() const override { return false; }
  void watchdog() override {}
  void stopping() override { ++stoppings; }
  std::atomic<int> readies{0}, stoppings{0};
};

std::string binDirectory() {
  const std::string self = test::selfProgram();
  return self.substr(0, self.find_last_of('\\'));
}

// A WindowsHost run on its own thread, as the service runs it.
struct Host {
  explicit Host(const std::string& worker_dir, std::optional<ConsoleSession> first) {
    options.worker_dir = worker_dir;
    options.width = 320;
    options.height = 180;
    options.fps = 30;
    options.session_user = false;  // the workers run as this test's user
    options.net.bind = "127.0.0.1";
    options.net.port = 0;  // any free port (status says which)
    options.control_pipe = test::uniqueToken("host-test");
    options.control_pipe = "\\\\.\\pipe\\" + options.control_pipe;
    auto fake = std::make_unique<FakeSessions>();
    sessions = fake.get();
    sessions->set(std::move(first));
    auto made = WindowsHost::create(options, std::move(fake));
    EXPECT_TRUE(made) << (made ? "" : made.error().message);
    host = std::move(*made);
    thread = std::thread([this] { exit_code = host->run(io, notifier); });
  }
  ~Host() {
    if (thread.joinable()) {
      control(ServiceControl::kStop, 0);
      thread.join();
    }
  }
  void control(ServiceControl what, uint32_t event) {
    boost::asio::post(io, [this, what, event] { host->onControl(what, event); });
  }
  nlohmann::json status() {
    auto reply = callControl(options.control_pipe, R"({"cmd":"status"})");
    if (!reply) return {{"error", reply.error().message}};
    return nlohmann::json::parse(*reply);
  }
  // The session funkhausctl status shows: its id ("" for none) and its workers' name -> pid
  // (0: not running).
  std::pair<std::string, std::map<std::string, int64_t>> shown() {
    const auto status = this->status();
    if (status.contains("error")) return {"error: " + status["error"].get<std::string>(), {}};
    if (status["sessions"].empty()) return {"", {}};
    const auto& session = status["sessions"][0];
    std::map<std::string, int64_t> workers;
    for (const auto& w : session["workers"])
      workers[w["name"]] =
          w["state"] == "running" && !w["pid"].is_null() ? w["pid"].get<int64_t>() : 0;
    return {session["id"], workers};
  }
  bool runningIn(const std::string& id) {
    const auto [session, workers] = shown();
    return session == id && workers.size() == 3 &&
           std::all_of(workers.begin(), workers.end(), [](const auto& w) { return w.second != 0; });
  }

  WindowsHostOptions options;
  FakeSessions* sessions = nullptr;
  FakeNotifier notifier;
  boost::asio::io_context io;
  std::unique_ptr<WindowsHost> host;
  std::thread thread;
  std::atomic<int> exit_code{-1};
};

size_t workersOfThisProcess() {
  const auto children = test::childrenOf(GetCurrentProcessId());
  return children.count("funkhaus-capture.exe") + children.count("funkhaus-encode.exe") +
         children.count("funkhaus-net.exe");
}

TEST(WindowsHost, WaitsForALogOnMovesWithTheConsoleAndStopsWhenNobodyIsThere) {
  Host h(binDirectory(), std::nullopt);
  ASSERT_TRUE(waitFor([&] { return h.notifier.readies == 1; })) << "RUNNING without workers";
  EXPECT_EQ(h.shown().first, "") << "no session";
  EXPECT_EQ(workersOfThisProcess(), 0u);

  h.sessions->set(kAlice);
  h.control(ServiceControl::kSessionChange, kSessionLogon);
  ASSERT_TRUE(waitFor([&] { return h.runningIn("1"); })) << "they start at the log-on";
  const auto first = h.shown().second;
  EXPECT_EQ(workersOfThisProcess(), 3u);

  h.sessions->set(kBob);
  h.control(ServiceControl::kSessionChange, kConsoleConnect);
  ASSERT_TRUE(waitFor([&] {
    const auto [session, workers] = h.shown();
    return h.runningIn("2") && workers.at("capture") != first.at("capture") &&
           workers.at("encode") != first.at("encode") && workers.at("net") != first.at("net");
  })) << "they move to bob's session";

  h.sessions->set(std::nullopt);
  h.control(ServiceControl::kSessionChange, kConsoleDisconnect);
  ASSERT_TRUE(waitFor([&] { return h.shown().first.empty() && workersOfThisProcess() == 0; }))
      << "they stop when nobody is at the console";
  EXPECT_EQ(h.notifier.readies, 1);

  h.control(ServiceControl::kStop, 0);
  h.thread.join();
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_EQ(h.notifier.stoppings, 1);
}

TEST(WindowsHost, AWorkerThatKeepsCrashingEndsFunkhausdWithAFailure) {
  Host h(binDirectory(), kAlice);
  // RUNNING is reported on the tick after the last worker is ready.
  ASSERT_TRUE(waitFor([&] { return h.runningIn("1") && h.notifier.readies == 1; }));
  // Crash the capture worker each time it is back (TerminateProcess, exit code 1: transient),
  // faster than the restart policy forgives: funkhausd escalates and exits 1.
  int crashes = 0;
  DWORD last = 0;
  const bool ended = waitFor([&] {
    if (h.exit_code != -1) return true;
    const auto children = test::childrenOf(GetCurrentProcessId());
    const auto it = children.find("funkhaus-capture.exe");
    if (it == children.end() || it->second == last) return false;
    UniqueHandle process(OpenProcess(PROCESS_TERMINATE, FALSE, it->second));
    if (process.valid() && TerminateProcess(process.get(), 1)) {
      last = it->second;
      ++crashes;
    }
    return false;
  });
  ASSERT_TRUE(ended) << "funkhausd still runs after " << crashes << " crashes";
  h.thread.join();
  EXPECT_EQ(h.exit_code, 1);
  EXPECT_GE(crashes, 6) << "more than max_restarts (5) within the window";
  EXPECT_EQ(h.notifier.stoppings, 1);
  EXPECT_TRUE(waitFor([&] { return workersOfThisProcess() == 0; }, 10s)) << "no worker left";
}

TEST(WindowsHost, LinuxFfmpegPlaysItsRtspStreamOverTcpAndUdp) {
  Host h(binDirectory(), kAlice);
  ASSERT_TRUE(waitFor([&] { return h.runningIn("1"); })) << h.status().dump();
  const auto status = h.status();
  ASSERT_TRUE(status.contains("net")) << status.dump();
  const auto port = status["net"]["rtsp_port"].get<uint16_t>();
  ASSERT_NE(port, 0);
  for (const char* transport : {"tcp", "udp"}) {
    const auto start = std::chrono::steady_clock::now();
    const auto numbers =
        test::playWithFfmpeg(port, transport, 30, h.options.width, h.options.height);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    ASSERT_EQ(numbers.size(), 30u) << transport;
    for (size_t i = 1; i < numbers.size(); ++i)
      EXPECT_GT(numbers[i], numbers[i - 1]) << transport << ": frames in order, none twice";
    std::printf(
        "[figures] ffmpeg over %s: 30 frames, barcodes %llu..%llu, %.0f ms from its start\n",
        transport, static_cast<unsigned long long>(numbers.front()),
        static_cast<unsigned long long>(numbers.back()), ms);
  }
  // A net killed as a crash kills it: the next one serves the same port (funkhausd keeps it).
  const int64_t net = h.shown().second.at("net");
  UniqueHandle victim(OpenProcess(PROCESS_TERMINATE, FALSE, static_cast<DWORD>(net)));
  ASSERT_TRUE(victim.valid());
  ASSERT_TRUE(TerminateProcess(victim.get(), 1));
  ASSERT_TRUE(waitFor([&] {
    const auto workers = h.shown().second;
    return h.runningIn("1") && workers.at("net") != net;
  })) << h.status().dump();
  EXPECT_EQ(test::playWithFfmpeg(port, "tcp", 10, h.options.width, h.options.height).size(), 10u)
      << "the restarted net serves the port it was handed";
}

}  // namespace
}  // namespace funkhaus::supervisor
