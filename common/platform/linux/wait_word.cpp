// Wait/wake on a shared word with futex(2), process-shared (no FUTEX_PRIVATE_FLAG: the word is
// in a memfd mapped by other processes).
#include "funkhaus/platform/wait_word.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

namespace funkhaus::platform {

WaitResult waitOnWord(uint32_t* word, uint32_t expected, int64_t timeout_ns) {
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout_ns >= 0) {
    ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000);
    tsp = &ts;
  }
  long rc = syscall(SYS_futex, word, FUTEX_WAIT, expected, tsp, nullptr, 0);
  if (rc == 0) return WaitResult::kWoken;
  if (errno == EAGAIN) return WaitResult::kValueChanged;
  if (errno == ETIMEDOUT) return WaitResult::kTimedOut;
  return WaitResult::kWoken;  // EINTR: the caller re-checks its condition and deadline
}

void wakeWord(uint32_t* word, int count) {
  syscall(SYS_futex, word, FUTEX_WAKE, count, nullptr, nullptr, 0);
}

}  // namespace funkhaus::platform
