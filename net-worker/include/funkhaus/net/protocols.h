// The protocols this build of funkhaus-net has, made by id (one per blob funkhausd reserved in
// the net state page). A new protocol is one more case here and its declaration in
// protocol_declarations.h; the core does not change. funkhaus-net main thread.
#pragma once

#include <memory>

#include "funkhaus/abi/net_state.h"

namespace funkhaus::net {

class NetCore;
class Protocol;

// The protocol of `id` serving through `core`, or nullptr for one this build does not have.
std::unique_ptr<Protocol> makeProtocol(abi::NetProtocol id, NetCore& core);

}  // namespace funkhaus::net
