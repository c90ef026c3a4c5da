// The GameStream blob of the net state page as funkhaus-net uses it: opened and validated (a
// successor trusts nothing a previous net left), the launch funkhausd published read through
// its seqlock, the stream's part reset. funkhaus-net main thread.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>

#include "funkhaus/abi/gamestream_state.h"
#include "funkhaus/common/result.h"
#include "funkhaus/net/net_state.h"

namespace funkhaus::net::gamestream {

// Checks the stream part as a previous (possibly buggy) net left it: every enum, range and
// address. The error names the first field that is wrong.
Result<void> validateStream(const abi::GamestreamState& state);

// Whether a stream a previous net left goes on sending video at once, before the client's next
// video ping (moonlight-common-c pings every 500 ms): it plays, checks out (validateStream), its
// video peer is known from a ping of this stream, `launch` (readLaunch) is still this stream's and
// active, and the client was heard at most `client_timeout_ns` before `now_ns` (CLOCK_MONOTONIC;
// a time after `now_ns` is not trusted). Otherwise video waits for the client's next ping.
bool resumesAtOnce(const abi::GamestreamState& state,
                   const std::optional<abi::GamestreamLaunch>& launch, uint64_t now_ns,
                   uint64_t client_timeout_ns);

// The launch as funkhausd last published it (a consistent copy), or nullopt when it never
// published one or was writing it right now (try again at the next turn).
std::optional<abi::GamestreamLaunch> readLaunch(const abi::GamestreamState& state);

// Zeroes the stream part (never the launch: that is funkhausd's).
void resetStream(abi::GamestreamState& state);

// The blob of `state`: a fresh one (zero header) or one of another build is initialised; one
// whose stream does not check out is reset (and says why in `reset_reason`).
Result<abi::GamestreamState*> openBlob(const NetState& state, std::string* reset_reason);

// A peer as bytes, and back (sendto's address).
abi::GamestreamPeer peerOf(const sockaddr_storage& address);
sockaddr_storage addressOf(const abi::GamestreamPeer& peer, socklen_t* length);
// Same host (address only, any port)?
bool sameHost(const abi::GamestreamPeer& a, const sockaddr_storage& b);

}  // namespace funkhaus::net::gamestream
