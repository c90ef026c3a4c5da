// Connection: where its latest media units end, and how many the kernel has not sent yet.
#include "funkhaus/net/connection.h"

#include <algorithm>

namespace funkhaus::net {

void Connection::markMediaEnd() {
  media_ends_[media_count_++ % media_ends_.size()] = out_.bytesWritten() + out_.queuedBytes();
}

size_t Connection::mediaBehind() {
  const auto unsent = unsentBytes(fd());
  if (!unsent || *unsent == 0) return 0;
  const uint64_t written = out_.bytesWritten();
  const uint64_t sent = written - std::min(written, *unsent);
  size_t behind = 0;
  for (size_t i = 0; i < std::min(media_count_, media_ends_.size()); ++i)
    behind += media_ends_[i] > sent;
  return behind;
}

}  // namespace funkhaus::net
