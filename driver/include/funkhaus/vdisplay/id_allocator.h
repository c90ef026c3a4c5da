// IdAllocator: monitor ids allocated lowest-free from 0..capacity-1 and reused after release.
// Used on the driver's main thread.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace funkhaus::vdisplay {

class IdAllocator {
 public:
  explicit IdAllocator(uint32_t capacity) : used_(capacity, false) {}

  // The lowest free id, now taken; nullopt when all are in use.
  std::optional<uint32_t> allocate();
  // Gives `id` back. Releasing an id that is not taken is a broken invariant (abort).
  void release(uint32_t id);
  bool inUse(uint32_t id) const { return id < used_.size() && used_[id]; }
  uint32_t inUseCount() const { return count_; }
  uint32_t capacity() const { return static_cast<uint32_t>(used_.size()); }

 private:
  std::vector<bool> used_;
  uint32_t count_ = 0;
};

}  // namespace funkhaus::vdisplay
