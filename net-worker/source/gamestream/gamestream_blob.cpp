// The GameStream blob: open, validation, the launch seqlock, peers as bytes.
#include "funkhaus/net/gamestream/gamestream_blob.h"

#include <netinet/in.h>

#include <atomic>
#include <cstring>

#include "funkhaus/common/media/nal.h"

namespace funkhaus::net::gamestream {
namespace {

constexpr size_t kStreamOffset = offsetof(abi::GamestreamState, launch_sequence);

Result<void> validatePeer(const abi::GamestreamPeer& p, const char* what) {
  if (p.family == 0) return {};
  if (p.family != AF_INET && p.family != AF_INET6)
    return makeError("{}: unknown address family {}", what, p.family);
  if (p.port == 0) return makeError("{}: port 0", what);
  // A ping never comes from these: a successor would send the stream where no client is.
  const uint8_t* v4 = p.address;  // the IPv4 address, plain or IPv4-mapped (else null)
  if (p.family == AF_INET6) {
    in6_addr a;
    std::memcpy(&a, p.address, sizeof a);
    if (IN6_IS_ADDR_UNSPECIFIED(&a) || IN6_IS_ADDR_MULTICAST(&a))
      return makeError("{}: an unspecified or multicast IPv6 address is no client's", what);
    v4 = IN6_IS_ADDR_V4MAPPED(&a) ? p.address + 12 : nullptr;
  }
  if (v4 != nullptr) {
    const bool unspecified = v4[0] == 0 && v4[1] == 0 && v4[2] == 0 && v4[3] == 0;
    const bool broadcast = v4[0] == 255 && v4[1] == 255 && v4[2] == 255 && v4[3] == 255;
    if (unspecified || broadcast || (v4[0] & 0xf0) == 0xe0)
      return makeError("{}: {}.{}.{}.{} is no client's address", what, v4[0], v4[1], v4[2], v4[3]);
  }
  return {};
}

bool printable(const char (&text)[16]) {
  for (char c : text)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

// The IPv4 address inside `a` (plain or IPv4-mapped IPv6), or nullopt.
std::optional<in_addr> ipv4Of(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return reinterpret_cast<const sockaddr_in&>(a).sin_addr;
  if (a.ss_family != AF_INET6) return std::nullopt;
  const auto& v6 = reinterpret_cast<const sockaddr_in6&>(a);
  if (!IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr)) return std::nullopt;
  in_addr v4;
  std::memcpy(&v4, v6.sin6_addr.s6_addr + 12, 4);
  return v4;
}

}  // namespace

Result<void> validateStream(const abi::GamestreamState& s) {
  if (s.phase > abi::kMaxGamestreamPhase) return makeError("unknown phase {}", s.phase);
  if (s.phase == static_cast<uint32_t>(abi::GamestreamPhase::kIdle)) return {};
  if (s.session_id == 0) return makeError("session id 0");
  if (!printable(s.video_ping) || !printable(s.audio_ping))
    return makeError("ping payloads are not 16 printable characters");
  if (auto ok = validatePeer(s.video_peer, "video peer"); !ok) return ok;
  if (auto ok = validatePeer(s.audio_peer, "audio peer"); !ok) return ok;
  if (s.phase >= static_cast<uint32_t>(abi::GamestreamPhase::kAnnounced)) {
    const abi::GamestreamStreamParams& p = s.params;
    const auto codec = media::codecFromId(p.codec);
    if (!codec || *codec == media::Codec::kNone) return makeError("unknown codec {}", p.codec);
    if (p.width == 0 || p.width > 8192 || p.height == 0 || p.height > 8192)
      return makeError("size {}x{} out of range", p.width, p.height);
    if (p.fps == 0 || p.fps > 480) return makeError("fps {} out of range", p.fps);
    if (p.packet_size < 64 || p.packet_size > 9000 || p.packet_size % 16 != 0)
      return makeError("packet size {} is not a multiple of 16 in 64..9000", p.packet_size);
    if (p.fec_percent > 255 || p.min_fec_packets > 64)
      return makeError("FEC {} % / {} packets out of range", p.fec_percent, p.min_fec_packets);
  }
  return {};
}

bool resumesAtOnce(const abi::GamestreamState& s,
                   const std::optional<abi::GamestreamLaunch>& launch, uint64_t now_ns,
                   uint64_t client_timeout_ns) {
  if (s.phase != static_cast<uint32_t>(abi::GamestreamPhase::kPlaying)) return false;
  if (!validateStream(s)) return false;        // openBlob reset such a stream; checked again here
  if (s.video_peer.family == 0) return false;  // never pinged: its first ping starts the video
  if (!launch || launch->active != 1 || launch->sequence != s.launch_sequence) return false;
  // Heard from within the timeout, and never "later than now": such a time is not a net's.
  return s.last_heard_ns <= now_ns && now_ns - s.last_heard_ns <= client_timeout_ns;
}

std::optional<abi::GamestreamLaunch> readLaunch(const abi::GamestreamState& state) {
  auto& launch = const_cast<abi::GamestreamLaunch&>(state.launch);
  std::atomic_ref<uint64_t> sequence(launch.sequence);
  for (int attempt = 0; attempt < 4; ++attempt) {
    const uint64_t before = sequence.load(std::memory_order_acquire);
    if (before == 0) return std::nullopt;
    if (before & 1) continue;
    abi::GamestreamLaunch copy;
    std::memcpy(&copy, &launch, sizeof copy);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (sequence.load(std::memory_order_relaxed) != before) continue;
    copy.sequence = before;
    return copy;
  }
  return std::nullopt;
}

void resetStream(abi::GamestreamState& state) {
  std::memset(reinterpret_cast<unsigned char*>(&state) + kStreamOffset, 0,
              sizeof state - kStreamOffset);
}

Result<abi::GamestreamState*> openBlob(const NetState& net, std::string* reset_reason) {
  auto bytes = net.blob(abi::NetProtocol::kGamestream, sizeof(abi::GamestreamState));
  if (!bytes) return bytes.error();
  auto* s = reinterpret_cast<abi::GamestreamState*>(bytes->data());
  if (s->header.magic != abi::kGamestreamStateMagic ||
      s->header.version != abi::kGamestreamStateVersion ||
      s->header.size != sizeof(abi::GamestreamState)) {
    if (s->header.magic != 0 && reset_reason != nullptr)
      *reset_reason = "the blob is another build's";
    resetStream(*s);
    s->header.magic = abi::kGamestreamStateMagic;
    s->header.version = abi::kGamestreamStateVersion;
    s->header.size = sizeof(abi::GamestreamState);
    return s;
  }
  if (auto valid = validateStream(*s); !valid) {
    if (reset_reason != nullptr) *reset_reason = valid.error().message;
    resetStream(*s);
  }
  return s;
}

abi::GamestreamPeer peerOf(const sockaddr_storage& a) {
  abi::GamestreamPeer p{};
  if (a.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(a);
    p.family = AF_INET;
    p.port = ntohs(v4.sin_port);
    std::memcpy(p.address, &v4.sin_addr, 4);
  } else if (a.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(a);
    p.family = AF_INET6;
    p.port = ntohs(v6.sin6_port);
    std::memcpy(p.address, &v6.sin6_addr, 16);
  }
  return p;
}

sockaddr_storage addressOf(const abi::GamestreamPeer& p, socklen_t* length) {
  sockaddr_storage a{};
  if (p.family == AF_INET) {
    auto& v4 = reinterpret_cast<sockaddr_in&>(a);
    v4.sin_family = AF_INET;
    v4.sin_port = htons(p.port);
    std::memcpy(&v4.sin_addr, p.address, 4);
    *length = sizeof(sockaddr_in);
  } else {
    auto& v6 = reinterpret_cast<sockaddr_in6&>(a);
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(p.port);
    std::memcpy(&v6.sin6_addr, p.address, 16);
    *length = sizeof(sockaddr_in6);
  }
  return a;
}

bool sameHost(const abi::GamestreamPeer& a, const sockaddr_storage& b) {
  if (a.family == 0) return false;
  socklen_t length = 0;
  const sockaddr_storage first = addressOf(a, &length);
  const auto v4a = ipv4Of(first);
  const auto v4b = ipv4Of(b);
  if (v4a || v4b) return v4a && v4b && v4a->s_addr == v4b->s_addr;
  if (b.ss_family != AF_INET6) return false;
  return std::memcmp(reinterpret_cast<const sockaddr_in6&>(first).sin6_addr.s6_addr,
                     reinterpret_cast<const sockaddr_in6&>(b).sin6_addr.s6_addr, 16) == 0;
}

}  // namespace funkhaus::net::gamestream
