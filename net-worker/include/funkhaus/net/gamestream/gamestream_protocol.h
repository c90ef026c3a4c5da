// GamestreamProtocol: Moonlight's stream as a protocol of funkhaus-net — the RTSP handshake on
// TCP (one request per connection), the ENet control stream on UDP (AES-GCM with the launch's
// key), video on UDP (packets, FEC, optional encryption) and audio on UDP (Opus of the audio
// ring: RTP, optional AES-CBC, 4 + 2 FEC) once the audio port was pinged, for the one client
// funkhausd published a launch for. Its whole state is in its blob (gamestream_state.h),
// so a restarted net goes on with the same peer, sequence numbers and keys. funkhaus-net main
// thread.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "funkhaus/abi/gamestream_state.h"
#include "funkhaus/net/net_core.h"
#include "funkhaus/net/protocol.h"
#include "funkhaus/net/rtsp/rtsp_request.h"

namespace funkhaus::net::gamestream {

// No control traffic this long ends the stream (Moonlight pings every 100 ms).
inline constexpr uint64_t kClientTimeoutNs = 10'000'000'000;
// A handshake that does not reach PLAY this soon is dropped.
inline constexpr uint64_t kHandshakeTimeoutNs = 30'000'000'000;
// Parity percentage of every video FEC block (Sunshine's default).
inline constexpr uint32_t kFecPercent = 20;
// How often the input ring's rumble is looked at.
inline constexpr std::chrono::milliseconds kRumblePollPeriod{10};

class GamestreamProtocol final : public Protocol {
 public:
  explicit GamestreamProtocol(NetCore& core);
  ~GamestreamProtocol() override;

  abi::NetProtocol id() const override { return abi::NetProtocol::kGamestream; }
  Result<void> start() override;
  // GameStream keeps no TCP connection (one request per connection): nothing to adopt.
  Result<void> adopt(Connection&, uint32_t) override {
    return makeError("GameStream keeps no connections");
  }
  void adopted() override {}
  std::string describe() const override;
  void onAccept(Connection&, uint32_t) override {}
  size_t onInput(Connection& connection, std::span<const uint8_t> input) override;
  void onOverlong(Connection& connection) override;
  void onClosed(Connection&) override {}
  void onDatagram(uint32_t tag, std::span<const uint8_t> data,
                  const sockaddr_storage& from) override;
  bool serve(const MediaUnit& unit) override;
  void serveAudio(const AccessUnit& packet) override;
  void sweep(uint64_t now_ns) override;
  ProtocolCounters counters() const override { return counters_; }

 private:
  struct Impl;

  void handleRequest(Connection& c, const RtspRequest& r);
  void onVideoPing(std::span<const uint8_t> data, const sockaddr_storage& from);
  void onAudioPing(std::span<const uint8_t> data, const sockaddr_storage& from);
  void onControl(std::span<const uint8_t> data, const sockaddr_storage& from);
  void onControlMessage(uint16_t type, std::span<const uint8_t> payload);
  // An input packet of the launched client (0x0206): decoded into the input ring, or counted.
  void routeInput(std::span<const uint8_t> packet);
  // What the input worker says the pads should rumble, to the client (0x010B).
  void sendRumble();
  // A new launch (or none): the stream of the old one ends.
  void followLaunch(uint64_t now_ns);
  // Ends the stream: termination message to the client (if it is connected), state reset.
  void endStream(const std::string& why, bool tell_client);
  void startVideo();
  // The stream's audio (when the session has an audio ring): the packetizer for the announced
  // parameters and the audio request to funkhausd.
  void startAudio();
  void flushControl();

  NetCore& core_;
  abi::GamestreamState* state_ = nullptr;
  std::unique_ptr<Impl> impl_;
  ProtocolCounters counters_;
  Viewer viewer_;
  bool registered_ = false;
  int video_fd_ = -1, control_fd_ = -1, audio_fd_ = -1;
  uint16_t rtsp_port_ = 0, video_port_ = 0, control_port_ = 0, audio_port_ = 0;
  std::vector<uint8_t> datagrams_;  // one frame's datagrams, and its sendmmsg vectors
  std::vector<mmsghdr> messages_;
  std::vector<iovec> iov_;
};

}  // namespace funkhaus::net::gamestream
