// A worker's side on Linux: fd 3 and SIGTERM/SIGINT (platform/worker_side.h).
#include "funkhaus/platform/worker_side.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>

#include "funkhaus/common/worker_channel.h"

namespace funkhaus::platform {
namespace {

void (*g_on_stop)() = nullptr;
void onStopSignal(int) { g_on_stop(); }

}  // namespace

Result<std::optional<UniqueHandle>> supervisorChannel() {
  int type = 0;
  socklen_t len = sizeof type;
  if (fcntl(kWorkerChannelFd, F_GETFD) < 0 ||
      getsockopt(kWorkerChannelFd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_SEQPACKET)
    return std::optional<UniqueHandle>();
  return std::optional<UniqueHandle>(UniqueHandle(kWorkerChannelFd));
}

const char* supervisorChannelPlace() { return "fd 3"; }

void onStopRequests(void (*on_stop)()) {
  g_on_stop = on_stop;
  struct sigaction sa {};
  sa.sa_handler = onStopSignal;  // no SA_RESTART: a blocking wait returns early
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a peer that went away is an error value, not a signal
}

}  // namespace funkhaus::platform
