// How a worker process meets funkhausd: the channel it was started with, and its operating
// system's requests to stop. Linux: fd 3 (a SOCK_SEQPACKET socket), SIGTERM and SIGINT. Windows:
// the named pipe that kChannelPipeVariable names (the worker opens it itself), and console
// control events (Ctrl-C, Ctrl-Break, close, log-off, shut-down). The worker runtime's main
// thread, at its start.
#pragma once

#include <optional>

#include "funkhaus/common/result.h"
#include "funkhaus/platform/handle.h"

namespace funkhaus::platform {

// funkhausd's channel of this process, owned from now on; nullopt when funkhausd did not start
// it (no such fd, no such variable). Error: the channel is named but cannot be opened.
Result<std::optional<UniqueHandle>> supervisorChannel();

// Where supervisorChannel looks, for messages: "fd 3", "the pipe FUNKHAUS_CHANNEL_PIPE names".
const char* supervisorChannelPlace();

// Calls `on_stop` on each request to stop. Linux: from a signal handler installed without
// SA_RESTART (a blocking wait returns early), so it may only set an atomic; SIGPIPE is ignored
// (a peer that went away is an error value). Windows: from the thread the system starts for the
// console event.
void onStopRequests(void (*on_stop)());

}  // namespace funkhaus::platform
