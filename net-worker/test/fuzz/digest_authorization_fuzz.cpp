// Fuzz target: an RTSP Authorization header value from a viewer, as funkhaus-net reads it. Parses
// or is refused; what parses holds no field longer than the limit and a 32-hex-digit response.
// Then RtspAuth::check judges it as funkhaus-net does (a password set, a fixed nonce key and time,
// a viewer on another host): only a response for this user lets it in, a stale nonce gets a
// stale challenge, and a loopback viewer is let in whatever it sends. The same bytes as the
// "USER:HA1" of funkhausd's environment: a parsed HA1 is 32 lower-case hex digits.
// fuzz-parser: net-worker/source/rtsp/rtsp_auth.cpp
#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "funkhaus/net/rtsp/rtsp_auth.h"
#include "funkhaus/net/rtsp_digest.h"

namespace {

using funkhaus::net::DigestAuthorization;
using funkhaus::net::DigestCredentials;
using funkhaus::net::RtspAuth;

constexpr uint64_t kNowNs = 1'000'000'000'000ull;  // the check's "now": 1000 s
constexpr const char* kUser = "viewer";
constexpr const char* kMethod = "DESCRIBE";
constexpr std::array<uint8_t, 32> kNonceKey{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

DigestCredentials viewer() {
  return {kUser, funkhaus::net::digestHa1(kUser, funkhaus::net::kDigestRealm, "secret")};
}

sockaddr_storage address(int family, const char* text) {
  sockaddr_storage s{};
  s.ss_family = static_cast<sa_family_t>(family);
  if (family == AF_INET)
    inet_pton(AF_INET, text, &reinterpret_cast<sockaddr_in&>(s).sin_addr);
  else if (family == AF_INET6)
    inet_pton(AF_INET6, text, &reinterpret_cast<sockaddr_in6&>(s).sin6_addr);
  return s;
}

const RtspAuth& auth() {
  static const RtspAuth a(viewer(), kNonceKey);
  return a;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using funkhaus::net::isLoopback;
  using Verdict = RtspAuth::Verdict;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto a = funkhaus::net::parseDigestAuthorization(text);
  if (a && (a->response.size() != 32 || a->username.size() > 512 || a->nonce.size() > 512))
    __builtin_trap();

  static const sockaddr_storage kRemote = address(AF_INET, "192.0.2.7");
  static const sockaddr_storage kRemote6 = address(AF_INET6, "2001:db8::7");
  static const sockaddr_storage kLoopback6 = address(AF_INET6, "::1");
  static const sockaddr_storage kUnix = address(AF_UNIX, "");
  static const RtspAuth kNoPassword(std::nullopt);  // a random nonce key, as funkhaus-net makes it
  if (isLoopback(kRemote) || isLoopback(kRemote6) || isLoopback(kUnix) || !isLoopback(kLoopback6))
    __builtin_trap();
  const std::string header(text);
  if (auth().check(kLoopback6, kMethod, &header, kNowNs) != Verdict::kAllowed) __builtin_trap();
  if (kNoPassword.check(kRemote6, kMethod, &header, kNowNs) != Verdict::kForbidden)
    __builtin_trap();
  // What does not parse, check() challenges before any hash; only what parses is judged, so a
  // failed parse is not paid for twice.
  if (a) {
    const Verdict verdict = auth().check(kRemote, kMethod, &header, kNowNs);
    if (verdict == Verdict::kForbidden) __builtin_trap();  // a password is set
    if ((verdict == Verdict::kAllowed || verdict == Verdict::kStale) && a->username != kUser)
      __builtin_trap();
    if (verdict == Verdict::kStale &&
        auth().challenge(kNowNs, true).find(", stale=TRUE\r\n") == std::string::npos)
      __builtin_trap();
  }

  if (auto c = funkhaus::net::parseDigestCredentials(text)) {
    if (c->user.empty() || c->ha1.size() != 32) __builtin_trap();
    for (char ch : c->ha1)
      if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) __builtin_trap();
  }
  return 0;
}

std::vector<std::vector<uint8_t>> fuzzSeeds() {
  std::vector<std::vector<uint8_t>> out;
  auto add = [&](const std::string& s) { out.emplace_back(s.begin(), s.end()); };
  add(R"(Digest username="viewer", realm="funkhaus", nonce="0011223344556677)"
      R"(8899aabbccddeeff0011223344556677", uri="rtsp://10.0.0.1:8554/live", )"
      R"(response="e9c09c76afd732f111bf009340f0aa75")");
  add(R"(Digest username="Mufasa",realm="testrealm@host.com",nonce="dcd98b7102dd2f0e8b11d0)"
      R"(f600bfb0c093",uri="/dir/index.html",qop=auth,nc=00000001,cnonce="0a4f113b",)"
      R"(response="6629fae49393a05397450978507c4ef1",opaque="5ccc069c403ebaf9f0171e9517f40e41")");
  // Right answers to the target's own challenges (its nonce key, user and password): a fresh
  // nonce, one older than the nonce lifetime, one from the future, each with and without qop.
  for (const uint64_t made :
       {kNowNs - uint64_t{1'000'000'000}, kNowNs - RtspAuth::kNonceLifetimeNs - 1, kNowNs + 1}) {
    const std::string challenge = auth().challenge(made);
    const size_t start = challenge.find("nonce=\"") + 7;
    for (const bool qop : {false, true}) {
      DigestAuthorization d;
      d.username = kUser;
      d.realm = funkhaus::net::kDigestRealm;
      d.nonce = challenge.substr(start, challenge.find('"', start) - start);
      d.uri = "rtsp://192.0.2.1:8554/live";
      if (qop) {
        d.qop = "auth";
        d.nc = "00000001";
        d.cnonce = "0a4f113b";
      }
      d.response = RtspAuth::expectedResponse(viewer().ha1, kMethod, d);
      add("Digest username=\"" + d.username + "\", realm=\"" + d.realm + "\", nonce=\"" + d.nonce +
          "\", uri=\"" + d.uri + "\", response=\"" + d.response + "\"" +
          (qop ? ", qop=auth, nc=" + d.nc + ", cnonce=\"" + d.cnonce + "\", algorithm=MD5" : ""));
    }
  }
  // A field one byte over the 512 the parser allows.
  add("Digest username=\"" + std::string(513, 'u') +
      "\", realm=\"funkhaus\", nonce=\"n\", uri=\"/\", "
      "response=\"e9c09c76afd732f111bf009340f0aa75\"");
  add(std::string(kUser) + ":" + viewer().ha1);  // the environment's USER:HA1
  add("viewer:0123456789ABCDEF0123456789abcdef");
  return out;
}
