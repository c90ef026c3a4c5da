// GamestreamProtocol: the handshake, control stream, pings and video of one Moonlight client.
#include "funkhaus/net/gamestream/gamestream_protocol.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "funkhaus/abi/codec.h"
#include "funkhaus/abi/message.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/net/gamestream/announce.h"
#include "funkhaus/net/gamestream/audio_packetizer.h"
#include "funkhaus/net/gamestream/control_cipher.h"
#include "funkhaus/net/gamestream/control_messages.h"
#include "funkhaus/net/gamestream/enet_server.h"
#include "funkhaus/net/gamestream/gamestream_blob.h"
#include "funkhaus/net/gamestream/handshake.h"
#include "funkhaus/net/gamestream/input_packet.h"
#include "funkhaus/net/gamestream/ping.h"
#include "funkhaus/net/gamestream/video_packetizer.h"
#include "funkhaus/net/socket_address.h"

namespace funkhaus::net::gamestream {
namespace {

using abi::GamestreamPhase;

bool atLeast(const abi::GamestreamState& s, GamestreamPhase phase) {
  return s.phase >= static_cast<uint32_t>(phase);
}

// The packetizer's parameters for the announced stream under the launch's key.
VideoParams videoParams(const abi::GamestreamStreamParams& s, const uint8_t (&key)[16]) {
  VideoParams vp;
  vp.packet_size = s.packet_size;
  vp.fec_percent = s.fec_percent;
  vp.min_fec_packets = s.min_fec_packets;
  vp.codec = static_cast<media::Codec>(s.codec);
  vp.encrypt = (s.encryption & kEncryptionVideo) != 0;
  std::copy(std::begin(key), std::end(key), vp.key.begin());
  return vp;
}

void sendText(NetCore& core, Connection& c, const std::string& text) {
  core.sendControl(c, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  core.closeAfterFlush(c);  // one request per connection: the client reads until EOF
}

}  // namespace

struct GamestreamProtocol::Impl {
  explicit Impl(abi::GamestreamState& state) : enet(state.control) {}
  EnetServer enet;
  std::optional<VideoPacketizer> video;
  std::optional<AudioPacketizer> audio;  // while the stream plays and the session has audio
  bool audio_refusal_logged = false;     // a record the client cannot decode (said once)
  std::mt19937_64 random{std::random_device{}()};
  Outbox outbox;
  std::vector<EnetEvent> events;
  std::vector<abi::InputEvent> input;  // one packet's events (kept: no allocation per packet)
  uint64_t input_published = 0;        // events of the launched client sent to the input ring
  uint64_t input_rejected = 0;         // its input packets that did not decode (dropped)
};

GamestreamProtocol::GamestreamProtocol(NetCore& core) : core_(core), viewer_{} {}

GamestreamProtocol::~GamestreamProtocol() {
  if (registered_) core_.viewers().remove(&viewer_);
}

Result<void> GamestreamProtocol::start() {
  std::string reset;
  auto blob = openBlob(core_.state(), &reset);
  if (!blob) return blob.error();
  state_ = *blob;
  if (!reset.empty()) spdlog::warn("GameStream: the previous net's stream was dropped: {}", reset);
  video_fd_ = core_.endpointFd(abi::kEndpointGamestreamVideo);
  control_fd_ = core_.endpointFd(abi::kEndpointGamestreamControl);
  audio_fd_ = core_.endpointFd(abi::kEndpointGamestreamAudio);
  rtsp_port_ = portOf(localAddress(core_.endpointFd(abi::kEndpointGamestreamRtsp)));
  video_port_ = portOf(localAddress(video_fd_));
  control_port_ = portOf(localAddress(control_fd_));
  audio_port_ = portOf(localAddress(audio_fd_));
  impl_ = std::make_unique<Impl>(*state_);
  core_.viewers().add(&viewer_);
  registered_ = true;
  if (InputProducer* input = core_.input()) {
    // A previous net published into the ring: what the client holds now is unknown to us.
    if (input->published() > 0) {
      spdlog::info("GameStream: input released (a previous net fed the input ring)");
      input->releaseAll();
    }
    core_.every(kRumblePollPeriod, [this] { sendRumble(); });
  }
  if (atLeast(*state_, GamestreamPhase::kPlaying)) {
    // A stream that is over by now (cancelled, replaced, its client silent) ends here, before
    // anything is sent to it.
    const uint64_t now = monotonicNs();
    const bool at_once = resumesAtOnce(*state_, readLaunch(*state_), now, kClientTimeoutNs);
    followLaunch(now);
    if (atLeast(*state_, GamestreamPhase::kPlaying)) {
      spdlog::info("GameStream: continuing the stream of the previous net (frame {}, control {})",
                   state_->video_frame_index, impl_->enet.connected() ? "connected" : "waiting");
      startVideo();
      startAudio();
      if (at_once && impl_->video) {
        // The client's address is known from a ping of this stream: video goes on now, from the
        // IDR asked for here, not at its next ping (up to 500 ms later).
        spdlog::info("GameStream: video resumes to port {} at once, from an IDR",
                     state_->video_peer.port);
        core_.viewerStarted(viewer_, false);
      }
    }
  }
  return {};
}

std::string GamestreamProtocol::describe() const {
  return fmt::format("GameStream RTSP on TCP {}, video UDP {}, control UDP {}, audio UDP {}",
                     rtsp_port_, video_port_, control_port_, audio_port_);
}

// ---- the RTSP handshake: one request per connection -----------------------------------------

size_t GamestreamProtocol::onInput(Connection& c, std::span<const uint8_t> input) {
  RtspUnit u = parseRtspUnit(input, handshakeLimits());
  if (u.kind == RtspUnit::Kind::kNeedMore) return 0;
  if (u.kind != RtspUnit::Kind::kRequest) {
    ++counters_.errors;
    ++state_->dropped_input;
    spdlog::info("GameStream RTSP {}: {}", c.name(), u.error.empty() ? "not a request" : u.error);
    sendText(core_, c, formatReply(refuseHandshake(u.status != 0 ? u.status : 400, u.error), 0));
    return 0;
  }
  if (!core_.consume(c, u.consumed)) return 0;
  handleRequest(c, u.request);
  return u.consumed;
}

void GamestreamProtocol::onOverlong(Connection& c) {
  ++counters_.errors;
  sendText(core_, c, formatReply(refuseHandshake(413, "request too long"), 0));
}

void GamestreamProtocol::handleRequest(Connection& c, const RtspRequest& r) {
  const uint64_t now = monotonicNs();
  followLaunch(now);
  const uint32_t cseq = r.cseq().value_or(0);
  auto refuse = [&](int status, const std::string& why) {
    spdlog::info("GameStream RTSP {}: {} {}: {}", c.name(), r.method, r.uri, why);
    sendText(core_, c, formatReply(refuseHandshake(status, why), cseq));
  };
  const auto launch = readLaunch(*state_);
  if (!launch || launch->active != 1)
    return refuse(503, "no client launched a stream (pair, then start an app)");
  if (state_->launch_sequence != launch->sequence) {
    // The handshake of a new launch: a new session with its own ping payloads and connect data.
    if (state_->phase != static_cast<uint32_t>(GamestreamPhase::kIdle))
      endStream("a new launch replaces it", true);
    resetStream(*state_);
    state_->launch_sequence = launch->sequence;
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (char& ch : state_->video_ping) ch = kHex[impl_->random() % 16];
    for (char& ch : state_->audio_ping) ch = kHex[impl_->random() % 16];
    state_->connect_data = static_cast<uint32_t>(impl_->random());
    state_->session_id = impl_->random() | 1;
    state_->video_frame_index = 1;
    state_->phase = static_cast<uint32_t>(GamestreamPhase::kHandshake);
    state_->last_heard_ns = now;
  }

  HandshakeConfig config;
  config.session_id = fmt::format("{:016X}", state_->session_id);
  config.video_port = video_port_;
  config.control_port = control_port_;
  config.audio_port = audio_port_;
  config.video_ping_payload = std::string(state_->video_ping, sizeof state_->video_ping);
  config.audio_ping_payload = std::string(state_->audio_ping, sizeof state_->audio_ping);
  config.connect_data = state_->connect_data;
  config.hevc = true;
  config.encryption_supported = kEncryptionControlV2 | kEncryptionVideo;
  if (core_.audioRouted()) {  // audio is sent: encrypted if the client wants, surround offered
    config.encryption_supported |= kEncryptionAudio;
    config.surround = surroundOffer();
  }
  // Touch and pen come only when asked for, and only an input worker can use them.
  if (core_.input() != nullptr) config.feature_flags |= kSsFeaturePenTouchEvents;
  HandshakeReply reply = answerHandshake(r, config);
  if (reply.step == HandshakeStep::kAnnounce && reply.status == 200 && reply.stream) {
    const StreamParams& p = *reply.stream;
    abi::GamestreamStreamParams& s = state_->params;
    s = {};
    s.width = p.width;
    s.height = p.height;
    s.fps = p.fps;
    s.packet_size = p.packet_size;
    s.bitrate_kbps = p.bitrate_kbps;
    s.codec = static_cast<uint32_t>(abiCodec(p.video_format).value_or(media::Codec::kNone));
    s.min_fec_packets = p.min_fec_packets;
    s.fec_percent = kFecPercent;
    s.encryption = p.encryption_enabled;
    s.audio_channels = p.audio_channels;
    s.audio_packet_ms = p.audio_packet_duration_ms;
    s.audio_encrypted = p.audioEncrypted() ? 1 : 0;
    const VideoParams vp = videoParams(s, launch->rikey);
    if (auto ok = checkVideoParams(vp); !ok) {
      reply = refuseHandshake(400, ok.error().message);
    } else {
      state_->phase = static_cast<uint32_t>(GamestreamPhase::kAnnounced);
      spdlog::info(
          "GameStream: {}x{} at {} fps, {} kbit/s, {}, packets of {} bytes, FEC {} % (at least "
          "{}), encryption 0x{:x}",
          s.width, s.height, s.fps, s.bitrate_kbps, media::codecName(vp.codec), s.packet_size,
          s.fec_percent, s.min_fec_packets, s.encryption);
      core_.requestMode(s.width, s.height, s.fps);
      core_.requestStream(s.codec, uint64_t{s.bitrate_kbps} * 1000, s.fps);
    }
  } else if (reply.step == HandshakeStep::kPlay && reply.status == 200) {
    if (!atLeast(*state_, GamestreamPhase::kAnnounced)) {
      reply = refuseHandshake(455, "PLAY before ANNOUNCE");
    } else {
      state_->phase = static_cast<uint32_t>(GamestreamPhase::kPlaying);
      state_->started_ns = now;
      state_->last_heard_ns = now;
      startVideo();
      startAudio();
    }
  }
  if (reply.status != 200)
    spdlog::info("GameStream RTSP {}: {} {} -> {} ({})", c.name(), r.method, r.uri, reply.status,
                 reply.detail);
  else
    spdlog::debug("GameStream RTSP {}: {} {}", c.name(), r.method, r.uri);
  sendText(core_, c, formatReply(reply, cseq));
}

// ---- the stream ------------------------------------------------------------------------------

void GamestreamProtocol::startVideo() {
  uint8_t key[16] = {};
  if (const auto launch = readLaunch(*state_)) std::copy_n(launch->rikey, sizeof key, key);
  auto packetizer = VideoPacketizer::create(videoParams(state_->params, key));
  if (!packetizer) {
    endStream("video: " + packetizer.error().message, true);
    return;
  }
  impl_->video.emplace(std::move(*packetizer));
  // Video flows once the client pinged (or at once when a previous net's stream resumes, see
  // start()); it starts with an IDR.
  viewer_.playing = false;
}

void GamestreamProtocol::startAudio() {
  if (!core_.audioRouted()) return;
  const abi::GamestreamStreamParams& s = state_->params;
  if (s.audio_channels != 2 && s.audio_channels != 6 && s.audio_channels != 8) {
    spdlog::warn("GameStream: no audio: the client asked for {} channels (2, 6 or 8 are sent)",
                 s.audio_channels);
    return;
  }
  AudioParams params;
  params.packet_duration_ms = s.audio_packet_ms;
  params.encrypt = s.audio_encrypted == 1;
  if (const auto launch = readLaunch(*state_)) {
    std::copy_n(launch->rikey, params.key.size(), params.key.begin());
    params.key_id = launch->rikeyid;
  }
  auto packetizer = AudioPacketizer::create(params);
  if (!packetizer) {  // missing audio never ends the stream
    spdlog::warn("GameStream: no audio: {}", packetizer.error().message);
    return;
  }
  impl_->audio.emplace(std::move(*packetizer));
  impl_->audio_refusal_logged = false;
  spdlog::info("GameStream: audio: {} channels, {} ms packets{}, from packet {}", s.audio_channels,
               s.audio_packet_ms, params.encrypt ? ", encrypted" : "", state_->audio_rtp_seq);
  core_.requestAudio(*this, abi::audioRequest(s.audio_channels, s.audio_packet_ms));
}

void GamestreamProtocol::followLaunch(uint64_t now_ns) {
  if (state_->phase == static_cast<uint32_t>(GamestreamPhase::kIdle)) return;
  const auto launch = readLaunch(*state_);
  if (!launch) return;  // funkhausd writes it right now
  if (launch->sequence != state_->launch_sequence) {
    endStream(launch->active == 1 ? "another launch replaced it" : "the client cancelled", true);
    return;
  }
  if (launch->active != 1) {
    endStream("the client cancelled or was unpaired", true);
    return;
  }
  const uint64_t quiet = now_ns > state_->last_heard_ns ? now_ns - state_->last_heard_ns : 0;
  if (atLeast(*state_, GamestreamPhase::kPlaying) && quiet > kClientTimeoutNs)
    endStream(fmt::format("no word from the client for {} s", quiet / 1'000'000'000), false);
  else if (!atLeast(*state_, GamestreamPhase::kPlaying) && quiet > kHandshakeTimeoutNs)
    endStream("the handshake did not reach PLAY", false);
}

void GamestreamProtocol::endStream(const std::string& why, bool tell_client) {
  spdlog::info("GameStream: stream ends: {} (input: {} events, {} packets dropped)", why,
               impl_->input_published, impl_->input_rejected);
  if (InputProducer* input = core_.input()) input->releaseAll();  // nothing stays pressed
  impl_->input_published = impl_->input_rejected = 0;
  if (tell_client && impl_->enet.connected()) {
    if (const auto launch = readLaunch(*state_)) {
      const auto message =
          encryptControl(launch->rikey, state_->control, kControlTermination, terminationPayload());
      impl_->enet.send(message, monotonicNs(), impl_->outbox);
    }
    impl_->enet.disconnect(0, monotonicNs(), impl_->outbox);
    flushControl();
  }
  impl_->video.reset();
  if (impl_->audio) {
    const AudioPacketizerStats& a = impl_->audio->stats();
    spdlog::info(
        "GameStream: audio: {} packets sent, {} dropped, {} FEC blocks ({} without: "
        "sizes {}, partial {})",
        state_->audio_packets_sent, state_->audio_packets_dropped, a.fec_blocks,
        a.fec_skipped_size + a.fec_skipped_partial, a.fec_skipped_size, a.fec_skipped_partial);
    impl_->audio.reset();
    core_.requestAudio(*this, 0);
  }
  state_->audio_packets_sent = state_->audio_packets_dropped = 0;
  if (viewer_.playing) core_.viewerDropped(viewer_);
  viewer_.playing = false;
  const uint64_t sequence = state_->launch_sequence;
  resetStream(*state_);
  state_->launch_sequence = sequence;  // this launch is over: a new one starts a new stream
}

void GamestreamProtocol::onDatagram(uint32_t tag, std::span<const uint8_t> data,
                                    const sockaddr_storage& from) {
  if (tag == abi::kEndpointGamestreamVideo) return onVideoPing(data, from);
  if (tag == abi::kEndpointGamestreamAudio) return onAudioPing(data, from);
  if (tag == abi::kEndpointGamestreamControl) return onControl(data, from);
}

void GamestreamProtocol::onVideoPing(std::span<const uint8_t> data, const sockaddr_storage& from) {
  if (!atLeast(*state_, GamestreamPhase::kHandshake) ||
      !parsePing(data, std::string_view(state_->video_ping, sizeof state_->video_ping))) {
    ++state_->dropped_input;
    return;
  }
  const abi::GamestreamPeer peer = peerOf(from);
  if (state_->video_peer.family == 0)
    spdlog::info("GameStream: video goes to port {} (first ping)", peer.port);
  state_->video_peer = peer;  // later pings follow a NAT rebinding
  if (atLeast(*state_, GamestreamPhase::kPlaying) && !viewer_.playing && impl_->video) {
    viewer_.playing = true;
    core_.viewerStarted(viewer_, false);
  }
}

void GamestreamProtocol::onAudioPing(std::span<const uint8_t> data, const sockaddr_storage& from) {
  if (!atLeast(*state_, GamestreamPhase::kHandshake) ||
      !parsePing(data, std::string_view(state_->audio_ping, sizeof state_->audio_ping))) {
    ++state_->dropped_input;
    return;
  }
  const abi::GamestreamPeer peer = peerOf(from);
  if (state_->audio_peer.family == 0 && impl_->audio)
    spdlog::info("GameStream: audio goes to port {} (first ping)", peer.port);
  state_->audio_peer = peer;  // later pings follow a NAT rebinding
}

void GamestreamProtocol::onControl(std::span<const uint8_t> data, const sockaddr_storage& from) {
  const uint64_t now = monotonicNs();
  const auto launch = readLaunch(*state_);
  auto accept = [&](const sockaddr_storage& peer, uint32_t connect_data) {
    (void)peer;
    return atLeast(*state_, GamestreamPhase::kHandshake) && launch && launch->active == 1 &&
           launch->sequence == state_->launch_sequence && connect_data == state_->connect_data;
  };
  impl_->events.clear();
  impl_->enet.onDatagram(data, from, now, accept, impl_->outbox, impl_->events);
  flushControl();
  for (EnetEvent& e : impl_->events) {
    switch (e.kind) {
      case EnetEvent::Kind::kConnect:
        spdlog::info("GameStream: control stream connected");
        state_->last_heard_ns = now;
        break;
      case EnetEvent::Kind::kReceive: {
        if (!launch) break;
        auto message = decryptControl(launch->rikey, state_->control, e.data);
        if (!message) {
          ++state_->dropped_input;
          ++counters_.errors;
          spdlog::debug("GameStream: control message dropped: {}", message.error().message);
          break;
        }
        state_->last_heard_ns = now;
        onControlMessage(message->type, message->payload);
        break;
      }
      case EnetEvent::Kind::kDisconnect:
      case EnetEvent::Kind::kTimeout:
        endStream("the client disconnected", false);
        return;
    }
  }
}

void GamestreamProtocol::onControlMessage(uint16_t type, std::span<const uint8_t> payload) {
  switch (type) {
    case kControlRequestIdr:
    case kControlInvalidateReferenceFrames:  // no RFI: answered with an IDR
      ++counters_.keyframes_received;
      viewer_.needs_keyframe = true;
      core_.requestKeyframe();
      break;
    case kControlInputData:
      routeInput(payload);
      break;
    default:
      break;  // pings, FEC statistics
  }
}

void GamestreamProtocol::routeInput(std::span<const uint8_t> packet) {
  InputProducer* input = core_.input();
  if (input == nullptr) return;  // not routed (said once at start)
  impl_->input.clear();
  auto decoded = decodeInputPacket(packet, impl_->input);
  if (!decoded) {
    ++impl_->input_rejected;
    ++state_->dropped_input;
    ++counters_.errors;
    input->countRejected();
    spdlog::debug("GameStream: input dropped: {}", decoded.error().message);
    return;
  }
  for (const abi::InputEvent& e : impl_->input)
    if (input->publish(e)) ++impl_->input_published;
}

void GamestreamProtocol::sendRumble() {
  InputProducer* input = core_.input();
  if (input == nullptr) return;
  input->heartbeat();
  const std::vector<RumbleUpdate> changed = input->pollRumble();
  if (changed.empty() || !impl_->enet.connected()) return;  // nobody to tell: dropped
  const auto launch = readLaunch(*state_);
  if (!launch || launch->active != 1 || launch->sequence != state_->launch_sequence) return;
  const uint64_t now = monotonicNs();
  for (const RumbleUpdate& r : changed) {
    const auto message = encryptControl(launch->rikey, state_->control, kControlRumble,
                                        rumblePayload(r.pad, r.low_frequency, r.high_frequency));
    if (!impl_->enet.send(message, now, impl_->outbox)) ++counters_.errors;
  }
  flushControl();
}

void GamestreamProtocol::flushControl() {
  for (const Datagram& d : impl_->outbox) {
    const socklen_t length = d.to.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    if (sendto(control_fd_, d.bytes.data(), d.bytes.size(), MSG_DONTWAIT,
               reinterpret_cast<const sockaddr*>(&d.to), length) > 0)
      counters_.bytes_out += d.bytes.size();
  }
  impl_->outbox.clear();
}

bool GamestreamProtocol::serve(const MediaUnit& unit) {
  if (!impl_ || !impl_->video || !viewer_.playing || state_->video_peer.family == 0) return false;
  if (static_cast<uint32_t>(unit.codec) != state_->params.codec) return false;  // not yet switched
  if (viewer_.needs_keyframe && !unit.keyframe) return false;
  const uint64_t now = monotonicNs();
  const uint64_t latency_ns = now > unit.unit.capture_time_ns ? now - unit.unit.capture_time_ns : 0;
  VideoFrameIn frame;
  frame.access_unit = unit.unit.data;
  frame.idr = unit.keyframe;
  frame.host_latency_100us =
      static_cast<uint16_t>(std::min<uint64_t>(latency_ns / 100'000, 0xffff));
  frame.rtp_timestamp = static_cast<uint32_t>(unit.unit.capture_time_ns / 100'000 * 9);  // 90 kHz
  VideoStreamCounters counters{state_->video_rtp_seq, state_->video_frame_index, state_->video_iv};
  datagrams_.clear();
  auto count = impl_->video->packetizeFrame(frame, counters, datagrams_);
  if (!count) {
    ++counters_.errors;
    spdlog::warn("GameStream: frame {} not sent: {}", unit.unit.frame_number,
                 count.error().message);
    return false;
  }
  // Taken before anything goes out: a kill leaves a gap the client sees, never a reuse.
  state_->video_rtp_seq = counters.next_rtp_seq;
  state_->video_frame_index = counters.next_frame_index;
  state_->video_iv = counters.next_iv;
  socklen_t length = 0;
  const sockaddr_storage to = addressOf(state_->video_peer, &length);
  const size_t size = impl_->video->datagramSize();
  messages_.resize(*count);  // kept across frames: no allocation once grown
  iov_.resize(*count);
  std::vector<mmsghdr>& messages = messages_;
  std::vector<iovec>& iov = iov_;
  for (size_t i = 0; i < *count; ++i) {
    iov[i] = {datagrams_.data() + i * size, size};
    messages[i] = {};
    messages[i].msg_hdr.msg_name = const_cast<sockaddr_storage*>(&to);
    messages[i].msg_hdr.msg_namelen = length;
    messages[i].msg_hdr.msg_iov = &iov[i];
    messages[i].msg_hdr.msg_iovlen = 1;
  }
  size_t sent = 0;
  while (sent < *count) {
    const int n = sendmmsg(video_fd_, messages.data() + sent, static_cast<unsigned>(*count - sent),
                           MSG_DONTWAIT);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  counters_.bytes_out += sent * size;
  state_->bytes_sent += sent * size;
  if (sent < *count) {
    ++counters_.drops;
    core_.viewerDropped(viewer_);
    return false;
  }
  if (unit.keyframe) viewer_.needs_keyframe = false;
  ++state_->frames_sent;
  core_.viewerDelivered(viewer_);
  return true;
}

void GamestreamProtocol::serveAudio(const AccessUnit& packet) {
  if (!impl_ || !impl_->audio || state_->audio_peer.family == 0) return;
  const abi::GamestreamStreamParams& s = state_->params;
  const uint32_t channels = abi::opusFormatChannels(packet.format);
  const uint32_t samples = abi::opusFormatSamples(packet.format);
  if (channels != s.audio_channels || samples != s.audio_packet_ms * 48) {
    // The client's decoder is set up for its layout and duration: anything else is noise to it.
    ++state_->audio_packets_dropped;
    ++counters_.drops;
    if (!impl_->audio_refusal_logged)
      spdlog::warn(
          "GameStream: audio packets of {} channels x {} samples dropped: the client "
          "decodes {} channels x {} (logged once per stream)",
          channels, samples, s.audio_channels, s.audio_packet_ms * 48);
    impl_->audio_refusal_logged = true;
    return;
  }
  AudioStreamCounters counters{state_->audio_rtp_seq, state_->audio_timestamp};
  auto datagrams = impl_->audio->packetize(packet.data, counters);
  if (!datagrams) {
    ++state_->audio_packets_dropped;
    ++counters_.errors;
    spdlog::debug("GameStream: audio packet {} not sent: {}", packet.frame_number,
                  datagrams.error().message);
    return;
  }
  // Taken before anything goes out: a kill leaves a gap, never a reused sequence number (IV).
  state_->audio_rtp_seq = counters.next_rtp_seq;
  state_->audio_timestamp = counters.next_timestamp;
  socklen_t length = 0;
  const sockaddr_storage to = addressOf(state_->audio_peer, &length);
  bool whole = true;
  for (std::span<const uint8_t> d : *datagrams) {
    if (sendto(audio_fd_, d.data(), d.size(), MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&to),
               length) != static_cast<ssize_t>(d.size())) {
      whole = false;
      continue;
    }
    counters_.bytes_out += d.size();
  }
  if (whole) {
    ++state_->audio_packets_sent;
  } else {
    ++state_->audio_packets_dropped;
    ++counters_.drops;
  }
}

void GamestreamProtocol::sweep(uint64_t now_ns) {
  followLaunch(now_ns);
  impl_->events.clear();
  impl_->enet.service(now_ns, impl_->outbox, impl_->events);
  flushControl();
  for (const EnetEvent& e : impl_->events)
    if (e.kind == EnetEvent::Kind::kTimeout || e.kind == EnetEvent::Kind::kDisconnect) {
      endStream("the control stream timed out", false);
      break;
    }
}

}  // namespace funkhaus::net::gamestream
