// The platform seam on Windows (common/platform/windows) with real processes: wait/wake on a
// word of a section across processes, a section handed to a second process and mapped there,
// sections that are not ours refused, liveness and exit codes of children, handle ownership, and
// a keyed-mutex holder that dies while its peer waits.
#include <windows.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "funkhaus/abi/keyed_mutex_word.h"
#include "funkhaus/common/keyed_mutex.h"
#include "funkhaus/platform/handle.h"
#include "funkhaus/platform/handle_passing.h"
#include "funkhaus/platform/process.h"
#include "funkhaus/platform/shared_memory.h"
#include "funkhaus/platform/wait_word.h"
#include "pipes.h"
#include "test_util.h"

namespace funkhaus::platform {
namespace {

using test::Child;
using test::exitCodeOf;
using test::handleArg;
using test::handleFromArg;
using test::pipeClient;
using test::pipeName;
using test::pipeServer;
using test::spawnSelf;

// Words of the section the wait tests share: [0] the word waited on, [1] sleepers that are about
// to wait.
uint32_t* words(const SharedMemory& shm) { return reinterpret_cast<uint32_t*>(shm.data()); }

// Child: attaches the section (argv[1]), says it is about to wait, waits while word 0 is 0 (30 s
// at most). 0: woken with the word changed; 2: timed out.
int waitWordRole(int, char** argv) {
  auto shm = SharedMemory::attach(UniqueHandle(handleFromArg(argv[1])), 8);
  if (!shm) return 10;
  uint32_t* w = words(*shm);
  std::atomic_ref<uint32_t>(w[1]).fetch_add(1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::atomic_ref<uint32_t>(w[0]).load() == 0) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::nanoseconds(0)) return 2;
    waitOnWord(&w[0], 0, std::chrono::duration_cast<std::chrono::nanoseconds>(left).count());
  }
  return 0;
}
test::ChildRole wait_word_role("wait-word", waitWordRole);

// Waits until `count` children have said they are about to wait, then a little longer so that
// they are asleep (no /proc here to look).
void awaitSleepers(const SharedMemory& shm, uint32_t count) {
  while (std::atomic_ref<uint32_t>(words(shm)[1]).load() < count) Sleep(1);
  Sleep(100);
}

TEST(PlatformWaitWord, WakeReachesASleeperInAnotherProcess) {
  auto shm = SharedMemory::create("wait-word", 4096);
  ASSERT_TRUE(shm.ok()) << shm.error().message;
  Child child = spawnSelf("wait-word", {handleArg(shm->handle())}, {shm->handle()});
  awaitSleepers(*shm, 1);
  const auto woken_at = std::chrono::steady_clock::now();
  std::atomic_ref<uint32_t>(words(*shm)[0]).store(1);
  wakeWord(&words(*shm)[0], 1);
  EXPECT_EQ(exitCodeOf(child), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - woken_at, std::chrono::seconds(10))
      << "woken, not timed out";
}

TEST(PlatformWaitWord, WakeAllReachesEverySleeper) {
  auto shm = SharedMemory::create("wait-word-all", 4096);
  ASSERT_TRUE(shm.ok()) << shm.error().message;
  std::vector<Child> children;
  for (int i = 0; i < 3; ++i)
    children.push_back(spawnSelf("wait-word", {handleArg(shm->handle())}, {shm->handle()}));
  awaitSleepers(*shm, 3);
  std::atomic_ref<uint32_t>(words(*shm)[0]).store(1);
  wakeWord(&words(*shm)[0], kWakeAll);
  for (const Child& c : children) EXPECT_EQ(exitCodeOf(c, 10'000), 0);
}

TEST(PlatformWaitWord, WaitTimesOutWithoutAWake) {
  auto shm = SharedMemory::create("wait-word-timeout", 4096);
  ASSERT_TRUE(shm.ok()) << shm.error().message;
  uint32_t local = 0;
  for (uint32_t* w : {&words(*shm)[0], &local}) {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(waitOnWord(w, 0, 50'000'000), WaitResult::kTimedOut);
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50));
  }
}

