// Lowest-free id allocation.
#include "funkhaus/vdisplay/id_allocator.h"

#include <cstdlib>

namespace funkhaus::vdisplay {

std::optional<uint32_t> IdAllocator::allocate() {
  for (uint32_t id = 0; id < used_.size(); ++id) {
    if (!used_[id]) {
      used_[id] = true;
      ++count_;
      return id;
    }
  }
  return std::nullopt;
}

void IdAllocator::release(uint32_t id) {
  if (!inUse(id)) std::abort();  // broken invariant: released an id nobody holds
  used_[id] = false;
  --count_;
}

}  // namespace funkhaus::vdisplay
