// The platform seam (common/platform) with real processes: wait/wake on a shared word across two
// processes, shared memory handed over and mapped in a second process, liveness of a killed
// child, handle ownership.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "funkhaus/platform/handle.h"
#include "funkhaus/platform/handle_passing.h"
#include "funkhaus/platform/process.h"
#include "funkhaus/platform/shared_memory.h"
#include "funkhaus/platform/wait_word.h"
#include "test_util.h"

namespace funkhaus::platform {
namespace {

// The scheduler state letter of a process ('S' sleeping, 'R' running, 'Z' zombie ...).
char processState(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() ? line[paren + 2] : '?';
}

// Waits (without a deadline: ctest's timeout is the limit) until `pid` sleeps.
void awaitSleeping(pid_t pid) {
  while (processState(pid) != 'S') usleep(1000);
}

// Reaps `pid` and returns its exit code (-signal when killed).
int exitCodeOf(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1000;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

// Words in a shared page: [0] the word to wait on, [1] "the child is about to wait".
struct SharedWords {
  SharedMemory shm;
  uint32_t* word() const { return reinterpret_cast<uint32_t*>(shm.data()); }
  uint32_t* ready() const { return reinterpret_cast<uint32_t*>(shm.data()) + 1; }
};

SharedWords makeWords() {
  auto shm = SharedMemory::create("platform-test-words", 4096);
  if (!shm) std::abort();
  return SharedWords{std::move(*shm)};
}

// Child exit codes of the wait/wake tests.
constexpr int kChildWoken = 10, kChildValueChanged = 11, kChildTimedOut = 12, kChildNoChange = 13;

// In a forked child: says it is about to wait, waits while the word is 0, exits with the result.
[[noreturn]] void childWait(const SharedWords& words, int64_t timeout_ns) {
  std::atomic_ref<uint32_t>(*words.ready()).store(1, std::memory_order_seq_cst);
  const WaitResult r = waitOnWord(words.word(), 0, timeout_ns);
  const uint32_t now = std::atomic_ref<uint32_t>(*words.word()).load(std::memory_order_seq_cst);
  if (r == WaitResult::kTimedOut) _exit(kChildTimedOut);
  if (r == WaitResult::kValueChanged) _exit(kChildValueChanged);
  _exit(now == 1 ? kChildWoken : kChildNoChange);
}

TEST(PlatformWaitWord, WakeReachesASleeperInAnotherProcess) {
  SharedWords words = makeWords();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) childWait(words, -1);
  while (std::atomic_ref<uint32_t>(*words.ready()).load() == 0) usleep(1000);
  awaitSleeping(child);  // past the flag, the only thing the child blocks in is the wait
  std::atomic_ref<uint32_t>(*words.word()).store(1, std::memory_order_seq_cst);
  wakeWord(words.word(), 1);
  EXPECT_EQ(exitCodeOf(child), kChildWoken);
}

TEST(PlatformWaitWord, WaitTimesOutWithoutAWake) {
  SharedWords words = makeWords();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) childWait(words, 20'000'000);
  EXPECT_EQ(exitCodeOf(child), kChildTimedOut);
}

TEST(PlatformWaitWord, WaitReturnsAtOnceWhenTheWordDiffers) {
  SharedWords words = makeWords();
  *words.word() = 7;
  EXPECT_EQ(waitOnWord(words.word(), 0, -1), WaitResult::kValueChanged);
}

TEST(PlatformWaitWord, WakeAllReachesEverySleeper) {
  SharedWords words = makeWords();
  pid_t children[3];
  for (pid_t& child : children) {
    std::atomic_ref<uint32_t>(*words.ready()).store(0);
    child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) childWait(words, -1);
    while (std::atomic_ref<uint32_t>(*words.ready()).load() == 0) usleep(1000);
    awaitSleeping(child);
  }
  std::atomic_ref<uint32_t>(*words.word()).store(1, std::memory_order_seq_cst);
  wakeWord(words.word(), kWakeAll);
  for (pid_t child : children) EXPECT_EQ(exitCodeOf(child), kChildWoken);
}

// A second process receives the shared memory's handle over a socket, maps it (a mapping of its
// own: it attaches from the handle, not from a fork's copy), checks the owner's bytes and writes
// its answer; the owner sees the answer in its own mapping.
TEST(PlatformSharedMemory, HandedOverAndMappedInASecondProcess) {
  constexpr size_t kSize = 1 << 20;
  auto shm = SharedMemory::create("platform-test-shm", kSize);
  ASSERT_TRUE(shm.ok()) << shm.error().message;
  ASSERT_EQ(shm->size(), kSize);
  for (size_t i = 0; i < kSize; i += 4096) shm->data()[i] = std::byte{0x5a};
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  UniqueHandle ours(sv[0]), theirs(sv[1]);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::byte buffer[16];
    auto got = receiveWithHandles(theirs.get(), buffer);
    if (!got || !*got || (*got)->handles.size() != 1) _exit(20);
    auto mine = SharedMemory::attach(std::move((*got)->handles[0]), kSize);
    if (!mine) _exit(21);
    if (mine->size() != kSize) _exit(22);
    for (size_t i = 0; i < kSize; i += 4096)
      if (mine->data()[i] != std::byte{0x5a}) _exit(23);
    mine->data()[kSize - 1] = std::byte{0xa5};
    _exit(0);
  }
  const std::byte note[1] = {std::byte{1}};
  const NativeHandle handles[] = {shm->handle()};
  ASSERT_TRUE(sendWithHandles(ours.get(), note, handles).ok());
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