TEST(PlatformWaitWord, WaitReturnsAtOnceWhenTheWordDiffers) {
  auto shm = SharedMemory::create("wait-word-differs", 4096);
  ASSERT_TRUE(shm.ok()) << shm.error().message;
  words(*shm)[0] = 7;
  uint32_t local = 7;
  EXPECT_EQ(waitOnWord(&words(*shm)[0], 6, -1), WaitResult::kValueChanged);
  EXPECT_EQ(waitOnWord(&local, 6, -1), WaitResult::kValueChanged);
}

TEST(PlatformWaitWord, WakeReachesASleepingThreadOnALocalWord) {
  uint32_t local = 0;
  std::thread waker([&] {
    Sleep(30);
    std::atomic_ref<uint32_t>(local).store(1);
    wakeWord(&local, 1);
  });
  while (std::atomic_ref<uint32_t>(local).load() == 0) waitOnWord(&local, 0, 10'000'000'000);
  waker.join();
}

// Child: attaches the section (argv[1]), checks the owner's pattern, writes 0xa5 into the last
// byte. 0: done; 3: the pattern was wrong.
int mapSectionRole(int, char** argv) {
  auto shm = SharedMemory::attach(UniqueHandle(handleFromArg(argv[1])), 1);
  if (!shm) return 10;
  if (shm->size() != 5000) return 4;
  for (size_t i = 0; i + 1 < shm->size(); ++i)
    if (shm->data()[i] != std::byte(static_cast<uint8_t>(i * 7))) return 3;
  shm->data()[shm->size() - 1] = std::byte{0xa5};
  return 0;
}
test::ChildRole map_section_role("map-section", mapSectionRole);

TEST(PlatformSharedMemory, HandedOverAndMappedInASecondProcess) {
  constexpr size_t kSize = 5000;  // not a whole page: size() is what was asked for
  auto shm = SharedMemory::create("handed-over", kSize);
  ASSERT_TRUE(shm.ok()) << shm.error().message;
  EXPECT_EQ(shm->size(), kSize);
  for (size_t i = 0; i < kSize; ++i) shm->data()[i] = std::byte(static_cast<uint8_t>(i * 7));
  Child child = spawnSelf("map-section", {handleArg(shm->handle())}, {shm->handle()});
  ASSERT_EQ(exitCodeOf(child), 0);
  EXPECT_EQ(shm->data()[kSize - 1], std::byte{0xa5});
}

TEST(PlatformSharedMemory, AttachRefusesAnObjectSmallerThanAsked) {
  auto shm = SharedMemory::create("platform-test-small", 4096);
  ASSERT_TRUE(shm.ok()) << shm.error().message;
  auto peer = SharedMemory::attachDup(shm->handle(), 8192);
  ASSERT_FALSE(peer.ok());
  EXPECT_NE(peer.error().message.find("needs at least 8192"), std::string::npos)
      << peer.error().message;
  EXPECT_FALSE(SharedMemory::create("platform-test-empty", 0).ok());
}

TEST(PlatformSharedMemory, AttachRefusesSectionsThatAreNotOursAndOtherHandles) {
  // A section without our trailer page (any other program's).
  UniqueHandle foreign(
      CreateFileMappingW(INVALID_HANDLE_VALUE, nullptr, PAGE_READWRITE, 0, 3 * 4096, nullptr));
  ASSERT_TRUE(foreign.valid());
  auto not_ours = SharedMemory::attach(std::move(foreign));
  ASSERT_FALSE(not_ours.ok());
  EXPECT_NE(not_ours.error().message.find("not a funkhaus section"), std::string::npos)
      << not_ours.error().message;
  // An event is no section at all.
  auto event = SharedMemory::attach(UniqueHandle(CreateEventW(nullptr, TRUE, FALSE, nullptr)));
  ASSERT_FALSE(event.ok());
  EXPECT_NE(event.error().message.find("not a section"), std::string::npos)
      << event.error().message;
  // A trailer that claims more than the section holds (a peer scribbled on it).
  auto shm = SharedMemory::create("scribbled", 4096);
  ASSERT_TRUE(shm.ok()) << shm.error().message;
  uint64_t* trailer_size = reinterpret_cast<uint64_t*>(shm->data() + 4096 + 16);
  *trailer_size = 1 << 20;
  auto scribbled = SharedMemory::attachDup(shm->handle());
  ASSERT_FALSE(scribbled.ok());
  EXPECT_NE(scribbled.error().message.find("trailer says 1048576 bytes"), std::string::npos)
      << scribbled.error().message;
}

TEST(PlatformHandlePassing, RefusesMoreHandlesThanAMessageCarries) {
  const std::wstring name = pipeName("many");
  UniqueHandle server = pipeServer(name);
  ASSERT_TRUE(server.valid());
  UniqueHandle client = pipeClient(name);
  ASSERT_TRUE(client.valid());
  std::vector<NativeHandle> many(kMaxPassedHandles + 1, server.get());
  auto sent = sendWithHandles(server.get(), {}, many);
  ASSERT_FALSE(sent.ok());
  EXPECT_NE(sent.error().message.find("at most"), std::string::npos) << sent.error().message;
  std::byte buffer[8];
  auto nothing = receiveWithHandles(client.get(), buffer, Blocking::kDontWait);
  ASSERT_TRUE(nothing.ok()) << nothing.error().message;
  EXPECT_FALSE(nothing->has_value()) << "nothing was sent";
}

TEST(PlatformHandlePassing, BytesAndHandlesArriveAsOneDatagramAndACloseReadsAsClosed) {
  const std::wstring name = pipeName("one");
  UniqueHandle server = pipeServer(name);
  UniqueHandle client = pipeClient(name);
  ASSERT_TRUE(server.valid() && client.valid());
  UniqueHandle event(CreateEventW(nullptr, TRUE, FALSE, nullptr));
  const std::byte bytes[5] = {std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}, std::byte{5}};
  const NativeHandle handles[] = {event.get()};
  ASSERT_TRUE(sendWithHandles(server.get(), bytes, handles).ok());
  ASSERT_TRUE(sendWithHandles(server.get(), bytes, {}).ok());
  std::byte buffer[16] = {};
  auto got = receiveWithHandles(client.get(), buffer);
  ASSERT_TRUE(got.ok() && got->has_value()) << (got.ok() ? "" : got.error().message);
  EXPECT_EQ((*got)->size, 5u);
  EXPECT_EQ(buffer[4], std::byte{5});
  ASSERT_EQ((*got)->handles.size(), 1u);
  EXPECT_NE((*got)->handles[0].get(), event.get()) << "a handle of its own";
  ASSERT_TRUE(SetEvent((*got)->handles[0].get()));
  EXPECT_EQ(WaitForSingleObject(event.get(), 0), WAIT_OBJECT_0) << "on the same event";
  std::byte small[2];
  auto cut = receiveWithHandles(client.get(), small);
  ASSERT_TRUE(cut.ok() && cut->has_value());
  EXPECT_TRUE((*cut)->truncated);
  EXPECT_EQ((*cut)->size, 2u);
  server.reset();
  auto closed = receiveWithHandles(client.get(), buffer);
  ASSERT_TRUE(closed.ok() && closed->has_value());
  EXPECT_TRUE((*closed)->closed());
}

