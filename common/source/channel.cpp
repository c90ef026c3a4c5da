// Channel messages: encode, validate, send and receive, with their handles, over the message
// channel of platform/handle_passing.h (SOCK_SEQPACKET with SCM_RIGHTS; a named pipe on Windows).
#include "funkhaus/common/channel.h"

#include <cstring>

#include "funkhaus/abi/net_state.h"
#include "funkhaus/abi/status_page.h"
#include "funkhaus/platform/handle_passing.h"

namespace funkhaus {
namespace {

using abi::MessageHeader;
using abi::MessageType;

template <class Body>
Result<Body> bodyOf(std::span<const std::byte> payload, const char* what) {
  if (payload.size() != sizeof(Body))
    return makeError("{} message body is {} bytes, expected {}", what, payload.size(),
                     sizeof(Body));
  Body body;
  std::memcpy(&body, payload.data(), sizeof body);
  if (body.reserved != 0) return makeError("{} message has non-zero reserved field", what);
  if constexpr (requires { body.reserved2; }) {
    if (body.reserved2 != 0) return makeError("{} message has non-zero reserved field", what);
  }
  return body;
}

MessageType typeOf(const Message& m) {
  struct Visitor {
    MessageType operator()(const HelloMessage&) const { return MessageType::kHello; }
    MessageType operator()(const ReadyMessage&) const { return MessageType::kReady; }
    MessageType operator()(const RingFdsMessage&) const { return MessageType::kRingFds; }
    MessageType operator()(const CommandMessage&) const { return MessageType::kCommand; }
    MessageType operator()(const EventMessage&) const { return MessageType::kEvent; }
    MessageType operator()(const ConnectionDepositMessage&) const {
      return MessageType::kConnectionDeposit;
    }
    MessageType operator()(const ConnectionReleaseMessage&) const {
      return MessageType::kConnectionRelease;
    }
    MessageType operator()(const RequestMessage&) const { return MessageType::kRequest; }
    MessageType operator()(const ReplyMessage&) const { return MessageType::kReply; }
  };
  return std::visit(Visitor{}, m);
}

// The tag of each role names one of its kind; anything else is garbage.
bool validTag(abi::FdRole role, uint32_t tag) {
  switch (role) {
    case abi::FdRole::kStatusPage:
    case abi::FdRole::kNetState:
      return tag == 0;
    case abi::FdRole::kRingIn:
    case abi::FdRole::kRingOut:
      return tag >= 1 && tag <= abi::kMaxRingId;
    case abi::FdRole::kEndpoint:
      return (abi::endpointProtocol(tag) >= 1 &&
              abi::endpointProtocol(tag) <= abi::kMaxNetProtocol && (tag & 0xFF) != 0) ||
             tag == abi::kEndpointConsoleHttps;
    case abi::FdRole::kConnection:
      return tag < abi::kMaxConnections;
    case abi::FdRole::kDevice:
      return tag >= 1 && tag <= abi::kMaxDeviceId;
  }
  return false;
}

template <class Body>
void append(std::vector<std::byte>& out, const Body& body) {
  const auto* p = reinterpret_cast<const std::byte*>(&body);
  out.insert(out.end(), p, p + sizeof body);
}

}  // namespace

Result<Message> parseMessage(std::span<const std::byte> datagram, std::vector<UniqueFd> fds) {
  if (datagram.size() < sizeof(MessageHeader))
    return makeError("message of {} bytes is shorter than its header", datagram.size());
  if (datagram.size() > abi::kMaxTextMessageSize)
    return makeError("message of {} bytes exceeds {}", datagram.size(), abi::kMaxTextMessageSize);
  MessageHeader h;
  std::memcpy(&h, datagram.data(), sizeof h);
  if (h.magic != abi::kMessageMagic) return makeError("message has bad magic 0x{:08x}", h.magic);
  if (h.abi_version != abi::kAbiVersion)
    return makeError("message speaks ABI version {}, this build speaks {}", h.abi_version,
                     abi::kAbiVersion);
  if (h.length != datagram.size())
    return makeError("message header says {} bytes, datagram has {}", h.length, datagram.size());
  if (h.reserved != 0) return makeError("message header has non-zero reserved field");
  const auto payload = datagram.subspan(sizeof h);
  const auto type = static_cast<MessageType>(h.type);
  const bool text = type == MessageType::kRequest || type == MessageType::kReply;
  if (!text && datagram.size() > abi::kMaxMessageSize)
    return makeError("message of {} bytes exceeds {}", datagram.size(), abi::kMaxMessageSize);
  if (type != MessageType::kRingFds && type != MessageType::kConnectionDeposit && !fds.empty())
    return makeError("message type {} must not carry fds ({} came)", h.type, fds.size());
  switch (type) {
    case MessageType::kHello: {
      auto body = bodyOf<abi::HelloBody>(payload, "hello");
      if (!body) return body.error();
      if (body->kind == 0 || body->kind > abi::kMaxWorkerKind)
        return makeError("hello names unknown worker kind {}", body->kind);
      return Message{HelloMessage{*body}};
    }
    case MessageType::kReady:
      if (!payload.empty()) return makeError("ready message has a {}-byte body", payload.size());
      return Message{ReadyMessage{}};
    case MessageType::kRingFds: {
      auto body = bodyOf<abi::RingFdsBody>(payload, "ring-fds");
      if (!body) return body.error();
      if (body->count == 0 || body->count > abi::kMaxMessageFds || body->count != fds.size())
        return makeError("ring-fds message says {} fds, {} came", body->count, fds.size());
      if ((body->flags & ~abi::kRingFdsLast) != 0)
        return makeError("ring-fds message has unknown flags 0x{:x}", body->flags);
      RingFdsMessage m;
      m.last = (body->flags & abi::kRingFdsLast) != 0;
      for (uint32_t i = 0; i < abi::kMaxMessageFds; ++i) {
        const uint32_t role = body->roles[i];
        const uint32_t tag = body->tags[i];
        if (i >= body->count) {
          if (role != 0 || tag != 0)
            return makeError("ring-fds role or tag {} set past the fd count", i);
          continue;
        }
        if (role == 0 || role > abi::kMaxFdRole)
          return makeError("ring-fds names unknown fd role {}", role);
        if (!validTag(static_cast<abi::FdRole>(role), tag))
          return makeError("ring-fds fd {} (role {}) has invalid tag {}", i, role, tag);
        m.roles.push_back(static_cast<abi::FdRole>(role));
        m.tags.push_back(tag);
      }
      m.fds = std::move(fds);
      return Message{std::move(m)};
    }
    case MessageType::kConnectionDeposit: {
      auto body = bodyOf<abi::ConnectionBody>(payload, "socket-deposit");
      if (!body) return body.error();
      if (fds.size() != 1)
        return makeError("socket-deposit message must carry exactly 1 fd, {} came", fds.size());
      if (body->slot >= abi::kMaxConnections)
        return makeError("socket-deposit slot {} is out of range (0..{})", body->slot,
                         abi::kMaxConnections - 1);
      return Message{ConnectionDepositMessage{body->slot, std::move(fds[0])}};
    }
    case MessageType::kConnectionRelease: {
      auto body = bodyOf<abi::ConnectionBody>(payload, "socket-release");
      if (!body) return body.error();
      if (body->slot >= abi::kMaxConnections)
        return makeError("socket-release slot {} is out of range (0..{})", body->slot,
                         abi::kMaxConnections - 1);
      return Message{ConnectionReleaseMessage{body->slot}};
    }
    case MessageType::kCommand: {
      auto body = bodyOf<abi::CommandBody>(payload, "command");
      if (!body) return body.error();
      if (body->command == 0 || body->command > abi::kMaxCommand)
        return makeError("unknown command {}", body->command);
      return Message{CommandMessage{*body}};
    }
    case MessageType::kRequest:
    case MessageType::kReply: {
      const char* what = type == MessageType::kRequest ? "request" : "reply";
      if (payload.size() < sizeof(abi::TextBody))
        return makeError("{} message of {} bytes is shorter than its body", what, payload.size());
      abi::TextBody body;
      std::memcpy(&body, payload.data(), sizeof body);
      if (body.id == 0) return makeError("{} message has id 0", what);
      if (body.length != payload.size() - sizeof body)
        return makeError("{} message says {} bytes of text, {} came", what, body.length,
                         payload.size() - sizeof body);
      std::string s(reinterpret_cast<const char*>(payload.data()) + sizeof body, body.length);
      if (s.find('\0') != std::string::npos) return makeError("{} text holds a NUL byte", what);
      if (type == MessageType::kRequest) return Message{RequestMessage{body.id, std::move(s)}};
      return Message{ReplyMessage{body.id, std::move(s)}};
    }
    case MessageType::kEvent: {
      auto body = bodyOf<abi::EventBody>(payload, "event");
      if (!body) return body.error();
      if (body->event == 0 || body->event > abi::kMaxEvent)
        return makeError("unknown event {}", body->event);
      return Message{EventMessage{*body}};
    }
  }
  return makeError("unknown message type {}", h.type);
}

std::vector<std::byte> encodeMessage(const Message& message) {
  std::vector<std::byte> out(sizeof(MessageHeader));
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, HelloMessage> || std::is_same_v<T, CommandMessage> ||
                      std::is_same_v<T, EventMessage>) {
          append(out, m.body);
        } else if constexpr (std::is_same_v<T, RingFdsMessage>) {
          abi::RingFdsBody body{};
          body.count = static_cast<uint32_t>(m.roles.size());
          body.flags = m.last ? abi::kRingFdsLast : 0;
          for (size_t i = 0; i < m.roles.size() && i < abi::kMaxMessageFds; ++i) {
            body.roles[i] = static_cast<uint32_t>(m.roles[i]);
            body.tags[i] = i < m.tags.size() ? m.tags[i] : 0;
          }
          append(out, body);
        } else if constexpr (std::is_same_v<T, ConnectionDepositMessage> ||
                             std::is_same_v<T, ConnectionReleaseMessage>) {
          append(out, abi::ConnectionBody{m.slot, 0});
        } else if constexpr (std::is_same_v<T, RequestMessage> || std::is_same_v<T, ReplyMessage>) {
          append(out, abi::TextBody{m.id, static_cast<uint32_t>(m.text.size())});
          const auto* p = reinterpret_cast<const std::byte*>(m.text.data());
          out.insert(out.end(), p, p + m.text.size());
        }
      },
      message);
  MessageHeader h{};
  h.magic = abi::kMessageMagic;
  h.abi_version = static_cast<uint16_t>(abi::kAbiVersion);
  h.type = static_cast<uint16_t>(typeOf(message));
  h.length = static_cast<uint32_t>(out.size());
  std::memcpy(out.data(), &h, sizeof h);
  return out;
}

