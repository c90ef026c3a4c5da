// funkhausd's Windows launcher (common/platform/windows/process_launcher_windows.cpp) with real
// processes under Wine: a worker (this program as `--child launched-worker MODE`) opens its
// channel by the name in its environment and runs WorkerChannel; its output, messages, hang-up
// and exit arrive on the event loop in that order; bad bytes and claimed handles are bad
// messages; kill() and the launcher's end (its Job Object) end the worker.
#include <utility>
// Asio before windows.h (process_launcher.h includes it).
#include <boost/asio.hpp>
// Then windows.h.
#include <windows.h>
// After windows.h.
#include <wtsapi32.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "child_process.h"
#include "funkhaus/abi/status_page.h"
#include "funkhaus/common/channel.h"
#include "funkhaus/common/worker_channel.h"
#include "funkhaus/platform/handle_passing.h"
#include "funkhaus/platform/shared_memory.h"
#include "funkhaus/supervisor/process_launcher.h"

namespace funkhaus {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using platform::SharedMemory;
using platform::UniqueHandle;
using supervisor::LaunchedProcess;
using supervisor::LaunchSpec;
using supervisor::ProcessEvents;
using supervisor::ProcessLauncher;

constexpr char kOddArgument[] = R"(an "odd" arg\)";
constexpr char kWord[] = "word with spaces";

void writeAll(HANDLE pipe, const std::vector<std::byte>& bytes) {
  DWORD n = 0;
  WriteFile(pipe, bytes.data(), static_cast<DWORD>(bytes.size()), &n, nullptr);
}

// Child, a launched worker. Writes a line to stdout and one to stderr, opens the channel named
// in its environment, then by MODE (argv[1]):
//   worker: WorkerChannel (hello, ring fds, ready) and waits for the stop command: exit 0;
//   sleep: hello, then sleeps until it is killed;
//   garbage: bytes that are no message; claims-handles: a message that claims a handle;
//   exit: exits 7 without opening its channel.
// 10..17: the step that failed.
int launchedWorkerRole(int argc, char** argv) {
  if (argc < 3 || std::strcmp(argv[2], kOddArgument) != 0) return 17;
  const char* word = std::getenv("FUNKHAUS_TEST_WORD");
  std::printf("worker out: %s, SystemRoot %s\n", word != nullptr ? word : "-",
              std::getenv("SystemRoot") != nullptr ? "set" : "unset");
  std::fflush(stdout);
  std::fprintf(stderr, "worker err\n");
  std::fflush(stderr);
  const std::string mode = argv[1];
  if (mode == "exit") return 7;
  const char* name = std::getenv(platform::kChannelPipeVariable);
  if (name == nullptr) return 10;
  auto pipe = platform::openMessageChannel(name);
  if (!pipe) return 11;
  if (platform::openMessageChannel(name)) return 12;  // one instance: nobody else gets in
  if (mode == "worker") {
    auto channel = WorkerChannel::connect(pipe->release(), abi::WorkerKind::kEncode, 10'000);
    if (!channel) return 13;
    if (!channel->sendReady()) return 14;
    for (;;) {
      auto command = channel->waitCommand(100);
      if (!command) return 15;
      if (!command->has_value()) continue;
      return (*command)->command == static_cast<uint32_t>(abi::Command::kStop) ? 0 : 16;
    }
  }
  if (mode == "sleep") {
    const abi::HelloBody hello{abi::kAbiVersion, static_cast<uint32_t>(abi::WorkerKind::kEncode),
                               static_cast<uint32_t>(GetCurrentProcessId()), 0};
    if (!sendMessage(pipe->get(), HelloMessage{hello})) return 13;
  } else if (mode == "garbage") {
    const char text[] = "no message at all";
    writeAll(pipe->get(),
             std::vector<std::byte>(reinterpret_cast<const std::byte*>(text),
                                    reinterpret_cast<const std::byte*>(text) + sizeof text));
  } else if (mode == "claims-handles") {
    // The header handle passing writes: magic "FHHP", one handle, the handle's value (funkhausd's
    // own standard output, say), then a ready message.
    std::vector<std::byte> bytes(platform::kPipeMessageHeader);
    const uint32_t magic = 0x50484846, count = 1;
    const uint64_t value = reinterpret_cast<uintptr_t>(GetStdHandle(STD_OUTPUT_HANDLE));
    std::memcpy(bytes.data(), &magic, 4);
    std::memcpy(bytes.data() + 4, &count, 4);
    std::memcpy(bytes.data() + 8, &value, 8);
    const auto ready = encodeMessage(ReadyMessage{});
    bytes.insert(bytes.end(), ready.begin(), ready.end());
    writeAll(pipe->get(), bytes);
  }
  Sleep(INFINITE);
  return 0;
}
test::ChildRole launched_worker_role("launched-worker", launchedWorkerRole);

// What a launched process reported, in order.
struct Recorder : ProcessEvents {
  void onMessage(Message message) override {
    order.push_back("message");
    messages.push_back(std::move(message));
  }
  void onBadMessage(const std::string& why) override {
    order.push_back("bad");
    bad.push_back(why);
  }
  void onHangUp() override { order.push_back("hang-up"); }
  void onOutputLine(const std::string& line) override { lines.push_back(line); }
  void onExit(uint32_t id, const ExitStatus& status) override {
    order.push_back("exit");
    exit_id = id;
    exit = status;
  }

  template <typename T>
  const T* last() const {
    return messages.empty() ? nullptr : std::get_if<T>(&messages.back());
  }
  bool saw(const std::string& line) const {
    return std::find(lines.begin(), lines.end(), line) != lines.end();
  }

  std::vector<Message> messages;
  std::vector<std::string> bad, lines, order;
  std::optional<ExitStatus> exit;
  uint32_t exit_id = 0;
};

// Runs the loop until `done`; false after 30 s.
bool runUntil(asio::io_context& io, const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io.restart();
    io.run_for(10ms);
  }
  return true;
}

LaunchSpec workerSpec(const std::string& mode) {
  LaunchSpec spec;
  spec.path = test::selfProgram();
  spec.args = {"--child", "launched-worker", mode, kOddArgument};
  spec.environment = {{"FUNKHAUS_TEST_WORD", kWord}};
  return spec;
}

class LauncherWindows : public testing::Test {
 protected:
  std::unique_ptr<LaunchedProcess> launch(const LaunchSpec& spec) {
    auto launched = launcher_->launch(spec, events_);
    EXPECT_TRUE(launched.ok()) << launched.error().message;
    return launched ? std::move(*launched) : nullptr;
  }

