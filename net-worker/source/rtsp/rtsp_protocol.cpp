// RtspProtocol: start, adoption, framing and the RTSP methods.
#include "funkhaus/net/rtsp/rtsp_protocol.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstring>

#include "funkhaus/abi/message.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/net/rtsp/rtsp_transport.h"
#include "funkhaus/net/rtsp/sdp.h"
#include "funkhaus/net/socket_address.h"

namespace funkhaus::net {

namespace {

constexpr uint64_t kMs = 1'000'000;
constexpr const char* kPublic =
    "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER";

uint64_t randomBits() {
  std::array<uint8_t, 8> bytes;
  randomBytes(bytes);
  uint64_t v = 0;
  for (uint8_t b : bytes) v = v << 8 | b;
  return v;
}

bool isState(const abi::RtspViewerSlot& s, abi::ViewerState state) {
  return abi::atomicLoad(s.state) == static_cast<uint32_t>(state);
}

void setState(abi::RtspViewerSlot& s, abi::ViewerState state) {
  abi::atomicRef(s.state).store(static_cast<uint32_t>(state), std::memory_order_release);
}

}  // namespace

RtspProtocol::RtspProtocol(NetCore& core)
    : core_(core), opt_(core.options().rtsp), auth_(core.options().rtsp.digest) {}

// --------------------------------------------------------------------------------------------
// start and adoption

Result<void> RtspProtocol::start() {
  if (opt_.max_viewers == 0 || opt_.max_viewers > abi::kMaxConnections)
    return makeError("max viewers {} is out of range (1..{})", opt_.max_viewers,
                     abi::kMaxConnections);
  if (opt_.mtu < kMinMtu || opt_.mtu > kMaxMtu)
    return makeError("mtu {} is out of range ({}..{})", opt_.mtu, kMinMtu, kMaxMtu);
  auto blob = RtspBlob::open(core_.state());
  if (!blob) return blob.error();
  blob_.emplace(*blob);
  // The core checked the endpoints against the declaration (RTP even, RTCP the next port).
  rtp_fd_ = core_.endpointFd(abi::kEndpointRtspRtp);
  rtcp_fd_ = core_.endpointFd(abi::kEndpointRtspRtcp);
  const sockaddr_storage rtp_addr = localAddress(rtp_fd_);
  server_rtp_port_ = portOf(rtp_addr);
  udp_family_ = rtp_addr.ss_family;
  listen_addr_ = localAddress(core_.endpointFd(abi::kEndpointRtspListen));
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  cname_ = fmt::format("funkhaus@{}", host);
  if (auto kept = blob_->parameterSets()) {
    sets_ = *kept;
    codec_known_ = true;
    spdlog::info("kept {} parameter sets from the previous net", media::codecName(sets_.codec));
  }
  core_.every(std::chrono::seconds(1), [this] { sendReports(); });
  return {};
}

Result<void> RtspProtocol::adopt(Connection& c, uint32_t session) {
  // RTSP keeps a viewer's connection in the connection slot of its viewer slot.
  if (session != static_cast<uint32_t>(c.slot()))
    return makeError("RTSP session {} kept in connection slot {}", session, c.slot());
  const uint32_t i = session;
  abi::RtspViewerSlot& s = blob_->viewer(i);
  if (auto valid = validateViewerSlot(s); !valid)
    return makeError("invalid state left by the previous net: {}", valid.error().message);
  if (isState(s, abi::ViewerState::kFree)) return makeError("its viewer slot is free");
  Session& session_of = sessions_[i];
  session_of.connection = &c;
  session_of.viewer = Viewer{};
  dataOf(c).slot = static_cast<int>(i);
  core_.viewers().add(&session_of.viewer);
  const bool playing = isState(s, abi::ViewerState::kPlaying);
  if (playing) {
    // It continues at the next keyframe (asked for once every kept connection was offered).
    session_of.viewer.playing = true;
    setNeedsKeyframe(i, true);
  }
  spdlog::info("slot {}: continuing {} viewer {} (session {}, {}, seq {}{})", i,
               playing ? "playing" : "ready", c.name(), formatSessionId(s.session_id),
               s.transport == static_cast<uint32_t>(abi::ViewerTransport::kUdp) ? "UDP" : "TCP",
               s.next_sequence & 0xFFFF,
               audioSetUp(s) ? fmt::format(", audio seq {}", s.audio.next_sequence) : "");
  return {};
}

void RtspProtocol::adopted() {
  bool any_playing = false;
  for (uint32_t i = 0; i < abi::kMaxConnections; ++i) {
    abi::RtspViewerSlot& s = blob_->viewer(i);
    if (sessions_[i].connection != nullptr) {
      any_playing = any_playing || sessions_[i].viewer.playing;
      continue;
    }
    if (!isState(s, abi::ViewerState::kFree)) {
      spdlog::warn("slot {}: not continued: its connection was not kept", i);
      blob_->freeViewer(i);
    }
  }
  if (any_playing) core_.requestKeyframe();
  updateAudioRequest();  // continued audio tracks: the successor asks for audio again
}

std::string RtspProtocol::describe() const {
  std::string host = formatHost(listen_addr_);
  bool any = false;
  if (listen_addr_.ss_family == AF_INET) {
    any = reinterpret_cast<const sockaddr_in&>(listen_addr_).sin_addr.s_addr == htonl(INADDR_ANY);
  } else {
    any = IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6&>(listen_addr_).sin6_addr);
    host = "[" + host + "]";
  }
  if (any) {
    char name[256] = "";
    if (gethostname(name, sizeof name - 1) == 0 && name[0] != '\0') host = name;
  }
  return fmt::format("rtsp://{}:{}{}", host, portOf(listen_addr_), opt_.path);
}

