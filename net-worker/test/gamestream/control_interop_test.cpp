// Interop proof: Debian's libenet (upstream ENet 1.3.17) as the client, on loopback UDP, against
// EnetServer on a real socket: connect data, reliable packets in order on many channels,
// unreliable ones, fragments, pings both ways, disconnect, a "restart" of the server on a copy of
// its state with no disconnect and no lost or doubled packet, reconnects, and timeouts.
#include <arpa/inet.h>
#include <enet/enet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "funkhaus/net/gamestream/enet_server.h"

namespace funkhaus::net::gamestream {
namespace {

uint64_t nowNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

std::vector<uint8_t> text(const std::string& s) { return {s.begin(), s.end()}; }

struct EnetLibrary {
  EnetLibrary() { enet_initialize(); }
  ~EnetLibrary() { enet_deinitialize(); }
};

// The server side: a UDP socket on 127.0.0.1 and an EnetServer on heap state.
class ServerSide {
 public:
  explicit ServerSide(EnetServerOptions options = {}) : options_(options) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&in), sizeof in), 0);
    socklen_t len = sizeof in;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&in), &len);
    port_ = ntohs(in.sin_port);
    state_ = std::make_unique<abi::GsEnetState>();
    std::memset(state_.get(), 0, sizeof *state_);
    server_ = std::make_unique<EnetServer>(*state_, options_);
  }
  ~ServerSide() { ::close(fd_); }

  uint16_t port() const { return port_; }
  EnetServer& server() { return *server_; }
  abi::GsEnetState& state() { return *state_; }

  // Reads every waiting datagram (or drops the next `drop_incoming_`), services, sends.
  void pump() {
    const uint64_t now = nowNs();
    uint8_t buffer[4096];
    for (;;) {
      sockaddr_storage from{};
      socklen_t len = sizeof from;
      const ssize_t n =
          ::recvfrom(fd_, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0) break;
      if (drop_incoming_ > 0) {
        --drop_incoming_;
        continue;
      }
      server_->onDatagram(std::span<const uint8_t>(buffer, static_cast<size_t>(n)), from, now,
                          accept_, outbox_, events_);
    }
    server_->service(now, outbox_, events_);
    flush();
  }
  void flush() {
    for (const auto& d : outbox_) {
      if (drop_outgoing_) continue;
      ::sendto(fd_, d.bytes.data(), d.bytes.size(), 0, reinterpret_cast<const sockaddr*>(&d.to),
               d.to.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
    }
    outbox_.clear();
  }
  bool send(const std::vector<uint8_t>& payload) {
    const bool ok = server_->send(payload, nowNs(), outbox_);
    flush();
    return ok;
  }

  // The restart: the state's bytes copied to new memory, the old server and memory destroyed
  // (and scribbled over first), a new server attached to the copy. Same socket.
  void restart() {
    auto copy = std::make_unique<abi::GsEnetState>();
    std::memcpy(copy.get(), state_.get(), sizeof *copy);
    server_.reset();
    std::memset(state_.get(), 0xAB, sizeof *state_);
    state_ = std::move(copy);
    server_ = std::make_unique<EnetServer>(*state_, options_);
  }

  std::vector<EnetEvent> events_;
  std::vector<std::pair<sockaddr_storage, uint32_t>> asked_;
  bool accept_all_ = true;
  EnetAcceptFn accept_ = [this](const sockaddr_storage& from, uint32_t data) {
    asked_.emplace_back(from, data);
    return accept_all_;
  };
  size_t drop_incoming_ = 0;
  bool drop_outgoing_ = false;

 private:
  EnetServerOptions options_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::unique_ptr<abi::GsEnetState> state_;
  std::unique_ptr<EnetServer> server_;
  Outbox outbox_;
};

struct ClientEvent {
  ENetEventType type;
  uint8_t channel;
  uint32_t data;
  std::vector<uint8_t> payload;
};

