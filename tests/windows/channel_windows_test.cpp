// The worker channel (common/channel.h) across real processes on Windows: funkhausd's end is a
// named pipe's server end, the worker opens the pipe by name (a handle goes to the process that
// opened the other end), takes its status page from a ring-fds message, and answers hello and
// ready; a worker killed with TerminateProcess reads as a hang-up, never as a malformed message.
// The worker's side proper (WorkerChannel: hello, ring fds, status page, ready, commands) runs in
// a child too.
#include <windows.h>

#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "child_process.h"
#include "funkhaus/abi/status_page.h"
#include "funkhaus/common/channel.h"
#include "funkhaus/common/worker_channel.h"
#include "funkhaus/platform/handle_passing.h"
#include "funkhaus/platform/shared_memory.h"
#include "pipes.h"

namespace funkhaus {
namespace {

using platform::SharedMemory;
using platform::UniqueHandle;
using test::Child;

constexpr std::byte kOwnerByte{0x5a};
constexpr std::byte kWorkerByte{0xa5};

// Child, a worker's side: opens the channel pipe argv[1], maps the status page of the first
// message, checks the owner's byte and writes its own after it, sends hello and ready, and
// sleeps until it is killed. 10..16: the step that failed.
int channelWorkerRole(int, char** argv) {
  UniqueHandle channel = test::pipeClient(test::wideName(argv[1]));
  if (!channel.valid()) return 10;
  auto m = receiveMessage(channel.get());
  if (!m.ok() || !m->has_value()) return 11;
  auto* fds = std::get_if<RingFdsMessage>(&**m);
  if (fds == nullptr || fds->fds.size() != 1 || fds->roles[0] != abi::FdRole::kStatusPage)
    return 12;
  auto page = SharedMemory::attach(std::move(fds->fds[0]), 4096);
  if (!page) return 13;
  if (page->data()[0] != kOwnerByte) return 14;
  page->data()[1] = kWorkerByte;
  const abi::HelloBody hello{abi::kAbiVersion, static_cast<uint32_t>(abi::WorkerKind::kEncode),
                             static_cast<uint32_t>(GetCurrentProcessId()), 0};
  if (!sendMessage(channel.get(), HelloMessage{hello}).ok()) return 15;
  if (!sendMessage(channel.get(), ReadyMessage{}).ok()) return 16;
  Sleep(INFINITE);
  return 0;
}
test::ChildRole channel_worker_role("channel-worker", channelWorkerRole);

TEST(ChannelWindows, AWorkerTakesItsStatusPageAndItsKillReadsAsAHangUp) {
  auto page = SharedMemory::create("status", 4096);
  ASSERT_TRUE(page.ok()) << page.error().message;
  page->data()[0] = kOwnerByte;
  const std::wstring name = test::pipeName("channel");
  UniqueHandle server = test::pipeServer(name);
  ASSERT_TRUE(server.valid());
  Child worker = test::spawnSelf("channel-worker", {test::narrowName(name)});
  ASSERT_TRUE(test::awaitChildClient(server.get(), name, worker.process.get()))
      << "the worker ended before it opened the pipe, exit " << test::exitCodeOf(worker, 0);

  auto copy = platform::duplicateHandle(page->handle());
  ASSERT_TRUE(copy.ok()) << copy.error().message;
  RingFdsMessage out;
  out.roles = {abi::FdRole::kStatusPage};
  out.fds.push_back(std::move(*copy));
  ASSERT_TRUE(sendMessage(server.get(), Message(std::move(out))).ok());

  auto hello = receiveMessage(server.get());
  ASSERT_TRUE(hello.ok()) << hello.error().message;
  ASSERT_TRUE(hello->has_value());
  auto* h = std::get_if<HelloMessage>(&**hello);
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->body.pid, static_cast<uint32_t>(worker.id));
  auto ready = receiveMessage(server.get());
  ASSERT_TRUE(ready.ok()) << ready.error().message;
  ASSERT_TRUE(ready->has_value());
  EXPECT_TRUE(std::holds_alternative<ReadyMessage>(**ready));
  EXPECT_EQ(page->data()[1], kWorkerByte) << "the worker mapped the page it was sent";
  auto nothing = receiveMessage(server.get(), platform::Blocking::kDontWait);
  ASSERT_TRUE(nothing.ok()) << nothing.error().message;
  EXPECT_FALSE(nothing->has_value());

  ASSERT_TRUE(TerminateProcess(worker.process.get(), 9));
  EXPECT_EQ(test::exitCodeOf(worker), 9);
  auto lost = receiveMessage(server.get());
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().code, ErrorCode::kPeerLost) << lost.error().message;
  auto polled = receiveMessage(server.get(), platform::Blocking::kDontWait);
  ASSERT_FALSE(polled.ok()) << "a hang-up stays a hang-up when polled";
  EXPECT_EQ(polled.error().code, ErrorCode::kPeerLost) << polled.error().message;
}

// A worker's send to funkhausd after funkhausd closed its end fails with a reason, and does not
// block.
int channelLateWorkerRole(int, char** argv) {
  UniqueHandle channel = test::pipeClient(test::wideName(argv[1]));
  if (!channel.valid()) return 10;
  auto m = receiveMessage(channel.get());  // funkhausd's end closes after one command
  if (!m.ok() || !m->has_value() || !std::holds_alternative<CommandMessage>(**m)) return 11;
  auto closed = receiveMessage(channel.get());
  if (closed.ok() || closed.error().code != ErrorCode::kPeerLost) return 12;
  if (sendMessage(channel.get(), ReadyMessage{}).ok()) return 13;
  return 0;
}
test::ChildRole channel_late_worker_role("channel-late-worker", channelLateWorkerRole);

