// GameStream RTSP handshake: the reply to each of the seven requests, from the request and the
// session's config; no state between calls.
#include "funkhaus/net/gamestream/handshake.h"

#include <fmt/format.h>

#include "funkhaus/net/gamestream/ping.h"

namespace funkhaus::net::gamestream {

namespace {

constexpr std::string_view kAudioStream = "streamid=audio";
constexpr std::string_view kVideoStream = "streamid=video";
constexpr std::string_view kControlStream = "streamid=control";

// The text before the first ';' of a Session value, without the spaces around it.
std::string_view sessionToken(std::string_view value) {
  return trim(value.substr(0, value.find(';')));
}

// "streamid=audio" or "streamid=audio/0/0".
bool isStream(std::string_view uri, std::string_view stream) {
  return uri.substr(0, stream.size()) == stream &&
         (uri.size() == stream.size() || uri[stream.size()] == '/');
}

bool headerSafe(std::string_view text) {
  for (char c : text)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) return false;
  return true;
}

bool validPingPayload(std::string_view payload) {
  if (payload.empty()) return true;  // header left out
  if (payload.size() != kPingPayloadSize) return false;
  for (char c : payload)
    if (c <= 0x20 || c >= 0x7f || c == ';' || c == ',') return false;
  return true;
}

HandshakeReply ok(HandshakeStep step) {
  HandshakeReply r;
  r.step = step;
  r.status = 200;
  return r;
}

// The session check of every request after SETUP audio: the token must be present and ours.
std::optional<HandshakeReply> checkSession(const RtspRequest& request,
                                           const HandshakeConfig& config) {
  const std::string* session = request.header("Session");
  if (session == nullptr)
    return refuseHandshake(454,
                           fmt::format("{} {} without a Session", request.method, request.uri));
  if (sessionToken(*session) != sessionToken(config.session_id))
    return refuseHandshake(454,
                           fmt::format("{} {} for another session", request.method, request.uri));
  return std::nullopt;
}

void addSessionHeader(HandshakeReply& reply, const HandshakeConfig& config) {
  reply.headers.push_back({"Session", config.session_id});
}

HandshakeReply answerSetup(const RtspRequest& request, const HandshakeConfig& config) {
  const std::string_view uri = request.uri;
  HandshakeReply r;
  if (isStream(uri, kAudioStream)) {
    // The first SETUP: the client has no session yet. One that sends a token must send ours.
    if (const std::string* session = request.header("Session");
        session != nullptr && sessionToken(*session) != sessionToken(config.session_id))
      return refuseHandshake(454, "SETUP audio for another session");
    r = ok(HandshakeStep::kSetupAudio);
    addSessionHeader(r, config);
    r.headers.push_back({"Transport", fmt::format("server_port={}", config.audio_port)});
    if (!config.audio_ping_payload.empty())
      r.headers.push_back({"X-SS-Ping-Payload", config.audio_ping_payload});
    return r;
  }
  if (isStream(uri, kVideoStream)) {
    if (auto refused = checkSession(request, config)) return *refused;
    r = ok(HandshakeStep::kSetupVideo);
    addSessionHeader(r, config);
    r.headers.push_back({"Transport", fmt::format("server_port={}", config.video_port)});
    if (!config.video_ping_payload.empty())
      r.headers.push_back({"X-SS-Ping-Payload", config.video_ping_payload});
    return r;
  }
  if (isStream(uri, kControlStream)) {
    if (auto refused = checkSession(request, config)) return *refused;
    r = ok(HandshakeStep::kSetupControl);
    addSessionHeader(r, config);
    r.headers.push_back({"Transport", fmt::format("server_port={}", config.control_port)});
    r.headers.push_back({"X-SS-Connect-Data", fmt::format("{}", config.connect_data)});
    return r;
  }
  return refuseHandshake(404, "SETUP of an unknown stream");
}

HandshakeReply answerAnnounce(const RtspRequest& request, const HandshakeConfig& config) {
  if (!isStream(request.uri, kControlStream))
    return refuseHandshake(404, "ANNOUNCE of an unknown stream");
  if (auto refused = checkSession(request, config)) return *refused;
  Result<StreamParams> params = parseAnnounce(request.body);
  if (!params) return refuseHandshake(400, params.error().message);
  const StreamParams& p = *params;
  if ((p.video_format == VideoFormat::kHevc && !config.hevc) ||
      (p.video_format == VideoFormat::kAv1 && !config.av1))
    return refuseHandshake(400, fmt::format("ANNOUNCE: x-nv-vqos[0].bitStreamFormat {} is a codec "
                                            "the host did not offer",
                                            static_cast<uint32_t>(p.video_format)));
  if ((p.encryption_enabled & ~config.encryption_supported) != 0)
    return refuseHandshake(400, fmt::format("ANNOUNCE: x-ss-general.encryptionEnabled {:#x} has "
                                            "bits the host does not support ({:#x})",
                                            p.encryption_enabled, config.encryption_supported));
  // Audio encryption also comes on through x-nv-general.featureFlags (the client may do that
  // alone; the host then encrypts audio or sends none).
  const uint32_t enabled = p.encryption_enabled | (p.audioEncrypted() ? kEncryptionAudio : 0);
  if ((config.encryption_requested & ~enabled) != 0)
    return refuseHandshake(403, fmt::format("ANNOUNCE: encryption {:#x} required, client enabled "
                                            "{:#x}",
                                            config.encryption_requested, enabled));
  HandshakeReply r = ok(HandshakeStep::kAnnounce);
  addSessionHeader(r, config);
  r.stream = std::move(*params);
  return r;
}

}  // namespace

