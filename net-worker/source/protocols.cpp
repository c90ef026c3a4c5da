// The protocols of this build, by id (GameStream where FUNKHAUS_NET_GAMESTREAM: Linux so far).
#include "funkhaus/net/protocols.h"

#include "funkhaus/net/rtsp/rtsp_protocol.h"
#if FUNKHAUS_NET_GAMESTREAM
#include "funkhaus/net/gamestream/gamestream_protocol.h"
#endif

namespace funkhaus::net {

std::unique_ptr<Protocol> makeProtocol(abi::NetProtocol id, NetCore& core) {
  switch (id) {
    case abi::NetProtocol::kRtsp:
      return std::make_unique<RtspProtocol>(core);
    case abi::NetProtocol::kGamestream:
#if FUNKHAUS_NET_GAMESTREAM
      return std::make_unique<gamestream::GamestreamProtocol>(core);
#else
      return nullptr;  // not in this build: NetCore says so
#endif
  }
  return nullptr;
}

}  // namespace funkhaus::net