TEST(ChannelWindows, FunkhausdsCloseReadsAsAHangUpInTheWorker) {
  const std::wstring name = test::pipeName("channel-close");
  UniqueHandle server = test::pipeServer(name);
  ASSERT_TRUE(server.valid());
  Child worker = test::spawnSelf("channel-late-worker", {test::narrowName(name)});
  ASSERT_TRUE(test::awaitChildClient(server.get(), name, worker.process.get()))
      << "the worker ended before it opened the pipe, exit " << test::exitCodeOf(worker, 0);
  ASSERT_TRUE(sendMessage(server.get(), CommandMessage{{1, 0, 0}}).ok());
  server.reset();
  EXPECT_EQ(test::exitCodeOf(worker), 0);
}

// Child: WorkerChannel over the pipe argv[1] as an encode worker: connects (hello, ring fds up to
// the last, status page checked), takes its frames ring's section and writes 0xa5 into it,
// says ready and waits for commands: kStop ends it with 0, anything else with 20 + its number.
// 10..14: the step that failed.
int workerChannelRole(int, char** argv) {
  UniqueHandle pipe = test::pipeClient(test::wideName(argv[1]));
  if (!pipe.valid()) return 10;
  auto channel = WorkerChannel::connect(pipe.release(), abi::WorkerKind::kEncode, 10'000);
  if (!channel) return 11;
  auto ring = SharedMemory::attach(channel->takeRing(abi::FdRole::kRingIn, abi::RingId::kFrames));
  if (!ring) return 12;
  ring->data()[0] = kWorkerByte;
  if (!channel->sendReady()) return 13;
  for (;;) {
    auto command = channel->waitCommand(100);
    if (!command) return 14;
    if (!command->has_value()) continue;
    channel->heartbeat();
    return (*command)->command == static_cast<uint32_t>(abi::Command::kStop)
               ? 0
               : 20 + static_cast<int>((*command)->command);
  }
}
test::ChildRole worker_channel_role("worker-channel", workerChannelRole);

TEST(ChannelWindows, AWorkerChannelTakesItsRingsSaysReadyAndStopsOnCommand) {
  auto page = SharedMemory::create("status", sizeof(abi::WorkerStatusPage));
  ASSERT_TRUE(page.ok()) << page.error().message;
  auto* status = reinterpret_cast<abi::WorkerStatusPage*>(page->data());
  status->magic = abi::kStatusPageMagic;
  status->abi_version = abi::kAbiVersion;
  status->header_size = sizeof(abi::WorkerStatusPage);
  status->kind = static_cast<uint32_t>(abi::WorkerKind::kEncode);
  auto ring = SharedMemory::create("frames", 4096);
  ASSERT_TRUE(ring.ok()) << ring.error().message;
  const std::wstring name = test::pipeName("worker-channel");
  UniqueHandle server = test::pipeServer(name);
  ASSERT_TRUE(server.valid());
  Child worker = test::spawnSelf("worker-channel", {test::narrowName(name)});
  ASSERT_TRUE(test::awaitChildClient(server.get(), name, worker.process.get()))
      << "the worker ended before it opened the pipe, exit " << test::exitCodeOf(worker, 0);

  auto hello = receiveMessage(server.get());
  ASSERT_TRUE(hello.ok()) << hello.error().message;
  ASSERT_TRUE(hello->has_value() && std::holds_alternative<HelloMessage>(**hello));
  EXPECT_EQ(std::get<HelloMessage>(**hello).body.pid, static_cast<uint32_t>(worker.id));
  // Two ring-fds messages, as funkhausd sends more than one message's worth of handles.
  for (bool last : {false, true}) {
    auto copy = platform::duplicateHandle(last ? ring->handle() : page->handle());
    ASSERT_TRUE(copy.ok()) << copy.error().message;
    RingFdsMessage out;
    out.roles = {last ? abi::FdRole::kRingIn : abi::FdRole::kStatusPage};
    out.tags = {last ? static_cast<uint32_t>(abi::RingId::kFrames) : 0u};
    out.fds.push_back(std::move(*copy));
    out.last = last;
    ASSERT_TRUE(sendMessage(server.get(), Message(std::move(out))).ok());
  }
  auto ready = receiveMessage(server.get());
  ASSERT_TRUE(ready.ok()) << ready.error().message;
  ASSERT_TRUE(ready->has_value());
  EXPECT_TRUE(std::holds_alternative<ReadyMessage>(**ready));
  EXPECT_EQ(ring->data()[0], kWorkerByte) << "the worker mapped its ring";
  EXPECT_EQ(status->state, static_cast<uint32_t>(abi::WorkerState::kReady));
  EXPECT_EQ(status->pid, static_cast<uint32_t>(worker.id));
  EXPECT_GE(status->heartbeat, 1u);
  Sleep(150);  // the worker waits for its command across a timeout or two
  ASSERT_TRUE(
      sendMessage(server.get(), CommandMessage{{static_cast<uint32_t>(abi::Command::kStop), 0, 0}})
          .ok());
  EXPECT_EQ(test::exitCodeOf(worker), 0);
}

}  // namespace
}  // namespace funkhaus