// Child: connects to the pipe argv[1], receives a section, checks the owner's byte and writes
// 0xa5 after it. 0: done.
int receiveSectionRole(int, char** argv) {
  UniqueHandle client = pipeClient(test::wideName(argv[1]));
  if (!client.valid()) return 10;
  std::byte buffer[16];
  auto got = receiveWithHandles(client.get(), buffer);
  if (!got.ok() || !got->has_value() || (*got)->handles.size() != 1) return 11;
  auto shm = SharedMemory::attach(std::move((*got)->handles[0]), 4096);
  if (!shm) return 12;
  if (shm->data()[0] != std::byte{0x3c}) return 3;
  shm->data()[1] = std::byte{0xa5};
  return 0;
}
test::ChildRole receive_section_role("receive-section", receiveSectionRole);

TEST(PlatformHandlePassing, ASectionDuplicatedIntoAnotherProcessIsMappedThere) {
  auto shm = SharedMemory::create("passed", 4096);
  ASSERT_TRUE(shm.ok()) << shm.error().message;
  shm->data()[0] = std::byte{0x3c};
  const std::wstring name = pipeName("section");
  UniqueHandle server = pipeServer(name);
  ASSERT_TRUE(server.valid());
  Child child = spawnSelf("receive-section", {test::narrowName(name)});
  ASSERT_TRUE(test::awaitChildClient(server.get(), name, child.process.get()))
      << "the child ended before it opened the pipe, exit " << exitCodeOf(child, 0);
  const std::byte note[1] = {std::byte{1}};
  const NativeHandle handles[] = {shm->handle()};
  ASSERT_TRUE(sendWithHandles(server.get(), note, handles).ok());
  ASSERT_EQ(exitCodeOf(child), 0);
  EXPECT_EQ(shm->data()[1], std::byte{0xa5});
}

