// RTSP/RTP server. Connections are read with MSG_PEEK and consumed one whole unit (request or
// '$' frame) at a time, so bytes a viewer sent are never lost to a net restart: whatever the
// dead net had not consumed is still in the kernel for the next one. An incomplete unit raises
// SO_RCVLOWAT so the loop sleeps until more bytes arrive.
#include "funkhaus/net/net_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <array>
#include <atomic>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>

#include "funkhaus/common/clock.h"
#include "funkhaus/net/output_queue.h"
#include "funkhaus/net/rtcp.h"
#include "funkhaus/net/rtp_packetizer.h"
#include "funkhaus/net/rtsp_request.h"
#include "funkhaus/net/rtsp_transport.h"
#include "funkhaus/net/sdp.h"

namespace funkhaus::net {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Descriptor = asio::posix::stream_descriptor;

namespace {

constexpr size_t kPeekCapacity = 16 * 1024;            // > any unit RtspLimits allows
constexpr size_t kMaxQueuedControlBytes = 256 * 1024;  // responses a client does not read
constexpr size_t kMaxBatch = 64;                       // RTP packets per sendmmsg
constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kKeyframeRetryNs = 1000 * kMs;  // re-ask while a viewer waits
constexpr uint64_t kCloseGraceNs = 2000 * kMs;     // for a last response to go out
constexpr uint64_t kJoinKeyframeNs = 1000 * kMs;   // second keyframe after PLAY
// A TCP viewer is too slow when the ends of this many of its latest frames are still in the
// kernel's unsent queue: it is that many frames behind, and more frames would only add latency.
constexpr size_t kMaxFramesBehind = 3;
// Keyframe requests on behalf of one congested viewer back off from this to kMaxCongestionBackoff
// (a viewer that stays stalled must not make the encoder send IDRs to everyone all the time).
constexpr uint64_t kMinCongestionBackoffNs = 500 * kMs;
constexpr uint64_t kMaxCongestionBackoffNs = 16'000 * kMs;
constexpr auto kSweepEvery = 250ms;
constexpr auto kReportEvery = 1s;
constexpr const char* kPublic =
    "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER";

uint64_t randomBits() {
  uint64_t v = 0;
  auto* p = reinterpret_cast<char*>(&v);
  size_t got = 0;
  while (got < sizeof v) {
    const ssize_t n = getrandom(p + got, sizeof v - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
    // EINTR: try again; getrandom without GRND_NONBLOCK blocks only before the pool is ready.
  }
  return v;
}

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Request Entity Too Large";
    case 414:
      return "Request-URI Too Large";
    case 451:
      return "Parameter Not Understood";
    case 453:
      return "Not Enough Bandwidth";
    case 454:
      return "Session Not Found";
    case 455:
      return "Method Not Valid in This State";
    case 461:
      return "Unsupported Transport";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "RTSP Version Not Supported";
    case 551:
      return "Option not supported";
    default:
      return "Error";
  }
}

std::string formatAddress(const sockaddr_storage& a) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (a.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(a);
    inet_ntop(AF_INET, &in.sin_addr, host, sizeof host);
    return fmt::format("{}:{}", host, ntohs(in.sin_port));
  }
  if (a.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(a);
    inet_ntop(AF_INET6, &in6.sin6_addr, host, sizeof host);
    return fmt::format("[{}]:{}", host, ntohs(in6.sin6_port));
  }
  return "?";
}

// An IPv4-mapped IPv6 address becomes plain IPv4 (so it matches what a viewer sends from).
sockaddr_storage unmapped(const sockaddr_storage& a) {
  if (a.ss_family != AF_INET6) return a;
  const auto& in6 = reinterpret_cast<const sockaddr_in6&>(a);
  if (!IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) return a;
  sockaddr_storage out{};
  auto& in = reinterpret_cast<sockaddr_in&>(out);
  in.sin_family = AF_INET;
  in.sin_port = in6.sin6_port;
  std::memcpy(&in.sin_addr, in6.sin6_addr.s6_addr + 12, 4);
  return out;
}

uint16_t portOf(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
  return 0;
}

bool isStreamSocket(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

}  // namespace

struct Connection {
  Connection(asio::io_context& io, int fd) : socket(io, fd) {}
  int fd() { return socket.native_handle(); }

  uint64_t id = 0;
  Descriptor socket;
  OutputQueue out;
  int slot = -1;  // viewer slot once SETUP is done
  bool reading = false;
  bool writing = false;
  bool closing = false;  // close once the output is written
  bool closed = false;
  std::optional<RtspRequest> deferred;  // a DESCRIBE waiting for parameter sets
  uint64_t deferred_since_ns = 0;
  int lowat = -1;  // SO_RCVLOWAT as last set, -1 unknown
  uint64_t partial_since_ns = 0;
  uint64_t skip = 0;  // bytes of an ignored '$' frame still to drop
  uint64_t last_request_ns = 0;
  uint64_t closing_since_ns = 0;
  uint64_t join_keyframe_ns = 0;  // ask for one more keyframe then (see handlePlay)
  // Slow viewers: stream positions where its latest frames end, and the keyframe backoff.
  std::array<uint64_t, kMaxFramesBehind> frame_ends{};
  size_t frame_count = 0;
  bool congested = false;
  uint64_t congestion_backoff_ns = kMinCongestionBackoffNs;
  uint64_t next_congestion_request_ns = 0;
  sockaddr_storage peer{};
  sockaddr_storage local{};
  std::string name;  // for logs
};

struct NetServer::Impl {
  Impl(asio::io_context& io_context, NetState& net_state, ServerOptions o, SupervisorLink l)
      : io(io_context),
        state(net_state),
        opt(std::move(o)),
        link(std::move(l)),
        listener(io_context),
        rtp(io_context),
        rtcp(io_context),
        sweep_timer(io_context),
        report_timer(io_context),
        keyframe_timer(io_context),
        accept_timer(io_context),
        peek(kPeekCapacity),
        sink(kPeekCapacity) {}

  ~Impl() {
    // Leave every connection open: funkhausd keeps the viewers' sockets for the next net.
    for (auto& [id, c] : conns) {
      boost::system::error_code ec;
      c->socket.close(ec);
    }
  }

  Result<void> start(ServerSockets sockets);
  void adopt(std::vector<std::pair<uint32_t, UniqueFd>> viewers);

  // connections
  std::shared_ptr<Connection> find(uint64_t id) {
    auto it = conns.find(id);
    return it == conns.end() ? nullptr : it->second;
  }
  std::shared_ptr<Connection> addConnection(int fd, const sockaddr_storage& peer);
  void armAccept();
  void acceptAll();
  void armRead(const std::shared_ptr<Connection>& c);
  void onReadable(const std::shared_ptr<Connection>& c);
  bool consume(const std::shared_ptr<Connection>& c, size_t bytes);
  void setLowat(const std::shared_ptr<Connection>& c, int bytes);
  void armWrite(const std::shared_ptr<Connection>& c);
  void flush(const std::shared_ptr<Connection>& c);
  void closeConnection(const std::shared_ptr<Connection>& c, const std::string& why);
  void closeAfterFlush(const std::shared_ptr<Connection>& c);
  void endViewer(const std::shared_ptr<Connection>& c);

