// ENet server for one peer on shared-memory state. Protocol facts (session ids, windows, which
// commands are acknowledged when) follow ENet 1.3's protocol.c as read, not its code.
#include "funkhaus/net/gamestream/enet_server.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>

namespace funkhaus::net::gamestream {
namespace {

using abi::GsEnetPeerState;

// Our own peer id towards the client (we have one peer slot).
constexpr uint16_t kOurPeerId = 0;
// ENet's default round-trip time before the first measurement.
constexpr uint64_t kDefaultRttNs = 500'000'000;

uint16_t ms16(uint64_t ns) { return static_cast<uint16_t>((ns / 1'000'000) & 0xFFFF); }

uint32_t peerState(const abi::GsEnetPeer& peer) { return peer.state; }
bool is(const abi::GsEnetPeer& peer, GsEnetPeerState s) {
  return peerState(peer) == static_cast<uint32_t>(s);
}
void setState(abi::GsEnetPeer& peer, GsEnetPeerState s) { peer.state = static_cast<uint32_t>(s); }

struct AddressBytes {
  uint16_t family = 0;
  uint16_t port = 0;
  uint8_t address[16] = {};
  uint32_t scope_id = 0;
};

std::optional<AddressBytes> toBytes(const sockaddr_storage& s) {
  AddressBytes a;
  if (s.ss_family == AF_INET) {
    sockaddr_in in;
    std::memcpy(&in, &s, sizeof in);
    a.family = AF_INET;
    a.port = ntohs(in.sin_port);
    std::memcpy(a.address, &in.sin_addr, 4);
    return a;
  }
  if (s.ss_family == AF_INET6) {
    sockaddr_in6 in6;
    std::memcpy(&in6, &s, sizeof in6);
    a.family = AF_INET6;
    a.port = ntohs(in6.sin6_port);
    std::memcpy(a.address, &in6.sin6_addr, 16);
    a.scope_id = in6.sin6_scope_id;
    return a;
  }
  return std::nullopt;
}

bool sameHost(const AddressBytes& a, const abi::GsEnetPeer& peer) {
  return a.family == peer.address_family && std::memcmp(a.address, peer.address, 16) == 0;
}

bool sameEndpoint(const AddressBytes& a, const abi::GsEnetPeer& peer) {
  return sameHost(a, peer) && a.port == peer.port;
}

uint64_t since(uint64_t now, uint64_t then) { return now > then ? now - then : 0; }

}  // namespace

EnetServer::EnetServer(abi::GsEnetState& state, EnetServerOptions options)
    : state_(state), options_(options) {
  options_.channel_limit = std::clamp<uint32_t>(options_.channel_limit, 1, abi::kGsEnetMaxChannels);
  options_.mtu = std::clamp(options_.mtu, enet::kMinimumMtu, enet::kMaximumMtu);
  options_.min_rto_ns = std::max<uint64_t>(options_.min_rto_ns, 1'000'000);
  options_.max_rto_ns = std::max(options_.max_rto_ns, options_.min_rto_ns);
  validate();
}

void EnetServer::validate() {
  auto& p = state_.peer;
  p.incoming_session_id &= 3;
  p.outgoing_session_id &= 3;
  bool ok = p.state <= abi::kMaxGsEnetPeerState;
  if (ok && !is(p, GsEnetPeerState::kFree)) {
    ok = (p.address_family == AF_INET || p.address_family == AF_INET6) && p.channel_count >= 1 &&
         p.channel_count <= abi::kGsEnetMaxChannels && p.mtu >= enet::kMinimumMtu &&
         p.mtu <= enet::kMaximumMtu && p.outgoing_peer_id < enet::kMaxPeerId;
    for (const auto& slot : state_.outgoing) {
      if (slot.in_use > 1) ok = false;
      if (slot.in_use == 1 && (slot.size < 4 || slot.size > abi::kGsEnetMaxCommandBytes ||
                               (slot.channel != 0 && slot.channel != enet::kConnectionChannel) ||
                               slot.command >= enet::kCommandCount || slot.rto_ns == 0))
        ok = false;
    }
    const auto& r = state_.reassembly;
    if (r.active > 2) ok = false;
    if (r.active != 0 && (r.channel >= p.channel_count || r.fragment_count == 0 ||
                          r.fragment_count > enet::kMaximumFragmentCount ||
                          r.fragments_received >= r.fragment_count))
      ok = false;
    if (r.active == 1 &&
        (r.total_length > abi::kGsEnetMaxReassembly || r.bytes_received > r.total_length))
      ok = false;
  }
  if (!ok) {
    spdlog::warn("gamestream control: the ENet state left behind does not check out; peer freed");
    ++state_.counters.datagrams_dropped;
    freePeer();
  }
}

void EnetServer::freePeer() {
  auto& p = state_.peer;
  const uint8_t incoming_session = p.incoming_session_id & 3;
  const uint8_t outgoing_session = p.outgoing_session_id & 3;
  std::memset(&p, 0, sizeof p);
  p.incoming_session_id = incoming_session;  // the next session is chosen from these
  p.outgoing_session_id = outgoing_session;
  setState(p, GsEnetPeerState::kFree);
  std::memset(state_.channels, 0, sizeof state_.channels);
  std::memset(state_.unsequenced_window, 0, sizeof state_.unsequenced_window);
  for (auto& slot : state_.outgoing) slot.in_use = 0;
  state_.reassembly.active = 0;
}

void EnetServer::reset() { freePeer(); }

bool EnetServer::connected() const { return is(state_.peer, GsEnetPeerState::kConnected); }

bool EnetServer::hasPeer() const { return !is(state_.peer, GsEnetPeerState::kFree); }

sockaddr_storage EnetServer::peerSockaddr() const {
  const auto& p = state_.peer;
  sockaddr_storage s{};
  if (p.address_family == AF_INET6) {
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(p.port);
    std::memcpy(&in6.sin6_addr, p.address, 16);
    in6.sin6_scope_id = p.scope_id;
    std::memcpy(&s, &in6, sizeof in6);
  } else {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(p.port);
    std::memcpy(&in.sin_addr, p.address, 4);
    std::memcpy(&s, &in, sizeof in);
  }
  return s;
}

std::optional<sockaddr_storage> EnetServer::peerAddress() const {
  if (!hasPeer()) return std::nullopt;
  return peerSockaddr();
}

uint64_t EnetServer::rtoNs() const {
  const auto& p = state_.peer;
  const uint64_t rto = p.rtt_ms == 0
                           ? kDefaultRttNs
                           : (uint64_t{p.rtt_ms} + 4 * uint64_t{p.rtt_variance_ms}) * 1'000'000;
  return std::clamp(rto, options_.min_rto_ns, options_.max_rto_ns);
}

void EnetServer::transmit(abi::GsEnetOutgoing& slot, uint64_t now_ns, Outbox& out) {
  const auto& p = state_.peer;
  Datagram d;
  d.to = peerSockaddr();
  d.bytes.reserve(4 + slot.size);
  enet::appendHeader(d.bytes, p.outgoing_peer_id, p.outgoing_session_id, ms16(now_ns));
  d.bytes.insert(d.bytes.end(), slot.bytes, slot.bytes + slot.size);
  out.push_back(std::move(d));
  if (slot.attempts == 0) slot.first_sent_ns = now_ns;
  slot.last_sent_ns = now_ns;
  if (slot.attempts < UINT16_MAX) ++slot.attempts;
}

bool EnetServer::queueReliable(uint8_t channel, uint8_t command_number,
                               const std::vector<uint8_t>& command, uint64_t now_ns, Outbox& out) {
  if (command.size() > abi::kGsEnetMaxCommandBytes || command.size() < 4) return false;
  for (auto& slot : state_.outgoing) {
    if (slot.in_use != 0) continue;
    std::memset(&slot, 0, sizeof slot);
    slot.in_use = 1;
    slot.channel = channel;
    slot.command = command_number;
    slot.reliable_seq = static_cast<uint16_t>(command[2] << 8 | command[3]);
    slot.size = static_cast<uint16_t>(command.size());
    std::memcpy(slot.bytes, command.data(), command.size());
    slot.rto_ns = rtoNs();
    transmit(slot, now_ns, out);
    return true;
  }
  return false;
}

void EnetServer::deliver(uint8_t channel, std::span<const uint8_t> payload,
                         std::vector<EnetEvent>& events) {
  EnetEvent e;
  e.kind = EnetEvent::Kind::kReceive;
  e.channel = channel;
  e.data.assign(payload.begin(), payload.end());
  events.push_back(std::move(e));
  ++state_.counters.packets_delivered;
}

void EnetServer::handleAck(uint8_t channel, uint16_t seq, uint16_t echoed_sent_time,
                           uint64_t now_ns, std::vector<EnetEvent>& events) {
  auto& p = state_.peer;
  abi::GsEnetOutgoing* found = nullptr;
  for (auto& slot : state_.outgoing)
    if (slot.in_use == 1 && slot.channel == channel && slot.reliable_seq == seq) found = &slot;
  if (found == nullptr) return;  // late duplicate ACK

  // Round-trip time from the echoed 16-bit millisecond clock (ENet's estimator).
  const uint16_t rtt = static_cast<uint16_t>(ms16(now_ns) - echoed_sent_time);
  if (rtt < 0x8000) {
    const uint32_t sample = std::max<uint32_t>(rtt, 1);
    if (p.rtt_ms == 0) {
      p.rtt_ms = sample;
      p.rtt_variance_ms = (sample + 1) / 2;
    } else {
      const uint32_t diff = sample >= p.rtt_ms ? sample - p.rtt_ms : p.rtt_ms - sample;
      p.rtt_variance_ms = p.rtt_variance_ms - p.rtt_variance_ms / 4 + diff / 4;
      if (sample >= p.rtt_ms)
        p.rtt_ms += diff / 8;
      else
        p.rtt_ms -= diff / 8;
      p.rtt_ms = std::max<uint32_t>(p.rtt_ms, 1);
    }
  }

  const uint8_t command = found->command;
  found->in_use = 0;
  if (command == enet::kCommandVerifyConnect && is(p, GsEnetPeerState::kAcknowledgingConnect)) {
    setState(p, GsEnetPeerState::kConnected);
    p.next_ping_ns = now_ns + options_.ping_interval_ns;
    EnetEvent e;
    e.kind = EnetEvent::Kind::kConnect;
    e.value = p.connect_data;
    events.push_back(std::move(e));
  } else if (command == enet::kCommandDisconnect && is(p, GsEnetPeerState::kDisconnecting)) {
    const uint32_t data = p.disconnect_data;
    freePeer();
    EnetEvent e;
    e.kind = EnetEvent::Kind::kDisconnect;
    e.value = data;
    events.push_back(std::move(e));
  }
}

void EnetServer::handleConnect(const enet::Command& c, const sockaddr_storage& from,
                               uint64_t now_ns, const EnetAcceptFn& accept, Outbox& out,
                               std::vector<EnetEvent>& events) {
  auto& counters = state_.counters;
  const auto address = toBytes(from);
  if (!address) {
    ++counters.datagrams_dropped;
    return;
  }
  // The client's own peer id goes into our headers; 0xFFF would mean "no peer".
  if (c.channel_count < 1 || c.channel_count > enet::kMaximumChannelCount ||
      c.outgoing_peer_id >= enet::kMaxPeerId) {
    ++counters.malformed_commands;
    return;
  }
  auto& p = state_.peer;
  if (!is(p, GsEnetPeerState::kFree)) {
    // A retransmitted CONNECT: our VERIFY_CONNECT is retransmitted on its own.
    if (sameEndpoint(*address, p) && p.connect_id == c.connect_id) return;
    if (!sameHost(*address, p) || !accept || !accept(from, c.data)) {
      ++counters.connects_refused;
      return;
    }
    const bool had_session =
        is(p, GsEnetPeerState::kConnected) || is(p, GsEnetPeerState::kDisconnecting);
    spdlog::info("gamestream control: the client reconnected (new connectID); old peer replaced");
    freePeer();
    if (had_session) {
      EnetEvent e;
      e.kind = EnetEvent::Kind::kDisconnect;
      events.push_back(std::move(e));
    }
  } else if (!accept || !accept(from, c.data)) {
    ++counters.connects_refused;
    return;
  }

  // Session ids: the next ones after what the client and this slot used (ENet's rule), so stray
  // datagrams of an earlier session are told apart.
  uint8_t incoming = c.incoming_session_id == 0xFF ? p.outgoing_session_id : c.incoming_session_id;
  incoming = (incoming + 1) & 3;
  if (incoming == p.outgoing_session_id) incoming = (incoming + 1) & 3;
  uint8_t outgoing = c.outgoing_session_id == 0xFF ? p.incoming_session_id : c.outgoing_session_id;
  outgoing = (outgoing + 1) & 3;
  if (outgoing == p.incoming_session_id) outgoing = (outgoing + 1) & 3;

  freePeer();
  p.address_family = address->family;
  p.port = address->port;
  std::memcpy(p.address, address->address, 16);
  p.scope_id = address->scope_id;
  p.outgoing_peer_id = c.outgoing_peer_id;
  p.outgoing_session_id = incoming;
  p.incoming_session_id = outgoing;
  p.connect_id = c.connect_id;
  p.connect_data = c.data;
  p.mtu = std::min(std::clamp(c.mtu, enet::kMinimumMtu, enet::kMaximumMtu), options_.mtu);
  // We set no bandwidth limit: the window is the client's, within ENet's bounds.
  p.window_size = std::clamp(std::min(c.window_size, enet::kMaximumWindowSize),
                             enet::kMinimumWindowSize, enet::kMaximumWindowSize);
  p.channel_count = std::min(c.channel_count, options_.channel_limit);
  p.connect_ns = now_ns;
  p.last_receive_ns = now_ns;
  p.next_ping_ns = now_ns + options_.ping_interval_ns;
  setState(p, GsEnetPeerState::kAcknowledgingConnect);

  enet::Command v;
  v.command = enet::kCommandVerifyConnect | enet::kFlagAcknowledge;
  v.channel = enet::kConnectionChannel;
  v.reliable_seq = ++p.outgoing_reliable_seq;
  v.outgoing_peer_id = kOurPeerId;
  v.incoming_session_id = incoming;
  v.outgoing_session_id = outgoing;
  v.mtu = p.mtu;
  v.window_size = p.window_size;
  v.channel_count = p.channel_count;
  v.incoming_bandwidth = 0;
  v.outgoing_bandwidth = 0;
  // The client checks that these three come back unchanged.
  v.throttle_interval = c.throttle_interval;
  v.throttle_acceleration = c.throttle_acceleration;
  v.throttle_deceleration = c.throttle_deceleration;
  v.connect_id = c.connect_id;
  std::vector<uint8_t> bytes;
  enet::appendCommand(bytes, v);
  queueReliable(enet::kConnectionChannel, enet::kCommandVerifyConnect, bytes, now_ns, out);
  ++counters.connects_accepted;
  spdlog::info("gamestream control: ENet CONNECT accepted ({} channels, mtu {})", p.channel_count,
               p.mtu);
}

EnetServer::FragmentResult EnetServer::takeFragment(const enet::Command& c,
                                                    std::vector<EnetEvent>& events) {
  auto& r = state_.reassembly;
  if (c.fragment_count == 0 || c.fragment_count > enet::kMaximumFragmentCount ||
      c.fragment_number >= c.fragment_count || c.payload.empty() ||
      c.total_length < c.fragment_count || c.fragment_offset >= c.total_length ||
      c.payload.size() > c.total_length - c.fragment_offset)
    return FragmentResult::kBad;
  // Fragment n of a series carries reliable sequence number start + n.
  if (static_cast<uint16_t>(c.reliable_seq - c.fragment_number) != c.sequence)
    return FragmentResult::kBad;
  if (c.fragment_number == 0) {
    if (r.active != 0 && r.channel != c.channel) return FragmentResult::kWait;
    r.active = c.total_length <= abi::kGsEnetMaxReassembly ? 1 : 2;
    r.channel = c.channel;
    r.start_seq = c.sequence;
    r.fragment_count = c.fragment_count;
    r.fragments_received = 0;
    r.total_length = c.total_length;
    r.bytes_received = 0;
  } else if (r.active == 0 || r.channel != c.channel || r.start_seq != c.sequence ||
             r.fragment_count != c.fragment_count || r.total_length != c.total_length ||
             r.fragments_received != c.fragment_number) {
    return FragmentResult::kBad;
  }
  if (r.active == 1) {
    // In-order fragments of one packet are contiguous.
    if (c.fragment_offset != r.bytes_received) return FragmentResult::kBad;
    std::memcpy(r.data + c.fragment_offset, c.payload.data(), c.payload.size());
    r.bytes_received += static_cast<uint32_t>(c.payload.size());
  }
  ++r.fragments_received;
  if (r.fragments_received == r.fragment_count) {
    if (r.active == 1 && r.bytes_received == r.total_length)
      deliver(r.channel, std::span<const uint8_t>(r.data, r.total_length), events);
    else
      ++state_.counters.fragmented_dropped;
    r.active = 0;
  }
  return FragmentResult::kTaken;
}

void EnetServer::onDatagram(std::span<const uint8_t> bytes, const sockaddr_storage& from,
                            uint64_t now_ns, const EnetAcceptFn& accept, Outbox& out,
                            std::vector<EnetEvent>& events) {
  auto& counters = state_.counters;
  ++counters.datagrams_received;
  const auto parsed = enet::parseDatagram(bytes);
  if (!parsed || parsed->header.compressed) {
    ++counters.datagrams_dropped;
    return;
  }
  const auto& header = parsed->header;
  if (header.peer_id == enet::kMaxPeerId) {
    if (parsed->commands.empty() || parsed->commands[0].number() != enet::kCommandConnect) {
      ++counters.datagrams_dropped;
      return;
    }
    handleConnect(parsed->commands[0], from, now_ns, accept, out, events);
    return;
  }

  auto& p = state_.peer;
  if (is(p, GsEnetPeerState::kFree) || header.peer_id != kOurPeerId ||
      header.session != p.incoming_session_id) {
    ++counters.datagrams_dropped;
    return;
  }
  const auto address = toBytes(from);
  if (!address || !sameEndpoint(*address, p)) {
    ++counters.foreign_datagrams;
    return;
  }
  p.last_receive_ns = now_ns;

  // Where the acknowledgements go, kept aside: a DISCONNECT below frees the peer.
  const sockaddr_storage to = peerSockaddr();
  const uint16_t ack_peer_id = p.outgoing_peer_id;
  const uint8_t ack_session = p.outgoing_session_id;
  const size_t mtu = p.mtu;
  struct Ack {
    uint8_t channel;
    uint16_t seq;
  };
  std::vector<Ack> acks;

  bool malformed = parsed->truncated;
  for (const auto& c : parsed->commands) {
    if (is(p, GsEnetPeerState::kFree)) break;
    // A reliable command without the sent time to echo cannot be acknowledged: ENet stops here.
    if (c.acknowledged() && !header.has_sent_time) {
      malformed = true;
      break;
    }
    const bool connected_now = is(p, GsEnetPeerState::kConnected);
    bool ack = c.acknowledged() && connected_now;
    bool stop = false;
    switch (c.number()) {
      case enet::kCommandAcknowledge:
        handleAck(c.channel, c.received_reliable_seq, c.received_sent_time, now_ns, events);
        break;
      case enet::kCommandPing:
        ++counters.pings_received;
        break;
      case enet::kCommandBandwidthLimit:
      case enet::kCommandThrottleConfigure:
        // Accepted: we neither limit bandwidth nor throttle (a handful of messages a second).
        if (!connected_now) stop = malformed = true;
        break;
      case enet::kCommandDisconnect: {
        const bool had_session = connected_now || is(p, GsEnetPeerState::kDisconnecting);
        ack = c.acknowledged() && had_session;
        if (ack) acks.push_back({c.channel, c.reliable_seq});
        ack = false;
        freePeer();
        if (had_session) {
          EnetEvent e;
          e.kind = EnetEvent::Kind::kDisconnect;
          e.value = c.data;
          events.push_back(std::move(e));
        }
        stop = true;
        break;
      }
      case enet::kCommandSendReliable:
      case enet::kCommandSendFragment: {
        if (!connected_now || c.channel >= p.channel_count) {
          stop = malformed = true;
          ack = false;
          break;
        }
        auto& ch = state_.channels[c.channel];
        const auto diff = static_cast<uint16_t>(c.reliable_seq - ch.incoming_reliable_seq);
        if (diff == 0 || diff >= 0x8000) {
          ++counters.duplicates;  // seen before: acknowledge again, deliver nothing
          break;
        }
        if (diff != 1) {
          ++counters.out_of_order;  // not acknowledged: the client sends it again later
          ack = false;
          break;
        }
        if (c.number() == enet::kCommandSendFragment) {
          const FragmentResult result = takeFragment(c, events);
          if (result == FragmentResult::kBad) {
            ++counters.fragmented_dropped;
            stop = malformed = true;
            ack = false;
            break;
          }
          if (result == FragmentResult::kWait) {
            ++counters.out_of_order;
            ack = false;
            break;
          }
        } else {
          deliver(c.channel, c.payload, events);
        }
        ch.incoming_reliable_seq = c.reliable_seq;
        ch.incoming_unreliable_seq = 0;
        break;
      }
      case enet::kCommandSendUnreliable: {
        if (!connected_now || c.channel >= p.channel_count) {
          stop = malformed = true;
          break;
        }
        auto& ch = state_.channels[c.channel];
        if (c.reliable_seq == ch.incoming_reliable_seq && c.sequence > ch.incoming_unreliable_seq) {
          ch.incoming_unreliable_seq = c.sequence;
          deliver(c.channel, c.payload, events);
        } else {
          ++counters.unreliable_dropped;
        }
        break;
      }
      case enet::kCommandSendUnsequenced: {
        if (!connected_now || c.channel >= p.channel_count) {
          stop = malformed = true;
          break;
        }
        // ENet's unsequenced window: 1024 groups tracked, 32 windows ahead accepted.
        uint32_t group = c.sequence;
        const uint32_t index = group % abi::kGsEnetUnsequencedWindow;
        if (group < p.incoming_unsequenced_group) group += 0x10000;
        if (group >= uint32_t{p.incoming_unsequenced_group} + 32 * abi::kGsEnetUnsequencedWindow) {
          ++counters.unreliable_dropped;
          break;
        }
        group &= 0xFFFF;
        if (group - index != p.incoming_unsequenced_group) {
          p.incoming_unsequenced_group = static_cast<uint16_t>(group - index);
          std::memset(state_.unsequenced_window, 0, sizeof state_.unsequenced_window);
        } else if (state_.unsequenced_window[index / 32] & (1u << (index % 32))) {
          ++counters.unreliable_dropped;
          break;
        }
        state_.unsequenced_window[index / 32] |= 1u << (index % 32);
        deliver(c.channel, c.payload, events);
        break;
      }
      case enet::kCommandSendUnreliableFragment:
        // Moonlight never sends these (it sets no unreliable-fragment flag): dropped.
        ++counters.unreliable_dropped;
        break;
      default:  // CONNECT or VERIFY_CONNECT to a peer: a protocol error
        stop = malformed = true;
        ack = false;
        break;
    }
    if (ack) acks.push_back({c.channel, c.reliable_seq});
    if (stop) break;
  }
  if (malformed) ++counters.malformed_commands;

  // Acknowledgements: one or more datagrams without sent time, at most one MTU each.
  for (size_t i = 0; i < acks.size();) {
    Datagram d;
    d.to = to;
    enet::appendHeader(d.bytes, ack_peer_id, ack_session, std::nullopt);
    for (; i < acks.size() && d.bytes.size() + 8 <= mtu; ++i) {
      enet::appendCommand(d.bytes,
                          enet::acknowledge(acks[i].channel, acks[i].seq, header.sent_time));
      ++counters.acks_sent;
    }
    out.push_back(std::move(d));
  }
}

bool EnetServer::send(std::span<const uint8_t> payload, uint64_t now_ns, Outbox& out) {
  auto& p = state_.peer;
  if (!connected() || payload.size() > kMaxSendPayload) {
    ++state_.counters.sends_refused;
    return false;
  }
  const auto seq = static_cast<uint16_t>(p.channel0_outgoing_reliable_seq + 1);
  std::vector<uint8_t> bytes;
  enet::appendCommand(bytes, enet::sendReliable(0, seq, payload));
  if (!queueReliable(0, enet::kCommandSendReliable, bytes, now_ns, out)) {
    ++state_.counters.sends_refused;
    return false;
  }
  p.channel0_outgoing_reliable_seq = seq;
  ++state_.counters.reliable_sent;
  return true;
}

void EnetServer::service(uint64_t now_ns, Outbox& out, std::vector<EnetEvent>& events) {
  auto& p = state_.peer;
  if (is(p, GsEnetPeerState::kFree)) return;

  const bool disconnecting = is(p, GsEnetPeerState::kDisconnecting);
  const bool silent = since(now_ns, p.last_receive_ns) >= options_.timeout_ns;
  if (silent || (disconnecting && now_ns >= p.disconnect_deadline_ns)) {
    const bool was_connected = is(p, GsEnetPeerState::kConnected);
    const uint32_t data = p.disconnect_data;
    freePeer();
    EnetEvent e;
    if (was_connected) {
      ++state_.counters.timeouts;
      spdlog::info("gamestream control: the client went silent; peer freed");
      e.kind = EnetEvent::Kind::kTimeout;
      events.push_back(std::move(e));
    } else if (disconnecting) {
      e.kind = EnetEvent::Kind::kDisconnect;
      e.value = data;
      events.push_back(std::move(e));
    }
    return;
  }

  bool waiting = false;
  for (auto& slot : state_.outgoing) {
    if (slot.in_use != 1) continue;
    waiting = true;
    if (since(now_ns, slot.last_sent_ns) < slot.rto_ns) continue;
    slot.rto_ns = std::min(slot.rto_ns * 2, options_.max_rto_ns);
    transmit(slot, now_ns, out);
    ++state_.counters.retransmits;
  }

  if (is(p, GsEnetPeerState::kConnected) && !waiting &&
      since(now_ns, p.last_receive_ns) >= options_.ping_interval_ns && now_ns >= p.next_ping_ns) {
    std::vector<uint8_t> bytes;
    const auto seq = static_cast<uint16_t>(p.outgoing_reliable_seq + 1);
    enet::appendCommand(bytes, enet::ping(seq));
    if (queueReliable(enet::kConnectionChannel, enet::kCommandPing, bytes, now_ns, out)) {
      p.outgoing_reliable_seq = seq;
      ++state_.counters.pings_sent;
    }
    p.next_ping_ns = now_ns + options_.ping_interval_ns;
  }
}

void EnetServer::disconnect(uint32_t data, uint64_t now_ns, Outbox& out) {
  auto& p = state_.peer;
  if (is(p, GsEnetPeerState::kFree) || is(p, GsEnetPeerState::kDisconnecting)) return;
  if (is(p, GsEnetPeerState::kConnected)) {
    const auto seq = static_cast<uint16_t>(p.outgoing_reliable_seq + 1);
    std::vector<uint8_t> bytes;
    enet::appendCommand(bytes, enet::disconnect(seq, data, true));
    if (queueReliable(enet::kConnectionChannel, enet::kCommandDisconnect, bytes, now_ns, out)) {
      p.outgoing_reliable_seq = seq;
      p.disconnect_data = data;
      p.disconnect_deadline_ns = now_ns + options_.disconnect_timeout_ns;
      setState(p, GsEnetPeerState::kDisconnecting);
      return;
    }
  }
  // Not connected yet, or no slot left: one unsequenced DISCONNECT, and the peer is gone.
  Datagram d;
  d.to = peerSockaddr();
  enet::appendHeader(d.bytes, p.outgoing_peer_id, p.outgoing_session_id, std::nullopt);
  enet::appendCommand(d.bytes, enet::disconnect(0, data, false));
  out.push_back(std::move(d));
  freePeer();
}

std::optional<uint64_t> EnetServer::nextServiceNs() const {
  const auto& p = state_.peer;
  if (is(p, GsEnetPeerState::kFree)) return std::nullopt;
  uint64_t next = p.last_receive_ns + options_.timeout_ns;
  if (is(p, GsEnetPeerState::kDisconnecting)) next = std::min(next, p.disconnect_deadline_ns);
  bool waiting = false;
  for (const auto& slot : state_.outgoing) {
    if (slot.in_use != 1) continue;
    waiting = true;
    next = std::min(next, slot.last_sent_ns + slot.rto_ns);
  }
  if (is(p, GsEnetPeerState::kConnected) && !waiting)
    next = std::min(next, std::max(p.next_ping_ns, p.last_receive_ns + options_.ping_interval_ns));
  return next;
}

}  // namespace funkhaus::net::gamestream
