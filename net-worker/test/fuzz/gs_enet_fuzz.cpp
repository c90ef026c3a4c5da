// Fuzz target: datagrams from a (possibly hostile) ENet client against a connected EnetServer.
// Input: records of [u8 flags][LE16 length][bytes]; flags bit 0 = from another address, bit 1 =
// let 300 ms pass and service(). Never crashes; the state always passes a successor's checks.
// fuzz-parser: net-worker/source/gamestream/enet_wire.cpp
// fuzz-parser: net-worker/source/gamestream/enet_server.cpp
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include <spdlog/spdlog.h>

#include "funkhaus/net/gamestream/enet_server.h"

namespace {

using namespace funkhaus::net::gamestream;
namespace e = funkhaus::net::gamestream::enet;

sockaddr_storage address(uint32_t ip, uint16_t port) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  in.sin_addr.s_addr = htonl(ip);
  sockaddr_storage s{};
  std::memcpy(&s, &in, sizeof in);
  return s;
}

const sockaddr_storage kClient = address(0xC0000210, 50000);
const sockaddr_storage kOther = address(0xC0000211, 50000);

std::vector<uint8_t> connectDatagram() {
  std::vector<uint8_t> d;
  e::appendHeader(d, e::kMaxPeerId, 0, uint16_t{1});
  e::Command c;
  c.command = e::kCommandConnect | e::kFlagAcknowledge;
  c.channel = 0xFF;
  c.reliable_seq = 1;
  c.outgoing_peer_id = 3;
  c.incoming_session_id = 0xFF;
  c.outgoing_session_id = 0xFF;
  c.mtu = 1400;
  c.window_size = 65536;
  c.channel_count = 48;
  c.throttle_interval = 5000;
  c.connect_id = 77;
  c.data = 5;
  e::appendCommand(d, c);
  return d;
}

// Session bits the server expects after connectDatagram() on a zeroed state (ENet's rule).
constexpr uint8_t kSession = 1;

std::vector<uint8_t> clientDatagram(const std::vector<e::Command>& commands) {
  std::vector<uint8_t> d;
  e::appendHeader(d, 0, kSession, uint16_t{2});
  for (const auto& c : commands) e::appendCommand(d, c);
  return d;
}

void record(std::vector<uint8_t>& out, uint8_t flags, const std::vector<uint8_t>& d) {
  out.push_back(flags);
  out.push_back(static_cast<uint8_t>(d.size()));
  out.push_back(static_cast<uint8_t>(d.size() >> 8));
  out.insert(out.end(), d.begin(), d.end());
}

// The server logs each CONNECT it accepts, which every execution does: formatting that line (to
// a closed stdout) was 6% of the time. The calls still run; they print nothing.
[[maybe_unused]] const bool kQuiet = [] {
  spdlog::set_level(spdlog::level::off);
  return true;
}();

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Allocated once (the state is 14 KiB, twice per execution); zeroed below, as a new one is.
  static const auto state = std::make_unique<funkhaus::abi::GsEnetState>();
  static const auto copy = std::make_unique<funkhaus::abi::GsEnetState>();
  static const std::vector<uint8_t> connect = connectDatagram();
  static const std::vector<uint8_t> verify_ack = clientDatagram({e::acknowledge(0xFF, 1, 0)});
  std::memset(state.get(), 0, sizeof *state);
  EnetServer server(*state);
  static Outbox out;  // emptied after each datagram; kept for their capacity
  static std::vector<EnetEvent> events;
  out.clear();
  events.clear();
  static const std::vector<uint8_t> kPayload(255, 0x42);  // what send() sends: flags bytes
  uint64_t now = 5'000'000'000;
  const EnetAcceptFn accept = [](const sockaddr_storage&, uint32_t) { return true; };
  // Connected before the fuzz input starts: CONNECT, then the ACK of VERIFY_CONNECT.
  server.onDatagram(connect, kClient, now, accept, out, events);
  server.onDatagram(verify_ack, kClient, now, accept, out, events);
  if (!server.connected()) __builtin_trap();

  size_t at = 0;
  while (at + 3 <= size) {
    const uint8_t flags = data[at];
    const size_t length = std::min<size_t>(data[at + 1] | data[at + 2] << 8, size - at - 3);
    at += 3;
    now += 1'000'000;
    server.onDatagram(std::span<const uint8_t>(data + at, length), flags & 1 ? kOther : kClient,
                      now, accept, out, events);
    at += length;
    if (flags & 2) {
      now += 300'000'000;
      server.service(now, out, events);
    }
    if (flags & 4) server.send(std::span(kPayload).first(flags), now, out);
    for (const auto& d : out)
      if (d.bytes.size() > 4096) __builtin_trap();  // never more than one MTU
    out.clear();
    events.clear();
  }
  // A successor attaching to these bytes finds them valid (it would free a broken peer).
  std::memcpy(copy.get(), state.get(), sizeof *copy);
  EnetServer successor(*copy);
  if (successor.hasPeer() != server.hasPeer()) __builtin_trap();
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  std::vector<std::vector<std::uint8_t>> seeds;
  const std::vector<uint8_t> a = {1, 2, 3, 4}, b(700, 0x33);
  std::vector<uint8_t> s;
  record(s, 0, clientDatagram({e::sendReliable(1, 1, a), e::sendReliable(1, 2, a)}));
  record(s, 2, clientDatagram({e::sendReliable(2, 2, a), e::ping(2)}));
  record(s, 4, clientDatagram({e::sendReliable(2, 1, a), e::acknowledge(0, 1, 0)}));
  seeds.push_back(s);

  s.clear();
  for (uint32_t n = 0; n < 3; ++n) {
    e::Command f;
    f.command = e::kCommandSendFragment | e::kFlagAcknowledge;
    f.channel = 3;
    f.reliable_seq = static_cast<uint16_t>(1 + n);
    f.sequence = 1;
    f.fragment_count = 3;
    f.fragment_number = n;
    f.total_length = 2100;
    f.fragment_offset = n * 700;
    f.payload = b;
    record(s, n == 1 ? 2 : 0, clientDatagram({f}));
  }
  seeds.push_back(s);

  s.clear();
  e::Command u;
  u.command = e::kCommandSendUnreliable;
  u.channel = 4;
  u.sequence = 1;
  u.payload = a;
  e::Command q;
  q.command = e::kCommandSendUnsequenced | e::kFlagUnsequenced;
  q.channel = 5;
  q.sequence = 1;
  q.payload = a;
  e::Command bw;
  bw.command = e::kCommandBandwidthLimit | e::kFlagAcknowledge;
  bw.channel = 0xFF;
  bw.reliable_seq = 3;
  record(s, 0, clientDatagram({u, q, bw}));
  record(s, 1, clientDatagram({e::sendReliable(1, 1, a)}));
  record(s, 0, connectDatagram());
  record(s, 6, clientDatagram({e::disconnect(4, 9, true)}));
  seeds.push_back(s);
  return seeds;
}
