// EnetServer with fake time and hand-built client datagrams: handshake, in-order delivery,
// acknowledgements, fragments, retransmission with backoff, pings, timeouts, disconnects,
// replacement and refusal, and a corrupted state left by a predecessor.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <deque>
#include <memory>
#include <vector>

#include "funkhaus/net/gamestream/enet_server.h"

namespace funkhaus::net::gamestream {
namespace {

namespace e = enet;
constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kSecond = 1'000 * kMs;

sockaddr_storage address(const char* ip, uint16_t port) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  inet_pton(AF_INET, ip, &in.sin_addr);
  sockaddr_storage s{};
  std::memcpy(&s, &in, sizeof in);
  return s;
}

// A client made of the codec: builds datagrams the way ENet does.
struct FakeClient {
  sockaddr_storage from = address("192.0.2.10", 50000);
  uint16_t peer_id = 7;  // its own incoming peer id (the server's headers carry it)
  uint8_t session = 0;   // session bits it sends (the server's incoming session)
  uint32_t connect_id = 0x0BADCAFE;
  uint32_t data = 0x5EED;

  std::vector<uint8_t> connect(uint32_t channels = 48, uint32_t mtu = 900) const {
    std::vector<uint8_t> d;
    e::appendHeader(d, e::kMaxPeerId, 0, uint16_t{100});
    e::Command c;
    c.command = e::kCommandConnect | e::kFlagAcknowledge;
    c.channel = 0xFF;
    c.reliable_seq = 1;
    c.outgoing_peer_id = peer_id;
    c.incoming_session_id = 0xFF;
    c.outgoing_session_id = 0xFF;
    c.mtu = mtu;
    c.window_size = 65536;
    c.channel_count = channels;
    c.throttle_interval = 5000;
    c.throttle_acceleration = 2;
    c.throttle_deceleration = 2;
    c.connect_id = connect_id;
    c.data = data;
    e::appendCommand(d, c);
    return d;
  }
  std::vector<uint8_t> datagram(const std::vector<e::Command>& commands, uint16_t sent_time = 200) {
    std::vector<uint8_t> d;
    e::appendHeader(d, 0, session, sent_time);
    for (const auto& c : commands) e::appendCommand(d, c);
    return d;
  }
};

e::Command reliable(uint8_t channel, uint16_t seq, const std::vector<uint8_t>& payload) {
  return e::sendReliable(channel, seq, payload);
}

struct Harness {
  std::unique_ptr<abi::GsEnetState> state = std::make_unique<abi::GsEnetState>();
  EnetServerOptions options;
  std::unique_ptr<EnetServer> server;
  FakeClient client;
  uint64_t now = 1000 * kSecond;
  Outbox out;
  std::vector<EnetEvent> events;
  bool accept_all = true;
  EnetAcceptFn accept = [this](const sockaddr_storage&, uint32_t) { return accept_all; };