// One libenet client host with one peer.
class ClientSide {
 public:
  explicit ClientSide(uint16_t server_port, uint32_t connect_data = 0xC0FFEE,
                      const char* bind_ip = nullptr) {
    if (bind_ip != nullptr) {
      ENetAddress local{};
      enet_address_set_host_ip(&local, bind_ip);
      local.port = 0;
      host_ = enet_host_create(&local, 1, 48, 0, 0);
    } else {
      host_ = enet_host_create(nullptr, 1, 48, 0, 0);
    }
    EXPECT_NE(host_, nullptr);
    ENetAddress server{};
    enet_address_set_host_ip(&server, "127.0.0.1");
    server.port = server_port;
    peer_ = enet_host_connect(host_, &server, 48, connect_data);
    EXPECT_NE(peer_, nullptr);
  }
  ~ClientSide() {
    if (peer_ != nullptr) enet_peer_reset(peer_);
    enet_host_destroy(host_);
  }

  void pump() {
    ENetEvent event;
    while (enet_host_service(host_, &event, 0) > 0) record(event);
  }
  bool connected() const { return peer_ != nullptr && peer_->state == ENET_PEER_STATE_CONNECTED; }
  bool sawDisconnect() const {
    for (const auto& e : events_)
      if (e.type == ENET_EVENT_TYPE_DISCONNECT) return true;
    return false;
  }
  void send(uint8_t channel, const std::vector<uint8_t>& payload, uint32_t flags) {
    ENetPacket* packet = enet_packet_create(payload.data(), payload.size(), flags);
    ASSERT_EQ(enet_peer_send(peer_, channel, packet), 0);
  }
  std::vector<std::vector<uint8_t>> received(uint8_t channel) const {
    std::vector<std::vector<uint8_t>> out;
    for (const auto& e : events_)
      if (e.type == ENET_EVENT_TYPE_RECEIVE && e.channel == channel) out.push_back(e.payload);
    return out;
  }

  ENetHost* host_ = nullptr;
  ENetPeer* peer_ = nullptr;
  std::vector<ClientEvent> events_;

 private:
  void record(const ENetEvent& event) {
    ClientEvent e{event.type, event.channelID, event.data, {}};
    if (event.type == ENET_EVENT_TYPE_RECEIVE) {
      e.payload.assign(event.packet->data, event.packet->data + event.packet->dataLength);
      enet_packet_destroy(event.packet);
    }
    events_.push_back(std::move(e));
  }
};

// Pumps both sides (1 ms steps) until `done` or the deadline; true if done.
bool pumpUntil(ServerSide& server, std::vector<ClientSide*> clients,
               const std::function<bool()>& done, int timeout_ms = 5000, bool serve = true) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (serve) server.pump();
    for (auto* c : clients) c->pump();
    if (done()) return true;
    ::usleep(1000);
  }
  return done();
}

std::vector<std::vector<uint8_t>> serverReceived(const ServerSide& s, uint8_t channel) {
  std::vector<std::vector<uint8_t>> out;
  for (const auto& e : s.events_)
    if (e.kind == EnetEvent::Kind::kReceive && e.channel == channel) out.push_back(e.data);
  return out;
}

size_t countEvents(const ServerSide& s, EnetEvent::Kind type) {
  size_t n = 0;
  for (const auto& e : s.events_) n += e.kind == type ? 1 : 0;
  return n;
}

std::vector<uint8_t> numbered(const std::string& tag, int n) {
  return text(tag + ":" + std::to_string(n));
}

class EnetInterop : public ::testing::Test {
 protected:
  EnetLibrary library_;
};

