// The sections this process maps, by address: how waitOnWord finds the wake semaphore of the
// section a word lives in. SharedMemory registers each mapping, any thread looks words up.
// Internal to the Windows implementation.
#pragma once

#include <windows.h>

#include <cstddef>
#include <cstdint>
#include <memory>

namespace funkhaus::platform::windows {

// The last page of every funkhaus section, after the caller's bytes (rounded up to a page): what
// a second process needs to map it and to wait on its words. Written by the creator; a peer may
// scribble on it, which costs that peer's waits their wake-ups (every wait has a timeout) and
// never makes a mapping larger than the section. Layout bumps kSectionVersion.
struct SectionTrailer {
  uint64_t magic;       // kSectionMagic
  uint32_t version;     // kSectionVersion
  uint32_t waiters;     // sleepers in waitOnWord on any word of the section (atomic)
  uint64_t size;        // the bytes the creator asked for (SharedMemory::size())
  uint64_t wake_id[2];  // random: names the wake semaphore, Local\funkhaus-wake-<32 hex digits>
};
static_assert(sizeof(SectionTrailer) == 40, "the trailer is read by processes of other builds");
inline constexpr uint64_t kSectionMagic = 0x314E5443'45534846ull;  // "FHSECTN1"
inline constexpr uint32_t kSectionVersion = 1;

// One mapping of a section: its view and the wake semaphore (closed with the last reference).
struct SectionMapping {
  std::byte* base = nullptr;
  size_t data_size = 0;  // bytes before the trailer page
  SectionTrailer* trailer = nullptr;
  HANDLE wake = nullptr;  // semaphore; owned
  ~SectionMapping();
};

void registerSection(std::shared_ptr<SectionMapping> mapping);
void unregisterSection(const std::byte* base);
// The registered mapping whose caller bytes hold `address`, or null.
std::shared_ptr<SectionMapping> findSection(const void* address);

}  // namespace funkhaus::platform::windows