  // RTSP
  void handleRequest(const std::shared_ptr<Connection>& c, const RtspRequest& r);
  void respond(const std::shared_ptr<Connection>& c, int status, std::optional<uint32_t> cseq,
               const std::string& headers = "", const std::string& body = "",
               const char* content_type = nullptr);
  void handleDescribe(const std::shared_ptr<Connection>& c, const RtspRequest& r, uint32_t cseq);
  void answerDescribe(const std::shared_ptr<Connection>& c, const RtspRequest& r, uint32_t cseq);
  void handleSetup(const std::shared_ptr<Connection>& c, const RtspRequest& r, uint32_t cseq);
  void handlePlay(const std::shared_ptr<Connection>& c, const RtspRequest& r, uint32_t cseq);
  void answerDeferred(uint64_t now);
  bool isAggregatePath(const std::string& path) const;
  bool isTrackPath(const std::string& path) const;
  std::optional<uint32_t> sessionSlot(const std::shared_ptr<Connection>& c, const RtspRequest& r);
  std::string sessionHeader(uint32_t slot) const;

  // media
  uint64_t onAccessUnit(const AccessUnit& unit);
  bool sendUdp(const std::shared_ptr<Connection>& c, abi::RtspViewerSlot& s, const AccessUnit& au);
  bool sendTcp(const std::shared_ptr<Connection>& c, abi::RtspViewerSlot& s, const AccessUnit& au);
  void dropFrame(const std::shared_ptr<Connection>& c, abi::RtspViewerSlot& s);
  void delivered(const std::shared_ptr<Connection>& c);
  size_t framesBehind(const std::shared_ptr<Connection>& c);
  sockaddr_storage viewerAddress(const abi::RtspViewerSlot& s, uint16_t port, socklen_t* len) const;
  void sendReports();
  void armRtcp();
  void armRtpDrain();
  void handleRtcp(std::span<const uint8_t> data, int slot_hint);
  std::optional<uint32_t> slotByAddress(const sockaddr_storage& from) const;
  void requestKeyframe();
  void sendKeyframeRequest();
  void release(uint32_t slot) {
    if (link.release) link.release(slot);
  }
  void sweep();
  void armSweep();
  void armReports();

  asio::io_context& io;
  NetState& state;
  ServerOptions opt;
  SupervisorLink link;
  Descriptor listener, rtp, rtcp;
  asio::steady_timer sweep_timer, report_timer, keyframe_timer, accept_timer;
  std::map<uint64_t, std::shared_ptr<Connection>> conns;
  std::array<std::shared_ptr<Connection>, abi::kMaxConnections> viewers{};
  uint64_t next_id = 1;
  ServerCounters counters;
  ParameterSets sets;  // the latest seen; complete() once SPS/PPS(/VPS) are known
  bool codec_known = false;
  uint64_t last_capture_ns = 0;
  uint64_t last_keyframe_request_ns = 0;
  bool keyframe_timer_armed = false;
  int udp_family = AF_INET;
  uint16_t server_rtp_port = 0;
  sockaddr_storage listen_addr{};
  std::string cname;
  std::vector<uint8_t> peek, sink;
  std::vector<NalUnit> nals;
  std::vector<RtpFragment> fragments;
  std::vector<uint8_t> frame_unit;
};

// --------------------------------------------------------------------------------------------
// start and adoption