TEST_F(EnetInterop, ConnectExchangeAndDisconnect) {
  ServerSide server;
  ClientSide client(server.port(), 0xC0FFEE);
  ASSERT_TRUE(pumpUntil(server, {&client},
                        [&] { return client.connected() && server.server().connected(); }));
  ASSERT_EQ(server.asked_.size(), 1u);
  EXPECT_EQ(server.asked_[0].second, 0xC0FFEEu);
  ASSERT_FALSE(server.events_.empty());
  EXPECT_EQ(server.events_[0].kind, EnetEvent::Kind::kConnect);
  EXPECT_EQ(server.events_[0].value, 0xC0FFEEu);
  EXPECT_EQ(client.peer_->channelCount, 48u);

  // Reliable on several channels (Moonlight's: urgent, keyboard, mouse, gamepad 0, sensor 15),
  // unreliable and unsequenced on others.
  const std::vector<uint8_t> channels = {1, 2, 3, 0x10, 0x2F};
  constexpr int kPerChannel = 60;
  for (int i = 0; i < kPerChannel; ++i) {
    for (uint8_t ch : channels)
      client.send(ch, numbered("r" + std::to_string(ch), i), ENET_PACKET_FLAG_RELIABLE);
    client.send(5, numbered("u", i), 0);
    client.send(6, numbered("s", i), ENET_PACKET_FLAG_UNSEQUENCED);
    if (i % 10 == 0)
      pumpUntil(
          server, {&client}, [] { return false; }, 2);
  }
  ASSERT_TRUE(pumpUntil(server, {&client}, [&] {
    for (uint8_t ch : channels)
      if (serverReceived(server, ch).size() < kPerChannel) return false;
    return true;
  }));
  for (uint8_t ch : channels) {
    const auto got = serverReceived(server, ch);
    ASSERT_EQ(got.size(), static_cast<size_t>(kPerChannel)) << "channel " << int(ch);
    for (int i = 0; i < kPerChannel; ++i)
      EXPECT_EQ(got[i], numbered("r" + std::to_string(ch), i)) << "channel " << int(ch);
  }
  // Unreliable: in order, no duplicates (ENet's throttle may legally drop some).
  for (const auto& [ch, tag] : std::vector<std::pair<uint8_t, std::string>>{{5, "u"}, {6, "s"}}) {
    const auto got = serverReceived(server, ch);
    EXPECT_GE(got.size(), static_cast<size_t>(kPerChannel / 2)) << tag;
    int last = -1;
    for (const auto& p : got) {
      const int n = std::stoi(std::string(p.begin() + 2, p.end()));
      EXPECT_GT(n, last) << tag;
      last = n;
    }
  }

  // Server -> client, reliable on channel 0.
  constexpr int kDown = 100;
  for (int i = 0; i < kDown; ++i) {
    ASSERT_TRUE(server.send(numbered("down", i)));
    if (i % 16 == 15) {
      ASSERT_TRUE(
          pumpUntil(server, {&client}, [&] { return client.received(0).size() > size_t(i); }));
    }
  }
  ASSERT_TRUE(pumpUntil(server, {&client}, [&] { return client.received(0).size() >= kDown; }));
  const auto down = client.received(0);
  ASSERT_EQ(down.size(), static_cast<size_t>(kDown));
  for (int i = 0; i < kDown; ++i) EXPECT_EQ(down[i], numbered("down", i));

  enet_peer_disconnect(client.peer_, 42);
  ASSERT_TRUE(pumpUntil(server, {&client}, [&] {
    return client.sawDisconnect() && countEvents(server, EnetEvent::Kind::kDisconnect) == 1;
  }));
  EXPECT_EQ(server.events_.back().kind, EnetEvent::Kind::kDisconnect);
  EXPECT_EQ(server.events_.back().value, 42u);
  EXPECT_FALSE(server.server().hasPeer());
  EXPECT_EQ(server.state().counters.malformed_commands, 0u);
}

TEST_F(EnetInterop, FragmentedPacketsReassembledOrDroppedWhenLarge) {
  ServerSide server;
  ClientSide client(server.port());
  ASSERT_TRUE(pumpUntil(server, {&client}, [&] { return server.server().connected(); }));
  std::vector<uint8_t> medium(3000);
  for (size_t i = 0; i < medium.size(); ++i) medium[i] = static_cast<uint8_t>(i * 13 + 1);
  client.send(2, medium, ENET_PACKET_FLAG_RELIABLE);
  client.send(2, std::vector<uint8_t>(abi::kGsEnetMaxReassembly + 1, 0x77),
              ENET_PACKET_FLAG_RELIABLE);
  client.send(2, text("after"), ENET_PACKET_FLAG_RELIABLE);
  ASSERT_TRUE(pumpUntil(server, {&client}, [&] { return serverReceived(server, 2).size() >= 2; }));
  const auto got = serverReceived(server, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], medium);
  EXPECT_EQ(got[1], text("after"));
  EXPECT_EQ(server.state().counters.fragmented_dropped, 1u);
}

