// A worker's side on Windows: the pipe its environment names, console control events
// (platform/worker_side.h).
#include "funkhaus/platform/worker_side.h"

#include <windows.h>

#include <cstdlib>

#include "funkhaus/platform/handle_passing.h"

namespace funkhaus::platform {
namespace {

void (*g_on_stop)() = nullptr;

BOOL WINAPI onConsoleEvent(DWORD event) {
  switch (event) {
    case CTRL_C_EVENT:
    case CTRL_BREAK_EVENT:
    case CTRL_CLOSE_EVENT:
    case CTRL_LOGOFF_EVENT:
    case CTRL_SHUTDOWN_EVENT:
      g_on_stop();
      return TRUE;
    default:
      return FALSE;
  }
}

}  // namespace

Result<std::optional<UniqueHandle>> supervisorChannel() {
  const char* name = std::getenv(kChannelPipeVariable);
  if (name == nullptr || *name == '\0') return std::optional<UniqueHandle>();
  auto channel = openMessageChannel(name);
  if (!channel) return channel.error();
  return std::optional<UniqueHandle>(std::move(*channel));
}

const char* supervisorChannelPlace() { return "the pipe FUNKHAUS_CHANNEL_PIPE names"; }

void onStopRequests(void (*on_stop)()) {
  g_on_stop = on_stop;
  SetConsoleCtrlHandler(onConsoleEvent, TRUE);
}

}  // namespace funkhaus::platform