  asio::io_context io_;
  std::unique_ptr<ProcessLauncher> launcher_ = ProcessLauncher::createPlatform(io_);
  Recorder events_;
};

TEST_F(LauncherWindows, AWorkerOpensItsChannelTakesItsRingsAndStopsOnCommand) {
  auto page = SharedMemory::create("status", sizeof(abi::WorkerStatusPage));
  ASSERT_TRUE(page.ok()) << page.error().message;
  auto* status = reinterpret_cast<abi::WorkerStatusPage*>(page->data());
  status->magic = abi::kStatusPageMagic;
  status->abi_version = abi::kAbiVersion;
  status->header_size = sizeof(abi::WorkerStatusPage);
  status->kind = static_cast<uint32_t>(abi::WorkerKind::kEncode);

  auto worker = launch(workerSpec("worker"));
  ASSERT_NE(worker, nullptr);
  ASSERT_TRUE(runUntil(io_, [&] { return !events_.messages.empty() || events_.exit; }));
  const auto* hello = events_.last<HelloMessage>();
  ASSERT_NE(hello, nullptr) << "exit " << (events_.exit ? events_.exit->code : -1);
  EXPECT_EQ(hello->body.pid, worker->id());

  auto copy = platform::duplicateHandle(page->handle());
  ASSERT_TRUE(copy.ok()) << copy.error().message;
  RingFdsMessage fds;
  fds.roles = {abi::FdRole::kStatusPage};
  fds.fds.push_back(std::move(*copy));
  ASSERT_TRUE(worker->send(Message(std::move(fds))).ok());
  ASSERT_TRUE(runUntil(io_, [&] { return events_.messages.size() == 2 || events_.exit; }));
  EXPECT_NE(events_.last<ReadyMessage>(), nullptr);
  EXPECT_EQ(status->state, static_cast<uint32_t>(abi::WorkerState::kReady));
  EXPECT_EQ(status->pid, worker->id());

  worker->terminate();  // asks nothing on Windows: the stop command does
  ASSERT_TRUE(
      worker->send(CommandMessage{{static_cast<uint32_t>(abi::Command::kStop), 0, 0}}).ok());
  ASSERT_TRUE(runUntil(io_, [&] { return events_.exit.has_value(); }));
  EXPECT_EQ(events_.exit->code, 0);
  EXPECT_EQ(events_.exit_id, worker->id());
  EXPECT_EQ(events_.order, (std::vector<std::string>{"message", "message", "hang-up", "exit"}));
  EXPECT_TRUE(events_.bad.empty());
  EXPECT_TRUE(events_.saw(std::string("worker out: ") + kWord + ", SystemRoot set"))
      << "its stdout, with the environment laid over ours";
  EXPECT_TRUE(events_.saw("worker err")) << "its stderr";
  EXPECT_FALSE(worker->send(ReadyMessage{}).ok()) << "its channel is closed";
}

TEST_F(LauncherWindows, KillEndsItAndItsHangUpComesBeforeItsExit) {
  auto worker = launch(workerSpec("sleep"));
  ASSERT_NE(worker, nullptr);
  ASSERT_TRUE(runUntil(io_, [&] { return !events_.messages.empty() || events_.exit; }));
  ASSERT_NE(events_.last<HelloMessage>(), nullptr);
  const auto killed = std::chrono::steady_clock::now();
  worker->kill();
  ASSERT_TRUE(runUntil(io_, [&] { return events_.exit.has_value(); }));
  std::printf(
      "[ figures  ] kill() to onExit: %.1f ms\n",
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - killed).count());
  EXPECT_EQ(events_.exit->code, abi::kExitFailure) << "transient, as a signal is on Linux";
  EXPECT_EQ(events_.order, (std::vector<std::string>{"message", "hang-up", "exit"}));
}

