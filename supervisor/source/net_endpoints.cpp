// NetEndpoints: binding what the protocols declare, validating deposited connections.
#include "funkhaus/supervisor/net_endpoints.h"

#include <atomic>
#include <cstring>

#include "funkhaus/abi/codec.h"
#include "funkhaus/abi/gamestream_state.h"
#include "funkhaus/abi/message.h"
#include "funkhaus/abi/net_state.h"
#include "funkhaus/common/net_state_page.h"
#include "funkhaus/net/socket.h"

namespace funkhaus::supervisor {
namespace {

using net::EndpointDeclaration;
using net::EndpointKind;
using net::PortSetting;

struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_INET;
};

Result<Address> parseAddress(const std::string& host, const char* key = "net.bind") {
  Address a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    a.length = sizeof(sockaddr_in);
    a.family = AF_INET;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    a.length = sizeof(sockaddr_in6);
    a.family = AF_INET6;
  } else {
    return makeError("{}: \"{}\" is not an IPv4 or IPv6 address", key, host);
  }
  return a;
}

uint16_t boundPort(const UniqueFd& fd) {
  const sockaddr_storage s = net::localAddress(net::socketOf(fd));
  if (s.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&s)->sin_port);
  if (s.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&s)->sin6_port);
  return 0;
}

// A socket of the endpoint's kind bound to address:port (TCP ones listening).
Result<UniqueFd> bound(const Address& address, const EndpointDeclaration& e, uint16_t port) {
  Address a = address;
  if (a.family == AF_INET)
    reinterpret_cast<sockaddr_in*>(&a.storage)->sin_port = htons(port);
  else
    reinterpret_cast<sockaddr_in6*>(&a.storage)->sin6_port = htons(port);
  return net::openBound(a.storage, a.length, e.kind == EndpointKind::kTcpListen);
}

// The port [net] or [gamestream] gives an endpoint of its own.
uint16_t configuredPort(const NetConfig& config, PortSetting setting) {
  switch (setting) {
    case PortSetting::kPort:
      return config.port;
    case PortSetting::kRtpPort:
      return config.rtp_port;
    default:
      break;
  }
  return 0;
}

uint16_t configuredPort(const GamestreamConfig& config, PortSetting setting) {
  if (config.base_port == 0) return 0;  // any free port
  switch (setting) {
    case PortSetting::kGamestreamHttp:
      return config.base_port;
    case PortSetting::kGamestreamHttps:
      return static_cast<uint16_t>(config.base_port - 5);
    case PortSetting::kGamestreamRtsp:
      return static_cast<uint16_t>(config.base_port + 21);
    case PortSetting::kGamestreamVideo:
      return static_cast<uint16_t>(config.base_port + 9);
    default:
      return 0;
  }
}

const char* kindName(const EndpointDeclaration& e) {
  return e.kind == EndpointKind::kTcpListen ? "TCP" : "UDP";
}

}  // namespace

Result<NetEndpoints> NetEndpoints::open(const NetConfig& config,
                                        std::span<const net::ProtocolDeclaration* const> protocols,
                                        const GamestreamConfig* gamestream) {
  if (auto address = parseAddress(config.bind); !address) return address.error();
  if (gamestream != nullptr)
    if (auto address = parseAddress(gamestream->listen_address, "gamestream.listen_address");
        !address)
      return address.error();
  auto state = createNetStatePage(net::blobRequests(protocols));
  if (!state) return state.error();
  NetEndpoints e(std::move(*state));
  e.max_viewers_ = config.max_viewers;
  for (const net::ProtocolDeclaration* p : protocols)
    for (const EndpointDeclaration& d : p->endpoints) {
      if (d.port == PortSetting::kRelative) continue;
      Result<void> ok;
      if (!net::isGamestreamPort(d.port))
        ok = e.openGroup(config.bind, configuredPort(config, d.port), "net", *p, d);
      else if (gamestream == nullptr)
        ok = makeError("{}: needs the [gamestream] table", d.name);
      else
        ok = e.openGroup(gamestream->listen_address, configuredPort(*gamestream, d.port),
                         "gamestream", *p, d);
      if (!ok) return ok.error();
    }
  return e;
}

