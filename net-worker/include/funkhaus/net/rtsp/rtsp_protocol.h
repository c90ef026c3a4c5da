// RtspProtocol: RTSP 1.0 / RTP as a protocol of funkhaus-net — the RTSP methods on connections of
// its listening endpoint, RTP/RTCP over its shared UDP pair or interleaved on the RTSP
// connection, its viewers (RTSP sessions) and parameter sets in its blob (abi/rtsp_state.h);
// with an audio ring a second track of stereo Opus (RFC 7587) that a viewer sets up after video
// (its state in the viewer slot too, so a restarted net continues it).
// Requests in rtsp_protocol.cpp, media and RTCP in rtp_sender.cpp. funkhaus-net main thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "funkhaus/abi/rtsp_state.h"
#include "funkhaus/common/media/nal.h"
#include "funkhaus/net/net_core.h"
#include "funkhaus/net/protocol.h"
#include "funkhaus/net/rtsp/rtp_packetizer.h"
#include "funkhaus/net/rtsp/rtsp_auth.h"
#include "funkhaus/net/rtsp/rtsp_blob.h"
#include "funkhaus/net/rtsp/rtsp_request.h"
#include "funkhaus/net/socket.h"

namespace funkhaus::net {

class RtspProtocol final : public Protocol {
 public:
  explicit RtspProtocol(NetCore& core);

  abi::NetProtocol id() const override { return abi::NetProtocol::kRtsp; }
  Result<void> start() override;
  Result<void> adopt(Connection& connection, uint32_t session) override;
  void adopted() override;
  std::string describe() const override;  // rtsp://HOST:PORT/PATH
  void onAccept(Connection&, uint32_t) override {}
  size_t onInput(Connection& connection, std::span<const uint8_t> input) override;
  void onOverlong(Connection& connection) override;
  void onClosed(Connection& connection) override;
  void onDatagram(uint32_t tag, std::span<const uint8_t> data,
                  const sockaddr_storage& from) override;
  bool serve(const MediaUnit& unit) override;
  void serveAudio(const AccessUnit& packet) override;
  void sweep(uint64_t now_ns) override;
  ProtocolCounters counters() const override { return counters_; }

 private:
  // One viewer slot at runtime (its state in the blob is the same index).
  struct Session {
    Connection* connection = nullptr;
    Viewer viewer;
  };
  // What RTSP keeps per connection.
  struct ConnectionData : ConnectionState {
    int slot = -1;                        // its viewer slot once SETUP is done
    std::optional<RtspRequest> deferred;  // a DESCRIBE waiting for parameter sets
    uint64_t deferred_since_ns = 0;
    bool refusal_logged = false;  // a viewer from another host without a password configured
  };
  static ConnectionData& dataOf(Connection& c) { return c.state<ConnectionData>(); }

  // requests
  void handleRequest(Connection& c, const RtspRequest& r);
  // Answers 401/403 and returns false when the peer may not make this request.
  bool allowed(Connection& c, const RtspRequest& r, uint32_t cseq);
  void respond(Connection& c, int status, std::optional<uint32_t> cseq,
               const std::string& headers = "", const std::string& body = "",
               const char* content_type = nullptr);
  void handleDescribe(Connection& c, const RtspRequest& r, uint32_t cseq);
  void answerDescribe(Connection& c, const RtspRequest& r, uint32_t cseq);
  void answerDeferred(uint64_t now_ns);
  void handleSetup(Connection& c, const RtspRequest& r, uint32_t cseq);
  // SETUP of the audio track, on the connection and session whose video was set up.
  void handleAudioSetup(Connection& c, const RtspRequest& r, uint32_t cseq);
  // Tells the core whether any viewer has the audio track set up.
  void updateAudioRequest();
  void handlePlay(Connection& c, const RtspRequest& r, uint32_t cseq);
  bool isAggregatePath(const std::string& path) const;
  bool isTrackPath(const std::string& path) const;
  bool isAudioTrackPath(const std::string& path) const;
  std::optional<uint32_t> sessionSlot(Connection& c, const RtspRequest& r);
  std::string sessionHeader(uint32_t slot) const;
  // The viewer of `c` is gone (TEARDOWN, closed): slot freed, connection no longer kept.
  void endViewer(Connection& c);
  void freeSession(uint32_t slot);
  void setNeedsKeyframe(uint32_t slot, bool needs);

  // media (rtp_sender.cpp)
  bool sendUdp(Session& session, abi::RtspViewerSlot& s, const MediaUnit& unit);
  bool sendTcp(Session& session, abi::RtspViewerSlot& s, const MediaUnit& unit);
  void dropFrame(uint32_t slot);
  sockaddr_storage viewerAddress(const abi::RtspViewerSlot& s, uint16_t port, socklen_t* len) const;
  void sendReports();
  // The audio track's sender report of `session` (A/V sync for the viewer).
  void sendAudioReport(Session& session, abi::RtspViewerSlot& s, uint64_t now_ns,
                       uint64_t ntp_time);
  void handleRtcp(std::span<const uint8_t> data, int slot_hint);
  std::optional<uint32_t> slotByAddress(const sockaddr_storage& from) const;

  NetCore& core_;
  const RtspOptions& opt_;
  RtspAuth auth_;
  std::optional<RtspBlob> blob_;
  std::array<Session, abi::kMaxConnections> sessions_{};
  std::vector<Connection*> waiting_;  // connections whose DESCRIBE waits (closed ones leave)
  ProtocolCounters counters_;
  media::ParameterSets sets_;  // the latest seen; complete() once SPS/PPS(/VPS) are known
  bool codec_known_ = false;
  bool audio_requested_ = false;       // the core was told a viewer listens
  bool audio_refusal_logged_ = false;  // non-stereo packets skipped (said once)
  uint64_t last_capture_ns_ = 0;
  NativeSocket rtp_fd_ = kNoSocket, rtcp_fd_ = kNoSocket;
  int udp_family_ = AF_INET;
  uint16_t server_rtp_port_ = 0;
  sockaddr_storage listen_addr_{};
  std::string cname_;
  std::vector<RtpFragment> fragments_;
  std::vector<uint8_t> frame_unit_;
};

}  // namespace funkhaus::net