TEST_F(LauncherWindows, BytesThatAreNoMessageAreABadMessage) {
  auto worker = launch(workerSpec("garbage"));
  ASSERT_NE(worker, nullptr);
  ASSERT_TRUE(runUntil(io_, [&] { return !events_.bad.empty() || events_.exit; }));
  ASSERT_EQ(events_.bad.size(), 1u);
  EXPECT_NE(events_.bad[0].find("header"), std::string::npos) << events_.bad[0];
  EXPECT_FALSE(worker->send(ReadyMessage{}).ok()) << "the channel is closed after a bad message";
  worker->kill();
  ASSERT_TRUE(runUntil(io_, [&] { return events_.exit.has_value(); }));
  EXPECT_EQ(events_.order, (std::vector<std::string>{"bad", "exit"}));
}

TEST_F(LauncherWindows, AMessageThatClaimsHandlesIsRefusedAndTakesNone) {
  auto worker = launch(workerSpec("claims-handles"));
  ASSERT_NE(worker, nullptr);
  ASSERT_TRUE(runUntil(io_, [&] { return !events_.bad.empty() || events_.exit; }));
  ASSERT_EQ(events_.bad.size(), 1u);
  EXPECT_NE(events_.bad[0].find("claims 1 handles"), std::string::npos) << events_.bad[0];
  EXPECT_TRUE(events_.messages.empty());
  DWORD flags = 0;
  EXPECT_TRUE(GetHandleInformation(GetStdHandle(STD_OUTPUT_HANDLE), &flags))
      << "the handle it named is still ours and open";
  worker->kill();
  ASSERT_TRUE(runUntil(io_, [&] { return events_.exit.has_value(); }));
}

TEST_F(LauncherWindows, AWorkerThatNeverOpensItsChannelStillHasItsExitReported) {
  auto worker = launch(workerSpec("exit"));
  ASSERT_NE(worker, nullptr);
  ASSERT_TRUE(runUntil(io_, [&] { return events_.exit.has_value(); }));
  EXPECT_EQ(events_.exit->code, 7);
  EXPECT_EQ(events_.order, (std::vector<std::string>{"exit"}));
  EXPECT_FALSE(worker->send(ReadyMessage{}).ok());
}