std::string NetEndpoints::streamingClient() const {
  auto* page = reinterpret_cast<abi::NetStatePage*>(state_.data());
  auto* blob = static_cast<const abi::GamestreamState*>(
      abi::findNetBlob(*page, abi::NetProtocol::kGamestream));
  if (blob == nullptr) return "";
  const uint32_t phase = std::atomic_ref<const uint32_t>(blob->phase).load();
  if (phase < static_cast<uint32_t>(abi::GamestreamPhase::kAnnounced) ||
      phase > abi::kMaxGamestreamPhase || blob->launch.active != 1 ||
      std::atomic_ref<const uint64_t>(blob->launch_sequence).load() != blob->launch.sequence)
    return "";
  const auto* id = reinterpret_cast<const char*>(blob->launch.client_id);
  return std::string(id, strnlen(id, sizeof blob->launch.client_id));
}

nlohmann::json NetEndpoints::gamestreamStream(uint64_t now_ns) const {
  auto* page = reinterpret_cast<abi::NetStatePage*>(state_.data());
  auto* blob = static_cast<const abi::GamestreamState*>(
      abi::findNetBlob(*page, abi::NetProtocol::kGamestream));
  if (blob == nullptr) return nullptr;
  auto load32 = [](const uint32_t& v) { return std::atomic_ref<const uint32_t>(v).load(); };
  auto load64 = [](const uint64_t& v) { return std::atomic_ref<const uint64_t>(v).load(); };
  static constexpr const char* kPhases[] = {"idle", "handshake", "announced", "playing"};
  // A stream of an older launch, or of a cancelled one, is no stream.
  const bool current =
      blob->launch.active == 1 && load64(blob->launch_sequence) == blob->launch.sequence;
  uint32_t phase = current ? load32(blob->phase) : 0;
  if (phase > abi::kMaxGamestreamPhase) phase = 0;
  nlohmann::json j = {{"phase", kPhases[phase]}};
  if (phase == 0) return j;
  const auto* id = reinterpret_cast<const char*>(blob->launch.client_id);
  j["client"] = std::string(id, strnlen(id, sizeof blob->launch.client_id));
  j["app_id"] = blob->launch.app_id;
  if (phase >= static_cast<uint32_t>(abi::GamestreamPhase::kAnnounced)) {
    const abi::GamestreamStreamParams& p = blob->params;
    const uint32_t codec = load32(p.codec);
    j["width"] = load32(p.width);
    j["height"] = load32(p.height);
    j["fps"] = load32(p.fps);
    j["codec"] = codec == static_cast<uint32_t>(abi::Codec::kH264)   ? "h264"
                 : codec == static_cast<uint32_t>(abi::Codec::kHevc) ? "hevc"
                                                                     : "unknown";
    j["bitrate_kbps"] = load32(p.bitrate_kbps);
    j["fec_percent"] = load32(p.fec_percent);
    j["encrypted_video"] = (load32(p.encryption) & 2u) != 0;
  }
  j["frames_sent"] = load64(blob->frames_sent);
  j["bytes_sent"] = load64(blob->bytes_sent);
  j["dropped_input"] = load64(blob->dropped_input);
  const uint64_t started = load64(blob->started_ns);
  const uint64_t heard = load64(blob->last_heard_ns);
  j["playing_s"] = started != 0 && now_ns >= started ? (now_ns - started) / 1e9 : 0.0;
  j["last_heard_ms"] =
      heard != 0 && now_ns >= heard ? nlohmann::json((now_ns - heard) / 1e6) : nlohmann::json();
  return j;
}