// --------------------------------------------------------------------------------------------
// framing and sessions

size_t RtspProtocol::onInput(Connection& c, std::span<const uint8_t> input) {
  RtspUnit u = parseRtspUnit(input, RtspLimits{});
  if (u.kind == RtspUnit::Kind::kNeedMore) return 0;
  if (u.kind == RtspUnit::Kind::kBad) {
    spdlog::info("connection {}: {} ({})", c.name(), u.error, u.status);
    ++counters_.errors;
    respond(c, u.status, std::nullopt);
    core_.closeAfterFlush(c);
    return 0;
  }
  // Consumed before it is acted on: a net killed in between loses the unit, never repeats it.
  if (!core_.consume(c, u.consumed)) return 0;
  if (u.kind == RtspUnit::Kind::kRequest) {
    handleRequest(c, u.request);
  } else if (u.kind == RtspUnit::Kind::kSkip) {
    core_.skip(c, u.skip);
  } else if (const int slot = dataOf(c).slot; slot >= 0) {  // kInterleaved
    const abi::RtspViewerSlot& s = blob_->viewer(static_cast<uint32_t>(slot));
    if (s.transport == static_cast<uint32_t>(abi::ViewerTransport::kTcpInterleaved) &&
        (u.channel == s.rtcp_channel || (audioSetUp(s) && u.channel == s.audio.rtcp_channel)))
      handleRtcp(u.payload, slot);
  }
  return u.consumed;
}

void RtspProtocol::onOverlong(Connection& c) {
  respond(c, 400, std::nullopt);
  core_.closeAfterFlush(c);
}

void RtspProtocol::onClosed(Connection& c) {
  std::erase(waiting_, &c);
  endViewer(c);
}

void RtspProtocol::setNeedsKeyframe(uint32_t slot, bool needs) {
  abi::RtspViewerSlot& s = blob_->viewer(slot);
  sessions_[slot].viewer.needs_keyframe = needs;
  if (needs)
    s.flags |= abi::kViewerFlagNeedsKeyframe;
  else
    s.flags &= ~abi::kViewerFlagNeedsKeyframe;
}

void RtspProtocol::freeSession(uint32_t slot) {
  core_.viewers().remove(&sessions_[slot].viewer);
  const bool audio = audioSetUp(blob_->viewer(slot));
  sessions_[slot] = Session{};
  blob_->freeViewer(slot);
  if (audio) updateAudioRequest();
}

