// The GameStream control stream's ENet server for one peer, all of its state in shared memory
// (abi::GsEnetState), so a restarted funkhaus-net goes on with the same peer. funkhaus-net's
// GameStream protocol uses it on its event loop thread; no I/O here: the caller sends the Outbox.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "funkhaus/abi/gamestream_control.h"
#include "funkhaus/net/gamestream/enet_wire.h"

namespace funkhaus::net::gamestream {

// A datagram for the caller to send from the control socket.
struct Datagram {
  sockaddr_storage to{};
  std::vector<uint8_t> bytes;
};
using EnetDatagram = Datagram;
using Outbox = std::vector<Datagram>;

struct EnetEvent {
  enum class Kind {
    kConnect,     // the peer is connected (VERIFY_CONNECT acknowledged); value = connect data
    kReceive,     // a packet from the peer on `channel`
    kDisconnect,  // the peer said DISCONNECT (value = its data), ours was acknowledged or gave
                  // up, or a reconnect of the same client replaced it (value = 0)
    kTimeout,     // the peer went silent for EnetServerOptions::timeout_ns and was freed
  };
  Kind kind = Kind::kReceive;
  uint8_t channel = 0;
  uint32_t value = 0;         // kConnect: connect data; kDisconnect: disconnect data
  std::vector<uint8_t> data;  // kReceive: the packet
};

struct EnetServerOptions {
  uint32_t mtu = 1400;                               // ours; the client's lower one wins
  uint32_t channel_limit = abi::kGsEnetMaxChannels;  // 1..kGsEnetMaxChannels
  uint64_t ping_interval_ns = 1'000'000'000;         // PING when nothing was heard for this long
  uint64_t timeout_ns = 10'000'000'000;              // free a peer silent for this long
  uint64_t disconnect_timeout_ns = 3'000'000'000;    // stop waiting for our DISCONNECT's ack
  uint64_t min_rto_ns = 20'000'000;                  // retransmission timeout bounds
  uint64_t max_rto_ns = 2'000'000'000;
};

// Says whether a CONNECT from `from` with this connect data may become the peer.
using EnetAcceptFn = std::function<bool(const sockaddr_storage& from, uint32_t connect_data)>;

class EnetServer {
 public:
  // Largest payload send() takes (an outgoing slot holds the whole command).
  static constexpr size_t kMaxSendPayload = abi::kGsEnetMaxCommandBytes - 6;

  // Attaches to `state` (zeroed, or left by a predecessor). A state that fails validation
  // (out-of-range state, channel count, sizes) has its peer freed; the counters stay.
  explicit EnetServer(abi::GsEnetState& state, EnetServerOptions options = {});

  // One datagram from the control socket. CONNECT -> VERIFY_CONNECT if accept() agrees (a CONNECT
  // from another host while a peer exists is refused; the same host with a new connectID replaces
  // the peer). Reliable commands are acknowledged and delivered in order per channel; ahead-of-
  // order ones are neither (the client sends them again). Never throws, never trusts a byte.
  void onDatagram(std::span<const uint8_t> bytes, const sockaddr_storage& from, uint64_t now_ns,
                  const EnetAcceptFn& accept, Outbox& out, std::vector<EnetEvent>& events);

  // Sends `payload` reliably on channel 0. False (counted) when not connected, the payload is
  // larger than kMaxSendPayload or kGsEnetOutgoingSlots commands wait for their ACK already.
  bool send(std::span<const uint8_t> payload, uint64_t now_ns, Outbox& out);

  // Retransmissions (RTO from the measured RTT, doubling per attempt), PING when idle, timeouts.
  void service(uint64_t now_ns, Outbox& out, std::vector<EnetEvent>& events);

  // Sends DISCONNECT (alone in its datagram, as Moonlight's disconnect intercept expects) after
  // whatever is still unacknowledged (the termination message); the kDisconnect event follows its
  // ACK or disconnect_timeout_ns. Before the peer was connected it just frees it.
  void disconnect(uint32_t data, uint64_t now_ns, Outbox& out);

  // Frees the peer without a word on the wire.
  void reset();

  bool connected() const;
  bool hasPeer() const;  // any state but kFree
  std::optional<sockaddr_storage> peerAddress() const;
  // When service() next has something to do (retransmit, ping, timeout); nullopt with no peer.
  std::optional<uint64_t> nextServiceNs() const;

 private:
  enum class FragmentResult { kTaken, kWait, kBad };

  void handleConnect(const enet::Command& connect, const sockaddr_storage& from, uint64_t now_ns,
                     const EnetAcceptFn& accept, Outbox& out, std::vector<EnetEvent>& events);
  void freePeer();
  void validate();
  bool queueReliable(uint8_t channel, uint8_t command_number, const std::vector<uint8_t>& command,
                     uint64_t now_ns, Outbox& out);
  void transmit(abi::GsEnetOutgoing& slot, uint64_t now_ns, Outbox& out);
  FragmentResult takeFragment(const enet::Command& command, std::vector<EnetEvent>& events);
  void deliver(uint8_t channel, std::span<const uint8_t> payload, std::vector<EnetEvent>& events);
  void handleAck(uint8_t channel, uint16_t seq, uint16_t echoed_sent_time, uint64_t now_ns,
                 std::vector<EnetEvent>& events);
  uint64_t rtoNs() const;
  sockaddr_storage peerSockaddr() const;

  abi::GsEnetState& state_;
  EnetServerOptions options_;
};

}  // namespace funkhaus::net::gamestream