  Harness() {
    std::memset(state.get(), 0, sizeof *state);
    server = std::make_unique<EnetServer>(*state, options);
  }
  void feed(const std::vector<uint8_t>& d, const sockaddr_storage* from = nullptr) {
    server->onDatagram(d, from ? *from : client.from, now, accept, out, events);
  }
  // Every command of every datagram in the outbox (the outbox is cleared).
  std::vector<e::ParsedDatagram> drain() {
    std::vector<e::ParsedDatagram> parsed;
    for (const auto& d : out) {
      kept.push_back(d.bytes);  // the parsed payload spans point into these
      auto p = e::parseDatagram(kept.back());
      EXPECT_TRUE(p);
      if (p) parsed.push_back(*p);
    }
    out.clear();
    return parsed;
  }
  void connect() {
    feed(client.connect());
    auto replies = drain();
    ASSERT_EQ(replies.size(), 1u);
    const auto& verify = replies[0].commands.at(0);
    client.session = verify.outgoing_session_id;  // what the server expects in our headers
    feed(client.datagram({e::acknowledge(0xFF, verify.reliable_seq, replies[0].header.sent_time)}));
    ASSERT_TRUE(server->connected());
    ASSERT_EQ(events.size(), 1u);
    events.clear();
  }
  std::deque<std::vector<uint8_t>> kept;
};

std::vector<std::pair<uint8_t, uint16_t>> ackedIn(const std::vector<e::ParsedDatagram>& ds) {
  std::vector<std::pair<uint8_t, uint16_t>> acks;
  for (const auto& d : ds)
    for (const auto& c : d.commands)
      if (c.number() == e::kCommandAcknowledge)
        acks.emplace_back(c.channel, c.received_reliable_seq);
  return acks;
}

TEST(EnetServer, HandshakeAnswersConnectWithVerifyConnect) {
  Harness h;
  std::vector<std::pair<uint32_t, uint32_t>> asked;
  h.accept = [&](const sockaddr_storage&, uint32_t data) {
    asked.emplace_back(data, 0);
    return true;
  };
  h.feed(h.client.connect(48, 900));
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].first, 0x5EEDu);
  const auto replies = h.drain();
  ASSERT_EQ(replies.size(), 1u);
  const auto& r = replies[0];
  EXPECT_EQ(r.header.peer_id, 7);  // the client's own id
  EXPECT_TRUE(r.header.has_sent_time);
  ASSERT_EQ(r.commands.size(), 1u);
  const auto& v = r.commands[0];
  EXPECT_EQ(v.command, e::kCommandVerifyConnect | e::kFlagAcknowledge);
  EXPECT_EQ(v.channel, 0xFF);
  EXPECT_EQ(v.reliable_seq, 1);
  EXPECT_EQ(v.outgoing_peer_id, 0);
  EXPECT_EQ(v.mtu, 900u);
  EXPECT_EQ(v.channel_count, 48u);
  EXPECT_EQ(v.connect_id, 0x0BADCAFEu);
  EXPECT_EQ(v.throttle_interval, 5000u);
  EXPECT_LE(v.incoming_session_id, 3);
  EXPECT_LE(v.outgoing_session_id, 3);
  EXPECT_EQ(r.header.session, v.incoming_session_id);  // our session bits = its incoming
  EXPECT_FALSE(h.server->connected());
  EXPECT_TRUE(h.events.empty());

  h.client.session = v.outgoing_session_id;
  h.feed(h.client.datagram({e::acknowledge(0xFF, 1, r.header.sent_time)}));
  EXPECT_TRUE(h.server->connected());
  ASSERT_EQ(h.events.size(), 1u);
  EXPECT_EQ(h.events[0].kind, EnetEvent::Kind::kConnect);
  EXPECT_EQ(h.events[0].value, 0x5EEDu);
  EXPECT_EQ(h.state->counters.connects_accepted, 1u);
}

TEST(EnetServer, RefusedConnectGetsNoAnswer) {
  Harness h;
  h.accept_all = false;
  h.feed(h.client.connect());
  EXPECT_TRUE(h.out.empty());
  EXPECT_FALSE(h.server->hasPeer());
  EXPECT_EQ(h.state->counters.connects_refused, 1u);
}

TEST(EnetServer, ConnectWithoutAClientPeerIdOrChannelsIsMalformed) {
  Harness h;
  h.client.peer_id = e::kMaxPeerId;  // "no peer": could never be put in our headers
  h.feed(h.client.connect());
  h.client.peer_id = 7;
  h.feed(h.client.connect(0));
  h.feed(h.client.connect(256));
  EXPECT_TRUE(h.out.empty());
  EXPECT_FALSE(h.server->hasPeer());
  EXPECT_EQ(h.state->counters.malformed_commands, 3u);
  h.feed(h.client.connect(48));
  EXPECT_TRUE(h.server->hasPeer());
}

TEST(EnetServer, DeliversInOrderAndAcknowledgesOnlyWhatItTook) {
  Harness h;
  h.connect();
  h.feed(h.client.datagram({reliable(2, 1, {0xA})}));
  h.feed(h.client.datagram({reliable(2, 3, {0xC})}));  // ahead: neither taken nor acknowledged
  auto acks = ackedIn(h.drain());
  EXPECT_EQ(acks, (std::vector<std::pair<uint8_t, uint16_t>>{{2, 1}}));
  ASSERT_EQ(h.events.size(), 1u);
  EXPECT_EQ(h.events[0].data, std::vector<uint8_t>{0xA});
  EXPECT_EQ(h.state->counters.out_of_order, 1u);

  h.feed(h.client.datagram({reliable(2, 2, {0xB}), reliable(2, 3, {0xC}), reliable(2, 1, {0xA})}));
  acks = ackedIn(h.drain());
  EXPECT_EQ(acks, (std::vector<std::pair<uint8_t, uint16_t>>{{2, 2}, {2, 3}, {2, 1}}));
  ASSERT_EQ(h.events.size(), 3u);
  EXPECT_EQ(h.events[1].data, std::vector<uint8_t>{0xB});
  EXPECT_EQ(h.events[2].data, std::vector<uint8_t>{0xC});
  EXPECT_EQ(h.events[2].channel, 2);
  EXPECT_EQ(h.state->counters.duplicates, 1u);
  // Channels are independent: channel 5 starts at 1.
  h.feed(h.client.datagram({reliable(5, 1, {0xD})}));
  EXPECT_EQ(h.events.back().channel, 5);
  EXPECT_EQ(h.events.size(), 4u);
}

