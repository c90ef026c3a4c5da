// DisplayLeases: request/reply over the driver's SOCK_SEQPACKET control socket on Boost.Asio.
#include "funkhaus/supervisor/display_leases.h"

#include <sys/socket.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "funkhaus/platform/handle_passing.h"

namespace funkhaus::supervisor {

namespace asio = boost::asio;
using vdisplay::Reply;
using vdisplay::Request;
using vdisplay::VdisplayMessageType;

DisplayLeases::DisplayLeases(asio::io_context& io) : io_(io), ping_timer_(io) {}

DisplayLeases::~DisplayLeases() = default;

void DisplayLeases::attach(UniqueFd socket) {
  detach();
  socket_ = std::make_unique<asio::posix::stream_descriptor>(io_, socket.release());
  last_error_.clear();
  read();
  Request info;
  info.type = VdisplayMessageType::kGetInfo;
  send(std::move(info), {VdisplayMessageType::kGetInfo, 0, nullptr});
  schedulePing();
}

void DisplayLeases::detach() {
  ++epoch_;
  ping_timer_.cancel();
  socket_.reset();
  current_.reset();
  wanted_lease_ = 0;
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [id, p] : pending)
    if (p.done) p.done(makeError("the virtual display driver went away"));
}

void DisplayLeases::fail(const std::string& why) {
  last_error_ = why;
  spdlog::error("vdisplay: {}", why);
}

void DisplayLeases::send(Request request, Pending pending, int fd) {
  if (!socket_) {
    if (pending.done) pending.done(makeError("no virtual display driver is running"));
    return;
  }
  request.request_id = next_request_++;
  if (next_request_ == 0) next_request_ = 1;
  std::vector<platform::NativeHandle> fds;
  if (fd >= 0) fds.push_back(fd);
  if (auto sent =
          platform::sendWithHandles(socket_->native_handle(), vdisplay::encodeRequest(request), fds,
                                    platform::Blocking::kDontWait);
      !sent) {
    const std::string why =
        fmt::format("sending {}: {}", vdisplay::toString(request.type), sent.error().message);
    fail(why);
    if (pending.done) pending.done(Error{why});
    return;
  }
  pending_.emplace(request.request_id, std::move(pending));
}

void DisplayLeases::read() {
  const uint64_t epoch = epoch_;
  socket_->async_wait(asio::posix::stream_descriptor::wait_read,
                      [this, epoch](const boost::system::error_code& ec) {
                        if (ec || epoch != epoch_ || !socket_) return;
                        if (drainReplies(epoch)) read();
                      });
}

bool DisplayLeases::drainReplies(uint64_t epoch) {
  for (;;) {
    std::byte buffer[abi::kVdisplayMaxMessageSize + 1];
    auto received = platform::receiveWithHandles(socket_->native_handle(), buffer,
                                                 platform::Blocking::kDontWait);
    if (received && !*received) return true;  // nothing more for now
    if (!received || (*received)->closed()) {
      // It stopped or died; its exit (seen by funkhausd) detaches us.
      spdlog::info("vdisplay: the driver closed its control socket");
      return false;
    }
    // Replies carry no fds; r.handles closes any the driver sent anyway.
    const platform::ReceivedDatagram& r = **received;
    if (r.truncated || r.handles_truncated) {
      fail("the driver sent an oversized reply");
      continue;
    }
    auto reply = vdisplay::parseReply(std::span<const std::byte>(buffer, r.size), r.handles.size());
    if (!reply) {
      fail("malformed reply: " + reply.error().message);
      continue;
    }
    onReply(std::move(*reply));
    if (epoch != epoch_ || !socket_) return false;
  }
}

LeasedMonitor DisplayLeases::monitorOf(const abi::VdisplayMonitorReply& r, uint64_t lease) const {
  LeasedMonitor m;
  m.lease = lease;
  m.id = r.monitor_id;
  // parseReply checked that these text fields are NUL-terminated.
  m.display = r.display_name;
  m.xauthority = r.xauthority;
  m.mode = {r.width, r.height, r.refresh_millihz};
  m.generation = r.generation;
  return m;
}

