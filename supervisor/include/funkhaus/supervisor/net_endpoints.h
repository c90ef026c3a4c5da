// NetEndpoints: the sockets funkhaus-net serves viewers on, owned by funkhausd for its whole
// life so that a net restart or a session change never drops a viewer: the RTSP listening
// socket, the RTP/RTCP UDP pair, and the viewer connections net deposits. funkhausd's event
// loop thread; what net deposits is validated (net is untrusted).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "funkhaus/common/result.h"
#include "funkhaus/common/shared_memory.h"
#include "funkhaus/common/unique_fd.h"
#include "funkhaus/supervisor/config.h"
#include "funkhaus/supervisor/session_plan.h"

namespace funkhaus::supervisor {

class NetEndpoints {
 public:
  // Binds and listens on [net] bind:port (TCP) and binds the UDP pair (rtp_port, +1; a free
  // even pair when rtp_port is 0). Errors name the address and port.
  // Also creates the net state page (the viewer state a restarted net continues from).
  static Result<NetEndpoints> open(const NetConfig& config);

  uint16_t rtspPort() const { return rtsp_port_; }
  uint16_t rtpPort() const { return rtp_port_; }

  // Keeps a viewer connection net accepted. Refused unless it is a connected TCP socket and
  // the slot is below max_viewers; a slot already kept is replaced (its old fd closed).
  Result<void> deposit(uint32_t slot, UniqueFd fd);
  // Closes the kept connection of a slot (no-op if none).
  void release(uint32_t slot);
  size_t keptViewers() const { return viewers_.size(); }

  // What net is handed after hello: state page, listening socket, RTP and RTCP sockets, kept
  // viewers.
  std::vector<HandedFd> handedFds() const;

 private:
  explicit NetEndpoints(SharedMemory state) : state_(std::move(state)) {}
  SharedMemory state_;
  UniqueFd listen_, rtp_, rtcp_;
  uint16_t rtsp_port_ = 0, rtp_port_ = 0;
  uint32_t max_viewers_ = 0;
  std::map<uint32_t, UniqueFd> viewers_;
};

}  // namespace funkhaus::supervisor