Result<void> NetServer::Impl::start(ServerSockets s) {
  if (!s.listen.valid() || !s.rtp.valid() || !s.rtcp.valid())
    return makeError("missing socket: listen {}, rtp {}, rtcp {}", s.listen.valid(), s.rtp.valid(),
                     s.rtcp.valid());
  int listening = 0;
  socklen_t len = sizeof listening;
  if (!isStreamSocket(s.listen.get()) ||
      getsockopt(s.listen.get(), SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening)
    return makeError("the RTSP socket is not a listening stream socket");
  len = sizeof listen_addr;
  if (getsockname(s.listen.get(), reinterpret_cast<sockaddr*>(&listen_addr), &len) != 0)
    return makeError("getsockname of the RTSP socket: {}", std::strerror(errno));
  sockaddr_storage rtp_addr{}, rtcp_addr{};
  socklen_t rl = sizeof rtp_addr, cl = sizeof rtcp_addr;
  int type = 0;
  socklen_t tl = sizeof type;
  if (getsockopt(s.rtp.get(), SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_DGRAM ||
      getsockname(s.rtp.get(), reinterpret_cast<sockaddr*>(&rtp_addr), &rl) != 0)
    return makeError("the RTP socket is not a bound datagram socket");
  tl = sizeof type;
  if (getsockopt(s.rtcp.get(), SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_DGRAM ||
      getsockname(s.rtcp.get(), reinterpret_cast<sockaddr*>(&rtcp_addr), &cl) != 0)
    return makeError("the RTCP socket is not a bound datagram socket");
  server_rtp_port = portOf(rtp_addr);
  if (server_rtp_port == 0 || server_rtp_port % 2 != 0 || portOf(rtcp_addr) != server_rtp_port + 1)
    return makeError("RTP/RTCP ports {}/{} are not an even port and the next one", server_rtp_port,
                     portOf(rtcp_addr));
  udp_family = rtp_addr.ss_family;
  for (int fd : {s.listen.get(), s.rtp.get(), s.rtcp.get()}) {
    const int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
      return makeError("O_NONBLOCK: {}", std::strerror(errno));
  }
  listener.assign(s.listen.release());
  rtp.assign(s.rtp.release());
  rtcp.assign(s.rtcp.release());
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  cname = fmt::format("funkhaus@{}", host);

  if (auto kept = state.parameterSets()) {
    sets = *kept;
    codec_known = true;
    spdlog::info("kept {} parameter sets from the previous net", media::codecName(sets.codec));
  }
  adopt(std::move(s.viewers));
  armAccept();
  armRtcp();
  armRtpDrain();
  armSweep();
  armReports();
  return {};
}

void NetServer::Impl::adopt(std::vector<std::pair<uint32_t, UniqueFd>> kept) {
  std::array<UniqueFd, abi::kMaxConnections> fds;
  for (auto& [slot, fd] : kept) {
    if (slot >= abi::kMaxConnections) continue;  // the channel already refuses these
    if (fds[slot].valid()) {
      spdlog::warn("slot {}: funkhausd sent two sockets; keeping the first", slot);
      continue;
    }
    fds[slot] = std::move(fd);
  }
  bool any_playing = false;
  for (uint32_t i = 0; i < abi::kMaxConnections; ++i) {
    abi::RtspViewerSlot& s = state.slot(i);
    UniqueFd fd = std::move(fds[i]);
    auto drop = [&](const std::string& why) {
      spdlog::warn("slot {}: not continued: {}", i, why);
      state.freeSlot(i);
      if (fd.valid()) {
        ::shutdown(fd.get(), SHUT_RDWR);
        release(i);
      }
    };
    if (auto valid = validateViewerSlot(s); !valid) {
      drop("invalid state left by the previous net: " + valid.error().message);
      continue;
    }
    if (auto valid = validateConnectionSlot(state.connection(i)); !valid) {
      drop("invalid connection state left by the previous net: " + valid.error().message);
      continue;
    }
    const uint32_t st = abi::atomicLoad(s.state);
    if (st == static_cast<uint32_t>(abi::ViewerState::kFree)) {
      if (fd.valid()) {
        spdlog::warn("slot {}: funkhausd kept a socket for a free slot; releasing it", i);
        ::shutdown(fd.get(), SHUT_RDWR);
        release(i);
      }
      continue;
    }
    if (!fd.valid()) {
      drop("funkhausd kept no connection for it");
      continue;
    }
    if (!isStreamSocket(fd.get())) {
      drop("its kept socket is not a stream socket");
      continue;
    }
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    if (getpeername(fd.get(), reinterpret_cast<sockaddr*>(&peer), &len) != 0) {
      drop(fmt::format("its connection is gone ({})", std::strerror(errno)));
      continue;
    }
    auto queue = OutputQueue::resume(fd.get(), state.connection(i));
    if (!queue) {
      drop("its output cannot be continued: " + queue.error().message);
      continue;
    }
    const int flags = fcntl(fd.get(), F_GETFL);
    if (flags >= 0) fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK);
    auto c = addConnection(fd.release(), peer);
    c->out = std::move(*queue);
    c->slot = static_cast<int>(i);
    c->last_request_ns = monotonicNs();
    viewers[i] = c;
    setLowat(c, 1);  // a previous net may have left it raised
    if (st == static_cast<uint32_t>(abi::ViewerState::kPlaying)) {
      s.flags |= abi::kViewerFlagNeedsKeyframe;
      any_playing = true;
    }
    spdlog::info("slot {}: continuing {} viewer {} (session {}, {}, seq {})", i,
                 st == static_cast<uint32_t>(abi::ViewerState::kPlaying) ? "playing" : "ready",
                 c->name, formatSessionId(s.session_id),
                 s.transport == static_cast<uint32_t>(abi::ViewerTransport::kUdp) ? "UDP" : "TCP",
                 s.next_sequence & 0xFFFF);
    flush(c);
    if (!c->closed) armRead(c);
  }
  if (any_playing) requestKeyframe();
}

// --------------------------------------------------------------------------------------------
// connections

std::shared_ptr<Connection> NetServer::Impl::addConnection(int fd, const sockaddr_storage& peer) {
  auto c = std::make_shared<Connection>(io, fd);
  c->id = next_id++;
  c->peer = unmapped(peer);
  socklen_t len = sizeof c->local;
  getsockname(fd, reinterpret_cast<sockaddr*>(&c->local), &len);
  c->local = unmapped(c->local);
  c->name = fmt::format("#{} {}", c->id, formatAddress(c->peer));
  c->last_request_ns = monotonicNs();
  conns.emplace(c->id, c);
  return c;
}

void NetServer::Impl::armAccept() {
  listener.async_wait(Descriptor::wait_read, [this](const boost::system::error_code& ec) {
    if (ec) return;
    acceptAll();
  });
}

void NetServer::Impl::acceptAll() {
  for (int i = 0; i < 64; ++i) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    const int fd = accept4(listener.native_handle(), reinterpret_cast<sockaddr*>(&peer), &len,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      // Out of fds or memory: the socket stays readable, so wait a little instead of spinning.
      ++counters.errors;
      spdlog::error("accept: {}", std::strerror(errno));
      accept_timer.expires_after(100ms);
      accept_timer.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) armAccept();
      });
      return;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // Connections without a session are capped: the least recently active one makes room.
    size_t without_session = 0;
    std::shared_ptr<Connection> idlest;
    for (auto& [id, c] : conns) {
      if (c->slot >= 0) continue;
      ++without_session;
      if (!idlest || c->last_request_ns < idlest->last_request_ns) idlest = c;
    }
    if (without_session >= opt.max_connections && idlest)
      closeConnection(idlest, "too many connections without a session");
    auto c = addConnection(fd, peer);
    ++counters.connections;
    spdlog::info("connection {}", c->name);
    setLowat(c, 1);
    armRead(c);
  }
  armAccept();
}

void NetServer::Impl::armRead(const std::shared_ptr<Connection>& c) {
  if (c->reading || c->closed || c->closing || c->deferred) return;
  c->reading = true;
  c->socket.async_wait(Descriptor::wait_read,
                       [this, id = c->id](const boost::system::error_code& ec) {
                         auto conn = find(id);
                         if (!conn) return;
                         conn->reading = false;
                         if (ec) return;
                         onReadable(conn);
                       });
}

void NetServer::Impl::setLowat(const std::shared_ptr<Connection>& c, int bytes) {
  if (c->lowat == bytes) return;
  if (setsockopt(c->fd(), SOL_SOCKET, SO_RCVLOWAT, &bytes, sizeof bytes) == 0) c->lowat = bytes;
}

bool NetServer::Impl::consume(const std::shared_ptr<Connection>& c, size_t bytes) {
  while (bytes > 0) {
    const ssize_t n = recv(c->fd(), sink.data(), std::min(bytes, sink.size()), MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      closeConnection(c, "lost bytes it had peeked");
      return false;
    }
    bytes -= static_cast<size_t>(n);
  }
  return true;
}

void NetServer::Impl::onReadable(const std::shared_ptr<Connection>& c) {
  const RtspLimits limits;
  for (int round = 0; round < 16; ++round) {
    if (c->closed || c->closing || c->deferred) return;
    if (c->skip > 0) {
      const ssize_t n =
          recv(c->fd(), sink.data(), std::min<uint64_t>(c->skip, sink.size()), MSG_DONTWAIT);
      if (n == 0) return closeConnection(c, "closed by the peer");
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return closeConnection(c, std::strerror(errno));
      }
      c->skip -= static_cast<uint64_t>(n);
      continue;
    }
    const ssize_t n = recv(c->fd(), peek.data(), peek.size(), MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return closeConnection(c, "closed by the peer");
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return closeConnection(c, std::strerror(errno));
    }
    const std::span<const uint8_t> input(peek.data(), static_cast<size_t>(n));
    size_t used = 0;
    bool partial = false;
    while (used < input.size() && !c->closed && !c->closing && !c->deferred && c->skip == 0) {
      RtspUnit u = parseRtspUnit(input.subspan(used), limits);
      if (u.kind == RtspUnit::Kind::kNeedMore) {
        partial = true;
        break;
      }
      if (u.kind == RtspUnit::Kind::kBad) {
        spdlog::info("connection {}: {} ({})", c->name, u.error, u.status);
        ++counters.errors;
        respond(c, u.status, std::nullopt);
        closeAfterFlush(c);
        return;
      }
      if (!consume(c, u.consumed)) return;
      used += u.consumed;
      c->partial_since_ns = 0;
      if (u.kind == RtspUnit::Kind::kRequest) {
        handleRequest(c, u.request);
      } else if (u.kind == RtspUnit::Kind::kSkip) {
        c->skip = u.skip;
      } else if (c->slot >= 0) {  // kInterleaved
        const abi::RtspViewerSlot& s = state.slot(static_cast<uint32_t>(c->slot));
        if (s.transport == static_cast<uint32_t>(abi::ViewerTransport::kTcpInterleaved) &&
            u.channel == s.rtcp_channel)
          handleRtcp(u.payload, c->slot);
      }
    }
    if (partial) {
      const size_t pending = input.size() - used;
      if (pending >= peek.size()) {
        respond(c, 400, std::nullopt);
        return closeAfterFlush(c);
      }
      if (c->partial_since_ns == 0) c->partial_since_ns = monotonicNs();
      // A peer that has shut down its side will never complete the unit.
      pollfd p{c->fd(), POLLRDHUP, 0};
      if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
        return closeConnection(c, "closed by the peer mid-request");
      setLowat(c, static_cast<int>(pending + 1));
      break;
    }
    setLowat(c, 1);
  }
  armRead(c);
}

