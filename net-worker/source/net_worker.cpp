// funkhaus-net: the worker around NetServer.
#include "funkhaus/net/net_worker.h"

#include <fcntl.h>
#include <signal.h>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cctype>
#include <chrono>
#include <cstring>

#include "funkhaus/abi/exit_codes.h"
#include "funkhaus/common/clock.h"
#include "funkhaus/common/stage_stats.h"
#include "funkhaus/common/worker_channel.h"
#include "funkhaus/net/ring_reader.h"
#include "funkhaus/net/rtp_packetizer.h"

namespace funkhaus::net {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// Stale access units on (re)start: older than this is not worth sending.
constexpr uint64_t kStaleNs = 300'000'000;

Result<void> checkPath(const std::string& path) {
  if (path.size() < 2 || path.size() > 200 || path.front() != '/' || path.back() == '/')
    return makeError("--path '{}' must start with '/', not end with '/', 2..200 characters", path);
  for (char c : path)
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::strchr("/-._~", c) == nullptr)
      return makeError("--path '{}' may only hold letters, digits and / - . _ ~", path);
  if (path.find("//") != std::string::npos)
    return makeError("--path '{}' has an empty segment", path);
  return {};
}

}  // namespace

Result<std::optional<ServerOptions>> parseNetOptions(int argc, char** argv) {
  ServerOptions o;
  CLI::App app{"funkhaus-net: serves the packet ring to RTSP/RTP viewers (started by funkhausd)"};
  app.add_option("--path", o.path, "the stream's RTSP path")->capture_default_str();
  app.add_option("--max-viewers", o.max_viewers, "viewers at once")
      ->check(CLI::Range(1u, abi::kMaxConnections))
      ->capture_default_str();
  app.add_option("--mtu", o.mtu, "RTP payload budget in bytes")
      ->check(CLI::Range(static_cast<uint32_t>(kMinMtu), static_cast<uint32_t>(kMaxMtu)))
      ->capture_default_str();
  app.add_option("--session-timeout", o.session_timeout_s,
                 "seconds without RTSP/RTCP activity before a viewer is dropped")
      ->check(CLI::Range(1u, 86400u))
      ->capture_default_str();
  app.add_option("--header-timeout-ms", o.header_timeout_ms,
                 "a started request must complete within this many ms")
      ->check(CLI::Range(100u, 600000u))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return std::optional<ServerOptions>();
  } catch (const CLI::ParseError& e) {
    return makeError("{}", e.what());
  }
  if (auto ok = checkPath(o.path); !ok) return ok.error();
  return std::optional<ServerOptions>(o);
}

