// The supervisor's logic on fakes: a fake launcher (processes that say hello, get ready, beat
// and exit when the test says so), a fake session source, a fake clock and a recording service
// notifier. Session switch, escalation, heartbeat kill, backoff, shutdown: no root, no sleeps.
#include "funkhaus/supervisor/session_machine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/abi/message.h"
#include "funkhaus/supervisor/event_router.h"

namespace funkhaus::supervisor {
namespace {

using namespace std::chrono_literals;

struct FakeProcess;

// Everything the fake launcher started, in order; a process stays listed after it exits.
struct Launches {
  std::vector<FakeProcess*> all;
  uint32_t next_id = 1000;
};

struct FakeProcess final : LaunchedProcess {
  FakeProcess(uint32_t pid, LaunchSpec s, ProcessEvents& e, Launches& l)
      : pid_(pid), spec(std::move(s)), events(&e), launches(&l) {}
  ~FakeProcess() override {
    for (auto*& p : launches->all)
      if (p == this) p = nullptr;  // gone with its owner
  }
  uint32_t id() const override { return pid_; }
  Result<void> send(const Message& m) override {
    if (std::holds_alternative<RingFdsMessage>(m)) ++hand_overs;
    if (auto* c = std::get_if<CommandMessage>(&m)) commands.push_back(c->body.command);
    if (auto* r = std::get_if<ReplyMessage>(&m)) replies.push_back(r->text);
    return {};
  }
  void terminate() override { ++terminates; }
  void kill() override { ++kills; }

  uint32_t pid_;
  LaunchSpec spec;
  ProcessEvents* events;
  Launches* launches;
  int terminates = 0, kills = 0, hand_overs = 0;
  std::vector<std::string> replies;
  std::vector<uint32_t> commands;
};

class FakeLauncher final : public ProcessLauncher {
 public:
  Result<std::unique_ptr<LaunchedProcess>> launch(const LaunchSpec& spec,
                                                  ProcessEvents& events) override {
    auto p = std::make_unique<FakeProcess>(launches.next_id++, spec, events, launches);
    launches.all.push_back(p.get());
    return std::unique_ptr<LaunchedProcess>(std::move(p));
  }
  Launches launches;
};

struct RecordingNotifier final : ServiceNotifier {
  void ready() override { ++readies; }
  void status(const std::string& text) override { statuses.push_back(text); }
  bool watchdogEnabled() const override { return false; }
  void watchdog() override {}
  void stopping() override {}
  int readies = 0;
  std::vector<std::string> statuses;
};

struct FakeSessions final : SessionSource {
  Result<std::optional<SessionInfo>> current() override { return now; }
  std::optional<SessionInfo> now;
};

struct RecordingHooks final : SessionMachine::Hooks {
  Result<void> openPlan(const SessionInfo& session) override {
    ++plans;
    plan_users.push_back(session.user);
    return {};
  }
  void setEnding() override { ++endings; }
  void closePlan() override { ++closed_plans; }
  Result<LaunchSpec> prepareLaunch(WorkerProcess& w, const SessionInfo& session) override {
    LaunchSpec s;
    s.path = std::string(w.spec().binary);
    s.environment = session.environment;
    s.environment["PLAN"] = std::to_string(plans);
    return s;
  }
  bool startsLater(WorkerProcess& w) override { return later.contains(w.name()); }
  std::vector<HandedFd> handOver(WorkerProcess&) override { return {}; }
  void onReady(WorkerProcess& w) override { ready.push_back(w.name()); }
  void onEvent(WorkerProcess& w, const abi::EventBody& e) override {
    events.push_back({w.name(), e.event});
  }
  Result<void> onConnection(WorkerProcess&, Message&) override { return {}; }
  void onRequest(WorkerProcess& w, uint32_t id, const std::string& text) override {
    requests.push_back({w.name(), text});
    (void)w.reply(id, R"({"ok":true})");
  }
  void onReaped(WorkerProcess& w, uint32_t pid) override { reaped.push_back({w.name(), pid}); }
  void finished(int code) override { exit_code = code; }

  int plans = 0, closed_plans = 0, endings = 0;
  std::vector<std::string> plan_users, ready;
  std::vector<std::pair<std::string, uint32_t>> events, reaped;
  std::vector<std::pair<std::string, std::string>> requests;
  std::optional<int> exit_code;
  std::set<std::string> later;  // startsLater() says so for these
};

SessionInfo session(const std::string& id, const std::string& user, uid_t uid) {
  SessionInfo s;
  s.id = id;
  s.user = user;
  s.uid = uid;
  s.type = "x11";
  s.klass = "user";
  s.environment = {{"USER", user}};
  return s;
}

constexpr ExitStatus kKilled{true, SIGKILL};
constexpr ExitStatus kStopped{false, 0};
constexpr ExitStatus kCrash{false, abi::kExitFailure};

class Machine : public ::testing::Test {
 protected:
  Machine() {
    config_.workers = {"capture", "encode", "net"};
    config_.restart.initial_backoff = 100ms;
    config_.restart.max_backoff = 1s;
    config_.restart.max_restarts = 100;
    config_.restart.window = 30s;
    config_.restart.max_session_restarts = 1;
    config_.heartbeat_timeout = 500ms;
    config_.stop_grace = 1s;
    config_.console.enabled = false;  // the host set here: funkhaus-web alone
  }

