// NetCore's connections: accept, datagrams, reading and framing, output, close, keep. A
// connection is read with MSG_PEEK and consumed one whole unit at a time (the protocol finds the
// unit, the core consumes it before the protocol acts on it), so bytes a viewer sent are never
// lost to a net restart: whatever the dead net had not consumed is still in the kernel for the
// next one. An incomplete unit raises SO_RCVLOWAT so the loop sleeps until more bytes arrive
// (or, when the kernel can take no more until it is read, goes to the connection's carry).
// Closing: RST for connections closed for silence or misbehaviour, FIN otherwise. A peer that
// leaves its answers unread is not read from until it takes them (backlogged).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstring>

#include "funkhaus/common/clock.h"
#include "funkhaus/net/net_core.h"
#include "funkhaus/net/socket_address.h"

namespace funkhaus::net {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// Responses a peer leaves unread: at the high mark it is no longer read (so it can ask for no
// more), at the low mark it is read again. The hard limit is only reached by one response
// larger than the rest of the room.
constexpr size_t kControlHighWater = 64 * 1024;
constexpr size_t kControlLowWater = 16 * 1024;
constexpr size_t kMaxQueuedControlBytes = 256 * 1024;

}  // namespace

std::shared_ptr<Connection> NetCore::find(uint64_t id) const {
  auto it = connections_.find(id);
  return it == connections_.end() ? nullptr : it->second;
}

std::shared_ptr<Connection> NetCore::addConnection(NativeSocket fd, const sockaddr_storage& peer,
                                                   Protocol& protocol) {
  auto c = std::make_shared<Connection>(io_, fd, protocol);
  c->id_ = next_id_++;
  c->peer_ = unmapped(peer);
  c->local_ = unmapped(localAddress(fd));
  c->name_ = fmt::format("#{} {}", c->id_, formatAddress(c->peer_));
  c->last_input_ns_ = monotonicNs();
  connections_.emplace(c->id_, c);
  return c;
}

void NetCore::armAccept(Endpoint& e) {
  e.socket->onReadable([this, &e](const boost::system::error_code& ec) {
    if (!ec) acceptAll(e);
  });
}

void NetCore::acceptAll(Endpoint& e) {
  for (int i = 0; i < 64; ++i) {
    sockaddr_storage peer{};
    const NativeSocket fd = acceptConnection(e.socket->native(), peer);
    if (fd == kNoSocket) {
      const SocketError why = lastSocketError();
      if (why == SocketError::kInterrupted || why == SocketError::kAborted) continue;
      if (why == SocketError::kWouldBlock) break;
      // Out of fds or memory: the socket stays readable, so wait a little instead of spinning.
      ++counters_.errors;
      spdlog::error("accept on {}: {}", e.declaration->name, lastSocketErrorText());
      accept_timer_.expires_after(100ms);
      accept_timer_.async_wait([this, &e](const boost::system::error_code& ec) {
        if (!ec) armAccept(e);
      });
      return;
    }
    setNoDelay(fd);
    // Connections not kept for a viewer are capped: the least recently active one makes room.
    size_t loose = 0;
    std::shared_ptr<Connection> idlest;
    for (auto& [id, c] : connections_) {
      if (c->slot_ >= 0 || c->closed_) continue;
      ++loose;
      if (!idlest || c->last_input_ns_ < idlest->last_input_ns_) idlest = c;
    }
    if (loose >= options_.core.max_connections && idlest)
      close(*idlest, "too many connections without a session", CloseHow::kAbortive);
    auto c = addConnection(fd, peer, *e.protocol);
    ++counters_.connections;
    spdlog::info("connection {} ({})", c->name_, e.declaration->name);
    setLowat(*c, 1);
    e.protocol->onAccept(*c, e.tag);
    armRead(*c);
  }
  armAccept(e);
}

void NetCore::armDatagrams(Endpoint& e) {
  e.socket->onReadable([this, &e](const boost::system::error_code& ec) {
    if (ec) return;
    for (int i = 0; i < 64; ++i) {
      sockaddr_storage from{};
      const std::ptrdiff_t n =
          receiveDatagram(e.socket->native(), peek_.data(), peek_.size(), from);
      if (n < 0) break;
      if (static_cast<size_t>(n) > peek_.size()) {
        ++counters_.errors;
        continue;
      }
      e.protocol->onDatagram(e.tag, std::span<const uint8_t>(peek_.data(), static_cast<size_t>(n)),
                             from);
    }
    armDatagrams(e);
  });
}

void NetCore::armRead(Connection& c) {
  if (c.reading_ || c.closed_ || c.closing_ || c.paused_ || c.backlogged_) return;
  c.reading_ = true;
  c.socket_.onReadable([this, id = c.id_](const boost::system::error_code& ec) {
    auto conn = find(id);
    if (!conn) return;
    conn->reading_ = false;
    if (ec || conn->closed_) return;
    onReadable(*conn);
  });
}

