// SharedMemory: a sealed anonymous memfd mapped read-write; created by the owner (funkhausd),
// attached by workers from an fd received over SCM_RIGHTS or inherited. Nothing in /dev/shm.
#pragma once

#include <cstddef>
#include <string>

#include "funkhaus/common/result.h"
#include "funkhaus/common/unique_fd.h"

namespace funkhaus {

class SharedMemory {
 public:
  // Creates a memfd of `size` bytes (zero-filled), sealed against shrink, grow and further
  // seals, and maps it. `name` shows up in /proc/PID/fd as "memfd:NAME" only.
  static Result<SharedMemory> create(const std::string& name, size_t size);

  // Maps an existing memfd. Takes ownership of `fd`. Refused unless the fd is a memfd sealed
  // against shrinking and growing (so a peer can never make our mapping SIGBUS) and at least
  // `min_size` bytes long.
  static Result<SharedMemory> attach(UniqueFd fd, size_t min_size = 1);

  // Duplicates `fd` (close-on-exec) and attaches the duplicate; the caller keeps `fd`.
  static Result<SharedMemory> attachDup(int fd, size_t min_size = 1);

  SharedMemory(SharedMemory&& other) noexcept;
  SharedMemory& operator=(SharedMemory&& other) noexcept;
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
  ~SharedMemory();

  std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  int fd() const { return fd_.get(); }

 private:
  SharedMemory(UniqueFd fd, std::byte* data, size_t size)
      : fd_(std::move(fd)), data_(data), size_(size) {}
  void unmap();

  UniqueFd fd_;
  std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace funkhaus
