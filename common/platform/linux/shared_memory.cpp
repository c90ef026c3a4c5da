// SharedMemory on Linux: an anonymous memfd sealed against shrink, grow and further seals.
#include "funkhaus/platform/shared_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace funkhaus::platform {
namespace {

constexpr int kRequiredSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

Result<std::byte*> mapShared(int fd, size_t size) {
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return makeError("mmap of {} bytes failed: {}", size, std::strerror(errno));
  return static_cast<std::byte*>(p);
}

}  // namespace

Result<SharedMemory> SharedMemory::create(const std::string& name, size_t size) {
  if (size == 0) return makeError("shared memory '{}': size must not be 0", name);
  UniqueHandle fd(memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd.valid()) return makeError("memfd_create('{}') failed: {}", name, std::strerror(errno));
  if (ftruncate(fd.get(), static_cast<off_t>(size)) != 0)
    return makeError("ftruncate of memfd '{}' to {} bytes failed: {}", name, size,
                     std::strerror(errno));
  if (fcntl(fd.get(), F_ADD_SEALS, kRequiredSeals) != 0)
    return makeError("sealing memfd '{}' failed: {}", name, std::strerror(errno));
  auto data = mapShared(fd.get(), size);
  if (!data) return data.error();
  return SharedMemory(std::move(fd), *data, size);
}

Result<SharedMemory> SharedMemory::attach(UniqueHandle fd, size_t min_size) {
  if (!fd.valid()) return makeError("shared memory attach: invalid fd");
  int seals = fcntl(fd.get(), F_GET_SEALS);
  if (seals < 0)
    return makeError("shared memory fd {} is not a sealable memfd: {}", fd.get(),
                     std::strerror(errno));
  if ((seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
    return makeError(
        "shared memory fd {} is not sealed against shrink and grow (seals 0x{:x}); a peer "
        "could truncate it under our mapping",
        fd.get(), seals);
  struct stat st {};
  if (fstat(fd.get(), &st) != 0)
    return makeError("fstat of shared memory fd {} failed: {}", fd.get(), std::strerror(errno));
  if (st.st_size <= 0 || static_cast<size_t>(st.st_size) < min_size)
    return makeError("shared memory fd {} is {} bytes, needs at least {}", fd.get(),
                     static_cast<long long>(st.st_size), min_size);
  size_t size = static_cast<size_t>(st.st_size);
  auto data = mapShared(fd.get(), size);
  if (!data) return data.error();
  return SharedMemory(std::move(fd), *data, size);
}

Result<SharedMemory> SharedMemory::attachDup(NativeHandle fd, size_t min_size) {
  auto copy = duplicateHandle(fd);
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
  if (data_ != nullptr) munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace funkhaus::platform
