// NetCore: start (the protocols of the page, their endpoints), adoption of kept connections,
// access units, keyframe requests, timers and the sweep. Connections: connections.cpp.
#include "funkhaus/net/net_core.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstring>

#include "funkhaus/abi/codec.h"
#include "funkhaus/abi/message.h"
#include "funkhaus/abi/packet_ring.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/net/protocols.h"
#include "funkhaus/net/socket_address.h"

namespace funkhaus::net {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kCloseGraceNs = 2000 * kMs;  // for a last response to go out
constexpr auto kSweepEvery = 250ms;

// An endpoint as its declaration says it must be: a listening TCP or a bound UDP socket.
Result<uint16_t> checkEndpoint(NativeSocket fd, const EndpointDeclaration& d) {
  const uint16_t port = portOf(localAddress(fd));
  if (d.kind == EndpointKind::kTcpListen) {
    if (!isStreamSocket(fd) || !isListening(fd))
      return makeError("the {} socket is not a listening stream socket", d.name);
  } else if (!isDatagramSocket(fd) || port == 0) {
    return makeError("the {} socket is not a bound datagram socket", d.name);
  }
  if (d.even && port % 2 != 0) return makeError("the {} port {} is not even", d.name, port);
  return port;
}

}  // namespace

NetCore::NetCore(asio::io_context& io, NetState& state, NetOptions options, SupervisorLink link)
    : io_(io),
      state_(state),
      options_(std::move(options)),
      link_(std::move(link)),
      viewers_(uint64_t{options_.core.keyframe_interval_ms} * kMs),
      keyframe_timer_(io),
      accept_timer_(io),
      peek_(kDatagramCapacity),
      sink_(kPeekCapacity) {}

NetCore::~NetCore() {
  // Leave every connection open: funkhausd keeps the kept ones for the next net.
  for (auto& [id, c] : connections_) c->socket_.close();
}

Result<std::unique_ptr<NetCore>> NetCore::create(asio::io_context& io, NetState& state,
                                                 Handover handover, NetOptions options,
                                                 SupervisorLink link) {
  std::unique_ptr<NetCore> core(new NetCore(io, state, std::move(options), std::move(link)));
  if (auto ok = core->start(std::move(handover)); !ok) return ok.error();
  return core;
}

// --------------------------------------------------------------------------------------------
// start, endpoints and adoption

Result<void> NetCore::start(Handover handover) {
  if (handover.input) input_.emplace(std::move(*handover.input));  // before protocols start
  audio_ = handover.audio;
  const auto enabled = state_.protocols();
  if (enabled.empty())
    return makeError("net state page: funkhausd reserved no protocol blob: nothing to serve");
  for (abi::NetProtocol id : enabled) {
    const ProtocolDeclaration* declaration = findProtocol(id);
    auto protocol = makeProtocol(id, *this);
    if (declaration == nullptr || !protocol)
      return makeError("net state page: this build has no protocol {}", static_cast<uint32_t>(id));
    if (auto ok = takeEndpoints(*declaration, *protocol, handover.endpoints); !ok) return ok;
    protocols_.push_back(std::move(protocol));
  }
  for (auto& [tag, fd] : handover.endpoints)
    if (fd.valid())
      spdlog::warn("endpoint 0x{:x}: no protocol served here declares it; closed", tag);
  for (auto& p : protocols_)
    if (auto ok = p->start(); !ok) return ok;
  adopt(std::move(handover.connections));
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    if (endpoints_[i].declaration->kind == EndpointKind::kTcpListen)
      armAccept(endpoints_[i]);
    else
      armDatagrams(endpoints_[i]);
  }
  every(kSweepEvery, [this] { sweep(); });
  // funkhausd learns at once what this net wants (a predecessor may have left audio on).
  if (audio_) sendAudioRequest();
  return {};
}

