// The protocols of this build, by id.
#include "funkhaus/net/protocols.h"

#include "funkhaus/net/gamestream/gamestream_protocol.h"
#include "funkhaus/net/rtsp/rtsp_protocol.h"

namespace funkhaus::net {

std::unique_ptr<Protocol> makeProtocol(abi::NetProtocol id, NetCore& core) {
  switch (id) {
    case abi::NetProtocol::kRtsp:
      return std::make_unique<RtspProtocol>(core);
    case abi::NetProtocol::kGamestream:
      return std::make_unique<gamestream::GamestreamProtocol>(core);
  }
  return nullptr;
}

}  // namespace funkhaus::net
