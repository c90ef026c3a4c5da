// GameStream RTSP handshake on TCP 48010 as pure logic: one parsed request in, one reply out
// (gamestream.md §4.1-4.3), plus the DESCRIBE body. funkhaus-net main thread (and fuzz).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "funkhaus/common/result.h"
#include "funkhaus/net/gamestream/announce.h"
#include "funkhaus/net/rtsp/rtsp_request.h"

namespace funkhaus::net::gamestream {

// Parser limits for one handshake request: an ANNOUNCE body may be as large as parseAnnounce
// accepts. Requests arrive in 512-byte chunks: call parseRtspUnit again as bytes come.
RtspLimits handshakeLimits();

// One Opus multistream layout offered in DESCRIBE as `a=fmtp:97 surround-params=<C><S><K><map>`.
// The client takes the first line of its channel count as normal quality and a second one as
// high quality; stereo needs none. A client asking for 7.1 fails the handshake without a line
// (5.1 has a built-in fallback). `mapping` is published as given: for the normal-quality line
// the client moves the last digit to index 3 (gamestream.md §4.3), the caller accounts for it.
struct SurroundParams {
  uint8_t channels = 6;              // 3..8
  uint8_t streams = 4;               // 1..9
  uint8_t coupled_streams = 2;       // 0..streams
  std::array<uint8_t, 8> mapping{};  // the first `channels` digits are published (each 0..9)
};

// The surround lines funkhaus offers: the normal-quality 5.1 and 7.1 layouts the audio worker
// encodes (audio-worker's gameStreamLayout(), whose surroundParams() must give the same text),
// each mapping written in the order the client reads it (FL FR C BL BR SL SR LFE). No
// high-quality line: the audio request carries no quality, so the client keeps to these.
std::vector<SurroundParams> surroundOffer();

// Bits of x-ss-general.featureFlags (DESCRIBE).
inline constexpr uint32_t kSsFeaturePenTouchEvents = 0x01;
inline constexpr uint32_t kSsFeatureControllerTouchEvents = 0x02;

// What the host says in the handshake; the same for every request of one session.
struct HandshakeConfig {
  // Session header of the SETUP replies; the client echoes the text before the first ';'.
  std::string session_id = "FUNKHAUS;timeout = 90";
  uint16_t video_port = 47998;
  uint16_t control_port = 47999;
  uint16_t audio_port = 48000;
  // X-SS-Ping-Payload of the audio and video SETUP replies: exactly 16 printable characters
  // (no space, ';' or ','), per session; empty leaves the header out (the client then pings
  // with "PING").
  std::string audio_ping_payload;
  std::string video_ping_payload;
  uint32_t connect_data = 0;  // X-SS-Connect-Data of the control SETUP reply (ENet connect data)

  // Capabilities, published in DESCRIBE and enforced on ANNOUNCE.
  bool hevc = false;
  bool av1 = false;
  uint32_t encryption_supported = kEncryptionControlV2;  // kEncryption* bits
  uint32_t encryption_requested = 0;                     // bits the host insists on
  uint32_t feature_flags = 0;                            // kSsFeature* bits
  bool ref_pic_invalidation = false;
  std::vector<SurroundParams> surround;  // empty: stereo only
};

// What is wrong with a config (a session id without a token, a ping payload that is not 16
// header-safe characters, a zero port, requested encryption that is not supported, a bad
// surround layout), or nothing.
Result<void> checkHandshakeConfig(const HandshakeConfig& config);

// The step of gamestream.md §4.2 a request was; kRefused for every reply that is not 200.
enum class HandshakeStep {
  kOptions,
  kDescribe,
  kSetupAudio,
  kSetupVideo,
  kSetupControl,
  kAnnounce,
  kPlay,
  kRefused,
};

const char* handshakeStepName(HandshakeStep step);

struct HandshakeReply {
  HandshakeStep step = HandshakeStep::kRefused;
  int status = 200;
  std::vector<RtspHeader> headers;  // in reply order; CSeq and Content-Length are added by
                                    // formatReply
  std::string body;
  std::optional<StreamParams> stream;  // the ANNOUNCE's parameters, on a 200 ANNOUNCE
  std::string detail;                  // why a request was refused (for the log, not the wire)
};

// A refusal with `status` (400, 404, 413, 414, 454, 501, 505, ...) and a reason for the log;
// also for requests parseRtspUnit refused (RtspUnit::status, RtspUnit::error).
HandshakeReply refuseHandshake(int status, std::string detail);

// The reply to one request, from the request and the config alone (the caller keeps the
// session across the one-request connections and decides what to do with each step):
//  OPTIONS (any URI)            200, Public
//  DESCRIBE (any URI)           200, the describeBody
//  SETUP streamid=audio[/...]   200, Session, Transport: server_port=<audio>, X-SS-Ping-Payload
//  SETUP streamid=video[/...]   200, Session, Transport: server_port=<video>, X-SS-Ping-Payload
//  SETUP streamid=control[/...] 200, Session, Transport: server_port=<control>,
//                               X-SS-Connect-Data
//  ANNOUNCE streamid=control... 200 with the parsed StreamParams, Session
//  PLAY (any URI)               200, Session
// Refusals: no CSeq 400; SETUP of video or control, ANNOUNCE, PLAY without the session's token
// in Session (and SETUP audio with another token) 454; another streamid 404; an ANNOUNCE body
// parseAnnounce refuses, a codec the host lacks, encryption bits the host does not support 400;
// encryption the host requested and the client did not enable 403; another method 501; a
// config checkHandshakeConfig refuses 500.
HandshakeReply answerHandshake(const RtspRequest& request, const HandshakeConfig& config);

// The reply's bytes: `RTSP/1.0 <status> <reason>\r\n`, `CSeq: <cseq>\r\n`, each header as
// `Name: value\r\n`, `Content-Length: <n>\r\n` when there is a body, `\r\n`, the body.
std::string formatReply(const HandshakeReply& reply, uint32_t cseq);

// The DESCRIBE body (gamestream.md §4.3), CRLF lines: x-ss-general.featureFlags,
// .encryptionSupported, .encryptionRequested; x-nv-video[0].refPicInvalidation when supported;
// sprop-parameter-sets=AAAAAU when HEVC; a=rtpmap:98 AV1/90000 when AV1; the surround lines.
std::string describeBody(const HandshakeConfig& config);

}  // namespace funkhaus::net::gamestream