void NetCore::resumeReading(Connection& c) {
  c.paused_ = false;
  armRead(c);
}

void NetCore::setLowat(Connection& c, int bytes) {
  if (c.lowat_ == bytes) return;
  if (setReceiveLowWater(c.fd(), bytes)) c.lowat_ = bytes;
}

bool NetCore::consume(Connection& c, size_t bytes) {
  const size_t from_carry = std::min(bytes, c.carry_.size());
  c.carry_.erase(c.carry_.begin(), c.carry_.begin() + static_cast<std::ptrdiff_t>(from_carry));
  bytes -= from_carry;
  while (bytes > 0) {
    const std::ptrdiff_t n = receiveSome(c.fd(), sink_.data(), std::min(bytes, sink_.size()));
    if (n < 0 && lastSocketError() == SocketError::kInterrupted) continue;
    if (n <= 0) {
      close(c, "lost bytes it had peeked", CloseHow::kAbortive);
      return false;
    }
    bytes -= static_cast<size_t>(n);
  }
  c.last_input_ns_ = monotonicNs();
  c.partial_since_ns_ = 0;
  c.partial_bytes_ = 0;
  return true;
}

// Woken again with no new byte after a partial unit: the kernel cannot take more from the peer
// (the skb holding the unit's start is charged whole against the receive buffer, so the window
// stays shut) until the bytes are read. They are read into the connection's carry, in front of
// what comes next. A net killed now loses these bytes — the one exception to "unconsumed input
// stays in the kernel for the next net".
bool NetCore::takeIntoCarry(Connection& c, size_t bytes) {
  const size_t at = c.carry_.size();
  c.carry_.resize(at + bytes);
  size_t got = 0;
  while (got < bytes) {
    const std::ptrdiff_t n = receiveSome(c.fd(), c.carry_.data() + at + got, bytes - got);
    if (n < 0 && lastSocketError() == SocketError::kInterrupted) continue;
    if (n <= 0) {
      close(c, "lost bytes it had peeked", CloseHow::kAbortive);
      return false;
    }
    got += static_cast<size_t>(n);
  }
  ++counters_.carried;
  return true;
}

void NetCore::onReadable(Connection& c) {
  std::shared_ptr<Connection> hold = find(c.id_);  // the protocol may close it meanwhile
  Protocol& protocol = c.protocol();
  for (int round = 0; round < 16; ++round) {
    if (c.closed_ || c.closing_ || c.paused_ || c.backlogged_) return;
    if (c.skip_ > 0 && !c.carry_.empty()) {
      const size_t dropped = static_cast<size_t>(std::min<uint64_t>(c.skip_, c.carry_.size()));
      c.carry_.erase(c.carry_.begin(), c.carry_.begin() + static_cast<std::ptrdiff_t>(dropped));
      c.skip_ -= dropped;
      continue;
    }
    if (c.skip_ > 0) {
      const std::ptrdiff_t n = receiveSome(
          c.fd(), sink_.data(), static_cast<size_t>(std::min<uint64_t>(c.skip_, sink_.size())));
      if (n == 0) return close(c, "closed by the peer", CloseHow::kOrderly);
      if (n < 0) {
        const SocketError why = lastSocketError();
        if (why == SocketError::kInterrupted) continue;
        if (why == SocketError::kWouldBlock) break;
        return close(c, lastSocketErrorText(), CloseHow::kAbortive);
      }
      c.skip_ -= static_cast<uint64_t>(n);
      continue;
    }
    const size_t carried = c.carry_.size();
    std::copy(c.carry_.begin(), c.carry_.end(), peek_.begin());
    const std::ptrdiff_t n =
        receiveSome(c.fd(), peek_.data() + carried, kPeekCapacity - carried, /*peek=*/true);
    if (n == 0) return close(c, "closed by the peer", CloseHow::kOrderly);
    if (n < 0) {
      const SocketError why = lastSocketError();
      if (why == SocketError::kInterrupted) continue;
      if (why == SocketError::kWouldBlock) break;
      return close(c, lastSocketErrorText(), CloseHow::kAbortive);
    }
    const std::span<const uint8_t> input(peek_.data(), carried + static_cast<size_t>(n));
    size_t used = 0;
    bool partial = false;
    while (used < input.size() && !c.closed_ && !c.closing_ && !c.paused_ && !c.backlogged_ &&
           c.skip_ == 0) {
      const size_t took = protocol.onInput(c, input.subspan(used));
      if (took == 0) {
        partial = !c.closed_ && !c.closing_ && !c.paused_;
        break;
      }
      used += took;
    }
    if (c.closed_ || c.closing_) return;
    if (partial) {
      const size_t pending = input.size() - used;
      if (pending >= kPeekCapacity) return protocol.onOverlong(c);
      if (c.partial_since_ns_ == 0) c.partial_since_ns_ = monotonicNs();
      // A peer that has shut down its side will never complete the unit.
      if (peerShutDown(c.fd()))
        return close(c, "closed by the peer mid-request", CloseHow::kOrderly);
      if (pending == c.partial_bytes_ && !takeIntoCarry(c, pending - c.carry_.size())) return;
      c.partial_bytes_ = pending;
      setLowat(c, static_cast<int>(pending - c.carry_.size() + 1));
      break;
    }
    setLowat(c, 1);
  }
  armRead(c);
}

