// Test worker: says hello, takes its fds and says ready like a real worker, then writes bytes
// that are no message on its channel and waits to be killed for it ("funkhaus-encode" symlinked
// to it). Used by the supervisor multi-process tests only.
#include <unistd.h>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/common/worker_channel.h"

int main() {
  auto channel = funkhaus::WorkerChannel::connect(funkhaus::kWorkerChannelFd,
                                                  funkhaus::abi::WorkerKind::kEncode);
  if (!channel) return funkhaus::abi::kExitPeerLost;
  if (!channel->sendReady()) return funkhaus::abi::kExitPeerLost;
  channel->heartbeat();
  if (write(channel->handle(), "garbage", 7) != 7) return funkhaus::abi::kExitPeerLost;
  for (;;) {
    channel->heartbeat();  // alive and beating: only the garbage gets it killed
    usleep(50'000);
  }
}