void NetServer::Impl::armWrite(const std::shared_ptr<Connection>& c) {
  if (c->writing || c->closed) return;
  c->writing = true;
  c->socket.async_wait(Descriptor::wait_write,
                       [this, id = c->id](const boost::system::error_code& ec) {
                         auto conn = find(id);
                         if (!conn) return;
                         conn->writing = false;
                         if (ec) return;
                         flush(conn);
                       });
}

void NetServer::Impl::flush(const std::shared_ptr<Connection>& c) {
  if (c->closed) return;
  std::string error;
  const uint64_t before = c->out.bytesWritten();
  const auto result = c->out.flush(c->fd(), &error);
  counters.bytes_out += c->out.bytesWritten() - before;
  switch (result) {
    case OutputQueue::Flush::kClosed:
      ++counters.errors;
      return closeConnection(c, "write failed: " + error);
    case OutputQueue::Flush::kWouldBlock:
      return armWrite(c);
    case OutputQueue::Flush::kDone:
      if (c->closing) closeConnection(c, "closed after the last response");
      return;
  }
}

void NetServer::Impl::endViewer(const std::shared_ptr<Connection>& c) {
  if (c->slot < 0) return;
  const auto slot = static_cast<uint32_t>(c->slot);
  c->out.mirrorTo(nullptr);
  state.freeSlot(slot);
  viewers[slot].reset();
  c->slot = -1;
  release(slot);
}

void NetServer::Impl::closeConnection(const std::shared_ptr<Connection>& c,
                                      const std::string& why) {
  if (c->closed) return;
  c->closed = true;
  spdlog::info("connection {}: {}", c->name, why);
  const bool viewer = c->slot >= 0;
  endViewer(c);
  // funkhausd may still hold a duplicate of a viewer's socket: shutdown ends the connection
  // for the peer at once, whoever else holds it.
  if (viewer || c->closing) ::shutdown(c->fd(), SHUT_RDWR);
  boost::system::error_code ec;
  c->socket.close(ec);
  conns.erase(c->id);
}

void NetServer::Impl::closeAfterFlush(const std::shared_ptr<Connection>& c) {
  if (c->closed) return;
  c->closing = true;
  c->closing_since_ns = monotonicNs();
  flush(c);
}

// --------------------------------------------------------------------------------------------
// RTSP requests

void NetServer::Impl::respond(const std::shared_ptr<Connection>& c, int status,
                              std::optional<uint32_t> cseq, const std::string& headers,
                              const std::string& body, const char* content_type) {
  std::string r = fmt::format("RTSP/1.0 {} {}\r\n", status, reason(status));
  if (cseq) r += fmt::format("CSeq: {}\r\n", *cseq);
  r += "Server: funkhaus\r\n";
  r += headers;
  if (content_type != nullptr) r += fmt::format("Content-Type: {}\r\n", content_type);
  if (!body.empty() || content_type != nullptr)
    r += fmt::format("Content-Length: {}\r\n", body.size());
  r += "\r\n";
  r += body;
  if (!c->out.push(std::span(reinterpret_cast<const uint8_t*>(r.data()), r.size()), false)) {
    spdlog::error("connection {}: a {}-byte response does not fit the output unit", c->name,
                  r.size());
    ++counters.errors;
    return closeConnection(c, "response too large");
  }
  if (c->out.queuedBytes() > kMaxQueuedControlBytes)
    return closeConnection(c, "does not read its responses");
  flush(c);
}

bool NetServer::Impl::isAggregatePath(const std::string& path) const {
  return path == opt.path || path == opt.path + "/";
}

bool NetServer::Impl::isTrackPath(const std::string& path) const {
  const std::string track = opt.path + "/" + kTrackControl;
  return path == track || path == track + "/";
}

std::string NetServer::Impl::sessionHeader(uint32_t slot) const {
  return fmt::format("Session: {};timeout={}\r\n", formatSessionId(state.slot(slot).session_id),
                     opt.session_timeout_s);
}

// The connection's viewer slot if the request names its session.
std::optional<uint32_t> NetServer::Impl::sessionSlot(const std::shared_ptr<Connection>& c,
                                                     const RtspRequest& r) {
  const std::string* header = r.header("Session");
  if (header == nullptr || c->slot < 0) return std::nullopt;
  const auto id = parseSessionId(*header);
  const auto slot = static_cast<uint32_t>(c->slot);
  if (!id || *id != state.slot(slot).session_id) return std::nullopt;
  return slot;
}

void NetServer::Impl::handleRequest(const std::shared_ptr<Connection>& c, const RtspRequest& r) {
  const uint64_t now = monotonicNs();
  c->last_request_ns = now;
  if (c->slot >= 0) state.slot(static_cast<uint32_t>(c->slot)).last_activity_ns = now;
  const auto cseq = r.cseq();
  spdlog::debug("connection {}: {} {}", c->name, r.method, r.uri);
  if (!cseq) {
    respond(c, 400, std::nullopt);
    return closeAfterFlush(c);
  }
  if (const std::string* require = r.header("Require")) {
    return respond(c, 551, cseq, fmt::format("Unsupported: {}\r\n", *require));
  }
  const std::string path = uriPath(r.uri);
  const std::string& m = r.method;
  if (m == "OPTIONS") {
    if (path != "*" && !isAggregatePath(path) && !isTrackPath(path)) return respond(c, 404, cseq);
    return respond(c, 200, cseq, fmt::format("Public: {}\r\n", kPublic));
  }
  if (m == "DESCRIBE") return handleDescribe(c, r, *cseq);
  if (m == "SETUP") return handleSetup(c, r, *cseq);
  if (m == "PLAY") return handlePlay(c, r, *cseq);
  if (m == "GET_PARAMETER" || m == "SET_PARAMETER") {
    if (r.header("Session") != nullptr && !sessionSlot(c, r)) return respond(c, 454, cseq);
    if (m == "SET_PARAMETER" && !r.body.empty()) return respond(c, 451, cseq);
    return respond(c, 200, cseq, c->slot >= 0 ? sessionHeader(static_cast<uint32_t>(c->slot)) : "");
  }
  if (m == "PAUSE" || m == "TEARDOWN") {
    if (!isAggregatePath(path) && !isTrackPath(path) && path != "*") return respond(c, 404, cseq);
    const auto slot = sessionSlot(c, r);
    if (!slot) return respond(c, 454, cseq);
    abi::RtspViewerSlot& s = state.slot(*slot);
    if (m == "PAUSE") {
      abi::atomicRef(s.state).store(static_cast<uint32_t>(abi::ViewerState::kReady),
                                    std::memory_order_release);
      spdlog::info("connection {}: paused", c->name);
      return respond(c, 200, cseq, sessionHeader(*slot));
    }
    respond(c, 200, cseq);
    spdlog::info("connection {}: teardown of session {}", c->name, formatSessionId(s.session_id));
    return endViewer(c);
  }
  respond(c, 501, cseq, fmt::format("Public: {}\r\n", kPublic));
}