Result<void> NetCore::takeEndpoints(const ProtocolDeclaration& declaration, Protocol& protocol,
                                    std::vector<std::pair<uint32_t, UniqueFd>>& handed) {
  for (const EndpointDeclaration& d : declaration.endpoints) {
    if (d.worker != abi::WorkerKind::kNet) continue;  // another worker serves it
    UniqueFd fd;
    for (auto& [tag, handed_fd] : handed) {
      if (tag != d.tag || !handed_fd.valid()) continue;
      if (fd.valid()) {
        spdlog::warn("endpoint {}: funkhausd sent two; keeping the first", d.name);
        handed_fd.reset();
        continue;
      }
      fd = std::move(handed_fd);
    }
    if (!fd.valid())
      return makeError("funkhausd handed over no {} endpoint (tag 0x{:x}) for {}", d.name, d.tag,
                       declaration.name);
    auto port = checkEndpoint(socketOf(fd), d);
    if (!port) return port.error();
    if (d.port == PortSetting::kRelative) {
      const NativeSocket leader = endpointFd(d.follows);
      const uint16_t expected = static_cast<uint16_t>(portOf(localAddress(leader)) + d.offset);
      if (*port != expected)
        return makeError("the {} port {} is not the port of its pair + {} ({})", d.name, *port,
                         d.offset, expected);
    }
    if (auto ok = setNonBlocking(socketOf(fd)); !ok) return ok;
    Endpoint e;
    e.tag = d.tag;
    e.declaration = &d;
    e.protocol = &protocol;
    e.socket = std::make_unique<WatchedSocket>(io_, socketOf(fd));
    (void)fd.release();  // the watched socket owns it now
    endpoints_.push_back(std::move(e));
  }
  return {};
}

NativeSocket NetCore::endpointFd(uint32_t tag) const {
  for (const Endpoint& e : endpoints_)
    if (e.tag == tag) return e.socket->native();
  return kNoSocket;
}

void NetCore::adopt(std::vector<std::pair<uint32_t, UniqueFd>> handed) {
  std::array<UniqueFd, abi::kMaxConnections> fds;
  for (auto& [slot, fd] : handed) {
    if (slot >= abi::kMaxConnections) continue;  // the channel already refuses these
    if (fds[slot].valid()) {
      spdlog::warn("connection slot {}: funkhausd sent two sockets; keeping the first", slot);
      continue;
    }
    fds[slot] = std::move(fd);
  }
  for (uint32_t i = 0; i < abi::kMaxConnections; ++i) {
    abi::NetConnectionSlot& slot = state_.connection(i);
    UniqueFd fd = std::move(fds[i]);
    auto drop = [&](const std::string& why) {
      spdlog::warn("connection slot {}: not continued: {}", i, why);
      state_.freeConnection(i);
      if (fd.valid()) {
        shutdownBoth(socketOf(fd));
        if (link_.release) link_.release(i);
      }
    };
    if (auto valid = validateConnectionSlot(slot); !valid) {
      drop("invalid state left by the previous net: " + valid.error().message);
      continue;
    }
    if (abi::atomicLoad(slot.state) == static_cast<uint32_t>(abi::ConnectionState::kFree)) {
      if (fd.valid()) {
        spdlog::warn("connection slot {}: funkhausd kept a socket for a free slot; releasing it",
                     i);
        shutdownBoth(socketOf(fd));
        if (link_.release) link_.release(i);
      }
      continue;
    }
    if (!fd.valid()) {
      drop("funkhausd kept no connection for it");
      continue;
    }
    Protocol* protocol = nullptr;
    for (auto& p : protocols_)
      if (static_cast<uint32_t>(p->id()) == slot.protocol) protocol = p.get();
    if (protocol == nullptr) {
      drop(fmt::format("its protocol {} is not served", slot.protocol));
      continue;
    }
    const NativeSocket socket = socketOf(fd);
    if (!isStreamSocket(socket)) {
      drop("its kept socket is not a stream socket");
      continue;
    }
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    if (getpeername(socket, reinterpret_cast<sockaddr*>(&peer), &len) != 0) {
      drop(fmt::format("its connection is gone ({})", lastSocketErrorText()));
      continue;
    }
    auto queue = OutputQueue::resume(socket, slot);
    if (!queue) {
      drop("its output cannot be continued: " + queue.error().message);
      continue;
    }
    (void)setNonBlocking(socket);
    (void)fd.release();  // the connection owns it now
    auto c = addConnection(socket, peer, *protocol);
    c->out_ = std::move(*queue);
    c->slot_ = static_cast<int>(i);
    kept_[i] = c.get();
    setLowat(*c, 1);  // a previous net may have left it raised
    if (auto adopted = protocol->adopt(*c, slot.session); !adopted) {
      spdlog::warn("connection slot {}: not continued: {}", i, adopted.error().message);
      c->out_.mirrorTo(nullptr);
      kept_[i] = nullptr;
      c->slot_ = -1;
      state_.freeConnection(i);
      shutdownBoth(c->fd());
      if (link_.release) link_.release(i);
      c->closed_ = true;
      c->socket_.close();
      connections_.erase(c->id_);
      continue;
    }
    flush(*c);
    if (!c->closed_) armRead(*c);
  }
  for (auto& p : protocols_) p->adopted();
}