TEST(PlatformProcess, KilledChildIsGoneBeforeAndAfterItsHandleIsClosed) {
  Child child = spawnSelf("sleep", {});
  auto handle = ProcessHandle::open(child.id);
  ASSERT_TRUE(handle.ok()) << handle.error().message;
  EXPECT_EQ(handle->id(), child.id);
  EXPECT_FALSE(handle->ended());
  EXPECT_FALSE(processGone(child.id));
  EXPECT_FALSE(handle->reap().has_value()) << "still running";
  ASSERT_TRUE(TerminateProcess(child.process.get(), 9));
  EXPECT_TRUE(handle->waitEnded(-1));
  EXPECT_TRUE(handle->ended());
  EXPECT_TRUE(processGone(child.id)) << "ended while handles on it are open counts as gone";
  auto status = handle->reap();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, (ExitStatus{false, 9}));
  EXPECT_FALSE(handle->valid()) << "reaping closes the handle";
  const ProcessId id = child.id;
  child.process.reset();
  EXPECT_TRUE(processGone(id));
}

TEST(PlatformProcess, ExitCodeOfAChildThatExits) {
  Child child = spawnSelf("exit", {"3"});
  auto handle = ProcessHandle::open(child.id);
  ASSERT_TRUE(handle.ok()) << handle.error().message;
  ASSERT_TRUE(handle->waitEnded(-1));
  auto status = handle->reap();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, (ExitStatus{false, 3}));
  EXPECT_EQ(describeExit(*status), "exit code 3");
  EXPECT_EQ(describeExit(ExitStatus{false, static_cast<int>(0xC0000005u)}), "exit code 0xC0000005");
}

TEST(PlatformProcess, WaitEndedHonoursItsTimeout) {
  Child child = spawnSelf("sleep", {});
  auto handle = ProcessHandle::open(child.id);
  ASSERT_TRUE(handle.ok()) << handle.error().message;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(handle->waitEnded(50'000'000));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50));
  TerminateProcess(child.process.get(), 1);
  EXPECT_TRUE(handle->waitEnded(10'000'000'000));
}

TEST(PlatformProcess, LivenessOfOurselvesDeadAndGarbageIds) {
  EXPECT_FALSE(processGone(currentProcessId()));
  EXPECT_EQ(currentProcessId(), static_cast<ProcessId>(GetCurrentProcessId()));
  EXPECT_TRUE(processGone(0));
  EXPECT_TRUE(processGone(0xffffffffu));
  const uint32_t dead = test::deadPid();
  EXPECT_TRUE(processGone(dead));
  // An ended process's object lives on while anything holds it (under Wine 8 it still opened
  // after our last handle on it closed): then it opens, and reads as ended.
  auto handle = ProcessHandle::open(dead);
  if (handle.ok()) {
    EXPECT_TRUE(handle->ended());
  }
  auto garbage = ProcessHandle::open(0xfffffff0u);
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.error().code, ErrorCode::kPeerLost);
  EXPECT_NE(garbage.error().message.find(std::to_string(0xfffffff0u)), std::string::npos)
      << garbage.error().message;
  EXPECT_FALSE(processGone(test::livePeerPid()));
}

