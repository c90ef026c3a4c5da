// The Linux process launcher with real processes (/bin/sh with the channel as its fd 3): how it
// tells a worker's hang-up (closed, or reset with our messages unread) from a malformed message,
// and that the exit after a hang-up is still reaped with its own status.
#include <signal.h>

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "funkhaus/supervisor/process_launcher.h"

namespace funkhaus::supervisor {
namespace {

using namespace std::chrono_literals;

struct Recorder final : ProcessEvents {
  void onMessage(Message) override { ++messages; }
  void onBadMessage(const std::string& why) override {
    bad.push_back(why);
    events.push_back("bad");
  }
  void onHangUp() override {
    ++hang_ups;
    events.push_back("hang-up");
  }
  void onOutputLine(const std::string&) override {}
  void onExit(uint32_t, const ExitStatus& status) override {
    exit = status;
    events.push_back("exit");
  }

  int messages = 0, hang_ups = 0;
  std::vector<std::string> bad, events;
  std::optional<ExitStatus> exit;
};

class Launcher : public ::testing::Test {
 protected:
  std::unique_ptr<LaunchedProcess> launchShell(const std::string& script) {
    LaunchSpec spec;
    spec.path = "/bin/sh";
    spec.args = {"-c", script};
    spec.environment = {{"PATH", "/usr/bin:/bin"}};
    auto launched = launcher_->launch(spec, events_);
    if (!launched) ADD_FAILURE() << launched.error().message;
    return launched ? std::move(*launched) : nullptr;
  }
  // Runs the event loop until `done` or 5 s.
  template <class Pred>
  bool runUntil(Pred done) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!done() && std::chrono::steady_clock::now() < deadline) io_.run_one_for(50ms);
    return done();
  }

  boost::asio::io_context io_;
  std::unique_ptr<ProcessLauncher> launcher_ = ProcessLauncher::createPlatform(io_);
  Recorder events_;
};

TEST_F(Launcher, AClosedChannelIsAHangUpAndTheExitFollowsWithItsOwnCode) {
  auto p = launchShell("exec 3>&-; sleep 0.2; exit 5");
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(runUntil([&] { return events_.exit.has_value(); }));
  EXPECT_TRUE(events_.bad.empty()) << events_.bad.front();
  EXPECT_EQ(events_.events, (std::vector<std::string>{"hang-up", "exit"}));
  EXPECT_FALSE(events_.exit->signaled);
  EXPECT_EQ(events_.exit->code, 5);
}

// No time between the hang-up and the exit: both descriptors are ready in the same loop pass,
// and the hang-up still comes first.
TEST_F(Launcher, AWorkerThatExitsAtOnceHangsUpBeforeItsExit) {
  auto p = launchShell("exit 7");
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(runUntil([&] { return events_.exit.has_value(); }));
  EXPECT_TRUE(events_.bad.empty()) << events_.bad.front();
  EXPECT_EQ(events_.events, (std::vector<std::string>{"hang-up", "exit"}));
  EXPECT_EQ(events_.exit->code, 7);
}

// What an orderly stop did before: the worker closes with our stop command unread, and the read
// fails with ECONNRESET, which was reported as a malformed message.
TEST_F(Launcher, AResetChannelIsAHangUpNotAMalformedMessage) {
  auto p = launchShell("sleep 0.2; exec 3>&-; sleep 0.2; exit 6");
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(p->send(CommandMessage{{static_cast<uint32_t>(abi::Command::kStop), 0, 0}}).ok());
  ASSERT_TRUE(runUntil([&] { return events_.exit.has_value(); }));
  EXPECT_TRUE(events_.bad.empty()) << events_.bad.front();
  EXPECT_EQ(events_.events, (std::vector<std::string>{"hang-up", "exit"}));
  EXPECT_FALSE(events_.exit->signaled);
  EXPECT_EQ(events_.exit->code, 6);
}

TEST_F(Launcher, GarbageOnTheChannelIsAMalformedMessage) {
  auto p = launchShell("printf garbage >&3; exec sleep 10");
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(runUntil([&] { return !events_.bad.empty(); }));
  EXPECT_NE(events_.bad.front().find("shorter than its header"), std::string::npos)
      << events_.bad.front();
  EXPECT_EQ(events_.hang_ups, 0);
  p->kill();  // what WorkerProcess does with a malformed message
  ASSERT_TRUE(runUntil([&] { return events_.exit.has_value(); }));
  EXPECT_TRUE(events_.exit->signaled);
  EXPECT_EQ(events_.exit->code, SIGKILL);
  EXPECT_EQ(events_.events, (std::vector<std::string>{"bad", "exit"}));
}

// How both launchers cut a worker's output into lines.
TEST(OutputLines, CutsAtNewlinesDropsTheCarriageReturnOfCrLfAndCutsLongLines) {
  OutputLines lines;
  std::vector<std::string> seen;
  auto keep = [&](const std::string& line) {
    seen.push_back(line);
    return true;
  };
  const std::string text = "one\ntwo\r\nthr";
  EXPECT_TRUE(lines.feed(text.data(), text.size(), keep));
  EXPECT_EQ(seen, (std::vector<std::string>{"one", "two"})) << "a partial line waits";
  const std::string rest = "ee\r still\n";
  EXPECT_TRUE(lines.feed(rest.data(), rest.size(), keep));
  EXPECT_EQ(seen.back(), "three\r still") << "only a \\r right before \\n goes";
  seen.clear();
  const std::string long_line(OutputLines::kMaxLine + 10, 'x');
  EXPECT_TRUE(lines.feed((long_line + "\n").data(), long_line.size() + 1, keep));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].size(), OutputLines::kMaxLine);
  EXPECT_EQ(seen[1].size(), 10u);
}

TEST(OutputLines, StopsWhenTheReceiverSaysSo) {
  OutputLines lines;
  int calls = 0;
  const std::string text = "a\nb\nc\n";
  EXPECT_FALSE(lines.feed(text.data(), text.size(), [&](const std::string&) {
    ++calls;
    return false;
  }));
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace funkhaus::supervisor