TEST_F(EnetInterop, RestartOnCopiedStateLosesAndDoublesNothing) {
  ServerSide server;
  ClientSide client(server.port());
  ASSERT_TRUE(pumpUntil(server, {&client}, [&] { return server.server().connected(); }));

  constexpr int kUp = 400;
  int down_sent = 0;
  for (int i = 0; i < kUp; ++i) {
    client.send(static_cast<uint8_t>(1 + i % 4), numbered("up", i), ENET_PACKET_FLAG_RELIABLE);
    if (i % 3 == 0) {
      ASSERT_TRUE(server.send(numbered("down", down_sent++)));
    }
    if (i == kUp / 2) {
      // The process dies mid-stream: what it sent last never leaves, what arrives while it is
      // down is lost; then the successor attaches to the copied state on the same socket.
      server.drop_outgoing_ = true;
      ASSERT_TRUE(server.send(numbered("down", down_sent++)));
      client.pump();
      server.pump();
      server.drop_outgoing_ = false;
      server.drop_incoming_ = 3;
      ::usleep(20000);
      server.restart();
    }
    pumpUntil(
        server, {&client}, [] { return false; }, 1);
  }
  ASSERT_TRUE(pumpUntil(
      server, {&client},
      [&] {
        size_t up = 0;
        for (uint8_t ch = 1; ch <= 4; ++ch) up += serverReceived(server, ch).size();
        return up >= kUp && client.received(0).size() >= static_cast<size_t>(down_sent);
      },
      10000));

  // Every packet once, in order per channel.
  for (uint8_t ch = 1; ch <= 4; ++ch) {
    const auto got = serverReceived(server, ch);
    ASSERT_EQ(got.size(), static_cast<size_t>(kUp / 4)) << "channel " << int(ch);
    for (size_t k = 0; k < got.size(); ++k)
      EXPECT_EQ(got[k], numbered("up", static_cast<int>(k * 4 + (ch - 1))));
  }
  const auto down = client.received(0);
  ASSERT_EQ(down.size(), static_cast<size_t>(down_sent));
  for (int k = 0; k < down_sent; ++k) EXPECT_EQ(down[k], numbered("down", k));
  // Nobody noticed.
  EXPECT_TRUE(client.connected());
  EXPECT_FALSE(client.sawDisconnect());
  EXPECT_EQ(countEvents(server, EnetEvent::Kind::kDisconnect), 0u);
  EXPECT_EQ(countEvents(server, EnetEvent::Kind::kTimeout), 0u);
  EXPECT_GT(server.state().counters.retransmits, 0u);  // the lost datagram was sent again
}

TEST_F(EnetInterop, ClientPingsAreAnsweredAndOursToo) {
  EnetServerOptions options;
  options.ping_interval_ns = 100'000'000;
  ServerSide server(options);
  ClientSide client(server.port());
  ASSERT_TRUE(pumpUntil(server, {&client}, [&] { return server.server().connected(); }));
  // The client pings every 50 ms when it heard nothing and gives up after 300..600 ms without
  // acknowledgements: staying connected for 2 s of silence means its pings were answered.
  enet_peer_ping_interval(client.peer_, 50);
  enet_peer_timeout(client.peer_, 4, 300, 600);
  pumpUntil(
      server, {&client}, [] { return false; }, 2000);
  EXPECT_TRUE(client.connected());
  EXPECT_FALSE(client.sawDisconnect());
  EXPECT_GE(server.state().counters.pings_received, 10u);

  // Now the client never pings: our pings (every 100 ms) keep it and us alive past our 1 s.
  ServerSide quiet([] {
    EnetServerOptions o;
    o.ping_interval_ns = 100'000'000;
    o.timeout_ns = 1'000'000'000;
    return o;
  }());
  ClientSide listener(quiet.port());
  ASSERT_TRUE(pumpUntil(quiet, {&listener}, [&] { return quiet.server().connected(); }));
  enet_peer_ping_interval(listener.peer_, 60000);
  pumpUntil(
      quiet, {&listener}, [] { return false; }, 2500);
  EXPECT_TRUE(quiet.server().connected());
  EXPECT_EQ(countEvents(quiet, EnetEvent::Kind::kTimeout), 0u);
  EXPECT_GE(quiet.state().counters.pings_sent, 10u);
  EXPECT_GT(quiet.state().peer.rtt_ms, 0u);
  EXPECT_TRUE(listener.connected());
}