TEST(EnetServer, AcknowledgementsEchoTheSentTime) {
  Harness h;
  h.connect();
  h.feed(h.client.datagram({reliable(0, 1, {1})}, 0x4321));
  const auto replies = h.drain();
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_FALSE(replies[0].header.has_sent_time);
  ASSERT_EQ(replies[0].commands.size(), 1u);
  EXPECT_EQ(replies[0].commands[0].received_sent_time, 0x4321);
}

TEST(EnetServer, UnreliableAndUnsequencedDeliveredOnce) {
  Harness h;
  h.connect();
  e::Command u;
  u.command = e::kCommandSendUnreliable;
  u.channel = 1;
  u.reliable_seq = 0;
  u.sequence = 1;
  const std::vector<uint8_t> payload = {9, 9};
  u.payload = payload;
  h.feed(h.client.datagram({u}));
  h.feed(h.client.datagram({u}));  // duplicate
  e::Command s;
  s.command = e::kCommandSendUnsequenced | e::kFlagUnsequenced;
  s.channel = 0;
  s.sequence = 1;
  s.payload = payload;
  h.feed(h.client.datagram({s}));
  h.feed(h.client.datagram({s}));  // duplicate
  EXPECT_EQ(h.events.size(), 2u);
  EXPECT_EQ(h.state->counters.unreliable_dropped, 2u);
  EXPECT_TRUE(ackedIn(h.drain()).empty());
}

std::vector<e::Command> fragments(uint8_t channel, uint16_t first_seq,
                                  const std::vector<uint8_t>& packet, size_t piece,
                                  std::vector<std::vector<uint8_t>>& storage) {
  std::vector<e::Command> out;
  const uint32_t count = static_cast<uint32_t>((packet.size() + piece - 1) / piece);
  for (uint32_t n = 0; n < count; ++n) {
    const size_t offset = n * piece;
    storage.emplace_back(packet.begin() + offset,
                         packet.begin() + std::min(packet.size(), offset + piece));
    e::Command c;
    c.command = e::kCommandSendFragment | e::kFlagAcknowledge;
    c.channel = channel;
    c.reliable_seq = static_cast<uint16_t>(first_seq + n);
    c.sequence = first_seq;
    c.fragment_count = count;
    c.fragment_number = n;
    c.total_length = static_cast<uint32_t>(packet.size());
    c.fragment_offset = static_cast<uint32_t>(offset);
    c.payload = storage.back();
    out.push_back(c);
  }
  return out;
}

TEST(EnetServer, ReassemblesSmallFragmentedPackets) {
  Harness h;
  h.connect();
  std::vector<uint8_t> packet(1500);
  for (size_t i = 0; i < packet.size(); ++i) packet[i] = static_cast<uint8_t>(i * 7);
  std::vector<std::vector<uint8_t>> storage;
  storage.reserve(16);
  const auto frags = fragments(3, 1, packet, 600, storage);
  ASSERT_EQ(frags.size(), 3u);
  h.feed(h.client.datagram({frags[0]}));
  h.feed(h.client.datagram({frags[2]}));  // ahead of order: waits
  EXPECT_TRUE(h.events.empty());
  h.feed(h.client.datagram({frags[1], frags[2]}));
  ASSERT_EQ(h.events.size(), 1u);
  EXPECT_EQ(h.events[0].channel, 3);
  EXPECT_EQ(h.events[0].data, packet);
  // The next reliable on that channel follows the fragments' numbers.
  h.feed(h.client.datagram({reliable(3, 4, {1})}));
  EXPECT_EQ(h.events.size(), 2u);
}

TEST(EnetServer, OversizedFragmentedPacketIsAcknowledgedAndDropped) {
  Harness h;
  h.connect();
  std::vector<uint8_t> packet(abi::kGsEnetMaxReassembly + 1000, 0x55);
  std::vector<std::vector<uint8_t>> storage;
  storage.reserve(16);
  const auto frags = fragments(0, 1, packet, 1200, storage);
  for (const auto& f : frags) h.feed(h.client.datagram({f}));
  EXPECT_TRUE(h.events.empty());
  EXPECT_EQ(ackedIn(h.drain()).size(), frags.size());
  EXPECT_EQ(h.state->counters.fragmented_dropped, 1u);
  h.feed(h.client.datagram({reliable(0, static_cast<uint16_t>(frags.size() + 1), {1})}));
  EXPECT_EQ(h.events.size(), 1u);  // the channel goes on
}