void RtspProtocol::updateAudioRequest() {
  bool any = false;
  for (uint32_t i = 0; i < abi::kMaxConnections; ++i)
    any = any || (sessions_[i].connection != nullptr && audioSetUp(blob_->viewer(i)));
  if (any == audio_requested_) return;
  audio_requested_ = any;
  // The audio worker's own channel count, 5 ms packets (a GameStream client's request wins).
  core_.requestAudio(*this, any ? abi::audioRequest(0, 5) : 0);
}

void RtspProtocol::endViewer(Connection& c) {
  ConnectionData& data = dataOf(c);
  if (data.slot < 0) return;
  const auto slot = static_cast<uint32_t>(data.slot);
  data.slot = -1;
  freeSession(slot);
  core_.unkeep(c);
}

void RtspProtocol::sweep(uint64_t now) {
  const uint64_t session_timeout = uint64_t{opt_.session_timeout_s} * 1'000'000'000u;
  for (uint32_t i = 0; i < abi::kMaxConnections; ++i) {
    Connection* c = sessions_[i].connection;
    if (c == nullptr || c->closed()) continue;
    const abi::RtspViewerSlot& s = blob_->viewer(i);
    if (now > s.last_activity_ns && now - s.last_activity_ns > session_timeout)
      core_.close(*c, "session timed out (no RTSP or RTCP activity)", NetCore::CloseHow::kAbortive);
  }
  answerDeferred(now);
}

// --------------------------------------------------------------------------------------------
// RTSP requests

void RtspProtocol::respond(Connection& c, int status, std::optional<uint32_t> cseq,
                           const std::string& headers, const std::string& body,
                           const char* content_type) {
  std::string r = fmt::format("RTSP/1.0 {} {}\r\n", status, rtspReasonPhrase(status));
  if (cseq) r += fmt::format("CSeq: {}\r\n", *cseq);
  r += "Server: funkhaus\r\n";
  r += headers;
  if (content_type != nullptr) r += fmt::format("Content-Type: {}\r\n", content_type);
  if (!body.empty() || content_type != nullptr)
    r += fmt::format("Content-Length: {}\r\n", body.size());
  r += "\r\n";
  r += body;
  core_.sendControl(c, std::span(reinterpret_cast<const uint8_t*>(r.data()), r.size()));
}

bool RtspProtocol::isAggregatePath(const std::string& path) const {
  return path == opt_.path || path == opt_.path + "/";
}

bool RtspProtocol::isAudioTrackPath(const std::string& path) const {
  if (!core_.audioRouted()) return false;
  const std::string track = opt_.path + "/" + kAudioTrackControl;
  return path == track || path == track + "/";
}

bool RtspProtocol::isTrackPath(const std::string& path) const {
  const std::string track = opt_.path + "/" + kTrackControl;
  return path == track || path == track + "/";
}

std::string RtspProtocol::sessionHeader(uint32_t slot) const {
  return fmt::format("Session: {};timeout={}\r\n", formatSessionId(blob_->viewer(slot).session_id),
                     opt_.session_timeout_s);
}

// The connection's viewer slot if the request names its session.
std::optional<uint32_t> RtspProtocol::sessionSlot(Connection& c, const RtspRequest& r) {
  const std::string* header = r.header("Session");
  const int slot = dataOf(c).slot;
  if (header == nullptr || slot < 0) return std::nullopt;
  const auto id = parseSessionId(*header);
  if (!id || *id != blob_->viewer(static_cast<uint32_t>(slot)).session_id) return std::nullopt;
  return static_cast<uint32_t>(slot);
}

