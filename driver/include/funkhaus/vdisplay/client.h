// VdisplayClient: the host side of the vdisplay control protocol (funkhausd, tests, tools):
// blocking request/reply with a timeout over a SOCK_SEQPACKET socket. One thread per client.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "funkhaus/abi/vdisplay.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/unique_fd.h"
#include "funkhaus/vdisplay/protocol.h"

namespace funkhaus::vdisplay {

class VdisplayClient {
 public:
  // Connects to a standalone driver's socket (--listen PATH) and checks its versions.
  static Result<VdisplayClient> connect(const std::string& path, int timeout_ms = 5000);
  // Uses a connected socket (funkhausd's end of the kControl socketpair) and checks versions.
  static Result<VdisplayClient> adopt(UniqueFd socket, int timeout_ms = 5000);

  // What the driver said in GET_INFO when the client connected.
  const abi::VdisplayInfoReply& info() const { return info_; }

  // One request, its reply (refusals included: check reply.ok()). Errors are transport or
  // protocol failures: no reply in time, a malformed reply, a reply to another request.
  Result<Reply> call(Request request, int timeout_ms = kDefaultTimeoutMs);
  // Sends raw bytes (and fds) and waits for the reply to `request_id`; for tests of refusals.
  Result<Reply> callRaw(std::span<const std::byte> datagram,
                        std::span<const platform::NativeHandle> fds, uint32_t request_id,
                        int timeout_ms = kDefaultTimeoutMs);

  // Convenience wrappers: a refusal becomes an Error naming the request, status and reason.
  Result<abi::VdisplayMonitorReply> addMonitor(const abi::VdisplayAddMonitorRequest& request,
                                               int ring_fd);
  Result<void> removeMonitor(uint32_t id);
  Result<uint32_t> clearAll();
  Result<abi::VdisplayPingReply> ping(uint64_t nonce = 0);
  Result<abi::VdisplayMonitorReply> setMode(uint32_t id, const Mode& mode);
  Result<abi::VdisplayMonitorReply> getMonitor(uint32_t id);

  int fd() const { return socket_.get(); }

  // ADD_MONITOR starts an X server; give it time.
  static constexpr int kDefaultTimeoutMs = 20'000;

 private:
  explicit VdisplayClient(UniqueFd socket) : socket_(std::move(socket)) {}
  Result<Reply> receive(uint32_t request_id, int timeout_ms);
  template <class T>
  Result<T> expect(Request request);

  UniqueFd socket_;
  abi::VdisplayInfoReply info_{};
  uint32_t next_request_id_ = 1;
};

}  // namespace funkhaus::vdisplay
