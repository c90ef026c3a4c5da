// SharedMemory on Windows: an unnamed pagefile-backed section (CreateFileMapping, SEC_COMMIT),
// which nobody can resize, mapped whole with MapViewOfFile. One page more than asked for holds
// the SectionTrailer (the size asked for, the wake semaphore's id, the sleeper count), so a
// process that got the section's handle can map it and wait on its words (section_registry.h).
#include "funkhaus/platform/shared_memory.h"

#include <windows.h>
// after <windows.h>, which it needs
#include <bcrypt.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>

#include "section_registry.h"
#include "windows_error.h"

namespace funkhaus::platform {
namespace {

using windows::SectionMapping;
using windows::SectionTrailer;

size_t pageSize() {
  SYSTEM_INFO info{};
  GetSystemInfo(&info);
  return info.dwPageSize;
}

size_t roundUp(size_t n, size_t page) { return (n + page - 1) / page * page; }

std::wstring wakeName(const uint64_t (&id)[2]) {
  wchar_t name[64];
  std::swprintf(name, 64, L"Local\\funkhaus-wake-%016llx%016llx",
                static_cast<unsigned long long>(id[0]), static_cast<unsigned long long>(id[1]));
  return name;
}

// Maps the whole section read-write. Error: not a section we may map.
Result<std::byte*> mapView(HANDLE section) {
  void* p = MapViewOfFile(section, FILE_MAP_READ | FILE_MAP_WRITE, 0, 0, 0);
  if (p == nullptr)
    return makeError("MapViewOfFile of handle {} failed: {}", static_cast<void*>(section),
                     windows::lastErrorText());
  return static_cast<std::byte*>(p);
}

}  // namespace

Result<SharedMemory> SharedMemory::create(const std::string& name, size_t size) {
  if (size == 0) return makeError("shared memory '{}': size must not be 0", name);
  const size_t page = pageSize();
  const size_t data_size = roundUp(size, page);
  const uint64_t total = uint64_t{data_size} + page;
  UniqueHandle section(CreateFileMappingW(
      INVALID_HANDLE_VALUE, nullptr, PAGE_READWRITE | SEC_COMMIT, static_cast<DWORD>(total >> 32),
      static_cast<DWORD>(total & 0xffffffffu), nullptr));
  if (section.get() == nullptr)
    return makeError("CreateFileMapping of {} bytes for '{}' failed: {}", total, name,
                     windows::lastErrorText());
  auto base = mapView(section.get());
  if (!base) return makeError("shared memory '{}': {}", name, base.error().message);
  auto mapping = std::make_shared<SectionMapping>();
  mapping->base = *base;
  mapping->data_size = data_size;
  mapping->trailer = reinterpret_cast<SectionTrailer*>(*base + data_size);
  SectionTrailer& t = *mapping->trailer;
  if (BCryptGenRandom(nullptr, reinterpret_cast<UCHAR*>(t.wake_id), sizeof t.wake_id,
                      BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0) {
    UnmapViewOfFile(*base);
    return makeError("shared memory '{}': no random id for its wake semaphore", name);
  }
  SetLastError(0);
  mapping->wake = CreateSemaphoreW(nullptr, 0, LONG_MAX, wakeName(t.wake_id).c_str());
  if (mapping->wake == nullptr || GetLastError() == ERROR_ALREADY_EXISTS) {
    const std::string why = mapping->wake == nullptr ? windows::lastErrorText() : "name taken";
    UnmapViewOfFile(*base);
    return makeError("shared memory '{}': wake semaphore: {}", name, why);
  }
  t.magic = windows::kSectionMagic;
  t.version = windows::kSectionVersion;
  t.waiters = 0;
  t.size = size;
  windows::registerSection(mapping);
  return SharedMemory(std::move(section), *base, size);
}

Result<SharedMemory> SharedMemory::attach(UniqueHandle section, size_t min_size) {
  if (!section.valid()) return makeError("shared memory attach: invalid handle");
  auto base = mapView(section.get());
  if (!base) return makeError("shared memory: not a section we can map: {}", base.error().message);
  auto refuse = [&](std::string why) -> Result<SharedMemory> {
    UnmapViewOfFile(*base);
    return makeError("shared memory handle {}: {}", static_cast<void*>(section.get()), why);
  };
  MEMORY_BASIC_INFORMATION info{};
  if (VirtualQuery(*base, &info, sizeof info) == 0)
    return refuse("VirtualQuery failed: " + windows::lastErrorText());
  const size_t page = pageSize();
  const size_t total = info.RegionSize;
  if (total < 2 * page) return refuse("too small to be a funkhaus section");
  auto mapping = std::make_shared<SectionMapping>();
  mapping->base = *base;
  mapping->data_size = total - page;
  mapping->trailer = reinterpret_cast<SectionTrailer*>(*base + mapping->data_size);
  // One read of what a peer could change under us.
  SectionTrailer t;
  std::memcpy(&t, mapping->trailer, sizeof t);
  if (t.magic != windows::kSectionMagic || t.version != windows::kSectionVersion)
    return refuse("not a funkhaus section (no trailer of version " +
                  std::to_string(windows::kSectionVersion) + ")");
  if (t.size == 0 || roundUp(t.size, page) != mapping->data_size)
    return refuse("its trailer says " + std::to_string(t.size) + " bytes, the section holds " +
                  std::to_string(mapping->data_size));
  if (t.size < min_size)
    return refuse(std::to_string(t.size) + " bytes, needs at least " + std::to_string(min_size));
  // Opens the creator's semaphore, or makes it again if every holder has closed it.
  mapping->wake = CreateSemaphoreW(nullptr, 0, LONG_MAX, wakeName(t.wake_id).c_str());
  if (mapping->wake == nullptr) return refuse("wake semaphore: " + windows::lastErrorText());
  windows::registerSection(mapping);
  return SharedMemory(std::move(section), *base, static_cast<size_t>(t.size));
}

Result<SharedMemory> SharedMemory::attachDup(NativeHandle handle, size_t min_size) {
  auto copy = duplicateHandle(handle);
  if (!copy) return makeError("shared memory: {}", copy.error().message);
  return attach(std::move(*copy), min_size);
}

SharedMemory::SharedMemory(SharedMemory&& other) noexcept
    : handle_(std::move(other.handle_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

SharedMemory& SharedMemory::operator=(SharedMemory&& other) noexcept {
  if (this != &other) {
    unmap();
    handle_ = std::move(other.handle_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SharedMemory::~SharedMemory() { unmap(); }

void SharedMemory::unmap() {
  if (data_ != nullptr) {
    windows::unregisterSection(data_);
    UnmapViewOfFile(data_);
  }
  data_ = nullptr;
  size_ = 0;
}

}  // namespace funkhaus::platform