TEST(PlatformHandle, ClosesItsHandleOnceAndGivesItUpOnRelease) {
  HANDLE event = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  ASSERT_NE(event, nullptr);
  {
    UniqueHandle owner(event);
    UniqueHandle moved = std::move(owner);
    EXPECT_FALSE(owner.valid());
    EXPECT_EQ(moved.get(), event);
  }
  DWORD flags = 0;
  EXPECT_FALSE(GetHandleInformation(event, &flags)) << "closed when its owner went";
  UniqueHandle second(CreateEventW(nullptr, TRUE, FALSE, nullptr));
  const NativeHandle raw = second.release();
  EXPECT_FALSE(second.valid());
  EXPECT_TRUE(GetHandleInformation(raw, &flags)) << "release gives it up without closing";
  closeHandle(raw);
}

TEST(PlatformHandle, DuplicateIsASecondHandleOnTheSameObject) {
  UniqueHandle event(CreateEventW(nullptr, TRUE, FALSE, nullptr));
  ASSERT_TRUE(event.valid());
  auto copy = duplicateHandle(event.get());
  ASSERT_TRUE(copy.ok()) << copy.error().message;
  EXPECT_NE(copy->get(), event.get());
  DWORD flags = 0;
  ASSERT_TRUE(GetHandleInformation(copy->get(), &flags));
  EXPECT_EQ(flags & HANDLE_FLAG_INHERIT, 0u) << "not inherited by children";
  const HANDLE original = event.get();
  event.reset();
  ASSERT_TRUE(SetEvent(copy->get())) << "the copy outlives the original";
  EXPECT_EQ(WaitForSingleObject(copy->get(), 0), WAIT_OBJECT_0);
  EXPECT_FALSE(duplicateHandle(original).ok()) << "closed";
  auto bad = duplicateHandle(kInvalidHandle);
  ASSERT_FALSE(bad.ok()) << "INVALID_HANDLE_VALUE is this process's pseudo-handle: refused";
  EXPECT_NE(bad.error().message.find("not a valid handle"), std::string::npos)
      << bad.error().message;
}

// Child: attaches the section (argv[1]), takes the keyed mutex in word 0, says so in word 1,
// then sleeps until it is killed.
int holdMutexRole(int, char** argv) {
  auto shm = SharedMemory::attach(UniqueHandle(handleFromArg(argv[1])), 8);
  if (!shm) return 10;
  KeyedMutex m(words(*shm)[0], currentProcessId());
  if (m.tryAcquire(abi::kKeyEmpty) != AcquireResult::kAcquired) return 1;
  std::atomic_ref<uint32_t>(words(*shm)[1]).store(1);
  Sleep(INFINITE);
  return 0;
}
test::ChildRole hold_mutex_role("hold-mutex", holdMutexRole);

TEST(KeyedMutexAcrossProcesses, WaiterLearnsOfHolderDeathWhileWaiting) {
  auto shm = SharedMemory::create("keyed-mutex", 4096);
  ASSERT_TRUE(shm.ok()) << shm.error().message;
  Child child = spawnSelf("hold-mutex", {handleArg(shm->handle())}, {shm->handle()});
  while (std::atomic_ref<uint32_t>(words(*shm)[1]).load() == 0) {
    ASSERT_NE(WaitForSingleObject(child.process.get(), 1), WAIT_OBJECT_0) << "child ended early";
  }
  std::thread killer([&] {
    Sleep(30);
    TerminateProcess(child.process.get(), 9);  // our handle stays open: like a zombie
  });
  KeyedMutex m(words(*shm)[0], currentProcessId());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(m.acquire(abi::kKeyEmpty, 5'000'000'000), AcquireResult::kAbandoned);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2))
      << "the dead holder must not stall its peer until the timeout";
  killer.join();
  EXPECT_EQ(exitCodeOf(child), 9);
}

}  // namespace
}  // namespace funkhaus::platform
