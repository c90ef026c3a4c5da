// SharedMemory: a shared-memory object mapped read-write, that cannot change size under its
// mappings (a sealed anonymous memfd on Linux, a section on Windows). funkhausd (the owner)
// creates it; workers map it from a handle they received. Used on the thread that owns it.
#pragma once

#include <cstddef>
#include <string>

#include "funkhaus/common/result.h"
#include "funkhaus/platform/handle.h"

namespace funkhaus::platform {

class SharedMemory {
 public:
  // Creates an object of `size` bytes (zero-filled) that nobody can resize, and maps it.
  // `name` is for diagnostics only (Linux: "memfd:NAME" in /proc/PID/fd); nothing appears in
  // any namespace (no /dev/shm entry).
  static Result<SharedMemory> create(const std::string& name, size_t size);

  // Maps an existing object and takes ownership of `handle`. Refused unless the object cannot
  // be resized by anyone (so a peer can never make our mapping fault) and is at least
  // `min_size` bytes long; the mapping covers the whole object.
  static Result<SharedMemory> attach(UniqueHandle handle, size_t min_size = 1);

  // Duplicates `handle` (not inherited by children) and attaches the duplicate; the caller
  // keeps `handle`.
  static Result<SharedMemory> attachDup(NativeHandle handle, size_t min_size = 1);

  SharedMemory(SharedMemory&& other) noexcept;
  SharedMemory& operator=(SharedMemory&& other) noexcept;
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
  ~SharedMemory();

  std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  // The object's handle, to hand over to another process (it stays ours).
  NativeHandle handle() const { return handle_.get(); }

 private:
  SharedMemory(UniqueHandle handle, std::byte* data, size_t size)
      : handle_(std::move(handle)), data_(data), size_(size) {}
  void unmap();

  UniqueHandle handle_;
  std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace funkhaus::platform