void NetServer::Impl::handleDescribe(const std::shared_ptr<Connection>& c, const RtspRequest& r,
                                     uint32_t cseq) {
  const std::string path = uriPath(r.uri);
  if (!isAggregatePath(path)) return respond(c, 404, cseq);
  // rtsp://host/path?mode=1280x720@60: the viewer's display mode for the virtual monitor.
  if (auto mode = uriModeRequest(r.uri)) {
    spdlog::info("connection {}: asks for mode {}x{}{}", c->name, mode->width, mode->height,
                 mode->refresh_hz ? fmt::format(" at {} Hz", mode->refresh_hz) : "");
    if (link.requestMode) link.requestMode(mode->width, mode->height, mode->refresh_hz);
  }
  if (!sets.complete()) {
    // No parameter sets yet (the encoder just started): wait for the next keyframe. The
    // connection stops reading until answerDeferred() answers.
    c->deferred = r;
    c->deferred_since_ns = monotonicNs();
    requestKeyframe();
    return;
  }
  answerDescribe(c, r, cseq);
}

void NetServer::Impl::answerDescribe(const std::shared_ptr<Connection>& c, const RtspRequest& r,
                                     uint32_t cseq) {
  SdpOptions o;
  o.session_id = randomBits() >> 1;
  o.origin_ipv6 = c->local.ss_family == AF_INET6;
  const std::string local = formatAddress(c->local);
  o.origin_address =
      o.origin_ipv6 ? local.substr(1, local.rfind(']') - 1) : local.substr(0, local.rfind(':'));
  const std::string sdp = buildSdp(sets, o);
  std::string base = r.uri;
  if (base.empty() || base.back() != '/') base += '/';
  respond(c, 200, cseq, fmt::format("Content-Base: {}\r\n", base), sdp, "application/sdp");
}

// The waiting DESCRIBEs: all of them once the parameter sets are known, else those that
// waited longer than describe_wait (503).
void NetServer::Impl::answerDeferred(uint64_t now) {
  const uint64_t describe_wait = uint64_t{opt.describe_wait_ms} * kMs;
  std::vector<std::shared_ptr<Connection>> waiting;
  for (auto& [id, c] : conns)
    if (c->deferred && (sets.complete() || now - c->deferred_since_ns > describe_wait))
      waiting.push_back(c);
  for (auto& c : waiting) {
    RtspRequest r = std::move(*c->deferred);
    c->deferred.reset();
    if (c->closed) continue;
    if (sets.complete()) {
      answerDescribe(c, r, r.cseq().value_or(0));
    } else {
      respond(c, 503, r.cseq(), "Retry-After: 1\r\n");
    }
    armRead(c);  // it stopped reading while the DESCRIBE waited
  }
}

void NetServer::Impl::handleSetup(const std::shared_ptr<Connection>& c, const RtspRequest& r,
                                  uint32_t cseq) {
  const std::string path = uriPath(r.uri);
  if (!isAggregatePath(path) && !isTrackPath(path)) return respond(c, 404, cseq);
  if (c->slot >= 0) return respond(c, 455, cseq);  // one stream, set up once per connection
  if (r.header("Session") != nullptr) return respond(c, 454, cseq);
  const std::string* transport_header = r.header("Transport");
  const auto t = transport_header ? chooseTransport(*transport_header) : std::nullopt;
  if (!t) return respond(c, 461, cseq);
  if (!t->tcp) {
    if (c->peer.ss_family != AF_INET && c->peer.ss_family != AF_INET6) return respond(c, 461, cseq);
    if (c->peer.ss_family == AF_INET6 && udp_family == AF_INET) return respond(c, 461, cseq);
  }
  if (!codec_known) return respond(c, 503, cseq, "Retry-After: 1\r\n");
  std::optional<uint32_t> free_slot;
  for (uint32_t i = 0; i < opt.max_viewers && i < abi::kMaxConnections; ++i) {
    if (abi::atomicLoad(state.slot(i).state) == static_cast<uint32_t>(abi::ViewerState::kFree) &&
        !viewers[i]) {
      free_slot = i;
      break;
    }
  }
  if (!free_slot) {
    spdlog::info("connection {}: SETUP refused: {} viewers already", c->name, opt.max_viewers);
    return respond(c, 453, cseq);
  }
  const uint32_t slot = *free_slot;
  state.freeSlot(slot);
  abi::RtspViewerSlot& s = state.slot(slot);
  uint64_t id = 0;
  while (id == 0) id = randomBits();
  const uint64_t bits = randomBits();
  s.session_id = id;
  s.codec = static_cast<uint32_t>(sets.codec);
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
    s.address_family = c->peer.ss_family;
    if (c->peer.ss_family == AF_INET)
      std::memcpy(s.client_address, &reinterpret_cast<const sockaddr_in&>(c->peer).sin_addr, 4);
    else
      std::memcpy(s.client_address, &reinterpret_cast<const sockaddr_in6&>(c->peer).sin6_addr, 16);
    s.client_rtp_port = *t->client_rtp_port;
    s.client_rtcp_port = *t->client_rtcp_port;
    reply = fmt::format(
        "Transport: {};unicast;client_port={}-{};server_port={}-{};ssrc={:08X};mode=play\r\n",
        t->profile, s.client_rtp_port, s.client_rtcp_port, server_rtp_port, server_rtp_port + 1,
        s.ssrc);
  }
  abi::atomicRef(s.state).store(static_cast<uint32_t>(abi::ViewerState::kReady),
                                std::memory_order_release);
  c->slot = static_cast<int>(slot);
  viewers[slot] = c;
  state.keepConnection(slot);
  c->out.mirrorTo(&state.connection(slot));
  if (link.deposit) link.deposit(slot, c->fd());
  spdlog::info("connection {}: SETUP {} -> slot {}, session {}", c->name,
               t->tcp ? "TCP interleaved" : "UDP", slot, formatSessionId(id));
  respond(c, 200, cseq, reply + sessionHeader(slot));
}

