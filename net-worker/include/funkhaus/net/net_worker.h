// The funkhaus-net worker process: command line, channel, rings, sockets and the Asio loop.
// Called from funkhaus-net's main(); runs on the process's main thread (plus the ring reader).
#pragma once

#include <optional>

#include "funkhaus/common/result.h"
#include "funkhaus/net/net_server.h"

namespace funkhaus::net {

// Parses --path, --max-viewers, --mtu, --session-timeout and --header-timeout-ms. nullopt:
// --help was printed. The error names the bad argument.
Result<std::optional<ServerOptions>> parseNetOptions(int argc, char** argv);

// Connects the channel on fd 3, attaches the net state page and the packet ring, adopts the
// sockets funkhausd keeps and serves until stopped. Returns the exit code (abi/exit_codes.h).
int runNetWorker(const ServerOptions& options);

}  // namespace funkhaus::net