void NetEndpoints::publishLaunch(const abi::GamestreamLaunch& launch) {
  auto* page = reinterpret_cast<abi::NetStatePage*>(state_.data());
  auto* blob =
      static_cast<abi::GamestreamState*>(abi::findNetBlob(*page, abi::NetProtocol::kGamestream));
  if (blob == nullptr) return;
  // Seqlock: odd while the fields change; the reader retries until it sees one even value twice.
  std::atomic_ref<uint64_t> sequence(blob->launch.sequence);
  const uint64_t before = sequence.load(std::memory_order_relaxed);
  const uint64_t odd = (before | 1) + ((before & 1) ? 2 : 0);
  sequence.store(odd, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  abi::GamestreamLaunch copy = launch;
  copy.sequence = odd;
  std::memcpy(reinterpret_cast<unsigned char*>(&blob->launch) + sizeof(uint64_t),
              reinterpret_cast<const unsigned char*>(&copy) + sizeof(uint64_t),
              sizeof copy - sizeof(uint64_t));
  sequence.store(odd + 1, std::memory_order_release);
}

Result<void> NetEndpoints::openWeb(const GamestreamConfig& config,
                                   const net::ProtocolDeclaration& web) {
  if (auto address = parseAddress(config.listen_address, "gamestream.listen_address"); !address)
    return address.error();
  for (const EndpointDeclaration& d : web.endpoints)
    if (d.port != PortSetting::kRelative)
      if (auto ok = openGroup(config.listen_address, configuredPort(config, d.port), "gamestream",
                              web, d);
          !ok)
        return ok;
  return {};
}

// The endpoint `leader` and those that follow it, bound together: at the configured port, or
// (port 0) at a free port where the leader's rules hold and every follower's port is free too.
Result<void> NetEndpoints::openGroup(const std::string& bind, uint16_t configured,
                                     const char* section, const net::ProtocolDeclaration& protocol,
                                     const EndpointDeclaration& leader) {
  const Address address = *parseAddress(bind);
  std::vector<const EndpointDeclaration*> followers;
  for (const EndpointDeclaration& d : protocol.endpoints)
    if (d.port == PortSetting::kRelative && d.follows == leader.tag) followers.push_back(&d);
  if (configured != 0 && leader.even && configured % 2 != 0)
    return makeError("{}: the {} port {} must be even", section, leader.name, configured);
  for (int attempt = 0; attempt < 200; ++attempt) {
    auto first = bound(address, leader, configured);
    if (!first) {
      if (configured == 0)
        return makeError("{}: cannot bind a {} port for {}: {}", section, kindName(leader),
                         leader.name, first.error().message);
      return makeError("{}: cannot {} {} {} port {} ({}): {}", section,
                       leader.kind == EndpointKind::kTcpListen ? "listen on" : "bind",
                       kindName(leader), bind, configured, leader.name, first.error().message);
    }
    const uint16_t port = boundPort(*first);
    if (configured == 0 && leader.even && port % 2 != 0) continue;  // try another
    std::vector<Endpoint> group;
    group.push_back({leader.tag, std::move(*first), port, leader.worker});
    bool complete = true;
    for (const EndpointDeclaration* f : followers) {
      const uint32_t want = uint32_t{port} + f->offset;
      auto next = want <= 65535 ? bound(address, *f, static_cast<uint16_t>(want))
                                : Result<UniqueFd>(makeError("beyond port 65535"));
      if (!next) {
        if (configured != 0)
          return makeError("{}: cannot bind {} {} port {} ({}): {}", section, kindName(*f), bind,
                           want, f->name, next.error().message);
        complete = false;
        break;
      }
      group.push_back({f->tag, std::move(*next), static_cast<uint16_t>(want), f->worker});
    }
    if (!complete) continue;
    for (Endpoint& g : group) endpoints_.push_back(std::move(g));
    return {};
  }
  return makeError("{}: found no free {} port for {} and the ports that follow it", section,
                   kindName(leader), leader.name);
}

uint16_t NetEndpoints::port(uint32_t tag) const {
  for (const Endpoint& e : endpoints_)
    if (e.tag == tag) return e.port;
  return 0;
}

Result<void> NetEndpoints::deposit(uint32_t slot, UniqueFd fd) {
  if (slot >= max_viewers_ || slot >= abi::kMaxConnections)
    return makeError("viewer slot {} is out of range (max_viewers {})", slot, max_viewers_);
  if (!fd.valid() || !net::isConnectedTcp(net::socketOf(fd)))
    return makeError("what net deposited for slot {} is not a connected TCP/IP socket", slot);
  viewers_[slot] = std::move(fd);
  return {};
}

void NetEndpoints::release(uint32_t slot) { viewers_.erase(slot); }

std::vector<HandedFd> NetEndpoints::handedFds(abi::WorkerKind worker) const {
  std::vector<HandedFd> out;
  if (worker == abi::WorkerKind::kNet) out.push_back({abi::FdRole::kNetState, 0, state_.handle()});
  for (const Endpoint& e : endpoints_)
    if (e.worker == worker) out.push_back({abi::FdRole::kEndpoint, e.tag, e.fd.get()});
  if (worker == abi::WorkerKind::kNet)
    for (const auto& [slot, fd] : viewers_)
      out.push_back({abi::FdRole::kConnection, slot, fd.get()});
  return out;
}

}  // namespace funkhaus::supervisor