TEST_F(EnetInterop, SilentServerTimesTheClientOutAndItsOwnTimeoutFreesThePeer) {
  ServerSide server;
  ClientSide client(server.port());
  ASSERT_TRUE(pumpUntil(server, {&client}, [&] { return server.server().connected(); }));
  enet_peer_ping_interval(client.peer_, 50);
  enet_peer_timeout(client.peer_, 4, 300, 600);
  // The server stops answering (its socket is not read any more).
  ASSERT_TRUE(pumpUntil(
      server, {&client}, [&] { return client.sawDisconnect(); }, 5000,
      /*serve=*/false));
  const uint64_t heard = server.state().peer.last_receive_ns;
  Outbox out;
  std::vector<EnetEvent> events;
  server.server().service(heard + 10'000'000'000 - 1, out, events);
  EXPECT_TRUE(events.empty());
  EXPECT_TRUE(server.server().connected());
  server.server().service(heard + 10'000'000'000, out, events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, EnetEvent::Kind::kTimeout);
  EXPECT_FALSE(server.server().hasPeer());
}

TEST_F(EnetInterop, OtherHostRefusedSameHostReconnectReplaces) {
  ServerSide server;
  ClientSide first(server.port(), 1);
  ASSERT_TRUE(pumpUntil(server, {&first}, [&] { return server.server().connected(); }));

  ClientSide stranger(server.port(), 2, "127.0.0.2");
  pumpUntil(
      server, {&first, &stranger}, [] { return false; }, 500);
  EXPECT_FALSE(stranger.connected());
  EXPECT_GE(server.state().counters.connects_refused, 1u);
  EXPECT_TRUE(first.connected());

  // The same client again from a new socket (Moonlight makes a new ENet host per connection).
  ClientSide again(server.port(), 3);
  ASSERT_TRUE(pumpUntil(server, {&first, &again},
                        [&] { return again.connected() && server.server().connected(); }));
  EXPECT_EQ(countEvents(server, EnetEvent::Kind::kDisconnect), 1u);  // the first one replaced
  EXPECT_EQ(server.events_.back().kind, EnetEvent::Kind::kConnect);
  EXPECT_EQ(server.events_.back().value, 3u);
  again.send(1, text("hello"), ENET_PACKET_FLAG_RELIABLE);
  ASSERT_TRUE(pumpUntil(server, {&again}, [&] { return serverReceived(server, 1).size() == 1; }));
  ASSERT_TRUE(server.send(text("welcome")));
  ASSERT_TRUE(pumpUntil(server, {&again}, [&] { return again.received(0).size() == 1; }));
}

TEST_F(EnetInterop, RefusedConnectNeverConnects) {
  ServerSide server;
  server.accept_all_ = false;
  ClientSide client(server.port(), 9);
  pumpUntil(
      server, {&client}, [] { return false; }, 400);
  EXPECT_FALSE(client.connected());
  EXPECT_FALSE(server.server().hasPeer());
  EXPECT_GE(server.asked_.size(), 1u);
  EXPECT_EQ(server.asked_[0].second, 9u);
}

}  // namespace
}  // namespace funkhaus::net::gamestream