Result<void> sendMessage(platform::NativeHandle socket, const Message& message) {
  if (const auto* r = std::get_if<RequestMessage>(&message);
      r != nullptr && (r->id == 0 || r->text.size() > abi::kMaxMessageText))
    return makeError("request {} of {} bytes (at most {})", r->id, r->text.size(),
                     abi::kMaxMessageText);
  if (const auto* r = std::get_if<ReplyMessage>(&message);
      r != nullptr && (r->id == 0 || r->text.size() > abi::kMaxMessageText))
    return makeError("reply {} of {} bytes (at most {})", r->id, r->text.size(),
                     abi::kMaxMessageText);
  const auto bytes = encodeMessage(message);
  std::vector<platform::NativeHandle> fds;
  if (const auto* m = std::get_if<RingFdsMessage>(&message)) {
    if (m->fds.empty() || m->fds.size() > abi::kMaxMessageFds || m->fds.size() != m->roles.size() ||
        (!m->tags.empty() && m->tags.size() != m->roles.size()))
      return makeError("ring-fds message with {} fds, {} roles and {} tags", m->fds.size(),
                       m->roles.size(), m->tags.size());
    for (const auto& fd : m->fds) fds.push_back(fd.get());
  } else if (const auto* d = std::get_if<ConnectionDepositMessage>(&message)) {
    if (!d->fd.valid()) return makeError("socket-deposit message without an fd");
    fds.push_back(d->fd.get());
  }
  if (auto sent = platform::sendWithHandles(socket, bytes, fds); !sent)
    return makeError("sending on channel: {}", sent.error().message);
  return {};
}