void RtspProtocol::handleRequest(Connection& c, const RtspRequest& r) {
  const int own = dataOf(c).slot;
  if (own >= 0) blob_->viewer(static_cast<uint32_t>(own)).last_activity_ns = monotonicNs();
  const auto cseq = r.cseq();
  spdlog::debug("connection {}: {} {}", c.name(), r.method, r.uri);
  if (!cseq) {
    respond(c, 400, std::nullopt);
    return core_.closeAfterFlush(c);
  }
  if (const std::string* require = r.header("Require")) {
    return respond(c, 551, cseq, fmt::format("Unsupported: {}\r\n", *require));
  }
  const std::string path = uriPath(r.uri);
  const std::string& m = r.method;
  if (!allowed(c, r, *cseq)) return;
  if (m == "OPTIONS") {
    if (path != "*" && !isAggregatePath(path) && !isTrackPath(path) && !isAudioTrackPath(path))
      return respond(c, 404, cseq);
    return respond(c, 200, cseq, fmt::format("Public: {}\r\n", kPublic));
  }
  if (m == "DESCRIBE") return handleDescribe(c, r, *cseq);
  if (m == "SETUP") return handleSetup(c, r, *cseq);
  if (m == "PLAY") return handlePlay(c, r, *cseq);
  if (m == "GET_PARAMETER" || m == "SET_PARAMETER") {
    if (r.header("Session") != nullptr && !sessionSlot(c, r)) return respond(c, 454, cseq);
    if (m == "SET_PARAMETER" && !r.body.empty()) return respond(c, 451, cseq);
    return respond(c, 200, cseq, own >= 0 ? sessionHeader(static_cast<uint32_t>(own)) : "");
  }
  if (m == "PAUSE" || m == "TEARDOWN") {
    if (!isAggregatePath(path) && !isTrackPath(path) && !isAudioTrackPath(path) && path != "*")
      return respond(c, 404, cseq);
    const auto slot = sessionSlot(c, r);
    if (!slot) return respond(c, 454, cseq);
    abi::RtspViewerSlot& s = blob_->viewer(*slot);
    if (m == "PAUSE") {
      setState(s, abi::ViewerState::kReady);
      sessions_[*slot].viewer.playing = false;
      spdlog::info("connection {}: paused", c.name());
      return respond(c, 200, cseq, sessionHeader(*slot));
    }
    respond(c, 200, cseq);
    spdlog::info("connection {}: teardown of session {}", c.name(), formatSessionId(s.session_id));
    return endViewer(c);
  }
  respond(c, 501, cseq, fmt::format("Public: {}\r\n", kPublic));
}

// Who may watch (rtsp_auth.h): other hosts need a password, and then Digest for the requests
// that start a stream; requests on a session need its id, which only an allowed SETUP gave out.
bool RtspProtocol::allowed(Connection& c, const RtspRequest& r, uint32_t cseq) {
  const bool starts_stream = r.method == "DESCRIBE" || r.method == "SETUP" || r.method == "PLAY";
  const uint64_t now = monotonicNs();
  const auto verdict = auth_.check(c.peer(), r.method, r.header("Authorization"), now);
  ConnectionData& data = dataOf(c);
  switch (verdict) {
    case RtspAuth::Verdict::kAllowed:
      return true;
    case RtspAuth::Verdict::kForbidden:
      if (!data.refusal_logged)
        spdlog::warn(
            "connection {}: refused: RTSP viewers from other hosts need a password "
            "([net] rtsp_password); without one only this host may watch",
            c.name());
      data.refusal_logged = true;
      respond(c, 403, cseq);
      return false;
    case RtspAuth::Verdict::kChallenge:
    case RtspAuth::Verdict::kStale:
      if (!starts_stream) return true;
      if (r.header("Authorization") != nullptr && verdict == RtspAuth::Verdict::kChallenge) {
        ++counters_.errors;
        spdlog::warn("connection {}: {} with wrong RTSP credentials", c.name(), r.method);
      }
      respond(c, 401, cseq, auth_.challenge(now, verdict == RtspAuth::Verdict::kStale));
      return false;
  }
  return false;
}