void NetServer::Impl::handlePlay(const std::shared_ptr<Connection>& c, const RtspRequest& r,
                                 uint32_t cseq) {
  const std::string path = uriPath(r.uri);
  if (!isAggregatePath(path) && !isTrackPath(path)) return respond(c, 404, cseq);
  const auto slot = sessionSlot(c, r);
  if (!slot) return respond(c, 454, cseq);
  abi::RtspViewerSlot& s = state.slot(*slot);
  if (abi::atomicLoad(s.state) != static_cast<uint32_t>(abi::ViewerState::kPlaying)) {
    s.flags |= abi::kViewerFlagNeedsKeyframe;
    abi::atomicRef(s.state).store(static_cast<uint32_t>(abi::ViewerState::kPlaying),
                                  std::memory_order_release);
  }
  // The viewer starts at the next keyframe; ffmpeg never asks for one itself. One more a second
  // later: ffmpeg with -fflags nobuffer probes the stream first and drops what it probed, the
  // first keyframe included, so with an infinite GOP it would never decode.
  requestKeyframe();
  c->join_keyframe_ns = monotonicNs() + kJoinKeyframeNs;
  std::string url = r.uri;
  if (!isTrackPath(path)) {
    while (!url.empty() && url.back() == '/') url.pop_back();
    url += std::string("/") + kTrackControl;
  }
  // The next keyframe is captured after the latest record, so its timestamp is not earlier.
  const uint64_t at = last_capture_ns != 0 ? last_capture_ns : monotonicNs();
  spdlog::info("connection {}: PLAY session {}", c->name, formatSessionId(s.session_id));
  respond(c, 200, cseq,
          fmt::format("Range: npt=now-\r\nRTP-Info: url={};seq={};rtptime={}\r\n{}", url,
                      s.next_sequence & 0xFFFF, rtpTimestamp(at, s.rtp_timestamp_offset),
                      sessionHeader(*slot)));
}

// --------------------------------------------------------------------------------------------
// media

sockaddr_storage NetServer::Impl::viewerAddress(const abi::RtspViewerSlot& s, uint16_t port,
                                                socklen_t* len) const {
  sockaddr_storage a{};
  if (s.address_family == AF_INET && udp_family == AF_INET) {
    auto& in = reinterpret_cast<sockaddr_in&>(a);
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    std::memcpy(&in.sin_addr, s.client_address, 4);
    *len = sizeof in;
  } else {
    auto& in6 = reinterpret_cast<sockaddr_in6&>(a);
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(port);
    if (s.address_family == AF_INET) {  // IPv4 viewer on a dual-stack socket: v4-mapped
      in6.sin6_addr.s6_addr[10] = 0xFF;
      in6.sin6_addr.s6_addr[11] = 0xFF;
      std::memcpy(in6.sin6_addr.s6_addr + 12, s.client_address, 4);
    } else {
      std::memcpy(&in6.sin6_addr, s.client_address, 16);
    }
    *len = sizeof in6;
  }
  return a;
}

void NetServer::Impl::dropFrame(const std::shared_ptr<Connection>& c, abi::RtspViewerSlot& s) {
  s.flags |= abi::kViewerFlagNeedsKeyframe;
  ++s.frames_dropped;
  ++counters.drops;
  c->congested = true;
  const uint64_t now = monotonicNs();
  if (now >= c->next_congestion_request_ns) {
    requestKeyframe();
    c->next_congestion_request_ns = now + c->congestion_backoff_ns;
    c->congestion_backoff_ns = std::min(c->congestion_backoff_ns * 2, kMaxCongestionBackoffNs);
  }
}

void NetServer::Impl::delivered(const std::shared_ptr<Connection>& c) {
  c->congested = false;
  c->congestion_backoff_ns = kMinCongestionBackoffNs;
  c->next_congestion_request_ns = 0;
}

// How many of the viewer's latest frames have not completely left the kernel's send queue.
size_t NetServer::Impl::framesBehind(const std::shared_ptr<Connection>& c) {
  int unsent = 0;
  if (ioctl(c->fd(), SIOCOUTQNSD, &unsent) != 0 || unsent <= 0) return 0;
  const uint64_t sent = c->out.bytesWritten() -
                        std::min<uint64_t>(c->out.bytesWritten(), static_cast<uint64_t>(unsent));
  size_t behind = 0;
  for (size_t i = 0; i < std::min(c->frame_count, c->frame_ends.size()); ++i)
    behind += c->frame_ends[i] > sent;
  return behind;
}

bool NetServer::Impl::sendUdp(const std::shared_ptr<Connection>& c, abi::RtspViewerSlot& s,
                              const AccessUnit& au) {
  const uint32_t ts = rtpTimestamp(au.capture_time_ns, s.rtp_timestamp_offset);
  socklen_t addr_len = 0;
  sockaddr_storage dest = viewerAddress(s, s.client_rtp_port, &addr_len);
  std::array<std::array<uint8_t, kRtpHeaderSize>, kMaxBatch> headers;
  std::array<iovec, kMaxBatch * 3> iov;
  std::array<mmsghdr, kMaxBatch> msgs;
  for (size_t at = 0; at < fragments.size(); at += kMaxBatch) {
    const size_t count = std::min(kMaxBatch, fragments.size() - at);
    const uint32_t first = s.next_sequence;
    for (size_t i = 0; i < count; ++i) {
      RtpFragment& f = fragments[at + i];
      writeRtpHeader(headers[i].data(), f.marker, kRtpPayloadType, static_cast<uint16_t>(first + i),
                     ts, s.ssrc);
      iov[i * 3] = {headers[i].data(), kRtpHeaderSize};
      iov[i * 3 + 1] = {f.prefix.data(), f.prefix_size};
      iov[i * 3 + 2] = {const_cast<uint8_t*>(f.data.data()), f.data.size()};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_name = &dest;
      msgs[i].msg_hdr.msg_namelen = addr_len;
      msgs[i].msg_hdr.msg_iov = &iov[i * 3];
      msgs[i].msg_hdr.msg_iovlen = 3;
    }
    // The numbers are taken in the page before the packets leave: a net killed inside
    // sendmmsg leaves its successor a gap (a loss the viewer can see), never a reuse (which a
    // jitter buffer would drop as duplicates, keyframe included).
    s.next_sequence = (first + static_cast<uint32_t>(count)) & 0xFFFF;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    int sent =
        sendmmsg(rtp.native_handle(), msgs.data(), static_cast<unsigned>(count), MSG_DONTWAIT);
    if (sent < 0) sent = 0;
    for (int i = 0; i < sent; ++i) {
      const size_t payload = fragments[at + static_cast<size_t>(i)].payloadSize();
      s.octets_sent += payload;
      counters.bytes_out += kRtpHeaderSize + payload;
    }
    s.packets_sent += static_cast<uint64_t>(sent);
    if (static_cast<size_t>(sent) < count) {
      dropFrame(c, s);
      return false;
    }
  }
  return true;
}