Result<std::optional<Message>> receiveMessage(platform::NativeHandle socket,
                                              platform::Blocking blocking) {
  // One buffer per thread: a text message may be 64 KiB, too much for the stack of every worker.
  thread_local std::vector<std::byte> buffer(abi::kMaxTextMessageSize + 1);
  auto received = platform::receiveWithHandles(socket, buffer, blocking);
  if (!received) return makeError("receiving on channel: {}", received.error().message);
  if (!*received) return std::optional<Message>();  // nothing there yet
  auto parsed = messageFromDatagram(std::move(**received), buffer);
  if (!parsed) return parsed.error();
  return std::optional<Message>(std::move(*parsed));
}

Result<Message> messageFromDatagram(platform::ReceivedDatagram datagram,
                                    std::span<const std::byte> buffer) {
  if (datagram.closed())
    return makeError(ErrorCode::kPeerLost, "the peer hung up the channel (closed or reset)");
  if (datagram.handles_truncated) return makeError("channel message carried too many fds");
  if (datagram.truncated || datagram.size > abi::kMaxTextMessageSize ||
      datagram.size > buffer.size())
    return makeError("channel message larger than {} bytes", abi::kMaxTextMessageSize);
  return parseMessage(buffer.first(datagram.size), std::move(datagram.handles));
}

}  // namespace funkhaus