void NetCore::armWrite(Connection& c) {
  if (c.writing_ || c.closed_) return;
  c.writing_ = true;
  c.socket_.onWritable([this, id = c.id_](const boost::system::error_code& ec) {
    auto conn = find(id);
    if (!conn) return;
    conn->writing_ = false;
    if (ec || conn->closed_) return;
    flush(*conn);
  });
}

bool NetCore::push(Connection& c, std::span<const uint8_t> unit, bool media) {
  return c.out_.push(unit, media);
}

void NetCore::flush(Connection& c) {
  if (c.closed_) return;
  std::string error;
  const uint64_t before = c.out_.bytesWritten();
  const auto result = c.out_.flush(c.fd(), &error);
  counters_.bytes_out += c.out_.bytesWritten() - before;
  switch (result) {
    case OutputQueue::Flush::kClosed:
      ++counters_.errors;
      return close(c, "write failed: " + error, CloseHow::kAbortive);
    case OutputQueue::Flush::kWouldBlock:
      readAgainIfDrained(c);
      return armWrite(c);
    case OutputQueue::Flush::kDone:
      if (c.closing_) return close(c, "closed after the last response", CloseHow::kOrderly);
      readAgainIfDrained(c);
      return;
  }
}

void NetCore::sendControl(Connection& c, std::span<const uint8_t> unit) {
  if (c.closed_) return;
  if (!c.out_.push(unit, false)) {
    spdlog::error("connection {}: a {}-byte unit does not fit the output unit", c.name_,
                  unit.size());
    ++counters_.errors;
    return close(c, "response too large", CloseHow::kAbortive);
  }
  if (c.out_.controlBytes() > kMaxQueuedControlBytes)
    return close(c, "does not read its responses", CloseHow::kAbortive);
  flush(c);
  if (!c.closed_ && !c.backlogged_ && c.out_.controlBytes() >= kControlHighWater) {
    c.backlogged_ = true;
    // Said once per connection (a pipelining peer reading slowly comes back here often).
    if (c.backlogs_++ == 0)
      spdlog::info("connection {}: {} bytes of answers unread; not read until it takes them",
                   c.name_, c.out_.controlBytes());
    ++counters_.backlogged;
  }
}

void NetCore::readAgainIfDrained(Connection& c) {
  if (!c.backlogged_ || c.out_.controlBytes() > kControlLowWater) return;
  c.backlogged_ = false;
  armRead(c);
}

void NetCore::close(Connection& c, const std::string& why, CloseHow how) {
  if (c.closed_) return;
  c.closed_ = true;
  spdlog::info("connection {}: {}{}", c.name_, why, how == CloseHow::kAbortive ? " (reset)" : "");
  // Set either way: a socket adopted from a previous net keeps what that one set.
  setLinger(c.fd(), how == CloseHow::kAbortive);
  const bool kept = c.slot_ >= 0;
  c.protocol().onClosed(c);
  unkeep(c);
  // funkhausd may still hold a duplicate of a kept socket: shutdown ends the connection for the
  // peer at once, whoever else holds it.
  if (kept || c.closing_) shutdownBoth(c.fd());
  c.socket_.close();
  // Gone once the handler that closed it returns (callers up the stack still hold references).
  asio::post(io_, [this, id = c.id_] { connections_.erase(id); });
}

void NetCore::closeAfterFlush(Connection& c) {
  if (c.closed_) return;
  c.closing_ = true;
  c.closing_since_ns_ = monotonicNs();
  flush(c);
}

bool NetCore::slotFree(uint32_t slot) const {
  return slot < abi::kMaxConnections && kept_[slot] == nullptr &&
         abi::atomicLoad(state_.connection(slot).state) ==
             static_cast<uint32_t>(abi::ConnectionState::kFree);
}

void NetCore::keep(Connection& c, uint32_t slot, uint32_t session) {
  if (slot >= abi::kMaxConnections || c.slot_ >= 0) std::abort();  // broken invariant
  state_.keepConnection(slot, c.protocol().id(), session);
  c.slot_ = static_cast<int>(slot);
  kept_[slot] = &c;
  c.out_.mirrorTo(&state_.connection(slot));
  if (link_.deposit) link_.deposit(slot, c.fd());
}

void NetCore::unkeep(Connection& c) {
  if (c.slot_ < 0) return;
  const auto slot = static_cast<uint32_t>(c.slot_);
  c.out_.mirrorTo(nullptr);
  state_.freeConnection(slot);
  kept_[slot] = nullptr;
  c.slot_ = -1;
  if (link_.release) link_.release(slot);
}

}  // namespace funkhaus::net