bool NetServer::Impl::sendTcp(const std::shared_ptr<Connection>& c, abi::RtspViewerSlot& s,
                              const AccessUnit& au) {
  if (c->out.mediaQueued() || framesBehind(c) >= kMaxFramesBehind) {
    // It has not taken the previous frames yet: drop this one whole, resume at a keyframe.
    dropFrame(c, s);
    return false;
  }
  const uint32_t ts = rtpTimestamp(au.capture_time_ns, s.rtp_timestamp_offset);
  for (const RtpFragment& f : fragments) {
    const size_t packet = kRtpHeaderSize + f.payloadSize();
    frame_unit.resize(4 + packet);
    uint8_t* p = frame_unit.data();
    p[0] = '$';
    p[1] = s.rtp_channel;
    put16(p + 2, static_cast<uint16_t>(packet));
    writeRtpHeader(p + 4, f.marker, kRtpPayloadType, static_cast<uint16_t>(s.next_sequence), ts,
                   s.ssrc);
    std::memcpy(p + 4 + kRtpHeaderSize, f.prefix.data(), f.prefix_size);
    std::memcpy(p + 4 + kRtpHeaderSize + f.prefix_size, f.data.data(), f.data.size());
    c->out.push(frame_unit, true);
    s.next_sequence = (s.next_sequence + 1) & 0xFFFF;
    ++s.packets_sent;
    s.octets_sent += f.payloadSize();
  }
  c->frame_ends[c->frame_count++ % c->frame_ends.size()] =
      c->out.bytesWritten() + c->out.queuedBytes();
  flush(c);
  return !c->closed && !c->out.mediaQueued();
}

uint64_t NetServer::Impl::onAccessUnit(const AccessUnit& au) {
  const auto codec = media::codecFromId(au.codec);
  if (!codec) {
    ++counters.errors;
    spdlog::warn("frame {}: unknown codec {}; dropped", au.frame_number, au.codec);
    return 0;
  }
  media::splitAnnexB(au.data, nals);
  bool keyframe = (au.flags & abi::kRecordFlagKeyframe) != 0;
  for (NalUnit nal : nals) keyframe = keyframe || media::isKeyframeNal(*codec, nal);
  const Codec before = sets.codec;
  if (media::updateParameterSets(*codec, nals, abi::kMaxParameterSetSize, sets) || !codec_known) {
    if (sets.codec != before && codec_known)
      spdlog::warn("the stream changed codec to {}", media::codecName(sets.codec));
    codec_known = true;
    state.storeParameterSets(sets);
    if (sets.complete()) answerDeferred(monotonicNs());
  }
  last_capture_ns = au.capture_time_ns;
  if (auto ok = packetize(*codec, nals, opt.mtu, fragments); !ok) {
    ++counters.errors;
    spdlog::warn("frame {}: {}; dropped", au.frame_number, ok.error().message);
    return 0;
  }
  if (fragments.empty()) return 0;
  const bool discontinuity = (au.flags & abi::kRecordFlagDiscontinuity) != 0;
  bool any = false;
  for (uint32_t i = 0; i < abi::kMaxConnections; ++i) {
    auto c = viewers[i];
    if (!c) continue;
    abi::RtspViewerSlot& s = state.slot(i);
    if (abi::atomicLoad(s.state) != static_cast<uint32_t>(abi::ViewerState::kPlaying)) continue;
    if (s.codec != static_cast<uint32_t>(*codec)) {
      closeConnection(c, "the stream changed codec");
      continue;
    }
    if (discontinuity && !keyframe && !(s.flags & abi::kViewerFlagNeedsKeyframe)) {
      // Access units were lost upstream: the decoder cannot follow until the next keyframe.
      s.flags |= abi::kViewerFlagNeedsKeyframe;
      requestKeyframe();
    }
    if (s.flags & abi::kViewerFlagNeedsKeyframe) {
      if (!keyframe) continue;
      s.flags &= ~abi::kViewerFlagNeedsKeyframe;
    }
    const bool whole = s.transport == static_cast<uint32_t>(abi::ViewerTransport::kUdp)
                           ? sendUdp(c, s, au)
                           : sendTcp(c, s, au);
    if (whole) {
      ++s.frames_sent;
      delivered(c);
      any = true;
    }
  }
  if (!any) return 0;
  ++counters.frames_out;
  return monotonicNs();
}

void NetServer::Impl::sendReports() {
  timespec real{};
  clock_gettime(CLOCK_REALTIME, &real);
  const uint64_t now = monotonicNs();
  uint8_t buffer[4 + 28 + 4 + 4 + 2 + 255 + 4];
  for (uint32_t i = 0; i < abi::kMaxConnections; ++i) {
    auto c = viewers[i];
    if (!c) continue;
    abi::RtspViewerSlot& s = state.slot(i);
    if (abi::atomicLoad(s.state) != static_cast<uint32_t>(abi::ViewerState::kPlaying)) continue;
    SenderReport sr;
    sr.ssrc = s.ssrc;
    sr.ntp_time = ntpTime(real.tv_sec, real.tv_nsec);
    sr.rtp_time = rtpTimestamp(now, s.rtp_timestamp_offset);
    sr.packet_count = static_cast<uint32_t>(s.packets_sent);
    sr.octet_count = static_cast<uint32_t>(s.octets_sent);
    sr.cname = cname;
    const size_t n = buildSenderReport(sr, std::span(buffer + 4, sizeof buffer - 4));
    if (n == 0) continue;
    if (s.transport == static_cast<uint32_t>(abi::ViewerTransport::kUdp)) {
      socklen_t len = 0;
      const sockaddr_storage dest = viewerAddress(s, s.client_rtcp_port, &len);
      if (sendto(rtcp.native_handle(), buffer + 4, n, MSG_DONTWAIT,
                 reinterpret_cast<const sockaddr*>(&dest), len) > 0)
        counters.bytes_out += n;
    } else if (!c->out.mediaQueued()) {
      buffer[0] = '$';
      buffer[1] = s.rtcp_channel;
      put16(buffer + 2, static_cast<uint16_t>(n));
      c->out.push(std::span<const uint8_t>(buffer, n + 4), false);
      flush(c);
    }
  }
}

std::optional<uint32_t> NetServer::Impl::slotByAddress(const sockaddr_storage& from_raw) const {
  const sockaddr_storage from = unmapped(from_raw);
  const uint16_t port = portOf(from);
  for (uint32_t i = 0; i < abi::kMaxConnections; ++i) {
    if (!viewers[i]) continue;
    const abi::RtspViewerSlot& s = state.slot(i);
    if (s.transport != static_cast<uint32_t>(abi::ViewerTransport::kUdp)) continue;
    if (s.address_family != from.ss_family || s.client_rtcp_port != port) continue;
    const void* addr =
        from.ss_family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in&>(from).sin_addr)
            : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6&>(from).sin6_addr);
    if (std::memcmp(addr, s.client_address, from.ss_family == AF_INET ? 4 : 16) == 0) return i;
  }
  return std::nullopt;
}

void NetServer::Impl::handleRtcp(std::span<const uint8_t> data, int slot_hint) {
  auto info = parseRtcp(data);
  if (!info) {
    ++counters.errors;
    spdlog::debug("RTCP refused: {}", info.error().message);
    return;
  }
  if (slot_hint < 0) return;  // only viewers we know may report or ask
  const auto slot = static_cast<uint32_t>(slot_hint);
  abi::RtspViewerSlot& s = state.slot(slot);
  const uint64_t now = monotonicNs();
  s.last_activity_ns = now;
  for (const ReportBlock& b : info->reports) {
    if (b.source_ssrc != s.ssrc) continue;
    s.rr_fraction_lost = b.fraction_lost;
    s.rr_cumulative_lost = static_cast<uint32_t>(b.cumulative_lost) & 0xFFFFFF;
    s.rr_highest_sequence = b.highest_sequence;
    s.rr_jitter = b.jitter;
    ++s.rr_count;
    s.rr_last_ns = now;
  }
  for (const KeyframeRequest& k : info->keyframe_requests) {
    if (k.media_ssrc != s.ssrc && k.media_ssrc != 0) continue;
    ++s.keyframe_requests;
    ++counters.keyframes_received;
    spdlog::debug("slot {}: {} received", slot,
                  k.kind == KeyframeRequestKind::kPli ? "PLI" : "FIR");
    requestKeyframe();
  }
}