// --------------------------------------------------------------------------------------------
// media, keyframes, timers

uint64_t NetCore::onAccessUnit(const AccessUnit& au) {
  const auto codec = media::codecFromId(au.codec);
  if (!codec) {
    ++counters_.errors;
    spdlog::warn("frame {}: unknown codec {}; dropped", au.frame_number, au.codec);
    return 0;
  }
  media::splitAnnexB(au.data, nals_);
  bool keyframe = (au.flags & abi::kRecordFlagKeyframe) != 0;
  for (media::NalUnit nal : nals_) keyframe = keyframe || media::isKeyframeNal(*codec, nal);
  const MediaUnit unit{au, *codec, nals_, keyframe,
                       (au.flags & abi::kRecordFlagDiscontinuity) != 0};
  bool any = false;
  for (auto& p : protocols_) any = p->serve(unit) || any;
  if (!any) return 0;
  ++counters_.frames_out;
  return monotonicNs();
}

void NetCore::onAudioPacket(const AccessUnit& packet) {
  const uint32_t channels = abi::opusFormatChannels(packet.format);
  const uint32_t samples = abi::opusFormatSamples(packet.format);
  if (packet.codec != static_cast<uint32_t>(abi::Codec::kOpus) || channels == 0 || channels > 8 ||
      samples == 0 || samples > 48 * 120 || packet.data.empty()) {
    ++counters_.errors;
    ++counters_.audio_bad;
    if (!audio_refusal_logged_)
      spdlog::warn(
          "audio packet {}: codec {}, format 0x{:x} is no Opus packet net can send; "
          "dropped (logged once)",
          packet.frame_number, packet.codec, packet.format);
    audio_refusal_logged_ = true;
    return;
  }
  for (auto& p : protocols_) p->serveAudio(packet);
}

void NetCore::requestAudio(const Protocol& protocol, uint64_t request) {
  if (!audio_) return;
  auto it = std::find_if(audio_requests_.begin(), audio_requests_.end(),
                         [&](const auto& r) { return r.first == &protocol; });
  if (it == audio_requests_.end())
    audio_requests_.emplace_back(&protocol, request);
  else
    it->second = request;
  sendAudioRequest();
}

void NetCore::sendAudioRequest() {
  uint64_t wanted = 0;
  for (const auto& [protocol, request] : audio_requests_) {
    if (!abi::audioRequested(request)) continue;
    const bool named = abi::audioRequestChannels(request) != 0;
    if (wanted == 0 || (named && abi::audioRequestChannels(wanted) == 0)) wanted = request;
  }
  if (audio_sent_ == wanted) return;
  audio_sent_ = wanted;
  if (wanted == 0)
    spdlog::info("audio: nobody listens");
  else
    spdlog::info("audio: listeners want {} channels (0: the audio worker's), {} ms packets",
                 abi::audioRequestChannels(wanted), abi::audioRequestPacketMs(wanted));
  if (link_.requestAudio) link_.requestAudio(wanted);
}