std::vector<SurroundParams> surroundOffer() {
  // Coded channels of 5.1: 0 1 = FL FR, 2 3 = BL BR, 4 = C, 5 = LFE (FL FR C LFE BL BR ->
  // 0 1 4 5 2 3); of 7.1 also 4 5 = SL SR, 6 = C, 7 = LFE (-> 0 1 6 7 2 3 4 5). Written with LFE's
  // entry moved last.
  return {SurroundParams{6, 4, 2, {0, 1, 4, 2, 3, 5}},
          SurroundParams{8, 5, 3, {0, 1, 6, 2, 3, 4, 5, 7}}};
}

RtspLimits handshakeLimits() {
  RtspLimits limits;
  limits.max_body = kMaxAnnounceBody;
  return limits;
}

const char* handshakeStepName(HandshakeStep step) {
  switch (step) {
    case HandshakeStep::kOptions:
      return "OPTIONS";
    case HandshakeStep::kDescribe:
      return "DESCRIBE";
    case HandshakeStep::kSetupAudio:
      return "SETUP audio";
    case HandshakeStep::kSetupVideo:
      return "SETUP video";
    case HandshakeStep::kSetupControl:
      return "SETUP control";
    case HandshakeStep::kAnnounce:
      return "ANNOUNCE";
    case HandshakeStep::kPlay:
      return "PLAY";
    case HandshakeStep::kRefused:
      return "refused";
  }
  return "?";
}