void RtspProtocol::handleDescribe(Connection& c, const RtspRequest& r, uint32_t cseq) {
  const std::string path = uriPath(r.uri);
  if (!isAggregatePath(path)) return respond(c, 404, cseq);
  // rtsp://host/path?mode=1280x720@60: the viewer's display mode for the virtual monitor.
  if (auto mode = uriModeRequest(r.uri)) {
    spdlog::info("connection {}: asks for mode {}x{}{}", c.name(), mode->width, mode->height,
                 mode->refresh_hz ? fmt::format(" at {} Hz", mode->refresh_hz) : "");
    core_.requestMode(mode->width, mode->height, mode->refresh_hz);
  }
  if (!sets_.complete()) {
    // No parameter sets yet (the encoder just started): wait for the next keyframe. The
    // connection stops reading until answerDeferred() answers.
    ConnectionData& data = dataOf(c);
    data.deferred = r;
    data.deferred_since_ns = monotonicNs();
    waiting_.push_back(&c);
    core_.pauseReading(c);
    core_.requestKeyframe();
    return;
  }
  answerDescribe(c, r, cseq);
}

void RtspProtocol::answerDescribe(Connection& c, const RtspRequest& r, uint32_t cseq) {
  SdpOptions o;
  o.session_id = randomBits() >> 1;
  o.origin_ipv6 = c.local().ss_family == AF_INET6;
  o.origin_address = formatHost(c.local());
  o.audio = core_.audioRouted();
  const std::string sdp = buildSdp(sets_, o);
  std::string base = r.uri;
  if (base.empty() || base.back() != '/') base += '/';
  respond(c, 200, cseq, fmt::format("Content-Base: {}\r\n", base), sdp, "application/sdp");
}

// The waiting DESCRIBEs: all of them once the parameter sets are known, else those that
// waited longer than describe_wait (503).
void RtspProtocol::answerDeferred(uint64_t now) {
  const uint64_t describe_wait = uint64_t{opt_.describe_wait_ms} * kMs;
  const std::vector<Connection*> waiting = waiting_;
  for (Connection* c : waiting) {
    ConnectionData& data = dataOf(*c);
    if (!sets_.complete() && now - data.deferred_since_ns <= describe_wait) continue;
    std::erase(waiting_, c);
    RtspRequest r = std::move(*data.deferred);
    data.deferred.reset();
    if (sets_.complete())
      answerDescribe(*c, r, r.cseq().value_or(0));
    else
      respond(*c, 503, r.cseq(), "Retry-After: 1\r\n");
    core_.resumeReading(*c);  // it stopped reading while the DESCRIBE waited
  }
}