void DisplayLeases::onReply(Reply reply) {
  auto it = pending_.find(reply.request_id);
  if (it == pending_.end()) {
    fail(fmt::format("a reply to request {} nobody asked", reply.request_id));
    return;
  }
  Pending p = std::move(it->second);
  pending_.erase(it);
  if (!reply.ok()) {
    const std::string why = fmt::format("{} refused: {}: {}", vdisplay::toString(p.type),
                                        vdisplay::toString(reply.code), reply.message);
    if (p.type != VdisplayMessageType::kRemoveMonitor) fail(why);
    if (p.done) p.done(Error{why});
    // A driver of another version refuses everything, pings too: leave it (the status shows
    // why) instead of logging a refusal every ping.
    if (reply.code == vdisplay::VdisplayStatusCode::kVersionMismatch) detach();
    return;
  }
  switch (p.type) {
    case VdisplayMessageType::kGetInfo: {
      const auto* info = std::get_if<abi::VdisplayInfoReply>(&reply.body);
      if (info == nullptr) return fail("GET_INFO reply without its body");
      if (info->abi_version != abi::kAbiVersion ||
          info->protocol_version != abi::kVdisplayProtocolVersion) {
        fail(fmt::format("driver speaks ABI {} protocol {}, funkhausd ABI {} protocol {}",
                         info->abi_version, info->protocol_version, abi::kAbiVersion,
                         abi::kVdisplayProtocolVersion));
        detach();
        return;
      }
      ping_interval_ms_ = std::clamp<uint32_t>(info->watchdog_ms / 3, 30, 10'000);
      return;
    }
    case VdisplayMessageType::kAddMonitor:
    case VdisplayMessageType::kSetMode: {
      const auto* r = std::get_if<abi::VdisplayMonitorReply>(&reply.body);
      if (r == nullptr) {
        if (p.done) p.done(makeError("{} reply without its body", vdisplay::toString(p.type)));
        return;
      }
      if (p.type == VdisplayMessageType::kAddMonitor && p.lease != wanted_lease_) {
        // Given back (or replaced) while it was being added: remove it now, it is ours.
        Request remove;
        remove.type = VdisplayMessageType::kRemoveMonitor;
        remove.body = abi::VdisplayMonitorRequest{r->monitor_id, 0};
        send(std::move(remove), {VdisplayMessageType::kRemoveMonitor, 0, nullptr});
        if (p.done) p.done(makeError("lease given back before the monitor was added"));
        return;
      }
      if (p.type == VdisplayMessageType::kSetMode &&
          (!current_ || current_->lease != p.lease || r->monitor_id != current_->id)) {
        if (p.done) p.done(makeError("the monitor changed while its mode was being set"));
        return;
      }
      current_ = monitorOf(*r, p.lease);
      if (p.done) p.done(*current_);
      return;
    }
    default:
      if (p.done) p.done(current_ ? Result<LeasedMonitor>(*current_) : makeError("done"));
      return;
  }
}

void DisplayLeases::schedulePing() {
  const uint64_t epoch = epoch_;
  ping_timer_.expires_after(std::chrono::milliseconds(ping_interval_ms_));
  ping_timer_.async_wait([this, epoch](const boost::system::error_code& ec) {
    if (ec || epoch != epoch_ || !socket_) return;
    Request ping;
    ping.type = VdisplayMessageType::kPing;
    ping.body = abi::VdisplayPingRequest{};
    send(std::move(ping), {VdisplayMessageType::kPing, 0, nullptr});
    schedulePing();
  });
}

void DisplayLeases::lease(const MonitorSpec& spec, int ring_fd, Done done) {
  release();
  wanted_lease_ = next_lease_++;
  abi::VdisplayAddMonitorRequest body{};
  body.width = spec.mode.width;
  body.height = spec.mode.height;
  body.refresh_millihz = spec.mode.refresh_millihz;
  body.flags = spec.hdr ? abi::kVdisplayMonitorHdr : 0;
  body.fb_width = spec.fb_width;
  body.fb_height = spec.fb_height;
  Request add;
  add.type = VdisplayMessageType::kAddMonitor;
  add.body = body;
  send(std::move(add), {VdisplayMessageType::kAddMonitor, wanted_lease_, std::move(done)}, ring_fd);
}

void DisplayLeases::setMode(const vdisplay::Mode& mode, Done done) {
  if (!current_) {
    if (done) done(makeError("no virtual monitor is leased"));
    return;
  }
  Request set;
  set.type = VdisplayMessageType::kSetMode;
  set.body =
      abi::VdisplaySetModeRequest{current_->id, mode.width, mode.height, mode.refresh_millihz};
  send(std::move(set), {VdisplayMessageType::kSetMode, current_->lease, std::move(done)});
}

void DisplayLeases::release() {
  wanted_lease_ = 0;  // a monitor still being added is removed when its reply comes
  if (!current_) return;
  Request remove;
  remove.type = VdisplayMessageType::kRemoveMonitor;
  remove.body = abi::VdisplayMonitorRequest{current_->id, 0};
  current_.reset();
  send(std::move(remove), {VdisplayMessageType::kRemoveMonitor, 0, nullptr});
}

void DisplayLeases::leaseSessionMonitor(const VdisplayConfig& v, int ring_fd,
                                        const std::string& session, std::function<void()> updated) {
  MonitorSpec spec;
  spec.mode = {v.width, v.height, v.refresh_hz * 1000};
  spec.fb_width = std::max(v.fb_width, v.width);
  spec.fb_height = std::max(v.fb_height, v.height);
  spec.hdr = v.hdr;
  lease(spec, ring_fd, [session, updated](Result<LeasedMonitor> m) {
    if (!m) {
      spdlog::warn("virtual monitor for session {}: {}", session, m.error().message);
      return;
    }
    spdlog::info("session {}: virtual monitor {} is X display {} ({}x{} at {} Hz{}{})", session,
                 m->id, m->display, m->mode.width, m->mode.height, m->mode.refresh_millihz / 1000,
                 m->xauthority.empty() ? "" : ", XAUTHORITY=", m->xauthority);
    updated();
  });
}

void DisplayLeases::viewerMode(const vdisplay::Mode& mode, std::function<void()> updated) {
  if (!current_) {
    spdlog::info("a viewer asked for {}x{}, but the session has no virtual monitor", mode.width,
                 mode.height);
    return;
  }
  const vdisplay::Mode& now = current_->mode;
  if (mode.width == now.width && mode.height == now.height &&
      (mode.refresh_millihz == 0 || mode.refresh_millihz == now.refresh_millihz))
    return;
  vdisplay::Mode wanted = mode;
  if (wanted.refresh_millihz == 0) wanted.refresh_millihz = now.refresh_millihz;
  spdlog::info("a viewer asked for {}x{} at {} Hz: changing the virtual monitor", wanted.width,
               wanted.height, wanted.refresh_millihz / 1000);
  setMode(wanted, [updated](Result<LeasedMonitor> m) {
    if (!m)
      spdlog::warn("viewer's mode: {}", m.error().message);
    else
      updated();
  });
}

}  // namespace funkhaus::supervisor