  SessionMachine& machine() {
    if (!machine_)
      machine_ = std::make_unique<SessionMachine>(config_, launcher_, clock_, notifier_, hooks_);
    return *machine_;
  }
  std::vector<FakeProcess*>& launched() { return launcher_.launches.all; }
  // The live process of worker `name` (the last one launched for it).
  FakeProcess* process(const std::string& name) {
    WorkerProcess* w = machine().find(name);
    if (w == nullptr || !w->pid()) return nullptr;
    for (FakeProcess* p : launched())
      if (p != nullptr && p->pid_ == *w->pid()) return p;
    return nullptr;
  }
  std::vector<std::string> launchedPaths(size_t from = 0) {
    std::vector<std::string> out;
    for (size_t i = from; i < launched().size(); ++i)
      if (launched()[i] != nullptr) out.push_back(launched()[i]->spec.path);
    return out;
  }
  static void bringUp(FakeProcess* p, abi::WorkerKind kind) {
    ASSERT_NE(p, nullptr);
    p->events->onMessage(HelloMessage{{abi::kAbiVersion, static_cast<uint32_t>(kind), 0, 0}});
    p->events->onMessage(ReadyMessage{});
  }
  void bringUpAll() {
    bringUp(process("capture"), abi::WorkerKind::kCapture);
    bringUp(process("encode"), abi::WorkerKind::kEncode);
    bringUp(process("net"), abi::WorkerKind::kNet);
  }
  static void exitWith(FakeProcess* p, ExitStatus status) {
    ASSERT_NE(p, nullptr);
    p->events->onExit(p->pid_, status);
  }
  void beat(const std::string& name) {
    const abi::WorkerStatusPage* page = machine().find(name)->statusPage();
    abi::atomicRef(const_cast<abi::WorkerStatusPage*>(page)->heartbeat).fetch_add(1);
  }