void RtspProtocol::handleSetup(Connection& c, const RtspRequest& r, uint32_t cseq) {
  const std::string path = uriPath(r.uri);
  if (isAudioTrackPath(path)) return handleAudioSetup(c, r, cseq);
  if (!isAggregatePath(path) && !isTrackPath(path)) return respond(c, 404, cseq);
  ConnectionData& data = dataOf(c);
  if (data.slot >= 0) return respond(c, 455, cseq);  // one stream, set up once per connection
  if (r.header("Session") != nullptr) return respond(c, 454, cseq);
  const std::string* transport_header = r.header("Transport");
  const auto t = transport_header ? chooseTransport(*transport_header) : std::nullopt;
  if (!t) return respond(c, 461, cseq);
  const sockaddr_storage& peer = c.peer();
  if (!t->tcp) {
    if (peer.ss_family != AF_INET && peer.ss_family != AF_INET6) return respond(c, 461, cseq);
    if (peer.ss_family == AF_INET6 && udp_family_ == AF_INET) return respond(c, 461, cseq);
  }
  if (!codec_known_) return respond(c, 503, cseq, "Retry-After: 1\r\n");
  std::optional<uint32_t> free_slot;
  for (uint32_t i = 0; i < opt_.max_viewers && i < abi::kMaxConnections; ++i) {
    if (isState(blob_->viewer(i), abi::ViewerState::kFree) && sessions_[i].connection == nullptr &&
        core_.slotFree(i)) {
      free_slot = i;
      break;
    }
  }
  if (!free_slot) {
    spdlog::info("connection {}: SETUP refused: {} viewers already", c.name(), opt_.max_viewers);
    return respond(c, 453, cseq);
  }
  const uint32_t slot = *free_slot;
  blob_->freeViewer(slot);
  abi::RtspViewerSlot& s = blob_->viewer(slot);
  uint64_t id = 0;
  while (id == 0) id = randomBits();
  const uint64_t bits = randomBits();
  s.session_id = id;
  s.codec = static_cast<uint32_t>(sets_.codec);
  s.ssrc = static_cast<uint32_t>(bits);
  s.rtp_timestamp_offset = static_cast<uint32_t>(bits >> 32);
  s.next_sequence = static_cast<uint32_t>(randomBits() & 0x7FFF);  // room before a wrap
  s.flags = abi::kViewerFlagNeedsKeyframe;
  s.last_activity_ns = monotonicNs();
  std::string reply;
  if (t->tcp) {
    s.transport = static_cast<uint32_t>(abi::ViewerTransport::kTcpInterleaved);
    s.rtp_channel = *t->rtp_channel;
    s.rtcp_channel = *t->rtcp_channel;
    reply = fmt::format("Transport: RTP/{}/TCP;unicast;interleaved={}-{};ssrc={:08X}\r\n",
                        t->profile.substr(4), s.rtp_channel, s.rtcp_channel, s.ssrc);
  } else {
    s.transport = static_cast<uint32_t>(abi::ViewerTransport::kUdp);
    s.address_family = peer.ss_family;
    if (peer.ss_family == AF_INET)
      std::memcpy(s.client_address, &reinterpret_cast<const sockaddr_in&>(peer).sin_addr, 4);
    else
      std::memcpy(s.client_address, &reinterpret_cast<const sockaddr_in6&>(peer).sin6_addr, 16);
    s.client_rtp_port = *t->client_rtp_port;
    s.client_rtcp_port = *t->client_rtcp_port;
    reply = fmt::format(
        "Transport: {};unicast;client_port={}-{};server_port={}-{};ssrc={:08X};mode=play\r\n",
        t->profile, s.client_rtp_port, s.client_rtcp_port, server_rtp_port_, server_rtp_port_ + 1,
        s.ssrc);
  }
  setState(s, abi::ViewerState::kReady);
  data.slot = static_cast<int>(slot);
  Session& session = sessions_[slot];
  session.connection = &c;
  session.viewer = Viewer{};
  session.viewer.needs_keyframe = true;
  core_.viewers().add(&session.viewer);
  core_.keep(c, slot, slot);
  spdlog::info("connection {}: SETUP {} -> slot {}, session {}", c.name(),
               t->tcp ? "TCP interleaved" : "UDP", slot, formatSessionId(id));
  respond(c, 200, cseq, reply + sessionHeader(slot));
}