TEST(EnetServer, RetransmitsWithBackoffUntilAcknowledged) {
  Harness h;
  h.connect();
  ASSERT_TRUE(h.server->send(std::vector<uint8_t>{1, 2, 3}, h.now, h.out));
  auto sent = h.drain();
  ASSERT_EQ(sent.size(), 1u);
  const auto& cmd = sent[0].commands.at(0);
  EXPECT_EQ(cmd.command, e::kCommandSendReliable | e::kFlagAcknowledge);
  EXPECT_EQ(cmd.channel, 0);
  EXPECT_EQ(cmd.reliable_seq, 1);
  uint64_t first_rto = 0;
  for (const auto& s : h.state->outgoing)
    if (s.in_use) first_rto = s.rto_ns;
  ASSERT_GT(first_rto, 0u);

  h.server->service(h.now + first_rto - 1, h.out, h.events);
  EXPECT_TRUE(h.out.empty());
  h.server->service(h.now + first_rto, h.out, h.events);
  ASSERT_EQ(h.drain().size(), 1u);
  h.server->service(h.now + first_rto + first_rto, h.out, h.events);  // doubled: not yet
  EXPECT_TRUE(h.out.empty());
  h.server->service(h.now + 3 * first_rto, h.out, h.events);
  ASSERT_EQ(h.drain().size(), 1u);
  EXPECT_EQ(h.state->counters.retransmits, 2u);

  h.now += 3 * first_rto;
  h.feed(h.client.datagram({e::acknowledge(0, 1, static_cast<uint16_t>((h.now / kMs) & 0xFFFF))}));
  h.server->service(h.now + 10 * first_rto, h.out, h.events);
  for (const auto& d : h.drain())  // only a PING may go out now, never the packet again
    for (const auto& c : d.commands) EXPECT_EQ(c.number(), e::kCommandPing);
}

TEST(EnetServer, PingsWhenIdleAndTimesOutWhenSilent) {
  Harness h;
  h.connect();
  h.server->service(h.now + h.options.ping_interval_ns - 1, h.out, h.events);
  EXPECT_TRUE(h.out.empty());
  h.server->service(h.now + h.options.ping_interval_ns, h.out, h.events);
  auto sent = h.drain();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].commands.at(0).number(), e::kCommandPing);
  EXPECT_EQ(sent[0].commands.at(0).reliable_seq, 2);  // 1 was VERIFY_CONNECT
  EXPECT_EQ(h.state->counters.pings_sent, 1u);

  h.server->service(h.now + h.options.timeout_ns - 1, h.out, h.events);
  EXPECT_TRUE(h.events.empty());
  h.server->service(h.now + h.options.timeout_ns, h.out, h.events);
  ASSERT_EQ(h.events.size(), 1u);
  EXPECT_EQ(h.events[0].kind, EnetEvent::Kind::kTimeout);
  EXPECT_FALSE(h.server->hasPeer());
  EXPECT_EQ(h.state->counters.timeouts, 1u);
}

TEST(EnetServer, ClientPingIsAcknowledgedAndKeepsThePeer) {
  Harness h;
  h.connect();
  for (int i = 0; i < 20; ++i) {
    h.now += kSecond;
    h.feed(h.client.datagram({e::ping(static_cast<uint16_t>(2 + i))}));
    h.server->service(h.now, h.out, h.events);
  }
  EXPECT_TRUE(h.server->connected());
  EXPECT_EQ(h.state->counters.pings_received, 20u);
  EXPECT_EQ(ackedIn(h.drain()).size(), 20u);
}

TEST(EnetServer, ClientDisconnectIsAnEvent) {
  Harness h;
  h.connect();
  h.feed(h.client.datagram({e::disconnect(2, 77, true)}));
  ASSERT_EQ(h.events.size(), 1u);
  EXPECT_EQ(h.events[0].kind, EnetEvent::Kind::kDisconnect);
  EXPECT_EQ(h.events[0].value, 77u);
  EXPECT_FALSE(h.server->hasPeer());
  EXPECT_EQ(ackedIn(h.drain()).size(), 1u);  // its DISCONNECT was acknowledged
}

