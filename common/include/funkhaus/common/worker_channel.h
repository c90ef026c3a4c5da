// The worker side of the supervisor channel: hello, receiving the status page and ring fds,
// ready, heartbeats and commands. Used by every worker process on its main thread.
#pragma once

#include <optional>
#include <vector>

#include "funkhaus/abi/status_page.h"
#include "funkhaus/common/channel.h"
#include "funkhaus/common/shared_memory.h"

namespace funkhaus {

// The channel is fd 3 in every worker funkhausd starts.
inline constexpr int kWorkerChannelFd = 3;

class WorkerChannel {
 public:
  // Sends hello, waits up to timeout_ms for the ring-fds messages (until one is marked last)
  // and attaches the status page (checked: magic, version, size). Fds other than the status
  // page are kept for the worker to take with takeFd() / takeTaggedFds().
  static Result<WorkerChannel> connect(platform::NativeHandle channel, abi::WorkerKind kind,
                                       int timeout_ms = 5000);

  abi::WorkerStatusPage& status() const {
    return *reinterpret_cast<abi::WorkerStatusPage*>(status_page_.data());
  }
  void heartbeat();
  void setState(abi::WorkerState state);
  Result<void> sendReady();
  Result<void> sendEvent(abi::Event event, uint64_t arg);

  // The fd of a role (and tag) funkhausd sent, or an invalid fd.
  UniqueFd takeFd(abi::FdRole role, uint32_t tag = 0);
  UniqueFd takeRing(abi::FdRole direction, abi::RingId ring) {
    return takeFd(direction, static_cast<uint32_t>(ring));
  }
  // Every fd of a role with its tag (e.g. the viewer sockets and their slots).
  std::vector<std::pair<uint32_t, UniqueFd>> takeTaggedFds(abi::FdRole role);

  // net: hands funkhausd a duplicate of a viewer connection to keep for the next net, and
  // tells it when that viewer is gone.
  Result<void> depositConnection(uint32_t slot, platform::NativeHandle connection);
  Result<void> releaseConnection(uint32_t slot);

  // Waits up to timeout_ms for a command. nullopt: none yet. Error: the channel broke or
  // funkhausd sent something malformed or something that is not a command; the worker should
  // exit.
  Result<std::optional<abi::CommandBody>> waitCommand(int timeout_ms);
  // Waits up to timeout_ms for any message from funkhausd (commands, requests, replies).
  // nullopt: none yet. Error: the channel broke or the message was malformed.
  Result<std::optional<Message>> receive(int timeout_ms);

  platform::NativeHandle handle() const { return fd_.get(); }

 private:
  WorkerChannel(UniqueFd fd, SharedMemory status_page)
      : fd_(std::move(fd)), status_page_(std::move(status_page)) {}

  UniqueFd fd_;
  SharedMemory status_page_;
  struct Received {
    abi::FdRole role;
    uint32_t tag;
    UniqueFd fd;
  };
  std::vector<Received> fds_;
};

}  // namespace funkhaus