  Config config_;
  FakeClock clock_;
  FakeLauncher launcher_;
  RecordingNotifier notifier_;
  RecordingHooks hooks_;
  std::unique_ptr<SessionMachine> machine_;
};

TEST_F(Machine, StartsTheSetInStartOrderAndIsReadyWhenEveryWorkerIs) {
  machine().switchTo(session("1", "alice", 1001));
  EXPECT_EQ(machine().state(), SessionMachine::State::kRunning);
  EXPECT_EQ(launchedPaths(),
            (std::vector<std::string>{"funkhaus-capture", "funkhaus-encode", "funkhaus-net"}));
  EXPECT_EQ(hooks_.plans, 1);
  EXPECT_EQ(launched()[0]->spec.environment.at("USER"), "alice");
  bringUp(process("capture"), abi::WorkerKind::kCapture);
  bringUp(process("encode"), abi::WorkerKind::kEncode);
  EXPECT_EQ(notifier_.readies, 0) << "not ready while net is starting";
  EXPECT_EQ(notifier_.statuses.back(), "degraded: net starting");
  bringUp(process("net"), abi::WorkerKind::kNet);
  EXPECT_EQ(notifier_.readies, 1);
  EXPECT_EQ(notifier_.statuses.back(), "3 workers running");
  EXPECT_EQ(process("encode")->hand_overs, 1) << "the status page at least, after hello";
}

// A worker that waits for something the set makes (funkhaus-input for its virtual monitor) is
// not started with the set; READY waits for it; whoever it waits for starts it.
TEST_F(Machine, AWorkerThatStartsLaterIsLeftForItsHookToStart) {
  hooks_.later = {"net"};
  machine().switchTo(session("1", "alice", 1001));
  EXPECT_EQ(launchedPaths(), (std::vector<std::string>{"funkhaus-capture", "funkhaus-encode"}));
  bringUp(process("capture"), abi::WorkerKind::kCapture);
  bringUp(process("encode"), abi::WorkerKind::kEncode);
  EXPECT_EQ(notifier_.readies, 0);
  machine().find("net")->start();  // what the supervisor does once the monitor is there
  bringUp(process("net"), abi::WorkerKind::kNet);
  EXPECT_EQ(notifier_.readies, 1);
}

TEST_F(Machine, WithoutASessionItIsReadyAndWaits) {
  machine().switchTo(std::nullopt);
  EXPECT_EQ(machine().state(), SessionMachine::State::kNoSession);
  EXPECT_TRUE(launched().empty());
  EXPECT_EQ(notifier_.readies, 1);
  EXPECT_EQ(notifier_.statuses.back(), "waiting for a session");
}

TEST_F(Machine, HelloOfAnotherKindOrReadyBeforeHelloIsKilled) {
  machine().switchTo(session("1", "alice", 1001));
  FakeProcess* capture = process("capture");
  capture->events->onMessage(
      HelloMessage{{abi::kAbiVersion, static_cast<uint32_t>(abi::WorkerKind::kNet), 0, 0}});
  EXPECT_EQ(capture->kills, 1);
  FakeProcess* encode = process("encode");
  encode->events->onMessage(ReadyMessage{});
  EXPECT_EQ(encode->kills, 1);
  FakeProcess* net = process("net");
  net->events->onMessage(
      HelloMessage{{abi::kAbiVersion + 1, static_cast<uint32_t>(abi::WorkerKind::kNet), 0, 0}});
  EXPECT_EQ(net->kills, 1);
  exitWith(net, kKilled);
  EXPECT_EQ(machine().find("net")->state(), WorkerState::kFailed) << "another ABI: not retried";
}

TEST_F(Machine, SessionSwitchStopsTheOldSetInReverseOrderThenStartsTheNewUsersSet) {
  FakeSessions sessions;
  sessions.now = session("1", "alice", 1001);
  machine().refresh(sessions, "test");
  bringUpAll();
  machine().refresh(sessions, "test");
  EXPECT_EQ(launched().size(), 3u) << "the same session: nothing moves";

  sessions.now = session("2", "bob", 1002);
  machine().refresh(sessions, "test");
  EXPECT_EQ(machine().state(), SessionMachine::State::kSwitching);
  EXPECT_EQ(hooks_.endings, 1) << "the monitor goes before the workers";
  for (const char* name : {"capture", "encode", "net"}) {
    EXPECT_EQ(process(name)->terminates, 1) << name;
    EXPECT_EQ(process(name)->commands, (std::vector<uint32_t>{1})) << name << ": kStop first";
  }
  EXPECT_EQ(launched().size(), 3u) << "nothing new while the old set runs";
  // They go in reverse start order (net first); nothing starts until the last is gone.
  exitWith(process("net"), kStopped);
  exitWith(process("encode"), kStopped);
  EXPECT_EQ(launched().size(), 3u);
  exitWith(process("capture"), kStopped);
  EXPECT_EQ(hooks_.closed_plans, 1);
  EXPECT_EQ(hooks_.plans, 2) << "a fresh plan for the new session";
  EXPECT_EQ(hooks_.plan_users.back(), "bob");
  EXPECT_EQ(machine().session().user, "bob");
  EXPECT_EQ(launchedPaths(3),
            (std::vector<std::string>{"funkhaus-capture", "funkhaus-encode", "funkhaus-net"}));
  EXPECT_EQ(process("capture")->spec.environment.at("USER"), "bob");
  EXPECT_EQ(machine().find("capture")->restarts(), 0) << "a new session's workers start afresh";
}

TEST_F(Machine, ASwitchWhileSwitchingGoesToTheNewestSessionOnly) {
  machine().switchTo(session("1", "alice", 1001));
  bringUpAll();
  machine().switchTo(session("2", "bob", 1002));
  machine().switchTo(std::nullopt);
  machine().switchTo(session("3", "carol", 1003));
  for (const char* name : {"net", "encode", "capture"}) exitWith(process(name), kStopped);
  EXPECT_EQ(hooks_.plans, 2);
  EXPECT_EQ(hooks_.plan_users, (std::vector<std::string>{"alice", "carol"}));
  EXPECT_EQ(launched().size(), 6u);
}

TEST_F(Machine, AWorkerThatIgnoresTheStopIsKilledAfterTheGracePeriod) {
  machine().switchTo(session("1", "alice", 1001));
  bringUpAll();
  machine().switchTo(std::nullopt);
  clock_.advance(999ms);
  machine().tick();
  EXPECT_EQ(process("capture")->kills, 0);
  clock_.advance(2ms);
  machine().tick();
  for (const char* name : {"capture", "encode", "net"}) EXPECT_EQ(process(name)->kills, 1);
  for (const char* name : {"net", "encode", "capture"}) exitWith(process(name), kKilled);
  EXPECT_EQ(machine().state(), SessionMachine::State::kNoSession);
  EXPECT_TRUE(machine().workers().empty());
  EXPECT_EQ(notifier_.statuses.back(), "waiting for a session");
}

// Every worker's exit closes its channel, with our stop command unread if SIGTERM came first
// (a reset): a hang-up, not a malformed message. The exit is what ends it, not a kill.
TEST_F(Machine, AnOrderlyStopsHangUpIsNoKillAndItsExitEndsIt) {
  machine().switchTo(session("1", "alice", 1001));
  bringUpAll();
  machine().switchTo(std::nullopt);
  for (const char* name : {"net", "encode", "capture"}) {
    FakeProcess* p = process(name);
    p->events->onHangUp();
    EXPECT_EQ(p->kills, 0) << name;
    exitWith(p, kStopped);
  }
  EXPECT_EQ(machine().state(), SessionMachine::State::kNoSession);
}

TEST_F(Machine, AHangUpIsNoKillAndACrashAfterItGoesToTheRestartPolicy) {
  machine().switchTo(session("1", "alice", 1001));
  bringUpAll();
  FakeProcess* encode = process("encode");
  encode->events->onHangUp();
  clock_.advance(500ms);
  for (const char* name : {"capture", "encode", "net"}) beat(name);
  machine().tick();
  EXPECT_EQ(encode->kills, 0);
  EXPECT_EQ(machine().find("encode")->state(), WorkerState::kRunning);
  exitWith(encode, kCrash);
  EXPECT_EQ(machine().find("encode")->state(), WorkerState::kBackoff);
  EXPECT_EQ(machine().find("encode")->lastExit()->code, abi::kExitFailure);
  clock_.advance(100ms);
  machine().tick();
  ASSERT_NE(process("encode"), nullptr) << "restarted after its backoff";
  EXPECT_EQ(machine().find("encode")->restarts(), 1);
}

TEST_F(Machine, AWorkerThatHangsUpButStaysIsKilledAfterTheGracePeriodEvenBeating) {
  machine().switchTo(session("1", "alice", 1001));
  bringUpAll();
  FakeProcess* net = process("net");
  net->events->onHangUp();
  for (int i = 0; i < 9; ++i) {
    clock_.advance(100ms);
    for (const char* name : {"capture", "encode", "net"}) beat(name);
    machine().tick();
  }
  EXPECT_EQ(net->kills, 0) << "900 ms is inside the 1 s grace period";
  clock_.advance(101ms);
  beat("net");
  machine().tick();
  EXPECT_EQ(net->kills, 1) << "a worker without a channel cannot be told anything";
  machine().tick();
  EXPECT_EQ(net->kills, 1) << "one kill per grace period, not per tick";
  exitWith(net, kKilled);
  EXPECT_EQ(machine().find("net")->state(), WorkerState::kBackoff);
  EXPECT_EQ(process("capture")->kills + process("encode")->kills, 0);
}

TEST_F(Machine, AMalformedMessageIsStillKilledAtOnce) {
  machine().switchTo(session("1", "alice", 1001));
  bringUpAll();
  FakeProcess* capture = process("capture");
  capture->events->onBadMessage("message of 7 bytes is shorter than its header");
  EXPECT_EQ(capture->kills, 1);
}

TEST_F(Machine, HeartbeatStoppedIsKilledOncePerTimeout) {
  machine().switchTo(session("1", "alice", 1001));
  bringUpAll();
  for (int i = 0; i < 10; ++i) {
    clock_.advance(100ms);
    for (const char* name : {"capture", "encode", "net"}) beat(name);
    machine().tick();
  }
  EXPECT_EQ(process("encode")->kills, 0) << "beating workers are left alone";
  // encode stops beating (SIGSTOP, a hang); the others go on.
  for (int i = 0; i < 5; ++i) {
    clock_.advance(100ms);
    beat("capture");
    beat("net");
    machine().tick();
  }
  EXPECT_EQ(process("encode")->kills, 0) << "500 ms is not more than the timeout";
  clock_.advance(100ms);
  beat("capture");
  beat("net");
  machine().tick();
  EXPECT_EQ(process("encode")->kills, 1);
  machine().tick();
  EXPECT_EQ(process("encode")->kills, 1) << "one kill per timeout, not per tick";
  EXPECT_EQ(process("capture")->kills + process("net")->kills, 0);
}

TEST_F(Machine, NoHelloWithinFiveSecondsIsKilled) {
  machine().switchTo(session("1", "alice", 1001));
  clock_.advance(5s);
  machine().tick();
  EXPECT_EQ(process("capture")->kills, 0);
  clock_.advance(1ms);
  machine().tick();
  EXPECT_EQ(process("capture")->kills, 1);
}

TEST_F(Machine, CrashesRestartAfterADoublingBackoff) {
  machine().switchTo(session("1", "alice", 1001));
  bringUpAll();
  const uint32_t first = *machine().find("encode")->pid();
  exitWith(process("encode"), kKilled);
  EXPECT_EQ(hooks_.reaped.back(), (std::pair<std::string, uint32_t>{"encode", first}))
      << "reaped: the owner releases what it held";
  EXPECT_EQ(machine().find("encode")->state(), WorkerState::kBackoff);
  clock_.advance(99ms);
  machine().tick();
  EXPECT_FALSE(machine().find("encode")->running());
  clock_.advance(1ms);
  machine().tick();
  ASSERT_TRUE(machine().find("encode")->running()) << "100 ms backoff over";
  EXPECT_EQ(machine().find("encode")->restarts(), 1);
  exitWith(process("encode"), kCrash);  // again at once: 200 ms now
  clock_.advance(199ms);
  machine().tick();
  EXPECT_FALSE(machine().find("encode")->running());
  clock_.advance(1ms);
  machine().tick();
  EXPECT_TRUE(machine().find("encode")->running());
  EXPECT_EQ(process("capture")->terminates, 0) << "the others are untouched";
}

TEST_F(Machine, APermanentExitStaysFailed) {
  machine().switchTo(session("1", "alice", 1001));
  exitWith(process("encode"), {false, abi::kExitBadConfig});
  clock_.advance(1h);
  machine().tick();
  EXPECT_EQ(machine().find("encode")->state(), WorkerState::kFailed);
  EXPECT_EQ(launched().size(), 3u);
}

TEST_F(Machine, EscalationRestartsTheWholeSetOnAFreshPlanInStartOrder) {
  config_.restart.max_restarts = 2;
  machine().switchTo(session("1", "alice", 1001));
  bringUpAll();
  for (int i = 0; i < 2; ++i) {  // two restarts are allowed
    exitWith(process("net"), kKilled);
    clock_.advance(1s);
    machine().tick();
    bringUp(process("net"), abi::WorkerKind::kNet);
  }
  const size_t before = launched().size();
  exitWith(process("net"), kKilled);  // the third within the window escalates
  EXPECT_EQ(machine().state(), SessionMachine::State::kRestartingSet);
  EXPECT_EQ(process("capture")->terminates, 1);
  EXPECT_EQ(process("encode")->terminates, 1);
  EXPECT_EQ(launched().size(), before) << "nothing starts before the old set is gone";
  exitWith(process("capture"), kStopped);  // exit order: capture first
  exitWith(process("encode"), kStopped);
  EXPECT_EQ(machine().state(), SessionMachine::State::kRunning);
  EXPECT_EQ(hooks_.closed_plans, 1);
  EXPECT_EQ(hooks_.plans, 2) << "fresh rings";
  EXPECT_EQ(launchedPaths(before),
            (std::vector<std::string>{"funkhaus-capture", "funkhaus-encode", "funkhaus-net"}))
      << "start order, not exit order";
  EXPECT_EQ(process("net")->spec.environment.at("PLAN"), "2");
}

TEST_F(Machine, PastTheSessionRestartLimitItGivesUpWithExitOne) {
  config_.restart.max_restarts = 1;
  config_.restart.max_session_restarts = 1;
  machine().switchTo(session("1", "alice", 1001));
  auto crashTwice = [&] {
    exitWith(process("encode"), kKilled);
    clock_.advance(1s);
    machine().tick();
    exitWith(process("encode"), kKilled);
  };
  crashTwice();
  ASSERT_EQ(machine().state(), SessionMachine::State::kRestartingSet);
  exitWith(process("net"), kStopped);
  exitWith(process("capture"), kStopped);
  ASSERT_EQ(machine().state(), SessionMachine::State::kRunning);
  crashTwice();
  EXPECT_EQ(machine().state(), SessionMachine::State::kShuttingDown);
  EXPECT_FALSE(hooks_.exit_code.has_value());
  exitWith(process("net"), kStopped);
  exitWith(process("capture"), kStopped);
  EXPECT_EQ(machine().state(), SessionMachine::State::kDone);
  EXPECT_EQ(hooks_.exit_code, 1);
}

TEST_F(Machine, ShutdownStopsEveryWorkerAndFinishesWithZero) {
  machine().switchTo(session("1", "alice", 1001));
  bringUpAll();
  exitWith(process("capture"), kKilled);  // in backoff when the shutdown comes
  machine().shutdown(0);
  clock_.advance(1h);
  machine().tick();
  EXPECT_FALSE(machine().find("capture")->running()) << "nothing restarts while shutting down";
  exitWith(process("net"), kStopped);
  exitWith(process("encode"), kStopped);
  EXPECT_EQ(hooks_.exit_code, 0);
  EXPECT_EQ(machine().state(), SessionMachine::State::kDone);
}

TEST_F(Machine, StopStartAndRestartOnRequest) {
  machine().switchTo(session("1", "alice", 1001));
  bringUpAll();
  WorkerProcess* net = machine().find("net");
  net->stop();
  exitWith(process("net"), kStopped);
  clock_.advance(1h);
  machine().tick();
  EXPECT_EQ(net->state(), WorkerState::kStopped) << "a stopped worker is not restarted";
  net->start();
  EXPECT_TRUE(net->running());
  const uint32_t old = *net->pid();
  net->restart();
  exitWith(process("net"), kStopped);
  ASSERT_TRUE(net->running()) << "restarted at once, no backoff";
  EXPECT_NE(*net->pid(), old);
  EXPECT_EQ(net->restarts(), 2);
}

TEST_F(Machine, EventsFromReadyWorkersReachTheHooks) {
  machine().switchTo(session("1", "alice", 1001));
  FakeProcess* net = process("net");
  net->events->onMessage(EventMessage{{1, 0, 0}});
  EXPECT_EQ(net->kills, 1) << "an event before ready";
  bringUp(process("encode"), abi::WorkerKind::kEncode);
  process("encode")->events->onMessage(EventMessage{{3, 0, 7}});
  EXPECT_EQ(hooks_.events, (std::vector<std::pair<std::string, uint32_t>>{{"encode", 3}}));
  process("encode")->events->onMessage(ConnectionReleaseMessage{1});
  EXPECT_EQ(process("encode")->kills, 1) << "only a row that deposits may release";
}

// A GameStream client's codec and bitrate go to encode with their value, at once, and are
// remembered: a restarted encode gets the latest of each again (sticky()); a new session forgets.
TEST(EventRouter, StreamSettingsGoToEncodeAndStayForItsSuccessor) {
  FakeClock clock;
  EventRouter router(clock);
  Config config;
  config.workers = {"capture", "encode", "net"};
  std::vector<std::tuple<std::string, abi::Command, uint64_t>> sent;
  EventRouter::Sinks sinks;
  sinks.command = [&](const WorkerSpec& to, abi::Command c, uint64_t arg) {
    sent.emplace_back(std::string(to.name), c, arg);
    return true;
  };
  sinks.log = [](const WorkerSpec&, const abi::EventBody&) {};
  sinks.display_mode = [](const abi::EventBody&) {};
  const WorkerSpec& net = *findWorker("net");
  const abi::EventBody hevc{static_cast<uint32_t>(abi::Event::kCodecRequest), 0, 2};
  const abi::EventBody rate{static_cast<uint32_t>(abi::Event::kBitrateRequest), 0, 20'000'000};
  const abi::EventBody lower{static_cast<uint32_t>(abi::Event::kBitrateRequest), 0, 9'000'000};
  EXPECT_TRUE(router.route(net, hevc, config.workers, config, sinks));
  EXPECT_TRUE(router.route(net, rate, config.workers, config, sinks));
  EXPECT_TRUE(router.route(net, lower, config.workers, config, sinks)) << "no rate limit";
  EXPECT_EQ(sent, (std::vector<std::tuple<std::string, abi::Command, uint64_t>>{
                      {"encode", abi::Command::kSetCodec, 2},
                      {"encode", abi::Command::kSetBitrate, 20'000'000},
                      {"encode", abi::Command::kSetBitrate, 9'000'000}}));
  auto sticky = router.sticky(*findWorker("encode"));
  std::sort(sticky.begin(), sticky.end());
  EXPECT_EQ(sticky, (std::vector<std::pair<abi::Command, uint64_t>>{
                        {abi::Command::kSetBitrate, 9'000'000}, {abi::Command::kSetCodec, 2}}));
  EXPECT_TRUE(router.sticky(*findWorker("capture")).empty());
  EXPECT_FALSE(router.route(*findWorker("capture"), hevc, config.workers, config, sinks))
      << "only net's row lists stream settings";
  router.forgetSticky();
  EXPECT_TRUE(router.sticky(*findWorker("encode")).empty());
}

// A frame rate goes to both ends of the frame ring (capture paces, encode rates), and each gets
// it again when it restarts.
TEST(EventRouter, FrameRateGoesToCaptureAndEncode) {
  FakeClock clock;
  EventRouter router(clock);
  Config config;
  config.workers = {"capture", "encode", "net"};
  std::vector<std::tuple<std::string, abi::Command, uint64_t>> sent;
  EventRouter::Sinks sinks;
  sinks.command = [&](const WorkerSpec& to, abi::Command c, uint64_t arg) {
    sent.emplace_back(std::string(to.name), c, arg);
    return true;
  };
  sinks.log = [](const WorkerSpec&, const abi::EventBody&) {};
  sinks.display_mode = [](const abi::EventBody&) {};
  const abi::EventBody fps30{static_cast<uint32_t>(abi::Event::kFpsRequest), 0, 30};
  EXPECT_TRUE(router.route(*findWorker("net"), fps30, config.workers, config, sinks));
  std::sort(sent.begin(), sent.end());
  EXPECT_EQ(sent,
            (std::vector<std::tuple<std::string, abi::Command, uint64_t>>{
                {"capture", abi::Command::kSetFps, 30}, {"encode", abi::Command::kSetFps, 30}}));
  const std::vector<std::pair<abi::Command, uint64_t>> fps{{abi::Command::kSetFps, 30}};
  EXPECT_EQ(router.sticky(*findWorker("capture")), fps);
  EXPECT_EQ(router.sticky(*findWorker("encode")), fps);
}

// Who listens to audio goes to the audio ring's producer, also while it is down (its successor
// gets the latest at hello), and nowhere in a set without it.
TEST(EventRouter, AudioRequestsGoToTheAudioWorkerAndStayForItsSuccessor) {
  FakeClock clock;
  EventRouter router(clock);
  Config config;
  config.workers = {"capture", "encode", "net", "audio"};
  std::vector<std::tuple<std::string, abi::Command, uint64_t>> sent;
  bool up = true;
  EventRouter::Sinks sinks;
  sinks.command = [&](const WorkerSpec& to, abi::Command c, uint64_t arg) {
    if (up) sent.emplace_back(std::string(to.name), c, arg);
    return up;
  };
  sinks.log = [](const WorkerSpec&, const abi::EventBody&) {};
  sinks.display_mode = [](const abi::EventBody&) {};
  const WorkerSpec& net = *findWorker("net");
  const uint64_t stereo5 = abi::audioRequest(2, 5);
  const abi::EventBody listen{static_cast<uint32_t>(abi::Event::kAudioRequest), 0, stereo5};
  EXPECT_TRUE(router.route(net, listen, config.workers, config, sinks));
  EXPECT_EQ(sent, (std::vector<std::tuple<std::string, abi::Command, uint64_t>>{
                      {"audio", abi::Command::kSetAudio, stereo5}}));
  up = false;  // audio was killed: the next request waits for its successor
  const uint64_t surround10 = abi::audioRequest(6, 10);
  const abi::EventBody again{static_cast<uint32_t>(abi::Event::kAudioRequest), 0, surround10};
  EXPECT_FALSE(router.route(net, again, config.workers, config, sinks));
  EXPECT_EQ(
      router.sticky(*findWorker("audio")),
      (std::vector<std::pair<abi::Command, uint64_t>>{{abi::Command::kSetAudio, surround10}}));
  EXPECT_TRUE(router.sticky(*findWorker("encode")).empty());
  up = true;
  sent.clear();
  Config no_audio;
  no_audio.workers = {"capture", "encode", "net"};
  EXPECT_FALSE(router.route(net, listen, no_audio.workers, no_audio, sinks));
  EXPECT_TRUE(sent.empty());
}

TEST(EventRouter, KeyframeRequestsGoByEdgeAtMostEvery100Ms) {
  FakeClock clock;
  EventRouter router(clock);
  Config config;
  config.workers = {"capture", "encode", "net"};
  std::vector<std::pair<std::string, abi::Command>> sent;
  bool deliverable = true;
  EventRouter::Sinks sinks;
  sinks.command = [&](const WorkerSpec& to, abi::Command c, uint64_t) {
    if (deliverable) sent.push_back({std::string(to.name), c});
    return deliverable;
  };
  sinks.log = [](const WorkerSpec&, const abi::EventBody&) {};
  sinks.display_mode = [](const abi::EventBody&) {};
  const abi::EventBody keyframe{static_cast<uint32_t>(abi::Event::kKeyframeRequest), 0, 0};
  const WorkerSpec& net = *findWorker("net");
  deliverable = false;
  EXPECT_FALSE(router.route(net, keyframe, config.workers, config, sinks));
  deliverable = true;
  EXPECT_TRUE(router.route(net, keyframe, config.workers, config, sinks))
      << "an undelivered request does not count against the limit";
  clock.advance(99ms);
  EXPECT_FALSE(router.route(net, keyframe, config.workers, config, sinks));
  clock.advance(1ms);
  EXPECT_TRUE(router.route(net, keyframe, config.workers, config, sinks));
  EXPECT_EQ(sent, (std::vector<std::pair<std::string, abi::Command>>{
                      {"encode", abi::Command::kKeyframe}, {"encode", abi::Command::kKeyframe}}));
  EXPECT_FALSE(router.route(*findWorker("capture"), keyframe, config.workers, config, sinks))
      << "capture's row does not list keyframe requests";
  config.workers = {"capture", "net"};
  clock.advance(1s);
  EXPECT_FALSE(router.route(net, keyframe, config.workers, config, sinks))
      << "nobody consumes the frame ring in this set";
}

// ---- the host set: funkhaus-web lives as long as funkhausd, sessions or not ---------------------

TEST_F(Machine, HostWorkersStartWithoutASession) {
  ASSERT_TRUE(config_.gamestream.enabled) << "on by default";
  machine().startHost();
  machine().switchTo(std::nullopt);
  EXPECT_EQ(launchedPaths(), (std::vector<std::string>{"funkhaus-web"}));
  EXPECT_EQ(hooks_.plans, 0) << "no session rings for a host worker";
  EXPECT_FALSE(launched()[0]->spec.environment.contains("USER")) << "no session's environment";
  EXPECT_EQ(notifier_.readies, 1) << "a starting host worker does not hold READY back";
  EXPECT_EQ(notifier_.statuses.back(), "waiting for a session; host: web starting");
  bringUp(process("web"), abi::WorkerKind::kWeb);
  EXPECT_EQ(machine().find("web")->state(), WorkerState::kRunning);
  EXPECT_EQ(notifier_.statuses.back(), "waiting for a session");
  machine().startHost();
  EXPECT_EQ(launched().size(), 1u) << "started once";
}

TEST_F(Machine, StartingTheHostSetSendsNoReadyBeforeTheSessionsSetIsUp) {
  // funkhausd starts the host set before it looks at the session: READY must still wait for
  // the session's workers (the service test caught READY=1 with capture still starting).
  machine().startHost();
  EXPECT_EQ(notifier_.readies, 0);
  machine().switchTo(session("1", "alice", 1001));
  bringUp(process("web"), abi::WorkerKind::kWeb);
  EXPECT_EQ(notifier_.readies, 0) << "capture, encode and net are starting";
  bringUpAll();
  EXPECT_EQ(notifier_.readies, 1);
  EXPECT_EQ(notifier_.statuses.back(), "3 workers running");
}

TEST_F(Machine, HostWorkersAreNotStartedWhenTheConfigDisablesThem) {
  config_.gamestream.enabled = false;
  machine().startHost();
  EXPECT_TRUE(launched().empty());
  EXPECT_TRUE(machine().hostWorkers().empty());
  EXPECT_EQ(machine().find("web"), nullptr);
}

TEST_F(Machine, HostWorkersSurviveSessionSwitches) {
  machine().startHost();
  bringUp(process("web"), abi::WorkerKind::kWeb);
  const uint32_t web_pid = *machine().find("web")->pid();
  machine().switchTo(session("1", "alice", 1001));
  bringUpAll();
  EXPECT_EQ(notifier_.statuses.back(), "3 workers running");
  machine().switchTo(session("2", "bob", 1002));
  EXPECT_EQ(machine().state(), SessionMachine::State::kSwitching);
  for (const char* name : {"net", "encode", "capture"}) exitWith(process(name), kStopped);
  EXPECT_EQ(machine().state(), SessionMachine::State::kRunning);
  EXPECT_EQ(machine().session().user, "bob");
  bringUpAll();
  machine().switchTo(std::nullopt);
  for (const char* name : {"net", "encode", "capture"}) exitWith(process(name), kStopped);
  EXPECT_EQ(machine().state(), SessionMachine::State::kNoSession);
  WorkerProcess* web = machine().find("web");
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->pid(), web_pid) << "the same process through two switches";
  EXPECT_EQ(web->state(), WorkerState::kRunning);
  EXPECT_EQ(process("web")->terminates, 0);
  EXPECT_EQ(web->restarts(), 0);
}

TEST_F(Machine, AKilledHostWorkerIsRestartedWithBackoffAndItsPidReleased) {
  machine().startHost();
  machine().switchTo(session("1", "alice", 1001));
  bringUp(process("web"), abi::WorkerKind::kWeb);
  bringUpAll();
  const uint32_t first = *machine().find("web")->pid();
  exitWith(process("web"), kKilled);  // kill -9
  EXPECT_EQ(hooks_.reaped.back(), (std::pair<std::string, uint32_t>{"web", first}))
      << "the owner cleans up after it";
  EXPECT_EQ(machine().find("web")->state(), WorkerState::kBackoff);
  EXPECT_EQ(notifier_.statuses.back(), "3 workers running; host: web backoff");
  clock_.advance(99ms);
  machine().tick();
  EXPECT_FALSE(machine().find("web")->running()) << "not before the backoff";
  clock_.advance(2ms);
  machine().tick();
  ASSERT_TRUE(machine().find("web")->running());
  EXPECT_NE(*machine().find("web")->pid(), first);
  bringUp(process("web"), abi::WorkerKind::kWeb);
  EXPECT_EQ(machine().find("web")->restarts(), 1);
  EXPECT_EQ(machine().state(), SessionMachine::State::kRunning);
  EXPECT_EQ(hooks_.plans, 1) << "the session's set was not touched";
  EXPECT_EQ(process("capture")->terminates, 0);
}

TEST_F(Machine, AHostWorkerWhoseHeartbeatStopsIsKilledWithoutASession) {
  machine().startHost();
  bringUp(process("web"), abi::WorkerKind::kWeb);
  clock_.advance(501ms);
  machine().tick();
  EXPECT_EQ(process("web")->kills, 1);
}

TEST_F(Machine, ShutdownStopsTheSessionSetFirstAndTheHostSetLast) {
  machine().startHost();
  machine().switchTo(session("1", "alice", 1001));
  bringUp(process("web"), abi::WorkerKind::kWeb);
  bringUpAll();
  machine().shutdown(0);
  EXPECT_EQ(process("web")->terminates, 0) << "the session's workers go first";
  for (const char* name : {"net", "encode", "capture"}) exitWith(process(name), kStopped);
  EXPECT_EQ(process("web")->terminates, 1);
  EXPECT_FALSE(hooks_.exit_code.has_value());
  machine().tick();
  EXPECT_EQ(process("web")->terminates, 1) << "asked once (its grace period runs)";
  exitWith(process("web"), kStopped);
  EXPECT_EQ(machine().state(), SessionMachine::State::kDone);
  EXPECT_EQ(hooks_.exit_code, 0);
}

TEST_F(Machine, HostWorkerRequestsReachTheHooksAndForwardedRequestsGetTheirReplies) {
  machine().startHost();
  FakeProcess* web = process("web");
  bringUp(web, abi::WorkerKind::kWeb);
  web->events->onMessage(RequestMessage{7, R"({"cmd":"cancel","client":{"id":"AB"}})"});
  ASSERT_EQ(hooks_.requests.size(), 1u);
  EXPECT_EQ(hooks_.requests[0].first, "web");
  std::vector<Result<std::string>> replies;
  auto keep = [&](Result<std::string> r) { replies.push_back(std::move(r)); };
  ASSERT_TRUE(machine().find("web")->request(R"({"cmd":"clients"})", 5s, keep).ok());
  ASSERT_TRUE(machine().find("web")->request(R"({"cmd":"clients"})", 5s, keep).ok());
  EXPECT_TRUE(replies.empty());
  web->events->onMessage(ReplyMessage{1, R"({"ok":true,"clients":[]})"});
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(*replies[0], R"({"ok":true,"clients":[]})");
  web->events->onMessage(ReplyMessage{99, "{}"});  // nobody asked: ignored, not fatal
  ASSERT_EQ(web->replies.size(), 1u);
  EXPECT_EQ(web->replies[0], R"({"ok":true})");
  // A reply too large for one message becomes an error the worker can show.
  ASSERT_TRUE(machine().find("web")->reply(8, std::string(abi::kMaxMessageText + 1, 'x')).ok());
  ASSERT_EQ(web->replies.size(), 2u);
  const auto too_large = nlohmann::json::parse(web->replies[1], nullptr, false);
  ASSERT_TRUE(too_large.is_object()) << web->replies[1];
  EXPECT_EQ(too_large["ok"], false);
  EXPECT_NE(too_large["error"].get<std::string>().find("larger than a worker channel"),
            std::string::npos);
  ASSERT_TRUE(machine().find("web")->reply(9, std::string(abi::kMaxMessageText, 'x')).ok());
  EXPECT_EQ(web->replies[2].size(), abi::kMaxMessageText) << "one that fits goes as it is";
  EXPECT_EQ(web->kills, 0);
  clock_.advance(5001ms);
  beat("web");
  machine().tick();
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_FALSE(replies[1].ok()) << "overdue";
  // A session worker's row lists no requests: sending one gets it killed.
  machine().switchTo(session("1", "alice", 1001));
  bringUpAll();
  process("net")->events->onMessage(RequestMessage{1, R"({"cmd":"launch"})"});
  EXPECT_EQ(process("net")->kills, 1);
  EXPECT_EQ(hooks_.requests.size(), 1u);
}

}  // namespace
}  // namespace funkhaus::supervisor