void NetServer::Impl::armRtcp() {
  rtcp.async_wait(Descriptor::wait_read, [this](const boost::system::error_code& ec) {
    if (ec) return;
    for (int i = 0; i < 64; ++i) {
      sockaddr_storage from{};
      socklen_t len = sizeof from;
      const ssize_t n = recvfrom(rtcp.native_handle(), peek.data(), 4096, MSG_DONTWAIT | MSG_TRUNC,
                                 reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0) break;
      if (n > 4096) {
        ++counters.errors;
        continue;
      }
      const auto slot = slotByAddress(from);
      handleRtcp(std::span<const uint8_t>(peek.data(), static_cast<size_t>(n)),
                 slot ? static_cast<int>(*slot) : -1);
    }
    armRtcp();
  });
}

void NetServer::Impl::armRtpDrain() {
  // Viewers send NAT keep-alive packets to the RTP port; nothing in them is for us.
  rtp.async_wait(Descriptor::wait_read, [this](const boost::system::error_code& ec) {
    if (ec) return;
    for (int i = 0; i < 64; ++i)
      if (recv(rtp.native_handle(), sink.data(), sink.size(), MSG_DONTWAIT) < 0) break;
    armRtpDrain();
  });
}

void NetServer::Impl::requestKeyframe() {
  const uint64_t now = monotonicNs();
  const uint64_t interval = uint64_t{opt.keyframe_interval_ms} * kMs;
  if (last_keyframe_request_ns == 0 || now - last_keyframe_request_ns >= interval) {
    sendKeyframeRequest();
    return;
  }
  if (keyframe_timer_armed) return;
  keyframe_timer_armed = true;
  keyframe_timer.expires_after(std::chrono::nanoseconds(last_keyframe_request_ns + interval - now));
  keyframe_timer.async_wait([this](const boost::system::error_code& ec) {
    keyframe_timer_armed = false;
    if (!ec) sendKeyframeRequest();
  });
}

void NetServer::Impl::sendKeyframeRequest() {
  last_keyframe_request_ns = monotonicNs();
  ++counters.keyframes_requested;
  if (link.requestKeyframe) link.requestKeyframe();
}

void NetServer::Impl::sweep() {
  const uint64_t now = monotonicNs();
  const uint64_t session_timeout = uint64_t{opt.session_timeout_s} * 1'000'000'000u;
  const uint64_t header_timeout = uint64_t{opt.header_timeout_ms} * kMs;
  std::vector<std::pair<std::shared_ptr<Connection>, std::string>> to_close;
  bool waiting_for_keyframe = false;
  bool join_keyframe = false;
  for (auto& [id, c] : conns) {
    if (c->partial_since_ns != 0 && now - c->partial_since_ns > header_timeout) {
      to_close.emplace_back(c, "no complete request within the header timeout");
    } else if (c->closing && now - c->closing_since_ns > kCloseGraceNs) {
      to_close.emplace_back(c, "does not take its last response");
    } else if (c->slot >= 0) {
      const abi::RtspViewerSlot& s = state.slot(static_cast<uint32_t>(c->slot));
      if (now > s.last_activity_ns && now - s.last_activity_ns > session_timeout) {
        to_close.emplace_back(c, "session timed out (no RTSP or RTCP activity)");
      } else if (abi::atomicLoad(s.state) == static_cast<uint32_t>(abi::ViewerState::kPlaying) &&
                 (s.flags & abi::kViewerFlagNeedsKeyframe) && !c->congested) {
        waiting_for_keyframe = true;
      }
    } else if (now - c->last_request_ns > session_timeout) {
      to_close.emplace_back(c, "idle without a session");
    }
    if (c->join_keyframe_ns != 0 && now >= c->join_keyframe_ns) {
      c->join_keyframe_ns = 0;
      join_keyframe = true;
    }
  }
  for (auto& [c, why] : to_close) closeConnection(c, why);
  answerDeferred(now);
  if (join_keyframe || (waiting_for_keyframe && now - last_keyframe_request_ns > kKeyframeRetryNs))
    requestKeyframe();
}

void NetServer::Impl::armSweep() {
  sweep_timer.expires_after(kSweepEvery);
  sweep_timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    sweep();
    armSweep();
  });
}

void NetServer::Impl::armReports() {
  report_timer.expires_after(kReportEvery);
  report_timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    sendReports();
    armReports();
  });
}

// --------------------------------------------------------------------------------------------

Result<std::unique_ptr<NetServer>> NetServer::create(asio::io_context& io, NetState& state,
                                                     ServerSockets sockets, ServerOptions options,
                                                     SupervisorLink link) {
  if (options.max_viewers == 0 || options.max_viewers > abi::kMaxConnections)
    return makeError("max viewers {} is out of range (1..{})", options.max_viewers,
                     abi::kMaxConnections);
  if (options.mtu < kMinMtu || options.mtu > kMaxMtu)
    return makeError("mtu {} is out of range ({}..{})", options.mtu, kMinMtu, kMaxMtu);
  auto impl = std::make_unique<Impl>(io, state, std::move(options), std::move(link));
  if (auto ok = impl->start(std::move(sockets)); !ok) return ok.error();
  return std::unique_ptr<NetServer>(new NetServer(std::move(impl)));
}

NetServer::NetServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NetServer::~NetServer() = default;

uint64_t NetServer::onAccessUnit(const AccessUnit& unit) { return impl_->onAccessUnit(unit); }

const ServerCounters& NetServer::counters() const { return impl_->counters; }

uint32_t NetServer::playingViewers() const {
  uint32_t n = 0;
  for (uint32_t i = 0; i < abi::kMaxConnections; ++i)
    if (impl_->viewers[i] && abi::atomicLoad(impl_->state.slot(i).state) ==
                                 static_cast<uint32_t>(abi::ViewerState::kPlaying))
      ++n;
  return n;
}

std::string NetServer::url() const {
  const sockaddr_storage& a = impl_->listen_addr;
  std::string host;
  char text[INET6_ADDRSTRLEN] = "";
  bool any = false;
  if (a.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(a);
    any = in.sin_addr.s_addr == htonl(INADDR_ANY);
    inet_ntop(AF_INET, &in.sin_addr, text, sizeof text);
    host = text;
  } else {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(a);
    any = IN6_IS_ADDR_UNSPECIFIED(&in6.sin6_addr);
    inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof text);
    host = fmt::format("[{}]", text);
  }
  if (any) {
    char name[256] = "";
    if (gethostname(name, sizeof name - 1) == 0 && name[0] != '\0') host = name;
  }
  return fmt::format("rtsp://{}:{}{}", host, portOf(a), impl_->opt.path);
}

}  // namespace funkhaus::net