int runNetWorker(const ServerOptions& options) {
  signal(SIGPIPE, SIG_IGN);
  auto channel = WorkerChannel::connect(kWorkerChannelFd, abi::WorkerKind::kNet);
  if (!channel) {
    spdlog::critical("channel: {}", channel.error().message);
    return abi::kExitPeerLost;
  }
  UniqueFd page_fd = channel->takeFd(abi::FdRole::kNetState);
  UniqueFd ring_fd = channel->takeRing(abi::FdRole::kRingIn, abi::RingId::kVideoPackets);
  ServerSockets sockets;
  sockets.listen = channel->takeFd(abi::FdRole::kEndpoint, abi::kEndpointRtspListen);
  sockets.rtp = channel->takeFd(abi::FdRole::kEndpoint, abi::kEndpointRtspRtp);
  sockets.rtcp = channel->takeFd(abi::FdRole::kEndpoint, abi::kEndpointRtspRtcp);
  sockets.viewers = channel->takeTaggedFds(abi::FdRole::kConnection);
  if (!page_fd.valid() || !ring_fd.valid() || !sockets.listen.valid() || !sockets.rtp.valid() ||
      !sockets.rtcp.valid()) {
    spdlog::critical(
        "funkhausd did not send every fd net needs (net state {}, packet ring {}, RTSP {}, RTP {}, "
        "RTCP {})",
        page_fd.valid(), ring_fd.valid(), sockets.listen.valid(), sockets.rtp.valid(),
        sockets.rtcp.valid());
    return abi::kExitBadConfig;
  }
  auto page = SharedMemory::attach(std::move(page_fd), sizeof(abi::NetStatePage));
  if (!page) {
    spdlog::critical("net state page: {}", page.error().message);
    return abi::kExitAttachFailed;
  }
  auto state = NetState::attach(std::move(*page));
  if (!state) {
    spdlog::critical("{}", state.error().message);
    return abi::kExitAttachFailed;
  }
  auto ring = SharedMemory::attach(std::move(ring_fd));
  if (!ring) {
    spdlog::critical("packet ring: {}", ring.error().message);
    return abi::kExitAttachFailed;
  }
  auto consumer = PacketConsumer::attach(std::move(*ring));
  if (!consumer) {
    spdlog::critical("{}", consumer.error().message);
    return abi::kExitAttachFailed;
  }

  asio::io_context io;
  uint64_t channel_errors = 0;
  SupervisorLink link;
  link.deposit = [&](uint32_t slot, int fd) {
    if (auto ok = channel->depositConnection(slot, fd); !ok) {
      ++channel_errors;
      spdlog::error("depositing the socket of slot {}: {}", slot, ok.error().message);
    }
  };
  link.release = [&](uint32_t slot) {
    if (auto ok = channel->releaseConnection(slot); !ok) {
      ++channel_errors;
      spdlog::error("releasing the socket of slot {}: {}", slot, ok.error().message);
    }
  };
  // funkhausd takes events only after ready: a request made while adopting the viewers of the
  // previous net waits until then.
  bool ready_sent = false, keyframe_pending = false;
  link.requestKeyframe = [&] {
    if (!ready_sent) {
      keyframe_pending = true;
      return;
    }
    if (auto ok = channel->sendEvent(abi::Event::kKeyframeRequest, 0); !ok) {
      ++channel_errors;
      spdlog::error("keyframe request: {}", ok.error().message);
    }
  };
  link.requestMode = [&](uint32_t width, uint32_t height, uint32_t refresh_hz) {
    if (!ready_sent) return;
    const uint64_t arg = uint64_t{width} << 32 | uint64_t{height} << 16 | refresh_hz;
    if (auto ok = channel->sendEvent(abi::Event::kModeRequest, arg); !ok) {
      ++channel_errors;
      spdlog::error("mode request: {}", ok.error().message);
    }
  };
  const bool restarted = state->restarted();
  auto server = NetServer::create(io, *state, std::move(sockets), options, link);
  if (!server) {
    spdlog::critical("{}", server.error().message);
    return abi::kExitBadConfig;
  }
  spdlog::info("serving {} ({} viewers at most, {}-byte RTP payloads, {} s session timeout{})",
               (*server)->url(), options.max_viewers, options.mtu, options.session_timeout_s,
               restarted ? ", restarted" : "");

  int exit_code = abi::kExitStopped;
  StageStats stats;
  RingReader reader(std::move(*consumer), kStaleNs);
  NetServer& srv = **server;

  // The channel: commands from funkhausd (stop); a broken channel ends the worker.
  asio::posix::stream_descriptor commands(io, fcntl(channel->fd(), F_DUPFD_CLOEXEC, 0));
  std::function<void()> arm_commands = [&] {
    commands.async_wait(asio::posix::stream_descriptor::wait_read,
                        [&](const boost::system::error_code& ec) {
                          if (ec) return;
                          for (;;) {
                            auto command = channel->waitCommand(0);
                            if (!command) {
                              spdlog::error("channel: {}", command.error().message);
                              exit_code = abi::kExitPeerLost;
                              return io.stop();
                            }
                            if (!command->has_value()) break;
                            if ((*command)->command == static_cast<uint32_t>(abi::Command::kStop)) {
                              spdlog::info("stop requested");
                              return io.stop();
                            }
                          }
                          arm_commands();
                        });
  };
  arm_commands();

  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("signal {}: stopping", signal);
    io.stop();
  });

  asio::steady_timer tick(io);
  std::function<void()> arm_tick = [&] {
    tick.expires_after(50ms);
    tick.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      channel->heartbeat();
      abi::WorkerStatusPage& status = channel->status();
      const ServerCounters& c = srv.counters();
      abi::storeRelaxed(status.frames_in, reader.framesIn());
      abi::storeRelaxed(status.frames_out, c.frames_out);
      abi::storeRelaxed(status.bytes_out, c.bytes_out);
      abi::storeRelaxed(status.drops, c.drops + reader.overflowDropped());
      abi::storeRelaxed(status.errors, c.errors + reader.errors() + channel_errors);
      abi::storeRelaxed(status.viewers, srv.playingViewers());
      abi::storeRelaxed(status.keyframes, c.keyframes_received);
      stats.publish(status, monotonicNs());
      arm_tick();
    });
  };
  arm_tick();

  if (auto ready = channel->sendReady(); !ready) {
    spdlog::critical("channel: {}", ready.error().message);
    return abi::kExitPeerLost;
  }
  ready_sent = true;
  if (keyframe_pending) link.requestKeyframe();
  channel->setState(abi::WorkerState::kRunning);
  reader.start([&](std::shared_ptr<AccessUnit> unit) {
    asio::post(io, [&, unit] {
      const uint64_t done = srv.onAccessUnit(*unit);
      if (done != 0) stats.onFrame(unit->capture_time_ns, done);
      reader.done();
    });
  });
  io.run();
  channel->setState(abi::WorkerState::kStopping);
  reader.stop();
  return exit_code;
}

}  // namespace funkhaus::net