TEST_F(LauncherWindows, AsTheConsoleSessionsUserWithItsEnvironment) {
  LaunchSpec spec = workerSpec("sleep");
  spec.credentials = Credentials{static_cast<uint32_t>(WTSGetActiveConsoleSessionId())};
  auto worker = launch(spec);
  ASSERT_NE(worker, nullptr);
  ASSERT_TRUE(runUntil(io_, [&] { return !events_.messages.empty() || events_.exit; }));
  ASSERT_NE(events_.last<HelloMessage>(), nullptr)
      << "exit " << (events_.exit ? events_.exit->code : -1);
  EXPECT_TRUE(events_.saw(std::string("worker out: ") + kWord + ", SystemRoot set"))
      << "the user's environment (CreateEnvironmentBlock) with the spec's laid over it";
  worker->kill();
  ASSERT_TRUE(runUntil(io_, [&] { return events_.exit.has_value(); }));
}

TEST_F(LauncherWindows, AMissingBinaryIsAnErrorNamingIt) {
  LaunchSpec spec = workerSpec("worker");
  spec.path = R"(C:\nowhere\funkhaus-encode.exe)";
  auto launched = launcher_->launch(spec, events_);
  ASSERT_FALSE(launched.ok());
  EXPECT_NE(launched.error().message.find(spec.path), std::string::npos)
      << launched.error().message;
}

TEST_F(LauncherWindows, ItsProcessObjectGoneTheWorkerIsEnded) {
  auto worker = launch(workerSpec("sleep"));
  ASSERT_NE(worker, nullptr);
  ASSERT_TRUE(runUntil(io_, [&] { return !events_.messages.empty() || events_.exit; }));
  UniqueHandle process(OpenProcess(SYNCHRONIZE, FALSE, worker->id()));
  ASSERT_TRUE(process.valid());
  worker.reset();
  EXPECT_EQ(WaitForSingleObject(process.get(), 0), WAIT_OBJECT_0)
      << "ended (and waited for) by the destructor";
  io_.restart();
  io_.run_for(50ms);
  EXPECT_FALSE(events_.exit.has_value()) << "nothing is reported after the object is gone";
}

// Child: funkhausd in small: a launcher that starts a sleeping worker and writes the worker's
// process id into the pipe argv[1] once it said hello, then sleeps until it is killed.
int launcherOwnerRole(int, char** argv) {
  asio::io_context io;
  auto launcher = ProcessLauncher::createPlatform(io);
  Recorder events;
  auto worker = launcher->launch(workerSpec("sleep"), events);
  if (!worker) return 10;
  if (!runUntil(io, [&] { return !events.messages.empty() || events.exit; })) return 11;
  if (events.messages.empty()) return 12;
  const uint32_t id = (*worker)->id();
  DWORD n = 0;
  if (!WriteFile(test::handleFromArg(argv[1]), &id, sizeof id, &n, nullptr)) return 13;
  Sleep(INFINITE);
  return 0;
}
test::ChildRole launcher_owner_role("launcher-owner", launcherOwnerRole);

TEST(LauncherWindowsJob, WorkersEndWhenFunkhausdIsKilled) {
  HANDLE read_end = nullptr, write_end = nullptr;
  ASSERT_TRUE(CreatePipe(&read_end, &write_end, nullptr, 0));
  UniqueHandle reader(read_end), writer(write_end);
  test::Child owner =
      test::spawnSelf("launcher-owner", {test::handleArg(writer.get())}, {writer.get()});
  writer.reset();
  uint32_t id = 0;
  DWORD n = 0;
  ASSERT_TRUE(ReadFile(reader.get(), &id, sizeof id, &n, nullptr) && n == sizeof id)
      << "the owner ended first, exit " << test::exitCodeOf(owner, 0);
  UniqueHandle worker(OpenProcess(SYNCHRONIZE, FALSE, id));
  ASSERT_TRUE(worker.valid());
  EXPECT_EQ(WaitForSingleObject(worker.get(), 0), WAIT_TIMEOUT);
  const auto killed = std::chrono::steady_clock::now();
  ASSERT_TRUE(TerminateProcess(owner.process.get(), 9));
  EXPECT_EQ(WaitForSingleObject(worker.get(), 10'000), WAIT_OBJECT_0)
      << "its Job Object closed with it and ended the worker";
  std::printf(
      "[ figures  ] funkhausd killed to its worker ended: %.1f ms\n",
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - killed).count());
}

}  // namespace
}  // namespace funkhaus
