// Wait/wake on a shared word on Windows. WaitOnAddress is process-local, so a word inside a
// funkhaus section sleeps on that section's wake semaphore: the sleeper counts itself in the
// section trailer's `waiters` before it re-checks the word, a waker takes the whole count and
// releases the semaphore that many times. A word in process-local memory (tests, one-process
// users) uses WaitOnAddress. The callers re-check their condition after every wake, so waking
// more sleepers than asked (every sleeper of the section) is only a cost.
#include "funkhaus/platform/wait_word.h"

#include <windows.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>

#include "section_registry.h"
#include "windows_error.h"

namespace funkhaus::platform {
namespace windows {
namespace {

std::mutex& registryMutex() {
  static std::mutex mutex;
  return mutex;
}

std::map<uintptr_t, std::shared_ptr<SectionMapping>>& registry() {
  static std::map<uintptr_t, std::shared_ptr<SectionMapping>> sections;
  return sections;
}

// At most this many permits per wake: a garbage waiter count must not flood the semaphore.
constexpr uint32_t kMaxReleasePerWake = 1024;

// Takes our count back unless a waker already took it (then its permit is ours to come, or a
// later sleeper's spurious wake-up).
void uncount(std::atomic_ref<uint32_t> waiters) {
  uint32_t n = waiters.load(std::memory_order_seq_cst);
  while (n > 0 && !waiters.compare_exchange_weak(n, n - 1, std::memory_order_seq_cst)) {
  }
}

}  // namespace

SectionMapping::~SectionMapping() {
  if (wake != nullptr) CloseHandle(wake);
}

void registerSection(std::shared_ptr<SectionMapping> mapping) {
  std::lock_guard lock(registryMutex());
  const auto key = reinterpret_cast<uintptr_t>(mapping->base);
  registry()[key] = std::move(mapping);
}

void unregisterSection(const std::byte* base) {
  std::lock_guard lock(registryMutex());
  registry().erase(reinterpret_cast<uintptr_t>(base));
}

std::shared_ptr<SectionMapping> findSection(const void* address) {
  const auto a = reinterpret_cast<uintptr_t>(address);
  std::lock_guard lock(registryMutex());
  auto& sections = registry();
  auto it = sections.upper_bound(a);
  if (it == sections.begin()) return nullptr;
  --it;
  if (a - it->first >= it->second->data_size) return nullptr;
  return it->second;
}

}  // namespace windows

WaitResult waitOnWord(uint32_t* word, uint32_t expected, int64_t timeout_ns) {
  std::atomic_ref<uint32_t> value(*word);
  const DWORD ms = windows::timeoutMs(timeout_ns);
  auto section = windows::findSection(word);
  if (section == nullptr) {
    if (value.load(std::memory_order_seq_cst) != expected) return WaitResult::kValueChanged;
    if (WaitOnAddress(word, &expected, sizeof expected, ms)) return WaitResult::kWoken;
    return GetLastError() == ERROR_TIMEOUT ? WaitResult::kTimedOut : WaitResult::kWoken;
  }
  std::atomic_ref<uint32_t> waiters(section->trailer->waiters);
  waiters.fetch_add(1, std::memory_order_seq_cst);
  // Counted before the check: a waker that changes the word after this load sees our count.
  if (value.load(std::memory_order_seq_cst) != expected) {
    windows::uncount(waiters);
    return WaitResult::kValueChanged;
  }
  const DWORD r = WaitForSingleObject(section->wake, ms);
  if (r == WAIT_OBJECT_0) return WaitResult::kWoken;
  windows::uncount(waiters);
  return r == WAIT_TIMEOUT ? WaitResult::kTimedOut : WaitResult::kWoken;
}

void wakeWord(uint32_t* word, int count) {
  auto section = windows::findSection(word);
  if (section == nullptr) {
    if (count == 1)
      WakeByAddressSingle(word);
    else
      WakeByAddressAll(word);
    return;
  }
  // The caller's store to the word comes before our read of the count (the sleeper's order is
  // the mirror image): a full fence on both sides, so one of the two sees the other.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const uint32_t n =
      std::atomic_ref<uint32_t>(section->trailer->waiters).exchange(0, std::memory_order_seq_cst);
  if (n > 0)
    ReleaseSemaphore(section->wake, static_cast<LONG>(std::min(n, windows::kMaxReleasePerWake)),
                     nullptr);
}

}  // namespace funkhaus::platform
