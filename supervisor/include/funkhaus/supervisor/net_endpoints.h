// NetEndpoints: the sockets funkhaus-net serves viewers on, owned by funkhausd for its whole life
// so that a net restart or a session change never drops a viewer: exactly the endpoints the
// enabled protocols declare (net-worker/declarations: protocol_declarations.h), the net state
// page sized for their blobs, and the connections net deposits. funkhausd's event loop thread;
// what net deposits is validated (net is untrusted).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "funkhaus/common/result.h"
#include "funkhaus/common/shared_memory.h"
#include "funkhaus/common/unique_fd.h"
#include "funkhaus/net/protocol_declarations.h"
#include "funkhaus/supervisor/config.h"
#include "funkhaus/supervisor/session_plan.h"

namespace funkhaus::supervisor {

class NetEndpoints {
 public:
  // Opens every endpoint `protocols` declare: TCP ones listening, UDP ones bound; those with a
  // [net] port on [net] bind (port / rtp_port, 0: any free one), GameStream's on [gamestream]
  // listen_address at base_port + their offset (`gamestream` required then; base_port 0: any
  // free ports); an endpoint that follows another is bound together with it (RTCP = RTP + 1,
  // RTP even). Creates the net state page with one blob per protocol. Errors name the address,
  // port and endpoint.
  static Result<NetEndpoints> open(
      const NetConfig& config,
      std::span<const net::ProtocolDeclaration* const> protocols = net::kRtspOnly,
      const GamestreamConfig* gamestream = nullptr);

  // Also opens the endpoints `web` declares (funkhaus-web's GameStream HTTP and HTTPS) on
  // [gamestream] listen_address: base_port and base_port - 5, or any free ports with 0.
  Result<void> openWeb(const GamestreamConfig& config,
                       const net::ProtocolDeclaration& web = net::kGamestreamWebProtocol);

  // The bound port of endpoint `tag`, 0 if it is not open.
  uint16_t port(uint32_t tag) const;
  // The RTSP protocol's ports, for funkhausd's start line and status.
  uint16_t rtspPort() const { return port(abi::kEndpointRtspListen); }
  uint16_t rtpPort() const { return port(abi::kEndpointRtspRtp); }
  // GameStream's RTSP port (sessionUrl0 of /launch), 0 if it is not served.
  uint16_t gamestreamRtspPort() const { return port(abi::kEndpointGamestreamRtsp); }

  // Publishes a launch (or its end: `launch.active` 0) in the GameStream blob of the net state
  // page, where the session's net (and its successor) reads it. No-op without that blob.
  void publishLaunch(const abi::GamestreamLaunch& launch);
  // The client id of the launch whose stream net serves right now ("" if none): read from net's
  // part of the blob (untrusted: only the phase, bounded, and funkhausd's own launch are used).
  std::string streamingClient() const;
  // The GameStream stream net serves, for status: phase, client, announced parameters and
  // counters (net's numbers, displayed only; null when GameStream is not served).
  nlohmann::json gamestreamStream(uint64_t now_ns) const;

  // Keeps a connection net accepted. Refused unless it is a connected TCP socket and the slot
  // is below max_viewers; a slot already kept is replaced (its old fd closed).
  Result<void> deposit(uint32_t slot, UniqueFd fd);
  // Closes the kept connection of a slot (no-op if none).
  void release(uint32_t slot);
  size_t keptViewers() const { return viewers_.size(); }

  // What `worker` is handed after hello: the endpoints declared for it (tagged); for net also
  // the state page and the kept connections (tagged with their slot).
  std::vector<HandedFd> handedFds(abi::WorkerKind worker = abi::WorkerKind::kNet) const;

 private:
  struct Endpoint {
    uint32_t tag = 0;
    UniqueFd fd;
    uint16_t port = 0;
    abi::WorkerKind worker = abi::WorkerKind::kNet;
  };

  explicit NetEndpoints(SharedMemory state) : state_(std::move(state)) {}
  // `section` names the config table in errors; `configured` is the leader's port (0: any).
  Result<void> openGroup(const std::string& bind, uint16_t configured, const char* section,
                         const net::ProtocolDeclaration& protocol,
                         const net::EndpointDeclaration& leader);

  SharedMemory state_;
  std::vector<Endpoint> endpoints_;
  uint32_t max_viewers_ = 0;
  std::map<uint32_t, UniqueFd> viewers_;
};

}  // namespace funkhaus::supervisor