NetCounters NetCore::counters() const {
  NetCounters c = counters_;
  c.keyframes_requested = viewers_.requests();
  for (const auto& p : protocols_) {
    const ProtocolCounters pc = p->counters();
    c.bytes_out += pc.bytes_out;
    c.drops += pc.drops;
    c.errors += pc.errors;
    c.keyframes_received += pc.keyframes_received;
  }
  return c;
}

std::vector<std::string> NetCore::describe() const {
  std::vector<std::string> out;
  for (const auto& p : protocols_) out.push_back(p->describe());
  return out;
}

void NetCore::every(std::chrono::nanoseconds period, std::function<void()> tick) {
  auto& t = timers_.emplace_back(std::make_unique<Timer>(io_));
  t->period = period;
  t->tick = std::move(tick);
  armTimer(*t);
}

void NetCore::armTimer(Timer& t) {
  t.timer.expires_after(t.period);
  t.timer.async_wait([this, &t](const boost::system::error_code& ec) {
    if (ec) return;
    t.tick();
    armTimer(t);
  });
}

void NetCore::requestKeyframe() {
  if (viewers_.want(monotonicNs())) return sendKeyframeRequest();
  if (keyframe_timer_armed_) return;
  const auto due = viewers_.dueAt();
  if (!due) return;
  keyframe_timer_armed_ = true;
  const uint64_t now = monotonicNs();
  keyframe_timer_.expires_after(std::chrono::nanoseconds(*due > now ? *due - now : 0));
  keyframe_timer_.async_wait([this](const boost::system::error_code& ec) {
    keyframe_timer_armed_ = false;
    if (ec) return;
    if (viewers_.due(monotonicNs()))
      sendKeyframeRequest();
    else if (viewers_.dueAt())
      requestKeyframe();
  });
}

void NetCore::sendKeyframeRequest() {
  if (link_.requestKeyframe) link_.requestKeyframe();
}

void NetCore::viewerStarted(Viewer& viewer, bool second_keyframe) {
  if (viewers_.started(viewer, monotonicNs(), second_keyframe)) requestKeyframe();
}

void NetCore::viewerDropped(Viewer& viewer) {
  if (viewers_.dropped(viewer, monotonicNs())) requestKeyframe();
}

void NetCore::requestMode(uint32_t width, uint32_t height, uint32_t refresh_hz) {
  if (link_.requestMode) link_.requestMode(width, height, refresh_hz);
}

void NetCore::sweep() {
  const uint64_t now = monotonicNs();
  const uint64_t header_timeout = uint64_t{options_.core.header_timeout_ms} * kMs;
  const uint64_t idle_timeout = uint64_t{options_.core.idle_timeout_s} * 1'000'000'000u;
  std::vector<std::pair<std::shared_ptr<Connection>, const char*>> to_close;
  for (auto& [id, c] : connections_) {
    if (c->closed_) continue;
    if (c->partial_since_ns_ != 0 && now - c->partial_since_ns_ > header_timeout)
      to_close.emplace_back(c, "no complete request within the header timeout");
    else if (c->closing_ && now - c->closing_since_ns_ > kCloseGraceNs)
      to_close.emplace_back(c, "does not take its last response");
    else if (c->slot_ < 0 && now - c->last_input_ns_ > idle_timeout)
      to_close.emplace_back(c, "idle without a session");
  }
  for (auto& [c, why] : to_close) close(*c, why, CloseHow::kAbortive);  // silent or stuck
  for (auto& p : protocols_) p->sweep(now);
  if (viewers_.sweep(now)) requestKeyframe();
}

}  // namespace funkhaus::net
