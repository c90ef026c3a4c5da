// NetCore: the protocol-neutral core of funkhaus-net on a Boost.Asio loop — the endpoints
// funkhausd keeps (accept on TCP ones, datagrams on UDP ones), connections and their framing
// (MSG_PEEK, whole units consumed, SO_RCVLOWAT, header timeout, connection cap), output queues
// mirrored into the page, connection deposit/adoption, the viewer registry and keyframe
// requests, timers, and the protocols (one per blob of the page) behind protocol.h. Everything
// runs on the one thread that runs the io_context. (net_core.cpp, connections.cpp)
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "funkhaus/common/input_ring.h"
#include "funkhaus/common/result.h"
#include "funkhaus/common/unique_fd.h"
#include "funkhaus/net/access_unit.h"
#include "funkhaus/net/connection.h"
#include "funkhaus/net/net_options.h"
#include "funkhaus/net/net_state.h"
#include "funkhaus/net/protocol.h"
#include "funkhaus/net/protocol_declarations.h"
#include "funkhaus/net/socket.h"
#include "funkhaus/net/viewer_registry.h"
#include "funkhaus/net/watched_socket.h"

namespace funkhaus::net {

// What net needs from funkhausd. The worker wires these to its WorkerContext.
struct SupervisorLink {
  std::function<void(uint32_t slot, NativeSocket fd)> deposit;  // keep a duplicate of it
  std::function<void(uint32_t slot)> release;                   // the connection of `slot` is gone
  std::function<void()> requestKeyframe;                        // ask the encoder for an IDR
  // A viewer asked for a display mode; refresh 0 = any.
  std::function<void(uint32_t width, uint32_t height, uint32_t refresh_hz)> requestMode;
  // A client announced its stream: the encoder's codec (abi::Codec), bits per second and frames
  // per second (capture and encode).
  std::function<void(uint32_t codec, uint64_t bitrate, uint32_t fps)> requestStream;
  // Whether anybody listens to audio: abi::audioRequest(channels, packet_ms), or 0 (sent on
  // every change, and once at start; only when the session has an audio ring).
  std::function<void(uint64_t request)> requestAudio;
};

// The sockets and rings funkhausd handed over.
struct Handover {
  std::vector<std::pair<uint32_t, UniqueFd>> endpoints;    // FdRole::kEndpoint, by tag
  std::vector<std::pair<uint32_t, UniqueFd>> connections;  // FdRole::kConnection, by slot
  // The input ring (kRingOut, RingId::kInput), attached; none when the session has no input
  // worker (the clients' input is then dropped).
  std::optional<InputProducer> input;
  // The session has an audio ring (kRingIn, RingId::kAudioPackets; the worker reads it and
  // hands its packets to onAudioPacket()). Without it no protocol offers audio.
  bool audio = false;
};

struct NetCounters {
  uint64_t frames_out = 0;           // access units sent whole to at least one viewer
  uint64_t bytes_out = 0;            // bytes handed to the kernel (TCP and datagrams)
  uint64_t drops = 0;                // (viewer, access unit) pairs dropped for slow viewers
  uint64_t errors = 0;               // bad records and input, broken connections
  uint64_t audio_bad = 0;            // audio records dropped here (not Opus, bad format)
  uint64_t keyframes_received = 0;   // keyframe requests from viewers
  uint64_t keyframes_requested = 0;  // keyframe requests sent to funkhausd
  uint64_t connections = 0;          // connections accepted
  uint64_t backlogged = 0;           // times a connection was not read: its answers piled up
  uint64_t carried = 0;              // partial units read out of a kernel that could take no more
};

class NetCore {
 public:
  // Serves every protocol funkhausd reserved a blob for in `state`: checks the endpoints each
  // declares (protocol_declarations.h), starts it, adopts every connection a previous net kept
  // (validated; what does not check out is dropped and released), and starts accepting.
  static Result<std::unique_ptr<NetCore>> create(boost::asio::io_context& io, NetState& state,
                                                 Handover handover, NetOptions options,
                                                 SupervisorLink link);
  NetCore(const NetCore&) = delete;
  NetCore& operator=(const NetCore&) = delete;
  // Leaves every connection open: funkhausd keeps the kept ones for the next net.
  ~NetCore();

