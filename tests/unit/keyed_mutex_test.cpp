// Keyed-mutex semantics: keys, timeouts reported as timeouts, wake-ups, abandonment.
#include "funkhaus/common/keyed_mutex.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#if !defined(_WIN32)
#include <sys/mman.h>
#include <csignal>
#endif

#include "funkhaus/abi/keyed_mutex_word.h"
#include "test_util.h"

namespace funkhaus {
namespace {

using abi::kKeyEmpty;
using abi::kKeyFull;
using abi::kMutexHeld;

TEST(KeyedMutex, FreshWordIsReleasedWithKeyZero) {
  uint32_t word = 0;
  KeyedMutex m(word, test::selfPid());
  EXPECT_EQ(m.releasedKey(), kKeyEmpty);
  EXPECT_EQ(m.tryAcquire(kKeyFull), AcquireResult::kTimeout);
  EXPECT_EQ(word, 0u) << "a failed try must not change the word";
  EXPECT_EQ(m.tryAcquire(kKeyEmpty), AcquireResult::kAcquired);
  EXPECT_EQ(m.holder(), test::selfPid());
  EXPECT_EQ(m.releasedKey(), std::nullopt);
}

TEST(KeyedMutex, WrongKeyWaitsAndReportsTimeout) {
  uint32_t word = 0;
  KeyedMutex m(word, test::selfPid());
  EXPECT_EQ(m.acquire(kKeyFull, 30'000'000), AcquireResult::kTimeout);
  EXPECT_EQ(m.releasedKey(), kKeyEmpty) << "timeout must leave the slot as it was";
  EXPECT_EQ(m.holder(), std::nullopt);
}

TEST(KeyedMutex, HeldByLiveProcessTimesOutNotAbandoned) {
  uint32_t word = kMutexHeld | test::livePeerPid();
  KeyedMutex m(word, test::selfPid());
  EXPECT_EQ(m.acquire(kKeyEmpty, 50'000'000), AcquireResult::kTimeout);
  EXPECT_EQ(m.holder(), test::livePeerPid());
}

TEST(KeyedMutex, ReleaseWithKeyHandsToThatKeyOnly) {
  uint32_t word = 0;
  KeyedMutex m(word, test::selfPid());
  ASSERT_EQ(m.acquire(kKeyEmpty, 0), AcquireResult::kAcquired);
  ASSERT_TRUE(m.release(kKeyFull).ok());
  EXPECT_EQ(m.releasedKey(), kKeyFull);
  EXPECT_EQ(m.tryAcquire(kKeyEmpty), AcquireResult::kTimeout);
  EXPECT_EQ(m.acquire(kKeyFull, 0), AcquireResult::kAcquired);
  ASSERT_TRUE(m.release(7).ok());
  EXPECT_EQ(m.tryAcquire(kKeyFull), AcquireResult::kTimeout);
  EXPECT_EQ(m.tryAcquire(7), AcquireResult::kAcquired);
}

TEST(KeyedMutex, WaiterIsWokenByReleaseWithItsKey) {
  uint32_t word = 0;
  KeyedMutex holder(word, test::selfPid());
  ASSERT_EQ(holder.tryAcquire(kKeyEmpty), AcquireResult::kAcquired);
  std::atomic<int> result{-1};
  std::thread waiter([&] {
    KeyedMutex m(word, test::selfPid());
    result = static_cast<int>(m.acquire(kKeyFull, 10'000'000'000));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(holder.release(kKeyFull).ok());
  waiter.join();
  EXPECT_EQ(result.load(), static_cast<int>(AcquireResult::kAcquired));
}

TEST(KeyedMutex, ReleaseWithOtherKeyDoesNotSatisfyWaiter) {
  uint32_t word = 0;
  KeyedMutex holder(word, test::selfPid());
  ASSERT_EQ(holder.tryAcquire(kKeyEmpty), AcquireResult::kAcquired);
  std::atomic<int> result{-1};
  std::thread waiter([&] {
    KeyedMutex m(word, test::selfPid());
    result = static_cast<int>(m.acquire(kKeyFull, 200'000'000));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(holder.release(kKeyEmpty).ok());
  waiter.join();
  EXPECT_EQ(result.load(), static_cast<int>(AcquireResult::kTimeout));
  EXPECT_EQ(holder.releasedKey(), kKeyEmpty);
}

TEST(KeyedMutex, ReleaseByNonHolderIsAnErrorAndChangesNothing) {
  uint32_t word = 0;
  KeyedMutex m(word, test::selfPid());
  auto free_release = m.release(kKeyFull);
  ASSERT_FALSE(free_release.ok());
  EXPECT_NE(free_release.error().message.find("not held"), std::string::npos);
  EXPECT_EQ(word, 0u);
  word = kMutexHeld | test::livePeerPid();
  EXPECT_FALSE(m.release(kKeyFull).ok());
  EXPECT_EQ(word, kMutexHeld | test::livePeerPid());
}

TEST(KeyedMutex, DeadHolderIsReportedAbandonedAndCallerHoldsIt) {
  const uint32_t dead = test::deadPid();
  uint32_t word = kMutexHeld | dead;
  KeyedMutex m(word, test::selfPid());
  EXPECT_EQ(m.tryAcquire(kKeyEmpty), AcquireResult::kTimeout) << "fast path skips liveness";
  EXPECT_EQ(m.acquire(kKeyFull, 1'000'000'000), AcquireResult::kAbandoned);
  EXPECT_EQ(m.holder(), test::selfPid());
  EXPECT_TRUE(m.release(kKeyEmpty).ok());
}

TEST(KeyedMutex, ZeroTimeoutStillDetectsDeadHolder) {
  uint32_t word = kMutexHeld | test::deadPid();
  KeyedMutex m(word, test::selfPid());
  EXPECT_EQ(m.acquire(kKeyEmpty, 0), AcquireResult::kAbandoned);
}

TEST(KeyedMutex, GarbageHolderCountsAsDead) {
  uint32_t word = kMutexHeld | 0;  // held by "pid 0": only garbage can say that
  KeyedMutex m(word, test::selfPid());
  EXPECT_TRUE(m.recoverIfAbandoned());
  EXPECT_EQ(m.holder(), test::selfPid());
  uint32_t word2 = kMutexHeld | abi::kMutexValueMask;  // beyond any pid_max
  KeyedMutex m2(word2, test::selfPid());
  EXPECT_EQ(m2.acquire(kKeyEmpty, 0), AcquireResult::kAbandoned);
}

#if !defined(_WIN32)  // on Windows: tests/windows/platform_windows_test.cpp
TEST(KeyedMutex, WaiterLearnsOfHolderDeathWhileWaiting) {
  uint32_t word = 0;
  // A child takes the word through a shared mapping, then dies holding it.
  auto* shared = static_cast<uint32_t*>(
      mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(shared, MAP_FAILED);
  *shared = word;
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  pid_t child = fork();
  if (child == 0) {
    KeyedMutex m(*shared, static_cast<uint32_t>(getpid()));
    if (m.tryAcquire(kKeyEmpty) != AcquireResult::kAcquired) _exit(1);
    char c = 1;
    (void)!write(pipefd[1], &c, 1);
    pause();
    _exit(0);
  }
  char c = 0;
  ASSERT_EQ(read(pipefd[0], &c, 1), 1);
  std::thread killer([child] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    kill(child, SIGKILL);  // not reaped yet: the zombie must count as gone
  });
  KeyedMutex m(*shared, test::selfPid());
  EXPECT_EQ(m.acquire(kKeyEmpty, 5'000'000'000), AcquireResult::kAbandoned);
  killer.join();
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status));
  close(pipefd[0]);
  close(pipefd[1]);
  munmap(shared, 4096);
}
#endif

}  // namespace
}  // namespace funkhaus