Result<void> checkHandshakeConfig(const HandshakeConfig& config) {
  if (sessionToken(config.session_id).empty() || !headerSafe(config.session_id))
    return makeError(ErrorCode::kBadConfig,
                     "GameStream session id '{}' has no token before ';' or a control character",
                     config.session_id);
  if (config.video_port == 0 || config.control_port == 0 || config.audio_port == 0)
    return makeError(ErrorCode::kBadConfig, "GameStream ports must not be 0");
  if (!validPingPayload(config.audio_ping_payload) || !validPingPayload(config.video_ping_payload))
    return makeError(ErrorCode::kBadConfig,
                     "GameStream ping payloads must be 16 printable characters without space, ';' "
                     "or ','");
  if ((config.encryption_supported & ~kEncryptionAll) != 0 ||
      (config.encryption_requested & ~config.encryption_supported) != 0)
    return makeError(ErrorCode::kBadConfig,
                     "GameStream encryption supported {:#x} / requested {:#x}: unknown bits or "
                     "requested but not supported",
                     config.encryption_supported, config.encryption_requested);
  for (const SurroundParams& s : config.surround) {
    bool ok = s.channels >= 3 && s.channels <= 8 && s.streams >= 1 && s.streams <= 9 &&
              s.coupled_streams <= s.streams;
    for (uint8_t i = 0; ok && i < s.channels; ++i) ok = s.mapping[i] <= 9;
    if (!ok)
      return makeError(ErrorCode::kBadConfig,
                       "GameStream surround layout {} channels / {} streams / {} coupled is not "
                       "one digit each",
                       s.channels, s.streams, s.coupled_streams);
  }
  return {};
}

HandshakeReply refuseHandshake(int status, std::string detail) {
  HandshakeReply r;
  r.step = HandshakeStep::kRefused;
  r.status = status;
  r.detail = std::move(detail);
  return r;
}

HandshakeReply answerHandshake(const RtspRequest& request, const HandshakeConfig& config) {
  if (Result<void> valid = checkHandshakeConfig(config); !valid)
    return refuseHandshake(500, valid.error().message);
  if (!request.cseq()) return refuseHandshake(400, "request without a numeric CSeq");
  const std::string& method = request.method;
  if (method == "OPTIONS") {
    HandshakeReply r = ok(HandshakeStep::kOptions);
    r.headers.push_back({"Public", "OPTIONS, DESCRIBE, SETUP, ANNOUNCE, PLAY"});
    return r;
  }
  if (method == "DESCRIBE") {
    HandshakeReply r = ok(HandshakeStep::kDescribe);
    r.headers.push_back({"Content-Type", "application/sdp"});
    r.body = describeBody(config);
    return r;
  }
  if (method == "SETUP") return answerSetup(request, config);
  if (method == "ANNOUNCE") return answerAnnounce(request, config);
  if (method == "PLAY") {
    if (auto refused = checkSession(request, config)) return *refused;
    HandshakeReply r = ok(HandshakeStep::kPlay);
    addSessionHeader(r, config);
    return r;
  }
  return refuseHandshake(501, "method not part of the GameStream handshake");
}

std::string formatReply(const HandshakeReply& reply, uint32_t cseq) {
  std::string out = fmt::format("RTSP/1.0 {} {}\r\nCSeq: {}\r\n", reply.status,
                                rtspReasonPhrase(reply.status), cseq);
  for (const RtspHeader& h : reply.headers) out += fmt::format("{}: {}\r\n", h.name, h.value);
  if (!reply.body.empty()) out += fmt::format("Content-Length: {}\r\n", reply.body.size());
  out += "\r\n";
  out += reply.body;
  return out;
}

std::string describeBody(const HandshakeConfig& config) {
  std::string out;
  out += fmt::format("a=x-ss-general.featureFlags:{}\r\n", config.feature_flags);
  out += fmt::format("a=x-ss-general.encryptionSupported:{}\r\n", config.encryption_supported);
  out += fmt::format("a=x-ss-general.encryptionRequested:{}\r\n", config.encryption_requested);
  if (config.ref_pic_invalidation) out += "a=x-nv-video[0].refPicInvalidation:1\r\n";
  if (config.hevc) out += "sprop-parameter-sets=AAAAAU\r\n";
  if (config.av1) out += "a=rtpmap:98 AV1/90000\r\n";
  for (const SurroundParams& s : config.surround) {
    out +=
        fmt::format("a=fmtp:97 surround-params={}{}{}", s.channels, s.streams, s.coupled_streams);
    for (uint8_t i = 0; i < s.channels && i < s.mapping.size(); ++i)
      out += static_cast<char>('0' + s.mapping[i]);
    out += "\r\n";
  }
  return out;
}

}  // namespace funkhaus::net::gamestream