TEST(EnetServer, OurDisconnectGoesAloneAndEndsWithItsAck) {
  Harness h;
  h.connect();
  ASSERT_TRUE(h.server->send(std::vector<uint8_t>{1}, h.now, h.out));
  h.drain();
  h.server->disconnect(0, h.now, h.out);
  ASSERT_EQ(h.out.size(), 1u);
  EXPECT_EQ(h.out[0].bytes.size(), 12u);  // what Moonlight's intercept recognises
  const auto sent = h.drain();
  const auto& d = sent[0].commands.at(0);
  EXPECT_EQ(d.number(), e::kCommandDisconnect);
  EXPECT_TRUE(h.server->hasPeer());
  EXPECT_FALSE(h.server->connected());
  h.feed(h.client.datagram({e::acknowledge(0xFF, d.reliable_seq, 0)}));
  ASSERT_EQ(h.events.size(), 1u);
  EXPECT_EQ(h.events[0].kind, EnetEvent::Kind::kDisconnect);
  EXPECT_FALSE(h.server->hasPeer());
}

TEST(EnetServer, ConnectFromElsewhereIsRefusedSameHostReplaces) {
  Harness h;
  h.connect();
  FakeClient other;
  other.from = address("192.0.2.99", 50000);
  other.connect_id = 1;
  h.feed(other.connect(), &other.from);
  EXPECT_TRUE(h.out.empty());
  EXPECT_TRUE(h.server->connected());
  EXPECT_EQ(h.state->counters.connects_refused, 1u);

  FakeClient again = h.client;
  again.from = address("192.0.2.10", 50001);  // same client, new socket
  again.connect_id = 2;
  h.feed(again.connect(), &again.from);
  ASSERT_EQ(h.events.size(), 1u);
  EXPECT_EQ(h.events[0].kind, EnetEvent::Kind::kDisconnect);
  const auto replies = h.drain();
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].commands.at(0).number(), e::kCommandVerifyConnect);
  EXPECT_EQ(replies[0].commands.at(0).connect_id, 2u);
  // The old socket's datagrams no longer count.
  const auto dropped = h.state->counters.datagrams_dropped + h.state->counters.foreign_datagrams;
  h.feed(h.client.datagram({reliable(0, 1, {1})}));
  EXPECT_EQ(h.state->counters.datagrams_dropped + h.state->counters.foreign_datagrams, dropped + 1);
  EXPECT_EQ(h.events.size(), 1u);
}

TEST(EnetServer, DatagramsWithWrongSessionOrAddressAreDropped) {
  Harness h;
  h.connect();
  FakeClient stale = h.client;
  stale.session = static_cast<uint8_t>((h.client.session + 1) & 3);
  h.feed(stale.datagram({reliable(0, 1, {1})}));
  const sockaddr_storage elsewhere = address("192.0.2.10", 50002);
  h.feed(h.client.datagram({reliable(0, 1, {1})}), &elsewhere);
  EXPECT_TRUE(h.events.empty());
  EXPECT_EQ(h.state->counters.datagrams_dropped, 1u);
  EXPECT_EQ(h.state->counters.foreign_datagrams, 1u);
}

TEST(EnetServer, ACorruptedStateIsFreedOnAttach) {
  Harness h;
  h.connect();
  h.state->peer.channel_count = 500;
  EnetServer successor(*h.state);
  EXPECT_FALSE(successor.hasPeer());
  h.connect();
  h.state->peer.state = 77;
  EnetServer successor2(*h.state);
  EXPECT_FALSE(successor2.hasPeer());
  h.connect();
  h.state->outgoing[0].in_use = 1;
  h.state->outgoing[0].size = 9999;
  EnetServer successor3(*h.state);
  EXPECT_FALSE(successor3.hasPeer());
}

TEST(EnetServer, SendRefusedWithoutPeerOrWhenFullOrTooLarge) {
  Harness h;
  EXPECT_FALSE(h.server->send(std::vector<uint8_t>{1}, h.now, h.out));
  h.connect();
  EXPECT_FALSE(h.server->send(std::vector<uint8_t>(EnetServer::kMaxSendPayload + 1), h.now, h.out));
  EXPECT_TRUE(h.server->send(std::vector<uint8_t>(EnetServer::kMaxSendPayload), h.now, h.out));
  for (uint32_t i = 1; i < abi::kGsEnetOutgoingSlots; ++i)
    EXPECT_TRUE(h.server->send(std::vector<uint8_t>{1}, h.now, h.out));
  EXPECT_FALSE(h.server->send(std::vector<uint8_t>{1}, h.now, h.out));
  EXPECT_EQ(h.state->counters.sends_refused, 3u);
}

}  // namespace
}  // namespace funkhaus::net::gamestream