  // Splits and classifies one access unit once and serves it to every protocol. Returns the
  // CLOCK_MONOTONIC time when done, or 0 if no viewer got the whole unit.
  uint64_t onAccessUnit(const AccessUnit& unit);
  // Checks one record of the audio ring (Opus, a channel count, a duration) and serves it to
  // every protocol; a record that does not check out is counted and dropped.
  void onAudioPacket(const AccessUnit& packet);

  NetCounters counters() const;
  uint32_t playingViewers() const { return viewers_.playing(); }
  // Where each protocol serves (its describe()).
  std::vector<std::string> describe() const;

  // ---- for protocols ----
  boost::asio::io_context& io() { return io_; }
  NetState& state() { return state_; }
  const NetOptions& options() const { return options_; }
  ViewerRegistry& viewers() { return viewers_; }
  // The socket of an endpoint the core holds (kNoSocket if none).
  NativeSocket endpointFd(uint32_t tag) const;
  // The input ring's producer side, or null when the session routes no input.
  InputProducer* input() { return input_ ? &*input_ : nullptr; }
  // Whether the session has an audio ring (protocols offer audio only then).
  bool audioRouted() const { return audio_; }
  // What `protocol`'s listeners want of audio now (abi::audioRequest(), or 0 for nobody). The
  // core sends funkhausd the combined request when it changes: a request that names its channels
  // (a GameStream client's) wins over one that leaves them to the audio worker (RTSP's).
  void requestAudio(const Protocol& protocol, uint64_t request);
  // Runs `tick` every `period` on the loop.
  void every(std::chrono::nanoseconds period, std::function<void()> tick);
  void countError() { ++counters_.errors; }

  // Consumes `bytes` of a connection's input (what the protocol just parsed). False: the
  // connection is gone (closed here).
  bool consume(Connection& c, size_t bytes);
  // After the unit just consumed, drops the next `bytes` unread (a unit nobody wants).
  void skip(Connection& c, uint64_t bytes) { c.skip_ = bytes; }
  // Stops / resumes reading a connection (a protocol that answers a unit later). The core also
  // stops reading a connection on its own while it leaves kControlHighWater bytes of responses
  // unread, and reads it again once they are down to kControlLowWater: a peer that does not take
  // what it is sent is not read from, rather than buffered for without bound.
  void pauseReading(Connection& c) { c.paused_ = true; }
  void resumeReading(Connection& c);

  // Queues one unit (at most abi::kNetPendingCapacity bytes); false if it cannot be a unit.
  bool push(Connection& c, std::span<const uint8_t> unit, bool media);
  void flush(Connection& c);
  // A control unit (a response): queued and flushed; closes a connection that does not read
  // what it is sent, or a unit too large for the page.
  void sendControl(Connection& c, std::span<const uint8_t> unit);
  // kOrderly: FIN, as for a peer that closed first. kAbortive: SO_LINGER 0, RST — for a
  // connection closed for misbehaving or silence, so it leaves nothing in TIME_WAIT here.
  enum class CloseHow { kOrderly, kAbortive };
  void close(Connection& c, const std::string& why, CloseHow how);
  // Orderly once the last response is written (one-request protocols read until EOF: an RST
  // could cost them the response); abortive if the peer does not take it within 2 s.
  void closeAfterFlush(Connection& c);

  // Connection slots: free for a new kept connection (page and core agree)?
  bool slotFree(uint32_t slot) const;
  // Keeps `c` in `slot` for its protocol's `session`: the page's slot, the output mirror, and
  // a duplicate deposited with funkhausd.
  void keep(Connection& c, uint32_t slot, uint32_t session);
  // The connection is no longer kept: mirror stopped, slot freed, funkhausd told.
  void unkeep(Connection& c);

