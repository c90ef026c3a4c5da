// gamestream_probe's lossy TCP/UDP forwarder (loss_proxy.h).
#include "loss_proxy.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

namespace funkhaus::probe {

struct LossProxy::Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd = std::exchange(o.fd, -1);
    }
    return *this;
  }
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

struct LossProxy::UdpPort {
  uint16_t port = 0;
  bool video = false;
  Fd down;  // bound to listen_address:port, talks to the client
  Fd up;    // connected to target:port, talks to the host
  sockaddr_in client{};
  bool has_client = false;
};

struct LossProxy::TcpListener {
  uint16_t port = 0;
  Fd fd;
};

struct LossProxy::TcpPipe {
  Fd client;
  Fd host;
  bool client_eof = false;  // client -> host direction finished
  bool host_eof = false;    // host -> client direction finished
};

namespace {

Result<in_addr> ipv4(const std::string& name) {
  in_addr a{};
  if (inet_pton(AF_INET, name.c_str(), &a) == 1) return a;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  addrinfo* res = nullptr;
  if (const int err = getaddrinfo(name.c_str(), nullptr, &hints, &res); err != 0 || !res)
    return makeError("cannot resolve {} to IPv4: {}", name, gai_strerror(err));
  a = reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr;
  freeaddrinfo(res);
  return a;
}

sockaddr_in endpoint(in_addr a, uint16_t port) {
  sockaddr_in s{};
  s.sin_family = AF_INET;
  s.sin_addr = a;
  s.sin_port = htons(port);
  return s;
}

// Writes all of `size` bytes to a blocking socket; false on error.
bool sendAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<LossProxy>> LossProxy::start(const ProxyConfig& config) {
  if (config.drop_video_percent < 0 || config.drop_video_percent > 100)
    return makeError("drop percent {} is outside 0..100", config.drop_video_percent);
  auto listen = ipv4(config.listen_address);
  if (!listen) return listen.error();
  auto target = ipv4(config.target_address);
  if (!target) return target.error();
  std::unique_ptr<LossProxy> p(new LossProxy());
  p->config_ = config;
  for (uint16_t port : config.udp_ports) {
    auto u = std::make_unique<UdpPort>();
    u->port = port;
    u->video = port == config.video_port;
    u->down = Fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    u->up = Fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (u->down.fd < 0 || u->up.fd < 0) return makeError("socket: {}", std::strerror(errno));
    // Room for a burst of a high-bitrate frame while the thread catches up.
    const int buffer = 8 << 20;
    for (int fd : {u->down.fd, u->up.fd}) {
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
      ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
    }
    const sockaddr_in here = endpoint(*listen, port);
    if (::bind(u->down.fd, reinterpret_cast<const sockaddr*>(&here), sizeof here) != 0)
      return makeError("proxy: bind UDP {}:{}: {}", config.listen_address, port,
                       std::strerror(errno));
    const sockaddr_in there = endpoint(*target, port);
    if (::connect(u->up.fd, reinterpret_cast<const sockaddr*>(&there), sizeof there) != 0)
      return makeError("proxy: connect UDP {}:{}: {}", config.target_address, port,
                       std::strerror(errno));
    p->udp_.push_back(std::move(u));
  }
  for (uint16_t port : config.tcp_ports) {
    auto l = std::make_unique<TcpListener>();
    l->port = port;
    l->fd = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (l->fd.fd < 0) return makeError("socket: {}", std::strerror(errno));
    const int one = 1;
    ::setsockopt(l->fd.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    const sockaddr_in here = endpoint(*listen, port);
    if (::bind(l->fd.fd, reinterpret_cast<const sockaddr*>(&here), sizeof here) != 0 ||
        ::listen(l->fd.fd, 16) != 0)
      return makeError("proxy: listen TCP {}:{}: {}", config.listen_address, port,
                       std::strerror(errno));
    p->listeners_.push_back(std::move(l));
  }
  p->wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (p->wake_fd_ < 0) return makeError("eventfd: {}", std::strerror(errno));
  p->thread_ = std::thread([raw = p.get()] { raw->run(); });
  return p;
}

LossProxy::~LossProxy() {
  stop_ = true;
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

ProxyCounters LossProxy::counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

void LossProxy::recordDrop(std::span<const uint8_t> d) {
  // Encrypted (gamestream.md §6.7): IV[12] (byte 11 'V'), LE32 frameIndex, tag[16], ciphertext.
  // Plain (§6.1): RTP header with SSRC 0 (byte 11 is 0), frameIndex LE32 at offset 20.
  constexpr size_t kEncryptedFrameIndex = 12;
  constexpr size_t kPlainFrameIndex = 20;
  constexpr size_t kPlainHeaderEnd = 32;
  const bool encrypted = d.size() > 32 && d[11] == 'V';
  const size_t at = encrypted ? kEncryptedFrameIndex : kPlainFrameIndex;
  if (!encrypted && d.size() < kPlainHeaderEnd) {
    ++counters_.dropped_unparsed;
    return;
  }
  if (encrypted) ++counters_.dropped_encrypted;
  counters_.dropped_video_frames.push_back(
      static_cast<uint32_t>(d[at]) | static_cast<uint32_t>(d[at + 1]) << 8 |
      static_cast<uint32_t>(d[at + 2]) << 16 | static_cast<uint32_t>(d[at + 3]) << 24);
}

void LossProxy::run() {
  std::mt19937_64 random{std::random_device{}()};
  std::uniform_real_distribution<double> percent(0.0, 100.0);
  const in_addr target = *ipv4(config_.target_address);  // resolved once in start()
  std::vector<char> buffer(65536);
  std::vector<pollfd> fds;
  while (!stop_) {
    // Poll order: wake, UDP (down, up) per port, listeners, pipes (client, host) per pipe.
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    for (auto& u : udp_) {
      fds.push_back({u->down.fd, POLLIN, 0});
      fds.push_back({u->up.fd, POLLIN, 0});
    }
    for (auto& l : listeners_) fds.push_back({l->fd.fd, POLLIN, 0});
    for (auto& pipe : pipes_) {
      fds.push_back({pipe->client_eof ? -1 : pipe->client.fd, POLLIN, 0});
      fds.push_back({pipe->host_eof ? -1 : pipe->host.fd, POLLIN, 0});
    }
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("proxy: poll: {}", std::strerror(errno));
      return;
    }
    size_t i = 1;
    for (auto& u : udp_) {
      const bool from_client = fds[i++].revents != 0;
      const bool from_host = fds[i++].revents != 0;
      while (from_client) {
        sockaddr_in source{};
        socklen_t len = sizeof source;
        const ssize_t n = ::recvfrom(u->down.fd, buffer.data(), buffer.size(), 0,
                                     reinterpret_cast<sockaddr*>(&source), &len);
        if (n < 0) break;  // EAGAIN, or an ICMP error: nothing to forward
        u->client = source;
        u->has_client = true;
        ::send(u->up.fd, buffer.data(), static_cast<size_t>(n), 0);
        std::lock_guard lock(mutex_);
        ++counters_.udp_to_host;
      }
      while (from_host) {
        const ssize_t n = ::recv(u->up.fd, buffer.data(), buffer.size(), 0);
        if (n < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK) break;
          continue;  // ECONNREFUSED from an earlier send while the host was down
        }
        if (!u->has_client) continue;
        const bool drop = u->video && percent(random) < config_.drop_video_percent;
        if (!drop)
          ::sendto(u->down.fd, buffer.data(), static_cast<size_t>(n), 0,
                   reinterpret_cast<const sockaddr*>(&u->client), sizeof u->client);
        std::lock_guard lock(mutex_);
        if (drop)
          recordDrop(
              std::span(reinterpret_cast<const uint8_t*>(buffer.data()), static_cast<size_t>(n)));
        if (u->video) ++(drop ? counters_.video_dropped : counters_.video_to_client);
        if (!drop) ++counters_.udp_to_client;
      }
    }
    for (auto& l : listeners_) {
      if (fds[i++].revents == 0) continue;
      Fd client(::accept4(l->fd.fd, nullptr, nullptr, SOCK_CLOEXEC));
      if (client.fd < 0) continue;
      Fd host(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      const sockaddr_in there = endpoint(target, l->port);
      if (host.fd < 0 ||
          ::connect(host.fd, reinterpret_cast<const sockaddr*>(&there), sizeof there) != 0) {
        spdlog::warn("proxy: TCP {} -> {}:{}: {}", l->port, config_.target_address, l->port,
                     std::strerror(errno));
        std::lock_guard lock(mutex_);
        ++counters_.tcp_connect_failures;
        continue;  // closing the client's connection is the nearest thing to a refusal
      }
      auto pipe = std::make_unique<TcpPipe>();
      pipe->client = std::move(client);
      pipe->host = std::move(host);
      pipes_.push_back(std::move(pipe));
      std::lock_guard lock(mutex_);
      ++counters_.tcp_connections;
    }
    const size_t polled_pipes = (fds.size() - i) / 2;
    for (size_t k = 0; k < polled_pipes; ++k) {
      TcpPipe& pipe = *pipes_[k];
      for (int dir = 0; dir < 2; ++dir) {
        if (fds[i++].revents == 0) continue;
        const bool from_client = dir == 0;
        const int in = from_client ? pipe.client.fd : pipe.host.fd;
        const int out = from_client ? pipe.host.fd : pipe.client.fd;
        const ssize_t n = ::recv(in, buffer.data(), buffer.size(), 0);
        if (n > 0 && sendAll(out, buffer.data(), static_cast<size_t>(n))) {
          if (!from_client) {
            // The host's SETUP replies name the UDP ports; warn about any not forwarded.
            const std::string text(buffer.data(), static_cast<size_t>(n));
            for (size_t at = text.find("server_port="); at != std::string::npos;
                 at = text.find("server_port=", at + 1)) {
              const uint16_t port =
                  static_cast<uint16_t>(std::strtoul(text.c_str() + at + 12, nullptr, 10));
              const bool forwarded = std::find(config_.udp_ports.begin(), config_.udp_ports.end(),
                                               port) != config_.udp_ports.end();
              std::lock_guard lock(mutex_);
              auto& list = counters_.unforwarded_server_ports;
              if (!forwarded && std::find(list.begin(), list.end(), port) == list.end()) {
                spdlog::warn("proxy: the host's RTSP reply names UDP port {}, not forwarded", port);
                list.push_back(port);
              }
            }
          }
          continue;
        }
        // EOF or error: pass the half-close on.
        ::shutdown(out, SHUT_WR);
        (from_client ? pipe.client_eof : pipe.host_eof) = true;
        if (n < 0) pipe.client_eof = pipe.host_eof = true;
      }
    }
    std::erase_if(pipes_, [](const auto& p) { return p->client_eof && p->host_eof; });
  }
}

}  // namespace funkhaus::probe
