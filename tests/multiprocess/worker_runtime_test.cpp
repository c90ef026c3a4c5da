// The worker runtime with a real worker process (runtime_worker) and the test playing funkhausd
// through the one FakeSupervisor: hand-over, ready, events held until ready, commands, the
// heartbeat, stop by command and by signal, errors as exit codes, and standalone runs.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>

#include <thread>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/test/fake_supervisor.h"

namespace funkhaus::test {
namespace {

FakeSupervisor startWorker(std::vector<std::string> args = {}) {
  auto s = FakeSupervisor::start(
      {FUNKHAUS_RUNTIME_WORKER, std::move(args), abi::WorkerKind::kEncode, {}});
  if (!s) std::abort();
  return std::move(*s);
}

TEST(WorkerRuntime, HandOverReadyEventsCommandsAndStop) {
  auto w = startWorker();
  ASSERT_TRUE(w.connect({}).ok());
  EXPECT_EQ(abi::atomicLoad(w.status().pid), static_cast<uint32_t>(w.pid()));
  EXPECT_EQ(abi::atomicLoad(w.status().state), static_cast<uint32_t>(abi::WorkerState::kReady));
  // The event sent in start() came after ready, not before (the request after it is recorded
  // but unanswered here).
  w.drain();
  ASSERT_EQ(w.events().size(), 1u);
  EXPECT_EQ(w.events()[0].event, static_cast<uint32_t>(abi::Event::kModeChanged));
  EXPECT_EQ(w.events()[0].arg, 42u);
  // Commands reach the stage; the heartbeat and the stage's counters move.
  const uint64_t beat = abi::atomicLoad(w.status().heartbeat);
  ASSERT_TRUE(w.send(abi::Command::kKeyframe, 7).ok());
  auto echoed = w.receive(2s);
  ASSERT_TRUE(echoed && std::holds_alternative<EventMessage>(*echoed));
  EXPECT_EQ(std::get<EventMessage>(*echoed).body.arg, 7u);
  EXPECT_GT(abi::atomicLoad(w.status().heartbeat), beat);
  EXPECT_GT(abi::atomicLoad(w.status().frames_out), 0u);
  auto exit = w.stop();
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(*exit, (ExitStatus{false, abi::kExitStopped}));
  EXPECT_EQ(abi::atomicLoad(w.status().state), static_cast<uint32_t>(abi::WorkerState::kStopping));
  EXPECT_NE(w.log().find("stopped after"), std::string::npos) << "stop() ran";
}

TEST(WorkerRuntime, RequestsGoBothWaysAndTheEarlyOneWaitsForReady) {
  auto w = startWorker();
  ASSERT_TRUE(w.handOver({}).ok());
  // First the ready, then the event and the request made in start().
  auto first = w.receive(5s);
  ASSERT_TRUE(first && std::holds_alternative<ReadyMessage>(*first));
  auto event = w.receive(2s);
  ASSERT_TRUE(event && std::holds_alternative<EventMessage>(*event));
  auto early = w.receive(2s);
  ASSERT_TRUE(early && std::holds_alternative<RequestMessage>(*early));
  const auto& request = std::get<RequestMessage>(*early);
  EXPECT_EQ(request.text, R"({"cmd":"early"})");
  // Our reply reaches the handler that waits for it (which reports its length).
  ASSERT_TRUE(sendMessage(w.channel(), ReplyMessage{request.id, "12345"}).ok());
  auto reported = w.receive(2s);
  ASSERT_TRUE(reported && std::holds_alternative<EventMessage>(*reported));
  EXPECT_EQ(std::get<EventMessage>(*reported).body.arg, 5u);
  // A request of ours gets its answer with our id.
  ASSERT_TRUE(sendMessage(w.channel(), RequestMessage{77, R"({"cmd":"x"})"}).ok());
  auto answer = w.receive(2s);
  ASSERT_TRUE(answer && std::holds_alternative<ReplyMessage>(*answer));
  EXPECT_EQ(std::get<ReplyMessage>(*answer).id, 77u);
  EXPECT_EQ(std::get<ReplyMessage>(*answer).text, R"({"echo":{"cmd":"x"}})");
  // A request the worker makes later, and a reply nobody waits for (logged, not fatal).
  ASSERT_TRUE(w.send(abi::Command::kSetBitrate, 9).ok());
  auto asked = w.receive(2s);
  ASSERT_TRUE(asked && std::holds_alternative<RequestMessage>(*asked));
  EXPECT_EQ(std::get<RequestMessage>(*asked).text, R"({"cmd":"ask","n":9})");
  ASSERT_TRUE(sendMessage(w.channel(), ReplyMessage{999, "{}"}).ok());
  ASSERT_TRUE(
      sendMessage(w.channel(), ReplyMessage{std::get<RequestMessage>(*asked).id, "{}"}).ok());
  auto done = w.receive(2s);
  ASSERT_TRUE(done && std::holds_alternative<EventMessage>(*done));
  EXPECT_EQ(std::get<EventMessage>(*done).body.arg, 2u);
  EXPECT_EQ(w.stop(), (std::optional<ExitStatus>{ExitStatus{false, abi::kExitStopped}}));
  EXPECT_NE(w.log().find("nobody waits for"), std::string::npos);
}

TEST(WorkerRuntime, SigtermAndSigintStopItCleanly) {
  for (int sig : {SIGTERM, SIGINT}) {
    auto w = startWorker();
    ASSERT_TRUE(w.connect({}).ok());
    w.process().signal(sig);
    auto exit = w.waitExit(2s);
    ASSERT_TRUE(exit.has_value()) << sig;
    EXPECT_EQ(*exit, (ExitStatus{false, abi::kExitStopped})) << sig;
  }
}

TEST(WorkerRuntime, StageErrorsBecomeTheirExitCodes) {
  struct Case {
    std::vector<std::string> args;
    int code;
    bool ready;
  };
  const Case cases[] = {{{"--fail-start", "bad-config"}, abi::kExitBadConfig, false},
                        {{"--fail-start", "attach"}, abi::kExitAttachFailed, false},
                        {{"--fail-step", "failure"}, abi::kExitFailure, true}};
  for (const Case& c : cases) {
    auto w = startWorker(c.args);
    ASSERT_TRUE(w.handOver({}).ok());
    EXPECT_EQ(w.waitReady(2s).ok(), c.ready) << c.args[1];
    auto exit = w.waitExit(5s);
    ASSERT_TRUE(exit.has_value());
    EXPECT_EQ(*exit, (ExitStatus{false, c.code})) << c.args[1];
    EXPECT_EQ(abi::atomicLoad(w.status().state), static_cast<uint32_t>(abi::WorkerState::kFailed));
  }
}

TEST(WorkerRuntime, AChannelThatBreaksEndsTheWorkerAsPeerLost) {
  auto w = startWorker();
  ASSERT_TRUE(w.connect({}).ok());
  ::shutdown(w.channel(), SHUT_RDWR);
  auto exit = w.waitExit(2s);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(*exit, (ExitStatus{false, abi::kExitPeerLost}));
}

TEST(WorkerRuntime, NoHandOverInTimeIsPeerLost) {
  auto w = startWorker();
  auto hello = w.receive(2s);
  ASSERT_TRUE(hello && std::holds_alternative<HelloMessage>(*hello));
  auto exit = w.waitExit(10s);  // the runtime waits 5 s for the ring fds
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(*exit, (ExitStatus{false, abi::kExitPeerLost}));
}

TEST(WorkerRuntime, WithoutAChannelItRefusesUnlessStandaloneIsAllowed) {
  ChildSpec spec;
  spec.program = FUNKHAUS_RUNTIME_WORKER;
  spec.drop_privileges = false;
  auto plain = ChildProcess::spawn(spec);
  ASSERT_TRUE(plain.ok());
  auto refused = plain->wait(5s);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(*refused, (ExitStatus{false, abi::kExitBadConfig}));
  spec.args = {"--standalone"};
  auto standalone = ChildProcess::spawn(spec);
  ASSERT_TRUE(standalone.ok());
  EXPECT_FALSE(standalone->wait(300ms).has_value()) << "runs without funkhausd";
  EXPECT_EQ(standalone->stop(2s), (ExitStatus{false, abi::kExitStopped}));
}

}  // namespace
}  // namespace funkhaus::test