  // Keyframes: protocols report their viewers' events; the core asks funkhausd (rate-limited).
  void requestKeyframe();
  void viewerStarted(Viewer& viewer, bool second_keyframe = true);
  void viewerDropped(Viewer& viewer);
  void viewerDelivered(Viewer& viewer) { viewers_.delivered(viewer); }
  // A viewer asked for a display mode (forwarded to funkhausd).
  void requestMode(uint32_t width, uint32_t height, uint32_t refresh_hz);
  // A client's stream settings (forwarded to funkhausd, which sets the encoder).
  void requestStream(uint32_t codec, uint64_t bitrate, uint32_t fps) {
    if (link_.requestStream) link_.requestStream(codec, bitrate, fps);
  }

 private:
  struct Endpoint {
    uint32_t tag = 0;
    const EndpointDeclaration* declaration = nullptr;
    Protocol* protocol = nullptr;
    std::unique_ptr<WatchedSocket> socket;
  };
  struct Timer {
    explicit Timer(boost::asio::io_context& io) : timer(io) {}
    boost::asio::steady_timer timer;
    std::chrono::nanoseconds period{};
    std::function<void()> tick;
  };

  static constexpr size_t kPeekCapacity = 16 * 1024;      // > any unit a protocol accepts
  static constexpr size_t kDatagramCapacity = 64 * 1024;  // any UDP datagram

  NetCore(boost::asio::io_context& io, NetState& state, NetOptions options, SupervisorLink link);
  Result<void> start(Handover handover);
  Result<void> takeEndpoints(const ProtocolDeclaration& declaration, Protocol& protocol,
                             std::vector<std::pair<uint32_t, UniqueFd>>& handed);
  void adopt(std::vector<std::pair<uint32_t, UniqueFd>> kept);
  std::shared_ptr<Connection> addConnection(NativeSocket fd, const sockaddr_storage& peer,
                                            Protocol& protocol);
  std::shared_ptr<Connection> find(uint64_t id) const;

  void armAccept(Endpoint& e);
  void acceptAll(Endpoint& e);
  void armDatagrams(Endpoint& e);
  void armRead(Connection& c);
  void onReadable(Connection& c);
  void setLowat(Connection& c, int bytes);
  void readAgainIfDrained(Connection& c);
  bool takeIntoCarry(
      Connection& c,
      size_t bytes);  // false: closed  // backlogged and down to the low mark: read again
  void armWrite(Connection& c);
  void armTimer(Timer& t);
  void sweep();
  void sendKeyframeRequest();
  void sendAudioRequest();

  boost::asio::io_context& io_;
  NetState& state_;
  NetOptions options_;
  SupervisorLink link_;
  std::optional<InputProducer> input_;
  bool audio_ = false;
  std::vector<std::pair<const Protocol*, uint64_t>> audio_requests_;
  std::optional<uint64_t> audio_sent_;  // the request funkhausd has (none before the first)
  bool audio_refusal_logged_ = false;
  // Declared before the protocols, so it outlives them: a protocol leaves it in its destructor.
  ViewerRegistry viewers_;
  std::vector<std::unique_ptr<Protocol>> protocols_;
  std::vector<Endpoint> endpoints_;
  std::map<uint64_t, std::shared_ptr<Connection>> connections_;
  std::array<Connection*, abi::kMaxConnections> kept_{};  // by slot
  std::vector<std::unique_ptr<Timer>> timers_;
  boost::asio::steady_timer keyframe_timer_, accept_timer_;
  bool keyframe_timer_armed_ = false;
  uint64_t next_id_ = 1;
  NetCounters counters_;
  std::vector<uint8_t> peek_, sink_;
  std::vector<media::NalUnit> nals_;
};

}  // namespace funkhaus::net
