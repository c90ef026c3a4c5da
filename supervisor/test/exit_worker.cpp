// Test worker: says hello like a real worker, then exits with the code in argv[0]'s suffix
// ("funkhaus-encode" symlinked to exit_worker exits with FUNKHAUS_TEST_EXIT_CODE, default 64:
// a permanent failure). Used by the supervisor multi-process tests only.
#include <cstdlib>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/common/worker_channel.h"

int main() {
  auto channel = funkhaus::WorkerChannel::connect(funkhaus::kWorkerChannelFd,
                                                  funkhaus::abi::WorkerKind::kEncode);
  if (!channel) return funkhaus::abi::kExitPeerLost;
  const char* code = std::getenv("FUNKHAUS_TEST_EXIT_CODE");
  return code != nullptr ? std::atoi(code) : funkhaus::abi::kExitAbiMismatch;
}