TEST(PlatformHandlePassing, RefusesMoreHandlesThanAMessageCarries) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  UniqueHandle a(sv[0]), b(sv[1]);
  std::vector<NativeHandle> many(kMaxPassedHandles + 1, a.get());
  auto sent = sendWithHandles(a.get(), {}, many);
  ASSERT_FALSE(sent.ok());
  EXPECT_NE(sent.error().message.find("at most"), std::string::npos) << sent.error().message;
  std::byte buffer[8];
  auto nothing = receiveWithHandles(b.get(), buffer, Blocking::kDontWait);
  ASSERT_TRUE(nothing.ok()) << nothing.error().message;
  EXPECT_FALSE(nothing->has_value()) << "nothing was sent";
}

TEST(PlatformProcess, KilledChildIsGoneBeforeAndAfterItIsReaped) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    for (;;) pause();
  }
  const auto id = static_cast<ProcessId>(child);
  auto handle = ProcessHandle::open(id);
  ASSERT_TRUE(handle.ok()) << handle.error().message;
  EXPECT_EQ(handle->id(), id);
  EXPECT_FALSE(handle->ended());
  EXPECT_FALSE(processGone(id));
  EXPECT_FALSE(handle->reap().has_value()) << "still running";
  ASSERT_EQ(kill(child, SIGKILL), 0);
  EXPECT_TRUE(handle->waitEnded(-1));
  EXPECT_TRUE(handle->ended());
  EXPECT_TRUE(processGone(id)) << "a zombie counts as gone";
  auto status = handle->reap();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, (ExitStatus{true, SIGKILL}));
  EXPECT_EQ(describeExit(*status), "killed by SIGKILL");
  EXPECT_FALSE(handle->valid()) << "reaping closes the handle";
  EXPECT_TRUE(processGone(id));
}

TEST(PlatformProcess, ExitCodeOfAChildThatExits) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(3);
  auto handle = ProcessHandle::open(static_cast<ProcessId>(child));
  ASSERT_TRUE(handle.ok()) << handle.error().message;
  ASSERT_TRUE(handle->waitEnded(-1));
  auto status = handle->reap();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, (ExitStatus{false, 3}));
  EXPECT_EQ(describeExit(*status), "exit code 3");
}

TEST(PlatformProcess, LivenessOfOurselvesDeadAndGarbageIds) {
  EXPECT_FALSE(processGone(currentProcessId()));
  EXPECT_EQ(currentProcessId(), static_cast<ProcessId>(getpid()));
  EXPECT_TRUE(processGone(0));
  EXPECT_TRUE(processGone(0xffffffffu));
  const uint32_t dead = test::deadPid();
  EXPECT_TRUE(processGone(dead));
  auto handle = ProcessHandle::open(dead);
  ASSERT_FALSE(handle.ok());
  EXPECT_EQ(handle.error().code, ErrorCode::kPeerLost);
  EXPECT_NE(handle.error().message.find(std::to_string(dead)), std::string::npos)
      << handle.error().message;
}

TEST(PlatformHandle, ClosesItsHandleOnceAndGivesItUpOnRelease) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  {
    UniqueHandle read_end(p[0]);
    UniqueHandle moved = std::move(read_end);
    EXPECT_FALSE(read_end.valid());
    EXPECT_EQ(moved.get(), p[0]);
  }
  EXPECT_EQ(fcntl(p[0], F_GETFD), -1) << "closed when its owner went";
  EXPECT_EQ(errno, EBADF);
  UniqueHandle write_end(p[1]);
  const NativeHandle raw = write_end.release();
  EXPECT_FALSE(write_end.valid());
  EXPECT_GE(fcntl(raw, F_GETFD), 0) << "release gives it up without closing";
  closeHandle(raw);
}

TEST(PlatformHandle, DuplicateIsASecondHandleOnTheSameObject) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  UniqueHandle read_end(p[0]), write_end(p[1]);
  auto copy = duplicateHandle(write_end.get());
  ASSERT_TRUE(copy.ok()) << copy.error().message;
  EXPECT_NE(copy->get(), write_end.get());
  EXPECT_EQ(fcntl(copy->get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC) << "not inherited by children";
  write_end.reset();
  ASSERT_EQ(write(copy->get(), "x", 1), 1) << "the copy outlives the original";
  char c = 0;
  ASSERT_EQ(read(read_end.get(), &c, 1), 1);
  EXPECT_EQ(c, 'x');
  auto bad = duplicateHandle(kInvalidHandle);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("fd -1"), std::string::npos) << bad.error().message;
}

}  // namespace
}  // namespace funkhaus::platform