void RtspProtocol::handleAudioSetup(Connection& c, const RtspRequest& r, uint32_t cseq) {
  const int own = dataOf(c).slot;
  if (own < 0) {
    // The viewer's session (its connection slot) comes from the video's SETUP.
    spdlog::info("connection {}: SETUP of the audio track before the video's refused", c.name());
    return respond(c, 455, cseq);
  }
  const auto slot = sessionSlot(c, r);
  if (!slot) return respond(c, 454, cseq);
  abi::RtspViewerSlot& s = blob_->viewer(*slot);
  if (audioSetUp(s)) return respond(c, 455, cseq, sessionHeader(*slot));
  const std::string* transport_header = r.header("Transport");
  const auto t = transport_header ? chooseTransport(*transport_header) : std::nullopt;
  if (!t) return respond(c, 461, cseq);
  const bool tcp = s.transport == static_cast<uint32_t>(abi::ViewerTransport::kTcpInterleaved);
  if (t->tcp != tcp) return respond(c, 461, cseq);  // both tracks one way
  abi::RtspAudioTrack track{};
  const uint64_t bits = randomBits();
  track.ssrc = static_cast<uint32_t>(bits);
  if (track.ssrc == s.ssrc) track.ssrc ^= 1;
  track.timestamp_offset = static_cast<uint32_t>(bits >> 32);
  track.next_sequence = static_cast<uint32_t>(randomBits() & 0x7FFF);  // room before a wrap
  std::string reply;
  if (tcp) {
    track.rtp_channel = *t->rtp_channel;
    track.rtcp_channel = *t->rtcp_channel;
    for (uint8_t used : {s.rtp_channel, s.rtcp_channel})
      if (track.rtp_channel == used || track.rtcp_channel == used) return respond(c, 461, cseq);
    if (track.rtp_channel == track.rtcp_channel) return respond(c, 461, cseq);
    reply = fmt::format("Transport: RTP/{}/TCP;unicast;interleaved={}-{};ssrc={:08X}\r\n",
                        t->profile.substr(4), track.rtp_channel, track.rtcp_channel, track.ssrc);
  } else {
    track.client_rtp_port = *t->client_rtp_port;
    track.client_rtcp_port = *t->client_rtcp_port;
    reply = fmt::format(
        "Transport: {};unicast;client_port={}-{};server_port={}-{};ssrc={:08X};mode=play\r\n",
        t->profile, track.client_rtp_port, track.client_rtcp_port, server_rtp_port_,
        server_rtp_port_ + 1, track.ssrc);
  }
  // In the viewer slot, flags last: a net killed in between leaves no half track behind.
  track.flags = 0;
  s.audio = track;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  s.audio.flags = abi::kAudioTrackFlagSetUp;
  spdlog::info("connection {}: SETUP of the audio track ({}) in slot {}", c.name(),
               tcp ? "TCP interleaved" : "UDP", *slot);
  updateAudioRequest();
  respond(c, 200, cseq, reply + sessionHeader(*slot));
}

void RtspProtocol::handlePlay(Connection& c, const RtspRequest& r, uint32_t cseq) {
  const std::string path = uriPath(r.uri);
  if (!isAggregatePath(path) && !isTrackPath(path) && !isAudioTrackPath(path))
    return respond(c, 404, cseq);
  const auto slot = sessionSlot(c, r);
  if (!slot) return respond(c, 454, cseq);
  abi::RtspViewerSlot& s = blob_->viewer(*slot);
  if (!isState(s, abi::ViewerState::kPlaying)) {
    setNeedsKeyframe(*slot, true);
    setState(s, abi::ViewerState::kPlaying);
  }
  // The viewer starts at the next keyframe, and one more a second later (viewer_registry.h).
  core_.viewerStarted(sessions_[*slot].viewer);
  // The aggregate URL (the request's without a track) and each track's below it.
  std::string base = r.uri;
  while (!base.empty() && base.back() == '/') base.pop_back();
  for (const char* track : {kTrackControl, kAudioTrackControl}) {
    const std::string suffix = std::string("/") + track;
    if (base.ends_with(suffix)) {
      base.erase(base.size() - suffix.size());
      break;
    }
  }
  const std::string url = isTrackPath(path) ? r.uri : base + "/" + kTrackControl;
  // The next keyframe is captured after the latest record, so its timestamp is not earlier.
  const uint64_t at = last_capture_ns_ != 0 ? last_capture_ns_ : monotonicNs();
  std::string info = fmt::format("url={};seq={};rtptime={}", url, s.next_sequence & 0xFFFF,
                                 rtpTimestamp(at, s.rtp_timestamp_offset));
  if (audioSetUp(s)) {
    const abi::RtspAudioTrack& audio = s.audio;
    const bool timed = (audio.flags & abi::kAudioTrackFlagTimed) != 0;
    info += fmt::format(
        ",url={}/{};seq={};rtptime={}", base, kAudioTrackControl, audio.next_sequence & 0xFFFF,
        timed ? audio.next_timestamp : rtpAudioTimestamp(monotonicNs(), audio.timestamp_offset));
  }
  spdlog::info("connection {}: PLAY session {}", c.name(), formatSessionId(s.session_id));
  respond(c, 200, cseq,
          fmt::format("Range: npt=now-\r\nRTP-Info: {}\r\n{}", info, sessionHeader(*slot)));
}

}  // namespace funkhaus::net
